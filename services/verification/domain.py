"""Verification's rules (VE-1 to VE-5): the household investigation, the information check,
the means test and the applicant's windows to explain (VE-3) and to correct (VE-5).

Pure: no nameko, no SQLAlchemy. A case is a typed ``VerificationCase``: the household, the
rounds of investigation and check (a new round after an objection or a major dispute, PU-3 and
PU-4) and an untruthful declaration awaiting its correction. Each step changes the case and
returns its ``Effects`` (deadlines, events, written notices, the timeline entry); the kit
stores and applies them.

States: ``investigation`` → ``information_check`` → ``district_check`` → ``city_check`` →
``verified`` (event) | ``awaiting_explanation`` → ``verified`` | ``non_confirmation_proposed``
(event); ``awaiting_correction`` from any open step, back where it was or ``withdrawn``
(event); ``verified`` → ``investigation`` again on reinvestigation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hqcore.aggregate import CaseAggregate
from hqcore.authz import INVESTIGATOR, Actor
from hqcore.calendar import WorkingCalendar
from hqcore.clock import local_date
from hqcore.deadlines import Deadline, Unit
from hqcore.effects import Effects, progress
from hqcore.errors import InvalidState, ValidationFailed
from hqcore.policy import PolicyRate
from services.verification import notices

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
CORRECTABLE = (INVESTIGATION, INFORMATION_CHECK, DISTRICT_CHECK, CITY_CHECK, AWAITING_EXPLANATION)

INVESTIGATION_WORKING_DAYS = {"dibao": 3, "low_income": 3, "tekun": 15}  # VE-1
EXPLANATION_WORKING_DAYS = 4  # VE-3
# VE-5 says "in time" [interpretation]: 5 WD from the written notice to correct.
CORRECTION_WORKING_DAYS = 5
POLICY_KEYS = ("dibao_standard", "low_income_upper_ratio_permille", "money_assets_months_per_head")


# -- the case -------------------------------------------------------------------------------


@dataclass
class Person:
    """A member of the household, or of an obligor's family (IN-3)."""

    name: str
    id_number: str
    relationship: str


@dataclass
class Obligor(Person):
    """A support obligor and the obligor's own family members (IN-3)."""

    family_members: list[Person] = field(default_factory=list)
    authorisation_signed: bool = False


@dataclass
class Investigator:
    user_id: str
    name: str


@dataclass
class Investigation:
    """The household investigation (VE-1, VE-4)."""

    investigators: list[Investigator]
    methods: list[str]
    findings: str
    applicant_signed: bool
    self_care: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass
class Check:
    """One stage of the information check (VE-2)."""

    stage: str
    opinion: str
    by: str
    role: str | None
    at: datetime


@dataclass(frozen=True)
class Vehicle:
    plate: str
    mobility_aid: bool = False  # a mobility aid for the disabled does not count


@dataclass(frozen=True)
class Property:
    kind: str  # residential | non_residential
    area_m2: float = 0


@dataclass(frozen=True)
class Company:
    name: str
    registered_capital_fen: int = 0


@dataclass(frozen=True)
class CompanyRef:
    """A company as the case view shows it (its capital counts among the money assets)."""

    name: str


@dataclass
class Income:
    wages_fen: int
    pension_fen: int
    other_fen: int
    total_fen: int


@dataclass
class MoneyAssets:
    deposits_fen: int
    securities_fen: int
    total_fen: int


@dataclass
class CheckedPerson:
    """One person of the report, as the case view shows it: incomes and money assets under
    ``income`` and ``money_assets``, which the gateway masks for roles that must not see
    them."""

    name: str
    id_number: str
    relationship: str
    role: str  # member | obligor | obligor_family
    income: Income
    money_assets: MoneyAssets
    vehicles: list[Vehicle] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    companies: list[CompanyRef] = field(default_factory=list)


@dataclass
class ReportView:
    """The city's verification report of one round, as kept in the case."""

    report_id: str
    request_id: str
    issued_at: datetime
    persons: list[CheckedPerson]


