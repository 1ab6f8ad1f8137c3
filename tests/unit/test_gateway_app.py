"""The gateway over Flask's test client, with a fake RPC client (no broker)."""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import gateway.app as gateway_app
from gateway import create_app
from hqcore import errors, idnumber, logs
from hqcore.config import SERVICES, Settings

APPLICANT_ID = "11010519491231002X"
SPOUSE_ID = "120106196001010015"

NOW = "2024-03-01T08:00:00+00:00"


def application() -> dict:
    return {
        "program": "dibao", "street_code": "shaogongzhuang", "community": "前园社区",
        "applicant": {"name": "王秀英", "id_number": APPLICANT_ID, "relationship": "self"},
        "members": [{"name": "王秀英", "id_number": APPLICANT_ID, "relationship": "self"},
                    {"name": "李强", "id_number": SPOUSE_ID, "relationship": "spouse"}],
    }


def intake_view(case_id: str = "c-1") -> dict:
    body = application()
    return {"case_id": case_id, "case_no": "SGZ-2024-0001", "program": "dibao",
            "street_code": body["street_code"], "community": body["community"],
            "status": "accepted", "accepted_at": NOW, "applicant": body["applicant"],
            "members": body["members"], "near_relative": False}


def service_view(service: str, case_id: str = "c-1") -> dict:
    return {"service": service, "case_id": case_id, "status": "open", "since": NOW,
            "deadlines": [], "details": {"id_numbers": [APPLICANT_ID]}}


@dataclass
class Call:
    service: str
    method: str
    kwargs: dict
    timeout: float | None
    correlation_id: str | None
    logged_correlation_id: str | None


@dataclass
class FakeRpc:
    """Answers ``service.method`` from ``answers``: a value, an exception or a callable."""
    answers: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def call_async(self, service, method, timeout=None, correlation_id=None, acting_user=None,
                   **kwargs) -> Future:
        self.calls.append(Call(service, method, kwargs, timeout, correlation_id,
                               logs.correlation_id.get()))
        future: Future = Future()
        answer = self.answers.get(f"{service}.{method}", errors.ServiceUnavailable("not faked"))
        try:
            if callable(answer) and not isinstance(answer, type):
                answer = answer(**kwargs)
            if isinstance(answer, BaseException):
                raise answer
            future.set_result(answer)
        except BaseException as exc:
            future.set_exception(exc)
        return future


def all_up() -> dict:
    return {f"{name}.ping": {"service": name, "status": "ok", "now": NOW} for name in SERVICES}


@pytest.fixture
def rpc() -> FakeRpc:
    return FakeRpc()


@pytest.fixture
def client(rpc):
    app = create_app(Settings.from_env({}), rpc=rpc)
    return app.test_client()


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "field"}
    if field is not None:
        assert error["field"] == field
    return error


def test_bad_check_digit_is_refused_at_the_gateway_naming_the_field(client, rpc):
    body = application()
    body["applicant"]["id_number"] = APPLICANT_ID[:-1] + "1"
    response = client.post("/api/v1/applications", json=body)
    error = assert_error(response, 400, "validation_failed", "applicant.id_number")
    assert "check digit" in error["message"]
    assert rpc.calls == []


def test_malformed_json_is_invalid_json(client, rpc):
    response = client.post("/api/v1/applications", data=b'{"program": ',
                           content_type="application/json")
    assert_error(response, 400, "invalid_json")
    assert_error(client.post("/api/v1/applications", json=[1, 2]), 400, "validation_failed",
                 "body")
    assert rpc.calls == []


