"""Authorisation across HTTP: the gateway passes the acting user to the service and the
service's refusal comes back as the same error, with nothing changed (ORG-4, ORG-5, ORG-6).
One step of each service that takes steps, and one read of each service, against the wrong
role, the wrong street and the wrong state; no login; ID numbers masked for the community
worker. Every step of each service against every refusal is in the service tier
(tests/service/test_<service>_steps.py)."""

import json

import pytest

from gateway.client import GatewayClient, StepFailed
from hqcore import idnumber
from hqops.samples import make_id_number, sample_application
from tests.support.plugin import wait_until

# step: (the user who may take it on a Shaogongzhuang case, a user of the street who may not,
#        a valid body): one step of each service that takes steps
STEPS = {
    "materials": ("sgz-clerk", "sgz-investigator-1", {"materials": ["household_register"]}),
    "investigation": (
        "sgz-investigator-1",
        "sgz-clerk",
        {
            "investigators": ["sgz-investigator-1", "sgz-investigator-2"],
            "methods": ["household_visit"],
            "findings": "入户调查。",
            "applicant_signed": True,
        },
    ),
    "objections": ("sgz-community", "sgz-investigator-1", {"objector": "居民", "detail": "异议。"}),
    "decision": ("sgz-leader", "sgz-head", {"outcome": "approve"}),
}
# a step of each of those services that a case just accepted is not ready for, by its user
OUT_OF_TURN = {
    "materials": ("sgz-clerk", {"materials": ["household_register"]}),  # intake
    "explanation": ("sgz-clerk", {"explanation": "说明。", "accepted": True}),  # verification
    "objections": ("sgz-community", {"objector": "居民", "detail": "异议。"}),  # publicity
    "decision": ("sgz-leader", {"outcome": "approve"}),  # decision
}
# one read of each service that answers for a street, asked by another street's clerk
READS = {
    "intake": "/api/v1/cases/{case_id}",
    "supervision": "/api/v1/cases/{case_id}/timeline",
    "publicity": "/api/v1/streets/shaogongzhuang/deliberation-body",
    "decision": "/api/v1/streets/shaogongzhuang/recipients",
    "payments": "/api/v1/payments?month=2026-12&street_code=shaogongzhuang",
}
ID_NUMBER = make_id_number(701)


@pytest.fixture(scope="module")
def fresh(suite):
    """A case just accepted in Shaogongzhuang (verification investigates it), with every
    event about it handled."""
    api = GatewayClient(suite.url, timeout=30)
    api.set_clock("2026-11-02T01:00:00+00:00")
    case_id = api.accepted_case(sample_application(ID_NUMBER), "sgz")
    wait_until(
        lambda: not suite.pending_work(),
        timeout=30,
        interval=0.2,
        message="every event to be handled",
    )
    return api, case_id


def refused(api, case_id, step, user, body) -> StepFailed:
    before = api.case(case_id, "district-officer")
    with pytest.raises(StepFailed) as failure:
        api.step(case_id, step, user, body)
    after = api.case(case_id, "district-officer")
    assert after["services"] == before["services"]  # nothing changed
    assert after["timeline"] == before["timeline"]
    return failure.value


@pytest.mark.parametrize("step", sorted(STEPS))
def test_ORG5_wrong_role_is_forbidden(fresh, step):
    api, case_id = fresh
    _, wrong_user, body = STEPS[step]
    error = refused(api, case_id, step, wrong_user, body)
    assert (error.status, error.error["code"]) == (403, "wrong_role")


@pytest.mark.parametrize("step", sorted(STEPS))
def test_ORG4_wrong_street_is_forbidden(fresh, step):
    api, case_id = fresh
    user, _, body = STEPS[step]
    other_street = "shc" + user[len("sgz") :]
    body = (
        {**body, "investigators": ["shc-investigator-1", "shc-investigator-2"]}
        if step == "investigation"
        else body
    )
    error = refused(api, case_id, step, other_street, body)
    assert (error.status, error.error["code"]) == (403, "wrong_street")


@pytest.mark.parametrize("step", sorted(OUT_OF_TURN))
def test_ORG5_wrong_state_is_a_conflict(fresh, step):
    api, case_id = fresh
    user, body = OUT_OF_TURN[step]
    error = refused(api, case_id, step, user, body)
    assert (error.status, error.error["code"]) == (409, "invalid_state"), error
    details = error.error["details"]
    assert details["status"] not in details["allowed"]


@pytest.mark.parametrize("service", sorted(READS))
def test_ORG4_another_streets_reads_are_forbidden(fresh, service):
    api, case_id = fresh
    with pytest.raises(StepFailed) as failure:
        api.call("GET", READS[service].format(case_id=case_id), "shc-clerk")
    assert (failure.value.status, failure.value.error["code"]) == (403, "wrong_street")


def test_ORG4_an_application_for_another_street_is_forbidden(fresh):
    api, _ = fresh
    other_street = sample_application(make_id_number(702), street_code="shaogongzhuang")
    with pytest.raises(StepFailed) as failure:
        api.submit(other_street, "xgu-clerk")
    assert (failure.value.status, failure.value.error["code"]) == (403, "wrong_street")


def test_without_a_login_nothing_is_answered(suite, fresh):
    _, case_id = fresh
    for method, path, body in (
        ("POST", "/api/v1/applications", sample_application(make_id_number(703))),
        ("POST", f"/api/v1/cases/{case_id}/investigation", STEPS["investigation"][2]),
        ("GET", f"/api/v1/cases/{case_id}", None),
        ("GET", f"/api/v1/cases/{case_id}/timeline", None),
    ):
        answer = suite.http.request(method, suite.url + path, json=body, timeout=30)
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "not_authenticated"), (
            method,
            path,
        )
    answer = suite.http.get(
        suite.url + f"/api/v1/cases/{case_id}",
        timeout=30,
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "invalid_token")


def test_ORG6_the_community_worker_sees_id_numbers_masked(suite, fresh):
    _, case_id = fresh
    community, clerk = suite.as_user("sgz-community"), suite.as_user("sgz-clerk")
    for path in (f"/api/v1/cases/{case_id}", f"/api/v1/cases/{case_id}/timeline"):
        seen = community.get(path)
        assert seen.status_code == 200, seen.text
        assert ID_NUMBER not in seen.text, path
    view = clerk.get(f"/api/v1/cases/{case_id}").json()
    assert ID_NUMBER in json.dumps(view, ensure_ascii=False)  # the clerk needs it
    community_view = community.get(f"/api/v1/cases/{case_id}").json()
    assert community_view["case"]["applicant"]["id_number"] == idnumber.mask(ID_NUMBER)
