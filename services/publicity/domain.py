"""Publicity's rules (PU-1 to PU-7): preliminary opinion, publicity, objections, major
disputes and democratic deliberation. Pure: no nameko, no SQLAlchemy.

States: ``awaiting_verification`` → (verification.completed) ``awaiting_preliminary_opinion``
→ ``publicity`` (5 D) → ``concluded`` | ``deliberation`` → ``concluded``; an objection or a
major dispute sends ``publicity`` → ``reinvestigation`` → (verification.completed) a new
opinion and publicity. ``closed`` once the case is decided or withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hqcore.aggregate import CaseAggregate
from hqcore.calendar import WorkingCalendar
from hqcore.clock import local_date
from hqcore.deadlines import Deadline, Unit
from hqcore.effects import Effects, progress
from hqcore.errors import Conflict, InvalidState, ValidationFailed
from services.publicity import notices

AWAITING_VERIFICATION = "awaiting_verification"
AWAITING_OPINION = "awaiting_preliminary_opinion"
PUBLICITY = "publicity"
REINVESTIGATION = "reinvestigation"
DELIBERATION = "deliberation"
CONCLUDED = "concluded"
CLOSED = "closed"

PUBLICITY_DAYS = 5  # PU-1: calendar days
DISPUTE_OPINION_WORKING_DAYS = 10  # PU-4
BODY_SIZE = (5, 7)  # PU-5
MEMBER_KINDS = ("leader_in_charge", "management_staff", "committee_staff", "public_representative")


@dataclass(kw_only=True)
class PublicityCase(CaseAggregate):
    """What publicity holds about one case."""

    community: str
    deliberation_mandatory: bool  # PU-2: tekun
    verification: dict[str, Any] | None = None  # the latest verification.completed
    rounds: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, Any]] = field(default_factory=list)
    disputes: list[dict[str, Any]] = field(default_factory=list)
    deliberation: dict[str, Any] | None = None
    closed_reason: str | None = None

    @property
    def disputed(self) -> bool:
        """PU-2: an objection or a major dispute in any round means the case was disputed."""
        return bool(self.objections or self.disputes)

    @property
    def deliberation_required(self) -> bool:
        return self.deliberation_mandatory or self.disputed

    @property
    def current_round(self) -> dict[str, Any]:
        if not self.rounds:
            raise InvalidState("publicity", self.status, (PUBLICITY,))
        return self.rounds[-1]

    @property
    def awaiting_dispute_opinion(self) -> bool:
        """A major dispute's new preliminary opinion is due (PU-4)."""
        return bool(self.disputes) and self.disputes[-1]["round"] == len(self.rounds)


def register_case(accepted: dict[str, Any]) -> PublicityCase:
    """An accepted application; tekun always goes to democratic deliberation (PU-2)."""
    return PublicityCase(
        case_id=accepted["case_id"],
        case_no=accepted["case_no"],
        program=accepted["program"],
        street_code=accepted["street_code"],
        community=accepted["community"],
        status=AWAITING_VERIFICATION,
        since=accepted["accepted_at"],
        deliberation_mandatory=accepted["program"] == "tekun",
    )


def verification_completed(case: PublicityCase, completed: dict[str, Any]) -> Effects:
    """The family was found eligible: the handling agency now forms its preliminary opinion
    (PU-1; PU-4 after a major dispute). Nothing changes when the case is not waiting for a
    verification."""
    if case.status not in (AWAITING_VERIFICATION, REINVESTIGATION):
        return Effects.nothing()
    case.verification = {k: completed[k] for k in ("round", "household_size", "report_id")}
    case.status, case.since = AWAITING_OPINION, completed["completed_at"]
    return progress("verification_completed", "PU-4" if case.awaiting_dispute_opinion else "PU-1")


def publicity_period(case: PublicityCase, start: datetime, calendar: WorkingCalendar) -> Deadline:
    """PU-1: the publicity lasts 5 D from the posting instant and ends at the due instant."""
    return Deadline.open(
        case.case_id, case.street_code, "PU-1", PUBLICITY_DAYS, Unit.CALENDAR_DAYS, start, calendar
    )


def record_preliminary_opinion(
    case: PublicityCase,
    opinion: str,
    summary: str,
    now: datetime,
    calendar: WorkingCalendar,
    notice_id: str,
) -> Effects:
    """PU-1: post the preliminary opinion on the residents' committee notice board for 5 D
    (PU-4: the new opinion after a major dispute is given, so that deadline is met)."""
    case.move((AWAITING_OPINION,), PUBLICITY, now, "record_preliminary_opinion")
    assert case.verification is not None  # set on the way into awaiting_preliminary_opinion
    period = publicity_period(case, now, calendar)
    publicity = {
        "round": len(case.rounds) + 1,
        "opinion": opinion,
        "summary": summary,
        "household_size": case.verification["household_size"],
        "verification_round": case.verification["round"],
        "report_id": case.verification["report_id"],
        "starts_at": now.isoformat(),
        "ends_at": period.due_at.isoformat(),
        "last_day": period.due_date.isoformat() if period.due_date else None,
        "ended_at": None,
        "outcome": None,
        "notice_document_id": notice_id,
    }
    case.rounds.append(publicity)
    return (
        progress("preliminary_opinion_recorded", "PU-1", note=opinion)
        .issue(notices.public_notice(case, publicity, now, PUBLICITY_DAYS, notice_id))
        .meet("PU-4")
    )


