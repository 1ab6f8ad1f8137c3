"""``@subscribe``: a nameko entrypoint for suite events that never drops a message.

Each handler gets its own durable queue ``hq.<service>.<handler>`` bound to ``hq.events`` by
event type (quorum by default). Messages are acknowledged only after the outcome is safe:

- handled: ack;
- handler raised: the message is re-published (with a broker confirm) to
  ``hq.<service>.<handler>.retry`` with a per-message expiry from ``retry_delays``; the broker
  dead-letters it back to the handler's queue when it expires; then ack;
- last attempt failed, or the message breaks its contract: re-published to
  ``hq.<service>.<handler>.dead`` with the reason, counted in ``hq_dead_lettered_total``; ack.
  An operator lists and replays it with ``python -m hqops.cli dead-letters``.

The handler itself stays idempotent through ``uow.inbox.claim``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import Any

from kombu import Connection, Exchange, Producer, Queue
from kombu.message import Message
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer

from hqcore import metrics
from hqcore.config import Settings
from hqcore.contracts.registry import ContractError
from hqcore.messaging.broker_loss import CONNECTION_ERRORS
from hqcore.messaging.envelope import EVENTS_EXCHANGE, read_envelope

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-hq-attempts"

# What nameko hands ``handle_result`` for a worker that raised.
ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


def queue_names(service: str, handler: str) -> tuple[str, str, str]:
    base = f"hq.{service}.{handler}"
    return base, f"{base}.retry", f"{base}.dead"


def declare_handler_queues(
    channel: Any, service: str, handler: str, event_types: Sequence[str], queue_type: str
) -> Queue:
    """Declare the handler's main, retry and dead-letter queues; returns the main Queue."""
    main, retry, dead = queue_names(service, handler)
    exchange = Exchange(EVENTS_EXCHANGE, type="topic", durable=True)
    args = {"x-queue-type": queue_type}
    bindings = [binding for binding in event_types]
    queue = Queue(
        main, exchange=exchange, routing_key=bindings[0], durable=True, queue_arguments=args
    )
    exchange(channel).declare()
    queue(channel).declare()
    for routing_key in bindings[1:]:
        queue(channel).bind_to(exchange=exchange, routing_key=routing_key)
    # Retry queue: classic, because per-message expiry is what schedules the retry.
    Queue(
        retry,
        durable=True,
        queue_arguments={
            "x-queue-type": "classic",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": main,
        },
    )(channel).declare()
    Queue(dead, durable=True, queue_arguments=args)(channel).declare()
    return queue


class EventSubscriber(Consumer):  # type: ignore[misc]  # nameko has no type information
    def __init__(self, *event_types: str, **kwargs: Any) -> None:
        if not event_types:
            raise ValueError("subscribe to at least one event type")
        self.event_types = event_types
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    def setup(self) -> None:
        settings: Settings = self.container.config["HQ_SETTINGS"]
        self.service = self.container.service_name
        self.handler = self.method_name
        self.retry_delays = settings.retry_delays
        _, self.retry_queue, self.dead_queue = queue_names(self.service, self.handler)
        with Connection(settings.amqp_uri) as conn:
            self.queue = declare_handler_queues(
                conn.default_channel,
                self.service,
                self.handler,
                self.event_types,
                settings.queue_type,
            )
        self._amqp_uri = settings.amqp_uri
        self._producer_conn: Connection | None = None
        self._lock = threading.Lock()
        super().setup()

    def stop(self) -> None:
        super().stop()
        if self._producer_conn is not None:
            self._producer_conn.release()

    def handle_message(self, body: Any, message: Message) -> None:
        try:
            event = read_envelope(body)
        except ContractError as exc:
            # A message that breaks its contract is never applied, not even partly.
            try:
                self._dead_letter(message, reason="contract_violation", error=exc.message)
            except CONNECTION_ERRORS as lost:
                self._give_back(message, lost)
                return
            self.queue_consumer.ack_message(message)
            return
        context_data = self.unpack_message_headers(message)
        context_data.update(
            correlation_id=event.correlation_id,
            acting_user=event.acting_user,
            event_id=event.event_id,
        )
        try:
            self.container.spawn_worker(
                self,
                (event,),
                {},
                context_data=context_data,
                handle_result=partial(self.handle_result, message),
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_result(
        self, message: Message, worker_ctx: Any, result: Any = None, exc_info: ExcInfo | None = None
    ) -> tuple[Any, ExcInfo | None]:
        if exc_info is not None:
            try:
                self._retry_later(message, exc_info)
            except CONNECTION_ERRORS as lost:
                self._give_back(message, lost)
                return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info

    def _retry_later(self, message: Message, exc_info: ExcInfo) -> None:
        """A failed handling goes to the retry queue, or after the last attempt to the dead
        letters; raises a connection error when the broker cannot take it."""
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0))
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        if attempts < len(self.retry_delays):
            self._republish(
                message, self.retry_queue, attempts + 1, expiration=self.retry_delays[attempts]
            )
            metrics.EVENT_RETRIES.labels(self.service, self.handler).inc()
        else:
            self._dead_letter(message, reason="handler_failed", error=error, attempts=attempts + 1)

    def _give_back(self, message: Message, exc: Exception) -> None:
        """The broker went away before it confirmed the retry or dead letter: the message is
        not acknowledged but given back (or, its connection gone, redelivered by the broker), so
        it is handled again once the consumer has reconnected. Raising here instead would kill
        the service's container and its process."""
        log.warning(
            "broker unreachable, event given back to its queue (%s: %s)",
            type(exc).__name__,
            exc,
            extra={"handler": self.handler},
        )
        with self._lock:
            if self._producer_conn is not None:
                with contextlib.suppress(Exception):  # a broken connection may fail to close
                    self._producer_conn.release()
                self._producer_conn = None
        self.queue_consumer.requeue_message(message)

    def _dead_letter(self, message: Message, *, reason: str, error: str, attempts: int = 0) -> None:
        self._republish(
            message,
            self.dead_queue,
            attempts,
            extra_headers={"x-hq-dead-reason": reason, "x-hq-error": error[:500]},
        )
        metrics.DEAD_LETTERED.labels(self.service, self.handler, reason).inc()
        log.error(
            "event dead-lettered",
            extra={"handler": self.handler, "reason": reason, "queue": self.dead_queue},
        )

    def _republish(
        self,
        message: Message,
        queue: str,
        attempts: int,
        expiration: float | None = None,
        extra_headers: dict[str, Any] | None = None,
    ) -> None:
        headers = dict(message.headers or {})
        headers[ATTEMPTS_HEADER] = attempts
        headers.update(extra_headers or {})
        with self._lock:
            if self._producer_conn is None:
                self._producer_conn = Connection(
                    self._amqp_uri, transport_options={"confirm_publish": True}
                )
            producer = Producer(self._producer_conn.default_channel)
            publish = self._producer_conn.ensure(producer, producer.publish, max_retries=5)
            publish(
                message.body,
                routing_key=queue,
                exchange="",
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2,
                expiration=expiration,
            )


subscribe = EventSubscriber.decorator
