"""Operator commands: ``python -m hqops.cli <command>``.

    migrate [SERVICE|all]                     apply each service's database migrations
    seed [SERVICE|all]                        load the district's reference data into the services
    dead-letters list [SERVICE]               count and show dead-lettered events
    dead-letters replay QUEUE [--limit N]     send them back to their handler
    holidays load FILE [--year YEAR] [--replace] [--no-reload] [--wait S]
                                              validate an administrator's holiday file, merge it
                                              into HQ_HOLIDAY_FILE, make every instance reload it
    holidays reload [--wait S]                make every instance re-read HQ_HOLIDAY_FILE now
    holidays show [YEAR]                      what the file and each running service know
    delegation set STREET DATE|none           the date a street confirms its own cases (ORG-1)
    policy add --service decision|verification|all --key KEY --value N --unit UNIT
               --from DATE [--to DATE] --source TEXT [--unverified]
                                              add an effective-dated policy-table row
    policy list --service decision|verification|all [--key KEY]
    integrity verify --case CASE_ID | --all   check the hash chain of the timeline and of the
                                              documents (SEC-16); exit 1 at a broken link

Every command that changes what a service holds acts through that service (RPC, or a broadcast
for the calendar), never by writing its database; ``--as USER`` names the account the
command acts as (default ``district-officer``; accounts from ``HQ_ACCOUNTS_FILE`` or the demo
accounts). Exit status: 0 done, 1 a service refused or could not be reached, 2 a wrong argument.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from amqp.exceptions import AMQPError, NotFound
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import OperationalError
from sqlalchemy.exc import SQLAlchemyError

from hqcore import reference
from hqcore.config import PROJECT_ROOT, SERVICES, Settings
from hqcore.db import Database
from hqcore.errors import DomainError
from hqcore.secrets import SecretMissing, request_key
from hqops import integrity

DEMO_ACCOUNTS = PROJECT_ROOT / "gateway" / "data" / "accounts.json"
DEFAULT_OPERATOR = "district-officer"
POLICY_SERVICES = ("decision", "verification")
# The broadcast every service instance listens to (see hqcore.service_kit.OperatorBroadcast).
OPERATOR_EXCHANGE = "hq-operator.events"
CALENDAR_RELOAD = "calendar.reload"
CALENDAR_INFO_TIMEOUT = 5.0


class UsageError(Exception):
    """A wrong argument: reported as ``argument NAME: message`` with exit status 2."""

    def __init__(self, argument: str, message: str):
        super().__init__(message)
        self.argument, self.message = argument, message


# -- argument types --------------------------------------------------------------------------


def iso_date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def date_or_none(text: str) -> date | None:
    return None if text.lower() == "none" else iso_date(text)


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def year(text: str) -> int:
    value = non_negative_int(text)
    if not 2000 <= value <= 2100:
        raise argparse.ArgumentTypeError(f"not a year between 2000 and 2100: {value}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 120:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 120: {value:g}")
    return value


# -- local commands: migrations, seed data, dead letters -------------------------------------


def _services(name: str) -> list[str]:
    if name == "all":
        return list(SERVICES)
    if name not in SERVICES:
        raise UsageError("service", f"unknown service {name!r}; one of: all, {', '.join(SERVICES)}")
    return [name]


def migrate(args, settings: Settings) -> int:
    from hqcore.migrations import upgrade

    for service in _services(args.service):
        upgrade(service, settings)
        print(f"{service}: migrated")
    return 0


def seed_services(services, settings: Settings) -> list[str]:
    """Load the reference data into each service that owns some; returns those seeded."""
    seeded = []
    for service in services:
        adapters = importlib.import_module(f"services.{service}.adapters")
        if not hasattr(adapters, "seed"):
            continue
        database = Database(settings.database_url(service))
        with database.transaction() as conn:
            adapters.seed(conn, reference)
        database.dispose()
        seeded.append(service)
    return seeded


def seed(args, settings: Settings) -> int:
    for service in seed_services(_services(args.service), settings):
        print(f"{service}: reference data seeded")
    return 0


def dead_letters(args, settings: Settings) -> int:
    from hqops import deadletters

    if args.action == "replay" and not args.target:
        raise UsageError(
            "target",
            "dead-letters replay needs a queue, e.g. hq.supervision.on_deadline_breached.dead",
        )
    if args.action == "replay" and not args.target.endswith(deadletters.DEAD_SUFFIX):
        raise UsageError(
            "target", f"{args.target} is not a dead-letter queue (…{deadletters.DEAD_SUFFIX})"
        )
    services = _services(args.target or "all") if args.action == "list" else []
    with Connection(settings.amqp_uri) as conn:
        connect(conn)
        if args.action == "replay":
            moved = deadletters.replay(conn, args.target, args.limit)
            print(f"{args.target}: {moved} replayed")
            return 0
        for service in services:
            cls = importlib.import_module(f"services.{service}.service").SERVICE
            for queue in deadletters.dead_letter_queues(service, cls):
                try:
                    count = deadletters.depth(conn, queue)
                except NotFound:  # not declared yet: the service never started
                    print(f"{queue}: not declared")
                    continue
                print(f"{queue}: {count}")
                for letter in deadletters.peek(conn, queue, limit=args.limit or 20):
                    print(
                        f"  {letter.event_type} {letter.event_id} attempts={letter.attempts}"
                        f" reason={letter.reason} error={letter.error}"
                    )
    return 0


# -- acting through the services -------------------------------------------------------------


def operator_actor(username: str, settings: Settings) -> dict:
    """The actor dict of an account, as the gateway passes it to a service."""
    path = settings.accounts_file or DEMO_ACCOUNTS
    try:
        accounts = json.loads(Path(path).read_text(encoding="utf-8"))["accounts"]
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError("--as", f"the accounts file {path} cannot be read: {exc}") from None
    account = next((a for a in accounts if a.get("username") == username), None)
    if account is None:
        raise UsageError("--as", f"no account {username!r} in {path}")
    return {
        "user_id": account["username"],
        "role": account["role"],
        "street_code": account.get("street_code"),
        "name": account.get("name", ""),
    }


class Services:
    """The operator's RPC client: ``call(service, method, **kwargs)`` as the acting user."""

    def __init__(self, settings: Settings, actor: dict):
        from hqcore.messaging.rpc_client import RpcClient

        self.actor = actor
        # Signed with the suite's request key, as the gateway signs (SEC-14).
        self.client = RpcClient(
            settings.amqp_uri,
            timeout=settings.rpc_timeout,
            name="operator",
            request_key=request_key(settings),
        )

    def __enter__(self) -> Services:
        self.client.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.stop()

    def _context(self) -> dict:
        return {"correlation_id": f"ops-{uuid.uuid4()}", "acting_user": self.actor["user_id"]}

    def call(self, service: str, method: str, **kwargs):
        return self.client.call(service, method, actor=self.actor, **self._context(), **kwargs)

    def call_each(self, services, method: str, timeout: float, **kwargs) -> dict:
        """``method`` on one instance of each service at once: {service: result or error}."""
        futures = {
            s: self.client.call_async(s, method, timeout=timeout, **self._context(), **kwargs)
            for s in services
        }
        answers = {}
        for service, future in futures.items():
            try:
                answers[service] = future.result()
            except DomainError as exc:
                answers[service] = exc
        return answers


