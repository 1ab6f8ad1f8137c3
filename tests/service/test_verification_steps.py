"""The verification service against the real broker: VE-1 to VE-5, the city platform
simulator, the means test, and the reinvestigation round (PU-3).

Timelines are read from the ``case.progressed`` events in the service's outbox."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from nameko.exceptions import RemoteError
from nameko.testing.services import entrypoint_hook
from sqlalchemy import select

from hqcore.clock import get_clock
from hqcore.db import Database
from hqcore.messaging.envelope import build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqcore.policy_tables import rates_in_force
from hqops.samples import make_id_number
from services.verification import adapters
from services.verification.service import VerificationService
from tests.support.plugin import run_deadline_scan, wait_until

STREET = "shaogongzhuang"
INVESTIGATOR_1 = {
    "user_id": "sgz-investigator-1",
    "role": "investigator",
    "street_code": STREET,
    "name": "邵公庄街道调查员甲",
}
INVESTIGATOR_2 = {
    "user_id": "sgz-investigator-2",
    "role": "investigator",
    "street_code": STREET,
    "name": "邵公庄街道调查员乙",
}
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": STREET, "name": "经办人员"}
OTHER_CLERK = {"user_id": "xgu-clerk", "role": "clerk", "street_code": "xigu", "name": "西沽经办"}
DISTRICT = {
    "user_id": "district-officer",
    "role": "district_officer",
    "street_code": None,
    "name": "区核对机构",
}
# Seeded in services/verification/data/city_registry.json:
WANG, LI = "120106195803027017", "120106196004157020"  # pensions: dibao eligible
ZHAO = "120106197005057210"  # wages 3000 yuan: not eligible
LI_MING = "120106198206067911"  # obligor with a high wage
MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Tianjin


@pytest.fixture
def fast(settings):
    """Settings with a city platform that answers within 0.2 s."""
    return dataclasses.replace(settings, city_platform_delay=0.2)


@pytest.fixture
def clock(settings):
    clock = get_clock(settings)
    clock.set(MONDAY)
    return clock


@pytest.fixture
def verification(start_service, fast, clock):
    return start_service(VerificationService, fast)


def _scan_and_end_windows_now(*containers):
    """One deadline scan and one run of the VE-3 window job in each instance, now."""
    for container in containers:
        run_deadline_scan(container)
        with entrypoint_hook(container, "end_explanation_windows") as end_windows:
            end_windows()


def person(name, id_number, relationship="self"):
    return {"name": name, "id_number": id_number, "relationship": relationship}


def publish(settings, event_type: str, payload: dict, envelope: dict | None = None) -> dict:
    """Publish an upstream event as its owning service would (or re-publish ``envelope``)."""
    envelope = envelope or build_envelope(
        event_type=event_type,
        version=1,
        payload=payload,
        occurred_at=get_clock(settings).now(),
        case_id=payload["case_id"],
        street_code=payload["street_code"],
        correlation_id="test",
        acting_user=None,
        source="test",
    )
    publisher = EventPublisher(settings.amqp_uri)
    try:
        publisher.publish(envelope)
    finally:
        publisher.close()
    return envelope


def accept(
    settings,
    rpc,
    case_no: str,
    members,
    program="dibao",
    street=STREET,
    accepted_at=None,
    obligors=(),
) -> str:
    case_id = f"case-{case_no}"
    publish(
        settings,
        "application.accepted",
        {
            "case_id": case_id,
            "case_no": case_no,
            "program": program,
            "street_code": street,
            "community": "前园社区",
            "applicant": members[0],
            "members": list(members),
            "obligors": list(obligors),
            "near_relative": False,
            "accepted_at": accepted_at or get_clock(settings).now(),
        },
    )
    wait_until(lambda: view(rpc, case_id), message=f"verification to open {case_no}")
    return case_id


def view(rpc, case_id, actor=CLERK):
    try:
        return rpc.verification.get_case(actor=actor, case_id=case_id)
    except RemoteError:
        return None


def investigate(rpc, case_id, actor=INVESTIGATOR_1, **overrides):
    fields = {
        "investigators": [INVESTIGATOR_1, INVESTIGATOR_2],
        "methods": ["household_visit", "neighbour_visits"],
        "findings": "入户查看，家中无贵重物品",
        "applicant_signed": True,
        **overrides,
    }
    return rpc.verification.record_investigation(actor=actor, case_id=case_id, **fields)


def through_check(rpc, case_id, **investigation):
    investigate(rpc, case_id, **investigation)
    rpc.verification.pre_review(
        actor=CLERK, case_id=case_id, opinion="申报材料及授权书齐全", authorisations_complete=True
    )
    return rpc.verification.district_review(actor=DISTRICT, case_id=case_id, opinion="同意提请核对")


def settled(rpc, case_id, status):
    return wait_until(
        lambda: (v := view(rpc, case_id)) and v["status"] == status and v,
        timeout=15,
        message=f"the case to become {status}",
    )


def error_of(call, **kwargs) -> tuple[str, str, str]:
    """(exception type, code, field) of a refused RPC."""
    with pytest.raises(RemoteError) as err:
        call(**kwargs)
    body = json.loads(err.value.value)
    return err.value.exc_type, body["code"], body["field"]


def emitted(settings, event_type: str) -> list[dict]:
    database = Database(settings.database_url("verification"))
    outbox = adapters.TABLES["outbox"]
    with database.transaction() as conn:
        rows = conn.execute(
            select(outbox.c.envelope).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
        ).all()
    database.dispose()
    return [json.loads(r.envelope)["payload"] for r in rows]


def timeline(settings, case_id: str) -> list[dict]:
    """The case's timeline entries, as the district receives them (``case.progressed``)."""
    return [e for e in emitted(settings, "case.progressed") if e["case_id"] == case_id]


