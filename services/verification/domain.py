"""Verification's rules (VE-1): the household investigation's deadline from acceptance."""
from __future__ import annotations

from hqcore.casefile import CaseRecord
from hqcore.deadlines import Deadline, Unit

INVESTIGATION_WORKING_DAYS = {"dibao": 3, "low_income": 3, "tekun": 15}  # VE-1


def open_verification(submitted: dict, calendar) -> tuple[CaseRecord, Deadline]:
    """An accepted case awaits its household investigation, due within 3 WD (15 for tekun)."""
    record = CaseRecord.from_submitted(submitted, "awaiting_investigation",
                                       household_size=len(submitted["members"]))
    deadline = Deadline.open(
        submitted["case_id"], submitted["street_code"], "VE-1",
        INVESTIGATION_WORKING_DAYS[submitted["program"]], Unit.WORKING_DAYS,
        submitted["accepted_at"], calendar)
    return record, deadline
