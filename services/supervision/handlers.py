"""Supervision's events, reads and periodic job, one function each, over the unit of work.

Supervision is the district's read model (ORG-3, SU-1 to SU-5): it takes no step of the
procedure. Its event handlers build the register of cases, the one timeline (every service's
``case.progressed``), the deadlines of every street, the breaches and the new recipients; its
reads answer the district and, for their own street only, the street staff.

Order of arrival: a timeline entry or a deadline may arrive before the case's acceptance; it is
kept, and the register takes it into account when the case is registered. An event that needs
the registered case (``decision.made``: the near-relative flag, SU-3) or the registered approval
(``payment.scheduled``) raises ``CaseNotYetKnown`` until it is there: retried with backoff, then
dead-lettered, never dropped.

One case at a time (SEC-2): the acceptance and every ``case.progressed`` of a case first lock
the case's chain head (``uow.chain.lock``), so on PostgreSQL, where two handlers run at the same
moment, the second waits and then sees the first's register row or timeline entry; the register
shows the newest step whatever the order and the concurrency of the events. The same lock keeps
the case's hash chain (SEC-16) from forking. Reads of personal data (``access.read``) enter the
read log (SEC-15).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from hqcore import metrics
from hqcore.authz import DISTRICT_OFFICER
from hqcore.contracts.supervision import DeadlineEntry
from hqcore.effects import Effects
from hqcore.steps import (
    CaseNotYetKnown,
    CaseStore,
    Context,
    Opened,
    Work,
    on_case_event,
    on_event,
    periodic,
    step,
)
from services.supervision import domain
from services.supervision.domain import (
    Breach,
    ChainHead,
    DeadlineRecord,
    NewRecipient,
    ReadRecord,
    RegisteredCase,
    TimelineEntry,
)


class RegisterStore(CaseStore[RegisteredCase], Protocol):
    def page(
        self,
        now: datetime,
        *,
        street_code: str | None = None,
        program: str | None = None,
        steps: tuple[str, ...] | None = None,
        overdue: bool | None = None,
        open_only: bool = False,
        oldest_step_first: bool = False,
        page: int = 1,
        per_page: int = 20,
    ) -> dict[str, Any]: ...


class TimelineStore(Protocol):
    def add(self, entry: TimelineEntry) -> None: ...

    def for_case(self, case_id: str) -> list[TimelineEntry]: ...


class ChainStore(Protocol):
    def lock(self, case_id: str) -> ChainHead: ...

    def advance(self, head: ChainHead) -> None: ...


class ReadStore(Protocol):
    def add(self, record: ReadRecord) -> None: ...

    def list(
        self,
        *,
        case_id: str | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]: ...


class DeadlineStore(Protocol):
    def get(self, deadline_id: str, *, lock: bool = False) -> DeadlineRecord | None: ...

    def add(self, record: DeadlineRecord) -> None: ...

    def save(self, record: DeadlineRecord) -> None: ...

    def for_case(self, case_id: str) -> list[DeadlineRecord]: ...

    def page(
        self,
        now: datetime,
        *,
        street_code: str | None = None,
        status: str | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> dict[str, Any]: ...


class BreachStore(Protocol):
    def add(self, breach: Breach) -> None: ...

    def list(self, street_code: str | None, limit: int) -> list[dict[str, Any]]: ...


class RecipientStore(Protocol):
    def add(self, entry: NewRecipient) -> None: ...

    def schedule_payment(
        self, case_id: str, first_month: str, monthly_amount_fen: int, payee_kind: str
    ) -> bool: ...

    def list(self, street_code: str | None, month: str | None) -> list[dict[str, Any]]: ...


class FigureStore(Protocol):
    def compute(self, now: datetime) -> dict[str, dict[tuple[str, ...], int]]: ...


class SupervisionUnitOfWork(Protocol):
    """What supervision's handlers use of a unit of work (real or fake)."""

    cases: RegisterStore
    timeline: TimelineStore
    chain: ChainStore
    reads: ReadStore
    deadline_register: DeadlineStore
    breaches: BreachStore
    recipients: RecipientStore
    figures: FigureStore


Ctx = Context[RegisteredCase]


