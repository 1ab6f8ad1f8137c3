"""Publicity's handlers through the step skeleton, on an in-memory unit of work (PU-1 to PU-7).

What a user sees: the reply of each step, the refusals (status and code), the events written
for the other services, the documents issued and the timeline entries.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hqcore.errors import CaseNotFound, Forbidden, InvalidState, ValidationFailed
from hqcore.steps import run_event, run_periodic, run_step
from services.publicity import domain, handlers, notices
from tests.support import events
from tests.support.fakes import fake_runtime

ACCEPTED_AT = datetime(2026, 2, 9, 2, tzinfo=timezone.utc)
POSTED = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin
STREET = "shaogongzhuang"
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": STREET}
OTHER_CLERK = {"user_id": "xg-clerk", "role": "clerk", "street_code": "xigu"}
WORKER = {"user_id": "sgz-worker", "role": "community_worker", "street_code": STREET}
LEADER = {"user_id": "sgz-leader", "role": "street_leader", "street_code": STREET}
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}
BODY = [
    {"name": "甲", "kind": "leader_in_charge"},
    {"name": "乙", "kind": "management_staff"},
    {"name": "丙", "kind": "committee_staff"},
    {"name": "丁", "kind": "public_representative"},
    {"name": "戊", "kind": "public_representative"},
]


class Periods:
    def __init__(self) -> None:
        self.running: dict[str, datetime] = {}

    def start(self, case_id: str, ends_at: datetime) -> None:
        self.running[case_id] = ends_at

    def stop(self, case_id: str) -> None:
        self.running.pop(case_id, None)

    def ended(self, now: datetime, limit: int = 200) -> list[str]:
        return sorted(
            (c for c, end in self.running.items() if end <= now), key=self.running.__getitem__
        )[:limit]


class Bodies:
    def __init__(self) -> None:
        self.held: dict[str, dict[str, Any]] = {}

    def get(self, street_code: str) -> dict[str, Any] | None:
        return self.held.get(street_code)

    def replace(
        self, street_code: str, members: list[dict[str, Any]], now: datetime, user_id: str
    ) -> None:
        self.held[street_code] = {
            "street_code": street_code,
            "members": members,
            "updated_at": now,
            "updated_by": user_id,
        }


@pytest.fixture
def runtime():
    runtime = fake_runtime(
        "publicity",
        now=POSTED,
        view=handlers.view,
        templates=notices.TEMPLATES,
        periods=Periods(),
        bodies=Bodies(),
    )
    runtime.store.repositories["bodies"].replace(STREET, BODY, POSTED, "seed")
    return runtime


def accept(runtime, program: str = "dibao", case_id: str = "c1") -> None:
    run_event(
        runtime,
        handlers.on_application_accepted,
        events.application_accepted(case_id=case_id, program=program, accepted_at=ACCEPTED_AT),
    )


def verified(runtime, round_: int = 1, case_id: str = "c1") -> None:
    run_event(
        runtime,
        handlers.on_verification_completed,
        events.verification_completed(
            case_id=case_id,
            round=round_,
            household_size=3,
            report_id=f"r{round_}",
            completed_at=POSTED - timedelta(hours=1),
        ),
    )


def opinion(runtime, actor=CLERK, case_id: str = "c1") -> dict[str, Any]:
    return run_step(
        runtime,
        handlers.record_preliminary_opinion,
        actor,
        {"case_id": case_id, "opinion": "approve", "summary": "人均收入低于低保标准"},
    )


def actions(runtime) -> list[str]:
    return [entry["action"] for entry in runtime.store.timeline("c1")]


def test_PU2_accepted_case_waits_for_verification(runtime):
    accept(runtime)
    view = run_step(runtime, handlers.get_deliberation_body, CLERK, {"street_code": STREET})
    assert len(view["members"]) == 5
    [case] = runtime.store.cases.all()
    assert case.status == domain.AWAITING_VERIFICATION and not case.deliberation_mandatory


def test_PU1_opinion_is_publicised_for_5_days_with_a_notice(runtime):
    accept(runtime)
    verified(runtime)
    view = opinion(runtime)
    assert view["status"] == domain.PUBLICITY
    [round_] = view["details"]["rounds"]
    assert round_["last_day"] == "2026-03-07"
    [notice] = view["details"]["documents"]
    assert (
        notice["kind"] == "public_notice" and notice["document_id"] == round_["notice_document_id"]
    )
    html = runtime.store.documents[notice["document_id"]].html
    assert "社会救助审核确认公示" in html and "前园社区" in html
    assert actions(runtime) == ["verification_completed", "preliminary_opinion_recorded"]
    [entry] = [
        e for e in runtime.store.timeline("c1") if e["action"] == "preliminary_opinion_recorded"
    ]
    assert entry["rule_id"] == "PU-1" and entry["document_ids"] == [notice["document_id"]]
    assert entry["actor_user"] == "sgz-clerk"
    assert runtime.store.repositories["periods"].running == {
        "c1": datetime(2026, 3, 7, 16, tzinfo=timezone.utc)
    }


def test_PU1_PU2_publicity_ends_by_itself_and_concludes_without_deliberation(runtime):
    accept(runtime)
    verified(runtime)
    opinion(runtime)
    run_periodic(runtime, handlers.end_publicities)
    assert runtime.store.events("publicity.concluded") == []  # not yet ended
    runtime.fake_clock.current = datetime(2026, 3, 7, 16, tzinfo=timezone.utc)
    run_periodic(runtime, handlers.end_publicities)
    [concluded] = runtime.store.events("publicity.concluded")
    assert concluded.payload["deliberation_held"] is False
    assert actions(runtime)[-1] == "publicity_ended"
    assert runtime.store.repositories["periods"].running == {}


def test_PU2_PU7_tekun_deliberates_and_the_minutes_join_the_file(runtime):
    accept(runtime, "tekun")
    verified(runtime)
    opinion(runtime)
    runtime.fake_clock.current = datetime(2026, 3, 9, 2, tzinfo=timezone.utc)
    run_periodic(runtime, handlers.end_publicities)
    assert runtime.store.events("publicity.concluded") == []
    view = run_step(
        runtime,
        handlers.record_deliberation,
        CLERK,
        {
            "case_id": "c1",
            "members_present": ["甲", "乙", "丙"],
            "conclusion": "approve",
            "minutes": "一致同意",
            "signed_off_by": "甲",
            "leadership_meeting_approved_on": "2026-03-09",
        },
    )
    assert view["status"] == domain.CONCLUDED
    [concluded] = runtime.store.events("publicity.concluded")
    minutes_id = view["details"]["deliberation"]["minutes_document_id"]
    assert concluded.payload["minutes_document_id"] == minutes_id
    assert "会议纪要" in runtime.store.documents[minutes_id].html


def test_PU6_no_majority_changes_nothing(runtime):
    accept(runtime, "tekun")
    verified(runtime)
    opinion(runtime)
    runtime.fake_clock.current = datetime(2026, 3, 9, 2, tzinfo=timezone.utc)
    run_periodic(runtime, handlers.end_publicities)
    before, documents = runtime.store.cases.get("c1"), dict(runtime.store.documents)
    with pytest.raises(ValidationFailed) as raised:
        run_step(
            runtime,
            handlers.record_deliberation,
            CLERK,
            {
                "case_id": "c1",
                "members_present": ["甲", "乙"],
                "conclusion": "approve",
                "minutes": "x",
                "signed_off_by": "甲",
                "leadership_meeting_approved_on": "2026-03-09",
            },
        )
    assert raised.value.code == "no_quorum"
    assert runtime.store.cases.get("c1") == before and runtime.store.documents == documents


def test_PU3_objection_stops_publicity_and_asks_for_reinvestigation(runtime):
    accept(runtime)
    verified(runtime)
    opinion(runtime)
    view = run_step(
        runtime,
        handlers.record_objection,
        WORKER,
        {"case_id": "c1", "objector": "邻居", "detail": "家中有车辆"},
    )
    assert view["status"] == domain.REINVESTIGATION and view["details"]["disputed"]
    [asked] = runtime.store.events("publicity.reinvestigation_requested")
    assert asked.payload["cause"] == "objection"
    assert runtime.store.repositories["periods"].running == {}
    verified(runtime, 2)
    assert opinion(runtime)["details"]["rounds"][1]["round"] == 2


def test_PU4_major_dispute_opens_10_working_days_for_a_new_opinion(runtime):
    accept(runtime)
    verified(runtime)
    opinion(runtime)
    view = run_step(
        runtime,
        handlers.record_major_dispute,
        DISTRICT,
        {"case_id": "c1", "source": "report", "detail": "举报隐瞒收入"},
    )
    [pu4] = [d for d in view["deadlines"] if d["rule_id"] == "PU-4"]
    assert (pu4["unit"], pu4["amount"], pu4["status"]) == ("WD", 10, "open")
    verified(runtime, 2)
    assert actions(runtime)[-1] == "verification_completed"
    assert runtime.store.timeline("c1")[-1]["rule_id"] == "PU-4"
    opinion(runtime)
    [pu4] = runtime.store.deadlines_of("c1", "PU-4")
    assert pu4.status.value == "met"


def test_steps_refuse_wrong_role_street_state_and_unknown_case(runtime):
    accept(runtime)
    with pytest.raises(InvalidState) as raised:
        opinion(runtime)
    assert raised.value.http_status == 409 and raised.value.field == "case_id"
    assert raised.value.details == {
        "status": domain.AWAITING_VERIFICATION,
        "allowed": [domain.AWAITING_OPINION],
    }
    verified(runtime)
    with pytest.raises(Forbidden) as wrong_role:
        opinion(runtime, actor=WORKER)
    assert wrong_role.value.code == "wrong_role"
    with pytest.raises(Forbidden) as wrong_street:
        opinion(runtime, actor=OTHER_CLERK)
    assert wrong_street.value.code == "wrong_street"
    with pytest.raises(CaseNotFound) as missing:
        opinion(runtime, case_id="nope")
    assert (missing.value.http_status, missing.value.code) == (404, "case_not_found")
    with pytest.raises(ValidationFailed) as bad:
        run_step(
            runtime,
            handlers.record_preliminary_opinion,
            CLERK,
            {"case_id": "c1", "opinion": "maybe", "summary": "x"},
        )
    assert bad.value.field == "opinion"
    assert runtime.store.cases.get("c1").status == domain.AWAITING_OPINION


def test_redelivered_event_changes_nothing(runtime):
    accept(runtime)
    event = events.verification_completed()
    run_event(runtime, handlers.on_verification_completed, event)
    run_event(runtime, handlers.on_verification_completed, event)
    assert actions(runtime) == ["verification_completed"]
    assert runtime.store.cases.get("c1").version == 1


def test_event_before_its_case_is_retried_not_dropped(runtime):
    from hqcore.steps import CaseNotYetKnown

    with pytest.raises(CaseNotYetKnown):
        verified(runtime)
    accept(runtime)
    verified(runtime)  # the redelivery after the acceptance applies
    assert runtime.store.cases.get("c1").status == domain.AWAITING_OPINION


def test_VE5_withdrawal_and_decision_close_the_case(runtime):
    accept(runtime)
    verified(runtime)
    opinion(runtime)
    run_step(
        runtime,
        handlers.record_major_dispute,
        CLERK,
        {"case_id": "c1", "source": "complaint", "detail": "x"},
    )
    run_event(runtime, handlers.on_verification_withdrawn, events.verification_withdrawn())
    case = runtime.store.cases.get("c1")
    assert (case.status, case.closed_reason) == (domain.CLOSED, "withdrawn")
    [pu4] = runtime.store.deadlines_of("c1", "PU-4")
    assert pu4.status.value == "met"


def test_PU5_street_leader_sets_the_body_of_their_own_street_only(runtime):
    members = BODY[:4] + [{"name": "己", "kind": "public_representative", "title": "居民"}]
    view = run_step(
        runtime, handlers.set_deliberation_body, LEADER, {"street_code": STREET, "members": members}
    )
    assert [m["name"] for m in view["members"]][-1] == "己" and view["updated_by"] == "sgz-leader"
    with pytest.raises(Forbidden):
        run_step(
            runtime,
            handlers.set_deliberation_body,
            LEADER,
            {"street_code": "xigu", "members": members},
        )
    with pytest.raises(Forbidden):
        run_step(
            runtime,
            handlers.set_deliberation_body,
            CLERK,
            {"street_code": STREET, "members": members},
        )
    with pytest.raises(ValidationFailed) as too_small:
        run_step(
            runtime,
            handlers.set_deliberation_body,
            DISTRICT,
            {"street_code": STREET, "members": members[:4]},
        )
    assert too_small.value.code == "body_size"
    with pytest.raises(Forbidden):
        run_step(runtime, handlers.get_deliberation_body, OTHER_CLERK, {"street_code": STREET})