def _refused(service: str, exc: DomainError) -> int:
    field = f" [{exc.field}]" if exc.field else ""
    print(f"error: {service} refused: {exc.code}: {exc.message}{field}", file=sys.stderr)
    return 1


# -- holidays ------------------------------------------------------------------------------


def read_holiday_file(path: Path, argument: str) -> dict:
    """A holiday file, validated as the services validate it (``hqcore.calendar``)."""
    from hqcore.calendar import WorkingCalendar

    try:
        WorkingCalendar(path)
    except ValueError as exc:
        raise UsageError(argument, str(exc)) from None
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, entry in data["years"].items():
        if not entry["holidays"]:
            raise UsageError(
                argument,
                f"holiday data file {path}: years.{key}.holidays is empty;"
                " a State Council schedule always has public holidays",
            )
    return data


def install_holidays(target: Path, years: dict, replace: bool) -> list[str]:
    """Merge ``years`` into the file at ``target`` (atomically); returns what changed."""
    current = read_holiday_file(target, "HQ_HOLIDAY_FILE") if target.exists() else {"years": {}}
    changes = []
    for key, entry in sorted(years.items()):
        held = current["years"].get(key)
        if held == entry:
            changes.append(f"{key}: already installed, unchanged")
            continue
        if held is not None and not replace:
            raise UsageError(
                "--replace",
                f"{target} already holds {key} with another schedule;"
                " pass --replace to overwrite it",
            )
        changes.append(f"{key}: {'replaced' if held else 'added'} ({entry['source']})")
        current["years"][key] = entry
    current["years"] = dict(sorted(current["years"].items()))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".holidays-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(current, out, ensure_ascii=False, indent=2)
            out.write("\n")
        read_holiday_file(Path(tmp), "FILE")  # the merged file validates before it is used
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return changes


