"""A thread-safe client of nameko's AMQP RPC protocol, built directly on kombu.

One publishing connection (guarded by a lock, publisher confirms on) and one consumer thread
with its own connection and a single exclusive reply queue serve every call of the process, so a
call costs one broker round trip: no connection, channel or queue is opened per call.

Wire format (nameko 2.14 ``nameko/rpc.py``): the request ``{"args": [], "kwargs": {...}}`` goes
to the ``nameko-rpc`` topic exchange with routing key ``<service>.<method>``, ``reply_to`` and
``correlation_id``; nameko context travels in ``nameko.*`` headers. The reply is
``{"result": ..., "error": None | {"exc_type", "exc_path", "exc_args", "value"}}``.

Given the suite's request key, every request is signed and carries its deadline
(``hqcore.envelope``, SEC-14 and SEC-10): the services refuse what they cannot verify and
drop what their caller has stopped waiting for.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.message import Message

from hqcore import envelope
from hqcore.errors import (
    DomainError,
    InternalError,
    ServiceUnavailable,
    UpstreamTimeout,
    from_remote,
)

log = logging.getLogger(__name__)

RPC_EXCHANGE = "nameko-rpc"
HEADER_PREFIX = "nameko"
_TICK = 0.1
_READY_WAIT = 5.0
_RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0)
_PUBLISH_RETRY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 1.0,
}


@dataclass
class _Pending:
    future: Future[Any]
    service: str
    method: str
    limit: float
    deadline: float
    idempotency_key: str | None = None


class RpcClient:
    """Call nameko ``@rpc`` methods from any thread: ``client.call("intake", "ping")``."""

    def __init__(
        self,
        amqp_uri: str,
        timeout: float = 10.0,
        *,
        name: str = "gateway",
        heartbeat: float = 30.0,
        request_key: bytes | None = None,
    ) -> None:
        """``request_key`` (``hqcore.secrets.request_key``) signs every request; without it
        requests go unsigned and the services refuse every step and read."""
        self.amqp_uri = amqp_uri
        self._request_key = request_key
        self.timeout = timeout
        self.name = name
        self.heartbeat = heartbeat
        self.reply_queue_name = f"rpc.reply-{name}-{uuid.uuid4()}"
        self._exchange = Exchange(RPC_EXCHANGE, type="topic", durable=True)
        self._pending: dict[str, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._publish_conn: Connection | None = None
        self._publish: Any = None
        self._consumer_conn: Connection | None = None
        self._thread: threading.Thread | None = None
        self._running = False

    def __enter__(self) -> RpcClient:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def started(self) -> bool:
        return self._running

    def start(self) -> None:
        """Connect and declare the reply queue; ``ServiceUnavailable`` if the broker is down."""
        with self._start_lock:
            if self._running:
                return
            self._stopping.clear()
            self._ready.clear()
            self._thread = threading.Thread(
                target=self._consume_forever, name=f"rpc-reply-{self.name}", daemon=True
            )
            self._thread.start()
            try:
                self._connect_publisher()
                if not self._ready.wait(_READY_WAIT):
                    raise ServiceUnavailable("the RPC reply queue could not be declared")
            except Exception as exc:
                self._shutdown()
                if isinstance(exc, DomainError):
                    raise
                raise ServiceUnavailable("the message broker cannot be reached") from exc
            self._running = True

    def stop(self) -> None:
        """Close both connections; calls still pending fail with ``ServiceUnavailable``."""
        with self._start_lock:
            self._shutdown()

    def call(
        self,
        service: str,
        method: str,
        timeout: float | None = None,
        correlation_id: str | None = None,
        acting_user: str | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``service.method(**kwargs)`` and return its result or raise its ``DomainError``."""
        limit = self.timeout if timeout is None else timeout
        request_id, future = self._send(
            service, method, limit, correlation_id, acting_user, idempotency_key, kwargs
        )
        try:
            return future.result(limit)
        except FutureTimeout:
            self._resolve(request_id, error=_timeout(service, method, limit, idempotency_key))
            return future.result()

    def call_async(
        self,
        service: str,
        method: str,
        timeout: float | None = None,
        correlation_id: str | None = None,
        acting_user: str | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """Send the request and return its future; every failure, timeout included, lands in it.
        ``idempotency_key``: the client's Idempotency-Key, for the steps declared idempotent."""
        limit = self.timeout if timeout is None else timeout
        return self._send(
            service, method, limit, correlation_id, acting_user, idempotency_key, kwargs
        )[1]

    def _send(
        self,
        service: str,
        method: str,
        limit: float,
        correlation_id: str | None,
        acting_user: str | None,
        idempotency_key: str | None,
        kwargs: dict[str, Any],
    ) -> tuple[str, Future[Any]]:
        if not self._running:
            raise RuntimeError("RpcClient.start() must be called before making calls")
        if not self._ready.wait(min(limit, _READY_WAIT)):
            return "", _failed(ServiceUnavailable("the RPC reply queue is not connected"))
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        request_id = str(uuid.uuid4())
        headers: dict[str, Any] = {
            f"{HEADER_PREFIX}.call_id_stack": [f"{self.name}.{method}.{uuid.uuid4()}"]
        }
        if correlation_id is not None:
            headers[f"{HEADER_PREFIX}.correlation_id"] = correlation_id
        if acting_user is not None:
            headers[f"{HEADER_PREFIX}.acting_user"] = acting_user
        headers.update(self._envelope(service, method, limit, idempotency_key, kwargs))
        with self._pending_lock:
            self._pending[request_id] = _Pending(
                future, service, method, limit, time.monotonic() + limit, idempotency_key
            )
        try:
            with self._publish_lock:
                if self._publish is None:
                    raise ServiceUnavailable("the RPC client is stopped")
                self._publish(
                    {"args": [], "kwargs": kwargs},
                    routing_key=f"{service}.{method}",
                    mandatory=True,
                    reply_to=self.reply_queue_name,
                    correlation_id=request_id,
                    headers=headers,
                    delivery_mode=1,
                    expiration=limit,
                )
        except Exception as exc:
            self._resolve(request_id, error=self._publish_error(exc, service))
        return request_id, future

    def _envelope(
        self,
        service: str,
        method: str,
        limit: float,
        idempotency_key: str | None,
        kwargs: dict[str, Any],
    ) -> dict[str, str]:
        """The signature and deadline headers of one request (none without a key)."""
        if self._request_key is None:
            return {}
        signed = envelope.sign(
            self._request_key,
            service,
            method,
            kwargs,
            timeout=limit,
            idempotency_key=idempotency_key,
        )
        return {f"{HEADER_PREFIX}.{name}": value for name, value in signed.items()}

    def _publish_error(self, exc: Exception, service: str) -> DomainError:
        if isinstance(exc, DomainError):
            return exc
        log.warning("RPC publish to %s failed: %r", service, exc)
        return ServiceUnavailable(f"the request to {service} could not be sent")

    def _connect_publisher(self) -> None:
        conn = Connection(
            self.amqp_uri, transport_options={"confirm_publish": True}, connect_timeout=5
        )
        conn.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.3)
        producer = Producer(
            conn, exchange=self._exchange, serializer="json", on_return=self._on_return
        )
        with self._publish_lock:
            self._publish_conn = conn
            self._publish = conn.ensure(
                producer, producer.publish, errback=self._publish_retry, **_PUBLISH_RETRY
            )

    def _publish_retry(self, exc: Exception, interval: float) -> None:
        log.warning("RPC publish connection lost (%r); reconnecting", exc)

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        """The broker returned a mandatory request: no queue serves that service."""
        request_id = message.properties.get("correlation_id")
        service = routing_key.partition(".")[0]
        self._resolve(
            request_id,
            error=ServiceUnavailable(
                f"no instance of the {service} service is running", details={"service": service}
            ),
        )

    def _consume_forever(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                self._consume_once()
                attempt = 0
            except Exception as exc:
                self._ready.clear()
                if self._stopping.is_set():
                    break
                delay = _RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("RPC reply connection lost (%r); reconnecting in %.1fs", exc, delay)
                self._expire_overdue()
                self._stopping.wait(delay)
        self._ready.clear()

    def _consume_once(self) -> None:
        queue = Queue(
            self.reply_queue_name,
            exchange=self._exchange,
            routing_key=self.reply_queue_name,
            exclusive=True,
            auto_delete=True,
            queue_arguments={"x-queue-type": "classic"},
        )
        conn = Connection(self.amqp_uri, heartbeat=self.heartbeat, connect_timeout=5)
        self._consumer_conn = conn
        try:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2)
            with Consumer(
                conn, queues=[queue], on_message=self._on_reply, no_ack=True, accept=["json"]
            ):
                self._ready.set()
                swept = time.monotonic()
                while not self._stopping.is_set():
                    with contextlib.suppress(socket.timeout):
                        conn.drain_events(timeout=_TICK)
                    conn.heartbeat_check()
                    if time.monotonic() - swept >= _TICK:
                        swept = time.monotonic()
                        self._expire_overdue()
        finally:
            self._ready.clear()
            self._consumer_conn = None
            _close_quietly(conn)

    def _on_reply(self, message: Message) -> None:
        request_id = message.properties.get("correlation_id")
        try:
            body = message.decode()
            error = body.get("error")
        except Exception as exc:
            log.error("undecodable RPC reply %s: %r", request_id, exc)
            self._resolve(request_id, error=_internal("the service sent an unreadable reply"))
            return
        if error:
            remote = from_remote(error.get("exc_type", ""), error.get("value", ""))
            if remote.http_status >= 500:
                log.warning(
                    "RPC call %s failed remotely: %s %s",
                    request_id,
                    error.get("exc_type"),
                    error.get("value"),
                )
            self._resolve(request_id, error=remote)
        else:
            self._resolve(request_id, result=body.get("result"))

    def _resolve(
        self, request_id: str | None, result: Any = None, error: BaseException | None = None
    ) -> None:
        with self._pending_lock:
            pending = self._pending.pop(request_id or "", None)
        if pending is None:
            log.debug("reply for unknown or expired RPC call %s", request_id)
        elif error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result)

    def _expire_overdue(self) -> None:
        now = time.monotonic()
        with self._pending_lock:
            overdue = [(rid, p) for rid, p in self._pending.items() if p.deadline <= now]
        for request_id, pending in overdue:
            self._resolve(
                request_id,
                error=_timeout(
                    pending.service, pending.method, pending.limit, pending.idempotency_key
                ),
            )

    def _shutdown(self) -> None:
        self._running = False
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        with self._publish_lock:
            conn, self._publish_conn, self._publish = self._publish_conn, None, None
        if conn is not None:
            _close_quietly(conn)
        with self._pending_lock:
            request_ids = list(self._pending)
        for request_id in request_ids:
            self._resolve(request_id, error=ServiceUnavailable("the RPC client was stopped"))


