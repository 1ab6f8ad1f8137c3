"""Publicity's steps and events (PU-1 to PU-7), one function each, over the unit of work.

Each is declared with the step skeleton of ``hqcore.steps``, which validates the request,
loads the acting user and the locked case, checks role, street and state, saves the case and
applies the effects the domain returns. The rules themselves are in ``domain``.
"""

from __future__ import annotations

from typing import Any, Protocol

from hqcore.authz import CLERK, COMMUNITY_WORKER, DISTRICT_OFFICER, STREET_LEADER
from hqcore.effects import Effects
from hqcore.errors import NotFound
from hqcore.steps import (
    CaseStore,
    Context,
    Opened,
    Work,
    case_step,
    case_view,
    on_case_event,
    on_event,
    periodic,
    step,
)
from services.publicity import domain
from services.publicity.domain import PublicityCase


class Periods(Protocol):
    def start(self, case_id: str, ends_at: Any) -> None: ...

    def stop(self, case_id: str) -> None: ...

    def ended(self, now: Any, limit: int = 200) -> list[str]: ...


class Bodies(Protocol):
    def get(self, street_code: str) -> dict[str, Any] | None: ...

    def replace(
        self, street_code: str, members: list[dict[str, Any]], now: Any, user_id: str
    ) -> None: ...


class PublicityUnitOfWork(Protocol):
    """What publicity's handlers use of a unit of work (real or fake)."""

    cases: CaseStore[PublicityCase]
    periods: Periods
    bodies: Bodies
    documents: Any
    deadlines: Any


Ctx = Context[PublicityCase]


def _uow(ctx: Ctx) -> PublicityUnitOfWork:
    uow: PublicityUnitOfWork = ctx.uow
    return uow


def view(case: PublicityCase, ctx: Ctx) -> dict[str, Any]:
    """``publicity.get_case``: the case as publicity holds it, its documents and deadlines."""
    return case_view(case, ctx, domain.details(case), documents=True)


def _body(ctx: Ctx, street_code: str) -> dict[str, Any]:
    body = _uow(ctx).bodies.get(street_code)
    if body is None:
        raise NotFound(
            f"street {street_code} has no deliberation body (PU-5)",
            field="street_code",
            code="no_deliberation_body",
        )
    return body


# -- events -----------------------------------------------------------------------------------


@on_event("application.accepted")
def on_application_accepted(event: Any, ctx: Ctx) -> Opened[PublicityCase]:
    """PU-2: every accepted case will be publicised; tekun always goes to deliberation."""
    return Opened(domain.register_case(event.payload), Effects())


@on_case_event("verification.completed")
def on_verification_completed(event: Any, case: PublicityCase, ctx: Ctx) -> Effects:
    """PU-1: the family was found eligible; the handling agency forms its opinion."""
    return domain.verification_completed(case, event.payload)


@on_case_event("decision.made")
def on_decision_made(event: Any, case: PublicityCase, ctx: Ctx) -> Effects:
    return _close(case, ctx, f"decided:{event.payload['outcome']}")


@on_case_event("verification.withdrawn")
def on_verification_withdrawn(event: Any, case: PublicityCase, ctx: Ctx) -> Effects:
    return _close(case, ctx, "withdrawn")  # VE-5


def _close(case: PublicityCase, ctx: Ctx, reason: str) -> Effects:
    effects = domain.close(case, reason, ctx.now)
    if effects.save:
        _uow(ctx).periods.stop(case.case_id)
    return effects


# -- steps ------------------------------------------------------------------------------------


@case_step(
    "publicity.record_preliminary_opinion", roles=(CLERK,), states=(domain.AWAITING_OPINION,)
)
def record_preliminary_opinion(request: dict[str, Any], case: PublicityCase, ctx: Ctx) -> Effects:
    """PU-1: publicise the preliminary opinion for 5 D (PU-4: after a major dispute)."""
    effects = domain.record_preliminary_opinion(
        case, request["opinion"], request["summary"], ctx.now, ctx.calendar, ctx.new_document_id()
    )
    _uow(ctx).periods.start(case.case_id, domain.ends_at(case.current_round))
    return effects


@case_step(
    "publicity.record_objection", roles=(COMMUNITY_WORKER, CLERK), states=(domain.PUBLICITY,)
)
def record_objection(request: dict[str, Any], case: PublicityCase, ctx: Ctx) -> Effects:
    """PU-3: an objection during publicity sends the case back to investigation."""
    effects = domain.record_objection(
        case, request["objector"], request["detail"], ctx.now, ctx.require_actor().user_id
    )
    _uow(ctx).periods.stop(case.case_id)
    return effects


@case_step(
    "publicity.record_major_dispute", roles=(CLERK, DISTRICT_OFFICER), states=(domain.PUBLICITY,)
)
def record_major_dispute(request: dict[str, Any], case: PublicityCase, ctx: Ctx) -> Effects:
    """PU-4: a major dispute: investigate again, new opinion within 10 WD."""
    effects = domain.record_major_dispute(
        case,
        request["source"],
        request["detail"],
        ctx.now,
        ctx.require_actor().user_id,
        ctx.calendar,
    )
    _uow(ctx).periods.stop(case.case_id)
    return effects


@case_step("publicity.record_deliberation", roles=(CLERK,), states=(domain.DELIBERATION,))
def record_deliberation(request: dict[str, Any], case: PublicityCase, ctx: Ctx) -> Effects:
    """PU-5 to PU-7: the body's conclusion, minuted into the family's file."""
    body = _body(ctx, case.street_code)
    return domain.record_deliberation(
        case,
        body["members"],
        request["members_present"],
        request["conclusion"],
        request["minutes"],
        request["signed_off_by"],
        request["leadership_meeting_approved_on"],
        ctx.now,
        ctx.new_document_id(),
    )


@step("publicity.set_deliberation_body", roles=(STREET_LEADER, DISTRICT_OFFICER))
def set_deliberation_body(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """PU-5: the street's leader in charge (or the district) sets the street's body."""
    ctx.authorize(
        (STREET_LEADER, DISTRICT_OFFICER), request["street_code"], "set_deliberation_body"
    )
    members = domain.validate_body(request["members"])
    bodies = _uow(ctx).bodies
    bodies.replace(request["street_code"], members, ctx.now, ctx.require_actor().user_id)
    return _body(ctx, request["street_code"])


@step("publicity.get_deliberation_body")
def get_deliberation_body(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """A street's body, for its own staff and the district."""
    ctx.may_view(request["street_code"], "body")
    return _body(ctx, request["street_code"])


# -- periodic ---------------------------------------------------------------------------------


@periodic()
def end_publicities(work: Work) -> None:
    """PU-1, PU-2: a publicity that reached its end without objection concludes by itself
    (every instance scans; the version check on save lets one act on each case)."""
    with work.unit() as ctx:
        due = _uow(ctx).periods.ended(ctx.now)
    work.each((case_id, _end_publicity) for case_id in due)


def _end_publicity(case: PublicityCase, ctx: Ctx) -> Effects:
    effects = domain.end_publicity(case, ctx.now)
    _uow(ctx).periods.stop(case.case_id)
    return effects
