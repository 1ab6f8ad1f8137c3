"""Payments' events and its read (PA-1), one function each, over the unit of work.

Each is declared with the step skeleton of ``hqcore.steps``: events are applied once per
event, about a case loaded locked and saved with its version check; the read is authorised
here. The rules themselves are in ``domain``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from hqcore.authz import CLERK, DEPARTMENT_HEAD, DISTRICT_OFFICER, REVIEWER, STREET_LEADER
from hqcore.effects import Effects
from hqcore.steps import CaseStore, Context, Opened, case_view, on_case_event, on_event, step
from services.payments import domain
from services.payments.domain import PaymentCase, Schedule

PAYMENT_VIEWERS = (CLERK, REVIEWER, DEPARTMENT_HEAD, STREET_LEADER, DISTRICT_OFFICER)


class Schedules(Protocol):
    def add(self, plan: Schedule, now: datetime) -> None: ...

    def due(self, month: str, street_code: str | None) -> list[Schedule]: ...


class PaymentsUnitOfWork(Protocol):
    """What payments' handlers use of a unit of work (real or fake)."""

    cases: CaseStore[PaymentCase]
    schedules: Schedules
    deadlines: Any


Ctx = Context[PaymentCase]


def _uow(ctx: Ctx) -> PaymentsUnitOfWork:
    uow: PaymentsUnitOfWork = ctx.uow
    return uow


def view(case: PaymentCase, ctx: Ctx) -> dict[str, Any]:
    """``payments.get_case``: the case as payments holds it, with its schedule."""
    return case_view(case, ctx, domain.details(case))


# -- events -----------------------------------------------------------------------------------


@on_event("application.accepted")
def on_application_accepted(event: Any, ctx: Ctx) -> Opened[PaymentCase] | None:
    """An accepted application waits here for its decision (once per case)."""
    if _uow(ctx).cases.get(event.payload["case_id"]) is not None:
        return None  # accepted once already
    return Opened(domain.register_case(event.payload), Effects())


@on_case_event("decision.made")
def on_decision_made(event: Any, case: PaymentCase, ctx: Ctx) -> Effects:
    """PA-1: an approval in month M is paid from M+1, in full, to the payee's account;
    announced as ``payment.scheduled``. Before its acceptance it is retried (the kit raises
    ``CaseNotYetKnown``)."""
    effects = domain.decide(case, event.payload, ctx.now)
    if effects.save and case.schedule is not None:
        _uow(ctx).schedules.add(case.schedule, ctx.now)
    return effects


# -- reads ------------------------------------------------------------------------------------


@step("payments.list_payments", roles=PAYMENT_VIEWERS)
def list_payments(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """PA-1: the payments due in ``month``; street staff see their street (another is 403
    ``wrong_street``), the district every street or the one it filters."""
    actor = ctx.require_actor()
    street = domain.payee_street(request["street_code"], actor.street_code, actor.is_district)
    ctx.authorize(PAYMENT_VIEWERS, street, "list_payments")
    plans = _uow(ctx).schedules.due(request["month"], street)
    return {
        "month": request["month"],
        "street_code": street,
        "payments": [plan.view() for plan in plans],
        "total_fen": domain.month_total(plans),
    }
