"""Verification's pure rules: VE-1 to VE-5 and the means test (reference-data.md); and its
gateway routes over Flask's test client with a fake RPC client."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import date, datetime, timezone

import pytest

from gateway import create_app
from hqcore.authz import Actor
from hqcore.calendar import WorkingCalendar
from hqcore.config import Settings
from hqcore.contracts import load_rpc_request
from hqcore.contracts.registry import event_schema
from hqcore.errors import Conflict, InvalidState, ValidationFailed
from hqcore.policy import PolicyRate
from hqops.samples import make_id_number
from services.verification import domain
from services.verification.domain import (
    Company,
    Person,
    PersonFindings,
    Property,
    Vehicle,
    VerificationReport,
)

NOW = datetime(2026, 2, 12, 2, 0, tzinfo=timezone.utc)  # Thursday, 10:00 in Tianjin
STREET = "shaogongzhuang"
MEMBER_A, MEMBER_B, OBLIGOR = make_id_number(11), make_id_number(12), make_id_number(13)
INVESTIGATOR_1 = Actor("sgz-investigator-1", "investigator", STREET, "甲")
INVESTIGATOR_2 = Actor("sgz-investigator-2", "investigator", STREET, "乙")
CLERK = Actor("sgz-clerk", "clerk", STREET)
POLICY = {
    "dibao_standard": PolicyRate(
        2,
        "dibao_standard",
        "fen_per_person_month",
        104500,
        date(2025, 9, 1),
        None,
        "津民规〔2025〕6号",
        True,
    ),
    "low_income_upper_ratio_permille": PolicyRate(
        3, "low_income_upper_ratio_permille", "permille", 1500, date(2016, 1, 1), None, "2016", True
    ),
    "money_assets_months_per_head": PolicyRate(
        4, "money_assets_months_per_head", "months", 24, date(2013, 1, 1), None, "2013", True
    ),
}


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def accepted(program: str = "dibao", members=(MEMBER_A,)) -> dict:
    people = [
        {"name": f"成员{i}", "id_number": n, "relationship": "self" if i == 0 else "spouse"}
        for i, n in enumerate(members)
    ]
    return {
        "case_id": "case-1",
        "case_no": "SGZ-2026-00001",
        "program": program,
        "street_code": STREET,
        "community": "前园社区",
        "applicant": people[0],
        "members": people,
        "near_relative": False,
        "accepted_at": NOW,
        "obligors": [
            {
                "name": "赡养人",
                "id_number": OBLIGOR,
                "relationship": "child",
                "authorisation_signed": True,
                "family_members": [
                    {
                        "name": "赡养人配偶",
                        "id_number": make_id_number(14),
                        "relationship": "spouse",
                    }
                ],
            }
        ],
    }


def investigation(*actors: Actor, self_care=None) -> dict:
    return {
        "investigators": [a.to_dict() for a in actors],
        "methods": ["household_visit"],
        "findings": "家中陈设简陋",
        "applicant_signed": True,
        "self_care": self_care,
    }


def opened(program: str = "dibao", members=(MEMBER_A,)) -> domain.VerificationCase:
    case, _ = domain.open_verification(accepted(program, members), WorkingCalendar())
    return case


def investigate(case: domain.VerificationCase, request: dict, actor: Actor):
    return domain.record_investigation(
        case,
        request["investigators"],
        request["methods"],
        request["findings"],
        request["self_care"],
        actor,
        NOW,
    )


def report(*findings: PersonFindings) -> VerificationReport:
    return VerificationReport("R-1", "CITY-1", NOW, findings)


def assess(program: str, *findings: PersonFindings, members=(MEMBER_A,)) -> domain.MeansTest:
    people = [Person("成员", n, "self") for n in members]
    return domain.means_test(program, people, report(*findings), POLICY, date(2026, 2, 12))


# -- VE-1 ----------------------------------------------------------------------------------


def test_VE1_dibao_investigation_due_within_3_working_days_across_spring_festival(calendar):
    case, effects = domain.open_verification(accepted("dibao"), calendar)
    assert case.status == domain.INVESTIGATION and case.round == 1
    [deadline] = effects.opened
    assert (deadline.rule_id, deadline.amount, deadline.due_date) == ("VE-1", 3, date(2026, 2, 24))
    assert [(p.action, p.rule_id) for p in effects.progress] == [
        ("household registered; investigation due", "VE-1")
    ]


def test_VE1_tekun_investigation_due_within_15_working_days(calendar):
    _, effects = domain.open_verification(accepted("tekun"), calendar)
    [deadline] = effects.opened
    assert (deadline.amount, deadline.due_date) == (15, date(2026, 3, 11))


def test_VE1_household_keeps_members_obligors_and_their_families():
    case = opened(members=(MEMBER_A, MEMBER_B))
    persons = domain.persons_to_check(case)
    assert [(p["id_number"], p["role"]) for p in persons] == [
        (MEMBER_A, "member"),
        (MEMBER_B, "member"),
        (OBLIGOR, "obligor"),
        (make_id_number(14), "obligor_family"),
    ]
    assert case.obligors[0].authorisation_signed is True


def test_VE1_contract_needs_at_least_two_distinct_investigators():
    base = {"case_id": "c", **investigation(INVESTIGATOR_1, INVESTIGATOR_2)}
    load_rpc_request("verification.record_investigation", base)
    for investigators in (
        [INVESTIGATOR_1.to_dict()],
        [INVESTIGATOR_1.to_dict(), INVESTIGATOR_1.to_dict()],
    ):
        with pytest.raises(ValidationFailed) as err:
            load_rpc_request(
                "verification.record_investigation", {**base, "investigators": investigators}
            )
        assert err.value.field == "investigators"


def test_VE4_contract_needs_the_applicants_signature_and_known_methods():
    base = {"case_id": "c", **investigation(INVESTIGATOR_1, INVESTIGATOR_2)}
    with pytest.raises(ValidationFailed) as err:
        load_rpc_request("verification.record_investigation", {**base, "applicant_signed": False})
    assert err.value.field == "applicant_signed"
    with pytest.raises(ValidationFailed) as err:
        load_rpc_request("verification.record_investigation", {**base, "methods": ["phone"]})
    assert err.value.field.startswith("methods")


def test_VE1_acting_investigator_must_be_in_the_group_of_the_streets_investigators():
    case = opened()
    other = Actor("sgz-investigator-3", "investigator", STREET)
    with pytest.raises(ValidationFailed) as err:
        investigate(case, investigation(INVESTIGATOR_1, INVESTIGATOR_2), other)
    assert err.value.code == "acting_investigator_not_listed"
    for stranger in (Actor("xgu-investigator-1", "investigator", "xigu"), CLERK):
        with pytest.raises(ValidationFailed) as err:
            investigate(case, investigation(INVESTIGATOR_1, stranger), INVESTIGATOR_1)
        assert err.value.code == "not_a_street_investigator"
    assert case.status == domain.INVESTIGATION


def test_VE1_investigation_moves_to_information_check_and_only_once():
    case = opened()
    effects = investigate(case, investigation(INVESTIGATOR_1, INVESTIGATOR_2), INVESTIGATOR_1)
    assert case.status == domain.INFORMATION_CHECK
    assert [m.rule_id for m in effects.met] == ["VE-1"]
    recorded = case.current_round.investigation
    assert recorded is not None and recorded.investigators[1].user_id == "sgz-investigator-2"
    with pytest.raises(InvalidState) as err:
        investigate(case, investigation(INVESTIGATOR_1, INVESTIGATOR_2), INVESTIGATOR_1)
    assert err.value.code == "invalid_state"
    assert err.value.details == {
        "status": domain.INFORMATION_CHECK,
        "allowed": [domain.INVESTIGATION],
    }


def test_VE1_tekun_investigation_assesses_self_care():
    case = opened("tekun")
    with pytest.raises(ValidationFailed) as err:
        investigate(case, investigation(INVESTIGATOR_1, INVESTIGATOR_2), INVESTIGATOR_1)
    assert err.value.field == "self_care"
    investigate(
        case,
        investigation(INVESTIGATOR_1, INVESTIGATOR_2, self_care="partly_unable"),
        INVESTIGATOR_1,
    )
    recorded = case.current_round.investigation
    assert recorded is not None and recorded.self_care == "partly_unable"


# -- VE-2 ----------------------------------------------------------------------------------


def test_VE2_check_goes_pre_review_then_district_then_city():
    case = opened()
    with pytest.raises(InvalidState):
        domain.record_check(case, "pre_review", "ok", CLERK, NOW)
    investigate(case, investigation(INVESTIGATOR_1, INVESTIGATOR_2), INVESTIGATOR_1)
    with pytest.raises(InvalidState):
        domain.record_check(case, "district_review", "ok", CLERK, NOW)
    effects = domain.record_check(case, "pre_review", "材料齐全", CLERK, NOW)
    assert case.status == domain.DISTRICT_CHECK
    assert [(p.action, p.rule_id, p.note) for p in effects.progress] == [
        ("pre-reviewed; sent to the district verification agency", "VE-2", "材料齐全")
    ]
    domain.record_check(
        case, "district_review", "同意", Actor("district-officer", "district_officer", None), NOW
    )
    assert case.status == domain.CITY_CHECK
    assert [c.stage for c in case.current_round.checks] == ["pre_review", "district_review"]
    assert domain.city_reference(case) == "case-1/1"


# -- the means test ------------------------------------------------------------------------


def test_means_test_dibao_income_per_head_below_the_standard():
    result = assess(
        "dibao",
        PersonFindings(MEMBER_A, pension_fen=100000),
        PersonFindings(MEMBER_B, wages_fen=109000),
        members=(MEMBER_A, MEMBER_B),
    )
    assert result.income_household_fen == 209000 and result.income_per_head_fen == 104500
    assert not result.eligible  # exactly the standard is not below it
    assert result.reasons == [domain.REASONS["income"]]
    assert assess("dibao", PersonFindings(MEMBER_A, wages_fen=104499)).eligible


def test_means_test_low_income_band_is_from_the_standard_to_below_one_and_a_half():
    assert not assess("low_income", PersonFindings(MEMBER_A, wages_fen=104499)).eligible
    assert assess("low_income", PersonFindings(MEMBER_A, wages_fen=104500)).eligible
    assert assess("low_income", PersonFindings(MEMBER_A, wages_fen=156749)).eligible
    result = assess("low_income", PersonFindings(MEMBER_A, wages_fen=156750))
    assert not result.eligible and result.reasons == [domain.REASONS["low_income_band"]]
    assert result.low_income_upper_fen == 156750


def test_means_test_tekun_income_below_the_standard():
    assert assess("tekun", PersonFindings(MEMBER_A, pension_fen=104499)).eligible
    assert not assess("tekun", PersonFindings(MEMBER_A, pension_fen=104500)).eligible


def test_means_test_money_assets_at_most_24_months_of_the_standard_per_head():
    limit = 24 * 104500 * 2
    at_limit = assess(
        "dibao",
        PersonFindings(MEMBER_A, deposits_fen=limit - 1000),
        PersonFindings(MEMBER_B, securities_fen=1000),
        members=(MEMBER_A, MEMBER_B),
    )
    assert at_limit.eligible and at_limit.money_assets_limit_fen == limit
    over = assess(
        "dibao", PersonFindings(MEMBER_A, deposits_fen=limit + 1), members=(MEMBER_A, MEMBER_B)
    )
    assert over.reasons == [domain.REASONS["money_assets"]]


@pytest.mark.parametrize(
    "finding, reason",
    [
        (PersonFindings(MEMBER_A, vehicles=(Vehicle("津A1", mobility_aid=False),)), "vehicle"),
        (
            PersonFindings(
                MEMBER_A, properties=(Property("residential", 50), Property("residential", 40))
            ),
            "homes",
        ),
        (
            PersonFindings(MEMBER_A, properties=(Property("non_residential", 20),)),
            "non_residential",
        ),
        (PersonFindings(MEMBER_A, companies=(Company("某公司", 100),)), "company"),
    ],
)
def test_means_test_car_homes_non_residential_property_or_company_disqualify(finding, reason):
    result = assess("dibao", finding)
    assert not result.eligible and result.reasons == [domain.REASONS[reason]]


def test_means_test_mobility_aid_one_home_and_obligors_do_not_disqualify():
    result = assess(
        "dibao",
        PersonFindings(
            MEMBER_A,
            vehicles=(Vehicle("津C残1", mobility_aid=True),),
            properties=(Property("residential", 50),),
        ),
        PersonFindings(OBLIGOR, wages_fen=900000, vehicles=(Vehicle("津A2"),)),
    )
    assert result.eligible and result.income_household_fen == 0


def test_means_test_records_the_policy_rows_it_used():
    figures = assess("dibao", PersonFindings(MEMBER_A)).figures()
    assert figures["standard_fen"] == 104500 and figures["assessed_on"] == "2026-02-12"
    assert [(r["id"], r["key"], r["valid_from"], r["value"]) for r in figures["policy_rows"]] == [
        (2, "dibao_standard", "2025-09-01", 104500),
        (3, "low_income_upper_ratio_permille", "2016-01-01", 1500),
        (4, "money_assets_months_per_head", "2013-01-01", 24),
    ]
    assert figures["policy_rows"][0] == POLICY["dibao_standard"].used()


# -- VE-3 ----------------------------------------------------------------------------------


def at_city_check(program="dibao") -> domain.VerificationCase:
    case = opened(program)
    investigate(
        case, investigation(INVESTIGATOR_1, INVESTIGATOR_2, self_care="able"), INVESTIGATOR_1
    )
    domain.record_check(case, "pre_review", "ok", CLERK, NOW)
    domain.record_check(case, "district_review", "ok", CLERK, NOW)
    return case


def test_VE2_eligible_report_verifies_and_the_event_matches_its_contract(calendar):
    case = at_city_check()
    the_report = report(PersonFindings(MEMBER_A, pension_fen=50000, deposits_fen=10000))
    result = domain.means_test(
        "dibao", case.members, the_report, POLICY, domain.acceptance_day(case)
    )
    effects = domain.apply_report(case, the_report, result, NOW, calendar, "w-1")
    assert case.status == domain.VERIFIED and effects.opened == [] and effects.documents == []
    checked_report = case.current_round.report
    assert checked_report is not None
    assert checked_report.persons[0].income.total_fen == 50000
    assert checked_report.persons[0].money_assets.total_fen == 10000
    [event] = effects.events
    assert event.event_type == "verification.completed"
    schema = event_schema("verification.completed", 1)
    assert schema.load(schema.dump(event.payload))["income_per_head_fen"] == 50000
    assert event.payload["round"] == 1 and event.payload["report_id"] == "R-1"


def test_VE3_not_eligible_awaits_an_explanation_window_of_4_working_days(calendar):
    case = at_city_check()
    the_report = report(PersonFindings(MEMBER_A, wages_fen=500000))
    result = domain.means_test(
        "dibao", case.members, the_report, POLICY, domain.acceptance_day(case)
    )
    effects = domain.apply_report(case, the_report, result, NOW, calendar, "d-1")
    assert case.status == domain.AWAITING_EXPLANATION and effects.events == []
    [deadline] = effects.opened
    assert (deadline.id, deadline.rule_id, deadline.due_date) == ("d-1", "VE-3", date(2026, 2, 25))
    [notice] = effects.documents
    assert (notice.kind, notice.served_at) == ("ineligibility_notice", NOW)
    assert notice.context["reasons"] == [domain.REASONS["income"]]
    assert case.current_round.explanation_deadline_id == "d-1"
    with pytest.raises(Conflict):
        domain.end_explanation_window(case, "an-earlier-window", NOW)
    effects = domain.end_explanation_window(case, "d-1", NOW)
    assert case.status == domain.NON_CONFIRMATION_PROPOSED
    [event] = effects.events
    assert event.payload["reasons"] == [domain.REASONS["income"]]
    schema = event_schema("verification.non_confirmation_proposed", 1)
    schema.load(schema.dump(event.payload))


@pytest.mark.parametrize(
    "accepted_, status, event_type",
    [
        (True, domain.VERIFIED, "verification.completed"),
        (False, domain.NON_CONFIRMATION_PROPOSED, "verification.non_confirmation_proposed"),
    ],
)
def test_VE3_explanation_accepted_verifies_rejected_proposes_non_confirmation(
    calendar, accepted_, status, event_type
):
    case = at_city_check()
    with pytest.raises(InvalidState):
        domain.record_explanation(case, "说明", True, CLERK, NOW)
    domain.apply_report(
        case,
        report(),
        domain.MeansTest(False, ["x"], "dibao", date(2026, 2, 12), 1, 0, 0, 0, 0, 104500, 156750),
        NOW,
        calendar,
        "w-1",
    )
    effects = domain.record_explanation(case, "工资已停发", accepted_, CLERK, NOW)
    assert case.status == status
    assert [e.event_type for e in effects.events] == [event_type]
    assert [m.rule_id for m in effects.met] == ["VE-3"]


# -- VE-5 and reinvestigation --------------------------------------------------------------


def test_VE5_correction_resumes_where_the_case_was(calendar):
    case = at_city_check()
    effects = domain.record_untruthful_declaration(case, "未申报车辆", CLERK, NOW, calendar, "w")
    assert case.status == domain.AWAITING_CORRECTION
    [deadline] = effects.opened
    assert (deadline.id, deadline.due_date) == ("w", date(2026, 2, 26))
    assert [d.kind for d in effects.documents] == ["correction_notice"]
    effects = domain.record_correction(case, "已补充申报", CLERK, NOW)
    assert case.status == domain.CITY_CHECK
    assert [m.rule_id for m in effects.met] == ["VE-5"]
    assert effects.progress[0].action == "declaration corrected; resumes at city_check"


def test_VE5_uncorrected_declaration_is_deemed_withdrawn(calendar):
    case = at_city_check()
    domain.record_untruthful_declaration(case, "未申报存款", CLERK, NOW, calendar, "d-5")
    with pytest.raises(Conflict):
        domain.end_correction_window(case, "another-window", NOW, NOW)
    effects = domain.end_correction_window(case, "d-5", NOW, NOW)
    assert case.status == domain.WITHDRAWN and effects.meet_all
    assert effects.progress[0].closed is True
    assert [d.kind for d in effects.documents] == ["withdrawal_notice"]
    with pytest.raises(InvalidState):
        domain.record_untruthful_declaration(case, "again", CLERK, NOW, calendar, "d-6")
    [event] = effects.events
    schema = event_schema("verification.withdrawn", 1)
    assert "未申报存款" in schema.load(schema.dump(event.payload))["reason"]


def test_PU3_reinvestigation_opens_round_two_only_for_a_verified_case(calendar):
    case = at_city_check()
    assert domain.reopen_for_reinvestigation(case, "objection", "x", NOW, calendar).save is False
    domain.apply_report(
        case, report(), assess("dibao", PersonFindings(MEMBER_A)), NOW, calendar, "w"
    )
    effects = domain.reopen_for_reinvestigation(case, "objection", "有车", NOW, calendar)
    assert effects.save and (case.status, case.round) == (domain.INVESTIGATION, 2)
    assert case.current_round.investigation is None
    assert domain.city_reference(case) == "case-1/2"
    [deadline] = effects.opened
    assert deadline.rule_id == "VE-1"
    assert [(p.action, p.rule_id) for p in effects.progress] == [
        ("reinvestigation requested: round 2", "PU-3")
    ]


def test_PU4_major_dispute_reinvestigation_is_recorded_under_PU4(calendar):
    case = at_city_check()
    domain.apply_report(
        case, report(), assess("dibao", PersonFindings(MEMBER_A)), NOW, calendar, "w"
    )
    effects = domain.reopen_for_reinvestigation(case, "major_dispute", "举报", NOW, calendar)
    assert effects.progress[0].rule_id == "PU-4" and case.rounds[1].cause == "major_dispute"


def test_contract_rejects_unknown_fields():
    with pytest.raises(ValidationFailed):
        load_rpc_request(
            "verification.pre_review",
            {"case_id": "c", "opinion": "ok", "authorisations_complete": True, "surprise": 1},
        )
    with pytest.raises(ValidationFailed) as err:
        load_rpc_request(
            "verification.pre_review",
            {"case_id": "c", "opinion": "ok", "authorisations_complete": False},
        )
    assert err.value.field == "authorisations_complete"


# -- the gateway's routes (fake RPC, no broker) ---------------------------------------------


class FakeRpc:
    """Records the calls and answers every step with ``answer``."""

    def __init__(self, answer: dict):
        self.answer, self.calls = answer, []

    def call_async(self, service, method, timeout=None, **kwargs):
        self.calls.append((service, method, kwargs))
        future = Future()
        future.set_result(self.answer)
        return future


@pytest.fixture
def gateway_rpc():
    return FakeRpc(
        {
            "service": "verification",
            "case_id": "c-1",
            "status": "information_check",
            "since": NOW.isoformat(),
            "deadlines": [],
            "details": {"means_test": {"income_per_head_fen": 42500}},
        }
    )


def demo_settings(var_dir) -> Settings:
    """Demo mode: the packaged accounts, secrets generated into ``var_dir``."""
    return Settings.from_env({"HQ_DEMO": "1", "HQ_VAR_DIR": str(var_dir)})


def http(gateway_rpc, username: str, var_dir):
    """A test client logged in as the demo account ``username``."""
    app = create_app(demo_settings(var_dir), rpc=gateway_rpc)
    auth = app.extensions["hq_gateway"].auth
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {auth.issue(auth.accounts[username])}"
    return client


def test_VE1_gateway_expands_the_investigators_from_its_accounts(gateway_rpc, tmp_path):
    answer = http(gateway_rpc, "sgz-investigator-1", tmp_path).post(
        "/api/v1/cases/c-1/investigation",
        json={
            "investigators": ["sgz-investigator-1", "sgz-investigator-2"],
            "methods": ["household_visit"],
            "findings": "入户",
            "applicant_signed": True,
        },
    )
    assert answer.status_code == 200, answer.data
    assert answer.get_json()["details"]["means_test"]["income_per_head_fen"] == 42500
    [(service, method, kwargs)] = gateway_rpc.calls
    assert (service, method, kwargs["case_id"]) == ("verification", "record_investigation", "c-1")
    assert kwargs["actor"]["user_id"] == "sgz-investigator-1"
    assert [(p["user_id"], p["role"], p["street_code"]) for p in kwargs["investigators"]] == [
        ("sgz-investigator-1", "investigator", STREET),
        ("sgz-investigator-2", "investigator", STREET),
    ]


@pytest.mark.parametrize(
    "path, body, field",
    [
        (
            "investigation",
            {
                "investigators": ["sgz-investigator-1"],
                "methods": ["household_visit"],
                "findings": "入户",
                "applicant_signed": True,
            },
            "investigators",
        ),
        (
            "investigation",
            {
                "investigators": ["sgz-investigator-1", "nobody"],
                "methods": ["household_visit"],
                "findings": "入户",
                "applicant_signed": True,
            },
            "investigators",
        ),
        (
            "investigation",
            {
                "investigators": ["sgz-investigator-1", "sgz-investigator-2"],
                "methods": ["household_visit"],
                "findings": "入户",
                "applicant_signed": False,
            },
            "applicant_signed",
        ),
        ("explanation", {"explanation": "说明"}, "accepted"),
        ("untruthful-declaration", {}, "detail"),
    ],
)
def test_gateway_refuses_bad_bodies_naming_the_field_before_any_rpc(
    gateway_rpc, path, body, field, tmp_path
):
    answer = http(gateway_rpc, "sgz-investigator-1", tmp_path).post(
        f"/api/v1/cases/c-1/{path}", json=body
    )
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == field
    assert gateway_rpc.calls == []


def test_gateway_masks_incomes_for_the_community_and_needs_a_login(gateway_rpc, tmp_path):
    answer = http(gateway_rpc, "sgz-community", tmp_path).post(
        "/api/v1/cases/c-1/correction", json={"detail": "补充申报"}
    )
    assert answer.get_json()["details"]["means_test"]["income_per_head_fen"] == "***"
    anonymous = create_app(demo_settings(tmp_path), rpc=gateway_rpc).test_client()
    assert anonymous.post("/api/v1/cases/c-1/pre-review", json={}).status_code == 401
