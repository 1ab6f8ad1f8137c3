"""Fault tier: the whole suite as processes on PostgreSQL, driven through the gateway while
processes are killed (kill -9, restarted by the supervisor: SEC-17), a private broker node is
restarted, and every event is delivered twice; then nothing may be lost, doubled, left in an
outbox or dead-lettered. Each test starts its own suite (``tests.support.suite``) on its own
RabbitMQ node (``tests.support.private_broker``): other test runs on the machine may stop and
start the shared broker, and the tier must not depend on them. The figures of every run are
printed at the end of the tier."""

from __future__ import annotations

from typing import Any

import pytest

FIGURES: list[dict[str, Any]] = []
COLUMNS = ("run", "cases", "paid", "kills", "restarts", "broker restarts", "lost", "doubled")


@pytest.fixture
def figures():
    """Record a run's figures: ``figures(run="kill -9", cases=200, ...)``."""
    return lambda **row: FIGURES.append(row)


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault tier figures")
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in FIGURES)) for c in COLUMNS]
    terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in FIGURES:
        terminalreporter.write_line(
            "  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
        )
        if row.get("retries"):
            terminalreporter.write_line(f"    requests repeated: {row['retries']}")
