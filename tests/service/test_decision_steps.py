"""The decision service's steps against the real broker: DE-1 to DE-7, ORG-1, ORG-7, VE-3 and
the DE-3 roster.

Upstream events (intake, verification, publicity) are published by the test itself."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import select

from hqcore.clock import CHINA_TZ, get_clock
from hqcore.db import Database
from hqcore.errors import from_remote
from hqcore.messaging.envelope import build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqops.samples import make_id_number
from services.decision import adapters
from services.decision.service import DecisionService
from services.payments.service import PaymentsService
from tests.support.plugin import run_deadline_scan, wait_until, wait_until_handled

STREET = "shaogongzhuang"
APPLICANT = {"name": "王秀英", "id_number": make_id_number(11), "relationship": "self"}
MEMBERS = [
    APPLICANT,
    {"name": "李强", "id_number": make_id_number(12), "relationship": "spouse"},
    {"name": "李明", "id_number": make_id_number(13, "20100101"), "relationship": "child"},
]
ACCOUNT = {"bank": "天津银行", "account_number": "6217000000000001", "holder": "王秀英"}


def actor(user_id: str) -> dict:
    """A demo account's acting-user dict, e.g. ``sgz-reviewer`` or ``district-officer``."""
    if user_id == "district-officer":
        return {"user_id": user_id, "role": "district_officer", "street_code": None}
    prefix, role = user_id.split("-", 1)
    street = {"sgz": "shaogongzhuang", "shc": "shuanghuancun", "xgu": "xigu"}[prefix]
    role = {
        "community": "community_worker",
        "head": "department_head",
        "leader": "street_leader",
    }.get(role.split("-")[0], role.split("-")[0])
    return {"user_id": user_id, "role": role, "street_code": street, "name": user_id}


DISTRICT = actor("district-officer")


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def _events(settings, event_type: str, case_id: str | None = None) -> list[dict]:
    """The payloads of the events decision wrote to its outbox, in order."""
    database = Database(settings.database_url("decision"))
    outbox = adapters.TABLES["outbox"]
    try:
        with database.transaction() as conn:
            rows = conn.execute(
                select(outbox.c.envelope)
                .where(outbox.c.event_type == event_type)
                .order_by(outbox.c.id)
            ).all()
    finally:
        database.dispose()
    payloads = [json.loads(r.envelope)["payload"] for r in rows]
    return [p for p in payloads if case_id in (None, p["case_id"])]


def actions(settings, case_id: str) -> list[str]:
    """The case's timeline as decision told the district (``case.progressed``)."""
    return [p["action"] for p in _events(settings, "case.progressed", case_id)]


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


def expect_error(
    call,
    status: int,
    code: str | None = None,
    field: str | None = None,
    exc_type: str | None = None,
):
    """Run ``call``; it must fail with the DomainError answering ``status``."""
    with pytest.raises(RemoteError) as raised:
        call()
    if exc_type:
        assert raised.value.exc_type == exc_type
    error = from_remote(raised.value.exc_type, raised.value.value)
    assert error.http_status == status, (error.code, error.message)
    if code:
        assert error.code == code, error.message
    if field:
        assert error.field == field, error.message
    return error


