"""Intake's handlers through the step skeleton, on an in-memory unit of work (IN-1, IN-2, IN-3,
IN-6, IN-7, ORG-6).

What a user sees: the reply of each step and read, the refusals (status, code, field,
details), the events written for the other services, the notice issued and the timeline
entries (``case.progressed``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hqcore.contracts.intake import MATERIALS
from hqcore.errors import (
    CaseNotFound,
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from hqcore.steps import CaseNotYetKnown, read_case, run_event, run_step
from hqops.samples import make_id_number, sample_application
from services.intake import domain, handlers, notices
from tests.support import events
from tests.support.fakes import InMemoryCases, fake_runtime

FILED_AT = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin
SGZ = "shaogongzhuang"
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": SGZ}
COMMUNITY = {"user_id": "sgz-community", "role": "community_worker", "street_code": SGZ}
SHC_CLERK = {"user_id": "shc-clerk", "role": "clerk", "street_code": "shuanghuancun"}
SHC_COMMUNITY = {
    "user_id": "shc-community",
    "role": "community_worker",
    "street_code": "shuanghuancun",
}
INVESTIGATOR = {"user_id": "sgz-investigator-1", "role": "investigator", "street_code": SGZ}
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}
SPOUSE = make_id_number(21)
STREETS = [
    domain.Street(SGZ, "邵公庄街道", "SGZ"),
    domain.Street("shuanghuancun", "双环邨街道", "SHC"),
]


class FakeCases(InMemoryCases):
    """``uow.cases`` with intake's two questions across cases."""

    def claim_household(
        self, case_id: str, program: str, id_numbers: list[str]
    ) -> domain.OpenCase | None:
        """The open case of ``program`` covering one of these people; the claim itself is
        the case the step then adds (one writer: no race to guard)."""
        return next(
            (
                domain.OpenCase(c.case_id, c.case_no, c.street_code)
                for c in self.rows.values()
                if c.program == program
                and c.status in domain.OPEN_STATUSES
                and {m.id_number for m in c.members} & set(id_numbers)
            ),
            None,
        )

    def awaiting_materials(self, street_code: str | None, limit: int) -> list[dict[str, Any]]:
        waiting = sorted(
            (
                c
                for c in self.rows.values()
                if c.status == domain.AWAITING_MATERIALS and street_code in (None, c.street_code)
            ),
            key=lambda c: c.submitted_at,
        )
        return [
            {
                "case_id": c.case_id,
                "case_no": c.case_no,
                "program": c.program,
                "street_code": c.street_code,
                "community": c.community,
                "submitted_at": c.submitted_at,
            }
            for c in waiting[:limit]
        ]


class FakeStreets:
    """``uow.streets``: the streets and their counters (restored with the store on error)."""

    def __init__(self) -> None:
        self.streets = {s.code: s for s in STREETS}
        self.counters: dict[tuple[str, int], int] = {}

    def get(self, code: str) -> domain.Street | None:
        return self.streets.get(code)

    def next_sequence(self, street_code: str, year: int) -> int:
        self.counters[street_code, year] = self.counters.get((street_code, year), 0) + 1
        return self.counters[street_code, year]


@pytest.fixture
def runtime():
    runtime = fake_runtime(
        "intake",
        now=FILED_AT,
        view=handlers.view,
        templates=notices.TEMPLATES,
        streets=FakeStreets(),
    )
    runtime.store.cases = FakeCases()
    return runtime


def submit(runtime, body: dict[str, Any] | None = None, actor=CLERK) -> dict[str, Any]:
    return run_step(
        runtime,
        handlers.submit_application,
        actor,
        body if body is not None else sample_application(),
    )


def supply(runtime, case_id: str, actor=CLERK, **fields: Any) -> dict[str, Any]:
    return run_step(runtime, handlers.supply_materials, actor, {"case_id": case_id, **fields})


def incomplete_family() -> dict[str, Any]:
    body = sample_application()
    body["members"].append(
        {
            "name": "李强",
            "id_number": SPOUSE,
            "relationship": "spouse",
            "authorisation_signed": False,
        }
    )
    body["materials_provided"] = ["household_register"]
    return body


def timeline(runtime, case_id: str) -> list[tuple[Any, ...]]:
    return [(e["action"], e["rule_id"], e["step"]) for e in runtime.store.timeline(case_id)]


def refusal(exc: pytest.ExceptionInfo) -> tuple[int, str, str | None]:
    return exc.value.http_status, exc.value.code, exc.value.field


# -- submit_application -------------------------------------------------------------------------


