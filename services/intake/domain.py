"""Intake's rules: who may file, the materials checklist, the one written notice, acceptance,
case numbers, duplicate open cases and closing (IN-1, IN-2, IN-3, IN-6, IN-7, ORG-6).

Pure: no nameko, no SQLAlchemy. A case is an ``Application`` (a ``CaseAggregate``); each step
changes it and returns the ``Effects`` the kit applies: the written notice, the
``application.accepted`` event and the timeline entries.

States: ``awaiting_materials`` (the notice listed every missing item, IN-6) → ``accepted``
once nothing is missing; either → ``closed`` when the case is decided or withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from hqcore.aggregate import CaseAggregate
from hqcore.authz import CLERK, COMMUNITY_WORKER, Actor, may_view
from hqcore.clock import local_date
from hqcore.contracts.intake import MATERIALS
from hqcore.effects import Effects, progress
from hqcore.errors import Conflict, ValidationFailed
from services.intake import notices

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
class Person:
    """The applicant, or a member of a support obligor's family."""

    name: str
    id_number: str
    relationship: str


@dataclass
class Member:
    """A co-residing family member; ``authorisation_signed``: the verification authorisation
    of IN-7."""

    name: str
    id_number: str
    relationship: str
    authorisation_signed: bool = False


@dataclass
class Obligor:
    """A support obligor and the obligor's own family members (IN-3)."""

    name: str
    id_number: str
    relationship: str
    authorisation_signed: bool
    family_members: list[Person] = field(default_factory=list)


@dataclass(frozen=True)
class Proxy:
    """Who filed for the applicant (IN-1, IN-2, ORG-6): the residents' committee or a person."""

    kind: str
    name: str


@dataclass(frozen=True)
class PaymentAccount:
    bank: str
    account_number: str
    holder: str


@dataclass(frozen=True)
class OpenCase:
    """The open case that already covers a member of a household: what a refused duplicate
    application is told about it, if its filer may read that case (SEC-7)."""

    case_id: str
    case_no: str
    street_code: str


@dataclass(frozen=True)
class MissingItem:
    """One item the written notice asks for: a material, or a person's authorisation."""

    item: str
    label: str
    name: str | None = None
    id_number: str | None = None


@dataclass(kw_only=True)
class Application(CaseAggregate):
    """What intake holds about one case: the household, who filed, the materials."""

    service: ClassVar[str] = "intake"

    community: str
    applicant: Person
    members: list[Member]
    near_relative: bool
    submitted_at: datetime
    submitted_by: str
    obligors: list[Obligor] = field(default_factory=list)
    proxy: Proxy | None = None
    payment_account: PaymentAccount | None = None
    materials_provided: list[str] = field(default_factory=list)
    accepted_at: datetime | None = None
    closed_at: datetime | None = None
    closed_reason: str | None = None


# -- filing -------------------------------------------------------------------------------


def case_number(street: Street, at: datetime, sequence: int) -> str:
    """Readable and unique per street and year: ``SGZ-2026-00042``."""
    return f"{street.abbr}-{local_date(at).year}-{sequence:05d}"


def refuse_duplicate(program: str, holder: OpenCase | None, actor: Actor) -> None:
    """A person or family with an open case of the same program cannot open another.

    The refusal says that such a case exists and its program; it names the case (number and
    id) only to a filer who may read it (its street, or the district): any street's clerk
    could otherwise learn, from any ID number, where a family has applied (SEC-7)."""
    if holder is None:
        return
    details: dict[str, Any] = {"program": program}
    message = f"an open {program} case already covers a member of this household"
    if may_view(actor, holder.street_code):
        details.update(case_no=holder.case_no, case_id=holder.case_id)
        message = (
            f"an open {program} case {holder.case_no} already covers a member of this household"
        )
    raise Conflict(message, field="members", code="duplicate_open_case", details=details)


