"""No lost and no doubled messages, proven against the real broker (platform issue, item 5)."""

import json
import threading
from contextlib import contextmanager

import eventlet
import pytest
from kombu import Connection, Exchange, Producer
from nameko.containers import ServiceContainer
from nameko.exceptions import RpcTimeout
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from hqcore.clock import get_clock
from hqcore.config import Settings
from hqcore.db import Database
from hqcore.messaging.envelope import EVENTS_EXCHANGE, build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqcore.messaging.subscriber import subscribe
from hqcore.run import nameko_config
from hqops import deadletters
from hqops.samples import actor_for, make_id_number, sample_application
from hqops.supervisor import Suite
from services.intake import adapters as intake_tables
from services.publicity.service import PublicityService
from services.supervision import adapters as supervision_tables
from services.supervision.service import SupervisionService
from tests.support import faults
from tests.support.plugin import prepared_suite_env, signed_rpc, wait_until
from tests.support.private_broker import private_broker

CLERK = actor_for("sgz-clerk")
DISTRICT = actor_for("district-officer")


@contextmanager
def processes(env):
    """A suite with no process started yet; whatever the test starts is stopped at the end.
    ``suite.faults[name] = fault`` starts that service with a fault of tests.support.faults."""
    suite = FaultableSuite(env=env)
    try:
        yield suite
    finally:
        suite.stop()


class FaultableSuite(Suite):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.faults: dict[str, str] = {}

    def commands(self) -> dict[str, list[str]]:
        commands = super().commands()
        for name, fault in self.faults.items():
            commands[name] = faults.command(self.python, fault, name)
        return commands


def submitted_envelope(settings, serial=1):
    now = get_clock(settings).now()
    person = {"name": "李桂兰", "id_number": make_id_number(serial), "relationship": "self"}
    return build_envelope(
        event_type="application.accepted",
        version=1,
        occurred_at=now,
        case_id=f"case-{serial}",
        street_code="shaogongzhuang",
        correlation_id="test",
        acting_user="clerk",
        source="intake",
        payload={
            "case_id": f"case-{serial}",
            "case_no": f"SGZ-2026-{serial:05d}",
            "program": "dibao",
            "street_code": "shaogongzhuang",
            "community": "前园社区",
            "applicant": person,
            "members": [person],
            "near_relative": False,
            "accepted_at": now,
        },
    )


def count_rows(settings, service, table):
    database = Database(settings.database_url(service))
    try:
        with database.transaction() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        database.dispose()


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_redelivered_event_is_applied_once(start_service, settings):
    container = start_service(SupervisionService)
    envelope = submitted_envelope(settings)
    publisher = EventPublisher(settings.amqp_uri)
    for _ in range(2):  # the broker delivers the same event twice
        with entrypoint_waiter(container, "on_application_accepted", timeout=10):
            publisher.publish(envelope)
    publisher.close()
    assert count_rows(settings, "supervision", supervision_tables.cases) == 1
    assert count_rows(settings, "supervision", supervision_tables.TABLES["inbox"]) == 1


class FailingPublicity(PublicityService):
    """Publicity whose handler fails until told otherwise."""

    calls = []

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.calls.append(event.event_id)
        raise RuntimeError("simulated failure")


