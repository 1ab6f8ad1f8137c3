"""What a service's workers do when the broker goes away under them: the service goes on.

nameko acknowledges a message and publishes an RPC reply from the worker's ``handle_result``.
When the broker is unreachable at that moment (restarting, the connection cut) two things
raise there: nameko's reply publisher, once its retries are spent, and the acknowledgement of
a message whose socket was just reset (nameko ignores py-amqp's ``ConnectionError`` there but
not the socket's own ``OSError``). The exception escapes the worker's thread and nameko kills
the whole container: the process exits and only a supervisor brings it back, although its
consumers would have reconnected by themselves (fault tier, broker restart).

Dying gains nothing. A message whose connection broke was not acknowledged, so the broker
delivers it again once a consumer has reconnected (at least once, as after a crash; the step's
deadline, idempotency record or state check decides what that delivery does). The caller of an
RPC cannot receive the reply either, since its reply queue went with the broker: it times out
and asks again (a creating step with its ``Idempotency-Key``). So the reply is dropped and the
acknowledgement given up, each with one warning line, and the service goes on.

``install()`` applies both to every nameko entrypoint of the process; the unit-of-work provider
every service declares calls it when it is set up (``hqcore.providers``).
"""

from __future__ import annotations

import logging
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError
from nameko.amqp.publish import Publisher
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder

log = logging.getLogger(__name__)

# What talking to the broker raises when it is unreachable or the connection breaks: kombu's
# wrapper of a failed (re)connection, py-amqp's closed connection, the socket's own errors.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (OperationalError, AmqpConnectionError, OSError)

# nameko's own acknowledgement and requeue (they skip a connection already known to be closed).
_NAMEKO_ACK = QueueConsumer.ack_message
_NAMEKO_REQUEUE = QueueConsumer.requeue_message


class ReplyPublisher(Publisher):  # type: ignore[misc]  # nameko has no type information
    """nameko's publisher, with its retries, except that a reply the broker cannot take after
    them is logged and dropped rather than raised into the worker."""

    def publish(self, payload: Any, **kwargs: Any) -> None:
        try:
            super().publish(payload, **kwargs)
        except CONNECTION_ERRORS as exc:
            # The payload is the step's answer and may hold personal data: never logged.
            log.warning(
                "RPC reply lost, the broker is unreachable (%s: %s); the caller times out "
                "and asks again, the request is delivered again after the reconnection",
                type(exc).__name__,
                exc,
                extra={"reply_correlation_id": kwargs.get("correlation_id")},
            )


def ack_message(consumer: Any, message: Any) -> None:
    """nameko's acknowledgement; on a connection that broke meanwhile it is given up, and the
    broker delivers the message again."""
    try:
        _NAMEKO_ACK(consumer, message)
    except CONNECTION_ERRORS as exc:
        log.warning(
            "acknowledgement lost with the broker connection (%s: %s); the message is "
            "delivered again after the reconnection",
            type(exc).__name__,
            exc,
        )


def requeue_message(consumer: Any, message: Any) -> None:
    """nameko's requeue; on a connection that broke meanwhile the broker requeues it itself."""
    try:
        _NAMEKO_REQUEUE(consumer, message)
    except CONNECTION_ERRORS as exc:
        log.warning(
            "requeue lost with the broker connection (%s: %s); the broker requeues the message",
            type(exc).__name__,
            exc,
        )


def install() -> None:
    """Apply both to every nameko entrypoint of this process (idempotent: every service
    container of the process calls it)."""
    Responder.publisher_cls = ReplyPublisher
    QueueConsumer.ack_message = ack_message
    QueueConsumer.requeue_message = requeue_message
