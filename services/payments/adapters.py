"""Payments' tables: case records and the monthly payment schedules (PA-1)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, select

from hqcore.case_records import CaseRecords, case_records_table
from hqcore.db import UtcDateTime, platform_tables
from services.payments.domain import PaymentCase, Schedule

metadata = sa.MetaData()
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}

payment_schedules = sa.Table(
    "payment_schedules",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("case_no", sa.String(40), nullable=False),
    sa.Column("program", sa.String(20), nullable=False),
    sa.Column("street_code", sa.String(40), nullable=False),
    sa.Column("community", sa.String(100), nullable=False),
    sa.Column("first_month", sa.String(7), nullable=False),
    sa.Column("monthly_amount_fen", sa.Integer, nullable=False),
    sa.Column("payee_kind", sa.String(20), nullable=False),
    sa.Column("payee_name", sa.String(50), nullable=False),
    sa.Column("payee_account", sa.Text, nullable=True),
    sa.Column("scheduled_at", UtcDateTime, nullable=False),
    sa.Index("ix_payment_schedules_street_month", "street_code", "first_month"),
)
TABLES["payment_schedules"] = payment_schedules


def cases(conn: Any) -> CaseRecords[PaymentCase]:
    """``uow.cases``: payments' cases (``hqcore.case_records``)."""
    return CaseRecords(conn, TABLES["case_records"], PaymentCase)


class ScheduleRepository:
    """``uow.schedules``: the monthly payments of approved cases (PA-1)."""

    def __init__(self, conn: Any):
        self._conn = conn

    def add(self, plan: Schedule, now: datetime) -> None:
        values = plan.view()
        values["payee_account"] = json.dumps(plan.payee_account) if plan.payee_account else None
        self._conn.execute(payment_schedules.insert().values(**values, scheduled_at=now))

    def due(self, month: str, street_code: str | None) -> list[Schedule]:
        """Every schedule paying in ``month`` (it started then or before), by street and case."""
        condition = payment_schedules.c.first_month <= month
        if street_code is not None:
            condition = and_(condition, payment_schedules.c.street_code == street_code)
        rows = self._conn.execute(
            select(payment_schedules)
            .where(condition)
            .order_by(payment_schedules.c.street_code, payment_schedules.c.case_no)
        ).all()
        return [
            Schedule(
                **{
                    **{k: v for k, v in row._mapping.items() if k != "scheduled_at"},
                    "payee_account": json.loads(row.payee_account) if row.payee_account else None,
                }
            )
            for row in rows
        ]


# ``uow.<name>`` for each unit of work (``hqcore.providers.UnitOfWorkProvider``).
REPOSITORIES = {"cases": cases, "schedules": ScheduleRepository}
