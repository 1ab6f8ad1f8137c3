"""Verification's handlers through the step skeleton, on an in-memory unit of work (VE-1 to
VE-5; PU-3 and PU-4 on this side).

What a user sees: the reply of each step, the refusals (status, code, field, details), the
events written for the other services (checked against their contracts), the notices issued,
the deadlines opened and met, and the timeline entries.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from hqcore.deadlines import DeadlineStatus
from hqcore.errors import CaseNotFound, Forbidden, InvalidState, ValidationFailed
from hqcore.policy import PolicyRate
from hqcore.steps import CaseNotYetKnown, read_case, run_event, run_periodic, run_step
from hqops.samples import make_id_number
from services.verification import domain, handlers, notices
from services.verification.domain import PersonFindings, VerificationReport
from tests.support import events
from tests.support.fakes import deliver, fake_runtime

MONDAY = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)  # 09:00 in Tianjin
STREET = "shaogongzhuang"
INVESTIGATOR_1 = {
    "user_id": "sgz-investigator-1",
    "role": "investigator",
    "street_code": STREET,
    "name": "调查员甲",
}
INVESTIGATOR_2 = {
    "user_id": "sgz-investigator-2",
    "role": "investigator",
    "street_code": STREET,
    "name": "调查员乙",
}
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": STREET}
OTHER_CLERK = {"user_id": "xgu-clerk", "role": "clerk", "street_code": "xigu"}
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}
WANG = {"name": "王秀英", "id_number": "120106195803027017", "relationship": "self"}
LI = {"name": "李建国", "id_number": "120106196004157020", "relationship": "spouse"}
OBLIGOR = {
    "name": "李明",
    "id_number": "120106198206067911",
    "relationship": "child",
    "authorisation_signed": True,
    "family_members": [
        {"name": "李明之妻", "id_number": make_id_number(14), "relationship": "spouse"}
    ],
}


def rate(
    key: str, value: int, valid_from: date, valid_to: date | None = None, id_: int = 1
) -> PolicyRate:
    return PolicyRate(
        id_,
        key,
        "fen" if key == "dibao_standard" else "n",
        value,
        valid_from,
        valid_to,
        f"source of {key}",
        True,
    )


POLICY = [
    rate("dibao_standard", 101000, date(2024, 9, 1), date(2025, 8, 31), id_=1),
    rate("dibao_standard", 104500, date(2025, 9, 1), id_=2),
    rate("low_income_upper_ratio_permille", 1500, date(2016, 1, 1), id_=3),
    rate("money_assets_months_per_head", 24, date(2013, 1, 1), id_=4),
]


class FakeCity:
    """The city platform: one request per reference; answers from ``registry`` once
    ``answering`` (the simulator's delay is the service tier's business)."""

    def __init__(self) -> None:
        self.registry: dict[str, PersonFindings] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.answering = True

    def commission(self, reference: str, persons: list[dict[str, str]]) -> str:
        if reference not in self.requests:
            self.requests[reference] = {
                "request_id": f"CITY-{len(self.requests) + 1}",
                "persons": [dict(p) for p in persons],
            }
        request_id: str = self.requests[reference]["request_id"]
        return request_id

    def report(self, request_id: str) -> VerificationReport | None:
        if not self.answering:
            return None
        [request] = [r for r in self.requests.values() if r["request_id"] == request_id]
        return VerificationReport(
            f"R-{request_id}",
            request_id,
            MONDAY,
            tuple(
                self.registry.get(p["id_number"], PersonFindings(p["id_number"]))
                for p in request["persons"]
            ),
        )


class FakePolicy:
    def __init__(self, rows: list[PolicyRate]) -> None:
        self.rows = rows

    def in_force(self, keys: tuple[str, ...], day: date) -> dict[str, PolicyRate]:
        found = {
            r.key: r
            for r in sorted(self.rows, key=lambda r: r.valid_from)
            if r.key in keys and r.in_force(day)
        }
        if set(found) != set(keys):
            raise LookupError(f"no row of {set(keys) - set(found)} on {day}")
        return found


class FakePending:
    """``uow.pending`` over the in-memory store (no state of its own)."""

    __slots__ = ("_store",)

    def __init__(self, store: Any) -> None:
        self._store = store

    def city_checks(self, limit: int = 200) -> list[str]:
        return [c.case_id for c in self._store.cases.all() if c.status == domain.CITY_CHECK][:limit]

    def ended_windows(self, status: str, rule_id: str, limit: int = 200) -> list[tuple[str, str]]:
        rows = self._store.cases.rows
        return [
            (d.case_id, d.id)
            for d in self._store.deadlines
            if d.rule_id == rule_id
            and d.status == DeadlineStatus.BREACHED
            and d.case_id in rows
            and rows[d.case_id].status == status
        ][:limit]


@pytest.fixture
def runtime():
    runtime = fake_runtime(
        "verification",
        now=MONDAY,
        view=handlers.view,
        templates=notices.TEMPLATES,
        city=FakeCity(),
        policy=FakePolicy(POLICY),
    )
    runtime.store.repositories["pending"] = FakePending(runtime.store)
    return runtime


def city(runtime) -> FakeCity:
    return runtime.store.repositories["city"]


def accept(
    runtime,
    program: str = "dibao",
    case_id: str = "c1",
    members=(WANG,),
    obligors=(),
    accepted_at: datetime = MONDAY,
) -> None:
    run_event(
        runtime,
        handlers.on_application_accepted,
        events.application_accepted(
            case_id=case_id,
            program=program,
            applicant=members[0],
            members=list(members),
            obligors=list(obligors),
            accepted_at=accepted_at,
        ),
    )


def investigate(
    runtime, actor=INVESTIGATOR_1, case_id: str = "c1", **overrides: Any
) -> dict[str, Any]:
    return run_step(
        runtime,
        handlers.record_investigation,
        actor,
        {
            "case_id": case_id,
            "investigators": [INVESTIGATOR_1, INVESTIGATOR_2],
            "methods": ["household_visit", "neighbour_visits"],
            "findings": "入户查看",
            "applicant_signed": True,
            **overrides,
        },
    )


def pre_review(runtime, actor=CLERK, case_id: str = "c1") -> dict[str, Any]:
    return run_step(
        runtime,
        handlers.pre_review,
        actor,
        {"case_id": case_id, "opinion": "材料齐全", "authorisations_complete": True},
    )


def district_review(runtime, actor=DISTRICT, case_id: str = "c1") -> dict[str, Any]:
    return run_step(
        runtime, handlers.district_review, actor, {"case_id": case_id, "opinion": "同意提请核对"}
    )


def checked(runtime, case_id: str = "c1", **investigation: Any) -> dict[str, Any]:
    investigate(runtime, case_id=case_id, **investigation)
    pre_review(runtime, case_id=case_id)
    return district_review(runtime, case_id=case_id)


def ineligible(runtime) -> None:
    """A dibao case whose report shows a wage above the standard: awaiting an explanation."""
    city(runtime).registry[WANG["id_number"]] = PersonFindings(WANG["id_number"], wages_fen=300000)
    accept(runtime)
    checked(runtime)
    run_periodic(runtime, handlers.collect_city_reports)


def scan(runtime) -> None:
    """What the kit's deadline scanner does: open deadlines past due are breached."""
    for deadline in runtime.store.deadlines:
        if deadline.is_overdue(runtime.fake_clock.now()):
            deadline.breach()


