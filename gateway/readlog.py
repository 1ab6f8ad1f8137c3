"""The read log, the gateway's side (SEC-15): every read of a case, a document or a list of
personal data is published as an ``access.read`` event, which supervision keeps and the
district officer queries (``GET /api/v1/reads``).

A route calls ``record_read`` once its read has succeeded, just before it answers. The event
goes out on ``hq.events`` in the suite's envelope, persistent, mandatory (it must reach a
queue) and with publisher confirms; the route waits for the confirm and nothing else. A read
that cannot be recorded is not served: the broker refusing it, or not answering within
``CONFIRM_TIMEOUT``, is a 503 ``service_unavailable``. Reads are rarer than the data they
protect, so one confirmed publish per read is cheap enough; there is no local buffer that a
crash could lose.

The event carries who read (user id, role, street), what (kind, case id, document id, the
HTTP path) and from where (the client's address as the gateway sees it) and nothing else:
no personal data, and nothing of it is logged.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from flask import current_app, request
from kombu import Connection, Exchange, Producer

from gateway.web import gateway
from hqcore import logs
from hqcore.authz import Actor
from hqcore.clock import get_clock
from hqcore.errors import ServiceUnavailable
from hqcore.messaging.envelope import EVENTS_EXCHANGE, build_envelope

ACCESS_READ = "access.read"
VERSION = 1
SOURCE = "gateway"
CONNECT_TIMEOUT = 2.0  # seconds to reach the broker
CONFIRM_TIMEOUT = 5.0  # seconds the broker has to confirm one read
RETRY_AFTER_FAILURE = 2.0  # seconds a broken broker is not tried again (reads fail fast)

ReadKind = Literal["case", "document", "list"]


class ReadLog(Protocol):
    """Where the gateway sends its ``access.read`` envelopes: the broker, or a test fake."""

    def publish(self, envelope: Mapping[str, Any]) -> None:
        """Return once the envelope is safely recorded; raise ``ServiceUnavailable`` if not."""
        ...


class BrokerReadLog:
    """``access.read`` envelopes to ``hq.events`` on one connection per process, shared by the
    request threads under a lock. A connection that broke (a broker restart) is replaced and
    the publish tried once more on the new one; when that fails too, reads fail fast for
    ``RETRY_AFTER_FAILURE`` seconds instead of each waiting for the broker."""

    def __init__(self, amqp_uri: str) -> None:
        self._uri = amqp_uri
        self._exchange = Exchange(EVENTS_EXCHANGE, type="topic", durable=True)
        self._conn: Connection | None = None
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._retry_at = 0.0

    def publish(self, envelope: Mapping[str, Any]) -> None:
        with self._lock:
            if time.monotonic() < self._retry_at:
                raise ServiceUnavailable("the read log cannot be written: the broker is down")
            for attempt in (1, 2):
                try:
                    self._send(envelope)
                    return
                except Exception as exc:
                    self._close()
                    if attempt == 2:
                        self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE
                        raise ServiceUnavailable(
                            f"the read log cannot be written ({type(exc).__name__})"
                        ) from None

    def _send(self, envelope: Mapping[str, Any]) -> None:
        """Publish and wait for the broker's confirm; an unroutable read (no queue bound to
        ``access.read``) comes back as a basic.return and raises."""
        self._ensure().publish(
            dict(envelope),
            routing_key=envelope["event_type"],
            serializer="json",
            delivery_mode=2,
            mandatory=True,
            timeout=CONFIRM_TIMEOUT,
            message_id=envelope["event_id"],
            headers={
                "hq-event-type": envelope["event_type"],
                "hq-schema-version": envelope["schema_version"],
            },
        )

    def _ensure(self) -> Producer:
        if self._producer is None:
            conn = Connection(
                self._uri,
                connect_timeout=CONNECT_TIMEOUT,
                transport_options={"confirm_publish": True},
            )
            self._conn = conn
            # ``hq.events`` is declared by the services, whose subscriptions the reads must
            # reach anyway: publishing declares nothing, and a missing exchange is a 503.
            self._producer = Producer(conn.channel(), exchange=self._exchange, auto_declare=False)
        return self._producer

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close again
                self._conn.release()
        self._conn = self._producer = None

    def close(self) -> None:
        with self._lock:
            self._close()


def read_event(
    actor: Actor,
    kind: ReadKind,
    *,
    target: str,
    remote_addr: str | None,
    case_id: str | None = None,
    document_id: str | None = None,
    street_code: str | None = None,
) -> dict[str, Any]:
    """The ``access.read`` v1 envelope of one read, validated against its contract. The
    envelope's street is the case's (when the route knows it), the payload's the reader's;
    ``read_at`` is real time, ``occurred_at`` the suite's clock, as for every event."""
    payload = {
        "user_id": actor.user_id,
        "role": actor.role,
        "street_code": actor.street_code,
        "kind": kind,
        "case_id": case_id,
        "document_id": document_id,
        "target": target,
        "remote_addr": remote_addr,
        "read_at": datetime.now(timezone.utc),
    }
    return build_envelope(
        event_type=ACCESS_READ,
        version=VERSION,
        payload=payload,
        occurred_at=get_clock(gateway().settings).now(),
        case_id=case_id,
        street_code=street_code,
        correlation_id=logs.correlation_id.get() or uuid.uuid4().hex,
        acting_user=actor.user_id,
        source=SOURCE,
    )


def record_read(
    actor: Actor,
    kind: ReadKind,
    *,
    case_id: str | None = None,
    document_id: str | None = None,
    street_code: str | None = None,
) -> None:
    """Record that ``actor`` has just read this request's case, document or list; raises
    ``ServiceUnavailable`` (503) when the read cannot be recorded, so it is not served."""
    reads().publish(
        read_event(
            actor,
            kind,
            target=request.path,
            remote_addr=request.remote_addr,
            case_id=case_id,
            document_id=document_id,
            street_code=street_code,
        )
    )


def reads() -> ReadLog:
    """This app's read log (``create_app(reads=...)``)."""
    log: ReadLog = current_app.extensions["hq_readlog"]
    return log