def test_unknown_route_is_json_404(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(client):
    response = client.delete("/api/v1/applications")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_submitted_application_answers_201_masked_with_location(client, rpc):
    rpc.answers["intake.submit_application"] = lambda application: intake_view("c-42")
    response = client.post("/api/v1/applications", json=application(),
                           headers={"X-Correlation-Id": "req-123"})
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/v1/cases/c-42"
    assert response.headers["X-Correlation-Id"] == "req-123"
    case = response.get_json()
    assert case["applicant"]["id_number"] == idnumber.mask(APPLICANT_ID)
    assert [m["id_number"] for m in case["members"]] == [idnumber.mask(APPLICANT_ID),
                                                         idnumber.mask(SPOUSE_ID)]
    assert APPLICANT_ID not in response.get_data(as_text=True)
    [call] = rpc.calls
    assert (call.service, call.method) == ("intake", "submit_application")
    assert call.kwargs == {"application": application()}
    assert call.correlation_id == call.logged_correlation_id == "req-123"


def test_correlation_id_is_made_when_missing(client, rpc):
    rpc.answers.update(all_up())
    response = client.get("/healthz")
    made = response.headers["X-Correlation-Id"]
    assert made and {call.correlation_id for call in rpc.calls} == {made}
    assert logs.correlation_id.get() is None


def test_remote_conflict_keeps_its_status_and_code(client, rpc):
    rpc.answers["intake.submit_application"] = errors.Conflict(
        "an open dibao case exists", field="applicant.id_number", code="duplicate_open_case")
    response = client.post("/api/v1/applications", json=application())
    assert_error(response, 409, "duplicate_open_case", "applicant.id_number")


def test_upstream_timeout_is_504(client, rpc):
    rpc.answers["intake.submit_application"] = errors.UpstreamTimeout("too slow")
    assert_error(client.post("/api/v1/applications", json=application()), 504,
                 "upstream_timeout")


def test_unexpected_error_is_500_without_a_stack_trace(client, rpc):
    rpc.answers["intake.get_case"] = RuntimeError("secret internals")
    response = client.get("/api/v1/cases/c-1")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in error["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_case_view_combines_services_and_reports_the_unavailable(client, rpc):
    rpc.answers.update({f"{name}.get_case": service_view(name) for name in SERVICES})
    rpc.answers["intake.get_case"] = intake_view()
    rpc.answers["publicity.get_case"] = errors.UpstreamTimeout("slow")
    rpc.answers["payments.get_case"] = errors.NotFound("unknown case")
    response = client.get("/api/v1/cases/c-1")
    assert response.status_code == 200
    body = response.get_json()
    assert body["case"]["case_id"] == "c-1"
    assert body["case"]["applicant"]["id_number"] == idnumber.mask(APPLICANT_ID)
    assert set(body["services"]) == set(SERVICES) - {"intake"}
    assert body["services"]["publicity"] == {"status": "unavailable", "error": "upstream_timeout"}
    assert body["services"]["payments"] == {"status": "unavailable", "error": "not_found"}
    assert body["services"]["verification"]["status"] == "open"
    assert body["services"]["verification"]["details"]["id_numbers"] == [
        idnumber.mask(APPLICANT_ID)]
    assert sorted(call.service for call in rpc.calls) == sorted(SERVICES)
    assert all(call.kwargs == {"case_id": "c-1"} for call in rpc.calls)


def test_case_unknown_to_intake_is_404(client, rpc):
    rpc.answers["intake.get_case"] = errors.NotFound("no such case", field="case_id")
    assert_error(client.get("/api/v1/cases/c-404"), 404, "not_found", "case_id")


def test_overlong_case_id_is_refused_before_any_rpc(client, rpc):
    assert_error(client.get("/api/v1/cases/" + "x" * 65), 400, "validation_failed", "case_id")
    assert rpc.calls == []


def test_healthz_is_200_when_every_service_answers(client, rpc):
    rpc.answers.update(all_up())
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["services"] == {name: {"status": "up", "now": NOW} for name in SERVICES}
    assert {call.timeout for call in rpc.calls} == {2.0}
    assert sorted(call.service for call in rpc.calls) == sorted(SERVICES)


def test_healthz_is_503_naming_the_service_down(client, rpc):
    rpc.answers.update(all_up())
    rpc.answers["decision.ping"] = errors.UpstreamTimeout("decision.ping did not answer")
    response = client.get("/healthz")
    assert response.status_code == 503
    services = response.get_json()["services"]
    assert services["decision"]["status"] == "down"
    assert services["decision"]["error"] == "upstream_timeout"
    assert "did not answer" in services["decision"]["reason"]
    assert all(services[name]["status"] == "up" for name in SERVICES if name != "decision")


def test_metrics_count_requests_and_rpc_calls(client, rpc):
    rpc.answers.update(all_up())
    rpc.answers["supervision.ping"] = errors.ServiceUnavailable("no instance")
    client.get("/healthz")
    client.get("/nowhere")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'hq_gateway_requests_total{endpoint="/healthz",method="GET",status="503"} 1.0' in text
    assert 'hq_gateway_requests_total{endpoint="<unmatched>",method="GET",status="404"}' in text
    assert 'hq_gateway_request_seconds_count{endpoint="/healthz",method="GET"} 1.0' in text
    assert ('hq_gateway_rpc_seconds_count{method="ping",outcome="ok",service="intake"} 1.0'
            in text)
    assert ('hq_gateway_rpc_seconds_count{method="ping",outcome="unavailable",'
            'service="supervision"} 1.0' in text)


def test_each_app_has_its_own_registry(rpc):
    first = create_app(Settings.from_env({}), rpc=rpc).test_client()
    second = create_app(Settings.from_env({}), rpc=rpc).test_client()
    first.get("/nowhere")
    assert "<unmatched>" not in second.get("/metrics").get_data(as_text=True)


def test_one_rpc_client_is_created_lazily_for_the_app(monkeypatch):
    made = []

    class StubClient(FakeRpc):
        def __init__(self, amqp_uri, timeout):
            super().__init__(answers=all_up())
            self.started = 0
            made.append(self)

        def start(self):
            self.started += 1

        def stop(self):
            self.started = 0

    monkeypatch.setattr(gateway_app, "RpcClient", StubClient)
    app = create_app(Settings.from_env({}))
    assert made == []
    for _ in range(3):
        assert app.test_client().get("/healthz").status_code == 200
    assert len(made) == 1 and made[0].started == 1
    app.extensions["hq_gateway"].close()
    assert made[0].started == 0


def test_openapi_document_describes_routes_and_schemas(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.0")
    submit = doc["paths"]["/api/v1/applications"]["post"]
    request_schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema == {"$ref": "#/components/schemas/SubmitApplicationRequest"}
    assert submit["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IntakeCaseView"}
    assert submit["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    schemas = doc["components"]["schemas"]
    assert {"program", "applicant", "members"} <= set(schemas["SubmitApplicationRequest"]
                                                      ["required"])
    assert set(schemas["ErrorBody"]["properties"]) == {"code", "message", "field"}
    assert "/api/v1/cases/{case_id}" in doc["paths"]
    assert {"get", "post"} == set(doc["paths"]["/api/v1/clock"])


def test_docs_page_is_self_contained_html(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for text in ("/api/v1/applications", "SubmitApplicationRequest", "id_number",
                 "ClockCommand", "clock_not_controlled"):
        assert text in page
    assert "<script src" not in page and "//cdn" not in page and "<link" not in page


def controlled(tmp_path) -> Settings:
    return Settings.from_env({"HQ_CLOCK_MODE": "controlled",
                              "HQ_CLOCK_FILE": str(tmp_path / "clock.json")})


def test_clock_is_read_only_in_real_mode(client):
    state = client.get("/api/v1/clock").get_json()
    assert state["mode"] == "real" and state["offset_seconds"] == 0
    assert_error(client.post("/api/v1/clock", json={"advance": "P3D"}), 409,
                 "clock_not_controlled")


def test_controlled_clock_can_be_set_advanced_and_reset(tmp_path, rpc):
    client = create_app(controlled(tmp_path), rpc=rpc).test_client()
    moment = datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    response = client.post("/api/v1/clock", json={"set": moment.isoformat()})
    assert response.status_code == 200
    now = datetime.fromisoformat(client.get("/api/v1/clock").get_json()["now"])
    assert abs(now - moment) < timedelta(seconds=5)
    before = client.get("/api/v1/clock").get_json()["offset_seconds"]
    state = client.post("/api/v1/clock", json={"advance": "P3D"}).get_json()
    assert state["mode"] == "controlled"
    assert state["offset_seconds"] == pytest.approx(before + 3 * 86400, abs=1)
    assert client.post("/api/v1/clock", json={"reset": True}).get_json()["offset_seconds"] == 0


@pytest.mark.parametrize("body, field", [
    ({"advance": "three days"}, "advance"),
    ({"set": "2024-03-01T09:00:00"}, "set"),
    ({"reset": False}, "reset"),
    ({"advance": "P1D", "reset": True}, "body"),
    ({}, "body"),
    ({"jump": "P1D"}, "jump"),
])
def test_bad_clock_command_names_the_field(tmp_path, rpc, body, field):
    client = create_app(controlled(tmp_path), rpc=rpc).test_client()
    assert_error(client.post("/api/v1/clock", json=body), 400, "validation_failed", field)
