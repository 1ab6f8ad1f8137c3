"""Supervision's pure rules: register, current step whatever the order, deadlines, worklists,
new recipients (ORG-3, SU-1 to SU-5, DE-4)."""

from datetime import datetime, timedelta, timezone

import pytest

from hqcore.authz import ROLES
from services.supervision import domain

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def accepted(**overrides) -> dict:
    person = {"name": "王秀英", "id_number": "11010519491231002X", "relationship": "self"}
    return {
        "case_id": "c-1",
        "case_no": "SGZ-2026-00001",
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "applicant": person,
        "members": [person, {**person, "relationship": "spouse"}],
        "near_relative": False,
        "accepted_at": T0,
        **overrides,
    }


def entry(
    step: str,
    hours: float,
    service: str = "verification",
    closed: bool = False,
) -> domain.TimelineEntry:
    return domain.timeline_entry(
        {
            "case_id": "c-1",
            "street_code": "shaogongzhuang",
            "service": service,
            "step": step,
            "action": "step",
            "closed": closed,
            "at": T0 + timedelta(hours=hours),
        },
        f"e-{step}-{hours}",
    )


def test_ORG3_SU3_accepted_case_enters_the_register_at_intakes_step():
    case = domain.register_case(accepted(near_relative=True))
    assert (case.current_step, case.current_service, case.step_at) == ("accepted", "intake", T0)
    assert (case.status, case.since) == (domain.IN_PROCEDURE, T0)
    assert case.near_relative is True and case.household_size == 2
    assert case.household_check_required is True  # SU-3: a near-relative dibao family
    assert case.closed is False and case.closed_at is None


def test_entries_that_came_before_the_acceptance_are_taken_into_account():
    case = domain.register_case(accepted(), [entry("investigation", 1)])
    assert (case.current_step, case.since) == ("investigation", T0 + timedelta(hours=1))


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_current_step_is_the_newest_entry_whatever_the_arrival_order(order):
    entries = [
        entry("investigation", 1),
        entry("information_check", 30),
        entry("publicity", 100, service="publicity"),
    ]
    case = domain.register_case(accepted())
    for index in order:
        domain.advance(case, [entries[index]])
    assert (case.current_step, case.current_service) == ("publicity", "publicity")
    assert case.step_at == case.since == T0 + timedelta(hours=100)


def test_an_older_entry_never_moves_the_step_back():
    case = domain.register_case(accepted(), [entry("head_consent", 9 * 24, "decision")])
    assert domain.advance(case, [entry("verified", 50)]) is False  # nothing to save
    assert case.current_step == "head_consent"


def test_passive_steps_go_on_the_timeline_but_never_become_current():
    case = domain.register_case(accepted(), [entry("investigation", 1)])
    domain.advance(
        case, [entry("awaiting_file", 5, service="decision"), entry("closed", 6, service="intake")]
    )
    assert case.current_step == "investigation"


def test_a_case_once_closed_stays_closed_from_its_first_closing_entry():
    case = domain.register_case(accepted())
    domain.advance(case, [entry("approved", 50, "decision", True)])
    domain.advance(case, [entry("scheduled", 60, "payments")])
    assert domain.advance(case, [entry("withdrawn", 40, closed=True)]) is True
    assert case.closed is True and case.closed_at == T0 + timedelta(hours=40)
    assert (case.status, case.current_step) == (domain.CLOSED, "scheduled")


def test_timeline_entry_keeps_the_event_fields():
    progressed = {
        "case_id": "c-1",
        "street_code": "shaogongzhuang",
        "service": "verification",
        "step": "information_check",
        "action": "household investigation recorded",
        "actor_user": "sgz-investigator-1",
        "actor_role": "investigator",
        "rule_id": "VE-1",
        "note": None,
        "document_ids": ["verification:1"],
        "closed": False,
        "at": T0,
        "case_no": None,
        "program": None,
    }
    row = domain.timeline_entry(progressed, "e-1")
    assert row.event_id == "e-1" and row.document_ids == ["verification:1"]
    assert not hasattr(row, "case_no") and row.rule_id == "VE-1"
    assert (row.actor_user, row.actor_role, row.at) == ("sgz-investigator-1", "investigator", T0)


@pytest.mark.parametrize(
    "current, incoming, after",
    [
        (None, "open", "open"),
        ("open", "met", "met"),
        ("open", "breached", "breached"),
        ("met", "open", "met"),
        ("breached", "open", "breached"),
        ("breached", "met", "breached"),
        (None, "met", "met"),
    ],
)
def test_met_and_breached_are_final(current, incoming, after):
    assert domain.deadline_status(current, incoming) == after


def test_overdue_is_breached_or_open_past_due():
    due = T0 + timedelta(days=1)
    assert domain.is_overdue("open", due, due + timedelta(seconds=1)) is True
    assert domain.is_overdue("open", due, due) is False
    assert domain.is_overdue("breached", due, T0) is True
    assert domain.is_overdue("met", due, due + timedelta(days=9)) is False


