"""Intake's document as a draft (pure): the one written notice listing every missing item
(补正申请材料一次性告知书, IN-6), handed over on filing. Rendered from ``templates/`` by the kit
when the step's effects are applied."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hqcore.contracts.common import PROGRAMS_LABEL_ZH
from hqcore.effects import DocumentDraft

if TYPE_CHECKING:
    from services.intake.domain import Application, MissingItem, Street

TEMPLATES = Path(__file__).parent / "templates"
NOTICE_TITLE = "补正申请材料一次性告知书"


def materials_notice(
    app: Application, street: Street, missing: list[MissingItem], now: datetime
) -> DocumentDraft:
    """IN-6: every missing material and unsigned authorisation (IN-7), all at once, addressed
    to whoever filed (the proxy) or to the applicant; served on the spot."""
    addressee = app.proxy.name if app.proxy else app.applicant.name
    return DocumentDraft(
        "materials_notice",
        NOTICE_TITLE,
        "materials_notice.html",
        {
            "street_name": street.name,
            "case_no": app.case_no,
            "applicant_name": app.applicant.name,
            "submitted_at": app.submitted_at,
            "program_label": PROGRAMS_LABEL_ZH[app.program],
            "addressee": addressee,
            "missing": [item.label for item in missing],
        },
        served_at=now,
    )
