"""In-memory fakes of the unit of work, for the unit tier: handlers run through the real step
skeleton (``hqcore.steps``) with no broker and no database.

    runtime = fake_runtime("decision", view=handlers.view, templates=notices.TEMPLATES,
                           now=datetime(2026, 3, 2, 9, tzinfo=CHINA_TZ), reports=FakeReports())
    runtime.store.cases.add(case)
    reply = run_step(runtime, handlers.record_review, actor, {"case_id": ..., ...})
    assert runtime.store.events("decision.made") == [...]

The store outlives each unit of work (like a database); a unit of work that raises leaves it
as it was (its changes are rolled back), so a test sees exactly what a user would.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from hqcore.calendar import WorkingCalendar
from hqcore.case_records import stale
from hqcore.deadlines import Deadline, DeadlineStatus
from hqcore.documents import Document, Templates
from hqcore.steps import Runtime
from hqcore.uow import MessageContext


class FakeClock:
    def __init__(self, now: datetime):
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.current += timedelta(**delta)


class InMemoryCases:
    """``uow.cases``: the same contract as ``hqcore.case_records.CaseRecords``."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, case_id: str, *, lock: bool = False) -> Any:
        case = self.rows.get(case_id)
        return copy.deepcopy(case) if case is not None else None

    def add(self, case: Any) -> None:
        if case.case_id in self.rows:
            raise AssertionError(f"case {case.case_id} added twice (a primary key clash)")
        self.rows[case.case_id] = copy.deepcopy(case)

    def save(self, case: Any) -> None:
        held = self.rows.get(case.case_id)
        if held is None or held.version != case.version:
            raise stale(case)
        case.version += 1
        self.rows[case.case_id] = copy.deepcopy(case)

    def all(self) -> list[Any]:
        return [copy.deepcopy(c) for c in self.rows.values()]


@dataclass
class PublishedEvent:
    event_type: str
    payload: dict[str, Any]
    case_id: str | None
    street_code: str | None
    acting_user: str | None


class FakeOutbox:
    def __init__(self, sink: list[PublishedEvent], context: MessageContext):
        self._sink, self._context = sink, context
        self.added = 0

    def add(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        case_id: str | None = None,
        street_code: str | None = None,
    ) -> None:
        self._sink.append(
            PublishedEvent(
                event_type, copy.deepcopy(payload), case_id, street_code, self._context.acting_user
            )
        )
        self.added += 1


class FakeInbox:
    def __init__(self, seen: set[tuple[str, str]]):
        self._seen = seen

    def claim(self, event: Any, handler: str) -> bool:
        key = (event.event_id, handler)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


class FakeDeadlines:
    """``uow.deadlines`` over a list; opening, meeting and extending announce as the real one."""

    def __init__(self, rows: list[Deadline], outbox: FakeOutbox, service: str):
        self._rows, self._outbox, self._service = rows, outbox, service

    def _announce(self, event_type: str, deadline: Deadline, **extra: Any) -> None:
        from hqcore.uow import deadline_event

        self._outbox.add(
            event_type,
            {**deadline_event(deadline, self._service), **extra},
            case_id=deadline.case_id,
            street_code=deadline.street_code,
        )

    def add(self, deadline: Deadline) -> Deadline:
        deadline.id = deadline.id or str(uuid.uuid4())
        self._rows.append(copy.deepcopy(deadline))
        self._announce("deadline.opened", deadline)
        return deadline

    def for_case(self, case_id: str) -> list[Deadline]:
        return sorted(
            (copy.deepcopy(d) for d in self._rows if d.case_id == case_id), key=lambda d: d.due_at
        )

    def open_for_case(self, case_id: str) -> list[Deadline]:
        return [d for d in self.for_case(case_id) if d.status == DeadlineStatus.OPEN]

    def meet(self, case_id: str, rule_id: str, now: datetime) -> list[Deadline]:
        met = []
        for index, held in enumerate(self._rows):
            if (
                held.case_id == case_id
                and held.rule_id == rule_id
                and held.status == DeadlineStatus.OPEN
            ):
                deadline = copy.deepcopy(held)
                deadline.meet(now)
                self._rows[index] = deadline
                self._announce("deadline.met", deadline, met_at=now)
                met.append(copy.deepcopy(deadline))
        return met

    def extend(self, deadline: Deadline) -> bool:
        for index, held in enumerate(self._rows):
            if held.id == deadline.id and held.status == DeadlineStatus.OPEN:
                self._rows[index] = replace(
                    held,
                    amount=deadline.amount,
                    due_at=deadline.due_at,
                    provisional=deadline.provisional,
                )
                self._announce("deadline.opened", deadline)
                return True
        return False

    def overdue(self, now: datetime, limit: int = 200) -> list[Deadline]:
        return [
            copy.deepcopy(d)
            for d in self._rows
            if d.status == DeadlineStatus.OPEN and d.due_at <= now
        ][:limit]

    def open_provisional(self) -> list[Deadline]:
        return [
            copy.deepcopy(d)
            for d in self._rows
            if d.status == DeadlineStatus.OPEN and d.provisional
        ]


