"""Supervision's pure rules: register, current step whatever the order, deadlines, worklists,
new recipients (SU-1 to SU-3)."""
from datetime import datetime, timedelta, timezone

import pytest

from hqcore.authz import ROLES
from services.supervision import domain

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def accepted(**overrides) -> dict:
    person = {"name": "王秀英", "id_number": "11010519491231002X", "relationship": "self"}
    return {"case_id": "c-1", "case_no": "SGZ-2026-00001", "program": "dibao",
            "street_code": "shaogongzhuang", "community": "前园社区", "applicant": person,
            "members": [person, {**person, "relationship": "spouse"}], "near_relative": False,
            "accepted_at": T0, **overrides}


def entry(step: str, hours: float, service: str = "verification", closed: bool = False) -> dict:
    return {"step": step, "service": service, "at": T0 + timedelta(hours=hours),
            "closed": closed}


def test_accepted_case_enters_the_register_at_intakes_step():
    row = domain.register_entry(accepted(near_relative=True))
    assert (row["step"], row["service"], row["step_at"]) == ("accepted", "intake", T0)
    assert row["near_relative"] is True and row["household_size"] == 2
    assert row["closed"] is False and row["closed_at"] is None


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_current_step_is_the_newest_entry_whatever_the_arrival_order(order):
    entries = [entry("investigation", 1), entry("information_check", 30),
               entry("publicity", 100, service="publicity")]
    state = domain.register_entry(accepted())
    for index in order:
        state = {**state, **domain.current_step(state, [entries[index]])}
    assert (state["step"], state["service"]) == ("publicity", "publicity")
    assert state["step_at"] == T0 + timedelta(hours=100)


def test_an_older_entry_never_moves_the_step_back():
    state = {"step": "head_consent", "service": "decision", "step_at": T0 + timedelta(days=9),
             "closed": False, "closed_at": None}
    assert domain.current_step(state, [entry("verified", 50)])["step"] == "head_consent"


def test_passive_steps_go_on_the_timeline_but_never_become_current():
    state = domain.register_entry(accepted())
    state = {**state, **domain.current_step(state, [entry("investigation", 1)])}
    later = domain.current_step(state, [entry("awaiting_file", 5, service="decision"),
                                        entry("closed", 6, service="intake")])
    assert later["step"] == "investigation"


def test_a_case_once_closed_stays_closed_from_its_first_closing_entry():
    state = domain.register_entry(accepted())
    state = {**state, **domain.current_step(state, [entry("approved", 50, "decision", True)])}
    state = {**state, **domain.current_step(state, [entry("scheduled", 60, "payments")])}
    state = {**state, **domain.current_step(state, [entry("withdrawn", 40, closed=True)])}
    assert state["closed"] is True and state["closed_at"] == T0 + timedelta(hours=40)
    assert state["step"] == "scheduled"


def test_timeline_entry_keeps_the_event_fields():
    progressed = {"case_id": "c-1", "street_code": "shaogongzhuang", "service": "verification",
                  "step": "information_check", "action": "household investigation recorded",
                  "actor_user": "sgz-investigator-1", "actor_role": "investigator",
                  "rule_id": "VE-1", "note": None, "document_ids": ["verification:1"],
                  "closed": False, "at": T0, "case_no": None, "program": None}
    row = domain.timeline_entry(progressed, "e-1")
    assert row["event_id"] == "e-1" and row["document_ids"] == ["verification:1"]
    assert "case_no" not in row and row["rule_id"] == "VE-1"


@pytest.mark.parametrize("current, incoming, after", [
    (None, "open", "open"), ("open", "met", "met"), ("open", "breached", "breached"),
    ("met", "open", "met"), ("breached", "open", "breached"), ("breached", "met", "breached"),
    (None, "met", "met"),
])
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
    assert "information_check" in domain.steps_for_role("clerk")          # VE-2
    assert not set(domain.STEP_ROLES) & domain.PASSIVE_STEPS
    assert all(roles <= set(ROLES) for roles in domain.STEP_ROLES.values())


def decision(**overrides) -> dict:
    return {"case_id": "c-1", "case_no": "SGZ-2026-00001", "program": "dibao",
            "street_code": "shaogongzhuang", "community": "前园社区", "outcome": "approved",
            "authority": "street", "decided_at": datetime(2026, 3, 31, 17, 0, tzinfo=timezone.utc),
            "monthly_amount_fen": 104500, "recipients": [], "payee_kind": "recipient",
            **overrides}


def test_SU3_near_relative_dibao_approval_needs_a_household_check():
    row = domain.new_recipient(decision(), {"near_relative": True})
    assert row["household_check_required"] is True and row["near_relative"] is True
    assert row["month"] == "2026-04"  # 01:00 on 1 April in Tianjin


@pytest.mark.parametrize("program, near_relative", [
    ("dibao", False), ("low_income", True), ("tekun", True)])
def test_SU3_other_approvals_need_no_household_check(program, near_relative):
    row = domain.new_recipient(decision(program=program), {"near_relative": near_relative})
    assert row["household_check_required"] is False


@pytest.mark.parametrize("outcome", ["refused", "non_confirmed"])
def test_SU1_only_approvals_are_new_recipients(outcome):
    assert domain.new_recipient(decision(outcome=outcome), {"near_relative": True}) is None


def test_pages():
    assert domain.offset(1, 20) == 0 and domain.offset(3, 20) == 40
    assert domain.page_of([1], 2, 1, 5) == {"items": [1], "page": 2, "per_page": 1, "total": 5}