# -- VE-1 ----------------------------------------------------------------------------------


def test_VE1_investigation_due_in_3_WD_dibao_and_15_WD_tekun_across_spring_festival(
    verification, settings, clock, rpc
):
    clock.set(datetime(2026, 2, 12, 2, 0, tzinfo=timezone.utc))  # Thursday before the festival
    dibao = accept(settings, rpc, "SGZ-2026-00001", [person("王秀英", WANG)])
    tekun = accept(
        settings, rpc, "SGZ-2026-00002", [person("陈老汉", make_id_number(1))], program="tekun"
    )
    [ve1] = view(rpc, dibao)["deadlines"]
    assert (ve1["rule_id"], ve1["due_date"], ve1["status"]) == ("VE-1", "2026-02-24", "open")
    assert ve1["due_at"] == "2026-02-24T16:00:00+00:00"
    [ve1] = view(rpc, tekun)["deadlines"]
    assert (ve1["rule_id"], ve1["due_date"]) == ("VE-1", "2026-03-11")
    assert view(rpc, dibao)["status"] == "investigation"


def test_VE1_accepted_event_delivered_twice_is_applied_once(verification, settings, rpc):
    members = [person("王秀英", WANG)]
    payload = {
        "case_id": "case-dup",
        "case_no": "SGZ-2026-00009",
        "program": "dibao",
        "street_code": STREET,
        "community": "前园社区",
        "applicant": members[0],
        "members": members,
        "obligors": [],
        "near_relative": False,
        "accepted_at": get_clock(settings).now(),
    }
    envelope = publish(settings, "application.accepted", payload)
    wait_until(lambda: view(rpc, "case-dup"), message="the case to open")
    publish(settings, "application.accepted", payload, envelope=envelope)
    investigate(rpc, "case-dup")  # a later step proves the redelivery has been consumed
    wait_until(lambda: len(emitted(settings, "deadline.met")) == 1, message="VE-1 met")
    case = view(rpc, "case-dup")
    assert len(case["deadlines"]) == 1 and case["details"]["round"] == 1
    assert len(emitted(settings, "deadline.opened")) == 1


