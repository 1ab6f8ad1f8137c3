"""The pytest plugin of the service and end-to-end tiers: fixtures and helpers.

The service tier registers it (``pytest_plugins`` in ``tests/service/conftest.py``, after
eventlet's monkey-patching); the end-to-end tier imports its helpers (``private_vhost``,
``prepared_suite_env``, ``wait_until``). Sample households and demo actors are in
``hqops.samples``: the benchmark uses them too, without pytest.

Every test gets its own RabbitMQ virtual host, so queues and exchanges of one test never
meet another's; databases are SQLite files in a temporary folder, or fresh PostgreSQL
databases on the local server for the tests parametrised with ``backend``.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from kombu import Connection
from sqlalchemy import create_engine, text

from hqcore.config import SERVICES, Settings, normalise_database_url
from hqcore.migrations import upgrade
from hqops.cli import seed_services

POSTGRES_ADMIN_URL = os.environ.get("HQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


@contextmanager
def private_vhost(prefix: str = "hq-test"):
    """A fresh RabbitMQ virtual host; yields its AMQP URI and deletes it afterwards."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def amqp_uri():
    """A fresh virtual host for this test, removed at the end."""
    with private_vhost() as uri:
        yield uri


def _postgres_databases(prefix: str) -> dict[str, str]:
    admin = create_engine(
        normalise_database_url(POSTGRES_ADMIN_URL + "/postgres"), isolation_level="AUTOCOMMIT"
    )
    urls = {}
    with admin.connect() as conn:
        for service in SERVICES:
            name = f"{prefix}_{service}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            urls[service] = f"{POSTGRES_ADMIN_URL}/{name}"
    admin.dispose()
    return urls