def test_IN1_IN6_complete_application_is_accepted_at_once_and_announced(runtime):
    case = submit(runtime)
    assert (case["status"], case["case_no"]) == ("accepted", "SGZ-2026-00001")
    assert case["accepted_at"] == FILED_AT.isoformat() and case["materials_missing"] == []
    assert case["documents"] == [] and "timeline" not in case
    [accepted] = runtime.store.events("application.accepted")
    assert accepted.payload["case_id"] == case["case_id"]
    assert accepted.payload["accepted_at"] == FILED_AT
    assert accepted.payload["members"][0]["id_number"] == "11010519491231002X"
    assert (accepted.case_id, accepted.street_code) == (case["case_id"], SGZ)
    assert timeline(runtime, case["case_id"]) == [
        ("application_submitted", "IN-1", "accepted"),
        ("application_accepted", "IN-6", "accepted"),
    ]
    entries = runtime.store.timeline(case["case_id"])
    assert {(e["actor_user"], e["service"], e["closed"]) for e in entries} == {
        ("sgz-clerk", "intake", False)
    }


def test_IN3_IN6_IN7_incomplete_application_gets_one_notice_listing_everything(runtime):
    case = submit(runtime, incomplete_family())
    assert (case["status"], case["accepted_at"]) == ("awaiting_materials", None)
    assert [m["item"] for m in case["materials_missing"]] == [
        "household_id_cards",
        "economic_declaration",
        "authorisation",
    ]
    assert case["materials_missing"][-1]["id_number"] == SPOUSE
    [notice] = case["documents"]
    assert notice["kind"] == "materials_notice" and notice["title"] == "补正申请材料一次性告知书"
    assert notice["served_at"] == FILED_AT.isoformat()
    html = runtime.store.documents[notice["document_id"]].html
    assert "一次性告知书" in html and case["case_no"] in html and "2026年3月2日" in html
    for label in (
        MATERIALS["household_id_cards"],
        MATERIALS["economic_declaration"],
        "李强签署的家庭经济状况核对授权书",
    ):
        assert label in html
    assert MATERIALS["household_register"] not in html
    assert runtime.store.events("application.accepted") == []
    [entry] = runtime.store.timeline(case["case_id"])
    assert (entry["action"], entry["rule_id"], entry["step"], entry["note"]) == (
        "application_submitted",
        "IN-6",
        "awaiting_materials",
        "missing 3 item(s)",
    )
    assert entry["document_ids"] == [notice["document_id"]]


def test_IN2_tekun_filed_by_another_person_for_the_applicant_alone(runtime):
    body = sample_application(program="tekun")
    body["proxy"] = {"kind": "person", "name": "张桂芳"}
    body["materials_provided"].append("entrustment")
    body["payment_account"] = {
        "bank": "天津银行",
        "account_number": "6221000012345678",
        "holder": "王秀英",
    }
    case = submit(runtime, body)
    assert case["status"] == "accepted" and case["program"] == "tekun"
    assert case["proxy"] == {"kind": "person", "name": "张桂芳"}
    assert case["payment_account"]["holder"] == "王秀英"
    assert timeline(runtime, case["case_id"])[0] == ("application_submitted", "IN-2", "accepted")
    [accepted] = runtime.store.events("application.accepted")
    assert accepted.payload["proxy"] == {"kind": "person", "name": "张桂芳"}


def test_IN2_tekun_listing_other_members_is_refused_naming_the_field(runtime):
    body = sample_application(program="tekun")
    body["members"].append({"name": "李强", "id_number": SPOUSE, "relationship": "spouse"})
    with pytest.raises(ValidationFailed) as raised:
        submit(runtime, body)
    assert refusal(raised) == (400, "validation_failed", "members")
    assert runtime.store.published == []


def test_IN1_family_application_is_not_filed_by_another_person(runtime):
    with pytest.raises(ValidationFailed) as raised:
        submit(runtime, {**sample_application(), "proxy": {"kind": "person", "name": "张三"}})
    assert raised.value.field == "proxy.kind"


def test_IN1_IN2_a_proxy_hands_in_the_entrustment_and_the_notice_is_addressed_to_it(runtime):
    body = {
        **sample_application(),
        "proxy": {"kind": "residents_committee", "name": "前园社区居委会"},
    }
    case = submit(runtime, body)
    assert [m["item"] for m in case["materials_missing"]] == ["entrustment"]
    html = runtime.store.documents[case["documents"][0]["document_id"]].html
    assert "前园社区居委会：" in html


