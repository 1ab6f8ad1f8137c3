"""Transactional outbox: events are rows written with the state change, then relayed.

``Outbox.add`` writes an event into the current transaction. ``OutboxRelay.relay_pending``
publishes unpublished rows in order with publisher confirms and marks each one published. A
process that dies between commit and publish leaves the rows unpublished; the next relay run
(after a restart, or in another instance) publishes them. A process that dies after publishing
and before marking publishes the row again: subscribers are idempotent, so that is harmless.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from kombu import Connection, Exchange, Producer
from sqlalchemy import Row, Select, Table, func, select, update
from sqlalchemy.engine import Connection as DbConnection

from hqcore.db import Database
from hqcore.messaging.envelope import EVENTS_EXCHANGE, build_envelope

log = logging.getLogger(__name__)


def _wall_clock() -> datetime:
    """Outbox bookkeeping measures real delivery delay, so it reads real time, not the suite's
    (possibly advanced) clock; the envelope's ``occurred_at`` uses the suite's clock."""
    return datetime.now(timezone.utc)


class Outbox:
    """Writes events into the unit of work's transaction."""

    def __init__(
        self,
        conn: DbConnection,
        table: Table,
        *,
        source: str,
        now: datetime,
        correlation_id: str,
        acting_user: str | None,
    ):
        self._conn, self._table = conn, table
        self._source, self._now = source, now  # ``now``: the suite's clock, for occurred_at
        self._correlation_id, self._acting_user = correlation_id, acting_user
        self.added: list[dict[str, Any]] = []

    def add(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        case_id: str | None,
        street_code: str | None,
        version: int = 1,
    ) -> dict[str, Any]:
        envelope = build_envelope(
            event_type=event_type,
            version=version,
            payload=payload,
            occurred_at=self._now,
            case_id=case_id,
            street_code=street_code,
            correlation_id=self._correlation_id,
            acting_user=self._acting_user,
            source=self._source,
        )
        self._conn.execute(
            self._table.insert().values(
                event_id=envelope["event_id"],
                event_type=event_type,
                schema_version=version,
                envelope=json.dumps(envelope, ensure_ascii=False),
                created_at=_wall_clock(),
                attempts=0,
            )
        )
        self.added.append(envelope)
        return envelope


class EventPublisher:
    """Publishes envelopes to ``hq.events`` with publisher confirms, on one connection."""

    def __init__(self, amqp_uri: str):
        self._uri = amqp_uri
        self._exchange = Exchange(EVENTS_EXCHANGE, type="topic", durable=True)
        self._conn: Connection | None = None
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> Producer:
        if self._producer is None:
            self._conn = Connection(self._uri, transport_options={"confirm_publish": True})
            self._producer = Producer(self._conn.channel(), exchange=self._exchange)
            self._exchange(self._producer.channel).declare()
        return self._producer

    def publish(self, envelope: Mapping[str, Any]) -> None:
        """Returns once the broker confirmed the message; raises if it did not."""
        with self._lock:
            try:
                self._ensure().publish(
                    envelope,
                    routing_key=envelope["event_type"],
                    serializer="json",
                    delivery_mode=2,
                    message_id=envelope["event_id"],
                    headers={
                        "hq-event-type": envelope["event_type"],
                        "hq-schema-version": envelope["schema_version"],
                    },
                )
            except Exception:
                self.close()
                raise

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close again
                self._conn.release()
        self._conn = self._producer = None


class OutboxRelay:
    """Moves unpublished outbox rows to the broker, oldest first."""

    def __init__(
        self, database: Database, table: Table, publisher: EventPublisher, batch_size: int = 100
    ):
        self._db, self._table = database, table
        self._publisher = publisher
        self._batch_size = batch_size

    def relay_pending(self) -> int:
        """Publish what is waiting, oldest first; returns how many rows were published.

        On PostgreSQL the batch's rows stay locked (``SKIP LOCKED``) while they are published,
        so several instances never publish the same row. SQLite has one writer per file, so
        there the batch is read, published and marked in short transactions that never hold
        the write lock during a broker round trip.
        """
        published = 0
        while True:
            if self._db.is_sqlite:
                with self._db.transaction() as conn:
                    rows = conn.execute(self._pending_query()).all()
                sent, failed = self._publish(rows)
                with self._db.transaction() as conn:
                    self._mark(conn, sent, failed)
            else:
                with self._db.transaction() as conn:
                    rows = conn.execute(
                        self._pending_query().with_for_update(skip_locked=True)
                    ).all()
                    sent, failed = self._publish(rows)
                    self._mark(conn, sent, failed)
            published += len(sent)
            if failed is not None or len(rows) < self._batch_size:
                return published

    def _pending_query(self) -> Select[tuple[int, str]]:
        return (
            select(self._table.c.id, self._table.c.envelope)
            .where(self._table.c.published_at.is_(None))
            .order_by(self._table.c.id)
            .limit(self._batch_size)
        )

    def _publish(
        self, rows: Sequence[Row[tuple[int, str]]]
    ) -> tuple[list[int], tuple[int, str] | None]:
        """Publish in order; stop at the first failure so order is kept for the retry."""
        sent: list[int] = []
        for row in rows:
            try:
                self._publisher.publish(json.loads(row.envelope))
            except Exception as exc:
                log.warning(
                    "outbox publish failed; will retry",
                    extra={"outbox_id": row.id, "error": type(exc).__name__},
                )
                return sent, (row.id, type(exc).__name__)
            sent.append(row.id)
        return sent, None

    def _mark(self, conn: DbConnection, sent: list[int], failed: tuple[int, str] | None) -> None:
        table = self._table
        if sent:
            conn.execute(
                update(table)
                .where(table.c.id.in_(sent))
                .values(published_at=_wall_clock(), attempts=table.c.attempts + 1)
            )
        if failed is not None:
            conn.execute(
                update(table)
                .where(table.c.id == failed[0])
                .values(attempts=table.c.attempts + 1, last_error=failed[1])
            )

    def backlog(self) -> tuple[int, float]:
        """(unpublished rows, age in seconds of the oldest) for the metrics."""
        with self._db.transaction() as conn:
            count, oldest = conn.execute(
                select(func.count(), func.min(self._table.c.created_at)).where(
                    self._table.c.published_at.is_(None)
                )
            ).one()
        if not count or oldest is None:
            return 0, 0.0
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=timezone.utc)
        return count, max(0.0, (_wall_clock() - oldest).total_seconds())
