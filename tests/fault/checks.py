"""What every fault run must end with, and the figures it reports."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.fault.driver import Driver, EndState, end_state, settle
from tests.support.suite import RunningSuite


def problems(suite: RunningSuite, driver: Driver) -> tuple[EndState, list[str]]:
    """Once nothing is in flight: what is wrong with the end state. Nothing may be: 0 cases
    lost, 0 documents or payments doubled, every outbox drained, no inbox duplicates, no dead
    letters, and every case of a level with the same figures as every other of that level."""
    settle(suite)
    state = end_state(suite)
    run = driver.run
    found = []
    if lost := state.lost(run.answered.values()):
        found.append(f"lost: {sorted(lost)}")
    if doubled := state.doubled():
        found.append(f"doubled: {doubled}")
    if any(state.unpublished.values()):
        found.append(f"outbox not drained: {state.unpublished}")
    if any(state.inbox_duplicates.values()):
        found.append(f"inbox duplicates: {state.inbox_duplicates}")
    if state.dead_letters:
        found.append(f"dead letters: {state.dead_letters}")
    if unpaid := [s for s in run.paid if state.payments[run.answered[s]] != 1]:
        found.append(f"cases paid without exactly one schedule: {unpaid}")
    for level, shapes in figures_by_level(state, driver, run.answered).items():
        if len(shapes) != 1:
            found.append(f"level {level}: cases of one path differ: {shapes}")
    return state, found


def figures_by_level(
    state: EndState, driver: Driver, cases: dict[int, str]
) -> dict[int, dict[str, int]]:
    """Level -> {a case's figures (as text) -> how many cases have them}."""
    shapes: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for serial, case_id in cases.items():
        shapes[driver.levels(serial)][repr(state.per_case(case_id))] += 1
    return {level: dict(counts) for level, counts in shapes.items()}


def row(name: str, driver: Driver, state: EndState, **extra: Any) -> dict[str, Any]:
    run = driver.run
    return {
        "run": name,
        "cases": len(run.answered),
        "paid": len(run.paid),
        "lost": len(state.lost(run.answered.values())),
        "doubled": len(state.doubled()),
        "retries": dict(run.retries),
        **extra,
    }
