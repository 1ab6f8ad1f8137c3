"""Decision's steps, reads and events (DE-1 to DE-7, ORG-1, ORG-7, VE-3, VE-5), one function
each, over the unit of work.

Each is declared with the step skeleton of ``hqcore.steps``, which validates the request,
loads the acting user and the locked case, checks role, street and state, saves the case and
applies the effects the domain returns. The rules themselves are in ``domain`` and ``roster``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

from hqcore.authz import CLERK, DEPARTMENT_HEAD, DISTRICT_OFFICER, REVIEWER
from hqcore.clock import local_date
from hqcore.deadlines import Deadline
from hqcore.effects import Effects
from hqcore.errors import Conflict, NotFound
from hqcore.policy import PolicyRate
from hqcore.steps import (
    CaseStore,
    Context,
    Opened,
    case_step,
    case_view,
    on_case_event,
    on_event,
    step,
)
from services.decision import domain, notices, roster
from services.decision.domain import DecisionCase


class DecisionCaseStore(CaseStore[DecisionCase], Protocol):
    def approved(self, street_code: str) -> list[DecisionCase]: ...


class Streets(Protocol):
    def delegated_from(self, street_code: str) -> date | None: ...

    def set_delegated_from(self, street_code: str, delegated: date | None) -> bool: ...


class Policy(Protocol):
    def rates_in_force(self, keys: Iterable[str], on: date) -> dict[str, PolicyRate]: ...


class Reports(Protocol):
    def get(self, street_code: str, month: str) -> dict[str, Any] | None: ...

    def add(self, report: dict[str, Any]) -> None: ...


class Deadlines(Protocol):
    def for_case(self, case_id: str) -> list[Deadline]: ...

    def open_for_case(self, case_id: str) -> list[Deadline]: ...

    def meet(self, case_id: str, rule_id: str, now: Any) -> list[Deadline]: ...

    def extend(self, deadline: Deadline) -> bool: ...


class DecisionUnitOfWork(Protocol):
    """What decision's handlers use of a unit of work (real or fake)."""

    cases: DecisionCaseStore
    streets: Streets
    policy: Policy
    reports: Reports
    documents: Any
    deadlines: Deadlines


Ctx = Context[DecisionCase]


def _uow(ctx: Ctx) -> DecisionUnitOfWork:
    uow: DecisionUnitOfWork = ctx.uow
    return uow


def view(case: DecisionCase, ctx: Ctx) -> dict[str, Any]:
    """``decision.get_case``: the case as decision holds it, with its deadlines."""
    return case_view(case, ctx, domain.details(case))


# -- events -----------------------------------------------------------------------------------


@on_event("application.accepted")
def on_application_accepted(event: Any, ctx: Ctx) -> Opened[DecisionCase]:
    """ORG-1: the case keeps the route in force on its acceptance day; DE-4 starts."""
    delegated_from = _uow(ctx).streets.delegated_from(event.payload["street_code"])
    case, effects = domain.open_case(event.payload, delegated_from, ctx.calendar)
    return Opened(case, effects)


@on_case_event("verification.completed")
def on_verification_completed(event: Any, case: DecisionCase, ctx: Ctx) -> Effects:
    """DE-5: the figures the amount will be computed from."""
    return domain.keep_verification(case, event.payload)


@on_case_event("publicity.concluded")
def on_publicity_concluded(event: Any, case: DecisionCase, ctx: Ctx) -> Effects:
    """DE-1: the file reaches the management department (review within 2 WD)."""
    return domain.receive_publicity(case, event.payload, ctx.calendar)


@on_case_event("verification.non_confirmation_proposed")
def on_non_confirmation_proposed(event: Any, case: DecisionCase, ctx: Ctx) -> Effects:
    """VE-3: the non-confirmation is decided and served within 3 WD of the proposal."""
    return domain.receive_non_confirmation(case, event.payload, ctx.calendar)


@on_case_event("verification.withdrawn")
def on_verification_withdrawn(event: Any, case: DecisionCase, ctx: Ctx) -> Effects:
    """VE-5: no decision is needed; every open deadline is met and the case closes."""
    return domain.withdraw(case, event.payload)


# -- case steps ---------------------------------------------------------------------------------


@case_step("decision.record_review", roles=(REVIEWER,), states=(domain.MANAGEMENT_REVIEW,))
def record_review(request: dict[str, Any], case: DecisionCase, ctx: Ctx) -> Effects:
    """DE-1: the management department's review opinion (VE-3: non_confirm)."""
    return domain.review(
        case, request["opinion"], request["reasons"], request["note"], ctx.require_actor(), ctx.now
    )


