"""Payments' handlers through the step skeleton, on an in-memory unit of work (PA-1).

What a user sees: the case view, the month's list of payments, the refusals (status, code,
field), the ``payment.scheduled`` event written for supervision and the timeline entries.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from hqcore.clock import CHINA_TZ
from hqcore.errors import CaseNotFound, Forbidden, ValidationFailed
from hqcore.steps import CaseNotYetKnown, read_case, run_event, run_step
from services.payments import domain, handlers
from services.payments.domain import Schedule
from tests.support import events
from tests.support.fakes import as_received, fake_runtime

NOW = datetime(2026, 4, 1, 2, tzinfo=timezone.utc)
SGZ, XIGU = "shaogongzhuang", "xigu"
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": SGZ}
LEADER = {"user_id": "sgz-leader", "role": "street_leader", "street_code": SGZ}
INVESTIGATOR = {"user_id": "sgz-investigator-1", "role": "investigator", "street_code": SGZ}
OTHER_CLERK = {"user_id": "xgu-clerk", "role": "clerk", "street_code": XIGU}
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}
ACCOUNT = {"bank": "天津银行", "account_number": "6217000000000001", "holder": "王秀英"}


class Schedules:
    """``uow.schedules`` in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, Schedule] = {}

    def add(self, plan: Schedule, now: datetime) -> None:
        assert plan.case_id not in self.rows, "scheduled twice (a primary key clash)"
        self.rows[plan.case_id] = plan

    def due(self, month: str, street_code: str | None) -> list[Schedule]:
        return sorted(
            (
                p
                for p in self.rows.values()
                if p.first_month <= month and street_code in (None, p.street_code)
            ),
            key=lambda p: (p.street_code, p.case_no),
        )


@pytest.fixture
def runtime():
    return fake_runtime("payments", now=NOW, view=handlers.view, schedules=Schedules())


def accept(runtime, case_id: str = "c1", street: str = SGZ) -> None:
    run_event(
        runtime,
        handlers.on_application_accepted,
        events.application_accepted(
            case_id=case_id, street_code=street, case_no=f"{street[:3].upper()}-{case_id}"
        ),
    )


def decide(
    runtime, case_id: str = "c1", street: str = SGZ, event: Any = None, **overrides: Any
) -> None:
    event = event or events.decision_made(
        case_id=case_id,
        street_code=street,
        case_no=f"{street[:3].upper()}-{case_id}",
        payee_account=ACCOUNT,
        **overrides,
    )
    run_event(runtime, handlers.on_decision_made, event)


def view(runtime, case_id: str = "c1", actor=CLERK) -> dict[str, Any]:
    return read_case(runtime, actor, case_id)


def payments(runtime, actor, **request: Any) -> dict[str, Any]:
    return run_step(runtime, handlers.list_payments, actor, request)


def test_PA1_accepted_case_waits_for_its_decision(runtime):
    accept(runtime)
    answer = view(runtime)
    assert (answer["service"], answer["status"]) == ("payments", domain.AWAITING_DECISION)
    assert answer["details"] == {"community": "前园社区", "outcome": None, "schedule": None}
    assert "timeline" not in answer["details"] and answer["deadlines"] == []
    assert runtime.store.published == []


def test_PA1_approval_on_31_march_is_paid_from_april_to_the_payee(runtime):
    accept(runtime)
    decide(runtime, decided_at=datetime(2026, 3, 31, 23, 30, tzinfo=CHINA_TZ))
    answer = view(runtime)
    assert answer["status"] == domain.SCHEDULED and answer["since"] == NOW.isoformat()
    schedule = answer["details"]["schedule"]
    assert (schedule["first_month"], schedule["monthly_amount_fen"]) == ("2026-04", 120000)
    assert (schedule["payee_kind"], schedule["payee_account"]) == ("recipient", ACCOUNT)
    assert answer["details"]["outcome"] == "approved"
    [scheduled] = runtime.store.events("payment.scheduled")
    assert scheduled.payload == {
        "case_id": "c1",
        "case_no": "SHA-c1",
        "program": "dibao",
        "street_code": SGZ,
        "first_month": "2026-04",
        "monthly_amount_fen": 120000,
        "payee_kind": "recipient",
        "payee_name": "张三",
    }  # no account number leaves payments
    assert (scheduled.case_id, scheduled.street_code) == ("c1", SGZ)
    [entry] = runtime.store.timeline("c1")
    assert (entry["service"], entry["step"], entry["action"], entry["rule_id"], entry["note"]) == (
        "payments",
        "scheduled",
        "payment_scheduled",
        "PA-1",
        "from 2026-04",
    )
    assert entry["actor_user"] is None and entry["closed"] is False
    assert list(runtime.store.repositories["schedules"].rows) == ["c1"]


def test_PA1_approval_in_december_is_paid_from_january(runtime):
    accept(runtime)
    decide(runtime, decided_at=datetime(2026, 12, 15, 10, tzinfo=CHINA_TZ))
    assert view(runtime)["details"]["schedule"]["first_month"] == "2027-01"
    assert payments(runtime, DISTRICT, month="2026-12")["payments"] == []
    assert len(payments(runtime, DISTRICT, month="2027-01")["payments"]) == 1


