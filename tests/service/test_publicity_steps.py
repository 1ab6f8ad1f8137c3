"""The publicity service's steps against the real broker (PU-1 to PU-7).

Upstream events (application.accepted, verification.completed) are published by the test."""

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
from hqcore.messaging.subscriber import queue_names
from hqops.samples import actor_for, make_id_number
from services.publicity import adapters
from services.publicity.service import PublicityService
from tests.support.plugin import wait_until, wait_until_handled

CLERK = actor_for("sgz-clerk")
COMMUNITY = actor_for("sgz-community")
LEADER = actor_for("sgz-leader")
DISTRICT = actor_for("district-officer")
# Monday 2026-03-02, 10:00 in Tianjin.
START = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
SGZ_BODY = ["沈立新", "曾晓燕", "彭明", "吕玉兰", "苏建国", "卢红梅"]  # seeded demo body


@pytest.fixture
def publicity_container(start_service, settings):
    get_clock(settings).set(START)
    return start_service(PublicityService)


@pytest.fixture
def publicity(publicity_container, settings):
    return settings


def _end_publicities_now(container):
    """One run of the periodic job now, beside its own runs (PU-1)."""
    with entrypoint_hook(container, "end_publicities") as end_publicities:
        end_publicities()


class Upstream:
    """Publishes the events of the services upstream of publicity."""

    def __init__(self, settings):
        self.settings = settings
        self.publisher = EventPublisher(settings.amqp_uri)

    def publish(self, event_type, payload, source):
        envelope = build_envelope(
            event_type=event_type,
            version=1,
            payload=payload,
            occurred_at=get_clock(self.settings).now(),
            case_id=payload["case_id"],
            street_code=payload["street_code"],
            correlation_id="test",
            acting_user="test",
            source=source,
        )
        self.publisher.publish(envelope)
        return envelope

    def accepted(self, serial=1, program="dibao"):
        person = {"name": "王秀英", "id_number": make_id_number(serial), "relationship": "self"}
        return self.publish(
            "application.accepted",
            {
                "case_id": f"case-{serial}",
                "case_no": f"SGZ-2026-{serial:05d}",
                "program": program,
                "street_code": "shaogongzhuang",
                "community": "前园社区",
                "applicant": person,
                "members": [person],
                "near_relative": False,
                "accepted_at": get_clock(self.settings).now(),
            },
            "intake",
        )

    def verified(self, serial=1, program="dibao", round_=1):
        return self.publish(
            "verification.completed",
            {
                "case_id": f"case-{serial}",
                "case_no": f"SGZ-2026-{serial:05d}",
                "program": program,
                "street_code": "shaogongzhuang",
                "round": round_,
                "household_size": 3,
                "income_per_head_fen": 50000,
                "money_assets_fen": 0,
                "self_care": None,
                "report_id": f"report-{round_}",
                "means_test": {},
                "completed_at": get_clock(self.settings).now(),
            },
            "verification",
        )


@pytest.fixture
def upstream(publicity):
    upstream = Upstream(publicity)
    yield upstream
    upstream.publisher.close()


def _view(rpc, case_id):
    try:
        return rpc.publicity.get_case(actor=CLERK, case_id=case_id)
    except RemoteError:
        return None


def _status(rpc, case_id, status, timeout=10):
    return wait_until(
        lambda: (v := _view(rpc, case_id)) and v["status"] == status and v,
        timeout=timeout,
        message=f"case {case_id} to be {status}",
    )


def _awaiting_opinion(rpc, upstream, serial=1, program="dibao"):
    upstream.accepted(serial, program)
    _status(rpc, f"case-{serial}", "awaiting_verification")
    upstream.verified(serial, program)
    return _status(rpc, f"case-{serial}", "awaiting_preliminary_opinion")


def _opinion(rpc, case_id, opinion="approve"):
    return rpc.publicity.record_preliminary_opinion(
        actor=CLERK, case_id=case_id, opinion=opinion, summary="家庭人均月收入500元，低于低保标准"
    )


def _events(settings, event_type):
    database = Database(settings.database_url("publicity"))
    outbox = adapters.TABLES["outbox"]
    try:
        with database.transaction() as conn:
            rows = conn.execute(
                select(outbox.c.envelope).where(outbox.c.event_type == event_type)
            ).all()
    finally:
        database.dispose()
    return [json.loads(r.envelope)["payload"] for r in rows]


