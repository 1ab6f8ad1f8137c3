"""Intake's steps, reads and events (IN-1, IN-2, IN-3, IN-6, IN-7, ORG-6), one function each,
over the unit of work.

Each is declared with the step skeleton of ``hqcore.steps``, which validates the request,
loads the acting user (and for a case step the locked case), checks role, street and state,
saves the case and applies the effects the domain returns. The rules are in ``domain``.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from hqcore.authz import ROLES
from hqcore.clock import local_date
from hqcore.effects import Effects
from hqcore.errors import NotFound
from hqcore.steps import CaseStore, Context, case_step, on_case_event, step
from services.intake import domain
from services.intake.domain import Application, Street


class Cases(CaseStore[Application], Protocol):
    """``uow.cases``: intake's cases, the one open case per person and program, and the
    worklist across them."""

    def claim_household(
        self, case_id: str, program: str, id_numbers: list[str]
    ) -> domain.OpenCase | None: ...

    def awaiting_materials(self, street_code: str | None, limit: int) -> list[dict[str, Any]]: ...


class Streets(Protocol):
    """``uow.streets``: the district's streets and their yearly case counters."""

    def get(self, code: str) -> Street | None: ...

    def next_sequence(self, street_code: str, year: int) -> int: ...


class IntakeUnitOfWork(Protocol):
    """What intake's handlers use of a unit of work (real or fake)."""

    cases: Cases
    streets: Streets
    documents: Any


Ctx = Context[Application]


def _uow(ctx: Ctx) -> IntakeUnitOfWork:
    uow: IntakeUnitOfWork = ctx.uow
    return uow


def view(case: Application, ctx: Ctx) -> dict[str, Any]:
    """``intake.get_case``: the household, materials and documents of the case."""
    documents = [d.ref() for d in _uow(ctx).documents.for_case(case.case_id)]
    return domain.case_view(case, documents)


# -- steps ------------------------------------------------------------------------------------


@step("intake.submit_application", roles=domain.FILERS, idempotent=True)
def submit_application(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """A community worker (for the family, ORG-6) or a clerk of the street files an
    application (IN-1, IN-2, IN-3): accepted at once when complete, otherwise the one written
    notice lists every missing item (IN-6)."""
    uow = _uow(ctx)
    street = uow.streets.get(request["street_code"])
    if street is None:
        raise NotFound(
            f"unknown street {request['street_code']!r}", field="street_code", code="unknown_street"
        )
    ctx.authorize(domain.FILERS, street.code, "submit_application")
    actor, case_id = ctx.require_actor(), str(uuid.uuid4())
    # The household first: the claim holds under concurrency (one open case per person and
    # program, SEC-1), and a refusal leaves the street's counter untouched (gap-free numbers).
    holder = uow.cases.claim_household(
        case_id, request["program"], [m["id_number"] for m in request["members"]]
    )
    domain.refuse_duplicate(request["program"], holder, actor)
    sequence = uow.streets.next_sequence(street.code, local_date(ctx.now).year)
    app, effects = domain.open_application(
        request,
        street,
        actor,
        case_id=case_id,
        sequence=sequence,
        now=ctx.now,
    )
    uow.cases.add(app)
    ctx.apply(app, effects)
    return view(app, ctx)


@case_step("intake.supply_materials", roles=domain.FILERS, states=(domain.AWAITING_MATERIALS,))
def supply_materials(request: dict[str, Any], case: Application, ctx: Ctx) -> Effects:
    """Materials and signed authorisations handed in after the notice (IN-6, IN-7); the case
    is accepted once nothing is missing."""
    return domain.supply(case, request["materials"], request["authorisations"], ctx.now)


@step("intake.list_awaiting_materials", roles=ROLES)
def list_awaiting_materials(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """IN-6: the worklist of applications still waiting for materials. Street staff see their
    own street (the default when no street is asked for; another street is 403
    ``wrong_street``); the district sees every street, or the one it asks for."""
    actor = ctx.require_actor()
    street_code = request.get("street_code")
    if street_code is None and not actor.is_district:
        street_code = actor.street_code
    ctx.may_view(street_code, "worklist")
    return {"cases": _uow(ctx).cases.awaiting_materials(street_code, request["limit"])}


# -- events -----------------------------------------------------------------------------------


@on_case_event("decision.made", "verification.withdrawn")
def on_case_ended(event: Any, case: Application, ctx: Ctx) -> Effects:
    """A decision (any outcome: DE-1, VE-3) or a deemed withdrawal (VE-5) closes the case, so
    that a new application becomes possible."""
    reason, rule_id, at = domain.closing(event.event_type, event.payload)
    return domain.close(case, reason, rule_id, at)
