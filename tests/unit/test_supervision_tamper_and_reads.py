"""SEC-16's kit side: a stored document keeps its content hash and the ``case.progressed``
entry reporting it carries that hash, so supervision's chain covers documents. SEC-15's route:
``GET /api/v1/reads`` is the district officer's, its filters checked before any RPC. Over the
in-memory unit of work and Flask's test client with a fake RPC client."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from test_gateway_app import FakeRpc, assert_error, demo_settings, logged_in  # tests/unit

from gateway import create_app
from hqcore import timeline
from hqcore.config import Settings
from hqcore.documents import Document, content_hash
from hqcore.migrations import upgrade
from hqcore.uow import MessageContext
from hqops import integrity
from tests.support.fakes import FakeClock, FakeStore, FakeUnitOfWork, as_received
from tests.support.reads import FakeReadLog

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
CASE = {"case_id": "c-1", "case_no": "SGZ-2026-00001", "program": "dibao", "street_code": "sgz"}


def test_SEC16_a_stored_document_keeps_the_hash_of_what_was_issued():
    letter = Document.new("decision", "c-1", "decision_letter", "决定书", "<p>准予</p>", T0)
    assert letter.content_hash == content_hash(
        letter.document_id, "c-1", "decision_letter", "决定书", "<p>准予</p>", T0
    )
    assert len(letter.content_hash or "") == 64
    assert letter.recomputed_hash() == letter.content_hash
    assert replace(letter, html="<p>不予</p>").recomputed_hash() != letter.content_hash
    assert replace(letter, served_at=T0).recomputed_hash() == letter.content_hash  # served later


def test_SEC16_the_timeline_entry_reporting_a_document_carries_its_content_hash():
    store = FakeStore("decision")
    with FakeUnitOfWork(store, FakeClock(T0), MessageContext("decision", "test")) as uow:
        letter = uow.documents.issue("c-1", "decision_letter", "决定书", "<p>准予</p>", T0)
        timeline.progressed(
            uow,
            CASE,
            step="decided",
            action="decided:approved",
            document_ids=[letter.document_id, "intake:elsewhere"],
        )
    [entry] = store.timeline("c-1")
    assert entry["document_ids"] == [letter.document_id, "intake:elsewhere"]
    assert entry["document_hashes"] == {letter.document_id: letter.content_hash}
    received = as_received("case.progressed", entry)  # the contract carries it
    assert received.payload["document_hashes"] == {letter.document_id: letter.content_hash}


# -- the read log's route -----------------------------------------------------------------------


@pytest.fixture
def rpc() -> FakeRpc:
    return FakeRpc(answers={"supervision.list_reads": {"items": []}})


@pytest.fixture
def app(rpc, tmp_path):
    return create_app(demo_settings(tmp_path), rpc=rpc, reads=FakeReadLog())


def test_SEC15_the_district_officer_queries_the_read_log_with_its_filters(app, rpc):
    answer = logged_in(app, "district-officer").get(
        "/api/v1/reads?case_id=c-1&user_id=sgz-clerk&since=2026-03-01T00:00:00%2B08:00&limit=5"
    )
    assert answer.status_code == 200 and answer.get_json() == {"items": []}
    [called] = [c for c in rpc.calls if (c.service, c.method) == ("supervision", "list_reads")]
    assert called.kwargs["case_id"] == "c-1" and called.kwargs["user_id"] == "sgz-clerk"
    assert called.kwargs["limit"] == 5
    assert datetime.fromisoformat(called.kwargs["since"]) == datetime(
        2026, 2, 28, 16, tzinfo=timezone.utc
    )


@pytest.mark.parametrize("user", ["sgz-clerk", "sgz-community"])
def test_SEC15_street_staff_get_403_from_the_read_log(app, rpc, user):
    assert_error(logged_in(app, user).get("/api/v1/reads"), 403, "wrong_role", "role")
    assert not [c for c in rpc.calls if c.method == "list_reads"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("since=2026-03-01", "since"), ("until=soon", "until"), ("limit=0", "limit")],
)
def test_SEC15_a_bad_read_log_filter_is_400_naming_it(app, rpc, query, field):
    answer = logged_in(app, "district-officer").get(f"/api/v1/reads?{query}")
    assert_error(answer, 400, "validation_failed", field)
    assert not [c for c in rpc.calls if c.method == "list_reads"]


# -- the migrations link what was stored before -------------------------------------------------


def test_SEC16_the_migrations_chain_the_timeline_and_hash_the_documents_already_stored(tmp_path):
    settings = Settings.from_env({"HQ_VAR_DIR": str(tmp_path), "HQ_CLOCK_MODE": "controlled"})
    upgrade("supervision", settings, "0005")
    upgrade("decision", settings, "0004")
    old = sa.create_engine(settings.database_url("supervision"))
    with old.begin() as conn:
        for n, case_id in enumerate(("c-1", "c-1", "c-2")):
            conn.execute(
                sa.text(
                    "INSERT INTO timeline (event_id, case_id, street_code, service, step, "
                    "action, document_ids, closed, at) VALUES (:event, :case, 'sgz', "
                    "'verification', 'investigation', 'started', :docs, 0, :at)"
                ),
                {
                    "event": f"e-{n}",
                    "case": case_id,
                    "docs": '["decision:d-1"]' if n == 1 else "[]",
                    "at": datetime(2026, 3, 2, 2, n),
                },
            )
    old.dispose()
    old = sa.create_engine(settings.database_url("decision"))
    with old.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO documents (document_id, case_id, kind, title, html, issued_at) "
                "VALUES ('decision:d-1', 'c-1', 'decision_letter', '决定书', '<p>准予</p>', :at)"
            ),
            {"at": datetime(2026, 3, 2, 2, 0)},
        )
    old.dispose()

    upgrade("supervision", settings)
    upgrade("decision", settings)

    report = integrity.verify(settings)
    assert (report.cases, report.entries, report.broken) == (2, 3, [])
    stored = sa.create_engine(settings.database_url("decision"))
    with stored.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM documents")).one()
    stored.dispose()
    assert row.content_hash == content_hash(
        "decision:d-1", "c-1", "decision_letter", "决定书", "<p>准予</p>", T0
    )
