"""The payments service against the real broker: PA-1 schedules and the month's list.

``application.accepted`` and ``decision.made`` are published by the test itself."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime

import pytest
from nameko.exceptions import RemoteError
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from hqcore.clock import CHINA_TZ, get_clock
from hqcore.db import Database
from hqcore.errors import from_remote
from hqcore.messaging.envelope import build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqops.samples import make_id_number
from services.payments import adapters
from services.payments.service import PaymentsService
from tests.support.plugin import wait_until

ACCOUNT = {"bank": "天津银行", "account_number": "6217000000000001", "holder": "王秀英"}
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": "shaogongzhuang"}
LEADER = {"user_id": "sgz-leader", "role": "street_leader", "street_code": "shaogongzhuang"}
INVESTIGATOR = {
    "user_id": "sgz-investigator-1",
    "role": "investigator",
    "street_code": "shaogongzhuang",
}
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def publish(settings, event_type: str, payload: dict, envelope: dict | None = None) -> dict:
    """Publish an upstream event (or re-publish ``envelope``, a redelivery)."""
    envelope = envelope or build_envelope(
        event_type=event_type,
        version=1,
        payload=payload,
        occurred_at=get_clock(settings).now(),
        case_id=payload["case_id"],
        street_code=payload["street_code"],
        correlation_id=str(uuid.uuid4()),
        acting_user=None,
        source="test",
    )
    publisher = EventPublisher(settings.amqp_uri)
    try:
        publisher.publish(envelope)
    finally:
        publisher.close()
    return envelope


def expect_error(call, status: int, code: str | None = None, field: str | None = None):
    with pytest.raises(RemoteError) as raised:
        call()
    error = from_remote(raised.value.exc_type, raised.value.value)
    assert error.http_status == status, (error.code, error.message)
    assert code is None or error.code == code, error.message
    assert field is None or error.field == field, error.message
    return error


def accepted(made: dict) -> dict:
    person = {"name": "王秀英", "id_number": make_id_number(31), "relationship": "self"}
    return {
        key: made[key] for key in ("case_id", "case_no", "program", "street_code", "community")
    } | {
        "applicant": person,
        "members": [person],
        "near_relative": False,
        "accepted_at": beijing(2026, 3, 2, 10),
    }


def decision(decided_at, street="shaogongzhuang", outcome="approved", amount=133500) -> dict:
    approved = outcome == "approved"
    return {
        "case_id": str(uuid.uuid4()),
        "case_no": f"C-{uuid.uuid4().hex[:8]}",
        "program": "dibao",
        "street_code": street,
        "community": "前园社区",
        "outcome": outcome,
        "authority": "street",
        "decided_at": decided_at,
        "monthly_amount_fen": amount if approved else None,
        "recipients": [{"name": "王秀英", "id_number": make_id_number(31), "relationship": "self"}]
        if approved
        else [],
        "payee_kind": "recipient" if approved else None,
        "payee_name": "王秀英" if approved else None,
        "payee_account": ACCOUNT if approved else None,
        "reasons": [] if approved else ["收入超标"],
        "document_id": "decision:x",
    }


def status_of(rpc, case_id: str, status: str, actor=CLERK):
    def reached():
        try:
            view = rpc.payments.get_case(actor=actor, case_id=case_id)
        except RemoteError:
            return None
        return view if view["status"] == status else None

    return wait_until(reached, timeout=15, message=f"payments to reach {status}")


def decided(settings, rpc, made: dict, status: str = "scheduled") -> dict:
    """The case accepted, then decided; its view once payments applied the decision."""
    publish(settings, "application.accepted", accepted(made))
    status_of(rpc, made["case_id"], "awaiting_decision", DISTRICT)
    publish(settings, "decision.made", made)
    return status_of(rpc, made["case_id"], status, DISTRICT)


def _rows(settings, query) -> list:
    database = Database(settings.database_url("payments"))
    try:
        with database.transaction() as conn:
            return conn.execute(query).all()
    finally:
        database.dispose()


def _events(settings, event_type: str) -> list[dict]:
    outbox = adapters.TABLES["outbox"]
    rows = _rows(
        settings,
        select(outbox.c.envelope).where(outbox.c.event_type == event_type).order_by(outbox.c.id),
    )
    return [json.loads(r.envelope)["payload"] for r in rows]


def _retries() -> float:
    return (
        REGISTRY.get_sample_value(
            "hq_event_retries_total", {"service": "payments", "handler": "on_decision_made"}
        )
        or 0.0
    )


@pytest.fixture
def payments(start_service):
    return start_service(PaymentsService)


def test_PA1_approval_on_2026_03_31_pays_from_2026_04(settings, rpc, payments):
    made = decision(beijing(2026, 3, 31, 23, 30))
    view = decided(settings, rpc, made)
    schedule = view["details"]["schedule"]
    assert (schedule["first_month"], schedule["monthly_amount_fen"]) == ("2026-04", 133500)
    assert (schedule["payee_kind"], schedule["payee_account"]) == ("recipient", ACCOUNT)
    assert "timeline" not in view["details"]
    [entry] = [e for e in _events(settings, "case.progressed") if e["case_id"] == made["case_id"]]
    assert (entry["rule_id"], entry["action"], entry["note"]) == (
        "PA-1",
        "payment_scheduled",
        "from 2026-04",
    )
    [scheduled] = _events(settings, "payment.scheduled")
    assert scheduled["first_month"] == "2026-04" and "payee_account" not in scheduled
    assert rpc.payments.list_payments(actor=CLERK, month="2026-03")["payments"] == []
    for month in ("2026-04", "2026-05"):
        answer = rpc.payments.list_payments(actor=CLERK, month=month)
        assert [p["case_id"] for p in answer["payments"]] == [made["case_id"]]
        assert answer["total_fen"] == 133500 and answer["street_code"] == "shaogongzhuang"


def test_PA1_approval_on_2026_12_15_pays_from_2027_01(settings, rpc, payments):
    made = decision(beijing(2026, 12, 15, 10))
    assert decided(settings, rpc, made)["details"]["schedule"]["first_month"] == "2027-01"
    assert rpc.payments.list_payments(actor=DISTRICT, month="2026-12")["payments"] == []
    assert len(rpc.payments.list_payments(actor=DISTRICT, month="2027-01")["payments"]) == 1


def test_PA1_refusal_schedules_nothing(settings, rpc, payments):
    made = decision(beijing(2026, 3, 31, 10), outcome="refused")
    assert decided(settings, rpc, made, "not_payable")["details"]["schedule"] is None
    assert _events(settings, "payment.scheduled") == []
    assert [e["action"] for e in _events(settings, "case.progressed")] == ["no_payment:refused"]
    assert rpc.payments.list_payments(actor=DISTRICT, month="2026-04")["payments"] == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_PA1_list_is_per_street_for_street_staff_and_filtered_for_the_district(
    settings, rpc, payments, backend
):
    ours, theirs = (
        decision(beijing(2026, 3, 5, 10)),
        decision(beijing(2026, 3, 6, 10), "xigu", amount=31400),
    )
    for made in (ours, theirs):
        decided(settings, rpc, made)
    assert [
        p["case_id"] for p in rpc.payments.list_payments(actor=LEADER, month="2026-04")["payments"]
    ] == [ours["case_id"]]
    everything = rpc.payments.list_payments(actor=DISTRICT, month="2026-04")
    assert everything["total_fen"] == 133500 + 31400 and everything["street_code"] is None
    filtered = rpc.payments.list_payments(actor=DISTRICT, month="2026-04", street_code="xigu")
    assert [p["case_id"] for p in filtered["payments"]] == [theirs["case_id"]]
    expect_error(
        lambda: rpc.payments.list_payments(actor=CLERK, month="2026-04", street_code="xigu"),
        403,
        "wrong_street",
    )
    expect_error(
        lambda: rpc.payments.list_payments(actor=INVESTIGATOR, month="2026-04"), 403, "wrong_role"
    )
    expect_error(
        lambda: rpc.payments.list_payments(actor=CLERK, month="2026-4"), 400, field="month"
    )
    expect_error(
        lambda: rpc.payments.get_case(actor=CLERK, case_id=theirs["case_id"]), 403, "wrong_street"
    )
    expect_error(
        lambda: rpc.payments.get_case(actor=CLERK, case_id="nope"), 404, "case_not_found", "case_id"
    )


def test_PA1_redelivered_decision_schedules_once(settings, rpc, payments):
    made = decision(beijing(2026, 3, 31, 10))
    publish(settings, "application.accepted", accepted(made))
    status_of(rpc, made["case_id"], "awaiting_decision")
    envelope = publish(settings, "decision.made", made)
    status_of(rpc, made["case_id"], "scheduled")
    publish(settings, "decision.made", {}, envelope=envelope)
    later = decision(beijing(2026, 3, 31, 11))  # processed after the redelivery
    decided(settings, rpc, later)
    outbox = adapters.TABLES["outbox"]
    [(scheduled,)] = _rows(
        settings, select(func.count()).where(outbox.c.event_type == "payment.scheduled")
    )
    [(rows,)] = _rows(settings, select(func.count()).select_from(adapters.payment_schedules))
    assert (scheduled, rows) == (2, 2)


def test_PA1_decision_before_its_acceptance_is_retried_until_the_case_is_known(
    start_service, settings, rpc
):
    start_service(PaymentsService, dataclasses.replace(settings, retry_delays=(0.5, 1, 2)))
    made = decision(beijing(2026, 3, 31, 10))
    retries = _retries()
    publish(settings, "decision.made", made)
    wait_until(lambda: _retries() > retries, message="the early decision to be retried")
    inbox, cases = adapters.TABLES["inbox"], adapters.TABLES["case_records"]
    assert _rows(settings, select(inbox.c.handler)) == []  # not applied, not claimed
    assert _rows(settings, select(func.count()).select_from(cases)) == [(0,)]  # not rebuilt
    publish(settings, "application.accepted", accepted(made))
    view = status_of(rpc, made["case_id"], "scheduled")  # the retry applies it
    assert view["details"]["schedule"]["first_month"] == "2026-04"
    assert len(_events(settings, "payment.scheduled")) == 1
