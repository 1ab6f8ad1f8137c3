"""End-to-end tier: the whole suite as separate processes, driven through the gateway's HTTP."""
import io
import socket

import pytest
import requests

from hqcore.supervisor import Suite
from hqcore.testing import prepared_suite_env, private_vhost


def _free_port() -> int:
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


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    ports = {f"{name.upper()}_METRICS_PORT": str(_free_port())
             for name in ("intake", "verification", "publicity", "decision", "payments",
                          "supervision")}
    var_dir = tmp_path_factory.mktemp("suite") / "var"
    with private_vhost("hq-e2e") as amqp_uri, prepared_suite_env(
            var_dir, amqp_uri, HQ_QUEUE_TYPE="quorum", HQ_METRICS_ENABLED="1",
            HQ_LOG_LEVEL="INFO", GATEWAY_PORT=str(_free_port()),
            CITY_PLATFORM_DELAY_SECONDS="0.3", **ports) as env:
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
