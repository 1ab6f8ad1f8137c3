"""SEC-15, the gateway's side: every read of a case, a document or a list of personal data
is published as one ``access.read`` event, after the read succeeded; a read that cannot be
recorded is not served. Over Flask's test client with a fake RPC client and a fake read log
(``tests.support.reads``); the broker-backed log against an unreachable broker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from test_gateway_app import (  # tests/unit is on sys.path
    FakeRpc,
    assert_error,
    demo_settings,
    intake_view,
    logged_in,
    read_answers,
)

from gateway import create_app
from gateway.readlog import BrokerReadLog
from hqcore import errors
from tests.support.reads import FakeReadLog


@pytest.fixture
def rpc() -> FakeRpc:
    rpc = FakeRpc()
    rpc.answers.update(read_answers())
    return rpc


@pytest.fixture
def reads() -> FakeReadLog:
    return FakeReadLog()


@pytest.fixture
def app(rpc, reads, tmp_path):
    return create_app(demo_settings(tmp_path), rpc=rpc, reads=reads)


# (path, reader, kind, case_id, document_id): every read of personal data, and what it records
RECORDED = [
    ("/api/v1/cases/c-1", "sgz-clerk", "case", "c-1", None),
    ("/api/v1/cases/c-1/timeline", "sgz-community", "case", "c-1", None),
    ("/api/v1/documents/decision:d-1", "sgz-clerk", "document", "c-1", "decision:d-1"),
    ("/api/v1/documents/decision:d-1?format=json", "sgz-clerk", "document", "c-1", "decision:d-1"),
    ("/api/v1/cases", "sgz-clerk", "list", None, None),
    ("/api/v1/worklist", "sgz-community", "list", None, None),
    ("/api/v1/recipients/new", "district-officer", "list", None, None),
    ("/api/v1/payments?month=2026-04", "sgz-clerk", "list", None, None),
    ("/api/v1/streets/shaogongzhuang/recipients", "sgz-clerk", "list", None, None),
]


@pytest.mark.parametrize(("path", "user", "kind", "case_id", "document_id"), RECORDED)
def test_SEC15_each_read_of_personal_data_records_one_read(
    app, reads, path, user, kind, case_id, document_id
):
    account = app.extensions["hq_gateway"].auth.accounts[user]
    before = datetime.now(timezone.utc)
    assert logged_in(app, user).get(path, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == (
        200
    )
    [envelope] = reads.envelopes
    assert (envelope["event_type"], envelope["schema_version"]) == ("access.read", 1)
    assert (envelope["source"], envelope["acting_user"]) == ("gateway", user)
    assert envelope["case_id"] == case_id
    read = envelope["payload"]
    assert read["user_id"] == user and read["role"] == account.role
    assert read["street_code"] == account.street_code
    assert (read["kind"], read["case_id"], read["document_id"]) == (kind, case_id, document_id)
    assert read["target"] == path.partition("?")[0]
    assert read["remote_addr"] == "10.1.2.3"
    read_at = datetime.fromisoformat(read["read_at"])
    assert before - timedelta(seconds=1) <= read_at <= datetime.now(timezone.utc)
    assert read_at.utcoffset() == timedelta(0)  # real time, UTC


def test_SEC15_a_read_carries_no_personal_data(app, reads):
    """Who read and which ids: neither the applicant's name nor an ID number."""
    logged_in(app, "sgz-clerk").get("/api/v1/cases/c-1")
    text = repr(reads.envelopes)
    applicant = intake_view()["applicant"]
    assert applicant["id_number"] not in text and applicant["name"] not in text


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/deadlines",
        "/api/v1/supervision/breaches",
        "/api/v1/streets/shaogongzhuang/deliberation-body",
        "/api/v1/me",
    ],
)
def test_SEC15_reads_without_personal_data_are_not_recorded(app, reads, path):
    assert logged_in(app, "sgz-clerk").get(path).status_code == 200
    assert reads.envelopes == []


def test_SEC15_a_refused_or_failed_read_is_not_recorded(app, rpc, reads):
    assert_error(logged_in(app, "xgu-clerk").get("/api/v1/cases/c-1"), 403, "wrong_street")
    assert_error(
        logged_in(app, "shc-clerk").get("/api/v1/documents/decision:d-1"), 403, "wrong_street"
    )
    rpc.answers["intake.get_case"] = errors.CaseNotFound("c-1", "intake")
    assert_error(logged_in(app, "sgz-clerk").get("/api/v1/cases/c-1"), 404, "case_not_found")
    assert reads.envelopes == []


def test_SEC15_a_read_that_cannot_be_recorded_is_503_and_not_served(app, reads):
    reads.down = True
    for path in ("/api/v1/cases/c-1", "/api/v1/documents/decision:d-1", "/api/v1/cases"):
        response = logged_in(app, "sgz-clerk").get(path)
        assert_error(response, 503, "service_unavailable")
        assert "决定书" not in response.get_data(as_text=True)


def test_SEC15_an_unreachable_broker_fails_the_read_fast_with_503(rpc, tmp_path):
    """The broker-backed log: nothing listens on the port, so the read is refused, and the
    next read within the back-off does not wait for the broker again."""
    log = BrokerReadLog("amqp://guest:guest@127.0.0.1:1//")
    app = create_app(demo_settings(tmp_path), rpc=rpc, reads=log)
    client = logged_in(app, "sgz-clerk")
    assert_error(client.get("/api/v1/cases/c-1"), 503, "service_unavailable")
    started = datetime.now(timezone.utc)
    assert_error(client.get("/api/v1/cases"), 503, "service_unavailable")
    assert datetime.now(timezone.utc) - started < timedelta(seconds=1)
