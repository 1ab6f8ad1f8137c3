"""The HTTP gateway: validates requests, calls the services over RPC and answers JSON.

Every answer is JSON (errors included, as ``{"error": {"code", "message", "field"}}``) except
``/metrics`` and the docs page, and carries the request's ``X-Correlation-Id``.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from marshmallow import ValidationError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from gateway.openapi import build_spec, docs_context
from gateway.schemas import ClockCommandSchema
from hqcore import idnumber, logs
from hqcore.clock import ControlledClock, get_clock
from hqcore.config import SERVICES, Settings
from hqcore.contracts import load_rpc_request
from hqcore.errors import (
    Conflict,
    DomainError,
    ServiceUnavailable,
    UpstreamTimeout,
    ValidationFailed,
    validation_error_from_marshmallow,
)
from hqcore.messaging.rpc_client import RpcClient

log = logging.getLogger(__name__)

PING_TIMEOUT = 2.0
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_WAIT_GRACE = 5.0
_BROKER_RETRY = 2.0


class Rpc(Protocol):
    """What the gateway needs of an RPC client (``RpcClient`` or a test fake)."""

    def call_async(self, service: str, method: str, timeout: float | None = None,
                   correlation_id: str | None = None, acting_user: str | None = None,
                   **kwargs: Any) -> Future: ...


class Metrics:
    """The gateway's own Prometheus registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("hq_gateway_requests_total", "HTTP requests answered",
                                ["method", "endpoint", "status"], registry=self.registry)
        self.request_seconds = Histogram("hq_gateway_request_seconds", "HTTP request duration",
                                         ["method", "endpoint"], registry=self.registry)
        self.rpc_seconds = Histogram("hq_gateway_rpc_seconds", "RPC call duration",
                                     ["service", "method", "outcome"], registry=self.registry)


class Gateway:
    """Per-app state: settings, metrics and the one RPC client, created on first use."""

    def __init__(self, settings: Settings, rpc: Rpc | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self._rpc = rpc
        self._owned: RpcClient | None = None
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None
        self._retry_at = 0.0

    def client(self) -> Rpc:
        if self._rpc is None:
            with self._lock:
                if self._rpc is None:
                    if time.monotonic() < self._retry_at:
                        raise ServiceUnavailable("the message broker cannot be reached")
                    client = RpcClient(self.settings.amqp_uri, timeout=self.settings.rpc_timeout)
                    try:
                        client.start()
                    except ServiceUnavailable:
                        self._retry_at = time.monotonic() + _BROKER_RETRY
                        raise
                    self._owned = self._rpc = client
        return self._rpc

    def close(self) -> None:
        with self._lock:
            if self._owned is not None:
                self._owned.stop()
                self._owned = self._rpc = None

    def call_async(self, service: str, method: str, timeout: float | None = None,
                   **kwargs: Any) -> Future:
        """Start ``service.method``; any failure (unreachable broker too) lands in the future."""
        started = time.perf_counter()
        try:
            future = self.client().call_async(
                service, method, timeout=timeout, correlation_id=logs.correlation_id.get(),
                **kwargs)
        except Exception as exc:
            future = Future()
            future.set_exception(exc)

        def observe(done: Future) -> None:
            self.metrics.rpc_seconds.labels(service, method, _outcome(done.exception())).observe(
                time.perf_counter() - started)

        future.add_done_callback(observe)
        return future

    def result(self, future: Future, timeout: float | None = None) -> Any:
        """Wait for ``future``; the client times calls out, this only guards against a lost one."""
        limit = (timeout or self.settings.rpc_timeout) + _WAIT_GRACE
        try:
            return future.result(limit)
        except FutureTimeout:
            raise UpstreamTimeout(f"no answer within {limit:g} s") from None

    def call(self, service: str, method: str, timeout: float | None = None, **kwargs: Any) -> Any:
        return self.result(self.call_async(service, method, timeout, **kwargs), timeout)

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = build_spec()
        return self._document


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, ServiceUnavailable):
        return "unavailable"
    if isinstance(exc, DomainError) and exc.http_status < 500:
        return "error"
    return "failure"


def mask_ids(value: Any) -> Any:
    """Copy ``value`` with every ``id_number`` (and ``id_numbers`` entry) masked."""
    if isinstance(value, dict):
        masked = {}
        for key, item in value.items():
            if key == "id_number" and isinstance(item, str):
                masked[key] = idnumber.mask(item)
            elif key == "id_numbers" and isinstance(item, list):
                masked[key] = [idnumber.mask(v) if isinstance(v, str) else v for v in item]
            else:
                masked[key] = mask_ids(item)
        return masked
    if isinstance(value, list):
        return [mask_ids(item) for item in value]
    return value


api = Blueprint("api", __name__)


def _gateway() -> Gateway:
    return current_app.extensions["hq_gateway"]


def _json_object() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=True) or b"")
    except ValueError:
        raise ValidationFailed("the request body is not valid JSON", field="body",
                               code="invalid_json") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object", field="body")
    return body


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


@api.post("/api/v1/applications")
def submit_application() -> tuple[Response, int, dict[str, str]]:
    body = _json_object()
    load_rpc_request("intake.submit_application", body)
    view = _gateway().call("intake", "submit_application", application=body)
    location = f"/api/v1/cases/{view['case_id']}"
    return jsonify(mask_ids(view)), 201, {"Location": location}


@api.get("/api/v1/cases/<case_id>")
def get_case(case_id: str) -> Response:
    load_rpc_request("intake.get_case", {"case_id": case_id})
    gateway = _gateway()
    views = {name: gateway.call_async(name, "get_case", case_id=case_id) for name in SERVICES}
    case = gateway.result(views.pop("intake"))
    services: dict[str, Any] = {}
    for name, future in views.items():
        try:
            services[name] = mask_ids(gateway.result(future))
        except Exception as exc:
            code = exc.code if isinstance(exc, DomainError) else "internal_error"
            services[name] = {"status": "unavailable", "error": code}
    return jsonify(case=mask_ids(case), services=services)


@api.get("/api/v1/supervision/breaches")
def list_breaches() -> Response:
    query = load_rpc_request("supervision.list_breaches", {
        "street_code": request.args.get("street_code"),
        "limit": request.args.get("limit", 100),
    })
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
    if settings.gateway_metrics_enabled:
        app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    app.before_request(_begin_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app
