"""Verification's written notices as drafts (pure), served when issued (ORG-7): the notice of
ineligibility with its reasons (VE-3), the notice to correct an untruthful declaration and the
notice that the application is deemed withdrawn (VE-5). Rendered from ``templates/`` by the
kit when the step's effects are applied."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hqcore import reference
from hqcore.contracts.common import PROGRAMS_LABEL_ZH
from hqcore.effects import DocumentDraft

if TYPE_CHECKING:
    from services.verification.domain import MeansTest, VerificationCase

TEMPLATES = Path(__file__).parent / "templates"


def street_name(street_code: str) -> str:
    return next((s["name"] for s in reference.streets() if s["code"] == street_code), street_code)


def _notice(
    case: VerificationCase, kind: str, title: str, now: datetime, **context: Any
) -> DocumentDraft:
    """A notice to the applicant, issued and served ``now``."""
    return DocumentDraft(
        kind,
        title,
        f"{kind}.html",
        {
            "street_name": street_name(case.street_code),
            "case_no": case.case_no,
            "applicant_name": case.applicant.name,
            "program_label": PROGRAMS_LABEL_ZH[case.program],
            "issued_at": now,
            "accepted_at": case.accepted_at,
            **context,
        },
        served_at=now,
    )


def ineligibility_notice(
    case: VerificationCase,
    result: MeansTest,
    report_id: str,
    *,
    explain_by: datetime,
    now: datetime,
) -> DocumentDraft:
    """VE-3: the reasons, the figures, and 4 WD to explain."""
    return _notice(
        case,
        "ineligibility_notice",
        "不符合条件告知书",
        now,
        reasons=result.reasons,
        figures=result.figures(),
        round=case.round,
        report_id=report_id,
        explain_by=explain_by,
    )


def correction_notice(
    case: VerificationCase, detail: str, *, correct_by: datetime, now: datetime
) -> DocumentDraft:
    """VE-5: what was not declared truthfully, and the time to correct it."""
    return _notice(
        case, "correction_notice", "限期更正告知书", now, detail=detail, correct_by=correct_by
    )


def withdrawal_notice(
    case: VerificationCase, detail: str, *, correct_by: datetime, now: datetime
) -> DocumentDraft:
    """VE-5: not corrected in time: deemed withdrawn."""
    return _notice(
        case, "withdrawal_notice", "视为撤回申请告知书", now, detail=detail, correct_by=correct_by
    )
