"""The HTTP gateway: the app factory, its error handlers and its request hooks.

Every route lives in a module of ``gateway.routes``. Every answer is JSON (errors included, as
``{"error": {"code", "message", "field", "details"}}``, the codes in ``docs/errors.md``) except
``/metrics`` and the docs page, and carries the request's ``X-Correlation-Id``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from gateway.routes import BLUEPRINTS
from gateway.web import Gateway, Rpc, gateway
from hqcore import logs
from hqcore.config import Settings
from hqcore.errors import DomainError, InternalError

log = logging.getLogger(__name__)

_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _error(
    code: str, message: str, status: int, field: str | None = None, details: dict | None = None
) -> Response:
    response = jsonify(
        error={"code": code, "message": message, "field": field, "details": details or {}}
    )
    response.status_code = status
    return response


def _domain_error(exc: DomainError) -> Response:
    if exc.http_status >= 500:
        log.warning("request failed: %s %s", exc.code, exc.message)
    return _error(exc.code, exc.message, exc.http_status, exc.field, exc.details)


# The codes of HTTP-level errors (no route, wrong method, ...), and of any other.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
OTHER_HTTP_CODE = "http_error"


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, OTHER_HTTP_CODE)
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
    error = InternalError("The gateway failed to handle the request.")
    return _error(error.code, error.message, error.http_status)


def _begin_request() -> None:
    g.started = time.perf_counter()
    given = request.headers.get("X-Correlation-Id", "")
    g.correlation_id = given if _CORRELATION_ID.fullmatch(given) else uuid.uuid4().hex
    g.correlation_token = logs.correlation_id.set(g.correlation_id)


def _finish_request(response: Response) -> Response:
    response.headers["X-Correlation-Id"] = g.get("correlation_id", "")
    endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    metrics = gateway().metrics
    metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
    metrics.request_seconds.labels(request.method, endpoint).observe(elapsed)
    log.info("%s %s %s %.1f ms", request.method, request.path, response.status_code, elapsed * 1000)
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
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.before_request(_begin_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app