def broadcast_calendar_reload(settings: Settings, requested_by: str, wait: float) -> list[dict]:
    """Ask every running instance of every service to reload the holiday file; collect the
    confirmations that arrive within ``wait`` seconds (one per instance)."""
    request_id = str(uuid.uuid4())
    reply_queue = f"hq.operator.reply-{request_id}"
    replies: list[dict] = []
    with Connection(
        settings.amqp_uri, transport_options={"confirm_publish": True}, connect_timeout=5
    ) as conn:
        channel = conn.channel()
        queue = Queue(
            reply_queue,
            exclusive=True,
            auto_delete=True,
            queue_arguments={"x-queue-type": "classic"},
        )(channel)
        queue.declare()
        exchange = Exchange(OPERATOR_EXCHANGE, type="topic", durable=True)(channel)
        exchange.declare()

        def on_reply(body, message):
            if isinstance(body, dict) and body.get("request_id") == request_id:
                replies.append(body)
            message.ack()

        with Consumer(channel, queues=[queue], callbacks=[on_reply], accept=["json"]):
            Producer(channel, serializer="json").publish(
                {"request_id": request_id, "reply_to": reply_queue, "requested_by": requested_by},
                exchange=exchange,
                routing_key=CALENDAR_RELOAD,
                delivery_mode=1,
            )
            until = time.monotonic() + wait
            while (left := until - time.monotonic()) > 0:
                with contextlib.suppress(socket.timeout):
                    conn.drain_events(timeout=min(left, 0.2))
    return sorted(replies, key=lambda r: (r.get("service", ""), r.get("instance", "")))


def _report_reload(replies: list[dict]) -> bool:
    ok = True
    if not replies:
        print("no service instance confirmed the reload (none running?)")
    for reply in replies:
        if reply.get("status") == "reloaded":
            print(
                f"{reply['service']} {reply['instance']}: reloaded; "
                f"{reply['recomputed']} provisional deadlines recomputed, "
                f"{reply['provisional_open']} still provisional"
            )
        else:
            ok = False
            print(
                f"{reply.get('service')} {reply.get('instance')}: reload FAILED: "
                f"{reply.get('error')}"
            )
    return ok


def _confirm_years(ops: Services, years: list[int]) -> bool:
    """One instance of each service says whether it now knows every loaded year."""
    ok = True
    for service, answer in ops.call_each(SERVICES, "calendar_info", CALENDAR_INFO_TIMEOUT).items():
        if isinstance(answer, DomainError):
            print(f"{service}: not confirmed ({answer.message}); it reads the file when it starts")
            continue
        missing = [y for y in years if y not in answer["known_years"]]
        if missing:
            ok = False
            print(
                f"{service}: still without {', '.join(map(str, missing))} "
                f"(instance {answer['instance']})"
            )
        else:
            print(f"{service}: knows {', '.join(map(str, years))}")
    return ok


def holidays(args, settings: Settings) -> int:
    if args.action == "show":
        return holidays_show(args, settings)
    if args.action == "load" and not args.file:
        raise UsageError("FILE", "holidays load needs the administrator's holiday file")
    if args.action != "load" and (args.file or args.year is not None):
        raise UsageError(
            "--year" if args.file is None else "FILE",
            f"holidays {args.action} takes no file or year",
        )
    target = settings.holiday_file
    if target is None:
        raise UsageError(
            "HQ_HOLIDAY_FILE",
            "is not set: the services read only the packaged "
            "holiday data; set it for every service and here",
        )
    actor = operator_actor(args.as_user, settings)
    years: list[int] = []
    if args.action == "load":
        data = read_holiday_file(Path(args.file), "FILE")
        chosen = data["years"]
        if args.year is not None:
            if str(args.year) not in chosen:
                raise UsageError("--year", f"{args.file} has no year {args.year}")
            chosen = {str(args.year): chosen[str(args.year)]}
        for line in install_holidays(target, chosen, args.replace):
            print(line)
        print(f"installed in {target}")
        years = sorted(int(key) for key in chosen)
        if args.no_reload:
            return 0
    ok = _report_reload(broadcast_calendar_reload(settings, actor["user_id"], args.wait))
    if years:
        with Services(settings, actor) as ops:
            ok = _confirm_years(ops, years) and ok
    return 0 if ok else 1


