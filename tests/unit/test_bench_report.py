"""The benchmark's pure parts: percentiles, ratios, the table and the BENCH line (no broker)."""

from __future__ import annotations

import json
import statistics

import pytest

from bench.report import (
    BASELINE,
    HEADERS,
    LATENCY,
    THROUGHPUT,
    Row,
    bench_line,
    longest_gap,
    percentile,
    ratio,
    row_ratio,
    summary,
    table_lines,
)

# -- percentile ------------------------------------------------------------------------------


def test_percentile_of_one_value_is_that_value():
    assert percentile([3.5], 0) == 3.5
    assert percentile([3.5], 50) == 3.5
    assert percentile([3.5], 100) == 3.5


def test_median_of_odd_and_even_counts():
    assert percentile([5, 1, 3], 50) == 3
    assert percentile([4, 1, 3, 2], 50) == 2.5


def test_percentile_interpolates_linearly_between_ranks():
    values = list(range(1, 11))  # 1..10
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 10
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile(values, 25) == pytest.approx(3.25)


def test_percentile_ignores_input_order_and_does_not_sort_in_place():
    values = [0.9, 0.1, 0.5, 0.3, 0.7]
    assert percentile(values, 50) == 0.5
    assert values == [0.9, 0.1, 0.5, 0.3, 0.7]


def test_percentile_agrees_with_statistics_inclusive_quantiles():
    values = [0.71, 0.52, 0.98, 1.4, 0.66, 0.59, 3.2, 0.61, 0.75, 0.8, 0.55]
    cuts = statistics.quantiles(values, n=20, method="inclusive")  # 5 %, 10 %, ... 95 %
    assert percentile(values, 95) == pytest.approx(cuts[-1])
    assert percentile(values, 50) == pytest.approx(statistics.median(values))


def test_percentile_accepts_any_iterable():
    assert percentile((x for x in [2.0, 4.0]), 50) == 3.0


@pytest.mark.parametrize("p", [-1, 100.5])
def test_percentile_out_of_range_is_refused(p):
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], p)


def test_percentile_of_nothing_is_refused():
    with pytest.raises(ValueError):
        percentile([], 50)


# -- ratio -----------------------------------------------------------------------------------


def test_ratio_divides_measured_by_baseline():
    assert ratio(4.75, 1.0) == pytest.approx(4.75)
    assert ratio(0.5, 2.0) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "measured, baseline",
    [
        (None, 1.0),
        (1.0, None),
        (1.0, 0.0),
        (1.0, -2.0),
        (1.0, float("nan")),
    ],
)
def test_ratio_without_a_usable_baseline_is_none(measured, baseline):
    assert ratio(measured, baseline) is None


def test_longest_gap():
    assert longest_gap([]) is None
    assert longest_gap([1.0]) is None
    assert longest_gap([0.0, 0.1, 1.3, 1.4]) == pytest.approx(1.2)
    assert longest_gap([1.4, 0.0, 1.3, 0.1]) == pytest.approx(1.2)  # sorted first


# -- rows ------------------------------------------------------------------------------------


def _rows():
    base = Row("1. rpc", "raw", "raw round trip", 4, 0.004, [0.001, 0.001, 0.001, 0.001], BASELINE)
    slow = Row(
        "1. rpc",
        "gw",
        "gateway",
        4,
        0.02,
        [0.004, 0.005, 0.006, 0.005],
        LATENCY,
        "raw",
        note="one RPC",
    )
    conc = Row("1. rpc", "gw8", "gateway, 8 threads", 8, 0.02, [0.01] * 8, THROUGHPUT, "raw")
    events_base = Row("2. events", "rawev", "raw events", 1000, 0.5, [], BASELINE)
    events = Row("2. events", "ev", "outbox events", 1000, 2.0, [], THROUGHPUT, "rawev")
    return [base, slow, conc, events_base, events]


