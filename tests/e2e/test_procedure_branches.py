"""Every program's approval path and every branch of the procedure, through the gateway's HTTP
API with the suite running as separate processes; deadlines by moving the suite's clock."""
import pytest

from gateway.client import GatewayClient, StepFailed
from hqcore.testing import make_id_number, wait_until

PERSONS = {  # people the city platform simulator knows (services/verification/data)
    "low_income": ("张伟", "120106198501017116"),    # wages 1,300 yuan: the low-income band
    "too_rich": ("赵强", "120106197005057210"),       # wages 3,000 yuan
    "car_owner": ("孙丽", "120106196507077313"),      # owns a car
    "tekun": ("陈老汉", "120106195511117811"),         # pension 600 yuan; a mobility aid
}
ACCOUNT = {"bank": "天津银行", "account_number": "6212000098765432", "holder": "户主"}
BASE_MATERIALS = ["household_id_cards", "household_register", "economic_declaration"]


def application(program, street, name, id_number, materials=None):
    person = {"name": name, "id_number": id_number, "relationship": "self"}
    if materials is None:
        materials = BASE_MATERIALS + (["written_application"] if program == "tekun" else [])
    return {"program": program, "street_code": street, "community": "示范社区",
            "applicant": person, "members": [{**person, "authorisation_signed": True}],
            "payment_account": {**ACCOUNT, "holder": name}, "materials_provided": materials}


@pytest.fixture
def api(suite):
    return GatewayClient(suite.url, timeout=30)


def accepted_case(api, program, street, prefix, name, id_number):
    return api.accepted_case(application(program, street, name, id_number), prefix)


def verified_case(api, program, street, prefix, name, id_number, self_care=None):
    return api.verified_case(application(program, street, name, id_number), prefix, self_care)


def publicised_case(api, program, street, prefix, name, id_number, self_care=None):
    return api.publicised_case(application(program, street, name, id_number), prefix,
                               self_care)


def reviewed_case(api, program, street, prefix, name, id_number):
    return api.reviewed_case(application(program, street, name, id_number), prefix)


def deadline(view, rule_id):
    return next(d for service in view["services"].values()
                for d in service.get("deadlines", []) if d["rule_id"] == rule_id)


def test_low_income_approval_pays_the_household_aid_DE5_PA1(api):
    api.set_clock("2026-06-01T01:00:00+00:00")
    case_id = reviewed_case(api, "low_income", "shuanghuancun", "shc", *PERSONS["low_income"])
    api.decide(case_id, "shc-leader")
    view = api.wait_for(case_id, "payments", "scheduled", "shc-clerk")
    assert view["services"]["decision"]["details"]["amount"]["monthly_amount_fen"] == 31400
    payments = api.call("GET", "/api/v1/payments?month=2026-07", "shc-clerk")["payments"]
    assert case_id in {p["case_id"] for p in payments}


def test_tekun_always_deliberates_and_approval_fixes_the_care_arrangement_PU2_PU7_DE6(api):
    api.set_clock("2026-06-01T01:00:00+00:00")
    case_id = publicised_case(api, "tekun", "shaogongzhuang", "sgz", *PERSONS["tekun"],
                              self_care="partly_unable")
    api.advance_clock("P6D")
    api.wait_for(case_id, "publicity", "deliberation", "sgz-clerk")  # PU-2: tekun deliberates
    api.deliberate(case_id, "shaogongzhuang", "sgz", approved_on="2026-06-07")
    view = api.wait_for(case_id, "decision", "management_review", "sgz-clerk")
    minutes = [d for d in view["documents"] if d["document_id"].startswith("publicity:")]
    assert len(minutes) == 2  # the public notice and the deliberation minutes (PU-7)
    api.review_and_consent(case_id, "sgz")
    with pytest.raises(StepFailed) as refused:
        api.decide(case_id, "sgz-leader")
    assert (refused.value.status, refused.value.error["field"]) == (400, "care_arrangement")
    api.decide(case_id, "sgz-leader", care_arrangement={
        "care_mode": "dispersed", "guardianship_mode": "relative",
        "caregiver": {"name": "陈小红", "id_number": make_id_number(901, birth="19800101"),
                      "relationship": "daughter", "phone": "13800000000"},
        "responsibilities": "照料日常生活，陪同就医。", "agreement_signed": True,
        "agreement_signed_on": "2026-06-09", "payee": "caregiver",
        "payee_account": {"bank": "天津银行", "account_number": "6212000011112222",
                          "holder": "陈小红"}})
    view = api.wait_for(case_id, "payments", "scheduled", "sgz-clerk")
    # basic support 1,870 + care subsidy for partly unable 400 yuan (DE-5, DE-6)
    assert view["services"]["decision"]["details"]["amount"]["monthly_amount_fen"] == 227000
    schedule = view["services"]["payments"]["details"]["schedule"]
    assert (schedule["payee_kind"], schedule["payee_name"]) == ("caregiver", "陈小红")  # PA-1


