"""Supervision's tables and repositories: the case register, the timeline, the register of every
street's deadlines, the breaches, and the register of new recipients.

Concurrency: the register row of a case is the one row handlers load, change and save
(``case.progressed`` moves its current step), so it has a ``version`` and ``Register`` has the
contract of ``hqcore.case_records.CaseRecords``: ``get(lock=True)`` takes the row lock,
``save`` stores only from the version read (``stale`` otherwise). A deadline's row is also
read and written again, but only under its row lock (``get(lock=True)``; SQLite has one
writer) and its new state is a merge that never goes back (met and breached are final), so it
needs no version; two first reports of one deadline collide on its primary key and the loser is
retried. The timeline, the breaches and the new recipients are only inserted, and a payment
month is set by one conditional ``UPDATE``: nothing to version.

One lock per case (SEC-2, SEC-16): every handler that changes a case's register row or timeline
first locks the case's chain head (``Chain.lock``), a row created on first use whether or not
the case is registered yet. The acceptance and a ``case.progressed`` of one case therefore run
one after the other on PostgreSQL too (read committed): the second sees what the first
committed, so the register never misses a step, and two entries never fork the hash chain.

The read log (SEC-15) is an append-only table with no unique key of its own (the inbox keeps
each ``access.read`` once) and two indexes, by case and by instant, for the district's queries.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hqcore.case_records import save_versioned
from hqcore.db import UtcDateTime, platform_tables
from hqcore.timeline import GENESIS
from services.supervision import domain
from services.supervision.domain import (
    Breach,
    ChainHead,
    DeadlineRecord,
    NewRecipient,
    ReadRecord,
    RegisteredCase,
    TimelineEntry,
)

metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("case_no", sa.String(40), nullable=False),
    sa.Column("program", sa.String(20), nullable=False),
    sa.Column("street_code", sa.String(40), nullable=False, index=True),
    sa.Column("community", sa.String(100), nullable=True),
    sa.Column("near_relative", sa.Boolean, nullable=False),
    sa.Column("household_size", sa.Integer, nullable=True),
    sa.Column("accepted_at", UtcDateTime, nullable=False, index=True),
    sa.Column("step", sa.String(40), nullable=False, index=True),
    sa.Column("service", sa.String(20), nullable=False),
    sa.Column("step_at", UtcDateTime, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
)

timeline = sa.Table(
    "timeline",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
    sa.Column("street_code", sa.String(40), nullable=False),
    sa.Column("service", sa.String(20), nullable=False),
    sa.Column("step", sa.String(40), nullable=False),
    sa.Column("action", sa.String(80), nullable=False),
    sa.Column("actor_user", sa.String(64), nullable=True),
    sa.Column("actor_role", sa.String(40), nullable=True),
    sa.Column("rule_id", sa.String(10), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("document_ids", sa.Text, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("document_hashes", sa.Text, nullable=False, server_default="{}"),
    sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""),
    sa.Column("hash", sa.String(64), nullable=False, server_default=""),
    sa.Index("uq_timeline_case_seq", "case_id", "seq", unique=True),
)

timeline_heads = sa.Table(
    "timeline_heads",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

reads = sa.Table(
    "reads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("street_code", sa.String(40), nullable=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("case_id", sa.String(64), nullable=True, index=True),
    sa.Column("document_id", sa.String(80), nullable=True),
    sa.Column("target", sa.String(500), nullable=False),
    sa.Column("remote_addr", sa.String(64), nullable=True),
    sa.Column("read_at", UtcDateTime, nullable=False, index=True),
)

deadline_register = sa.Table(
    "deadline_register",
    metadata,
    sa.Column("deadline_id", sa.String(36), primary_key=True),
    sa.Column("service", sa.String(20), nullable=False),
    sa.Column("rule_id", sa.String(10), nullable=False),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
    sa.Column("street_code", sa.String(40), nullable=True, index=True),
    sa.Column("unit", sa.String(2), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("provisional", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("met_at", UtcDateTime, nullable=True),
    sa.Column("breached_at", UtcDateTime, nullable=True),
    sa.Index("ix_deadline_register_status_due", "status", "due_at"),
)

breaches = sa.Table(
    "breaches",
    metadata,
    sa.Column("deadline_id", sa.String(36), primary_key=True),
    sa.Column("service", sa.String(20), nullable=False),
    sa.Column("rule_id", sa.String(10), nullable=False),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
    sa.Column("street_code", sa.String(40), nullable=True, index=True),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("provisional", sa.Boolean, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

recipients = sa.Table(
    "recipients",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("case_no", sa.String(40), nullable=False),
    sa.Column("program", sa.String(20), nullable=False),
    sa.Column("street_code", sa.String(40), nullable=False, index=True),
    sa.Column("community", sa.String(100), nullable=False),
    sa.Column("near_relative", sa.Boolean, nullable=False),
    sa.Column("household_check_required", sa.Boolean, nullable=False),
    sa.Column("decided_at", UtcDateTime, nullable=False),
    sa.Column("month", sa.String(7), nullable=False, index=True),
    sa.Column("authority", sa.String(10), nullable=False),
    sa.Column("monthly_amount_fen", sa.Integer, nullable=True),
    sa.Column("recipients", sa.Text, nullable=False),
    sa.Column("first_payment_month", sa.String(7), nullable=True),
    sa.Column("payee_kind", sa.String(10), nullable=True),
)

TABLES = {
    **platform_tables(metadata),
    "cases": cases,
    "timeline": timeline,
    "timeline_heads": timeline_heads,
    "reads": reads,
    "deadline_register": deadline_register,
    "breaches": breaches,
    "recipients": recipients,
}


class Register:
    """``uow.cases``: the district's register of cases, one row per case (the contract of
    ``hqcore.case_records.CaseRecords``: get with the row lock, add, save with version check)."""

    def __init__(self, conn: Any):
        self._conn = conn

    def get(self, case_id: str, *, lock: bool = False) -> RegisteredCase | None:
        query = select(cases).where(cases.c.case_id == case_id)
        row = self._conn.execute(query.with_for_update() if lock else query).first()
        return _to_case(row) if row is not None else None

    def add(self, case: RegisteredCase) -> None:
        self._conn.execute(
            cases.insert().values(
                case_id=case.case_id,
                case_no=case.case_no,
                program=case.program,
                street_code=case.street_code,
                community=case.community,
                near_relative=case.near_relative,
                household_size=case.household_size,
                accepted_at=case.accepted_at,
                version=case.version,
                **_step_columns(case),
            )
        )

    def save(self, case: RegisteredCase) -> None:
        """Store the case's step from the version it was read in, and count the save."""
        save_versioned(self._conn, cases, case, **_step_columns(case))

    def page(
        self,
        now: datetime,
        *,
        street_code: str | None = None,
        program: str | None = None,
        steps: tuple[str, ...] | None = None,
        overdue: bool | None = None,
        open_only: bool = False,
        oldest_step_first: bool = False,
        page: int = 1,
        per_page: int = 20,
    ) -> dict[str, Any]:
        """One page of the register, filtered; each case says whether it is overdue."""
        late = _overdue_deadline(now)
        conditions = []
        if street_code:
            conditions.append(cases.c.street_code == street_code)
        if program:
            conditions.append(cases.c.program == program)
        if steps is not None:
            conditions.append(cases.c.step.in_(steps))
        if overdue is not None:
            conditions.append(late if overdue else ~late)
        if open_only:
            conditions.append(cases.c.closed == sa.false())
        where = and_(sa.true(), *conditions)
        order = (
            (cases.c.step_at, cases.c.case_id)
            if oldest_step_first
            else (cases.c.accepted_at.desc(), cases.c.case_id)
        )
        total = self._conn.execute(select(func.count()).select_from(cases).where(where)).scalar()
        rows = self._conn.execute(
            select(cases, late.label("overdue"))
            .where(where)
            .order_by(*order)
            .offset(domain.offset(page, per_page))
            .limit(per_page)
        ).all()
        return domain.page_of(
            [domain.summary(_to_case(r), bool(r.overdue)) for r in rows], page, per_page, total
        )


