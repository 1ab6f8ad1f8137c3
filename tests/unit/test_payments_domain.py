"""Payments' pure rules: approval in month M is paid from M+1 (PA-1)."""

from datetime import datetime, timezone

import pytest

from hqcore.clock import CHINA_TZ
from services.payments import domain


def decision(outcome="approved", decided_at=datetime(2026, 3, 31, 15, tzinfo=CHINA_TZ)) -> dict:
    approved = outcome == "approved"
    return {
        "case_id": "c-1",
        "case_no": "SGZ-2026-00001",
        "program": "tekun",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "outcome": outcome,
        "decided_at": decided_at,
        "monthly_amount_fen": 227000 if approved else None,
        "payee_kind": "caregiver" if approved else None,
        "payee_name": "王芳" if approved else None,
        "payee_account": {
            "bank": "天津银行",
            "account_number": "6200000000000009",
            "holder": "王芳",
        }
        if approved
        else None,
    }


@pytest.mark.parametrize(
    "decided_at, first",
    [
        (datetime(2026, 3, 31, 15, tzinfo=CHINA_TZ), "2026-04"),
        (datetime(2026, 12, 15, 10, tzinfo=CHINA_TZ), "2027-01"),
        # 31 March 23:30 in Tianjin is already 31 March, though 15:30 UTC
        (datetime(2026, 3, 31, 15, 30, tzinfo=timezone.utc), "2026-04"),
        # 30 April 17:00 UTC is 1 May in Tianjin: paid from June
        (datetime(2026, 4, 30, 17, 0, tzinfo=timezone.utc), "2026-06"),
    ],
)
def test_PA1_first_month_is_the_month_after_the_china_local_decision_month(decided_at, first):
    assert domain.first_month(decided_at) == first


def case(status=domain.AWAITING_DECISION) -> domain.PaymentCase:
    return domain.PaymentCase(
        case_id="c-1",
        case_no="SGZ-2026-00001",
        program="tekun",
        street_code="shaogongzhuang",
        status=status,
        since=datetime(2026, 3, 2, 2, tzinfo=timezone.utc),
        community="前园社区",
    )


def test_PA1_approval_schedules_full_amount_to_the_payee():
    plan = domain.schedule(decision())
    assert (plan.first_month, plan.monthly_amount_fen, plan.payee_kind, plan.payee_name) == (
        "2026-04",
        227000,
        "caregiver",
        "王芳",
    )
    event = domain.scheduled_event(plan)
    assert event["first_month"] == "2026-04" and "payee_account" not in event
    held, now = case(), decision()["decided_at"]
    effects = domain.decide(held, decision(), now)
    assert (held.status, held.since, held.outcome) == (domain.SCHEDULED, now, "approved")
    assert held.schedule == plan
    assert domain.details(held)["schedule"]["first_month"] == "2026-04"
    [scheduled] = effects.events
    assert (scheduled.event_type, scheduled.payload) == ("payment.scheduled", event)
    [entry] = effects.progress
    assert (entry.action, entry.rule_id, entry.note) == (
        "payment_scheduled",
        "PA-1",
        "from 2026-04",
    )


@pytest.mark.parametrize("outcome", ["refused", "non_confirmed"])
def test_PA1_nothing_is_paid_without_approval(outcome):
    assert domain.schedule(decision(outcome)) is None
    held = case()
    effects = domain.decide(held, decision(outcome), decision()["decided_at"])
    assert held.status == domain.NOT_PAYABLE and held.schedule is None
    assert domain.details(held)["schedule"] is None and effects.events == []
    assert [(p.action, p.rule_id) for p in effects.progress] == [(f"no_payment:{outcome}", "PA-1")]


def test_PA1_a_decided_case_is_not_decided_again():
    held = case(domain.NOT_PAYABLE)
    effects = domain.decide(held, decision(), decision()["decided_at"])
    assert effects.save is False and effects.events == [] and effects.progress == []
    assert held.status == domain.NOT_PAYABLE and held.schedule is None


def test_PA1_accepted_case_waits_for_its_decision():
    accepted = {
        "case_id": "c-1",
        "case_no": "SGZ-2026-00001",
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "accepted_at": datetime(2026, 3, 2, 2, tzinfo=timezone.utc),
    }
    held = domain.register_case(accepted)
    assert (held.status, held.community, held.schedule) == (
        domain.AWAITING_DECISION,
        "前园社区",
        None,
    )


def test_PA1_street_staff_see_their_street_the_district_any():
    assert domain.payee_street(None, "xigu", False) == "xigu"
    assert domain.payee_street("shaogongzhuang", "xigu", False) == "shaogongzhuang"  # refused
    assert domain.payee_street(None, None, True) is None
    assert domain.payee_street("xigu", None, True) == "xigu"


def test_PA1_month_total_in_fen():
    plans = [
        domain.schedule(decision()),
        domain.schedule({**decision(), "case_id": "c-2", "monthly_amount_fen": 31400}),
    ]
    assert domain.month_total(plans) == 258400


def test_PA1_the_case_is_stored_and_read_back_with_its_schedule():
    import json

    held = case()
    domain.decide(held, decision(), decision()["decided_at"])
    identity = {
        k: getattr(held, k)
        for k in ("case_id", "case_no", "program", "street_code", "status", "since", "version")
    }
    stored = json.loads(json.dumps(held.to_details(), default=str))
    assert domain.PaymentCase.from_row(identity, stored) == held
    # a row written before issue 7 (with its own timeline list) still reads
    old = {"community": "前园社区", "schedule": None, "timeline": [{"action": "x"}]}
    assert domain.PaymentCase.from_row(identity, old).schedule is None
