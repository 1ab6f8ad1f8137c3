"""The decision documents (ORG-7): rendered from the Chinese templates beside this module."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hqcore import reference
from hqcore.casefile import CaseRecord
from hqcore.contracts.common import PROGRAMS_LABEL_ZH
from hqcore.documents import Templates
from services.decision.domain import APPROVED, NON_CONFIRMED, REFUSED, Decision

TEMPLATES = Templates(Path(__file__).parent / "templates")
DISTRICT_ISSUER = "天津市红桥区民政局"
CARE_MODE_ZH = {"dispersed": "分散供养", "institutional": "集中供养"}
GUARDIANSHIP_ZH = {"self": "本人", "relative": "亲属监护", "residents_committee": "居民委员会监护",
                   "institution": "供养机构监护", "other": "其他"}
# (kind, title suffix, template) of the documents each outcome serves
DOCUMENTS = {
    APPROVED: (("decision_letter", "审核确认决定书", "decision_letter.html"),       # DE-5
               ("duty_to_report_notice", "变更报告义务告知书", "duty_to_report.html")),
    REFUSED: (("refusal_notice", "不予批准告知书", "refusal_notice.html"),           # DE-7
              ),
    NON_CONFIRMED: (("non_confirmation_decision", "不予确认决定书",                   # VE-3
                     "non_confirmation.html"),),
}


def issuer(record: CaseRecord) -> str:
    """ORG-7: the street issues; the district on the pre-reform route (ORG-1)."""
    if record.details["deciding_authority"] == "district":
        return DISTRICT_ISSUER
    return street_office(record.street_code)


def street_office(street_code: str) -> str:
    names = {s["code"]: s["name"] for s in reference.streets()}
    return f"{names.get(street_code, street_code)}办事处"


def render_monthly_report(report: dict, filed_at: datetime) -> tuple[str, str]:
    """(title, html) of the roster and monthly report filed with the district (DE-3)."""
    title = f"{report['month']} 新增救助对象花名册及月报表"
    return title, TEMPLATES.render("monthly_report.html", title=title, report=report,
                                   issuer=street_office(report["street_code"]),
                                   filed_at=filed_at, programs_zh=PROGRAMS_LABEL_ZH)


def render(record: CaseRecord, decision: Decision, now: datetime) -> list[tuple[str, str, str]]:
    """(kind, title, html) of every document the decision serves."""
    program_zh = PROGRAMS_LABEL_ZH[record.program]
    care = decision.care_arrangement
    context = {
        "issuer": issuer(record), "case_no": record.case_no,
        "applicant_name": record.details["applicant"]["name"], "program_zh": program_zh,
        "accepted_at": datetime.fromisoformat(record.details["accepted_at"]),
        "decided_at": now, "reasons": decision.reasons,
        "amount": decision.amount.view() if decision.amount else None,
        "deliberation_held": bool((record.details.get("publicity") or {})
                                  .get("deliberation_held")),
        "care": care, "payee": decision.payee,
        "care_mode_zh": CARE_MODE_ZH[care["care_mode"]] if care else None,
        "guardianship_zh": GUARDIANSHIP_ZH[care["guardianship_mode"]] if care else None,
        "decider_zh": ("街道分管领导" if record.details["deciding_authority"] == "street"
                       else "区民政局"),
    }
    documents = []
    for kind, suffix, template in DOCUMENTS[decision.outcome]:
        title = suffix if kind == "duty_to_report_notice" else f"{program_zh}{suffix}"
        documents.append((kind, title, TEMPLATES.render(template, title=title, **context)))
    return documents
