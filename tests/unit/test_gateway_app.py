"""The gateway over Flask's test client, with a fake RPC client (no broker)."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import gateway.web as gateway_web
from gateway import create_app
from hqcore import errors, idnumber, logs
from hqcore.config import SERVICES, Settings
from tests.support.reads import FakeReadLog

APPLICANT_ID = "11010519491231002X"
SPOUSE_ID = "120106196001010015"

NOW = "2024-03-01T08:00:00+00:00"


def application() -> dict:
    return {
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "applicant": {"name": "王秀英", "id_number": APPLICANT_ID, "relationship": "self"},
        "members": [
            {"name": "王秀英", "id_number": APPLICANT_ID, "relationship": "self"},
            {"name": "李强", "id_number": SPOUSE_ID, "relationship": "spouse"},
        ],
    }


def intake_view(case_id: str = "c-1") -> dict:
    body = application()
    return {
        "case_id": case_id,
        "case_no": "SGZ-2024-0001",
        "program": "dibao",
        "street_code": body["street_code"],
        "community": body["community"],
        "status": "accepted",
        "accepted_at": NOW,
        "applicant": body["applicant"],
        "members": body["members"],
        "near_relative": False,
    }


def service_view(service: str, case_id: str = "c-1") -> dict:
    return {
        "service": service,
        "case_id": case_id,
        "status": "open",
        "since": NOW,
        "deadlines": [],
        "details": {"id_numbers": [APPLICANT_ID]},
    }


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

    def call_async(
        self, service, method, timeout=None, correlation_id=None, acting_user=None, **kwargs
    ) -> Future:
        self.calls.append(
            Call(service, method, kwargs, timeout, correlation_id, logs.correlation_id.get())
        )
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


def logged_in(app, username: str):
    """A test client of ``app`` sending a bearer token of the demo account ``username``."""
    auth = app.extensions["hq_gateway"].auth
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {auth.issue(auth.accounts[username])}"
    return client


def demo_settings(var_dir, **env: str) -> Settings:
    """Demo mode (the packaged accounts, secrets generated into ``var_dir``), real clock."""
    return Settings.from_env({"HQ_DEMO": "1", "HQ_VAR_DIR": str(var_dir), **env})


@pytest.fixture
def reads() -> FakeReadLog:
    return FakeReadLog()


@pytest.fixture
def app(rpc, reads, tmp_path):
    return create_app(demo_settings(tmp_path), rpc=rpc, reads=reads)


@pytest.fixture
def client(app):
    """Logged in as a community worker of Shaogongzhuang, who sees ID numbers masked."""
    return logged_in(app, "sgz-community")


def sent(call: Call, user: str | None = None) -> dict:
    """What the service was sent besides ``actor``, which every call carries (``user``'s)."""
    kwargs = dict(call.kwargs)
    actor = kwargs.pop("actor")
    assert set(actor) == {"user_id", "role", "street_code", "name"}
    if user is not None:
        assert actor["user_id"] == user
    return kwargs


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "field", "details"}
    assert isinstance(error["details"], dict)
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
    response = client.post(
        "/api/v1/applications", data=b'{"program": ', content_type="application/json"
    )
    assert_error(response, 400, "invalid_json")
    assert_error(client.post("/api/v1/applications", json=[1, 2]), 400, "validation_failed", "body")
    assert rpc.calls == []


