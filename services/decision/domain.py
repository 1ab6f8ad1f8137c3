"""Decision's rules, pure: who decides (ORG-1), the review, consent and decision steps (DE-1,
VE-3), time limits (DE-1, DE-4, DE-7), the benefit amount and care arrangement (DE-5, DE-6),
service of the decision documents (ORG-7) and the announcement (DE-2). No nameko, no
SQLAlchemy.

States: ``awaiting_file`` → (publicity.concluded) ``management_review`` → ``head_consent`` →
``leader_decision`` → ``approved`` | ``refused``; on the VE-3 path
(verification.non_confirmation_proposed) ``management_review`` → ``leader_decision`` →
``non_confirmed``. ``withdrawn`` (VE-5) from any open state.

Each step changes the ``DecisionCase`` and returns ``Effects``: deadlines opened and met,
events, document drafts and the timeline entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from hqcore.aggregate import CaseAggregate
from hqcore.authz import DISTRICT_OFFICER, STREET_LEADER, Actor
from hqcore.calendar import WorkingCalendar
from hqcore.clock import local_date
from hqcore.deadlines import Deadline, Unit, compute_due
from hqcore.effects import Effects, progress
from hqcore.errors import Conflict, ValidationFailed
from hqcore.policy import PolicyRate
from services.decision import notices

AWAITING_FILE = "awaiting_file"  # verification and publicity still at work
MANAGEMENT_REVIEW = "management_review"
HEAD_CONSENT = "head_consent"
LEADER_DECISION = "leader_decision"
DISTRICT_DECISION = "district_decision"  # the same step on the pre-reform route (ORG-1)
APPROVED, REFUSED, NON_CONFIRMED, WITHDRAWN = "approved", "refused", "non_confirmed", "withdrawn"
OPEN_STATES = (AWAITING_FILE, MANAGEMENT_REVIEW, HEAD_CONSENT, LEADER_DECISION)
DECIDED_STATES = (APPROVED, REFUSED, NON_CONFIRMED)

STREET, DISTRICT = "street", "district"  # the deciding authority (ORG-1)
CONFIRMATION = "confirmation"  # after publicity (DE-1)
NON_CONFIRMATION = "non_confirmation"  # no explanation within 4 WD (VE-3)

REVIEW_WORKING_DAYS = 2  # DE-1
LEADER_WORKING_DAYS = 3  # DE-1
CONFIRMATION_WORKING_DAYS = 30  # DE-4
EXTENDED_WORKING_DAYS = 45  # DE-4, special cases
SERVICE_WORKING_DAYS = 3  # DE-7 and VE-3; DE-5's "promptly" likewise
PROGRAMS_WITH_CONFIRMATION_LIMIT = ("dibao", "low_income")
OUTCOME_OF = {"approve": APPROVED, "refuse": REFUSED, "non_confirm": NON_CONFIRMED}
SERVICE_RULE = {APPROVED: "DE-5", REFUSED: "DE-7", NON_CONFIRMED: "VE-3"}
CARE_RATE_KEY = {
    "able": "tekun_care_able",
    "partly_unable": "tekun_care_partly_unable",
    "wholly_unable": "tekun_care_wholly_unable",
}

RatesFor = Callable[[tuple[str, ...]], dict[str, PolicyRate]]


# -- the case -----------------------------------------------------------------------------------
@dataclass
class Person:
    name: str
    id_number: str
    relationship: str


@dataclass
class PaymentAccount:
    bank: str
    account_number: str
    holder: str


@dataclass
class Facts:
    """What the verification found, the amount is computed from (DE-5)."""

    round: int
    household_size: int
    income_per_head_fen: int
    self_care: str | None
    report_id: str


@dataclass
class PublicityOutcome:
    """How publicity (and deliberation) concluded (DE-1)."""

    preliminary_opinion: str
    deliberation_held: bool
    deliberation_conclusion: str | None
    minutes_document_id: str | None
    rounds: int
    concluded_at: datetime


@dataclass
class Proposal:
    """Verification's proposal of non-confirmation (VE-3)."""

    reasons: list[str]
    report_id: str
    proposed_at: datetime


@dataclass
class Withdrawal:
    reason: str
    withdrawn_at: datetime


@dataclass(kw_only=True)
class Signed:
    """Who took a step, and when."""

    by: str
    by_name: str
    at: datetime


@dataclass(kw_only=True)
class Review(Signed):
    opinion: str
    reasons: list[str]
    note: str | None


