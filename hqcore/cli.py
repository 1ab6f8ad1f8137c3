"""Operator commands: ``python -m hqcore.cli <command>``.

    migrate [SERVICE|all]            apply each service's database migrations
    seed [SERVICE|all]               load the district's reference data into the services
    dead-letters list [SERVICE]      count and show dead-lettered events
    dead-letters replay QUEUE [--limit N]   send them back to their handler
"""
from __future__ import annotations

import argparse
import importlib
import sys

from kombu import Connection

from hqcore import reference
from hqcore.config import SERVICES, Settings
from hqcore.db import Database


def _services(name: str) -> list[str]:
    if name == "all":
        return list(SERVICES)
    if name not in SERVICES:
        raise SystemExit(f"unknown service {name!r}; one of: all, {', '.join(SERVICES)}")
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
    from hqcore.messaging import deadletters
    with Connection(settings.amqp_uri) as conn:
        if args.action == "replay":
            moved = deadletters.replay(conn, args.queue, args.limit)
            print(f"{args.queue}: {moved} replayed")
            return 0
        for service in _services(args.service or "all"):
            cls = importlib.import_module(f"services.{service}.service").SERVICE
            for queue in deadletters.dead_letter_queues(service, cls):
                try:
                    count = deadletters.depth(conn, queue)
                except Exception:  # not declared yet: the service never started
                    print(f"{queue}: not declared")
                    continue
                print(f"{queue}: {count}")
                for letter in deadletters.peek(conn, queue, limit=args.limit or 20):
                    print(f"  {letter.event_type} {letter.event_id} attempts={letter.attempts}"
                          f" reason={letter.reason} error={letter.error}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hqcore.cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, func in (("migrate", migrate), ("seed", seed)):
        cmd = sub.add_parser(name)
        cmd.add_argument("service", nargs="?", default="all")
        cmd.set_defaults(func=func)
    dl = sub.add_parser("dead-letters")
    dl.add_argument("action", choices=("list", "replay"))
    dl.add_argument("target", nargs="?", help="list: a service; replay: a dead-letter queue")
    dl.add_argument("--limit", type=int, default=None)
    dl.set_defaults(func=dead_letters)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.command == "dead-letters":
        args.service = args.target if args.action == "list" else None
        args.queue = args.target
        if args.action == "replay" and not args.queue:
            raise SystemExit("dead-letters replay needs a queue, e.g. hq.supervision.on_deadline_breached.dead")
    return args.func(args, Settings.from_env())


if __name__ == "__main__":
    sys.exit(main())
