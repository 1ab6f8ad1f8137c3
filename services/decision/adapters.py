"""Decision's tables and repositories: case records, street delegation dates (ORG-1), the
effective-dated policy tables the amounts come from (DE-5) and the monthly reports filed with
the district (DE-3)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, select, update

from hqcore.case_records import CaseRecords, case_records_table
from hqcore.db import UtcDateTime, platform_tables
from hqcore.policy import PolicyRate
from hqcore.policy_tables import policy_rates_table, rates_in_force, seed_policy_rates
from services.decision.domain import APPROVED, DecisionCase

metadata = sa.MetaData()

street_delegations = sa.Table(
    "street_delegations",
    metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("delegated_from", sa.Date, nullable=True),
)
policy_rates = policy_rates_table(metadata)
monthly_reports = sa.Table(
    "monthly_reports",
    metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("filed_at", UtcDateTime, nullable=False),
    sa.Column("filed_by", sa.String(64), nullable=False),
    sa.Column("on_time", sa.Boolean, nullable=False),
    sa.Column("households", sa.Integer, nullable=False),
    sa.Column("monthly_amount_fen", sa.Integer, nullable=False),
    sa.Column("document_id", sa.String(80), nullable=False),
)
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}


class DecisionCases(CaseRecords[DecisionCase]):
    """``uow.cases``: decision's cases (``hqcore.case_records``)."""

    def __init__(self, conn: Any):
        super().__init__(conn, TABLES["case_records"], DecisionCase)

    def approved(self, street_code: str) -> list[DecisionCase]:
        """The street's approved cases, by case number (DE-2, DE-3)."""
        return self.where(self.columns.street_code == street_code, self.columns.status == APPROVED)


class StreetRepository:
    """Each street's delegation date (ORG-1)."""

    def __init__(self, conn: Any):
        self._conn = conn

    def delegated_from(self, street_code: str) -> date | None:
        row = self._conn.execute(
            select(street_delegations.c.delegated_from).where(
                street_delegations.c.street_code == street_code
            )
        ).first()
        return row.delegated_from if row else None

    def set_delegated_from(self, street_code: str, delegated: date | None) -> bool:
        """ORG-1: change a street's delegation date; False for an unknown street."""
        result = self._conn.execute(
            update(street_delegations)
            .where(street_delegations.c.street_code == street_code)
            .values(delegated_from=delegated)
        )
        return bool(result.rowcount == 1)


class PolicyRepository:
    """The policy rows the amounts come from (DE-5): ``hqcore.policy_tables``."""

    def __init__(self, conn: Any):
        self._conn = conn

    def rates_in_force(self, keys: Iterable[str], on: date) -> dict[str, PolicyRate]:
        return rates_in_force(self._conn, policy_rates, keys, on)


class ReportRepository:
    """The monthly rosters and reports filed with the district (DE-3)."""

    def __init__(self, conn: Any):
        self._conn = conn

    def get(self, street_code: str, month: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            select(monthly_reports).where(
                and_(
                    monthly_reports.c.street_code == street_code,
                    monthly_reports.c.month == month,
                )
            )
        ).first()
        return dict(row._mapping) if row else None

    def add(self, report: dict[str, Any]) -> None:
        self._conn.execute(monthly_reports.insert().values(**report))


def seed(conn, reference) -> None:
    """Delegation dates and policy rows; rows an administrator already holds are kept."""
    known = {r.street_code for r in conn.execute(select(street_delegations.c.street_code))}
    rows = [
        {"street_code": s["code"], "delegated_from": s["delegated_from"]}
        for s in reference.streets()
        if s["code"] not in known
    ]
    if rows:
        conn.execute(street_delegations.insert(), rows)
    seed_policy_rates(conn, policy_rates, reference)


# ``uow.<name>`` for each unit of work (``hqcore.providers.UnitOfWorkProvider``).
REPOSITORIES = {
    "cases": DecisionCases,
    "streets": StreetRepository,
    "policy": PolicyRepository,
    "reports": ReportRepository,
}