@dataclass(frozen=True)
class MeansTest:
    """The figures of the means test and the policy rows they came from (``PolicyRate.used``
    shape, so the rows can be audited later)."""

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
    policy_rows: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {**asdict(self), "assessed_on": self.assessed_on.isoformat()}


@dataclass
class Explanation:
    """The applicant's explanation after a negative check, and whether it is accepted."""

    explanation: str
    accepted: bool
    by: str
    at: datetime


@dataclass
class Round:
    """One round of investigation and check: the first, or one after PU-3 / PU-4."""

    round: int
    cause: str  # application | objection | major_dispute
    opened_at: datetime
    investigation: Investigation | None = None
    checks: list[Check] = field(default_factory=list)
    report: ReportView | None = None
    means_test: MeansTest | None = None
    explanation: Explanation | None = None
    explanation_deadline_id: str | None = None  # the VE-3 window of this round


@dataclass
class Correction:
    detail: str
    by: str
    at: datetime


@dataclass
class UntruthfulDeclaration:
    """VE-5: what was not declared truthfully, where the case resumes once corrected, and the
    correction window's deadline."""

    detail: str
    recorded_by: str
    recorded_at: datetime
    resume_state: str
    deadline_id: str | None = None
    correction: Correction | None = None


@dataclass(kw_only=True)
class VerificationCase(CaseAggregate):
    """What verification holds about one case."""

    accepted_at: datetime
    community: str
    applicant: Person
    members: list[Person]
    obligors: list[Obligor] = field(default_factory=list)
    round: int = 1
    rounds: list[Round] = field(default_factory=list)
    untruthful_declaration: UntruthfulDeclaration | None = None

    service = "verification"

    @property
    def current_round(self) -> Round:
        return self.rounds[-1]


def _person(data: dict[str, Any]) -> Person:
    return Person(data["name"], data["id_number"], data["relationship"])


# -- opening and rounds ---------------------------------------------------------------------


def investigation_deadline(
    case: VerificationCase, started_at: datetime, calendar: WorkingCalendar
) -> Deadline:
    """VE-1: the household investigation within 3 WD (dibao, low-income) or 15 WD (tekun)."""
    return Deadline.open(
        case.case_id,
        case.street_code,
        "VE-1",
        INVESTIGATION_WORKING_DAYS[case.program],
        Unit.WORKING_DAYS,
        started_at,
        calendar,
    )


def open_verification(
    accepted: dict[str, Any], calendar: WorkingCalendar
) -> tuple[VerificationCase, Effects]:
    """An accepted case awaits its household investigation (VE-1); the household (members,
    obligors and their families, IN-3) is kept for the information check."""
    at: datetime = accepted["accepted_at"]
    case = VerificationCase(
        case_id=accepted["case_id"],
        case_no=accepted["case_no"],
        program=accepted["program"],
        street_code=accepted["street_code"],
        status=INVESTIGATION,
        since=at,
        accepted_at=at,
        community=accepted["community"],
        applicant=_person(accepted["applicant"]),
        members=[_person(m) for m in accepted["members"]],
        obligors=[
            Obligor(
                o["name"],
                o["id_number"],
                o["relationship"],
                [_person(f) for f in o.get("family_members", [])],
                bool(o.get("authorisation_signed", False)),
            )
            for o in accepted.get("obligors", [])
        ],
        round=1,
        rounds=[Round(1, "application", at)],
    )
    return case, (
        progress("household registered; investigation due", "VE-1").open(
            investigation_deadline(case, at, calendar)
        )
    )


def reopen_for_reinvestigation(
    case: VerificationCase, cause: str, detail: str, at: datetime, calendar: WorkingCalendar
) -> Effects:
    """PU-3, PU-4: a verified case goes back to a new household investigation, due again
    under VE-1 from the request. Nothing changes when the case is elsewhere (it ended, or a
    new round is already open)."""
    if case.status != VERIFIED:
        return Effects.nothing()
    case.round += 1
    case.rounds.append(Round(case.round, cause, at))
    case.status, case.since = INVESTIGATION, at
    rule_id = "PU-3" if cause == "objection" else "PU-4"
    return progress(f"reinvestigation requested: round {case.round}", rule_id, note=detail).open(
        investigation_deadline(case, at, calendar)
    )