@case_step("decision.record_head_consent", roles=(DEPARTMENT_HEAD,), states=(domain.HEAD_CONSENT,))
def record_head_consent(request: dict[str, Any], case: DecisionCase, ctx: Ctx) -> Effects:
    """DE-1: the department head consents; the leader decides within 3 WD."""
    return domain.consent(case, request["note"], ctx.require_actor(), ctx.now, ctx.calendar)


@case_step("decision.decide", roles=None)
def decide(request: dict[str, Any], case: DecisionCase, ctx: Ctx) -> Effects:
    """DE-1, DE-5 to DE-7, VE-3: the decision, by the street leader in charge or, on the
    pre-reform route, the district (ORG-1); its letters are issued (ORG-7); the first
    approval of a roster month opens the street's DE-3 filing deadline."""
    ctx.authorize(
        domain.decider_roles(case.deciding_authority), case.street_code, "decide"
    )  # ORG-1
    uow, day = _uow(ctx), local_date(ctx.now)
    ids = [ctx.new_document_id() for _ in range(domain.letter_count(request["outcome"]))]
    effects = domain.decide(
        case,
        request["outcome"],
        request["reasons"],
        request.get("care_arrangement"),
        lambda keys: uow.policy.rates_in_force(keys, day),
        ctx.require_actor(),
        ctx.now,
        ids,
        ctx.calendar,
    )
    if case.status == domain.APPROVED:  # DE-3
        month = roster.roster_month(ctx.now)
        key = roster.roster_key(case.street_code, month)
        effects.open(
            roster.deadline_on_approval(
                case.street_code,
                ctx.now,
                deadline_held=bool(uow.deadlines.for_case(key)),
                filed=uow.reports.get(case.street_code, month) is not None,
            )
        )
    return effects


@case_step("decision.extend", roles=(REVIEWER,), states=domain.OPEN_STATES)
def extend(request: dict[str, Any], case: DecisionCase, ctx: Ctx) -> Effects:
    """DE-4: the 30 WD limit becomes 45 WD, once, with the reason recorded."""
    deadlines = _uow(ctx).deadlines
    de4 = next((d for d in deadlines.open_for_case(case.case_id) if d.rule_id == "DE-4"), None)
    extended, effects = domain.extend(
        case, request["reason"], ctx.require_actor(), ctx.now, de4, ctx.calendar
    )
    if not deadlines.extend(extended):  # announced again as open until its new due time
        raise Conflict("the DE-4 limit is no longer open", field="status", code="deadline_not_open")
    return effects


@case_step("decision.record_service", roles=(CLERK,), states=domain.DECIDED_STATES)
def record_service(request: dict[str, Any], case: DecisionCase, ctx: Ctx) -> Effects:
    """ORG-7: a decision document was served; once all are, DE-5, DE-7 or VE-3 is met."""
    effects = domain.serve(case, request["document_id"], request["served_at"], ctx.now)
    _uow(ctx).documents.mark_served(request["document_id"], request["served_at"])
    return effects


# -- steps and reads not on one case ------------------------------------------------------------


@step("decision.set_delegation", roles=(DISTRICT_OFFICER,))
def set_delegation(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """ORG-1: the district sets the date from which a street confirms its own cases; cases
    keep the route in force on their acceptance day."""
    street_code = request["street_code"]
    if not _uow(ctx).streets.set_delegated_from(street_code, request["delegated_from"]):
        raise NotFound(f"no street {street_code}", field="street_code", code="unknown_street")
    return request


@step("decision.list_recipients")
def list_recipients(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """DE-2: the approved households of a street (or one community) for announcement; street
    staff see their own street only."""
    ctx.may_view(request["street_code"], "list of recipients")
    community = request["community"]
    recipients = [
        domain.announced(case)
        for case in _uow(ctx).cases.approved(request["street_code"])
        if community in (None, case.community)
    ]
    return {**request, "recipients": recipients}


@step("decision.file_monthly_report", roles=(REVIEWER, DEPARTMENT_HEAD))
def file_monthly_report(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """DE-3: the management department files the month's roster of newly confirmed
    recipients and the monthly report with the district, before the 25th."""
    street, month = request["street_code"], request["month"]
    ctx.authorize((REVIEWER, DEPARTMENT_HEAD), street, "file_monthly_report")
    uow = _uow(ctx)
    roster.check_filing(street, month, ctx.now, uow.reports.get(street, month) is not None)
    report = roster.monthly_report(
        street, month, [domain.announced(c) for c in uow.cases.approved(street)]
    )
    key = roster.roster_key(street, month)
    document_id = ctx.issue(notices.monthly_report(report, ctx.now), key)
    filed = roster.filing(report, ctx.now, ctx.require_actor().user_id, document_id)
    uow.reports.add(filed)
    uow.deadlines.meet(key, "DE-3", ctx.now)
    return filed
