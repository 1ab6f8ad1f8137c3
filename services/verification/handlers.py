"""Verification's steps, events and periodic jobs (VE-1 to VE-5, PU-3 and PU-4 on this side),
one function each, over the unit of work.

Each is declared with the step skeleton of ``hqcore.steps``, which validates the request,
loads the acting user and the locked case, checks role, street and state, saves the case and
applies the effects the domain returns. The rules themselves are in ``domain``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any, Protocol

from hqcore.authz import CLERK, DISTRICT_OFFICER, INVESTIGATOR
from hqcore.effects import Effects
from hqcore.policy import PolicyRate
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
)
from services.verification import domain
from services.verification.domain import VerificationCase, VerificationReport

log = logging.getLogger(__name__)


class City(Protocol):
    """The city verification platform (``adapters.CityVerificationPlatform``)."""

    def commission(self, reference: str, persons: list[dict[str, str]]) -> str: ...

    def report(self, request_id: str) -> VerificationReport | None: ...


class Policy(Protocol):
    def in_force(self, keys: tuple[str, ...], day: date) -> dict[str, PolicyRate]: ...


class Pending(Protocol):
    def city_checks(self, limit: int = 200) -> list[str]: ...

    def ended_windows(
        self, status: str, rule_id: str, limit: int = 200
    ) -> list[tuple[str, str]]: ...


class VerificationUnitOfWork(Protocol):
    """What verification's handlers use of a unit of work (real or fake)."""

    cases: CaseStore[VerificationCase]
    city: City
    policy: Policy
    pending: Pending
    documents: Any
    deadlines: Any


Ctx = Context[VerificationCase]
CaseJob = Callable[[VerificationCase, Ctx], Effects]


def _uow(ctx: Ctx) -> VerificationUnitOfWork:
    uow: VerificationUnitOfWork = ctx.uow
    return uow


def view(case: VerificationCase, ctx: Ctx) -> dict[str, Any]:
    """``verification.get_case``: the case as verification holds it, its documents and
    deadlines."""
    return case_view(case, ctx, domain.details(case), documents=True)


# -- events -----------------------------------------------------------------------------------


@on_event("application.accepted")
def on_application_accepted(event: Any, ctx: Ctx) -> Opened[VerificationCase]:
    """VE-1: an accepted case awaits its household investigation."""
    case, effects = domain.open_verification(event.payload, ctx.calendar)
    return Opened(case, effects)


@on_case_event("publicity.reinvestigation_requested")
def on_reinvestigation_requested(event: Any, case: VerificationCase, ctx: Ctx) -> Effects:
    """PU-3, PU-4: an objection or a major dispute opens a new round of investigation (VE-1
    again). A case that is not verified (it ended, or a new round is open) stays as it is."""
    payload = event.payload
    effects = domain.reopen_for_reinvestigation(
        case, payload["cause"], payload["detail"], payload["requested_at"], ctx.calendar
    )
    if not effects.save:
        log.warning("reinvestigation of case %s ignored: it is %s", case.case_id, case.status)
    return effects


# -- steps ------------------------------------------------------------------------------------


@case_step(
    "verification.record_investigation", roles=(INVESTIGATOR,), states=(domain.INVESTIGATION,)
)
def record_investigation(request: dict[str, Any], case: VerificationCase, ctx: Ctx) -> Effects:
    """VE-1, VE-4: the household investigation by at least two of the street's investigators,
    signed by the applicant."""
    return domain.record_investigation(
        case,
        request["investigators"],
        request["methods"],
        request["findings"],
        request["self_care"],
        ctx.require_actor(),
        ctx.now,
    )


@case_step("verification.pre_review", roles=(CLERK,), states=(domain.INFORMATION_CHECK,))
def pre_review(request: dict[str, Any], case: VerificationCase, ctx: Ctx) -> Effects:
    """VE-2: the handling agency pre-reviews declarations and authorisations."""
    return domain.record_check(case, "pre_review", request["opinion"], ctx.require_actor(), ctx.now)