def case_of(runtime, case_id: str = "c1") -> domain.VerificationCase:
    return runtime.store.cases.get(case_id)


def entries(runtime, case_id: str = "c1") -> list[tuple[str, str | None]]:
    return [(e["action"], e["rule_id"]) for e in runtime.store.timeline(case_id)]


def payloads(runtime, event_type: str) -> list[dict[str, Any]]:
    """The events written, as the receiving service loads them (checked by the contract)."""
    return [deliver(e).payload for e in runtime.store.events(event_type)]


def status_of(runtime, rule_id: str, case_id: str = "c1") -> list[str]:
    return [d.status.value for d in runtime.store.deadlines_of(case_id, rule_id)]


# -- VE-1: the case opens ---------------------------------------------------------------------


def test_VE1_accepted_case_awaits_its_investigation_within_3_working_days(runtime):
    accept(runtime, members=(WANG, LI), obligors=(OBLIGOR,))
    view = read_case(runtime, CLERK, "c1")
    assert view["status"] == domain.INVESTIGATION and view["details"]["round"] == 1
    assert [m["name"] for m in view["details"]["members"]] == ["王秀英", "李建国"]
    assert view["details"]["obligors"][0]["family_members"][0]["name"] == "李明之妻"
    assert "timeline" not in view["details"] and view["details"]["documents"] == []
    [ve1] = view["deadlines"]
    assert (ve1["rule_id"], ve1["amount"], ve1["due_date"], ve1["status"]) == (
        "VE-1",
        3,
        "2026-03-05",
        "open",
    )
    [opened] = payloads(runtime, "deadline.opened")
    assert (opened["rule_id"], opened["service"]) == ("VE-1", "verification")
    assert entries(runtime) == [("household registered; investigation due", "VE-1")]
    assert runtime.store.timeline("c1")[0]["step"] == domain.INVESTIGATION


