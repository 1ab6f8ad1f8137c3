"""Verification's rules (VE-1 to VE-5): the household investigation, the information check,
the means test and the applicant's windows to explain (VE-3) and to correct (VE-5).

Pure: a case is a ``CaseRecord`` whose ``details`` hold the household, the rounds of
investigation and check, the documents issued and the service's timeline. Functions here
change a record in memory; the service stores it and emits what they return.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from hqcore.authz import INVESTIGATOR, Actor
from hqcore.casefile import CaseRecord
from hqcore.clock import local_date
from hqcore.deadlines import Deadline, Unit
from hqcore.errors import Conflict, ValidationFailed

# States of a case in verification (docs/procedure.md).
INVESTIGATION = "investigation"
INFORMATION_CHECK = "information_check"
DISTRICT_CHECK = "district_check"
CITY_CHECK = "city_check"
AWAITING_EXPLANATION = "awaiting_explanation"
VERIFIED = "verified"
NON_CONFIRMATION_PROPOSED = "non_confirmation_proposed"
AWAITING_CORRECTION = "awaiting_correction"
WITHDRAWN = "withdrawn"
# VE-5: an untruthful declaration can be found at any open step before the case left us.
CORRECTABLE = (INVESTIGATION, INFORMATION_CHECK, DISTRICT_CHECK, CITY_CHECK,
               AWAITING_EXPLANATION)

INVESTIGATION_WORKING_DAYS = {"dibao": 3, "low_income": 3, "tekun": 15}  # VE-1
EXPLANATION_WORKING_DAYS = 4  # VE-3
# VE-5 says "in time" [interpretation]: 5 WD from the written notice to correct.
CORRECTION_WORKING_DAYS = 5
POLICY_KEYS = ("dibao_standard", "low_income_upper_ratio_permille",
               "money_assets_months_per_head")


# -- opening and rounds -------------------------------------------------------------------

def investigation_deadline(record: CaseRecord, started_at: datetime, calendar) -> Deadline:
    """VE-1: the household investigation within 3 WD (dibao, low-income) or 15 WD (tekun)."""
    return Deadline.open(record.case_id, record.street_code, "VE-1",
                         INVESTIGATION_WORKING_DAYS[record.program], Unit.WORKING_DAYS,
                         started_at, calendar)


def open_verification(accepted: dict, calendar) -> tuple[CaseRecord, Deadline]:
    """An accepted case awaits its household investigation (VE-1); the household (members,
    obligors and their families, IN-3) is kept for the information check."""
    record = CaseRecord.from_accepted(
        accepted, INVESTIGATION, accepted_at=accepted["accepted_at"].isoformat(),
        community=accepted["community"], applicant=accepted["applicant"],
        members=accepted["members"], obligors=accepted["obligors"], round=1,
        rounds=[new_round(1, "application", accepted["accepted_at"])],
        untruthful_declaration=None, documents=[], timeline=[])
    return record, investigation_deadline(record, accepted["accepted_at"], calendar)


def new_round(number: int, cause: str, at: datetime) -> dict:
    return {"round": number, "cause": cause, "opened_at": at.isoformat(), "investigation": None,
            "checks": [], "report": None, "means_test": None, "explanation": None,
            "explanation_deadline_id": None}


def current_round(record: CaseRecord) -> dict:
    return record.details["rounds"][-1]


def require_state(record: CaseRecord, step: str, *states: str) -> None:
    """409 ``invalid_state`` unless the case is in one of ``states``."""
    if record.status not in states:
        raise Conflict(f"{step} is not possible while the case is {record.status}",
                       field="status", code="invalid_state",
                       details={"status": record.status, "expected": list(states)})


def move(record: CaseRecord, status: str, now: datetime) -> None:
    record.status, record.since = status, now


def reopen_for_reinvestigation(record: CaseRecord, cause: str, at: datetime) -> bool:
    """PU-3, PU-4: a verified case goes back to a new household investigation; False when the
    case is elsewhere (it ended, or a new round is already open)."""
    if record.status != VERIFIED:
        return False
    record.details["round"] += 1
    record.details["rounds"].append(new_round(record.details["round"], cause, at))
    move(record, INVESTIGATION, at)
    return True


# -- the household investigation (VE-1, VE-4) ---------------------------------------------

def check_investigators(actor: Actor, investigators: list[dict], street_code: str) -> None:
    """VE-1: at least two investigators of the case's street, the acting one among them."""
    if actor.user_id not in {person["user_id"] for person in investigators}:
        raise ValidationFailed("the acting investigator must be one of the investigators",
                               field="investigators", code="acting_investigator_not_listed")
    for person in investigators:
        if person["role"] != INVESTIGATOR or person["street_code"] != street_code:
            raise ValidationFailed(f"{person['user_id']} is not an investigator of this street",
                                   field="investigators", code="not_a_street_investigator")


