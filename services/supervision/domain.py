"""Supervision's rules: the district's register of cases, their timeline, the deadlines of every
street, worklists and the register of new recipients (SU-1 to SU-5, ORG-3).

Supervision takes no step of the procedure: it is the district's read model, built from the
events every service publishes. Pure: no nameko, no SQLAlchemy. Events from different services
may arrive in any order, so every rule here gives the same result whatever the order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from hqcore.aggregate import CaseAggregate
from hqcore.authz import (
    CLERK,
    COMMUNITY_WORKER,
    DEPARTMENT_HEAD,
    DISTRICT_OFFICER,
    INVESTIGATOR,
    REVIEWER,
    STREET_LEADER,
)
from hqcore.clock import CHINA_TZ, local_date
from hqcore.timeline import GENESIS, chain_hash

# Who acts on a case at each step (docs/procedure.md, "Steps, roles and states"): the roles of
# the steps that start from that state. Steps that run by themselves (city_check, the end of
# publicity) and final states are nobody's work. A case enters the register when intake
# accepts it, so intake's ``awaiting_materials`` is intake's own list, not a worklist here.
STEP_ROLES: dict[str, frozenset[str]] = {
    "investigation": frozenset({INVESTIGATOR}),  # VE-1, VE-4
    "reinvestigation": frozenset({INVESTIGATOR}),  # PU-3, PU-4
    "information_check": frozenset({CLERK}),  # VE-2
    "district_check": frozenset({DISTRICT_OFFICER}),  # VE-2
    "awaiting_explanation": frozenset({CLERK}),  # VE-3
    "awaiting_correction": frozenset({CLERK}),  # VE-5
    "awaiting_preliminary_opinion": frozenset({CLERK}),  # PU-1
    "publicity": frozenset({COMMUNITY_WORKER, CLERK, DISTRICT_OFFICER}),  # PU-3, PU-4
    "deliberation": frozenset({CLERK}),  # PU-5 to PU-7
    "management_review": frozenset({REVIEWER}),  # DE-1
    "head_consent": frozenset({DEPARTMENT_HEAD}),  # DE-1
    "leader_decision": frozenset({STREET_LEADER}),  # DE-1
    "district_decision": frozenset({DISTRICT_OFFICER}),  # ORG-1
    "non_confirmation_proposed": frozenset({REVIEWER}),  # VE-3
}

# Steps at which a service only waits for another, or files its own copy away: they go on the
# timeline but never become the case's current step (e.g. decision extending DE-4 while
# verification still investigates, or intake closing its file after the decision).
PASSIVE_STEPS = frozenset(
    {"awaiting_verification", "awaiting_file", "awaiting_decision", "closed", "not_payable"}
)

# The register's two states: a case is in the procedure until a service reports it closed.
IN_PROCEDURE, CLOSED = "in_procedure", "closed"

DEADLINE_OPEN, DEADLINE_MET, DEADLINE_BREACHED = "open", "met", "breached"
_FINAL_DEADLINE_STATUSES = frozenset({DEADLINE_MET, DEADLINE_BREACHED})


# -- the register of cases --------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One ``case.progressed``, as the district's timeline keeps it (its fields unchanged)."""

    event_id: str
    case_id: str
    street_code: str
    service: str
    step: str
    action: str
    actor_user: str | None
    actor_role: str | None
    rule_id: str | None
    note: str | None
    document_ids: list[str]
    closed: bool
    at: datetime
    # SEC-16: the content hash of each document reported, and the entry's link in the case's
    # hash chain (``link``): its place, the previous entry's hash and its own.
    document_hashes: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True)
class ChainHead:
    """The end of a case's hash chain: how many entries it holds and the last one's hash. Its
    row is the lock every change of the case's register and timeline takes first (SEC-2,
    SEC-16), so two events of one case never interleave, whatever their order."""

    case_id: str
    seq: int = 0
    hash: str = GENESIS


def chain_fields(entry: TimelineEntry) -> dict[str, Any]:
    """What an entry's hash covers: everything it records but its own link hashes."""
    fields = asdict(entry)
    del fields["prev_hash"], fields["hash"]
    return fields


def link(entry: TimelineEntry, head: ChainHead) -> tuple[TimelineEntry, ChainHead]:
    """``entry`` appended to the case's chain (SEC-16), and the chain's new head."""
    placed = replace(entry, seq=head.seq + 1, prev_hash=head.hash, hash="")
    linked = replace(placed, hash=chain_hash(head.hash, chain_fields(placed)))
    return linked, ChainHead(entry.case_id, linked.seq, linked.hash)


@dataclass(kw_only=True)
class RegisteredCase(CaseAggregate):
    """A case in the district's register: who it is, and the step it has reached (the newest
    active step any service reported). ``status`` is ``in_procedure`` or ``closed``; ``since``
    is when the current step was reached."""

    community: str | None
    near_relative: bool  # SU-3
    household_size: int | None
    accepted_at: datetime
    current_step: str
    current_service: str
    step_at: datetime
    closed: bool = False
    closed_at: datetime | None = None

    @property
    def household_check_required(self) -> bool:
        return household_check_required(self.program, self.near_relative)


