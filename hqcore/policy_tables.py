"""Effective-dated policy tables (standards, bands, limits): one shape for every service that
keeps a copy, seeded from ``hqcore/data/reference.json`` and edited by an administrator."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy import and_, or_, select

COLUMNS = ("key", "unit", "value", "valid_from", "valid_to", "source", "verified")


def policy_rates_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
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


def rows_in_force(conn, table: sa.Table, keys, on: date) -> dict[str, sa.RowMapping]:
    """The row of each key valid on ``on`` (the latest start where rows overlap); keys with
    no row in force are absent."""
    rows = conn.execute(select(table).where(and_(
        table.c.key.in_(list(keys)), table.c.valid_from <= on,
        or_(table.c.valid_to.is_(None), table.c.valid_to >= on),
    )).order_by(table.c.valid_from)).all()
    return {row.key: row._mapping for row in rows}


def seed_policy_rates(conn, table: sa.Table, reference) -> None:
    """Load the reference rows; rows an administrator already holds are kept as they are."""
    held = {(r.key, r.valid_from) for r in conn.execute(select(table.c.key, table.c.valid_from))}
    rows = [{k: row[k] for k in COLUMNS}
            for row in reference.policy_rows() if (row["key"], row["valid_from"]) not in held]
    if rows:
        conn.execute(table.insert(), rows)
