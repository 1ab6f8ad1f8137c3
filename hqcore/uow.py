"""The unit of work: one transaction holding a service's change, its events and its inbox.

with self.uow(event) as uow:             # in a nameko entrypoint
    if not uow.inbox.claim(event, "on_application_accepted"):
        return                           # a redelivery: already applied
    repo = CaseRepository(uow.conn)
    ...
    uow.outbox.add("...", payload, case_id=..., street_code=...)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import Connection, Row, Table, and_, func, select, update

from hqcore.clock import Clock
from hqcore.db import Database
from hqcore.deadlines import Deadline, DeadlineStatus, Unit
from hqcore.documents import DocumentStore
from hqcore.idempotency import IdempotencyKeys
from hqcore.messaging.envelope import Event
from hqcore.messaging.outbox import Outbox


@dataclass(frozen=True)
class MessageContext:
    """Who acts and under which correlation id: carried into every event written."""

    service: str
    correlation_id: str
    acting_user: str | None = None


class Inbox:
    """Records which events a handler has applied, in the handler's own transaction."""

    def __init__(self, conn: Connection, table: Table, now: datetime):
        self._conn, self._table, self._now = conn, table, now

    def claim(self, event: Event, handler: str) -> bool:
        """True the first time ``handler`` sees ``event``; False for a redelivery.

        Two concurrent deliveries both passing the check collide on the primary key at
        commit; the loser fails, is retried, and then sees the event as applied.
        """
        seen = self._conn.execute(
            select(self._table.c.event_id).where(
                and_(
                    self._table.c.event_id == event.event_id,
                    self._table.c.handler == handler,
                )
            )
        ).first()
        if seen:
            return False
        self._conn.execute(
            self._table.insert().values(
                event_id=event.event_id,
                handler=handler,
                event_type=event.event_type,
                processed_at=self._now,
            )
        )
        return True


def deadline_event(deadline: Deadline, service: str) -> dict[str, Any]:
    return {
        "deadline_id": deadline.id,
        "service": service,
        "rule_id": deadline.rule_id,
        "case_id": deadline.case_id,
        "street_code": deadline.street_code,
        "unit": Unit(deadline.unit).value,
        "amount": deadline.amount,
        "due_at": deadline.due_at,
        "provisional": deadline.provisional,
    }