def register_case(
    accepted: Mapping[str, Any], earlier: Iterable[TimelineEntry] = ()
) -> RegisteredCase:
    """Every accepted case enters the district's register (ORG-3); near relatives of staff are
    flagged (SU-3). It starts at intake's ``accepted`` step; timeline entries that arrived
    before the acceptance (``earlier``) are taken into account at once."""
    case = RegisteredCase(
        case_id=accepted["case_id"],
        case_no=accepted["case_no"],
        program=accepted["program"],
        street_code=accepted["street_code"],
        status=IN_PROCEDURE,
        since=accepted["accepted_at"],
        community=accepted["community"],
        near_relative=accepted["near_relative"],
        household_size=len(accepted["members"]),
        accepted_at=accepted["accepted_at"],
        current_step="accepted",
        current_service="intake",
        step_at=accepted["accepted_at"],
    )
    advance(case, earlier)
    return case


def timeline_entry(progressed: Mapping[str, Any], event_id: str) -> TimelineEntry:
    """One ``case.progressed`` as a row of the case's timeline."""
    return TimelineEntry(
        event_id=event_id,
        case_id=progressed["case_id"],
        street_code=progressed["street_code"],
        service=progressed["service"],
        step=progressed["step"],
        action=progressed["action"],
        actor_user=progressed.get("actor_user"),
        actor_role=progressed.get("actor_role"),
        rule_id=progressed.get("rule_id"),
        note=progressed.get("note"),
        document_ids=list(progressed.get("document_ids") or []),
        closed=bool(progressed.get("closed")),
        at=progressed["at"],
        document_hashes=dict(progressed.get("document_hashes") or {}),
    )


def advance(case: RegisteredCase, entries: Iterable[TimelineEntry]) -> bool:
    """The register after ``entries``, in any order: the newest entry at an active step names
    the current step (an older one arriving late never moves it back), and a case once closed
    stays closed from its first closing entry. True if anything changed."""
    before = (case.current_step, case.current_service, case.step_at, case.closed, case.closed_at)
    for entry in entries:
        if entry.step not in PASSIVE_STEPS and supersedes(entry.at, case.step_at):
            case.current_step, case.current_service = entry.step, entry.service
            case.step_at = entry.at
        if entry.closed and (case.closed_at is None or entry.at < case.closed_at):
            case.closed, case.closed_at = True, entry.at
    case.status, case.since = (CLOSED if case.closed else IN_PROCEDURE), case.step_at
    return before != (
        case.current_step,
        case.current_service,
        case.step_at,
        case.closed,
        case.closed_at,
    )


def supersedes(entry_at: datetime, step_at: datetime | None) -> bool:
    """An entry sets the current step unless it is older than the step already recorded."""
    return step_at is None or entry_at >= step_at


def summary(case: RegisteredCase, overdue: bool) -> dict[str, Any]:
    """A case as the register lists it (``CaseSummary``)."""
    return {
        "case_id": case.case_id,
        "case_no": case.case_no,
        "program": case.program,
        "street_code": case.street_code,
        "community": case.community,
        "near_relative": case.near_relative,
        "accepted_at": case.accepted_at,
        "step": case.current_step,
        "service": case.current_service,
        "step_at": case.step_at,
        "closed": case.closed,
        "overdue": overdue,
    }


def steps_for_role(role: str) -> tuple[str, ...]:
    """The steps at which ``role`` has something to do, in a stable order."""
    return tuple(sorted(step for step, roles in STEP_ROLES.items() if role in roles))


# -- the deadlines of every street ------------------------------------------------------------


@dataclass
class DeadlineRecord:
    """One deadline of any service, with its status as the owning service reported it."""

    deadline_id: str
    service: str
    rule_id: str
    case_id: str
    street_code: str | None
    unit: str
    amount: int
    due_at: datetime
    provisional: bool
    status: str
    met_at: datetime | None = None
    breached_at: datetime | None = None


def record_deadline(
    current: DeadlineRecord | None, reported: Mapping[str, Any], status: str, now: datetime
) -> DeadlineRecord:
    """The register's row after a ``deadline.opened`` / ``met`` / ``breached``: the reported
    length and due instant, and a status that never leaves met or breached."""
    return DeadlineRecord(
        deadline_id=reported["deadline_id"],
        service=reported["service"],
        rule_id=reported["rule_id"],
        case_id=reported["case_id"],
        street_code=reported["street_code"],
        unit=reported["unit"],
        amount=reported["amount"],
        due_at=reported["due_at"],
        provisional=reported["provisional"],
        status=deadline_status(current.status if current else None, status),
        met_at=reported["met_at"]
        if status == DEADLINE_MET
        else (current.met_at if current else None),
        breached_at=now
        if status == DEADLINE_BREACHED
        else (current.breached_at if current else None),
    )