class Case:
    """One case driven through decision by publishing its upstream events."""

    def __init__(
        self,
        settings,
        rpc,
        program="dibao",
        street=STREET,
        members=MEMBERS,
        accepted_at=beijing(2026, 3, 2, 10),
    ):
        self.settings, self.rpc = settings, rpc
        self.keys = {
            "case_id": str(uuid.uuid4()),
            "case_no": f"SGZ-2026-{uuid.uuid4().int % 99999:05d}",
            "program": program,
            "street_code": street,
        }
        self.members = members if program != "tekun" else [APPLICANT]
        self.accepted_at = accepted_at

    @property
    def case_id(self) -> str:
        return self.keys["case_id"]

    def view(self, who: dict = DISTRICT) -> dict:
        return self.rpc.decision.get_case(actor=who, case_id=self.case_id)

    def wait_status(self, status: str) -> dict:
        def reached():
            try:
                view = self.view()
            except RemoteError:
                return None
            return view if view["status"] == status else None

        return wait_until(reached, timeout=15, message=f"decision to reach {status}")

    def accept(self, wait: bool = True) -> dict | None:
        publish(
            self.settings,
            "application.accepted",
            {
                **self.keys,
                "community": "前园社区",
                "applicant": APPLICANT,
                "members": self.members,
                "payment_account": ACCOUNT,
                "near_relative": False,
                "accepted_at": self.accepted_at,
            },
        )
        return self.wait_status("awaiting_file") if wait else None

    def verified(self, size=3, income=60000, self_care=None) -> None:
        publish(
            self.settings,
            "verification.completed",
            {
                **self.keys,
                "round": 1,
                "household_size": size,
                "income_per_head_fen": income,
                "money_assets_fen": 0,
                "self_care": self_care,
                "report_id": "report-1",
                "means_test": {},
                "completed_at": self.accepted_at + timedelta(days=10),
            },
        )
        wait_until(lambda: self.view()["details"]["facts"], message="the facts to be kept")

    def concluded(self, at=beijing(2026, 3, 30, 10)) -> dict:
        envelope = publish(
            self.settings,
            "publicity.concluded",
            {
                **self.keys,
                "community": "前园社区",
                "rounds": 1,
                "preliminary_opinion": "approve",
                "deliberation_held": self.keys["program"] == "tekun",
                "deliberation_conclusion": "approve" if self.keys["program"] == "tekun" else None,
                "minutes_document_id": None,
                "concluded_at": at,
            },
        )
        self.wait_status("management_review")
        return envelope

    def to_leader(self, street_prefix="sgz") -> dict:
        self.rpc.decision.record_review(
            actor=actor(f"{street_prefix}-reviewer"), case_id=self.case_id, opinion="approve"
        )
        return self.rpc.decision.record_head_consent(
            actor=actor(f"{street_prefix}-head"), case_id=self.case_id, note="同意"
        )


def deadlines(view: dict, rule_id: str) -> list[dict]:
    return [d for d in view["deadlines"] if d["rule_id"] == rule_id]


@pytest.fixture
def clock(settings):
    clock = get_clock(settings)
    clock.set(beijing(2026, 3, 2, 10))
    return clock


