"""Supervision's rules: the district's register of cases and of breached deadlines (SU)."""
from __future__ import annotations

from hqcore.casefile import CaseRecord


def register_case(accepted: dict) -> CaseRecord:
    """Every case enters the district's register; near relatives of staff are flagged (SU-3)."""
    return CaseRecord.from_accepted(accepted, "in_procedure",
                                     near_relative=accepted["near_relative"],
                                     household_size=len(accepted["members"]))


def breach_entry(breached: dict, recorded_at) -> dict:
    return {key: breached[key] for key in
            ("deadline_id", "service", "rule_id", "case_id", "street_code", "due_at",
             "provisional")} | {"recorded_at": recorded_at}