@dataclass(kw_only=True)
class HeadConsent(Signed):
    note: str | None


@dataclass(kw_only=True)
class Extension(Signed):
    reason: str
    from_due_at: datetime
    to_due_at: datetime


@dataclass(kw_only=True)
class DecisionRecord(Signed):
    """The decision itself: its outcome, the authority that made it (ORG-1), its reasons, the
    documents it serves and the rule their service falls under (DE-5, DE-7, VE-3)."""

    outcome: str
    authority: str
    reasons: list[str]
    document_ids: list[str]
    service_rule: str


@dataclass
class Amount:
    """DE-5: the monthly amount and the policy rows it was computed from."""

    monthly_amount_fen: int
    formula: str
    policy_rows: list[PolicyRate]


@dataclass
class Caregiver:
    name: str
    id_number: str
    relationship: str
    phone: str


@dataclass
class CareArrangement:
    """DE-6: what a tekun approval fixes, and whose account receives the money (PA-1)."""

    care_mode: str
    caregiver: Caregiver
    guardianship_mode: str
    responsibilities: str
    agreement_signed: bool
    agreement_signed_on: date
    payee: str
    payee_account: PaymentAccount | None = None


@dataclass
class Payee:
    """PA-1: the recipient, or the entrusted caregiver (tekun)."""

    kind: str
    name: str
    account: PaymentAccount | None


@dataclass
class DocumentRef:
    """A document the decision serves (ORG-7)."""

    document_id: str
    kind: str
    title: str
    issued_at: datetime
    served_at: datetime | None = None


@dataclass(kw_only=True)
class DecisionCase(CaseAggregate):
    """What decision holds about one case."""

    deciding_authority: str  # ORG-1: the route in force on acceptance
    community: str
    accepted_at: datetime
    applicant: Person
    members: list[Person]
    payment_account: PaymentAccount | None = None
    path: str | None = None  # confirmation (DE-1) or non_confirmation (VE-3)
    facts: Facts | None = None
    publicity: PublicityOutcome | None = None
    proposal: Proposal | None = None
    review: Review | None = None
    head_consent: HeadConsent | None = None
    decision: DecisionRecord | None = None
    extension: Extension | None = None
    withdrawal: Withdrawal | None = None
    amount: Amount | None = None
    care_arrangement: CareArrangement | None = None
    payee: Payee | None = None
    documents: list[DocumentRef] = field(default_factory=list)

    service = "decision"


def _signed(actor: Actor, now: datetime) -> dict[str, Any]:
    return {"by": actor.user_id, "by_name": actor.name, "at": now}


# -- ORG-1: who decides -------------------------------------------------------------------------
def deciding_authority(accepted_on: date, delegated_from: date | None) -> str:
    """ORG-1: a case keeps the route in force on its acceptance day."""
    if delegated_from is not None and accepted_on >= delegated_from:
        return STREET
    return DISTRICT


def reported_step(case: DecisionCase) -> str:
    """The step the district's register shows: on the pre-reform route the district, not the
    street leader, decides (ORG-1), so the case belongs on the district's worklist."""
    if case.status == LEADER_DECISION and case.deciding_authority == DISTRICT:
        return DISTRICT_DECISION
    return case.status


def decider_roles(authority: str) -> tuple[str, ...]:
    """ORG-1, ORG-5: the street leader in charge decides; the district on the pre-reform route."""
    return (STREET_LEADER,) if authority == STREET else (DISTRICT_OFFICER,)


def _progress(
    case: DecisionCase,
    action: str,
    rule_id: str | None,
    *,
    note: str | None = None,
    document_ids: list[str] | tuple[str, ...] = (),
    closed: bool = False,
) -> Effects:
    """The timeline entry of a step, on the step the district's register shows (call it after
    the case moved)."""
    return progress(
        action,
        rule_id,
        note=note,
        document_ids=document_ids,
        closed=closed,
        step=reported_step(case),
    )


# -- events received ---------------------------------------------------------------------------
def _person(data: dict[str, Any]) -> Person:
    return Person(data["name"], data["id_number"], data["relationship"])


def _account(data: dict[str, Any] | None) -> PaymentAccount | None:
    if not data:
        return None
    return PaymentAccount(data["bank"], data["account_number"], data["holder"])