@pytest.fixture
def decision(start_service, clock):
    return start_service(DecisionService)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_DE1_DE5_dibao_approval_fixes_amount_serves_letters_and_pays_from_next_month_PA1(
    settings, rpc, clock, decision, start_service, backend
):
    start_service(PaymentsService)
    case = Case(settings, rpc)
    [de4] = deadlines(case.accept(), "DE-4")
    assert de4["due_date"] == "2026-04-14" and de4["amount"] == 30  # DE-4: 30 WD
    case.verified(size=3, income=60000)
    view = case.concluded(at=beijing(2026, 3, 30, 10))
    [review_due] = deadlines(case.view(), "DE-1")
    assert review_due["due_date"] == "2026-04-01"  # DE-1: review within 2 WD

    clock.set(beijing(2026, 3, 31, 9))
    view = rpc.decision.record_review(
        actor=actor("sgz-reviewer"), case_id=case.case_id, opinion="approve", note="材料齐全"
    )
    assert view["status"] == "head_consent"
    view = rpc.decision.record_head_consent(actor=actor("sgz-head"), case_id=case.case_id)
    assert view["status"] == "leader_decision"
    leader_due = [d for d in deadlines(view, "DE-1") if d["status"] == "open"]
    assert [d["due_date"] for d in leader_due] == ["2026-04-03"]  # DE-1: decide within 3 WD

    clock.set(beijing(2026, 3, 31, 15))
    view = rpc.decision.decide(actor=actor("sgz-leader"), case_id=case.case_id, outcome="approve")
    details = view["details"]
    assert view["status"] == "approved"
    # DE-5: (1045.00 - 600.00) x 3 = 1335.00 yuan, from the rows in force on 2026-03-31
    assert details["amount"]["monthly_amount_fen"] == 133500
    rows = {row["key"]: row for row in details["amount"]["policy_rows"]}
    assert rows["dibao_standard"]["value"] == 104500
    assert rows["dibao_standard"]["valid_from"] == "2025-09-01"
    assert (details["decision"]["authority"], details["decision"]["by"]) == ("street", "sgz-leader")
    assert {d["status"] for d in deadlines(view, "DE-1")} == {"met"}
    assert [d["status"] for d in deadlines(view, "DE-4")] == ["met"]
    [de5] = deadlines(view, "DE-5")
    assert (de5["status"], de5["due_date"]) == ("open", "2026-04-03")
    kinds = {d["kind"]: d for d in details["documents"]}
    assert set(kinds) == {"decision_letter", "duty_to_report_notice"}
    letter = rpc.decision.get_document(
        actor=actor("sgz-clerk"), document_id=kinds["decision_letter"]["document_id"]
    )
    assert "1335.00元" in letter["html"] and "邵公庄街道办事处" in letter["html"]
    assert "决定书" in letter["title"]
    duty = rpc.decision.get_document(
        actor=actor("sgz-clerk"), document_id=kinds["duty_to_report_notice"]["document_id"]
    )
    assert "报告" in duty["html"]

    # ORG-7: the clerk records service; DE-5 is met once both documents are served.
    clock.set(beijing(2026, 4, 1, 10))
    expect_error(
        lambda: rpc.decision.record_service(
            actor=actor("sgz-reviewer"),
            case_id=case.case_id,
            document_id=kinds["decision_letter"]["document_id"],
            served_at=beijing(2026, 4, 1, 9).isoformat(),
        ),
        403,
        "wrong_role",
    )
    served = beijing(2026, 4, 1, 9).isoformat()
    view = rpc.decision.record_service(
        actor=actor("sgz-clerk"),
        case_id=case.case_id,
        document_id=kinds["decision_letter"]["document_id"],
        served_at=served,
    )
    assert deadlines(view, "DE-5")[0]["status"] == "open"
    view = rpc.decision.record_service(
        actor=actor("sgz-clerk"),
        case_id=case.case_id,
        document_id=kinds["duty_to_report_notice"]["document_id"],
        served_at=served,
    )
    assert deadlines(view, "DE-5")[0]["status"] == "met"
    assert all(d["served_at"] for d in view["details"]["documents"])
    assert "timeline" not in view["details"]
    assert actions(settings, case.case_id) == [
        "file_received_for_review",
        "reviewed:approve",
        "head_consented",
        "decided:approved",
        "document_served",
        "document_served",
    ]
    [decided] = [
        p
        for p in _events(settings, "case.progressed", case.case_id)
        if p["action"] == "decided:approved"
    ]
    assert decided["document_ids"] == details["decision"]["document_ids"]
    assert (decided["actor_user"], decided["rule_id"]) == ("sgz-leader", "DE-1")
    expect_error(lambda: case.view(actor("shc-clerk")), 403, "wrong_street")

    # PA-1: approved on 2026-03-31, paid from 2026-04 to the recipient's account.
    schedule = wait_until(
        lambda: rpc.payments.get_case(actor=DISTRICT, case_id=case.case_id)["details"].get(
            "schedule"
        ),
        message="payments to schedule the case",
    )
    assert schedule["first_month"] == "2026-04" and schedule["monthly_amount_fen"] == 133500
    assert schedule["payee_kind"] == "recipient" and schedule["payee_account"] == ACCOUNT

    # DE-2: the community's announcement list, without ID numbers.
    listed = rpc.decision.list_recipients(
        actor=actor("sgz-community"), street_code=STREET, community="前园社区"
    )
    assert [(r["case_no"], r["name"], r["monthly_amount_fen"]) for r in listed["recipients"]] == [
        (case.keys["case_no"], "王秀英", 133500)
    ]
    assert APPLICANT["id_number"] not in json.dumps(listed)
    assert (
        rpc.decision.list_recipients(
            actor=actor("sgz-clerk"), street_code=STREET, community="别的社区"
        )["recipients"]
        == []
    )
    expect_error(
        lambda: rpc.decision.list_recipients(actor=actor("shc-clerk"), street_code=STREET),
        403,
        "wrong_street",
    )

    # DE-3: approved on 2026-03-31 (from the 25th on), the case is in April's roster.
    key = f"roster:{STREET}:2026-04"
    clock.set(beijing(2026, 4, 1, 11))
    expect_error(
        lambda: rpc.decision.file_monthly_report(
            actor=actor("sgz-reviewer"), street_code=STREET, month="2026-05"
        ),
        409,
        "roster_not_open",
        "month",
    )
    filed = rpc.decision.file_monthly_report(
        actor=actor("sgz-reviewer"), street_code=STREET, month="2026-04"
    )
    assert (filed["households"], filed["monthly_amount_fen"], filed["on_time"]) == (1, 133500, True)
    report = rpc.decision.get_document(actor=actor("sgz-head"), document_id=filed["document_id"])
    assert report["case_id"] == key and "花名册" in report["html"] and "王秀英" in report["html"]
    expect_error(
        lambda: rpc.decision.get_document(
            actor=actor("shc-clerk"), document_id=filed["document_id"]
        ),
        403,
        "wrong_street",
    )
    expect_error(
        lambda: rpc.decision.file_monthly_report(
            actor=actor("sgz-head"), street_code=STREET, month="2026-04"
        ),
        409,
        "already_filed",
    )
    [de3] = [p for p in _events(settings, "deadline.met", key) if p["rule_id"] == "DE-3"]
    assert de3["street_code"] == STREET