def test_failing_handler_retries_then_dead_letters_visibly_and_replays(
    start_service, settings, broker
):
    labels = {"service": "publicity", "handler": "on_application_accepted"}
    retries_before = sample("hq_event_retries_total", **labels)
    dead_before = sample("hq_dead_lettered_total", reason="handler_failed", **labels)
    failing = start_service(FailingPublicity)
    publisher = EventPublisher(settings.amqp_uri)
    envelope = submitted_envelope(settings, serial=7)
    publisher.publish(envelope)

    dead_queue = "hq.publicity.on_application_accepted.dead"
    wait_until(
        lambda: deadletters.depth(broker, dead_queue) == 1,
        timeout=15,
        message="the event to reach the dead-letter queue",
    )
    attempts = 1 + len(settings.retry_delays)
    assert FailingPublicity.calls == [envelope["event_id"]] * attempts
    assert sample("hq_event_retries_total", **labels) - retries_before == len(settings.retry_delays)
    # the counter moves right after the broker confirmed the dead letter
    wait_until(
        lambda: (
            sample("hq_dead_lettered_total", reason="handler_failed", **labels) - dead_before == 1
        ),
        timeout=5,
        message="the dead-letter metric",
    )
    [letter] = deadletters.peek(broker, dead_queue)
    assert letter.event_id == envelope["event_id"] and letter.reason == "handler_failed"
    assert "simulated failure" in letter.error

    # An operator fixes the handler and replays: the event is applied, exactly once.
    failing.stop()
    start_service(PublicityService)
    assert deadletters.replay(broker, dead_queue) == 1
    with signed_rpc(settings, timeout=10) as rpc:
        view = wait_until(
            lambda: _get_case(rpc.publicity, "case-7"),
            timeout=10,
            message="publicity to apply the replayed event",
        )
    assert view["status"] == "awaiting_verification"
    assert deadletters.depth(broker, dead_queue) == 0
    publisher.close()


def test_message_breaking_its_contract_is_dead_lettered_not_applied(
    start_service, settings, broker
):
    start_service(SupervisionService)
    envelope = submitted_envelope(settings, serial=8)
    envelope["payload"]["members"] = []  # the contract needs at least one member
    before = sample(
        "hq_dead_lettered_total",
        service="supervision",
        handler="on_application_accepted",
        reason="contract_violation",
    )
    with Connection(settings.amqp_uri, transport_options={"confirm_publish": True}) as conn:
        Producer(conn.default_channel).publish(
            envelope,
            exchange=Exchange(EVENTS_EXCHANGE, type="topic", durable=True),
            routing_key="application.accepted",
            serializer="json",
        )
    dead_queue = "hq.supervision.on_application_accepted.dead"
    wait_until(
        lambda: deadletters.depth(broker, dead_queue) == 1,
        timeout=10,
        message="the invalid event to be dead-lettered",
    )
    [letter] = deadletters.peek(broker, dead_queue)
    assert letter.reason == "contract_violation" and "members" in letter.error
    assert count_rows(settings, "supervision", supervision_tables.cases) == 0
    wait_until(
        lambda: (
            sample(
                "hq_dead_lettered_total",
                service="supervision",
                handler="on_application_accepted",
                reason="contract_violation",
            )
            == before + 1
        ),
        timeout=5,
        message="the dead-letter metric",
    )


def _get_case(proxy, case_id):
    try:
        return proxy.get_case(actor=DISTRICT, case_id=case_id)
    except Exception:
        return None


def test_process_killed_between_commit_and_publish_delivers_after_restart(
    start_service, settings, suite_env
):
    start_service(SupervisionService)
    with processes(suite_env) as suite:
        suite.faults["intake"] = "crash-after-commit"
        suite.start_process("intake")
        with signed_rpc(settings, timeout=5) as rpc:
            wait_until(lambda: _ping(rpc.intake), timeout=30, message="intake to start")
            with pytest.raises(RpcTimeout):  # intake dies before it can answer
                rpc.intake.submit_application(application=sample_application(), actor=CLERK)
        assert suite.wait_exit("intake", timeout=10) == faults.CRASH_EXIT_CODE
        del suite.faults["intake"]

        # Committed but never published: the case exists only in intake's outbox.
        outbox = intake_tables.TABLES["outbox"]
        database = Database(settings.database_url("intake"))
        with database.transaction() as conn:
            rows = conn.execute(
                select(outbox.c.event_type, outbox.c.envelope, outbox.c.published_at)
            ).all()
        database.dispose()
        assert all(r.published_at is None for r in rows)
        [row] = [r for r in rows if r.event_type == "application.accepted"]
        case_id = json.loads(row.envelope)["case_id"]

        suite.start_process("intake")
        with signed_rpc(settings, timeout=5) as rpc:
            view = wait_until(
                lambda: _get_case(rpc.supervision, case_id),
                timeout=30,
                message="the committed event to be delivered after restart",
            )
    assert view["case_id"] == case_id


def _ping(proxy):
    try:
        return proxy.ping()
    except Exception:
        return None