def record_investigation(record: CaseRecord, request: dict, actor: Actor,
                         now: datetime) -> None:
    require_state(record, "record_investigation", INVESTIGATION)
    check_investigators(actor, request["investigators"], record.street_code)
    if record.program == "tekun" and request["self_care"] is None:
        raise ValidationFailed("a tekun investigation assesses the self-care level",
                               field="self_care", code="self_care_required")
    current_round(record)["investigation"] = {
        "investigators": [{"user_id": p["user_id"], "name": p["name"]}
                          for p in request["investigators"]],
        "methods": request["methods"], "findings": request["findings"],
        "applicant_signed": True, "self_care": request["self_care"],
        "recorded_by": actor.user_id, "recorded_at": now.isoformat(),
    }
    move(record, INFORMATION_CHECK, now)


# -- the information check (VE-2) ---------------------------------------------------------

CHECK_STAGES = {  # step: (state before, state after)
    "pre_review": (INFORMATION_CHECK, DISTRICT_CHECK),
    "district_review": (DISTRICT_CHECK, CITY_CHECK),
}


def record_check(record: CaseRecord, stage: str, opinion: str, actor: Actor,
                 now: datetime) -> None:
    before, after = CHECK_STAGES[stage]
    require_state(record, stage, before)
    current_round(record)["checks"].append({
        "stage": stage, "opinion": opinion, "by": actor.user_id, "role": actor.role,
        "at": now.isoformat()})
    move(record, after, now)


def persons_to_check(record: CaseRecord) -> list[dict]:
    """Everyone whose income and assets the city checks (IN-3): the co-residing members, the
    obligors and the obligors' family members."""
    persons = [{**_person(m), "role": "member"} for m in record.details["members"]]
    for obligor in record.details["obligors"]:
        persons.append({**_person(obligor), "role": "obligor"})
        persons += [{**_person(f), "role": "obligor_family"} for f in obligor["family_members"]]
    return persons


def _person(data: dict) -> dict:
    return {"name": data["name"], "id_number": data["id_number"],
            "relationship": data["relationship"]}


def city_reference(record: CaseRecord) -> str:
    """The key the city check of this round is commissioned under (idempotent)."""
    return f"{record.case_id}/{record.details['round']}"


# -- the verification report and the means test -------------------------------------------

@dataclass(frozen=True)
class PersonFindings:
    """What the city platform found for one person; money in integer fen, incomes monthly
    and net of tax, social insurance and housing fund."""
    id_number: str
    wages_fen: int = 0
    pension_fen: int = 0
    other_income_fen: int = 0
    deposits_fen: int = 0
    securities_fen: int = 0
    vehicles: tuple = ()      # {"plate", "mobility_aid"}
    properties: tuple = ()    # {"kind": "residential" | "non_residential", "area_m2"}
    companies: tuple = ()     # {"name", "registered_capital_fen"}

    @property
    def income_fen(self) -> int:
        return self.wages_fen + self.pension_fen + self.other_income_fen

    @property
    def money_assets_fen(self) -> int:
        """Cash, deposits, securities and registered capital (reference-data.md)."""
        return (self.deposits_fen + self.securities_fen
                + sum(c["registered_capital_fen"] for c in self.companies))


@dataclass(frozen=True)
class VerificationReport:
    """The city verification agency's report (核对报告) on one commissioned check."""
    report_id: str
    request_id: str
    issued_at: datetime
    findings: tuple[PersonFindings, ...]

    def of(self, id_number: str) -> PersonFindings:
        return next((f for f in self.findings if f.id_number == id_number),
                    PersonFindings(id_number))


@dataclass(frozen=True)
class PolicyRow:
    key: str
    valid_from: date
    value: int
    source: str
    verified: bool

    def used(self) -> dict:
        return {"key": self.key, "valid_from": self.valid_from.isoformat(), "value": self.value,
                "source": self.source, "verified": self.verified}


@dataclass(frozen=True)
class MeansTest:
    eligible: bool
    reasons: list[str]
    program: str
    assessed_on: date
    household_size: int
    income_household_fen: int
    income_per_head_fen: int
    money_assets_fen: int
    money_assets_limit_fen: int
    standard_fen: int
    low_income_upper_fen: int
    policy_rows: list[dict] = field(default_factory=list)

    def figures(self) -> dict:
        return {**asdict(self), "assessed_on": self.assessed_on.isoformat()}