def test_ORG1_street_not_yet_delegated_is_decided_by_the_district(settings, rpc, decision):
    expect_error(
        lambda: rpc.decision.set_delegation(
            actor=actor("xgu-leader"), street_code="xigu", delegated_from=None
        ),
        403,
        "wrong_role",
    )
    expect_error(
        lambda: rpc.decision.set_delegation(
            actor=actor("district-officer"), street_code="nowhere", delegated_from=None
        ),
        404,
        "unknown_street",
        "street_code",
    )
    expect_error(
        lambda: rpc.decision.set_delegation(
            actor=actor("district-officer"), street_code="xigu", delegated_from="2026-13-01"
        ),
        400,
        field="delegated_from",
    )
    assert rpc.decision.set_delegation(
        actor=actor("district-officer"), street_code="xigu", delegated_from="2026-06-01"
    ) == {"street_code": "xigu", "delegated_from": "2026-06-01"}

    case = Case(settings, rpc, program="low_income", street="xigu")
    assert case.accept()["details"]["deciding_authority"] == "district"
    case.verified(size=2, income=120000)
    case.concluded()
    case.to_leader("xgu")
    expect_error(
        lambda: rpc.decision.decide(
            actor=actor("xgu-leader"), case_id=case.case_id, outcome="approve"
        ),
        403,
        "wrong_role",
    )
    view = rpc.decision.decide(
        actor=actor("district-officer"), case_id=case.case_id, outcome="approve"
    )
    assert view["status"] == "approved"
    assert view["details"]["amount"]["monthly_amount_fen"] == 31400  # per household
    assert view["details"]["decision"]["authority"] == "district"
    letter_id = view["details"]["decision"]["document_ids"][0]
    assert (
        "天津市红桥区民政局"
        in rpc.decision.get_document(actor=DISTRICT, document_id=letter_id)["html"]
    )
    assert rpc.decision.set_delegation(
        actor=actor("district-officer"), street_code="xigu", delegated_from=None
    ) == {"street_code": "xigu", "delegated_from": None}


def test_DE4_extension_moves_the_limit_to_45_WD_once(settings, rpc, clock, decision):
    case = Case(settings, rpc)
    case.accept()
    clock.set(beijing(2026, 3, 20, 10))
    expect_error(
        lambda: rpc.decision.extend(actor=actor("sgz-clerk"), case_id=case.case_id, reason="x"),
        403,
        "wrong_role",
    )
    expect_error(
        lambda: rpc.decision.extend(actor=actor("shc-reviewer"), case_id=case.case_id, reason="x"),
        403,
        "wrong_street",
    )
    expect_error(
        lambda: rpc.decision.extend(actor=actor("sgz-reviewer"), case_id=case.case_id, reason=""),
        400,
        field="reason",
    )
    view = rpc.decision.extend(
        actor=actor("sgz-reviewer"), case_id=case.case_id, reason="赡养人在外地，需信函索证"
    )
    [de4] = deadlines(view, "DE-4")
    assert (de4["amount"], de4["due_date"], de4["status"]) == (45, "2026-05-08", "open")
    assert view["details"]["extension"]["reason"] == "赡养人在外地，需信函索证"
    expect_error(
        lambda: rpc.decision.extend(
            actor=actor("sgz-reviewer"), case_id=case.case_id, reason="再延"
        ),
        409,
        "already_extended",
    )

    # After the 30th WD (2026-04-14) the extended limit is not breached.
    clock.set(beijing(2026, 4, 20, 10))
    assert run_deadline_scan(decision) == 0
    assert deadlines(case.view(), "DE-4")[0]["status"] == "open"
    assert actions(settings, case.case_id) == ["extended_to_45_wd"]


