"""The step skeleton: the one way every service runs a step, a read or an event handler.

A service's ``handlers.py`` holds one function per step and per event, declared with one of
the decorators below; its ``service.py`` entrypoints are one line each
(``return self.work.step(handlers.record_review, actor, fields)``). For a **case step** the
kit then does, in this order:

1. validate the request once, against the step's registered contract (400);
2. load the acting user (400 if malformed);
3. open the unit of work;
4. load the case, locked: ``SELECT … FOR UPDATE`` on PostgreSQL (SQLite has one writer), and
   remember its ``version`` (404 ``case_not_found``);
5. authorise the role and the case's street (403), and the state (409 ``invalid_state``);
6. run the handler, which calls the pure domain and returns ``Effects``;
7. save the case only from the version it was read in (409 ``concurrent_update`` if another
   writer got there first; with the row lock this only happens on a database without one);
8. apply the effects in the same transaction: documents, deadlines met and opened, events
   (outbox), the timeline entry (``case.progressed``);
9. commit, and reply with the service's case view, dumped by its contract.

Right before the commit the kit calls the request's ``before_commit`` (the nameko provider
passes the deadline check of ``hqcore.envelope``: a step whose caller has stopped waiting is
rolled back, not applied). A step declared ``idempotent=True`` remembers, under the client's
Idempotency-Key, the request and its reply in the same transaction; the same key with the same
request answers the remembered reply without running the step again (``hqcore.idempotency``).

An **event about a case** is applied once per event (the inbox claim is step 3's first act).
An event that arrives before its case raises ``CaseNotYetKnown``: the subscriber retries it with
backoff and then dead-letters it, visibly; it is never dropped.

Nothing here imports nameko: ``Runtime`` is what the nameko provider (``hqcore.providers``) or
a test passes in, so handlers run the same way with a fake unit of work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from marshmallow import ValidationError

from hqcore import timeline
from hqcore.aggregate import CaseAggregate
from hqcore.authz import ROLES, Actor, authorize, may_view
from hqcore.calendar import WorkingCalendar
from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.contracts.common import ActorSchema
from hqcore.deadlines import Deadline
from hqcore.documents import new_document_id
from hqcore.effects import DocumentDraft, Effects
from hqcore.errors import CaseNotFound, Conflict, Forbidden, validation_error_from_marshmallow
from hqcore.uow import MessageContext

log = logging.getLogger(__name__)

C = TypeVar("C", bound=CaseAggregate)
F = TypeVar("F", bound=Callable[..., Any])


class CaseNotYetKnown(Exception):
    """An event about a case this service has not recorded yet: retried, then dead-lettered."""


class CaseStore(Protocol[C]):
    """A service's cases (``uow.cases``): the SQL repository or an in-memory fake."""

    def get(self, case_id: str, *, lock: bool = False) -> C | None: ...

    def add(self, case: C) -> None: ...

    def save(self, case: C) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class Renderer(Protocol):
    def render(self, name: str, **context: Any) -> str: ...


@dataclass
class Runtime:
    """What the kit runs a handler with: the service's name, clock, calendar, its unit of work
    factory, its templates and its case view. Built by the nameko provider, or by a test."""

    service: str
    clock: Clock
    calendar: WorkingCalendar
    make_uow: Callable[[MessageContext], Any]
    templates: Renderer | None = None
    view: Callable[[Any, Context[Any]], dict[str, Any]] | None = None


