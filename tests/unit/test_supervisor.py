"""The local supervisor of ``make run`` (``hqops.supervisor``) restarts a crashed child with
backoff and stops only when one keeps crashing (SEC-17). The children here are tiny Python
processes, so these run in a second without broker or database."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pytest

from hqops.supervisor import RestartPolicy, Suite, describe_exit

FAST = RestartPolicy(first_delay=0.05, max_delay=0.2, max_crashes=3, window=60.0)


class FakeSuite(Suite):
    """A suite whose children are the given ``python -c`` programs."""

    def __init__(self, programs: dict[str, str], tmp_path: Path, **kwargs):
        super().__init__(env={"HQ_VAR_DIR": str(tmp_path)}, out=io.StringIO(), **kwargs)
        self.programs = programs

    def commands(self) -> dict[str, list[str]]:
        return {name: [self.python, "-c", code] for name, code in self.programs.items()}

    @property
    def lines(self) -> list[str]:
        assert isinstance(self.out, io.StringIO)
        return self.out.getvalue().splitlines()


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {predicate}")
        time.sleep(0.02)


def _crash_twice_then_run(counter: Path) -> str:
    """Exits 3 on its first two starts, then runs until stopped."""
    return (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "if n <= 2: sys.exit(3)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )


SLEEPER = "import time; print('up', flush=True); time.sleep(60)"


@pytest.fixture
def suites():
    started: list[Suite] = []
    yield started.append
    for suite in started:
        suite.stop(timeout=2)


def test_SEC17_crashed_child_is_restarted_with_backoff_and_a_clear_log_line(tmp_path, suites):
    suite = FakeSuite(
        {"intake": _crash_twice_then_run(tmp_path / "starts"), "gateway": SLEEPER},
        tmp_path,
        restart=FAST,
    )
    suites(suite)
    suite.start()
    _wait(lambda: suite.restarts.get("intake") == 2 and suite.is_running("intake"))
    _wait(lambda: sum(line.endswith("| up") for line in suite.lines) == 2)
    assert not suite.failed.is_set()
    assert suite.is_running("gateway") and "gateway" not in suite.restarts
    restarts = [line for line in suite.lines if "restarting" in line]
    assert [line.split("| ", 1)[1] for line in restarts] == [
        "intake exited with code 3; restarting it in 0.05s",  # backoff: 0.05, then doubled
        "intake exited with code 3; restarting it in 0.1s",
    ]


def test_SEC17_a_child_killed_by_a_signal_is_named_with_the_signal_and_restarted(tmp_path, suites):
    suite = FakeSuite({"decision": SLEEPER}, tmp_path, restart=FAST)
    suites(suite)
    suite.start()
    first = suite.procs["decision"].pid
    _wait(lambda: any(line.endswith("| up") for line in suite.lines))
    os.killpg(first, signal.SIGKILL)  # a crash, not a stop: nobody asked it to exit
    _wait(lambda: suite.restarts.get("decision") == 1 and suite.is_running("decision"))
    assert suite.procs["decision"].pid != first
    assert any("decision exited with signal SIGKILL; restarting it in" in x for x in suite.lines)
    assert not suite.failed.is_set()


def test_SEC17_a_child_that_keeps_crashing_stops_the_suite(tmp_path, suites):
    suite = FakeSuite(
        {"payments": "import sys; sys.exit(3)", "gateway": SLEEPER}, tmp_path, restart=FAST
    )
    suites(suite)
    suite.start()
    assert suite.failed.wait(10), suite.lines
    assert suite.exited == {"payments": 3}
    assert suite.restarts["payments"] == FAST.max_crashes  # 4 crashes restarted, the 5th not
    assert any("payments exited with code 3, 4 crashes within 60s" in x for x in suite.lines)
    assert any("keeps crashing" in line for line in suite.lines)
    suite.stop(timeout=2)
    assert not suite.is_running("gateway")


def test_SEC17_a_clean_stop_stops_every_child_and_restarts_none(tmp_path, suites):
    suite = FakeSuite({"intake": SLEEPER, "gateway": SLEEPER}, tmp_path, restart=FAST)
    suites(suite)
    suite.start()
    _wait(lambda: sum(line.endswith("| up") for line in suite.lines) == 2)
    procs = dict(suite.procs)
    suite.stop(timeout=2)
    time.sleep(FAST.max_delay * 2)  # longer than any backoff: a restart would have happened
    assert all(proc.poll() is not None for proc in procs.values())
    assert suite.procs == procs and suite.restarts == {}
    assert not suite.failed.is_set()
    assert not any("restarting" in line for line in suite.lines)


def test_SEC17_stopping_one_child_on_purpose_does_not_restart_it(tmp_path, suites):
    suite = FakeSuite({"intake": SLEEPER}, tmp_path, restart=FAST)
    suites(suite)
    suite.start()
    suite.kill_process("intake")
    time.sleep(FAST.max_delay * 2)
    assert not suite.is_running("intake") and suite.restarts == {}


def test_SEC17_backoff_doubles_up_to_its_cap():
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert (policy.max_crashes, policy.window) == (5, 60.0)


def test_SEC17_exit_descriptions_name_the_signal():
    assert describe_exit(3) == "code 3"
    assert describe_exit(-signal.SIGKILL) == "signal SIGKILL"


def test_SEC17_the_supervisor_of_make_run_restarts(monkeypatch):
    """``main()`` builds its suite with the default restart policy."""
    built = {}

    class Recording(Suite):
        def __init__(self, *args, **kwargs):
            built.update(kwargs)
            raise SystemExit(0)

    from hqops import supervisor

    monkeypatch.setattr(supervisor, "Suite", Recording)
    monkeypatch.setattr(supervisor.signal, "signal", lambda *args: None)  # pytest's stay
    with pytest.raises(SystemExit):
        supervisor.main()
    assert built["restart"] == RestartPolicy()
