"""Payments' rules, pure: a decision confirmed in month M is paid from month M+1, in full, to
the recipient's or the entrusted caregiver's account (PA-1)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from hqcore.casefile import CaseRecord
from hqcore.clock import local_date

AWAITING_DECISION = "awaiting_decision"
SCHEDULED = "scheduled"
NOT_PAYABLE = "not_payable"  # refused, not confirmed


def register_case(accepted: dict) -> CaseRecord:
    return CaseRecord.from_accepted(accepted, AWAITING_DECISION, community=accepted["community"],
                                    schedule=None, timeline=[])


def first_month(decided_at: datetime) -> str:
    """PA-1: the month after the China-local month of the decision, as YYYY-MM."""
    day = local_date(decided_at)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return f"{year:04d}-{month:02d}"


@dataclass(frozen=True)
class Schedule:
    """The monthly payment of one approved case."""
    case_id: str
    case_no: str
    program: str
    street_code: str
    community: str
    first_month: str
    monthly_amount_fen: int
    payee_kind: str
    payee_name: str
    payee_account: dict | None

    def view(self) -> dict:
        return asdict(self)


def schedule(decision: dict) -> Schedule | None:
    """PA-1: an approval schedules the full monthly amount from M+1; other outcomes nothing."""
    if decision["outcome"] != "approved":
        return None
    return Schedule(
        case_id=decision["case_id"], case_no=decision["case_no"], program=decision["program"],
        street_code=decision["street_code"], community=decision["community"],
        first_month=first_month(decision["decided_at"]),
        monthly_amount_fen=decision["monthly_amount_fen"], payee_kind=decision["payee_kind"],
        payee_name=decision["payee_name"], payee_account=decision["payee_account"])


def apply_decision(record: CaseRecord, decision: dict, plan: Schedule | None,
                   now: datetime) -> None:
    record.status, record.since = (SCHEDULED if plan else NOT_PAYABLE), now
    record.details["schedule"] = plan.view() if plan else None
    record.details["outcome"] = decision["outcome"]


def record_from_decision(decision: dict) -> CaseRecord:
    """A case first heard of through its decision (the acceptance may still be queued)."""
    return CaseRecord(decision["case_id"], decision["case_no"], decision["program"],
                      decision["street_code"], AWAITING_DECISION, decision["decided_at"],
                      {"community": decision["community"], "schedule": None, "timeline": []})


def scheduled_event(plan: Schedule) -> dict:
    return {"case_id": plan.case_id, "case_no": plan.case_no, "program": plan.program,
            "street_code": plan.street_code, "first_month": plan.first_month,
            "monthly_amount_fen": plan.monthly_amount_fen, "payee_kind": plan.payee_kind,
            "payee_name": plan.payee_name}


def timeline_entry(now: datetime, step: str, action: str, note: str | None) -> dict:
    return {"at": now.isoformat(), "service": "payments", "step": step, "action": action,
            "actor_user": None, "actor_role": None, "rule_id": "PA-1", "note": note,
            "document_ids": []}


def month_total(plans: list[Schedule]) -> int:
    return sum(plan.monthly_amount_fen for plan in plans)