def test_IN3_invalid_id_number_is_400_naming_the_member(runtime):
    body = sample_application()
    body["members"].append(
        {"name": "李强", "id_number": "110105194912310021", "relationship": "spouse"}
    )
    with pytest.raises(ValidationFailed) as raised:
        submit(runtime, body)
    assert refusal(raised) == (400, "validation_failed", "members.1.id_number")


def test_ORG6_community_worker_files_for_the_family_as_the_residents_committee(runtime):
    case = submit(runtime, incomplete_family(), COMMUNITY)
    assert case["proxy"] == {"kind": "residents_committee", "name": "前园社区居民委员会"}
    assert case["submitted_by"] == "sgz-community"
    assert "entrustment" in [m["item"] for m in case["materials_missing"]]
    html = runtime.store.documents[case["documents"][0]["document_id"]].html
    assert "前园社区居民委员会：" in html


def test_ORG6_community_worker_cannot_file_as_another_person(runtime):
    body = {**sample_application(program="tekun"), "proxy": {"kind": "person", "name": "张三"}}
    with pytest.raises(ValidationFailed) as raised:
        submit(runtime, body, COMMUNITY)
    assert refusal(raised) == (400, "invalid_proxy", "proxy.kind")
    assert runtime.store.cases.all() == []


@pytest.mark.parametrize(
    "actor, code",
    [
        (INVESTIGATOR, "wrong_role"),
        (DISTRICT, "wrong_role"),
        (SHC_CLERK, "wrong_street"),
        (SHC_COMMUNITY, "wrong_street"),
    ],
)
def test_ORG6_only_the_streets_community_worker_or_clerk_files_or_supplies(runtime, actor, code):
    with pytest.raises(Forbidden) as raised:
        submit(runtime, actor=actor)
    assert refusal(raised)[:2] == (403, code)
    case = submit(runtime, incomplete_family())
    assert case["case_no"] == "SGZ-2026-00001"  # the refused filing used no number
    with pytest.raises(Forbidden) as raised:
        supply(runtime, case["case_id"], actor, materials=["economic_declaration"])
    assert refusal(raised)[:2] == (403, code)
    [held] = runtime.store.cases.all()
    assert held.materials_provided == ["household_register"] and held.version == 0
    assert len(runtime.store.timeline()) == 1


def test_unknown_street_is_404_unknown_street(runtime):
    with pytest.raises(NotFound) as raised:
        submit(runtime, sample_application(street_code="nowhere"))
    assert refusal(raised) == (404, "unknown_street", "street_code")


def test_missing_actor_is_refused_naming_the_field(runtime):
    with pytest.raises(ValidationFailed) as raised:
        run_step(runtime, handlers.submit_application, None, sample_application())
    assert raised.value.field == "actor.role"


def test_case_numbers_count_per_street(runtime):
    first = submit(runtime)
    second = submit(runtime, sample_application(id_number=make_id_number(31)))
    other = submit(
        runtime,
        sample_application(id_number=make_id_number(32), street_code="shuanghuancun"),
        SHC_CLERK,
    )
    assert [first["case_no"], second["case_no"], other["case_no"]] == [
        "SGZ-2026-00001",
        "SGZ-2026-00002",
        "SHC-2026-00001",
    ]


def test_duplicate_open_case_is_409_naming_it_while_waiting_or_accepted(runtime):
    waiting = submit(runtime, incomplete_family())
    with pytest.raises(Conflict) as raised:
        submit(runtime, sample_application(id_number=SPOUSE))  # a member of the open case
    assert refusal(raised) == (409, "duplicate_open_case", "members")
    assert raised.value.details == {
        "program": "dibao",
        "case_no": waiting["case_no"],
        "case_id": waiting["case_id"],
    }
    assert waiting["case_no"] in raised.value.message
    low_income = sample_application(id_number=SPOUSE, program="low_income")
    assert submit(runtime, low_income)["case_no"] == "SGZ-2026-00002"  # the refusal used none


def test_SEC7_duplicate_filed_in_another_street_is_told_the_program_not_the_case(runtime):
    held = submit(runtime, incomplete_family())
    elsewhere = sample_application(id_number=SPOUSE, street_code="shuanghuancun")
    for actor in (SHC_CLERK, SHC_COMMUNITY):
        with pytest.raises(Conflict) as raised:
            submit(runtime, elsewhere, actor)
        assert refusal(raised) == (409, "duplicate_open_case", "members")
        assert raised.value.details == {"program": "dibao"}
        for secret in (held["case_no"], held["case_id"], SGZ):
            assert secret not in raised.value.message
    # The case's own street is told which case it is.
    with pytest.raises(Conflict) as raised:
        submit(runtime, sample_application(id_number=SPOUSE), COMMUNITY)
    assert raised.value.details["case_no"] == held["case_no"]
    # Neither refusal used a number of either street.
    assert submit(runtime, sample_application(id_number=make_id_number(51)))["case_no"] == (
        "SGZ-2026-00002"
    )
    other = sample_application(id_number=make_id_number(52), street_code="shuanghuancun")
    assert submit(runtime, other, SHC_CLERK)["case_no"] == "SHC-2026-00001"


