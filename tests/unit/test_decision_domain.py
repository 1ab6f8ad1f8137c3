"""Decision's pure rules: route (ORG-1), steps (DE-1, VE-3), limits (DE-4, DE-7), amounts (DE-5),
care arrangement (DE-6), service (ORG-7), announcement (DE-2)."""

from datetime import date, datetime, timedelta, timezone

import pytest

from hqcore.authz import Actor
from hqcore.calendar import WorkingCalendar
from hqcore.clock import CHINA_TZ
from hqcore.deadlines import Unit
from hqcore.errors import Conflict, InvalidState, ValidationFailed
from hqcore.policy import PolicyRate
from hqops.samples import make_id_number
from services.decision import domain

CAL = WorkingCalendar()
APPLICANT = {"name": "王秀英", "id_number": make_id_number(1), "relationship": "self"}
SPOUSE = {"name": "李强", "id_number": make_id_number(2), "relationship": "spouse"}
REVIEWER = Actor("sgz-reviewer", "reviewer", "shaogongzhuang", "审核员")
HEAD = Actor("sgz-head", "department_head", "shaogongzhuang", "负责人")
LEADER = Actor("sgz-leader", "street_leader", "shaogongzhuang", "分管领导")
CARE = {
    "care_mode": "dispersed",
    "guardianship_mode": "relative",
    "caregiver": {
        "name": "王芳",
        "id_number": make_id_number(3),
        "relationship": "女儿",
        "phone": "13800000000",
    },
    "responsibilities": "日常生活照料",
    "agreement_signed": True,
    "agreement_signed_on": date(2026, 3, 30),
    "payee": "caregiver",
    "payee_account": {"bank": "天津银行", "account_number": "6200000000000009", "holder": "王芳"},
}


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def accepted(program="dibao", at=beijing(2026, 3, 2, 10)) -> dict:
    return {
        "case_id": "c-1",
        "case_no": "SGZ-2026-00001",
        "program": program,
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "applicant": APPLICANT,
        "members": [APPLICANT, SPOUSE],
        "payment_account": {
            "bank": "天津银行",
            "account_number": "6200000000000001",
            "holder": "王秀英",
        },
        "accepted_at": at,
    }


def rate(key, value, valid_from=date(2025, 9, 1), row_id=1) -> PolicyRate:
    return PolicyRate(row_id, key, "fen", value, valid_from, None, "test source", True)


RATES = {
    r.key: r
    for r in (
        rate("dibao_standard", 104500, row_id=3),
        rate("dibao_minimum_payment", 0, row_id=12),
        rate("low_income_household_aid", 31400, row_id=6),
        rate("tekun_basic_support", 187000),
        rate("tekun_care_able", 0),
        rate("tekun_care_partly_unable", 40000),
        rate("tekun_care_wholly_unable", 80000),
    )
}


def rates_for(keys):
    return {key: RATES[key] for key in keys if key in RATES}


def facts(size=2, income=60000, self_care=None) -> dict:
    return {
        "round": 1,
        "household_size": size,
        "income_per_head_fen": income,
        "self_care": self_care,
        "report_id": "r-1",
    }


def opened(program="dibao") -> domain.DecisionCase:
    case, _ = domain.open_case(accepted(program), date(2021, 9, 4), CAL)
    return case


def at_leader(program="dibao", found=None, path=domain.CONFIRMATION) -> domain.DecisionCase:
    case = opened(program)
    domain.keep_verification(case, found or facts())
    if path == domain.CONFIRMATION:
        domain.receive_publicity(case, concluded(), CAL)
        domain.review(case, "approve", [], None, REVIEWER, beijing(2026, 3, 31, 9))
        domain.consent(case, None, HEAD, beijing(2026, 3, 31, 10), CAL)
    else:
        domain.receive_non_confirmation(case, proposal(), CAL)
        domain.review(case, "non_confirm", ["收入超标"], None, REVIEWER, beijing(2026, 3, 31, 9))
    return case


def decide(case, choice="approve", reasons=(), care=None, now=beijing(2026, 3, 31, 15), ids=None):
    ids = ids or [f"decision:{i}" for i in range(domain.letter_count(choice))]
    return domain.decide(case, choice, list(reasons), care, rates_for, LEADER, now, ids, CAL)