@pytest.mark.parametrize("outcome", ["refused", "non_confirmed"])
def test_PA1_nothing_is_paid_without_approval(runtime, outcome):
    accept(runtime)
    decide(runtime, outcome=outcome, monthly_amount_fen=None, payee_kind=None, payee_name=None)
    answer = view(runtime)
    assert answer["status"] == domain.NOT_PAYABLE and answer["details"]["schedule"] is None
    assert runtime.store.events("payment.scheduled") == []
    [entry] = runtime.store.timeline("c1")
    assert (entry["step"], entry["action"], entry["rule_id"]) == (
        "not_payable",
        f"no_payment:{outcome}",
        "PA-1",
    )
    assert payments(runtime, DISTRICT, month="2026-04")["payments"] == []


def test_PA1_decision_before_its_acceptance_is_retried_not_dropped(runtime):
    event = events.decision_made(payee_account=ACCOUNT)
    with pytest.raises(CaseNotYetKnown):
        decide(runtime, event=event)
    assert runtime.store.cases.all() == [] and runtime.store.published == []
    assert runtime.store.repositories["schedules"].rows == {}
    accept(runtime)
    decide(runtime, event=event)  # the retry after the acceptance applies
    assert view(runtime)["status"] == domain.SCHEDULED
    assert len(runtime.store.events("payment.scheduled")) == 1


def test_PA1_redelivered_or_repeated_decision_schedules_once(runtime):
    accept(runtime)
    event = events.decision_made(payee_account=ACCOUNT)
    decide(runtime, event=event)
    decide(runtime, event=event)  # redelivered: the inbox has it
    decide(runtime, outcome="refused")  # another decision.made for a decided case
    assert view(runtime)["status"] == domain.SCHEDULED
    assert len(runtime.store.events("payment.scheduled")) == 1
    assert len(runtime.store.timeline("c1")) == 1
    assert runtime.store.cases.get("c1").version == 1


def test_PA1_acceptance_registers_the_case_once(runtime):
    accept(runtime)
    accept(runtime)  # the same case accepted again (another event): kept as it is
    assert [c.case_id for c in runtime.store.cases.all()] == ["c1"]


def test_PA1_list_is_per_street_for_street_staff_and_filtered_for_the_district(runtime):
    accept(runtime, "c1", SGZ)
    accept(runtime, "c2", XIGU)
    decide(runtime, "c1", SGZ, decided_at=datetime(2026, 3, 5, 10, tzinfo=CHINA_TZ))
    decide(
        runtime,
        "c2",
        XIGU,
        decided_at=datetime(2026, 3, 6, 10, tzinfo=CHINA_TZ),
        monthly_amount_fen=31400,
    )
    ours = payments(runtime, LEADER, month="2026-04")
    assert [p["case_id"] for p in ours["payments"]] == ["c1"]
    assert (ours["street_code"], ours["total_fen"]) == (SGZ, 120000)
    assert ours["payments"][0]["payee_account"] == ACCOUNT
    assert payments(runtime, CLERK, month="2026-03")["payments"] == []
    everything = payments(runtime, DISTRICT, month="2026-05")
    assert everything["total_fen"] == 120000 + 31400 and everything["street_code"] is None
    filtered = payments(runtime, DISTRICT, month="2026-04", street_code=XIGU)
    assert [p["case_id"] for p in filtered["payments"]] == ["c2"]


def test_PA1_list_refuses_another_street_the_wrong_role_and_a_bad_month(runtime):
    with pytest.raises(Forbidden) as wrong_street:
        payments(runtime, CLERK, month="2026-04", street_code=XIGU)
    assert (wrong_street.value.http_status, wrong_street.value.code) == (403, "wrong_street")
    with pytest.raises(Forbidden) as wrong_role:
        payments(runtime, INVESTIGATOR, month="2026-04")
    assert wrong_role.value.code == "wrong_role"
    with pytest.raises(ValidationFailed) as bad:
        payments(runtime, CLERK, month="2026-4")
    assert (bad.value.http_status, bad.value.field) == (400, "month")
    with pytest.raises(ValidationFailed) as no_actor:
        payments(runtime, None, month="2026-04")
    assert no_actor.value.field.startswith("actor")


def test_PA1_case_view_is_for_its_street_and_the_district(runtime):
    accept(runtime)
    assert view(runtime, actor=DISTRICT)["case_id"] == "c1"
    with pytest.raises(Forbidden) as wrong_street:
        view(runtime, actor=OTHER_CLERK)
    assert wrong_street.value.code == "wrong_street"
    with pytest.raises(CaseNotFound) as missing:
        view(runtime, "nope")
    assert (missing.value.http_status, missing.value.code, missing.value.field) == (
        404,
        "case_not_found",
        "case_id",
    )


def test_PA1_payment_scheduled_is_valid_by_its_contract(runtime):
    accept(runtime)
    decide(runtime)
    [scheduled] = runtime.store.events("payment.scheduled")
    received = as_received("payment.scheduled", scheduled.payload)
    assert received.payload["first_month"] == "2026-04"
