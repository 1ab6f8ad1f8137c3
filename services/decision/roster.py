"""DE-3: each street's management department files the roster of newly confirmed recipients
and the monthly report with the district before the 25th of the month.

A case approved before the 25th goes into that month's roster; one approved on or after the
25th into the next month's, because that month's roster is already due. The first approval of
a roster month opens the street's DE-3 deadline for it; filing meets it.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from hqcore.clock import CHINA_TZ, local_date
from hqcore.deadlines import Deadline, Unit

FILING_DAY = 25  # DE-3: filed before the 25th


def roster_month(decided_at: datetime) -> str:
    day = local_date(decided_at)
    if day.day >= FILING_DAY:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return f"{day.year}-{day.month:02d}"


def filing_due_at(month: str) -> datetime:
    """00:00 of the 25th in Tianjin: filing must happen before it."""
    year, number = (int(part) for part in month.split("-"))
    return datetime.combine(date(year, number, FILING_DAY), time(), CHINA_TZ) \
        .astimezone(timezone.utc)


def roster_key(street_code: str, month: str) -> str:
    """The deadline's subject: the street's roster of the month, not a single case."""
    return f"roster:{street_code}:{month}"


def filing_deadline(street_code: str, month: str, opened_at: datetime) -> Deadline:
    due_at = filing_due_at(month)
    return Deadline(id=None, case_id=roster_key(street_code, month), street_code=street_code,
                    rule_id="DE-3", unit=Unit.CALENDAR_DAYS,
                    amount=max(1, (local_date(due_at) - local_date(opened_at)).days),
                    started_at=opened_at, due_at=due_at)


def monthly_report(street_code: str, month: str, recipients: list[dict]) -> dict:
    """The roster (one row per newly confirmed household) and the month's totals per program."""
    rows = sorted((r for r in recipients if roster_month(r["decided_at"]) == month),
                  key=lambda r: r["case_no"])
    programs: dict[str, dict] = {}
    for row in rows:
        total = programs.setdefault(row["program"], {"households": 0, "monthly_amount_fen": 0})
        total["households"] += 1
        total["monthly_amount_fen"] += row["monthly_amount_fen"]
    return {"street_code": street_code, "month": month, "rows": rows, "programs": programs,
            "households": len(rows),
            "monthly_amount_fen": sum(r["monthly_amount_fen"] for r in rows)}
