"""The gateway's OpenAPI 3 document, generated from the same marshmallow schemas it validates with.

``OPERATIONS`` lists every route once; ``build_spec`` turns it into the document served at
``/api/v1/openapi.json`` and ``docs_context`` into what ``templates/docs.html`` renders.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from gateway.schemas import (
    CaseOverviewSchema,
    LoginAnswerSchema,
    LoginSchema,
    ClockCommandSchema,
    ClockStateSchema,
    ErrorSchema,
    HealthSchema,
    UnavailableView,
)
from hqcore.contracts.rpc import BreachList, IntakeCaseView, ServiceCaseView, SubmitApplicationRequest

Response = tuple[str, type[Schema] | None]

_ERRORS: dict[int, str] = {
    400: "Invalid request: malformed JSON (`invalid_json`) or a field failed validation; "
         "`error.field` names it",
    401: "Not logged in, or the token is invalid or expired",
    403: "The step is not for this role (`wrong_role`) or the case is another street's "
         "(`wrong_street`)",
    404: "Not found",
    409: "Conflicts with the stored state",
    503: "A service or the message broker is unavailable",
    504: "A service did not answer in time",
}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    summary: str
    tag: str
    responses: dict[int, Response]
    description: str = ""
    request: type[Schema] | None = None
    path_params: tuple[tuple[str, str], ...] = ()
    errors: tuple[int, ...] = ()


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/healthz", "get", "Health of every service", "operations",
        {200: ("Every service answered its ping", HealthSchema),
         503: ("At least one service is down", HealthSchema)},
        description="Pings the six services concurrently (2 s each).",
    ),
    Operation(
        "/metrics", "get", "Prometheus metrics of the gateway", "operations",
        {200: ("Prometheus text exposition format", None)},
    ),
    Operation(
        "/api/v1/login", "post", "Log in", "authentication",
        {200: ("A bearer token and the user's role and street", LoginAnswerSchema)},
        description="Demo accounts are listed in the README; every password is `demo`.",
        request=LoginSchema, errors=(400, 401),
    ),
    Operation(
        "/api/v1/me", "get", "The logged-in user", "authentication",
        {200: ("user_id, role, street_code (null for the district), name", None)},
        errors=(401,),
    ),
    Operation(
        "/api/v1/applications", "post", "Submit a family's application", "cases",
        {201: ("The case was opened; `Location` points at it. ID numbers are masked.",
               IntakeCaseView)},
        description="A street's clerk, or a community worker as the residents' committee's "
                    "proxy, files an application (IN-1, IN-2, ORG-6): accepted at once when "
                    "complete, otherwise one written notice lists every missing item (IN-6).",
        request=SubmitApplicationRequest,
        errors=(400, 401, 403, 409, 503, 504),
    ),
    Operation(
        "/api/v1/cases/{case_id}", "get", "A case as every service sees it", "cases",
        {200: ("Intake's view and each downstream service's view", CaseOverviewSchema)},
        description="Asks all six services concurrently; a downstream service that does not "
                    "answer is reported as unavailable instead of failing the request.",
        path_params=(("case_id", "the case identifier returned on submission"),),
        errors=(400, 401, 403, 404, 503, 504),
    ),
    Operation(
        "/api/v1/supervision/breaches", "get", "Deadlines breached across the streets",
        "supervision",
        {200: ("The district's register of breached deadlines, oldest due first", BreachList)},
        description="Every deadline any service found breached, with its rule ID. Query: "
                    "`street_code` to filter, `limit` (1-500, default 100).",
        errors=(400, 401, 503, 504),
    ),
    Operation(
        "/api/v1/clock", "get", "The suite's clock", "clock",
        {200: ("Mode, current instant and offset from real time", ClockStateSchema)},
    ),
    Operation(
        "/api/v1/clock", "post", "Set, advance or reset the suite's clock", "clock",
        {200: ("The clock after the change", ClockStateSchema)},
        description="Controlled clock mode (demo and test) only; otherwise 409 "
                    "`clock_not_controlled`.",
        request=ClockCommandSchema,
        errors=(400, 409),
    ),
    Operation(
        "/api/v1/openapi.json", "get", "This OpenAPI document", "documentation",
        {200: ("OpenAPI 3.0 document", None)},
    ),
    Operation(
        "/api/v1/docs", "get", "Browsable API documentation", "documentation",
        {200: ("HTML page", None)},
    ),
)

_COMPONENTS: dict[str, type[Schema]] = {
    "Error": ErrorSchema,
    "SubmitApplicationRequest": SubmitApplicationRequest,
    "IntakeCaseView": IntakeCaseView,
    "ServiceCaseView": ServiceCaseView,
    "UnavailableView": UnavailableView,
    "CaseOverview": CaseOverviewSchema,
    "Health": HealthSchema,
    "ClockState": ClockStateSchema,
    "ClockCommand": ClockCommandSchema,
}


def build_spec() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the gateway."""
    spec = APISpec(
        title="Hongqiao District social assistance gateway",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "HTTP API of the case-management suite. Every error answers "
                             '`{"error": {"code", "message", "field"}}`; every answer carries '
                             "an `X-Correlation-Id` header (sent by the client or generated)."},
    )
    for name, schema in _COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    from gateway.routes import OPERATIONS as STEP_OPERATIONS  # route modules import this one
    operations = (*OPERATIONS, *STEP_OPERATIONS)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for path in dict.fromkeys(op.path for op in operations):
        spec.path(path=path, operations={
            op.method: _operation(op) for op in operations if op.path == path})
    document = spec.to_dict()
    services = document["components"]["schemas"]["CaseOverview"]["properties"]["services"]
    services["additionalProperties"] = {"oneOf": [
        {"$ref": "#/components/schemas/ServiceCaseView"},
        {"$ref": "#/components/schemas/UnavailableView"}]}
    return document


