"""The benchmark's own little world: a temporary var dir, a RabbitMQ vhost, service processes.

Everything it creates is removed by ``close()``, which is safe to call at any point (also after
a failed or interrupted start) and more than once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from hqcore.config import PROJECT_ROOT, SERVICES, Settings
from hqops.supervisor import _die_with_parent

BROKER = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//")
STOP_TIMEOUT = 10.0


def say(message: str) -> None:
    """Progress goes to stderr; stdout carries only the report."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_base(uri: str) -> str:
    """``amqp://user:pass@host:port`` of ``uri``, without the vhost."""
    scheme, _, rest = uri.partition("://")
    hostpart = rest.split("/", 1)[0]
    return f"{scheme}://{hostpart}"


class BenchEnv:
    def __init__(self, *, log_level: str = "WARNING", python: str = sys.executable) -> None:
        self.python = python
        self.log_level = log_level
        self.tmp: Path | None = None
        self.vhost: str | None = None
        self.env: dict[str, str] = {}
        self.settings: Settings | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}

    # -- set-up -----------------------------------------------------------------------------
    def prepare(self) -> Settings:
        self.tmp = Path(tempfile.mkdtemp(prefix="hq-bench-"))
        vhost = f"hq-bench-{uuid.uuid4().hex[:8]}"
        rabbitmqctl("add_vhost", vhost)
        self.vhost = vhost
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        var = self.tmp / "var"
        var.mkdir()
        (self.tmp / "logs").mkdir()
        self.env = {
            "AMQP_URI": f"{broker_base(BROKER)}/{quote(vhost, safe='')}",
            "HQ_VAR_DIR": str(var),
            "HQ_CLOCK_MODE": "real",
            "HQ_CLOCK_FILE": str(var / "clock.json"),
            "HQ_METRICS_ENABLED": "0",
            "HQ_OUTBOX_POLL_INTERVAL": "0.05",
            "HQ_LOG_LEVEL": self.log_level,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
        # Only what the benchmark sets decides where the services' databases are.
        for name in SERVICES:
            self.env[f"{name.upper()}_DATABASE_URL"] = f"sqlite:///{var / (name + '.db')}"
        self.settings = Settings.from_env(self.env)
        from hqcore.migrations import upgrade
        from hqops.cli import seed_services

        for name in SERVICES:
            upgrade(name, self.settings)
        seed_services(SERVICES, self.settings)
        return self.settings

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    # -- processes --------------------------------------------------------------------------
    def start(self, name: str) -> None:
        """Start ``python -m hqcore.run <name>`` (or the gateway) in its own process group."""
        assert self.tmp is not None, "prepare() first"
        argv = (
            [self.python, "-m", "gateway"]
            if name == "gateway"
            else [self.python, "-m", "hqcore.run", name]
        )
        log = open(self.tmp / "logs" / f"{name}.log", "ab")
        self._logs[name] = log
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        say(f"started {name} (pid {self.procs[name].pid})")

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode}\n" + self.log_tail(name)
                )

    def log_tail(self, name: str, lines: int = 30) -> str:
        if self.tmp is None:
            return ""
        path = self.tmp / "logs" / f"{name}.log"
        try:
            text = path.read_text("utf-8", "replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join(f"  {name} | {line}" for line in text)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop within {STOP_TIMEOUT:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()

    def wait_until(self, predicate, timeout: float, what: str, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                value = predicate()
                if value:
                    return value
            except Exception as exc:  # not up yet
                last = exc
            time.sleep(interval)
        raise TimeoutError(f"{what}: not ready after {timeout:.0f}s (last error: {last!r})")

    # -- tear-down --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every process, delete the vhost and the temporary directory. Never raises."""
        for name in list(self.procs)[::-1]:
            try:
                self.stop(name)
            except Exception as exc:  # keep cleaning up
                say(f"stopping {name} failed: {exc!r}")
        if self.vhost is not None:
            try:
                rabbitmqctl("delete_vhost", self.vhost)
                self.vhost = None
            except Exception as exc:
                say(f"could not delete vhost {self.vhost}: {exc!r}")
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