def test_VE1_investigation_needs_two_investigators_of_the_street_and_a_signed_form(
    verification, settings, rpc
):
    case_id = accept(settings, rpc, "SGZ-2026-00003", [person("王秀英", WANG)])
    call = rpc.verification.record_investigation
    base = {
        "case_id": case_id,
        "methods": ["household_visit"],
        "findings": "入户",
        "applicant_signed": True,
        "investigators": [INVESTIGATOR_1, INVESTIGATOR_2],
    }
    assert error_of(call, actor=INVESTIGATOR_1, **{**base, "investigators": [INVESTIGATOR_1]}) == (
        "ValidationFailed",
        "validation_failed",
        "investigators",
    )
    assert error_of(call, actor=INVESTIGATOR_1, **{**base, "applicant_signed": False}) == (
        "ValidationFailed",
        "validation_failed",
        "applicant_signed",
    )  # VE-4
    xigu = {**INVESTIGATOR_2, "user_id": "xgu-investigator-1", "street_code": "xigu"}
    assert error_of(
        call, actor=INVESTIGATOR_1, **{**base, "investigators": [INVESTIGATOR_1, xigu]}
    ) == ("ValidationFailed", "not_a_street_investigator", "investigators")
    assert error_of(call, actor=CLERK, **base) == ("Forbidden", "wrong_role", "role")
    assert error_of(
        call,
        actor={**xigu, "user_id": "xgu-investigator-2"},
        **{**base, "investigators": [xigu, {**xigu, "user_id": "xgu-investigator-2"}]},
    ) == ("Forbidden", "wrong_street", "street_code")
    assert error_of(
        rpc.verification.pre_review,
        actor=CLERK,
        case_id=case_id,
        opinion="ok",
        authorisations_complete=True,
    ) == ("InvalidState", "invalid_state", "case_id")
    assert error_of(
        rpc.verification.pre_review,
        actor=CLERK,
        case_id="case-unknown",
        opinion="ok",
        authorisations_complete=True,
    ) == ("CaseNotFound", "case_not_found", "case_id")
    assert error_of(rpc.verification.get_case, actor=OTHER_CLERK, case_id=case_id) == (
        "Forbidden",
        "wrong_street",
        "street_code",
    )
    case = view(rpc, case_id)
    assert case["status"] == "investigation" and case["deadlines"][0]["status"] == "open"
    assert emitted(settings, "deadline.met") == []  # nothing changed


# -- VE-2: the full check with the simulator -----------------------------------------------


