"""The thin path through the gateway's HTTP API, with the suite running as real processes
(platform issue, items 6-9; rules IN-1, IN-6, VE-1, DE-4, ORG-1)."""
import re
import time

import requests

from hqcore.testing import make_id_number, sample_application, wait_until

SERVICES = ("intake", "verification", "publicity", "decision", "payments", "supervision")


def test_healthz_lists_every_service_up(suite):
    response = suite.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: s["status"] for name, s in body["services"].items()} == {
        name: "up" for name in SERVICES}


def test_dibao_application_reaches_every_service_and_the_case_view_shows_it(suite):
    clerk = suite.as_user("sgz-clerk")
    id_number = make_id_number(501)
    # Thursday 2026-02-12 in Tianjin: VE-1's 3 WD end on 2026-02-24 (Spring Festival).
    suite.set_clock("2026-02-12T02:00:00+00:00")
    response = clerk.post("/api/v1/applications", sample_application(id_number=id_number),
                          headers={"X-Correlation-Id": "e2e-thin-path"})
    assert response.status_code == 201, response.text
    assert response.headers["X-Correlation-Id"] == "e2e-thin-path"
    created = response.json()
    assert created["case_no"] == "SGZ-2026-00001"
    assert response.headers["Location"] == f"/api/v1/cases/{created['case_id']}"
    community = suite.as_user("sgz-community").get(response.headers["Location"])
    assert id_number not in community.text  # masked for the community worker
    assert id_number in clerk.get(response.headers["Location"]).text  # the clerk needs it

    def complete_view():
        view = clerk.get(response.headers["Location"]).json()
        if all(v.get("status") != "unavailable" for v in view["services"].values()):
            return view
    view = wait_until(complete_view, timeout=20, message="every service to hold the case")
    services = view["services"]
    assert view["case"]["case_no"] == "SGZ-2026-00001"
    assert services["verification"]["status"] == "investigation"
    [ve1] = services["verification"]["deadlines"]
    assert (ve1["rule_id"], ve1["due_date"], ve1["status"]) == ("VE-1", "2026-02-24", "open")
    [de4] = services["decision"]["deadlines"]
    assert de4["rule_id"] == "DE-4" and de4["provisional"] is False
    assert services["decision"]["details"]["deciding_authority"] == "street"  # ORG-1
    assert services["publicity"]["status"] == "awaiting_verification"
    assert services["payments"]["status"] == "awaiting_decision"
    assert services["supervision"]["details"]["near_relative"] is False


def test_moving_the_suite_clock_breaches_VE1_and_supervision_sees_it(suite):
    clerk = suite.as_user("shc-clerk")
    suite.set_clock("2026-05-11T01:00:00+00:00")  # Monday
    created = clerk.post("/api/v1/applications", sample_application(
        id_number=make_id_number(502), street_code="shuanghuancun")).json()
    wait_until(lambda: clerk.get(f"/api/v1/cases/{created['case_id']}").json()["services"]
               ["verification"].get("deadlines"), message="VE-1 to open")
    # VE-1 is due at the end of Thursday 2026-05-14; advance the whole suite past it.
    clock = suite.advance_clock("P4D")
    assert clock["now"].startswith("2026-05-15")

    def breach():
        body = clerk.get("/api/v1/supervision/breaches").json()
        return [b for b in body["breaches"] if b["case_id"] == created["case_id"]]
    [found] = wait_until(breach, timeout=30, message="supervision to record the VE-1 breach")
    assert found["rule_id"] == "VE-1" and found["street_code"] == "shuanghuancun"
    view = clerk.get(f"/api/v1/cases/{created['case_id']}").json()
    [ve1] = [d for d in view["services"]["verification"]["deadlines"] if d["rule_id"] == "VE-1"]
    assert ve1["status"] == "breached"
    overdue = clerk.get("/api/v1/cases?overdue=true").json()
    assert created["case_id"] in {item["case_id"] for item in overdue["items"]}


