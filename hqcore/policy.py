"""The one row type of the effective-dated policy tables (standards, bands, limits). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

# The stored columns of a policy row, in order (besides its ``id``).
COLUMNS = ("key", "unit", "value", "valid_from", "valid_to", "source", "verified")


@dataclass(frozen=True)
class PolicyRate:
    """One effective-dated policy row, as stored: ``value`` in ``unit`` (fen for money)."""

    id: int
    key: str
    unit: str
    value: int
    valid_from: date
    valid_to: date | None
    source: str
    verified: bool

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def used(self) -> dict[str, Any]:
        """What a case records of a row it was computed from (auditable later)."""
        return {
            "id": self.id,
            "key": self.key,
            "unit": self.unit,
            "value": self.value,
            "valid_from": self.valid_from.isoformat(),
            "source": self.source,
            "verified": self.verified,
        }

    def view(self) -> dict[str, Any]:
        return {"id": self.id, **{k: getattr(self, k) for k in COLUMNS}}
