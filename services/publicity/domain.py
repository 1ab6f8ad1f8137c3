"""Publicity's rules: a case waits for the preliminary opinion it will publicise (PU-1)."""
from __future__ import annotations

from hqcore.casefile import CaseRecord


def register_case(accepted: dict) -> CaseRecord:
    """Tekun cases always go to democratic deliberation after publicity (PU-2)."""
    return CaseRecord.from_accepted(accepted, "awaiting_preliminary_opinion",
                                     community=accepted["community"],
                                     deliberation_required=accepted["program"] == "tekun")