def test_worklist_steps_follow_the_procedure_table():
    assert domain.steps_for_role("investigator") == ("investigation", "reinvestigation")
    assert domain.steps_for_role("reviewer") == ("management_review", "non_confirmation_proposed")
    assert domain.steps_for_role("department_head") == ("head_consent",)
    assert domain.steps_for_role("street_leader") == ("leader_decision",)
    assert "district_check" in domain.steps_for_role("district_officer")  # VE-2
    assert "information_check" in domain.steps_for_role("clerk")  # VE-2
    assert not set(domain.STEP_ROLES) & domain.PASSIVE_STEPS
    assert all(roles <= set(ROLES) for roles in domain.STEP_ROLES.values())


def decision(**overrides) -> dict:
    return {
        "case_id": "c-1",
        "case_no": "SGZ-2026-00001",
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "outcome": "approved",
        "authority": "street",
        "decided_at": datetime(2026, 3, 31, 17, 0, tzinfo=timezone.utc),
        "monthly_amount_fen": 104500,
        "recipients": [],
        "payee_kind": "recipient",
        **overrides,
    }


def registered(program: str = "dibao", near_relative: bool = True) -> domain.RegisteredCase:
    return domain.register_case(accepted(program=program, near_relative=near_relative))


def test_SU3_near_relative_dibao_approval_needs_a_household_check():
    row = domain.new_recipient(decision(), registered())
    assert row.household_check_required is True and row.near_relative is True
    assert row.month == "2026-04"  # 01:00 on 1 April in Tianjin
    assert (row.first_payment_month, row.payee_kind) == (None, "recipient")


@pytest.mark.parametrize(
    "program, near_relative", [("dibao", False), ("low_income", True), ("tekun", True)]
)
def test_SU3_other_approvals_need_no_household_check(program, near_relative):
    row = domain.new_recipient(decision(program=program), registered(program, near_relative))
    assert row.household_check_required is False


@pytest.mark.parametrize("outcome", ["refused", "non_confirmed"])
def test_SU1_only_approvals_are_new_recipients(outcome):
    assert domain.new_recipient(decision(outcome=outcome), registered()) is None


def deadline(**overrides) -> dict:
    return {
        "deadline_id": "d-1",
        "service": "decision",
        "rule_id": "DE-4",
        "case_id": "c-1",
        "street_code": "shaogongzhuang",
        "unit": "WD",
        "amount": 30,
        "due_at": T0 + timedelta(days=42),
        "provisional": False,
        **overrides,
    }


def test_DE4_deadline_record_follows_the_reports_and_never_reopens():
    opened = domain.record_deadline(None, deadline(), domain.DEADLINE_OPEN, T0)
    assert (opened.status, opened.amount, opened.met_at, opened.breached_at) == (
        "open",
        30,
        None,
        None,
    )
    extended = domain.record_deadline(opened, deadline(amount=45), domain.DEADLINE_OPEN, T0)
    assert extended.amount == 45  # DE-4: extended to 45 WD
    breached = domain.record_deadline(
        extended, deadline(amount=45), domain.DEADLINE_BREACHED, T0 + timedelta(days=70)
    )
    assert (breached.status, breached.breached_at) == ("breached", T0 + timedelta(days=70))
    late = domain.record_deadline(breached, deadline(amount=45), domain.DEADLINE_OPEN, T0)
    assert (late.status, late.breached_at) == ("breached", T0 + timedelta(days=70))
    view = domain.deadline_view(late, T0)
    assert view["overdue"] is True and view["rule_id"] == "DE-4"


def test_SU5_breach_entry_keeps_the_reported_fields():
    breach = domain.breach_entry(deadline(), T0)
    assert (breach.rule_id, breach.case_id, breach.recorded_at) == ("DE-4", "c-1", T0)


def test_ORG3_street_staff_see_their_street_the_district_every_street():
    assert domain.scoped_street(None, "xigu", False) == "xigu"
    assert domain.scoped_street("shaogongzhuang", "xigu", False) == "shaogongzhuang"  # refused
    assert domain.scoped_street(None, None, True) is None
    assert domain.scoped_street("xigu", None, True) == "xigu"
    assert domain.timeline_street(registered(), []) == "shaogongzhuang"
    early = domain.timeline_entry(
        {
            "case_id": "c-1",
            "street_code": "xigu",
            "service": "s",
            "step": "x",
            "action": "y",
            "at": T0,
        },
        "e-1",
    )
    assert domain.timeline_street(None, [early]) == "xigu"
    assert domain.timeline_street(None, []) is None


def test_pages():
    assert domain.offset(1, 20) == 0 and domain.offset(3, 20) == 40
    assert domain.page_of([{"a": 1}], 2, 1, 5) == {
        "items": [{"a": 1}],
        "page": 2,
        "per_page": 1,
        "total": 5,
    }
