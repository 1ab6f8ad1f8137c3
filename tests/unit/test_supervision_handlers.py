"""Supervision's handlers through the step skeleton, on an in-memory unit of work (ORG-3, SU-1
to SU-5, and the DE-4, VE-1 and PA-1 facts it registers).

What a user sees: the district's register, the one timeline, the deadlines and breaches of
every street, worklists, new recipients, the register figures, and the refusals (status, code,
field) of each read for the wrong street or role.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hqcore import metrics
from hqcore.errors import CaseNotFound, Forbidden, ValidationFailed
from hqcore.steps import CaseNotYetKnown, read_case, run_event, run_periodic, run_step
from hqcore.timeline import GENESIS, chain_hash
from services.supervision import domain, handlers
from services.supervision.domain import (
    Breach,
    ChainHead,
    DeadlineRecord,
    NewRecipient,
    ReadRecord,
    TimelineEntry,
)
from tests.support import events
from tests.support.fakes import InMemoryCases, as_received, fake_runtime

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin
SGZ, SHC = "shaogongzhuang", "shuanghuancun"
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": SGZ}
INVESTIGATOR = {"user_id": "sgz-investigator-1", "role": "investigator", "street_code": SGZ}
SHC_CLERK = {"user_id": "shc-clerk", "role": "clerk", "street_code": SHC}
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}


# -- in-memory repositories -------------------------------------------------------------------


class Timeline:
    def __init__(self) -> None:
        self.entries: list[TimelineEntry] = []

    def add(self, entry: TimelineEntry) -> None:
        assert entry.event_id not in {e.event_id for e in self.entries}, "unique event_id"
        self.entries.append(entry)

    def for_case(self, case_id: str) -> list[TimelineEntry]:
        return sorted((e for e in self.entries if e.case_id == case_id), key=lambda e: e.at)


class Chain:
    """The chain heads; in memory one handler runs at a time, so the lock is the read."""

    def __init__(self) -> None:
        self.heads: dict[str, ChainHead] = {}

    def lock(self, case_id: str) -> ChainHead:
        return self.heads.setdefault(case_id, ChainHead(case_id))

    def advance(self, head: ChainHead) -> None:
        assert self.heads[head.case_id].seq == head.seq - 1, "the chain forked"
        self.heads[head.case_id] = head


class Reads:
    def __init__(self) -> None:
        self.rows: list[ReadRecord] = []

    def add(self, record: ReadRecord) -> None:
        self.rows.append(record)

    def list(
        self,
        *,
        case_id: str | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        chosen = [
            asdict(r)
            for r in self.rows
            if case_id in (None, r.case_id)
            and user_id in (None, r.user_id)
            and (since is None or r.read_at >= since)
            and (until is None or r.read_at < until)
        ]
        return sorted(chosen, key=lambda r: r["read_at"], reverse=True)[:limit]


class Deadlines:
    def __init__(self) -> None:
        self.rows: dict[str, DeadlineRecord] = {}

    def get(self, deadline_id: str, *, lock: bool = False) -> DeadlineRecord | None:
        return copy.deepcopy(self.rows.get(deadline_id))

    def add(self, record: DeadlineRecord) -> None:
        assert record.deadline_id not in self.rows, "a primary key clash"
        self.rows[record.deadline_id] = copy.deepcopy(record)

    def save(self, record: DeadlineRecord) -> None:
        self.rows[record.deadline_id] = copy.deepcopy(record)

    def for_case(self, case_id: str) -> list[DeadlineRecord]:
        return sorted(
            (d for d in self.rows.values() if d.case_id == case_id), key=lambda d: d.due_at
        )

    def page(
        self,
        now: datetime,
        *,
        street_code: str | None = None,
        status: str | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> dict[str, Any]:
        chosen = sorted(
            (
                d
                for d in self.rows.values()
                if street_code in (None, d.street_code)
                and (
                    status is None
                    or (
                        domain.is_overdue(d.status, d.due_at, now)
                        if status == "overdue"
                        else d.status == status
                    )
                )
            ),
            key=lambda d: (d.due_at, d.deadline_id),
        )
        start = domain.offset(page, per_page)
        return domain.page_of(
            [domain.deadline_view(d, now) for d in chosen[start : start + per_page]],
            page,
            per_page,
            len(chosen),
        )


class Register(InMemoryCases):
    """``uow.cases`` with the register's page, over the deadlines above."""

    def __init__(self, deadlines: Deadlines) -> None:
        super().__init__()
        self._deadlines = deadlines

    def _late(self, case_id: str, now: datetime) -> bool:
        return any(
            domain.is_overdue(d.status, d.due_at, now) for d in self._deadlines.for_case(case_id)
        )

    def page(
        self,
        now: datetime,
        *,
        street_code: str | None = None,
        program: str | None = None,
        steps: tuple[str, ...] | None = None,
        overdue: bool | None = None,
        open_only: bool = False,
        oldest_step_first: bool = False,
        page: int = 1,
        per_page: int = 20,
    ) -> dict[str, Any]:
        chosen = [
            c
            for c in self.rows.values()
            if street_code in (None, c.street_code)
            and program in (None, c.program)
            and (steps is None or c.current_step in steps)
            and overdue in (None, self._late(c.case_id, now))
            and not (open_only and c.closed)
        ]
        chosen.sort(
            key=(lambda c: (c.step_at, c.case_id))
            if oldest_step_first
            else (lambda c: (-c.accepted_at.timestamp(), c.case_id))
        )
        start = domain.offset(page, per_page)
        return domain.page_of(
            [
                domain.summary(c, self._late(c.case_id, now))
                for c in chosen[start : start + per_page]
            ],
            page,
            per_page,
            len(chosen),
        )


