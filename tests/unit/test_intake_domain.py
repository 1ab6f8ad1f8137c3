"""Intake's rules, pure: who files, the checklist, the one notice, acceptance, closing."""
from datetime import datetime, timedelta, timezone

import pytest

from hqcore.authz import Actor
from hqcore.contracts import load_rpc_request
from hqcore.errors import Conflict, ValidationFailed
from hqcore.testing import make_id_number, sample_application
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
    body["members"].append({"name": "李强", "id_number": SPOUSE, "relationship": "spouse",
                            "authorisation_signed": True})
    body["obligors"] = [{"name": "李明", "id_number": SON, "relationship": "child",
                         "authorisation_signed": True, "family_members": []}]
    body["materials_provided"] += ["obligor_id_cards", "obligor_household_registers"]
    body.update(changes)
    return load_rpc_request("intake.submit_application", body)


def open_case(req: dict, actor: Actor = CLERK) -> domain.Application:
    return domain.open_application(req, STREET, actor, case_id="c-1", sequence=7, now=NOW)


def test_case_number_is_per_street_and_year_in_local_time():
    new_year_local = datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc)  # 2027-01-01 00:30
    assert domain.case_number(STREET, new_year_local, 42) == "SGZ-2027-00042"


def test_IN6_complete_application_is_accepted_at_once_and_acceptance_is_now():
    app = open_case(family())
    assert app.status == domain.ACCEPTED and app.accepted_at == NOW
    assert domain.missing_items(app) == []
    assert app.case_no == "SGZ-2026-00007"


def test_IN3_IN6_IN7_every_missing_item_is_listed_at_once():
    body = family(materials_provided=["household_register"])
    body["members"][1]["authorisation_signed"] = False
    body["obligors"][0]["authorisation_signed"] = False
    app = open_case(body)
    assert app.status == domain.AWAITING_MATERIALS and app.accepted_at is None
    missing = domain.missing_items(app)
    assert [m["item"] for m in missing] == [
        "household_id_cards", "economic_declaration", "obligor_id_cards",
        "obligor_household_registers", "authorisation", "authorisation"]
    assert [m["id_number"] for m in missing[-2:]] == [SPOUSE, SON]
    assert "李强" in missing[-2]["label"]


def test_IN2_tekun_needs_the_written_application_too():
    tekun = sample_application(program="tekun")
    tekun["materials_provided"].remove("written_application")
    app = open_case(load_rpc_request("intake.submit_application", tekun))
    assert [m["item"] for m in domain.missing_items(app)] == ["written_application"]


def test_IN1_IN2_a_proxy_must_hand_in_the_entrustment():
    app = open_case(request(proxy={"kind": "residents_committee", "name": "前园社区居委会"}))
    assert [m["item"] for m in domain.missing_items(app)] == ["entrustment"]


def test_ORG6_community_worker_files_as_the_residents_committee():
    app = open_case(request(materials_provided=[
        *sample_application()["materials_provided"], "entrustment"]), COMMUNITY)
    assert app.proxy == {"kind": "residents_committee", "name": "前园社区居民委员会"}
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
    assert domain.supply(app, ["household_id_cards"], [SPOUSE], later) is False
    assert app.status == domain.AWAITING_MATERIALS
    assert app.members[1]["authorisation_signed"] is True
    rest = ["economic_declaration", "obligor_id_cards", "obligor_household_registers"]
    assert domain.supply(app, rest, [], later) is True
    assert app.status == domain.ACCEPTED and app.accepted_at == later


def test_IN7_supplying_an_authorisation_of_a_stranger_names_the_field():
    app = open_case(request(materials_provided=[]))
    with pytest.raises(ValidationFailed) as raised:
        domain.supply(app, [], [SON], NOW)
    assert raised.value.field == "authorisations.0"


def test_IN6_supply_on_an_accepted_case_is_invalid_state():
    app = open_case(request())
    with pytest.raises(Conflict) as raised:
        domain.supply(app, ["economic_declaration"], [], NOW)
    assert raised.value.code == "invalid_state"


def test_duplicate_open_case_names_the_case_number():
    domain.refuse_duplicate("dibao", None)
    with pytest.raises(Conflict) as raised:
        domain.refuse_duplicate("dibao", "SGZ-2026-00001")
    assert raised.value.code == "duplicate_open_case"
    assert raised.value.details == {"case_no": "SGZ-2026-00001"}


@pytest.mark.parametrize("event_type, payload, expected", [
    ("decision.made", {"outcome": "approved", "decided_at": NOW}, ("decision_approved", "DE-1")),
    ("decision.made", {"outcome": "non_confirmed", "decided_at": NOW},
     ("decision_non_confirmed", "VE-3")),
    ("verification.withdrawn", {"withdrawn_at": NOW}, ("withdrawn", "VE-5")),
])
def test_closing_reason_and_rule(event_type, payload, expected):
    assert domain.closing(event_type, payload) == (*expected, NOW)


def test_close_happens_once():
    app = open_case(request())
    assert domain.close(app, "withdrawn", NOW) is True
    assert app.status == domain.CLOSED and app.closed_at == NOW
    assert domain.close(app, "decision_refused", NOW) is False
    assert app.closed_reason == "withdrawn"


def test_IN2_tekun_household_is_the_applicant_alone():
    body = sample_application(program="tekun")
    body["members"].append({"name": "李强", "id_number": SPOUSE, "relationship": "spouse"})
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request("intake.submit_application", body)
    assert raised.value.field == "members"


def test_IN1_family_application_is_not_filed_by_another_person():
    with pytest.raises(ValidationFailed) as raised:
        load_rpc_request("intake.submit_application",
                         {**sample_application(), "proxy": {"kind": "person", "name": "张三"}})
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
    body["members"].append({"name": "李强", "id_number": wrong_check_digit,
                            "relationship": "spouse"})
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
    body = family(proxy={"kind": "residents_committee", "name": "前园社区居委会"},
                  payment_account={"bank": "天津银行", "account_number": "62210000123",
                                   "holder": "王秀英"})
    body["materials_provided"].append("entrustment")
    app = open_case(body)
    envelope = build_envelope(event_type="application.accepted", version=1,
                              payload=domain.accepted_event(app), occurred_at=NOW,
                              case_id=app.case_id, street_code=app.street_code,
                              correlation_id="t", acting_user="sgz-clerk", source="intake")
    assert envelope["payload"]["obligors"][0]["id_number"] == SON
    assert envelope["payload"]["proxy"]["kind"] == "residents_committee"
