"""The one base of every service's case: identity, state, and the two state rules.

A service's case is a dataclass on ``CaseAggregate`` with typed fields for what that service
knows; ``require_state`` and ``move`` are the only ways a step checks and changes the state, so
a step in the wrong state is always ``409 invalid_state`` with the same details. ``version``
counts saves: the repository stores a case only from the version it was read in (see
``hqcore.case_records``). Pure: no nameko, no SQLAlchemy.

Stored as one row: the identity and state in columns, the service's own fields as JSON
(``to_details`` / ``from_details``), converted by their annotations: ``datetime``, ``date``,
nested dataclasses, lists and dicts of them, and optional ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar, get_type_hints

from hqcore.errors import InvalidState

A = TypeVar("A", bound="CaseAggregate")

# The columns every case row has; everything else is the service's own (JSON).
IDENTITY = ("case_id", "case_no", "program", "street_code", "status", "since", "version")


@dataclasses.dataclass(kw_only=True)
class CaseAggregate:
    """What one service holds about one case."""

    case_id: str
    case_no: str
    program: str
    street_code: str
    status: str
    since: datetime
    version: int = 0

    service: ClassVar[str] = ""

    def require_state(self, allowed: Iterable[str], step: str) -> None:
        """409 ``invalid_state`` unless the case is in one of ``allowed``."""
        allowed = tuple(allowed)
        if self.status not in allowed:
            raise InvalidState(step, self.status, allowed)

    def move(self, allowed: Iterable[str], to: str, now: datetime, step: str) -> None:
        """Check the state, then move to ``to`` from ``now``."""
        self.require_state(allowed, step)
        self.status, self.since = to, now

    # -- storage --------------------------------------------------------------------------
    def to_details(self) -> dict[str, Any]:
        """The service's own fields, JSON-ready."""
        return {
            f.name: _dump(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in IDENTITY
        }

    @classmethod
    def from_row(cls: type[A], identity: dict[str, Any], details: dict[str, Any]) -> A:
        """The case from its identity columns and its stored details."""
        hints = get_type_hints(cls)
        values = {name: identity[name] for name in IDENTITY if name in identity}
        for f in dataclasses.fields(cls):
            if f.name in IDENTITY or f.name not in details:
                continue  # a field added since the row was written keeps its default
            values[f.name] = _load(hints[f.name], details[f.name])
        return cls(**values)


def _dump(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _dump(v) for k, v in value.items()}
    return value


def _load(hint: Any, value: Any) -> Any:
    """``value`` from JSON as the annotation ``hint`` says."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _load(options[0], value) if len(options) == 1 else value
    if hint is datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if hint is date:
        return value if isinstance(value, date) else date.fromisoformat(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = get_type_hints(hint)
        return hint(
            **{
                f.name: _load(hints[f.name], value[f.name])
                for f in dataclasses.fields(hint)
                if f.name in value
            }
        )
    if origin in (list, tuple) and typing.get_args(hint):
        item = typing.get_args(hint)[0]
        loaded = [_load(item, v) for v in value]
        return loaded if origin is list else tuple(loaded)
    if origin is dict and len(typing.get_args(hint)) == 2:
        item = typing.get_args(hint)[1]
        return {k: _load(item, v) for k, v in value.items()}
    return value