def _error(raised) -> dict:
    return {"type": raised.value.exc_type, **json.loads(raised.value.value)}


def _end_publicity(settings, view):
    get_clock(settings).set(datetime.fromisoformat(view["details"]["rounds"][-1]["ends_at"]))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_PU1_PU2_dibao_publicity_concludes_by_itself_after_5_days_without_deliberation(
    publicity, publicity_container, start_service, upstream, rpc, backend
):
    start_service(PublicityService)  # a second instance: both scan, exactly one concludes
    _awaiting_opinion(rpc, upstream)
    view = _opinion(rpc, "case-1")
    assert view["status"] == "publicity"
    [publicised] = view["details"]["rounds"]
    assert publicised["last_day"] == "2026-03-07"  # 5 D from Monday 03-02 (PU-1)
    assert publicised["ends_at"] == "2026-03-07T16:00:00+00:00"  # end of 03-07, Beijing time
    [notice] = view["details"]["documents"]
    assert notice["kind"] == "public_notice"
    html = rpc.publicity.get_document(actor=CLERK, document_id=notice["document_id"])["html"]
    assert "SGZ-2026-00001" in html and "3人" in html and "拟同意给予救助" in html
    assert make_id_number(1) not in html and "王秀英" not in html  # no personal data posted

    get_clock(publicity).set(datetime(2026, 3, 7, 15, 59, tzinfo=timezone.utc))  # 23:59
    _end_publicities_now(publicity_container)
    assert (
        rpc.publicity.get_case(actor=CLERK, case_id="case-1")["status"] == "publicity"
    )  # not before

    get_clock(publicity).advance(timedelta(minutes=2))
    view = _status(rpc, "case-1", "concluded")
    assert view["details"]["deliberation"] is None
    assert view["details"]["rounds"][0]["outcome"] == "completed"
    _end_publicities_now(publicity_container)  # a later run concludes nothing twice
    [concluded] = _events(publicity, "publicity.concluded")
    assert concluded["deliberation_held"] is False and concluded["rounds"] == 1
    assert concluded["preliminary_opinion"] == "approve"
    actions = [entry["action"] for entry in _events(publicity, "case.progressed")]
    assert actions == ["verification_completed", "preliminary_opinion_recorded", "publicity_ended"]


def test_PU2_tekun_always_deliberates_and_PU7_minutes_join_the_family_file(
    publicity, upstream, rpc
):
    _awaiting_opinion(rpc, upstream, program="tekun")
    view = _opinion(rpc, "case-1")
    _end_publicity(publicity, view)
    _status(rpc, "case-1", "deliberation")
    assert _events(publicity, "publicity.concluded") == []

    get_clock(publicity).set(datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc))
    view = rpc.publicity.record_deliberation(
        actor=CLERK,
        case_id="case-1",
        members_present=SGZ_BODY[:4],
        conclusion="approve",
        minutes="经评议，申请人无劳动能力、无生活来源、无法定赡养人，情况属实。",
        signed_off_by=SGZ_BODY[0],
        leadership_meeting_approved_on="2026-03-09",
    )
    assert view["status"] == "concluded"
    minutes_id = view["details"]["deliberation"]["minutes_document_id"]
    minutes = rpc.publicity.get_document(actor=CLERK, document_id=minutes_id)
    assert minutes["kind"] == "deliberation_minutes" and minutes["case_id"] == "case-1"
    assert all(name in minutes["html"] for name in SGZ_BODY[:4])
    assert "特困人员供养" in minutes["html"] and "2026-03-09" in minutes["html"]
    assert "存入救助家庭档案" in minutes["html"]  # PU-7
    [concluded] = wait_until(lambda: _events(publicity, "publicity.concluded"))
    assert concluded["deliberation_held"] is True
    assert concluded["deliberation_conclusion"] == "approve"
    assert concluded["minutes_document_id"] == minutes_id


def test_PU6_deliberation_needs_a_majority_of_the_body(publicity, upstream, rpc):
    _awaiting_opinion(rpc, upstream, program="tekun")
    _end_publicity(publicity, _opinion(rpc, "case-1"))
    _status(rpc, "case-1", "deliberation")
    with pytest.raises(RemoteError) as raised:
        rpc.publicity.record_deliberation(
            actor=CLERK,
            case_id="case-1",
            members_present=SGZ_BODY[:3],
            conclusion="approve",
            minutes="纪要",
            signed_off_by=SGZ_BODY[0],
            leadership_meeting_approved_on="2026-03-08",
        )
    assert _error(raised)["field"] == "members_present"
    assert rpc.publicity.get_case(actor=CLERK, case_id="case-1")["status"] == "deliberation"


