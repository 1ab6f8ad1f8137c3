"""Intake's steps against the real broker: filing, the one notice, supply, acceptance,
duplicates, authorisation, the worklist and closing (IN-1, IN-2, IN-3, IN-6, IN-7, ORG-6).

The timeline is the ``case.progressed`` events in intake's outbox (supervision keeps the
suite's one timeline)."""

import json
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone

import pytest
from nameko.exceptions import RemoteError
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import select

from gateway import create_app
from hqcore import errors, idnumber
from hqcore.clock import get_clock
from hqcore.contracts.intake import MATERIALS
from hqcore.db import Database
from hqcore.messaging.envelope import build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqops import deadletters
from hqops.samples import actor_for, make_id_number, sample_application
from services.intake import adapters as intake_tables
from services.intake.service import IntakeService
from tests.support.plugin import wait_until

CLERK = actor_for("sgz-clerk")
COMMUNITY = actor_for("sgz-community")
SPOUSE = make_id_number(21)
FILED_AT = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin


@pytest.fixture
def intake(start_service, settings):
    get_clock(settings).set(FILED_AT)
    return start_service(IntakeService)


def refused(call, **kwargs) -> dict:
    """The error a step answered with: code, field, message, and the HTTP status's class."""
    with pytest.raises(RemoteError) as raised:
        call(**kwargs)
    return {**json.loads(raised.value.value), "type": raised.value.exc_type}


def near(iso: str, at: datetime) -> bool:
    """The suite's controlled clock keeps running from the instant it was set to."""
    return timedelta(0) <= datetime.fromisoformat(iso) - at < timedelta(seconds=10)


def outbox(settings, event_type: str) -> list[dict]:
    table = intake_tables.TABLES["outbox"]
    database = Database(settings.database_url("intake"))
    with database.transaction() as conn:
        rows = conn.execute(
            select(table.c.envelope).where(table.c.event_type == event_type).order_by(table.c.id)
        ).all()
    database.dispose()
    return [json.loads(r.envelope) for r in rows]


def timeline(settings, case_id: str) -> list[dict]:
    """The case's timeline entries intake wrote: its ``case.progressed`` payloads, in order."""
    return [
        e["payload"]
        for e in outbox(settings, "case.progressed")
        if e["payload"]["case_id"] == case_id
    ]


def inbox_claims(settings, handler: str) -> int:
    table = intake_tables.TABLES["inbox"]
    database = Database(settings.database_url("intake"))
    with database.transaction() as conn:
        rows = conn.execute(select(table.c.event_id).where(table.c.handler == handler)).all()
    database.dispose()
    return len(rows)


def incomplete_family() -> dict:
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


def publish(settings, event_type: str, case: dict, **payload) -> dict:
    envelope = build_envelope(
        event_type=event_type,
        version=1,
        occurred_at=get_clock(settings).now(),
        case_id=case["case_id"],
        street_code=case["street_code"],
        correlation_id="test",
        acting_user="sgz-leader",
        source=event_type.split(".")[0],
        payload={k: case[k] for k in ("case_id", "case_no", "program", "street_code")} | payload,
    )
    publisher = EventPublisher(settings.amqp_uri)
    publisher.publish(envelope)
    publisher.close()
    return envelope


