"""Deadlines: opened from acceptance, breached once by the scanner even with several instances
(platform issue, item 6; rules VE-1, DE-4)."""

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from hqcore.clock import get_clock
from hqcore.db import Database
from hqops.samples import actor_for, sample_application
from services.decision.service import DecisionService
from services.intake.service import IntakeService
from services.supervision.service import SupervisionService
from services.verification import adapters as verification_tables
from services.verification.service import VerificationService
from tests.support.plugin import run_deadline_scan, signed_rpc, wait_until

CLERK = actor_for("sgz-clerk")
DISTRICT = actor_for("district-officer")


def _breaches(rpc):
    return rpc.supervision.list_breaches(actor=DISTRICT)["breaches"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_VE1_breach_is_recorded_once_with_two_scanner_instances(start_service, settings, backend):
    clock = get_clock(settings)
    # Thursday 2026-02-12, 10:00 in Tianjin: 3 WD later is Tuesday 2026-02-24 (Spring Festival).
    clock.set(datetime(2026, 2, 12, 2, 0, tzinfo=timezone.utc))
    start_service(IntakeService)
    start_service(SupervisionService)
    instances = [
        start_service(VerificationService),
        start_service(VerificationService),
    ]  # a second instance: both scan
    with signed_rpc(settings, timeout=10) as rpc:
        case = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
        view = wait_until(
            lambda: _safe(rpc.verification.get_case, case["case_id"]),
            message="verification to open VE-1",
        )
        [ve1] = view["deadlines"]
        assert ve1["rule_id"] == "VE-1" and ve1["due_date"] == "2026-02-24"
        assert ve1["due_at"] == "2026-02-24T16:00:00+00:00"  # end of the day, Beijing time

        clock.set(datetime(2026, 2, 24, 15, 59, tzinfo=timezone.utc))  # 23:59 on the due day
        # a scan of each instance at the last minute breaches nothing
        assert [run_deadline_scan(instance) for instance in instances] == [0, 0]
        assert _breaches(rpc) == []
        view = rpc.verification.get_case(actor=CLERK, case_id=case["case_id"])
        assert view["deadlines"][0]["status"] == "open"

        clock.advance(timedelta(minutes=2))
        [breach] = wait_until(
            lambda: _breaches(rpc), timeout=15, message="supervision to record the VE-1 breach"
        )
        assert breach["rule_id"] == "VE-1" and breach["case_id"] == case["case_id"]
        assert breach["service"] == "verification" and breach["provisional"] is False
        view = rpc.verification.get_case(actor=CLERK, case_id=case["case_id"])
        assert view["deadlines"][0]["status"] == "breached"

    # Both instances kept scanning: still exactly one breach event was emitted.
    database = Database(settings.database_url("verification"))
    outbox = verification_tables.TABLES["outbox"]
    with database.transaction() as conn:
        events = conn.execute(
            select(outbox.c.event_type).where(outbox.c.event_type == "deadline.breached")
        ).all()
    database.dispose()
    assert len(events) == 1


def test_DE4_deadline_in_a_year_without_data_is_provisional_until_the_data_arrives(
    start_service, settings, tmp_path
):
    holiday_file = tmp_path / "holidays-extra.json"
    holiday_file.write_text('{"years": {}}')
    settings = dataclasses.replace(settings, holiday_file=holiday_file)
    get_clock(settings).set(datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc))
    start_service(IntakeService, settings)
    start_service(DecisionService, settings)
    with signed_rpc(settings, timeout=10) as rpc:
        case = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
        view = wait_until(
            lambda: _safe(rpc.decision.get_case, case["case_id"]), message="decision to open DE-4"
        )
        [de4] = view["deadlines"]
        # 2027 has no data: Monday to Friday count, and the deadline says it is a guess.
        assert de4["rule_id"] == "DE-4" and de4["provisional"] is True
        assert de4["due_date"] == "2027-01-12"
        wait_until(
            lambda: (
                REGISTRY.get_sample_value(
                    "hq_calendar_year_without_data", {"service": "decision", "year": "2027"}
                )
                == 1
            ),
            message="the metric to show one deadline waiting for 2027 data",
        )

        # An administrator adds 2027 (here: New Year's Day off, a Friday); the scanner
        # recomputes the deadline from its start and clears the flag.
        holiday_file.write_text(
            json.dumps(
                {
                    "years": {
                        "2027": {
                            "source": "test schedule",
                            "holidays": ["2027-01-01"],
                            "workdays": [],
                        }
                    }
                }
            )
        )
        de4 = wait_until(
            lambda: _settled(rpc.decision.get_case(actor=CLERK, case_id=case["case_id"])),
            message="the deadline to be recomputed with 2027 data",
        )
    assert de4["due_date"] == "2027-01-13"
    assert (
        REGISTRY.get_sample_value(
            "hq_calendar_year_without_data", {"service": "decision", "year": "2027"}
        )
        == 0
    )


def _settled(view):
    [deadline] = view["deadlines"]
    return None if deadline["provisional"] else deadline


def _safe(call, case_id):
    try:
        return call(actor=CLERK, case_id=case_id)
    except Exception:
        return None
