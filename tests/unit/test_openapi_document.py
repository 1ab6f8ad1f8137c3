"""SEC-12: the OpenAPI document says what the gateway does: the body of a step has no field
the path gives, every query parameter a route reads is listed, and an answer is documented
with the media type it is served in and a schema its body meets (checked with the same
schemathesis checks as the end-to-end tier's generated run, over Flask's test client)."""

from __future__ import annotations

import inspect
import json
import re
from concurrent.futures import Future
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway import create_app
from gateway.openapi import build_spec
from hqcore.config import Settings
from tests.support.reads import FakeReadLog

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NOW = "2026-03-20T02:00:00+00:00"


class CannedRpc:
    """Answers each ``service.method`` from ``answers`` (what the services would send)."""

    def __init__(self, answers: dict[str, Any]):
        self.answers = answers

    def call_async(self, service, method, timeout=None, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(self.answers[f"{service}.{method}"])
        return future


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(json.dumps(build_spec()))


def operations(document: dict[str, Any]):
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            yield path, method, op


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_SEC12_path_parameters_are_not_fields_of_the_request_body(document):
    checked = 0
    for path, method, op in operations(document):
        in_path = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not in_path or body is None:
            continue
        schema = resolved(document, body["schema"])
        checked += 1
        assert not in_path & set(schema.get("properties", {})), f"{method} {path}"
        assert not in_path & set(schema.get("required", [])), f"{method} {path}"
    assert checked >= 19  # every step on a case, and the street settings


def read_query_parameters(view) -> set[str]:
    """The query parameters a view reads: ``query("a", "b")``, ``request.args.get("c")``, and
    ``street_code`` through ``street_scope``."""
    source = inspect.getsource(view)
    names = set(re.findall(r'request\.args\.get\("(\w+)"', source))
    for call in re.findall(r"\bquery\(([^)]*)\)", source):
        names |= set(re.findall(r'"(\w+)"', call))
    if "street_scope(" in source:
        names.add("street_code")
    return names


def test_SEC12_every_query_parameter_a_route_reads_is_documented(tmp_path, document):
    app = create_app(Settings.from_env({"HQ_DEMO": "1", "HQ_VAR_DIR": str(tmp_path)}))
    reading = 0
    for rule in app.url_map.iter_rules():
        read = read_query_parameters(app.view_functions[rule.endpoint])
        if not read:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = document["paths"][path][method.lower()]
            listed = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
            assert read == listed, f"{method} {path}"
            reading += 1
    assert reading >= 8


def test_SEC12_query_parameters_carry_their_contracts_constraints(document):
    cases = {p["name"]: p for p in document["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert cases["per_page"]["schema"] == {
        "type": "integer",
        "default": 20,
        "minimum": 1,
        "maximum": 100,
    }
    assert cases["program"]["schema"]["enum"] == ["dibao", "low_income", "tekun"]
    payments = document["paths"]["/api/v1/payments"]["get"]["parameters"]
    assert [p["name"] for p in payments if p["required"]] == ["month"]


def stored_document() -> dict[str, Any]:
    return {
        "document_id": "decision:d-1",
        "case_id": "c-1",
        "kind": "decision_letter",
        "title": "最低生活保障审核确认决定书",
        "html": "<html><body>决定书</body></html>",
        "issued_at": NOW,
        "served_at": None,
    }


@pytest.fixture
def served(tmp_path):
    """The gateway over canned service answers, and a way to check one of its answers against
    the document it serves."""
    answers = {
        "decision.get_document": stored_document(),
        "intake.get_case": {"case_id": "c-1", "street_code": "shaogongzhuang"},
    }
    settings = Settings.from_env(
        {"HQ_DEMO": "1", "HQ_VAR_DIR": str(tmp_path), "HQ_METRICS_ENABLED": "1"}
    )
    app = create_app(settings, rpc=CannedRpc(answers), reads=FakeReadLog())
    auth = app.extensions["hq_gateway"].auth
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {auth.issue(auth.accounts['sgz-clerk'])}"
    api = schemathesis.openapi.from_dict(client.get("/api/v1/openapi.json").get_json())

    def check(path: str, method: str, url: str):
        response = client.open(url, method=method)
        case = api[path][method].Case(
            path_parameters={"document_id": "decision:d-1"} if "{" in path else None
        )
        case.validate_response(response, checks=CHECKS)
        return response

    return check


@pytest.mark.parametrize(
    "path, url, mimetype",
    [
        ("/api/v1/documents/{document_id}", "/api/v1/documents/decision:d-1", "text/html"),
        (
            "/api/v1/documents/{document_id}",
            "/api/v1/documents/decision:d-1?format=json",
            "application/json",
        ),
        ("/api/v1/openapi.json", "/api/v1/openapi.json", "application/json"),
        ("/api/v1/docs", "/api/v1/docs", "text/html"),
        ("/metrics", "/metrics", "text/plain"),
        ("/api/v1/me", "/api/v1/me", "application/json"),
    ],
)
def test_SEC12_answers_are_documented_in_the_media_type_served(served, path, url, mimetype):
    response = served(path, "GET", url)
    assert response.status_code == 200
    assert response.mimetype == mimetype


def test_SEC12_timeline_entries_document_every_field_supervision_sends(document):
    """Supervision answers ``asdict(TimelineEntry)`` for each entry: every field the document
    requires is one it sends, `service` among them."""
    from services.supervision.domain import TimelineEntry

    entry = resolved(document, {"$ref": "#/components/schemas/TimelineEntry"})
    assert "service" in entry["required"]
    sent = set(TimelineEntry.__dataclass_fields__)
    assert set(entry["required"]) <= sent
