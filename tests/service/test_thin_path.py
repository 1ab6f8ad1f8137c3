"""The thin path through every service, on SQLite and on PostgreSQL (issue: platform)."""

import pytest

from hqops.samples import actor_for, sample_application
from services.decision.service import DecisionService
from services.intake.service import IntakeService
from services.payments.service import PaymentsService
from services.publicity.service import PublicityService
from services.supervision.service import SupervisionService
from services.verification.service import VerificationService
from tests.support.plugin import wait_until

CLERK = actor_for("sgz-clerk")

DOWNSTREAM = [
    VerificationService,
    PublicityService,
    DecisionService,
    PaymentsService,
    SupervisionService,
]


def _known_by(rpc, service_name, case_id):
    try:
        return getattr(rpc, service_name).get_case(actor=CLERK, case_id=case_id)
    except Exception:
        return None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_application_reaches_every_service_IN1_VE1_DE4(start_service, rpc, backend):
    for cls in [IntakeService, *DOWNSTREAM]:
        start_service(cls)
    case = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    assert case["case_no"].startswith("SGZ-")
    views = {
        cls.name: wait_until(
            lambda cls=cls: _known_by(rpc, cls.name, case["case_id"]),
            message=f"{cls.name} to record the case",
        )
        for cls in DOWNSTREAM
    }
    assert views["verification"]["status"] == "investigation"
    assert [d["rule_id"] for d in views["verification"]["deadlines"]] == ["VE-1"]
    assert [d["rule_id"] for d in views["decision"]["deadlines"]] == ["DE-4"]
    assert views["decision"]["details"]["deciding_authority"] == "street"  # ORG-1
    assert views["supervision"]["details"]["near_relative"] is False


def test_second_open_case_of_same_program_is_refused(start_service, rpc):
    start_service(IntakeService)
    first = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    with pytest.raises(Exception) as raised:
        rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    assert "duplicate_open_case" in str(raised.value)
    assert first["case_no"] in str(raised.value)