def test_DE7_refusal_notice_with_reasons_due_within_3_WD_and_breached_when_late(
    settings, rpc, clock, decision
):
    case = Case(settings, rpc)
    case.accept()
    case.verified()
    case.concluded()
    clock.set(beijing(2026, 3, 31, 9))
    expect_error(
        lambda: rpc.decision.record_review(
            actor=actor("sgz-reviewer"), case_id=case.case_id, opinion="refuse"
        ),
        400,
        field="reasons",
    )
    case.to_leader()
    expect_error(
        lambda: rpc.decision.decide(
            actor=actor("sgz-leader"), case_id=case.case_id, outcome="refuse"
        ),
        400,
        field="reasons",
    )
    expect_error(
        lambda: rpc.decision.decide(
            actor=actor("sgz-leader"), case_id=case.case_id, outcome="dismiss"
        ),
        400,
        field="outcome",
    )
    clock.set(beijing(2026, 4, 2, 15))
    view = rpc.decision.decide(
        actor=actor("sgz-leader"),
        case_id=case.case_id,
        outcome="refuse",
        reasons=["家庭人均收入高于低保标准"],
    )
    assert view["status"] == "refused" and view["details"]["amount"] is None
    [de7] = deadlines(view, "DE-7")
    assert (de7["due_date"], de7["status"]) == ("2026-04-08", "open")  # Qingming in between
    [notice] = view["details"]["documents"]
    assert notice["kind"] == "refusal_notice"
    html = rpc.decision.get_document(actor=actor("sgz-clerk"), document_id=notice["document_id"])[
        "html"
    ]
    assert "不予批准" in html and "家庭人均收入高于低保标准" in html
    error = expect_error(
        lambda: rpc.decision.decide(
            actor=actor("sgz-leader"), case_id=case.case_id, outcome="approve"
        ),
        409,
        "invalid_state",
        "case_id",
        exc_type="InvalidState",
    )
    assert error.details == {"status": "refused", "allowed": ["leader_decision"]}

    clock.set(beijing(2026, 4, 9, 0, 1))  # the day after the 3rd WD
    run_deadline_scan(decision)  # (or the scanner's own run just before)
    assert deadlines(case.view(), "DE-7")[0]["status"] == "breached"
    view = rpc.decision.record_service(
        actor=actor("sgz-clerk"),
        case_id=case.case_id,
        document_id=notice["document_id"],
        served_at=beijing(2026, 4, 9, 0, 0, 30).isoformat(),
    )
    assert deadlines(view, "DE-7")[0]["status"] == "breached"  # late service stays breached
    expect_error(
        lambda: rpc.decision.record_service(
            actor=actor("sgz-clerk"),
            case_id=case.case_id,
            document_id=notice["document_id"],
            served_at=beijing(2026, 4, 9, 0, 0, 40).isoformat(),
        ),
        409,
        "already_served",
    )


