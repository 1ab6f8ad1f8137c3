"""Supervision's register under concurrent events (SEC-2), the tamper evidence of the timeline
and documents (SEC-16) and the read log (SEC-15), against the real broker and databases.

Upstream events are published here directly, as the other services and the gateway publish
them; tampering is done as an intruder with database access would: an ``UPDATE`` on the row.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError

from hqcore.clock import get_clock
from hqcore.db import Database, platform_tables
from hqcore.documents import DocumentStore
from hqcore.messaging.envelope import build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqops import cli
from hqops.samples import make_id_number
from services.supervision.service import SupervisionService
from tests.support.plugin import wait_until, wait_until_handled

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin
SGZ = "shaogongzhuang"
DISTRICT = {"user_id": "district-officer", "role": "district_officer", "street_code": None}
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": SGZ}
RACES = 24  # cases whose acceptance and first progress are delivered together


@pytest.fixture
def publish(settings):
    publisher = EventPublisher(settings.amqp_uri)

    def send(event_type: str, payload: dict, case_id: str | None = None) -> dict:
        envelope = build_envelope(
            event_type=event_type,
            version=1,
            payload=payload,
            occurred_at=T0,
            case_id=case_id if case_id is not None else payload.get("case_id"),
            street_code=payload.get("street_code"),
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


def accepted(case_id: str, number: int) -> dict:
    person = {"name": "王秀英", "id_number": make_id_number(number), "relationship": "self"}
    return {
        "case_id": case_id,
        "case_no": f"SGZ-2026-{number:05d}",
        "program": "dibao",
        "street_code": SGZ,
        "community": "前园社区",
        "applicant": person,
        "members": [person],
        "near_relative": False,
        "accepted_at": T0,
    }


def progressed(case_id: str, step: str, at: datetime, **extra) -> dict:
    return {
        "case_id": case_id,
        "case_no": None,
        "program": "dibao",
        "street_code": SGZ,
        "service": "verification",
        "step": step,
        "action": "investigation_started",
        "actor_user": "sgz-investigator-1",
        "actor_role": "investigator",
        "rule_id": "VE-1",
        "note": None,
        "document_ids": [],
        "closed": False,
        "at": at,
        **extra,
    }


def read(**extra) -> dict:
    return {
        "user_id": "sgz-clerk",
        "role": "clerk",
        "street_code": SGZ,
        "kind": "case",
        "case_id": "c-00001",
        "document_id": None,
        "target": "/api/v1/cases/c-00001",
        "remote_addr": "10.0.0.7",
        "read_at": T0,
        **extra,
    }


# -- SEC-2: the register under concurrent events -----------------------------------------------


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_SEC2_register_shows_the_latest_step_when_acceptance_and_progress_race(
    start_service, supervision, settings, rpc, publish, backend
):
    """The acceptance and the investigation's first entry of each case are delivered at the
    same moment, in both orders, to two supervision instances on PostgreSQL (read committed):
    every case's register must show the investigation, as its timeline does."""
    start_service(SupervisionService)  # a second instance: more handlers at the same moment
    case_ids = [f"c-{n:05d}" for n in range(1, RACES + 1)]
    for n, case_id in enumerate(case_ids, start=1):
        acceptance = ("application.accepted", accepted(case_id, n))
        progress = (
            "case.progressed",
            progressed(case_id, "investigation", T0 + timedelta(hours=1)),
        )
        for event_type, payload in (acceptance, progress) if n % 2 else (progress, acceptance):
            publish(event_type, payload)
    wait_until_handled(
        settings.amqp_uri,
        "hq.supervision.on_application_accepted",
        "hq.supervision.on_case_progressed",
        timeout=60,
    )
    wait_until(
        lambda: rpc.supervision.list_cases(actor=DISTRICT, per_page=100)["total"] == RACES,
        message="every case registered",
    )
    steps = {
        c["case_id"]: c["step"]
        for c in rpc.supervision.list_cases(actor=DISTRICT, per_page=100)["items"]
    }
    stuck = sorted(case_id for case_id, step in steps.items() if step != "investigation")
    assert stuck == [], f"register lost the investigation of {len(stuck)} of {RACES} cases"
    for case_id in case_ids:
        timeline = rpc.supervision.get_timeline(actor=DISTRICT, case_id=case_id)["entries"]
        assert [e["step"] for e in timeline] == ["investigation"]


# -- SEC-16: tamper evidence -------------------------------------------------------------------


def _issue_document(settings, case_id: str):
    """A decision letter stored as the decision service stores it (hqcore.documents)."""
    database = Database(settings.database_url("decision"))
    documents = platform_tables(sa.MetaData())["documents"]
    try:
        with database.transaction() as conn:
            return DocumentStore(conn, documents, "decision").issue(
                case_id, "decision_letter", "最低生活保障审批决定书", "<p>准予</p>", T0
            )
    finally:
        database.dispose()


def _execute(settings, service: str, statement: str, **params) -> None:
    database = Database(settings.database_url(service))
    try:
        with database.transaction() as conn:
            assert conn.execute(sa.text(statement), params).rowcount == 1
    finally:
        database.dispose()


