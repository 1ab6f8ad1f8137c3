"""Monitoring against a real Prometheus (Debian package `prometheus`; `make test` installs it):
the suite runs as processes (the ``suite`` fixture of tests/deploy/conftest.py), a Prometheus
server scrapes every service and the gateway every second and evaluates
deploy/monitoring/prometheus/rules.yml as shipped; a VE-1 deadline breached in the suite fires
DeadlineBreached, and every dashboard query runs against the real data."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
import yaml

from hqops.samples import make_id_number, sample_application
from tests.support.plugin import wait_until
from tests.support.suite import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "monitoring" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana" / "dashboards" / "hongqiao.json"
SERVICES = ("intake", "verification", "publicity", "decision", "payments", "supervision")
STREET = "shaogongzhuang"  # sgz-clerk's street


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def get(self, path: str, **params):
        answer = requests.get(self.url + path, params=params, timeout=10)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def targets(self) -> dict[str, str]:
        return {
            t["labels"]["job"]: t["health"] for t in self.get("/api/v1/targets")["activeTargets"]
        }

    def alerts(self, name: str, state: str = "firing") -> list[dict]:
        return [
            a
            for a in self.get("/api/v1/alerts")["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == state
        ]


@pytest.fixture(scope="module")
def prometheus(suite, tmp_path_factory):
    binary = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin:/usr/sbin")
    if binary is None:
        pytest.fail(
            "the prometheus server binary is missing: run `make prometheus` "
            "(scripts/ensure-prometheus.sh installs Debian's `prometheus` package)"
        )
    workdir = tmp_path_factory.mktemp("prometheus")
    shutil.copy(RULES, workdir / "rules.yml")
    gateway = urlparse(suite.url).netloc
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {
                "job_name": name,
                "static_configs": [
                    {"targets": [f"127.0.0.1:{suite.env[name.upper() + '_METRICS_PORT']}"]}
                ],
            }
            for name in SERVICES
        ]
        + [{"job_name": "gateway", "static_configs": [{"targets": [gateway]}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:

        def ready():
            assert proc.poll() is None, (workdir / "prometheus.log").read_text()[-3000:]
            try:
                return requests.get(server.url + "/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, timeout=30, interval=0.2, message="Prometheus to be ready")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def test_every_service_and_the_gateway_is_an_up_target(prometheus):
    expected = {name: "up" for name in (*SERVICES, "gateway")}
    wait_until(
        lambda: prometheus.targets() == expected,
        timeout=30,
        interval=0.5,
        message=f"every target up, last seen {prometheus.targets()}",
    )
    wait_until(
        lambda: len(prometheus.query("up == 1")) == len(expected),
        timeout=10,
        interval=0.5,
        message="up == 1 for every job",
    )


def test_a_breached_VE1_deadline_fires_DeadlineBreached(suite, prometheus):
    def breached_alerts():
        return [
            a
            for a in prometheus.alerts("DeadlineBreached")
            if a["labels"].get("rule_id") == "VE-1" and a["labels"].get("street") == STREET
        ]

    clerk = suite.as_user("sgz-clerk")
    suite.set_clock("2026-05-11T01:00:00+00:00")  # Monday; VE-1 is due at the end of Thursday
    created = clerk.post(
        "/api/v1/applications",
        sample_application(id_number=make_id_number(601), street_code=STREET),
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    wait_until(
        lambda: (
            clerk.get(f"/api/v1/cases/{case_id}")
            .json()["services"]["verification"]
            .get("deadlines")
        ),
        timeout=20,
        message="VE-1 to open",
    )
    wait_until(
        lambda: prometheus.query(
            f'hq_deadlines{{rule_id="VE-1", street="{STREET}", status="open"}} > 0'
        ),
        timeout=15,
        interval=0.5,
        message="Prometheus to see the open VE-1 deadline",
    )
    assert breached_alerts() == []  # an open deadline is no alert

    suite.advance_clock("P4D")
    [alert] = wait_until(
        breached_alerts,
        timeout=30,
        interval=0.5,
        message="DeadlineBreached to fire for VE-1 in " + STREET,
    )
    assert alert["labels"]["service"] == "verification"
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["summary"].startswith(f"VE-1 deadline breached in street {STREET}")
    assert float(alert["value"]) >= 1
    [breached] = prometheus.query(
        f'sum(hq_deadlines{{rule_id="VE-1", street="{STREET}", status="breached"}})'
    )
    assert float(breached["value"][1]) == 1


def test_every_dashboard_query_runs_and_the_street_panels_show_the_case(suite, prometheus):
    """After the breach above: the register figures supervision exports reach Prometheus, and
    every query of the Grafana dashboard (with its variables at "All") is valid PromQL there."""
    street_panels = {"Open cases per street", "Open cases per step", "Overdue cases per street"}
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [
        (
            panel["title"],
            target["expr"]
            .replace("$__rate_interval", "1m")
            .replace("$street", ".*")
            .replace("$service", "|".join(SERVICES)),
        )
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]
    wait_until(
        lambda: prometheus.query(f'hq_cases_overdue{{street="{STREET}"}} > 0'),
        timeout=15,
        interval=0.5,
        message="the overdue case on the dashboard's gauge",
    )
    for title, expr in queries:
        result = prometheus.query(expr)  # raises on a PromQL error
        if title in street_panels:
            assert result, f"panel {title!r} shows nothing: {expr}"
    [open_cases] = prometheus.query(
        f'sum(max by (street, step) (hq_cases_open{{street="{STREET}"}}))'
    )
    assert float(open_cases["value"][1]) >= 1