def concluded(at=beijing(2026, 3, 30, 10)) -> dict:
    return {
        "preliminary_opinion": "approve",
        "deliberation_held": False,
        "deliberation_conclusion": None,
        "minutes_document_id": None,
        "rounds": 1,
        "concluded_at": at,
    }


def proposal(at=beijing(2026, 3, 30, 10)) -> dict:
    return {"reasons": ["人均收入高于低保标准"], "report_id": "r-1", "proposed_at": at}


@pytest.mark.parametrize(
    "accepted_on, delegated_from, authority",
    [
        (date(2021, 9, 4), date(2021, 9, 4), "street"),
        (date(2021, 9, 3), date(2021, 9, 4), "district"),
        (date(2026, 3, 2), None, "district"),
    ],
)
def test_ORG1_route_in_force_on_the_acceptance_day(accepted_on, delegated_from, authority):
    assert domain.deciding_authority(accepted_on, delegated_from) == authority
    assert domain.decider_roles(authority) == (
        ("street_leader",) if authority == "street" else ("district_officer",)
    )


def test_DE4_dibao_opens_30_WD_from_acceptance_and_tekun_has_no_limit():
    case, effects = domain.open_case(accepted(), date(2021, 9, 4), CAL)
    assert case.status == domain.AWAITING_FILE and case.deciding_authority == "street"
    [de4] = effects.opened
    assert (de4.rule_id, de4.amount, de4.due_date) == ("DE-4", 30, date(2026, 4, 14))
    assert domain.open_case(accepted("tekun"), date(2021, 9, 4), CAL)[1].opened == []


def test_DE1_review_within_2_WD_then_leader_within_3_WD():
    case = opened()
    effects = domain.receive_publicity(case, concluded(beijing(2026, 4, 2, 10)), CAL)
    assert case.status == domain.MANAGEMENT_REVIEW
    [review_due] = effects.opened
    assert (review_due.rule_id, review_due.due_date) == ("DE-1", date(2026, 4, 7))  # Qingming
    assert effects.progress[0].action == "file_received_for_review"
    effects = domain.review(case, "approve", [], None, REVIEWER, beijing(2026, 4, 2, 11))
    assert case.status == domain.HEAD_CONSENT and [m.rule_id for m in effects.met] == ["DE-1"]
    effects = domain.consent(case, "同意", HEAD, beijing(2026, 4, 2, 12), CAL)
    [leader_due] = effects.opened
    assert (leader_due.rule_id, leader_due.due_date) == ("DE-1", date(2026, 4, 8))
    assert case.status == domain.LEADER_DECISION
    assert case.head_consent is not None and case.head_consent.by == "sgz-head"


def test_DE1_steps_out_of_order_are_409_invalid_state():
    case = opened()
    with pytest.raises(InvalidState) as raised:
        domain.review(case, "approve", [], None, REVIEWER, beijing(2026, 3, 31, 9))
    assert raised.value.code == "invalid_state" and raised.value.http_status == 409
    assert raised.value.details == {
        "status": domain.AWAITING_FILE,
        "allowed": [domain.MANAGEMENT_REVIEW],
    }
    with pytest.raises(InvalidState):
        decide(case)


def test_publicity_after_withdrawal_is_ignored_VE5():
    case = opened()
    effects = domain.withdraw(case, {"reason": "未如实申报", "withdrawn_at": beijing(2026, 3, 9)})
    assert effects.meet_all and effects.progress[0].closed
    assert domain.receive_publicity(case, concluded(), CAL).save is False
    assert domain.keep_verification(case, facts()).save is False
    assert case.status == domain.WITHDRAWN and case.facts is None


@pytest.mark.parametrize(
    "size, income, expected",
    [
        (2, 60000, 89000),  # (1045.00 - 600.00) x 2
        (3, 0, 313500),  # no income: the full standard for each member
        (1, 110000, 0),  # income above the standard: no shortfall
    ],
)
def test_DE5_dibao_amount_is_the_household_shortfall(size, income, expected):
    found = domain.Facts(1, size, income, None, "r")
    amount = domain.monthly_amount("dibao", found, RATES)
    assert amount.monthly_amount_fen == expected
    assert [row.id for row in amount.policy_rows] == [3, 12]


