"""The HTTP gateway: validates requests, calls the services over RPC and answers JSON.

Every answer is JSON (errors included, as ``{"error": {"code", "message", "field"}}``) except
``/metrics`` and the docs page, and carries the request's ``X-Correlation-Id``.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from marshmallow import ValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from gateway.openapi import docs_context
from gateway.routes import BLUEPRINTS
from gateway.schemas import ClockCommandSchema, LoginSchema
from gateway.web import (
    PING_TIMEOUT, Gateway, Rpc, api, command, current_actor, present,
)
from gateway.web import gateway as _gateway
from gateway.web import json_object as _json_object
from hqcore import logs
from hqcore.authz import may_view
from hqcore.clock import ControlledClock, get_clock
from hqcore.config import SERVICES, Settings
from hqcore.contracts import load_rpc_request
from hqcore.errors import (
    Conflict,
    DomainError,
    Forbidden,
    ServiceUnavailable,
    validation_error_from_marshmallow,
)

log = logging.getLogger(__name__)

_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@api.get("/healthz")
def healthz() -> tuple[Response, int]:
    gateway = _gateway()
    pings = {name: gateway.call_async(name, "ping", timeout=PING_TIMEOUT) for name in SERVICES}
    services: dict[str, dict[str, Any]] = {}
    for name, future in pings.items():
        try:
            pong = gateway.result(future, PING_TIMEOUT)
            services[name] = {"status": "up", "now": pong.get("now")}
        except Exception as exc:
            error = exc if isinstance(exc, DomainError) else ServiceUnavailable(repr(exc))
            services[name] = {"status": "down", "error": error.code, "reason": error.message}
    healthy = all(entry["status"] == "up" for entry in services.values())
    return (jsonify(status="ok" if healthy else "degraded", services=services),
            200 if healthy else 503)


def metrics() -> Response:
    return Response(generate_latest(_gateway().metrics.registry), mimetype=CONTENT_TYPE_LATEST)


@api.post("/api/v1/login")
def login() -> Response:
    try:
        body = LoginSchema().load(_json_object())
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages) from None
    token, account = _gateway().auth.login(body["username"], body["password"])
    return jsonify(token=token, user=account.actor().to_dict())


@api.get("/api/v1/me")
def me() -> Response:
    return jsonify(current_actor().to_dict())


@api.post("/api/v1/applications")
def submit_application() -> tuple[Response, int, dict[str, str]]:
    actor = current_actor()
    body = _json_object()
    load_rpc_request("intake.submit_application", body)
    view = command("intake", "submit_application", actor, application=body)
    location = f"/api/v1/cases/{view['case_id']}"
    return jsonify(present(view, actor)), 201, {"Location": location}


@api.get("/api/v1/cases/<case_id>")
def get_case(case_id: str) -> Response:
    """The whole case as every service holds it, its timeline (supervision) and every
    service's documents by issue date, for a user of its street or the district. A service
    that does not answer is reported instead of failing the request."""
    actor = current_actor()
    load_rpc_request("intake.get_case", {"case_id": case_id})
    gateway = _gateway()
    views = {name: gateway.call_async(name, "get_case", case_id=case_id) for name in SERVICES}
    listings = {name: gateway.call_async(name, "list_documents", case_id=case_id)
                for name in SERVICES}
    timeline = gateway.call_async("supervision", "get_timeline", case_id=case_id)
    case = gateway.result(views.pop("intake"))
    if not may_view(actor, case["street_code"]):
        raise Forbidden("the case belongs to another street", field="street_code",
                        code="wrong_street")
    unavailable: dict[str, str] = {}

    def answer(call: str, future: Any) -> Any:
        try:
            return gateway.result(future)
        except Exception as exc:
            unavailable[call] = exc.code if isinstance(exc, DomainError) else "internal_error"
            return None

    services: dict[str, Any] = {}
    for name, future in views.items():
        view = answer(f"{name}.get_case", future)
        services[name] = (present(view, actor) if view is not None else
                          {"status": "unavailable", "error": unavailable.pop(f"{name}.get_case")})
    documents = [ref for name, future in listings.items()
                 for ref in (answer(f"{name}.list_documents", future) or {}).get("documents", [])]
    documents.sort(key=lambda ref: datetime.fromisoformat(ref["issued_at"]))
    entries = (answer("supervision.get_timeline", timeline) or {}).get("entries", [])
    return jsonify(case=present(case, actor), services=services, timeline=present(entries, actor),
                   documents=documents, unavailable=unavailable)


@api.get("/api/v1/supervision/breaches")
def list_breaches() -> Response:
    actor = current_actor()
    street = request.args.get("street_code") if actor.is_district else actor.street_code
    query = load_rpc_request("supervision.list_breaches", {
        "street_code": street, "limit": request.args.get("limit", 100)})
    return jsonify(_gateway().call("supervision", "list_breaches", **query))


@api.get("/api/v1/clock")
def clock_state() -> Response:
    return jsonify(get_clock(_gateway().settings).state())


@api.post("/api/v1/clock")
def change_clock() -> Response:
    clock = get_clock(_gateway().settings)
    if not isinstance(clock, ControlledClock):
        raise Conflict("the suite's clock is real time; start it with HQ_CLOCK_MODE=controlled",
                       code="clock_not_controlled")
    try:
        command = ClockCommandSchema().load(_json_object())
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages) from None
    if "set" in command:
        clock.set(command["set"])
    elif "advance" in command:
        clock.advance(command["advance"])
    else:
        clock.reset()
    state = clock.state()
    log.info("suite clock changed to %s (offset %.0f s)", state["now"], state["offset_seconds"])
    return jsonify(state)


@api.get("/api/v1/openapi.json")
def openapi_document() -> Response:
    return jsonify(_gateway().document())


@api.get("/api/v1/docs")
def docs_page() -> str:
    return render_template("docs.html", **docs_context(_gateway().document()))


def _error(code: str, message: str, status: int, field: str | None = None) -> Response:
    response = jsonify(error={"code": code, "message": message, "field": field})
    response.status_code = status
    return response


def _domain_error(exc: DomainError) -> Response:
    if exc.http_status >= 500:
        log.warning("request failed: %s %s", exc.code, exc.message)
    return _error(exc.code, exc.message, exc.http_status, exc.field)


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "payload_too_large", 415: "unsupported_media_type"}


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status, re.sub(r"\W+", "_", (exc.name or "error").lower()))
    if status == 404:
        message = f"no route for {request.method} {request.path}"
    elif isinstance(exc, MethodNotAllowed):
        message = f"{request.method} is not allowed on {request.path}"
    else:
        message = exc.description or exc.name
    response = _error(code, message, status)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.path)
    return _error("internal_error", "The gateway failed to handle the request.", 500)


def _begin_request() -> None:
    g.started = time.perf_counter()
    given = request.headers.get("X-Correlation-Id", "")
    g.correlation_id = given if _CORRELATION_ID.fullmatch(given) else uuid.uuid4().hex
    g.correlation_token = logs.correlation_id.set(g.correlation_id)


def _finish_request(response: Response) -> Response:
    response.headers["X-Correlation-Id"] = g.get("correlation_id", "")
    endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    metrics = _gateway().metrics
    metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
    metrics.request_seconds.labels(request.method, endpoint).observe(elapsed)
    log.info("%s %s %s %.1f ms", request.method, request.path, response.status_code,
             elapsed * 1000)
    return response


def _end_request(exc: BaseException | None) -> None:
    token = g.pop("correlation_token", None)
    if token is not None:
        logs.correlation_id.reset(token)


def create_app(settings: Settings | None = None, rpc: Rpc | None = None) -> Flask:
    """The gateway app; ``rpc`` replaces the broker-backed ``RpcClient`` (tests)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["hq_gateway"] = Gateway(settings, rpc)
    app.register_blueprint(api)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    if settings.gateway_metrics_enabled:
        app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    app.before_request(_begin_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app
