"""The gateway's OpenAPI 3 document, generated from the same marshmallow schemas it validates with.

Each route module lists its routes once in ``OPERATIONS``; ``build_spec`` turns them into the
document served at ``/api/v1/openapi.json`` and ``docs_context`` into what
``templates/docs.html`` renders. Every error an operation can answer (``Operation.errors``, and
400, 401 and 403 for every authenticated one) is the ``Error`` component; the codes are listed
in ``docs/errors.md``.

The document must say what the server does (SEC-12; the end-to-end tier checks it with
generated requests): a path parameter is a parameter only, never also a field of the request
body (``body_schema``); every query parameter a route reads is listed (``Operation.query``); an
answer that is not JSON names its own media type (``Operation.responses`` may map media types
to schemas).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
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
from hqcore.contracts.registry import RPC
from hqcore.contracts.rpc import ServiceCaseView

JSON = "application/json"
HTML = "text/html"
# A media type's schema: a marshmallow schema (JSON), a JSON Schema (``{"type": "string"}``), or
# None for a body the document does not describe further.
MediaSchema = type[Schema] | dict[str, Any] | None
# An answer: its description and either its JSON schema, or its schema per media type.
Response = tuple[str, type[Schema] | Mapping[str, MediaSchema] | None]

# The path parameters, as the contracts check them (longer is 400, unknown is 404).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "case_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "document_id": {"type": "string", "minLength": 3, "maxLength": 80},
    "street_code": {"type": "string", "minLength": 1, "maxLength": 40},
}

ERRORS: dict[int, str] = {
    400: "Invalid request: `validation_failed` (a field breaks the request's contract; "
    "`error.field` names the first, `error.details.fields` lists every message), "
    "`invalid_json`, or a rule of the step refused a value (e.g. `opinion_not_allowed`)",
    401: "`not_authenticated`, `invalid_token`, `token_expired` or `token_revoked`: refresh the "
    "token or log in (again)",
    403: "Not for this user: `wrong_role` (`error.details.allowed_roles`) or `wrong_street` "
    "(another street's case or list)",
    404: "Not found: `case_not_found` (`error.field` is `case_id`), or the missing thing's own "
    "code (`document_not_found`, `unknown_street`, …)",
    409: "Conflicts with the stored state: `invalid_state` (`error.details.status` and "
    "`error.details.allowed`), `concurrent_update`, or the step's own code "
    "(`duplicate_open_case`, `already_filed`, …)",
    429: "`too_many_attempts`: too many failed logins; wait the seconds of `Retry-After`",
    503: "`service_unavailable`: a service or the message broker is unavailable",
    415: "`unsupported_media_type`: the body is not JSON (`Content-Type: application/json`)",
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
    # The query parameters the route reads, each a field of ``query_contract``'s request (an
    # RPC contract's name) or of a gateway schema, documented as that field is validated.
    query: tuple[str, ...] = ()
    query_contract: str | type[Schema] | None = None

    def error_statuses(self) -> list[int]:
        """``errors``, 400/401/403 when authenticated, 415 when it takes a JSON body."""
        base = AUTHENTICATED_ERRORS if self.authenticated else ()
        body = (415,) if self.request is not None else ()
        return sorted({*base, *body, *self.errors})


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
    _query_parameters(document)
    services = document["components"]["schemas"]["CaseOverview"]["properties"]["services"]
    services["additionalProperties"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/ServiceCaseView"},
            {"$ref": "#/components/schemas/UnavailableView"},
        ]
    }
    return document


def body_schema(request: type[Schema], path: tuple[str, ...]) -> type[Schema]:
    """The HTTP body of an operation: its request contract without the fields the route takes
    from the path (``case_id``, ``street_code``), which a client cannot send in the body."""
    excluded = set(getattr(getattr(request, "Meta", None), "exclude", ()))
    taken = tuple(
        name for name in path if name in request._declared_fields and name not in excluded
    )
    return _without(request, taken) if taken else request


@cache
def _without(request: type[Schema], taken: tuple[str, ...]) -> type[Schema]:
    # One class per contract, so the document names it once (ObjectionRequest -> ObjectionBody).
    name = request.__name__.removesuffix("Request").removesuffix("Schema") + "Body"
    meta = type("Meta", (getattr(request, "Meta", object),), {"exclude": taken})
    return type(name, (request,), {"Meta": meta, "__doc__": request.__doc__})


def _query_schema(op: Operation) -> Schema:
    contract = op.query_contract
    if contract is None:
        raise ValueError(f"{op.method} {op.path}: query parameters need their contract")
    request = RPC[contract].request if isinstance(contract, str) else contract
    return request(only=op.query)


def _operation(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": {}}
    if op.description:
        body["description"] = op.description
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": text,
            "schema": dict(PATH_PARAMETERS.get(name, {"type": "string"})),
        }
        for name, text in op.path_params
    ]
    if op.query:
        parameters.append({"in": "query", "schema": _query_schema(op)})
    if parameters:
        body["parameters"] = parameters
    if op.request is not None:
        path = tuple(name for name, _ in op.path_params)
        body["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": body_schema(op.request, path)}},
        }
    for status, (text, schema) in op.responses.items():
        body["responses"][str(status)] = _response(text, schema)
    for status in op.error_statuses():
        body["responses"][str(status)] = _response(ERRORS[status], ErrorSchema)
    if op.authenticated:
        body["security"] = [{"bearer": []}]
    return body


def _response(text: str, schema: type[Schema] | Mapping[str, MediaSchema] | None) -> dict[str, Any]:
    if schema is None:
        return {"description": text}
    media = schema if isinstance(schema, Mapping) else {JSON: schema}
    return {
        "description": text,
        "content": {kind: {} if body is None else {"schema": body} for kind, body in media.items()},
    }


def _query_parameters(document: dict[str, Any]) -> None:
    """A query string has no null: an absent parameter is the contract's null default, so the
    parameters drop ``nullable`` and a null default or choice."""
    for methods in document["paths"].values():
        for op in methods.values():
            for parameter in op.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                schema = parameter["schema"]
                schema.pop("nullable", None)
                if "default" in schema and schema["default"] is None:
                    del schema["default"]
                if "enum" in schema:
                    schema["enum"] = [choice for choice in schema["enum"] if choice is not None]


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
