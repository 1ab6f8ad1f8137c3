"""Marshmallow fields shared by the contracts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

from hqcore import idnumber


class ResidentId(fields.String):
    """An 18-character resident ID number, validated by its check digit (GB 11643)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        loaded: str = super()._deserialize(value, attr, data, **kwargs)
        text = loaded.strip().upper()
        reason = idnumber.problem(text)
        if reason:
            raise ValidationError(f"invalid resident ID number: {reason}")
        return text


class Fen(fields.Integer):
    """An amount of money in integer fen (1 yuan = 100 fen); never a float."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)
