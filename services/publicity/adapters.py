"""Publicity's tables: case records, running publicity periods, deliberation bodies."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, select

from hqcore.case_records import CaseRecords, case_records_table
from hqcore.db import UtcDateTime, platform_tables
from services.publicity.domain import PublicityCase, validate_body

DEMO_BODIES = Path(__file__).parent / "data" / "deliberation_bodies.json"

metadata = sa.MetaData()
# The publicities now running, one per case: what the end-of-publicity timer looks at (PU-1).
publicity_periods = sa.Table(
    "publicity_periods",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("ends_at", UtcDateTime, nullable=False, index=True),
)
deliberation_bodies = sa.Table(
    "deliberation_bodies",
    metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("members", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)
TABLES = {
    **platform_tables(metadata),
    "case_records": case_records_table(metadata),
    "publicity_periods": publicity_periods,
    "deliberation_bodies": deliberation_bodies,
}


def cases(conn: Any) -> CaseRecords[PublicityCase]:
    """``uow.cases``: publicity's cases (``hqcore.case_records``)."""
    return CaseRecords(conn, TABLES["case_records"], PublicityCase)


class PeriodRepository:
    def __init__(self, conn):
        self._conn = conn

    def start(self, case_id: str, ends_at: datetime) -> None:
        self._conn.execute(publicity_periods.insert().values(case_id=case_id, ends_at=ends_at))

    def stop(self, case_id: str) -> None:
        self._conn.execute(delete(publicity_periods).where(publicity_periods.c.case_id == case_id))

    def ended(self, now: datetime, limit: int = 200) -> list[str]:
        """Cases whose publicity reached its end instant (PU-1)."""
        return [
            r.case_id
            for r in self._conn.execute(
                select(publicity_periods.c.case_id)
                .where(publicity_periods.c.ends_at <= now)
                .order_by(publicity_periods.c.ends_at)
                .limit(limit)
            )
        ]


class BodyRepository:
    """Each street's deliberation-and-consultation body (PU-5)."""

    def __init__(self, conn):
        self._conn = conn

    def get(self, street_code: str) -> dict | None:
        row = self._conn.execute(
            select(deliberation_bodies).where(deliberation_bodies.c.street_code == street_code)
        ).first()
        if row is None:
            return None
        return {
            "street_code": row.street_code,
            "members": json.loads(row.members),
            "updated_at": row.updated_at,
            "updated_by": row.updated_by,
        }

    def replace(self, street_code: str, members: list[dict], now: datetime, user_id: str) -> None:
        self._conn.execute(
            delete(deliberation_bodies).where(deliberation_bodies.c.street_code == street_code)
        )
        self._conn.execute(
            deliberation_bodies.insert().values(
                street_code=street_code,
                members=json.dumps(members, ensure_ascii=False),
                updated_at=now,
                updated_by=user_id,
            )
        )


def seed(conn, reference) -> None:
    """A demo body for every street of the district; bodies a street already set are kept."""
    demo = json.loads(DEMO_BODIES.read_text(encoding="utf-8"))["bodies"]
    repo, seeded_at = BodyRepository(conn), datetime.fromisoformat("2021-09-04T00:00:00+08:00")
    for street in reference.streets():
        if repo.get(street["code"]) is None:
            repo.replace(street["code"], validate_body(demo[street["code"]]), seeded_at, "seed")


# ``uow.<name>`` for each unit of work (``hqcore.providers.UnitOfWorkProvider``).
REPOSITORIES = {"cases": cases, "periods": PeriodRepository, "bodies": BodyRepository}