def test_unknown_route_is_json_404(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(client):
    response = client.delete("/api/v1/applications")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_submitted_application_answers_201_masked_with_location(client, rpc):
    rpc.answers["intake.submit_application"] = lambda application, actor: intake_view("c-42")
    response = client.post(
        "/api/v1/applications", json=application(), headers={"X-Correlation-Id": "req-123"}
    )
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/v1/cases/c-42"
    assert response.headers["X-Correlation-Id"] == "req-123"
    case = response.get_json()
    assert case["applicant"]["id_number"] == idnumber.mask(APPLICANT_ID)
    assert [m["id_number"] for m in case["members"]] == [
        idnumber.mask(APPLICANT_ID),
        idnumber.mask(SPOUSE_ID),
    ]
    assert APPLICANT_ID not in response.get_data(as_text=True)
    [call] = rpc.calls
    assert (call.service, call.method) == ("intake", "submit_application")
    assert call.kwargs["actor"]["user_id"] == "sgz-community"
    assert call.correlation_id == call.logged_correlation_id == "req-123"


def test_the_service_gets_the_body_as_validated_and_normalised(client, rpc):
    """Validated once: the service receives ``schema.dump(schema.load(body))``, defaults
    filled in and values normalised, never the raw body."""
    rpc.answers["intake.submit_application"] = lambda application, actor: intake_view("c-42")
    body = application()
    body["applicant"]["id_number"] = body["members"][0]["id_number"] = APPLICANT_ID.lower()
    assert client.post("/api/v1/applications", json=body).status_code == 201
    [call] = rpc.calls
    assert call.kwargs["application"] == {
        **application(),
        "members": [
            {**member, "authorisation_signed": False} for member in application()["members"]
        ],
        "obligors": [],
        "proxy": None,
        "payment_account": None,
        "near_relative": False,
        "materials_provided": [],
    }
    assert set(call.kwargs) == {"application", "actor"}


@pytest.mark.parametrize(
    "path, body, field",
    [
        (
            "/api/v1/applications",
            {**application(), "actor": {"user_id": "district-officer"}},
            "actor",
        ),
        ("/api/v1/applications", {**application(), "priority": "high"}, "priority"),
        ("/api/v1/cases/c-1/review", {"opinion": "approve", "approved_by": "me"}, "approved_by"),
        ("/api/v1/cases/c-1/materials", {"materials": ["entrustment"], "actor": {}}, "actor"),
    ],
)
def test_unknown_body_fields_are_refused_naming_them_before_any_rpc(client, rpc, path, body, field):
    assert_error(client.post(path, json=body), 400, "validation_failed", field)
    assert rpc.calls == []


def test_correlation_id_is_made_when_missing(client, rpc):
    rpc.answers.update(all_up())
    response = client.get("/healthz")
    made = response.headers["X-Correlation-Id"]
    assert made and {call.correlation_id for call in rpc.calls} == {made}
    assert logs.correlation_id.get() is None


def test_remote_conflict_keeps_its_status_and_code(client, rpc):
    rpc.answers["intake.submit_application"] = errors.Conflict(
        "an open dibao case exists", field="applicant.id_number", code="duplicate_open_case"
    )
    response = client.post("/api/v1/applications", json=application())
    assert_error(response, 409, "duplicate_open_case", "applicant.id_number")


def test_upstream_timeout_is_504(client, rpc):
    rpc.answers["intake.submit_application"] = errors.UpstreamTimeout("too slow")
    assert_error(client.post("/api/v1/applications", json=application()), 504, "upstream_timeout")


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
        idnumber.mask(APPLICANT_ID)
    ]
    assert sorted(c.service for c in rpc.calls if c.method == "get_case") == sorted(SERVICES)
    assert {(c.method, c.service) for c in rpc.calls} == {
        *(("get_case", name) for name in SERVICES),
        *(("list_documents", name) for name in SERVICES),
        ("get_timeline", "supervision"),
    }
    assert all(sent(call, "sgz-community") == {"case_id": "c-1"} for call in rpc.calls)


def test_case_unknown_to_intake_is_404_case_not_found(client, rpc):
    rpc.answers["intake.get_case"] = errors.CaseNotFound("c-404", "intake")
    assert_error(client.get("/api/v1/cases/c-404"), 404, "case_not_found", "case_id")