def _operation(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": {}}
    if op.description:
        body["description"] = op.description
    if op.path_params:
        body["parameters"] = [
            {"name": name, "in": "path", "required": True, "description": text,
             "schema": {"type": "string"}} for name, text in op.path_params]
    if op.request is not None:
        body["requestBody"] = {"required": True,
                               "content": {"application/json": {"schema": op.request}}}
    for status, (text, schema) in op.responses.items():
        body["responses"][str(status)] = _response(text, schema)
    for status in op.errors:
        body["responses"][str(status)] = _response(_ERRORS[status], ErrorSchema)
    if 401 in op.errors and op.path != "/api/v1/login":
        body["security"] = [{"bearer": []}]
    return body


def _response(text: str, schema: type[Schema] | None) -> dict[str, Any]:
    if schema is None:
        return {"description": text}
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def docs_context(document: dict[str, Any]) -> dict[str, Any]:
    """What the docs page shows: operations with their fields, then every component schema."""
    schemas = document.get("components", {}).get("schemas", {})
    operations = []
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            request = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            request_ref = _ref_name(request.get("schema", {}))
            operations.append({
                "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                "method": method.upper(),
                "path": path,
                "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "parameters": op.get("parameters", []),
                "request": request_ref,
                "request_fields": _fields(schemas.get(request_ref or "", {})),
                "responses": [
                    {"status": status, "description": resp.get("description", ""),
                     "schema": _ref_name(resp.get("content", {}).get("application/json", {})
                                         .get("schema", {}))}
                    for status, resp in op.get("responses", {}).items()],
            })
    return {
        "info": document.get("info", {}),
        "openapi": document.get("openapi", ""),
        "operations": operations,
        "schemas": [{"name": name, "fields": _fields(body)} for name, body in schemas.items()],
    }


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [{"name": name, "type": _type(prop), "ref": _ref_name(prop),
             "required": name in required, "description": prop.get("description", ""),
             "constraints": _constraints(prop)}
            for name, prop in schema.get("properties", {}).items()]


def _ref_name(prop: dict[str, Any]) -> str | None:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if prop.get("allOf"):
        return _ref_name(prop["allOf"][0])
    if prop.get("type") == "array":
        return _ref_name(prop.get("items", {}))
    if isinstance(prop.get("additionalProperties"), dict):
        return _ref_name(prop["additionalProperties"])
    return None


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop or prop.get("allOf"):
        return _ref_name(prop) or "object"
    if "oneOf" in prop:
        return " or ".join(_type(choice) for choice in prop["oneOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {_type(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'])}"
    if prop.get("format"):
        return f"{kind} ({prop['format']})"
    return kind


def _constraints(prop: dict[str, Any]) -> str:
    parts = []
    if "enum" in prop:
        parts.append("one of " + ", ".join(_literal(v) for v in prop["enum"]))
    for key in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"):
        if key in prop:
            parts.append(f"{key} {prop[key]}")
    if prop.get("nullable"):
        parts.append("nullable")
    return "; ".join(parts)


def _literal(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)
