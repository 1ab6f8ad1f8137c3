"""Publicity's rules, pure (PU-1 to PU-7)."""

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from hqcore.calendar import WorkingCalendar
from hqcore.errors import Conflict, ValidationFailed
from services.publicity import domain

CAL = WorkingCalendar()
# Monday 2026-03-02, 10:00 in Tianjin.
POSTED = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
BODY = [
    {"name": "甲", "kind": "leader_in_charge"},
    {"name": "乙", "kind": "management_staff"},
    {"name": "丙", "kind": "committee_staff"},
    {"name": "丁", "kind": "public_representative"},
    {"name": "戊", "kind": "public_representative"},
]


def _case(program="dibao") -> domain.PublicityCase:
    case = domain.register_case(
        {
            "case_id": "c1",
            "case_no": "SGZ-2026-00001",
            "program": program,
            "street_code": "shaogongzhuang",
            "community": "前园社区",
            "accepted_at": POSTED - timedelta(days=20),
        }
    )
    domain.verification_completed(
        case,
        {
            "round": 1,
            "household_size": 3,
            "report_id": "r1",
            "completed_at": POSTED - timedelta(days=1),
        },
    )
    return case


def _publicised(program="dibao") -> domain.PublicityCase:
    case = _case(program)
    domain.record_preliminary_opinion(
        case, "approve", "人均收入低于低保标准", POSTED, CAL, "publicity:notice-1"
    )
    return case


def test_PU1_publicity_lasts_5_calendar_days_from_posting():
    case = _publicised()
    [publicity] = case.rounds
    assert case.status == domain.PUBLICITY
    assert publicity["last_day"] == "2026-03-07"  # 5 D after 03-02, a Saturday counts too
    assert domain.ends_at(publicity) == datetime(2026, 3, 7, 16, 0, tzinfo=timezone.utc)
    assert publicity["household_size"] == 3


def test_PU1_opinion_only_after_verification():
    case = domain.register_case(
        {
            "case_id": "c1",
            "case_no": "SGZ-2026-00001",
            "program": "dibao",
            "street_code": "shaogongzhuang",
            "community": "前园社区",
            "accepted_at": POSTED,
        }
    )
    with pytest.raises(Conflict) as raised:
        domain.record_preliminary_opinion(case, "approve", "x", POSTED, CAL, "n")
    assert raised.value.code == "invalid_state"


def test_PU1_publicity_does_not_end_before_its_end():
    case = _publicised()
    end = domain.ends_at(case.current_round)
    with pytest.raises(Conflict):
        domain.end_publicity(case, end - timedelta(seconds=1))
    assert case.status == domain.PUBLICITY


def test_PU2_dibao_without_dispute_skips_deliberation():
    case = _publicised()
    effects = domain.end_publicity(case, domain.ends_at(case.current_round))
    assert case.status == domain.CONCLUDED
    [concluded] = effects.events
    assert concluded.event_type == "publicity.concluded"
    payload = concluded.payload
    assert payload["deliberation_held"] is False and payload["rounds"] == 1
    assert payload["preliminary_opinion"] == "approve"


def test_PU2_tekun_always_deliberates():
    case = _publicised("tekun")
    effects = domain.end_publicity(case, domain.ends_at(case.current_round))
    assert case.status == domain.DELIBERATION and effects.events == []
    assert domain.deliberation_reasons(case) == ["tekun"]


def test_PU3_objection_sends_back_to_investigation_and_then_deliberation():
    case = _publicised()
    domain.record_objection(case, "邻居", "有车辆", POSTED + timedelta(days=1), "sgz-clerk")
    assert case.status == domain.REINVESTIGATION
    assert case.current_round["outcome"] == "objection"
    assert domain.verification_completed(
        case, {"round": 2, "household_size": 3, "report_id": "r2", "completed_at": POSTED}
    ).save
    domain.record_preliminary_opinion(
        case, "approve", "复查后", POSTED + timedelta(days=5), CAL, "n2"
    )
    assert [r["round"] for r in case.rounds] == [1, 2]
    second_end = domain.ends_at(case.current_round)
    domain.end_publicity(case, second_end)
    assert case.status == domain.DELIBERATION  # disputed (PU-2)


def test_PU3_no_objection_after_the_publicity_ended():
    case = _publicised()
    with pytest.raises(Conflict):
        domain.record_objection(case, "邻居", "x", domain.ends_at(case.current_round), "u")
    assert case.status == domain.PUBLICITY and case.objections == []


def test_PU4_major_dispute_opens_10_working_days_for_the_new_opinion():
    case = _publicised()
    effects = domain.record_major_dispute(
        case, "report", "举报隐瞒收入", POSTED + timedelta(days=1), "district-officer", CAL
    )
    [deadline], [dispute] = effects.opened, case.disputes
    assert effects.events[0].event_type == "publicity.reinvestigation_requested"
    assert case.status == domain.REINVESTIGATION and case.awaiting_dispute_opinion
    assert (deadline.rule_id, deadline.unit.value, deadline.amount) == ("PU-4", "WD", 10)
    assert dispute["opinion_due_date"] == "2026-03-17"  # Tue 03-03 + 10 WD
    assert case.deliberation_required