def test_a_step_in_the_wrong_state_is_409_with_status_and_allowed(client, rpc):
    rpc.answers["intake.supply_materials"] = errors.InvalidState(
        "supply_materials", "accepted", ["awaiting_materials"]
    )
    response = client.post("/api/v1/cases/c-1/materials", json={"materials": ["entrustment"]})
    error = assert_error(response, 409, "invalid_state", "case_id")
    assert error["details"] == {"status": "accepted", "allowed": ["awaiting_materials"]}


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
    assert 'hq_gateway_rpc_seconds_count{method="ping",outcome="ok",service="intake"} 1.0' in text
    assert (
        'hq_gateway_rpc_seconds_count{method="ping",outcome="unavailable",'
        'service="supervision"} 1.0' in text
    )


def test_each_app_has_its_own_registry(rpc, tmp_path):
    first = create_app(demo_settings(tmp_path), rpc=rpc).test_client()
    second = create_app(demo_settings(tmp_path), rpc=rpc).test_client()
    first.get("/nowhere")
    assert "<unmatched>" not in second.get("/metrics").get_data(as_text=True)


def test_one_rpc_client_is_created_lazily_for_the_app(monkeypatch, tmp_path):
    made = []

    class StubClient(FakeRpc):
        def __init__(self, amqp_uri, timeout, request_key=None):
            assert request_key  # every request is signed (SEC-14)
            super().__init__(answers=all_up())
            self.started = 0
            made.append(self)

        def start(self):
            self.started += 1

        def stop(self):
            self.started = 0

    monkeypatch.setattr(gateway_web, "RpcClient", StubClient)
    app = create_app(demo_settings(tmp_path))
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
        "$ref": "#/components/schemas/IntakeCaseView"
    }
    assert submit["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    schemas = doc["components"]["schemas"]
    assert {"program", "applicant", "members"} <= set(
        schemas["SubmitApplicationRequest"]["required"]
    )
    assert set(schemas["ErrorBody"]["properties"]) == {"code", "message", "field", "details"}
    assert schemas["Error"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "/api/v1/cases/{case_id}" in doc["paths"]
    assert {"get", "post"} == set(doc["paths"]["/api/v1/clock"])


ERROR_REF = {"$ref": "#/components/schemas/Error"}


def operations(doc: dict):
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield path, method, op


def test_every_4xx_answer_in_the_document_is_the_error_schema(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    errors_listed = 0
    for path, method, op in operations(doc):
        for status, response in op["responses"].items():
            if status.startswith("4"):
                errors_listed += 1
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (
                    f"{method} {path} {status}"
                )
    assert errors_listed > 100


def test_authenticated_routes_list_400_401_403_and_case_steps_404_409(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    steps = 0
    for path, method, op in operations(doc):
        statuses = set(op["responses"])
        if op.get("security") == [{"bearer": []}]:
            assert {"400", "401", "403"} <= statuses, f"{method} {path}"
        if method == "post" and path.startswith("/api/v1/cases/{case_id}/"):
            steps += 1
            assert {"404", "409"} <= statuses, f"{method} {path}"
    assert steps >= 16
    for path, method in [
        ("/api/v1/cases", "get"),
        ("/api/v1/me", "get"),
        ("/api/v1/payments", "get"),
        ("/api/v1/cases/{case_id}", "get"),
    ]:
        assert doc["paths"][path][method]["security"] == [{"bearer": []}]


def test_every_route_of_the_app_is_in_the_document(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {(path, method) for path, method, _ in operations(doc)}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented


def test_docs_page_is_self_contained_html(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for text in (
        "/api/v1/applications",
        "SubmitApplicationRequest",
        "id_number",
        "ClockCommand",
        "clock_not_controlled",
    ):
        assert text in page
    assert "<script src" not in page and "//cdn" not in page and "<link" not in page


def controlled(tmp_path) -> Settings:
    return Settings.from_env(
        {
            "HQ_CLOCK_MODE": "controlled",
            "HQ_CLOCK_FILE": str(tmp_path / "clock.json"),
            "HQ_VAR_DIR": str(tmp_path),
        }
    )


def test_clock_is_read_only_in_real_mode(app):
    client = logged_in(app, "district-officer")
    state = client.get("/api/v1/clock").get_json()
    assert state["mode"] == "real" and state["offset_seconds"] == 0
    assert_error(client.post("/api/v1/clock", json={"advance": "P3D"}), 409, "clock_not_controlled")


def test_controlled_clock_can_be_set_advanced_and_reset(tmp_path, rpc):
    client = logged_in(create_app(controlled(tmp_path), rpc=rpc), "district-officer")
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


@pytest.mark.parametrize(
    "body, field",
    [
        ({"advance": "three days"}, "advance"),
        ({"set": "2024-03-01T09:00:00"}, "set"),
        ({"reset": False}, "reset"),
        ({"advance": "P1D", "reset": True}, "body"),
        ({}, "body"),
        ({"jump": "P1D"}, "jump"),
    ],
)
def test_bad_clock_command_names_the_field(tmp_path, rpc, body, field):
    client = logged_in(create_app(controlled(tmp_path), rpc=rpc), "district-officer")
    assert_error(client.post("/api/v1/clock", json=body), 400, "validation_failed", field)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"set": "9999-12-31T23:59:59+08:00"}, "set"),
        ({"set": "0001-01-01T00:00:00+00:00"}, "set"),
        ({"set": "1999-12-31T23:59:59+08:00"}, "set"),
        ({"advance": "P999999D"}, "advance"),
        ({"advance": "P40000D"}, "advance"),
        ({"advance": "PT0S"}, "advance"),
    ],
)
def test_SEC9_the_clock_stays_within_2000_to_2100(tmp_path, rpc, body, field):
    client = logged_in(create_app(controlled(tmp_path), rpc=rpc), "district-officer")
    assert_error(client.post("/api/v1/clock", json=body), 400, "validation_failed", field)
    assert client.get("/api/v1/clock").get_json()["offset_seconds"] == 0


# -- the case view's timeline and documents ---------------------------------------------------


def document_ref(service: str, issued_at: str) -> dict:
    return {
        "document_id": f"{service}:{issued_at}",
        "kind": "notice",
        "title": "告知书",
        "issued_at": issued_at,
        "served_at": None,
    }


def test_case_view_merges_documents_by_issue_date_and_adds_the_timeline(client, rpc):
    rpc.answers.update({f"{name}.get_case": service_view(name) for name in SERVICES})
    rpc.answers["intake.get_case"] = intake_view()
    rpc.answers.update({f"{name}.list_documents": {"documents": []} for name in SERVICES})
    rpc.answers["decision.list_documents"] = {
        "documents": [document_ref("decision", "2026-03-20T02:00:00+00:00")]
    }
    rpc.answers["intake.list_documents"] = {
        "documents": [document_ref("intake", "2026-03-02T10:00:00+08:00")]
    }
    rpc.answers["verification.list_documents"] = {
        "documents": [document_ref("verification", "2026-03-05T02:00:00.5+00:00")]
    }
    rpc.answers["payments.list_documents"] = errors.UpstreamTimeout("slow")
    entry = {
        "at": NOW,
        "service": "intake",
        "step": "accepted",
        "action": "accepted",
        "actor_user": "sgz-clerk",
        "actor_role": "clerk",
        "rule_id": "IN-6",
        "note": None,
        "document_ids": [],
    }
    rpc.answers["supervision.get_timeline"] = {"case_id": "c-1", "entries": [entry]}
    body = client.get("/api/v1/cases/c-1").get_json()
    assert [d["document_id"].split(":")[0] for d in body["documents"]] == [
        "intake",
        "verification",
        "decision",
    ]
    assert body["timeline"] == [entry]
    assert body["unavailable"] == {"payments.list_documents": "upstream_timeout"}


def test_case_view_survives_a_failing_timeline(client, rpc):
    rpc.answers["intake.get_case"] = intake_view()
    rpc.answers["supervision.get_timeline"] = errors.ServiceUnavailable("down")
    response = client.get("/api/v1/cases/c-1")
    assert response.status_code == 200
    body = response.get_json()
    assert body["timeline"] == [] and body["documents"] == []
    assert body["unavailable"]["supervision.get_timeline"] == "service_unavailable"
    assert body["services"]["supervision"] == {
        "status": "unavailable",
        "error": "service_unavailable",
    }


# -- lists, worklists and deadlines --------------------------------------------------------


def page(items=()) -> dict:
    return {"items": list(items), "page": 1, "per_page": 20, "total": len(items)}


def test_street_staff_list_only_their_street(client, rpc):
    rpc.answers["supervision.list_cases"] = lambda **query: page()
    assert client.get("/api/v1/cases?program=dibao&overdue=true").status_code == 200
    [call] = rpc.calls
    assert sent(call, "sgz-community") == {
        "street_code": "shaogongzhuang",
        "program": "dibao",
        "step": None,
        "overdue": True,
        "page": 1,
        "per_page": 20,
    }
    assert_error(client.get("/api/v1/cases?street_code=xigu"), 403, "wrong_street", "street_code")
    assert_error(client.get("/api/v1/deadlines?street_code=xigu"), 403, "wrong_street")
    assert_error(client.get("/api/v1/supervision/breaches?street_code=xigu"), 403, "wrong_street")
    assert len(rpc.calls) == 1


def test_the_district_lists_every_street_or_filters_one(app, rpc):
    rpc.answers["supervision.list_cases"] = lambda **query: page()
    district = logged_in(app, "district-officer")
    assert district.get("/api/v1/cases").status_code == 200
    assert district.get("/api/v1/cases?street_code=xigu&step=publicity").status_code == 200
    assert [c.kwargs["street_code"] for c in rpc.calls] == [None, "xigu"]
    assert rpc.calls[1].kwargs["step"] == "publicity"


@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/api/v1/cases?page=0", "page"),
        ("/api/v1/cases?page=abc", "page"),
        ("/api/v1/cases?per_page=101", "per_page"),
        ("/api/v1/cases?per_page=-1", "per_page"),
        ("/api/v1/cases?overdue=maybe", "overdue"),
        ("/api/v1/cases?program=pension", "program"),
        ("/api/v1/worklist?per_page=0", "per_page"),
        ("/api/v1/deadlines?page=x", "page"),
        ("/api/v1/deadlines?status=late", "status"),
    ],
)
def test_bad_query_parameter_is_400_naming_it_before_any_rpc(client, rpc, path, parameter):
    assert_error(client.get(path), 400, "validation_failed", parameter)
    assert rpc.calls == []