@dataclass
class Context(Generic[C]):
    """What a handler gets besides its request: the unit of work, the acting user (None for
    events and periodic work), the clock's ``now`` and the working-day calendar."""

    uow: Any
    actor: Actor | None
    calendar: WorkingCalendar
    runtime: Runtime

    @property
    def now(self) -> datetime:
        now: datetime = self.uow.now
        return now

    @property
    def service(self) -> str:
        return self.runtime.service

    def require_actor(self) -> Actor:
        if self.actor is None:  # pragma: no cover - the kit loads one for every step
            raise Forbidden("this step needs an acting user", field="actor", code="wrong_role")
        return self.actor

    def authorize(self, roles: Iterable[str], street_code: str | None, step: str) -> None:
        """403 unless the acting user has one of ``roles`` and works in ``street_code``."""
        authorize(self.require_actor(), tuple(roles), street_code, step)

    def may_view(self, street_code: str | None, what: str = "case") -> None:
        """403 ``wrong_street`` unless the acting user may see ``street_code``'s data."""
        if not may_view(self.require_actor(), street_code):
            raise Forbidden(
                f"the {what} belongs to another street ({street_code})",
                field="street_code",
                code="wrong_street",
            )

    def new_document_id(self) -> str:
        """An id for a document this step will issue (``DocumentDraft.document_id``)."""
        return new_document_id(self.service)

    @staticmethod
    def new_id() -> str:
        """An id for anything else the case must name before it is stored (e.g. a deadline
        passed to ``Deadline.open(id=...)``)."""
        return str(uuid.uuid4())

    def issue(self, draft: DocumentDraft, case_id: str) -> str:
        """Render and store one document now; its id."""
        if self.runtime.templates is None:
            raise RuntimeError(f"{self.service} has no templates to issue {draft.kind}")
        html = self.runtime.templates.render(draft.template, **draft.context)
        document = self.uow.documents.issue(
            case_id,
            draft.kind,
            draft.title,
            html,
            self.now,
            served_at=draft.served_at,
            document_id=draft.document_id,
        )
        document_id: str = document.document_id
        return document_id

    def load(self, case_id: str) -> Any:
        """The case, locked for this unit of work (404 ``case_not_found``)."""
        case = self.uow.cases.get(case_id, lock=True)
        if case is None:
            raise CaseNotFound(case_id, self.service)
        return case

    def apply(self, case: CaseAggregate, effects: Effects) -> None:
        """Apply a domain outcome to the unit of work (see ``hqcore.effects``)."""
        uow = self.uow
        document_ids = [self.issue(d, case.case_id) for d in effects.documents]
        if effects.meet_all:
            rules = {d.rule_id for d in uow.deadlines.open_for_case(case.case_id)}
            effects.meet(*sorted(rules))
        for meet in effects.met:
            uow.deadlines.meet(meet.key or case.case_id, meet.rule_id, meet.at or self.now)
        for deadline in effects.opened:
            uow.deadlines.add(deadline)
        for event in effects.events:
            uow.outbox.add(
                event.event_type,
                event.payload,
                case_id=event.case_id or case.case_id,
                street_code=event.street_code or case.street_code,
            )
        for index, entry in enumerate(effects.progress):
            ids = entry.document_ids
            if index == 0:
                ids = (*[i for i in document_ids if i not in ids], *ids)
            timeline.progressed(
                uow,
                case,
                step=entry.step or case.status,
                action=entry.action,
                actor=self.actor,
                rule_id=entry.rule_id,
                note=entry.note,
                document_ids=ids,
                closed=entry.closed,
            )

    def view(self, case: CaseAggregate) -> dict[str, Any]:
        """The service's case view, dumped by its ``<service>.get_case`` contract."""
        if self.runtime.view is None:
            raise RuntimeError(f"{self.service} has no case view")
        return dump_rpc_response(f"{self.service}.get_case", self.runtime.view(case, self))


def deadline_view(deadline: Deadline) -> dict[str, Any]:
    """A deadline as a case view shows it (``DeadlineViewSchema``)."""
    return {
        "id": deadline.id,
        "rule_id": deadline.rule_id,
        "unit": deadline.unit.value,
        "amount": deadline.amount,
        "started_at": deadline.started_at,
        "due_at": deadline.due_at,
        "due_date": deadline.due_date,
        "status": deadline.status.value,
        "provisional": deadline.provisional,
    }


def case_view(
    case: CaseAggregate, ctx: Context[Any], details: dict[str, Any], *, documents: bool = False
) -> dict[str, Any]:
    """A service's view of one case (``ServiceCaseView``): its state, ``details`` (the
    service's own fields; with ``documents``, the documents it issued for the case) and its
    deadlines."""
    uow = ctx.uow
    if documents:
        details = {**details, "documents": [d.ref() for d in uow.documents.for_case(case.case_id)]}
    return {
        "service": ctx.service,
        "case_id": case.case_id,
        "status": case.status,
        "since": case.since,
        "details": details,
        "deadlines": [deadline_view(d) for d in uow.deadlines.for_case(case.case_id)],
    }


# -- declarations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How the kit runs one handler (set by the decorators below)."""

    kind: str  # case_step | step | case_event | event | periodic
    contract: str | None = None  # the RPC contract, for steps
    roles: tuple[str, ...] | None = None  # None: the handler authorises itself
    states: tuple[str, ...] | None = None  # None: the handler (domain) checks the state
    event_types: tuple[str, ...] = ()
    case_key: str = "case_id"  # the request or payload field naming the case
    idempotent: bool = False  # remembers its reply under the client's Idempotency-Key


