"""Decision's rules, pure: who decides (ORG-1), the review, consent and decision steps (DE-1,
VE-3), time limits (DE-1, DE-4, DE-7), the benefit amount and care arrangement (DE-5, DE-6).

The case's state lives in its ``CaseRecord``: ``status`` is the step, ``details`` everything
the steps recorded (JSON-ready: instants as ISO strings).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

from hqcore.authz import Actor, DISTRICT_OFFICER, STREET_LEADER
from hqcore.casefile import CaseRecord
from hqcore.clock import local_date
from hqcore.deadlines import Deadline, Unit, compute_due
from hqcore.errors import Conflict, ValidationFailed

AWAITING_FILE = "awaiting_file"          # verification and publicity still at work
MANAGEMENT_REVIEW = "management_review"
HEAD_CONSENT = "head_consent"
LEADER_DECISION = "leader_decision"
DISTRICT_DECISION = "district_decision"  # the same step on the pre-reform route (ORG-1)
APPROVED, REFUSED, NON_CONFIRMED, WITHDRAWN = "approved", "refused", "non_confirmed", "withdrawn"
OPEN_STATES = (AWAITING_FILE, MANAGEMENT_REVIEW, HEAD_CONSENT, LEADER_DECISION)
DECIDED_STATES = (APPROVED, REFUSED, NON_CONFIRMED)

CONFIRMATION = "confirmation"            # after publicity (DE-1)
NON_CONFIRMATION = "non_confirmation"    # no explanation within 4 WD (VE-3)

REVIEW_WORKING_DAYS = 2                  # DE-1
LEADER_WORKING_DAYS = 3                  # DE-1
CONFIRMATION_WORKING_DAYS = 30           # DE-4
EXTENDED_WORKING_DAYS = 45               # DE-4, special cases
SERVICE_WORKING_DAYS = 3                 # DE-7 and VE-3; DE-5's "promptly" likewise
PROGRAMS_WITH_CONFIRMATION_LIMIT = ("dibao", "low_income")
OUTCOME_OF = {"approve": APPROVED, "refuse": REFUSED, "non_confirm": NON_CONFIRMED}
SERVICE_RULE = {APPROVED: "DE-5", REFUSED: "DE-7", NON_CONFIRMED: "VE-3"}
CARE_RATE_KEY = {"able": "tekun_care_able", "partly_unable": "tekun_care_partly_unable",
                 "wholly_unable": "tekun_care_wholly_unable"}


def iso(moment: datetime) -> str:
    return moment.isoformat()


def require_state(record: CaseRecord, step: str, *states: str) -> None:
    """409 ``invalid_state`` unless the case is in one of ``states``."""
    if record.status not in states:
        raise Conflict(f"{step} is not possible while the case is {record.status}",
                       field="status", code="invalid_state",
                       details={"status": record.status, "allowed": list(states)})


def move(record: CaseRecord, status: str, now: datetime) -> None:
    record.status, record.since = status, now


# -- ORG-1: who decides -------------------------------------------------------------------------
def deciding_authority(accepted_on: date, delegated_from: date | None) -> str:
    """ORG-1: a case keeps the route in force on its acceptance day."""
    if delegated_from is not None and accepted_on >= delegated_from:
        return "street"
    return "district"


def reported_step(record: CaseRecord) -> str:
    """The step the district's register shows: on the pre-reform route the district, not the
    street leader, decides (ORG-1), so the case belongs on the district's worklist."""
    if record.status == LEADER_DECISION and record.details["deciding_authority"] == "district":
        return DISTRICT_DECISION
    return record.status


def decider_roles(authority: str) -> tuple[str, ...]:
    """ORG-1, ORG-5: the street leader in charge decides; the district on the pre-reform route."""
    return (STREET_LEADER,) if authority == "street" else (DISTRICT_OFFICER,)