def holidays_show(args, settings: Settings) -> int:
    if args.file is not None:  # ``holidays show 2027``: the positional is the year
        try:
            args.year = year(args.file)
        except argparse.ArgumentTypeError as exc:
            raise UsageError("YEAR", str(exc)) from None
    target = settings.holiday_file
    if target is None:
        print("HQ_HOLIDAY_FILE: not set (the packaged holiday data only)")
    elif not target.exists():
        print(f"HQ_HOLIDAY_FILE: {target} (does not exist yet)")
    else:
        held = read_holiday_file(target, "HQ_HOLIDAY_FILE")["years"]
        print(f"HQ_HOLIDAY_FILE: {target}: {', '.join(held) or 'no years'}")
    shown = False
    with Services(settings, operator_actor(args.as_user, settings)) as ops:
        answers = ops.call_each(SERVICES, "calendar_info", CALENDAR_INFO_TIMEOUT, year=args.year)
    for service, answer in answers.items():
        if isinstance(answer, DomainError):
            print(f"{service}: no answer ({answer.message})")
            continue
        known = answer["known_years"]
        print(
            f"{service}: knows {known[0]}–{known[-1]}" if known else f"{service}: knows none",
            f"({len(known)} years); {answer['provisional_open']} open provisional deadlines",
        )
        view = answer["year"]
        if view is not None and not shown:
            shown = True
            print(f"{view['year']}: {view['source']}")
            if view["known"]:
                print(f"  holidays (Monday to Friday): {', '.join(view['holidays']) or 'none'}")
                print(f"  make-up working days: {', '.join(view['workdays']) or 'none'}")
    return 0


# -- delegation and policy tables ------------------------------------------------------------


def delegation(args, settings: Settings) -> int:
    actor = operator_actor(args.as_user, settings)
    day = args.date.isoformat() if args.date else None
    with Services(settings, actor) as ops:
        try:
            result = ops.call(
                "decision", "set_delegation", street_code=args.street, delegated_from=day
            )
        except DomainError as exc:
            return _refused("decision", exc)
    if result["delegated_from"]:
        print(
            f"{result['street_code']}: confirms its own cases accepted from "
            f"{result['delegated_from']} (ORG-1); cases accepted before keep their route"
        )
    else:
        print(f"{result['street_code']}: not delegated; the district confirms its new cases")
    return 0


def _policy_services(name: str) -> list[str]:
    return list(POLICY_SERVICES) if name == "all" else [name]


def policy(args, settings: Settings) -> int:
    actor = operator_actor(args.as_user, settings)
    if args.action == "add":
        missing = [
            flag
            for flag, value in (
                ("--key", args.key),
                ("--value", args.value),
                ("--unit", args.unit),
                ("--from", args.valid_from),
                ("--source", args.source),
            )
            if value is None
        ]
        if missing:
            raise UsageError(missing[0], "is required for policy add")
        if args.valid_to is not None and args.valid_to < args.valid_from:
            raise UsageError("--to", f"{args.valid_to} is before --from {args.valid_from}")
    elif (
        any(
            v is not None
            for v in (args.value, args.unit, args.valid_from, args.valid_to, args.source)
        )
        or args.unverified
    ):
        raise UsageError("--key", "policy list takes only --service and --key")
    failed = False
    with Services(settings, actor) as ops:
        for service in _policy_services(args.service):
            try:
                if args.action == "add":
                    _print_added(
                        ops.call(
                            service,
                            "add_policy_rate",
                            key=args.key,
                            unit=args.unit,
                            value=args.value,
                            valid_from=args.valid_from.isoformat(),
                            valid_to=args.valid_to.isoformat() if args.valid_to else None,
                            source=args.source,
                            verified=not args.unverified,
                        )
                    )
                else:
                    _print_rows(ops.call(service, "list_policy_rates", key=args.key))
            except DomainError as exc:
                failed = True
                _refused(service, exc)
    return 1 if failed else 0


def _row_text(row: dict) -> str:
    verified = "" if row["verified"] else " (unverified)"
    return (
        f"{row['key']} {row['valid_from']}..{row['valid_to'] or ''} = {row['value']} "
        f"{row['unit']}{verified}: {row['source']}"
    )


def _print_added(result: dict) -> None:
    service = result["service"]
    if not result["created"]:
        print(f"{service}: already holds {_row_text(result['row'])}")
        return
    if result["closed"]:
        print(f"{service}: closed {_row_text(result['closed'])}")
    print(f"{service}: added {_row_text(result['row'])}")
    for warning in result["warnings"]:
        print(f"{service}: warning: {warning}")


