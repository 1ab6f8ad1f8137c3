"""The images in deploy/docker/, checked statically (no container engine is needed).

Each Dockerfile is parsed into instructions (line continuations joined, comments dropped, exec
form decoded as JSON) and checked for the properties the deployment relies on: one shared,
multi-stage, pinned base; a non-root numeric user; a health check per image; the service's own
command and metrics port; migrations never run at start; every COPY source present in the
repository and let through by .dockerignore. The health-check script itself is run against real
HTTP servers on the loopback interface.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from hqcore.config import DEFAULT_METRICS_PORTS, PROJECT_ROOT, SERVICES

DOCKER_DIR = PROJECT_ROOT / "deploy" / "docker"
BASE_TAG = "hongqiao-assist/base:local"
PROCESSES = (*SERVICES, "gateway")
APP_ROOT = "/app"


# -- a small Dockerfile parser -------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON (exec) form of CMD/ENTRYPOINT/RUN, or None for the shell form."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = re.split(r"\bCMD\b", text, maxsplit=1)[1]
        text = text.strip()
        return json.loads(text) if text.startswith("[") else None


def parse(path: Path) -> list[Instruction]:
    instructions, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, f"{path.name}: the last instruction ends with a line continuation"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions grouped by build stage; each group starts with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def arg_defaults(instructions: list[Instruction]) -> dict[str, str]:
    defaults = {}
    for instruction in instructions:
        if instruction.keyword == "ARG" and "=" in instruction.args:
            name, value = instruction.args.split("=", 1)
            defaults[name] = value
    return defaults


def dockerfile(name: str) -> list[Instruction]:
    return parse(DOCKER_DIR / f"{name}.Dockerfile")


def last(stage: list[Instruction], keyword: str) -> Instruction | None:
    found = [i for i in stage if i.keyword == keyword]
    return found[-1] if found else None


# -- .dockerignore, as Docker reads it -----------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_rules() -> list[tuple[bool, re.Pattern]]:
    rules = []
    for raw in (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:] if negated else line
        rules.append((negated, _pattern_regex(pattern.strip("/"))))
    return rules


def sent_to_builder(relative: str, rules=None) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    rules = dockerignore_rules() if rules is None else rules
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negated
    return not excluded


# -- the Dockerfiles -----------------------------------------------------------------------------
def test_there_is_one_dockerfile_per_service_and_the_gateway_and_one_base():
    found = {path.name.removesuffix(".Dockerfile") for path in DOCKER_DIR.glob("*.Dockerfile")}
    assert found == {"base", *PROCESSES}


def test_the_base_is_multi_stage_on_a_pinned_slim_python_3_11():
    instructions = dockerfile("base")
    groups = stages(instructions)
    assert len(groups) >= 2, "the base must separate the build stage from the runtime stage"
    python_image = arg_defaults(instructions)["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", python_image), python_image
    for group in groups:
        assert group[0].args.split()[0] == "${PYTHON_IMAGE}"
    build, runtime = groups[0], groups[-1]
    assert build[0].args.split()[-1] == "build" and "AS" in build[0].args.upper()
    build_runs = " ".join(i.args for i in build if i.keyword == "RUN")
    assert "pip install" in build_runs and "-r /build/requirements.txt" in build_runs
    # The runtime stage installs nothing: it copies the venv and the source from the build stage.
    runtime_runs = " ".join(i.args for i in runtime if i.keyword == "RUN")
    assert "pip" not in runtime_runs and "apt-get" not in runtime_runs
    copied = {
        i.args.split()[-1]
        for i in runtime
        if i.keyword == "COPY" and i.args.startswith("--from=build")
    }
    assert {"/opt/venv", APP_ROOT} <= copied


def test_the_base_runtime_runs_as_a_numeric_non_root_user_that_owns_the_state_directory():
    runtime = stages(dockerfile("base"))[-1]
    user = last(runtime, "USER").args
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: numeric, so runAsNonRoot can check it"
    setup = " ".join(i.args for i in runtime if i.keyword == "RUN")
    assert f"--uid {uid}" in setup
    env = " ".join(i.args for i in runtime if i.keyword == "ENV")
    state = re.search(r"HQ_VAR_DIR=(\S+)", env).group(1)
    assert re.search(rf"install -d -o hq -g hq [^&]*{re.escape(state)}", setup), (
        "the state directory (HQ_VAR_DIR) must be writable by the image's user"
    )
    # The source lives at /app, as in the repository, so hqcore.config.PROJECT_ROOT is /app and
    # each service's migrations are found at /app/services/<service>/migrations.
    assert f"PYTHONPATH={APP_ROOT}" in env
    assert last(runtime, "WORKDIR").args == APP_ROOT


@pytest.mark.parametrize("name", PROCESSES)
def test_each_image_builds_from_the_shared_base(name):
    instructions = dockerfile(name)
    groups = stages(instructions)
    assert len(groups) == 1, "the build stage is the base's; an image adds only its own layer"
    assert groups[0][0].args == "${BASE_IMAGE}"
    assert arg_defaults(instructions)["BASE_IMAGE"] == BASE_TAG


@pytest.mark.parametrize("name", PROCESSES)
def test_each_image_runs_as_the_non_root_user_of_the_base(name):
    base_user = last(stages(dockerfile("base"))[-1], "USER").args
    assert last(stages(dockerfile(name))[-1], "USER").args == base_user


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_image_runs_its_service_and_serves_metrics_on_its_port(service):
    final = stages(dockerfile(service))[-1]
    assert last(final, "CMD").exec_form() == ["python", "-m", "hqcore.run", service]
    assert last(final, "ENTRYPOINT") is None, "an ENTRYPOINT would wrap one-off commands"
    port = DEFAULT_METRICS_PORTS[service]
    assert last(final, "EXPOSE").args == str(port)
    assert f"{service.upper()}_METRICS_PORT={port}" in last(final, "ENV").args


def test_the_gateway_image_runs_the_gateway_listening_on_all_interfaces():
    final = stages(dockerfile("gateway"))[-1]
    assert last(final, "CMD").exec_form() == ["python", "-m", "gateway"]
    env = last(final, "ENV").args
    assert "GATEWAY_HOST=0.0.0.0" in env and "GATEWAY_PORT=8000" in env
    assert last(final, "EXPOSE").args == "8000"
    # No SIGTERM handler in the gateway: as PID 1 it would ignore SIGTERM.
    assert last(final, "STOPSIGNAL").args == "SIGINT"


@pytest.mark.parametrize("name", PROCESSES)
def test_each_image_has_a_health_check_of_its_own_process(name):
    final = stages(dockerfile(name))[-1]
    healthcheck = last(final, "HEALTHCHECK")
    assert healthcheck is not None
    assert re.search(r"--start-period=\d+s", healthcheck.args)
    command = healthcheck.exec_form()
    assert command[:2] == ["python", f"{APP_ROOT}/deploy/docker/healthcheck.py"]
    assert command[2:] == [name]
    base_copies = [i.args.split() for i in dockerfile("base") if i.keyword == "COPY"]
    assert ["deploy/docker/healthcheck.py", command[1]] in base_copies


@pytest.mark.parametrize("name", ("base", *PROCESSES))
def test_no_image_migrates_at_start_or_at_build(name):
    for instruction in dockerfile(name):
        if instruction.keyword in ("CMD", "ENTRYPOINT", "RUN"):
            assert "migrate" not in instruction.args and " seed" not in instruction.args, (
                f"{name}: {instruction.keyword} {instruction.args}: migrations are one-off commands"
            )


def test_every_copy_source_exists_and_is_sent_to_the_builder():
    rules = dockerignore_rules()
    for name in ("base", *PROCESSES):
        for instruction in dockerfile(name):
            if instruction.keyword != "COPY" or instruction.args.startswith("--from="):
                continue
            *sources, destination = instruction.args.split()
            for source in sources:
                assert (PROJECT_ROOT / source).exists(), f"{name}: COPY {source}: no such path"
                assert sent_to_builder(source, rules), f"{name}: COPY {source} is in .dockerignore"
                # Copied to the same place under /app as in the repository.
                if destination.startswith(APP_ROOT):
                    assert destination == f"{APP_ROOT}/{source}"


def _files(pattern: str) -> list[str]:
    return [str(path.relative_to(PROJECT_ROOT)) for path in PROJECT_ROOT.glob(pattern)]


def test_the_runtime_files_reach_the_image_and_local_state_does_not():
    rules = dockerignore_rules()
    needed = [
        "requirements.txt",
        "hqcore/data/holidays.json",
        "hqcore/data/reference.json",
        "hqops/cli.py",  # the operator commands (migrations, seed data) run from any image
        "gateway/data/accounts.json",
        *_files("services/*/migrations/**/*.py"),
        *_files("services/*/templates/*"),
        *_files("gateway/templates/*"),
        "deploy/docker/healthcheck.py",
    ]
    assert len(needed) > 10
    for path in needed:
        assert (PROJECT_ROOT / path).exists(), path
        assert sent_to_builder(path, rules), f"{path} would be missing from the image"
    for path in (
        ".git/config",
        ".venv/bin/python",
        "var/intake.db",
        "tests/unit/conftest.py",
        "hqcore/__pycache__/config.cpython-311.pyc",
        "deploy/compose/.env",
        "deploy/k8s/README.md",
    ):
        assert not sent_to_builder(path, rules), f"{path} must not be sent to the builder"


def test_the_dockerignore_reader_follows_dockers_rules():
    rules = [
        (False, _pattern_regex("*")),
        (True, _pattern_regex("keep")),
        (True, _pattern_regex("deep/one.py")),
        (False, _pattern_regex("**/*.pyc")),
    ]
    assert sent_to_builder("keep/a/b.py", rules)
    assert not sent_to_builder("keep/a/b.pyc", rules)
    assert sent_to_builder("deep/one.py", rules)
    assert not sent_to_builder("deep/two.py", rules)
    assert not sent_to_builder("other.txt", rules)


# -- the health-check script, against real servers -----------------------------------------------
def _healthcheck_module():
    spec = importlib.util.spec_from_file_location("hq_healthcheck", DOCKER_DIR / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        code = self.status if self.path == "/metrics" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"# HELP up\n")

    def log_message(self, *args):
        """Keep the test output quiet."""


@pytest.fixture
def http_server():
    servers = []

    def start(status: int) -> int:
        handler = type("Handler", (_Handler,), {"status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_health_check_passes_when_the_service_serves_its_metrics(http_server, monkeypatch):
    healthcheck = _healthcheck_module()
    monkeypatch.setenv("PAYMENTS_METRICS_PORT", str(http_server(200)))
    assert healthcheck.main(["payments"]) == 0


def test_the_health_check_fails_when_nothing_listens_or_the_answer_is_an_error(
    http_server, monkeypatch
):
    healthcheck = _healthcheck_module()
    monkeypatch.setenv("INTAKE_METRICS_PORT", str(_closed_port()))
    assert healthcheck.main(["intake"]) == 1
    monkeypatch.setenv("INTAKE_METRICS_PORT", str(http_server(503)))
    assert healthcheck.main(["intake"]) == 1


def test_the_gateway_health_check_asks_the_gateway_port(http_server, monkeypatch):
    healthcheck = _healthcheck_module()
    monkeypatch.setenv("GATEWAY_PORT", str(http_server(200)))
    monkeypatch.setenv("DECISION_METRICS_PORT", str(_closed_port()))
    assert healthcheck.main(["gateway"]) == 0
    assert healthcheck.main(["decision"]) == 1


def test_the_health_check_rejects_an_unknown_process_without_using_dockers_reserved_code():
    healthcheck = _healthcheck_module()
    assert healthcheck.main(["registry"]) == 1
    assert healthcheck.main([]) == 1