def test_VE1_tekun_investigation_is_due_within_15_working_days(runtime):
    accept(runtime, "tekun")
    [ve1] = runtime.store.deadlines_of("c1", "VE-1")
    assert (ve1.amount, ve1.due_date) == (15, date(2026, 3, 23))


def test_VE1_redelivered_acceptance_is_applied_once(runtime):
    event = events.application_accepted(case_id="c1", accepted_at=MONDAY)
    run_event(runtime, handlers.on_application_accepted, event)
    run_event(runtime, handlers.on_application_accepted, event)
    assert len(runtime.store.cases.all()) == 1
    assert len(runtime.store.deadlines_of("c1", "VE-1")) == 1
    assert len(runtime.store.timeline("c1")) == 1


# -- VE-1, VE-4: the household investigation --------------------------------------------------


def test_VE1_VE4_investigation_by_two_investigators_meets_VE1(runtime):
    accept(runtime)
    runtime.fake_clock.advance(days=1)
    view = investigate(runtime)
    assert view["status"] == domain.INFORMATION_CHECK
    investigation = view["details"]["rounds"][0]["investigation"]
    assert [i["user_id"] for i in investigation["investigators"]] == [
        "sgz-investigator-1",
        "sgz-investigator-2",
    ]
    assert investigation["methods"] == ["household_visit", "neighbour_visits"]
    assert investigation["applicant_signed"] is True
    assert investigation["recorded_at"] == "2026-03-03T01:00:00+00:00"
    assert [d["status"] for d in view["deadlines"]] == ["met"]
    [met] = payloads(runtime, "deadline.met")
    assert met["rule_id"] == "VE-1"
    [_, entry] = runtime.store.timeline("c1")
    assert (entry["action"], entry["rule_id"], entry["note"]) == (
        "household investigation recorded",
        "VE-1",
        "household_visit, neighbour_visits",
    )
    assert (entry["actor_user"], entry["step"]) == ("sgz-investigator-1", domain.INFORMATION_CHECK)


@pytest.mark.parametrize(
    "actor, investigators, error, code, field",
    [
        (CLERK, [INVESTIGATOR_1, INVESTIGATOR_2], Forbidden, "wrong_role", "role"),
        (
            {**INVESTIGATOR_1, "street_code": "xigu"},
            [INVESTIGATOR_1, INVESTIGATOR_2],
            Forbidden,
            "wrong_street",
            "street_code",
        ),
        (
            {**INVESTIGATOR_1, "user_id": "sgz-investigator-3"},
            [INVESTIGATOR_1, INVESTIGATOR_2],
            ValidationFailed,
            "acting_investigator_not_listed",
            "investigators",
        ),
        (
            INVESTIGATOR_1,
            [INVESTIGATOR_1, {**INVESTIGATOR_2, "street_code": "xigu"}],
            ValidationFailed,
            "not_a_street_investigator",
            "investigators",
        ),
        (
            INVESTIGATOR_1,
            [INVESTIGATOR_1, {**CLERK, "name": "经办"}],
            ValidationFailed,
            "not_a_street_investigator",
            "investigators",
        ),
        (INVESTIGATOR_1, [INVESTIGATOR_1], ValidationFailed, "validation_failed", "investigators"),
    ],
)
def test_VE1_investigation_refused_unless_two_investigators_of_the_street_record_it(
    runtime, actor, investigators, error, code, field
):
    accept(runtime)
    before = case_of(runtime)
    with pytest.raises(error) as refused:
        investigate(runtime, actor=actor, investigators=investigators)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert case_of(runtime) == before and status_of(runtime, "VE-1") == ["open"]
    assert len(runtime.store.timeline("c1")) == 1


