"""Every event delivered twice: with the test publisher of ``tests.support.faults``
(``duplicate-events``) each service publishes every event twice, with its event id; the end
state is the same as without duplicates. One suite runs a set of cases without duplicates,
then the same paths for as many other cases with them, and compares them case by case."""

from __future__ import annotations

import pytest

from hqcore.config import SERVICES
from tests.fault.checks import figures_by_level, problems, row
from tests.fault.driver import Driver
from tests.support.faults import DUPLICATE_SWITCH
from tests.support.private_broker import private_broker
from tests.support.suite import running_suite

CASES = 30
DUPLICATED = 600  # serials of the duplicated half: 600, 601, ... (600 % 3 == 0: same levels)


def level(serial: int) -> int:
    return 2 if serial % 3 == 0 else 1 if serial % 3 == 1 else 0


@pytest.mark.timeout(600)
def test_fault_every_event_delivered_twice_ends_as_without_duplicates(tmp_path, figures):
    switch = tmp_path / "duplicate-events"
    with (
        private_broker() as broker,
        running_suite(
            tmp_path / "var",
            broker=broker,
            faults={name: "duplicate-events" for name in SERVICES},
            **{DUPLICATE_SWITCH: str(switch)},
        ) as suite,
    ):
        clean = Driver(suite, level, run_id="clean")
        clean.drive(range(CASES))
        clean_state, clean_found = problems(suite, clean)
        switch.touch()  # from now on, every event is published twice
        twice = Driver(suite, level, run_id="twice")
        twice.drive(range(DUPLICATED, DUPLICATED + CASES))
        state, found = problems(suite, twice)
        figures(**row("without duplicates", clean, clean_state))
        figures(**row("every event twice", twice, state))
        assert not clean_found, "\n".join(clean_found)
        assert not found, "\n".join(found)
        assert len(state.register) == len(state.intake) == 2 * CASES
        assert figures_by_level(state, twice, twice.run.answered) == figures_by_level(
            state, clean, clean.run.answered
        )
        assert sorted(twice.run.paid) == [DUPLICATED + s for s in sorted(clean.run.paid)]
