"""The gateway's OpenAPI 3 document, generated from the same marshmallow schemas it validates with.

Each route module lists its routes once in ``OPERATIONS``; ``build_spec`` turns them into the
document served at ``/api/v1/openapi.json`` and ``docs_context`` into what
``templates/docs.html`` renders. Every error an operation can answer (``Operation.errors``, and
400, 401 and 403 for every authenticated one) is the ``Error`` component; the codes are listed
in ``docs/errors.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from gateway.schemas import (
    CaseOverviewSchema,
    ClockCommandSchema,
    ClockStateSchema,
    ErrorSchema,
    HealthSchema,
    UnavailableView,
)
from hqcore.contracts.intake import IntakeCaseView, SubmitApplicationRequest
from hqcore.contracts.rpc import ServiceCaseView

Response = tuple[str, type[Schema] | None]

ERRORS: dict[int, str] = {
    400: "Invalid request: `validation_failed` (a field breaks the request's contract; "
    "`error.field` names the first, `error.details.fields` lists every message), "
    "`invalid_json`, or a rule of the step refused a value (e.g. `opinion_not_allowed`)",
    401: "`not_authenticated`, `invalid_token` or `token_expired`: log in (again)",
    403: "Not for this user: `wrong_role` (`error.details.allowed_roles`) or `wrong_street` "
    "(another street's case or list)",
    404: "Not found: `case_not_found` (`error.field` is `case_id`), or the missing thing's own "
    "code (`document_not_found`, `unknown_street`, …)",
    409: "Conflicts with the stored state: `invalid_state` (`error.details.status` and "
    "`error.details.allowed`), `concurrent_update`, or the step's own code "
    "(`duplicate_open_case`, `already_filed`, …)",
    503: "`service_unavailable`: a service or the message broker is unavailable",
    504: "`upstream_timeout`: a service did not answer in time",
}

# What every authenticated operation can answer, besides its own errors.
AUTHENTICATED_ERRORS = (400, 401, 403)
# What an operation that calls a service can answer besides.
RPC_ERRORS = (503, 504)
# A step on one case: the case may be unknown, or not in a state that allows the step.
CASE_STEP_ERRORS = (404, 409, *RPC_ERRORS)


@dataclass(frozen=True)
class Operation:
    """One route as the document describes it. ``errors``: the error statuses it can answer
    besides ``AUTHENTICATED_ERRORS``, which every ``authenticated`` operation lists."""

    path: str
    method: str
    summary: str
    tag: str
    responses: Mapping[int, Response]
    description: str = ""
    request: type[Schema] | None = None
    path_params: tuple[tuple[str, str], ...] = ()
    errors: tuple[int, ...] = ()
    authenticated: bool = True

    def error_statuses(self) -> list[int]:
        base = AUTHENTICATED_ERRORS if self.authenticated else ()
        return sorted({*base, *self.errors})


# Named components (schemas referenced by an operation are added under their class name).
COMPONENTS: dict[str, type[Schema]] = {
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
    from gateway.routes import OPERATIONS  # the route modules import this one

    spec = APISpec(
        title="Hongqiao District social assistance gateway",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "HTTP API of the case-management suite. Every error answers "
            '`{"error": {"code", "message", "field", "details"}}` (the '
            "`Error` schema; every code is listed in docs/errors.md); every "
            "answer carries an `X-Correlation-Id` header (sent by the client "
            "or generated)."
        },
    )
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for path in dict.fromkeys(op.path for op in OPERATIONS):
        spec.path(
            path=path,
            operations={op.method: _operation(op) for op in OPERATIONS if op.path == path},
        )
    document = spec.to_dict()
    services = document["components"]["schemas"]["CaseOverview"]["properties"]["services"]
    services["additionalProperties"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/ServiceCaseView"},
            {"$ref": "#/components/schemas/UnavailableView"},
        ]
    }
    return document


def _operation(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": {}}
    if op.description:
        body["description"] = op.description
    if op.path_params:
        body["parameters"] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in op.path_params
        ]
    if op.request is not None:
        body["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.request}},
        }
    for status, (text, schema) in op.responses.items():
        body["responses"][str(status)] = _response(text, schema)
    for status in op.error_statuses():
        body["responses"][str(status)] = _response(ERRORS[status], ErrorSchema)
    if op.authenticated:
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
            operations.append(
                {
                    "anchor": f"{method}-{path}".replace("/", "-")
                    .replace("{", "")
                    .replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": op.get("parameters", []),
                    "request": request_ref,
                    "request_fields": _fields(schemas.get(request_ref or "", {})),
                    "responses": [
                        {
                            "status": status,
                            "description": resp.get("description", ""),
                            "schema": _ref_name(
                                resp.get("content", {})
                                .get("application/json", {})
                                .get("schema", {})
                            ),
                        }
                        for status, resp in op.get("responses", {}).items()
                    ],
                }
            )
    return {
        "info": document.get("info", {}),
        "openapi": document.get("openapi", ""),
        "operations": operations,
        "schemas": [{"name": name, "fields": _fields(body)} for name, body in schemas.items()],
    }


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": _type(prop),
            "ref": _ref_name(prop),
            "required": name in required,
            "description": prop.get("description", ""),
            "constraints": _constraints(prop),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


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