def _timeout(
    service: str, method: str, limit: float, idempotency_key: str | None = None
) -> UpstreamTimeout:
    """504: the caller stops waiting. The service drops a request it has not committed by
    then, but one committing at that very moment may still be applied: the outcome is
    unknown, and the Idempotency-Key (if one was given) is how to learn it."""
    return UpstreamTimeout(
        timeout_message(f"{service}.{method} did not answer within {limit:g} s", idempotency_key),
        details={"service": service, "method": method, **timeout_details(idempotency_key)},
    )


def timeout_message(what: str, idempotency_key: str | None) -> str:
    """The message of a 504: what happened, that the outcome is unknown, how to learn it."""
    advice = (
        "repeat the request with the same Idempotency-Key to learn it"
        if idempotency_key is not None
        else "check the case before repeating the request"
    )
    return f"{what}; the outcome is unknown: {advice}"


def timeout_details(idempotency_key: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {"outcome": "unknown"}
    if idempotency_key is not None:
        details["idempotency_key"] = idempotency_key
    return details


def _failed(error: BaseException) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(error)
    return future


def _internal(message: str) -> DomainError:
    return InternalError(message)


def _close_quietly(conn: Connection) -> None:
    try:
        conn.release()
    except Exception as exc:
        log.debug("closing an AMQP connection failed: %r", exc)
