"""Supervision's tables: the case register, the timeline, the register of every street's
deadlines, the breaches, and the register of new recipients."""
from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import and_, exists, func, or_, select, update

from hqcore.db import UtcDateTime, platform_tables
from services.supervision import domain

metadata = sa.MetaData()

cases = sa.Table(
    "cases", metadata,
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
)

timeline = sa.Table(
    "timeline", metadata,
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
)

deadline_register = sa.Table(
    "deadline_register", metadata,
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
    "breaches", metadata,
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
    "recipients", metadata,
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

TABLES = platform_tables(metadata)


class Register:
    """The district's register of cases and their timeline."""

    def __init__(self, conn):
        self._conn = conn

    def add(self, entry: dict) -> None:
        """Register a case, taking into account timeline entries that arrived before it."""
        if self.get(entry["case_id"]) is not None:
            return
        state = domain.current_step(entry, self.timeline(entry["case_id"]))
        self._conn.execute(cases.insert().values(**{**entry, **state}))

    def get(self, case_id: str, lock: bool = False) -> dict | None:
        query = select(cases).where(cases.c.case_id == case_id)
        row = self._conn.execute(query.with_for_update() if lock else query).first()
        return dict(row._mapping) if row else None

    def record_progress(self, entry: dict) -> None:
        """Append to the timeline and move the register's current step (if registered)."""
        self._conn.execute(timeline.insert().values(
            **{**entry, "document_ids": json.dumps(entry["document_ids"])}))
        registered = self.get(entry["case_id"], lock=True)
        if registered is not None:
            self._conn.execute(update(cases).where(cases.c.case_id == entry["case_id"])
                               .values(**domain.current_step(registered, [entry])))

    def timeline(self, case_id: str) -> list[dict]:
        rows = self._conn.execute(select(timeline).where(timeline.c.case_id == case_id)
                                  .order_by(timeline.c.at, timeline.c.id)).all()
        return [{**row._mapping, "document_ids": json.loads(row.document_ids)} for row in rows]

    def page(self, now: datetime, *, street_code: str | None = None, program: str | None = None,
             steps: tuple[str, ...] | None = None, overdue: bool | None = None,
             open_only: bool = False, oldest_step_first: bool = False, page: int = 1,
             per_page: int = 20) -> dict:
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
        order = ((cases.c.step_at, cases.c.case_id) if oldest_step_first
                 else (cases.c.accepted_at.desc(), cases.c.case_id))
        total = self._conn.execute(select(func.count()).select_from(cases).where(where)).scalar()
        rows = self._conn.execute(
            select(cases, late.label("overdue")).where(where).order_by(*order)
            .offset(domain.offset(page, per_page)).limit(per_page)).all()
        return domain.page_of([dict(r._mapping) for r in rows], page, per_page, total)


def _overdue_deadline(now: datetime):
    """EXISTS a deadline of the case that is breached, or open past its due instant."""
    d = deadline_register
    return exists().where(and_(d.c.case_id == cases.c.case_id, or_(
        d.c.status == domain.DEADLINE_BREACHED,
        and_(d.c.status == domain.DEADLINE_OPEN, d.c.due_at < now))))


class DeadlineRegister:
    """Every deadline of every street, with its status as the owning service reported it."""

    def __init__(self, conn):
        self._conn = conn

    def record(self, payload: dict, status: str, now: datetime) -> None:
        keys = ("deadline_id", "service", "rule_id", "case_id", "street_code", "unit", "amount",
                "due_at", "provisional")
        values = {key: payload[key] for key in keys}
        current = self._conn.execute(
            select(deadline_register).where(deadline_register.c.deadline_id
                                            == payload["deadline_id"]).with_for_update()).first()
        values["status"] = domain.deadline_status(current.status if current else None, status)
        if status == domain.DEADLINE_MET:
            values["met_at"] = payload["met_at"]
        if status == domain.DEADLINE_BREACHED:
            values["breached_at"] = now
        if current is None:
            self._conn.execute(deadline_register.insert().values(**values))
        else:
            self._conn.execute(update(deadline_register).where(
                deadline_register.c.deadline_id == payload["deadline_id"]).values(**values))

    def for_case(self, case_id: str, now: datetime) -> list[dict]:
        rows = self._conn.execute(select(deadline_register)
                                  .where(deadline_register.c.case_id == case_id)
                                  .order_by(deadline_register.c.due_at)).all()
        return [_deadline_view(row, now) for row in rows]

    def page(self, now: datetime, *, street_code: str | None = None, status: str | None = None,
             page: int = 1, per_page: int = 20) -> dict:
        d = deadline_register
        conditions = []
        if street_code:
            conditions.append(d.c.street_code == street_code)
        if status == "overdue":
            conditions.append(or_(d.c.status == domain.DEADLINE_BREACHED,
                                  and_(d.c.status == domain.DEADLINE_OPEN, d.c.due_at < now)))
        elif status:
            conditions.append(d.c.status == status)
        where = and_(sa.true(), *conditions)
        total = self._conn.execute(select(func.count()).select_from(d).where(where)).scalar()
        rows = self._conn.execute(select(d).where(where).order_by(d.c.due_at, d.c.deadline_id)
                                  .offset(domain.offset(page, per_page)).limit(per_page)).all()
        return domain.page_of([_deadline_view(r, now) for r in rows], page, per_page, total)


def _deadline_view(row, now: datetime) -> dict:
    return {**row._mapping, "overdue": domain.is_overdue(row.status, row.due_at, now)}


class Recipients:
    """The district's register of newly confirmed recipients (SU-1 to SU-3)."""

    def __init__(self, conn):
        self._conn = conn

    def add(self, entry: dict) -> None:
        self._conn.execute(recipients.insert().values(
            **{**entry, "recipients": json.dumps(entry["recipients"], ensure_ascii=False)}))

    def schedule_payment(self, case_id: str, first_month: str, monthly_amount_fen: int,
                         payee_kind: str) -> bool:
        """PA-1: the first payment month; False when the approval is not registered yet."""
        result = self._conn.execute(update(recipients).where(recipients.c.case_id == case_id)
                                    .values(first_payment_month=first_month,
                                            monthly_amount_fen=monthly_amount_fen,
                                            payee_kind=payee_kind))
        return result.rowcount == 1

    def list(self, street_code: str | None, month: str | None) -> list[dict]:
        query = select(recipients).order_by(recipients.c.decided_at, recipients.c.case_id)
        if street_code:
            query = query.where(recipients.c.street_code == street_code)
        if month:
            query = query.where(recipients.c.month == month)
        return [{**row._mapping, "recipients": json.loads(row.recipients)}
                for row in self._conn.execute(query)]


def register_figures(conn, now: datetime) -> dict:
    """The register's figures for the dashboard (hqcore.metrics.record_register_figures):
    open cases by street and current step; open cases with an overdue deadline by street;
    this month's decisions (Beijing time) by street and outcome; this month's payment roll
    (every schedule starting this month or before, as the payments service lists it) by street,
    as a count and in fen."""
    start, end = domain.month_bounds(now)
    month = domain.month_of(now)
    open_cases = cases.c.closed == sa.false()
    by_step = conn.execute(
        select(cases.c.street_code, cases.c.step, func.count()).where(open_cases)
        .group_by(cases.c.street_code, cases.c.step)).all()
    overdue = conn.execute(
        select(cases.c.street_code, func.count()).where(and_(open_cases, _overdue_deadline(now)))
        .group_by(cases.c.street_code)).all()
    decided = timeline.c.action.like("decided:%")
    decisions = conn.execute(
        select(timeline.c.street_code, timeline.c.action, func.count())
        .where(and_(timeline.c.service == "decision", decided,
                    timeline.c.at >= start, timeline.c.at < end))
        .group_by(timeline.c.street_code, timeline.c.action)).all()
    paid = conn.execute(
        select(recipients.c.street_code, func.count(),
               func.coalesce(func.sum(recipients.c.monthly_amount_fen), 0))
        .where(and_(recipients.c.first_payment_month.is_not(None),
                    recipients.c.first_payment_month <= month))
        .group_by(recipients.c.street_code)).all()
    return {
        "open_cases": {(street, step): n for street, step, n in by_step},
        "overdue_cases": {(street,): n for street, n in overdue},
        "decisions_this_month": {(street, action.split(":", 1)[1]): n
                                 for street, action, n in decisions},
        "payments_this_month": {(street,): n for street, n, _ in paid},
        "payments_this_month_fen": {(street,): int(fen) for street, _, fen in paid},
    }


def add_breach(conn, entry: dict) -> None:
    conn.execute(breaches.insert().values(**entry))


def list_breaches(conn, street_code: str | None, limit: int) -> list[dict]:
    query = select(breaches).order_by(breaches.c.due_at).limit(limit)
    if street_code:
        query = query.where(breaches.c.street_code == street_code)
    return [dict(row._mapping) for row in conn.execute(query)]