def test_PU4_verification_completed_is_ignored_outside_a_waiting_state():
    case = _publicised()
    assert not domain.verification_completed(
        case, {"round": 2, "household_size": 1, "report_id": "x", "completed_at": POSTED}
    ).save
    assert case.status == domain.PUBLICITY


@pytest.mark.parametrize(
    "members, code",
    [
        (BODY[:4], "body_size"),
        (
            BODY + [{"name": f"代表{i}", "kind": "public_representative"} for i in range(3)],
            "body_size",
        ),
        (
            [
                m if m["kind"] != "committee_staff" else {**m, "kind": "public_representative"}
                for m in BODY
            ],
            "body_kinds",
        ),
        (BODY[:4] + [{"name": "己", "kind": "leader_in_charge"}], "body_kinds"),
        (BODY[:4] + [{"name": "甲", "kind": "public_representative"}], "duplicate_member"),
    ],
)
def test_PU5_body_has_5_to_7_members_of_every_kind(members, code):
    with pytest.raises(ValidationFailed) as raised:
        domain.validate_body(members)
    assert raised.value.field == "members" and raised.value.code == code


def test_PU5_valid_body():
    assert len(domain.validate_body(BODY)) == 5


def _deliberating() -> domain.PublicityCase:
    case = _publicised("tekun")
    domain.end_publicity(case, domain.ends_at(case.current_round))
    return case


@pytest.mark.parametrize(
    "present, signed, approved, field",
    [
        (["甲", "乙"], "甲", date(2026, 3, 9), "members_present"),  # no majority
        (["甲", "乙", "某人"], "甲", date(2026, 3, 9), "members_present"),  # not a member
        (["甲", "乙", "丙"], "乙", date(2026, 3, 9), "signed_off_by"),  # not the leader
        (["甲", "乙", "丙"], "甲", date(2026, 3, 20), "leadership_meeting_approved_on"),  # future
        (["甲", "乙", "丙"], "甲", date(2026, 3, 1), "leadership_meeting_approved_on"),  # before
    ],
)
def test_PU6_deliberation_needs_majority_leader_and_meeting_approval(
    present, signed, approved, field
):
    case = _deliberating()
    with pytest.raises(ValidationFailed) as raised:
        domain.record_deliberation(
            case,
            BODY,
            present,
            "approve",
            "纪要",
            signed,
            approved,
            datetime(2026, 3, 10, 2, tzinfo=timezone.utc),
            "m",
        )
    assert raised.value.field == field
    assert case.status == domain.DELIBERATION


def test_PU6_half_of_the_body_is_not_a_majority():
    body = BODY + [{"name": "己", "kind": "public_representative"}]
    with pytest.raises(ValidationFailed) as raised:
        domain.record_deliberation(
            _deliberating(),
            body,
            ["甲", "乙", "丙"],
            "approve",
            "纪要",
            "甲",
            date(2026, 3, 9),
            datetime(2026, 3, 10, 2, tzinfo=timezone.utc),
            "m",
        )
    assert raised.value.code == "no_quorum"


def test_PU7_deliberation_concludes_with_the_bodys_conclusion():
    case = _deliberating()
    effects = domain.record_deliberation(
        case,
        BODY,
        ["甲", "乙", "丙"],
        "refuse",
        "纪要",
        "甲",
        date(2026, 3, 9),
        datetime(2026, 3, 10, 2, tzinfo=timezone.utc),
        "publicity:doc",
    )
    [minutes] = effects.documents
    assert (minutes.kind, minutes.document_id) == ("deliberation_minutes", "publicity:doc")
    [concluded] = effects.events
    payload = concluded.payload
    assert case.status == domain.CONCLUDED
    assert payload["deliberation_held"] is True and payload["deliberation_conclusion"] == "refuse"
    assert payload["minutes_document_id"] == "publicity:doc"


def test_deliberation_only_in_deliberation_state():
    case = _publicised("tekun")
    with pytest.raises(Conflict):
        domain.record_deliberation(
            case, BODY, ["甲", "乙", "丙"], "approve", "纪要", "甲", date(2026, 3, 9), POSTED, "m"
        )


def test_record_round_trip_keeps_everything():
    case = _publicised()
    domain.record_objection(case, "邻居", "有车辆", POSTED, "sgz-clerk")
    identity = {
        k: getattr(case, k)
        for k in ("case_id", "case_no", "program", "street_code", "status", "since", "version")
    }
    again = domain.PublicityCase.from_row(identity, json.loads(json.dumps(case.to_details())))
    assert again == case and again.disputed
