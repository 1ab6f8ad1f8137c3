"""Working-day calendar: PRC holidays, make-up working days, unknown years, data files."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from hqcore.calendar import PACKAGED_DATA_FILE, CalendarAnswer, WorkingCalendar

MAKE_UP_DAYS_2026 = [
    "2026-01-04",
    "2026-02-14",
    "2026-02-28",
    "2026-05-09",
    "2026-09-20",
    "2026-10-10",
]


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def write_data(path: Path, years: dict[str, object]) -> Path:
    path.write_text(json.dumps({"years": years}), encoding="utf-8")
    return path


# --- packaged data --------------------------------------------------------------------------


def test_packaged_2026_make_up_days_are_exactly_the_published_ones() -> None:
    data = json.loads(PACKAGED_DATA_FILE.read_text(encoding="utf-8"))
    assert sorted(data["years"]) == ["2026"]
    assert data["years"]["2026"]["workdays"] == MAKE_UP_DAYS_2026


def test_packaged_2026_agrees_with_chinese_calendar_every_day(calendar: WorkingCalendar) -> None:
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


# --- 2026 examples ----------------------------------------------------------------------------


def test_spring_festival_3_wd_after_2026_02_12_is_2026_02_24(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(date(2026, 2, 12), 3) == CalendarAnswer(
        date(2026, 2, 24), False, frozenset()
    )


@pytest.mark.parametrize("day", ["2026-02-14", "2026-02-28"])
def test_spring_festival_make_up_saturdays_are_working_days(
    calendar: WorkingCalendar, day: str
) -> None:
    assert calendar.is_working_day(date.fromisoformat(day)) is True


def test_spring_festival_holiday_and_plain_sunday_are_not_working_days(
    calendar: WorkingCalendar,
) -> None:
    assert calendar.is_working_day(date(2026, 2, 15)) is False  # Sunday
    assert calendar.is_working_day(date(2026, 2, 16)) is False  # Monday, Spring Festival
    assert calendar.is_working_day(date(2026, 2, 23)) is False  # Monday, last day off
    assert calendar.is_working_day(date(2026, 2, 13)) is True  # ordinary Friday


def test_national_day_2026(calendar: WorkingCalendar) -> None:
    october = {d: calendar.is_working_day(date(2026, 10, d)) for d in range(1, 12)}
    assert [d for d, working in october.items() if working] == [8, 9, 10]  # 10th: make-up Sat
    assert calendar.is_working_day(date(2026, 9, 20)) is True  # make-up Sunday
    assert calendar.add_working_days(date(2026, 9, 30), 1).day == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 9, 30), 3).day == date(2026, 10, 10)


def test_start_day_does_not_count_even_when_working(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(date(2026, 3, 2), 1).day == date(2026, 3, 3)
    assert calendar.add_working_days(date(2026, 3, 6), 1).day == date(2026, 3, 9)


def test_add_working_days_requires_n_at_least_1(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        calendar.add_working_days(date(2026, 3, 2), 0)


def test_working_days_between(calendar: WorkingCalendar) -> None:
    assert calendar.working_days_between(date(2026, 2, 12), date(2026, 2, 24)).days == 3
    assert calendar.working_days_between(date(2026, 2, 24), date(2026, 2, 12)).days == -3
    assert calendar.working_days_between(date(2026, 2, 12), date(2026, 2, 12)).days == 0
    crossing = calendar.working_days_between(date(2026, 12, 30), date(2027, 1, 4))
    assert (crossing.days, crossing.provisional, crossing.unknown_years) == (3, True, {2027})


# --- years without data -----------------------------------------------------------------------


def test_known_years(calendar: WorkingCalendar) -> None:
    assert calendar.is_known_year(2026) and calendar.is_known_year(2004)
    assert not calendar.is_known_year(2027) and not calendar.is_known_year(2003)
    assert calendar.known_years() == tuple(range(2004, 2027))


def test_2027_uses_monday_to_friday_and_is_provisional(calendar: WorkingCalendar) -> None:
    assert calendar.unknown_years_touched() == frozenset()
    answer = calendar.add_working_days(date(2027, 3, 1), 5)  # Monday
    assert answer == CalendarAnswer(date(2027, 3, 8), True, frozenset({2027}))
    assert calendar.is_working_day(date(2027, 1, 1)) is True  # Friday: no data, weekday rule
    assert calendar.is_working_day(date(2027, 1, 2)) is False  # Saturday
    assert calendar.unknown_years_touched() == {2027}


def test_deadline_crossing_from_december_2026_into_2027_is_provisional(
    calendar: WorkingCalendar,
) -> None:
    assert calendar.add_working_days(date(2026, 12, 30), 3) == CalendarAnswer(
        date(2027, 1, 4), True, frozenset({2027})
    )
    assert calendar.add_working_days(date(2026, 12, 1), 30).day == date(2027, 1, 12)


def test_staying_inside_2026_touches_no_unknown_year(calendar: WorkingCalendar) -> None:
    answer = calendar.add_working_days(date(2026, 12, 28), 2)
    assert answer == CalendarAnswer(date(2026, 12, 30), False, frozenset())
    assert calendar.unknown_years_touched() == frozenset()


# --- administrator's data file ----------------------------------------------------------------


def test_administrator_file_adding_2027_makes_it_known(tmp_path: Path) -> None:
    extra = write_data(
        tmp_path / "holidays.json",
        {"2027": {"source": "test schedule", "holidays": ["2027-01-01"], "workdays": []}},
    )
    calendar = WorkingCalendar(extra)
    assert calendar.is_known_year(2027)
    assert 2027 in calendar.known_years()
    assert calendar.add_working_days(date(2026, 12, 30), 3) == CalendarAnswer(
        date(2027, 1, 5), False, frozenset()
    )
    assert calendar.add_working_days(date(2026, 2, 12), 3).day == date(2026, 2, 24)  # 2026 kept
    assert calendar.unknown_years_touched() == frozenset()
    assert calendar.source(2027) == "test schedule"


def test_file_year_overrides_chinese_calendar(tmp_path: Path) -> None:
    extra = write_data(
        tmp_path / "h.json",
        {"2025": {"source": "override", "holidays": ["2025-03-03"], "workdays": ["2025-03-08"]}},
    )
    calendar = WorkingCalendar(extra)
    assert calendar.is_working_day(date(2025, 3, 3)) is False
    assert calendar.is_working_day(date(2025, 3, 8)) is True
    assert calendar.is_working_day(date(2025, 1, 1)) is True  # file decides: not listed


def test_reload_picks_up_a_newly_published_year(tmp_path: Path) -> None:
    path = write_data(tmp_path / "h.json", {})
    calendar = WorkingCalendar(path)
    assert calendar.add_working_days(date(2026, 12, 30), 3).provisional is True
    write_data(path, {"2027": {"source": "published", "holidays": ["2027-01-01"], "workdays": []}})
    calendar.reload()
    assert calendar.add_working_days(date(2026, 12, 30), 3).provisional is False


@pytest.mark.parametrize(
    ("years", "message"),
    [
        (
            {"2027": {"source": "x", "holidays": ["2027-01-02"], "workdays": []}},
            r"years\.2027\.holidays\[0\] '2027-01-02': must be Monday to Friday",
        ),
        (
            {"2027": {"source": "x", "holidays": [], "workdays": ["2027-01-04"]}},
            r"years\.2027\.workdays\[0\] '2027-01-04': must be a Saturday or Sunday",
        ),
        (
            {"2027": {"source": "x", "holidays": ["2028-01-03"], "workdays": []}},
            r"years\.2027\.holidays\[0\] '2028-01-03': not in 2027",
        ),
        (
            {"2027": {"source": "x", "holidays": ["2027-1-4"], "workdays": []}},
            r"years\.2027\.holidays\[0\] '2027-1-4': not an ISO date",
        ),
        ({"2027": {"source": "x", "holidays": []}}, r"years\.2027\.workdays: a list"),
        ({"2027": {"holidays": [], "workdays": []}}, r"years\.2027\.source"),
        ({"27": {"source": "x", "holidays": [], "workdays": []}}, r"years\.27: not a four-digit"),
    ],
)
def test_malformed_data_file_names_file_and_entry(
    tmp_path: Path, years: dict[str, object], message: str
) -> None:
    path = write_data(tmp_path / "bad.json", years)
    with pytest.raises(ValueError, match=message) as info:
        WorkingCalendar(path)
    assert str(path) in str(info.value)


def test_data_file_that_is_not_json_or_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{years: ", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        WorkingCalendar(bad)
    with pytest.raises(ValueError, match="does not exist"):
        WorkingCalendar(tmp_path / "missing.json")
    bad.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="'years' object"):
        WorkingCalendar(bad)