def filing_proxy(request: dict[str, Any], actor: Actor) -> Proxy | None:
    """Who filed for the applicant, as recorded on the case (IN-1, IN-2, ORG-6).

    A community worker files as the residents' committee; a clerk records the proxy named in
    the application (none when the applicant came in person)."""
    proxy = _proxy(request.get("proxy"))
    if actor.role != COMMUNITY_WORKER:
        return proxy
    if proxy is None:
        return Proxy(RESIDENTS_COMMITTEE, f"{request['community']}居民委员会")
    if proxy.kind != RESIDENTS_COMMITTEE:  # ORG-6
        raise ValidationFailed(
            "a community worker files for the residents' committee",
            field="proxy.kind",
            code="invalid_proxy",
        )
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
        "economic_declaration": True,  # IN-7: a truthful declaration
        "obligor_id_cards": has_obligors,
        "obligor_household_registers": has_obligors,
        "entrustment": has_proxy,  # IN-1, IN-2: the applicant entrusts
    }
    return [code for code in MATERIALS if wanted[code]]


def missing_items(app: Application) -> list[MissingItem]:
    """Everything still missing, all at once (IN-6): materials, then unsigned authorisations
    of members and obligors (IN-7)."""
    provided = set(app.materials_provided)
    items = [
        MissingItem(code, MATERIALS[code])
        for code in required_materials(app.program, bool(app.obligors), bool(app.proxy))
        if code not in provided
    ]
    people: list[Member | Obligor] = [*app.members, *app.obligors]
    items.extend(
        MissingItem(
            "authorisation",
            f"{person.name}签署的家庭经济状况核对授权书",
            person.name,
            person.id_number,
        )
        for person in people
        if not person.authorisation_signed
    )
    return items


def open_application(
    request: dict[str, Any],
    street: Street,
    actor: Actor,
    *,
    case_id: str,
    sequence: int,
    now: datetime,
) -> tuple[Application, Effects]:
    """A new case from a validated ``intake.submit_application`` request: accepted at once
    when complete (IN-1 / IN-2, then IN-6), otherwise waiting for materials with the one
    written notice listing every missing item (IN-6)."""
    app = Application(
        case_id=case_id,
        case_no=case_number(street, now, sequence),
        program=request["program"],
        street_code=street.code,
        status=AWAITING_MATERIALS,
        since=now,
        community=request["community"],
        applicant=_person(request["applicant"]),
        members=[_member(m) for m in request["members"]],
        near_relative=bool(request.get("near_relative", False)),
        submitted_at=now,
        submitted_by=actor.user_id,
        obligors=[_obligor(o) for o in request.get("obligors") or []],
        proxy=filing_proxy(request, actor),
        payment_account=_account(request.get("payment_account")),
        materials_provided=sorted(set(request.get("materials_provided") or [])),
    )
    missing = missing_items(app)
    if not missing:
        return app, progress("application_submitted", filing_rule(app.program)).then(
            accept(app, now)
        )
    return app, progress(
        "application_submitted", "IN-6", note=f"missing {len(missing)} item(s)"
    ).issue(notices.materials_notice(app, street, missing, now))


def accept(app: Application, now: datetime) -> Effects:
    """Acceptance: the instant every later deadline runs from (IN-6); the other services open
    the case on ``application.accepted``."""
    app.move((AWAITING_MATERIALS,), ACCEPTED, now, "accept")
    app.accepted_at = now
    return (
        Effects()
        .record("application_accepted", "IN-6")
        .emit("application.accepted", accepted_event(app))
    )


def supply(
    app: Application, materials: list[str], authorisations: list[str], now: datetime
) -> Effects:
    """Record what was handed in after the notice (IN-6) and who has now signed the
    authorisation (IN-7); accepted once nothing is missing."""
    app.require_state((AWAITING_MATERIALS,), "supply_materials")
    signers: list[Member | Obligor] = [*app.members, *app.obligors]
    people = {person.id_number: person for person in signers}
    for i, id_number in enumerate(authorisations):
        if id_number not in people:
            raise ValidationFailed(
                "not a member or support obligor of this household",
                field=f"authorisations.{i}",
                code="unknown_person",
            )
    for id_number in authorisations:
        people[id_number].authorisation_signed = True  # IN-7
    app.materials_provided = sorted(set(app.materials_provided) | set(materials))
    remaining = len(missing_items(app))
    effects = progress("materials_supplied", "IN-6", note=f"still missing {remaining} item(s)")
    return effects.then(accept(app, now)) if remaining == 0 else effects


