"""Decision's pure rules: route (ORG-1), steps (DE-1, VE-3), limits (DE-4, DE-7), amounts (DE-5),
care arrangement (DE-6)."""
from datetime import date, datetime, timedelta, timezone

import pytest

from hqcore.authz import Actor
from hqcore.calendar import WorkingCalendar
from hqcore.clock import CHINA_TZ
from hqcore.deadlines import Unit
from hqcore.errors import Conflict, ValidationFailed
from hqcore.testing import make_id_number
from services.decision import domain
from services.decision.domain import PolicyRate

CAL = WorkingCalendar()
APPLICANT = {"name": "王秀英", "id_number": make_id_number(1), "relationship": "self"}
SPOUSE = {"name": "李强", "id_number": make_id_number(2), "relationship": "spouse"}
REVIEWER = Actor("sgz-reviewer", "reviewer", "shaogongzhuang", "审核员")
HEAD = Actor("sgz-head", "department_head", "shaogongzhuang", "负责人")
LEADER = Actor("sgz-leader", "street_leader", "shaogongzhuang", "分管领导")


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def accepted(program="dibao", at=beijing(2026, 3, 2, 10)) -> dict:
    return {"case_id": "c-1", "case_no": "SGZ-2026-00001", "program": program,
            "street_code": "shaogongzhuang", "community": "前园社区", "applicant": APPLICANT,
            "members": [APPLICANT, SPOUSE], "payment_account": {
                "bank": "天津银行", "account_number": "6200000000000001", "holder": "王秀英"},
            "accepted_at": at}


def rate(key, value, valid_from=date(2025, 9, 1), row_id=1) -> PolicyRate:
    return PolicyRate(row_id, key, "fen", value, valid_from, None, "test source", True)


RATES = {r.key: r for r in (
    rate("dibao_standard", 104500, row_id=3), rate("dibao_minimum_payment", 0, row_id=12),
    rate("low_income_household_aid", 31400, row_id=6), rate("tekun_basic_support", 187000),
    rate("tekun_care_able", 0), rate("tekun_care_partly_unable", 40000),
    rate("tekun_care_wholly_unable", 80000))}


def rates_for(keys):
    return {key: RATES[key] for key in keys if key in RATES}


def at_leader(program="dibao", facts=None, path=domain.CONFIRMATION):
    record, _ = domain.open_decision(accepted(program), date(2021, 9, 4), CAL)
    record.details["facts"] = facts or {"household_size": 2, "income_per_head_fen": 60000,
                                        "self_care": None, "round": 1, "report_id": "r-1"}
    if path == domain.CONFIRMATION:
        domain.receive_publicity(record, concluded(), CAL)
        domain.review(record, {"opinion": "approve", "reasons": [], "note": None}, REVIEWER,
                      beijing(2026, 3, 31, 9))
        domain.consent(record, {"note": None}, HEAD, beijing(2026, 3, 31, 10), CAL)
    else:
        domain.receive_non_confirmation(record, proposal(), CAL)
        domain.review(record, {"opinion": "non_confirm", "reasons": ["收入超标"], "note": None},
                      REVIEWER, beijing(2026, 3, 31, 9))
    return record


def concluded(at=beijing(2026, 3, 30, 10)) -> dict:
    return {"preliminary_opinion": "approve", "deliberation_held": False,
            "deliberation_conclusion": None, "minutes_document_id": None, "rounds": 1,
            "concluded_at": at}


def proposal(at=beijing(2026, 3, 30, 10)) -> dict:
    return {"reasons": ["人均收入高于低保标准"], "report_id": "r-1", "proposed_at": at}


@pytest.mark.parametrize("accepted_on, delegated_from, authority", [
    (date(2021, 9, 4), date(2021, 9, 4), "street"),
    (date(2021, 9, 3), date(2021, 9, 4), "district"),
    (date(2026, 3, 2), None, "district"),
])
def test_ORG1_route_in_force_on_the_acceptance_day(accepted_on, delegated_from, authority):
    assert domain.deciding_authority(accepted_on, delegated_from) == authority
    assert domain.decider_roles(authority) == (
        ("street_leader",) if authority == "street" else ("district_officer",))