# -- the household investigation (VE-1, VE-4) -----------------------------------------------


def check_investigators(
    actor: Actor, investigators: list[dict[str, Any]], street_code: str
) -> None:
    """VE-1: at least two investigators of the case's street, the acting one among them."""
    if actor.user_id not in {person["user_id"] for person in investigators}:
        raise ValidationFailed(
            "the acting investigator must be one of the investigators",
            field="investigators",
            code="acting_investigator_not_listed",
        )
    for person in investigators:
        if person["role"] != INVESTIGATOR or person["street_code"] != street_code:
            raise ValidationFailed(
                f"{person['user_id']} is not an investigator of this street",
                field="investigators",
                code="not_a_street_investigator",
            )


def record_investigation(
    case: VerificationCase,
    investigators: list[dict[str, Any]],
    methods: list[str],
    findings: str,
    self_care: str | None,
    actor: Actor,
    now: datetime,
) -> Effects:
    """VE-1, VE-4: the group's household investigation, signed by the applicant."""
    case.require_state((INVESTIGATION,), "record_investigation")
    check_investigators(actor, investigators, case.street_code)
    if case.program == "tekun" and self_care is None:
        raise ValidationFailed(
            "a tekun investigation assesses the self-care level",
            field="self_care",
            code="self_care_required",
        )
    case.current_round.investigation = Investigation(
        investigators=[Investigator(p["user_id"], p.get("name", "")) for p in investigators],
        methods=list(methods),
        findings=findings,
        applicant_signed=True,
        self_care=self_care,
        recorded_by=actor.user_id,
        recorded_at=now,
    )
    case.move((INVESTIGATION,), INFORMATION_CHECK, now, "record_investigation")
    return progress("household investigation recorded", "VE-1", note=", ".join(methods)).meet(
        "VE-1"
    )


# -- the information check (VE-2) -----------------------------------------------------------

CHECK_STAGES = {  # step: (state before, state after, timeline action)
    "pre_review": (
        INFORMATION_CHECK,
        DISTRICT_CHECK,
        "pre-reviewed; sent to the district verification agency",
    ),
    "district_review": (
        DISTRICT_CHECK,
        CITY_CHECK,
        "district reviewed; city verification commissioned",
    ),
}


def record_check(
    case: VerificationCase, stage: str, opinion: str, actor: Actor, now: datetime
) -> Effects:
    """VE-2: the handling agency pre-reviews, the district verification agency reviews and
    commissions the city's check."""
    before, after, action = CHECK_STAGES[stage]
    case.require_state((before,), stage)
    case.current_round.checks.append(Check(stage, opinion, actor.user_id, actor.role, now))
    case.move((before,), after, now, stage)
    return progress(action, "VE-2", note=opinion)


def persons_to_check(case: VerificationCase) -> list[dict[str, str]]:
    """Everyone whose income and assets the city checks (IN-3): the co-residing members, the
    obligors and the obligors' family members."""

    def entry(person: Person, role: str) -> dict[str, str]:
        return {
            "name": person.name,
            "id_number": person.id_number,
            "relationship": person.relationship,
            "role": role,
        }

    persons = [entry(m, "member") for m in case.members]
    for obligor in case.obligors:
        persons.append(entry(obligor, "obligor"))
        persons += [entry(f, "obligor_family") for f in obligor.family_members]
    return persons


def city_reference(case: VerificationCase) -> str:
    """The key the city check of this round is commissioned under (idempotent)."""
    return f"{case.case_id}/{case.round}"


# -- the verification report and the means test --------------------------------------------


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
    vehicles: tuple[Vehicle, ...] = ()
    properties: tuple[Property, ...] = ()
    companies: tuple[Company, ...] = ()

    @property
    def income_fen(self) -> int:
        return self.wages_fen + self.pension_fen + self.other_income_fen

    @property
    def money_assets_fen(self) -> int:
        """Cash, deposits, securities and registered capital (reference-data.md)."""
        return (
            self.deposits_fen
            + self.securities_fen
            + sum(c.registered_capital_fen for c in self.companies)
        )


