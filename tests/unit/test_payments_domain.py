"""Payments' pure rules: approval in month M is paid from M+1 (PA-1)."""
from datetime import datetime, timezone

import pytest

from hqcore.clock import CHINA_TZ
from services.payments import domain


def decision(outcome="approved", decided_at=datetime(2026, 3, 31, 15, tzinfo=CHINA_TZ)) -> dict:
    approved = outcome == "approved"
    return {"case_id": "c-1", "case_no": "SGZ-2026-00001", "program": "tekun",
            "street_code": "shaogongzhuang", "community": "前园社区", "outcome": outcome,
            "decided_at": decided_at, "monthly_amount_fen": 227000 if approved else None,
            "payee_kind": "caregiver" if approved else None,
            "payee_name": "王芳" if approved else None,
            "payee_account": {"bank": "天津银行", "account_number": "6200000000000009",
                              "holder": "王芳"} if approved else None}


@pytest.mark.parametrize("decided_at, first", [
    (datetime(2026, 3, 31, 15, tzinfo=CHINA_TZ), "2026-04"),
    (datetime(2026, 12, 15, 10, tzinfo=CHINA_TZ), "2027-01"),
    # 31 March 23:30 in Tianjin is already 31 March, though 15:30 UTC
    (datetime(2026, 3, 31, 15, 30, tzinfo=timezone.utc), "2026-04"),
    # 30 April 17:00 UTC is 1 May in Tianjin: paid from June
    (datetime(2026, 4, 30, 17, 0, tzinfo=timezone.utc), "2026-06"),
])
def test_PA1_first_month_is_the_month_after_the_china_local_decision_month(decided_at, first):
    assert domain.first_month(decided_at) == first


def test_PA1_approval_schedules_full_amount_to_the_payee():
    plan = domain.schedule(decision())
    assert (plan.first_month, plan.monthly_amount_fen, plan.payee_kind, plan.payee_name) == (
        "2026-04", 227000, "caregiver", "王芳")
    event = domain.scheduled_event(plan)
    assert event["first_month"] == "2026-04" and "payee_account" not in event
    record = domain.record_from_decision(decision())
    domain.apply_decision(record, decision(), plan, decision()["decided_at"])
    assert record.status == domain.SCHEDULED
    assert record.details["schedule"]["first_month"] == "2026-04"


@pytest.mark.parametrize("outcome", ["refused", "non_confirmed"])
def test_PA1_nothing_is_paid_without_approval(outcome):
    assert domain.schedule(decision(outcome)) is None
    record = domain.record_from_decision(decision(outcome))
    domain.apply_decision(record, decision(outcome), None, decision()["decided_at"])
    assert record.status == domain.NOT_PAYABLE and record.details["schedule"] is None


def test_PA1_month_total_in_fen():
    plans = [domain.schedule(decision()), domain.schedule({**decision(), "case_id": "c-2",
                                                           "monthly_amount_fen": 31400})]
    assert domain.month_total(plans) == 258400