def _uow(ctx: Ctx) -> SupervisionUnitOfWork:
    uow: SupervisionUnitOfWork = ctx.uow
    return uow


def view(case: RegisteredCase, ctx: Ctx) -> dict[str, Any]:
    """``supervision.get_case``: the district's register entry of one case with the deadlines
    of every service (the timeline is ``get_timeline``)."""
    deadlines = [
        domain.deadline_view(d, ctx.now) for d in _uow(ctx).deadline_register.for_case(case.case_id)
    ]
    return {
        "service": ctx.service,
        "case_id": case.case_id,
        "status": case.status,
        "since": case.since,
        "deadlines": [],
        "details": {
            "case_no": case.case_no,
            "program": case.program,
            "street_code": case.street_code,
            "community": case.community,
            "near_relative": case.near_relative,
            "household_size": case.household_size,
            "accepted_at": case.accepted_at.isoformat(),
            "current_step": case.current_step,
            "current_service": case.current_service,
            "closed": case.closed,
            "overdue": any(d["overdue"] for d in deadlines),
            "household_check_required": case.household_check_required,  # SU-3
            "deadline_register": DeadlineEntry(many=True).dump(deadlines),
        },
    }


# -- events -----------------------------------------------------------------------------------


@on_event("application.accepted")
def on_application_accepted(event: Any, ctx: Ctx) -> Opened[RegisteredCase] | None:
    """ORG-3, SU-3: every accepted case enters the district's register, flagged if a near
    relative of staff; timeline entries that came first are taken into account."""
    uow = _uow(ctx)
    case_id = event.payload["case_id"]
    uow.chain.lock(case_id)  # SEC-2: after any timeline entry of the case being written now
    if uow.cases.get(case_id) is not None:
        return None  # registered once already
    return Opened(domain.register_case(event.payload, uow.timeline.for_case(case_id)), Effects())


@on_event("case.progressed")
def on_case_progressed(event: Any, ctx: Ctx) -> None:
    """The one timeline: every service's step goes on it, and moves the register's current
    step once the case is registered (whatever the order and concurrency of arrival, SEC-2).
    The entry is appended to the case's hash chain under the chain head's lock (SEC-16)."""
    uow = _uow(ctx)
    entry, head = domain.link(
        domain.timeline_entry(event.payload, event.event_id),
        uow.chain.lock(event.payload["case_id"]),
    )
    uow.timeline.add(entry)
    uow.chain.advance(head)
    case = uow.cases.get(entry.case_id, lock=True)
    if case is not None and domain.advance(case, [entry]):
        uow.cases.save(case)


@on_event("deadline.opened")
def on_deadline_opened(event: Any, ctx: Ctx) -> None:
    """SU-5: the deadlines of every street (e.g. VE-1, DE-4), open."""
    _record_deadline(ctx, event.payload, domain.DEADLINE_OPEN)


@on_event("deadline.met")
def on_deadline_met(event: Any, ctx: Ctx) -> None:
    _record_deadline(ctx, event.payload, domain.DEADLINE_MET)


@on_event("deadline.breached")
def on_deadline_breached(event: Any, ctx: Ctx) -> None:
    """SU-5: a breached deadline also enters the district's register of breaches."""
    _record_deadline(ctx, event.payload, domain.DEADLINE_BREACHED)
    _uow(ctx).breaches.add(domain.breach_entry(event.payload, ctx.now))


def _record_deadline(ctx: Ctx, reported: dict[str, Any], status: str) -> None:
    register = _uow(ctx).deadline_register
    current = register.get(reported["deadline_id"], lock=True)
    record = domain.record_deadline(current, reported, status, ctx.now)
    (register.add if current is None else register.save)(record)


@on_case_event("decision.made")
def on_decision_made(event: Any, case: RegisteredCase, ctx: Ctx) -> Effects:
    """SU-1, SU-2: an approval enters the register of new recipients for the district's
    checks; SU-3: a near-relative dibao family needs a household check. Before the case is
    registered the kit raises ``CaseNotYetKnown`` (retried)."""
    entry = domain.new_recipient(event.payload, case)
    if entry is not None:
        _uow(ctx).recipients.add(entry)
    return Effects.nothing()  # the register row itself does not change