@case_step(
    "verification.district_review", roles=(DISTRICT_OFFICER,), states=(domain.DISTRICT_CHECK,)
)
def district_review(request: dict[str, Any], case: VerificationCase, ctx: Ctx) -> Effects:
    """VE-2: the district verification agency reviews and commissions the city's check."""
    effects = domain.record_check(
        case, "district_review", request["opinion"], ctx.require_actor(), ctx.now
    )
    _uow(ctx).city.commission(domain.city_reference(case), domain.persons_to_check(case))
    return effects


@case_step("verification.record_explanation", roles=(CLERK,), states=(domain.AWAITING_EXPLANATION,))
def record_explanation(request: dict[str, Any], case: VerificationCase, ctx: Ctx) -> Effects:
    """VE-3: the applicant's explanation; accepted, the case is verified; rejected,
    non-confirmation is proposed."""
    return domain.record_explanation(
        case, request["explanation"], request["accepted"], ctx.require_actor(), ctx.now
    )


@case_step("verification.record_untruthful_declaration", roles=(CLERK,), states=domain.CORRECTABLE)
def record_untruthful_declaration(
    request: dict[str, Any], case: VerificationCase, ctx: Ctx
) -> Effects:
    """VE-5: a notice to correct within 5 WD."""
    return domain.record_untruthful_declaration(
        case, request["detail"], ctx.require_actor(), ctx.now, ctx.calendar, ctx.new_id()
    )


@case_step("verification.record_correction", roles=(CLERK,), states=(domain.AWAITING_CORRECTION,))
def record_correction(request: dict[str, Any], case: VerificationCase, ctx: Ctx) -> Effects:
    """VE-5: corrected in time; the case resumes where it was."""
    return domain.record_correction(case, request["detail"], ctx.require_actor(), ctx.now)


# -- periodic ---------------------------------------------------------------------------------


@periodic()
def collect_city_reports(work: Work) -> None:
    """VE-2, VE-3: collect the city's reports and run the means test (every instance scans;
    the row lock and the version check let one act on each case)."""
    with work.unit() as ctx:
        waiting = _uow(ctx).pending.city_checks()
    work.each((case_id, _collect_report) for case_id in waiting)


def _collect_report(case: VerificationCase, ctx: Ctx) -> Effects:
    if case.status != domain.CITY_CHECK:
        return Effects.nothing()  # another instance applied the report meanwhile
    uow = _uow(ctx)
    request_id = uow.city.commission(domain.city_reference(case), domain.persons_to_check(case))
    report = uow.city.report(request_id)
    if report is None:
        return Effects.nothing()  # not issued yet
    day = domain.acceptance_day(case)
    result = domain.means_test(
        case.program, case.members, report, uow.policy.in_force(domain.POLICY_KEYS, day), day
    )
    return domain.apply_report(case, report, result, ctx.now, ctx.calendar, ctx.new_id())


@periodic()
def end_explanation_windows(work: Work) -> None:
    """VE-3: no explanation within 4 WD of the notice: non-confirmation is proposed (acts on
    the windows the deadline scanner marked breached, each once)."""
    with work.unit() as ctx:
        ended = _uow(ctx).pending.ended_windows(domain.AWAITING_EXPLANATION, "VE-3")
    work.each(
        ((case_id, partial(_end_explanation_window, deadline_id)) for case_id, deadline_id in ended)
    )


def _end_explanation_window(deadline_id: str, case: VerificationCase, ctx: Ctx) -> Effects:
    return domain.end_explanation_window(case, deadline_id, ctx.now)


@periodic()
def end_correction_windows(work: Work) -> None:
    """VE-5: not corrected within 5 WD of the notice: deemed withdrawn."""
    with work.unit() as ctx:
        ended = _uow(ctx).pending.ended_windows(domain.AWAITING_CORRECTION, "VE-5")
    work.each(
        ((case_id, partial(_end_correction_window, deadline_id)) for case_id, deadline_id in ended)
    )


def _end_correction_window(deadline_id: str, case: VerificationCase, ctx: Ctx) -> Effects:
    window = next(d for d in _uow(ctx).deadlines.for_case(case.case_id) if d.id == deadline_id)
    return domain.end_correction_window(case, deadline_id, window.due_at, ctx.now)