def test_DE4_dibao_opens_30_WD_from_acceptance_and_tekun_has_no_limit():
    record, [de4] = domain.open_decision(accepted(), date(2021, 9, 4), CAL)
    assert record.status == domain.AWAITING_FILE
    assert (de4.rule_id, de4.amount, de4.due_date) == ("DE-4", 30, date(2026, 4, 14))
    assert domain.open_decision(accepted("tekun"), date(2021, 9, 4), CAL)[1] == []


def test_DE1_review_within_2_WD_then_leader_within_3_WD():
    record, _ = domain.open_decision(accepted(), date(2021, 9, 4), CAL)
    review_due = domain.receive_publicity(record, concluded(beijing(2026, 4, 2, 10)), CAL)
    assert record.status == domain.MANAGEMENT_REVIEW
    assert (review_due.rule_id, review_due.due_date) == ("DE-1", date(2026, 4, 7))  # Qingming
    assert domain.review(record, {"opinion": "approve", "reasons": [], "note": None},
                         REVIEWER, beijing(2026, 4, 2, 11)) == domain.HEAD_CONSENT
    leader_due = domain.consent(record, {"note": "同意"}, HEAD, beijing(2026, 4, 2, 12), CAL)
    assert (leader_due.rule_id, leader_due.due_date) == ("DE-1", date(2026, 4, 8))
    assert record.status == domain.LEADER_DECISION
    assert record.details["head_consent"]["by"] == "sgz-head"


def test_DE1_steps_out_of_order_are_409():
    record, _ = domain.open_decision(accepted(), date(2021, 9, 4), CAL)
    with pytest.raises(Conflict) as raised:
        domain.review(record, {"opinion": "approve", "reasons": [], "note": None}, REVIEWER,
                      beijing(2026, 3, 31, 9))
    assert raised.value.code == "invalid_state" and raised.value.http_status == 409
    with pytest.raises(Conflict):
        domain.decide(record, {"outcome": "approve", "reasons": []}, rates_for)


def test_publicity_after_withdrawal_is_ignored_VE5():
    record, _ = domain.open_decision(accepted(), date(2021, 9, 4), CAL)
    assert domain.withdraw(record, {"reason": "未如实申报", "withdrawn_at": beijing(2026, 3, 9)})
    assert domain.receive_publicity(record, concluded(), CAL) is None
    assert record.status == domain.WITHDRAWN


@pytest.mark.parametrize("size, income, expected", [
    (2, 60000, 89000),    # (1045.00 - 600.00) x 2
    (3, 0, 313500),       # no income: the full standard for each member
    (1, 110000, 0),       # income above the standard: no shortfall
])
def test_DE5_dibao_amount_is_the_household_shortfall(size, income, expected):
    amount = domain.monthly_amount("dibao", {"household_size": size,
                                             "income_per_head_fen": income}, RATES)
    assert amount.monthly_fen == expected
    assert [row["id"] for row in amount.view()["policy_rows"]] == [3, 12]


def test_DE5_dibao_minimum_payment_applies():
    rates = {**RATES, "dibao_minimum_payment": rate("dibao_minimum_payment", 5000)}
    amount = domain.monthly_amount("dibao", {"household_size": 1,
                                             "income_per_head_fen": 103000}, rates)
    assert amount.monthly_fen == 5000


@pytest.mark.parametrize("program, self_care, expected", [
    ("low_income", None, 31400),
    ("tekun", "able", 187000),
    ("tekun", "partly_unable", 227000),
    ("tekun", "wholly_unable", 267000),
])
def test_DE5_low_income_and_tekun_amounts(program, self_care, expected):
    facts = {"household_size": 1, "income_per_head_fen": 0, "self_care": self_care}
    keys = domain.rate_keys(program, facts)
    assert domain.monthly_amount(program, facts, rates_for(keys)).monthly_fen == expected