def _drop_postgres_databases(urls: dict[str, str]) -> None:
    admin = create_engine(
        normalise_database_url(POSTGRES_ADMIN_URL + "/postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        for url in urls.values():
            name = url.rsplit("/", 1)[-1]
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite"])
def backend(request):
    """Database backend; tests that must run on both parametrise it indirectly."""
    return request.param


@contextmanager
def prepared_suite_env(var_dir, amqp_uri: str, backend: str = "sqlite", **overrides: str):
    """Environment for a suite under test: its own var dir, clock file and databases, migrated
    and seeded; PostgreSQL databases are dropped afterwards."""
    env = {
        "HQ_VAR_DIR": str(var_dir),
        "AMQP_URI": amqp_uri,
        "HQ_CLOCK_MODE": "controlled",
        "HQ_CLOCK_FILE": str(var_dir / "clock.json"),
        "HQ_RETRY_DELAYS": "0.2,0.4",
        "HQ_METRICS_ENABLED": "0",
        "GATEWAY_METRICS_ENABLED": "1",
        "HQ_OUTBOX_POLL_INTERVAL": "0.1",
        "HQ_DEADLINE_SCAN_INTERVAL": "0.5",
        "HQ_LOG_LEVEL": "WARNING",
        # Per-test vhosts come and go; classic queues make that fast. The end-to-end tier
        # runs on quorum queues, the production default.
        "HQ_QUEUE_TYPE": "classic",
        **overrides,
    }
    postgres = {}
    if backend == "postgres":
        postgres = _postgres_databases(f"hq_t_{uuid.uuid4().hex[:10]}")
        env.update({f"{s.upper()}_DATABASE_URL": url for s, url in postgres.items()})
    settings = Settings.from_env(env)
    for service in SERVICES:
        upgrade(service, settings)
    seed_services(SERVICES, settings)
    try:
        yield env
    finally:
        if postgres:
            _drop_postgres_databases(postgres)


@pytest.fixture
def suite_env(tmp_path, amqp_uri, backend):
    with prepared_suite_env(tmp_path / "var", amqp_uri, backend) as env:
        yield env


@pytest.fixture
def settings(suite_env):
    return Settings.from_env(suite_env)


@pytest.fixture
def broker(settings):
    with Connection(settings.amqp_uri) as conn:
        conn.connect()
        yield conn


# -- calling services directly, signed as the gateway signs (SEC-14) -----------------------------


class _SignedMethod:
    """``proxy.<service>.<method>(**kwargs)`` (and ``.call_async``) of nameko's standalone
    proxy, each call signed with the suite's request key and given its deadline."""

    def __init__(self, proxy, worker_ctx, key: bytes, timeout: float, service: str, method: str):
        self._proxy, self._ctx, self._key = proxy, worker_ctx, key
        self._timeout, self._service, self._method = timeout, service, method

    def _sign(self, kwargs, idempotency_key):
        from hqcore import envelope

        # The standalone proxy reads its context data when it publishes, in this same green
        # thread and before any I/O: the headers belong to this call only.
        for name in (envelope.SIGNATURE, envelope.DEADLINE, envelope.NONCE):
            self._ctx.data.pop(name, None)
        self._ctx.data.pop(envelope.IDEMPOTENCY_KEY, None)
        self._ctx.data.update(
            envelope.sign(
                self._key,
                self._service,
                self._method,
                kwargs,
                timeout=self._timeout,
                idempotency_key=idempotency_key,
            )
        )
        return getattr(getattr(self._proxy, self._service), self._method)

    def __call__(self, *, idempotency_key=None, **kwargs):
        return self._sign(kwargs, idempotency_key)(**kwargs)

    def call_async(self, *, idempotency_key=None, **kwargs):
        return self._sign(kwargs, idempotency_key).call_async(**kwargs)


class _SignedService:
    def __init__(self, proxy, worker_ctx, key: bytes, timeout: float, service: str):
        self._args = (proxy, worker_ctx, key, timeout, service)

    def __getattr__(self, method: str) -> _SignedMethod:
        return _SignedMethod(*self._args, method)


class SignedProxy:
    """nameko's ``ClusterRpcProxy`` with every call signed: ``rpc.intake.get_case(...)``
    answers as before and raises nameko's ``RemoteError`` as before."""

    def __init__(self, proxy, worker_ctx, key: bytes, timeout: float):
        self._args = (proxy, worker_ctx, key, timeout)

    def __getattr__(self, service: str) -> _SignedService:
        return _SignedService(*self._args, service)


@contextmanager
def signed_rpc(settings: Settings, timeout: float = 15.0):
    """A ``SignedProxy`` on the settings' broker, signing with the suite's request key
    (``hqcore.secrets.request_key``: generated into the test's var dir in demo mode)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from hqcore.secrets import request_key

    key = request_key(settings)
    proxy_ctx = ClusterRpcProxy({"AMQP_URI": settings.amqp_uri}, timeout=timeout)
    proxy = proxy_ctx.start()
    try:
        yield SignedProxy(proxy, proxy_ctx._worker_ctx, key, timeout)
    finally:
        proxy_ctx.stop()


# -- direct checks that nothing is left to happen (instead of sleeping and looking) --------------


def _vhost_of(amqp_uri: str) -> str:
    from urllib.parse import unquote, urlsplit

    path = urlsplit(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def queue_messages(amqp_uri: str) -> dict[str, tuple[int, int]]:
    """Every queue of the URI's virtual host: ``(messages ready, messages unacknowledged)``.

    AMQP's passive ``queue_declare`` counts only the ready messages; a message a consumer holds
    without having acknowledged it yet is counted here too (``rabbitmqctl list_queues``)."""
    import json

    answer = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            _vhost_of(amqp_uri),
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "--formatter",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {
        row["name"]: (int(row["messages_ready"] or 0), int(row["messages_unacknowledged"] or 0))
        for row in json.loads(answer.stdout or "[]")
    }


def wait_until_handled(amqp_uri: str, *queues: str, timeout: float = 15.0) -> None:
    """Wait until each handler queue is empty with no unacknowledged message: every event
    delivered to it so far has been handled (and acknowledged) or dead-lettered."""

    def drained():
        counts = queue_messages(amqp_uri)
        missing = [q for q in queues if q not in counts]
        assert not missing, f"no such queue: {missing} (queues: {sorted(counts)})"
        return all(counts[q] == (0, 0) for q in queues)

    wait_until(
        drained,
        timeout=timeout,
        interval=0.2,
        message=f"{', '.join(queues)} to be empty with nothing unacknowledged",
    )


def run_deadline_scan(container) -> int:
    """Run one deadline scan of a started service container now, in the calling thread, beside
    the scanner's own periodic runs; returns how many deadlines it marked breached."""
    from hqcore.providers import DeadlineScanner  # the service tier imports it after patching

    [scanner] = [ext for ext in container.subextensions if isinstance(ext, DeadlineScanner)]
    return scanner.scan()