def test_VE3_non_confirmation_decided_by_the_leader_and_served_within_3_WD(
    settings, rpc, clock, decision, start_service
):
    start_service(PaymentsService)
    case = Case(settings, rpc)
    case.accept()
    clock.set(beijing(2026, 4, 2, 10))
    publish(
        settings,
        "verification.non_confirmation_proposed",
        {
            **case.keys,
            "reasons": ["核对报告显示存款超过24个月低保标准"],
            "report_id": "r-9",
            "proposed_at": beijing(2026, 4, 2, 10),
        },
    )
    view = case.wait_status("management_review")
    [ve3] = deadlines(view, "VE-3")
    assert ve3["due_date"] == "2026-04-08"
    expect_error(
        lambda: rpc.decision.record_review(
            actor=actor("sgz-reviewer"), case_id=case.case_id, opinion="approve"
        ),
        400,
        "opinion_not_allowed",
        "opinion",
    )
    view = rpc.decision.record_review(
        actor=actor("sgz-reviewer"),
        case_id=case.case_id,
        opinion="non_confirm",
        reasons=["无说明材料"],
    )
    assert view["status"] == "leader_decision"
    expect_error(
        lambda: rpc.decision.record_head_consent(actor=actor("sgz-head"), case_id=case.case_id),
        409,
        "invalid_state",
        exc_type="InvalidState",
    )
    expect_error(
        lambda: rpc.decision.decide(
            actor=actor("sgz-reviewer"), case_id=case.case_id, outcome="non_confirm", reasons=["x"]
        ),
        403,
        "wrong_role",
    )
    view = rpc.decision.decide(
        actor=actor("sgz-leader"),
        case_id=case.case_id,
        outcome="non_confirm",
        reasons=["无正当理由未提供说明材料"],
    )
    assert view["status"] == "non_confirmed"
    [letter] = view["details"]["documents"]
    assert letter["kind"] == "non_confirmation_decision" and "不予确认决定书" in letter["title"]
    expect_error(
        lambda: rpc.decision.record_service(
            actor=actor("sgz-clerk"),
            case_id=case.case_id,
            document_id=letter["document_id"],
            served_at=beijing(2026, 4, 2, 16).isoformat(),
        ),
        400,
        field="served_at",
    )  # future
    clock.set(beijing(2026, 4, 2, 17))
    view = rpc.decision.record_service(
        actor=actor("sgz-clerk"),
        case_id=case.case_id,
        document_id=letter["document_id"],
        served_at=beijing(2026, 4, 2, 16).isoformat(),
    )
    assert deadlines(view, "VE-3")[0]["status"] == "met"
    assert deadlines(view, "DE-4")[0]["status"] == "met"
    assert actions(settings, case.case_id) == [
        "non_confirmation_proposed",
        "reviewed:non_confirm",
        "decided:non_confirmed",
        "document_served",
    ]

    def payments_view():
        return rpc.payments.get_case(actor=DISTRICT, case_id=case.case_id)

    payments = wait_until(
        lambda: payments_view() if payments_view()["status"] == "not_payable" else None,
        message="payments to hear the outcome",
    )
    assert payments["details"]["outcome"] == "non_confirmed"


def test_DE6_tekun_approval_requires_the_care_arrangement(
    settings, rpc, clock, decision, start_service
):
    start_service(PaymentsService)
    case = Case(settings, rpc, program="tekun")
    assert deadlines(case.accept(), "DE-4") == []  # DE-4 is for dibao and low-income
    case.verified(size=1, income=0, self_care="wholly_unable")
    case.concluded()
    case.to_leader()
    expect_error(
        lambda: rpc.decision.decide(
            actor=actor("sgz-leader"), case_id=case.case_id, outcome="approve"
        ),
        400,
        "care_arrangement_required",
        "care_arrangement",
    )
    care = {
        "care_mode": "dispersed",
        "guardianship_mode": "relative",
        "caregiver": {
            "name": "王芳",
            "id_number": make_id_number(21, "19800101"),
            "relationship": "女儿",
            "phone": "13800000000",
        },
        "responsibilities": "日常生活照料、就医陪护",
        "agreement_signed": True,
        "agreement_signed_on": "2026-03-30",
        "payee": "caregiver",
    }
    expect_error(
        lambda: rpc.decision.decide(
            actor=actor("sgz-leader"),
            case_id=case.case_id,
            outcome="approve",
            care_arrangement=care,
        ),
        400,
        field="care_arrangement.payee_account",
    )
    expect_error(
        lambda: rpc.decision.decide(
            actor=actor("sgz-leader"),
            case_id=case.case_id,
            outcome="approve",
            care_arrangement={**care, "agreement_signed": False},
        ),
        400,
        field="care_arrangement.agreement_signed",
    )
    care["payee_account"] = {
        "bank": "天津银行",
        "account_number": "6217000000000099",
        "holder": "王芳",
    }
    view = rpc.decision.decide(
        actor=actor("sgz-leader"), case_id=case.case_id, outcome="approve", care_arrangement=care
    )
    details = view["details"]
    assert details["amount"]["monthly_amount_fen"] == 267000  # 1870.00 + 800.00
    assert {r["key"] for r in details["amount"]["policy_rows"]} == {
        "tekun_basic_support",
        "tekun_care_wholly_unable",
    }
    assert details["care_arrangement"]["caregiver"]["name"] == "王芳"
    assert details["payee"]["kind"] == "caregiver"
    letter_id = details["decision"]["document_ids"][0]
    html = rpc.decision.get_document(actor=actor("sgz-leader"), document_id=letter_id)["html"]
    assert "分散供养" in html and "2670.00元" in html and "委托照料人" in html
    schedule = wait_until(
        lambda: rpc.payments.get_case(actor=DISTRICT, case_id=case.case_id)["details"].get(
            "schedule"
        ),
        message="payments to schedule the case",
    )
    assert (schedule["payee_kind"], schedule["payee_name"]) == ("caregiver", "王芳")
    assert schedule["payee_account"]["account_number"] == "6217000000000099"


