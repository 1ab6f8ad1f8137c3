"""Verification's tables, repositories and the city verification platform (VE-2)."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from nameko.extensions import DependencyProvider
from sqlalchemy import and_, select, update

from hqcore.case_records import CaseRecordRepository, case_records_table
from hqcore.casefile import CaseRecord
from hqcore.db import Database, UtcDateTime, platform_tables
from hqcore.errors import Conflict, NotFound
from hqcore.nameko_ext import Platform
from hqcore.policy_tables import policy_rates_table, rows_in_force, seed_policy_rates
from services.verification.domain import PersonFindings, PolicyRow, VerificationReport

REGISTRY_FILE = Path(__file__).parent / "data" / "city_registry.json"

metadata = sa.MetaData()
policy_rates = policy_rates_table(metadata)
city_requests = sa.Table(
    "city_sim_requests", metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("reference", sa.String(100), nullable=False, unique=True),
    sa.Column("persons", sa.Text, nullable=False),
    sa.Column("commissioned_at", UtcDateTime, nullable=False),
)
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}


# -- cases ---------------------------------------------------------------------------------

class CaseStore(CaseRecordRepository):
    """Verification's case records, saved only from the state they were read in, so two
    instances (or two users) never both apply a step."""

    def __init__(self, conn):
        super().__init__(conn, TABLES["case_records"])

    def load(self, case_id: str) -> CaseRecord:
        record = self.get(case_id)
        if record is None:
            raise NotFound(f"verification has no record of case {case_id}", field="case_id",
                           code="case_not_found")
        return record

    def save_from(self, record: CaseRecord, expected_status: str) -> None:
        """Store ``record`` if the stored case is still in ``expected_status``; otherwise
        Conflict (``invalid_state``), which rolls the whole unit of work back."""
        table = self._table
        result = self._conn.execute(update(table).where(and_(
            table.c.case_id == record.case_id, table.c.status == expected_status,
        )).values(status=record.status, since=record.since,
                  details=json.dumps(record.details, ensure_ascii=False, default=str)))
        if result.rowcount != 1:
            raise Conflict("the case changed meanwhile; reload it", field="status",
                           code="invalid_state")

    def case_ids_in(self, status: str, limit: int = 200) -> list[str]:
        table = self._table
        return [r.case_id for r in self._conn.execute(
            select(table.c.case_id).where(table.c.status == status)
            .order_by(table.c.since).limit(limit))]

    def ended_windows(self, status: str, rule_id: str, limit: int = 200) -> list[tuple[str, str]]:
        """(case_id, deadline_id) of cases in ``status`` whose ``rule_id`` window the deadline
        scanner has marked breached (the time ran out)."""
        cases, deadlines = self._table, TABLES["deadlines"]
        return [(r.case_id, r.id) for r in self._conn.execute(
            select(cases.c.case_id, deadlines.c.id)
            .join(deadlines, deadlines.c.case_id == cases.c.case_id)
            .where(and_(cases.c.status == status, deadlines.c.rule_id == rule_id,
                        deadlines.c.status == "breached"))
            .limit(limit))]


# -- policy tables -------------------------------------------------------------------------

def policy_in_force(conn, keys, day: date) -> dict[str, PolicyRow]:
    """The row of each policy ``key`` in force on ``day``."""
    found = rows_in_force(conn, policy_rates, keys, day)
    missing = [key for key in keys if key not in found]
    if missing:
        raise LookupError(f"no {', '.join(missing)} policy row in force on {day}")
    return {key: PolicyRow(row["key"], row["valid_from"], row["value"], row["source"],
                           row["verified"]) for key, row in found.items()}


def seed(conn, reference) -> None:
    """The policy rows of ``hqcore/data/reference.json``; rows an administrator holds stay."""
    seed_policy_rates(conn, policy_rates, reference)


# -- the city verification platform (VE-2) -------------------------------------------------

class CityVerificationPlatform(Protocol):
    """The city economic verification agency's system (市级核对机构), as verification uses it.

    ``commission(reference, persons)`` asks for a check of ``persons`` (dicts with ``name``,
    ``id_number``, ``relationship``, ``role``) and returns the platform's request id; the same
    ``reference`` always returns the same request (safe to repeat after a crash, or from
    several instances). ``report(request_id)`` returns the ``VerificationReport`` once the
    platform issued it, else None; it never blocks. A production backend implements these
    two calls against the city's interface; the simulator below is the embedded default.
    """

    def commission(self, reference: str, persons: list[dict]) -> str: ...

    def report(self, request_id: str) -> VerificationReport | None: ...


@lru_cache(maxsize=4)
def load_registry(path: Path = REGISTRY_FILE) -> dict[str, PersonFindings]:
    """The simulator's registry of incomes and assets by ID number (JSON, integer fen)."""
    data = json.loads(path.read_text(encoding="utf-8"))["persons"]
    return {id_number: PersonFindings(
        id_number=id_number, wages_fen=p.get("wages_fen", 0), pension_fen=p.get("pension_fen", 0),
        other_income_fen=p.get("other_income_fen", 0), deposits_fen=p.get("deposits_fen", 0),
        securities_fen=p.get("securities_fen", 0), vehicles=tuple(p.get("vehicles", ())),
        properties=tuple(p.get("properties", ())), companies=tuple(p.get("companies", ())))
        for id_number, p in data.items()}


class CityPlatformSimulator:
    """Answers every request ``delay`` seconds (of the suite's clock) after it was
    commissioned, from the seeded registry; a person not in it has no income or assets.
    Requests are kept in verification's database so every instance sees them."""

    def __init__(self, database: Database, clock, delay: float,
                 registry: dict[str, PersonFindings]):
        self._db, self._clock, self._delay, self._registry = database, clock, delay, registry

    def commission(self, reference: str, persons: list[dict]) -> str:
        with self._db.transaction() as conn:
            row = conn.execute(select(city_requests.c.request_id)
                               .where(city_requests.c.reference == reference)).first()
            if row is not None:
                return row.request_id
            request_id = f"CITY-{uuid.uuid4().hex[:16].upper()}"
            conn.execute(city_requests.insert().values(
                request_id=request_id, reference=reference, commissioned_at=self._clock.now(),
                persons=json.dumps([p["id_number"] for p in persons])))
            return request_id

    def report(self, request_id: str) -> VerificationReport | None:
        with self._db.transaction() as conn:
            row = conn.execute(select(city_requests)
                               .where(city_requests.c.request_id == request_id)).first()
        if row is None:
            raise LookupError(f"the city platform knows no request {request_id}")
        issued_at: datetime = row.commissioned_at + timedelta(seconds=self._delay)
        if self._clock.now() < issued_at:
            return None
        findings = tuple(self._registry.get(n, PersonFindings(n)) for n in json.loads(row.persons))
        return VerificationReport(f"R-{request_id}", request_id, issued_at, findings)


class CityPlatform(DependencyProvider):
    """``self.city`` in the service: the city verification platform (the simulator). It
    shares the service's ``Database`` so SQLite writes stay serialised in one process."""

    def setup(self):
        self.settings = self.container.config["HQ_SETTINGS"]
        self.backend: CityVerificationPlatform | None = None

    def get_dependency(self, worker_ctx) -> CityVerificationPlatform:
        if self.backend is None:
            platform = next(d for d in self.container.dependencies if isinstance(d, Platform))
            self.backend = CityPlatformSimulator(platform.database, platform.clock,
                                                 self.settings.city_platform_delay,
                                                 load_registry())
        return self.backend
