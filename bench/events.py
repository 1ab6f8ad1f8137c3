"""Section 2: events through outbox -> relay -> broker -> idempotent handler, against raw kombu.

The benchmark writes ``application.accepted`` v1 events into intake's outbox with the real
``UnitOfWork`` (batches, one transaction each); the running intake process's outbox relay
(``OutboxRelay`` + ``EventPublisher``, polling every ``HQ_OUTBOX_POLL_INTERVAL``) publishes them;
the running supervision process's ``on_application_accepted`` claims each in its inbox and
writes a case record. The clock runs from the first write to the moment supervision's
``cases`` register holds all of them.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import create_engine, func, select

from bench.raw import publish_then_consume
from bench.report import BASELINE, THROUGHPUT, Row, longest_gap
from bench.rpc import Applicants

SECTION = "2. events: outbox -> broker -> idempotent handler, vs raw publish+consume"


def submitted_payload(applicants: Applicants, tag: str, n: int, now: datetime) -> dict:
    id_number = applicants.id_number()
    person = {"name": "王秀英", "id_number": id_number, "relationship": "self"}
    return {
        "case_id": str(uuid.uuid4()),
        "case_no": f"{tag}-{n:06d}",
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "applicant": person,
        "members": [person],
        "near_relative": False,
        "accepted_at": now,
    }


class EventRun:
    """One timed batch of events through the suite."""

    def __init__(self, settings, applicants: Applicants) -> None:
        from hqcore.clock import get_clock
        from hqcore.db import Database
        from services.intake.adapters import TABLES as INTAKE_TABLES
        from services.supervision import adapters as supervision_adapters

        self.settings = settings
        self.applicants = applicants
        self.clock = get_clock(settings)
        self.intake = Database(settings.database_url("intake"))
        self.intake_tables = INTAKE_TABLES
        self.register = supervision_adapters.cases
        self.outbox = INTAKE_TABLES["outbox"]
        # Plain engines for polling: a read does not take SQLite's write lock (the suite's
        # ``Database.transaction`` begins IMMEDIATE, which would compete with the services).
        self._supervision_reader = create_engine(settings.database_url("supervision"))
        self._intake_reader = create_engine(settings.database_url("intake"))

    def close(self) -> None:
        self.intake.dispose()
        self._supervision_reader.dispose()
        self._intake_reader.dispose()

    def recorded(self, tag: str) -> int:
        with self._supervision_reader.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(self.register)
                .where(self.register.c.case_no.like(f"{tag}-%"))
            ).scalar_one()

    def unpublished(self) -> int:
        with self._intake_reader.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(self.outbox)
                .where(self.outbox.c.published_at.is_(None))
            ).scalar_one()

    def last_id(self) -> int:
        with self._intake_reader.connect() as conn:
            return conn.execute(select(func.max(self.outbox.c.id))).scalar_one() or 0

    def published_times(self, after_id: int) -> list[datetime]:
        """When each outbox row written after ``after_id`` was published (aware UTC), in order."""
        with self._intake_reader.connect() as conn:
            rows = (
                conn.execute(
                    select(self.outbox.c.published_at)
                    .where(self.outbox.c.id > after_id)
                    .order_by(self.outbox.c.published_at)
                )
                .scalars()
                .all()
            )
        return [r if r is None or r.tzinfo else r.replace(tzinfo=timezone.utc) for r in rows]

    def write(self, payloads: list[dict], batch: int) -> None:
        from hqcore.uow import MessageContext, UnitOfWork

        for start in range(0, len(payloads), batch):
            context = MessageContext(
                "intake", correlation_id=f"bench-{uuid.uuid4().hex}", acting_user="bench"
            )
            with UnitOfWork(self.intake, self.intake_tables, self.clock, context) as uow:
                for payload in payloads[start : start + batch]:
                    uow.outbox.add(
                        "application.accepted",
                        payload,
                        case_id=payload["case_id"],
                        street_code=payload["street_code"],
                    )

    def run(self, count: int, batch: int, timeout: float, poll: float = 0.01) -> dict:
        """Write ``count`` events and wait until supervision recorded them all; timings in s."""
        tag = f"B{uuid.uuid4().hex[:6]}"
        now = self.clock.now()
        payloads = [submitted_payload(self.applicants, tag, n, now) for n in range(count)]
        after_id = self.last_id()
        wall_started = datetime.now(timezone.utc)
        started = time.perf_counter()
        self.write(payloads, batch)
        written = time.perf_counter()
        deadline = written + timeout
        while True:
            done = self.recorded(tag)
            if done >= count:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(
                    f"supervision recorded {done} of {count} events after "
                    f"{timeout:.0f}s ({self.unpublished()} still in the outbox)"
                )
            time.sleep(poll)
        finished = time.perf_counter()
        published = [
            (t - wall_started).total_seconds()
            for t in self.published_times(after_id)
            if t is not None
        ]
        return {
            "count": count,
            "write_s": written - started,
            "relayed_s": published[-1] if published else None,
            "first_publish_s": published[0] if published else None,
            "longest_publish_pause_s": longest_gap(published),
            "total_s": finished - started,
        }


def relay_note(result: dict) -> str:
    parts = []
    if result.get("first_publish_s") is not None:
        parts.append(
            f"first publish {result['first_publish_s'] * 1000:.0f} ms after the first write"
        )
    if result.get("longest_publish_pause_s") is not None:
        parts.append(
            f"longest pause between two publishes {result['longest_publish_pause_s'] * 1000:.0f} ms"
        )
    return "; ".join(parts)


def measure(
    env, settings, applicants: Applicants, *, events: int, warmup: int, batch: int
) -> tuple[list[Row], dict]:
    amqp_uri = settings.amqp_uri
    queue_type = settings.queue_type
    publish_then_consume(amqp_uri, warmup, queue_type=queue_type)  # warm-up
    run = EventRun(settings, applicants)
    try:
        env.wait_until(lambda: run.unpublished() == 0, 60, "intake's outbox drained")
        run.run(warmup, batch, timeout=60)  # warm-up: connections, caches, the queue
        raw_before = publish_then_consume(amqp_uri, events, queue_type=queue_type)
        timeout = 120 + events * 0.1
        result = run.run(events, batch, timeout=timeout)
        env.check_alive()
        raw_after = publish_then_consume(amqp_uri, events, queue_type=queue_type)
    finally:
        run.close()
    # The baseline runs before and after the measured run; its rate is the combined one.
    raw_elapsed = raw_before[1] + raw_after[1]
    rows = [
        Row(
            SECTION,
            "raw_events",
            f"raw kombu publish (confirms) + consume/ack, {queue_type}",
            2 * events,
            raw_elapsed,
            [],
            BASELINE,
            note=f"{events} small persistent messages to a durable {queue_type} queue, each "
            "publish waiting for its confirm, then consumed and acked (prefetch 100); run "
            "once before and once after the measured run",
        ),
        Row(
            SECTION,
            "outbox_events",
            "outbox -> relay -> supervision.on_application_accepted",
            events,
            result["total_s"],
            [],
            THROUGHPUT,
            "raw_events",
            note=f"valid application.accepted v1 events written {batch} per UnitOfWork into "
            "intake's outbox; relayed by the intake process's OutboxRelay; clock stops "
            "when supervision's case register holds all of them",
        ),
        Row(
            SECTION,
            "outbox_written",
            "  of which: outbox writes (all committed)",
            events,
            result["write_s"],
            [],
            THROUGHPUT,
            "raw_events",
        ),
    ]
    if result["relayed_s"] is not None:
        rows.append(
            Row(
                SECTION,
                "outbox_relayed",
                "  of which: relayed (all published)",
                events,
                result["relayed_s"],
                [],
                THROUGHPUT,
                "raw_events",
                note=relay_note(result),
            )
        )
    extra = {
        "events": {
            **result,
            "batch": batch,
            "queue_type": queue_type,
            "raw_publish_s": [raw_before[0], raw_after[0]],
            "raw_total_s": [raw_before[1], raw_after[1]],
        }
    }
    return rows, extra