def test_VE2_full_check_chain_with_the_city_simulator_finds_an_eligible_family(
    verification, settings, rpc
):
    obligor = {
        **person("李明", LI_MING, "child"),
        "authorisation_signed": True,
        "family_members": [],
    }
    case_id = accept(
        settings,
        rpc,
        "SGZ-2026-00004",
        [person("王秀英", WANG), person("李建国", LI, "spouse")],
        obligors=[obligor],
    )
    assert investigate(rpc, case_id)["status"] == "information_check"
    assert error_of(
        rpc.verification.district_review, actor=DISTRICT, case_id=case_id, opinion="x"
    ) == ("InvalidState", "invalid_state", "case_id")
    assert error_of(
        rpc.verification.pre_review,
        actor=OTHER_CLERK,
        case_id=case_id,
        opinion="x",
        authorisations_complete=True,
    ) == ("Forbidden", "wrong_street", "street_code")
    assert error_of(
        rpc.verification.pre_review,
        actor=CLERK,
        case_id=case_id,
        opinion="x",
        authorisations_complete=False,
    ) == ("ValidationFailed", "validation_failed", "authorisations_complete")
    after_pre = rpc.verification.pre_review(
        actor=CLERK, case_id=case_id, opinion="齐全", authorisations_complete=True
    )
    assert after_pre["status"] == "district_check"
    assert error_of(
        rpc.verification.district_review, actor=CLERK, case_id=case_id, opinion="x"
    ) == ("Forbidden", "wrong_role", "role")
    assert (
        rpc.verification.district_review(actor=DISTRICT, case_id=case_id, opinion="同意")["status"]
        == "city_check"
    )

    case = settled(rpc, case_id, "verified")
    this_round = case["details"]["rounds"][0]
    means = this_round["means_test"]
    assert (
        means["eligible"],
        means["household_size"],
        means["income_per_head_fen"],
        means["money_assets_fen"],
    ) == (True, 2, 42500, 200000)
    row = means["policy_rows"][0]  # hqcore.policy.PolicyRate.used(): auditable by its id
    assert {k: v for k, v in row.items() if k != "id"} == {
        "key": "dibao_standard",
        "unit": "fen_per_person_month",
        "valid_from": "2025-09-01",
        "value": 104500,
        "source": "津民规〔2025〕6号 (2025-09-08)",
        "verified": True,
    }
    assert isinstance(row["id"], int)
    persons = {p["id_number"]: p for p in this_round["report"]["persons"]}
    assert persons[LI_MING]["role"] == "obligor"
    assert persons[LI_MING]["income"]["total_fen"] == 850000  # shown, not counted
    assert [c["stage"] for c in this_round["checks"]] == ["pre_review", "district_review"]
    [completed] = emitted(settings, "verification.completed")
    assert (
        completed["round"],
        completed["household_size"],
        completed["income_per_head_fen"],
        completed["report_id"],
    ) == (1, 2, 42500, this_round["report"]["report_id"])
    assert "timeline" not in case["details"]
    assert [(e["rule_id"], e["step"]) for e in timeline(settings, case_id)] == [
        ("VE-1", "investigation"),
        ("VE-1", "information_check"),
        ("VE-2", "district_check"),
        ("VE-2", "city_check"),
        ("VE-2", "verified"),
    ]
    assert case["deadlines"][0]["status"] == "met"


def test_means_test_uses_the_dibao_standard_in_force_on_the_acceptance_date(
    verification, settings, rpc
):
    # 1,020 yuan a month: below 1,045 (from 2025-09-01) but not below 1,010 (before).
    member = make_id_number(2)
    case_id = accept(
        settings,
        rpc,
        "SGZ-2025-00001",
        [person("赵某", member)],
        accepted_at=datetime(2025, 8, 20, 2, 0, tzinfo=timezone.utc),
    )
    database = Database(settings.database_url("verification"))
    with database.transaction() as conn:
        rows = rates_in_force(
            conn,
            adapters.policy_rates,
            ["dibao_standard"],
            datetime(2025, 8, 20).date(),
            required=True,
        )
    database.dispose()
    assert rows["dibao_standard"].value == 101000
    through_check(rpc, case_id)
    case = settled(rpc, case_id, "verified")  # no income: eligible under either standard
    means = case["details"]["rounds"][0]["means_test"]
    assert (means["standard_fen"], means["assessed_on"]) == (101000, "2025-08-20")


# -- VE-3 ----------------------------------------------------------------------------------


