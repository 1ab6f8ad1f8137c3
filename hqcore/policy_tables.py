"""Effective-dated policy tables (standards, bands, limits): one shape for every service that
keeps a copy (decision and verification), seeded from ``hqcore/data/reference.json`` and
edited by an administrator (``add_policy_row``). One row type (``hqcore.policy.PolicyRate``),
one column list (``COLUMNS``), one add function."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import and_, or_, select

from hqcore.errors import Conflict, NotFound, ValidationFailed
from hqcore.policy import COLUMNS, PolicyRate

__all__ = [
    "COLUMNS",
    "PolicyRate",
    "add_policy_row",
    "policy_rates_table",
    "rates_in_force",
    "seed_policy_rates",
]


def policy_rates_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "policy_rates",
        metadata,
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


class ReferenceData(Protocol):
    """Where the seed rows come from: ``hqcore.reference`` (the module itself)."""

    def policy_rows(self) -> Iterable[Mapping[str, Any]]: ...


def _rate(row: sa.Row[Any]) -> PolicyRate:
    return PolicyRate(**{k: row._mapping[k] for k in ("id", *COLUMNS)})


def rates_in_force(
    conn: sa.Connection, table: sa.Table, keys: Iterable[str], on: date, *, required: bool = False
) -> dict[str, PolicyRate]:
    """The row of each key valid on ``on`` (the latest start where rows overlap); keys with
    no row in force are absent, or ``LookupError`` if ``required``."""
    keys = list(keys)
    rows = conn.execute(
        select(table)
        .where(
            and_(
                table.c.key.in_(keys),
                table.c.valid_from <= on,
                or_(table.c.valid_to.is_(None), table.c.valid_to >= on),
            )
        )
        .order_by(table.c.valid_from)
    ).all()
    found = {row.key: _rate(row) for row in rows}
    missing = [key for key in keys if key not in found]
    if required and missing:
        raise LookupError(f"no {', '.join(missing)} policy row in force on {on}")
    return found


def list_rates(conn: sa.Connection, table: sa.Table, key: str | None = None) -> list[PolicyRate]:
    query = select(table).order_by(table.c.key, table.c.valid_from)
    if key is not None:
        query = query.where(table.c.key == key)
    return [_rate(row) for row in conn.execute(query)]


def seed_policy_rates(conn: sa.Connection, table: sa.Table, reference: ReferenceData) -> None:
    """Load the reference rows; rows an administrator already holds are kept as they are."""
    held = {(r.key, r.valid_from) for r in conn.execute(select(table.c.key, table.c.valid_from))}
    rows = [
        {k: row[k] for k in COLUMNS}
        for row in reference.policy_rows()
        if (row["key"], row["valid_from"]) not in held
    ]
    if rows:
        conn.execute(table.insert(), rows)


def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return a_from <= (b_to or date.max) and b_from <= (a_to or date.max)


def add_policy_row(
    conn: sa.Connection, table: sa.Table, row: dict[str, Any], service: str
) -> dict[str, Any]:
    """Add ``row`` (validated by its contract) to ``table``; returns ``{"row", "closed",
    "created", "warnings"}``. An open-ended row of the same key that started before it is
    closed the day before it starts. Refused: a key the service does not hold (404), another
    unit than the key's (400), an overlap with a row other than the open-ended one it closes
    (409). The same row sent again is answered as held (``created`` False): a retry is safe."""
    held = [
        _rate(r)
        for r in conn.execute(
            select(table)
            .where(table.c.key == row["key"])
            .order_by(table.c.valid_from)
            .with_for_update()
        )
    ]
    if not held:
        raise NotFound(
            f"{service} holds no policy key {row['key']}", field="key", code="unknown_policy_key"
        )
    units = sorted({r.unit for r in held})
    if row["unit"] not in units:
        raise ValidationFailed(
            f"unit: {row['key']} is kept in {', '.join(units)}, not {row['unit']}",
            field="unit",
            code="unit_mismatch",
        )
    same = next((r for r in held if r.valid_from == row["valid_from"]), None)
    if same is not None and all(getattr(same, k) == row[k] for k in COLUMNS):
        return {"row": same.view(), "closed": None, "created": False, "warnings": []}
    start, end = row["valid_from"], row["valid_to"]
    open_before = [r for r in held if r.valid_to is None and r.valid_from < start]
    to_close = open_before[-1] if open_before else None
    clashes = [
        r for r in held if r is not to_close and _overlaps(r.valid_from, r.valid_to, start, end)
    ]
    if clashes:
        clash = clashes[0]
        raise Conflict(
            f"{row['key']} from {start} to {end or 'open end'} overlaps the row valid from "
            f"{clash.valid_from} to {clash.valid_to or 'open end'}",
            field="valid_from",
            code="policy_overlap",
            details={
                "overlapping": [
                    {
                        "id": r.id,
                        "valid_from": r.valid_from.isoformat(),
                        "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                    }
                    for r in clashes
                ]
            },
        )
    day_before = start - timedelta(days=1)
    closed = None
    if to_close is not None:
        conn.execute(table.update().where(table.c.id == to_close.id).values(valid_to=day_before))
        closed = {**to_close.view(), "valid_to": day_before}
    new_id = conn.execute(
        table.insert().values(**{k: row[k] for k in COLUMNS})
    ).inserted_primary_key[0]
    periods = [(r.valid_from, day_before if r is to_close else r.valid_to) for r in held]
    warnings = []
    if any(f < start for f, _ in periods) and not any(
        _overlaps(f, t, day_before, day_before) for f, t in periods
    ):
        warnings.append(f"no {row['key']} row is in force on {day_before}, the day before")
    if end is not None and not any(
        _overlaps(f, t, end + timedelta(days=1), end + timedelta(days=1)) for f, t in periods
    ):
        warnings.append(f"no {row['key']} row is in force after {end}")
    return {
        "row": {"id": new_id, **{k: row[k] for k in COLUMNS}},
        "closed": closed,
        "created": True,
        "warnings": warnings,
    }
