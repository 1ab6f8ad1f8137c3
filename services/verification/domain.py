"""Verification's rules (VE-1): the household investigation's deadline from acceptance."""
from __future__ import annotations

from hqcore.casefile import CaseRecord
from hqcore.deadlines import Deadline, Unit

INVESTIGATION_WORKING_DAYS = {"dibao": 3, "low_income": 3, "tekun": 15}  # VE-1


def open_verification(accepted: dict, calendar) -> tuple[CaseRecord, Deadline]:
    """An accepted case awaits its household investigation, due within 3 WD (15 for tekun)."""
    record = CaseRecord.from_accepted(accepted, "awaiting_investigation",
                                       household_size=len(accepted["members"]))
    deadline = Deadline.open(
        accepted["case_id"], accepted["street_code"], "VE-1",
        INVESTIGATION_WORKING_DAYS[accepted["program"]], Unit.WORKING_DAYS,
        accepted["accepted_at"], calendar)
    return record, deadline
