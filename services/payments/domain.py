"""Payments' rules: nothing is scheduled before a confirmation decision (PA-1)."""
from __future__ import annotations

from hqcore.casefile import CaseRecord


def register_case(accepted: dict) -> CaseRecord:
    return CaseRecord.from_accepted(accepted, "awaiting_decision", scheduled_payments=[])