def open_case(
    accepted: dict[str, Any], delegated_from: date | None, calendar: WorkingCalendar
) -> tuple[DecisionCase, Effects]:
    """The file as intake accepted it, on the route in force that day (ORG-1); DE-4 runs from
    acceptance for dibao and low-income."""
    accepted_at: datetime = accepted["accepted_at"]
    case = DecisionCase(
        case_id=accepted["case_id"],
        case_no=accepted["case_no"],
        program=accepted["program"],
        street_code=accepted["street_code"],
        status=AWAITING_FILE,
        since=accepted_at,
        deciding_authority=deciding_authority(local_date(accepted_at), delegated_from),
        community=accepted["community"],
        accepted_at=accepted_at,
        applicant=_person(accepted["applicant"]),
        members=[_person(m) for m in accepted["members"]],
        payment_account=_account(accepted.get("payment_account")),
    )
    effects = Effects()
    if case.program in PROGRAMS_WITH_CONFIRMATION_LIMIT:
        effects.open(
            Deadline.open(
                case.case_id,
                case.street_code,
                "DE-4",  # DE-4
                CONFIRMATION_WORKING_DAYS,
                Unit.WORKING_DAYS,
                accepted_at,
                calendar,
            )
        )
    return case, effects


def keep_verification(case: DecisionCase, completed: dict[str, Any]) -> Effects:
    """The figures the amount is computed from (DE-5); kept while the file is open."""
    if case.status not in OPEN_STATES:
        return Effects.nothing()
    case.facts = Facts(
        completed["round"],
        completed["household_size"],
        completed["income_per_head_fen"],
        completed.get("self_care"),
        completed["report_id"],
    )
    return Effects()


def receive_publicity(
    case: DecisionCase, concluded: dict[str, Any], calendar: WorkingCalendar
) -> Effects:
    """DE-1: the file reaches the management department, which reviews it within 2 WD."""
    if case.status != AWAITING_FILE:
        return Effects.nothing()  # withdrawn, or already on the VE-3 path
    concluded_at: datetime = concluded["concluded_at"]
    case.path = CONFIRMATION
    case.publicity = PublicityOutcome(
        concluded["preliminary_opinion"],
        concluded["deliberation_held"],
        concluded.get("deliberation_conclusion"),
        concluded.get("minutes_document_id"),
        concluded["rounds"],
        concluded_at,
    )
    case.move((AWAITING_FILE,), MANAGEMENT_REVIEW, concluded_at, "receive_publicity")
    return _progress(case, "file_received_for_review", "DE-1").open(
        Deadline.open(
            case.case_id,
            case.street_code,
            "DE-1",
            REVIEW_WORKING_DAYS,
            Unit.WORKING_DAYS,
            concluded_at,
            calendar,
        )
    )


def receive_non_confirmation(
    case: DecisionCase, proposed: dict[str, Any], calendar: WorkingCalendar
) -> Effects:
    """VE-3: the file reaches the management department; the non-confirmation decision is made
    and served within 3 WD of that."""
    if case.status != AWAITING_FILE:
        return Effects.nothing()
    proposed_at: datetime = proposed["proposed_at"]
    case.path = NON_CONFIRMATION
    case.proposal = Proposal(list(proposed["reasons"]), proposed["report_id"], proposed_at)
    case.move((AWAITING_FILE,), MANAGEMENT_REVIEW, proposed_at, "receive_non_confirmation")
    return _progress(
        case, "non_confirmation_proposed", "VE-3", note="; ".join(case.proposal.reasons)
    ).open(
        Deadline.open(
            case.case_id,
            case.street_code,
            "VE-3",
            SERVICE_WORKING_DAYS,
            Unit.WORKING_DAYS,
            proposed_at,
            calendar,
        )
    )


def withdraw(case: DecisionCase, withdrawn: dict[str, Any]) -> Effects:
    """VE-5: a withdrawn application needs no decision; every open deadline is met."""
    if case.status not in OPEN_STATES:
        return Effects.nothing()
    case.withdrawal = Withdrawal(withdrawn["reason"], withdrawn["withdrawn_at"])
    case.move(OPEN_STATES, WITHDRAWN, withdrawn["withdrawn_at"], "withdraw")
    effects = _progress(case, "closed_as_withdrawn", "VE-5", note=withdrawn["reason"], closed=True)
    effects.meet_all = True
    return effects