# -- supply_materials ---------------------------------------------------------------------------


def test_IN6_IN7_supplied_materials_complete_the_case_and_accept_it_at_that_instant(runtime):
    case = submit(runtime, incomplete_family())
    runtime.fake_clock.current = FILED_AT + timedelta(days=1)
    case = supply(
        runtime,
        case["case_id"],
        COMMUNITY,
        materials=["household_id_cards"],
        authorisations=[SPOUSE],
    )
    assert case["status"] == "awaiting_materials" and len(case["documents"]) == 1  # IN-6: once
    assert [m["item"] for m in case["materials_missing"]] == ["economic_declaration"]
    assert case["members"][1]["authorisation_signed"] is True  # IN-7
    assert runtime.store.events("application.accepted") == []

    supplied_at = FILED_AT + timedelta(days=3)
    runtime.fake_clock.current = supplied_at
    case = supply(runtime, case["case_id"], materials=["economic_declaration"])
    assert case["status"] == "accepted" and case["materials_missing"] == []
    assert case["accepted_at"] == supplied_at.isoformat()
    [accepted] = runtime.store.events("application.accepted")
    assert accepted.payload["accepted_at"] == supplied_at
    assert [m["id_number"] for m in accepted.payload["members"]] == ["11010519491231002X", SPOUSE]
    assert timeline(runtime, case["case_id"]) == [
        ("application_submitted", "IN-6", "awaiting_materials"),
        ("materials_supplied", "IN-6", "awaiting_materials"),
        ("materials_supplied", "IN-6", "accepted"),
        ("application_accepted", "IN-6", "accepted"),
    ]
    notes = [e["note"] for e in runtime.store.timeline(case["case_id"])]
    assert notes[1:3] == ["still missing 1 item(s)", "still missing 0 item(s)"]
    assert [e["actor_user"] for e in runtime.store.timeline(case["case_id"])] == [
        "sgz-clerk",
        "sgz-community",
        "sgz-clerk",
        "sgz-clerk",
    ]
    assert runtime.store.cases.all()[0].version == 2


def test_IN6_supply_on_an_accepted_case_is_409_invalid_state_and_changes_nothing(runtime):
    case = submit(runtime)
    with pytest.raises(InvalidState) as raised:
        supply(runtime, case["case_id"], materials=["economic_declaration"])
    assert refusal(raised) == (409, "invalid_state", "case_id")
    assert raised.value.details == {"status": "accepted", "allowed": ["awaiting_materials"]}
    assert len(runtime.store.timeline()) == 2


def test_IN7_an_authorisation_of_a_stranger_is_400_naming_it(runtime):
    case = submit(runtime, incomplete_family())
    with pytest.raises(ValidationFailed) as raised:
        supply(runtime, case["case_id"], authorisations=[SPOUSE, make_id_number(99)])
    assert refusal(raised) == (400, "unknown_person", "authorisations.1")
    [held] = runtime.store.cases.all()
    assert held.members[1].authorisation_signed is False  # nothing of the refused step kept


def test_IN6_supply_needs_something_and_a_known_case(runtime):
    with pytest.raises(ValidationFailed) as raised:
        supply(runtime, "nope")
    assert raised.value.field == "materials"
    with pytest.raises(CaseNotFound) as raised:
        supply(runtime, "nope", materials=["economic_declaration"])
    assert refusal(raised) == (404, "case_not_found", "case_id")


# -- list_awaiting_materials --------------------------------------------------------------------


def test_IN6_worklist_of_a_street_is_its_own(runtime):
    waiting = submit(runtime, incomplete_family())
    submit(runtime, sample_application(id_number=make_id_number(41)))  # accepted: not listed
    runtime.fake_clock.current = FILED_AT + timedelta(hours=1)
    other = submit(
        runtime,
        {
            **sample_application(id_number=make_id_number(42), street_code="shuanghuancun"),
            "materials_provided": [],
        },
        SHC_CLERK,
    )
    mine = run_step(runtime, handlers.list_awaiting_materials, CLERK, {"street_code": SGZ})
    assert [c["case_no"] for c in mine["cases"]] == [waiting["case_no"]]
    assert mine["cases"][0]["submitted_at"] == FILED_AT.isoformat()
    # No street asked for: the actor's own street (the gateway asks that way).
    scoped = run_step(runtime, handlers.list_awaiting_materials, COMMUNITY, {})
    assert scoped == mine
    every = run_step(runtime, handlers.list_awaiting_materials, DISTRICT, {"limit": 10})
    assert [c["case_no"] for c in every["cases"]] == [waiting["case_no"], other["case_no"]]
    one = run_step(
        runtime, handlers.list_awaiting_materials, DISTRICT, {"street_code": "shuanghuancun"}
    )
    assert [c["case_no"] for c in one["cases"]] == [other["case_no"]]