def _verify(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    status = cli.main(["integrity", "verify", *args])
    return status, capsys.readouterr().out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_SEC16_integrity_verify_names_an_edited_timeline_row_and_an_edited_document(
    supervision, settings, suite_env, rpc, publish, capsys, monkeypatch, backend
):
    for name, value in suite_env.items():
        monkeypatch.setenv(name, value)
    case_id = "c-00001"
    letter = _issue_document(settings, case_id)
    publish("application.accepted", accepted(case_id, 1))
    publish("case.progressed", progressed(case_id, "investigation", T0 + timedelta(hours=1)))
    wait_until(
        lambda: rpc.supervision.get_timeline(actor=DISTRICT, case_id=case_id)["entries"],
        message="the investigation on the timeline (entry 1 of the chain)",
    )
    decided = progressed(
        case_id,
        "decided",
        T0 + timedelta(days=20),
        service="decision",
        action="decided:approved",
        document_ids=[letter.document_id],
        document_hashes={letter.document_id: letter.content_hash},
    )
    publish("case.progressed", decided)
    publish("case.progressed", progressed("c-00002", "investigation", T0))
    wait_until(
        lambda: len(rpc.supervision.get_timeline(actor=DISTRICT, case_id=case_id)["entries"]) == 2,
        message="the case's two entries on the timeline",
    )
    wait_until_handled(settings.amqp_uri, "hq.supervision.on_case_progressed")

    status, out = _verify(capsys, "--all")
    assert (status, out.splitlines()[-1]) == (0, "OK: 2 case(s), 3 entries, 1 documents verified")

    # An intruder rewrites who acted on the case's first entry.
    _execute(
        settings,
        "supervision",
        "UPDATE timeline SET actor_user = 'someone-else' WHERE case_id = :case AND seq = 1",
        case=case_id,
    )
    status, out = _verify(capsys, "--case", case_id)
    assert status == 1
    assert out.startswith(f"BROKEN case {case_id}: entry 1 (event ")
    assert "content differs from its hash" in out
    status, out = _verify(capsys, "--all")
    assert status == 1 and f"BROKEN case {case_id}: entry 1" in out
    assert "c-00002" not in out  # the other case's chain is whole
    _execute(
        settings,
        "supervision",
        "UPDATE timeline SET actor_user = 'sgz-investigator-1' WHERE case_id = :case AND seq = 1",
        case=case_id,
    )
    assert _verify(capsys, "--case", case_id)[0] == 0  # restored: whole again

    # An intruder rewrites the decision letter in the decision service's database.
    _execute(
        settings,
        "decision",
        "UPDATE documents SET html = '<p>不予</p>' WHERE document_id = :id",
        id=letter.document_id,
    )
    status, out = _verify(capsys, "--case", case_id)
    assert status == 1
    assert out.startswith(
        f"BROKEN case {case_id}: document {letter.document_id} (reported by entry 2): "
        "content differs from the hash in the chain"
    )

    # Removing the case's last entry breaks the head.
    _execute(
        settings,
        "supervision",
        "DELETE FROM timeline WHERE case_id = :case AND seq = 2",
        case=case_id,
    )
    status, out = _verify(capsys, "--case", case_id)
    assert status == 1 and out.startswith(f"BROKEN case {case_id}: chain head: names entry 2")

    assert _verify(capsys, "--case", "c-99999")[0] == 1  # no such case: nothing verified


# -- SEC-15: the read log ----------------------------------------------------------------------


def test_SEC15_each_read_is_kept_once_and_only_the_district_may_query_the_log(
    supervision, rpc, publish, settings
):
    first = publish("access.read", read(), case_id=None)
    publisher = EventPublisher(settings.amqp_uri)
    publisher.publish(first)  # redelivered: kept once
    publisher.close()
    publish(
        "access.read",
        read(case_id="c-00002", target="/api/v1/cases/c-00002", read_at=T0 + timedelta(minutes=5)),
        case_id=None,
    )
    publish(
        "access.read",
        read(
            kind="list",
            case_id=None,
            target="/api/v1/cases",
            user_id="district-officer",
            role="district_officer",
            street_code=None,
            read_at=T0 + timedelta(minutes=9),
        ),
        case_id=None,
    )
    wait_until_handled(settings.amqp_uri, "hq.supervision.on_access_read")

    every = rpc.supervision.list_reads(actor=DISTRICT)["items"]
    assert [(r["user_id"], r["kind"], r["case_id"]) for r in every] == [
        ("district-officer", "list", None),
        ("sgz-clerk", "case", "c-00002"),
        ("sgz-clerk", "case", "c-00001"),
    ]
    assert every[-1]["remote_addr"] == "10.0.0.7" and every[-1]["target"] == "/api/v1/cases/c-00001"
    one_case = rpc.supervision.list_reads(actor=DISTRICT, case_id="c-00001")["items"]
    assert [r["read_at"] for r in one_case] == [T0.isoformat()]
    window = rpc.supervision.list_reads(
        actor=DISTRICT,
        since=(T0 + timedelta(minutes=1)).isoformat(),
        until=(T0 + timedelta(minutes=9)).isoformat(),
    )["items"]
    assert [r["case_id"] for r in window] == ["c-00002"]
    assert (
        len(rpc.supervision.list_reads(actor=DISTRICT, user_id="sgz-clerk", limit=1)["items"]) == 1
    )

    with pytest.raises(RemoteError) as street:
        rpc.supervision.list_reads(actor=CLERK)
    assert street.value.exc_type == "Forbidden"
    assert '"wrong_role"' in street.value.value
