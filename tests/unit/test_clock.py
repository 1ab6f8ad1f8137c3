"""The suite's clock: real, controlled through a shared file, and ISO-8601 durations."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hqcore.clock import (
    CHINA_TZ,
    ControlledClock,
    SystemClock,
    get_clock,
    parse_duration,
)
from hqcore.config import PROJECT_ROOT, Settings

TOLERANCE = timedelta(seconds=5)
MOMENT = datetime(2026, 2, 12, 2, 0, tzinfo=timezone.utc)


def close_to(actual: datetime, expected: datetime) -> bool:
    return abs(actual - expected) < TOLERANCE


def test_china_tz_is_fixed_utc_plus_8() -> None:
    assert CHINA_TZ.utcoffset(None) == timedelta(hours=8)


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.utcoffset() == timedelta(0)
    assert close_to(now, datetime.now(timezone.utc))


def test_missing_clock_file_means_real_time(tmp_path: Path) -> None:
    clock = ControlledClock(tmp_path / "clock.json")
    assert close_to(clock.now(), datetime.now(timezone.utc))
    assert clock.state()["offset_seconds"] == 0.0


def test_set_advance_reset_are_shared_between_instances(tmp_path: Path) -> None:
    path = tmp_path / "var" / "clock.json"  # directory created on first write
    writer, reader = ControlledClock(path), ControlledClock(path)
    reader.now()  # reader has cached the (missing) state before the writer changes it

    writer.set(MOMENT)
    assert close_to(reader.now(), MOMENT)

    writer.advance(timedelta(days=3))
    assert close_to(reader.now(), MOMENT + timedelta(days=3))

    writer.set(MOMENT - timedelta(days=10))  # set() may go backwards
    assert close_to(reader.now(), MOMENT - timedelta(days=10))

    writer.reset()
    assert close_to(reader.now(), datetime.now(timezone.utc))
    assert reader.state()["offset_seconds"] == 0.0


def test_time_keeps_running_under_an_offset(tmp_path: Path) -> None:
    clock = ControlledClock(tmp_path / "clock.json")
    clock.set(MOMENT)
    first = clock.now()
    second = clock.now()
    assert second >= first
    assert first >= MOMENT - TOLERANCE


def test_quick_successive_writes_of_equal_size_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    writer, reader = ControlledClock(path), ControlledClock(path)
    writer.set(MOMENT)
    for day in range(1, 6):
        writer.advance(timedelta(days=1))
        assert close_to(reader.now(), MOMENT + timedelta(days=day))


def test_another_process_sets_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    here = ControlledClock(path)
    here.now()
    code = (
        "import sys; from datetime import datetime; from hqcore.clock import ControlledClock;"
        "ControlledClock(sys.argv[1]).set(datetime.fromisoformat(sys.argv[2]))"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    subprocess.run([sys.executable, "-c", code, str(path), MOMENT.isoformat()], check=True, env=env)
    assert close_to(here.now(), MOMENT)


def test_advance_rejects_negative_and_set_rejects_naive(tmp_path: Path) -> None:
    clock = ControlledClock(tmp_path / "clock.json")
    with pytest.raises(ValueError, match="negative"):
        clock.advance(timedelta(hours=-1))
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2026, 2, 12, 10, 0))


def test_state_and_today_use_china_local_date(tmp_path: Path) -> None:
    clock = ControlledClock(tmp_path / "clock.json")
    clock.set(datetime(2026, 2, 12, 16, 30, tzinfo=timezone.utc))  # 00:30 on the 13th in China
    assert clock.today() == date(2026, 2, 13)
    state = clock.state()
    assert state["mode"] == "controlled"
    target = datetime(2026, 2, 12, 16, 30, tzinfo=timezone.utc)
    assert close_to(datetime.fromisoformat(state["now"]), target)
    real_plus_offset = datetime.now(timezone.utc) + timedelta(seconds=state["offset_seconds"])
    assert close_to(real_plus_offset, target)


def test_malformed_clock_file(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="clock file .* is malformed"):
        ControlledClock(path).now()


def test_get_clock_by_mode_one_instance_each(tmp_path: Path) -> None:
    real = get_clock(Settings(clock_mode="real"))
    assert isinstance(real, SystemClock) and get_clock(Settings(clock_mode="real")) is real
    a = get_clock(Settings(clock_mode="controlled", clock_file=tmp_path / "a.json"))
    assert isinstance(a, ControlledClock) and a.path == (tmp_path / "a.json").resolve()
    assert get_clock(Settings(clock_mode="controlled", clock_file=tmp_path / "a.json")) is a
    assert get_clock(Settings(clock_mode="controlled", clock_file=tmp_path / "b.json")) is not a
    with pytest.raises(ValueError, match="unknown clock mode 'frozen'"):
        get_clock(Settings(clock_mode="frozen"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P3D", timedelta(days=3)),
        ("PT36H", timedelta(hours=36)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("P2W", timedelta(weeks=2)),
        ("PT90S", timedelta(seconds=90)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("p3d", timedelta(days=3)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "3D", "P1Y", "P1M", "-P1D", "PT1.5H", "soon"]
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