def _declare(spec: Spec) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn.spec = spec  # type: ignore[attr-defined]
        return fn

    return mark


def spec_of(handler: Callable[..., Any]) -> Spec:
    spec: Spec | None = getattr(handler, "spec", None)
    if spec is None:
        raise TypeError(f"{handler.__name__} is not a declared handler")
    return spec


def case_step(
    contract: str,
    *,
    roles: Iterable[str] | None = None,
    states: Iterable[str] | None = None,
    case_key: str = "case_id",
) -> Callable[[F], F]:
    """``handler(request, case, ctx) -> Effects``: a step on one case."""
    return _declare(
        Spec(
            "case_step",
            contract,
            tuple(roles) if roles is not None else None,
            tuple(states) if states is not None else None,
            case_key=case_key,
        )
    )


def step(
    contract: str, *, roles: Iterable[str] | None = ROLES, idempotent: bool = False
) -> Callable[[F], F]:
    """``handler(request, ctx) -> dict``: a step or a read not on one case (the handler checks
    the street with ``ctx.authorize`` / ``ctx.may_view``); the reply is dumped by the
    contract. ``idempotent``: a step that creates something, whose client may repeat it under
    the same Idempotency-Key and get the first reply (``hqcore.idempotency``)."""
    return _declare(
        Spec("step", contract, tuple(roles) if roles is not None else None, idempotent=idempotent)
    )


def on_case_event(*event_types: str, case_key: str = "case_id") -> Callable[[F], F]:
    """``handler(event, case, ctx) -> Effects``: an event about a case this service holds."""
    return _declare(Spec("case_event", event_types=event_types, case_key=case_key))


def on_event(*event_types: str) -> Callable[[F], F]:
    """``handler(event, ctx) -> Opened | None``: any other event (e.g. one that opens a
    case here); applied once per event."""
    return _declare(Spec("event", event_types=event_types))


def periodic() -> Callable[[F], F]:
    """``handler(work: Work) -> None``: periodic work, in every instance (the version check
    on save lets one instance act on each case)."""
    return _declare(Spec("periodic"))


@dataclass
class Opened(Generic[C]):
    """An event opened a case here: the kit adds it and applies its effects."""

    case: C
    effects: Effects


# -- running --------------------------------------------------------------------------------


def load_actor(data: Any) -> Actor:
    """The acting user the gateway sent, validated against its contract."""
    try:
        return Actor.from_dict(ActorSchema().load(data or {}))
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages, prefix="actor") from None


def _context(
    runtime: Runtime, kind: str, correlation_id: str | None, acting_user: str | None
) -> MessageContext:
    return MessageContext(
        runtime.service,
        correlation_id=correlation_id or f"{kind}-{uuid.uuid4()}",
        acting_user=acting_user,
    )


@contextmanager
def unit_of_work(
    runtime: Runtime,
    actor: Actor | None = None,
    *,
    correlation_id: str | None = None,
    before_commit: Callable[[], None] | None = None,
) -> Iterator[Context[Any]]:
    """One unit of work with its handler context (commits when the block ends cleanly).
    ``before_commit`` runs in the transaction after the block: if it raises, nothing of the
    block is applied (the request's deadline check)."""
    context = _context(runtime, "work", correlation_id, actor.user_id if actor else None)
    with runtime.make_uow(context) as uow:
        yield Context(uow, actor, runtime.calendar, runtime)
        if before_commit is not None:
            before_commit()


