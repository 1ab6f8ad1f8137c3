"""What a downstream service knows of a case: its local record, status and deadlines.

Each service keeps its own copy (no service reads another's tables); the gateway assembles the
whole case from every service's ``get_case``.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy import select, update

from hqcore.casefile import CaseRecord
from hqcore.db import UtcDateTime


def case_records_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "case_records", metadata,
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(40), nullable=False),
        sa.Column("program", sa.String(20), nullable=False),
        sa.Column("street_code", sa.String(40), nullable=False, index=True),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )


def create_case_records_v1(op) -> None:
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


class CaseRecordRepository:
    def __init__(self, conn, table: sa.Table):
        self._conn, self._table = conn, table

    def add(self, record: CaseRecord) -> None:
        self._conn.execute(self._table.insert().values(
            case_id=record.case_id, case_no=record.case_no, program=record.program,
            street_code=record.street_code, status=record.status, since=record.since,
            details=json.dumps(record.details, ensure_ascii=False, default=str),
        ))

    def get(self, case_id: str) -> CaseRecord | None:
        row = self._conn.execute(
            select(self._table).where(self._table.c.case_id == case_id)).first()
        if row is None:
            return None
        return CaseRecord(row.case_id, row.case_no, row.program, row.street_code, row.status,
                          row.since, json.loads(row.details))

    def save(self, record: CaseRecord) -> None:
        self._conn.execute(update(self._table).where(self._table.c.case_id == record.case_id)
                           .values(status=record.status, since=record.since,
                                   details=json.dumps(record.details, ensure_ascii=False,
                                                      default=str)))
