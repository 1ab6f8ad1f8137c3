"""Intake's rules: accepting an application and numbering the case (IN-1, IN-6)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hqcore.clock import local_date
from hqcore.errors import Conflict

OPEN_STATUSES = ("accepted",)


@dataclass(frozen=True)
class Street:
    code: str
    name: str
    abbr: str


@dataclass
class Application:
    case_id: str
    case_no: str
    program: str
    street_code: str
    community: str
    applicant: dict
    members: list[dict]
    near_relative: bool
    accepted_at: datetime
    status: str = "accepted"
    extra: dict = field(default_factory=dict)


def case_number(street: Street, accepted_at: datetime, sequence: int) -> str:
    """Readable and unique per street and year: ``SGZ-2026-00042``."""
    return f"{street.abbr}-{local_date(accepted_at).year}-{sequence:05d}"


def refuse_duplicate(program: str, open_case_no: str | None) -> None:
    """A person or family with an open case of the same program cannot open another."""
    if open_case_no:
        raise Conflict(
            f"an open {program} case {open_case_no} already covers a member of this household",
            field="members", code="duplicate_open_case", details={"case_no": open_case_no},
        )


def accept(request: dict, street: Street, *, case_id: str, sequence: int,
           now: datetime) -> Application:
    """A complete application is accepted; acceptance starts every later deadline (IN-6)."""
    return Application(
        case_id=case_id, case_no=case_number(street, now, sequence), program=request["program"],
        street_code=street.code, community=request["community"],
        applicant=request["applicant"], members=request["members"],
        near_relative=request.get("near_relative", False), accepted_at=now,
    )


def accepted_event(app: Application) -> dict:
    return {
        "case_id": app.case_id, "case_no": app.case_no, "program": app.program,
        "street_code": app.street_code, "community": app.community,
        "applicant": app.applicant, "members": app.members,
        "near_relative": app.near_relative, "accepted_at": app.accepted_at,
    }


def case_view(app: Application) -> dict:
    return {**accepted_event(app), "status": app.status}
