"""The whole suite as separate processes, for the end-to-end and deploy tiers.

``running_suite(var_dir)`` starts the six services and the gateway (``hqops.supervisor.Suite``)
in a private RabbitMQ virtual host on quorum queues, the production default, with one fresh
PostgreSQL database per service (created, migrated and seeded here, dropped when the suite
stops: ``tests.support.plugin.prepared_suite_env``), the controlled clock, metrics on free
ports and the processes' output kept in ``RunningSuite.log``. Each tier's conftest makes it a
session fixture: one suite per pytest run, so its tests must not depend on each other's data.
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
from hqops.supervisor import Suite
from tests.support.plugin import prepared_suite_env, private_vhost, queue_messages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """An HTTP client of the gateway, logged in as one demo account (or anonymous)."""

    def __init__(self, url: str, token: str | None = None):
        self.url = url
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path, **kwargs):
        return self.http.get(self.url + path, timeout=30, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.http.post(self.url + path, json=json, timeout=30, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.http.put(self.url + path, json=json, timeout=30, **kwargs)


class RunningSuite(Client):
    def __init__(self, suite: Suite, env: dict, log: io.StringIO):
        super().__init__(suite.gateway_url)
        self.suite, self.env, self.log = suite, env, log
        self.settings = Settings.from_env(env)
        self._tokens: dict[str, str] = {}

    def as_user(self, username: str) -> Client:
        """A client logged in as a seeded demo account (password ``demo``)."""
        if username not in self._tokens:
            answer = self.post("/api/v1/login", {"username": username, "password": "demo"})
            assert answer.status_code == 200, answer.text
            self._tokens[username] = answer.json()["token"]
        return Client(self.url, self._tokens[username])

    def set_clock(self, iso: str) -> dict:
        answer = self.post("/api/v1/clock", {"set": iso})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def advance_clock(self, duration: str) -> dict:
        answer = self.post("/api/v1/clock", {"advance": duration})
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
        for queue, (ready, unacked) in queue_messages(self.env["AMQP_URI"]).items():
            if queue.startswith("hq.") and not queue.endswith(".dead") and (ready or unacked):
                pending[queue] = {"ready": ready, "unacked": unacked}
        return pending


@contextmanager
def running_suite(var_dir: Path, **overrides: str) -> Iterator[RunningSuite]:
    """The suite as processes on PostgreSQL, healthy; stopped and its databases and virtual
    host removed afterwards."""
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
        private_vhost("hq-e2e") as amqp_uri,
        prepared_suite_env(var_dir, amqp_uri, "postgres", **settings) as env,
    ):
        log = io.StringIO()
        suite = Suite(env=env, out=log)
        suite.start()
        try:
            try:
                suite.wait_healthy(timeout=90)
            except Exception:
                print(log.getvalue()[-5000:])  # shown by pytest with the failure
                raise
            yield RunningSuite(suite, env, log)
        finally:
            suite.stop()