def _step_columns(case: RegisteredCase) -> dict[str, Any]:
    return {
        "step": case.current_step,
        "service": case.current_service,
        "step_at": case.step_at,
        "closed": case.closed,
        "closed_at": case.closed_at,
    }


def _to_case(row: Any) -> RegisteredCase:
    return RegisteredCase(
        case_id=row.case_id,
        case_no=row.case_no,
        program=row.program,
        street_code=row.street_code,
        status=domain.CLOSED if row.closed else domain.IN_PROCEDURE,
        since=row.step_at,
        version=row.version,
        community=row.community,
        near_relative=bool(row.near_relative),
        household_size=row.household_size,
        accepted_at=row.accepted_at,
        current_step=row.step,
        current_service=row.service,
        step_at=row.step_at,
        closed=bool(row.closed),
        closed_at=row.closed_at,
    )


def _overdue_deadline(now: datetime) -> Any:
    """EXISTS a deadline of the case that is breached, or open past its due instant."""
    d = deadline_register
    return exists().where(
        and_(
            d.c.case_id == cases.c.case_id,
            or_(
                d.c.status == domain.DEADLINE_BREACHED,
                and_(d.c.status == domain.DEADLINE_OPEN, d.c.due_at < now),
            ),
        )
    )


class Timeline:
    """``uow.timeline``: every ``case.progressed`` of every service, by case."""

    def __init__(self, conn: Any):
        self._conn = conn

    def add(self, entry: TimelineEntry) -> None:
        """Store an entry already linked into its case's chain (``domain.link``)."""
        self._conn.execute(
            timeline.insert().values(
                **{
                    **asdict(entry),
                    "document_ids": json.dumps(entry.document_ids),
                    "document_hashes": json.dumps(entry.document_hashes, sort_keys=True),
                }
            )
        )

    def for_case(self, case_id: str) -> list[TimelineEntry]:
        """The case's entries in the order things happened (``at``), as users read them."""
        rows = self._conn.execute(
            select(timeline)
            .where(timeline.c.case_id == case_id)
            .order_by(timeline.c.at, timeline.c.id)
        ).all()
        return [timeline_row(row) for row in rows]