def test_IN6_worklist_of_another_street_is_403_wrong_street(runtime):
    with pytest.raises(Forbidden) as raised:
        run_step(runtime, handlers.list_awaiting_materials, SHC_CLERK, {"street_code": SGZ})
    assert refusal(raised) == (403, "wrong_street", "street_code")
    with pytest.raises(ValidationFailed) as raised:
        run_step(runtime, handlers.list_awaiting_materials, None, {})
    assert raised.value.field == "actor.role"


# -- get_case -----------------------------------------------------------------------------------


def test_get_case_is_for_the_cases_street_and_the_district(runtime):
    case = submit(runtime, incomplete_family())
    assert read_case(runtime, COMMUNITY, case["case_id"]) == case
    assert read_case(runtime, DISTRICT, case["case_id"])["case_no"] == case["case_no"]
    with pytest.raises(Forbidden) as raised:
        read_case(runtime, SHC_CLERK, case["case_id"])
    assert refusal(raised)[:2] == (403, "wrong_street")
    with pytest.raises(CaseNotFound):
        read_case(runtime, CLERK, "nope")


# -- on_case_ended ------------------------------------------------------------------------------


def test_DE1_decision_made_closes_the_case_once_and_a_new_application_is_possible(runtime):
    case = submit(runtime)
    event = events.decision_made(
        case_id=case["case_id"],
        case_no=case["case_no"],
        outcome="refused",
        decided_at=FILED_AT + timedelta(days=20),
    )
    run_event(runtime, handlers.on_case_ended, event)
    closed = read_case(runtime, CLERK, case["case_id"])
    assert (closed["status"], closed["closed_reason"]) == ("closed", "decision_refused")
    assert closed["closed_at"] == (FILED_AT + timedelta(days=20)).isoformat()
    last = runtime.store.timeline(case["case_id"])[-1]
    assert (last["action"], last["rule_id"], last["note"], last["step"], last["closed"]) == (
        "case_closed",
        "DE-1",
        "decision_refused",
        "closed",
        True,
    )
    assert last["actor_user"] is None

    run_event(runtime, handlers.on_case_ended, event)  # redelivered: nothing changes
    run_event(
        runtime, handlers.on_case_ended, events.verification_withdrawn(case_id=case["case_id"])
    )  # already closed: nothing changes
    assert len(runtime.store.timeline(case["case_id"])) == 3
    assert runtime.store.cases.all()[0].version == 1

    second = submit(runtime)
    assert (second["case_no"], second["status"]) == ("SGZ-2026-00002", "accepted")


@pytest.mark.parametrize("outcome, rule_id", [("approved", "DE-1"), ("non_confirmed", "VE-3")])
def test_decision_made_closes_under_its_rule(runtime, outcome, rule_id):
    case = submit(runtime)
    run_event(
        runtime,
        handlers.on_case_ended,
        events.decision_made(case_id=case["case_id"], outcome=outcome),
    )
    last = runtime.store.timeline(case["case_id"])[-1]
    assert (last["action"], last["rule_id"], last["note"]) == (
        "case_closed",
        rule_id,
        f"decision_{outcome}",
    )


def test_VE5_withdrawal_closes_the_case_even_while_waiting_for_materials(runtime):
    case = submit(runtime, incomplete_family())
    run_event(
        runtime, handlers.on_case_ended, events.verification_withdrawn(case_id=case["case_id"])
    )
    view = read_case(runtime, CLERK, case["case_id"])
    assert (view["status"], view["closed_reason"]) == ("closed", "withdrawn")
    assert runtime.store.timeline(case["case_id"])[-1]["rule_id"] == "VE-5"


def test_an_event_for_a_case_intake_does_not_hold_is_retried_not_dropped(runtime):
    event = events.decision_made(case_id="unknown")
    with pytest.raises(CaseNotYetKnown):
        run_event(runtime, handlers.on_case_ended, event)
    assert runtime.store.seen == set()  # not claimed: the retry applies it
    assert runtime.store.published == []