def test_worklist_is_the_users_role_and_street(app, rpc):
    rpc.answers["supervision.worklist"] = lambda **query: page()
    waiting = {
        "case_id": "c9",
        "case_no": "SGZ-2026-00009",
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "submitted_at": NOW,
    }
    rpc.answers["intake.list_awaiting_materials"] = lambda **query: {"cases": [waiting]}
    reviewer = logged_in(app, "shc-reviewer").get("/api/v1/worklist?page=2")
    assert reviewer.status_code == 200 and "awaiting_materials" not in reviewer.json
    district = logged_in(app, "district-officer").get("/api/v1/worklist")
    assert district.json["awaiting_materials"] == [waiting]  # IN-6: still waiting
    assert [(c.service, sent(c)) for c in rpc.calls] == [
        (
            "supervision",
            {"role": "reviewer", "street_code": "shuanghuancun", "page": 2, "per_page": 20},
        ),
        (
            "supervision",
            {"role": "district_officer", "street_code": None, "page": 1, "per_page": 20},
        ),
        ("intake", {"street_code": None, "limit": 100}),
    ]
    assert [c.kwargs["actor"]["user_id"] for c in rpc.calls] == [
        "shc-reviewer",
        "district-officer",
        "district-officer",
    ]


def test_deadlines_are_scoped_and_filtered(client, rpc):
    rpc.answers["supervision.list_deadlines"] = lambda **query: page()
    assert client.get("/api/v1/deadlines?status=overdue&per_page=5").status_code == 200
    assert sent(rpc.calls[0], "sgz-community") == {
        "street_code": "shaogongzhuang",
        "status": "overdue",
        "page": 1,
        "per_page": 5,
    }


