"""The payments service against the real broker: PA-1 schedules and the month's list.

``decision.made`` is published by the test itself."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from hqcore.db import Database
from hqcore.testing import make_id_number, wait_until
from services.payments import adapters
from services.payments.service import PaymentsService
from tests.service.test_decision_steps import actor, beijing, expect_error, publish

ACCOUNT = {"bank": "天津银行", "account_number": "6217000000000001", "holder": "王秀英"}


def decision(decided_at, street="shaogongzhuang", outcome="approved", amount=133500) -> dict:
    approved = outcome == "approved"
    return {"case_id": str(uuid.uuid4()), "case_no": f"C-{uuid.uuid4().hex[:8]}",
            "program": "dibao", "street_code": street, "community": "前园社区",
            "outcome": outcome, "authority": "street", "decided_at": decided_at,
            "monthly_amount_fen": amount if approved else None,
            "recipients": [{"name": "王秀英", "id_number": make_id_number(31),
                            "relationship": "self"}] if approved else [],
            "payee_kind": "recipient" if approved else None,
            "payee_name": "王秀英" if approved else None,
            "payee_account": ACCOUNT if approved else None,
            "reasons": [] if approved else ["收入超标"], "document_id": "decision:x"}


def status_of(rpc, case_id: str, status: str):
    def reached():
        try:
            view = rpc.payments.get_case(case_id=case_id)
        except Exception:
            return None
        return view if view["status"] == status else None
    return wait_until(reached, timeout=15, message=f"payments to reach {status}")


@pytest.fixture
def payments(start_service):
    return start_service(PaymentsService)


def test_PA1_approval_on_2026_03_31_pays_from_2026_04(settings, rpc, payments):
    made = decision(beijing(2026, 3, 31, 23, 30))
    publish(settings, "decision.made", made)
    view = status_of(rpc, made["case_id"], "scheduled")
    schedule = view["details"]["schedule"]
    assert (schedule["first_month"], schedule["monthly_amount_fen"]) == ("2026-04", 133500)
    assert (schedule["payee_kind"], schedule["payee_account"]) == ("recipient", ACCOUNT)
    assert [e["rule_id"] for e in view["details"]["timeline"]] == ["PA-1"]
    clerk = actor("sgz-clerk")
    assert rpc.payments.list_payments(actor=clerk, month="2026-03")["payments"] == []
    for month in ("2026-04", "2026-05"):
        answer = rpc.payments.list_payments(actor=clerk, month=month)
        assert [p["case_id"] for p in answer["payments"]] == [made["case_id"]]
        assert answer["total_fen"] == 133500 and answer["street_code"] == "shaogongzhuang"


def test_PA1_approval_on_2026_12_15_pays_from_2027_01(settings, rpc, payments):
    made = decision(beijing(2026, 12, 15, 10))
    publish(settings, "decision.made", made)
    assert status_of(rpc, made["case_id"], "scheduled")["details"]["schedule"][
        "first_month"] == "2027-01"
    officer = actor("district-officer")
    assert rpc.payments.list_payments(actor=officer, month="2026-12")["payments"] == []
    assert len(rpc.payments.list_payments(actor=officer, month="2027-01")["payments"]) == 1


def test_PA1_refusal_schedules_nothing(settings, rpc, payments):
    made = decision(beijing(2026, 3, 31, 10), outcome="refused")
    publish(settings, "decision.made", made)
    assert status_of(rpc, made["case_id"], "not_payable")["details"]["schedule"] is None
    assert rpc.payments.list_payments(actor=actor("district-officer"),
                                      month="2026-04")["payments"] == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_PA1_list_is_per_street_for_street_staff_and_filtered_for_the_district(
        settings, rpc, payments, backend):
    ours, theirs = decision(beijing(2026, 3, 5, 10)), decision(beijing(2026, 3, 6, 10), "xigu",
                                                               amount=31400)
    for made in (ours, theirs):
        publish(settings, "decision.made", made)
        status_of(rpc, made["case_id"], "scheduled")
    assert [p["case_id"] for p in rpc.payments.list_payments(
        actor=actor("sgz-leader"), month="2026-04")["payments"]] == [ours["case_id"]]
    everything = rpc.payments.list_payments(actor=actor("district-officer"), month="2026-04")
    assert everything["total_fen"] == 133500 + 31400 and everything["street_code"] is None
    filtered = rpc.payments.list_payments(actor=actor("district-officer"), month="2026-04",
                                          street_code="xigu")
    assert [p["case_id"] for p in filtered["payments"]] == [theirs["case_id"]]
    expect_error(lambda: rpc.payments.list_payments(actor=actor("sgz-clerk"), month="2026-04",
                                                    street_code="xigu"), 403, "wrong_street")
    expect_error(lambda: rpc.payments.list_payments(actor=actor("sgz-investigator-1"),
                                                    month="2026-04"), 403, "wrong_role")
    expect_error(lambda: rpc.payments.list_payments(actor=actor("sgz-clerk"), month="2026-4"),
                 400, field="month")


def test_PA1_redelivered_decision_schedules_once(settings, rpc, payments):
    made = decision(beijing(2026, 3, 31, 10))
    envelope = publish(settings, "decision.made", made)
    status_of(rpc, made["case_id"], "scheduled")
    publish(settings, "decision.made", {}, envelope=envelope)
    later = decision(beijing(2026, 3, 31, 11))  # processed after the redelivery
    publish(settings, "decision.made", later)
    status_of(rpc, later["case_id"], "scheduled")
    database = Database(settings.database_url("payments"))
    outbox = adapters.TABLES["outbox"]
    with database.transaction() as conn:
        scheduled = conn.execute(select(func.count()).where(
            outbox.c.event_type == "payment.scheduled")).scalar()
        rows = conn.execute(select(func.count()).select_from(adapters.payment_schedules)).scalar()
    database.dispose()
    assert (scheduled, rows) == (2, 2)
