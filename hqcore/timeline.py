"""``case.progressed``: every service tells the district what step a case reached, and who
acted, in the same transaction as the step itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from hqcore.authz import Actor


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


class TimelineUnit(Protocol):
    """What ``progressed`` needs of a unit of work (``hqcore.uow.UnitOfWork`` or a fake)."""

    @property
    def outbox(self) -> _Outbox: ...

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
    """``case`` is anything with case_id, case_no, program and street_code (attributes or keys)."""

    def get(name: str) -> Any:
        return case[name] if isinstance(case, dict) else getattr(case, name)

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
            "document_ids": list(document_ids),
            "closed": closed,
            "at": uow.now,
        },
        case_id=get("case_id"),
        street_code=get("street_code"),
    )
