"""Supervision against the real broker: upstream events are published here directly (SU-1 to
SU-5, ORG-3, PA-1), in and out of order, and redelivered."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from nameko.exceptions import RemoteError

from hqcore.clock import get_clock
from hqcore.messaging.envelope import build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqops.samples import make_id_number
from services.supervision.service import SupervisionService
from tests.support.plugin import wait_until

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin
SGZ, SHC = "shaogongzhuang", "shuanghuancun"
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": SGZ}
SHC_CLERK = {"user_id": "shc-clerk", "role": "clerk", "street_code": SHC}


@pytest.fixture
def publish(settings):
    publisher = EventPublisher(settings.amqp_uri)

    def send(event_type: str, payload: dict, envelope: dict | None = None) -> dict:
        envelope = envelope or build_envelope(
            event_type=event_type,
            version=1,
            payload=payload,
            occurred_at=T0,
            case_id=payload["case_id"],
            street_code=payload["street_code"],
            correlation_id=f"test-{uuid.uuid4()}",
            acting_user="test",
            source="test",
        )
        publisher.publish(envelope)
        return envelope

    yield send
    publisher.close()


@pytest.fixture
def supervision(start_service, settings):
    get_clock(settings).set(T0)
    return start_service(SupervisionService)


def accepted(
    case_id: str,
    street: str = SGZ,
    at: datetime = T0,
    near_relative: bool = False,
    program: str = "dibao",
) -> dict:
    person = {
        "name": "王秀英",
        "id_number": make_id_number(int(case_id[-5:])),
        "relationship": "self",
    }
    return {
        "case_id": case_id,
        "case_no": f"{street[:3].upper()}-2026-{case_id[-5:]}",
        "program": program,
        "street_code": street,
        "community": "前园社区",
        "applicant": person,
        "members": [person],
        "near_relative": near_relative,
        "accepted_at": at,
    }


def progressed(
    case_id: str,
    service: str,
    step: str,
    at: datetime,
    street: str = SGZ,
    closed: bool = False,
    action: str = "step",
) -> dict:
    return {
        "case_id": case_id,
        "case_no": None,
        "program": "dibao",
        "street_code": street,
        "service": service,
        "step": step,
        "action": action,
        "actor_user": "sgz-clerk",
        "actor_role": "clerk",
        "rule_id": None,
        "note": None,
        "document_ids": [],
        "closed": closed,
        "at": at,
    }


def deadline(
    case_id: str,
    rule_id: str,
    due_at: datetime,
    street: str = SGZ,
    deadline_id: str | None = None,
    **extra,
) -> dict:
    return {
        "deadline_id": deadline_id or str(uuid.uuid4()),
        "service": "verification",
        "rule_id": rule_id,
        "case_id": case_id,
        "street_code": street,
        "unit": "WD",
        "amount": 3,
        "due_at": due_at,
        "provisional": False,
        **extra,
    }


def decision(
    case_id: str,
    outcome: str = "approved",
    street: str = SGZ,
    program: str = "dibao",
    at: datetime = T0,
) -> dict:
    return {
        "case_id": case_id,
        "case_no": f"SGZ-2026-{case_id[-5:]}",
        "program": program,
        "street_code": street,
        "community": "前园社区",
        "outcome": outcome,
        "authority": "street",
        "decided_at": at,
        "monthly_amount_fen": 104500 if outcome == "approved" else None,
        "recipients": [],
        "payee_kind": "recipient" if outcome == "approved" else None,
        "payee_name": "王秀英",
        "payee_account": None,
        "reasons": [],
        "document_id": f"decision:{uuid.uuid4()}",
    }


def register(rpc, publish, *payloads) -> None:
    for payload in payloads:
        publish("application.accepted", payload)
    wait_until(
        lambda: _cases(rpc, per_page=100)["total"] >= len(payloads),
        message="supervision to register the cases",
    )


def remote_field(raised) -> str:
    assert raised.value.exc_type == "ValidationFailed"
    return json.loads(raised.value.value)["field"]


def test_SU3_accepted_case_is_registered_with_its_near_relative_flag_once(
    supervision, rpc, publish
):
    envelope = publish("application.accepted", accepted("c-00001", near_relative=True))
    view = wait_until(
        lambda: _safe(rpc.supervision.get_case, "c-00001"),
        message="supervision to register the case",
    )
    publish("application.accepted", {}, envelope=envelope)  # redelivered: changes nothing
    publish("application.accepted", accepted("c-00002"))
    wait_until(lambda: _cases(rpc)["total"] == 2, message="second case")
    assert view["status"] == "in_procedure"
    details = view["details"]
    assert details["near_relative"] is True and details["household_check_required"] is True
    assert (details["current_step"], details["current_service"]) == ("accepted", "intake")
    assert _cases(rpc)["total"] == 2
    assert "timeline" not in details  # the timeline is get_timeline's
    with pytest.raises(RemoteError) as other_street:
        rpc.supervision.get_case(actor=SHC_CLERK, case_id="c-00001")
    assert _error(other_street) == ("Forbidden", "wrong_street")
    with pytest.raises(RemoteError) as missing:
        rpc.supervision.get_case(actor=DISTRICT, case_id="c-99999")
    assert _error(missing) == ("CaseNotFound", "case_not_found")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_timeline_keeps_the_newest_step_when_case_progressed_arrives_out_of_order(
    supervision, rpc, publish, backend
):
    case_id = "c-00010"
    # Verification's entry arrives before the case is even registered.
    publish(
        "case.progressed",
        progressed(case_id, "verification", "investigation", T0 + timedelta(hours=1)),
    )
    wait_until(
        lambda: rpc.supervision.get_timeline(actor=CLERK, case_id=case_id)["entries"],
        message="the early entry",
    )
    register(rpc, publish, accepted(case_id))
    assert _details(rpc, case_id)["current_step"] == "investigation"

    newest = publish(
        "case.progressed", progressed(case_id, "publicity", "publicity", T0 + timedelta(days=5))
    )
    publish(
        "case.progressed",
        progressed(case_id, "verification", "information_check", T0 + timedelta(days=2)),
    )  # older, arrives later
    publish("case.progressed", {}, envelope=newest)  # redelivery
    entries = wait_until(lambda: _entries(rpc, case_id, 3), message="three timeline entries")
    assert [e["step"] for e in entries] == ["investigation", "information_check", "publicity"]
    view = rpc.supervision.get_case(actor=DISTRICT, case_id=case_id)
    assert (view["details"]["current_step"], view["details"]["current_service"]) == (
        "publicity",
        "publicity",
    )
    assert entries[0] == {  # the fields of case.progressed, as the gateway shows them
        "at": (T0 + timedelta(hours=1)).isoformat(),
        "service": "verification",
        "step": "investigation",
        "action": "step",
        "actor_user": "sgz-clerk",
        "actor_role": "clerk",
        "rule_id": None,
        "note": None,
        "document_ids": [],
    }
    assert _cases(rpc, step="publicity")["total"] == 1
    assert _cases(rpc, step="information_check")["total"] == 0

    publish(
        "case.progressed",
        progressed(case_id, "decision", "approved", T0 + timedelta(days=9), closed=True),
    )
    closed = wait_until(lambda: _closed(rpc, case_id), message="the case to close")
    assert closed["status"] == "closed" and closed["details"]["current_step"] == "approved"
    assert len(rpc.supervision.get_timeline(actor=DISTRICT, case_id=case_id)["entries"]) == 4


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_VE1_DE4_deadline_register_and_overdue_filter(supervision, rpc, publish, settings, backend):
    register(
        rpc, publish, accepted("c-00021"), accepted("c-00022"), accepted("c-00023", street=SHC)
    )
    early = deadline("c-00021", "VE-1", T0 + timedelta(days=1))
    late = deadline("c-00022", "DE-4", T0 + timedelta(days=40))
    met_first = deadline("c-00023", "VE-1", T0 + timedelta(days=1), street=SHC)
    publish("deadline.opened", early)
    publish("deadline.opened", late)
    publish("deadline.met", {**met_first, "met_at": T0 + timedelta(hours=2)})
    publish("deadline.opened", met_first)  # arrives after its "met": stays met
    wait_until(lambda: _deadlines(rpc)["total"] == 3, message="3 deadlines")
    wait_until(
        lambda: _statuses(rpc) == {"c-00021": "open", "c-00022": "open", "c-00023": "met"},
        message="statuses",
    )
    assert _cases(rpc, overdue=True)["total"] == 0
    assert _deadlines(rpc, street_code=SHC)["items"][0]["status"] == "met"
    [theirs] = rpc.supervision.list_deadlines(actor=SHC_CLERK)["items"]  # their street only
    assert theirs["case_id"] == "c-00023"
    with pytest.raises(RemoteError) as other_street:
        rpc.supervision.list_deadlines(actor=SHC_CLERK, street_code=SGZ)
    assert _error(other_street) == ("Forbidden", "wrong_street")

    get_clock(settings).advance(timedelta(days=2))  # VE-1 of c-00021 is open past due
    assert [c["case_id"] for c in _cases(rpc, overdue=True)["items"]] == ["c-00021"]
    assert _cases(rpc, overdue=False)["total"] == 2
    [item] = _deadlines(rpc, status="overdue")["items"]
    assert (item["case_id"], item["status"], item["overdue"]) == ("c-00021", "open", True)

    publish("deadline.breached", late)
    wait_until(lambda: _deadlines(rpc, status="breached")["total"] == 1, message="the DE-4 breach")
    assert {c["case_id"] for c in _cases(rpc, overdue=True)["items"]} == {"c-00021", "c-00022"}
    [breach] = rpc.supervision.list_breaches(actor=DISTRICT)["breaches"]
    assert breach["rule_id"] == "DE-4" and breach["case_id"] == "c-00022"
    assert rpc.supervision.list_breaches(actor=SHC_CLERK)["breaches"] == []  # their street
    details = _details(rpc, "c-00022")
    assert details["overdue"] is True
    assert details["deadline_register"][0]["status"] == "breached"


def test_list_cases_pages_newest_acceptance_first(supervision, rpc, publish):
    register(rpc, publish, *[accepted(f"c-0003{i}", at=T0 + timedelta(hours=i)) for i in range(5)])
    answer = _cases(rpc, page=2, per_page=2)
    assert (answer["page"], answer["per_page"], answer["total"]) == (2, 2, 5)
    assert [c["case_id"] for c in answer["items"]] == ["c-00032", "c-00031"]
    assert _cases(rpc, page=3, per_page=2)["items"][0]["case_id"] == "c-00030"
    assert _cases(rpc, page=4, per_page=2)["items"] == []
    assert _cases(rpc, street_code=SHC)["total"] == 0
    assert _cases(rpc, program="tekun")["total"] == 0
    assert rpc.supervision.list_cases(actor=CLERK)["total"] == 5  # their own street
    assert rpc.supervision.list_cases(actor=SHC_CLERK)["total"] == 0
    with pytest.raises(RemoteError) as other_street:
        rpc.supervision.list_cases(actor=SHC_CLERK, street_code=SGZ)
    assert _error(other_street) == ("Forbidden", "wrong_street")


@pytest.mark.parametrize(
    "query, field",
    [
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"page": "x"}, "page"),
        ({"program": "pension"}, "program"),
        ({"overdue": "maybe"}, "overdue"),
    ],
)
def test_bad_list_query_is_refused_naming_the_field(supervision, rpc, query, field):
    with pytest.raises(RemoteError) as raised:
        rpc.supervision.list_cases(actor=DISTRICT, **query)
    assert remote_field(raised) == field


def test_worklist_lists_the_open_cases_at_each_roles_step_in_its_street(supervision, rpc, publish):
    steps = {
        "c-00041": ("verification", "information_check", SGZ),
        "c-00042": ("verification", "investigation", SGZ),
        "c-00043": ("verification", "investigation", SHC),
        "c-00044": ("decision", "management_review", SGZ),
        "c-00045": ("verification", "district_check", SHC),
        "c-00046": ("verification", "district_check", SGZ),
        "c-00047": ("verification", "information_check", SGZ),
    }
    register(rpc, publish, *[accepted(c, street=s) for c, (_, _, s) in steps.items()])
    for hours, (case_id, (service, step, street)) in enumerate(steps.items(), start=1):
        publish(
            "case.progressed",
            progressed(case_id, service, step, T0 + timedelta(hours=hours), street=street),
        )
    publish(
        "case.progressed",
        progressed("c-00047", "decision", "approved", T0 + timedelta(days=3), closed=True),
    )
    wait_until(lambda: _cases(rpc, step="approved")["total"] == 1, message="every step recorded")

    def worklist(role, street=None, **page):
        return [
            c["case_id"]
            for c in rpc.supervision.worklist(
                actor=DISTRICT, role=role, street_code=street, **page
            )["items"]
        ]

    assert worklist("clerk", SGZ) == ["c-00041"]  # VE-2 pre-review; the closed case is gone
    assert worklist("investigator", SGZ) == ["c-00042"]
    assert worklist("investigator", SHC) == ["c-00043"]
    assert worklist("reviewer", SGZ) == ["c-00044"]
    assert worklist("district_officer") == ["c-00045", "c-00046"]  # every street, oldest first
    assert worklist("district_officer", per_page=1, page=2) == ["c-00046"]
    assert worklist("street_leader", SGZ) == []
    with pytest.raises(RemoteError) as raised:
        rpc.supervision.worklist(actor=CLERK, role="clerk", street_code=None)
    assert remote_field(raised) == "street_code"
    with pytest.raises(RemoteError) as raised:
        rpc.supervision.worklist(actor=CLERK, role="mayor", street_code=SGZ)
    assert remote_field(raised) == "role"


def test_SU1_SU3_new_recipients_flag_near_relative_dibao_families(
    start_service, settings, rpc, publish
):
    get_clock(settings).set(T0)
    start_service(SupervisionService, dataclasses.replace(settings, retry_delays=(0.5, 1, 2)))
    # The approval of c-00051 arrives before its acceptance: retried until it is registered.
    publish("decision.made", decision("c-00051"))
    register(
        rpc,
        publish,
        accepted("c-00051", near_relative=True),
        accepted("c-00052", near_relative=False),
        accepted("c-00053", near_relative=True),
        accepted("c-00054", near_relative=True, program="low_income"),
        accepted("c-00055", street=SHC),
    )
    approval = publish("decision.made", decision("c-00052"))
    publish("decision.made", decision("c-00053", outcome="refused"))
    publish("decision.made", decision("c-00054", program="low_income"))
    publish("decision.made", decision("c-00055", street=SHC, at=T0 + timedelta(days=31)))
    publish("decision.made", {}, envelope=approval)  # redelivery
    items = wait_until(lambda: _recipients(rpc, 4), timeout=15, message="four recipients")
    flags = {i["case_id"]: i["household_check_required"] for i in items}
    assert flags == {"c-00051": True, "c-00052": False, "c-00054": False, "c-00055": False}
    assert {i["case_id"]: i["near_relative"] for i in items}["c-00054"] is True
    assert [i["case_id"] for i in _new_recipients(rpc, month="2026-04")] == ["c-00055"]
    assert len(_new_recipients(rpc, street_code=SGZ, month="2026-03")) == 3
    with pytest.raises(RemoteError) as clerk:
        rpc.supervision.list_new_recipients(actor=CLERK)
    assert _error(clerk) == ("Forbidden", "wrong_role")  # SU-1 to SU-3: the district's

    publish(
        "payment.scheduled",
        {
            "case_id": "c-00051",
            "case_no": "SGZ-2026-00051",
            "program": "dibao",
            "street_code": SGZ,
            "first_month": "2026-04",
            "monthly_amount_fen": 104500,
            "payee_kind": "recipient",
            "payee_name": "王秀英",
        },
    )
    wait_until(
        lambda: _recipient(rpc, "c-00051")["first_payment_month"] == "2026-04",
        message="PA-1 payment month",
    )
    with pytest.raises(RemoteError) as raised:
        rpc.supervision.list_new_recipients(actor=DISTRICT, month="2026-13")
    assert remote_field(raised) == "month"


def _safe(call, case_id):
    try:
        return call(actor=DISTRICT, case_id=case_id)
    except RemoteError:
        return None


def _error(raised) -> tuple[str, str]:
    return raised.value.exc_type, json.loads(raised.value.value)["code"]


def _cases(rpc, **query):
    return rpc.supervision.list_cases(actor=DISTRICT, **query)


def _deadlines(rpc, **query):
    return rpc.supervision.list_deadlines(actor=DISTRICT, **query)


def _details(rpc, case_id):
    return rpc.supervision.get_case(actor=DISTRICT, case_id=case_id)["details"]


def _new_recipients(rpc, **query):
    return rpc.supervision.list_new_recipients(actor=DISTRICT, **query)["items"]


def _entries(rpc, case_id, count):
    entries = rpc.supervision.get_timeline(actor=DISTRICT, case_id=case_id)["entries"]
    return entries if len(entries) >= count else None


def _closed(rpc, case_id):
    view = rpc.supervision.get_case(actor=DISTRICT, case_id=case_id)
    return view if view["status"] == "closed" else None


def _statuses(rpc):
    return {d["case_id"]: d["status"] for d in _deadlines(rpc)["items"]}


def _recipients(rpc, count):
    items = _new_recipients(rpc)
    return items if len(items) >= count else None


def _recipient(rpc, case_id):
    return next(i for i in _new_recipients(rpc) if i["case_id"] == case_id)
