"""``case.progressed``: every service tells the district what step a case reached, and who
acted, in the same transaction as the step itself.

Tamper evidence (SEC-16): an entry reporting documents carries each document's content hash
(``document_hashes``), and supervision keeps every case's timeline as a hash chain
(``chain_hash``): each entry stores the hash of the one before it and its own hash over its
canonical form, so editing, removing or reordering a stored entry or document breaks the chain
where ``python -m hqops.cli integrity verify`` can name it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any, Protocol

from hqcore.authz import Actor

# The ``prev_hash`` of a case's first entry: the chain starts from nothing.
GENESIS = "0" * 64


class _Outbox(Protocol):
    def add(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        case_id: str | None,
        street_code: str | None,
    ) -> object: ...


class _Context(Protocol):
    @property
    def service(self) -> str: ...


class _StoredDocument(Protocol):
    @property
    def content_hash(self) -> str | None: ...


class _Documents(Protocol):
    def get(self, document_id: str) -> _StoredDocument | None: ...


class TimelineUnit(Protocol):
    """What ``progressed`` needs of a unit of work (``hqcore.uow.UnitOfWork`` or a fake)."""

    @property
    def outbox(self) -> _Outbox: ...

    @property
    def documents(self) -> _Documents: ...

    @property
    def context(self) -> _Context: ...

    @property
    def now(self) -> datetime | None: ...


class CaseIdentity(Protocol):
    """A case's identity as attributes (an aggregate, a ``CaseRecord``)."""

    @property
    def case_id(self) -> str: ...

    @property
    def case_no(self) -> str: ...

    @property
    def program(self) -> str: ...

    @property
    def street_code(self) -> str: ...


def progressed(
    uow: TimelineUnit,
    case: CaseIdentity | Mapping[str, Any],
    *,
    step: str,
    action: str,
    actor: Actor | None = None,
    rule_id: str | None = None,
    note: str | None = None,
    document_ids: Iterable[str] = (),
    closed: bool = False,
) -> None:
    """``case`` is anything with case_id, case_no, program and street_code (attributes or keys).
    The documents named are looked up in this unit of work, so the entry carries the content
    hash of each one this service stored (SEC-16); another service's document has none here."""

    def get(name: str) -> Any:
        return case[name] if isinstance(case, dict) else getattr(case, name)

    ids = list(document_ids)

    uow.outbox.add(
        "case.progressed",
        {
            "case_id": get("case_id"),
            "case_no": get("case_no"),
            "program": get("program"),
            "street_code": get("street_code"),
            "service": uow.context.service,
            "step": step,
            "action": action,
            "actor_user": actor.user_id if actor else None,
            "actor_role": actor.role if actor else None,
            "rule_id": rule_id,
            "note": note,
            "document_ids": ids,
            "document_hashes": document_hashes(uow.documents, ids),
            "closed": closed,
            "at": uow.now,
        },
        case_id=get("case_id"),
        street_code=get("street_code"),
    )


def document_hashes(documents: _Documents, document_ids: Iterable[str]) -> dict[str, str]:
    """The content hash of each named document stored in this unit of work's database."""
    hashes: dict[str, str] = {}
    for document_id in document_ids:
        document = documents.get(document_id)
        if document is not None and document.content_hash:
            hashes[document_id] = document.content_hash
    return hashes


def canonical(fields: Mapping[str, Any]) -> str:
    """One text for the same content, whatever the database or the driver: keys sorted, no
    spaces, instants in UTC with microseconds. Frozen: stored hashes depend on it."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no canonical form")


def chain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """An entry's link: sha256 over the previous entry's hash and the entry's canonical form."""
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()
