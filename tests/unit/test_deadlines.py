"""Deadline rules: WD / D / H units, exact due instants in UTC, provisional deadlines."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hqcore.calendar import WorkingCalendar
from hqcore.clock import CHINA_TZ
from hqcore.deadlines import Deadline, DeadlineStatus, Due, Unit, compute_due

UTC = timezone.utc


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def china(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def test_enum_values() -> None:
    assert [u.value for u in Unit] == ["WD", "D", "H"]
    assert [s.value for s in DeadlineStatus] == ["open", "met", "breached"]


def test_VE1_3_wd_over_spring_festival(calendar: WorkingCalendar) -> None:
    due = compute_due(china(2026, 2, 12, 10, 0), 3, Unit.WORKING_DAYS, calendar)
    # last day 2026-02-24; breached from 00:00 on 02-25 China time = 16:00 on 02-24 UTC
    assert due == Due(
        datetime(2026, 2, 24, 16, 0, tzinfo=UTC), date(2026, 2, 24), False, frozenset()
    )
    assert due.due_at.utcoffset() == timedelta(0)


def test_VE1_start_day_is_the_china_local_day(calendar: WorkingCalendar) -> None:
    # 17:30 UTC on 02-12 is already 01:30 on Friday 02-13 in China
    due = compute_due(datetime(2026, 2, 12, 17, 30, tzinfo=UTC), 3, Unit.WORKING_DAYS, calendar)
    assert due.due_date == date(2026, 2, 25)
    assert due.due_at == datetime(2026, 2, 25, 16, 0, tzinfo=UTC)


def test_VE1_15_wd_for_tekun_counts_make_up_saturday(calendar: WorkingCalendar) -> None:
    due = compute_due(china(2026, 2, 12, 9, 0), 15, Unit.WORKING_DAYS, calendar)
    assert due.due_date == date(2026, 3, 11)
    assert due.due_at == datetime(2026, 3, 11, 16, 0, tzinfo=UTC)


def test_DE4_30_wd_over_mid_autumn_and_national_day(calendar: WorkingCalendar) -> None:
    due = compute_due(china(2026, 9, 21, 15, 0), 30, Unit.WORKING_DAYS, calendar)
    assert due.due_date == date(2026, 11, 9)
    assert due.due_at == datetime(2026, 11, 9, 16, 0, tzinfo=UTC)
    assert due.provisional is False


def test_DE4_30_wd_from_december_2026_is_provisional(calendar: WorkingCalendar) -> None:
    due = compute_due(china(2026, 12, 1, 9, 0), 30, Unit.WORKING_DAYS, calendar)
    assert due.due_date == date(2027, 1, 12)  # 2027 by the Monday-to-Friday rule
    assert (due.provisional, due.unknown_years) == (True, frozenset({2027}))


def test_DE4_with_administrator_2027_data_is_not_provisional(tmp_path: Path) -> None:
    data = {"2027": {"source": "test", "holidays": ["2027-01-01"], "workdays": []}}
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps({"years": data}), encoding="utf-8")
    due = compute_due(china(2026, 12, 1, 9, 0), 30, Unit.WORKING_DAYS, WorkingCalendar(path))
    assert (due.due_date, due.provisional) == (date(2027, 1, 13), False)


def test_PU1_publicity_5_calendar_days_ignores_holidays(calendar: WorkingCalendar) -> None:
    due = compute_due(china(2026, 2, 12, 9, 0), 5, Unit.CALENDAR_DAYS, calendar)
    assert due == Due(
        datetime(2026, 2, 17, 16, 0, tzinfo=UTC), date(2026, 2, 17), False, frozenset()
    )


def test_TE1_emergency_aid_within_24_hours(calendar: WorkingCalendar) -> None:
    due = compute_due(china(2026, 2, 16, 23, 15), 24, Unit.HOURS, calendar)
    assert due == Due(datetime(2026, 2, 17, 15, 15, tzinfo=UTC), None, False, frozenset())


def test_compute_due_accepts_unit_strings(calendar: WorkingCalendar) -> None:
    start = china(2026, 2, 12, 10, 0)
    by_string = compute_due(start, 3, "WD", calendar)  # type: ignore[arg-type]
    assert by_string == compute_due(start, 3, Unit.WORKING_DAYS, calendar)


@pytest.mark.parametrize("amount", [0, -1])
def test_amount_must_be_positive(calendar: WorkingCalendar, amount: int) -> None:
    with pytest.raises(ValueError, match="amount must be >= 1"):
        compute_due(china(2026, 2, 12, 10, 0), amount, Unit.WORKING_DAYS, calendar)


def test_naive_start_is_rejected(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        compute_due(datetime(2026, 2, 12, 10, 0), 3, Unit.HOURS, calendar)


def ve1(calendar: WorkingCalendar) -> Deadline:
    return Deadline.open(
        "case-1",
        "shaogongzhuang",
        "VE-1",
        3,
        Unit.WORKING_DAYS,
        china(2026, 2, 12, 10, 0),
        calendar,
        id="d-1",
    )


def test_open_VE1_deadline(calendar: WorkingCalendar) -> None:
    deadline = ve1(calendar)
    assert deadline.id == "d-1" and deadline.rule_id == "VE-1"
    assert deadline.status is DeadlineStatus.OPEN
    assert deadline.due_at == datetime(2026, 2, 24, 16, 0, tzinfo=UTC)
    assert deadline.due_date == date(2026, 2, 24)
    assert (deadline.provisional, deadline.met_at, deadline.met_late) == (False, None, False)


def test_open_provisional_deadline(calendar: WorkingCalendar) -> None:
    deadline = Deadline.open(
        "case-2", "xigu", "DE-4", 30, Unit.WORKING_DAYS, china(2026, 12, 1, 9, 0), calendar
    )
    assert deadline.id is None and deadline.provisional is True


def test_TE1_deadline_has_no_due_date(calendar: WorkingCalendar) -> None:
    deadline = Deadline.open(
        "case-3", "xigu", "TE-1", 24, Unit.HOURS, china(2026, 2, 16, 23, 15), calendar
    )
    assert deadline.due_date is None


def test_overdue_from_the_due_instant_exactly(calendar: WorkingCalendar) -> None:
    deadline = ve1(calendar)
    assert not deadline.is_overdue(deadline.due_at - timedelta(microseconds=1))
    assert deadline.is_overdue(deadline.due_at)
    assert not deadline.is_overdue(china(2026, 2, 24, 23, 59, 59))  # last day, still in time


def test_meet_in_time(calendar: WorkingCalendar) -> None:
    deadline = ve1(calendar)
    when = china(2026, 2, 24, 18, 0)
    deadline.meet(when)
    assert deadline.status is DeadlineStatus.MET
    assert (deadline.met_at, deadline.met_late) == (when, False)
    assert not deadline.is_overdue(deadline.due_at + timedelta(days=1))


def test_meet_late_still_counts_as_met(calendar: WorkingCalendar) -> None:
    deadline = ve1(calendar)
    deadline.meet(china(2026, 2, 25, 0, 0))
    assert (deadline.status, deadline.met_late) == (DeadlineStatus.MET, True)


def test_breach_and_illegal_transitions(calendar: WorkingCalendar) -> None:
    breached = ve1(calendar)
    breached.breach()
    assert breached.status is DeadlineStatus.BREACHED
    assert not breached.is_overdue(breached.due_at + timedelta(days=1))
    with pytest.raises(ValueError, match="cannot meet deadline d-1 .*breached"):
        breached.meet(china(2026, 2, 26, 9, 0))
    with pytest.raises(ValueError, match="cannot breach"):
        breached.breach()
    met = ve1(calendar)
    met.meet(china(2026, 2, 13, 9, 0))
    with pytest.raises(ValueError, match="cannot breach deadline d-1 .*met"):
        met.breach()
    with pytest.raises(ValueError, match="cannot meet"):
        met.meet(china(2026, 2, 13, 10, 0))