def test_PU3_objection_requests_reinvestigation_then_publicises_again(publicity, upstream, rpc):
    _awaiting_opinion(rpc, upstream)
    _opinion(rpc, "case-1")
    view = rpc.publicity.record_objection(
        actor=COMMUNITY, case_id="case-1", objector="邻居", detail="申请人家庭有一辆私家车"
    )
    assert view["status"] == "reinvestigation"
    assert view["details"]["objections"][0]["objector"] == "邻居"
    [requested] = _events(publicity, "publicity.reinvestigation_requested")
    assert requested["cause"] == "objection" and requested["case_id"] == "case-1"

    upstream.verified(round_=2)
    _status(rpc, "case-1", "awaiting_preliminary_opinion")
    view = _opinion(rpc, "case-1")
    assert [r["round"] for r in view["details"]["rounds"]] == [1, 2]
    assert [r["outcome"] for r in view["details"]["rounds"]] == ["objection", None]
    assert len(view["details"]["documents"]) == 2  # a new notice for the second publicity
    _end_publicity(publicity, view)
    _status(rpc, "case-1", "deliberation")  # PU-2: disputed, so deliberated


def test_PU4_major_dispute_gives_a_new_opinion_within_10_working_days(publicity, upstream, rpc):
    _awaiting_opinion(rpc, upstream)
    _opinion(rpc, "case-1")
    get_clock(publicity).set(datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc))  # Tue 10:00
    view = rpc.publicity.record_major_dispute(
        actor=DISTRICT, case_id="case-1", source="report", detail="举报申请人隐瞒经营收入"
    )
    assert view["status"] == "reinvestigation"
    [pu4] = view["deadlines"]
    assert (pu4["rule_id"], pu4["unit"], pu4["amount"]) == ("PU-4", "WD", 10)
    assert pu4["due_date"] == "2026-03-17" and pu4["status"] == "open"
    [requested] = _events(publicity, "publicity.reinvestigation_requested")
    assert requested["cause"] == "major_dispute"

    upstream.verified(round_=2)
    _status(rpc, "case-1", "awaiting_preliminary_opinion")
    view = _opinion(rpc, "case-1")
    [pu4] = view["deadlines"]
    assert pu4["status"] == "met"
    assert len(view["details"]["rounds"]) == 2


def test_steps_refuse_wrong_role_wrong_street_wrong_state_and_bad_input(publicity, upstream, rpc):
    _awaiting_opinion(rpc, upstream)
    cases = [
        (
            dict(
                actor=actor_for("sgz-investigator-1"),
                case_id="case-1",
                opinion="approve",
                summary="x",
            ),
            "Forbidden",
            "wrong_role",
        ),
        (
            dict(actor=actor_for("shc-clerk"), case_id="case-1", opinion="approve", summary="x"),
            "Forbidden",
            "wrong_street",
        ),
        (
            dict(actor=CLERK, case_id="case-1", opinion="maybe", summary="x"),
            "ValidationFailed",
            "validation_failed",
        ),
        (
            dict(actor=CLERK, case_id="case-x", opinion="approve", summary="x"),
            "CaseNotFound",
            "case_not_found",
        ),
    ]
    for call, exc_type, code in cases:
        with pytest.raises(RemoteError) as raised:
            rpc.publicity.record_preliminary_opinion(**call)
        assert (_error(raised)["type"], _error(raised)["code"]) == (exc_type, code)
    with pytest.raises(RemoteError) as raised:
        rpc.publicity.record_preliminary_opinion(
            actor=CLERK, case_id="case-1", opinion="maybe", summary="x"
        )
    assert _error(raised)["field"] == "opinion"
    with pytest.raises(RemoteError) as raised:  # PU-3: objections only during publicity
        rpc.publicity.record_objection(actor=CLERK, case_id="case-1", objector="邻居", detail="x")
    assert _error(raised)["code"] == "invalid_state" and _error(raised)["type"] == "InvalidState"
    with pytest.raises(RemoteError) as raised:  # PU-4: not for the residents' committee
        rpc.publicity.record_major_dispute(
            actor=COMMUNITY, case_id="case-1", source="complaint", detail="x"
        )
    assert _error(raised)["code"] == "wrong_role"
    assert (
        rpc.publicity.get_case(actor=CLERK, case_id="case-1")["status"]
        == "awaiting_preliminary_opinion"
    )
    assert (
        _events(publicity, "case.progressed") and len(_events(publicity, "case.progressed")) == 1
    )  # only the verification arrived


