"""Publicity's documents as drafts (pure): the public notice posted on the residents'
committee notice board (PU-1) and the deliberation body's minutes (PU-6, PU-7). Rendered from
``templates/`` by the kit when the step's effects are applied. Neither carries ID numbers."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hqcore import reference
from hqcore.clock import CHINA_TZ
from hqcore.contracts.common import PROGRAMS_LABEL_ZH
from hqcore.effects import DocumentDraft

if TYPE_CHECKING:
    from services.publicity.domain import PublicityCase

TEMPLATES = Path(__file__).parent / "templates"
OPINION_ZH = {"approve": "拟同意给予救助", "refuse": "拟不予救助"}
CONCLUSION_ZH = {"approve": "同意给予救助", "refuse": "不同意给予救助"}
KIND_ZH = {
    "leader_in_charge": "分管领导",
    "management_staff": "管理部门工作人员",
    "committee_staff": "居委会工作人员",
    "public_representative": "群众代表",
}
REASON_ZH = {
    "tekun": "特困人员供养，须开展民主评议",
    "objection": "公示期间有异议",
    "major_dispute": "投诉、举报等较大争议",
}


def street_name(street_code: str) -> str:
    return next((s["name"] for s in reference.streets() if s["code"] == street_code), street_code)


def public_notice(
    case: PublicityCase, publicity: dict[str, Any], now: datetime, days: int, document_id: str
) -> DocumentDraft:
    """The public notice (公示) of one round of publicity."""
    title = f"社会救助审核确认公示（{case.case_no}）"
    last_day = datetime.combine(
        datetime.fromisoformat(publicity["last_day"]).date(), time(12), CHINA_TZ
    )
    return DocumentDraft(
        "public_notice",
        title,
        "public_notice.html",
        {
            "title": title,
            "round": publicity["round"],
            "case_no": case.case_no,
            "program_label": PROGRAMS_LABEL_ZH[case.program],
            "community": case.community,
            "household_size": publicity["household_size"],
            "summary": publicity["summary"],
            "opinion_label": OPINION_ZH[publicity["opinion"]],
            "starts_at": now,
            "last_day": last_day,
            "days": days,
            "street_name": street_name(case.street_code),
        },
        document_id=document_id,
    )


def deliberation_minutes(
    case: PublicityCase,
    deliberation: dict[str, Any],
    reasons: list[str],
    now: datetime,
    document_id: str,
) -> DocumentDraft:
    """The body's minutes (会议纪要), archived in the family's file."""
    title = f"社会救助审批确认议事协商会议纪要（{case.case_no}）"
    return DocumentDraft(
        "deliberation_minutes",
        title,
        "deliberation_minutes.html",
        {
            "title": title,
            "case_no": case.case_no,
            "program_label": PROGRAMS_LABEL_ZH[case.program],
            "community": case.community,
            "reason": "；".join(REASON_ZH[r] for r in reasons),
            "held_at": now,
            "members": deliberation["members_present"],
            "body_size": deliberation["body_size"],
            "kind_labels": KIND_ZH,
            "minutes": deliberation["minutes"],
            "conclusion_label": CONCLUSION_ZH[deliberation["conclusion"]],
            "signed_off_by": deliberation["signed_off_by"],
            "approved_on": datetime.fromisoformat(
                deliberation["leadership_meeting_approved_on"]
            ).date(),
            "street_name": street_name(case.street_code),
        },
        document_id=document_id,
    )