# -- steps ---------------------------------------------------------------------------------------
def _allowed_on_path(case: DecisionCase, choice: str) -> str | None:
    """On the VE-3 path only ``non_confirm`` is possible, elsewhere never: what is allowed
    when ``choice`` is not (None when it is)."""
    non_confirmation = case.path == NON_CONFIRMATION
    if (choice == "non_confirm") != non_confirmation:
        return "non_confirm" if non_confirmation else "approve or refuse"
    return None


def review(
    case: DecisionCase,
    opinion: str,
    reasons: list[str],
    note: str | None,
    actor: Actor,
    now: datetime,
) -> Effects:
    """DE-1: the review opinion, within 2 WD of the file's arrival; on the VE-3 path it
    proposes non-confirmation, which goes straight to the leader for consent."""
    case.require_state((MANAGEMENT_REVIEW,), "record_review")
    allowed = _allowed_on_path(case, opinion)
    if allowed:
        raise ValidationFailed(
            f"the opinion on this file is {allowed}", field="opinion", code="opinion_not_allowed"
        )
    non_confirmation = case.path == NON_CONFIRMATION
    case.review = Review(opinion=opinion, reasons=list(reasons), note=note, **_signed(actor, now))
    case.move(
        (MANAGEMENT_REVIEW,),
        LEADER_DECISION if non_confirmation else HEAD_CONSENT,
        now,
        "record_review",
    )
    return _progress(
        case,
        f"reviewed:{opinion}",
        "VE-3" if non_confirmation else "DE-1",
        note="; ".join(reasons) or note,
    ).meet("DE-1")


def consent(
    case: DecisionCase, note: str | None, actor: Actor, now: datetime, calendar: WorkingCalendar
) -> Effects:
    """DE-1: with the department head's consent the leader in charge decides within 3 WD."""
    case.require_state((HEAD_CONSENT,), "record_head_consent")
    case.head_consent = HeadConsent(note=note, **_signed(actor, now))
    case.move((HEAD_CONSENT,), LEADER_DECISION, now, "record_head_consent")
    return _progress(case, "head_consented", "DE-1", note=note).open(
        Deadline.open(
            case.case_id,
            case.street_code,
            "DE-1",
            LEADER_WORKING_DAYS,
            Unit.WORKING_DAYS,
            now,
            calendar,
        )
    )


def extend(
    case: DecisionCase,
    reason: str,
    actor: Actor,
    now: datetime,
    de4: Deadline | None,
    calendar: WorkingCalendar,
) -> tuple[Deadline, Effects]:
    """DE-4: a special case gets 45 WD from acceptance instead of 30, once, with a reason.
    Returns the DE-4 deadline as extended (to store, ``uow.deadlines.extend``) and the
    effects."""
    case.require_state(OPEN_STATES, "extend")
    if case.program not in PROGRAMS_WITH_CONFIRMATION_LIMIT:
        raise Conflict(
            f"{case.program} has no DE-4 time limit to extend",
            field="program",
            code="no_time_limit",
        )
    if case.extension is not None:
        raise Conflict(
            "the DE-4 limit was already extended to 45 WD", field="reason", code="already_extended"
        )
    if de4 is None:
        raise Conflict("the DE-4 limit is no longer open", field="status", code="deadline_not_open")
    due = compute_due(de4.started_at, EXTENDED_WORKING_DAYS, Unit.WORKING_DAYS, calendar)
    case.extension = Extension(
        reason=reason, from_due_at=de4.due_at, to_due_at=due.due_at, **_signed(actor, now)
    )
    extended = replace(
        de4, amount=EXTENDED_WORKING_DAYS, due_at=due.due_at, provisional=due.provisional
    )
    return extended, _progress(case, "extended_to_45_wd", "DE-4", note=reason)


# -- DE-5, DE-6: the amount and who is paid ------------------------------------------------------
def _fact(facts: Facts | None, key: str) -> Any:
    value = getattr(facts, key) if facts is not None else None
    if value is None:
        raise Conflict(
            f"the verification result lacks {key}: the amount cannot be fixed",
            field=key,
            code="verification_missing",
        )
    return value


def rate_keys(program: str, facts: Facts | None) -> tuple[str, ...]:
    """The policy rows an amount of ``program`` needs."""
    if program == "dibao":
        return ("dibao_standard", "dibao_minimum_payment")
    if program == "low_income":
        return ("low_income_household_aid",)
    return ("tekun_basic_support", CARE_RATE_KEY[_fact(facts, "self_care")])


