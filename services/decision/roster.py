"""DE-3: each street's management department files the roster of newly confirmed recipients
and the monthly report with the district before the 25th of the month.

A case approved before the 25th goes into that month's roster; one approved on or after the
25th into the next month's, because that month's roster is already due. The first approval of
a roster month opens the street's DE-3 deadline for it; filing meets it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

from hqcore.clock import CHINA_TZ, local_date
from hqcore.deadlines import Deadline, Unit
from hqcore.errors import Conflict

FILING_DAY = 25  # DE-3: filed before the 25th


def roster_month(decided_at: datetime) -> str:
    day = local_date(decided_at)
    if day.day >= FILING_DAY:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return f"{day.year}-{day.month:02d}"


def filing_due_at(month: str) -> datetime:
    """00:00 of the 25th in Tianjin: filing must happen before it."""
    year, number = (int(part) for part in month.split("-"))
    return datetime.combine(date(year, number, FILING_DAY), time(), CHINA_TZ).astimezone(
        timezone.utc
    )


def roster_key(street_code: str, month: str) -> str:
    """The deadline's subject: the street's roster of the month, not a single case."""
    return f"roster:{street_code}:{month}"


def filing_deadline(street_code: str, month: str, opened_at: datetime) -> Deadline:
    due_at = filing_due_at(month)
    return Deadline(
        id=None,
        case_id=roster_key(street_code, month),
        street_code=street_code,
        rule_id="DE-3",
        unit=Unit.CALENDAR_DAYS,
        amount=max(1, (local_date(due_at) - local_date(opened_at)).days),
        started_at=opened_at,
        due_at=due_at,
    )


def deadline_on_approval(
    street_code: str, approved_at: datetime, deadline_held: bool, filed: bool
) -> Deadline | None:
    """The first approval of a roster month opens the street's DE-3 filing deadline for it:
    none when the month already has one (``deadline_held``) or its report is ``filed``."""
    if deadline_held or filed:
        return None
    return filing_deadline(street_code, roster_month(approved_at), approved_at)


def monthly_report(
    street_code: str, month: str, recipients: list[dict[str, Any]]
) -> dict[str, Any]:
    """The roster (one row per newly confirmed household) and the month's totals per program."""
    rows = sorted(
        (r for r in recipients if roster_month(r["decided_at"]) == month),
        key=lambda r: r["case_no"],
    )
    programs: dict[str, dict[str, int]] = {}
    for row in rows:
        total = programs.setdefault(row["program"], {"households": 0, "monthly_amount_fen": 0})
        total["households"] += 1
        total["monthly_amount_fen"] += row["monthly_amount_fen"]
    return {
        "street_code": street_code,
        "month": month,
        "rows": rows,
        "programs": programs,
        "households": len(rows),
        "monthly_amount_fen": sum(r["monthly_amount_fen"] for r in rows),
    }


def check_filing(street_code: str, month: str, now: datetime, filed: bool) -> None:
    """A month's report is filed once (409 ``already_filed``), and not before its roster is
    open (409 ``roster_not_open``: the month is later than the roster approvals go into now)."""
    if filed:
        raise Conflict(
            f"the {month} report of {street_code} is already filed",
            field="month",
            code="already_filed",
        )
    if month > roster_month(now):
        raise Conflict(
            f"the roster of {month} is not open yet", field="month", code="roster_not_open"
        )


def filing(
    report: dict[str, Any], filed_at: datetime, filed_by: str, document_id: str
) -> dict[str, Any]:
    """What the district's filing records: when and by whom, on time or not (DE-3), totals."""
    return {
        "street_code": report["street_code"],
        "month": report["month"],
        "filed_at": filed_at,
        "filed_by": filed_by,
        "on_time": filed_at < filing_due_at(report["month"]),
        "households": report["households"],
        "monthly_amount_fen": report["monthly_amount_fen"],
        "document_id": document_id,
    }