class Breaches:
    def __init__(self) -> None:
        self.rows: dict[str, Breach] = {}

    def add(self, breach: Breach) -> None:
        assert breach.deadline_id not in self.rows, "a primary key clash"
        self.rows[breach.deadline_id] = breach

    def list(self, street_code: str | None, limit: int) -> list[dict[str, Any]]:
        return [
            asdict(b)
            for b in sorted(self.rows.values(), key=lambda b: b.due_at)
            if street_code in (None, b.street_code)
        ][:limit]


class Recipients:
    def __init__(self) -> None:
        self.rows: dict[str, NewRecipient] = {}

    def add(self, entry: NewRecipient) -> None:
        assert entry.case_id not in self.rows, "a primary key clash"
        self.rows[entry.case_id] = copy.deepcopy(entry)

    def schedule_payment(
        self, case_id: str, first_month: str, monthly_amount_fen: int, payee_kind: str
    ) -> bool:
        held = self.rows.get(case_id)
        if held is None:
            return False
        held.first_payment_month, held.monthly_amount_fen = first_month, monthly_amount_fen
        held.payee_kind = payee_kind
        return True

    def list(self, street_code: str | None, month: str | None) -> list[dict[str, Any]]:
        return [
            asdict(r)
            for r in sorted(self.rows.values(), key=lambda r: (r.decided_at, r.case_id))
            if street_code in (None, r.street_code) and month in (None, r.month)
        ]


class Figures:
    """The open cases by street and step, from the register (the SQL query is tested in
    test_supervision_register_figures)."""

    def __init__(self, register: Register) -> None:
        self._register = register

    def compute(self, now: datetime) -> dict[str, dict[tuple[str, ...], int]]:
        counts: dict[tuple[str, ...], int] = {}
        for case in self._register.rows.values():
            if not case.closed:
                key = (case.street_code, case.current_step)
                counts[key] = counts.get(key, 0) + 1
        return {"open_cases": counts}


@pytest.fixture
def runtime():
    deadlines = Deadlines()
    runtime = fake_runtime(
        "supervision",
        now=T0,
        view=handlers.view,
        timeline=Timeline(),
        chain=Chain(),
        reads=Reads(),
        deadline_register=deadlines,
        breaches=Breaches(),
        recipients=Recipients(),
    )
    runtime.store.cases = Register(deadlines)
    runtime.store.repositories["figures"] = Figures(runtime.store.cases)
    return runtime


# -- events as the other services send them ----------------------------------------------------