@pytest.fixture
def private_node_env(tmp_path):
    """A suite environment on a private RabbitMQ node this test starts on its own ports
    (``tests.support.private_broker``): restarting it never touches the machine's shared
    broker, on which other tests run at the same time."""
    with (
        private_broker() as node,
        prepared_suite_env(tmp_path / "var", node.amqp_uri) as env,
    ):
        yield node, env


@pytest.mark.broker_restart
def test_broker_restart_in_a_stream_of_cases_loses_none(private_node_env):
    node, suite_env = private_node_env
    settings = Settings.from_env(suite_env)
    accepted = set()

    def submit(serial):
        app = sample_application(id_number=make_id_number(100 + serial))
        with signed_rpc(settings, timeout=5) as rpc:
            return rpc.intake.submit_application(application=app, actor=CLERK)["case_id"]

    def submit_until_stored(serial):
        # A caller that lost its answer tries again; a duplicate means it was stored.
        def attempt():
            try:
                return submit(serial)
            except Exception as exc:
                return "stored" if "duplicate_open_case" in str(exc) else None

        return wait_until(attempt, timeout=90, interval=1.0, message=f"case {serial} accepted")

    with processes(suite_env) as suite:
        for name in ("intake", "supervision"):
            suite.start_process(name)
        for serial in range(10):
            accepted.add(submit_until_stored(serial))
        node.restart()  # every connection is cut; durable queues and their messages survive
        for serial in range(10, 20):
            accepted.add(submit_until_stored(serial))

        def case_ids(service, table):
            database = Database(settings.database_url(service))
            with database.transaction() as conn:
                ids = {r.case_id for r in conn.execute(select(table.c.case_id))}
            database.dispose()
            return ids

        intake_ids = case_ids("intake", intake_tables.applications)
        assert len(intake_ids) == 20
        assert accepted - {"stored"} <= intake_ids
        wait_until(
            lambda: case_ids("supervision", supervision_tables.cases) == intake_ids,
            timeout=60,
            interval=0.5,
            message="supervision to hold every case intake accepted",
        )
        # Both reconnected by themselves: neither exited when the broker went away.
        assert suite.exited == {}
        assert suite.is_running("intake") and suite.is_running("supervision")
    assert node.restarts == 1


class HoldingPublicity(PublicityService):
    """Publicity with one more RPC method, whose answer waits until the test lets it go."""

    entered = threading.Event()
    release = threading.Event()

    @rpc
    def hold(self):
        self.entered.set()
        self.release.wait(60)
        return "released"


def test_rpc_reply_lost_to_a_broker_restart_does_not_end_the_service(private_node_env):
    """A worker that finishes while the broker is down cannot send its reply; the service must
    go on and answer again once the broker is back, without being restarted."""
    node, suite_env = private_node_env
    settings = Settings.from_env(suite_env)
    HoldingPublicity.entered.clear()
    HoldingPublicity.release.clear()
    container = ServiceContainer(HoldingPublicity, nameko_config(settings))
    container.start()
    caller = ClusterRpcProxy({"AMQP_URI": settings.amqp_uri}, timeout=120)
    try:
        caller.start().publicity.hold.call_async()
        assert HoldingPublicity.entered.wait(15), "the held call never reached publicity"
        node.stop()  # every connection is cut: the reply has no broker to go to
        HoldingPublicity.release.set()
        wait_until(
            lambda: not container._worker_threads,
            timeout=60,
            interval=0.2,
            message="the held worker to finish",
        )
        # nameko begins killing a container in the very callback that saw its worker end.
        assert not container._being_killed, "publicity was killed by its lost reply"
        node.start()
        with signed_rpc(settings, timeout=5) as again:
            answer = wait_until(
                lambda: _ping(again.publicity),
                timeout=90,
                interval=1.0,
                message="publicity to answer after the broker restart",
            )
        assert answer["status"] == "up"
        assert not container._being_killed
    finally:
        if not node.running:  # the test failed while it was down: nothing stops without it
            node.start()
        with eventlet.Timeout(15, False):
            caller.stop()
        if container._being_killed:
            container.kill()  # returns once it is dead
        else:
            container.stop()