@dataclass(frozen=True)
class VerificationReport:
    """The city verification agency's report (核对报告) on one commissioned check."""

    report_id: str
    request_id: str
    issued_at: datetime
    findings: tuple[PersonFindings, ...]

    def of(self, id_number: str) -> PersonFindings:
        return next(
            (f for f in self.findings if f.id_number == id_number), PersonFindings(id_number)
        )


REASONS = {
    "income": "家庭月人均收入不低于本市城乡居民最低生活保障标准",
    "low_income_band": "家庭月人均收入不在低收入家庭认定范围内（低保标准的1倍至1.5倍）",
    "money_assets": "家庭人均货币财产超过规定上限（24个月低保标准）",
    "vehicle": "家庭成员拥有机动车辆（残疾人功能性补偿代步车除外）",
    "homes": "家庭成员拥有两套及以上住房",
    "non_residential": "家庭成员拥有非居住类房屋",
    "company": "家庭成员拥有或参股企业",
}


def means_test(
    program: str,
    members: list[Person],
    report: VerificationReport,
    policy: dict[str, PolicyRate],
    assessed_on: date,
) -> MeansTest:
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
    found = [report.of(m.id_number) for m in members]
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
    if any(not v.mobility_aid for f in found for v in f.vehicles):
        reasons.append(REASONS["vehicle"])
    if sum(p.kind == "residential" for f in found for p in f.properties) >= 2:
        reasons.append(REASONS["homes"])
    if any(p.kind != "residential" for f in found for p in f.properties):
        reasons.append(REASONS["non_residential"])
    if any(f.companies for f in found):
        reasons.append(REASONS["company"])
    return MeansTest(
        eligible=not reasons,
        reasons=reasons,
        program=program,
        assessed_on=assessed_on,
        household_size=size,
        income_household_fen=income,
        income_per_head_fen=per_head,
        money_assets_fen=assets,
        money_assets_limit_fen=assets_limit,
        standard_fen=standard,
        low_income_upper_fen=upper,
        policy_rows=[policy[key].used() for key in POLICY_KEYS],
    )


def report_view(report: VerificationReport, persons: list[dict[str, str]]) -> ReportView:
    """The report as the case keeps and shows it."""

    def person(p: dict[str, str]) -> CheckedPerson:
        f = report.of(p["id_number"])
        return CheckedPerson(
            name=p["name"],
            id_number=p["id_number"],
            relationship=p["relationship"],
            role=p["role"],
            income=Income(f.wages_fen, f.pension_fen, f.other_income_fen, f.income_fen),
            money_assets=MoneyAssets(f.deposits_fen, f.securities_fen, f.money_assets_fen),
            vehicles=list(f.vehicles),
            properties=list(f.properties),
            companies=[CompanyRef(c.name) for c in f.companies],
        )

    return ReportView(
        report.report_id, report.request_id, report.issued_at, [person(p) for p in persons]
    )


def apply_report(
    case: VerificationCase,
    report: VerificationReport,
    result: MeansTest,
    now: datetime,
    calendar: WorkingCalendar,
    window_id: str,
) -> Effects:
    """VE-2: eligible → verified (``verification.completed``). VE-3: not eligible → a written
    notice with the reasons, served when issued, and 4 WD from it to explain (the window's
    deadline is ``window_id``)."""
    case.require_state((CITY_CHECK,), "apply_report")
    this_round = case.current_round
    this_round.report = report_view(report, persons_to_check(case))
    this_round.means_test = result
    if result.eligible:
        case.move((CITY_CHECK,), VERIFIED, now, "apply_report")
        return _complete(case, now, "verification report: eligible", "VE-2")
    case.move((CITY_CHECK,), AWAITING_EXPLANATION, now, "apply_report")
    window = explanation_deadline(case, now, calendar, window_id)
    this_round.explanation_deadline_id = window_id
    notice = notices.ineligibility_notice(
        case, result, report.report_id, explain_by=window.due_at - timedelta(seconds=1), now=now
    )
    return (
        progress("not eligible: written notice served", "VE-3", note="；".join(result.reasons))
        .open(window)
        .issue(notice)
    )


