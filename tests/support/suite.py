"""The whole suite as separate processes, for the end-to-end and deploy tiers.

``running_suite(var_dir)`` starts the six services and the gateway (``hqops.supervisor.Suite``)
in a private RabbitMQ virtual host on quorum queues, the production default, with one fresh
PostgreSQL database per service (created, migrated and seeded here, dropped when the suite
stops: ``tests.support.plugin.prepared_suite_env``), the controlled clock, metrics on free
ports and the processes' output kept in ``RunningSuite.log``. Each tier's conftest makes it a
session fixture: one suite per pytest run, so its tests must not depend on each other's data.
The fault tier adds a restart policy (the supervisor restarts what it kills), a private broker
node (``tests.support.private_broker``) and faults of ``tests.support.faults``.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests
from sqlalchemy import MetaData, func, select

from hqcore.config import SERVICES, Settings
from hqcore.db import Database, platform_tables
from hqops.supervisor import RestartPolicy, Suite
from tests.support import faults as fault_injection
from tests.support.plugin import prepared_suite_env, private_vhost, queue_messages
from tests.support.private_broker import PrivateBroker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """An HTTP client of the gateway, logged in as one demo account (or anonymous). A logged-in
    client logs in again when its access token expires (15 minutes, SEC-4) and repeats the
    request once, as the web console does with its refresh token."""

    def __init__(self, url: str, token: str | None = None, login=None):
        self.url = url
        self.http = requests.Session()
        self._login = login
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def _send(self, method: str, path: str, **kwargs):
        answer = self.http.request(method, self.url + path, timeout=30, **kwargs)
        if self._login is not None and answer.status_code == 401 and _expired(answer):
            self.http.headers["Authorization"] = f"Bearer {self._login(renew=True)}"
            answer = self.http.request(method, self.url + path, timeout=30, **kwargs)
        return answer

    def get(self, path, **kwargs):
        return self._send("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self._send("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self._send("PUT", path, json=json, **kwargs)


def _expired(answer) -> bool:
    try:
        return answer.json()["error"]["code"] == "token_expired"
    except (ValueError, KeyError, TypeError):
        return False


class RunningSuite(Client):
    def __init__(
        self, suite: Suite, env: dict, log: io.StringIO, broker: PrivateBroker | None = None
    ):
        super().__init__(suite.gateway_url)
        self.suite, self.env, self.log = suite, env, log
        self.settings = Settings.from_env(env)
        self.broker = broker
        self._tokens: dict[str, str] = {}

    def as_user(self, username: str) -> Client:
        """A client logged in as a seeded demo account (password ``demo``)."""

        def login(renew: bool = False) -> str:
            if renew or username not in self._tokens:
                answer = self.post("/api/v1/login", {"username": username, "password": "demo"})
                assert answer.status_code == 200, answer.text
                self._tokens[username] = answer.json()["token"]
            return self._tokens[username]

        return Client(self.url, login(), login)

    def set_clock(self, iso: str) -> dict:
        """Moving the suite's clock is the district officer's (SEC-11)."""
        answer = self.as_user("district-officer").post("/api/v1/clock", {"set": iso})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def advance_clock(self, duration: str) -> dict:
        answer = self.as_user("district-officer").post("/api/v1/clock", {"advance": duration})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.env[service.upper() + '_METRICS_PORT']}/metrics"

    @property
    def vhost(self) -> str:
        return unquote(urlsplit(self.env["AMQP_URI"]).path[1:])

    def unpublished_events(self) -> dict[str, int]:
        """Each service's outbox rows not yet published (committed, still to be sent)."""
        outbox = platform_tables(MetaData())["outbox"]
        counts = {}
        for service in SERVICES:
            database = Database(self.settings.database_url(service))
            try:
                with database.transaction() as conn:
                    counts[service] = conn.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.published_at.is_(None))
                    ).scalar_one()
            finally:
                database.dispose()
        return counts

    def pending_work(self) -> dict[str, object]:
        """What is still in flight: unpublished outbox rows and event queues (``hq.*``, their
        retry queues included) holding ready or unacknowledged messages. Empty when every
        event committed so far has been handled; dead-lettered events are not "in flight"."""
        pending: dict[str, object] = {
            f"{name} outbox": count for name, count in self.unpublished_events().items() if count
        }
        for queue, (ready, unacked) in self.queue_messages().items():
            if queue.startswith("hq.") and not queue.endswith(".dead") and (ready or unacked):
                pending[queue] = {"ready": ready, "unacked": unacked}
        return pending

    def queue_messages(self) -> dict[str, tuple[int, int]]:
        """Every queue of the suite's virtual host: ``(ready, unacknowledged)``."""
        if self.broker is not None:
            return self.broker.queue_messages()
        return queue_messages(self.env["AMQP_URI"])


class _FaultySuite(Suite):
    """A suite whose named services run with a fault of ``tests.support.faults``."""

    def __init__(self, faults: dict[str, str], **kwargs):
        super().__init__(**kwargs)
        self.faults = faults

    def commands(self) -> dict[str, list[str]]:
        commands = super().commands()
        for name, fault in self.faults.items():
            commands[name] = fault_injection.command(self.python, fault, name)
        return commands


@contextmanager
def _vhost_on(broker: PrivateBroker | None) -> Iterator[str]:
    """A private virtual host on the shared broker, or the private node's default one."""
    if broker is not None:
        yield broker.amqp_uri
        return
    with private_vhost("hq-e2e") as amqp_uri:
        yield amqp_uri


@contextmanager
def running_suite(
    var_dir: Path,
    *,
    restart: RestartPolicy | None = None,
    broker: PrivateBroker | None = None,
    faults: dict[str, str] | None = None,
    **overrides: str,
) -> Iterator[RunningSuite]:
    """The suite as processes on PostgreSQL, healthy; stopped and its databases and virtual
    host removed afterwards. ``restart``: the supervisor restarts crashed processes (SEC-17);
    ``broker``: run on that private node instead of a virtual host of the shared broker;
    ``faults``: service name -> fault of ``tests.support.faults``."""
    ports = {f"{name.upper()}_METRICS_PORT": str(free_port()) for name in SERVICES}
    settings = {
        "HQ_QUEUE_TYPE": "quorum",
        "HQ_METRICS_ENABLED": "1",
        "HQ_LOG_LEVEL": "INFO",
        "GATEWAY_PORT": str(free_port()),
        "CITY_PLATFORM_DELAY_SECONDS": "0.3",
        **ports,
        **overrides,
    }
    with (
        _vhost_on(broker) as amqp_uri,
        prepared_suite_env(var_dir, amqp_uri, "postgres", **settings) as env,
    ):
        log = io.StringIO()
        suite = _FaultySuite(faults or {}, env=env, out=log, restart=restart)
        suite.start()
        try:
            try:
                suite.wait_healthy(timeout=90)
            except Exception:
                print(log.getvalue()[-5000:])  # shown by pytest with the failure
                raise
            yield RunningSuite(suite, env, log, broker)
        finally:
            suite.stop()
