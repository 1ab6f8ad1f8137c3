"""Verification's tables, repositories and the city verification platform (VE-2).

Every repository works on the unit of work's own connection (``uow.<name>``): the cases, the
policy rows the means test reads, the work waiting for the periodic jobs, and the city
verification platform, so a step's or a job's writes (the simulator's included) commit in
its one transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import and_, select

from hqcore.case_records import CaseRecords, case_records_table
from hqcore.db import UtcDateTime, platform_tables
from hqcore.policy import PolicyRate
from hqcore.policy_tables import policy_rates_table, rates_in_force, seed_policy_rates
from services.verification.domain import (
    CITY_CHECK,
    Company,
    PersonFindings,
    Property,
    Vehicle,
    VerificationCase,
    VerificationReport,
)

REGISTRY_FILE = Path(__file__).parent / "data" / "city_registry.json"

metadata = sa.MetaData()
policy_rates = policy_rates_table(metadata)
city_requests = sa.Table(
    "city_sim_requests",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("reference", sa.String(100), nullable=False, unique=True),
    sa.Column("persons", sa.Text, nullable=False),
    sa.Column("commissioned_at", UtcDateTime, nullable=False),
)
TABLES = {**platform_tables(metadata), "case_records": case_records_table(metadata)}


# -- cases and the work waiting for the periodic jobs ---------------------------------------


def cases(conn: Any) -> CaseRecords[VerificationCase]:
    """``uow.cases``: verification's cases (``hqcore.case_records``)."""
    return CaseRecords(conn, TABLES["case_records"], VerificationCase)


class PendingWork:
    """``uow.pending``: the cases a periodic job has to look at."""

    def __init__(self, conn: Any):
        self._conn = conn

    def city_checks(self, limit: int = 200) -> list[str]:
        """Cases waiting for the city's verification report (VE-2)."""
        table = TABLES["case_records"]
        return [
            r.case_id
            for r in self._conn.execute(
                select(table.c.case_id)
                .where(table.c.status == CITY_CHECK)
                .order_by(table.c.since)
                .limit(limit)
            )
        ]

    def ended_windows(self, status: str, rule_id: str, limit: int = 200) -> list[tuple[str, str]]:
        """(case_id, deadline_id) of cases in ``status`` whose ``rule_id`` window the deadline
        scanner has marked breached (the time ran out): VE-3, VE-5."""
        cases_, deadlines = TABLES["case_records"], TABLES["deadlines"]
        return [
            (r.case_id, r.id)
            for r in self._conn.execute(
                select(cases_.c.case_id, deadlines.c.id)
                .join(deadlines, deadlines.c.case_id == cases_.c.case_id)
                .where(
                    and_(
                        cases_.c.status == status,
                        deadlines.c.rule_id == rule_id,
                        deadlines.c.status == "breached",
                    )
                )
                .order_by(deadlines.c.due_at)
                .limit(limit)
            )
        ]


# -- policy tables --------------------------------------------------------------------------


class PolicyRates:
    """``uow.policy``: the effective-dated policy rows the means test reads (VE-2)."""

    def __init__(self, conn: Any):
        self._conn = conn

    def in_force(self, keys: tuple[str, ...] | list[str], day: date) -> dict[str, PolicyRate]:
        """The row of each key in force on ``day`` (``LookupError`` if one is missing)."""
        return rates_in_force(self._conn, policy_rates, keys, day, required=True)


def seed(conn, reference) -> None:
    """The policy rows of ``hqcore/data/reference.json``; rows an administrator holds stay."""
    seed_policy_rates(conn, policy_rates, reference)


# -- the city verification platform (VE-2) --------------------------------------------------


class CityVerificationPlatform(Protocol):
    """The city economic verification agency's system (市级核对机构), as verification uses it.

    ``commission(reference, persons)`` asks for a check of ``persons`` (dicts with ``name``,
    ``id_number``, ``relationship``, ``role``) and returns the platform's request id; the same
    ``reference`` always returns the same request (safe to repeat after a crash, or from
    several instances). ``report(request_id)`` returns the ``VerificationReport`` once the
    platform issued it, else None; it never blocks. A production backend implements these
    two calls against the city's interface; the simulator below is the embedded default.
    """

    def commission(self, reference: str, persons: list[dict[str, str]]) -> str: ...

    def report(self, request_id: str) -> VerificationReport | None: ...


@lru_cache(maxsize=4)
def load_registry(path: Path = REGISTRY_FILE) -> dict[str, PersonFindings]:
    """The simulator's registry of incomes and assets by ID number (JSON, integer fen)."""
    data = json.loads(path.read_text(encoding="utf-8"))["persons"]
    return {
        id_number: PersonFindings(
            id_number=id_number,
            wages_fen=p.get("wages_fen", 0),
            pension_fen=p.get("pension_fen", 0),
            other_income_fen=p.get("other_income_fen", 0),
            deposits_fen=p.get("deposits_fen", 0),
            securities_fen=p.get("securities_fen", 0),
            vehicles=tuple(Vehicle(**v) for v in p.get("vehicles", ())),
            properties=tuple(Property(**h) for h in p.get("properties", ())),
            companies=tuple(Company(**c) for c in p.get("companies", ())),
        )
        for id_number, p in data.items()
    }


class CityPlatformSimulator:
    """Answers every request ``delay`` seconds (of the suite's clock) after it was
    commissioned, from the seeded registry; a person not in it has no income or assets.
    Requests are kept in verification's database, on the unit of work's connection, so every
    instance sees them and they commit with the step that commissioned them."""

    def __init__(self, conn: Any, clock: Any, delay: float, registry: dict[str, PersonFindings]):
        self._conn, self._clock, self._delay, self._registry = conn, clock, delay, registry

    def commission(self, reference: str, persons: list[dict[str, str]]) -> str:
        row = self._conn.execute(
            select(city_requests.c.request_id).where(city_requests.c.reference == reference)
        ).first()
        if row is not None:
            request_id: str = row.request_id
            return request_id
        request_id = f"CITY-{uuid.uuid4().hex[:16].upper()}"
        self._conn.execute(
            city_requests.insert().values(
                request_id=request_id,
                reference=reference,
                commissioned_at=self._clock.now(),
                persons=json.dumps([p["id_number"] for p in persons]),
            )
        )
        return request_id

    def report(self, request_id: str) -> VerificationReport | None:
        row = self._conn.execute(
            select(city_requests).where(city_requests.c.request_id == request_id)
        ).first()
        if row is None:
            raise LookupError(f"the city platform knows no request {request_id}")
        issued_at: datetime = row.commissioned_at + timedelta(seconds=self._delay)
        if self._clock.now() < issued_at:
            return None
        findings = tuple(self._registry.get(n, PersonFindings(n)) for n in json.loads(row.persons))
        return VerificationReport(f"R-{request_id}", request_id, issued_at, findings)


def city_platform(settings: Any, clock: Any) -> Callable[[Any], CityVerificationPlatform]:
    """``uow.city``, chosen from the settings: the seam where a client of the city's real
    interface replaces the embedded simulator (the only backend today, answering after
    ``Settings.city_platform_delay`` seconds)."""
    delay, registry = settings.city_platform_delay, load_registry()

    def on(conn: Any) -> CityVerificationPlatform:
        return CityPlatformSimulator(conn, clock, delay, registry)

    return on


# ``uow.<name>`` for each unit of work (``hqcore.providers.UnitOfWorkProvider``); ``uow.city``
# is chosen from the settings once, then bound to each unit of work.
REPOSITORIES = {"cases": cases, "policy": PolicyRates, "pending": PendingWork}
PORTS = {"city": city_platform}
