"""Local supervisor: ``python -m hqops.supervisor`` runs the whole suite in the foreground.

It starts the six services (``python -m hqcore.run <service>``) and the gateway
(``python -m gateway``) as child processes, each in its own process group, prefixes their output
with the process name, waits until the gateway's ``/healthz`` answers 200 and prints the URLs.
SIGINT/SIGTERM stops every child (SIGTERM, then SIGKILL after 10 s) and exits 0. A child that
exits on its own is restarted after a backoff (1, 2, 4 … s, capped at 30 s), with one log line
naming it, its exit code or signal and the delay (SEC-17); only a child that keeps crashing
(more than 5 crashes within 60 s) stops the whole suite, with a non-zero exit code, so an
operator notices.

``Suite`` is the reusable core; end-to-end tests use it to run, kill and restart processes.
Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO

from hqcore.config import PROJECT_ROOT, SERVICES, Settings

GATEWAY = "gateway"
NAMES = (*SERVICES, GATEWAY)
WIDTH = max(len(name) for name in (*NAMES, "supervisor"))
STOP_TIMEOUT = 10.0
HEALTH_TIMEOUT = 90.0

try:  # Linux: a child is killed if the process (thread) that started it dies without stopping it.
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class RestartPolicy:
    """When and how soon a crashed child is started again (SEC-17).

    A crash is counted against the ``window`` (seconds) it happened in; the n-th crash within
    the window waits ``min(first_delay * 2**(n-1), max_delay)`` seconds before the restart, so a
    child that dies at once is not restarted in a tight loop. More than ``max_crashes`` within
    the window means restarting will not help (a broken configuration, a missing database):
    the supervisor gives up and the suite stops.
    """

    first_delay: float = 1.0
    max_delay: float = 30.0
    max_crashes: int = 5
    window: float = 60.0

    def delay(self, crashes: int) -> float:
        """The wait before restarting after the ``crashes``-th crash within the window."""
        return min(self.first_delay * 2 ** max(0, crashes - 1), self.max_delay)


def describe_exit(code: int) -> str:
    """``code 3`` or ``signal SIGKILL``: Popen reports death by a signal as a negative code."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"code {code}"


class Cancelled(Exception):
    """``wait_healthy`` was cancelled (the supervisor was asked to stop)."""


class ChildExited(RuntimeError):
    """A child process exited although nobody asked it to."""


