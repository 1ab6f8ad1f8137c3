"""kill -9 of every service and of the gateway at random points (seeded) of a run of 200
cases driven through the gateway: the supervisor restarts each (SEC-17), the driver repeats
what went unanswered, and nothing is lost or doubled."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from hqcore.config import SERVICES
from hqops.supervisor import NAMES, RestartPolicy
from tests.fault.checks import problems, row
from tests.fault.driver import Driver
from tests.support.private_broker import private_broker
from tests.support.suite import RunningSuite, running_suite

CASES = 200
SEED = int(os.environ.get("HQ_FAULT_SEED", "8017"))
EXTRA_KILLS = 3  # beyond one of each process, while cases are still being driven
POLICY = RestartPolicy(first_delay=0.5, max_delay=4.0)
FAULT_ENV = {"HQ_RETRY_DELAYS": "1,2,4,8,16"}  # an event may wait for a restarting process


def level(serial: int) -> int:
    """Every case submitted, every second one investigated, every tenth one paid."""
    return 2 if serial % 10 == 0 else 1 if serial % 2 == 0 else 0


def kill(suite: RunningSuite, name: str) -> None:
    """SIGKILL, as a crash: the supervisor was not asked, so it restarts the process."""
    before = suite.suite.restarts.get(name, 0)
    os.killpg(suite.suite.procs[name].pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while suite.suite.restarts.get(name, 0) <= before or not suite.suite.is_running(name):
        assert not suite.suite.failed.is_set(), f"the supervisor gave up: {suite.suite.exited}"
        assert time.monotonic() < deadline, f"{name} was not restarted within 30s"
        time.sleep(0.1)


@pytest.mark.timeout(600)
def test_SEC17_fault_kill9_of_each_process_during_200_cases_loses_and_doubles_nothing(
    tmp_path, figures
):
    rng = random.Random(SEED)
    with (
        private_broker() as broker,
        running_suite(tmp_path / "var", broker=broker, restart=POLICY, **FAULT_ENV) as suite,
    ):
        driver = Driver(suite, level, run_id=f"kill-{SEED}")
        done = threading.Event()
        failure: list[BaseException] = []

        def drive() -> None:
            try:
                driver.drive(range(CASES))
            except BaseException as exc:  # reported by the test thread
                failure.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=drive, name="fault-drive")
        worker.start()
        victims = list(NAMES)
        rng.shuffle(victims)
        victims += rng.sample(SERVICES, EXTRA_KILLS)
        kills: list[str] = []
        for number, name in enumerate(victims):
            if done.wait(rng.uniform(1.0, 5.0)) and number >= len(NAMES):
                break  # every process was killed once; the extra kills only while driving
            kill(suite, name)
            kills.append(name)
        worker.join()
        assert not failure, failure[0]
        state, found = problems(suite, driver)
        figures(
            **row("kill -9", driver, state),
            kills=len(kills),
            restarts=sum(suite.suite.restarts.values()),
        )
        assert set(kills) == set(NAMES)
        assert all(suite.suite.restarts[name] >= 1 for name in NAMES)
        assert not found, "\n".join(found)
        health = suite.get("/healthz").json()
        assert health["status"] == "ok", health