def test_VE3_not_eligible_notice_then_accepted_explanation_resumes(verification, settings, rpc):
    case_id = accept(settings, rpc, "SGZ-2026-00005", [person("赵强", ZHAO)])
    through_check(rpc, case_id)
    case = settled(rpc, case_id, "awaiting_explanation")
    [notice_ref] = case["details"]["documents"]
    notice = rpc.verification.get_document(actor=CLERK, document_id=notice_ref["document_id"])
    assert notice["title"] == "不符合条件告知书" and "不符合条件告知书" in notice["html"]
    assert "家庭月人均收入不低于本市城乡居民最低生活保障标准" in notice["html"]
    assert "2026年3月6日" in notice["html"] and notice["served_at"]
    ve3 = next(d for d in case["deadlines"] if d["rule_id"] == "VE-3")
    assert (ve3["due_date"], ve3["status"]) == ("2026-03-06", "open")  # 4 WD from Monday
    assert emitted(settings, "verification.completed") == []

    assert error_of(
        rpc.verification.record_explanation,
        actor=INVESTIGATOR_1,
        case_id=case_id,
        explanation="x",
        accepted=True,
    ) == ("Forbidden", "wrong_role", "role")
    assert (
        error_of(
            rpc.verification.record_explanation,
            actor=CLERK,
            case_id=case_id,
            explanation="",
            accepted=True,
        )[2]
        == "explanation"
    )
    after = rpc.verification.record_explanation(
        actor=CLERK, case_id=case_id, explanation="已于2月离职，提供解除劳动合同证明", accepted=True
    )
    assert after["status"] == "verified"
    assert next(d for d in after["deadlines"] if d["rule_id"] == "VE-3")["status"] == "met"
    [completed] = emitted(settings, "verification.completed")
    assert completed["means_test"]["explanation_accepted"] is True
    assert completed["means_test"]["eligible"] is False
    assert emitted(settings, "verification.non_confirmation_proposed") == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_VE3_no_explanation_within_4_WD_proposes_non_confirmation_once_with_two_instances(
    verification, start_service, fast, settings, clock, rpc
):
    second = start_service(VerificationService, fast)  # a second instance: both run the timers
    case_id = accept(settings, rpc, "SGZ-2026-00006", [person("赵强", ZHAO)])
    through_check(rpc, case_id)
    settled(rpc, case_id, "awaiting_explanation")
    clock.set(datetime(2026, 3, 6, 15, 59, tzinfo=timezone.utc))  # 23:59 on the last day
    _scan_and_end_windows_now(verification, second)
    assert view(rpc, case_id)["status"] == "awaiting_explanation"
    clock.advance(timedelta(minutes=2))
    case = settled(rpc, case_id, "non_confirmation_proposed")
    assert next(d for d in case["deadlines"] if d["rule_id"] == "VE-3")["status"] == "breached"
    _scan_and_end_windows_now(verification, second)  # both instances scan again
    [proposed] = emitted(settings, "verification.non_confirmation_proposed")
    assert proposed["reasons"] == ["家庭月人均收入不低于本市城乡居民最低生活保障标准"]
    assert proposed["report_id"] == case["details"]["rounds"][0]["report"]["report_id"]
    assert error_of(
        rpc.verification.record_explanation,
        actor=CLERK,
        case_id=case_id,
        explanation="迟到的说明",
        accepted=True,
    ) == ("InvalidState", "invalid_state", "case_id")


def test_VE3_rejected_explanation_proposes_non_confirmation(verification, settings, rpc):
    case_id = accept(settings, rpc, "SGZ-2026-00007", [person("赵强", ZHAO)])
    through_check(rpc, case_id)
    settled(rpc, case_id, "awaiting_explanation")
    after = rpc.verification.record_explanation(
        actor=CLERK, case_id=case_id, explanation="无正当理由", accepted=False
    )
    assert after["status"] == "non_confirmation_proposed"
    assert len(emitted(settings, "verification.non_confirmation_proposed")) == 1


# -- VE-5 ----------------------------------------------------------------------------------