def test_incomplete_materials_get_one_notice_and_the_clock_starts_at_acceptance_IN6(api):
    api.set_clock("2026-06-15T01:00:00+00:00")  # Monday
    name, id_number = "何静", make_id_number(611)
    incomplete = application("dibao", "shaogongzhuang", name, id_number,
                             materials=["household_id_cards"])
    case = api.submit(incomplete, "sgz-community")
    assert case["status"] == "awaiting_materials"
    missing = {item["item"] for item in case["materials_missing"]}
    assert {"household_register", "economic_declaration"} <= missing
    worklist = api.call("GET", "/api/v1/worklist", "sgz-clerk")["awaiting_materials"]
    assert case["case_no"] in {c["case_no"] for c in worklist}
    [notice] = case["documents"]
    html = api.call("GET", f"/api/v1/documents/{notice['document_id']}", "sgz-clerk")
    assert "户口" in html and "经济状况" in html  # every missing item, in one notice

    api.advance_clock("P2D")  # Wednesday: the family brings the rest
    api.step(case["case_id"], "materials", "sgz-community", {"materials": sorted(missing)})
    view = api.wait_for(case["case_id"], "verification", "investigation", "sgz-clerk")
    worklist = api.call("GET", "/api/v1/worklist", "sgz-clerk")["awaiting_materials"]
    assert case["case_no"] not in {c["case_no"] for c in worklist}
    # VE-1: 3 WD from Wednesday's acceptance, across the Dragon Boat Festival (Friday 06-19)
    assert deadline(view, "VE-1")["due_date"] == "2026-06-23"


def test_ineligible_with_an_accepted_explanation_resumes_VE3(api):
    api.set_clock("2026-07-06T01:00:00+00:00")
    case_id = accepted_case(api, "dibao", "shaogongzhuang", "sgz", *PERSONS["too_rich"])
    api.investigate(case_id, "sgz")
    api.check_information(case_id, "sgz")
    view = api.wait_for(case_id, "verification", "awaiting_explanation", "sgz-clerk")
    assert deadline(view, "VE-3")["amount"] == 4
    api.step(case_id, "explanation", "sgz-clerk", {
        "explanation": "工资已于上月停发，提供离职证明。", "accepted": True})
    api.wait_for(case_id, "publicity", "awaiting_preliminary_opinion", "sgz-clerk")


def test_ineligible_without_explanation_ends_in_a_non_confirmation_decision_VE3(api):
    api.set_clock("2026-07-06T01:00:00+00:00")  # Monday
    case_id = accepted_case(api, "dibao", "shaogongzhuang", "sgz", *PERSONS["car_owner"])
    api.investigate(case_id, "sgz")
    api.check_information(case_id, "sgz")
    api.wait_for(case_id, "verification", "awaiting_explanation", "sgz-clerk")
    api.advance_clock("P7D")  # past the 4 WD to explain
    api.wait_for(case_id, "verification", "non_confirmation_proposed", "sgz-clerk")
    api.wait_for(case_id, "decision", "management_review", "sgz-clerk")
    api.step(case_id, "review", "sgz-reviewer",
             {"opinion": "non_confirm", "reasons": ["家庭成员拥有机动车辆，且未在期限内说明。"]})
    api.decide(case_id, "sgz-leader", outcome="non_confirm",
               reasons=["家庭成员拥有机动车辆，且未在期限内说明。"])
    view = api.wait_for(case_id, "decision", "non_confirmed", "sgz-clerk")
    letter = next(d for d in view["documents"] if d["document_id"].startswith("decision:"))
    assert "不予确认" in letter["title"]
    _wait(lambda: api.case(case_id, "sgz-clerk")["case"]["status"] == "closed")


