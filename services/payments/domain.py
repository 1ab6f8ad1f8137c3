"""Payments' rules, pure: a decision confirmed in month M is paid from month M+1, in full, to
the recipient's or the entrusted caregiver's account (PA-1). No nameko, no SQLAlchemy.

States: ``awaiting_decision`` (opened by ``application.accepted``) → ``scheduled`` (approved)
or ``not_payable`` (refused, not confirmed), on ``decision.made``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from hqcore.aggregate import CaseAggregate
from hqcore.clock import local_date
from hqcore.effects import Effects, progress

AWAITING_DECISION = "awaiting_decision"
SCHEDULED = "scheduled"
NOT_PAYABLE = "not_payable"  # refused, not confirmed


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
    payee_account: dict[str, str] | None

    def view(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class PaymentCase(CaseAggregate):
    """What payments holds about one case: its community, the decision's outcome and, for an
    approval, the monthly schedule."""

    community: str
    outcome: str | None = None
    schedule: Schedule | None = None


def register_case(accepted: dict[str, Any]) -> PaymentCase:
    """An accepted application waits for its decision."""
    return PaymentCase(
        case_id=accepted["case_id"],
        case_no=accepted["case_no"],
        program=accepted["program"],
        street_code=accepted["street_code"],
        status=AWAITING_DECISION,
        since=accepted["accepted_at"],
        community=accepted["community"],
    )


def first_month(decided_at: datetime) -> str:
    """PA-1: the month after the China-local month of the decision, as YYYY-MM."""
    day = local_date(decided_at)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return f"{year:04d}-{month:02d}"


def schedule(decision: dict[str, Any]) -> Schedule | None:
    """PA-1: an approval schedules the full monthly amount from M+1; other outcomes nothing."""
    if decision["outcome"] != "approved":
        return None
    return Schedule(
        case_id=decision["case_id"],
        case_no=decision["case_no"],
        program=decision["program"],
        street_code=decision["street_code"],
        community=decision["community"],
        first_month=first_month(decision["decided_at"]),
        monthly_amount_fen=decision["monthly_amount_fen"],
        payee_kind=decision["payee_kind"],
        payee_name=decision["payee_name"],
        payee_account=decision["payee_account"],
    )


def decide(case: PaymentCase, decision: dict[str, Any], now: datetime) -> Effects:
    """PA-1: the decision made on the case: an approval is scheduled from M+1 and announced
    (``payment.scheduled``); any other outcome pays nothing. A case already decided stays as
    it is (a repeated decision changes nothing)."""
    if case.status != AWAITING_DECISION:
        return Effects.nothing()
    plan = schedule(decision)
    case.outcome, case.schedule = decision["outcome"], plan
    case.status, case.since = (SCHEDULED if plan else NOT_PAYABLE), now
    if plan is None:
        return progress(f"no_payment:{decision['outcome']}", "PA-1")
    return progress("payment_scheduled", "PA-1", note=f"from {plan.first_month}").emit(
        "payment.scheduled", scheduled_event(plan)
    )


def scheduled_event(plan: Schedule) -> dict[str, Any]:
    """``payment.scheduled``: no account number leaves payments."""
    return {
        "case_id": plan.case_id,
        "case_no": plan.case_no,
        "program": plan.program,
        "street_code": plan.street_code,
        "first_month": plan.first_month,
        "monthly_amount_fen": plan.monthly_amount_fen,
        "payee_kind": plan.payee_kind,
        "payee_name": plan.payee_name,
    }


def details(case: PaymentCase) -> dict[str, Any]:
    """The ``details`` of payments' case view."""
    return {
        "community": case.community,
        "outcome": case.outcome,
        "schedule": case.schedule.view() if case.schedule else None,
    }


def payee_street(requested: str | None, actor_street: str | None, is_district: bool) -> str | None:
    """Whose payments a list shows: the district every street or the one it names; street
    staff their own street (naming another is refused by the authorisation)."""
    return requested if is_district else (requested or actor_street)


def month_total(plans: list[Schedule]) -> int:
    return sum(plan.monthly_amount_fen for plan in plans)
