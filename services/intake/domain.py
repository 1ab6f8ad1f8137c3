"""Intake's rules: who may file, the materials checklist, the one written notice, acceptance,
case numbers, duplicate open cases and closing (IN-1, IN-2, IN-3, IN-6, IN-7, ORG-6).

Pure: no nameko, no SQLAlchemy. The service loads and stores ``Application`` values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hqcore.authz import CLERK, COMMUNITY_WORKER, Actor
from hqcore.clock import local_date
from hqcore.contracts.common import PROGRAMS_LABEL_ZH
from hqcore.contracts.intake import MATERIALS
from hqcore.errors import Conflict, ValidationFailed

AWAITING_MATERIALS = "awaiting_materials"
ACCEPTED = "accepted"
CLOSED = "closed"
OPEN_STATUSES = (AWAITING_MATERIALS, ACCEPTED)
FILERS = (COMMUNITY_WORKER, CLERK)  # ORG-6 (on the family's behalf), the handling agency
RESIDENTS_COMMITTEE = "residents_committee"


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
    submitted_at: datetime
    submitted_by: str
    obligors: list[dict] = field(default_factory=list)
    proxy: dict | None = None
    payment_account: dict | None = None
    materials_provided: list[str] = field(default_factory=list)
    status: str = AWAITING_MATERIALS
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    closed_reason: str | None = None


def case_number(street: Street, at: datetime, sequence: int) -> str:
    """Readable and unique per street and year: ``SGZ-2026-00042``."""
    return f"{street.abbr}-{local_date(at).year}-{sequence:05d}"


def refuse_duplicate(program: str, open_case_no: str | None) -> None:
    """A person or family with an open case of the same program cannot open another."""
    if open_case_no:
        raise Conflict(
            f"an open {program} case {open_case_no} already covers a member of this household",
            field="members", code="duplicate_open_case", details={"case_no": open_case_no},
        )


def filing_proxy(request: dict, actor: Actor) -> dict | None:
    """Who filed for the applicant, as recorded on the case (IN-1, IN-2, ORG-6).

    A community worker files as the residents' committee; a clerk records the proxy named in
    the application (none when the applicant came in person)."""
    proxy = request.get("proxy")
    if actor.role != COMMUNITY_WORKER:
        return proxy
    if proxy is None:
        return {"kind": RESIDENTS_COMMITTEE, "name": f"{request['community']}居民委员会"}
    if proxy["kind"] != RESIDENTS_COMMITTEE:  # ORG-6
        raise ValidationFailed("a community worker files for the residents' committee",
                               field="proxy.kind", code="invalid_proxy")
    return proxy


def filing_rule(program: str) -> str:
    """Tekun is one person's written application (IN-2); the others a family's (IN-1)."""
    return "IN-2" if program == "tekun" else "IN-1"


def required_materials(program: str, has_obligors: bool, has_proxy: bool) -> list[str]:
    """The checklist of IN-3 for this household, in the order the notice lists it."""
    wanted = {
        "written_application": program == "tekun",  # IN-2: the person applies in writing
        "household_id_cards": True,
        "household_register": True,
        "economic_declaration": True,                # IN-7: a truthful declaration
        "obligor_id_cards": has_obligors,
        "obligor_household_registers": has_obligors,
        "entrustment": has_proxy,                    # IN-1, IN-2: the applicant entrusts
    }
    return [code for code in MATERIALS if wanted[code]]


def missing_items(app: Application) -> list[dict]:
    """Everything still missing, all at once (IN-6): materials, then unsigned authorisations
    of members and obligors (IN-7)."""
    provided = set(app.materials_provided)
    items = [{"item": code, "label": MATERIALS[code], "name": None, "id_number": None}
             for code in required_materials(app.program, bool(app.obligors), bool(app.proxy))
             if code not in provided]
    for person in [*app.members, *app.obligors]:
        if not person["authorisation_signed"]:
            items.append({"item": "authorisation", "name": person["name"],
                          "id_number": person["id_number"],
                          "label": f"{person['name']}签署的家庭经济状况核对授权书"})
    return items


def open_application(request: dict, street: Street, actor: Actor, *, case_id: str,
                     sequence: int, now: datetime) -> Application:
    """A new case: accepted at once when complete, otherwise waiting for materials (IN-6)."""
    app = Application(
        case_id=case_id, case_no=case_number(street, now, sequence),
        program=request["program"], street_code=street.code, community=request["community"],
        applicant=request["applicant"], members=request["members"],
        near_relative=request.get("near_relative", False), submitted_at=now,
        submitted_by=actor.user_id, obligors=request.get("obligors") or [],
        proxy=filing_proxy(request, actor), payment_account=request.get("payment_account"),
        materials_provided=sorted(set(request.get("materials_provided") or [])),
    )
    if not missing_items(app):
        accept(app, now)
    return app


def accept(app: Application, now: datetime) -> None:
    """Acceptance: the instant every later deadline runs from (IN-6)."""
    app.status, app.accepted_at = ACCEPTED, now


def supply(app: Application, materials: list[str], authorisations: list[str],
           now: datetime) -> bool:
    """Record what was handed in after the notice; True when the case is now accepted."""
    if app.status != AWAITING_MATERIALS:
        raise Conflict(f"case {app.case_no} is {app.status}, not awaiting materials",
                       field="case_id", code="invalid_state")
    people = {p["id_number"]: p for p in [*app.members, *app.obligors]}
    for i, id_number in enumerate(authorisations):
        if id_number not in people:
            raise ValidationFailed("not a member or support obligor of this household",
                                   field=f"authorisations.{i}", code="unknown_person")
    for id_number in authorisations:
        people[id_number]["authorisation_signed"] = True  # IN-7
    app.materials_provided = sorted(set(app.materials_provided) | set(materials))
    if missing_items(app):
        return False
    accept(app, now)
    return True


def close(app: Application, reason: str, now: datetime) -> bool:
    """The case ends (a decision, or deemed withdrawn): a new application becomes possible.
    False when it was already closed."""
    if app.status == CLOSED:
        return False
    app.status, app.closed_at, app.closed_reason = CLOSED, now, reason
    return True


def closing(event_type: str, payload: dict) -> tuple[str, str, datetime]:
    """Why, under which rule and when a case ends, from ``decision.made`` or
    ``verification.withdrawn``: e.g. ``("decision_refused", "DE-1", decided_at)``."""
    if event_type == "verification.withdrawn":
        return "withdrawn", "VE-5", payload["withdrawn_at"]
    rule_id = "VE-3" if payload["outcome"] == "non_confirmed" else "DE-1"
    return f"decision_{payload['outcome']}", rule_id, payload["decided_at"]


def accepted_event(app: Application) -> dict:
    """The payload of ``application.accepted``."""
    return {
        "case_id": app.case_id, "case_no": app.case_no, "program": app.program,
        "street_code": app.street_code, "community": app.community,
        "applicant": app.applicant, "members": app.members, "obligors": app.obligors,
        "proxy": app.proxy, "payment_account": app.payment_account,
        "near_relative": app.near_relative, "accepted_at": app.accepted_at,
    }


def case_view(app: Application, documents: list[dict], timeline: list[dict]) -> dict:
    return {
        **accepted_event(app), "status": app.status, "submitted_at": app.submitted_at,
        "submitted_by": app.submitted_by, "closed_at": app.closed_at,
        "closed_reason": app.closed_reason, "materials_provided": app.materials_provided,
        "materials_missing": missing_items(app), "documents": documents, "timeline": timeline,
    }


def notice_context(app: Application, street: Street) -> dict:
    """What the one written notice of missing materials says (IN-6)."""
    return {"app": app, "street": street, "missing": missing_items(app),
            "program_label": PROGRAMS_LABEL_ZH[app.program],
            "addressee": app.proxy["name"] if app.proxy else app.applicant["name"]}