def test_DE5_missing_policy_row_or_verification_is_409():
    with pytest.raises(Conflict) as raised:
        domain.monthly_amount("low_income", {}, {})
    assert raised.value.code == "policy_rate_missing"
    with pytest.raises(Conflict) as raised:
        domain.rate_keys("tekun", {"self_care": None})
    assert (raised.value.code, raised.value.field) == ("verification_missing", "self_care")


def test_DE5_approval_fixes_amount_payee_and_service_deadline():
    record = at_leader()
    decision = domain.decide(record, {"outcome": "approve", "reasons": []}, rates_for)
    assert decision.amount.monthly_fen == 89000
    assert decision.payee["kind"] == "recipient" and decision.payee["name"] == "王秀英"
    now = beijing(2026, 3, 31, 15)
    deadline = domain.record_decision(record, decision, LEADER, now, ["decision:1"], CAL)
    assert (deadline.rule_id, deadline.unit, deadline.due_date) == (
        "DE-5", Unit.WORKING_DAYS, date(2026, 4, 3))
    event = domain.decision_made_event(record, decision, now, "decision:1")
    assert event["outcome"] == "approved" and event["monthly_amount_fen"] == 89000
    assert event["recipients"] == [APPLICANT, SPOUSE] and event["authority"] == "street"
    assert record.status == domain.APPROVED


def test_DE7_refusal_states_reasons_and_is_served_within_3_WD():
    record = at_leader()
    decision = domain.decide(record, {"outcome": "refuse", "reasons": ["家庭财产超标"]},
                             rates_for)
    assert decision.amount is None and decision.reasons == ["家庭财产超标"]
    deadline = domain.record_decision(record, decision, LEADER, beijing(2026, 4, 2, 15),
                                      ["decision:1"], CAL)
    assert (deadline.rule_id, deadline.due_date) == ("DE-7", date(2026, 4, 8))
    event = domain.decision_made_event(record, decision, beijing(2026, 4, 2, 15), "decision:1")
    assert event["monthly_amount_fen"] is None and event["recipients"] == []


def test_DE6_tekun_approval_requires_the_care_arrangement():
    facts = {"household_size": 1, "income_per_head_fen": 0, "self_care": "partly_unable"}
    record = at_leader("tekun", facts)
    with pytest.raises(ValidationFailed) as raised:
        domain.decide(record, {"outcome": "approve", "reasons": []}, rates_for)
    assert raised.value.field == "care_arrangement"
    care = {"care_mode": "dispersed", "guardianship_mode": "relative",
            "caregiver": {"name": "王芳", "id_number": make_id_number(3),
                          "relationship": "女儿", "phone": "13800000000"},
            "responsibilities": "日常生活照料", "agreement_signed": True,
            "agreement_signed_on": date(2026, 3, 30), "payee": "caregiver",
            "payee_account": {"bank": "天津银行", "account_number": "6200000000000009",
                              "holder": "王芳"}}
    decision = domain.decide(record, {"outcome": "approve", "reasons": [],
                                      "care_arrangement": care}, rates_for)
    assert decision.amount.monthly_fen == 227000
    assert decision.payee == {"kind": "caregiver", "name": "王芳",
                              "account": care["payee_account"]}
    assert decision.care_arrangement["agreement_signed_on"] == "2026-03-30"


def test_DE6_care_arrangement_only_on_a_tekun_approval():
    with pytest.raises(ValidationFailed) as raised:
        domain.decide(at_leader(), {"outcome": "approve", "reasons": [],
                                    "care_arrangement": {"payee": "recipient"}}, rates_for)
    assert raised.value.code == "care_arrangement_not_applicable"


