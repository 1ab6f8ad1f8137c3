"""A broker restart in the middle of a run, on a private RabbitMQ node the test starts on its
own ports (``tests.support.private_broker``), never the machine's shared broker: the services
and the gateway reconnect, and nothing is lost or doubled."""

from __future__ import annotations

import threading
import time

import pytest

from hqops.supervisor import RestartPolicy
from tests.fault.checks import problems, row
from tests.fault.driver import Driver
from tests.support.private_broker import private_broker
from tests.support.suite import running_suite

CASES = 60


def level(serial: int) -> int:
    return 2 if serial % 5 == 0 else 1 if serial % 2 == 0 else 0


@pytest.mark.timeout(600)
def test_fault_broker_restart_mid_run_loses_and_doubles_nothing(tmp_path, figures):
    with (
        private_broker() as broker,
        running_suite(
            tmp_path / "var",
            broker=broker,
            restart=RestartPolicy(first_delay=0.5, max_delay=4.0),
            HQ_RETRY_DELAYS="1,2,4,8,16",
        ) as suite,
    ):
        driver = Driver(suite, level, run_id="broker")
        failure: list[BaseException] = []

        def drive() -> None:
            try:
                driver.drive(range(CASES))
            except BaseException as exc:  # reported by the test thread
                failure.append(exc)

        worker = threading.Thread(target=drive, name="fault-drive")
        worker.start()
        deadline = time.monotonic() + 120
        while len(driver.run.answered) < CASES // 3 and worker.is_alive():
            assert time.monotonic() < deadline, "the run does not progress"
            time.sleep(0.2)
        assert worker.is_alive(), "the run ended before the broker could restart mid-run"
        broker.restart()
        worker.join()
        assert not failure, failure[0]
        state, found = problems(suite, driver)
        figures(
            **row("broker restart", driver, state),
            restarts=sum(suite.suite.restarts.values()),
            **{"broker restarts": broker.restarts},
        )
        assert not found, "\n".join(found)
        health = suite.get("/healthz").json()
        assert health["status"] == "ok", health
