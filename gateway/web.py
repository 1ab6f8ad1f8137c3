"""What every route module of the gateway shares: per-app state, RPC, the acting user,
request bodies, and how personal data is presented to each role."""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from flask import Blueprint, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.auth import Authenticator
from gateway.openapi import build_spec
from hqcore import idnumber, logs
from hqcore.authz import Actor, sees_personal_data
from hqcore.config import Settings
from hqcore.errors import DomainError, ServiceUnavailable, UpstreamTimeout, ValidationFailed
from hqcore.messaging.rpc_client import RpcClient

log = logging.getLogger(__name__)

PING_TIMEOUT = 2.0
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
        self.auth = Authenticator(settings.gateway_secret, settings.accounts_file)
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


def current_actor() -> Actor:
    """The authenticated user of this request (401 otherwise)."""
    return _gateway().auth.current_actor()


def command(service: str, method: str, actor: Actor, **kwargs: Any) -> Any:
    """Call a service step on behalf of ``actor``; the service authorises it."""
    return _gateway().call(service, method, actor=actor.to_dict(), acting_user=actor.user_id,
                           **kwargs)


_MASKED_MONEY = "***"


def present(value: Any, actor: Actor) -> Any:
    """ID numbers and incomes in full for the roles that need them, masked for the others."""
    if sees_personal_data(actor):
        return value
    return _mask_money(mask_ids(value))


def _mask_money(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (_MASKED_MONEY if k.startswith(("income", "money_assets", "account_number"))
                    else _mask_money(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_money(v) for v in value]
    return value


def _json_object() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=True) or b"")
    except ValueError:
        raise ValidationFailed("the request body is not valid JSON", field="body",
                               code="invalid_json") from None
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object", field="body")
    return body




gateway = _gateway
json_object = _json_object