def _print_rows(result: dict) -> None:
    print(f"{result['service']} (in force on {result['on']} marked *):")
    for row in result["rows"]:
        print(f"  {'*' if row.get('in_force') else ' '} {_row_text(row)}")


# -- the parser ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hqops.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument(
        "--as",
        dest="as_user",
        default=DEFAULT_OPERATOR,
        metavar="USER",
        help=f"the account the command acts as (default {DEFAULT_OPERATOR})",
    )

    for name, func in (("migrate", migrate), ("seed", seed)):
        cmd = sub.add_parser(name, help=f"{name} each service's database")
        cmd.add_argument("service", nargs="?", default="all", choices=("all", *SERVICES))
        cmd.set_defaults(func=func, parser=cmd)

    dl = sub.add_parser("dead-letters", help="list or replay dead-lettered events")
    dl.add_argument("action", choices=("list", "replay"))
    dl.add_argument("target", nargs="?", help="list: a service; replay: a dead-letter queue")
    dl.add_argument("--limit", type=positive_int, default=None)
    dl.set_defaults(func=dead_letters, parser=dl)

    hol = sub.add_parser("holidays", parents=[acting], help="the working-day calendar")
    hol.add_argument("action", choices=("load", "reload", "show"))
    hol.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="load: the administrator's holiday file; show: a year",
    )
    hol.add_argument("--year", type=year, default=None, help="load: only this year of FILE")
    hol.add_argument(
        "--replace",
        action="store_true",
        help="load: overwrite a year HQ_HOLIDAY_FILE already holds differently",
    )
    hol.add_argument(
        "--no-reload",
        action="store_true",
        help="load: only install the file (the services re-read it on their "
        "next deadline scan or start)",
    )
    hol.add_argument(
        "--wait",
        type=seconds,
        default=3.0,
        help="seconds to collect the instances' confirmations (default 3)",
    )
    hol.set_defaults(func=holidays, parser=hol)

    dg = sub.add_parser("delegation", parents=[acting], help="a street's delegation date")
    dg.add_argument("action", choices=("set",))
    dg.add_argument("street", metavar="STREET")
    dg.add_argument("date", metavar="DATE|none", type=date_or_none)
    dg.set_defaults(func=delegation, parser=dg)

    pol = sub.add_parser("policy", parents=[acting], help="the effective-dated policy tables")
    pol.add_argument("action", choices=("add", "list"))
    pol.add_argument("--service", required=True, choices=(*POLICY_SERVICES, "all"))
    pol.add_argument("--key")
    pol.add_argument("--value", type=non_negative_int, help="in the key's unit (fen, permille)")
    pol.add_argument("--unit")
    pol.add_argument("--from", dest="valid_from", type=iso_date, metavar="DATE")
    pol.add_argument("--to", dest="valid_to", type=iso_date, metavar="DATE")
    pol.add_argument("--source", help="the published document the figure comes from")
    pol.add_argument(
        "--unverified",
        action="store_true",
        help="the figure is not yet confirmed by a published document",
    )
    pol.set_defaults(func=policy, parser=pol)

    integrity.add_parser(sub)  # integrity verify [--case CASE_ID | --all] (SEC-16)
    return p


def connect(conn: Connection) -> None:
    """Connect now, once: an unreachable broker or refused credentials are an error here, not
    a queue that looks undeclared later (SEC-13)."""
    conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)


# What an operator sees, in one line, when a backend fails: the broker, a database, the file
# system. Anything else is a defect of the tool and keeps its traceback.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    AMQPError,
    OperationalError,
    ConnectionError,
    OSError,
    SQLAlchemyError,
)


def _one_line(exc: BaseException) -> str:
    """The failure as one line, without credentials (``user:password@`` in URLs)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"//[^/@\s]+@", "//***@", text)
    return f"{type(exc).__name__}: {text}"[:500]


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except UsageError as exc:
        command: argparse.ArgumentParser = args.parser  # exits with status 2
        command.error(f"argument {exc.argument}: {exc.message}")
    except DomainError as exc:  # the broker or a service cannot be reached
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except BACKEND_ERRORS as exc:  # the broker, a database or a file failed (SEC-13)
        print(f"error: {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except SecretMissing as exc:  # no request key to sign with (SEC-14)
        print(f"error: {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
