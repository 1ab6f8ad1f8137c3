"""A family's personal data as the roles that may not see it are shown it (SEC-6).

One definition, used by the gateway's JSON answers (``gateway.web.present``) and by the
documents every service serves (``BaseService.get_document``): which keys hold a family's
personal figures (incomes, money assets, bank accounts), how an ID number is masked, and how
a rendered document hides them.

Documents are stored rendered, without their context, so a masked rendering cannot re-run the
template. Instead a template marks every personal figure it prints with the key it comes from,
``<span data-personal="income_per_head_fen">{{ figures.income_per_head_fen | yuan }}</span>``
(``tests/unit/test_document_masking.py`` checks that every template marks every personal key
it prints), and ``mask_document`` blanks the spans whose key this module calls personal. The
spans are safe to find with a pattern: a template's output is HTML-escaped, so no value can
contain ``<`` and forge or close one. A document without the ``PERSONAL_DATA_MARKED`` meta tag
was rendered before templates marked their figures and cannot be masked: it is withheld.

Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from hqcore import idnumber

# Key prefixes of a family's personal figures: ``income_per_head_fen``, ``incomes``,
# ``money_assets_fen``, ``account_number``...
PERSONAL_FIGURES = ("income", "money_assets", "account_number")
# The keys holding ID numbers: one, or a list of them.
ID_NUMBER, ID_NUMBERS = "id_number", "id_numbers"
MASKED = "***"

# The meta tag every template carries since its personal figures are marked.
PERSONAL_DATA_MARKED = '<meta name="hq-personal-data" content="marked">'
_MARKED_SPAN = re.compile(r'(<span data-personal="([a-z_]+)">)[^<]*(</span>)')
# An 18-character resident ID number anywhere in a text (free-text reasons, notes, minutes).
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


def is_personal_figure(key: str) -> bool:
    """Whether the value under ``key`` is one of a family's personal figures."""
    return key.startswith(PERSONAL_FIGURES)


def mask_id_numbers_in_text(text: str) -> str:
    """``text`` with every valid ID number in it masked (``idnumber.mask``)."""
    return _ID_IN_TEXT.sub(
        lambda m: m.group(0) if idnumber.problem(m.group(0)) else idnumber.mask(m.group(0)), text
    )


def mask(value: Any) -> Any:
    """Copy a JSON value with its ID numbers masked (under their keys and inside any text)
    and its personal figures replaced by ``MASKED``, at any depth."""
    if isinstance(value, dict):
        return {key: _mask_item(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, str):
        return mask_id_numbers_in_text(value)
    return value


def _mask_item(key: Any, item: Any) -> Any:
    if not isinstance(key, str):
        return mask(item)
    if is_personal_figure(key):
        return MASKED
    if key == ID_NUMBER and isinstance(item, str):
        return idnumber.mask(item)
    if key == ID_NUMBERS and isinstance(item, list):
        return [idnumber.mask(v) if isinstance(v, str) else v for v in item]
    return mask(item)


def can_mask_document(html: str) -> bool:
    """Whether ``html`` was rendered from a template that marks its personal figures."""
    return PERSONAL_DATA_MARKED in html


def mask_document(html: str) -> str:
    """``html`` with the marked personal figures blanked and any ID number masked; only for a
    document that ``can_mask_document``."""

    def blank(match: re.Match[str]) -> str:
        opening, key, closing = match.groups()
        return f"{opening}{MASKED}{closing}" if is_personal_figure(key) else match.group(0)

    return mask_id_numbers_in_text(_MARKED_SPAN.sub(blank, html))
