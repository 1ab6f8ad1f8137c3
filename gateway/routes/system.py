"""HTTP routes of the gateway itself: health of every service, its Prometheus metrics, the
suite's clock (demo and tests) and the API documents. Only moving the clock needs a login
(the district officer's)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import NotFound as NoRoute

from gateway.openapi import HTML, JSON, Operation, docs_context
from gateway.schemas import CLOCK_LATEST, ClockCommandSchema, ClockStateSchema, HealthSchema
from gateway.web import PING_TIMEOUT, current_actor, gateway, json_object, loaded
from hqcore.authz import DISTRICT_OFFICER
from hqcore.clock import ControlledClock, SystemClock, get_clock
from hqcore.config import SERVICES
from hqcore.errors import Conflict, DomainError, Forbidden, ServiceUnavailable, ValidationFailed

log = logging.getLogger(__name__)

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Pings every service concurrently; 503 naming the ones down."""
    pings = {name: gateway().call_async(name, "ping", timeout=PING_TIMEOUT) for name in SERVICES}
    services: dict[str, dict[str, Any]] = {}
    for name, future in pings.items():
        try:
            pong = gateway().result(future, PING_TIMEOUT)
            services[name] = {"status": "up", "now": pong.get("now")}
        except Exception as exc:
            error = exc if isinstance(exc, DomainError) else ServiceUnavailable(repr(exc))
            services[name] = {"status": "down", "error": error.code, "reason": error.message}
    healthy = all(entry["status"] == "up" for entry in services.values())
    return (
        jsonify(status="ok" if healthy else "degraded", services=services),
        200 if healthy else 503,
    )


@bp.get("/metrics")
def metrics() -> Response:
    if not gateway().settings.gateway_metrics_enabled:
        raise NoRoute()
    return Response(generate_latest(gateway().metrics.registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/api/v1/clock")
def clock_state() -> Response:
    clock = get_clock(gateway().settings)
    assert isinstance(clock, SystemClock | ControlledClock)
    return jsonify(clock.state())


@bp.post("/api/v1/clock")
def change_clock() -> Response:
    """Moves the whole suite's time, so only the district officer may (SEC-11): a deadline
    passed by a careless or forged request would breach rules for every street."""
    actor = current_actor()
    if actor.role != DISTRICT_OFFICER:
        raise Forbidden(
            "only the district officer may move the suite's clock",
            field="role",
            code="wrong_role",
            details={"allowed_roles": [DISTRICT_OFFICER]},
        )
    clock = get_clock(gateway().settings)
    if not isinstance(clock, ControlledClock):
        raise Conflict(
            "the suite's clock is real time; start it with HQ_CLOCK_MODE=controlled",
            code="clock_not_controlled",
        )
    command = loaded(ClockCommandSchema, json_object())
    if "set" in command:
        clock.set(command["set"])
    elif "advance" in command:
        if clock.now() + command["advance"] > CLOCK_LATEST:
            raise ValidationFailed("the suite's time may not move past 2100-12-31", field="advance")
        clock.advance(command["advance"])
    else:
        clock.reset()
    state = clock.state()
    log.info("suite clock changed to %s (offset %.0f s)", state["now"], state["offset_seconds"])
    return jsonify(state)


@bp.get("/api/v1/openapi.json")
def openapi_document() -> Response:
    return jsonify(gateway().document())


@bp.get("/api/v1/docs")
def docs_page() -> str:
    return render_template("docs.html", **docs_context(gateway().document()))


OPERATIONS = (
    Operation(
        "/healthz",
        "get",
        "Health of every service",
        "operations",
        {
            200: ("Every service answered its ping", HealthSchema),
            503: ("At least one service is down", HealthSchema),
        },
        description="Pings the six services concurrently (2 s each).",
        authenticated=False,
    ),
    Operation(
        "/metrics",
        "get",
        "Prometheus metrics of the gateway",
        "operations",
        {200: ("Prometheus text exposition format", {"text/plain": {"type": "string"}})},
        authenticated=False,
    ),
    Operation(
        "/api/v1/clock",
        "get",
        "The suite's clock",
        "clock",
        {200: ("Mode, current instant and offset from real time", ClockStateSchema)},
        authenticated=False,
    ),
    Operation(
        "/api/v1/clock",
        "post",
        "Set, advance or reset the suite's clock",
        "clock",
        {200: ("The clock after the change", ClockStateSchema)},
        description="The district officer only (403 `wrong_role` for other roles). "
        "Controlled clock mode (demo and test) only; otherwise 409 `clock_not_controlled`.",
        request=ClockCommandSchema,
        errors=(400, 409),
    ),
    Operation(
        "/api/v1/openapi.json",
        "get",
        "This OpenAPI document",
        "documentation",
        {200: ("OpenAPI 3.0 document", {JSON: {"type": "object"}})},
        authenticated=False,
    ),
    Operation(
        "/api/v1/docs",
        "get",
        "Browsable API documentation",
        "documentation",
        {200: ("HTML page", {HTML: {"type": "string"}})},
        authenticated=False,
    ),
)