def monthly_amount(program: str, facts: Facts | None, rates: dict[str, PolicyRate]) -> Amount:
    """DE-5: the monthly amount in fen from the policy rows in force on the decision day."""

    def rate(key: str) -> PolicyRate:
        if key not in rates:
            raise Conflict(
                f"no {key} policy row is in force on the decision day",
                field=key,
                code="policy_rate_missing",
            )
        return rates[key]

    if program == "dibao":
        standard, floor = rate("dibao_standard"), rate("dibao_minimum_payment")
        shortfall = max(0, standard.value - _fact(facts, "income_per_head_fen")) * _fact(
            facts, "household_size"
        )
        return Amount(
            max(shortfall, floor.value),
            "max(0, dibao_standard - income_per_head) x household_size, "
            "at least dibao_minimum_payment",
            [standard, floor],
        )
    if program == "low_income":
        aid = rate("low_income_household_aid")
        return Amount(aid.value, "low_income_household_aid per household", [aid])
    basic, care = (rate(key) for key in rate_keys(program, facts))
    return Amount(basic.value + care.value, f"tekun_basic_support + {care.key}", [basic, care])


def care_arrangement(data: dict[str, Any]) -> CareArrangement:
    """The care arrangement as the ``decide`` contract validated it (DE-6)."""
    caregiver = data["caregiver"]
    return CareArrangement(
        care_mode=data["care_mode"],
        caregiver=Caregiver(
            caregiver["name"], caregiver["id_number"], caregiver["relationship"], caregiver["phone"]
        ),
        guardianship_mode=data["guardianship_mode"],
        responsibilities=data["responsibilities"],
        agreement_signed=data["agreement_signed"],
        agreement_signed_on=data["agreement_signed_on"],
        payee=data["payee"],
        payee_account=_account(data.get("payee_account")),
    )


def payee(case: DecisionCase, care: CareArrangement | None) -> Payee:
    """PA-1: the recipient's account, or the entrusted caregiver's (tekun)."""
    if care is not None and care.payee == "caregiver":
        return Payee("caregiver", care.caregiver.name, care.payee_account)
    account = (care.payee_account if care is not None else None) or case.payment_account
    return Payee("recipient", case.applicant.name, account)


def recipients(case: DecisionCase) -> list[Person]:
    """Dibao and low-income help the household; tekun the person."""
    if case.program == "tekun":
        return [case.applicant]
    return list(case.members)


# -- the decision --------------------------------------------------------------------------------
def letter_count(choice: str) -> int:
    """How many documents a decision ``choice`` (approve, refuse, non_confirm) serves, each
    needing an id drawn before the decision."""
    return len(notices.DOCUMENTS[OUTCOME_OF[choice]])


def decide(
    case: DecisionCase,
    choice: str,
    reasons: list[str],
    care: dict[str, Any] | None,
    rates_for: RatesFor,
    actor: Actor,
    now: datetime,
    document_ids: list[str],
    calendar: WorkingCalendar,
) -> Effects:
    """DE-1 (and VE-3): approve or refuse; on the VE-3 path the leader consents to
    non-confirmation. An approval fixes the amount (DE-5) from the policy rows ``rates_for``
    finds in force, and for tekun the care arrangement (DE-6). The decision's documents are
    issued under ``document_ids`` (ORG-7; ``letter_count(choice)`` of them) and served within
    3 WD (DE-5, DE-7; VE-3's deadline already runs from the proposal)."""
    case.require_state((LEADER_DECISION,), "decide")
    allowed = _allowed_on_path(case, choice)
    if allowed:
        raise ValidationFailed(
            f"the decision on this file is {allowed}", field="outcome", code="outcome_not_allowed"
        )
    outcome = OUTCOME_OF[choice]
    if care and not (case.program == "tekun" and outcome == APPROVED):
        raise ValidationFailed(
            "a care arrangement belongs only to a tekun approval (DE-6)",
            field="care_arrangement",
            code="care_arrangement_not_applicable",
        )
    if outcome == APPROVED:
        if case.program == "tekun" and not care:  # DE-6
            raise ValidationFailed(
                "a tekun approval fixes the care arrangement: care mode, "
                "caregiver, guardianship, responsibilities, signed "
                "agreement (DE-6)",
                field="care_arrangement",
                code="care_arrangement_required",
            )
        arrangement = care_arrangement(care) if care else None
        case.amount = monthly_amount(
            case.program, case.facts, rates_for(rate_keys(case.program, case.facts))
        )
        case.care_arrangement = arrangement
        case.payee = payee(case, arrangement)
    if len(document_ids) != letter_count(choice):
        raise ValueError(
            f"{outcome} serves {letter_count(choice)} documents, {len(document_ids)} ids given"
        )
    rule = SERVICE_RULE[outcome]
    case.decision = DecisionRecord(
        outcome=outcome,
        authority=case.deciding_authority,
        reasons=list(reasons),
        document_ids=list(document_ids),
        service_rule=rule,
        **_signed(actor, now),
    )
    drafts = notices.decision_letters(case, now)
    case.documents += [DocumentRef(d.document_id or "", d.kind, d.title, now) for d in drafts]
    case.move((LEADER_DECISION,), outcome, now, "decide")
    effects = (
        _progress(
            case,
            f"decided:{outcome}",
            "VE-3" if outcome == NON_CONFIRMED else "DE-1",
            note="; ".join(reasons) or None,
            document_ids=document_ids,
            closed=outcome != APPROVED,
        )
        .issue(*drafts)
        .meet("DE-1", "DE-4")  # DE-4: decided within the limit
        .emit("decision.made", decision_made(case))
    )
    if rule != "VE-3":  # DE-5, DE-7: served within 3 WD
        effects.open(
            Deadline.open(
                case.case_id,
                case.street_code,
                rule,
                SERVICE_WORKING_DAYS,
                Unit.WORKING_DAYS,
                now,
                calendar,
            )
        )
    return effects


