"""Intake under concurrent filings, on both databases (SEC-1, SEC-2): requests sent at the same
moment to two running instances of intake, as a scaled deployment receives them.

- SEC-1: the same family filed at the same moment in two streets gets exactly one open case;
  the other filing is 409 ``duplicate_open_case`` (and, filed in another street, is not told
  which case it is: SEC-7).
- SEC-2: the first filings of a year in a street, at the same moment, are each 201 (or 409 for
  a duplicate), never 500, with case numbers unique and without gaps.
"""

import json
from collections import Counter
from datetime import datetime, timezone

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import func, select

from hqcore.clock import get_clock
from hqcore.db import Database
from hqops.samples import actor_for, make_id_number, sample_application
from services.intake import adapters as intake_tables
from services.intake.service import IntakeService

SGZ, SHC = "shaogongzhuang", "shuanghuancun"
CLERKS = {SGZ: actor_for("sgz-clerk"), SHC: actor_for("shc-clerk")}
FILED_AT = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin


@pytest.fixture
def intake(start_service, settings):
    """Two instances of intake on one queue: concurrent filings are handled in parallel, each
    in its own transaction."""
    get_clock(settings).set(FILED_AT)
    return [start_service(IntakeService) for _ in range(2)]


def file_at_once(rpc, filings: list[tuple[str, str]]) -> list[tuple[str, dict]]:
    """Send every ``(id_number, street_code)`` filing before waiting for any answer; each
    answer as ``("ok", case)`` or ``(error type, error body)``."""
    replies = [
        rpc.intake.submit_application.call_async(
            application=sample_application(id_number=id_number, street_code=street),
            actor=CLERKS[street],
        )
        for id_number, street in filings
    ]
    answers = []
    for reply in replies:
        try:
            answers.append(("ok", reply.result()))
        except RemoteError as exc:
            try:
                body = json.loads(exc.value)
            except (TypeError, ValueError):
                body = {"code": None, "message": exc.value}  # an unexpected error: a 500
            answers.append((exc.exc_type, body))
    return answers


def open_cases_per_person(settings) -> Counter:
    """How many open cases of each program cover each person, read from intake's tables."""
    applications = intake_tables.applications
    members = intake_tables.members
    database = Database(settings.database_url("intake"))
    with database.transaction() as conn:
        rows = conn.execute(
            select(members.c.id_number, applications.c.program, func.count())
            .join(applications, applications.c.case_id == members.c.case_id)
            .where(applications.c.status.in_(("awaiting_materials", "accepted")))
            .group_by(members.c.id_number, applications.c.program)
        ).all()
    database.dispose()
    return Counter({(r[0], r[1]): r[2] for r in rows})


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_SEC1_same_family_filed_in_two_streets_at_once_gets_one_open_case(
    intake, rpc, settings, backend
):
    # Each street has filed this year already: the race is the duplicate check's alone.
    file_at_once(rpc, [(make_id_number(900), SGZ), (make_id_number(901), SHC)])
    families = [make_id_number(600 + i) for i in range(10)]
    answers = file_at_once(rpc, [(f, street) for f in families for street in (SGZ, SHC)])

    held = open_cases_per_person(settings)
    assert {family: held[family, "dibao"] for family in families} == dict.fromkeys(families, 1)
    for index, family in enumerate(families):
        pair = answers[2 * index : 2 * index + 2]
        assert sorted(kind for kind, _ in pair) == ["Conflict", "ok"], (family, pair)
        [(_, case)] = [a for a in pair if a[0] == "ok"]
        [(_, refusal)] = [a for a in pair if a[0] == "Conflict"]
        assert (refusal["code"], refusal["field"]) == ("duplicate_open_case", "members")
        # The refused filing was in the other street: told the program, not the case (SEC-7).
        assert refusal["details"] == {"program": "dibao"}
        assert case["case_no"] not in refusal["message"]

    # Case numbers stay gap-free: each street numbered exactly the filings it kept.
    numbers = sorted(case["case_no"] for kind, case in answers if kind == "ok")
    sgz = [n for n in numbers if n.startswith("SGZ-")]
    shc = [n for n in numbers if n.startswith("SHC-")]
    assert sgz == [f"SGZ-2026-{i:05d}" for i in range(2, 2 + len(sgz))]
    assert shc == [f"SHC-2026-{i:05d}" for i in range(2, 2 + len(shc))]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_SEC2_first_filings_of_the_year_at_once_are_201_or_409_never_500(
    intake, rpc, settings, backend
):
    families = [make_id_number(700 + i) for i in range(12)]
    twice = families[0]  # filed twice at the same moment: one case, one 409
    answers = file_at_once(rpc, [(f, SGZ) for f in [*families, twice]])

    kinds = Counter(kind for kind, _ in answers)
    assert kinds == {"ok": len(families), "Conflict": 1}, answers
    [(_, refusal)] = [a for a in answers if a[0] == "Conflict"]
    assert refusal["code"] == "duplicate_open_case"
    numbers = sorted(case["case_no"] for kind, case in answers if kind == "ok")
    assert numbers == [f"SGZ-2026-{i:05d}" for i in range(1, len(families) + 1)]
    held = open_cases_per_person(settings)
    assert held[twice, "dibao"] == 1
