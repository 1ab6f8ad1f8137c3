"""The thin path through the gateway's HTTP API with the suite running as real processes: every
service up, an application reaching every service, the suite's clock moving a deadline past
its end, metrics and logs (platform issue, items 6-9; rules IN-1, VE-1, DE-4, ORG-1)."""

import json
import re

import requests

from hqops.samples import make_id_number, sample_application
from tests.support.plugin import wait_until

SERVICES = ("intake", "verification", "publicity", "decision", "payments", "supervision")


def test_healthz_lists_every_service_up(suite):
    response = suite.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: s["status"] for name, s in body["services"].items()} == {
        name: "up" for name in SERVICES
    }


def test_dibao_application_reaches_every_service_and_the_case_view_shows_it(suite):
    clerk = suite.as_user("sgz-clerk")
    id_number = make_id_number(501)
    # Thursday 2026-02-12 in Tianjin: VE-1's 3 WD end on 2026-02-24 (Spring Festival).
    suite.set_clock("2026-02-12T02:00:00+00:00")
    response = clerk.post(
        "/api/v1/applications",
        sample_application(id_number=id_number),
        headers={"X-Correlation-Id": "e2e-thin-path"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Correlation-Id"] == "e2e-thin-path"
    created = response.json()
    assert re.fullmatch(r"SGZ-2026-\d{5}", created["case_no"])  # IN-1
    assert response.headers["Location"] == f"/api/v1/cases/{created['case_id']}"

    def complete_view():
        view = clerk.get(response.headers["Location"]).json()
        if (
            all(v.get("status") != "unavailable" for v in view["services"].values())
            and view["timeline"]
        ):
            return view

    view = wait_until(
        complete_view,
        timeout=20,
        message="every service to hold the case, and its timeline to begin",
    )
    services = view["services"]
    assert view["case"]["case_no"] == created["case_no"]
    assert id_number in json.dumps(view, ensure_ascii=False)  # the clerk sees it in full
    assert services["verification"]["status"] == "investigation"
    [ve1] = services["verification"]["deadlines"]
    assert (ve1["rule_id"], ve1["due_date"], ve1["status"]) == ("VE-1", "2026-02-24", "open")
    [de4] = services["decision"]["deadlines"]
    assert de4["rule_id"] == "DE-4" and de4["provisional"] is False
    assert services["decision"]["details"]["deciding_authority"] == "street"  # ORG-1
    assert services["publicity"]["status"] == "awaiting_verification"
    assert services["payments"]["status"] == "awaiting_decision"
    assert services["supervision"]["details"]["near_relative"] is False
    # the one timeline is supervision's: intake's acceptance is its first entry
    assert view["timeline"][0]["service"] == "intake"
    assert all("timeline" not in (service.get("details") or {}) for service in services.values())


def test_moving_the_suite_clock_breaches_VE1_and_supervision_sees_it(suite):
    clerk = suite.as_user("shc-clerk")
    suite.set_clock("2026-05-11T01:00:00+00:00")  # Monday
    created = clerk.post(
        "/api/v1/applications",
        sample_application(id_number=make_id_number(502), street_code="shuanghuancun"),
    ).json()
    wait_until(
        lambda: (
            clerk.get(f"/api/v1/cases/{created['case_id']}")
            .json()["services"]["verification"]
            .get("deadlines")
        ),
        message="VE-1 to open",
    )
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
    overdue = clerk.get("/api/v1/cases?overdue=true&per_page=100").json()
    assert created["case_id"] in {item["case_id"] for item in overdue["items"]}


def test_every_service_and_the_gateway_serve_metrics(suite):
    suite.as_user("sgz-community").post(
        "/api/v1/applications", sample_application(id_number=make_id_number(504))
    )
    gateway = suite.get("/metrics").text
    assert re.search(
        r'hq_gateway_requests_total\{endpoint="/api/v1/applications",'
        r'method="POST",status="201"\} [1-9]',
        gateway,
    )

    def intake_counted():
        text = requests.get(suite.metrics_url("intake"), timeout=5).text
        return 'entrypoint="submit_application"' in text and "hq_outbox_backlog" in text

    wait_until(intake_counted, message="intake's metrics to count the submission")
    for name in SERVICES:
        text = wait_until(
            lambda name=name: _metrics(suite, name),
            timeout=10,
            message=f"{name}'s metrics endpoint",
        )
        assert "hq_entrypoint_calls_total" in text or name == "intake"
    decision = requests.get(suite.metrics_url("decision"), timeout=5).text
    assert 'hq_deadlines{rule_id="DE-4"' in decision


def _metrics(suite, name):
    try:
        return requests.get(suite.metrics_url(name), timeout=5).text
    except requests.RequestException:
        return None


def _logged(suite, correlation_id):
    """The suite's log records (JSON lines, after the supervisor's ``name | `` prefix) with
    this correlation id."""
    records = []
    for line in suite.log.getvalue().splitlines():
        name, _, text = line.partition(" | ")
        if correlation_id in text and text.startswith("{"):
            records.append((name.strip(), json.loads(text)))
    return [
        (name, record) for name, record in records if record.get("correlation_id") == correlation_id
    ]


def test_logs_are_json_with_correlation_ids_and_never_show_id_numbers(suite):
    clerk = suite.as_user("sgz-clerk")
    id_number = make_id_number(505)
    first = clerk.post(
        "/api/v1/applications",
        sample_application(id_number=id_number),
        headers={"X-Correlation-Id": "e2e-log-check"},
    )
    assert first.status_code == 201, first.text
    # a refused submission logs the rejected request too
    again = clerk.post(
        "/api/v1/applications",
        sample_application(id_number=id_number),
        headers={"X-Correlation-Id": "e2e-log-check-dup"},
    )
    assert again.status_code == 409, again.text
    # Nothing is left to log about it: every service has handled every event committed so
    # far (no outbox row unpublished, no event queue with a ready or unacknowledged message),
    # and the gateway's line for the last request has been read from its output.
    wait_until(
        lambda: not suite.pending_work(),
        timeout=30,
        interval=0.2,
        message="every event to be handled",
    )

    def refusal_logged():
        return [
            record
            for name, record in _logged(suite, "e2e-log-check-dup")
            if name == "gateway" and " 409 " in record["msg"]
        ]

    wait_until(refusal_logged, timeout=10, message="the gateway's line for the refusal")
    assert {name for name, _ in _logged(suite, "e2e-log-check")} >= {"gateway"}
    output = suite.log.getvalue()
    assert id_number not in output
    assert make_id_number(501) not in output
