"""A private RabbitMQ node for the fault tier: started by the test on free ports, with its own
data and log folders and Erlang cookie in a temporary folder, no plugins, and stopped (or
restarted on the same ports and data) at will. The machine's shared broker is never touched.

``rabbitmq-server`` must be installed (``scripts/ensure-broker.sh`` installs it); the Debian
wrappers in /usr/sbin switch to the ``rabbitmq`` user, so the scripts under
/usr/lib/rabbitmq/bin are preferred when they exist: the node runs as the user running the
tests, with HOME pointing at the temporary folder so its cookie is private too.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

START_TIMEOUT = 90.0
LIB_BIN = Path("/usr/lib/rabbitmq/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str:
    if (LIB_BIN / name).exists():
        return str(LIB_BIN / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run scripts/ensure-broker.sh to install RabbitMQ")
    return found


class PrivateBroker:
    """One RabbitMQ node, ``hqfault-<random>@localhost``, on its own AMQP and dist ports."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.node = f"hqfault-{secrets.token_hex(4)}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        home = folder / "home"
        for sub in ("home", "mnesia", "log"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        (folder / "enabled_plugins").write_text("[].\n")
        (folder / "rabbitmq.conf").write_text("# the defaults: guest may connect from 127.0.0.1\n")
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        }

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @property
    def running(self) -> bool:
        """Started and not stopped since (``stop`` may be called on its own, then ``start``)."""
        return self._proc is not None and self._proc.poll() is None

    # -- the node ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        out = (self.folder / "log" / "server.out").open("ab")
        self._proc = subprocess.Popen(
            [_tool("rabbitmq-server")],
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.node} exited at start-up: {self._tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.node} did not start: {self._tail()}")
            time.sleep(0.2)
        self.ctl("await_startup", "--timeout", "60")

    def stop(self) -> None:
        """``rabbitmqctl stop``; the node's process group is killed if it does not end."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with suppress(subprocess.SubprocessError):
            self.ctl("stop")
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same ports and data: durable queues and their
        persistent messages survive, every connection is cut."""
        self.stop()
        self.start()
        self.restarts += 1

    def ctl(self, *args: str) -> str:
        answer = subprocess.run(
            [_tool("rabbitmqctl"), "-q", "-n", self.node, *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=90,
        )
        return answer.stdout

    def queue_messages(self, amqp_uri: str = "") -> dict[str, tuple[int, int]]:
        """Every queue of the default virtual host: ``(ready, unacknowledged)``, as
        ``tests.support.plugin.queue_messages`` gives them for the shared broker."""
        rows = json.loads(
            self.ctl(
                "list_queues",
                "name",
                "messages_ready",
                "messages_unacknowledged",
                "--formatter",
                "json",
            )
            or "[]"
        )
        return {
            row["name"]: (int(row["messages_ready"] or 0), int(row["messages_unacknowledged"] or 0))
            for row in rows
        }

    def _answers(self) -> bool:
        """The AMQP port answers the protocol header with a method frame."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                s.sendall(b"AMQP\x00\x00\x09\x01")
                return s.recv(1) == b"\x01"
        except OSError:
            return False

    def _tail(self) -> str:
        with suppress(OSError):
            return (self.folder / "log" / "server.out").read_text(errors="replace")[-2000:]
        return ""


@contextmanager
def private_broker() -> Iterator[PrivateBroker]:
    """A started private node; stopped and its folder removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="hqfault-broker."))
    broker = PrivateBroker(folder)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
