"""Resident identity numbers (GB 11643-1999): 18 characters, the last a check digit.

The first six digits are the region of first registration (GB/T 2260). Only the two-digit
province code is checked against a list: the full list of counties changes every year and an
ID number keeps the code of a county long since merged, so a list of six-digit codes would
refuse real people, while a province code outside ``PROVINCES`` (``99`` of ``999999``) is never
issued. The date of birth (digits 7-14) must be a real day, not before 1900 and not after today.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from hqcore.clock import CHINA_TZ

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")

#: The province-level codes of GB/T 2260: North China 11-15, the North-East 21-23, the East
#: 31-37, Central and South 41-46, the South-West 50-54, the North-West 61-65, Taiwan 71, Hong
#: Kong 81 and Macao 82 (the codes the resident identity cards of these regions carry).
PROVINCES = frozenset(
    {
        *("11", "12", "13", "14", "15"),
        *("21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46"),
        *("50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65"),
        *("71", "81", "82"),
    }
)
#: No one registered today was born before this year.
EARLIEST_BIRTH_YEAR = 1900


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def today() -> date:
    """The real China-local date, against which a birth date is "not in the future".

    Deliberately the real date and not the suite's clock: a contract is checked in the
    gateway and in every service before any settings or clock are at hand, and a controlled
    clock that runs ahead of real time would otherwise let a date of birth still in the future
    through."""
    return datetime.now(CHINA_TZ).date()


def problem(value: str, today: date | None = None) -> str | None:
    """Why ``value`` is not a valid resident ID number, or None when it is; the birth date is
    checked against ``today`` when one is given (``hqcore.idnumber.today()`` in the contracts)."""
    value = (value or "").upper()
    if not _SHAPE.match(value):
        return "must be 18 characters: 17 digits and a check digit (0-9 or X)"
    if value[:2] not in PROVINCES:
        return f"unknown region code {value[:6]}: no province {value[:2]} in GB/T 2260"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "contains an impossible date of birth"
    if born.year < EARLIEST_BIRTH_YEAR:
        return f"date of birth before {EARLIEST_BIRTH_YEAR}"
    if today is not None and born > today:
        return "date of birth in the future"
    if check_digit(value[:17]) != value[17]:
        return "check digit does not match (GB 11643)"
    return None


def mask(value: str) -> str:
    """Show the region and the last two characters only: 120106********12."""
    if not value:
        return value
    return value[:6] + "*" * (len(value) - 8) + value[-2:]