# -- events received ---------------------------------------------------------------------------
def open_decision(accepted: dict, delegated_from: date | None,
                  calendar) -> tuple[CaseRecord, list[Deadline]]:
    """The file as intake accepted it; DE-4 runs from acceptance for dibao and low-income."""
    accepted_at = accepted["accepted_at"]
    authority = deciding_authority(local_date(accepted_at), delegated_from)
    record = CaseRecord.from_accepted(
        accepted, AWAITING_FILE, deciding_authority=authority, community=accepted["community"],
        accepted_at=iso(accepted_at), applicant=accepted["applicant"],
        members=accepted["members"], payment_account=accepted.get("payment_account"),
        path=None, facts=None, publicity=None, review=None, head_consent=None, decision=None,
        extension=None, documents=[], timeline=[])
    deadlines = []
    if accepted["program"] in PROGRAMS_WITH_CONFIRMATION_LIMIT:
        deadlines.append(Deadline.open(  # DE-4
            accepted["case_id"], accepted["street_code"], "DE-4", CONFIRMATION_WORKING_DAYS,
            Unit.WORKING_DAYS, accepted_at, calendar))
    return record, deadlines


def keep_verification(record: CaseRecord, completed: dict) -> bool:
    """The figures the amount is computed from (DE-5); kept while the file is open."""
    if record.status not in OPEN_STATES:
        return False
    record.details["facts"] = {
        key: completed[key] for key in ("round", "household_size", "income_per_head_fen",
                                        "self_care", "report_id")}
    return True


def receive_publicity(record: CaseRecord, concluded: dict, calendar) -> Deadline | None:
    """DE-1: the file reaches the management department, which reviews it within 2 WD."""
    if record.status != AWAITING_FILE:
        return None
    record.details["path"] = CONFIRMATION
    record.details["publicity"] = {
        "preliminary_opinion": concluded["preliminary_opinion"],
        "deliberation_held": concluded["deliberation_held"],
        "deliberation_conclusion": concluded.get("deliberation_conclusion"),
        "minutes_document_id": concluded.get("minutes_document_id"),
        "rounds": concluded["rounds"], "concluded_at": iso(concluded["concluded_at"])}
    move(record, MANAGEMENT_REVIEW, concluded["concluded_at"])
    return Deadline.open(record.case_id, record.street_code, "DE-1", REVIEW_WORKING_DAYS,
                         Unit.WORKING_DAYS, concluded["concluded_at"], calendar)


def receive_non_confirmation(record: CaseRecord, proposed: dict, calendar) -> Deadline | None:
    """VE-3: the file reaches the management department; the non-confirmation decision is made
    and served within 3 WD of that."""
    if record.status != AWAITING_FILE:
        return None
    record.details["path"] = NON_CONFIRMATION
    record.details["proposal"] = {"reasons": proposed["reasons"],
                                  "report_id": proposed["report_id"],
                                  "proposed_at": iso(proposed["proposed_at"])}
    move(record, MANAGEMENT_REVIEW, proposed["proposed_at"])
    return Deadline.open(record.case_id, record.street_code, "VE-3", SERVICE_WORKING_DAYS,
                         Unit.WORKING_DAYS, proposed["proposed_at"], calendar)


def withdraw(record: CaseRecord, withdrawn: dict) -> bool:
    """VE-5: a withdrawn application needs no decision."""
    if record.status not in OPEN_STATES:
        return False
    record.details["withdrawal"] = {"reason": withdrawn["reason"],
                                    "withdrawn_at": iso(withdrawn["withdrawn_at"])}
    move(record, WITHDRAWN, withdrawn["withdrawn_at"])
    return True


# -- steps ---------------------------------------------------------------------------------------
def _signed(actor: Actor, now: datetime, **fields) -> dict:
    return {**fields, "by": actor.user_id, "by_name": actor.name, "at": iso(now)}