def test_steps_check_role_street_state_and_input(settings, rpc, decision):
    case = Case(settings, rpc)
    case.accept()
    error = expect_error(
        lambda: rpc.decision.record_review(
            actor=actor("sgz-reviewer"), case_id=case.case_id, opinion="approve"
        ),
        409,
        "invalid_state",
        "case_id",
        exc_type="InvalidState",
    )  # the file has not arrived (DE-1)
    assert error.details == {"status": "awaiting_file", "allowed": ["management_review"]}
    case.concluded()
    expect_error(
        lambda: rpc.decision.record_review(
            actor=actor("sgz-clerk"), case_id=case.case_id, opinion="approve"
        ),
        403,
        "wrong_role",
    )
    expect_error(
        lambda: rpc.decision.record_review(
            actor=actor("shc-reviewer"), case_id=case.case_id, opinion="approve"
        ),
        403,
        "wrong_street",
    )
    expect_error(
        lambda: rpc.decision.record_review(
            actor=actor("sgz-reviewer"), case_id=case.case_id, opinion="maybe"
        ),
        400,
        field="opinion",
    )
    expect_error(
        lambda: rpc.decision.record_review(
            actor={"user_id": "x", "role": "boss", "street_code": STREET},
            case_id=case.case_id,
            opinion="approve",
        ),
        400,
        field="actor.role",
    )
    expect_error(
        lambda: rpc.decision.record_head_consent(actor=actor("sgz-head"), case_id=case.case_id),
        409,
        "invalid_state",
    )
    expect_error(
        lambda: rpc.decision.record_review(
            actor=actor("sgz-reviewer"), case_id="no-such-case", opinion="approve"
        ),
        404,
        "case_not_found",
        "case_id",
        exc_type="CaseNotFound",
    )
    expect_error(
        lambda: rpc.decision.get_case(actor=DISTRICT, case_id="no-such-case"), 404, "case_not_found"
    )
    assert case.view()["status"] == "management_review"  # nothing changed


def test_events_are_applied_once_and_withdrawal_closes_the_case_VE5(settings, rpc, decision):
    case = Case(settings, rpc)
    case.accept()
    envelope = case.concluded()
    publish(settings, "publicity.concluded", {}, envelope=envelope)  # a redelivery
    wait_until_handled(settings.amqp_uri, "hq.decision.on_publicity_concluded")
    other = Case(settings, rpc)
    other.accept()
    publish(
        settings,
        "verification.withdrawn",
        {**other.keys, "reason": "未如实申报且逾期未更正", "withdrawn_at": beijing(2026, 3, 9, 10)},
    )
    view = other.wait_status("withdrawn")
    assert deadlines(view, "DE-4")[0]["status"] == "met"
    [closed] = _events(settings, "case.progressed", other.case_id)
    assert (closed["action"], closed["rule_id"], closed["closed"]) == (
        "closed_as_withdrawn",
        "VE-5",
        True,
    )
    view = case.view()
    assert len(deadlines(view, "DE-1")) == 1
    assert actions(settings, case.case_id) == ["file_received_for_review"]


def test_an_event_before_its_case_is_retried_until_the_case_is_known(settings, rpc, decision):
    case = Case(settings, rpc)
    publish(
        settings,
        "publicity.concluded",
        {
            **case.keys,
            "community": "前园社区",
            "rounds": 1,
            "preliminary_opinion": "approve",
            "deliberation_held": False,
            "deliberation_conclusion": None,
            "minutes_document_id": None,
            "concluded_at": beijing(2026, 3, 30, 10),
        },
    )
    case.accept(wait=False)  # the retry after the acceptance applies the conclusion
    assert case.wait_status("management_review")["details"]["publicity"]["rounds"] == 1