def test_VE3_review_goes_to_the_leader_and_only_non_confirmation_is_possible():
    record, _ = domain.open_decision(accepted(), date(2021, 9, 4), CAL)
    deadline = domain.receive_non_confirmation(record, proposal(beijing(2026, 4, 2, 10)), CAL)
    assert (deadline.rule_id, deadline.due_date) == ("VE-3", date(2026, 4, 8))
    with pytest.raises(ValidationFailed) as raised:
        domain.review(record, {"opinion": "approve", "reasons": [], "note": None}, REVIEWER,
                      beijing(2026, 4, 2, 11))
    assert raised.value.field == "opinion"
    assert domain.review(record, {"opinion": "non_confirm", "reasons": ["无说明"],
                                  "note": None}, REVIEWER,
                         beijing(2026, 4, 2, 11)) == domain.LEADER_DECISION
    with pytest.raises(ValidationFailed):
        domain.decide(record, {"outcome": "approve", "reasons": []}, rates_for)
    decision = domain.decide(record, {"outcome": "non_confirm", "reasons": ["无说明"]},
                             rates_for)
    assert domain.record_decision(record, decision, LEADER, beijing(2026, 4, 2, 15),
                                  ["d"], CAL) is None  # VE-3 already runs
    assert record.status == domain.NON_CONFIRMED


def test_DE4_extension_to_45_WD_once_with_reason():
    record, [de4] = domain.open_decision(accepted(), date(2021, 9, 4), CAL)
    extended = domain.extend(record, {"reason": "需补充调查赡养人"}, REVIEWER,
                             beijing(2026, 3, 20), de4, CAL)
    assert (extended.amount, extended.due_date, extended.id) == (45, date(2026, 5, 8), de4.id)
    assert record.details["extension"]["reason"] == "需补充调查赡养人"
    with pytest.raises(Conflict) as raised:
        domain.extend(record, {"reason": "再次"}, REVIEWER, beijing(2026, 3, 21), extended, CAL)
    assert raised.value.code == "already_extended"
    tekun, _ = domain.open_decision(accepted("tekun"), date(2021, 9, 4), CAL)
    with pytest.raises(Conflict) as raised:
        domain.extend(tekun, {"reason": "x"}, REVIEWER, beijing(2026, 3, 20), None, CAL)
    assert raised.value.code == "no_time_limit"


def test_ORG7_service_after_issue_not_in_future_and_once():
    record = at_leader()
    decision = domain.decide(record, {"outcome": "approve", "reasons": []}, rates_for)
    issued = beijing(2026, 3, 31, 15)
    record.details["documents"] = [
        {"document_id": d, "kind": "k", "title": "t", "issued_at": issued.isoformat(),
         "served_at": None} for d in ("letter", "duty")]
    domain.record_decision(record, decision, LEADER, issued, ["letter", "duty"], CAL)
    now = issued + timedelta(days=1)
    with pytest.raises(ValidationFailed) as raised:
        domain.serve(record, "letter", now + timedelta(hours=1), now)
    assert raised.value.field == "served_at"
    with pytest.raises(ValidationFailed):
        domain.serve(record, "other", now, now)
    assert domain.serve(record, "letter", now, now) is False     # the duty notice is not yet
    with pytest.raises(Conflict):
        domain.serve(record, "letter", now, now)
    assert domain.serve(record, "duty", now, now) is True


def test_DE2_announcement_shows_no_id_number():
    record = at_leader()
    decision = domain.decide(record, {"outcome": "approve", "reasons": []}, rates_for)
    domain.record_decision(record, decision, LEADER, beijing(2026, 3, 31, 15), ["d"], CAL)
    shown = domain.announced(record)
    assert shown["name"] == "王秀英" and shown["monthly_amount_fen"] == 89000
    assert APPLICANT["id_number"] not in str(shown)
    assert shown["decided_at"].astimezone(timezone.utc).hour == 7


def test_ORG1_on_the_pre_reform_route_the_district_decision_is_the_district_officers_step():
    from hqcore.casefile import CaseRecord
    from services.supervision.domain import STEP_ROLES

    def record(authority):
        return CaseRecord("c1", "XGU-2021-00001", "dibao", "xigu", domain.LEADER_DECISION,
                          datetime(2021, 10, 11, tzinfo=timezone.utc),
                          {"deciding_authority": authority})
    assert domain.reported_step(record("district")) == "district_decision"
    assert domain.reported_step(record("street")) == "leader_decision"
    assert STEP_ROLES["district_decision"] == {"district_officer"}
    assert STEP_ROLES["leader_decision"] == {"street_leader"}