def review(record: CaseRecord, request: dict, actor: Actor, now: datetime) -> str:
    """DE-1: the review opinion; on the VE-3 path it proposes non-confirmation, which goes
    straight to the leader for consent. Returns the next status."""
    require_state(record, "record_review", MANAGEMENT_REVIEW)
    non_confirmation = record.details["path"] == NON_CONFIRMATION
    if (request["opinion"] == "non_confirm") != non_confirmation:
        allowed = "non_confirm" if non_confirmation else "approve or refuse"
        raise ValidationFailed(f"the opinion on this file is {allowed}", field="opinion",
                               code="opinion_not_allowed")
    record.details["review"] = _signed(actor, now, opinion=request["opinion"],
                                       reasons=request["reasons"], note=request["note"])
    move(record, LEADER_DECISION if non_confirmation else HEAD_CONSENT, now)
    return record.status


def consent(record: CaseRecord, request: dict, actor: Actor, now: datetime,
            calendar) -> Deadline:
    """DE-1: with the department head's consent the leader in charge decides within 3 WD."""
    require_state(record, "record_head_consent", HEAD_CONSENT)
    record.details["head_consent"] = _signed(actor, now, note=request["note"])
    move(record, LEADER_DECISION, now)
    return Deadline.open(record.case_id, record.street_code, "DE-1", LEADER_WORKING_DAYS,
                         Unit.WORKING_DAYS, now, calendar)


def extend(record: CaseRecord, request: dict, actor: Actor, now: datetime,
           de4: Deadline | None, calendar) -> Deadline:
    """DE-4: a special case gets 45 WD from acceptance instead of 30, once, with a reason."""
    require_state(record, "extend", *OPEN_STATES)
    if record.program not in PROGRAMS_WITH_CONFIRMATION_LIMIT:
        raise Conflict(f"{record.program} has no DE-4 time limit to extend", field="program",
                       code="no_time_limit")
    if record.details.get("extension"):
        raise Conflict("the DE-4 limit was already extended to 45 WD", field="reason",
                       code="already_extended")
    if de4 is None:
        raise Conflict("the DE-4 limit is no longer open", field="status",
                       code="deadline_not_open")
    due = compute_due(de4.started_at, EXTENDED_WORKING_DAYS, Unit.WORKING_DAYS, calendar)
    record.details["extension"] = _signed(actor, now, reason=request["reason"],
                                          from_due_at=iso(de4.due_at), to_due_at=iso(due.due_at))
    return replace(de4, amount=EXTENDED_WORKING_DAYS, due_at=due.due_at,
                   provisional=due.provisional)