def test_SU3_new_recipients_are_the_districts_only(app, client, rpc):
    rpc.answers["supervision.list_new_recipients"] = lambda **query: {"items": []}
    assert_error(client.get("/api/v1/recipients/new"), 403, "wrong_role", "role")
    assert_error(logged_in(app, "sgz-leader").get("/api/v1/recipients/new"), 403, "wrong_role")
    district = logged_in(app, "district-officer")
    assert district.get("/api/v1/recipients/new?month=2026-03").status_code == 200
    assert sent(rpc.calls[0], "district-officer") == {"street_code": None, "month": "2026-03"}
    assert_error(
        district.get("/api/v1/recipients/new?month=March"), 400, "validation_failed", "month"
    )


def test_timeline_of_another_streets_case_is_403(app, rpc):
    rpc.answers["intake.get_case"] = intake_view()
    rpc.answers["supervision.get_timeline"] = {"case_id": "c-1", "entries": []}
    assert_error(logged_in(app, "xgu-clerk").get("/api/v1/cases/c-1/timeline"), 403, "wrong_street")
    response = logged_in(app, "sgz-clerk").get("/api/v1/cases/c-1/timeline")
    assert response.get_json() == {"case_id": "c-1", "entries": []}


# -- documents ------------------------------------------------------------------------------