def test_PU5_street_leader_sets_the_deliberation_body(publicity, rpc):
    body = rpc.publicity.get_deliberation_body(actor=CLERK, street_code="shaogongzhuang")
    assert [m["name"] for m in body["members"]] == SGZ_BODY and body["updated_by"] == "seed"
    members = [
        {"name": "甲", "kind": "leader_in_charge"},
        {"name": "乙", "kind": "management_staff"},
        {"name": "丙", "kind": "committee_staff"},
        {"name": "丁", "kind": "public_representative"},
        {"name": "戊", "kind": "public_representative"},
    ]
    for actor, street, sent, code in [
        (LEADER, "shaogongzhuang", members[:4], "body_size"),
        (
            LEADER,
            "shaogongzhuang",
            members[:3] + [{"name": n, "kind": "committee_staff"} for n in ("己", "庚")],
            "body_kinds",
        ),
        (CLERK, "shaogongzhuang", members, "wrong_role"),
        (LEADER, "xigu", members, "wrong_street"),
        (LEADER, "nowhere", members, "validation_failed"),
    ]:
        with pytest.raises(RemoteError) as raised:
            rpc.publicity.set_deliberation_body(actor=actor, street_code=street, members=sent)
        assert _error(raised)["code"] == code
    body = rpc.publicity.set_deliberation_body(
        actor=LEADER, street_code="shaogongzhuang", members=members
    )
    assert [m["name"] for m in body["members"]] == ["甲", "乙", "丙", "丁", "戊"]
    assert body["updated_by"] == "sgz-leader"
    assert (
        rpc.publicity.set_deliberation_body(actor=DISTRICT, street_code="xigu", members=members)[
            "street_code"
        ]
        == "xigu"
    )
    with pytest.raises(RemoteError) as raised:
        rpc.publicity.get_deliberation_body(actor=CLERK, street_code="xigu")
    assert _error(raised)["code"] == "wrong_street"


def test_redelivered_events_change_nothing(publicity, upstream, rpc):
    accepted = upstream.accepted()
    _status(rpc, "case-1", "awaiting_verification")
    upstream.publisher.publish(accepted)  # the same event again
    verified = upstream.verified()
    _status(rpc, "case-1", "awaiting_preliminary_opinion")
    upstream.publisher.publish(verified)
    wait_until_handled(publicity.amqp_uri, queue_names("publicity", "on_verification_completed")[0])
    assert [e["action"] for e in _events(publicity, "case.progressed")] == [
        "verification_completed"
    ]


def test_VE5_withdrawal_closes_the_case_and_its_PU4_deadline(publicity, upstream, rpc):
    _awaiting_opinion(rpc, upstream)
    _opinion(rpc, "case-1")
    rpc.publicity.record_major_dispute(
        actor=CLERK, case_id="case-1", source="complaint", detail="投诉"
    )
    upstream.publish(
        "verification.withdrawn",
        {
            "case_id": "case-1",
            "case_no": "SGZ-2026-00001",
            "program": "dibao",
            "street_code": "shaogongzhuang",
            "reason": "未如实申报且逾期未更正",
            "withdrawn_at": get_clock(publicity).now(),
        },
        "verification",
    )
    view = _status(rpc, "case-1", "closed")
    assert view["details"]["closed_reason"] == "withdrawn"
    assert [d["status"] for d in view["deadlines"]] == ["met"]  # no false PU-4 breach


def test_decision_made_closes_the_case(publicity, upstream, rpc):
    _awaiting_opinion(rpc, upstream)
    upstream.publish(
        "decision.made",
        {
            "case_id": "case-1",
            "case_no": "SGZ-2026-00001",
            "program": "dibao",
            "street_code": "shaogongzhuang",
            "community": "前园社区",
            "outcome": "non_confirmed",
            "authority": "street",
            "decided_at": get_clock(publicity).now(),
            "document_id": "decision:x",
        },
        "decision",
    )
    view = _status(rpc, "case-1", "closed")
    assert view["details"]["closed_reason"] == "decided:non_confirmed"
    with pytest.raises(RemoteError) as raised:
        _opinion(rpc, "case-1")
    assert _error(raised)["code"] == "invalid_state"
