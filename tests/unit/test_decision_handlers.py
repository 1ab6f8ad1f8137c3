"""Decision's handlers through the step skeleton, on an in-memory unit of work (DE-1 to DE-7,
ORG-1, ORG-7, VE-3, VE-5, the DE-3 roster).

What a user sees: the reply of each step, the refusals (status, code, field, details), the
events written for the other services, the documents issued, the deadlines opened and met and
the timeline entries.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from hqcore.clock import CHINA_TZ
from hqcore.errors import (
    CaseNotFound,
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from hqcore.policy import PolicyRate
from hqcore.steps import CaseNotYetKnown, read_case, run_event, run_step
from hqops.samples import make_id_number
from services.decision import domain, handlers, notices, roster
from tests.support import events
from tests.support.fakes import InMemoryCases, fake_runtime

STREET = "shaogongzhuang"
APPLICANT = events.APPLICANT


def beijing(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def actor(user_id: str, role: str, street: str | None = STREET) -> dict[str, Any]:
    return {"user_id": user_id, "role": role, "street_code": street, "name": user_id}


REVIEWER = actor("sgz-reviewer", "reviewer")
HEAD = actor("sgz-head", "department_head")
LEADER = actor("sgz-leader", "street_leader")
CLERK = actor("sgz-clerk", "clerk")
COMMUNITY = actor("sgz-community", "community_worker")
OTHER_REVIEWER = actor("shc-reviewer", "reviewer", "shuanghuancun")
OTHER_CLERK = actor("shc-clerk", "clerk", "shuanghuancun")
XGU_LEADER = actor("xgu-leader", "street_leader", "xigu")
XGU_REVIEWER = actor("xgu-reviewer", "reviewer", "xigu")
XGU_HEAD = actor("xgu-head", "department_head", "xigu")
DISTRICT = actor("district-officer", "district_officer", None)
CARE = {
    "care_mode": "dispersed",
    "guardianship_mode": "relative",
    "caregiver": {
        "name": "王芳",
        "id_number": make_id_number(3, "19800101"),
        "relationship": "女儿",
        "phone": "13800000000",
    },
    "responsibilities": "日常生活照料",
    "agreement_signed": True,
    "agreement_signed_on": "2026-03-30",
    "payee": "caregiver",
    "payee_account": {"bank": "天津银行", "account_number": "6217000000000099", "holder": "王芳"},
}


def rate(row_id: int, key: str, value: int) -> PolicyRate:
    return PolicyRate(row_id, key, "fen", value, date(2025, 9, 1), None, "津民规〔2025〕", True)


RATES = [
    rate(3, "dibao_standard", 104500),
    rate(12, "dibao_minimum_payment", 0),
    rate(6, "low_income_household_aid", 31400),
    rate(7, "tekun_basic_support", 187000),
    rate(8, "tekun_care_able", 0),
    rate(9, "tekun_care_partly_unable", 40000),
    rate(10, "tekun_care_wholly_unable", 80000),
]


# -- in-memory repositories -------------------------------------------------------------------


class Cases(InMemoryCases):
    def approved(self, street_code: str) -> list[domain.DecisionCase]:
        return sorted(
            (c for c in self.all() if c.street_code == street_code and c.status == domain.APPROVED),
            key=lambda c: c.case_no,
        )


class Streets:
    def __init__(self) -> None:
        self.held: dict[str, date | None] = {
            STREET: date(2021, 9, 4),
            "shuanghuancun": date(2021, 9, 4),
            "xigu": None,
        }

    def delegated_from(self, street_code: str) -> date | None:
        return self.held.get(street_code)

    def set_delegated_from(self, street_code: str, delegated: date | None) -> bool:
        if street_code not in self.held:
            return False
        self.held[street_code] = delegated
        return True


class Policy:
    def __init__(self) -> None:
        self.rows = list(RATES)

    def rates_in_force(self, keys: Any, on: date) -> dict[str, PolicyRate]:
        keys = list(keys)
        return {
            r.key: r
            for r in sorted(self.rows, key=lambda r: r.valid_from)
            if r.key in keys and r.in_force(on)
        }


class Reports:
    def __init__(self) -> None:
        self.filed: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, street_code: str, month: str) -> dict[str, Any] | None:
        return self.filed.get((street_code, month))

    def add(self, report: dict[str, Any]) -> None:
        self.filed[(report["street_code"], report["month"])] = report


@pytest.fixture
def runtime():
    runtime = fake_runtime(
        "decision",
        now=beijing(2026, 3, 2, 10),
        view=handlers.view,
        templates=notices.TEMPLATES,
        streets=Streets(),
        policy=Policy(),
        reports=Reports(),
    )
    runtime.store.cases = Cases()
    return runtime


# -- driving a case ---------------------------------------------------------------------------


def at(runtime, *when: int) -> None:
    runtime.fake_clock.current = beijing(*when)


def accept(
    runtime,
    case_id: str = "c1",
    program: str = "dibao",
    street: str = STREET,
    case_no: str = "SGZ-2026-00001",
    **payload: Any,
) -> None:
    members = (
        [APPLICANT]
        if program == "tekun"
        else [APPLICANT, {"name": "李强", "id_number": make_id_number(2), "relationship": "spouse"}]
    )
    run_event(
        runtime,
        handlers.on_application_accepted,
        events.application_accepted(
            case_id=case_id,
            program=program,
            street_code=street,
            case_no=case_no,
            members=members,
            accepted_at=beijing(2026, 3, 2, 10),
            payment_account={
                "bank": "天津银行",
                "account_number": "6217000000000001",
                "holder": "张三",
            },
            **payload,
        ),
    )


def verified(
    runtime,
    case_id: str = "c1",
    program: str = "dibao",
    street: str = STREET,
    size: int = 2,
    income: int = 60000,
    self_care: str | None = None,
) -> None:
    run_event(
        runtime,
        handlers.on_verification_completed,
        events.verification_completed(
            case_id=case_id,
            program=program,
            street_code=street,
            household_size=size,
            income_per_head_fen=income,
            self_care=self_care,
            completed_at=beijing(2026, 3, 12, 10),
        ),
    )


def concluded(
    runtime,
    case_id: str = "c1",
    program: str = "dibao",
    street: str = STREET,
    when: datetime = beijing(2026, 3, 30, 10),
) -> None:
    run_event(
        runtime,
        handlers.on_publicity_concluded,
        events.publicity_concluded(
            case_id=case_id,
            program=program,
            street_code=street,
            concluded_at=when,
            deliberation_held=program == "tekun",
            deliberation_conclusion="approve" if program == "tekun" else None,
        ),
    )


def to_leader(
    runtime,
    case_id: str = "c1",
    program: str = "dibao",
    street: str = STREET,
    reviewer: dict[str, Any] = REVIEWER,
    head: dict[str, Any] = HEAD,
) -> dict[str, Any]:
    accept(runtime, case_id, program, street)
    verified(
        runtime, case_id, program, street, self_care="wholly_unable" if program == "tekun" else None
    )
    concluded(runtime, case_id, program, street)
    at(runtime, 2026, 3, 31, 9)
    run_step(runtime, handlers.record_review, reviewer, {"case_id": case_id, "opinion": "approve"})
    return run_step(
        runtime, handlers.record_head_consent, head, {"case_id": case_id, "note": "同意"}
    )


def decide(
    runtime, who: dict[str, Any] = LEADER, case_id: str = "c1", **fields: Any
) -> dict[str, Any]:
    return run_step(
        runtime, handlers.decide, who, {"case_id": case_id, "outcome": "approve", **fields}
    )


def approved(runtime, case_id: str = "c1", **fields: Any) -> dict[str, Any]:
    to_leader(runtime, case_id, **fields)
    at(runtime, 2026, 3, 31, 15)
    return decide(runtime, case_id=case_id)


def deadlines(view: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    return [d for d in view["deadlines"] if d["rule_id"] == rule_id]


def timeline(runtime, case_id: str = "c1") -> list[dict[str, Any]]:
    return runtime.store.timeline(case_id)


def actions(runtime, case_id: str = "c1") -> list[str]:
    return [entry["action"] for entry in timeline(runtime, case_id)]


def refused(runtime, error: type[Exception], call: Any) -> Any:
    """``call`` fails with ``error`` and changes nothing a user could see."""
    store = runtime.store
    before = (store.cases.all(), list(store.deadlines), dict(store.documents), len(store.published))
    with pytest.raises(error) as raised:
        call()
    assert (store.cases.all(), store.deadlines, store.documents, len(store.published)) == before
    return raised.value


# -- events -----------------------------------------------------------------------------------


def test_ORG1_DE4_accepted_case_keeps_the_route_in_force_and_runs_30_WD(runtime):
    accept(runtime)
    view = read_case(runtime, CLERK, "c1")
    assert view["status"] == domain.AWAITING_FILE
    assert view["details"]["deciding_authority"] == "street"
    assert view["details"]["applicant"] == APPLICANT and "timeline" not in view["details"]
    [de4] = deadlines(view, "DE-4")
    assert (de4["amount"], de4["unit"], de4["due_date"], de4["status"]) == (
        30,
        "WD",
        "2026-04-14",
        "open",
    )
    [opened] = runtime.store.events("deadline.opened")
    assert opened.payload["rule_id"] == "DE-4" and opened.payload["service"] == "decision"
    accept(runtime, "c2", street="xigu", case_no="XGU-2026-00001")  # not delegated
    assert read_case(runtime, DISTRICT, "c2")["details"]["deciding_authority"] == "district"
    accept(runtime, "c3", program="tekun", case_no="SGZ-2026-00003")
    assert deadlines(read_case(runtime, CLERK, "c3"), "DE-4") == []  # dibao and low-income
    assert timeline(runtime) == []


def test_DE5_verification_facts_are_kept_while_the_file_is_open(runtime):
    accept(runtime)
    verified(runtime, size=3, income=50000)
    facts = read_case(runtime, CLERK, "c1")["details"]["facts"]
    assert (facts["household_size"], facts["income_per_head_fen"]) == (3, 50000)
    assert runtime.store.cases.get("c1").version == 1


def test_DE1_the_concluded_file_is_reviewed_within_2_WD(runtime):
    accept(runtime)
    concluded(runtime, when=beijing(2026, 4, 2, 10))
    view = read_case(runtime, REVIEWER, "c1")
    assert view["status"] == domain.MANAGEMENT_REVIEW
    [de1] = deadlines(view, "DE-1")
    assert de1["due_date"] == "2026-04-07"  # Qingming in between
    assert view["details"]["publicity"]["rounds"] == 1
    [entry] = timeline(runtime)
    assert (entry["action"], entry["rule_id"], entry["step"], entry["actor_user"]) == (
        "file_received_for_review",
        "DE-1",
        domain.MANAGEMENT_REVIEW,
        None,
    )


def test_DE1_review_and_head_consent_then_the_leader_decides_within_3_WD(runtime):
    accept(runtime)
    concluded(runtime)
    at(runtime, 2026, 3, 31, 9)
    view = run_step(
        runtime,
        handlers.record_review,
        REVIEWER,
        {"case_id": "c1", "opinion": "approve", "note": "材料齐全"},
    )
    assert view["status"] == domain.HEAD_CONSENT
    assert view["details"]["review"]["by"] == "sgz-reviewer"
    assert [d["status"] for d in deadlines(view, "DE-1")] == ["met"]
    view = run_step(runtime, handlers.record_head_consent, HEAD, {"case_id": "c1"})
    assert view["status"] == domain.LEADER_DECISION
    leader_due = [d for d in deadlines(view, "DE-1") if d["status"] == "open"]
    assert [d["due_date"] for d in leader_due] == ["2026-04-03"]
    assert [(e["action"], e["rule_id"], e["note"], e["actor_user"]) for e in timeline(runtime)][
        1:
    ] == [
        ("reviewed:approve", "DE-1", "材料齐全", "sgz-reviewer"),
        ("head_consented", "DE-1", None, "sgz-head"),
    ]
    assert timeline(runtime)[-1]["step"] == domain.LEADER_DECISION


def test_DE1_DE5_approval_fixes_the_amount_serves_letters_and_tells_the_suite(runtime):
    view = approved(runtime)
    details = view["details"]
    assert view["status"] == domain.APPROVED
    # DE-5: (1045.00 - 600.00) x 2, from the rows in force on the decision day
    assert details["amount"]["monthly_amount_fen"] == 89000
    assert [(r["id"], r["valid_from"]) for r in details["amount"]["policy_rows"]] == [
        (3, "2025-09-01"),
        (12, "2025-09-01"),
    ]
    assert (details["decision"]["authority"], details["decision"]["by"]) == ("street", "sgz-leader")
    assert details["payee"] == {
        "kind": "recipient",
        "name": "张三",
        "account": {"bank": "天津银行", "account_number": "6217000000000001", "holder": "张三"},
    }
    assert {d["status"] for d in deadlines(view, "DE-1")} == {"met"}
    assert [d["status"] for d in deadlines(view, "DE-4")] == ["met"]
    [de5] = deadlines(view, "DE-5")
    assert (de5["status"], de5["due_date"]) == ("open", "2026-04-03")
    kinds = {d["kind"]: d for d in details["documents"]}
    assert set(kinds) == {"decision_letter", "duty_to_report_notice"}
    assert details["decision"]["document_ids"] == [d["document_id"] for d in details["documents"]]
    letter = runtime.store.documents[kinds["decision_letter"]["document_id"]]
    assert "890.00元" in letter.html and "邵公庄街道办事处" in letter.html
    assert letter.title == "最低生活保障审核确认决定书" and letter.served_at is None
    assert "报告" in runtime.store.documents[kinds["duty_to_report_notice"]["document_id"]].html
    [made] = runtime.store.events("decision.made")
    assert made.payload["outcome"] == "approved" and made.payload["authority"] == "street"
    assert made.payload["monthly_amount_fen"] == 89000
    assert [p["name"] for p in made.payload["recipients"]] == ["张三", "李强"]
    assert made.payload["payee_account"]["account_number"] == "6217000000000001"
    assert made.payload["document_id"] == kinds["decision_letter"]["document_id"]
    assert made.acting_user == "sgz-leader"
    entry = timeline(runtime)[-1]
    assert (entry["action"], entry["rule_id"], entry["closed"], entry["document_ids"]) == (
        "decided:approved",
        "DE-1",
        False,
        details["decision"]["document_ids"],
    )


def test_DE3_the_first_approval_of_a_month_opens_the_streets_filing_deadline(runtime):
    approved(runtime)  # on 2026-03-31: from the 25th on, April's roster
    key = "roster:shaogongzhuang:2026-04"
    [de3] = runtime.store.deadlines_of(key, "DE-3")
    assert de3.due_at == beijing(2026, 4, 25) and de3.street_code == STREET
    assert runtime.store.deadlines_of("roster:shaogongzhuang:2026-03") == []
    approved(runtime, "c2")
    assert len(runtime.store.deadlines_of(key, "DE-3")) == 1  # one per street and month
    runtime.store.repositories["reports"].add({"street_code": STREET, "month": "2026-05"})
    to_leader(runtime, "c3")
    at(runtime, 2026, 4, 27, 15)  # May's roster, already filed
    decide(runtime, case_id="c3")
    assert runtime.store.deadlines_of("roster:shaogongzhuang:2026-05") == []


def test_DE3_the_monthly_roster_and_report_are_filed_once_before_the_25th(runtime):
    approved(runtime)  # April's roster
    at(runtime, 2026, 4, 1, 16)
    month = {"street_code": STREET, "month": "2026-04"}
    refused(
        runtime,
        Forbidden,
        lambda: run_step(runtime, handlers.file_monthly_report, OTHER_REVIEWER, month),
    )
    wrong_role = refused(
        runtime, Forbidden, lambda: run_step(runtime, handlers.file_monthly_report, CLERK, month)
    )
    assert wrong_role.code == "wrong_role"
    early = refused(
        runtime,
        Conflict,
        lambda: run_step(
            runtime, handlers.file_monthly_report, REVIEWER, {**month, "month": "2026-05"}
        ),
    )
    assert (early.code, early.field) == ("roster_not_open", "month")
    filed = run_step(runtime, handlers.file_monthly_report, REVIEWER, month)
    assert (filed["households"], filed["monthly_amount_fen"]) == (1, 89000)
    assert filed["on_time"] is True and filed["filed_by"] == "sgz-reviewer"
    document = runtime.store.documents[filed["document_id"]]
    assert document.case_id == "roster:shaogongzhuang:2026-04"
    assert document.served_at == beijing(2026, 4, 1, 16)
    assert "花名册" in document.html and "张三" in document.html
    [de3] = runtime.store.deadlines_of("roster:shaogongzhuang:2026-04", "DE-3")
    assert (de3.status.value, de3.met_at) == ("met", beijing(2026, 4, 1, 16))
    again = refused(
        runtime, Conflict, lambda: run_step(runtime, handlers.file_monthly_report, HEAD, month)
    )
    assert (again.code, again.field) == ("already_filed", "month")
    late = run_step(
        runtime, handlers.file_monthly_report, HEAD, {**month, "month": "2026-03"}
    )  # nothing approved in March: empty, late
    assert (late["households"], late["on_time"]) == (0, False)


def test_DE7_refusal_states_reasons_and_is_served_within_3_WD(runtime):
    to_leader(runtime)
    at(runtime, 2026, 4, 2, 15)
    no_reasons = refused(runtime, ValidationFailed, lambda: decide(runtime, outcome="refuse"))
    assert no_reasons.field == "reasons"
    view = decide(runtime, outcome="refuse", reasons=["家庭人均收入高于低保标准"])
    assert view["status"] == domain.REFUSED and view["details"]["amount"] is None
    [de7] = deadlines(view, "DE-7")
    assert (de7["due_date"], de7["status"]) == ("2026-04-08", "open")
    [notice] = view["details"]["documents"]
    assert notice["kind"] == "refusal_notice"
    html = runtime.store.documents[notice["document_id"]].html
    assert "不予批准" in html and "家庭人均收入高于低保标准" in html
    [made] = runtime.store.events("decision.made")
    assert made.payload["reasons"] == ["家庭人均收入高于低保标准"]
    assert made.payload["monthly_amount_fen"] is None and made.payload["recipients"] == []
    entry = timeline(runtime)[-1]
    assert (entry["action"], entry["note"], entry["closed"]) == (
        "decided:refused",
        "家庭人均收入高于低保标准",
        True,
    )
    assert runtime.store.deadlines_of("roster:shaogongzhuang:2026-04") == []
    again = refused(runtime, InvalidState, lambda: decide(runtime))
    assert again.details == {"status": domain.REFUSED, "allowed": [domain.LEADER_DECISION]}


def test_ORG7_documents_are_served_after_issue_once_and_DE5_is_met_when_all_are(runtime):
    view = approved(runtime)
    letter, duty = (d["document_id"] for d in view["details"]["documents"])
    at(runtime, 2026, 4, 1, 10)
    served = beijing(2026, 4, 1, 9)

    def serve(document_id: str, when: datetime = served, who: dict[str, Any] = CLERK):
        return run_step(
            runtime,
            handlers.record_service,
            who,
            {"case_id": "c1", "document_id": document_id, "served_at": when.isoformat()},
        )

    assert refused(runtime, Forbidden, lambda: serve(letter, who=REVIEWER)).code == "wrong_role"
    future = refused(runtime, ValidationFailed, lambda: serve(letter, beijing(2026, 4, 1, 11)))
    assert (future.code, future.field) == ("served_at_out_of_range", "served_at")
    before = refused(runtime, ValidationFailed, lambda: serve(letter, beijing(2026, 3, 31, 14)))
    assert before.code == "served_at_out_of_range"
    unknown = refused(runtime, ValidationFailed, lambda: serve("decision:other"))
    assert (unknown.code, unknown.field) == ("unknown_document", "document_id")
    view = serve(letter)
    assert deadlines(view, "DE-5")[0]["status"] == "open"
    assert runtime.store.documents[letter].served_at == served
    view = serve(duty)
    [de5] = runtime.store.deadlines_of("c1", "DE-5")
    assert (de5.status.value, de5.met_at) == ("met", served)
    assert all(d["served_at"] for d in view["details"]["documents"])
    assert refused(runtime, Conflict, lambda: serve(duty)).code == "already_served"
    assert [(e["action"], e["rule_id"], e["document_ids"]) for e in timeline(runtime)][-2:] == [
        ("document_served", "DE-5", [letter]),
        ("document_served", "DE-5", [duty]),
    ]


def test_ORG1_on_the_pre_reform_route_the_district_decides_and_issues(runtime):
    to_leader(runtime, program="low_income", street="xigu", reviewer=XGU_REVIEWER, head=XGU_HEAD)
    assert timeline(runtime)[-1]["step"] == domain.DISTRICT_DECISION
    wrong = refused(runtime, Forbidden, lambda: decide(runtime, XGU_LEADER))
    assert (wrong.code, wrong.details) == ("wrong_role", {"allowed_roles": ["district_officer"]})
    view = decide(runtime, DISTRICT)
    assert view["status"] == domain.APPROVED
    assert view["details"]["amount"]["monthly_amount_fen"] == 31400  # per household
    assert view["details"]["decision"]["authority"] == "district"
    letter_id = view["details"]["decision"]["document_ids"][0]
    assert "天津市红桥区民政局" in runtime.store.documents[letter_id].html
    assert runtime.store.events("decision.made")[0].payload["authority"] == "district"


def test_ORG1_the_district_sets_a_streets_delegation_date(runtime):
    assert (
        refused(
            runtime,
            Forbidden,
            lambda: run_step(
                runtime,
                handlers.set_delegation,
                XGU_LEADER,
                {"street_code": "xigu", "delegated_from": None},
            ),
        ).code
        == "wrong_role"
    )
    unknown = refused(
        runtime,
        NotFound,
        lambda: run_step(
            runtime,
            handlers.set_delegation,
            DISTRICT,
            {"street_code": "nowhere", "delegated_from": None},
        ),
    )
    assert (unknown.http_status, unknown.code, unknown.field) == (
        404,
        "unknown_street",
        "street_code",
    )
    bad = refused(
        runtime,
        ValidationFailed,
        lambda: run_step(
            runtime,
            handlers.set_delegation,
            DISTRICT,
            {"street_code": "xigu", "delegated_from": "2026-13-01"},
        ),
    )
    assert bad.field == "delegated_from"
    assert run_step(
        runtime,
        handlers.set_delegation,
        DISTRICT,
        {"street_code": "xigu", "delegated_from": "2026-03-01"},
    ) == {"street_code": "xigu", "delegated_from": "2026-03-01"}
    accept(runtime, "c2", street="xigu", case_no="XGU-2026-00001")
    assert read_case(runtime, DISTRICT, "c2")["details"]["deciding_authority"] == "street"
    assert run_step(
        runtime, handlers.set_delegation, DISTRICT, {"street_code": STREET, "delegated_from": None}
    ) == {"street_code": STREET, "delegated_from": None}
    assert runtime.store.repositories["streets"].held[STREET] is None


def test_DE4_extension_moves_the_limit_to_45_WD_once(runtime):
    accept(runtime)
    at(runtime, 2026, 3, 20, 10)
    assert (
        refused(
            runtime,
            Forbidden,
            lambda: run_step(runtime, handlers.extend, CLERK, {"case_id": "c1", "reason": "x"}),
        ).code
        == "wrong_role"
    )
    assert (
        refused(
            runtime,
            Forbidden,
            lambda: run_step(
                runtime, handlers.extend, OTHER_REVIEWER, {"case_id": "c1", "reason": "x"}
            ),
        ).code
        == "wrong_street"
    )
    view = run_step(
        runtime, handlers.extend, REVIEWER, {"case_id": "c1", "reason": "赡养人在外地，需信函索证"}
    )
    [de4] = deadlines(view, "DE-4")
    assert (de4["amount"], de4["due_date"], de4["status"]) == (45, "2026-05-08", "open")
    assert view["details"]["extension"]["reason"] == "赡养人在外地，需信函索证"
    reopened = runtime.store.events("deadline.opened")[-1].payload
    assert (reopened["rule_id"], reopened["amount"], reopened["deadline_id"]) == (
        "DE-4",
        45,
        de4["id"],
    )
    entry = timeline(runtime)[-1]
    assert (entry["action"], entry["rule_id"], entry["note"], entry["step"]) == (
        "extended_to_45_wd",
        "DE-4",
        "赡养人在外地，需信函索证",
        domain.AWAITING_FILE,
    )
    again = refused(
        runtime,
        Conflict,
        lambda: run_step(runtime, handlers.extend, REVIEWER, {"case_id": "c1", "reason": "再延"}),
    )
    assert (again.code, again.field) == ("already_extended", "reason")
    accept(runtime, "c2", program="tekun", case_no="SGZ-2026-00002")
    tekun = refused(
        runtime,
        Conflict,
        lambda: run_step(runtime, handlers.extend, REVIEWER, {"case_id": "c2", "reason": "x"}),
    )
    assert (tekun.code, tekun.field) == ("no_time_limit", "program")


def test_DE4_no_extension_once_the_limit_is_no_longer_open(runtime):
    accept(runtime)
    runtime.store.deadlines[0].breach()
    closed = refused(
        runtime,
        Conflict,
        lambda: run_step(runtime, handlers.extend, REVIEWER, {"case_id": "c1", "reason": "x"}),
    )
    assert (closed.code, closed.field) == ("deadline_not_open", "status")


def test_DE6_tekun_approval_fixes_the_care_arrangement_and_pays_the_caregiver(runtime):
    to_leader(runtime, program="tekun")
    missing = refused(runtime, ValidationFailed, lambda: decide(runtime))
    assert (missing.code, missing.field) == ("care_arrangement_required", "care_arrangement")
    view = decide(runtime, care_arrangement=CARE)
    details = view["details"]
    assert details["amount"]["monthly_amount_fen"] == 267000  # 1870.00 + 800.00
    assert {r["key"] for r in details["amount"]["policy_rows"]} == {
        "tekun_basic_support",
        "tekun_care_wholly_unable",
    }
    assert details["care_arrangement"]["caregiver"]["name"] == "王芳"
    assert details["care_arrangement"]["agreement_signed_on"] == "2026-03-30"
    assert details["payee"]["kind"] == "caregiver"
    html = runtime.store.documents[details["decision"]["document_ids"][0]].html
    assert "分散供养" in html and "2670.00元" in html and "委托照料人" in html
    made = runtime.store.events("decision.made")[0].payload
    assert (made["payee_kind"], made["payee_name"]) == ("caregiver", "王芳")
    assert made["payee_account"]["account_number"] == "6217000000000099"
    assert [p["name"] for p in made["recipients"]] == ["张三"]


def test_DE6_a_care_arrangement_belongs_only_to_a_tekun_approval(runtime):
    to_leader(runtime)
    wrong = refused(runtime, ValidationFailed, lambda: decide(runtime, care_arrangement=CARE))
    assert (wrong.code, wrong.field) == ("care_arrangement_not_applicable", "care_arrangement")


def test_DE5_no_policy_row_in_force_refuses_the_approval(runtime):
    to_leader(runtime)
    runtime.store.repositories["policy"].rows = [r for r in RATES if r.key != "dibao_standard"]
    missing = refused(runtime, Conflict, lambda: decide(runtime))
    assert (missing.code, missing.field) == ("policy_rate_missing", "dibao_standard")


def test_VE3_non_confirmation_is_decided_by_the_leader_and_served_within_3_WD(runtime):
    accept(runtime)
    run_event(
        runtime,
        handlers.on_non_confirmation_proposed,
        events.non_confirmation_proposed(
            reasons=["核对报告显示存款超过24个月低保标准"], proposed_at=beijing(2026, 4, 2, 10)
        ),
    )
    view = read_case(runtime, REVIEWER, "c1")
    assert view["status"] == domain.MANAGEMENT_REVIEW
    [ve3] = deadlines(view, "VE-3")
    assert ve3["due_date"] == "2026-04-08"
    [entry] = timeline(runtime)
    assert (entry["action"], entry["rule_id"], entry["note"]) == (
        "non_confirmation_proposed",
        "VE-3",
        "核对报告显示存款超过24个月低保标准",
    )
    at(runtime, 2026, 4, 2, 11)
    wrong = refused(
        runtime,
        ValidationFailed,
        lambda: run_step(
            runtime, handlers.record_review, REVIEWER, {"case_id": "c1", "opinion": "approve"}
        ),
    )
    assert (wrong.code, wrong.field) == ("opinion_not_allowed", "opinion")
    view = run_step(
        runtime,
        handlers.record_review,
        REVIEWER,
        {"case_id": "c1", "opinion": "non_confirm", "reasons": ["无说明材料"]},
    )
    assert view["status"] == domain.LEADER_DECISION
    assert timeline(runtime)[-1]["rule_id"] == "VE-3"
    consent = refused(
        runtime,
        InvalidState,
        lambda: run_step(runtime, handlers.record_head_consent, HEAD, {"case_id": "c1"}),
    )
    assert consent.details == {"status": domain.LEADER_DECISION, "allowed": [domain.HEAD_CONSENT]}
    assert (
        refused(
            runtime,
            Forbidden,
            lambda: decide(runtime, REVIEWER, outcome="non_confirm", reasons=["x"]),
        ).code
        == "wrong_role"
    )
    assert refused(runtime, ValidationFailed, lambda: decide(runtime)).code == "outcome_not_allowed"
    at(runtime, 2026, 4, 2, 15)
    view = decide(runtime, outcome="non_confirm", reasons=["无正当理由未提供说明材料"])
    assert view["status"] == domain.NON_CONFIRMED
    assert [d["rule_id"] for d in view["deadlines"] if d["status"] == "open"] == ["VE-3"]
    [letter] = view["details"]["documents"]
    assert letter["kind"] == "non_confirmation_decision" and "不予确认决定书" in letter["title"]
    assert "不予确认" in runtime.store.documents[letter["document_id"]].html
    assert timeline(runtime)[-1]["rule_id"] == "VE-3"
    assert runtime.store.events("decision.made")[0].payload["outcome"] == "non_confirmed"
    at(runtime, 2026, 4, 2, 17)
    view = run_step(
        runtime,
        handlers.record_service,
        CLERK,
        {
            "case_id": "c1",
            "document_id": letter["document_id"],
            "served_at": beijing(2026, 4, 2, 16).isoformat(),
        },
    )
    assert deadlines(view, "VE-3")[0]["status"] == "met"
    assert deadlines(view, "DE-4")[0]["status"] == "met"


def test_VE5_withdrawal_meets_every_open_deadline_and_closes_the_case(runtime):
    accept(runtime)
    concluded(runtime)
    run_event(
        runtime,
        handlers.on_verification_withdrawn,
        events.verification_withdrawn(
            reason="未如实申报且逾期未更正", withdrawn_at=beijing(2026, 3, 31, 10)
        ),
    )
    view = read_case(runtime, CLERK, "c1")
    assert view["status"] == domain.WITHDRAWN
    assert {d["status"] for d in view["deadlines"]} == {"met"}  # DE-1 and DE-4
    entry = timeline(runtime)[-1]
    assert (entry["action"], entry["rule_id"], entry["note"], entry["closed"]) == (
        "closed_as_withdrawn",
        "VE-5",
        "未如实申报且逾期未更正",
        True,
    )
    verified(runtime)  # a late message changes nothing
    concluded(runtime)
    assert read_case(runtime, CLERK, "c1")["details"]["facts"] is None
    assert actions(runtime) == ["file_received_for_review", "closed_as_withdrawn"]


def test_DE2_announcement_lists_approved_households_of_the_street_without_ID_numbers(runtime):
    approved(runtime)
    listed = run_step(
        runtime,
        handlers.list_recipients,
        COMMUNITY,
        {"street_code": STREET, "community": "前园社区"},
    )
    assert [(r["case_no"], r["name"], r["monthly_amount_fen"]) for r in listed["recipients"]] == [
        ("SGZ-2026-00001", "张三", 89000)
    ]
    assert APPLICANT["id_number"] not in json.dumps(listed)
    assert (
        run_step(
            runtime,
            handlers.list_recipients,
            CLERK,
            {"street_code": STREET, "community": "别的社区"},
        )["recipients"]
        == []
    )
    assert (
        len(
            run_step(runtime, handlers.list_recipients, DISTRICT, {"street_code": STREET})[
                "recipients"
            ]
        )
        == 1
    )
    other = refused(
        runtime,
        Forbidden,
        lambda: run_step(runtime, handlers.list_recipients, OTHER_CLERK, {"street_code": STREET}),
    )
    assert other.code == "wrong_street"


def test_steps_refuse_wrong_role_street_state_and_unknown_case(runtime):
    accept(runtime)
    early = refused(
        runtime,
        InvalidState,
        lambda: run_step(
            runtime, handlers.record_review, REVIEWER, {"case_id": "c1", "opinion": "approve"}
        ),
    )
    assert (early.http_status, early.field, early.details) == (
        409,
        "case_id",
        {"status": domain.AWAITING_FILE, "allowed": [domain.MANAGEMENT_REVIEW]},
    )
    concluded(runtime)
    assert (
        refused(
            runtime,
            Forbidden,
            lambda: run_step(
                runtime, handlers.record_review, CLERK, {"case_id": "c1", "opinion": "approve"}
            ),
        ).code
        == "wrong_role"
    )
    assert (
        refused(
            runtime,
            Forbidden,
            lambda: run_step(
                runtime,
                handlers.record_review,
                OTHER_REVIEWER,
                {"case_id": "c1", "opinion": "approve"},
            ),
        ).code
        == "wrong_street"
    )
    assert (
        refused(
            runtime,
            ValidationFailed,
            lambda: run_step(
                runtime, handlers.record_review, REVIEWER, {"case_id": "c1", "opinion": "maybe"}
            ),
        ).field
        == "opinion"
    )
    assert (
        refused(
            runtime,
            ValidationFailed,
            lambda: run_step(
                runtime, handlers.record_review, REVIEWER, {"case_id": "c1", "opinion": "refuse"}
            ),
        ).field
        == "reasons"
    )  # DE-7
    missing = refused(
        runtime,
        CaseNotFound,
        lambda: run_step(
            runtime, handlers.record_review, REVIEWER, {"case_id": "nope", "opinion": "approve"}
        ),
    )
    assert (missing.http_status, missing.code) == (404, "case_not_found")
    assert (
        refused(runtime, Forbidden, lambda: read_case(runtime, OTHER_CLERK, "c1")).code
        == "wrong_street"
    )
    assert read_case(runtime, CLERK, "c1")["status"] == domain.MANAGEMENT_REVIEW


def test_redelivered_event_changes_nothing(runtime):
    accept(runtime)
    event = events.publicity_concluded(concluded_at=beijing(2026, 3, 30, 10))
    run_event(runtime, handlers.on_publicity_concluded, event)
    run_event(runtime, handlers.on_publicity_concluded, event)
    assert actions(runtime) == ["file_received_for_review"]
    assert len(runtime.store.deadlines_of("c1", "DE-1")) == 1
    assert runtime.store.cases.get("c1").version == 1


def test_event_before_its_case_is_retried_not_dropped(runtime):
    with pytest.raises(CaseNotYetKnown):
        concluded(runtime)
    assert runtime.store.seen == set()  # not claimed: the redelivery is applied
    accept(runtime)
    concluded(runtime)
    assert runtime.store.cases.get("c1").status == domain.MANAGEMENT_REVIEW


def test_DE3_roster_month_of_an_approval_on_the_25th_is_the_next(runtime):
    assert roster.roster_month(beijing(2026, 3, 25) - timedelta(minutes=1)) == "2026-03"
    assert roster.roster_month(beijing(2026, 3, 25)) == "2026-04"
