"""Marshmallow fields shared by the contracts."""
from __future__ import annotations

from marshmallow import ValidationError, fields

from hqcore import idnumber


class ResidentId(fields.String):
    """An 18-character resident ID number, validated by its check digit (GB 11643)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        reason = idnumber.problem(text)
        if reason:
            raise ValidationError(f"invalid resident ID number: {reason}")
        return text


class Fen(fields.Integer):
    """An amount of money in integer fen (1 yuan = 100 fen); never a float."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)