def ends_at(publicity: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(publicity["ends_at"])


def _interrupt(case: PublicityCase, now: datetime, step: str, outcome: str) -> dict[str, Any]:
    """Objections and disputes are raised during the publicity, before its end (PU-3, PU-4)."""
    case.require_state((PUBLICITY,), step)
    publicity = case.current_round
    if now >= ends_at(publicity):
        raise Conflict(
            "the publicity has already ended",
            field="case_id",
            code="invalid_state",
            details={
                "status": case.status,
                "allowed": [PUBLICITY],
                "ended_at": publicity["ends_at"],
            },
        )
    case.move((PUBLICITY,), REINVESTIGATION, now, step)
    publicity.update(ended_at=now.isoformat(), outcome=outcome)
    return publicity


def _reinvestigation(
    case: PublicityCase, cause: str, detail: str, now: datetime, rule_id: str
) -> Effects:
    """PU-3, PU-4: the publicity stops and verification investigates again."""
    return progress(f"{cause}_recorded", rule_id, note=detail).emit(
        "publicity.reinvestigation_requested",
        {
            "case_id": case.case_id,
            "case_no": case.case_no,
            "program": case.program,
            "street_code": case.street_code,
            "cause": cause,
            "detail": detail,
            "requested_at": now,
        },
    )


def record_objection(
    case: PublicityCase, objector: str, detail: str, now: datetime, recorded_by: str
) -> Effects:
    """PU-3: an objection during publicity: investigate again, publicise again."""
    publicity = _interrupt(case, now, "record_objection", "objection")
    case.objections.append(
        {
            "round": publicity["round"],
            "objector": objector,
            "detail": detail,
            "recorded_at": now.isoformat(),
            "recorded_by": recorded_by,
        }
    )
    return _reinvestigation(case, "objection", detail, now, "PU-3")


def record_major_dispute(
    case: PublicityCase,
    source: str,
    detail: str,
    now: datetime,
    recorded_by: str,
    calendar: WorkingCalendar,
) -> Effects:
    """PU-4: a complaint or report raising a major dispute: investigate again and give a new
    preliminary opinion within 10 WD of the dispute."""
    publicity = _interrupt(case, now, "record_major_dispute", "major_dispute")
    deadline = Deadline.open(
        case.case_id,
        case.street_code,
        "PU-4",
        DISPUTE_OPINION_WORKING_DAYS,
        Unit.WORKING_DAYS,
        now,
        calendar,
    )
    case.disputes.append(
        {
            "round": publicity["round"],
            "source": source,
            "detail": detail,
            "recorded_at": now.isoformat(),
            "recorded_by": recorded_by,
            "opinion_due_at": deadline.due_at.isoformat(),
            "opinion_due_date": deadline.due_date.isoformat() if deadline.due_date else None,
        }
    )
    return _reinvestigation(case, "major_dispute", detail, now, "PU-4").open(deadline)


def end_publicity(case: PublicityCase, now: datetime) -> Effects:
    """PU-1, PU-2: the publicity ran its 5 D without objection; deliberation is skipped unless
    the case is tekun or was disputed in any round."""
    case.require_state((PUBLICITY,), "end_publicity")
    publicity = case.current_round
    if now < ends_at(publicity):
        raise Conflict(
            "the publicity has not ended yet",
            field="case_id",
            code="invalid_state",
            details={
                "status": case.status,
                "allowed": [PUBLICITY],
                "ends_at": publicity["ends_at"],
            },
        )
    target = DELIBERATION if case.deliberation_required else CONCLUDED
    case.move((PUBLICITY,), target, now, "end_publicity")
    publicity.update(ended_at=now.isoformat(), outcome="completed")
    effects = progress(
        "publicity_ended",
        "PU-2",
        note="deliberation required"
        if target == DELIBERATION
        else "no dispute: deliberation skipped",
    )
    if target == CONCLUDED:
        effects.emit("publicity.concluded", concluded_payload(case, now))
    return effects


def validate_body(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PU-5: 5 to 7 members; the leader in charge (one), management-department staff,
    residents' committee staff and public representatives all present; names unique."""
    low, high = BODY_SIZE
    if not low <= len(members) <= high:
        raise ValidationFailed(
            f"the body has {len(members)} members; PU-5 requires {low} to {high}",
            field="members",
            code="body_size",
        )
    missing = [kind for kind in MEMBER_KINDS if kind not in {m["kind"] for m in members}]
    if missing:
        raise ValidationFailed(
            f"the body lacks members of kind {', '.join(missing)} (PU-5)",
            field="members",
            code="body_kinds",
            details={"missing": missing},
        )
    leaders = [m for m in members if m["kind"] == "leader_in_charge"]
    if len(leaders) != 1:
        raise ValidationFailed(
            "the body has exactly one leader in charge (PU-5)", field="members", code="body_kinds"
        )
    names = [m["name"] for m in members]
    if len(set(names)) != len(names):
        raise ValidationFailed(
            "two members have the same name", field="members", code="duplicate_member"
        )
    return [{"name": m["name"], "kind": m["kind"], "title": m.get("title", "")} for m in members]


def record_deliberation(
    case: PublicityCase,
    body: list[dict[str, Any]],
    members_present: list[str],
    conclusion: str,
    minutes: str,
    signed_off_by: str,
    approved_on: date,
    now: datetime,
    minutes_id: str,
) -> Effects:
    """PU-5, PU-6: the body met with a majority present, concluded and kept minutes; the
    leader in charge signed off and the street leadership meeting approved; PU-7: the
    minutes go into the family's file."""
    case.require_state((DELIBERATION,), "record_deliberation")
    by_name = {m["name"]: m for m in body}
    unknown = [name for name in members_present if name not in by_name]
    if unknown:
        raise ValidationFailed(
            f"not members of the street's body: {', '.join(unknown)}",
            field="members_present",
            code="not_a_member",
        )
    present = list(dict.fromkeys(members_present))
    if len(present) * 2 <= len(body):  # PU-6: the body meets with a majority present
        raise ValidationFailed(
            f"{len(present)} of {len(body)} members present: a majority is required",
            field="members_present",
            code="no_quorum",
        )
    leader = by_name.get(signed_off_by)
    if leader is None or leader["kind"] != "leader_in_charge":
        raise ValidationFailed(
            "the minutes are signed off by the body's leader in charge (PU-5)",
            field="signed_off_by",
            code="not_the_leader",
        )
    ended = local_date(ends_at(case.current_round)) if case.rounds else None
    if approved_on > local_date(now) or (ended and approved_on < ended):
        raise ValidationFailed(
            "the leadership meeting's approval date must fall between the "
            "end of the publicity and today (PU-6)",
            field="leadership_meeting_approved_on",
            code="invalid_date",
        )
    case.move((DELIBERATION,), CONCLUDED, now, "record_deliberation")
    case.deliberation = {
        "members_present": [by_name[name] for name in present],
        "body_size": len(body),
        "conclusion": conclusion,
        "minutes": minutes,
        "signed_off_by": signed_off_by,
        "leadership_meeting_approved_on": approved_on.isoformat(),
        "recorded_at": now.isoformat(),
        "minutes_document_id": minutes_id,
    }
    minutes_draft = notices.deliberation_minutes(
        case, case.deliberation, deliberation_reasons(case), now, minutes_id
    )
    return (
        progress("deliberation_recorded", "PU-7", note=conclusion)
        .issue(minutes_draft)
        .emit("publicity.concluded", concluded_payload(case, now))
    )


def deliberation_reasons(case: PublicityCase) -> list[str]:
    """Why the case went to deliberation (PU-2): tekun, an objection, a major dispute."""
    reasons = ["tekun"] if case.deliberation_mandatory else []
    return (
        reasons
        + (["objection"] if case.objections else [])
        + (["major_dispute"] if case.disputes else [])
    )


def concluded_payload(case: PublicityCase, now: datetime) -> dict[str, Any]:
    """The ``publicity.concluded`` event: the decision takes it from here (DE-1)."""
    deliberation = case.deliberation
    return {
        "case_id": case.case_id,
        "case_no": case.case_no,
        "program": case.program,
        "street_code": case.street_code,
        "community": case.community,
        "rounds": len(case.rounds),
        "preliminary_opinion": case.current_round["opinion"],
        "deliberation_held": deliberation is not None,
        "deliberation_conclusion": deliberation["conclusion"] if deliberation else None,
        "minutes_document_id": deliberation["minutes_document_id"] if deliberation else None,
        "concluded_at": now,
    }


def close(case: PublicityCase, reason: str, now: datetime) -> Effects:
    """The case was decided or withdrawn (VE-5): publicity has nothing more to do, and no
    new opinion is due (PU-4)."""
    if case.status == CLOSED:
        return Effects.nothing()
    case.status, case.since, case.closed_reason = CLOSED, now, reason
    return Effects().meet("PU-4")


def details(case: PublicityCase) -> dict[str, Any]:
    """What the case view shows of publicity's own fields."""
    return {
        **case.to_details(),
        "deliberation_required": case.deliberation_required,
        "disputed": case.disputed,
    }