# -- DE-5, DE-6: the amount and who is paid ------------------------------------------------------
@dataclass(frozen=True)
class PolicyRate:
    """One effective-dated policy row, as stored."""
    id: int
    key: str
    unit: str
    value: int
    valid_from: date
    valid_to: date | None
    source: str
    verified: bool

    def used(self) -> dict:
        return {"id": self.id, "key": self.key, "unit": self.unit, "value": self.value,
                "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                "source": self.source, "verified": self.verified}


@dataclass(frozen=True)
class Amount:
    monthly_fen: int
    rows: tuple[PolicyRate, ...]
    formula: str

    def view(self) -> dict:
        return {"monthly_amount_fen": self.monthly_fen, "formula": self.formula,
                "policy_rows": [row.used() for row in self.rows]}


def rate_keys(program: str, facts: dict) -> tuple[str, ...]:
    """The policy rows an amount of ``program`` needs."""
    if program == "dibao":
        return ("dibao_standard", "dibao_minimum_payment")
    if program == "low_income":
        return ("low_income_household_aid",)
    return ("tekun_basic_support", CARE_RATE_KEY[_fact(facts, "self_care")])


def _fact(facts: dict | None, key: str):
    if not facts or facts.get(key) is None:
        raise Conflict(f"the verification result lacks {key}: the amount cannot be fixed",
                       field=key, code="verification_missing")
    return facts[key]


def monthly_amount(program: str, facts: dict | None, rates: dict[str, PolicyRate]) -> Amount:
    """DE-5: the monthly amount in fen from the policy rows in force on the decision day."""
    def rate(key: str) -> PolicyRate:
        if key not in rates:
            raise Conflict(f"no {key} policy row is in force on the decision day", field=key,
                           code="policy_rate_missing")
        return rates[key]

    if program == "dibao":
        standard, floor = rate("dibao_standard"), rate("dibao_minimum_payment")
        shortfall = (max(0, standard.value - _fact(facts, "income_per_head_fen"))
                     * _fact(facts, "household_size"))
        return Amount(max(shortfall, floor.value), (standard, floor),
                      "max(0, dibao_standard - income_per_head) x household_size, "
                      "at least dibao_minimum_payment")
    if program == "low_income":
        aid = rate("low_income_household_aid")
        return Amount(aid.value, (aid,), "low_income_household_aid per household")
    basic, care = (rate(key) for key in rate_keys(program, facts))
    return Amount(basic.value + care.value, (basic, care),
                  f"tekun_basic_support + {care.key}")


def payee(record: CaseRecord, care: dict | None) -> dict:
    """PA-1: the recipient's account, or the entrusted caregiver's (tekun)."""
    if care and care["payee"] == "caregiver":
        return {"kind": "caregiver", "name": care["caregiver"]["name"],
                "account": care["payee_account"]}
    account = (care or {}).get("payee_account") or record.details.get("payment_account")
    return {"kind": "recipient", "name": record.details["applicant"]["name"], "account": account}


def recipients(record: CaseRecord) -> list[dict]:
    """Dibao and low-income help the household; tekun the person."""
    if record.program == "tekun":
        return [record.details["applicant"]]
    return record.details["members"]


# -- the decision --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    outcome: str
    amount: Amount | None
    reasons: list[str]
    care_arrangement: dict | None
    payee: dict | None

    @property
    def service_rule(self) -> str:
        return SERVICE_RULE[self.outcome]


def decide(record: CaseRecord, request: dict,
           rates_for: Callable[[tuple[str, ...]], dict[str, PolicyRate]]) -> Decision:
    """DE-1 (and VE-3): approve or refuse; on the VE-3 path the leader consents to
    non-confirmation. An approval fixes the amount (DE-5) from the policy rows ``rates_for``
    finds in force, and for tekun the care arrangement (DE-6)."""
    require_state(record, "decide", LEADER_DECISION)
    non_confirmation = record.details["path"] == NON_CONFIRMATION
    if (request["outcome"] == "non_confirm") != non_confirmation:
        allowed = "non_confirm" if non_confirmation else "approve or refuse"
        raise ValidationFailed(f"the decision on this file is {allowed}", field="outcome",
                               code="outcome_not_allowed")
    outcome = OUTCOME_OF[request["outcome"]]
    care = request.get("care_arrangement")
    if care and not (record.program == "tekun" and outcome == APPROVED):
        raise ValidationFailed("a care arrangement belongs only to a tekun approval (DE-6)",
                               field="care_arrangement", code="care_arrangement_not_applicable")
    if outcome != APPROVED:
        return Decision(outcome, None, request["reasons"], None, None)
    if record.program == "tekun" and not care:  # DE-6
        raise ValidationFailed("a tekun approval fixes the care arrangement: care mode, "
                               "caregiver, guardianship, responsibilities, signed agreement "
                               "(DE-6)", field="care_arrangement",
                               code="care_arrangement_required")
    facts = record.details["facts"]
    amount = monthly_amount(record.program, facts, rates_for(rate_keys(record.program, facts)))
    return Decision(outcome, amount, request["reasons"], _care_view(care), payee(record, care))


def _care_view(care: dict | None) -> dict | None:
    if care is None:
        return None
    return {**care, "agreement_signed_on": care["agreement_signed_on"].isoformat()}


def record_decision(record: CaseRecord, decision: Decision, actor: Actor, now: datetime,
                    document_ids: list[str], calendar) -> Deadline | None:
    """Store the decision; returns the deadline to serve its documents (DE-5, DE-7; the VE-3
    one already runs from the proposal)."""
    record.details["decision"] = _signed(
        actor, now, outcome=decision.outcome, authority=record.details["deciding_authority"],
        reasons=decision.reasons, document_ids=document_ids,
        service_rule=decision.service_rule)
    record.details["amount"] = decision.amount.view() if decision.amount else None
    record.details["care_arrangement"] = decision.care_arrangement
    record.details["payee"] = decision.payee
    move(record, decision.outcome, now)
    if decision.service_rule == "VE-3":
        return None
    return Deadline.open(record.case_id, record.street_code, decision.service_rule,
                         SERVICE_WORKING_DAYS, Unit.WORKING_DAYS, now, calendar)


def decision_made_event(record: CaseRecord, decision: Decision, now: datetime,
                        document_id: str) -> dict:
    approved = decision.outcome == APPROVED
    return {
        "case_id": record.case_id, "case_no": record.case_no, "program": record.program,
        "street_code": record.street_code, "community": record.details["community"],
        "outcome": decision.outcome, "authority": record.details["deciding_authority"],
        "decided_at": now,
        "monthly_amount_fen": decision.amount.monthly_fen if approved else None,
        "recipients": recipients(record) if approved else [],
        "payee_kind": decision.payee["kind"] if approved else None,
        "payee_name": decision.payee["name"] if approved else None,
        "payee_account": decision.payee["account"] if approved else None,
        "reasons": decision.reasons, "document_id": document_id,
    }


# -- ORG-7: service of the decision documents ----------------------------------------------------
def serve(record: CaseRecord, document_id: str, served_at: datetime, now: datetime) -> bool:
    """Record that a decision document was served; True once all of them are (the DE-5, DE-7
    or VE-3 deadline is then met)."""
    require_state(record, "record_service", *DECIDED_STATES)
    documents = {d["document_id"]: d for d in record.details["documents"]}
    document = documents.get(document_id)
    if document is None or document_id not in record.details["decision"]["document_ids"]:
        raise ValidationFailed(f"{document_id} is not a decision document of this case",
                               field="document_id", code="unknown_document")
    if document["served_at"] is not None:
        raise Conflict(f"{document_id} was already served", field="document_id",
                       code="already_served")
    if served_at > now or served_at < datetime.fromisoformat(document["issued_at"]):
        raise ValidationFailed("a document is served after it is issued and not in the future",
                               field="served_at", code="served_at_out_of_range")
    document["served_at"] = iso(served_at)
    return all(documents[d]["served_at"] for d in record.details["decision"]["document_ids"])


def document_ref(document) -> dict:
    return {"document_id": document.document_id, "kind": document.kind,
            "title": document.title, "issued_at": iso(document.issued_at),
            "served_at": iso(document.served_at) if document.served_at else None}


def timeline_entry(now: datetime, step: str, action: str, actor: Actor | None,
                   rule_id: str | None, note: str | None, document_ids) -> dict:
    return {"at": iso(now), "service": "decision", "step": step, "action": action,
            "actor_user": actor.user_id if actor else None,
            "actor_role": actor.role if actor else None, "rule_id": rule_id, "note": note,
            "document_ids": list(document_ids)}


# -- DE-2: announcement ----------------------------------------------------------------------------
def announced(record: CaseRecord) -> dict:
    """What the community notice board shows of an approved household: no ID numbers."""
    return {"case_id": record.case_id, "case_no": record.case_no,
            "community": record.details["community"],
            "name": record.details["applicant"]["name"], "program": record.program,
            "monthly_amount_fen": record.details["amount"]["monthly_amount_fen"],
            "decided_at": datetime.fromisoformat(record.details["decision"]["at"])}
