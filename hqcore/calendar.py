"""PRC working-day calendar, including make-up working days (调休).

Who decides whether a day is a working day, by year:

1. the holiday data file (``hqcore/data/holidays.json``, which an administrator extends each year
   when the State Council publishes the schedule), plus an optional extra file whose years
   override the packaged ones;
2. otherwise ``chinese_calendar`` (it knows 2004 to 2026);
3. otherwise the year is *unknown*: Monday to Friday are working days, weekends are not, and every
   answer touching that year is flagged provisional and the year is recorded for the metrics.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar

PACKAGED_DATA_FILE = Path(__file__).resolve().parent / "data" / "holidays.json"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class CalendarAnswer:
    """A day computed by the calendar; provisional if it relied on a year without data."""

    day: date
    provisional: bool
    unknown_years: frozenset[int]


@dataclass(frozen=True)
class WorkingDayCount:
    """A number of working days; provisional if it relied on a year without data."""

    days: int
    provisional: bool
    unknown_years: frozenset[int]


@dataclass(frozen=True)
class _YearData:
    source: str
    holidays: frozenset[date]
    workdays: frozenset[date]


class WorkingCalendar:
    """Working days under the PRC State Council holiday schedule."""

    def __init__(self, data_file: Path | None = None) -> None:
        self.data_file = Path(data_file) if data_file is not None else None
        self._lock = threading.Lock()
        self._touched: set[int] = set()
        self._library_known: dict[int, bool] = {}
        self._years: dict[int, _YearData] = {}
        self.reload()

    def reload(self) -> None:
        """Re-read the data file(s)."""
        years = _load(PACKAGED_DATA_FILE)
        if self.data_file is not None and self.data_file.resolve() != PACKAGED_DATA_FILE:
            years.update(_load(self.data_file))
        self._years = years

    def is_known_year(self, year: int) -> bool:
        """Whether the data file or ``chinese_calendar`` has the schedule of ``year``."""
        return year in self._years or self._library_knows(year)

    def known_years(self) -> tuple[int, ...]:
        """All years with a known schedule, ascending."""
        library = sorted({day.year for day in chinese_calendar.holidays})
        candidates = set(self._years) | set(range(library[0], library[-1] + 1))
        return tuple(sorted(year for year in candidates if self.is_known_year(year)))

    def source(self, year: int) -> str:
        """Where the schedule of ``year`` comes from (for display and audit)."""
        if year in self._years:
            return self._years[year].source
        if self._library_knows(year):
            return "chinese_calendar"
        return "unknown year: Monday to Friday assumed (provisional)"

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (weekday rule for unknown years, recorded)."""
        data = self._years.get(day.year)
        if data is not None:
            if day in data.workdays:
                return True
            return day.weekday() < 5 and day not in data.holidays
        if self._library_knows(day.year):
            return bool(chinese_calendar.is_workday(day))
        with self._lock:
            self._touched.add(day.year)
        return day.weekday() < 5

    def add_working_days(self, start: date, n: int) -> CalendarAnswer:
        """The ``n``-th working day after ``start`` (``start`` itself does not count)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        day, count, unknown = start, 0, set()
        while count < n:
            day += timedelta(days=1)
            if not self.is_known_year(day.year):
                unknown.add(day.year)
            if self.is_working_day(day):
                count += 1
        return CalendarAnswer(day, bool(unknown), frozenset(unknown))

    def working_days_between(self, a: date, b: date) -> WorkingDayCount:
        """Working days ``d`` with ``a < d <= b``; negative when ``b`` is before ``a``."""
        low, high, sign = (a, b, 1) if a <= b else (b, a, -1)
        days, unknown, day = 0, set(), low
        while day < high:
            day += timedelta(days=1)
            if not self.is_known_year(day.year):
                unknown.add(day.year)
            days += self.is_working_day(day)
        return WorkingDayCount(sign * days, bool(unknown), frozenset(unknown))

    def unknown_years_touched(self) -> frozenset[int]:
        """Every unknown year any call on this calendar has touched (for a metric)."""
        with self._lock:
            return frozenset(self._touched)

    def _library_knows(self, year: int) -> bool:
        known = self._library_known.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
                known = True
            except NotImplementedError:
                known = False
            self._library_known[year] = known
        return known


def _load(path: Path) -> dict[int, _YearData]:
    """Read and validate a holiday data file; ValueError naming the file and entry if malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"holiday data file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"holiday data file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("years"), dict):
        raise ValueError(f"holiday data file {path}: expected an object with a 'years' object")
    return {_year(path, key): _year_data(path, key, entry) for key, entry in raw["years"].items()}


def _year(path: Path, key: str) -> int:
    if not (len(key) == 4 and key.isdigit()):
        raise ValueError(f"holiday data file {path}: years.{key}: not a four-digit year")
    return int(key)


def _year_data(path: Path, key: str, entry: Any) -> _YearData:
    where = f"holiday data file {path}: years.{key}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object")
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{where}.source: a non-empty string is required")
    holidays = _dates(where, "holidays", entry, int(key), weekend=False)
    workdays = _dates(where, "workdays", entry, int(key), weekend=True)
    return _YearData(source, holidays, workdays)


def _dates(
    where: str, name: str, entry: dict[str, Any], year: int, *, weekend: bool
) -> frozenset[date]:
    values = entry.get(name)
    if not isinstance(values, list):
        raise ValueError(f"{where}.{name}: a list of ISO dates is required")
    days = set()
    for index, value in enumerate(values):
        label = f"{where}.{name}[{index}] {value!r}"
        try:
            if not (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
                raise ValueError(value)
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{label}: not an ISO date (YYYY-MM-DD)") from None
        if day.year != year:
            raise ValueError(f"{label}: not in {year}")
        if (day.weekday() >= 5) != weekend:
            kind = "a Saturday or Sunday (make-up working day)" if weekend else "Monday to Friday"
            raise ValueError(f"{label}: must be {kind}")
        days.add(day)
    return frozenset(days)