def explanation_deadline(
    case: VerificationCase,
    served_at: datetime,
    calendar: WorkingCalendar,
    deadline_id: str | None = None,
) -> Deadline:
    """VE-3: 4 WD from the notice's receipt (served when issued) to explain."""
    return Deadline.open(
        case.case_id,
        case.street_code,
        "VE-3",
        EXPLANATION_WORKING_DAYS,
        Unit.WORKING_DAYS,
        served_at,
        calendar,
        id=deadline_id,
    )


def record_explanation(
    case: VerificationCase, explanation: str, accepted: bool, actor: Actor, now: datetime
) -> Effects:
    """VE-3: an accepted explanation resumes the case (verified); a rejected one proposes
    non-confirmation. Either way the window is met."""
    case.require_state((AWAITING_EXPLANATION,), "record_explanation")
    case.current_round.explanation = Explanation(explanation, accepted, actor.user_id, now)
    if accepted:
        case.move((AWAITING_EXPLANATION,), VERIFIED, now, "record_explanation")
        effects = _complete(case, now, "explanation accepted; verified", "VE-3")
    else:
        case.move((AWAITING_EXPLANATION,), NON_CONFIRMATION_PROPOSED, now, "record_explanation")
        effects = _propose_non_confirmation(case, now, "explanation not accepted")
    return effects.meet("VE-3")


def end_explanation_window(case: VerificationCase, deadline_id: str, now: datetime) -> Effects:
    """VE-3: no explanation by the end of the 4 WD: non-confirmation is proposed. Conflict if
    that window is not the case's open one (already answered, or an earlier round's): 409
    ``invalid_state``, which the periodic job skips."""
    case.require_state((AWAITING_EXPLANATION,), "end_explanation_window")
    if case.current_round.explanation_deadline_id != deadline_id:
        raise InvalidState(
            "end_explanation_window",
            case.status,
            (AWAITING_EXPLANATION,),
            message="that explanation window is not the case's current one",
            extra={"deadline_id": deadline_id},
        )
    case.move((AWAITING_EXPLANATION,), NON_CONFIRMATION_PROPOSED, now, "end_explanation_window")
    return _propose_non_confirmation(case, now, "no explanation within 4 WD")


def _complete(case: VerificationCase, now: datetime, action: str, rule_id: str) -> Effects:
    return progress(action, rule_id).emit("verification.completed", completed_event(case, now))


def _propose_non_confirmation(case: VerificationCase, now: datetime, why: str) -> Effects:
    return progress(f"{why}: non-confirmation proposed", "VE-3").emit(
        "verification.non_confirmation_proposed", non_confirmation_event(case, now)
    )


# -- untruthful declaration (VE-5) ----------------------------------------------------------


def correction_deadline(
    case: VerificationCase,
    served_at: datetime,
    calendar: WorkingCalendar,
    deadline_id: str | None = None,
) -> Deadline:
    return Deadline.open(
        case.case_id,
        case.street_code,
        "VE-5",
        CORRECTION_WORKING_DAYS,
        Unit.WORKING_DAYS,
        served_at,
        calendar,
        id=deadline_id,
    )


def record_untruthful_declaration(
    case: VerificationCase,
    detail: str,
    actor: Actor,
    now: datetime,
    calendar: WorkingCalendar,
    window_id: str,
) -> Effects:
    """VE-5: a written notice to correct within 5 WD (the window's deadline is
    ``window_id``); the case waits where it was."""
    case.require_state(CORRECTABLE, "record_untruthful_declaration")
    window = correction_deadline(case, now, calendar, window_id)
    case.untruthful_declaration = UntruthfulDeclaration(
        detail=detail,
        recorded_by=actor.user_id,
        recorded_at=now,
        resume_state=case.status,
        deadline_id=window_id,
    )
    case.move(CORRECTABLE, AWAITING_CORRECTION, now, "record_untruthful_declaration")
    notice = notices.correction_notice(
        case, detail, correct_by=window.due_at - timedelta(seconds=1), now=now
    )
    return (
        progress("untruthful declaration: correction notice served", "VE-5", note=detail)
        .open(window)
        .issue(notice)
    )


