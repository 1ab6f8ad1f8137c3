"""Every step of the procedure refuses the wrong role and the wrong street (403) and the wrong
state (409), through the gateway, and changes nothing (ORG-4, ORG-5, ORG-6)."""
import pytest

from gateway.client import GatewayClient, StepFailed
from hqcore.testing import make_id_number, sample_application

# step: (the user who may take it on a Shaogongzhuang case, a user of the street who may not,
#        a valid body)
STEPS = {
    "materials": ("sgz-clerk", "sgz-investigator-1", {"materials": ["household_register"]}),
    "investigation": ("sgz-investigator-1", "sgz-clerk", {
        "investigators": ["sgz-investigator-1", "sgz-investigator-2"],
        "methods": ["household_visit"], "findings": "入户调查。", "applicant_signed": True}),
    "pre-review": ("sgz-clerk", "sgz-community",
                   {"opinion": "材料齐全。", "authorisations_complete": True}),
    "district-review": ("district-officer", "sgz-clerk", {"opinion": "同意。"}),
    "explanation": ("sgz-clerk", "sgz-community", {"explanation": "说明。", "accepted": True}),
    "untruthful-declaration": ("sgz-clerk", "sgz-community", {"detail": "未如实申报。"}),
    "correction": ("sgz-clerk", "sgz-community", {"detail": "已更正。"}),
    "preliminary-opinion": ("sgz-clerk", "sgz-community",
                            {"opinion": "approve", "summary": "初审意见。"}),
    "objections": ("sgz-community", "sgz-investigator-1", {"objector": "居民", "detail": "异议。"}),
    "major-disputes": ("sgz-clerk", "sgz-community",
                       {"source": "complaint", "detail": "较大争议。"}),
    "deliberation": ("sgz-clerk", "sgz-community", {
        "members_present": ["甲", "乙", "丙"], "conclusion": "approve", "minutes": "纪要。",
        "signed_off_by": "甲", "leadership_meeting_approved_on": "2026-11-02"}),
    "review": ("sgz-reviewer", "sgz-clerk", {"opinion": "approve"}),
    "head-consent": ("sgz-head", "sgz-reviewer", {}),
    "decision": ("sgz-leader", "sgz-head", {"outcome": "approve"}),
    "extension": ("sgz-reviewer", "sgz-leader", {"reason": "补充调查。"}),
}
DISTRICT_WIDE = {"district-review"}  # the district agency acts for every street


@pytest.fixture(scope="module")
def cases(suite):
    """A case just accepted, and one already approved (every step is then out of turn)."""
    api = GatewayClient(suite.url, timeout=30)
    api.set_clock("2026-11-02T01:00:00+00:00")
    fresh = api.accepted_case(sample_application(make_id_number(701)), "sgz")
    done = api.reviewed_case(sample_application(make_id_number(702)), "sgz")
    api.decide(done, "sgz-leader")
    api.wait_for(done, "payments", "scheduled", "sgz-clerk")
    return api, fresh, done


def refused(api, case_id, step, user, body) -> StepFailed:
    before = api.case(case_id, "district-officer")
    with pytest.raises(StepFailed) as failure:
        api.step(case_id, step, user, body)
    after = api.case(case_id, "district-officer")
    assert after["services"] == before["services"]  # nothing changed
    return failure.value


@pytest.mark.parametrize("step", sorted(STEPS))
def test_ORG5_wrong_role_is_forbidden(cases, step):
    api, fresh, _ = cases
    _, wrong_user, body = STEPS[step]
    error = refused(api, fresh, step, wrong_user, body)
    assert (error.status, error.error["code"]) == (403, "wrong_role")


@pytest.mark.parametrize("step", sorted(set(STEPS) - DISTRICT_WIDE))
def test_ORG4_wrong_street_is_forbidden(cases, step):
    api, fresh, _ = cases
    user, _, body = STEPS[step]
    other_street = "shc" + user[len("sgz"):]
    body = {**body, "investigators": ["shc-investigator-1", "shc-investigator-2"]} \
        if step == "investigation" else body
    error = refused(api, fresh, step, other_street, body)
    assert (error.status, error.error["code"]) == (403, "wrong_street")


@pytest.mark.parametrize("step", sorted(STEPS))
def test_ORG5_wrong_state_is_a_conflict(cases, step):
    api, _, done = cases
    user, _, body = STEPS[step]
    error = refused(api, done, step, user, body)
    assert error.status == 409, error