class DeadlineRepository:
    """A service's deadlines; opening and meeting one also tells the district (events)."""

    def __init__(
        self, conn: Connection, table: Table, outbox: Outbox | None = None, service: str = ""
    ):
        self._conn, self._table = conn, table
        self._outbox, self._service = outbox, service

    def _announce(self, event_type: str, deadline: Deadline, **extra: Any) -> None:
        if self._outbox is not None:
            self._outbox.add(
                event_type,
                {**deadline_event(deadline, self._service), **extra},
                case_id=deadline.case_id,
                street_code=deadline.street_code,
            )

    def add(self, deadline: Deadline) -> Deadline:
        deadline.id = deadline.id or str(uuid.uuid4())
        self._conn.execute(
            self._table.insert().values(
                id=deadline.id,
                case_id=deadline.case_id,
                street_code=deadline.street_code,
                rule_id=deadline.rule_id,
                unit=Unit(deadline.unit).value,
                amount=deadline.amount,
                started_at=deadline.started_at,
                due_at=deadline.due_at,
                due_date=deadline.due_date,
                status=DeadlineStatus(deadline.status).value,
                provisional=deadline.provisional,
            )
        )
        self._announce("deadline.opened", deadline)
        return deadline

    def for_case(self, case_id: str) -> list[Deadline]:
        rows = self._conn.execute(
            select(self._table)
            .where(self._table.c.case_id == case_id)
            .order_by(self._table.c.due_at)
        ).all()
        return [self._to_domain(r) for r in rows]

    def meet(self, case_id: str, rule_id: str, now: datetime) -> list[Deadline]:
        """The action a rule requires happened: open deadlines of that rule are met (a
        deadline already breached stays breached)."""
        met = [
            d
            for d in self.for_case(case_id)
            if d.rule_id == rule_id and d.status == DeadlineStatus.OPEN
        ]
        for deadline in met:
            self._conn.execute(
                update(self._table)
                .where(
                    and_(
                        self._table.c.id == deadline.id,
                        self._table.c.status == DeadlineStatus.OPEN.value,
                    )
                )
                .values(status=DeadlineStatus.MET.value, met_at=now)
            )
            deadline.meet(now)
            self._announce("deadline.met", deadline, met_at=now)
        return met

    def open_for_case(self, case_id: str) -> list[Deadline]:
        return [d for d in self.for_case(case_id) if d.status == DeadlineStatus.OPEN]

    def overdue(self, now: datetime, limit: int = 200) -> list[Deadline]:
        rows = self._conn.execute(
            select(self._table)
            .where(
                and_(
                    self._table.c.status == DeadlineStatus.OPEN.value,
                    self._table.c.due_at <= now,
                )
            )
            .order_by(self._table.c.due_at)
            .limit(limit)
        ).all()
        return [self._to_domain(r) for r in rows]

    def open_provisional(self) -> list[Deadline]:
        rows = self._conn.execute(
            select(self._table).where(
                and_(
                    self._table.c.status == DeadlineStatus.OPEN.value,
                    self._table.c.provisional.is_(True),
                )
            )
        ).all()
        return [self._to_domain(r) for r in rows]

    def reschedule(self, deadline: Deadline) -> None:
        """Store a recomputed due time (after a year's holiday data arrived)."""
        self._conn.execute(
            update(self._table)
            .where(
                and_(
                    self._table.c.id == deadline.id,
                    self._table.c.status == DeadlineStatus.OPEN.value,
                )
            )
            .values(
                due_at=deadline.due_at, due_date=deadline.due_date, provisional=deadline.provisional
            )
        )

    def extend(self, deadline: Deadline) -> bool:
        """Store an open deadline's new length and due time (e.g. DE-4's 30 → 45 WD), and
        tell the district it is open until then."""
        result = self._conn.execute(
            update(self._table)
            .where(
                and_(
                    self._table.c.id == deadline.id,
                    self._table.c.status == DeadlineStatus.OPEN.value,
                )
            )
            .values(
                amount=deadline.amount,
                due_at=deadline.due_at,
                due_date=deadline.due_date,
                provisional=deadline.provisional,
            )
        )
        if result.rowcount != 1:
            return False
        self._announce("deadline.opened", deadline)
        return True

    def mark_breached(self, deadline: Deadline, now: datetime) -> bool:
        """Open → breached, once: the conditional update lets exactly one instance win."""
        result = self._conn.execute(
            update(self._table)
            .where(
                and_(
                    self._table.c.id == deadline.id,
                    self._table.c.status == DeadlineStatus.OPEN.value,
                )
            )
            .values(status=DeadlineStatus.BREACHED.value, breached_at=now)
        )
        if result.rowcount == 1:
            deadline.breach()
            return True
        return False

    def counts(self) -> list[tuple[str, str | None, str, bool, int]]:
        """(rule_id, street_code, status, provisional, count) for the metrics."""
        t = self._table
        return [
            tuple(r)
            for r in self._conn.execute(
                select(
                    t.c.rule_id, t.c.street_code, t.c.status, t.c.provisional, func.count()
                ).group_by(t.c.rule_id, t.c.street_code, t.c.status, t.c.provisional)
            ).all()
        ]

    @staticmethod
    def _to_domain(row: Row[Any]) -> Deadline:
        return Deadline(
            id=row.id,
            case_id=row.case_id,
            street_code=row.street_code,
            rule_id=row.rule_id,
            unit=Unit(row.unit),
            amount=row.amount,
            started_at=row.started_at,
            due_at=row.due_at,
            status=DeadlineStatus(row.status),
            provisional=bool(row.provisional),
            met_at=row.met_at,
        )


class UnitOfWork:
    """Context manager over one transaction; commits when the block ends without error.

    ``repositories`` maps a name to a factory ``(conn) -> repository``: the service's case
    repository is ``uow.cases``, its others ``uow.<name>``. ``on_commit`` runs after a commit
    that added events (it wakes the outbox relay).
    """

    def __init__(
        self,
        database: Database,
        tables: Mapping[str, Table],
        clock: Clock,
        context: MessageContext,
        *,
        repositories: Mapping[str, Callable[[Connection], Any]] | None = None,
        on_commit: Callable[[], None] | None = None,
    ):
        self._db, self._tables, self._clock = database, tables, clock
        self.context = context
        self._repositories = repositories or {}
        self._on_commit = on_commit
        self.now: datetime | None = None

    def __enter__(self) -> UnitOfWork:
        self._tx: AbstractContextManager[Connection] = self._db.transaction()
        self.conn = self._tx.__enter__()
        self.now = self._clock.now()
        self.outbox = Outbox(
            self.conn,
            self._tables["outbox"],
            source=self.context.service,
            now=self.now,
            correlation_id=self.context.correlation_id,
            acting_user=self.context.acting_user,
        )
        self.inbox = Inbox(self.conn, self._tables["inbox"], self.now)
        self.deadlines = DeadlineRepository(
            self.conn, self._tables["deadlines"], self.outbox, self.context.service
        )
        self.documents = (
            DocumentStore(self.conn, self._tables["documents"], self.context.service)
            if "documents" in self._tables
            else None
        )
        self.idempotency = (
            IdempotencyKeys(self.conn, self._tables["idempotency"], self.now)
            if "idempotency" in self._tables
            else None
        )
        for name, factory in self._repositories.items():
            setattr(self, name, factory(self.conn))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        self._tx.__exit__(exc_type, exc, tb)
        if exc_type is None and self.outbox.added and self._on_commit:
            self._on_commit()
        return False
