"""Decision's tables: street delegation dates and the effective-dated policy tables."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy import select

from hqcore.case_records import case_records_table
from hqcore.db import platform_tables

metadata = sa.MetaData()

street_delegations = sa.Table(
    "street_delegations", metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("delegated_from", sa.Date, nullable=True),
)
policy_rates = sa.Table(
    "policy_rates", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(60), nullable=False),
    sa.Column("unit", sa.String(40), nullable=False),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.UniqueConstraint("key", "valid_from", name="uq_policy_key_from"),
)
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}


def delegated_from(conn, street_code: str) -> date | None:
    row = conn.execute(select(street_delegations.c.delegated_from)
                       .where(street_delegations.c.street_code == street_code)).first()
    return row.delegated_from if row else None


def seed(conn, reference) -> None:
    """Delegation dates and policy rows; rows an administrator already holds are kept."""
    known = {r.street_code for r in conn.execute(select(street_delegations.c.street_code))}
    rows = [{"street_code": s["code"], "delegated_from": s["delegated_from"]}
            for s in reference.streets() if s["code"] not in known]
    if rows:
        conn.execute(street_delegations.insert(), rows)
    held = {(r.key, r.valid_from) for r in conn.execute(
        select(policy_rates.c.key, policy_rates.c.valid_from))}
    rows = [{k: row[k] for k in ("key", "unit", "value", "valid_from", "valid_to", "source",
                                 "verified")}
            for row in reference.policy_rows() if (row["key"], row["valid_from"]) not in held]
    if rows:
        conn.execute(policy_rates.insert(), rows)