def decision_made(case: DecisionCase) -> dict[str, Any]:
    """The ``decision.made`` event: payments, intake, publicity and supervision take it."""
    decision = case.decision
    assert decision is not None
    approved = decision.outcome == APPROVED
    account = case.payee.account if approved and case.payee else None
    return {
        "case_id": case.case_id,
        "case_no": case.case_no,
        "program": case.program,
        "street_code": case.street_code,
        "community": case.community,
        "outcome": decision.outcome,
        "authority": decision.authority,
        "decided_at": decision.at,
        "monthly_amount_fen": case.amount.monthly_amount_fen if approved and case.amount else None,
        "recipients": [asdict(p) for p in recipients(case)] if approved else [],
        "payee_kind": case.payee.kind if approved and case.payee else None,
        "payee_name": case.payee.name if approved and case.payee else None,
        "payee_account": asdict(account) if account else None,
        "reasons": decision.reasons,
        "document_id": decision.document_ids[0],
    }


# -- ORG-7: service of the decision documents ----------------------------------------------------
def serve(case: DecisionCase, document_id: str, served_at: datetime, now: datetime) -> Effects:
    """Record that a decision document was served; once all of them are, the DE-5, DE-7 or
    VE-3 deadline is met at the moment of service."""
    case.require_state(DECIDED_STATES, "record_service")
    assert case.decision is not None  # every decided case has its decision
    documents = {
        d.document_id: d for d in case.documents if d.document_id in case.decision.document_ids
    }
    document = documents.get(document_id)
    if document is None:
        raise ValidationFailed(
            f"{document_id} is not a decision document of this case",
            field="document_id",
            code="unknown_document",
        )
    if document.served_at is not None:
        raise Conflict(
            f"{document_id} was already served", field="document_id", code="already_served"
        )
    if served_at > now or served_at < document.issued_at:
        raise ValidationFailed(
            "a document is served after it is issued and not in the future",
            field="served_at",
            code="served_at_out_of_range",
        )
    document.served_at = served_at
    rule = case.decision.service_rule
    effects = _progress(case, "document_served", rule, document_ids=[document_id])
    if all(d.served_at is not None for d in documents.values()):
        effects.meet(rule, at=served_at)  # DE-5, DE-7, VE-3
    return effects


# -- DE-2: announcement ----------------------------------------------------------------------------
def announced(case: DecisionCase) -> dict[str, Any]:
    """What the community notice board shows of an approved household: no ID numbers."""
    assert case.decision is not None and case.amount is not None
    return {
        "case_id": case.case_id,
        "case_no": case.case_no,
        "community": case.community,
        "name": case.applicant.name,
        "program": case.program,
        "monthly_amount_fen": case.amount.monthly_amount_fen,
        "decided_at": case.decision.at,
    }


def details(case: DecisionCase) -> dict[str, Any]:
    """What the case view shows of decision's own fields (JSON-ready)."""
    return case.to_details()
