"""deploy/monitoring: the Prometheus configurations, the alert rules and their unit tests checked
by promtool (Debian package `prometheus`; `make test` installs it), and the Grafana dashboard
and its provisioning checked against the metrics the suite really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from gateway.web import Metrics
from hqcore import metrics
from hqcore.config import Settings

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "hongqiao.json"
SERVICES = ("intake", "verification", "publicity", "decision", "payments", "supervision")
ALERTS = {
    "ServiceDown",
    "DeadlineBreached",
    "OutboxBacklogOld",
    "DeadLettersPresent",
    "CalendarYearWithoutData",
    "HighErrorRate",
}
# Grafana's variables, replaced by something PromQL accepts before promtool parses a query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$street": ".*",
    "$service": ".*",
}
PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "rate",
    "increase",
    "irate",
    "delta",
    "histogram_quantile",
    "label_replace",
    "label_values",
    "max_over_time",
    "min_over_time",
    "absent",
    "bool",
    "topk",
    "bottomk",
    "time",
    "vector",
    "scalar",
    "clamp_min",
    "round",
    "le",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool") or shutil.which("promtool", path="/usr/bin:/usr/sbin")
    if path is None:
        pytest.fail(
            "promtool is missing: run `make prometheus` (scripts/ensure-prometheus.sh "
            "installs Debian's `prometheus` package), then rerun the tests"
        )
    return path


def run(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    done = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def exported_series() -> set[str]:
    """Every series name the services and the gateway export (counters with ``_total``,
    histograms with ``_bucket``, ``_sum`` and ``_count``), and Prometheus's own ``up``."""
    names = {"up"}
    collectors = [v for v in vars(metrics).values() if isinstance(v, (Counter, Gauge, Histogram))]
    collectors += [v for v in vars(Metrics()).values() if isinstance(v, (Counter, Histogram))]
    for collector in collectors:
        name = collector._name
        if isinstance(collector, Counter):
            names.add(name + "_total")
        elif isinstance(collector, Histogram):
            names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (words that are not functions, keywords,
    label names in braces or by/without lists, strings or durations)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    stripped = re.sub(r"\{[^}]*\}", "{}", stripped)  # label matchers
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # ranges
    stripped = re.sub(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y)?\b", " ", stripped)  # numbers, offsets
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", stripped))
    return {w for w in words if w not in PROMQL_WORDS}


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict]:
    return [
        rule
        for group in load_yaml(PROMETHEUS_DIR / "rules.yml")["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


# -- Prometheus configuration ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-compose.yml"])
def test_prometheus_configuration_passes_promtool(promtool, name):
    output = run(promtool, "check", "config", name)
    assert "SUCCESS" in output and "1 rule files found" in output


@pytest.mark.parametrize(
    "name, host_of",
    [
        ("prometheus.yml", lambda job: "127.0.0.1"),
        ("prometheus-compose.yml", lambda job: job),
    ],
)
def test_every_service_and_the_gateway_is_scraped_on_its_metrics_port(name, host_of):
    config = load_yaml(PROMETHEUS_DIR / name)
    ports = Settings.from_env({}).metrics_ports
    expected = {job: [f"{host_of(job)}:{ports[job]}"] for job in SERVICES}
    expected["gateway"] = [f"{host_of('gateway')}:8000"]
    scraped = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    assert scraped == expected
    assert all(
        job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"]
    )
    assert config["rule_files"] == ["rules.yml"]


# -- alert rules ------------------------------------------------------------------------------
def test_rules_pass_promtool_check(promtool):
    output = run(promtool, "check", "rules", "rules.yml")
    count = sum(len(group["rules"]) for group in load_yaml(PROMETHEUS_DIR / "rules.yml")["groups"])
    assert f"SUCCESS: {count} rules found" in output


def test_alert_unit_tests_pass(promtool):
    output = run(promtool, "test", "rules", "rules_test.yml")
    assert "SUCCESS" in output


def test_every_alert_has_severity_summary_and_a_unit_test():
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
    tested = {
        case["alertname"]
        for test in load_yaml(PROMETHEUS_DIR / "rules_test.yml")["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == ALERTS  # every alert is tested firing, not only silent


@pytest.mark.parametrize(
    "alert, words",
    [
        ("ServiceDown", ["$labels.service"]),
        ("DeadlineBreached", ["$labels.rule_id", "$labels.street", "$labels.service"]),
        ("OutboxBacklogOld", ["$labels.service"]),
        ("DeadLettersPresent", ["$labels.queue", "$labels.service"]),
        ("CalendarYearWithoutData", ["$labels.year", "$labels.service"]),
        ("HighErrorRate", ["gateway", "$labels.service"]),
    ],
)
def test_summaries_name_what_the_alert_is_about(alert, words):
    summaries = " ".join(r["annotations"]["summary"] for r in alert_rules() if r["alert"] == alert)
    for word in words:
        assert word in summaries, (alert, word)


def test_rules_query_only_metrics_the_suite_exports():
    exported = exported_series()
    for rule in alert_rules():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_the_metric_name_parser_sees_a_misspelt_metric():
    used = metric_names('sum by (service) (rate(hq_entrypoint_call_total{outcome="error"}[5m]))')
    assert used == {"hq_entrypoint_call_total"}
    assert not used <= exported_series()


# -- Grafana ----------------------------------------------------------------------------------
def dashboard_targets() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def test_dashboard_is_valid_json_with_unique_panels_on_the_provisioned_datasource():
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert board["uid"] and board["title"]
    panels = board["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    datasource = load_yaml(MONITORING / "grafana/provisioning/datasources/prometheus.yml")
    [source] = datasource["datasources"]
    assert source["type"] == "prometheus"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} queries nothing"
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    providers = load_yaml(MONITORING / "grafana/provisioning/dashboards/dashboards.yml")
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_has_the_panels_the_ops_team_asked_for():
    titles = {title for title, _ in dashboard_targets()}
    for wanted in (
        "Open cases per street",
        "Open cases per step",
        "Overdue cases per street",
        "Decisions this month",
        "Payments this month (recipients)",
        "Request rate",
        "Latency (95th percentile)",
        "Errors",
        "Outbox: oldest unpublished event",
        "Dead letters",
    ):
        assert wanted in titles


def test_every_dashboard_query_uses_exported_metrics():
    exported = exported_series()
    for title, expr in dashboard_targets():
        used = metric_names(substitute(expr))
        assert used, title
        assert used <= exported, (title, used - exported)


def test_every_dashboard_query_parses_as_promql(promtool, tmp_path):
    """promtool parses each query as a recording rule: a syntax error fails the check."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": substitute(expr)}
                    for i, (_, expr) in enumerate(dashboard_targets())
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    run(promtool, "check", "rules", "dashboard.yml", cwd=tmp_path)


def substitute(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


# -- the register figures supervision exports for the dashboard ------------------------------
def test_register_figures_fall_to_zero_when_a_label_set_disappears():
    metrics.record_register_figures(
        "supervision-test",
        {
            "open_cases": {("xigu", "investigation"): 2, ("xigu", "publicity"): 1},
            "payments_this_month_fen": {("xigu",): 123400},
        },
    )
    value = metrics.CASES_OPEN.labels("supervision-test", "xigu", "investigation")._value.get
    assert value() == 2
    metrics.record_register_figures("supervision-test", {"open_cases": {("xigu", "publicity"): 2}})
    assert value() == 0
    assert metrics.CASES_OPEN.labels("supervision-test", "xigu", "publicity")._value.get() == 2
    assert metrics.PAYMENTS_THIS_MONTH_FEN.labels("supervision-test", "xigu")._value.get() == 0