# -- closing ------------------------------------------------------------------------------


def closing(event_type: str, payload: dict[str, Any]) -> tuple[str, str, datetime]:
    """Why, under which rule and when a case ends, from ``decision.made`` or
    ``verification.withdrawn``: e.g. ``("decision_refused", "DE-1", decided_at)``."""
    if event_type == "verification.withdrawn":
        return "withdrawn", "VE-5", payload["withdrawn_at"]
    rule_id = "VE-3" if payload["outcome"] == "non_confirmed" else "DE-1"
    return f"decision_{payload['outcome']}", rule_id, payload["decided_at"]


def close(app: Application, reason: str, rule_id: str, at: datetime) -> Effects:
    """The case ends (a decision, or deemed withdrawn): a new application becomes possible.
    Nothing changes when it was already closed."""
    if app.status == CLOSED:
        return Effects.nothing()
    app.move(OPEN_STATUSES, CLOSED, at, "close")
    app.closed_at, app.closed_reason = at, reason
    return progress("case_closed", rule_id, note=reason, closed=True)


# -- what others see ----------------------------------------------------------------------


def person_view(person: Person | Member) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": person.name,
        "id_number": person.id_number,
        "relationship": person.relationship,
    }
    if isinstance(person, Member):
        view["authorisation_signed"] = person.authorisation_signed
    return view


def obligor_view(obligor: Obligor) -> dict[str, Any]:
    return {
        "name": obligor.name,
        "id_number": obligor.id_number,
        "relationship": obligor.relationship,
        "authorisation_signed": obligor.authorisation_signed,
        "family_members": [person_view(p) for p in obligor.family_members],
    }


def accepted_event(app: Application) -> dict[str, Any]:
    """The payload of ``application.accepted``."""
    proxy, account = app.proxy, app.payment_account
    return {
        "case_id": app.case_id,
        "case_no": app.case_no,
        "program": app.program,
        "street_code": app.street_code,
        "community": app.community,
        "applicant": person_view(app.applicant),
        "members": [person_view(m) for m in app.members],
        "obligors": [obligor_view(o) for o in app.obligors],
        "proxy": {"kind": proxy.kind, "name": proxy.name} if proxy else None,
        "payment_account": {
            "bank": account.bank,
            "account_number": account.account_number,
            "holder": account.holder,
        }
        if account
        else None,
        "near_relative": app.near_relative,
        "accepted_at": app.accepted_at,
    }


def missing_view(item: MissingItem) -> dict[str, Any]:
    return {"item": item.item, "label": item.label, "name": item.name, "id_number": item.id_number}


def case_view(app: Application, documents: list[dict[str, Any]]) -> dict[str, Any]:
    """``intake.get_case``: the household, materials and documents (the timeline is
    supervision's)."""
    return {
        **accepted_event(app),
        "status": app.status,
        "submitted_at": app.submitted_at,
        "submitted_by": app.submitted_by,
        "closed_at": app.closed_at,
        "closed_reason": app.closed_reason,
        "materials_provided": list(app.materials_provided),
        "materials_missing": [missing_view(m) for m in missing_items(app)],
        "documents": documents,
    }


# -- from a request -----------------------------------------------------------------------


def _person(data: dict[str, Any]) -> Person:
    return Person(data["name"], data["id_number"], data["relationship"])


def _member(data: dict[str, Any]) -> Member:
    return Member(
        data["name"],
        data["id_number"],
        data["relationship"],
        bool(data.get("authorisation_signed", False)),
    )


def _obligor(data: dict[str, Any]) -> Obligor:
    return Obligor(
        data["name"],
        data["id_number"],
        data["relationship"],
        bool(data["authorisation_signed"]),
        [_person(p) for p in data.get("family_members") or []],
    )


def _proxy(data: dict[str, Any] | None) -> Proxy | None:
    return Proxy(data["kind"], data["name"]) if data else None


def _account(data: dict[str, Any] | None) -> PaymentAccount | None:
    return PaymentAccount(data["bank"], data["account_number"], data["holder"]) if data else None