def _declaration(case: VerificationCase) -> UntruthfulDeclaration:
    declaration = case.untruthful_declaration
    assert declaration is not None  # set on the way into awaiting_correction
    return declaration


def record_correction(case: VerificationCase, detail: str, actor: Actor, now: datetime) -> Effects:
    """VE-5: corrected in time; the case resumes where it was."""
    case.require_state((AWAITING_CORRECTION,), "record_correction")
    declaration = _declaration(case)
    declaration.correction = Correction(detail, actor.user_id, now)
    case.move((AWAITING_CORRECTION,), declaration.resume_state, now, "record_correction")
    return progress(f"declaration corrected; resumes at {case.status}", "VE-5", note=detail).meet(
        "VE-5"
    )


def end_correction_window(
    case: VerificationCase, deadline_id: str, due_at: datetime, now: datetime
) -> Effects:
    """VE-5: not corrected in time: the application is deemed withdrawn, with a written
    notice; no deadline of the case is owed any more (met, never breached)."""
    case.require_state((AWAITING_CORRECTION,), "end_correction_window")
    declaration = _declaration(case)
    if declaration.deadline_id != deadline_id:
        raise InvalidState(
            "end_correction_window",
            case.status,
            (AWAITING_CORRECTION,),
            message="that correction window is not the case's current one",
            extra={"deadline_id": deadline_id},
        )
    case.move((AWAITING_CORRECTION,), WITHDRAWN, now, "end_correction_window")
    notice = notices.withdrawal_notice(
        case, declaration.detail, correct_by=due_at - timedelta(seconds=1), now=now
    )
    effects = (
        progress("not corrected in time: deemed withdrawn", "VE-5", closed=True)
        .issue(notice)
        .emit("verification.withdrawn", withdrawn_event(case, now))
    )
    effects.meet_every_open_deadline()
    return effects


# -- what other services and the district hear ----------------------------------------------


def case_keys(case: VerificationCase) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "case_no": case.case_no,
        "program": case.program,
        "street_code": case.street_code,
    }


def completed_event(case: VerificationCase, now: datetime) -> dict[str, Any]:
    this_round = case.current_round
    result, investigation, report = (
        this_round.means_test,
        this_round.investigation,
        this_round.report,
    )
    assert result is not None and investigation is not None and report is not None
    explanation = this_round.explanation
    return {
        **case_keys(case),
        "round": case.round,
        "household_size": result.household_size,
        "income_per_head_fen": result.income_per_head_fen,
        "money_assets_fen": result.money_assets_fen,
        "self_care": investigation.self_care,
        "report_id": report.report_id,
        "means_test": {
            **result.figures(),
            "explanation_accepted": bool(explanation and explanation.accepted),
        },
        "completed_at": now,
    }


def non_confirmation_event(case: VerificationCase, now: datetime) -> dict[str, Any]:
    this_round = case.current_round
    assert this_round.means_test is not None and this_round.report is not None
    return {
        **case_keys(case),
        "reasons": list(this_round.means_test.reasons),
        "report_id": this_round.report.report_id,
        "proposed_at": now,
    }


def withdrawn_event(case: VerificationCase, now: datetime) -> dict[str, Any]:
    return {
        **case_keys(case),
        "withdrawn_at": now,
        "reason": "未如实申报且未在规定期限内更正，视为撤回申请（VE-5）："
        + _declaration(case).detail,
    }


def acceptance_day(case: VerificationCase) -> date:
    """The day whose policy rows the means test applies (the acceptance date)."""
    return local_date(case.accepted_at)


def details(case: VerificationCase) -> dict[str, Any]:
    """What the case view shows of verification's own fields."""
    return case.to_details()
