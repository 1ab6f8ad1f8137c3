"""What every route module of the gateway shares: per-app state, the acting user, requests
validated once, calls on behalf of the acting user, and how personal data is presented to each
role. The shape of a route module is in ``gateway.routes``."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from flask import Response, current_app, jsonify, request
from marshmallow import Schema, ValidationError
from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.auth import Authenticator
from gateway.openapi import build_spec
from hqcore import logs, personal
from hqcore.authz import Actor, may_view, sees_personal_data
from hqcore.config import Settings
from hqcore.contracts.fields import refuse_hostile
from hqcore.contracts.registry import RPC
from hqcore.errors import (
    DomainError,
    Forbidden,
    ServiceUnavailable,
    UpstreamTimeout,
    ValidationFailed,
    validation_error_from_marshmallow,
)
from hqcore.idempotency import HEADER as IDEMPOTENCY_HEADER
from hqcore.idempotency import MAX_LENGTH as IDEMPOTENCY_KEY_MAX
from hqcore.messaging.rpc_client import RpcClient, timeout_details, timeout_message
from hqcore.secrets import request_key

log = logging.getLogger(__name__)

PING_TIMEOUT = 2.0
_WAIT_GRACE = 5.0
_BROKER_RETRY = 2.0


class Rpc(Protocol):
    """What the gateway needs of an RPC client (``RpcClient`` or a test fake)."""

    def call_async(
        self,
        service: str,
        method: str,
        timeout: float | None = None,
        correlation_id: str | None = None,
        acting_user: str | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Future: ...


class Metrics:
    """The gateway's own Prometheus registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hq_gateway_requests_total",
            "HTTP requests answered",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "hq_gateway_request_seconds",
            "HTTP request duration",
            ["method", "endpoint"],
            registry=self.registry,
        )
        self.rpc_seconds = Histogram(
            "hq_gateway_rpc_seconds",
            "RPC call duration",
            ["service", "method", "outcome"],
            registry=self.registry,
        )