def accept(
    runtime, case_id: str = "c1", street: str = SGZ, at: datetime = T0, **overrides: Any
) -> Any:
    event = events.application_accepted(
        case_id=case_id,
        street_code=street,
        accepted_at=at,
        case_no=f"{street[:3].upper()}-{case_id}",
        **overrides,
    )
    run_event(runtime, handlers.on_application_accepted, event)
    return event


def progressed(
    case_id: str,
    service: str,
    step: str,
    at: datetime,
    street: str = SGZ,
    closed: bool = False,
    **overrides: Any,
) -> Any:
    return as_received(
        "case.progressed",
        {
            "case_id": case_id,
            "case_no": None,
            "program": "dibao",
            "street_code": street,
            "service": service,
            "step": step,
            "action": "step",
            "actor_user": "sgz-clerk",
            "actor_role": "clerk",
            "rule_id": None,
            "note": None,
            "document_ids": [],
            "closed": closed,
            "at": at,
            **overrides,
        },
    )


def progress(runtime, *args: Any, **kwargs: Any) -> Any:
    event = progressed(*args, **kwargs)
    run_event(runtime, handlers.on_case_progressed, event)
    return event


def deadline(
    case_id: str,
    rule_id: str,
    due_at: datetime,
    street: str = SGZ,
    deadline_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "deadline_id": deadline_id or f"d-{case_id}-{rule_id}",
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


def report(runtime, kind: str, payload: dict[str, Any]) -> None:
    handler = {
        "opened": handlers.on_deadline_opened,
        "met": handlers.on_deadline_met,
        "breached": handlers.on_deadline_breached,
    }[kind]
    run_event(runtime, handler, as_received(f"deadline.{kind}", payload))


def decide(runtime, case_id: str = "c1", street: str = SGZ, **overrides: Any) -> Any:
    event = events.decision_made(
        case_id=case_id, street_code=street, case_no=f"{street[:3].upper()}-{case_id}", **overrides
    )
    run_event(runtime, handlers.on_decision_made, event)
    return event


def scheduled(case_id: str = "c1", street: str = SGZ) -> Any:
    return as_received(
        "payment.scheduled",
        {
            "case_id": case_id,
            "case_no": f"{street[:3].upper()}-{case_id}",
            "program": "dibao",
            "street_code": street,
            "first_month": "2026-04",
            "monthly_amount_fen": 104500,
            "payee_kind": "recipient",
            "payee_name": "张三",
        },
    )


def call(runtime, handler, actor, **request: Any) -> dict[str, Any]:
    return run_step(runtime, handler, actor, request)


def ids(answer: dict[str, Any]) -> list[str]:
    return [item["case_id"] for item in answer["items"]]


# -- the register and the timeline ------------------------------------------------------------


def test_ORG3_SU3_accepted_case_enters_the_register_with_its_near_relative_flag_once(runtime):
    event = accept(runtime, near_relative=True)
    run_event(runtime, handlers.on_application_accepted, event)  # redelivered
    accept(runtime, near_relative=False)  # the same case accepted again: kept as registered
    view = read_case(runtime, DISTRICT, "c1")
    assert (view["service"], view["status"], view["since"]) == (
        "supervision",
        "in_procedure",
        T0.isoformat(),
    )
    details = view["details"]
    assert details["near_relative"] is True and details["household_check_required"] is True
    assert (details["current_step"], details["current_service"]) == ("accepted", "intake")
    assert details["household_size"] == 1 and details["accepted_at"] == T0.isoformat()
    assert "timeline" not in details and view["deadlines"] == []
    assert [c.case_id for c in runtime.store.cases.all()] == ["c1"]
    assert runtime.store.published == []  # the read model publishes nothing


def test_ORG3_case_view_is_for_its_street_and_the_district(runtime):
    accept(runtime)
    assert read_case(runtime, CLERK, "c1")["case_id"] == "c1"
    with pytest.raises(Forbidden) as wrong_street:
        read_case(runtime, SHC_CLERK, "c1")
    assert (wrong_street.value.http_status, wrong_street.value.code) == (403, "wrong_street")
    with pytest.raises(CaseNotFound) as missing:
        read_case(runtime, DISTRICT, "nope")
    assert (missing.value.http_status, missing.value.code, missing.value.field) == (
        404,
        "case_not_found",
        "case_id",
    )


def test_timeline_keeps_every_entry_and_the_newest_step_whatever_the_order(runtime):
    early = progress(
        runtime,
        "c1",
        "verification",
        "investigation",
        T0 + timedelta(hours=1),
        rule_id="VE-1",
        document_ids=["verification:1"],
        note="组成调查组",
    )
    entries = call(runtime, handlers.get_timeline, CLERK, case_id="c1")["entries"]
    assert entries == [
        {  # kept before the case is registered, with the event's own fields
            "at": (T0 + timedelta(hours=1)).isoformat(),
            "service": "verification",
            "step": "investigation",
            "action": "step",
            "actor_user": "sgz-clerk",
            "actor_role": "clerk",
            "rule_id": "VE-1",
            "note": "组成调查组",
            "document_ids": ["verification:1"],
        }
    ]
    accept(runtime)
    assert read_case(runtime, CLERK, "c1")["details"]["current_step"] == "investigation"

    newest = progress(runtime, "c1", "publicity", "publicity", T0 + timedelta(days=5))
    progress(runtime, "c1", "verification", "information_check", T0 + timedelta(days=2))
    run_event(runtime, handlers.on_case_progressed, newest)  # redelivered
    run_event(runtime, handlers.on_case_progressed, early)  # redelivered
    progress(runtime, "c1", "decision", "awaiting_file", T0 + timedelta(days=6))  # passive
    steps = [
        e["step"] for e in call(runtime, handlers.get_timeline, CLERK, case_id="c1")["entries"]
    ]
    assert steps == ["investigation", "information_check", "publicity", "awaiting_file"]
    view = read_case(runtime, CLERK, "c1")
    assert (view["details"]["current_step"], view["details"]["current_service"]) == (
        "publicity",
        "publicity",
    )
    assert view["since"] == (T0 + timedelta(days=5)).isoformat()

    progress(runtime, "c1", "decision", "approved", T0 + timedelta(days=9), closed=True)
    view = read_case(runtime, CLERK, "c1")
    assert view["status"] == "closed" and view["details"]["closed"] is True
    assert view["details"]["current_step"] == "approved"
    assert runtime.store.cases.get("c1").version == 2  # saved only by the entries that moved it


def test_ORG3_timeline_is_for_its_street_and_the_district(runtime):
    progress(runtime, "c1", "verification", "investigation", T0)  # before registration
    with pytest.raises(Forbidden) as early:
        call(runtime, handlers.get_timeline, SHC_CLERK, case_id="c1")
    assert early.value.code == "wrong_street"
    accept(runtime)
    with pytest.raises(Forbidden) as registered:
        call(runtime, handlers.get_timeline, SHC_CLERK, case_id="c1")
    assert registered.value.code == "wrong_street"
    assert len(call(runtime, handlers.get_timeline, DISTRICT, case_id="c1")["entries"]) == 1
    assert call(runtime, handlers.get_timeline, SHC_CLERK, case_id="nope") == {
        "case_id": "nope",
        "entries": [],
    }
    with pytest.raises(ValidationFailed) as no_actor:
        call(runtime, handlers.get_timeline, None, case_id="c1")
    assert no_actor.value.field.startswith("actor")


def test_ORG3_SU5_list_cases_pages_newest_first_and_filters(runtime):
    for i in range(5):
        accept(runtime, f"c{i}", at=T0 + timedelta(hours=i), program="dibao")
    accept(runtime, "t1", SHC, at=T0, program="tekun")
    progress(runtime, "c3", "publicity", "publicity", T0 + timedelta(days=1))
    answer = call(runtime, handlers.list_cases, DISTRICT, page=2, per_page=2)
    assert (answer["page"], answer["per_page"], answer["total"]) == (2, 2, 6)
    assert ids(answer) == ["c2", "c1"]
    assert ids(call(runtime, handlers.list_cases, DISTRICT, program="tekun")) == ["t1"]
    assert ids(call(runtime, handlers.list_cases, DISTRICT, step="publicity")) == ["c3"]
    [item] = call(runtime, handlers.list_cases, DISTRICT, step="publicity")["items"]
    assert (item["step"], item["service"], item["closed"], item["overdue"]) == (
        "publicity",
        "publicity",
        False,
        False,
    )
    with pytest.raises(ValidationFailed) as bad:
        call(runtime, handlers.list_cases, DISTRICT, per_page=101)
    assert (bad.value.http_status, bad.value.field) == (400, "per_page")


def test_ORG3_street_staff_see_their_own_street_and_the_district_every_street(runtime):
    accept(runtime, "c1", SGZ)
    accept(runtime, "c2", SHC)
    assert ids(call(runtime, handlers.list_cases, CLERK)) == ["c1"]  # scoped to their street
    assert ids(call(runtime, handlers.list_cases, CLERK, street_code=SGZ)) == ["c1"]
    with pytest.raises(Forbidden) as other:
        call(runtime, handlers.list_cases, CLERK, street_code=SHC)
    assert (other.value.http_status, other.value.code, other.value.field) == (
        403,
        "wrong_street",
        "street_code",
    )
    assert call(runtime, handlers.list_cases, DISTRICT)["total"] == 2
    assert ids(call(runtime, handlers.list_cases, DISTRICT, street_code=SHC)) == ["c2"]


def test_worklist_lists_the_open_cases_at_each_roles_step_in_its_street(runtime):
    steps = {
        "c1": ("verification", "information_check", SGZ),
        "c2": ("verification", "investigation", SGZ),
        "c3": ("verification", "investigation", SHC),
        "c4": ("decision", "management_review", SGZ),
        "c5": ("verification", "district_check", SHC),
        "c6": ("verification", "district_check", SGZ),
        "c7": ("verification", "information_check", SGZ),
    }
    for hours, (case_id, (service, step, street)) in enumerate(steps.items(), start=1):
        accept(runtime, case_id, street)
        progress(runtime, case_id, service, step, T0 + timedelta(hours=hours), street=street)
    progress(runtime, "c7", "decision", "approved", T0 + timedelta(days=3), closed=True)

    def worklist(actor, role, street=None, **page):
        return ids(call(runtime, handlers.worklist, actor, role=role, street_code=street, **page))

    assert worklist(CLERK, "clerk", SGZ) == ["c1"]  # VE-2 pre-review; the closed case is gone
    assert worklist(INVESTIGATOR, "investigator", SGZ) == ["c2"]
    assert worklist(DISTRICT, "investigator", SHC) == ["c3"]
    assert worklist(CLERK, "reviewer", SGZ) == ["c4"]
    assert worklist(DISTRICT, "district_officer") == ["c5", "c6"]  # every street, oldest first
    assert worklist(DISTRICT, "district_officer", per_page=1, page=2) == ["c6"]
    with pytest.raises(Forbidden) as other:
        worklist(INVESTIGATOR, "investigator", SHC)
    assert other.value.code == "wrong_street"
    with pytest.raises(ValidationFailed) as unnamed:
        worklist(CLERK, "clerk", None)
    assert unnamed.value.field == "street_code"
    with pytest.raises(ValidationFailed) as role:
        worklist(CLERK, "mayor", SGZ)
    assert role.value.field == "role"


# -- deadlines and breaches -------------------------------------------------------------------


def test_VE1_DE4_deadline_register_keeps_final_statuses_and_finds_the_overdue(runtime):
    accept(runtime, "c1")
    accept(runtime, "c2")
    accept(runtime, "c3", SHC)
    early = deadline("c1", "VE-1", T0 + timedelta(days=1))
    late = deadline("c2", "DE-4", T0 + timedelta(days=40))
    met_first = deadline("c3", "VE-1", T0 + timedelta(days=1), street=SHC)
    report(runtime, "opened", early)
    report(runtime, "opened", late)
    report(runtime, "met", {**met_first, "met_at": T0 + timedelta(hours=2)})
    report(runtime, "opened", met_first)  # arrives after its "met": stays met
    answer = call(runtime, handlers.list_deadlines, DISTRICT)
    assert {d["case_id"]: d["status"] for d in answer["items"]} == {
        "c1": "open",
        "c2": "open",
        "c3": "met",
    }
    [met] = call(runtime, handlers.list_deadlines, SHC_CLERK)["items"]  # their street only
    assert met["met_at"] == (T0 + timedelta(hours=2)).isoformat()
    assert call(runtime, handlers.list_cases, DISTRICT, overdue=True)["total"] == 0

    runtime.fake_clock.advance(days=2)  # VE-1 of c1 is open past due
    assert ids(call(runtime, handlers.list_cases, DISTRICT, overdue=True)) == ["c1"]
    assert call(runtime, handlers.list_cases, DISTRICT, overdue=False)["total"] == 2
    [item] = call(runtime, handlers.list_deadlines, DISTRICT, status="overdue")["items"]
    assert (item["case_id"], item["status"], item["overdue"]) == ("c1", "open", True)

    report(runtime, "breached", late)  # DE-4: 30 WD passed
    [breached] = call(runtime, handlers.list_deadlines, DISTRICT, status="breached")["items"]
    assert breached["breached_at"] == runtime.fake_clock.now().isoformat()
    assert set(ids(call(runtime, handlers.list_cases, DISTRICT, overdue=True))) == {"c1", "c2"}
    details = read_case(runtime, CLERK, "c2")["details"]
    assert details["overdue"] is True
    [entry] = details["deadline_register"]
    assert (entry["rule_id"], entry["status"], entry["overdue"]) == ("DE-4", "breached", True)


def test_SU5_breaches_are_registered_per_street(runtime):
    report(runtime, "opened", deadline("c1", "VE-1", T0))  # before the case: kept
    report(runtime, "breached", deadline("c1", "VE-1", T0))
    report(runtime, "breached", deadline("c2", "DE-4", T0 + timedelta(days=1), street=SHC))
    [ours] = call(runtime, handlers.list_breaches, CLERK)["breaches"]
    assert (ours["rule_id"], ours["case_id"], ours["street_code"]) == ("VE-1", "c1", SGZ)
    assert ours["recorded_at"] == T0.isoformat()
    assert [b["rule_id"] for b in call(runtime, handlers.list_breaches, DISTRICT)["breaches"]] == [
        "VE-1",
        "DE-4",
    ]
    assert len(call(runtime, handlers.list_breaches, DISTRICT, limit=1)["breaches"]) == 1
    with pytest.raises(Forbidden) as other:
        call(runtime, handlers.list_breaches, CLERK, street_code=SHC)
    assert other.value.code == "wrong_street"
    assert runtime.store.repositories["deadline_register"].rows["d-c1-VE-1"].status == "breached"


def test_SU5_deadlines_of_another_street_are_refused(runtime):
    with pytest.raises(Forbidden) as other:
        call(runtime, handlers.list_deadlines, CLERK, street_code=SHC)
    assert other.value.code == "wrong_street"
    with pytest.raises(ValidationFailed) as bad:
        call(runtime, handlers.list_deadlines, CLERK, status="late")
    assert bad.value.field == "status"


# -- new recipients ---------------------------------------------------------------------------


def test_SU1_SU3_approvals_are_new_recipients_near_relative_dibao_needs_a_household_check(runtime):
    accept(runtime, "c1", near_relative=True)
    accept(runtime, "c2", near_relative=False)
    accept(runtime, "c3", near_relative=True)
    accept(runtime, "c4", near_relative=True, program="low_income")
    accept(runtime, "c5", SHC)
    decide(runtime, "c1")
    approval = decide(runtime, "c2")
    decide(runtime, "c3", outcome="refused", monthly_amount_fen=None, payee_kind=None)
    decide(runtime, "c4", program="low_income")
    decide(runtime, "c5", SHC, decided_at=T0 + timedelta(days=31))
    run_event(runtime, handlers.on_decision_made, approval)  # redelivered
    items = call(runtime, handlers.list_new_recipients, DISTRICT)["items"]
    assert {i["case_id"]: i["household_check_required"] for i in items} == {
        "c1": True,
        "c2": False,
        "c4": False,
        "c5": False,
    }  # SU-1: approvals only
    assert {i["case_id"]: i["near_relative"] for i in items}["c4"] is True
    assert items[0]["recipients"][0]["name"] == "张三" and items[0]["month"] == "2026-03"
    assert ids(call(runtime, handlers.list_new_recipients, DISTRICT, month="2026-04")) == ["c5"]
    assert (
        len(
            call(runtime, handlers.list_new_recipients, DISTRICT, street_code=SGZ, month="2026-03")[
                "items"
            ]
        )
        == 3
    )
    assert runtime.store.cases.get("c1").version == 0  # the register row is not touched


def test_SU1_new_recipients_are_the_districts_only(runtime):
    with pytest.raises(Forbidden) as clerk:
        call(runtime, handlers.list_new_recipients, CLERK)
    assert (clerk.value.http_status, clerk.value.code) == (403, "wrong_role")
    with pytest.raises(ValidationFailed) as bad:
        call(runtime, handlers.list_new_recipients, DISTRICT, month="2026-13")
    assert bad.value.field == "month"


def test_SU3_decision_before_its_registration_is_retried_not_dropped(runtime):
    event = events.decision_made(case_id="c1", case_no="SHA-c1")
    with pytest.raises(CaseNotYetKnown):
        run_event(runtime, handlers.on_decision_made, event)
    assert runtime.store.repositories["recipients"].rows == {}
    accept(runtime, "c1", near_relative=True)
    run_event(runtime, handlers.on_decision_made, event)  # the retry applies
    [item] = call(runtime, handlers.list_new_recipients, DISTRICT)["items"]
    assert item["household_check_required"] is True


def test_PA1_first_payment_month_joins_the_new_recipient_once_it_is_registered(runtime):
    accept(runtime, "c1")
    event = scheduled("c1")
    with pytest.raises(CaseNotYetKnown):  # payments was faster than the decision.made here
        run_event(runtime, handlers.on_payment_scheduled, event)
    decide(runtime, "c1")
    [item] = call(runtime, handlers.list_new_recipients, DISTRICT)["items"]
    assert item["first_payment_month"] is None
    run_event(runtime, handlers.on_payment_scheduled, event)  # the retry applies
    [item] = call(runtime, handlers.list_new_recipients, DISTRICT)["items"]
    assert (item["first_payment_month"], item["monthly_amount_fen"], item["payee_kind"]) == (
        "2026-04",
        104500,
        "recipient",
    )


# -- register figures -------------------------------------------------------------------------


def test_SU5_register_figures_reach_the_gauges(runtime):
    accept(runtime, "c1")
    accept(runtime, "c2")
    accept(runtime, "c3", SHC)
    progress(runtime, "c2", "verification", "investigation", T0 + timedelta(hours=1))
    run_periodic(runtime, handlers.report_register_figures)

    def gauge(street: str, step: str) -> float:
        return metrics.CASES_OPEN.labels("supervision", street, step)._value.get()

    assert (gauge(SGZ, "accepted"), gauge(SGZ, "investigation"), gauge(SHC, "accepted")) == (
        1,
        1,
        1,
    )
    progress(runtime, "c1", "decision", "approved", T0 + timedelta(days=2), closed=True)
    run_periodic(runtime, handlers.report_register_figures)
    assert gauge(SGZ, "accepted") == 0  # the label set that went away falls to zero


# -- SEC-16: the hash chain of the timeline -----------------------------------------------------


def test_SEC16_each_timeline_entry_is_linked_to_the_one_before_it(runtime):
    letter = "decision:letter-1"
    digest = "ab" * 32
    progress(runtime, "c1", "verification", "investigation", T0)
    accept(runtime)
    progress(runtime, "c1", "verification", "information_check", T0 + timedelta(days=2))
    progress(
        runtime,
        "c1",
        "decision",
        "decided",
        T0 + timedelta(days=20),
        document_ids=[letter],
        document_hashes={letter: digest},
    )
    progress(runtime, "c2", "verification", "investigation", T0)
    chain = sorted(
        (e for e in runtime.store.repositories["timeline"].entries if e.case_id == "c1"),
        key=lambda e: e.seq,
    )
    assert [e.seq for e in chain] == [1, 2, 3]
    assert [e.prev_hash for e in chain] == [GENESIS, chain[0].hash, chain[1].hash]
    for entry in chain:
        assert entry.hash == chain_hash(entry.prev_hash, domain.chain_fields(entry))
    assert chain[2].document_hashes == {letter: digest}  # the chain covers the document
    head = runtime.store.repositories["chain"].heads["c1"]
    assert (head.seq, head.hash) == (3, chain[2].hash)
    assert runtime.store.repositories["chain"].heads["c2"].seq == 1  # a chain per case
    edited = replace(chain[0], actor_user="someone-else")
    assert chain_hash(edited.prev_hash, domain.chain_fields(edited)) != chain[0].hash


# -- SEC-15: the read log -------------------------------------------------------------------------


def access_read(**overrides: Any) -> Any:
    return as_received(
        "access.read",
        {
            "user_id": "sgz-clerk",
            "role": "clerk",
            "street_code": SGZ,
            "kind": "case",
            "case_id": "c1",
            "document_id": None,
            "target": "/api/v1/cases/c1",
            "remote_addr": "10.0.0.7",
            "read_at": T0,
            **overrides,
        },
    )


def test_SEC15_each_read_enters_the_read_log_once_and_the_district_queries_it(runtime):
    first = access_read()
    run_event(runtime, handlers.on_access_read, first)
    run_event(runtime, handlers.on_access_read, first)  # redelivered: kept once
    later = T0 + timedelta(minutes=5)
    run_event(
        runtime,
        handlers.on_access_read,
        access_read(
            kind="document",
            document_id="decision:d-1",
            read_at=later,
            target="/api/v1/documents/decision:d-1",
        ),
    )
    run_event(
        runtime,
        handlers.on_access_read,
        access_read(
            user_id="district-officer",
            role="district_officer",
            street_code=None,
            kind="list",
            case_id=None,
            target="/api/v1/cases",
            read_at=T0 + timedelta(minutes=9),
        ),
    )
    every = call(runtime, handlers.list_reads, DISTRICT)["items"]
    assert [(r["user_id"], r["kind"], r["case_id"]) for r in every] == [
        ("district-officer", "list", None),
        ("sgz-clerk", "document", "c1"),
        ("sgz-clerk", "case", "c1"),
    ]
    assert every[2] == {
        "user_id": "sgz-clerk",
        "role": "clerk",
        "street_code": SGZ,
        "kind": "case",
        "case_id": "c1",
        "document_id": None,
        "target": "/api/v1/cases/c1",
        "remote_addr": "10.0.0.7",
        "read_at": T0.isoformat(),
    }
    window = call(
        runtime,
        handlers.list_reads,
        DISTRICT,
        case_id="c1",
        since=(T0 + timedelta(minutes=1)).isoformat(),
        until=(T0 + timedelta(minutes=9)).isoformat(),
    )
    assert [r["document_id"] for r in window["items"]] == ["decision:d-1"]
    assert (
        len(call(runtime, handlers.list_reads, DISTRICT, user_id="sgz-clerk", limit=1)["items"])
        == 1
    )


@pytest.mark.parametrize("reader", [CLERK, INVESTIGATOR, SHC_CLERK])
def test_SEC15_street_staff_may_not_query_the_read_log(runtime, reader):
    run_event(runtime, handlers.on_access_read, access_read())
    with pytest.raises(Forbidden) as refused:
        call(runtime, handlers.list_reads, reader)
    assert (refused.value.http_status, refused.value.code) == (403, "wrong_role")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-03-02T10:00:00"}, "since"),  # no time zone
        ({"until": "yesterday"}, "until"),
        ({"since": T0.isoformat(), "until": T0.isoformat()}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"case_id": "x" * 65}, "case_id"),
    ],
)
def test_SEC15_a_bad_read_log_filter_is_400_naming_it(runtime, query, field):
    with pytest.raises(ValidationFailed) as refused:
        call(runtime, handlers.list_reads, DISTRICT, **query)
    assert (refused.value.http_status, refused.value.field) == (400, field)


def test_SEC15_an_access_read_without_its_reader_breaks_its_contract():
    with pytest.raises(Exception) as refused:
        access_read(user_id=None)
    assert "user_id" in str(refused.value)
