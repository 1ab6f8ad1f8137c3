"""Resident identity numbers (GB 11643-1999): 18 characters, the last a check digit."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def problem(value: str) -> str | None:
    """Why ``value`` is not a valid resident ID number, or None when it is."""
    value = (value or "").upper()
    if not _SHAPE.match(value):
        return "must be 18 characters: 17 digits and a check digit (0-9 or X)"
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "contains an impossible date of birth"
    if check_digit(value[:17]) != value[17]:
        return "check digit does not match (GB 11643)"
    return None


def mask(value: str) -> str:
    """Show the region and the last two characters only: 120106********12."""
    if not value:
        return value
    return value[:6] + "*" * (len(value) - 8) + value[-2:]
