"""Publicity's rules: a case waits for the preliminary opinion it will publicise (PU-1)."""
from __future__ import annotations

from hqcore.casefile import CaseRecord


def register_case(submitted: dict) -> CaseRecord:
    """Tekun cases always go to democratic deliberation after publicity (PU-2)."""
    return CaseRecord.from_submitted(submitted, "awaiting_preliminary_opinion",
                                     community=submitted["community"],
                                     deliberation_required=submitted["program"] == "tekun")