def run_step(
    runtime: Runtime,
    handler: Callable[..., Any],
    actor: Any,
    fields: dict[str, Any],
    *,
    correlation_id: str | None = None,
    before_commit: Callable[[], None] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Run a declared step (``case_step`` or ``step``) for an RPC call and return its reply.
    ``before_commit``: see ``unit_of_work``; ``idempotency_key``: the client's
    Idempotency-Key, honoured by the steps declared ``idempotent``."""
    spec = spec_of(handler)
    assert spec.contract is not None
    given = {k: v for k, v in fields.items() if v is not None}
    request = load_rpc_request(spec.contract, given)
    acting = load_actor(actor)
    if spec.roles is not None:
        authorize(acting, spec.roles, None, handler.__name__)
    key = idempotency_key if spec.idempotent else None
    with unit_of_work(
        runtime, acting, correlation_id=correlation_id, before_commit=before_commit
    ) as ctx:
        if key is not None:
            remembered: dict[str, Any] | None = ctx.uow.idempotency.claim(
                acting.user_id, key, spec.contract, given
            )
            if remembered is not None:
                return remembered
        reply = _run_step(spec, handler, request, ctx)
        if key is not None:
            ctx.uow.idempotency.remember(acting.user_id, key, reply)
        return reply


def _run_step(
    spec: Spec, handler: Callable[..., Any], request: dict[str, Any], ctx: Context[Any]
) -> dict[str, Any]:
    assert spec.contract is not None
    if spec.kind == "step":
        return dump_rpc_response(spec.contract, handler(request, ctx))
    case = ctx.load(request[spec.case_key])
    if spec.roles is not None:
        ctx.authorize(spec.roles, case.street_code, handler.__name__)
    if spec.states is not None:
        case.require_state(spec.states, handler.__name__)
    effects = handler(request, case, ctx)
    _save_and_apply(ctx, case, effects)
    return ctx.view(case)


def read_case(runtime: Runtime, actor: Any, case_id: str) -> dict[str, Any]:
    """``<service>.get_case``: the service's view of one case, for whoever may see its
    street (403 ``wrong_street`` otherwise)."""
    request = load_rpc_request(f"{runtime.service}.get_case", {"case_id": case_id})
    acting = load_actor(actor)
    with unit_of_work(runtime, acting) as ctx:
        case = ctx.uow.cases.get(request["case_id"])
        if case is None:
            raise CaseNotFound(request["case_id"], runtime.service)
        ctx.may_view(case.street_code)
        return ctx.view(case)


def run_event(runtime: Runtime, handler: Callable[..., Any], event: Any) -> None:
    """Apply a declared event handler once per event (the inbox claim is in the same unit of
    work as the change)."""
    spec = spec_of(handler)
    with unit_of_work(runtime, None, correlation_id=getattr(event, "correlation_id", None)) as ctx:
        if not ctx.uow.inbox.claim(event, handler.__name__):
            return  # a redelivery: already applied
        if spec.kind == "case_event":
            case_id = event.payload[spec.case_key]
            case = ctx.uow.cases.get(case_id, lock=True)
            if case is None:
                raise CaseNotYetKnown(
                    f"{runtime.service} has no record of case {case_id} yet "
                    f"({event.event_type} is retried)"
                )
            _save_and_apply(ctx, case, handler(event, case, ctx))
            return
        outcome = handler(event, ctx)
        if isinstance(outcome, Opened):
            ctx.uow.cases.add(outcome.case)
            ctx.apply(outcome.case, outcome.effects)


class Work:
    """What periodic work gets: its own units of work, one per case, so that one case's
    conflict does not hold up the others."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def unit(self) -> AbstractContextManager[Context[Any]]:
        """A unit of work with no acting user (``with work.unit() as ctx``)."""
        return unit_of_work(self.runtime, None)

    def on_case(self, case_id: str, handler: Callable[[Any, Context[Any]], Effects]) -> None:
        """``handler(case, ctx) -> Effects`` on one locked case, saved and applied."""
        with self.unit() as ctx:
            case = ctx.load(case_id)
            _save_and_apply(ctx, case, handler(case, ctx))

    def each(self, jobs: Iterable[tuple[str, Callable[[Any, Context[Any]], Effects]]]) -> int:
        """``on_case(case_id, handler)`` for each pair, one unit of work each: a conflict means
        another instance (or a user's step) acted on the case first and it is skipped; any
        other failure is logged and the case is tried again on the next run. How many cases
        were done."""
        done = 0
        for case_id, handler in jobs:
            try:
                self.on_case(case_id, handler)
            except Conflict:
                continue
            except Exception:
                log.exception(
                    "%s: periodic work on case %s failed; it is tried again on the next run",
                    self.runtime.service,
                    case_id,
                )
                continue
            done += 1
        return done


def run_periodic(runtime: Runtime, handler: Callable[[Work], None]) -> None:
    """Run declared periodic work (every instance runs it; guard with conditional saves)."""
    spec_of(handler)
    handler(Work(runtime))


def _save_and_apply(ctx: Context[Any], case: CaseAggregate, effects: Effects) -> None:
    if not isinstance(effects, Effects):
        raise TypeError(f"a handler returned {type(effects).__name__}, not Effects")
    if effects.save:
        ctx.uow.cases.save(case)
    ctx.apply(case, effects)
