"""The fault tier's load: cases driven through the gateway's HTTP API by several threads, as
careful clients would drive them while processes die and the broker restarts.

A case goes, as its street's staff and the district officer: submitted (with an
``Idempotency-Key``), investigated, pre-reviewed and district-reviewed, publicised; after the
suite's clock has moved past the publicity period, reviewed, consented and decided, until its
payment is scheduled. A request that fails without an answer (connection refused or cut, 502,
503, 504) is repeated: a creating POST with the same ``Idempotency-Key``; a step whose repeat
is refused with ``invalid_state`` after such a failure had been applied by the first attempt.

``end_state`` reads each service's database for the checks and figures of the tier.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from kombu import Connection
from sqlalchemy import MetaData, func, select

from hqcore.config import SERVICES
from hqcore.db import Database, platform_tables
from hqops import deadletters
from hqops.samples import make_id_number, sample_application
from services.intake import adapters as intake_tables
from services.payments import adapters as payments_tables
from services.supervision import adapters as supervision_tables
from tests.support.suite import RunningSuite

STREETS = {"shaogongzhuang": "sgz", "shuanghuancun": "shc", "xigu": "xgu"}
START = "2026-03-02T01:00:00+00:00"  # a Monday, 09:00 in Tianjin
UNANSWERED = {502, 503, 504}
PATIENCE = 120.0  # seconds a request or a wait may take while processes restart


class DriveFailed(AssertionError):
    """The suite never answered a request, or answered one the driver cannot go on from."""


@dataclass
class Run:
    """What a run did: the cases answered 201 (serial -> case id) and the retries it took."""

    answered: dict[int, str] = field(default_factory=dict)
    paid: set[int] = field(default_factory=set)
    retries: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class Driver:
    """Drives cases through one running suite; thread-safe (a session per thread)."""

    def __init__(
        self, suite: RunningSuite, levels: Callable[[int], int], run_id: str | None = None
    ):
        """``levels(serial)``: how far a case goes: 0 submitted, 1 investigated, 2 paid."""
        self.suite, self.levels = suite, levels
        self.url = suite.url
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.run = Run()
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- HTTP with retries ------------------------------------------------------------------
    @property
    def http(self) -> requests.Session:
        if not hasattr(self._local, "http"):
            self._local.http = requests.Session()
        return self._local.http

    def token(self, user: str, fresh: bool = False) -> str:
        with self._lock:
            if user in self._tokens and not fresh:
                return self._tokens[user]
        answer = self._send("POST", "/api/v1/login", None, {"username": user, "password": "demo"})
        if answer.status_code != 200:
            raise DriveFailed(f"login {user}: {answer.status_code} {answer.text[:300]}")
        with self._lock:
            self._tokens[user] = answer.json()["token"]
            return self._tokens[user]

    def _send(
        self, method: str, path: str, user: str | None, body: Any, headers: dict | None = None
    ) -> requests.Response:
        """One request, repeated while it gets no answer from the suite; ``retried`` (per
        thread) tells whether an attempt went unanswered, its outcome unknown."""
        deadline = time.monotonic() + PATIENCE
        self._local.retried = False
        while True:
            sent = dict(headers or {})
            if user is not None:
                sent["Authorization"] = f"Bearer {self.token(user)}"
            try:
                answer = self.http.request(
                    method, self.url + path, json=body, headers=sent, timeout=30
                )
            except requests.RequestException as exc:
                why = type(exc).__name__
            else:
                if answer.status_code == 401 and user is not None:
                    why = "401"  # the session store lost it (a gateway restart): log in again
                    self.token(user, fresh=True)
                elif answer.status_code not in UNANSWERED:
                    return answer
                else:
                    why = str(answer.status_code)
            self._local.retried = True
            with self._lock:
                self.run.retries[why] += 1
            if time.monotonic() > deadline:
                raise DriveFailed(f"{method} {path}: no answer for {PATIENCE:g}s ({why})")
            time.sleep(0.3)

    def get(self, path: str, user: str) -> dict:
        answer = self._send("GET", path, user, None)
        if answer.status_code != 200:
            raise DriveFailed(f"GET {path} as {user}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def step(self, case_id: str, step: str, user: str, body: dict) -> None:
        """A case step; a repeat refused as ``invalid_state`` means the first was applied."""
        path = f"/api/v1/cases/{case_id}/{step}"
        for attempt in range(2):
            answer = self._send("POST", path, user, body)
            if answer.status_code == 200:
                return
            code = _code(answer)
            if code == "invalid_state" and self._local.retried:
                return
            if code == "concurrent_update" and attempt == 0:
                continue
            raise DriveFailed(f"POST {path} as {user}: {answer.status_code} {answer.text[:300]}")

    def wait_for(self, case_id: str, service: str, status: str, user: str) -> dict:
        deadline = time.monotonic() + PATIENCE
        while True:
            view = self.get(f"/api/v1/cases/{case_id}", user)
            if view["services"][service].get("status") == status:
                return view
            if time.monotonic() > deadline:
                got = view["services"][service].get("status")
                raise DriveFailed(f"{case_id}: {service} never reached {status} (is {got})")
            time.sleep(1.0)  # each read of a case is logged (SEC-15): read sparingly

    # -- the procedure ----------------------------------------------------------------------
    def application(self, serial: int) -> tuple[dict, str]:
        street = list(STREETS)[serial % len(STREETS)]
        app = sample_application(id_number=make_id_number(serial), street_code=street)
        app["payment_account"] = {
            "bank": "天津银行",
            "account_number": f"62120000{serial:08d}",
            "holder": app["applicant"]["name"],
        }
        return app, STREETS[street]

    def submit(self, serial: int) -> str:
        app, prefix = self.application(serial)
        key = f"fault-{self.run_id}-{serial}"
        answer = self._send(
            "POST", "/api/v1/applications", f"{prefix}-clerk", app, {"Idempotency-Key": key}
        )
        if answer.status_code == 201:
            case_id = answer.json()["case_id"]
        elif _code(answer) == "duplicate_open_case":  # a gateway without Idempotency-Key
            case_id = answer.json()["error"]["details"]["case_id"]
        else:
            raise DriveFailed(f"submit {serial}: {answer.status_code} {answer.text[:300]}")
        with self._lock:
            self.run.answered[serial] = case_id
        return case_id

    def first_steps(self, serial: int) -> None:
        """Submitted; at level 1 or more investigated (VE-4); at level 2 also checked (VE-2)
        and publicised (PU-1)."""
        case_id = self.submit(serial)
        level = self.levels(serial)
        if level < 1:
            return
        prefix = self.application(serial)[1]
        clerk = f"{prefix}-clerk"
        self.wait_for(case_id, "verification", "investigation", clerk)
        self.step(
            case_id,
            "investigation",
            f"{prefix}-investigator-1",
            {
                "investigators": [f"{prefix}-investigator-1", f"{prefix}-investigator-2"],
                "methods": ["household_visit", "neighbour_visits", "letter_inquiries"],
                "findings": "入户调查、邻里访问、信函索证已完成。",
                "applicant_signed": True,
            },
        )
        if level < 2:
            return
        self.step(
            case_id,
            "pre-review",
            clerk,
            {"opinion": "申报材料和授权书齐全。", "authorisations_complete": True},
        )
        self.step(case_id, "district-review", "district-officer", {"opinion": "同意。"})
        self.wait_for(case_id, "publicity", "awaiting_preliminary_opinion", clerk)
        self.step(
            case_id,
            "preliminary-opinion",
            clerk,
            {"opinion": "approve", "summary": "经入户调查和经济状况核对，提出初审意见。"},
        )

    def to_payment(self, serial: int) -> None:
        """After the publicity period: reviewed, consented, decided (DE-1), paid (PA-1)."""
        case_id = self.run.answered[serial]
        prefix = self.application(serial)[1]
        clerk = f"{prefix}-clerk"
        self.wait_for(case_id, "decision", "management_review", clerk)
        self.step(
            case_id,
            "review",
            f"{prefix}-reviewer",
            {"opinion": "approve", "reasons": [], "note": "审核意见。"},
        )
        self.step(case_id, "head-consent", f"{prefix}-head", {"note": "同意。"})
        self.step(case_id, "decision", f"{prefix}-leader", {"outcome": "approve"})
        self.wait_for(case_id, "payments", "scheduled", clerk)
        with self._lock:
            self.run.paid.add(serial)

    def set_clock(self, body: dict) -> None:
        answer = self._send("POST", "/api/v1/clock", "district-officer", body)
        if answer.status_code != 200:
            raise DriveFailed(f"clock {body}: {answer.status_code} {answer.text[:300]}")

    def drive(self, serials: Iterable[int], workers: int = 6) -> Run:
        """Every case as far as its level, the level-2 cases to publicity; then the clock past
        the publicity period and those cases to payment."""
        serials = list(serials)
        self.set_clock({"set": START})
        started = time.monotonic()
        self._all(self.first_steps, serials, workers)
        self.run.timings["first steps"] = time.monotonic() - started
        self.set_clock({"advance": "P6D"})
        started = time.monotonic()
        self._all(self.to_payment, [s for s in serials if self.levels(s) >= 2], workers)
        self.run.timings["to payment"] = time.monotonic() - started
        return self.run

    def _all(self, work: Callable[[int], None], serials: list[int], workers: int) -> None:
        with ThreadPoolExecutor(workers, thread_name_prefix="fault-driver") as pool:
            for serial, future in [(s, pool.submit(work, s)) for s in serials]:
                error = future.exception()
                if error is not None:
                    self.run.errors.append(f"case {serial}: {error}")
        if self.run.errors:
            log = self.suite.log.getvalue().splitlines()
            errors = [line[:400] for line in log if '"ERROR"' in line]
            raise DriveFailed("\n".join(self.run.errors[:10] + errors[-5:]))


def _code(answer: requests.Response) -> str | None:
    try:
        return answer.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


# -- the end state, read from the databases -------------------------------------------------


@dataclass
class EndState:
    intake: set[str]
    register: set[str]
    timeline: Counter[str]  # case id -> entries
    documents: Counter[tuple[str, str, str]]  # (service, case id, kind) -> documents
    payments: Counter[str]  # case id -> payment schedules
    unpublished: dict[str, int]
    inbox_duplicates: dict[str, int]
    dead_letters: dict[str, list[str]]  # queue -> why (the first few)

    def lost(self, answered: Iterable[str]) -> set[str]:
        """Cases answered 201 missing from intake, supervision's register or its timeline."""
        return {
            case_id
            for case_id in answered
            if case_id not in self.intake
            or case_id not in self.register
            or not self.timeline[case_id]
        }

    def doubled(self) -> dict[str, int]:
        """Documents of one kind, or payment schedules, more than once for a case."""
        twice = {f"{s}:{c}:{k}": n for (s, c, k), n in self.documents.items() if n > 1}
        twice.update({f"payments:{c}": n for c, n in self.payments.items() if n > 1})
        return twice

    def per_case(self, case_id: str) -> dict[str, Any]:
        """A case's figures, to compare one run with another."""
        return {
            "timeline": self.timeline[case_id],
            "documents": sorted(
                (s, k, n) for (s, c, k), n in self.documents.items() if c == case_id
            ),
            "payments": self.payments[case_id],
        }