def deadline_status(current: str | None, incoming: str) -> str:
    """Met and breached are final; a late ``deadline.opened`` never reopens a deadline."""
    if current in _FINAL_DEADLINE_STATUSES:
        return current
    return incoming


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    """Overdue: breached, or still open after its due instant."""
    return status == DEADLINE_BREACHED or (status == DEADLINE_OPEN and due_at < now)


def deadline_view(record: DeadlineRecord, now: datetime) -> dict[str, Any]:
    """A deadline as the register lists it (``DeadlineEntry``)."""
    return {**asdict(record), "overdue": is_overdue(record.status, record.due_at, now)}


@dataclass(frozen=True)
class Breach:
    """A ``deadline.breached``, as a row of the district's register of breaches (SU-5)."""

    deadline_id: str
    service: str
    rule_id: str
    case_id: str
    street_code: str | None
    due_at: datetime
    provisional: bool
    recorded_at: datetime


def breach_entry(breached: Mapping[str, Any], recorded_at: datetime) -> Breach:
    return Breach(
        deadline_id=breached["deadline_id"],
        service=breached["service"],
        rule_id=breached["rule_id"],
        case_id=breached["case_id"],
        street_code=breached["street_code"],
        due_at=breached["due_at"],
        provisional=breached["provisional"],
        recorded_at=recorded_at,
    )


# -- new recipients ---------------------------------------------------------------------------


@dataclass
class NewRecipient:
    """An approval in the district's register of new recipients (SU-1 to SU-3)."""

    case_id: str
    case_no: str
    program: str
    street_code: str
    community: str
    near_relative: bool
    household_check_required: bool
    decided_at: datetime
    month: str
    authority: str
    monthly_amount_fen: int | None
    recipients: list[dict[str, Any]] = field(default_factory=list)
    first_payment_month: str | None = None
    payee_kind: str | None = None


def new_recipient(decision: Mapping[str, Any], case: RegisteredCase) -> NewRecipient | None:
    """An approval enters the district's register of new recipients for its monthly file
    checks (SU-1, SU-2); near-relative dibao families need a household check (SU-3)."""
    if decision["outcome"] != "approved":
        return None
    return NewRecipient(
        case_id=decision["case_id"],
        case_no=decision["case_no"],
        program=decision["program"],
        street_code=decision["street_code"],
        community=decision["community"],
        near_relative=case.near_relative,
        household_check_required=household_check_required(decision["program"], case.near_relative),
        decided_at=decision["decided_at"],
        month=month_of(decision["decided_at"]),
        authority=decision["authority"],
        monthly_amount_fen=decision.get("monthly_amount_fen"),
        recipients=[dict(person) for person in decision.get("recipients") or []],
        payee_kind=decision.get("payee_kind"),
    )


def household_check_required(program: str, near_relative: bool) -> bool:
    return program == "dibao" and near_relative  # SU-3: 100% household investigation


# -- the read log (SEC-15) --------------------------------------------------------------------


@dataclass(frozen=True)
class ReadRecord:
    """One read the gateway reported (``access.read``): who read what, when, from where."""

    event_id: str
    user_id: str
    role: str
    street_code: str | None
    kind: str
    case_id: str | None
    document_id: str | None
    target: str
    remote_addr: str | None
    read_at: datetime


def read_record(read: Mapping[str, Any], event_id: str) -> ReadRecord:
    """An ``access.read`` as a row of the read log (its event id keeps it once)."""
    return ReadRecord(
        event_id=event_id,
        user_id=read["user_id"],
        role=read["role"],
        street_code=read.get("street_code"),
        kind=read["kind"],
        case_id=read.get("case_id"),
        document_id=read.get("document_id"),
        target=read["target"],
        remote_addr=read.get("remote_addr"),
        read_at=read["read_at"],
    )


# -- who sees what ----------------------------------------------------------------------------


def scoped_street(requested: str | None, actor_street: str | None, is_district: bool) -> str | None:
    """The street a list shows (ORG-3): the district every street or the one it names; street
    staff their own street when they name none (naming another is refused by the handler)."""
    return requested if is_district else (requested or actor_street)


def timeline_street(case: RegisteredCase | None, entries: list[TimelineEntry]) -> str | None:
    """Whose timeline this is: the registered case's street, else the street its entries
    name (entries may arrive before the case is registered)."""
    if case is not None:
        return case.street_code
    return entries[0].street_code if entries else None


# -- months and pages -------------------------------------------------------------------------


def month_of(moment: datetime) -> str:
    """The calendar month (Beijing time) an instant falls in, as ``YYYY-MM``."""
    return local_date(moment).strftime("%Y-%m")


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (Beijing time) ``moment`` falls in, as [start, end) instants."""
    first = local_date(moment).replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    return (
        datetime.combine(first, datetime.min.time(), CHINA_TZ),
        datetime.combine(following, datetime.min.time(), CHINA_TZ),
    )


def offset(page: int, per_page: int) -> int:
    return (page - 1) * per_page


def page_of(items: list[dict[str, Any]], page: int, per_page: int, total: int) -> dict[str, Any]:
    return {"items": items, "page": page, "per_page": per_page, "total": total}
