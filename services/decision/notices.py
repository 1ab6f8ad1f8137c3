"""Decision's documents as drafts (pure): the decision letters served on the applicant (ORG-7:
DE-5, DE-7, VE-3) and the monthly roster and report filed with the district (DE-3). Rendered
from the Chinese templates in ``templates/`` by the kit when the effects are applied."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hqcore import reference
from hqcore.contracts.common import PROGRAMS_LABEL_ZH
from hqcore.effects import DocumentDraft

if TYPE_CHECKING:
    from services.decision.domain import DecisionCase

TEMPLATES = Path(__file__).parent / "templates"
DISTRICT_ISSUER = "天津市红桥区民政局"
CARE_MODE_ZH = {"dispersed": "分散供养", "institutional": "集中供养"}
GUARDIANSHIP_ZH = {
    "self": "本人",
    "relative": "亲属监护",
    "residents_committee": "居民委员会监护",
    "institution": "供养机构监护",
    "other": "其他",
}
# (kind, title suffix, template) of the documents each outcome serves
DOCUMENTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "approved": (
        ("decision_letter", "审核确认决定书", "decision_letter.html"),  # DE-5
        ("duty_to_report_notice", "变更报告义务告知书", "duty_to_report.html"),
    ),
    "refused": (
        ("refusal_notice", "不予批准告知书", "refusal_notice.html"),  # DE-7
    ),
    "non_confirmed": (
        (
            "non_confirmation_decision",
            "不予确认决定书",  # VE-3
            "non_confirmation.html",
        ),
    ),
}


def street_office(street_code: str) -> str:
    names = {s["code"]: s["name"] for s in reference.streets()}
    return f"{names.get(street_code, street_code)}办事处"


def issuer(case: DecisionCase) -> str:
    """ORG-7: the street issues; the district on the pre-reform route (ORG-1)."""
    if case.deciding_authority == "district":
        return DISTRICT_ISSUER
    return street_office(case.street_code)


def decision_letters(case: DecisionCase, now: datetime) -> list[DocumentDraft]:
    """The documents the recorded decision serves, under the ids the decision names."""
    decision = case.decision
    assert decision is not None
    program_zh = PROGRAMS_LABEL_ZH[case.program]
    care = case.care_arrangement
    context: dict[str, Any] = {
        "issuer": issuer(case),
        "case_no": case.case_no,
        "applicant_name": case.applicant.name,
        "program_zh": program_zh,
        "accepted_at": case.accepted_at,
        "decided_at": now,
        "reasons": decision.reasons,
        "amount": case.amount,
        "deliberation_held": bool(case.publicity and case.publicity.deliberation_held),
        "care": care,
        "payee": case.payee,
        "care_mode_zh": CARE_MODE_ZH[care.care_mode] if care else None,
        "guardianship_zh": GUARDIANSHIP_ZH[care.guardianship_mode] if care else None,
        "decider_zh": "街道分管领导" if case.deciding_authority == "street" else "区民政局",
    }
    drafts = []
    for (kind, suffix, template), document_id in zip(
        DOCUMENTS[decision.outcome], decision.document_ids, strict=True
    ):
        title = suffix if kind == "duty_to_report_notice" else f"{program_zh}{suffix}"
        drafts.append(
            DocumentDraft(
                kind, title, template, {**context, "title": title}, document_id=document_id
            )
        )
    return drafts


def monthly_report(report: dict[str, Any], filed_at: datetime) -> DocumentDraft:
    """The roster and monthly report filed with the district (DE-3), handed over on filing."""
    title = f"{report['month']} 新增救助对象花名册及月报表"
    return DocumentDraft(
        "monthly_report",
        title,
        "monthly_report.html",
        {
            "title": title,
            "report": report,
            "issuer": street_office(report["street_code"]),
            "filed_at": filed_at,
            "programs_zh": PROGRAMS_LABEL_ZH,
        },
        served_at=filed_at,
    )