def end_state(suite: RunningSuite) -> EndState:
    settings = suite.settings
    documents: Counter[tuple[str, str, str]] = Counter()
    unpublished, inbox_duplicates = {}, {}
    for service in SERVICES:
        tables = platform_tables(MetaData())
        with _connection(settings.database_url(service)) as conn:
            docs = tables["documents"]
            for case_id, kind, count in conn.execute(
                select(docs.c.case_id, docs.c.kind, func.count()).group_by(
                    docs.c.case_id, docs.c.kind
                )
            ):
                documents[(service, case_id, kind)] = count
            outbox, inbox = tables["outbox"], tables["inbox"]
            unpublished[service] = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()
            inbox_duplicates[service] = len(
                conn.execute(
                    select(inbox.c.event_id, inbox.c.handler)
                    .group_by(inbox.c.event_id, inbox.c.handler)
                    .having(func.count() > 1)
                ).all()
            )
    with _connection(settings.database_url("intake")) as conn:
        intake = set(conn.scalars(select(intake_tables.applications.c.case_id)))
    with _connection(settings.database_url("supervision")) as conn:
        register = set(conn.scalars(select(supervision_tables.cases.c.case_id)))
        line = supervision_tables.timeline
        timeline = Counter(
            dict(conn.execute(select(line.c.case_id, func.count()).group_by(line.c.case_id)).all())
        )
    with _connection(settings.database_url("payments")) as conn:
        schedules = payments_tables.payment_schedules
        payments = Counter(
            dict(
                conn.execute(
                    select(schedules.c.case_id, func.count()).group_by(schedules.c.case_id)
                ).all()
            )
        )
    dead_queues = [
        queue
        for queue, (ready, unacked) in suite.queue_messages().items()
        if queue.endswith(".dead") and ready + unacked
    ]
    dead: dict[str, list[str]] = {}
    if dead_queues:
        with Connection(suite.env["AMQP_URI"]) as broker:
            for queue in dead_queues:
                dead[queue] = [
                    f"{letter.event_type} {letter.reason}: {letter.error}"
                    for letter in deadletters.peek(broker, queue, limit=5)
                ]
    return EndState(
        intake, register, timeline, documents, payments, unpublished, inbox_duplicates, dead
    )


class _connection:
    """A transaction on a service's database, its engine disposed afterwards."""

    def __init__(self, url: str):
        self.database = Database(url)

    def __enter__(self) -> Any:
        self._tx = self.database.transaction()
        return self._tx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            self._tx.__exit__(*exc)
        finally:
            self.database.dispose()


def settle(suite: RunningSuite, timeout: float = 120.0) -> None:
    """Wait until nothing is in flight: outboxes drained, event queues empty and acked."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pending = suite.pending_work()
        except Exception as exc:  # the broker restarting: ask again
            pending = {"error": repr(exc)}
        if not pending:
            return
        if time.monotonic() > deadline:
            raise DriveFailed(f"still in flight after {timeout:g}s: {pending}")
        time.sleep(0.5)
