"""Operators' view of dead-lettered events: list them, and replay them to their handler."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kombu import Connection, Producer, Queue
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from hqcore.messaging.subscriber import ATTEMPTS_HEADER, EventSubscriber, queue_names

DEAD_SUFFIX = ".dead"


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    event_id: str | None
    event_type: str | None
    reason: str | None
    error: str | None
    attempts: int


def dead_letter_queues(service_name: str, service_cls) -> list[str]:
    """The dead-letter queue of every ``@subscribe`` handler of a service class."""
    queues = []
    for attr in sorted(dir(service_cls)):
        entrypoints = getattr(getattr(service_cls, attr), ENTRYPOINT_EXTENSIONS_ATTR, ())
        if any(isinstance(e, EventSubscriber) for e in entrypoints):
            queues.append(queue_names(service_name, attr)[2])
    return queues


def depth(connection: Connection, queue: str) -> int:
    _, count, _ = connection.default_channel.queue_declare(queue, passive=True)
    return count


def peek(connection: Connection, queue: str, limit: int = 100) -> list[DeadLetter]:
    """Read up to ``limit`` messages without removing them (they are requeued)."""
    channel = connection.channel()
    source = Queue(queue, no_declare=True)(channel)
    seen = []
    try:
        for _ in range(limit):
            message = source.get(no_ack=False)
            if message is None:
                break
            seen.append(_describe(queue, message))
    finally:
        channel.close()  # unacked messages go back to the queue, in order
    return seen


def replay(connection: Connection, queue: str, limit: int | None = None) -> int:
    """Move dead letters back to their handler's queue with a fresh attempt count."""
    if not queue.endswith(DEAD_SUFFIX):
        raise ValueError(f"{queue} is not a dead-letter queue")
    target = queue[: -len(DEAD_SUFFIX)]
    channel = connection.channel()
    source = Queue(queue, no_declare=True)(channel)
    confirmed = Connection(
        connection.as_uri(include_password=True), transport_options={"confirm_publish": True}
    )
    producer = Producer(confirmed.default_channel)
    moved = 0
    try:
        while limit is None or moved < limit:
            message = source.get(no_ack=False)
            if message is None:
                break
            headers = {
                k: v
                for k, v in (message.headers or {}).items()
                if not k.startswith("x-hq-") and k != "x-death"
            }
            headers[ATTEMPTS_HEADER] = 0
            producer.publish(
                message.body,
                exchange="",
                routing_key=target,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2,
            )
            message.ack()  # only after the broker confirmed the copy
            moved += 1
    finally:
        channel.close()
        confirmed.release()
    return moved


def _describe(queue: str, message) -> DeadLetter:
    headers = message.headers or {}
    try:
        body = json.loads(message.body)
    except (TypeError, ValueError):
        body = {}
    return DeadLetter(
        queue=queue,
        event_id=body.get("event_id"),
        event_type=body.get("event_type"),
        reason=headers.get("x-hq-dead-reason"),
        error=headers.get("x-hq-error"),
        attempts=int(headers.get(ATTEMPTS_HEADER, 0)),
    )
