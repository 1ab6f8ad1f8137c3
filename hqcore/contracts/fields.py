"""Marshmallow fields shared by the contracts, and the check every untrusted payload passes.

Hostile input (SEC-8, SEC-9) is refused here, once, for the gateway and the services alike: a
string no store can keep (a NUL, which PostgreSQL refuses, or a lone surrogate, which is not
Unicode and cannot be encoded as UTF-8), nesting deeper than any contract needs, names without
a letter or with invisible characters, and dates outside the years the suite can mean.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from marshmallow import ValidationError, fields, validate

from hqcore import idnumber
from hqcore.errors import ValidationFailed

#: Deepest nesting of objects and lists a request may have. The deepest contract
#: (an application's obligors' family members) needs 5; anything far deeper is an attack on
#: the recursion of the parser, the schemas or the logs.
MAX_DEPTH = 32

#: The range of months and days a request may name (SEC-9): the suite keeps cases of this
#: century; year 1 or 9999 is a typo or an attack and would break date arithmetic.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)
EARLIEST_MONTH = EARLIEST_DAY.strftime("%Y-%m")
LATEST_MONTH = LATEST_DAY.strftime("%Y-%m")

# EARLIEST_MONTH to LATEST_MONTH, as a pattern: the OpenAPI document shows it.
_MONTH = re.compile(r"^(20[0-9]{2}-(0[1-9]|1[0-2])|2100-(0[1-9]|1[0-2]))$")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Unicode categories a name must not contain: control (Cc), format (Cf: zero-width spaces and
# joiners, U+2060, U+FEFF, the bidirectional embeddings, overrides and isolates), surrogates (Cs)
# and line or paragraph separators. Private-use characters stay allowed: some registers write
# rare characters of Chinese names with them.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def text_problem(value: str) -> str | None:
    """Why no store can keep ``value``, or None: PostgreSQL refuses NUL in text, and a lone
    surrogate (``"\\ud800"`` escaped in JSON) cannot be encoded, stored or answered as UTF-8."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character (U+0000)"
    return f"must not contain a lone surrogate (U+{ord(found.group()):04X}): it is not Unicode text"


def refuse_hostile(value: Any, prefix: str = "") -> None:
    """Raise 400 unless every string (key or value) of the untrusted ``value`` can be stored
    and it nests no deeper than ``MAX_DEPTH``: ``validation_failed`` naming the dotted field
    (``members.1.name``), ``invalid_json`` on ``body`` for the nesting. Iterative, so a
    payload deep enough to exhaust the recursion is refused instead of crashing."""
    stack: list[tuple[Any, str, int]] = [(value, prefix, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            reason = text_problem(item)
            if reason:
                field = path or "body"
                raise ValidationFailed(f"{field}: {reason}", field=field)
            continue
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth >= MAX_DEPTH:
            raise ValidationFailed(
                f"the request nests deeper than {MAX_DEPTH} levels",
                field="body",
                code="invalid_json",
            )
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in reversed(list(children)):
            key_problem = text_problem(key) if isinstance(key, str) else None
            # A hostile field name is named escaped, so the error answer can carry it.
            name = key.encode("unicode_escape").decode("ascii") if key_problem else str(key)
            child_path = f"{path}.{name}" if path else name
            if key_problem:
                raise ValidationFailed(
                    f"{child_path}: a field name {key_problem}", field=child_path
                )
            stack.append((child, child_path, depth + 1))


class Text(fields.String):
    """A string a store can keep: no NUL, no lone surrogate (SEC-8)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        loaded: str = super()._deserialize(value, attr, data, **kwargs)
        reason = text_problem(loaded)
        if reason:
            raise ValidationError(reason)
        return loaded


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a person's name, or None: a name is printed on notices and lists
    and searched by clerks, so it must show at least one letter and nothing invisible that
    would make two names look alike or reorder the text around them (SEC-9)."""
    reason = text_problem(value)
    if reason:
        return reason
    for char in value:
        if unicodedata.category(char) in _NOT_IN_NAMES:
            return (
                f"must not contain control, zero-width or bidirectional characters "
                f"(U+{ord(char):04X})"
            )
    if not any(unicodedata.category(char).startswith("L") for char in value):
        return "must contain at least one letter"
    return None


class PersonName(Text):
    """A person's (or a committee's) name: printable, with a letter; surrounding spaces are
    dropped, as a clerk pasting a name means none (SEC-9)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        reason = name_problem(loaded)
        if reason:
            raise ValidationError(reason)
        return loaded.strip()


class Month(Text):
    """A calendar month ``YYYY-MM`` between ``EARLIEST_MONTH`` and ``LATEST_MONTH`` (SEC-9); the
    range is in the pattern itself, so the OpenAPI document states it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.insert(
            0,
            validate.Regexp(
                _MONTH, error=f"a month written YYYY-MM, from {EARLIEST_MONTH} to {LATEST_MONTH}"
            ),
        )


def _within_the_range(value: date) -> None:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValidationError(f"a date from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}")


class Day(fields.Date):
    """A calendar date between ``EARLIEST_DAY`` and ``LATEST_DAY`` (SEC-9)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.insert(0, _within_the_range)


class ResidentId(Text):
    """An 18-character resident ID number, validated by its check digit (GB 11643), its
    province prefix and its date of birth (``hqcore.idnumber.problem``)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        text = loaded.strip().upper()
        reason = idnumber.problem(text, today=idnumber.today())
        if reason:
            raise ValidationError(f"invalid resident ID number: {reason}")
        return text


class Fen(fields.Integer):
    """An amount of money in integer fen (1 yuan = 100 fen); never a float."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)