def test_untruthful_declaration_not_corrected_is_deemed_withdrawn_VE5(api):
    api.set_clock("2026-08-03T01:00:00+00:00")
    case_id = accepted_case(api, "dibao", "shaogongzhuang", "sgz", "钱芳", make_id_number(612))
    api.step(case_id, "untruthful-declaration", "sgz-clerk",
             {"detail": "未申报在外务工子女的收入。"})
    api.advance_clock("P10D")
    api.wait_for(case_id, "verification", "withdrawn", "sgz-clerk")
    _wait(lambda: api.case(case_id, "sgz-clerk")["case"]["status"] == "closed")


def test_objection_sends_the_case_back_and_it_is_publicised_again_PU3(api):
    api.set_clock("2026-08-03T01:00:00+00:00")
    case_id = publicised_case(api, "dibao", "shaogongzhuang", "sgz", "孔亮", make_id_number(613))
    api.step(case_id, "objections", "sgz-community",
             {"objector": "邻居", "detail": "申请人家中有经营性收入。"})
    api.wait_for(case_id, "verification", "investigation", "sgz-clerk")  # round 2
    api.investigate(case_id, "sgz")
    api.check_information(case_id, "sgz")
    api.wait_for(case_id, "publicity", "awaiting_preliminary_opinion", "sgz-clerk")
    api.publicise(case_id, "sgz")
    api.advance_clock("P6D")
    view = api.wait_for(case_id, "publicity", "deliberation", "sgz-clerk")  # disputed: PU-2
    assert len(view["services"]["publicity"]["details"]["rounds"]) == 2


def test_major_dispute_requires_a_new_opinion_within_10_working_days_PU4(api):
    api.set_clock("2026-09-21T01:00:00+00:00")  # Monday before the National Day holiday
    case_id = publicised_case(api, "dibao", "shaogongzhuang", "sgz", "严伟", make_id_number(614))
    api.step(case_id, "major-disputes", "sgz-clerk",
             {"source": "complaint", "detail": "群众来信反映申请人隐瞒房产。"})
    view = api.wait_for(case_id, "verification", "investigation", "sgz-clerk")
    pu4 = deadline(view, "PU-4")
    # 10 WD from Monday 2026-09-21 across Mid-Autumn (Friday 09-25) and National Day (10-01 to
    # 10-07), with Saturday 10-10 a make-up working day: 09-22..24, 09-28..30, 10-08, 10-09,
    # 10-10, 10-12.
    assert (pu4["amount"], pu4["due_date"]) == (10, "2026-10-12")


def test_refusal_is_served_in_writing_with_reasons_within_3_working_days_DE7(api):
    api.set_clock("2026-10-12T01:00:00+00:00")
    case_id = reviewed_case(api, "dibao", "shaogongzhuang", "sgz", "曹雪", make_id_number(615))
    api.decide(case_id, "sgz-leader", outcome="refuse", reasons=["共同生活的家庭成员有稳定收入。"])
    view = api.wait_for(case_id, "decision", "refused", "sgz-clerk")
    de7 = deadline(view, "DE-7")
    assert (de7["amount"], de7["status"]) == (3, "open")
    notice = next(d for d in view["documents"] if d["document_id"].startswith("decision:"))
    html = api.call("GET", f"/api/v1/documents/{notice['document_id']}", "sgz-clerk")
    assert "共同生活的家庭成员有稳定收入" in html
    clock = api.call("GET", "/api/v1/clock")
    api.step(case_id, "service", "sgz-clerk",
             {"document_id": notice["document_id"], "served_at": clock["now"]})
    view = api.case(case_id, "sgz-clerk")
    assert deadline(view, "DE-7")["status"] == "met"
    assert view["services"]["payments"]["status"] != "scheduled"