class FakeDocuments:
    def __init__(self, rows: dict[str, Document], service: str):
        self._rows, self._service = rows, service

    def issue(
        self,
        case_id: str,
        kind: str,
        title: str,
        html: str,
        issued_at: datetime,
        served_at: datetime | None = None,
        document_id: str | None = None,
    ) -> Document:
        document = Document.new(
            self._service, case_id, kind, title, html, issued_at, served_at, document_id
        )
        self._rows[document.document_id] = document
        return document

    def mark_served(self, document_id: str, served_at: datetime) -> None:
        held = self._rows[document_id]
        if held.served_at is None:
            self._rows[document_id] = replace(held, served_at=served_at)

    def get(self, document_id: str) -> Document | None:
        return self._rows.get(document_id)

    def for_case(self, case_id: str) -> list[Document]:
        return sorted(
            (d for d in self._rows.values() if d.case_id == case_id), key=lambda d: d.issued_at
        )


@dataclass
class FakeStore:
    """What a service's database holds, in memory: cases, deadlines, documents, the events
    written to its outbox, the events its inbox has seen, and any other repositories."""

    service: str
    cases: InMemoryCases = field(default_factory=InMemoryCases)
    deadlines: list[Deadline] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)
    published: list[PublishedEvent] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    repositories: dict[str, Any] = field(default_factory=dict)

    def events(self, event_type: str | None = None) -> list[PublishedEvent]:
        return [e for e in self.published if event_type in (None, e.event_type)]

    def timeline(self, case_id: str | None = None) -> list[dict[str, Any]]:
        """The ``case.progressed`` payloads written, in order."""
        return [e.payload for e in self.events("case.progressed") if case_id in (None, e.case_id)]

    def deadlines_of(self, case_id: str, rule_id: str | None = None) -> list[Deadline]:
        return [d for d in self.deadlines if d.case_id == case_id and rule_id in (None, d.rule_id)]


class FakeUnitOfWork:
    """One unit of work over a ``FakeStore``: everything it changed is kept only if the block
    ends without an error (a snapshot is restored otherwise)."""

    def __init__(self, store: FakeStore, clock: FakeClock, context: MessageContext):
        self._store, self._clock, self.context = store, clock, context
        self.now: datetime | None = None

    def __enter__(self) -> FakeUnitOfWork:
        store = self._store
        self._snapshot = copy.deepcopy(
            (
                store.cases.rows,
                store.deadlines,
                store.documents,
                store.published,
                store.seen,
                [getattr(r, "__dict__", None) for r in store.repositories.values()],
            )
        )
        self.now = self._clock.now()
        self.outbox = FakeOutbox(store.published, self.context)
        self.inbox = FakeInbox(store.seen)
        self.deadlines = FakeDeadlines(store.deadlines, self.outbox, store.service)
        self.documents = FakeDocuments(store.documents, store.service)
        self.cases = store.cases
        for name, repository in store.repositories.items():
            setattr(self, name, repository)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is not None:
            store = self._store
            (rows, deadlines, documents, published, seen, repos) = self._snapshot
            store.cases.rows = rows
            store.deadlines[:] = deadlines
            store.documents.clear()
            store.documents.update(documents)
            store.published[:] = published
            store.seen.clear()
            store.seen.update(seen)
            for repository, state in zip(store.repositories.values(), repos, strict=True):
                if state is not None:
                    repository.__dict__.clear()
                    repository.__dict__.update(state)
        return False


@dataclass
class FakeRuntime(Runtime):
    store: FakeStore = field(default=None)  # type: ignore[assignment]
    fake_clock: FakeClock = field(default=None)  # type: ignore[assignment]


def fake_runtime(
    service: str,
    *,
    now: datetime,
    view: Any = None,
    templates: Path | Templates | None = None,
    calendar: Any = None,
    **repositories: Any,
) -> FakeRuntime:
    """A runtime of ``hqcore.steps`` over an in-memory store; ``repositories`` become
    ``uow.<name>`` (in-memory fakes of the service's own repositories)."""
    store = FakeStore(service, repositories=repositories)
    clock = FakeClock(now)
    if isinstance(templates, Path):
        templates = Templates(templates)
    runtime = FakeRuntime(
        service,
        clock,
        calendar or WorkingCalendar(None),
        lambda context: FakeUnitOfWork(store, clock, context),
        templates,
        view,
        store=store,
        fake_clock=clock,
    )
    return runtime


@dataclass
class FakeEvent:
    """An event as a handler receives it (the envelope's fields it reads)."""

    event_type: str
    payload: dict[str, Any]
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    correlation_id: str = "test"
    acting_user: str | None = None


def as_received(event_type: str, payload: dict[str, Any], version: int = 1) -> FakeEvent:
    """An event as a subscriber hands it over: dumped by its contract as the outbox does, then
    loaded and validated on receipt (``hqcore.messaging.envelope.read_envelope``)."""
    import json

    from hqcore.contracts.registry import event_schema, load_event_payload

    wire = json.loads(json.dumps(event_schema(event_type, version).dump(payload), default=str))
    return FakeEvent(event_type, load_event_payload(event_type, version, wire))


def deliver(published: PublishedEvent) -> FakeEvent:
    """An event one service's handler wrote, as another service receives it."""
    return as_received(published.event_type, published.payload)
