"""Intake's rules, pure: who files, the checklist, the one notice, acceptance, closing, and the
effects each returns (events, documents, timeline entries)."""

from datetime import datetime, timedelta, timezone

import pytest

from hqcore.authz import Actor
from hqcore.contracts import load_rpc_request
from hqcore.errors import Conflict, InvalidState, ValidationFailed
from hqops.samples import make_id_number, sample_application
from services.intake import domain

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin
STREET = domain.Street("shaogongzhuang", "邵公庄街道", "SGZ")
CLERK = Actor("sgz-clerk", "clerk", "shaogongzhuang")
COMMUNITY = Actor("sgz-community", "community_worker", "shaogongzhuang")
SPOUSE = make_id_number(11)
SON = make_id_number(12, birth="19850505")


def request(**changes) -> dict:
    return load_rpc_request("intake.submit_application", {**sample_application(), **changes})


def family(**changes) -> dict:
    body = sample_application()
    body["members"].append(
        {
            "name": "李强",
            "id_number": SPOUSE,
            "relationship": "spouse",
            "authorisation_signed": True,
        }
    )
    body["obligors"] = [
        {
            "name": "李明",
            "id_number": SON,
            "relationship": "child",
            "authorisation_signed": True,
            "family_members": [],
        }
    ]
    body["materials_provided"] += ["obligor_id_cards", "obligor_household_registers"]
    body.update(changes)
    return load_rpc_request("intake.submit_application", body)


def opened(req: dict, actor: Actor = CLERK):
    return domain.open_application(req, STREET, actor, case_id="c-1", sequence=7, now=NOW)


def open_case(req: dict, actor: Actor = CLERK) -> domain.Application:
    return opened(req, actor)[0]


def items(app: domain.Application) -> list[str]:
    return [m.item for m in domain.missing_items(app)]


def actions(effects) -> list[tuple[str, str | None]]:
    return [(p.action, p.rule_id) for p in effects.progress]


def test_case_number_is_per_street_and_year_in_local_time():
    new_year_local = datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc)  # 2027-01-01 00:30
    assert domain.case_number(STREET, new_year_local, 42) == "SGZ-2027-00042"


def test_IN6_complete_application_is_accepted_at_once_and_acceptance_is_now():
    app, effects = opened(family())
    assert app.status == domain.ACCEPTED and app.accepted_at == NOW and app.since == NOW
    assert domain.missing_items(app) == []
    assert app.case_no == "SGZ-2026-00007"
    assert actions(effects) == [("application_submitted", "IN-1"), ("application_accepted", "IN-6")]
    [accepted] = effects.events
    assert accepted.event_type == "application.accepted"
    assert accepted.payload["accepted_at"] == NOW and effects.documents == []


def test_IN6_incomplete_application_gets_the_one_notice_and_no_event():
    body = family(materials_provided=["household_register"])
    app, effects = opened(body)
    assert app.status == domain.AWAITING_MATERIALS and effects.events == []
    [entry] = effects.progress
    assert (entry.action, entry.rule_id, entry.note) == (
        "application_submitted",
        "IN-6",
        "missing 4 item(s)",
    )
    [notice] = effects.documents
    assert (notice.kind, notice.template, notice.served_at) == (
        "materials_notice",
        "materials_notice.html",
        NOW,
    )
    assert notice.context["missing"] == [m.label for m in domain.missing_items(app)]
    assert notice.context["addressee"] == "王秀英"


def test_IN3_IN6_IN7_every_missing_item_is_listed_at_once():
    body = family(materials_provided=["household_register"])
    body["members"][1]["authorisation_signed"] = False
    body["obligors"][0]["authorisation_signed"] = False
    app = open_case(body)
    assert app.status == domain.AWAITING_MATERIALS and app.accepted_at is None
    missing = domain.missing_items(app)
    assert [m.item for m in missing] == [
        "household_id_cards",
        "economic_declaration",
        "obligor_id_cards",
        "obligor_household_registers",
        "authorisation",
        "authorisation",
    ]
    assert [m.id_number for m in missing[-2:]] == [SPOUSE, SON]
    assert "李强" in missing[-2].label


