"""The HTTP gateway: the app factory, its error handlers and its request hooks.

Every route lives in a module of ``gateway.routes``. Every answer is JSON (errors included, as
``{"error": {"code", "message", "field", "details"}}``, the codes in ``docs/errors.md``) except
``/metrics``, the docs page and HTML documents, and carries the request's ``X-Correlation-Id``
and the security headers of ``SECURITY_HEADERS``. A request body must be JSON (415 otherwise)
and at most ``MAX_BODY_BYTES``; a NUL in a query or path parameter is 400 naming it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, UnsupportedMediaType

from gateway.readlog import BrokerReadLog, ReadLog
from gateway.routes import BLUEPRINTS
from gateway.web import Gateway, Rpc, gateway
from hqcore import logs
from hqcore.config import Settings
from hqcore.contracts.fields import refuse_hostile
from hqcore.errors import DomainError, InternalError

log = logging.getLogger(__name__)

_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

#: The largest request body the gateway reads (413 ``payload_too_large`` beyond): the largest
#: application (20 members, 20 obligors with their families) is well under 100 KiB.
MAX_BODY_BYTES = 1024 * 1024

#: Methods whose body the gateway never reads: a body sent with them is ignored, not refused.
_BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: What a browser may do with an answer (SEC-11). Documents are HTML rendered from what users
#: typed, so the policy allows no script, no remote resource, no form and no framing; inline
#: styles (the documents' and the docs page's own) and data: images only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Answers carry a family's data: no browser or proxy keeps a copy.
    "Cache-Control": "no-store",
}


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
    response = _error(exc.code, exc.message, exc.http_status, exc.field, exc.details)
    retry_after = getattr(exc, "retry_after", None)  # 429 too_many_attempts (gateway.auth)
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


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


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _refuse_non_json_body() -> None:
    """415 ``unsupported_media_type`` for a body that is not declared JSON, before anything
    runs (SEC-11): a browser sends ``text/plain``, form-encoded and multipart bodies cross-site
    without asking, so only JSON, which it never sends cross-site unasked, may change
    anything. Left to routing when no route matches (404, 405 first)."""
    if request.routing_exception is not None or request.method in _BODILESS_METHODS:
        return
    declared = request.mimetype
    has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
    if (has_body or declared) and not _is_json(declared):
        raise UnsupportedMediaType(
            f"the request body must be JSON (Content-Type: application/json), "
            f"not {declared or 'undeclared'}"
        )


def _refuse_hostile_parameters() -> None:
    """400 naming the parameter for a NUL (``%00``) in any query or path parameter, whether or
    not a route reads it (SEC-8): PostgreSQL cannot compare or store it."""
    for name, value in request.args.items(multi=True):
        refuse_hostile({name: value})
    refuse_hostile(request.view_args or {})


def _finish_request(response: Response) -> Response:
    response.headers["X-Correlation-Id"] = g.get("correlation_id", "")
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
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


def create_app(
    settings: Settings | None = None, rpc: Rpc | None = None, reads: ReadLog | None = None
) -> Flask:
    """The gateway app; ``rpc`` replaces the broker-backed ``RpcClient`` and ``reads`` the
    broker-backed read log (tests)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["hq_gateway"] = Gateway(settings, rpc)
    app.extensions["hq_readlog"] = reads or BrokerReadLog(settings.amqp_uri)  # SEC-15
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.before_request(_begin_request)
    app.before_request(_refuse_non_json_body)
    app.before_request(_refuse_hostile_parameters)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app
