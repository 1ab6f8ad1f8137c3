"""Deadline rules shared by every service (pure: no nameko, no SQLAlchemy).

Units follow the rulebook: WD = working day, D = calendar day, H = hours. "Within N WD (or D) of
X" ends at the end of the N-th working (or calendar) day after the China-local day of X, the day of
X itself not counting [interpretation in rules.md]. ``due_at`` is the first instant of breach:
00:00 China time of the day after the last day, stored in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum

from hqcore.calendar import WorkingCalendar
from hqcore.clock import CHINA_TZ, local_date


class Unit(str, Enum):
    WORKING_DAYS = "WD"
    CALENDAR_DAYS = "D"
    HOURS = "H"


class DeadlineStatus(str, Enum):
    OPEN = "open"
    MET = "met"
    BREACHED = "breached"


@dataclass(frozen=True)
class Due:
    """When a deadline falls due."""

    due_at: datetime
    due_date: date | None
    provisional: bool
    unknown_years: frozenset[int]


def _end_of_local_day(day: date) -> datetime:
    """00:00 China time of the day after ``day``, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ).astimezone(timezone.utc)


def compute_due(start: datetime, amount: int, unit: Unit, calendar: WorkingCalendar) -> Due:
    """The due instant of a deadline of ``amount`` ``unit`` started at ``start``."""
    if amount < 1:
        raise ValueError(f"deadline amount must be >= 1, got {amount}")
    unit = Unit(unit)
    start_day = local_date(start)
    if unit is Unit.HOURS:
        due_at = start.astimezone(timezone.utc) + timedelta(hours=amount)
        return Due(due_at, None, False, frozenset())
    if unit is Unit.CALENDAR_DAYS:
        last = start_day + timedelta(days=amount)
        return Due(_end_of_local_day(last), last, False, frozenset())
    answer = calendar.add_working_days(start_day, amount)
    return Due(_end_of_local_day(answer.day), answer.day, answer.provisional, answer.unknown_years)


@dataclass
class Deadline:
    """A running deadline of a case under one rule (e.g. VE-1)."""

    id: str | None
    case_id: str
    street_code: str
    rule_id: str
    unit: Unit
    amount: int
    started_at: datetime
    due_at: datetime
    status: DeadlineStatus = DeadlineStatus.OPEN
    provisional: bool = False
    met_at: datetime | None = None
    met_late: bool = False

    @classmethod
    def open(
        cls,
        case_id: str,
        street_code: str,
        rule_id: str,
        amount: int,
        unit: Unit,
        started_at: datetime,
        calendar: WorkingCalendar,
        id: str | None = None,
    ) -> Deadline:
        """Start a deadline, computing its due instant with ``calendar``."""
        due = compute_due(started_at, amount, unit, calendar)
        return cls(
            id=id,
            case_id=case_id,
            street_code=street_code,
            rule_id=rule_id,
            unit=Unit(unit),
            amount=amount,
            started_at=started_at,
            due_at=due.due_at,
            provisional=due.provisional,
        )

    @property
    def due_date(self) -> date | None:
        """The China-local last day for WD and D deadlines (None for H)."""
        if Unit(self.unit) is Unit.HOURS:
            return None
        return local_date(self.due_at - timedelta(days=1))

    def is_overdue(self, now: datetime) -> bool:
        """Open and at or past the due instant."""
        return self.status == DeadlineStatus.OPEN and now >= self.due_at

    def meet(self, now: datetime) -> None:
        """The required action happened at ``now`` (late still counts as met, with ``met_late``)."""
        self._require_open("meet")
        self.status = DeadlineStatus.MET
        self.met_at = now
        self.met_late = now >= self.due_at

    def breach(self) -> None:
        """The due instant passed without the action."""
        self._require_open("breach")
        self.status = DeadlineStatus.BREACHED

    def _require_open(self, action: str) -> None:
        if self.status != DeadlineStatus.OPEN:
            raise ValueError(
                f"cannot {action} deadline {self.id or '(new)'} ({self.rule_id}, case "
                f"{self.case_id}): it is {DeadlineStatus(self.status).value}, not open"
            )
