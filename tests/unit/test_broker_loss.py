"""When the broker goes away under a service (fault tier, broker restart), nothing is raised
into nameko's worker, where it would kill the service's container and its process: an RPC reply
the broker cannot take is dropped with a warning, a failed event whose retry it cannot take is
given back to its queue."""

import logging
import socket
import threading

import pytest
from kombu.exceptions import OperationalError
from kombu.message import Message as KombuMessage
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder

from hqcore.messaging import broker_loss
from hqcore.messaging.subscriber import EventSubscriber

# One connection attempt, no waiting between attempts: the unit tier stays fast.
ONE_ATTEMPT = {"max_retries": 0, "interval_start": 0, "interval_step": 0, "interval_max": 0}


def closed_port_uri() -> str:
    """An AMQP URI on a local port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/%2F"


def test_fault_reply_to_an_unreachable_broker_is_logged_and_dropped(caplog):
    publisher = broker_loss.ReplyPublisher(closed_port_uri(), retry=False)
    with caplog.at_level(logging.WARNING, logger=broker_loss.__name__):
        publisher.publish(
            {"result": {"id_number": "120104195001011234"}, "error": None},
            routing_key="rpc.reply-gateway",
            correlation_id="c-1",
            transport_options=dict(ONE_ATTEMPT),
        )
    [record] = caplog.records
    assert "RPC reply lost" in record.getMessage()
    assert record.reply_correlation_id == "c-1"
    assert "120104195001011234" not in caplog.text  # the answer may hold personal data


def test_fault_reply_failing_for_another_reason_still_raises():
    publisher = broker_loss.ReplyPublisher(closed_port_uri(), retry=False)
    with pytest.raises(Exception) as raised:
        publisher.publish({"result": object()}, serializer="no-such-serializer")
    assert not isinstance(raised.value, broker_loss.CONNECTION_ERRORS)


def test_fault_install_applies_to_every_nameko_entrypoint(monkeypatch):
    monkeypatch.setattr(Responder, "publisher_cls", Responder.publisher_cls)
    monkeypatch.setattr(QueueConsumer, "ack_message", QueueConsumer.ack_message)
    monkeypatch.setattr(QueueConsumer, "requeue_message", QueueConsumer.requeue_message)
    broker_loss.install()
    broker_loss.install()  # every container of the process calls it
    assert Responder.publisher_cls is broker_loss.ReplyPublisher
    assert QueueConsumer.ack_message is broker_loss.ack_message
    assert QueueConsumer.requeue_message is broker_loss.requeue_message


class ResetChannel:
    """A channel whose connection still looks open while its socket was reset by the broker."""

    connection = object()
    no_ack_consumers = None

    def basic_ack(self, *args, **kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")

    basic_reject = basic_ack


def reset_message():
    return KombuMessage(channel=ResetChannel(), body=b"{}", delivery_tag=1)


def test_fault_ack_on_a_connection_reset_meanwhile_is_given_up_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger=broker_loss.__name__):
        broker_loss.ack_message(None, reset_message())
        broker_loss.requeue_message(None, reset_message())
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "acknowledgement lost with the broker connection",
        "requeue lost with the broker connection",
    ]


# -- a failed event whose retry the broker cannot take -----------------------------------------


class RecordingConsumer:
    """What the subscriber tells nameko's queue consumer about a message."""

    def __init__(self):
        self.acked, self.requeued = [], []

    def ack_message(self, message):
        self.acked.append(message)

    def requeue_message(self, message):
        self.requeued.append(message)


class Message:
    headers: dict = {}


def failing_subscriber(monkeypatch):
    subscriber = EventSubscriber("application.accepted")
    subscriber.service, subscriber.handler = "supervision", "on_application_accepted"
    subscriber.retry_delays = (1.0, 2.0)
    subscriber.retry_queue = "hq.supervision.on_application_accepted.retry"
    subscriber.dead_queue = "hq.supervision.on_application_accepted.dead"
    subscriber._lock, subscriber._producer_conn = threading.Lock(), None
    subscriber.queue_consumer = RecordingConsumer()

    def broker_gone(*args, **kwargs):
        raise OperationalError("[Errno 111] ECONNREFUSED")

    monkeypatch.setattr(subscriber, "_republish", broker_gone)
    return subscriber


def test_fault_failed_event_is_given_back_when_the_broker_cannot_take_its_retry(monkeypatch):
    subscriber = failing_subscriber(monkeypatch)
    message = Message()
    try:
        raise RuntimeError("handler failed")
    except RuntimeError as exc:
        exc_info = (RuntimeError, exc, exc.__traceback__)
    result = subscriber.handle_result(message, worker_ctx=None, result=None, exc_info=exc_info)
    assert result == (None, exc_info)  # nothing raised into nameko: the service goes on
    assert subscriber.queue_consumer.requeued == [message]  # handled again, not lost
    assert subscriber.queue_consumer.acked == []