def test_bad_input_gets_a_4xx_naming_the_field_and_stores_nothing(suite):
    clerk = suite.as_user("xgu-clerk")
    suite.set_clock("2026-04-01T02:00:00+00:00")
    bad_id = sample_application(id_number="110105194912310021", street_code="xigu")
    response = clerk.post("/api/v1/applications", bad_id)  # wrong check digit
    assert response.status_code == 400
    assert response.json()["error"]["field"].startswith("applicant.id_number")

    unknown_program = {**sample_application(id_number=make_id_number(503), street_code="xigu"),
                       "program": "pension"}
    response = clerk.post("/api/v1/applications", unknown_program)
    assert (response.status_code, response.json()["error"]["field"]) == (400, "program")

    unknown_street = sample_application(id_number=make_id_number(503), street_code="nowhere")
    response = clerk.post("/api/v1/applications", unknown_street)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "street_code"

    response = clerk.http.post(clerk.url + "/api/v1/applications", data="{not json",
                               headers={"Content-Type": "application/json"}, timeout=10)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_json")

    other_street = sample_application(id_number=make_id_number(503), street_code="shaogongzhuang")
    response = clerk.post("/api/v1/applications", other_street)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "wrong_street")
    response = suite.post("/api/v1/applications", other_street)  # not logged in
    assert response.status_code == 401

    # Nothing of the above was stored: the next accepted case of 2026 in Xigu is number 1.
    good = sample_application(id_number=make_id_number(503), street_code="xigu")
    first = clerk.post("/api/v1/applications", good)
    assert first.json()["case_no"] == "XGU-2026-00001"
    repeated = clerk.post("/api/v1/applications", good)
    assert repeated.status_code == 409
    assert repeated.json()["error"]["code"] == "duplicate_open_case"
    assert "XGU-2026-00001" in repeated.json()["error"]["message"]


def test_openapi_document_and_docs_page(suite):
    spec = suite.get("/api/v1/openapi.json").json()
    assert "/api/v1/applications" in spec["paths"]
    assert "SubmitApplicationRequest" in spec["components"]["schemas"]
    page = suite.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/applications" in page.text


def test_every_service_and_the_gateway_serve_metrics(suite):
    suite.as_user("sgz-community").post(
        "/api/v1/applications", sample_application(id_number=make_id_number(504)))
    gateway = suite.get("/metrics").text
    assert re.search(r"hq_gateway_requests_total\{endpoint=\"/api/v1/applications\",method=\"POST\",status=\"201\"\} [1-9]", gateway)

    def intake_counted():
        text = requests.get(suite.metrics_url("intake"), timeout=5).text
        return 'entrypoint="submit_application"' in text and "hq_outbox_backlog" in text
    wait_until(intake_counted, message="intake's metrics to count the submission")
    for name in SERVICES:
        text = wait_until(lambda: _metrics(suite, name), timeout=10,
                          message=f"{name}'s metrics endpoint")
        assert "hq_entrypoint_calls_total" in text or name == "intake"
    decision = requests.get(suite.metrics_url("decision"), timeout=5).text
    assert 'hq_deadlines{rule_id="DE-4"' in decision


def _metrics(suite, name):
    try:
        return requests.get(suite.metrics_url(name), timeout=5).text
    except requests.RequestException:
        return None


def test_logs_are_json_with_correlation_ids_and_never_show_id_numbers(suite):
    clerk = suite.as_user("sgz-clerk")
    id_number = make_id_number(505)
    clerk.post("/api/v1/applications", sample_application(id_number=id_number),
               headers={"X-Correlation-Id": "e2e-log-check"})
    # a failing submission logs the rejected request too
    clerk.post("/api/v1/applications", sample_application(id_number=id_number),
               headers={"X-Correlation-Id": "e2e-log-check-dup"})
    time.sleep(1.0)
    output = suite.log.getvalue()
    assert "e2e-log-check" in output
    assert id_number not in output
    assert make_id_number(501) not in output