REASONS = {
    "income": "家庭月人均收入不低于本市城乡居民最低生活保障标准",
    "low_income_band": "家庭月人均收入不在低收入家庭认定范围内（低保标准的1倍至1.5倍）",
    "money_assets": "家庭人均货币财产超过规定上限（24个月低保标准）",
    "vehicle": "家庭成员拥有机动车辆（残疾人功能性补偿代步车除外）",
    "homes": "家庭成员拥有两套及以上住房",
    "non_residential": "家庭成员拥有非居住类房屋",
    "company": "家庭成员拥有或参股企业",
}


def means_test(program: str, members: list[dict], report: VerificationReport,
               policy: dict[str, PolicyRow], assessed_on: date) -> MeansTest:
    """The household means test on the co-residing members (reference-data.md).

    Income per head = the members' net monthly income / household size (floor, in fen),
    against the dibao standard in force on ``assessed_on`` (the acceptance date): dibao and
    tekun below it; low-income at least it and below the upper ratio. Money assets at most
    the months of the standard per head. Any car (mobility aids excepted), two or more homes,
    non-residential property or a company disqualifies. Obligors are checked and reported
    but not counted here [interpretation: the seed gives no test of an obligor's capacity
    to support; the reviewer sees their figures in the report].
    """
    standard = policy["dibao_standard"].value
    size = len(members)
    found = [report.of(m["id_number"]) for m in members]
    income = sum(f.income_fen for f in found)
    per_head = income // size
    assets = sum(f.money_assets_fen for f in found)
    assets_limit = policy["money_assets_months_per_head"].value * standard * size
    upper = standard * policy["low_income_upper_ratio_permille"].value // 1000
    reasons = []
    if program in ("dibao", "tekun") and per_head >= standard:
        reasons.append(REASONS["income"])
    if program == "low_income" and not standard <= per_head < upper:
        reasons.append(REASONS["low_income_band"])
    if assets > assets_limit:
        reasons.append(REASONS["money_assets"])
    if any(not v.get("mobility_aid") for f in found for v in f.vehicles):
        reasons.append(REASONS["vehicle"])
    if sum(p["kind"] == "residential" for f in found for p in f.properties) >= 2:
        reasons.append(REASONS["homes"])
    if any(p["kind"] != "residential" for f in found for p in f.properties):
        reasons.append(REASONS["non_residential"])
    if any(f.companies for f in found):
        reasons.append(REASONS["company"])
    return MeansTest(
        eligible=not reasons, reasons=reasons, program=program, assessed_on=assessed_on,
        household_size=size, income_household_fen=income, income_per_head_fen=per_head,
        money_assets_fen=assets, money_assets_limit_fen=assets_limit, standard_fen=standard,
        low_income_upper_fen=upper,
        policy_rows=[policy[key].used() for key in POLICY_KEYS])


def report_view(report: VerificationReport, persons: list[dict]) -> dict:
    """The report as the case view shows it: incomes and money assets under ``income`` and
    ``money_assets`` keys, which the gateway masks for roles that must not see them."""
    def person(p: dict) -> dict:
        f = report.of(p["id_number"])
        return {**p,
                "income": {"wages_fen": f.wages_fen, "pension_fen": f.pension_fen,
                           "other_fen": f.other_income_fen, "total_fen": f.income_fen},
                "money_assets": {"deposits_fen": f.deposits_fen,
                                 "securities_fen": f.securities_fen,
                                 "total_fen": f.money_assets_fen},
                "vehicles": list(f.vehicles), "properties": list(f.properties),
                "companies": [{"name": c["name"]} for c in f.companies]}
    return {"report_id": report.report_id, "request_id": report.request_id,
            "issued_at": report.issued_at.isoformat(), "persons": [person(p) for p in persons]}


def apply_report(record: CaseRecord, report: VerificationReport, result: MeansTest,
                 now: datetime) -> None:
    """VE-2, VE-3: eligible → verified; not eligible → the applicant may explain."""
    require_state(record, "apply_report", CITY_CHECK)
    this_round = current_round(record)
    this_round["report"] = report_view(report, persons_to_check(record))
    this_round["means_test"] = result.figures()
    move(record, VERIFIED if result.eligible else AWAITING_EXPLANATION, now)


def explanation_deadline(record: CaseRecord, served_at: datetime, calendar) -> Deadline:
    """VE-3: 4 WD from the notice's receipt (served when issued) to explain."""
    return Deadline.open(record.case_id, record.street_code, "VE-3", EXPLANATION_WORKING_DAYS,
                         Unit.WORKING_DAYS, served_at, calendar)