def test_row_rate_median_and_p95():
    _, slow, *_ = _rows()
    assert slow.per_s == pytest.approx(200.0)
    assert slow.median == pytest.approx(0.005)
    assert slow.p95 == pytest.approx(0.00585)


def test_row_without_latencies_or_time_has_no_figures():
    row = Row("s", "k", "label", 0, 0.0)
    assert row.per_s is None
    assert row.median is None and row.p95 is None


def test_row_ratio_by_comparison_kind():
    rows = _rows()
    by_key = {r.key: r for r in rows}
    assert row_ratio(by_key["raw"], by_key) == 1.0
    assert row_ratio(by_key["gw"], by_key) == pytest.approx(5.0)  # median 5 ms / 1 ms
    assert row_ratio(by_key["gw8"], by_key) == pytest.approx(0.4)  # 400/s vs 1000/s
    assert row_ratio(by_key["ev"], by_key) == pytest.approx(0.25)  # 500/s vs 2000/s


def test_row_ratio_with_a_missing_baseline_is_none():
    row = Row("s", "k", "label", 1, 1.0, [0.1], LATENCY, "absent")
    assert row_ratio(row, {"k": row}) is None


def test_row_ratio_with_an_unknown_comparison_is_an_error():
    base = Row("s", "b", "base", 1, 1.0, [0.1], BASELINE)
    row = Row("s", "k", "label", 1, 1.0, [0.1], "sideways", "b")
    with pytest.raises(ValueError):
        row_ratio(row, {"b": base, "k": row})


# -- the table -------------------------------------------------------------------------------


def test_table_has_the_header_sections_and_one_line_per_row():
    lines = table_lines(_rows())
    header = [cell.strip() for cell in lines[0].split("|")]
    assert header == list(HEADERS)
    assert set(lines[1]) == {"-"}
    assert "[1. rpc]" in lines and "[2. events]" in lines
    body = [line for line in lines[2:] if "|" in line]
    assert len(body) == 5


def test_table_columns_are_aligned():
    lines = [line for line in table_lines(_rows()) if "|" in line]
    positions = {tuple(i for i, ch in enumerate(line) if ch == "|") for line in lines}
    assert len(positions) == 1


def test_table_cells_show_ms_rate_and_ratio_with_its_basis():
    lines = table_lines(_rows())
    cells = {
        line.split("|")[0].strip(): [c.strip() for c in line.split("|")]
        for line in lines
        if "|" in line
    }
    assert cells["raw round trip"][1:] == ["4", "1.00", "1.00", "1,000", "1.00 (baseline)"]
    assert cells["gateway"][1:] == ["4", "5.00", "5.85", "200", "5.00 (median)"]
    assert cells["gateway, 8 threads"][-1] == "0.40 (per s)"
    assert cells["outbox events"][2:4] == ["-", "-"]
    assert cells["outbox events"][-1] == "0.25 (per s)"


def test_table_lists_notes_below():
    lines = table_lines(_rows())
    assert lines[-1] == "  gateway: one RPC"


# -- the JSON line ---------------------------------------------------------------------------


def test_summary_holds_every_row_with_ms_and_ratios():
    data = summary(_rows(), {"quick": True})
    assert data["quick"] is True
    gw = data["results"]["gw"]
    assert gw["median_ms"] == pytest.approx(5.0)
    assert gw["p95_ms"] == pytest.approx(5.85)
    assert gw["per_s"] == pytest.approx(200.0)
    assert gw["x_baseline"] == pytest.approx(5.0)
    assert gw["compare"] == LATENCY and gw["baseline"] == "raw"
    assert data["results"]["raw"]["baseline"] == "raw"
    assert data["results"]["ev"]["median_ms"] is None


def test_bench_line_is_one_line_of_json():
    line = bench_line(_rows(), {"label": "naïve"})
    assert line.startswith("BENCH {")
    assert "\n" not in line
    data = json.loads(line[len("BENCH ") :])
    assert set(data["results"]) == {"raw", "gw", "gw8", "rawev", "ev"}
    assert data["label"] == "naïve"
