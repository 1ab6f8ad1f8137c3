"""Decision's rules: who decides (ORG-1) and by when (DE-4)."""
from __future__ import annotations

from datetime import date

from hqcore.casefile import CaseRecord
from hqcore.clock import local_date
from hqcore.deadlines import Deadline, Unit

CONFIRMATION_WORKING_DAYS = 30  # DE-4: dibao and low-income, from acceptance
PROGRAMS_WITH_CONFIRMATION_LIMIT = ("dibao", "low_income")


def deciding_authority(accepted_on: date, delegated_from: date | None) -> str:
    """ORG-1: a case keeps the route in force on its acceptance day."""
    if delegated_from is not None and accepted_on >= delegated_from:
        return "street"
    return "district"


def open_decision(accepted: dict, delegated_from: date | None,
                  calendar) -> tuple[CaseRecord, list[Deadline]]:
    accepted_at = accepted["accepted_at"]
    authority = deciding_authority(local_date(accepted_at), delegated_from)
    record = CaseRecord.from_accepted(accepted, "awaiting_review", deciding_authority=authority)
    deadlines = []
    if accepted["program"] in PROGRAMS_WITH_CONFIRMATION_LIMIT:
        deadlines.append(Deadline.open(  # DE-4
            accepted["case_id"], accepted["street_code"], "DE-4", CONFIRMATION_WORKING_DAYS,
            Unit.WORKING_DAYS, accepted_at, calendar))
    return record, deadlines
