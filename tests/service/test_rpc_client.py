"""RpcClient against the real broker and a tiny nameko service in a private vhost."""

from __future__ import annotations

import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from hqcore.errors import Conflict, ServiceUnavailable, UpstreamTimeout
from hqcore.messaging.rpc_client import RpcClient
from tests.support.plugin import rabbitmqctl, wait_until

SERVICE = "rpc_client_probe"


class WorkerContext(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return worker_ctx


class ProbeService:
    name = SERVICE
    worker = WorkerContext()

    @rpc
    def echo(self, value):
        return value

    @rpc
    def refuse(self, case_no):
        raise Conflict(
            f"case {case_no} is already open",
            field="applicant.id_number",
            code="duplicate_open_case",
            details={"case_no": case_no},
        )

    @rpc
    def slow(self, seconds):
        eventlet.sleep(seconds)
        return "late"

    @rpc
    def context(self):
        return {
            "call_id_stack": self.worker.call_id_stack,
            "correlation_id": self.worker.data.get("correlation_id"),
            "acting_user": self.worker.data.get("acting_user"),
        }


@pytest.fixture(scope="module")
def probe_uri():
    """One private virtual host for this module's service and clients."""
    vhost = f"hq-test-rpc-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="module")
def service(probe_uri):
    container = ServiceContainer(ProbeService, {"AMQP_URI": probe_uri})
    container.start()
    yield container
    container.stop()


@pytest.fixture
def client(probe_uri, service):
    with RpcClient(probe_uri, timeout=5.0) as client:
        yield client


def works(client: RpcClient) -> bool:
    try:
        return client.call(SERVICE, "echo", timeout=1.0, value="ok") == "ok"
    except (ServiceUnavailable, UpstreamTimeout):
        return False


def test_call_returns_the_result(client):
    value = {"name": "王秀英", "members": [1, 2.5, None, True]}
    assert client.call(SERVICE, "echo", value=value) == value


def test_fifty_concurrent_calls_from_eight_threads_get_their_own_results(client):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: client.call(SERVICE, "echo", value=n), range(50)))
    assert results == list(range(50))


def test_call_async_returns_futures(client):
    futures = [client.call_async(SERVICE, "echo", value=n) for n in range(20)]
    assert [future.result(5) for future in futures] == list(range(20))


def test_remote_domain_error_comes_back_as_the_same_class(client):
    with pytest.raises(Conflict) as raised:
        client.call(SERVICE, "refuse", case_no="SGZ-2024-0001")
    assert raised.value.code == "duplicate_open_case"
    assert raised.value.field == "applicant.id_number"
    assert raised.value.details == {"case_no": "SGZ-2024-0001"}


def test_unknown_service_fails_fast(client):
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        client.call("no_such_service", "ping", timeout=5.0)
    assert time.monotonic() - started < 1.0
    assert works(client)


def test_timeout_raises_upstream_timeout_and_the_late_reply_is_ignored(client, service):
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        client.call(SERVICE, "slow", timeout=0.3, seconds=1.0)
    assert 0.3 <= time.monotonic() - started < 0.9
    future = client.call_async(SERVICE, "slow", timeout=0.3, seconds=1.0)
    assert isinstance(future.exception(timeout=2.0), UpstreamTimeout)
    # Both late replies are sent once the slow workers finish; they reach the client's one
    # reply queue before the reply to any later call, so a call answered after that proves
    # they were received and dropped.
    wait_until(
        lambda: not service._worker_threads,
        timeout=5.0,
        message="the slow workers to finish and reply",
    )
    assert works(client)
    assert client._pending == {}


def test_nameko_context_headers_reach_the_worker(client):
    seen = client.call(SERVICE, "context", correlation_id="req-77", acting_user="clerk-9")
    assert seen["correlation_id"] == "req-77"
    assert seen["acting_user"] == "clerk-9"
    assert seen["call_id_stack"][0].startswith("gateway.context.")
    assert seen["call_id_stack"][-1].startswith(f"{SERVICE}.context.")


def test_reply_queue_comes_back_after_the_consumer_connection_drops(client):
    client._consumer_conn.connection.sock.shutdown(socket.SHUT_RDWR)
    wait_until(lambda: works(client), timeout=15.0, message="the reply queue to come back")
    assert client.call(SERVICE, "echo", value=1) == 1


def test_publishing_survives_a_dropped_publish_connection(client):
    client._publish_conn.connection.sock.shutdown(socket.SHUT_RDWR)
    assert client.call(SERVICE, "echo", value=2) == 2


def test_stop_fails_pending_calls_and_refuses_new_ones(probe_uri, service):
    client = RpcClient(probe_uri, timeout=5.0)
    client.start()
    pending = client.call_async(SERVICE, "slow", seconds=1.0)
    client.stop()
    assert isinstance(pending.exception(timeout=1.0), ServiceUnavailable)
    with pytest.raises(RuntimeError):
        client.call(SERVICE, "echo", value=1)


def test_unreachable_broker_fails_start_with_service_unavailable():
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        RpcClient("amqp://guest:guest@127.0.0.1:1//", timeout=1.0).start()
    assert time.monotonic() - started < 10