def timeline_row(row: Any) -> TimelineEntry:
    """A stored timeline row as the entry it was written from (also for ``hqops.integrity``)."""
    return TimelineEntry(
        **{
            **{k: v for k, v in row._mapping.items() if k != "id"},
            "document_ids": json.loads(row.document_ids),
            "document_hashes": json.loads(row.document_hashes),
            "closed": bool(row.closed),
        }
    )


class Chain:
    """``uow.chain``: the head of each case's hash chain, and the case's one lock (SEC-2,
    SEC-16)."""

    def __init__(self, conn: Any):
        self._conn = conn

    def lock(self, case_id: str) -> ChainHead:
        """The case's chain head, locked until the unit of work ends; created at the genesis
        on first use. ``INSERT … ON CONFLICT DO NOTHING`` waits for a concurrent creator to
        commit, so the ``FOR UPDATE`` that follows always finds the row to lock."""
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        self._conn.execute(
            dialect.insert(timeline_heads)
            .values(case_id=case_id, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["case_id"])
        )
        row = self._conn.execute(
            select(timeline_heads).where(timeline_heads.c.case_id == case_id).with_for_update()
        ).one()
        return ChainHead(row.case_id, row.seq, row.hash)

    def advance(self, head: ChainHead) -> None:
        """Move the head to the entry just appended (from the head locked before it)."""
        result = self._conn.execute(
            update(timeline_heads)
            .where(
                and_(timeline_heads.c.case_id == head.case_id, timeline_heads.c.seq == head.seq - 1)
            )
            .values(seq=head.seq, hash=head.hash)
        )
        if result.rowcount != 1:  # pragma: no cover - the row lock makes this impossible
            raise RuntimeError(f"the hash chain of {head.case_id} moved under its lock")