def decision_made(settings, case: dict) -> dict:
    return publish(
        settings,
        "decision.made",
        case,
        community=case["community"],
        outcome="refused",
        authority="street",
        decided_at=get_clock(settings).now(),
        reasons=["收入超过标准"],
        document_id="decision:1",
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_IN6_incomplete_application_gets_one_notice_listing_everything_then_is_accepted(
    intake, rpc, settings, backend
):
    case = rpc.intake.submit_application(application=incomplete_family(), actor=CLERK)
    assert case["status"] == "awaiting_materials" and case["accepted_at"] is None
    assert case["case_no"] == "SGZ-2026-00001"
    missing = [m["item"] for m in case["materials_missing"]]
    assert missing == ["household_id_cards", "economic_declaration", "authorisation"]
    [notice] = case["documents"]
    assert notice["kind"] == "materials_notice" and notice["served_at"] is not None
    html = rpc.intake.get_document(document_id=notice["document_id"], actor=CLERK)["html"]
    assert "一次性告知书" in html and case["case_no"] in html
    for label in (
        MATERIALS["household_id_cards"],
        MATERIALS["economic_declaration"],
        "李强签署的家庭经济状况核对授权书",
    ):
        assert label in html
    assert outbox(settings, "application.accepted") == []

    # Part of it on Tuesday: still waiting, and no second notice (IN-6: once).
    get_clock(settings).set(FILED_AT + timedelta(days=1))
    case = rpc.intake.supply_materials(
        case_id=case["case_id"],
        materials=["household_id_cards"],
        authorisations=[SPOUSE],
        actor=COMMUNITY,
    )
    assert case["status"] == "awaiting_materials"
    assert [m["item"] for m in case["materials_missing"]] == ["economic_declaration"]
    assert len(case["documents"]) == 1

    # The rest on Thursday: accepted at that instant, and every later deadline runs from it.
    supplied_at = FILED_AT + timedelta(days=3)
    get_clock(settings).set(supplied_at)
    case = rpc.intake.supply_materials(
        case_id=case["case_id"], materials=["economic_declaration"], actor=CLERK
    )
    assert case["status"] == "accepted" and case["materials_missing"] == []
    assert near(case["accepted_at"], supplied_at)
    [accepted] = outbox(settings, "application.accepted")
    assert accepted["payload"]["accepted_at"] == case["accepted_at"]
    assert [m["id_number"] for m in accepted["payload"]["members"]] == [
        sample_application()["applicant"]["id_number"],
        SPOUSE,
    ]
    assert "timeline" not in case
    entries = timeline(settings, case["case_id"])
    assert [(e["action"], e["step"]) for e in entries] == [
        ("application_submitted", "awaiting_materials"),
        ("materials_supplied", "awaiting_materials"),
        ("materials_supplied", "accepted"),
        ("application_accepted", "accepted"),
    ]
    assert entries[0]["document_ids"] == [notice["document_id"]]
    assert [e["actor_user"] for e in entries] == [
        "sgz-clerk",
        "sgz-community",
        "sgz-clerk",
        "sgz-clerk",
    ]


def test_IN6_supply_on_an_accepted_case_is_409_and_changes_nothing(intake, rpc, settings):
    case = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    assert case["status"] == "accepted"
    assert near(case["accepted_at"], FILED_AT)
    error = refused(
        rpc.intake.supply_materials,
        case_id=case["case_id"],
        materials=["economic_declaration"],
        actor=CLERK,
    )
    assert (error["type"], error["code"]) == ("InvalidState", "invalid_state")
    assert error["details"] == {"status": "accepted", "allowed": ["awaiting_materials"]}
    assert rpc.intake.get_case(case_id=case["case_id"], actor=CLERK) == case
    assert len(timeline(settings, case["case_id"])) == 2


def test_IN2_tekun_filed_by_another_person_for_the_applicant_alone(intake, rpc, settings):
    body = sample_application(program="tekun")
    body["proxy"] = {"kind": "person", "name": "张桂芳"}
    body["materials_provided"].append("entrustment")
    body["payment_account"] = {
        "bank": "天津银行",
        "account_number": "6221000012345678",
        "holder": "王秀英",
    }
    case = rpc.intake.submit_application(application=body, actor=CLERK)
    assert case["status"] == "accepted" and case["program"] == "tekun"
    assert case["proxy"] == {"kind": "person", "name": "张桂芳"}
    assert len(case["members"]) == 1 and case["payment_account"]["holder"] == "王秀英"
    assert [(e["action"], e["rule_id"]) for e in timeline(settings, case["case_id"])] == [
        ("application_submitted", "IN-2"),
        ("application_accepted", "IN-6"),
    ]
    assert rpc.intake.get_case(case_id=case["case_id"], actor=CLERK)["proxy"]["name"] == "张桂芳"


def test_IN2_tekun_listing_other_members_is_refused_naming_the_field(intake, rpc):
    body = sample_application(program="tekun")
    body["members"].append({"name": "李强", "id_number": SPOUSE, "relationship": "spouse"})
    error = refused(rpc.intake.submit_application, application=body, actor=CLERK)
    assert (error["type"], error["field"]) == ("ValidationFailed", "members")


def test_IN3_invalid_id_number_is_400_naming_the_member(intake, rpc):
    body = sample_application()
    body["members"].append(
        {"name": "李强", "id_number": "110105194912310021", "relationship": "spouse"}
    )
    error = refused(rpc.intake.submit_application, application=body, actor=CLERK)
    assert (error["type"], error["field"]) == ("ValidationFailed", "members.1.id_number")
    assert "check digit" in error["message"]


def test_ORG6_community_worker_files_for_the_family_as_the_residents_committee(intake, rpc):
    body = incomplete_family()
    case = rpc.intake.submit_application(application=body, actor=COMMUNITY)
    assert case["proxy"] == {"kind": "residents_committee", "name": "前园社区居民委员会"}
    assert case["submitted_by"] == "sgz-community"
    assert "entrustment" in [m["item"] for m in case["materials_missing"]]


@pytest.mark.parametrize(
    "username, code",
    [
        ("sgz-investigator-1", "wrong_role"),
        ("district-officer", "wrong_role"),
        ("shc-clerk", "wrong_street"),
        ("shc-community", "wrong_street"),
    ],
)
def test_ORG6_only_the_streets_community_worker_or_clerk_files_or_supplies(
    intake, rpc, settings, username, code
):
    error = refused(
        rpc.intake.submit_application, application=sample_application(), actor=actor_for(username)
    )
    assert (error["type"], error["code"]) == ("Forbidden", code)
    case = rpc.intake.submit_application(application=incomplete_family(), actor=CLERK)
    assert case["case_no"] == "SGZ-2026-00001"  # the refused filing used no number
    error = refused(
        rpc.intake.supply_materials,
        case_id=case["case_id"],
        materials=["economic_declaration"],
        actor=actor_for(username),
    )
    assert (error["type"], error["code"]) == ("Forbidden", code)
    after = rpc.intake.get_case(case_id=case["case_id"], actor=CLERK)
    assert after["materials_provided"] == ["household_register"]
    assert len(outbox(settings, "case.progressed")) == 1


def test_missing_actor_and_unknown_case_are_refused(intake, rpc):
    error = refused(rpc.intake.submit_application, application=sample_application())
    assert (error["type"], error["field"]) == ("ValidationFailed", "actor.role")
    error = refused(
        rpc.intake.supply_materials, case_id="nope", materials=["economic_declaration"], actor=CLERK
    )
    assert (error["type"], error["code"], error["field"]) == (
        "CaseNotFound",
        "case_not_found",
        "case_id",
    )
    error = refused(rpc.intake.get_case, case_id="nope", actor=CLERK)
    assert (error["type"], error["code"]) == ("CaseNotFound", "case_not_found")
    error = refused(rpc.intake.get_case, case_id="nope")
    assert (error["type"], error["field"]) == ("ValidationFailed", "actor.role")


def test_unknown_street_is_404_unknown_street(intake, rpc):
    error = refused(
        rpc.intake.submit_application,
        application=sample_application(street_code="nowhere"),
        actor=CLERK,
    )
    assert (error["type"], error["code"], error["field"]) == (
        "NotFound",
        "unknown_street",
        "street_code",
    )


def test_IN6_worklist_is_the_streets_own_and_the_districts_whole(intake, rpc):
    waiting = rpc.intake.submit_application(application=incomplete_family(), actor=CLERK)
    rpc.intake.submit_application(
        application=sample_application(id_number=make_id_number(41)), actor=CLERK
    )  # accepted: not waiting
    other = rpc.intake.submit_application(
        application={
            **sample_application(id_number=make_id_number(42), street_code="shuanghuancun"),
            "materials_provided": [],
        },
        actor=actor_for("shc-clerk"),
    )
    mine = rpc.intake.list_awaiting_materials(street_code="shaogongzhuang", actor=COMMUNITY)
    assert [c["case_no"] for c in mine["cases"]] == [waiting["case_no"]]
    assert rpc.intake.list_awaiting_materials(actor=COMMUNITY) == mine  # scoped to its street
    every = rpc.intake.list_awaiting_materials(
        street_code=None, limit=100, actor=actor_for("district-officer")
    )
    assert {c["case_no"] for c in every["cases"]} == {waiting["case_no"], other["case_no"]}
    error = refused(rpc.intake.list_awaiting_materials, street_code="shuanghuancun", actor=CLERK)
    assert (error["type"], error["code"]) == ("Forbidden", "wrong_street")


def test_case_numbers_count_per_street(intake, rpc):
    first = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    second = rpc.intake.submit_application(
        application=sample_application(id_number=make_id_number(31)), actor=CLERK
    )
    other = rpc.intake.submit_application(
        application=sample_application(id_number=make_id_number(32), street_code="shuanghuancun"),
        actor=actor_for("shc-clerk"),
    )
    assert [first["case_no"], second["case_no"], other["case_no"]] == [
        "SGZ-2026-00001",
        "SGZ-2026-00002",
        "SHC-2026-00001",
    ]


def test_duplicate_open_case_is_409_naming_it_while_waiting_or_accepted(intake, rpc):
    waiting = rpc.intake.submit_application(application=incomplete_family(), actor=CLERK)
    spouse_alone = sample_application(id_number=SPOUSE)  # a member of the open case
    error = refused(rpc.intake.submit_application, application=spouse_alone, actor=CLERK)
    assert (error["type"], error["code"]) == ("Conflict", "duplicate_open_case")
    assert waiting["case_no"] in error["message"]
    assert error["details"] == {
        "program": "dibao",
        "case_no": waiting["case_no"],
        "case_id": waiting["case_id"],
    }
    # Another program is another matter.
    low_income = sample_application(id_number=SPOUSE, program="low_income")
    assert (
        rpc.intake.submit_application(application=low_income, actor=CLERK)["status"] == "accepted"
    )


def test_new_case_allowed_after_decision_made_closes_the_first_once(intake, rpc, settings):
    first = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    envelope = decision_made(settings, first)
    closed = wait_until(
        lambda: _closed(rpc, first["case_id"]), message="intake to close the case on decision.made"
    )
    assert closed["closed_reason"] == "decision_refused"
    [*_, last] = timeline(settings, first["case_id"])
    assert (last["action"], last["rule_id"], last["closed"]) == ("case_closed", "DE-1", True)
    assert inbox_claims(settings, "on_case_ended") == 1

    # The broker delivers the same decision again: nothing changes.
    publisher = EventPublisher(settings.amqp_uri)
    with entrypoint_waiter(intake, "on_case_ended", timeout=10):
        publisher.publish(envelope)
    publisher.close()
    assert rpc.intake.get_case(case_id=first["case_id"], actor=CLERK) == closed
    assert len(timeline(settings, first["case_id"])) == 3

    second = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    assert second["case_no"] == "SGZ-2026-00002" and second["status"] == "accepted"


def test_VE5_withdrawal_closes_the_case(intake, rpc, settings):
    case = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    publish(
        settings,
        "verification.withdrawn",
        case,
        reason="未如实申报",
        withdrawn_at=get_clock(settings).now(),
    )
    closed = wait_until(
        lambda: _closed(rpc, case["case_id"]),
        message="intake to close the case on verification.withdrawn",
    )
    last = timeline(settings, case["case_id"])[-1]
    assert (closed["closed_reason"], last["rule_id"]) == ("withdrawn", "VE-5")


def test_decision_for_a_case_intake_does_not_hold_is_retried_then_dead_lettered(
    intake, rpc, settings, broker
):
    """Never logged and dropped: retried with backoff, then visible in the dead letters."""
    unknown = {
        "case_id": "unknown-case",
        "case_no": "SGZ-2026-09999",
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
    }
    envelope = decision_made(settings, unknown)
    dead_queue = "hq.intake.on_case_ended.dead"
    wait_until(
        lambda: deadletters.depth(broker, dead_queue) == 1,
        timeout=15,
        message="the event to reach the dead-letter queue",
    )
    [letter] = deadletters.peek(broker, dead_queue)
    assert letter.event_id == envelope["event_id"] and "unknown-case" in letter.error
    assert inbox_claims(settings, "on_case_ended") == 0  # not applied: a replay still can be


def _closed(rpc, case_id):
    view = rpc.intake.get_case(case_id=case_id, actor=CLERK)
    return view if view["status"] == "closed" else None


class ProxyRpc:
    """The gateway's RPC seam answered through the test's nameko proxy by the real services."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.calls: list[str] = []

    def call_async(
        self, service, method, timeout=None, correlation_id=None, acting_user=None, **kwargs
    ) -> Future:
        self.calls.append(f"{service}.{method}")
        future: Future = Future()
        try:
            future.set_result(getattr(getattr(self.proxy, service), method)(**kwargs))
        except RemoteError as exc:
            future.set_exception(errors.from_remote(exc.exc_type, exc.value))
        return future


def test_IN6_gateway_route_supplies_materials(intake, rpc, settings):
    gateway_rpc = ProxyRpc(rpc)
    app = create_app(settings, rpc=gateway_rpc)
    auth = app.extensions["hq_gateway"].auth

    def as_user(username):
        client = app.test_client()
        token = auth.issue(auth.accounts[username])
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return client

    case = rpc.intake.submit_application(application=incomplete_family(), actor=CLERK)
    path = f"/api/v1/cases/{case['case_id']}/materials"
    body = {"materials": ["household_id_cards", "economic_declaration"], "authorisations": [SPOUSE]}

    assert app.test_client().post(path, json=body).status_code == 401
    answer = as_user("sgz-clerk").post(path, json={"materials": ["visa"]})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "materials.0"
    assert gateway_rpc.calls == []  # refused before any RPC
    answer = as_user("shc-clerk").post(path, json=body)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (403, "wrong_street")

    answer = as_user("sgz-community").post(path, json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    view = answer.get_json()
    assert view["status"] == "accepted"
    assert view["members"][1]["id_number"] == idnumber.mask(SPOUSE)  # not for this role
    answer = as_user("sgz-clerk").post(path, json=body)
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (409, "invalid_state")
    assert (
        "/api/v1/cases/{case_id}/materials"
        in app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    )
