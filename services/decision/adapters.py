"""Decision's tables: case records, street delegation dates (ORG-1) and the effective-dated
policy tables the amounts come from (DE-5)."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy import and_, select, update

from hqcore.case_records import CaseRecordRepository, case_records_table
from hqcore.casefile import CaseRecord
from hqcore.db import UtcDateTime, platform_tables
from hqcore.deadlines import Deadline, DeadlineStatus
from hqcore.policy_tables import policy_rates_table, rows_in_force, seed_policy_rates
from services.decision.domain import APPROVED, PolicyRate

metadata = sa.MetaData()

street_delegations = sa.Table(
    "street_delegations", metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("delegated_from", sa.Date, nullable=True),
)
policy_rates = policy_rates_table(metadata)
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}
cases_table = TABLES["case_records"]


def cases(conn) -> CaseRecordRepository:
    return CaseRecordRepository(conn, cases_table)


def case_for_update(conn, case_id: str) -> CaseRecord | None:
    """The case, its row locked until the step commits (PostgreSQL; SQLite has one writer)."""
    conn.execute(select(cases_table.c.case_id).where(cases_table.c.case_id == case_id)
                 .with_for_update())
    return cases(conn).get(case_id)


def approved_cases(conn, street_code: str) -> list[CaseRecord]:
    rows = conn.execute(select(cases_table.c.case_id).where(and_(
        cases_table.c.street_code == street_code, cases_table.c.status == APPROVED,
    )).order_by(cases_table.c.case_no)).all()
    repository = cases(conn)
    return [repository.get(row.case_id) for row in rows]


monthly_reports = sa.Table(
    "monthly_reports", metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("filed_at", UtcDateTime, nullable=False),
    sa.Column("filed_by", sa.String(64), nullable=False),
    sa.Column("on_time", sa.Boolean, nullable=False),
    sa.Column("households", sa.Integer, nullable=False),
    sa.Column("monthly_amount_fen", sa.Integer, nullable=False),
    sa.Column("document_id", sa.String(80), nullable=False),
)


def monthly_report(conn, street_code: str, month: str) -> dict | None:
    row = conn.execute(select(monthly_reports).where(and_(
        monthly_reports.c.street_code == street_code, monthly_reports.c.month == month,
    ))).first()
    return dict(row._mapping) if row else None


def add_monthly_report(conn, report: dict) -> None:
    conn.execute(monthly_reports.insert().values(**report))


def delegated_from(conn, street_code: str) -> date | None:
    row = conn.execute(select(street_delegations.c.delegated_from)
                       .where(street_delegations.c.street_code == street_code)).first()
    return row.delegated_from if row else None


def set_delegated_from(conn, street_code: str, delegated: date | None) -> bool:
    """ORG-1: change a street's delegation date; False for an unknown street."""
    result = conn.execute(update(street_delegations)
                          .where(street_delegations.c.street_code == street_code)
                          .values(delegated_from=delegated))
    return result.rowcount == 1


def rates_in_force(conn, keys, on: date) -> dict[str, PolicyRate]:
    """The policy row of each key valid on ``on`` (the latest start if rows overlap)."""
    return {key: PolicyRate(**row)
            for key, row in rows_in_force(conn, policy_rates, keys, on).items()}


def extend_deadline(conn, deadline: Deadline) -> bool:
    """Store a DE-4 deadline moved to 45 WD while it is still open."""
    deadlines = TABLES["deadlines"]
    result = conn.execute(update(deadlines).where(and_(
        deadlines.c.id == deadline.id, deadlines.c.status == DeadlineStatus.OPEN.value,
    )).values(amount=deadline.amount, due_at=deadline.due_at, due_date=deadline.due_date,
              provisional=deadline.provisional))
    return result.rowcount == 1


def seed(conn, reference) -> None:
    """Delegation dates and policy rows; rows an administrator already holds are kept."""
    known = {r.street_code for r in conn.execute(select(street_delegations.c.street_code))}
    rows = [{"street_code": s["code"], "delegated_from": s["delegated_from"]}
            for s in reference.streets() if s["code"] not in known]
    if rows:
        conn.execute(street_delegations.insert(), rows)
    seed_policy_rates(conn, policy_rates, reference)