def test_VE5_uncorrected_declaration_is_deemed_withdrawn(verification, settings, clock, rpc):
    case_id = accept(settings, rpc, "SGZ-2026-00008", [person("王秀英", WANG)], program="tekun")
    assert error_of(
        rpc.verification.record_correction, actor=CLERK, case_id=case_id, detail="x"
    ) == ("InvalidState", "invalid_state", "case_id")
    case = rpc.verification.record_untruthful_declaration(
        actor=CLERK, case_id=case_id, detail="未申报名下机动车一辆"
    )
    assert case["status"] == "awaiting_correction"
    ve5 = next(d for d in case["deadlines"] if d["rule_id"] == "VE-5")
    assert (ve5["due_date"], ve5["amount"]) == ("2026-03-09", 5)  # 5 WD from Monday
    [correction_notice] = case["details"]["documents"]
    assert correction_notice["title"] == "限期更正告知书"

    clock.set(datetime(2026, 3, 9, 16, 1, tzinfo=timezone.utc))  # 00:01 on 03-10 in Tianjin
    case = settled(rpc, case_id, "withdrawn")
    assert [d["title"] for d in case["details"]["documents"]] == [
        "限期更正告知书",
        "视为撤回申请告知书",
    ]
    withdrawal = rpc.verification.get_document(
        actor=CLERK, document_id=case["details"]["documents"][1]["document_id"]
    )
    assert "视为撤回申请" in withdrawal["html"] and "未申报名下机动车一辆" in withdrawal["html"]
    [withdrawn] = emitted(settings, "verification.withdrawn")
    assert "未申报名下机动车一辆" in withdrawn["reason"]
    last = timeline(settings, case_id)[-1]
    assert (last["rule_id"], last["action"], last["closed"]) == (
        "VE-5",
        "not corrected in time: deemed withdrawn",
        True,
    )
    assert last["document_ids"] == [case["details"]["documents"][1]["document_id"]]
    # The tekun investigation (VE-1: 15 WD, due 2026-03-23) is owed no more: closed, never breached.
    ve1 = next(d for d in case["deadlines"] if d["rule_id"] == "VE-1")
    assert (ve1["due_date"], ve1["status"]) == ("2026-03-23", "met")


def test_VE5_correction_in_time_resumes_the_case(verification, settings, rpc):
    case_id = accept(settings, rpc, "SGZ-2026-00010", [person("王秀英", WANG)])
    investigate(rpc, case_id)
    rpc.verification.record_untruthful_declaration(
        actor=CLERK, case_id=case_id, detail="未申报存款"
    )
    assert error_of(
        rpc.verification.pre_review,
        actor=CLERK,
        case_id=case_id,
        opinion="x",
        authorisations_complete=True,
    ) == ("InvalidState", "invalid_state", "case_id")
    case = rpc.verification.record_correction(
        actor=CLERK, case_id=case_id, detail="已补充申报存款2000元"
    )
    assert case["status"] == "information_check"
    assert next(d for d in case["deadlines"] if d["rule_id"] == "VE-5")["status"] == "met"
    assert emitted(settings, "verification.withdrawn") == []


# -- PU-3: a new round ---------------------------------------------------------------------


def test_PU3_reinvestigation_opens_round_two_and_completes_it_again(
    verification, settings, clock, rpc
):
    case_id = accept(settings, rpc, "SGZ-2026-00011", [person("王秀英", WANG)])
    through_check(rpc, case_id)
    settled(rpc, case_id, "verified")
    clock.set(datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc))  # Tuesday
    request = {
        "case_id": case_id,
        "case_no": "SGZ-2026-00011",
        "program": "dibao",
        "street_code": STREET,
        "cause": "objection",
        "detail": "邻居反映其子有车",
        "requested_at": get_clock(settings).now(),
    }
    envelope = publish(settings, "publicity.reinvestigation_requested", request)
    case = settled(rpc, case_id, "investigation")
    publish(settings, "publicity.reinvestigation_requested", request, envelope=envelope)
    assert case["details"]["round"] == 2
    ve1 = [d for d in case["deadlines"] if d["rule_id"] == "VE-1"]
    assert [(d["status"], d["due_date"]) for d in ve1] == [
        ("met", "2026-03-05"),
        ("open", "2026-03-13"),
    ]
    through_check(rpc, case_id)
    case = settled(rpc, case_id, "verified")
    assert case["details"]["round"] == 2 and len(case["details"]["rounds"]) == 2
    assert [c["round"] for c in emitted(settings, "verification.completed")] == [1, 2]