def record_explanation(record: CaseRecord, explanation: str, accepted: bool, actor: Actor,
                       now: datetime) -> None:
    """VE-3: an accepted explanation resumes the case; a rejected one proposes
    non-confirmation."""
    require_state(record, "record_explanation", AWAITING_EXPLANATION)
    current_round(record)["explanation"] = {
        "explanation": explanation, "accepted": accepted, "by": actor.user_id,
        "at": now.isoformat()}
    move(record, VERIFIED if accepted else NON_CONFIRMATION_PROPOSED, now)


def end_explanation_window(record: CaseRecord, deadline_id: str, now: datetime) -> None:
    """VE-3: no explanation by the end of the 4 WD; Conflict if that window is not the
    case's open one (already answered, or an earlier round's)."""
    require_state(record, "end_explanation_window", AWAITING_EXPLANATION)
    if current_round(record)["explanation_deadline_id"] != deadline_id:
        raise Conflict("that explanation window is not the case's current one",
                       field="deadline_id", code="invalid_state")
    move(record, NON_CONFIRMATION_PROPOSED, now)


# -- untruthful declaration (VE-5) --------------------------------------------------------

def record_untruthful_declaration(record: CaseRecord, detail: str, actor: Actor,
                                  now: datetime) -> None:
    require_state(record, "record_untruthful_declaration", *CORRECTABLE)
    record.details["untruthful_declaration"] = {
        "detail": detail, "recorded_by": actor.user_id, "recorded_at": now.isoformat(),
        "resume_state": record.status, "deadline_id": None, "correction": None}
    move(record, AWAITING_CORRECTION, now)


def correction_deadline(record: CaseRecord, served_at: datetime, calendar) -> Deadline:
    return Deadline.open(record.case_id, record.street_code, "VE-5", CORRECTION_WORKING_DAYS,
                         Unit.WORKING_DAYS, served_at, calendar)


def record_correction(record: CaseRecord, detail: str, actor: Actor, now: datetime) -> str:
    """VE-5: corrected in time; the case resumes where it was. Returns that state."""
    require_state(record, "record_correction", AWAITING_CORRECTION)
    declaration = record.details["untruthful_declaration"]
    declaration["correction"] = {"detail": detail, "by": actor.user_id, "at": now.isoformat()}
    move(record, declaration["resume_state"], now)
    return record.status


def end_correction_window(record: CaseRecord, deadline_id: str, now: datetime) -> None:
    """VE-5: not corrected in time: the application is deemed withdrawn."""
    require_state(record, "end_correction_window", AWAITING_CORRECTION)
    if record.details["untruthful_declaration"]["deadline_id"] != deadline_id:
        raise Conflict("that correction window is not the case's current one",
                       field="deadline_id", code="invalid_state")
    move(record, WITHDRAWN, now)


# -- what other services and the district hear --------------------------------------------

def case_keys(record: CaseRecord) -> dict:
    return {"case_id": record.case_id, "case_no": record.case_no, "program": record.program,
            "street_code": record.street_code}


def completed_event(record: CaseRecord, now: datetime) -> dict:
    this_round = current_round(record)
    figures = this_round["means_test"]
    investigation = this_round["investigation"]
    explanation = this_round["explanation"]
    return {**case_keys(record), "round": record.details["round"],
            "household_size": figures["household_size"],
            "income_per_head_fen": figures["income_per_head_fen"],
            "money_assets_fen": figures["money_assets_fen"],
            "self_care": investigation["self_care"],
            "report_id": this_round["report"]["report_id"],
            "means_test": {**figures,
                           "explanation_accepted": bool(explanation and explanation["accepted"])},
            "completed_at": now}


def non_confirmation_event(record: CaseRecord, now: datetime) -> dict:
    this_round = current_round(record)
    return {**case_keys(record), "reasons": this_round["means_test"]["reasons"],
            "report_id": this_round["report"]["report_id"], "proposed_at": now}


def withdrawn_event(record: CaseRecord, now: datetime) -> dict:
    return {**case_keys(record), "withdrawn_at": now,
            "reason": "未如实申报且未在规定期限内更正，视为撤回申请（VE-5）："
                      + record.details["untruthful_declaration"]["detail"]}


def timeline_entry(record: CaseRecord, *, action: str, at: datetime, actor: Actor | None,
                   rule_id: str | None, note: str | None, document_ids=()) -> dict:
    return {"at": at.isoformat(), "service": "verification", "step": record.status,
            "action": action, "actor_user": actor.user_id if actor else None,
            "actor_role": actor.role if actor else None, "rule_id": rule_id, "note": note,
            "document_ids": list(document_ids)}


def acceptance_day(record: CaseRecord) -> date:
    return local_date(datetime.fromisoformat(record.details["accepted_at"]))
