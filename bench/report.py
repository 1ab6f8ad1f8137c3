"""The pure part of the benchmark: percentiles, ratios, the table and the ``BENCH`` JSON line.

Nothing here touches the broker, a database or a clock, so it is unit-tested on its own
(``tests/unit/test_bench_report.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

# How a row is compared with its baseline.
LATENCY = "latency"  # measured median / baseline median: how many times slower per call
THROUGHPUT = "throughput"  # measured per s / baseline per s: share of the baseline's rate
BASELINE = "baseline"  # the row is the baseline itself


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0..100) with linear interpolation between closest ranks.

    Same definition as ``numpy.percentile``'s default and ``statistics.quantiles(...,
    method="inclusive")``: the median of an even count is the mean of the middle two.
    """
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    position = (len(data) - 1) * p / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(data[low])
    fraction = position - low
    return data[low] + (data[high] - data[low]) * fraction


def longest_gap(times: Sequence[float]) -> float | None:
    """The longest pause between consecutive times (sorted first); None for fewer than two."""
    data = sorted(times)
    if len(data) < 2:
        return None
    return max(b - a for a, b in pairwise(data))


def ratio(measured: float | None, baseline: float | None) -> float | None:
    """``measured / baseline``, or None when either is missing or the baseline is not positive."""
    if measured is None or baseline is None or baseline <= 0 or math.isnan(baseline):
        return None
    return measured / baseline


@dataclass
class Row:
    """One line of the report.

    ``latencies`` are seconds per call (empty for rows that only have a rate); ``count`` and
    ``elapsed`` (seconds of wall time for all of them) give the rate.
    """

    section: str
    key: str
    label: str
    count: int
    elapsed: float
    latencies: Sequence[float] = field(default_factory=list)
    compare: str = LATENCY
    baseline: str | None = None  # key of the baseline row
    note: str = ""

    @property
    def per_s(self) -> float | None:
        if self.elapsed <= 0 or self.count <= 0:
            return None
        return self.count / self.elapsed

    @property
    def median(self) -> float | None:
        return percentile(self.latencies, 50) if self.latencies else None

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 95) if self.latencies else None


def row_ratio(row: Row, rows_by_key: dict[str, Row]) -> float | None:
    """The row's figure against its baseline's: median for ``LATENCY``, per s for ``THROUGHPUT``."""
    if row.compare == BASELINE:
        return 1.0
    base = rows_by_key.get(row.baseline or "")
    if base is None:
        return None
    if row.compare == LATENCY:
        return ratio(row.median, base.median)
    if row.compare == THROUGHPUT:
        return ratio(row.per_s, base.per_s)
    raise ValueError(f"unknown comparison {row.compare!r}")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"


def _rate(per_s: float | None) -> str:
    return "-" if per_s is None else f"{per_s:,.0f}"


def _x(value: float | None, compare: str) -> str:
    if compare == BASELINE:
        return "1.00 (baseline)"
    if value is None:
        return "-"
    basis = "median" if compare == LATENCY else "per s"
    return f"{value:.2f} ({basis})"


HEADERS = ("path", "calls", "median ms", "p95 ms", "per s", "x baseline")


def table_lines(rows: Sequence[Row]) -> list[str]:
    """The report as aligned text lines, one block per section, with its rows' notes below."""
    by_key = {row.key: row for row in rows}
    cells: list[tuple[str, ...] | str] = []
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            cells.append(section)
        cells.append(
            (
                row.label,
                str(row.count),
                _ms(row.median),
                _ms(row.p95),
                _rate(row.per_s),
                _x(row_ratio(row, by_key), row.compare),
            )
        )
    widths = [len(h) for h in HEADERS]
    for cell in cells:
        if isinstance(cell, tuple):
            widths = [max(w, len(c)) for w, c in zip(widths, cell, strict=False)]
    right = (False, True, True, True, True, False)

    def fmt(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=False)
        ]
        return " | ".join(parts).rstrip()

    total = sum(widths) + 3 * (len(widths) - 1)
    lines = [fmt(HEADERS), "-" * total]
    for cell in cells:
        lines.append(f"[{cell}]" if isinstance(cell, str) else fmt(cell))
    notes = [(row.label, row.note) for row in rows if row.note]
    if notes:
        lines.append("")
        lines.extend(f"  {label}: {note}" for label, note in notes)
    return lines


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def summary(rows: Sequence[Row], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Machine-readable results: per row count, median/p95 (ms), per s and ratio."""
    by_key = {row.key: row for row in rows}
    results = {}
    for row in rows:
        results[row.key] = {
            "label": row.label,
            "section": row.section,
            "count": row.count,
            "elapsed_s": _round(row.elapsed, 4),
            "median_ms": _round(None if row.median is None else row.median * 1000, 4),
            "p95_ms": _round(None if row.p95 is None else row.p95 * 1000, 4),
            "per_s": _round(row.per_s, 2),
            "compare": row.compare,
            "baseline": row.key if row.compare == BASELINE else row.baseline,
            "x_baseline": _round(row_ratio(row, by_key), 3),
        }
    return {"results": results, **(extra or {})}


def bench_line(rows: Sequence[Row], extra: dict[str, Any] | None = None) -> str:
    """The final ``BENCH {...}`` line: one line of JSON, keys sorted."""
    return "BENCH " + json.dumps(
        summary(rows, extra), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
