"""One branch at each boundary between services, through the gateway's HTTP API with the suite
running as separate processes; deadlines by moving the suite's clock. Each test is about the
events crossing a boundary: verification → decision (a non-confirmation, and the case
closing at intake), verification → intake (a withdrawal), publicity → verification (a
reinvestigation), publicity → decision → payments (a tekun deliberation, and a caregiver paid).
Every branch within a service is in tests/service/test_<service>_steps.py, the rules
themselves in tests/unit."""

import pytest

from gateway.client import GatewayClient
from hqops.samples import make_id_number
from tests.support.plugin import wait_until

PERSONS = {  # people the city platform simulator knows (services/verification/data)
    "car_owner": ("孙丽", "120106196507077313"),  # owns a car
    "tekun": ("陈老汉", "120106195511117811"),  # pension 600 yuan; a mobility aid
}
ACCOUNT = {"bank": "天津银行", "account_number": "6212000098765432", "holder": "户主"}
BASE_MATERIALS = ["household_id_cards", "household_register", "economic_declaration"]


def application(program, street, name, id_number, materials=None):
    person = {"name": name, "id_number": id_number, "relationship": "self"}
    if materials is None:
        materials = BASE_MATERIALS + (["written_application"] if program == "tekun" else [])
    return {
        "program": program,
        "street_code": street,
        "community": "示范社区",
        "applicant": person,
        "members": [{**person, "authorisation_signed": True}],
        "payment_account": {**ACCOUNT, "holder": name},
        "materials_provided": materials,
    }


@pytest.fixture
def api(suite):
    return GatewayClient(suite.url, timeout=30)


def _wait(predicate, timeout=30.0, message=""):
    wait_until(predicate, timeout=timeout, interval=0.2, message=message)


def test_tekun_deliberation_reaches_decision_and_the_caregiver_is_paid_PU2_PU7_DE6(api):
    """publicity → decision (PU-2: tekun always deliberates; PU-7: the minutes) and
    decision → payments (DE-6: the care arrangement names the payee)."""
    api.set_clock("2026-06-01T01:00:00+00:00")
    case_id = api.publicised_case(
        application("tekun", "shaogongzhuang", *PERSONS["tekun"]), "sgz", self_care="partly_unable"
    )
    api.advance_clock("P6D")
    api.wait_for(case_id, "publicity", "deliberation", "sgz-clerk")  # PU-2: tekun deliberates
    api.deliberate(case_id, "shaogongzhuang", "sgz", approved_on="2026-06-07")
    view = api.wait_for(case_id, "decision", "management_review", "sgz-clerk")
    minutes = [d for d in view["documents"] if d["document_id"].startswith("publicity:")]
    assert len(minutes) == 2  # the public notice and the deliberation minutes (PU-7)
    api.review_and_consent(case_id, "sgz")
    api.decide(
        case_id,
        "sgz-leader",
        care_arrangement={
            "care_mode": "dispersed",
            "guardianship_mode": "relative",
            "caregiver": {
                "name": "陈小红",
                "id_number": make_id_number(901, birth="19800101"),
                "relationship": "daughter",
                "phone": "13800000000",
            },
            "responsibilities": "照料日常生活，陪同就医。",
            "agreement_signed": True,
            "agreement_signed_on": "2026-06-09",
            "payee": "caregiver",
            "payee_account": {
                "bank": "天津银行",
                "account_number": "6212000011112222",
                "holder": "陈小红",
            },
        },
    )
    view = api.wait_for(case_id, "payments", "scheduled", "sgz-clerk")
    # basic support 1,870 + care subsidy for partly unable 400 yuan (DE-5, DE-6)
    assert view["services"]["decision"]["details"]["amount"]["monthly_amount_fen"] == 227000
    schedule = view["services"]["payments"]["details"]["schedule"]
    assert (schedule["payee_kind"], schedule["payee_name"]) == ("caregiver", "陈小红")  # PA-1


def test_ineligible_without_explanation_ends_in_a_non_confirmation_decision_VE3(api):
    """verification → decision (VE-3: the proposed non-confirmation) and decision → intake
    (the case closes)."""
    api.set_clock("2026-07-06T01:00:00+00:00")  # Monday
    case_id = api.accepted_case(
        application("dibao", "shaogongzhuang", *PERSONS["car_owner"]), "sgz"
    )
    api.investigate(case_id, "sgz")
    api.check_information(case_id, "sgz")
    api.wait_for(case_id, "verification", "awaiting_explanation", "sgz-clerk")
    api.advance_clock("P7D")  # past the 4 WD to explain
    api.wait_for(case_id, "verification", "non_confirmation_proposed", "sgz-clerk")
    api.wait_for(case_id, "decision", "management_review", "sgz-clerk")
    api.step(
        case_id,
        "review",
        "sgz-reviewer",
        {"opinion": "non_confirm", "reasons": ["家庭成员拥有机动车辆，且未在期限内说明。"]},
    )
    api.decide(
        case_id,
        "sgz-leader",
        outcome="non_confirm",
        reasons=["家庭成员拥有机动车辆，且未在期限内说明。"],
    )
    view = api.wait_for(case_id, "decision", "non_confirmed", "sgz-clerk")
    letter = next(d for d in view["documents"] if d["document_id"].startswith("decision:"))
    assert "不予确认" in letter["title"]
    _wait(
        lambda: api.case(case_id, "sgz-clerk")["case"]["status"] == "closed",
        message="intake to close the case",
    )


def test_untruthful_declaration_not_corrected_is_deemed_withdrawn_VE5(api):
    """verification → intake and decision: a withdrawal closes the case."""
    api.set_clock("2026-08-03T01:00:00+00:00")
    case_id = api.accepted_case(
        application("dibao", "shaogongzhuang", "钱芳", make_id_number(612)), "sgz"
    )
    api.step(
        case_id, "untruthful-declaration", "sgz-clerk", {"detail": "未申报在外务工子女的收入。"}
    )
    api.advance_clock("P10D")
    api.wait_for(case_id, "verification", "withdrawn", "sgz-clerk")
    _wait(
        lambda: api.case(case_id, "sgz-clerk")["case"]["status"] == "closed",
        message="intake to close the case",
    )


def test_objection_sends_the_case_back_and_it_is_publicised_again_PU3(api):
    """publicity → verification (PU-3: an objection reopens the investigation) and back."""
    api.set_clock("2026-08-03T01:00:00+00:00")
    case_id = api.publicised_case(
        application("dibao", "shaogongzhuang", "孔亮", make_id_number(613)), "sgz"
    )
    api.step(
        case_id,
        "objections",
        "sgz-community",
        {"objector": "邻居", "detail": "申请人家中有经营性收入。"},
    )
    api.wait_for(case_id, "verification", "investigation", "sgz-clerk")  # round 2
    api.investigate(case_id, "sgz")
    api.check_information(case_id, "sgz")
    api.wait_for(case_id, "publicity", "awaiting_preliminary_opinion", "sgz-clerk")
    api.publicise(case_id, "sgz")
    api.advance_clock("P6D")
    view = api.wait_for(case_id, "publicity", "deliberation", "sgz-clerk")  # disputed: PU-2
    assert len(view["services"]["publicity"]["details"]["rounds"]) == 2