class Gateway:
    """Per-app state: settings, metrics and the one RPC client, created on first use."""

    def __init__(self, settings: Settings, rpc: Rpc | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self._rpc = rpc
        self._owned: RpcClient | None = None
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None
        # Refuses to build (SecretMissing, AccountsMissing) outside demo mode without a token
        # secret or an accounts file: the gateway must not start then (SEC-3).
        self.auth = Authenticator.from_settings(settings)
        self._retry_at = 0.0
        # Signs every request to the services (SEC-14); refuses to build outside demo mode
        # without HQ_REQUEST_KEY. A client given by a test signs (or not) on its own.
        self._request_key = request_key(settings) if rpc is None else None

    def client(self) -> Rpc:
        if self._rpc is None:
            with self._lock:
                if self._rpc is None:
                    if time.monotonic() < self._retry_at:
                        raise ServiceUnavailable("the message broker cannot be reached")
                    client = RpcClient(
                        self.settings.amqp_uri,
                        timeout=self.settings.rpc_timeout,
                        request_key=self._request_key,
                    )
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

    def call_async(
        self,
        service: str,
        method: str,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Future:
        """Start ``service.method``; any failure (unreachable broker too) lands in the future.
        The client signs the request and gives it its deadline (SEC-14, SEC-10)."""
        started = time.perf_counter()
        if idempotency_key is not None:
            kwargs["idempotency_key"] = idempotency_key
        try:
            future = self.client().call_async(
                service, method, timeout=timeout, correlation_id=logs.correlation_id.get(), **kwargs
            )
        except Exception as exc:
            future = Future()
            future.set_exception(exc)

        def observe(done: Future) -> None:
            self.metrics.rpc_seconds.labels(service, method, _outcome(done.exception())).observe(
                time.perf_counter() - started
            )

        future.add_done_callback(observe)
        return future

    def result(
        self, future: Future, timeout: float | None = None, idempotency_key: str | None = None
    ) -> Any:
        """Wait for ``future``; the client times calls out, this only guards against a lost one."""
        limit = (timeout or self.settings.rpc_timeout) + _WAIT_GRACE
        try:
            return future.result(limit)
        except FutureTimeout:
            raise UpstreamTimeout(
                timeout_message(f"no answer within {limit:g} s", idempotency_key),
                details=timeout_details(idempotency_key),
            ) from None

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


def gateway() -> Gateway:
    """This app's ``Gateway``."""
    return current_app.extensions["hq_gateway"]


def current_actor() -> Actor:
    """The authenticated user of this request (401 otherwise)."""
    return gateway().auth.current_actor()


# -- requests: validated once, here, and sent on as validated --------------------------------


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def json_object() -> dict[str, Any]:
    """The request's JSON body, which must be an object (400 ``invalid_json`` otherwise).

    Every route reads its body here, so hostile bodies are refused once, before any contract
    or service sees them (SEC-8): nesting deep enough to exhaust the parser's recursion (or
    merely deeper than any contract needs) and ``NaN``/``Infinity`` are ``invalid_json``; a
    NUL or a lone surrogate in any key or string is 400 naming the field
    (``hqcore.contracts.fields.refuse_hostile``)."""
    try:
        body = json.loads(request.get_data(cache=True) or b"", parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise ValidationFailed(
            "the request body is not valid JSON", field="body", code="invalid_json"
        ) from None
    refuse_hostile(body)
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object", field="body")
    return body


def query(*names: str) -> dict[str, str]:
    """The named query parameters that were given (others are ignored); a NUL in one is 400
    naming it (the app's request hook checks every parameter too)."""
    given = {name: request.args[name] for name in names if name in request.args}
    refuse_hostile(given)
    return given


def _schema(contract: str | type[Schema]) -> Schema:
    return RPC[contract].request() if isinstance(contract, str) else contract()


def _load(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages) from None


def validated(contract: str | type[Schema], data: Mapping[str, Any]) -> dict[str, Any]:
    """The request as the service receives it: ``data`` checked by the contract's request
    schema before any RPC (400 ``validation_failed`` naming the first bad field; unknown
    fields are refused) and sent on in its normalised form, ``schema.dump(schema.load(data))``:
    defaults filled in, values in their JSON form. The one way a route turns a body or a
    query into an RPC request. ``contract`` is an RPC contract's name (``"intake.get_case"``)
    or one of the gateway's own schemas."""
    schema = _schema(contract)
    return schema.dump(_load(schema, data))


def loaded(schema: type[Schema], data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` loaded by one of the gateway's own schemas, as Python values, for what the
    gateway does itself and sends to no service (the clock); checked as ``validated`` does."""
    return _load(schema(), data)


# -- calls on behalf of the acting user -------------------------------------------------------


def call_async(
    service: str, method: str, actor: Actor, idempotency_key: str | None = None, **fields: Any
) -> Future:
    """Start ``service.method`` on behalf of ``actor``: every step and every read gets the
    acting user as the keyword ``actor`` (beside ``fields``, what ``validated`` returned) and
    authorises it itself. ``idempotency_key`` (``idempotency_key()``) goes to the steps that
    create, which remember their reply under it."""
    return gateway().call_async(
        service,
        method,
        actor=actor.to_dict(),
        acting_user=actor.user_id,
        idempotency_key=idempotency_key,
        **fields,
    )


def call(
    service: str, method: str, actor: Actor, idempotency_key: str | None = None, **fields: Any
) -> Any:
    """``call_async`` and wait for the answer (a service's error is raised as it was sent)."""
    future = call_async(service, method, actor, idempotency_key, **fields)
    return gateway().result(future, idempotency_key=idempotency_key)


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` header, if given: 1 to 128 printable ASCII
    characters (400 ``validation_failed`` naming the header otherwise). A POST that creates
    passes it to its step, so a client told 504 can repeat the request and learn its outcome."""
    given = request.headers.get(IDEMPOTENCY_HEADER)
    if given is None:
        return None
    if not 1 <= len(given) <= IDEMPOTENCY_KEY_MAX or not all(" " <= c <= "~" for c in given):
        raise ValidationFailed(
            f"{IDEMPOTENCY_HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters",
            field=IDEMPOTENCY_HEADER,
        )
    return given


def case_step(
    service: str,
    method: str,
    case_id: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Response:
    """A step on one case: ``POST /api/v1/cases/<case_id>/<step>`` with the step's fields as
    the JSON body (passed through ``prepare`` when the HTTP body differs from the contract),
    ``case_id`` from the path."""
    actor = current_actor()
    body = json_object()
    if prepare is not None:
        body = prepare(body)
    fields = validated(f"{service}.{method}", {**body, "case_id": case_id})
    return jsonify(present(call(service, method, actor, **fields), actor))


# -- authorisation the gateway repeats (the services check it too) ----------------------------


def street_scope(actor: Actor) -> str | None:
    """The street a list is limited to: the district's choice (``?street_code=``, none for
    every street), or street staff's own street (asking for another one is 403)."""
    asked = request.args.get("street_code")
    if actor.is_district:
        return asked
    if asked is not None and asked != actor.street_code:
        raise Forbidden(
            "street staff see their own street only", field="street_code", code="wrong_street"
        )
    return actor.street_code


def require_view(actor: Actor, case_id: str) -> None:
    """403 ``wrong_street`` unless ``actor`` may see the case's street (intake holds the street
    of record); a street's monthly roster (``roster:<street>:<month>``, DE-3) names its street
    itself."""
    kind, _, rest = case_id.partition(":")
    if kind == "roster":
        street = rest.partition(":")[0]
    else:
        street = call(
            "intake", "get_case", actor, **validated("intake.get_case", {"case_id": case_id})
        )["street_code"]
    if not may_view(actor, street):
        raise Forbidden(
            "the case belongs to another street", field="street_code", code="wrong_street"
        )


# -- what each role sees ------------------------------------------------------------------------


def present(value: Any, actor: Actor) -> Any:
    """ID numbers and a family's figures in full for the roles that need them, masked for the
    others (``hqcore.personal``, which documents are masked by too)."""
    if sees_personal_data(actor):
        return value
    return personal.mask(value)