def stored_document(case_id: str = "c-1") -> dict:
    return {
        "document_id": "decision:d-1",
        "case_id": case_id,
        "kind": "decision_letter",
        "title": "最低生活保障审核确认决定书",
        "html": "<html><body>决定书</body></html>",
        "issued_at": "2026-03-20T02:00:00+00:00",
        "served_at": "2026-03-21T02:00:00+00:00",
    }


def test_document_is_served_as_html_or_json(client, rpc):
    rpc.answers["decision.get_document"] = stored_document()
    rpc.answers["intake.get_case"] = intake_view()
    response = client.get("/api/v1/documents/decision:d-1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "决定书" in response.get_data(as_text=True)
    body = client.get("/api/v1/documents/decision:d-1?format=json").get_json()
    assert body["issued_at"] == "2026-03-20T02:00:00+00:00"
    assert body["served_at"] == "2026-03-21T02:00:00+00:00"
    assert [(c.service, c.method) for c in rpc.calls][:2] == [
        ("decision", "get_document"),
        ("intake", "get_case"),
    ]


def test_document_of_another_streets_case_is_403(app, rpc):
    rpc.answers["decision.get_document"] = stored_document()
    rpc.answers["intake.get_case"] = intake_view()
    assert_error(
        logged_in(app, "shc-clerk").get("/api/v1/documents/decision:d-1"), 403, "wrong_street"
    )
    assert (
        logged_in(app, "district-officer").get("/api/v1/documents/decision:d-1").status_code == 200
    )


def test_document_id_and_format_are_checked_before_any_rpc(client, rpc):
    assert_error(
        client.get("/api/v1/documents/nobody:d-1"), 404, "document_not_found", "document_id"
    )
    assert_error(client.get("/api/v1/documents/d-1"), 404, "document_not_found")
    assert_error(
        client.get("/api/v1/documents/decision:d-1?format=pdf"), 400, "validation_failed", "format"
    )
    assert rpc.calls == []


# -- every read is made on behalf of the user ---------------------------------------------------

# Every read RPC the gateway makes, with its keyword arguments besides ``actor`` (which every
# call carries, as steps do): what the services' read entrypoints take.
READS = {
    **{(name, "get_case"): {"case_id"} for name in SERVICES},
    **{(name, "list_documents"): {"case_id"} for name in SERVICES},
    **{(name, "get_document"): {"document_id"} for name in SERVICES},
    ("supervision", "get_timeline"): {"case_id"},
    ("supervision", "list_cases"): {
        "street_code",
        "program",
        "step",
        "overdue",
        "page",
        "per_page",
    },
    ("supervision", "worklist"): {"role", "street_code", "page", "per_page"},
    ("supervision", "list_deadlines"): {"street_code", "status", "page", "per_page"},
    ("supervision", "list_breaches"): {"street_code", "limit"},
    ("supervision", "list_new_recipients"): {"street_code", "month"},
    ("intake", "list_awaiting_materials"): {"street_code", "limit"},
    ("payments", "list_payments"): {"month", "street_code"},
    ("decision", "list_recipients"): {"street_code", "community"},
    ("publicity", "get_deliberation_body"): {"street_code"},
}

READ_PATHS = [
    "/api/v1/cases/c-1",
    "/api/v1/cases/c-1/timeline",
    "/api/v1/cases",
    "/api/v1/worklist",
    "/api/v1/deadlines",
    "/api/v1/supervision/breaches",
    "/api/v1/recipients/new",
    "/api/v1/payments?month=2026-04",
    "/api/v1/streets/shaogongzhuang/recipients",
    "/api/v1/streets/shaogongzhuang/deliberation-body",
    *(f"/api/v1/documents/{name}:d-1" for name in SERVICES),
]


def read_answers() -> dict:
    """A service's answer to every read the gateway serves (the case, its documents, the
    lists), for tests that read every route."""
    answers: dict = {}
    answers.update({f"{name}.get_case": service_view(name) for name in SERVICES})
    answers.update({f"{name}.list_documents": {"documents": []} for name in SERVICES})
    answers.update({f"{name}.get_document": stored_document() for name in SERVICES})
    answers.update(
        {
            "intake.get_case": intake_view(),
            "supervision.get_timeline": {"case_id": "c-1", "entries": []},
            "supervision.list_cases": page(),
            "supervision.worklist": page(),
            "supervision.list_deadlines": page(),
            "supervision.list_breaches": {"breaches": []},
            "supervision.list_new_recipients": {"items": []},
            "intake.list_awaiting_materials": {"cases": []},
            "payments.list_payments": {
                "month": "2026-04",
                "street_code": None,
                "payments": [],
                "total_fen": 0,
            },
            "decision.list_recipients": {
                "street_code": "shaogongzhuang",
                "community": None,
                "recipients": [],
            },
            "publicity.get_deliberation_body": {"street_code": "shaogongzhuang", "members": []},
        }
    )
    return answers


def test_every_read_is_made_on_behalf_of_the_user(app, rpc):
    rpc.answers.update(read_answers())
    district = logged_in(app, "district-officer")
    for path in READ_PATHS:
        assert district.get(path).status_code == 200, path
    made = {}
    for call in rpc.calls:
        made.setdefault((call.service, call.method), set()).update(sent(call, "district-officer"))
    assert made == READS


def test_SEC9_advancing_the_clock_past_2100_is_refused_and_changes_nothing(tmp_path, rpc):
    client = logged_in(create_app(controlled(tmp_path), rpc=rpc), "district-officer")
    assert (
        client.post("/api/v1/clock", json={"set": "2100-06-01T09:00:00+08:00"}).status_code == 200
    )
    before = client.get("/api/v1/clock").get_json()["offset_seconds"]
    answer = client.post("/api/v1/clock", json={"advance": "P365D"})
    assert_error(answer, 400, "validation_failed", "advance")
    assert client.get("/api/v1/clock").get_json()["offset_seconds"] == pytest.approx(before, abs=1)