def test_extension_moves_the_limit_from_30_to_45_working_days_DE4(api):
    api.set_clock("2026-10-12T01:00:00+00:00")
    case_id = accepted_case(api, "dibao", "shaogongzhuang", "sgz", "魏东", make_id_number(616))
    assert deadline(api.case(case_id, "sgz-clerk"), "DE-4")["amount"] == 30
    api.step(case_id, "extension", "sgz-reviewer", {"reason": "需补充调查赡养人收入。"})
    assert deadline(api.case(case_id, "sgz-clerk"), "DE-4")["amount"] == 45
    with pytest.raises(StepFailed) as again:
        api.step(case_id, "extension", "sgz-reviewer", {"reason": "再次延期。"})
    assert again.value.status == 409


def test_a_street_not_yet_delegated_is_decided_by_the_district_ORG1(api):
    api.set_clock("2021-10-11T01:00:00+00:00")  # Xigu is delegated from 2022-01-01
    case_id = reviewed_case(api, "dibao", "xigu", "xgu", "蒋平", make_id_number(617))
    view = api.case(case_id, "xgu-clerk")
    assert view["services"]["decision"]["details"]["deciding_authority"] == "district"
    _wait(lambda: case_id in {item["case_id"] for item in api.call(
        "GET", "/api/v1/worklist?per_page=100", "district-officer")["items"]})
    with pytest.raises(StepFailed) as street_leader:
        api.decide(case_id, "xgu-leader")
    assert street_leader.value.status == 403
    api.decide(case_id, "district-officer")
    view = api.wait_for(case_id, "payments", "scheduled", "xgu-clerk")
    # no income, one person, the 2020-09-01 standard of 1,010 yuan
    assert view["services"]["decision"]["details"]["amount"]["monthly_amount_fen"] == 101000


def _wait(predicate, timeout=30.0):
    wait_until(predicate, timeout=timeout, interval=0.2)


def test_the_monthly_roster_and_report_are_filed_before_the_25th_DE3(api):
    # May 2026 in Shuanghuancun: no other test of this suite approves a case there then.
    api.set_clock("2026-05-04T01:00:00+00:00")
    case_id = reviewed_case(api, "dibao", "shuanghuancun", "shc", "范丽", make_id_number(618))
    api.decide(case_id, "shc-leader")
    api.wait_for(case_id, "payments", "scheduled", "shc-clerk")
    key = "roster:shuanghuancun:2026-05"

    def roster_deadline(status):
        page = api.call("GET", f"/api/v1/deadlines?per_page=100&status={status}",
                        "shc-reviewer")
        return [d for d in page["items"] if d["case_id"] == key]
    [due] = wait_until(lambda: roster_deadline("open"), timeout=15,
                       message="the DE-3 filing deadline")
    assert due["rule_id"] == "DE-3"
    assert due["due_at"] == "2026-05-24T16:00:00+00:00"  # before 00:00 on the 25th, Tianjin

    with pytest.raises(StepFailed) as other_street:
        api.call("POST", "/api/v1/streets/shuanghuancun/monthly-reports", "sgz-reviewer",
                 {"month": "2026-05"}, expect=201)
    assert other_street.value.status == 403
    filed = api.call("POST", "/api/v1/streets/shuanghuancun/monthly-reports", "shc-reviewer",
                     {"month": "2026-05"}, expect=201)
    assert filed["on_time"] is True and filed["households"] == 1
    html = api.call("GET", f"/api/v1/documents/{filed['document_id']}", "district-officer")
    assert "花名册" in html and "范丽" in html
    with pytest.raises(StepFailed) as again:
        api.call("POST", "/api/v1/streets/shuanghuancun/monthly-reports", "shc-reviewer",
                 {"month": "2026-05"}, expect=201)
    assert (again.value.status, again.value.error["code"]) == (409, "already_filed")
    wait_until(lambda: roster_deadline("met"), timeout=15, message="DE-3 to be met")