def test_DE5_dibao_minimum_payment_applies():
    rates = {**RATES, "dibao_minimum_payment": rate("dibao_minimum_payment", 5000)}
    amount = domain.monthly_amount("dibao", domain.Facts(1, 1, 103000, None, "r"), rates)
    assert amount.monthly_amount_fen == 5000


@pytest.mark.parametrize(
    "program, self_care, expected",
    [
        ("low_income", None, 31400),
        ("tekun", "able", 187000),
        ("tekun", "partly_unable", 227000),
        ("tekun", "wholly_unable", 267000),
    ],
)
def test_DE5_low_income_and_tekun_amounts(program, self_care, expected):
    found = domain.Facts(1, 1, 0, self_care, "r")
    keys = domain.rate_keys(program, found)
    assert domain.monthly_amount(program, found, rates_for(keys)).monthly_amount_fen == expected


def test_DE5_missing_policy_row_or_verification_is_409():
    with pytest.raises(Conflict) as raised:
        domain.monthly_amount("low_income", None, {})
    assert raised.value.code == "policy_rate_missing"
    with pytest.raises(Conflict) as raised:
        domain.rate_keys("tekun", domain.Facts(1, 1, 0, None, "r"))
    assert (raised.value.code, raised.value.field) == ("verification_missing", "self_care")
    with pytest.raises(Conflict) as raised:
        domain.monthly_amount("dibao", None, RATES)
    assert raised.value.code == "verification_missing"


def test_DE5_approval_fixes_amount_payee_letters_and_service_deadline():
    case = at_leader()
    effects = decide(case, ids=["decision:1", "decision:2"])
    assert case.status == domain.APPROVED
    assert case.amount is not None and case.amount.monthly_amount_fen == 89000
    assert case.payee is not None and (case.payee.kind, case.payee.name) == ("recipient", "王秀英")
    [deadline] = effects.opened
    assert (deadline.rule_id, deadline.unit, deadline.due_date) == (
        "DE-5",
        Unit.WORKING_DAYS,
        date(2026, 4, 3),
    )
    assert [m.rule_id for m in effects.met] == ["DE-1", "DE-4"]
    assert [(d.kind, d.document_id) for d in effects.documents] == [
        ("decision_letter", "decision:1"),
        ("duty_to_report_notice", "decision:2"),
    ]
    assert [d.document_id for d in case.documents] == ["decision:1", "decision:2"]
    [event] = effects.events
    payload = event.payload
    assert event.event_type == "decision.made" and payload["document_id"] == "decision:1"
    assert payload["outcome"] == "approved" and payload["monthly_amount_fen"] == 89000
    assert payload["recipients"] == [APPLICANT, SPOUSE] and payload["authority"] == "street"
    [entry] = effects.progress
    assert (entry.action, entry.rule_id, entry.closed) == ("decided:approved", "DE-1", False)


def test_DE7_refusal_states_reasons_and_is_served_within_3_WD():
    case = at_leader()
    effects = decide(case, "refuse", ["家庭财产超标"], now=beijing(2026, 4, 2, 15))
    assert case.amount is None and case.decision is not None
    assert case.decision.reasons == ["家庭财产超标"] and case.decision.service_rule == "DE-7"
    [deadline] = effects.opened
    assert (deadline.rule_id, deadline.due_date) == ("DE-7", date(2026, 4, 8))
    payload = effects.events[0].payload
    assert payload["monthly_amount_fen"] is None and payload["recipients"] == []
    assert effects.progress[0].closed and effects.progress[0].note == "家庭财产超标"


def test_DE6_tekun_approval_requires_the_care_arrangement():
    case = at_leader("tekun", facts(1, 0, "partly_unable"))
    with pytest.raises(ValidationFailed) as raised:
        decide(case)
    assert raised.value.field == "care_arrangement"
    decide(case, care=CARE)
    assert case.amount is not None and case.amount.monthly_amount_fen == 227000
    assert case.payee is not None and case.payee.kind == "caregiver"
    assert case.payee.name == "王芳" and case.payee.account is not None
    assert case.care_arrangement is not None
    assert case.to_details()["care_arrangement"]["agreement_signed_on"] == "2026-03-30"


def test_DE6_care_arrangement_only_on_a_tekun_approval():
    with pytest.raises(ValidationFailed) as raised:
        decide(at_leader(), care={"payee": "recipient"})
    assert raised.value.code == "care_arrangement_not_applicable"