def test_IN2_tekun_needs_the_written_application_too():
    tekun = sample_application(program="tekun")
    tekun["materials_provided"].remove("written_application")
    app, effects = opened(load_rpc_request("intake.submit_application", tekun))
    assert items(app) == ["written_application"]
    complete, effects = opened(
        request(
            program="tekun",
            members=tekun["members"],
            materials_provided=[*tekun["materials_provided"], "written_application"],
        )
    )
    assert actions(effects)[0] == ("application_submitted", "IN-2")


def test_IN1_IN2_a_proxy_must_hand_in_the_entrustment():
    app, effects = opened(request(proxy={"kind": "residents_committee", "name": "前园社区居委会"}))
    assert items(app) == ["entrustment"]
    assert effects.documents[0].context["addressee"] == "前园社区居委会"


def test_ORG6_community_worker_files_as_the_residents_committee():
    app = open_case(
        request(materials_provided=[*sample_application()["materials_provided"], "entrustment"]),
        COMMUNITY,
    )
    assert app.proxy == domain.Proxy("residents_committee", "前园社区居民委员会")
    assert app.status == domain.ACCEPTED and app.submitted_by == "sgz-community"


def test_ORG6_community_worker_cannot_file_as_another_person():
    body = request(program="tekun", proxy={"kind": "person", "name": "张三"})
    with pytest.raises(ValidationFailed) as raised:
        open_case(body, COMMUNITY)
    assert raised.value.field == "proxy.kind"


def test_IN6_supply_completes_and_accepts_at_that_instant():
    body = family(materials_provided=["household_register"])
    body["members"][1]["authorisation_signed"] = False
    app = open_case(body)
    later = NOW + timedelta(days=3)
    effects = domain.supply(app, ["household_id_cards"], [SPOUSE], later)
    assert actions(effects) == [("materials_supplied", "IN-6")] and effects.events == []
    assert effects.progress[0].note == "still missing 3 item(s)"
    assert app.status == domain.AWAITING_MATERIALS
    assert app.members[1].authorisation_signed is True
    rest = ["economic_declaration", "obligor_id_cards", "obligor_household_registers"]
    effects = domain.supply(app, rest, [], later)
    assert actions(effects) == [("materials_supplied", "IN-6"), ("application_accepted", "IN-6")]
    assert [e.event_type for e in effects.events] == ["application.accepted"]
    assert app.status == domain.ACCEPTED and app.accepted_at == later and app.since == later


def test_IN7_supplying_an_authorisation_of_a_stranger_names_the_field():
    app = open_case(request(materials_provided=[]))
    with pytest.raises(ValidationFailed) as raised:
        domain.supply(app, [], [SON], NOW)
    assert raised.value.field == "authorisations.0"


def test_IN6_supply_on_an_accepted_case_is_invalid_state():
    app = open_case(request())
    with pytest.raises(InvalidState) as raised:
        domain.supply(app, ["economic_declaration"], [], NOW)
    assert (raised.value.code, raised.value.field) == ("invalid_state", "case_id")
    assert raised.value.details == {"status": "accepted", "allowed": ["awaiting_materials"]}


HOLDER = domain.OpenCase("case-1", "SGZ-2026-00001", "shaogongzhuang")


@pytest.mark.parametrize(
    "actor",
    [CLERK, COMMUNITY, Actor("district-officer", "district_officer", None)],
    ids=["clerk", "community_worker", "district"],
)
def test_SEC7_duplicate_open_case_names_the_case_to_whoever_may_read_it(actor):
    domain.refuse_duplicate("dibao", None, actor)
    with pytest.raises(Conflict) as raised:
        domain.refuse_duplicate("dibao", HOLDER, actor)
    assert (raised.value.code, raised.value.http_status, raised.value.field) == (
        "duplicate_open_case",
        409,
        "members",
    )
    assert raised.value.details == {
        "program": "dibao",
        "case_no": "SGZ-2026-00001",
        "case_id": "case-1",
    }
    assert "SGZ-2026-00001" in raised.value.message and "dibao" in raised.value.message


@pytest.mark.parametrize("role", ["clerk", "community_worker"])
def test_SEC7_duplicate_open_case_of_another_street_says_only_that_it_exists(role):
    other_street = Actor("shc-user", role, "shuanghuancun")
    with pytest.raises(Conflict) as raised:
        domain.refuse_duplicate("low_income", HOLDER, other_street)
    assert (raised.value.code, raised.value.http_status) == ("duplicate_open_case", 409)
    assert raised.value.details == {"program": "low_income"}
    assert "low_income" in raised.value.message
    for secret in ("SGZ", "case-1", "shaogongzhuang"):
        assert secret not in raised.value.message


