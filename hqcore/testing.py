"""Test helpers shared by the service and end-to-end tiers (a pytest plugin).

Every test gets its own RabbitMQ virtual host, so queues and exchanges of one test never
meet another's; databases are SQLite files in a temporary folder, or fresh PostgreSQL
databases on the local server for the tests parametrised with ``backend``.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from kombu import Connection

from hqcore.cli import seed_services
from hqcore.config import PROJECT_ROOT, SERVICES, Settings
from hqcore.migrations import upgrade

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
    from sqlalchemy import create_engine, text
    from hqcore.config import normalise_database_url
    admin = create_engine(normalise_database_url(POSTGRES_ADMIN_URL + "/postgres"),
                          isolation_level="AUTOCOMMIT")
    urls = {}
    with admin.connect() as conn:
        for service in SERVICES:
            name = f"{prefix}_{service}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            urls[service] = f"{POSTGRES_ADMIN_URL}/{name}"
    admin.dispose()
    return urls


def _drop_postgres_databases(urls: dict[str, str]) -> None:
    from sqlalchemy import create_engine, text
    from hqcore.config import normalise_database_url
    admin = create_engine(normalise_database_url(POSTGRES_ADMIN_URL + "/postgres"),
                          isolation_level="AUTOCOMMIT")
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


def sample_application(id_number: str = "11010519491231002X", program: str = "dibao",
                       street_code: str = "shaogongzhuang") -> dict:
    """A complete one-person application: every material of the checklist (IN-3, and the
    written application for tekun, IN-2) and a signed authorisation (IN-7)."""
    materials = ["household_id_cards", "household_register", "economic_declaration"]
    if program == "tekun":
        materials.insert(0, "written_application")
    return {
        "program": program, "street_code": street_code, "community": "前园社区",
        "applicant": {"name": "王秀英", "id_number": id_number, "relationship": "self"},
        "members": [{"name": "王秀英", "id_number": id_number, "relationship": "self",
                     "authorisation_signed": True}],
        "materials_provided": materials,
    }


def actor_for(username: str) -> dict:
    """The actor dict of a seeded demo account (``gateway/data/accounts.json``), as the
    gateway passes it to a service step."""
    data = json.loads((PROJECT_ROOT / "gateway" / "data" / "accounts.json")
                      .read_text(encoding="utf-8"))
    [account] = [a for a in data["accounts"] if a["username"] == username]
    return {"user_id": account["username"], "role": account["role"],
            "street_code": account["street_code"], "name": account["name"]}


def make_id_number(serial: int, birth: str = "19600101", region: str = "120106") -> str:
    """A valid resident ID number (GB 11643) for test households."""
    from hqcore.idnumber import check_digit
    first17 = f"{region}{birth}{serial % 1000:03d}"
    return first17 + check_digit(first17)
