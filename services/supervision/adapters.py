"""Supervision's tables: its case register and the register of breached deadlines."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import select

from hqcore.case_records import case_records_table
from hqcore.db import UtcDateTime, platform_tables

metadata = sa.MetaData()

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
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}


def add_breach(conn, entry: dict) -> None:
    conn.execute(breaches.insert().values(**entry))


def list_breaches(conn, street_code: str | None, limit: int) -> list[dict]:
    query = select(breaches).order_by(breaches.c.due_at).limit(limit)
    if street_code:
        query = query.where(breaches.c.street_code == street_code)
    return [dict(row._mapping) for row in conn.execute(query)]
