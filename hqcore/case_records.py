"""Where a service keeps its cases: one row per case, identity and state in columns, the
service's own typed fields as JSON, and a ``version`` for the one concurrency strategy.

Every step loads its case with ``get(case_id, lock=True)``, which on PostgreSQL takes the row
lock until the step commits (SQLite has one writer), and ``save`` stores it only from the
version it was read in: a second writer that slipped past the lock (a database without row
locks, a read made without ``lock``) gets ``409 concurrent_update`` instead of overwriting.
Each service keeps its own copy (no service reads another's tables); the gateway assembles the
whole case from every service's ``get_case``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import and_, select, update
from sqlalchemy.sql.elements import ColumnElement

from hqcore.aggregate import CaseAggregate
from hqcore.db import UtcDateTime
from hqcore.errors import Conflict

if TYPE_CHECKING:
    from hqcore.migrations import SchemaOperations

A = TypeVar("A", bound=CaseAggregate)


def case_records_table(metadata: sa.MetaData, name: str = "case_records") -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(40), nullable=False),
        sa.Column("program", sa.String(20), nullable=False),
        sa.Column("street_code", sa.String(40), nullable=False, index=True),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )


def create_case_records_v1(op: SchemaOperations) -> None:
    """The table as first released (migrations freeze it; ``add_case_version_v2`` follows)."""
    op.create_table(
        "case_records",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(40), nullable=False),
        sa.Column("program", sa.String(20), nullable=False),
        sa.Column("street_code", sa.String(40), nullable=False, index=True),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )


def add_case_version_v2(op: SchemaOperations, table: str = "case_records") -> None:
    """The ``version`` column of the one concurrency strategy."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))


def stale(case: CaseAggregate) -> Conflict:
    return Conflict(
        f"case {case.case_id} was changed by another request meanwhile; reload it and try again",
        field="case_id",
        code="concurrent_update",
        details={"version": case.version},
    )


def save_versioned(conn: Any, table: sa.Table, case: CaseAggregate, **values: Any) -> None:
    """The one versioned save, for any table of cases with ``case_id`` and ``version``: the row
    is updated only if it still has the version ``case`` was read in (409
    ``concurrent_update`` otherwise), and the case counts the save."""
    result = conn.execute(
        update(table)
        .where(and_(table.c.case_id == case.case_id, table.c.version == case.version))
        .values(version=case.version + 1, **values)
    )
    if result.rowcount != 1:
        raise stale(case)
    case.version += 1


class CaseRecords(Generic[A]):
    """The cases of one aggregate type in one table (``uow.cases``)."""

    def __init__(self, conn: sa.Connection, table: sa.Table, aggregate: type[A]):
        self._conn, self._table, self._aggregate = conn, table, aggregate

    def get(self, case_id: str, *, lock: bool = False) -> A | None:
        query = select(self._table).where(self._table.c.case_id == case_id)
        row = self._conn.execute(query.with_for_update() if lock else query).first()
        return self._to_case(row) if row is not None else None

    def add(self, case: A) -> None:
        self._conn.execute(
            self._table.insert().values(
                case_id=case.case_id,
                case_no=case.case_no,
                program=case.program,
                street_code=case.street_code,
                status=case.status,
                since=case.since,
                details=_json(case.to_details()),
                version=case.version,
            )
        )

    def save(self, case: A) -> None:
        """Store ``case`` from the version it was read in, and count the save."""
        save_versioned(
            self._conn,
            self._table,
            case,
            status=case.status,
            since=case.since,
            details=_json(case.to_details()),
        )

    def where(
        self,
        *conditions: ColumnElement[bool],
        order_by: ColumnElement[Any] | None = None,
        limit: int | None = None,
    ) -> list[A]:
        """Cases matching SQLAlchemy ``conditions`` on the table's columns."""
        query = (
            select(self._table)
            .where(*conditions)
            .order_by(order_by if order_by is not None else self._table.c.case_no)
        )
        if limit is not None:
            query = query.limit(limit)
        return [self._to_case(row) for row in self._conn.execute(query)]

    @property
    def columns(self) -> sa.ColumnCollection[str, sa.Column[Any]]:
        return self._table.c

    def _to_case(self, row: sa.Row[Any]) -> A:
        m = row._mapping
        identity = {
            k: m[k]
            for k in ("case_id", "case_no", "program", "street_code", "status", "since", "version")
        }
        return self._aggregate.from_row(identity, json.loads(m["details"]))


def _json(details: dict[str, Any]) -> str:
    return json.dumps(details, ensure_ascii=False, default=str)