class Suite:
    """The suite's processes.

    ``env`` is laid over ``os.environ`` for every child and is what ``Settings`` (ports) is read
    from. Start, restart and kill processes from one long-lived thread (normally the main
    thread): on Linux a child is tied to the thread that started it (PR_SET_PDEATHSIG).

    With a ``restart`` policy, a child that exits unexpectedly is started again by the
    supervisor's own restart thread, which lives until ``stop``; ``failed`` is then set only
    when a child keeps crashing. Without one, the first unexpected exit sets ``failed``.
    ``restarts`` counts the restarts per child.
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
        *,
        out: IO[str] | None = None,
        restart: RestartPolicy | None = None,
    ) -> None:
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.python = python
        self.settings = Settings.from_env(self.env)
        self.out = out if out is not None else sys.stdout
        self.procs: dict[str, subprocess.Popen] = {}
        self.exited: dict[str, int] = {}  # unexpected exits: name -> return code
        self.failed = threading.Event()  # set on the first unexpected exit
        self._expected: set[subprocess.Popen] = set()
        self._readers: dict[subprocess.Popen, threading.Thread] = {}
        self._lock = threading.RLock()  # the restart thread starts a child while holding it
        self._out_lock = threading.Lock()
        self.restart = restart
        self.restarts: dict[str, int] = {}
        self._crashes: dict[str, list[float]] = {}  # monotonic times of recent crashes
        self._due: dict[str, float] = {}  # child -> monotonic time of its scheduled restart
        self._wake = threading.Condition(self._lock)
        self._stopping = False  # set by ``stop``: exits are expected, nothing is restarted
        self._closed = False  # set once ``stop`` is done: the restart thread may end
        self._restarter: threading.Thread | None = None

    # -- what runs --------------------------------------------------------------------------
    def commands(self) -> dict[str, list[str]]:
        commands = {name: [self.python, "-m", "hqcore.run", name] for name in SERVICES}
        commands[GATEWAY] = [self.python, "-m", "gateway"]
        return commands

    @property
    def gateway_url(self) -> str:
        host = self.settings.gateway_host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.settings.gateway_port}"

    def urls(self) -> dict[str, str]:
        base = self.gateway_url
        urls = {
            "gateway API": f"{base}/api/v1",
            "health": f"{base}/healthz",
            "gateway metrics": f"{base}/metrics",
            "API docs": f"{base}/api/v1/docs",
            "OpenAPI": f"{base}/api/v1/openapi.json",
        }
        if self.settings.metrics_enabled:
            for name in SERVICES:
                port = self.settings.metrics_ports[name]
                urls[f"{name} metrics"] = f"http://127.0.0.1:{port}/metrics"
        return urls

    # -- output -----------------------------------------------------------------------------
    def say(self, line: str, name: str = "supervisor") -> None:
        with self._out_lock:
            with contextlib.suppress(OSError, ValueError):  # the output was closed: drop the line
                self.out.write(f"{name:<{WIDTH}} | {line}\n")
                self.out.flush()

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.say(raw.decode("utf-8", "replace").rstrip("\r\n"), name)
        code = proc.wait()
        with self._lock:
            expected = proc in self._expected or self._stopping
        if not expected:
            self._crashed(name, code)

    def _crashed(self, name: str, code: int) -> None:
        """Schedule the restart of a child that exited by itself, or give up on it."""
        how = describe_exit(code)
        policy = self.restart
        if policy is None:
            self.exited[name] = code
            self.say(f"{name} exited unexpectedly with {how}")
            self.failed.set()
            return
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._crashes.get(name, []) if now - t < policy.window]
            recent.append(now)
            self._crashes[name] = recent
            give_up = len(recent) > policy.max_crashes
            delay = policy.delay(len(recent))
            if give_up:
                self.exited[name] = code
            else:
                self._due[name] = now + delay
                self._wake.notify_all()
        if give_up:
            self.say(
                f"{name} exited with {how}, {len(recent)} crashes within {policy.window:g}s: "
                "it keeps crashing, not restarting it; the suite stops"
            )
            self.failed.set()
        else:
            self.say(f"{name} exited with {how}; restarting it in {delay:g}s")

    def _restart_loop(self) -> None:
        """The restart thread: starts each crashed child once its backoff has passed.

        It lives until ``stop`` has stopped every child, because on Linux the children it
        starts are killed when it ends (PR_SET_PDEATHSIG). It restarts while holding the lock,
        so a ``stop`` cannot begin between its decision and the start."""
        with self._lock:
            while not self._closed:
                name = None if self._stopping else self._ready(time.monotonic())
                if name is None:
                    self._wake.wait(None if self._stopping else self._next_wait(time.monotonic()))
                    continue
                del self._due[name]
                try:
                    self.start_process(name)
                except Exception as exc:  # e.g. a fork failure: counted as another crash
                    self.say(f"could not restart {name}: {type(exc).__name__}: {exc}")
                    self._lock.release()
                    try:
                        self._crashed(name, 1)
                    finally:
                        self._lock.acquire()
                    continue
                self.restarts[name] = self.restarts.get(name, 0) + 1

    def _ready(self, now: float) -> str | None:
        return next((name for name, due in self._due.items() if due <= now), None)

    def _next_wait(self, now: float) -> float | None:
        return max(0.0, min(self._due.values()) - now) if self._due else None

    # -- processes --------------------------------------------------------------------------
    def is_running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def start_process(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        if self.is_running(name):
            raise RuntimeError(f"{name} is already running")
        argv = self.commands()[name]
        proc = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        reader = threading.Thread(
            target=self._pump, args=(name, proc), daemon=True, name=f"suite-{name}"
        )
        with self._lock:
            self.procs[name] = proc
            self._readers[proc] = reader
            self.exited.pop(name, None)
            self._due.pop(name, None)  # started by hand: no restart pending any more
            if not self.exited:
                self.failed.clear()
            self._stopping = False
            if self.restart is not None and self._restarter is None:
                self._closed = False
                self._restarter = threading.Thread(
                    target=self._restart_loop, daemon=True, name="suite-restarter"
                )
                self._restarter.start()
        reader.start()
        self.say(f"started {name} (pid {proc.pid}): {' '.join(argv[1:])}")

    def _signal(self, proc: subprocess.Popen, sig: int) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def _expect(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._expected.add(proc)
            for name, running in self.procs.items():
                if running is proc:
                    self._due.pop(name, None)  # stopped on purpose: no restart pending

    def _reap(self, proc: subprocess.Popen, timeout: float) -> None:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(proc, signal.SIGKILL)
            proc.wait()
        reader = self._readers.get(proc)
        if reader is not None:
            reader.join(2.0)

    def stop_process(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        proc = self.procs.get(name)
        if proc is None:
            return
        self._expect(proc)
        self._signal(proc, signal.SIGTERM)
        self._reap(proc, timeout)

    def kill_process(self, name: str) -> None:
        """SIGKILL the process (and its process group) at once, as a crash would."""
        proc = self.procs.get(name)
        if proc is None:
            return
        self._expect(proc)
        self._signal(proc, signal.SIGKILL)
        self._reap(proc, 5.0)

    def restart_process(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.stop_process(name)
        self.start_process(name, extra_env)

    def wait_exit(self, name: str, timeout: float) -> int:
        """Wait for a process to exit by itself (e.g. a fault injection); its return code."""
        return self.procs[name].wait(timeout)

    # -- the whole suite --------------------------------------------------------------------
    def start(self) -> None:
        self.settings.var_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name in self.commands():
                self.start_process(name)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to every child, SIGKILL to those still running after ``timeout`` seconds.
        Nothing is restarted once the stop has begun."""
        with self._lock:
            self._stopping = True
            self._due.clear()
        procs = [(name, proc) for name, proc in self.procs.items() if proc.poll() is None]
        for _, proc in procs:
            self._expect(proc)
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop within {timeout:.0f}s; killing it")
            self._reap(proc, 0)
        with self._lock:
            self._closed = True
            restarter, self._restarter = self._restarter, None
            self._wake.notify_all()
        if restarter is not None and restarter is not threading.current_thread():
            restarter.join(STOP_TIMEOUT)

    def wait_healthy(
        self, timeout: float = HEALTH_TIMEOUT, cancel: threading.Event | None = None
    ) -> dict:
        """Poll the gateway's /healthz until it answers 200; return its JSON body.

        Raises ``TimeoutError``, ``ChildExited`` if a process exits meanwhile, or ``Cancelled``.
        """
        url = f"{self.gateway_url}/healthz"
        started = time.monotonic()
        next_report = started + 5.0
        last = "no answer yet"
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if self.failed.is_set():
                raise ChildExited(f"exited during start-up: {self.exited}")
            try:
                with urllib.request.urlopen(url, timeout=2.0) as response:
                    body = response.read()
                    if response.status == 200:
                        try:
                            health = json.loads(body or b"{}")
                        except ValueError:
                            health = {}
                        return health if isinstance(health, dict) else {"health": health}
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            now = time.monotonic()
            if now - started > timeout:
                raise TimeoutError(f"{url} not healthy after {timeout:.0f}s ({last})")
            if now >= next_report:
                self.say(f"waiting for {url} ({now - started:.0f}s, {last})")
                next_report = now + 5.0
            if cancel is not None:
                cancel.wait(0.5)
            else:
                time.sleep(0.5)

    def __enter__(self) -> Suite:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main() -> int:
    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    suite = Suite(restart=RestartPolicy())
    code = 0
    try:
        suite.start()
        suite.wait_healthy(HEALTH_TIMEOUT, cancel=stop)
        suite.say(f"the suite is up (clock mode: {suite.settings.clock_mode}); Ctrl-C stops it")
        for label, url in suite.urls().items():
            suite.say(f"  {label:<22} {url}")
        while not stop.is_set() and not suite.failed.is_set():
            stop.wait(0.5)
        if suite.failed.is_set():
            suite.say(f"stopping the suite: a process keeps crashing {suite.exited}")
            code = 1
    except Cancelled:
        pass  # Ctrl-C or SIGTERM while waiting for health: stop as usual below
    except (TimeoutError, ChildExited) as exc:
        suite.say(f"start-up failed: {exc}; stopping the suite")
        code = 1
    finally:
        suite.say("stopping")
        suite.stop()
        suite.say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
