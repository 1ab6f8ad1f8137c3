"""Supervision's rules: the district's register of cases, their timeline, the deadlines of every
street, worklists and the register of new recipients (SU-1 to SU-5, ORG-3).

Pure: no nameko, no SQLAlchemy. Events from different services may arrive in any order, so
every rule here is written to give the same result whatever the order.
"""
from __future__ import annotations

from datetime import datetime

from hqcore.authz import (
    CLERK, COMMUNITY_WORKER, DEPARTMENT_HEAD, DISTRICT_OFFICER, INVESTIGATOR, REVIEWER,
    STREET_LEADER,
)
from hqcore.clock import CHINA_TZ, local_date

# Who acts on a case at each step (docs/procedure.md, "Steps, roles and states"): the roles of
# the steps that start from that state. Steps that run by themselves (city_check, the end of
# publicity) and final states are nobody's work. A case enters the register when intake
# accepts it, so intake's ``awaiting_materials`` is intake's own list, not a worklist here.
STEP_ROLES: dict[str, frozenset[str]] = {
    "investigation": frozenset({INVESTIGATOR}),                               # VE-1, VE-4
    "reinvestigation": frozenset({INVESTIGATOR}),                             # PU-3, PU-4
    "information_check": frozenset({CLERK}),                                  # VE-2
    "district_check": frozenset({DISTRICT_OFFICER}),                          # VE-2
    "awaiting_explanation": frozenset({CLERK}),                               # VE-3
    "awaiting_correction": frozenset({CLERK}),                                # VE-5
    "awaiting_preliminary_opinion": frozenset({CLERK}),                       # PU-1
    "publicity": frozenset({COMMUNITY_WORKER, CLERK, DISTRICT_OFFICER}),      # PU-3, PU-4
    "deliberation": frozenset({CLERK}),                                       # PU-5 to PU-7
    "management_review": frozenset({REVIEWER}),                               # DE-1
    "head_consent": frozenset({DEPARTMENT_HEAD}),                             # DE-1
    "leader_decision": frozenset({STREET_LEADER}),                            # DE-1
    "district_decision": frozenset({DISTRICT_OFFICER}),                       # ORG-1
    "non_confirmation_proposed": frozenset({REVIEWER}),                       # VE-3
}

# Steps at which a service only waits for another, or files its own copy away: they go on the
# timeline but never become the case's current step (e.g. decision extending DE-4 while
# verification still investigates, or intake closing its file after the decision).
PASSIVE_STEPS = frozenset({"awaiting_verification", "awaiting_file", "awaiting_decision",
                           "closed", "not_payable"})

DEADLINE_OPEN, DEADLINE_MET, DEADLINE_BREACHED = "open", "met", "breached"
_FINAL_DEADLINE_STATUSES = frozenset({DEADLINE_MET, DEADLINE_BREACHED})


def steps_for_role(role: str) -> tuple[str, ...]:
    """The steps at which ``role`` has something to do, in a stable order."""
    return tuple(sorted(step for step, roles in STEP_ROLES.items() if role in roles))


def register_entry(accepted: dict) -> dict:
    """Every accepted case enters the district's register; near relatives of staff are
    flagged (SU-3). It starts at intake's ``accepted`` step until a later step is reported."""
    return {
        "case_id": accepted["case_id"], "case_no": accepted["case_no"],
        "program": accepted["program"], "street_code": accepted["street_code"],
        "community": accepted["community"], "near_relative": accepted["near_relative"],
        "household_size": len(accepted["members"]), "accepted_at": accepted["accepted_at"],
        "step": "accepted", "service": "intake", "step_at": accepted["accepted_at"],
        "closed": False, "closed_at": None,
    }


def timeline_entry(progressed: dict, event_id: str) -> dict:
    """One ``case.progressed`` as a row of the case's timeline."""
    keys = ("case_id", "street_code", "service", "step", "action", "actor_user", "actor_role",
            "rule_id", "note", "at")
    return {"event_id": event_id, "document_ids": list(progressed.get("document_ids") or []),
            "closed": bool(progressed.get("closed")),
            **{key: progressed.get(key) for key in keys}}


def current_step(register: dict, entries: list[dict]) -> dict:
    """The register's step fields after applying ``entries`` in any order: the newest entry
    at an active step names the current step (an older one arriving late never moves it back),
    and a case once closed stays closed."""
    state = {key: register[key] for key in ("step", "service", "step_at", "closed", "closed_at")}
    for entry in entries:
        if entry["step"] not in PASSIVE_STEPS and supersedes(entry["at"], state["step_at"]):
            state.update(step=entry["step"], service=entry["service"], step_at=entry["at"])
        if entry["closed"] and (state["closed_at"] is None or entry["at"] < state["closed_at"]):
            state.update(closed=True, closed_at=entry["at"])
    return state


def supersedes(entry_at: datetime, step_at: datetime | None) -> bool:
    """An entry sets the current step unless it is older than the step already recorded."""
    return step_at is None or entry_at >= step_at


def deadline_status(current: str | None, incoming: str) -> str:
    """Met and breached are final; a late ``deadline.opened`` never reopens a deadline."""
    if current in _FINAL_DEADLINE_STATUSES:
        return current
    return incoming


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    """Overdue: breached, or still open after its due instant."""
    return status == DEADLINE_BREACHED or (status == DEADLINE_OPEN and due_at < now)


def new_recipient(decision: dict, registered: dict) -> dict | None:
    """An approval enters the district's register of new recipients for its monthly file
    checks (SU-1, SU-2); near-relative dibao families need a household check (SU-3)."""
    if decision["outcome"] != "approved":
        return None
    return {
        "case_id": decision["case_id"], "case_no": decision["case_no"],
        "program": decision["program"], "street_code": decision["street_code"],
        "community": decision["community"], "near_relative": registered["near_relative"],
        "household_check_required": household_check_required(decision["program"],
                                                             registered["near_relative"]),
        "decided_at": decision["decided_at"], "month": month_of(decision["decided_at"]),
        "authority": decision["authority"],
        "monthly_amount_fen": decision.get("monthly_amount_fen"),
        "recipients": [dict(person) for person in decision.get("recipients") or []],
        "first_payment_month": None, "payee_kind": decision.get("payee_kind"),
    }


def household_check_required(program: str, near_relative: bool) -> bool:
    return program == "dibao" and near_relative  # SU-3: 100% household investigation


def month_of(moment: datetime) -> str:
    """The calendar month (Beijing time) an instant falls in, as ``YYYY-MM``."""
    return local_date(moment).strftime("%Y-%m")


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (Beijing time) ``moment`` falls in, as [start, end) instants."""
    first = local_date(moment).replace(day=1)
    following = (first.replace(year=first.year + 1, month=1) if first.month == 12
                 else first.replace(month=first.month + 1))
    return (datetime.combine(first, datetime.min.time(), CHINA_TZ),
            datetime.combine(following, datetime.min.time(), CHINA_TZ))


def offset(page: int, per_page: int) -> int:
    return (page - 1) * per_page


def page_of(items: list, page: int, per_page: int, total: int) -> dict:
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def breach_entry(breached: dict, recorded_at: datetime) -> dict:
    """A ``deadline.breached`` as a row of the district's register of breaches."""
    return {key: breached[key] for key in
            ("deadline_id", "service", "rule_id", "case_id", "street_code", "due_at",
             "provisional")} | {"recorded_at": recorded_at}
