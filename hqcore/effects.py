"""What a step or an event handler decided, as data: the domain returns it, the kit applies it.

A domain function changes its case (state and fields) and returns ``Effects``: deadlines to
open and to meet, events to publish, documents to issue and the timeline entry. The step
skeleton (``hqcore.steps``) then saves the case and applies the effects in the same unit of
work, in this order: documents, deadlines met, deadlines opened, events, timeline entry.
Pure: no nameko, no SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hqcore.deadlines import Deadline


@dataclass(frozen=True)
class Progress:
    """The case's timeline entry for this step (``case.progressed``, ``hqcore.timeline``)."""

    action: str
    rule_id: str | None = None
    note: str | None = None
    document_ids: tuple[str, ...] = ()
    closed: bool = False
    step: str | None = None  # what the district's register shows; default: the case's status


@dataclass(frozen=True)
class Meet:
    """Open deadlines of ``rule_id`` on this case (or on ``key``) are met at ``at`` (now)."""

    rule_id: str
    at: datetime | None = None
    key: str | None = None


@dataclass(frozen=True)
class Event:
    """An event to publish through the outbox, about this case (or ``case_id``)."""

    event_type: str
    payload: dict[str, Any]
    case_id: str | None = None
    street_code: str | None = None


@dataclass(frozen=True)
class DocumentDraft:
    """A document to issue from the service's template ``template`` with ``context``.
    ``document_id``: given when the case or an event must name it (the handler draws one
    with ``ctx.new_document_id()``), else drawn on issue; either way it goes on the step's
    first timeline entry. ``served_at`` set: handed over on issue."""

    kind: str
    title: str
    template: str
    context: dict[str, Any]
    served_at: datetime | None = None
    document_id: str | None = None


@dataclass
class Effects:
    """The outcome of one step or event on one case."""

    opened: list[Deadline] = field(default_factory=list)
    met: list[Meet] = field(default_factory=list)
    meet_all: bool = False  # every open deadline of the case is met
    events: list[Event] = field(default_factory=list)
    documents: list[DocumentDraft] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    save: bool = True  # False: nothing changed, the case is not saved

    @classmethod
    def nothing(cls) -> Effects:
        """The event or step changed nothing (a late or repeated message)."""
        return cls(save=False)

    def open(self, *deadlines: Deadline | None) -> Effects:
        self.opened.extend(d for d in deadlines if d is not None)
        return self

    def meet(self, *rule_ids: str, at: datetime | None = None, key: str | None = None) -> Effects:
        self.met.extend(Meet(r, at, key) for r in rule_ids)
        return self

    def meet_every_open_deadline(self) -> Effects:
        """Every deadline still open on the case is met (a case that ends early)."""
        self.meet_all = True
        return self

    def emit(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        case_id: str | None = None,
        street_code: str | None = None,
    ) -> Effects:
        self.events.append(Event(event_type, payload, case_id, street_code))
        return self

    def issue(self, *documents: DocumentDraft) -> Effects:
        self.documents.extend(documents)
        return self

    def then(self, other: Effects) -> Effects:
        """Both outcomes, this one's first."""
        return Effects(
            self.opened + other.opened,
            self.met + other.met,
            self.meet_all or other.meet_all,
            self.events + other.events,
            self.documents + other.documents,
            self.progress + other.progress,
            self.save or other.save,
        )

    def record(
        self,
        action: str,
        rule_id: str | None = None,
        *,
        note: str | None = None,
        document_ids: tuple[str, ...] | list[str] = (),
        closed: bool = False,
        step: str | None = None,
    ) -> Effects:
        """Add a timeline entry (a step may make more than one, in order)."""
        self.progress.append(Progress(action, rule_id, note, tuple(document_ids), closed, step))
        return self


def progress(
    action: str,
    rule_id: str | None = None,
    *,
    note: str | None = None,
    document_ids: tuple[str, ...] | list[str] = (),
    closed: bool = False,
    step: str | None = None,
) -> Effects:
    """Effects with only a timeline entry: the usual start of a step's effects."""
    return Effects().record(
        action, rule_id, note=note, document_ids=document_ids, closed=closed, step=step
    )