@on_event("payment.scheduled")
def on_payment_scheduled(event: Any, ctx: Ctx) -> None:
    """PA-1: the new recipient's first payment month; retried until the approval is
    registered."""
    scheduled = event.payload
    if not _uow(ctx).recipients.schedule_payment(
        scheduled["case_id"],
        scheduled["first_month"],
        scheduled["monthly_amount_fen"],
        scheduled["payee_kind"],
    ):
        raise CaseNotYetKnown(
            f"the approval of {scheduled['case_id']} is not registered yet "
            "(payment.scheduled is retried)"
        )


@on_event("access.read")
def on_access_read(event: Any, ctx: Ctx) -> None:
    """SEC-15: one row of the read log per read the gateway served (once per event)."""
    _uow(ctx).reads.add(domain.read_record(event.payload, event.event_id))


# -- reads ------------------------------------------------------------------------------------
# Street staff see their own street: a list without a street is their street's, a list of
# another street is 403 ``wrong_street``; the district sees every street or the one it names.


def _street(request: dict[str, Any], ctx: Ctx, what: str) -> str | None:
    actor = ctx.require_actor()
    street = domain.scoped_street(request.get("street_code"), actor.street_code, actor.is_district)
    ctx.may_view(street, what)
    return street


@step("supervision.get_timeline")
def get_timeline(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """The case's one timeline, oldest first, for its street's staff and the district."""
    uow = _uow(ctx)
    entries = uow.timeline.for_case(request["case_id"])
    ctx.may_view(domain.timeline_street(uow.cases.get(request["case_id"]), entries), "case")
    return {"case_id": request["case_id"], "entries": [asdict(e) for e in entries]}


@step("supervision.list_cases")
def list_cases(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """ORG-3, SU-5: the register, newest acceptance first, filtered."""
    street = _street(request, ctx, "register")
    chosen = request["step"]
    return _uow(ctx).cases.page(
        ctx.now,
        street_code=street,
        program=request["program"],
        steps=(chosen,) if chosen else None,
        overdue=request["overdue"],
        page=request["page"],
        per_page=request["per_page"],
    )


@step("supervision.worklist")
def worklist(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """The open cases waiting at ``role``'s steps, longest waiting first."""
    street = _street(request, ctx, "worklist")
    return _uow(ctx).cases.page(
        ctx.now,
        street_code=street,
        steps=domain.steps_for_role(request["role"]),
        open_only=True,
        oldest_step_first=True,
        page=request["page"],
        per_page=request["per_page"],
    )


@step("supervision.list_deadlines")
def list_deadlines(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """SU-5: every street's deadlines, earliest due first; ``overdue`` = breached or open past
    due."""
    street = _street(request, ctx, "deadlines")
    return _uow(ctx).deadline_register.page(
        ctx.now,
        street_code=street,
        status=request["status"],
        page=request["page"],
        per_page=request["per_page"],
    )


@step("supervision.list_breaches")
def list_breaches(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """SU-5: the breached deadlines of every street, oldest due first."""
    street = _street(request, ctx, "breaches")
    return {"breaches": _uow(ctx).breaches.list(street, request["limit"])}


@step("supervision.list_new_recipients", roles=(DISTRICT_OFFICER,))
def list_new_recipients(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """SU-1 to SU-3: the newly confirmed recipients, for the district's checks only."""
    return {"items": _uow(ctx).recipients.list(request["street_code"], request["month"])}


@step("supervision.list_reads", roles=(DISTRICT_OFFICER,))
def list_reads(request: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """SEC-15: who read which case, document or list, when and from where; newest first, for
    the district only (street staff would see their colleagues' reads of other streets)."""
    return {
        "items": _uow(ctx).reads.list(
            case_id=request["case_id"],
            user_id=request["user_id"],
            since=request["since"],
            until=request["until"],
            limit=request["limit"],
        )
    }


# -- periodic ---------------------------------------------------------------------------------


@periodic()
def report_register_figures(work: Work) -> None:
    """The register's figures as Prometheus gauges, every scan interval (the dashboard)."""
    with work.unit() as ctx:
        figures = _uow(ctx).figures.compute(ctx.now)
    metrics.record_register_figures(work.runtime.service, figures)
