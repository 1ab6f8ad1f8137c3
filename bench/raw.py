"""Baselines on bare kombu: a request/reply round trip, and publish-then-consume of events.

These are what the broker and the AMQP client library cost without any of the suite's code:
the floor the suite's own paths are compared with.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid

from kombu import Connection, Consumer, Producer, Queue

CLASSIC = {"x-queue-type": "classic"}


class EchoResponder:
    """A tiny responder on its own thread and connection: replies to each request with its body.

    Requests arrive on ``queue_name`` through the default exchange; the reply goes to the
    request's ``reply_to`` with the same ``correlation_id``. Non-persistent, auto-ack: the
    cheapest honest request/reply. ``confirms=True`` makes the reply wait for a publisher
    confirm (what nameko's reply path does).
    """

    def __init__(self, amqp_uri: str, *, confirms: bool = False) -> None:
        self.amqp_uri = amqp_uri
        self.confirms = confirms
        self.queue_name = f"bench.raw.echo-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-echo", daemon=True)

    def start(self) -> EchoResponder:
        self._thread.start()
        if not self._ready.wait(10):
            self.stop()
            raise RuntimeError(f"echo responder did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        try:
            conn = Connection(self.amqp_uri, transport_options={"confirm_publish": self.confirms})
            with conn:
                conn.connect()
                producer = Producer(conn.channel(), serializer="json")
                queue = Queue(
                    self.queue_name, durable=False, auto_delete=True, queue_arguments=CLASSIC
                )

                def on_request(body, message):
                    props = message.properties
                    producer.publish(
                        body,
                        exchange="",
                        routing_key=props["reply_to"],
                        correlation_id=props["correlation_id"],
                        delivery_mode=1,
                    )

                with Consumer(
                    conn.channel(),
                    queues=[queue],
                    callbacks=[on_request],
                    no_ack=True,
                    accept=["json"],
                ):
                    self._ready.set()
                    while not self._stop.is_set():
                        with contextlib.suppress(socket.timeout):
                            conn.drain_events(timeout=0.1)
        except BaseException as exc:  # reported by start() or by the client's timeout
            self._error = exc
            self._ready.set()


class RawClient:
    """The client side: publish a request, wait on its own exclusive reply queue."""

    def __init__(
        self, amqp_uri: str, request_queue: str, *, confirms: bool = False, timeout: float = 10.0
    ) -> None:
        self.request_queue = request_queue
        self.timeout = timeout
        self.conn = Connection(amqp_uri, transport_options={"confirm_publish": confirms})
        self.conn.connect()
        self.reply_queue = Queue(
            f"bench.raw.reply-{uuid.uuid4().hex[:8]}",
            exclusive=True,
            auto_delete=True,
            queue_arguments=CLASSIC,
        )
        self.producer = Producer(self.conn.channel(), serializer="json")
        self._replies: dict[str, object] = {}
        self.consumer = Consumer(
            self.conn.channel(),
            queues=[self.reply_queue],
            callbacks=[self._on_reply],
            no_ack=True,
            accept=["json"],
        )
        self.consumer.consume()

    def _on_reply(self, body, message) -> None:
        self._replies[message.properties["correlation_id"]] = body

    def call(self, body: dict) -> object:
        correlation_id = uuid.uuid4().hex
        self.producer.publish(
            body,
            exchange="",
            routing_key=self.request_queue,
            reply_to=self.reply_queue.name,
            correlation_id=correlation_id,
            delivery_mode=1,
        )
        deadline = time.monotonic() + self.timeout
        while correlation_id not in self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from the echo responder")
            with contextlib.suppress(socket.timeout):
                self.conn.drain_events(timeout=remaining)
        return self._replies.pop(correlation_id)

    def close(self) -> None:
        try:
            self.consumer.cancel()
        finally:
            self.conn.release()


def publish_then_consume(
    amqp_uri: str, count: int, *, queue_type: str = "quorum", prefetch: int = 100
) -> tuple[float, float]:
    """Publish ``count`` small persistent messages with confirms to a durable queue, then
    consume and ack them all. Returns (seconds publishing, seconds from first publish to the
    last ack). Connections are opened before the clock starts; the queue is deleted after.
    """
    name = f"bench.raw.events-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, durable=True, queue_arguments={"x-queue-type": queue_type})
    body = {"event_id": "", "event_type": "bench.raw", "payload": {"n": 0}}
    pub = Connection(amqp_uri, transport_options={"confirm_publish": True})
    sub = Connection(amqp_uri)
    try:
        pub.connect()
        sub.connect()
        channel = pub.channel()
        queue(channel).declare()
        producer = Producer(channel, serializer="json")
        received = 0

        def on_message(_body, message):
            nonlocal received
            message.ack()
            received += 1

        sub_channel = sub.channel()
        sub_channel.basic_qos(0, prefetch, False)
        started = time.perf_counter()
        for i in range(count):
            body["event_id"] = str(i)
            producer.publish(body, exchange="", routing_key=name, delivery_mode=2)
        published = time.perf_counter()
        with Consumer(sub_channel, queues=[queue], callbacks=[on_message], accept=["json"]):
            while received < count:
                sub.drain_events(timeout=30)
        finished = time.perf_counter()
        queue(channel).delete()
        return published - started, finished - started
    finally:
        pub.release()
        sub.release()