def test_VE4_the_applicant_signs_and_the_methods_are_known(runtime):
    accept(runtime)
    for overrides, field in (
        ({"applicant_signed": False}, "applicant_signed"),
        ({"methods": ["phone_call"]}, "methods.0"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            investigate(runtime, **overrides)
        assert refused.value.field == field
    assert case_of(runtime).status == domain.INVESTIGATION


def test_VE1_tekun_investigation_assesses_self_care(runtime):
    accept(runtime, "tekun")
    with pytest.raises(ValidationFailed) as refused:
        investigate(runtime)
    assert (refused.value.code, refused.value.field) == ("self_care_required", "self_care")
    view = investigate(runtime, self_care="partly_unable")
    assert view["details"]["rounds"][0]["investigation"]["self_care"] == "partly_unable"


def test_VE1_steps_refuse_the_wrong_state_and_an_unknown_case(runtime):
    accept(runtime)
    investigate(runtime)
    with pytest.raises(InvalidState) as refused:
        investigate(runtime)
    assert (refused.value.http_status, refused.value.code, refused.value.field) == (
        409,
        "invalid_state",
        "case_id",
    )
    assert refused.value.details == {
        "status": domain.INFORMATION_CHECK,
        "allowed": [domain.INVESTIGATION],
    }
    with pytest.raises(CaseNotFound) as missing:
        investigate(runtime, case_id="nope")
    assert (missing.value.http_status, missing.value.code) == (404, "case_not_found")


# -- VE-2: the information check and the city's report ----------------------------------------


def test_VE2_pre_review_then_district_review_commissions_the_city_check(runtime):
    accept(runtime, members=(WANG, LI), obligors=(OBLIGOR,))
    with pytest.raises(InvalidState):
        pre_review(runtime)
    investigate(runtime)
    with pytest.raises(InvalidState) as refused:
        district_review(runtime)
    assert refused.value.details["allowed"] == [domain.DISTRICT_CHECK]
    with pytest.raises(Forbidden) as wrong_street:
        pre_review(runtime, actor=OTHER_CLERK)
    assert wrong_street.value.code == "wrong_street"
    with pytest.raises(ValidationFailed) as unsigned:
        run_step(
            runtime,
            handlers.pre_review,
            CLERK,
            {"case_id": "c1", "opinion": "x", "authorisations_complete": False},
        )
    assert unsigned.value.field == "authorisations_complete"
    assert pre_review(runtime)["status"] == domain.DISTRICT_CHECK
    with pytest.raises(Forbidden) as wrong_role:
        district_review(runtime, actor=CLERK)
    assert wrong_role.value.code == "wrong_role"
    view = district_review(runtime)
    assert view["status"] == domain.CITY_CHECK
    assert [(c["stage"], c["by"]) for c in view["details"]["rounds"][0]["checks"]] == [
        ("pre_review", "sgz-clerk"),
        ("district_review", "district-officer"),
    ]
    [request] = city(runtime).requests.values()
    assert city(runtime).requests.keys() == {"c1/1"}
    assert [(p["name"], p["role"]) for p in request["persons"]] == [
        ("王秀英", "member"),
        ("李建国", "member"),
        ("李明", "obligor"),
        ("李明之妻", "obligor_family"),
    ]
    assert entries(runtime)[-2:] == [
        ("pre-reviewed; sent to the district verification agency", "VE-2"),
        ("district reviewed; city verification commissioned", "VE-2"),
    ]
    assert runtime.store.timeline("c1")[-1]["note"] == "同意提请核对"


def test_VE2_eligible_report_verifies_the_family_and_tells_publicity(runtime):
    registry = city(runtime).registry
    registry[WANG["id_number"]] = PersonFindings(
        WANG["id_number"], pension_fen=45000, deposits_fen=200000
    )
    registry[LI["id_number"]] = PersonFindings(LI["id_number"], pension_fen=40000)
    registry[OBLIGOR["id_number"]] = PersonFindings(OBLIGOR["id_number"], wages_fen=850000)
    accept(runtime, members=(WANG, LI), obligors=(OBLIGOR,))
    checked(runtime)
    run_periodic(runtime, handlers.collect_city_reports)
    view = read_case(runtime, CLERK, "c1")
    assert view["status"] == domain.VERIFIED
    this_round = view["details"]["rounds"][0]
    means = this_round["means_test"]
    assert (
        means["eligible"],
        means["household_size"],
        means["income_per_head_fen"],
        means["money_assets_fen"],
        means["assessed_on"],
    ) == (True, 2, 42500, 200000, "2026-03-02")
    assert means["policy_rows"][0] == {
        "id": 2,
        "key": "dibao_standard",
        "unit": "fen",
        "value": 104500,
        "valid_from": "2025-09-01",
        "source": "source of dibao_standard",
        "verified": True,
    }
    persons = {p["id_number"]: p for p in this_round["report"]["persons"]}
    assert persons[OBLIGOR["id_number"]]["income"]["total_fen"] == 850000  # shown, not counted
    assert persons[WANG["id_number"]]["money_assets"] == {
        "deposits_fen": 200000,
        "securities_fen": 0,
        "total_fen": 200000,
    }
    [completed] = payloads(runtime, "verification.completed")
    assert (
        completed["round"],
        completed["household_size"],
        completed["income_per_head_fen"],
        completed["money_assets_fen"],
        completed["report_id"],
    ) == (1, 2, 42500, 200000, "R-CITY-1")
    assert completed["means_test"]["explanation_accepted"] is False
    assert completed["means_test"]["policy_rows"] == means["policy_rows"]
    assert entries(runtime)[-1] == ("verification report: eligible", "VE-2")
    run_periodic(runtime, handlers.collect_city_reports)  # nothing left to collect
    assert len(payloads(runtime, "verification.completed")) == 1


def test_VE2_a_report_not_yet_issued_changes_nothing(runtime):
    city(runtime).answering = False
    accept(runtime)
    checked(runtime)
    before = case_of(runtime)
    run_periodic(runtime, handlers.collect_city_reports)
    assert case_of(runtime) == before  # not saved: same version
    assert payloads(runtime, "verification.completed") == []
    city(runtime).answering = True
    run_periodic(runtime, handlers.collect_city_reports)
    assert case_of(runtime).status == domain.VERIFIED
    assert len(city(runtime).requests) == 1  # the same request, asked again


def test_VE2_means_test_uses_the_standard_in_force_on_the_acceptance_date(runtime):
    # 1,020 yuan a month: below 1,045 (from 2025-09-01) but not below 1,010 (before).
    city(runtime).registry[WANG["id_number"]] = PersonFindings(
        WANG["id_number"], pension_fen=102000
    )
    accept(runtime, accepted_at=datetime(2025, 8, 20, 2, tzinfo=timezone.utc))
    checked(runtime)
    run_periodic(runtime, handlers.collect_city_reports)
    means = case_of(runtime).current_round.means_test
    assert means is not None and not means.eligible
    assert (means.standard_fen, means.assessed_on) == (101000, date(2025, 8, 20))
    assert means.policy_rows[0]["id"] == 1


def test_VE2_a_missing_policy_row_leaves_the_case_waiting(runtime):
    runtime.store.repositories["policy"].rows = POLICY[2:]
    accept(runtime)
    checked(runtime)
    run_periodic(runtime, handlers.collect_city_reports)  # logged, tried again next run
    assert case_of(runtime).status == domain.CITY_CHECK
    runtime.store.repositories["policy"].rows = POLICY
    run_periodic(runtime, handlers.collect_city_reports)
    assert case_of(runtime).status == domain.VERIFIED


# -- VE-3: not eligible -----------------------------------------------------------------------


def test_VE3_not_eligible_serves_a_notice_with_4_working_days_to_explain(runtime):
    ineligible(runtime)
    view = read_case(runtime, CLERK, "c1")
    assert view["status"] == domain.AWAITING_EXPLANATION
    [ve3] = [d for d in view["deadlines"] if d["rule_id"] == "VE-3"]
    assert (ve3["amount"], ve3["due_date"], ve3["status"]) == (4, "2026-03-06", "open")
    assert view["details"]["rounds"][0]["explanation_deadline_id"] == ve3["id"]
    [notice] = view["details"]["documents"]
    assert (notice["kind"], notice["title"]) == ("ineligibility_notice", "不符合条件告知书")
    assert notice["served_at"] == notice["issued_at"] == MONDAY
    html = runtime.store.documents[notice["document_id"]].html
    assert domain.REASONS["income"] in html and "王秀英" in html
    assert "2026年3月6日" in html and "3000.00" in html
    [entry] = [e for e in runtime.store.timeline("c1") if e["rule_id"] == "VE-3"]
    assert (entry["action"], entry["note"], entry["document_ids"]) == (
        "not eligible: written notice served",
        domain.REASONS["income"],
        [notice["document_id"]],
    )
    assert payloads(runtime, "verification.completed") == []


def test_VE3_accepted_explanation_verifies_and_meets_the_window(runtime):
    ineligible(runtime)
    with pytest.raises(Forbidden):
        run_step(
            runtime,
            handlers.record_explanation,
            INVESTIGATOR_1,
            {"case_id": "c1", "explanation": "x", "accepted": True},
        )
    with pytest.raises(ValidationFailed) as empty:
        run_step(
            runtime,
            handlers.record_explanation,
            CLERK,
            {"case_id": "c1", "explanation": "", "accepted": True},
        )
    assert empty.value.field == "explanation"
    view = run_step(
        runtime,
        handlers.record_explanation,
        CLERK,
        {"case_id": "c1", "explanation": "已离职，提供解除劳动合同证明", "accepted": True},
    )
    assert view["status"] == domain.VERIFIED
    assert view["details"]["rounds"][0]["explanation"]["by"] == "sgz-clerk"
    assert status_of(runtime, "VE-3") == ["met"]
    [completed] = payloads(runtime, "verification.completed")
    assert completed["means_test"]["explanation_accepted"] is True
    assert completed["means_test"]["eligible"] is False
    assert entries(runtime)[-1] == ("explanation accepted; verified", "VE-3")
    assert payloads(runtime, "verification.non_confirmation_proposed") == []


def test_VE3_rejected_explanation_proposes_non_confirmation(runtime):
    ineligible(runtime)
    view = run_step(
        runtime,
        handlers.record_explanation,
        CLERK,
        {"case_id": "c1", "explanation": "无正当理由", "accepted": False},
    )
    assert view["status"] == domain.NON_CONFIRMATION_PROPOSED
    [proposed] = payloads(runtime, "verification.non_confirmation_proposed")
    assert proposed["reasons"] == [domain.REASONS["income"]]
    assert proposed["report_id"] == "R-CITY-1"
    assert status_of(runtime, "VE-3") == ["met"]
    assert entries(runtime)[-1] == ("explanation not accepted: non-confirmation proposed", "VE-3")


def test_VE3_no_explanation_within_4_working_days_proposes_non_confirmation_once(runtime):
    ineligible(runtime)
    runtime.fake_clock.current = datetime(2026, 3, 6, 15, 59, tzinfo=timezone.utc)  # 23:59
    scan(runtime)
    run_periodic(runtime, handlers.end_explanation_windows)
    assert case_of(runtime).status == domain.AWAITING_EXPLANATION
    runtime.fake_clock.advance(minutes=2)
    scan(runtime)
    run_periodic(runtime, handlers.end_explanation_windows)
    run_periodic(runtime, handlers.end_explanation_windows)  # another instance, later
    assert case_of(runtime).status == domain.NON_CONFIRMATION_PROPOSED
    assert status_of(runtime, "VE-3") == ["breached"]
    [proposed] = payloads(runtime, "verification.non_confirmation_proposed")
    assert proposed["reasons"] == [domain.REASONS["income"]]
    entry = runtime.store.timeline("c1")[-1]
    assert (entry["action"], entry["rule_id"], entry["actor_user"]) == (
        "no explanation within 4 WD: non-confirmation proposed",
        "VE-3",
        None,
    )
    with pytest.raises(InvalidState):
        run_step(
            runtime,
            handlers.record_explanation,
            CLERK,
            {"case_id": "c1", "explanation": "迟到的说明", "accepted": True},
        )


def test_VE3_a_window_that_is_not_the_current_one_is_skipped(runtime):
    ineligible(runtime)
    [window] = runtime.store.deadlines_of("c1", "VE-3")
    window.id = "an-earlier-window"
    window.breach()
    run_periodic(runtime, handlers.end_explanation_windows)  # Conflict: skipped
    assert case_of(runtime).status == domain.AWAITING_EXPLANATION
    assert payloads(runtime, "verification.non_confirmation_proposed") == []


# -- VE-5: an untruthful declaration ----------------------------------------------------------


def test_VE5_untruthful_declaration_serves_a_notice_and_correction_resumes_the_case(runtime):
    accept(runtime)
    investigate(runtime)
    view = run_step(
        runtime,
        handlers.record_untruthful_declaration,
        CLERK,
        {"case_id": "c1", "detail": "未申报存款"},
    )
    assert view["status"] == domain.AWAITING_CORRECTION
    declaration = view["details"]["untruthful_declaration"]
    assert declaration["resume_state"] == domain.INFORMATION_CHECK
    [ve5] = [d for d in view["deadlines"] if d["rule_id"] == "VE-5"]
    assert (ve5["amount"], ve5["due_date"], ve5["id"]) == (
        5,
        "2026-03-09",
        declaration["deadline_id"],
    )
    [notice] = view["details"]["documents"]
    assert (notice["kind"], notice["title"]) == ("correction_notice", "限期更正告知书")
    html = runtime.store.documents[notice["document_id"]].html
    assert "未申报存款" in html and "2026年3月9日" in html
    assert runtime.store.timeline("c1")[-1]["document_ids"] == [notice["document_id"]]
    with pytest.raises(InvalidState):
        pre_review(runtime)

    view = run_step(
        runtime,
        handlers.record_correction,
        CLERK,
        {"case_id": "c1", "detail": "已补充申报存款2000元"},
    )
    assert view["status"] == domain.INFORMATION_CHECK
    assert (
        view["details"]["untruthful_declaration"]["correction"]["detail"] == "已补充申报存款2000元"
    )
    assert status_of(runtime, "VE-5") == ["met"]
    entry = runtime.store.timeline("c1")[-1]
    assert (entry["action"], entry["rule_id"], entry["note"]) == (
        "declaration corrected; resumes at information_check",
        "VE-5",
        "已补充申报存款2000元",
    )
    assert payloads(runtime, "verification.withdrawn") == []


def test_VE5_uncorrected_declaration_is_deemed_withdrawn_and_nothing_more_is_owed(runtime):
    accept(runtime, "tekun")
    with pytest.raises(InvalidState) as refused:
        run_step(runtime, handlers.record_correction, CLERK, {"case_id": "c1", "detail": "x"})
    assert refused.value.details["allowed"] == [domain.AWAITING_CORRECTION]
    run_step(
        runtime,
        handlers.record_untruthful_declaration,
        CLERK,
        {"case_id": "c1", "detail": "未申报名下机动车一辆"},
    )
    runtime.fake_clock.current = datetime(2026, 3, 9, 16, 1, tzinfo=timezone.utc)
    scan(runtime)
    run_periodic(runtime, handlers.end_correction_windows)
    run_periodic(runtime, handlers.end_correction_windows)  # another instance, later
    view = read_case(runtime, CLERK, "c1")
    assert view["status"] == domain.WITHDRAWN
    assert [d["title"] for d in view["details"]["documents"]] == [
        "限期更正告知书",
        "视为撤回申请告知书",
    ]
    withdrawal = runtime.store.documents[view["details"]["documents"][1]["document_id"]]
    assert "视为撤回申请" in withdrawal.html and "2026年3月9日" in withdrawal.html
    [withdrawn] = payloads(runtime, "verification.withdrawn")
    assert "未申报名下机动车一辆" in withdrawn["reason"]
    # The tekun investigation (VE-1: 15 WD, due 2026-03-23) is owed no more: met, not breached.
    assert status_of(runtime, "VE-1") == ["met"] and status_of(runtime, "VE-5") == ["breached"]
    entry = runtime.store.timeline("c1")[-1]
    assert (entry["action"], entry["rule_id"], entry["closed"], entry["document_ids"]) == (
        "not corrected in time: deemed withdrawn",
        "VE-5",
        True,
        [withdrawal.document_id],
    )
    with pytest.raises(InvalidState):
        run_step(
            runtime,
            handlers.record_untruthful_declaration,
            CLERK,
            {"case_id": "c1", "detail": "again"},
        )


# -- PU-3, PU-4: reinvestigation on this side -------------------------------------------------


def verified(runtime) -> None:
    accept(runtime)
    checked(runtime)
    run_periodic(runtime, handlers.collect_city_reports)
    assert case_of(runtime).status == domain.VERIFIED


def test_PU3_objection_opens_round_two_with_a_new_VE1_deadline(runtime):
    verified(runtime)
    requested_at = datetime(2026, 3, 10, 2, tzinfo=timezone.utc)  # Tuesday
    event = events.reinvestigation_requested(
        case_id="c1", cause="objection", detail="邻居反映其子有车", requested_at=requested_at
    )
    run_event(runtime, handlers.on_reinvestigation_requested, event)
    run_event(runtime, handlers.on_reinvestigation_requested, event)  # redelivered
    view = read_case(runtime, CLERK, "c1")
    assert (view["status"], view["details"]["round"]) == (domain.INVESTIGATION, 2)
    assert view["details"]["rounds"][1]["cause"] == "objection"
    assert [(d.status.value, d.due_date) for d in runtime.store.deadlines_of("c1", "VE-1")] == [
        ("met", date(2026, 3, 5)),
        ("open", date(2026, 3, 13)),
    ]
    entry = runtime.store.timeline("c1")[-1]
    assert (entry["action"], entry["rule_id"], entry["note"]) == (
        "reinvestigation requested: round 2",
        "PU-3",
        "邻居反映其子有车",
    )
    checked(runtime)
    assert city(runtime).requests.keys() == {"c1/1", "c1/2"}
    run_periodic(runtime, handlers.collect_city_reports)
    assert [c["round"] for c in payloads(runtime, "verification.completed")] == [1, 2]


def test_PU4_major_dispute_reinvestigation_is_recorded_under_PU4(runtime):
    verified(runtime)
    run_event(
        runtime,
        handlers.on_reinvestigation_requested,
        events.reinvestigation_requested(
            case_id="c1", cause="major_dispute", detail="举报隐瞒收入"
        ),
    )
    assert case_of(runtime).status == domain.INVESTIGATION
    assert entries(runtime)[-1] == ("reinvestigation requested: round 2", "PU-4")


def test_PU3_reinvestigation_of_a_case_not_verified_changes_nothing(runtime):
    accept(runtime)
    before = case_of(runtime)
    event = events.reinvestigation_requested(case_id="c1")
    run_event(runtime, handlers.on_reinvestigation_requested, event)
    assert case_of(runtime) == before and len(runtime.store.timeline("c1")) == 1
    assert (event.event_id, "on_reinvestigation_requested") in runtime.store.seen  # no retry


def test_PU3_reinvestigation_before_its_case_is_retried_not_dropped(runtime):
    event = events.reinvestigation_requested(case_id="c1")
    with pytest.raises(CaseNotYetKnown):
        run_event(runtime, handlers.on_reinvestigation_requested, event)
    assert runtime.store.seen == set()  # not claimed: the redelivery is applied
    verified(runtime)
    run_event(runtime, handlers.on_reinvestigation_requested, event)
    assert case_of(runtime).round == 2


# -- reads ------------------------------------------------------------------------------------


def test_get_case_is_for_the_cases_street_and_the_district(runtime):
    accept(runtime)
    assert read_case(runtime, DISTRICT, "c1")["case_id"] == "c1"
    with pytest.raises(Forbidden) as refused:
        read_case(runtime, OTHER_CLERK, "c1")
    assert refused.value.code == "wrong_street"
    with pytest.raises(CaseNotFound):
        read_case(runtime, CLERK, "nope")


def test_an_old_record_keeps_loading(runtime):
    """Rows written before the typed case: unknown keys (the old timeline, documents) are
    ignored; the typed fields load from the same keys."""
    accept(runtime)
    stored = case_of(runtime).to_details()
    old = {**stored, "timeline": [{"action": "x"}], "documents": [{"document_id": "d"}]}
    case = domain.VerificationCase.from_row(
        {
            "case_id": "c1",
            "case_no": "SGZ-2026-00001",
            "program": "dibao",
            "street_code": STREET,
            "status": domain.INVESTIGATION,
            "since": MONDAY,
        },
        old,
    )
    assert case == case_of(runtime)
    assert case.applicant.name == "王秀英" and case.rounds[0].cause == "application"
    assert case.accepted_at == MONDAY and isinstance(case.members[0], domain.Person)
    assert not hasattr(case, "timeline")