@pytest.mark.parametrize(
    "event_type, payload, expected",
    [
        (
            "decision.made",
            {"outcome": "approved", "decided_at": NOW},
            ("decision_approved", "DE-1"),
        ),
        (
            "decision.made",
            {"outcome": "non_confirmed", "decided_at": NOW},
            ("decision_non_confirmed", "VE-3"),
        ),
        ("verification.withdrawn", {"withdrawn_at": NOW}, ("withdrawn", "VE-5")),
    ],
)
def test_closing_reason_and_rule(event_type, payload, expected):
    assert domain.closing(event_type, payload) == (*expected, NOW)


def test_close_happens_once():
    app = open_case(request())
    effects = domain.close(app, "withdrawn", "VE-5", NOW)
    [entry] = effects.progress
    assert (entry.action, entry.rule_id, entry.note, entry.closed) == (
        "case_closed",
        "VE-5",
        "withdrawn",
        True,
    )
    assert app.status == domain.CLOSED and app.closed_at == NOW
    again = domain.close(app, "decision_refused", "DE-1", NOW)
    assert again.save is False and again.progress == []
    assert app.closed_reason == "withdrawn"


def test_IN2_tekun_household_is_the_applicant_alone():
    body = sample_application(program="tekun")
    body["members"].append({"name": "李强", "id_number": SPOUSE, "relationship": "spouse"})
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request("intake.submit_application", body)
    assert raised.value.field == "members"


def test_IN1_family_application_is_not_filed_by_another_person():
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request(
            "intake.submit_application",
            {**sample_application(), "proxy": {"kind": "person", "name": "张三"}},
        )
    assert raised.value.field == "proxy.kind"


def test_IN3_obligor_is_not_a_household_member():
    body = sample_application()
    applicant = body["applicant"]
    body["obligors"] = [{**applicant, "relationship": "child", "authorisation_signed": True}]
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request("intake.submit_application", body)
    assert raised.value.field == "obligors.0.id_number"


def test_invalid_member_id_number_is_named():
    body = sample_application()
    wrong_check_digit = SPOUSE[:-1] + ("1" if SPOUSE[-1] == "0" else "0")
    body["members"].append(
        {"name": "李强", "id_number": wrong_check_digit, "relationship": "spouse"}
    )
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request("intake.submit_application", body)
    assert raised.value.field == "members.1.id_number"


def test_supply_request_needs_something():
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request("intake.supply_materials", {"case_id": "c-1"})
    assert raised.value.field == "materials"
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request("intake.supply_materials", {"case_id": "c-1", "materials": ["visa"]})
    assert raised.value.field == "materials.0"


def test_accepted_event_matches_its_contract():
    from hqcore.messaging.envelope import build_envelope

    body = family(
        proxy={"kind": "residents_committee", "name": "前园社区居委会"},
        payment_account={"bank": "天津银行", "account_number": "62210000123", "holder": "王秀英"},
    )
    body["materials_provided"].append("entrustment")
    app = open_case(body)
    envelope = build_envelope(
        event_type="application.accepted",
        version=1,
        payload=domain.accepted_event(app),
        occurred_at=NOW,
        case_id=app.case_id,
        street_code=app.street_code,
        correlation_id="t",
        acting_user="sgz-clerk",
        source="intake",
    )
    assert envelope["payload"]["obligors"][0]["id_number"] == SON
    assert envelope["payload"]["proxy"]["kind"] == "residents_committee"
    assert envelope["payload"]["payment_account"]["holder"] == "王秀英"


def test_the_case_view_matches_its_contract_without_a_timeline():
    from hqcore.contracts import dump_rpc_response

    body = family(materials_provided=["household_register"])
    body["members"][1]["authorisation_signed"] = False
    view = dump_rpc_response("intake.get_case", domain.case_view(open_case(body), []))
    assert "timeline" not in view
    assert view["materials_missing"][-1] == {
        "item": "authorisation",
        "label": "李强签署的家庭经济状况核对授权书",
        "name": "李强",
        "id_number": SPOUSE,
    }
    assert view["members"][1]["authorisation_signed"] is False
    assert view["obligors"][0]["family_members"] == []