class Reads:
    """``uow.reads``: the read log (SEC-15), append-only."""

    def __init__(self, conn: Any):
        self._conn = conn

    def add(self, record: ReadRecord) -> None:
        self._conn.execute(reads.insert().values(**asdict(record)))

    def list(
        self,
        *,
        case_id: str | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The reads matching every filter given, newest first."""
        conditions = []
        if case_id is not None:
            conditions.append(reads.c.case_id == case_id)
        if user_id is not None:
            conditions.append(reads.c.user_id == user_id)
        if since is not None:
            conditions.append(reads.c.read_at >= since)
        if until is not None:
            conditions.append(reads.c.read_at < until)
        rows = self._conn.execute(
            select(reads)
            .where(and_(sa.true(), *conditions))
            .order_by(reads.c.read_at.desc(), reads.c.id.desc())
            .limit(limit)
        ).all()
        return [dict(row._mapping) for row in rows]


class DeadlineRegister:
    """``uow.deadline_register``: every deadline of every street, with its status as the
    owning service reported it."""

    def __init__(self, conn: Any):
        self._conn = conn

    def get(self, deadline_id: str, *, lock: bool = False) -> DeadlineRecord | None:
        query = select(deadline_register).where(deadline_register.c.deadline_id == deadline_id)
        row = self._conn.execute(query.with_for_update() if lock else query).first()
        return _deadline(row) if row is not None else None

    def add(self, record: DeadlineRecord) -> None:
        self._conn.execute(deadline_register.insert().values(**asdict(record)))

    def save(self, record: DeadlineRecord) -> None:
        self._conn.execute(
            update(deadline_register)
            .where(deadline_register.c.deadline_id == record.deadline_id)
            .values(**asdict(record))
        )

    def for_case(self, case_id: str) -> list[DeadlineRecord]:
        rows = self._conn.execute(
            select(deadline_register)
            .where(deadline_register.c.case_id == case_id)
            .order_by(deadline_register.c.due_at)
        ).all()
        return [_deadline(row) for row in rows]

    def page(
        self,
        now: datetime,
        *,
        street_code: str | None = None,
        status: str | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> dict[str, Any]:
        d = deadline_register
        conditions = []
        if street_code:
            conditions.append(d.c.street_code == street_code)
        if status == "overdue":
            conditions.append(
                or_(
                    d.c.status == domain.DEADLINE_BREACHED,
                    and_(d.c.status == domain.DEADLINE_OPEN, d.c.due_at < now),
                )
            )
        elif status:
            conditions.append(d.c.status == status)
        where = and_(sa.true(), *conditions)
        total = self._conn.execute(select(func.count()).select_from(d).where(where)).scalar()
        rows = self._conn.execute(
            select(d)
            .where(where)
            .order_by(d.c.due_at, d.c.deadline_id)
            .offset(domain.offset(page, per_page))
            .limit(per_page)
        ).all()
        return domain.page_of(
            [domain.deadline_view(_deadline(r), now) for r in rows], page, per_page, total
        )


def _deadline(row: Any) -> DeadlineRecord:
    return DeadlineRecord(**{**row._mapping, "provisional": bool(row.provisional)})


class Breaches:
    """``uow.breaches``: the district's register of breached deadlines."""

    def __init__(self, conn: Any):
        self._conn = conn

    def add(self, breach: Breach) -> None:
        self._conn.execute(breaches.insert().values(**asdict(breach)))

    def list(self, street_code: str | None, limit: int) -> list[dict[str, Any]]:
        query = select(breaches).order_by(breaches.c.due_at).limit(limit)
        if street_code:
            query = query.where(breaches.c.street_code == street_code)
        return [dict(row._mapping) for row in self._conn.execute(query)]


class Recipients:
    """``uow.recipients``: the district's register of newly confirmed recipients (SU-1 to
    SU-3)."""

    def __init__(self, conn: Any):
        self._conn = conn

    def add(self, entry: NewRecipient) -> None:
        self._conn.execute(
            recipients.insert().values(
                **{**asdict(entry), "recipients": json.dumps(entry.recipients, ensure_ascii=False)}
            )
        )

    def schedule_payment(
        self, case_id: str, first_month: str, monthly_amount_fen: int, payee_kind: str
    ) -> bool:
        """PA-1: the first payment month; False when the approval is not registered yet."""
        result = self._conn.execute(
            update(recipients)
            .where(recipients.c.case_id == case_id)
            .values(
                first_payment_month=first_month,
                monthly_amount_fen=monthly_amount_fen,
                payee_kind=payee_kind,
            )
        )
        return bool(result.rowcount == 1)

    def list(self, street_code: str | None, month: str | None) -> list[dict[str, Any]]:
        query = select(recipients).order_by(recipients.c.decided_at, recipients.c.case_id)
        if street_code:
            query = query.where(recipients.c.street_code == street_code)
        if month:
            query = query.where(recipients.c.month == month)
        return [
            {**row._mapping, "recipients": json.loads(row.recipients)}
            for row in self._conn.execute(query)
        ]


class Figures:
    """``uow.figures``: the register's figures for the dashboard."""

    def __init__(self, conn: Any):
        self._conn = conn

    def compute(self, now: datetime) -> dict[str, dict[tuple[str, ...], int]]:
        return register_figures(self._conn, now)


def register_figures(conn: Any, now: datetime) -> dict[str, dict[tuple[str, ...], int]]:
    """The register's figures for the dashboard (hqcore.metrics.record_register_figures):
    open cases by street and current step; open cases with an overdue deadline by street;
    this month's decisions (Beijing time) by street and outcome; this month's payment roll
    (every schedule starting this month or before, as the payments service lists it) by street,
    as a count and in fen."""
    start, end = domain.month_bounds(now)
    month = domain.month_of(now)
    open_cases = cases.c.closed == sa.false()
    by_step = conn.execute(
        select(cases.c.street_code, cases.c.step, func.count())
        .where(open_cases)
        .group_by(cases.c.street_code, cases.c.step)
    ).all()
    overdue = conn.execute(
        select(cases.c.street_code, func.count())
        .where(and_(open_cases, _overdue_deadline(now)))
        .group_by(cases.c.street_code)
    ).all()
    decided = timeline.c.action.like("decided:%")
    decisions = conn.execute(
        select(timeline.c.street_code, timeline.c.action, func.count())
        .where(
            and_(
                timeline.c.service == "decision",
                decided,
                timeline.c.at >= start,
                timeline.c.at < end,
            )
        )
        .group_by(timeline.c.street_code, timeline.c.action)
    ).all()
    paid = conn.execute(
        select(
            recipients.c.street_code,
            func.count(),
            func.coalesce(func.sum(recipients.c.monthly_amount_fen), 0),
        )
        .where(
            and_(
                recipients.c.first_payment_month.is_not(None),
                recipients.c.first_payment_month <= month,
            )
        )
        .group_by(recipients.c.street_code)
    ).all()
    return {
        "open_cases": {(street, step): n for street, step, n in by_step},
        "overdue_cases": {(street,): n for street, n in overdue},
        "decisions_this_month": {
            (street, action.split(":", 1)[1]): n for street, action, n in decisions
        },
        "payments_this_month": {(street,): n for street, n, _ in paid},
        "payments_this_month_fen": {(street,): int(fen) for street, _, fen in paid},
    }


# ``uow.<name>`` for each unit of work (``hqcore.providers.UnitOfWorkProvider``).
REPOSITORIES = {
    "cases": Register,
    "timeline": Timeline,
    "chain": Chain,
    "reads": Reads,
    "deadline_register": DeadlineRegister,
    "breaches": Breaches,
    "recipients": Recipients,
    "figures": Figures,
}