def test_VE3_review_goes_to_the_leader_and_only_non_confirmation_is_possible():
    case = opened()
    effects = domain.receive_non_confirmation(case, proposal(beijing(2026, 4, 2, 10)), CAL)
    [deadline] = effects.opened
    assert (deadline.rule_id, deadline.due_date) == ("VE-3", date(2026, 4, 8))
    with pytest.raises(ValidationFailed) as raised:
        domain.review(case, "approve", [], None, REVIEWER, beijing(2026, 4, 2, 11))
    assert raised.value.field == "opinion"
    domain.review(case, "non_confirm", ["无说明"], None, REVIEWER, beijing(2026, 4, 2, 11))
    assert case.status == domain.LEADER_DECISION
    with pytest.raises(ValidationFailed):
        decide(case)
    effects = decide(case, "non_confirm", ["无说明"], now=beijing(2026, 4, 2, 15))
    assert effects.opened == []  # VE-3 already runs
    assert case.status == domain.NON_CONFIRMED
    assert effects.progress[0].rule_id == "VE-3"


def test_DE4_extension_to_45_WD_once_with_reason():
    case, effects = domain.open_case(accepted(), date(2021, 9, 4), CAL)
    [de4] = effects.opened
    de4.id = "d-1"
    extended, effects = domain.extend(
        case, "需补充调查赡养人", REVIEWER, beijing(2026, 3, 20), de4, CAL
    )
    assert (extended.amount, extended.due_date, extended.id) == (45, date(2026, 5, 8), "d-1")
    assert case.extension is not None and case.extension.reason == "需补充调查赡养人"
    assert effects.progress[0].action == "extended_to_45_wd"
    with pytest.raises(Conflict) as raised:
        domain.extend(case, "再次", REVIEWER, beijing(2026, 3, 21), extended, CAL)
    assert raised.value.code == "already_extended"
    with pytest.raises(Conflict) as raised:
        domain.extend(opened("tekun"), "x", REVIEWER, beijing(2026, 3, 20), None, CAL)
    assert raised.value.code == "no_time_limit"


def test_ORG7_service_after_issue_not_in_future_and_once():
    case = at_leader()
    issued = beijing(2026, 3, 31, 15)
    decide(case, now=issued, ids=["letter", "duty"])
    now = issued + timedelta(days=1)
    with pytest.raises(ValidationFailed) as raised:
        domain.serve(case, "letter", now + timedelta(hours=1), now)
    assert raised.value.field == "served_at"
    with pytest.raises(ValidationFailed):
        domain.serve(case, "other", now, now)
    assert domain.serve(case, "letter", now, now).met == []  # the duty notice is not yet
    with pytest.raises(Conflict):
        domain.serve(case, "letter", now, now)
    [met] = domain.serve(case, "duty", now, now).met
    assert (met.rule_id, met.at) == ("DE-5", now)


def test_DE2_announcement_shows_no_id_number():
    case = at_leader()
    decide(case)
    shown = domain.announced(case)
    assert shown["name"] == "王秀英" and shown["monthly_amount_fen"] == 89000
    assert APPLICANT["id_number"] not in str(shown)
    assert shown["decided_at"].astimezone(timezone.utc).hour == 7


def test_ORG1_on_the_pre_reform_route_the_district_decision_is_the_district_officers_step():
    from services.supervision.domain import STEP_ROLES

    case = at_leader()
    assert domain.reported_step(case) == "leader_decision"
    case.deciding_authority = "district"
    assert domain.reported_step(case) == "district_decision"
    assert STEP_ROLES["district_decision"] == {"district_officer"}
    assert STEP_ROLES["leader_decision"] == {"street_leader"}


def test_the_case_is_stored_and_loaded_as_typed_fields():
    case = at_leader("tekun", facts(1, 0, "wholly_unable"))
    decide(case, care=CARE)
    stored = case.to_details()
    assert stored["amount"]["policy_rows"][0]["valid_from"] == "2025-09-01"
    again = domain.DecisionCase.from_row(
        {
            k: getattr(case, k)
            for k in ("case_id", "case_no", "program", "street_code", "status", "since", "version")
        },
        stored,
    )
    assert again == case
