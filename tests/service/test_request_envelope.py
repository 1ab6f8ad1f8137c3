"""The request envelope on the real broker (SEC-14, SEC-10): a service refuses a request the
gateway did not sign, drops a step whose caller has stopped waiting, and answers a repeated
submission under the same Idempotency-Key with the case it already opened."""

import json
from datetime import datetime, timezone

import eventlet
import pytest
from nameko.exceptions import RemoteError, RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import func, select

from gateway import create_app
from hqcore import envelope
from hqcore.clock import get_clock
from hqcore.db import Database
from hqcore.secrets import request_key
from hqops.samples import actor_for, make_id_number, sample_application
from services.intake import adapters as intake_tables
from services.intake import handlers as intake_handlers
from services.intake.service import IntakeService
from tests.support.plugin import signed_rpc, wait_until

CLERK = actor_for("sgz-clerk")
DISTRICT = actor_for("district-officer")
FILED_AT = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Tianjin


@pytest.fixture
def intake(start_service, settings):
    get_clock(settings).set(FILED_AT)
    return start_service(IntakeService)


def stored(settings, table: str) -> int:
    """How many rows intake's ``table`` holds."""
    database = Database(settings.database_url("intake"))
    with database.transaction() as conn:
        count = conn.execute(
            select(func.count()).select_from(intake_tables.TABLES[table])
        ).scalar_one()
    database.dispose()
    return int(count)


def remote(raised) -> dict:
    return {**json.loads(raised.value.value), "type": raised.value.exc_type}


def test_SEC14_an_unsigned_call_with_a_forged_actor_is_refused_and_nothing_stored(
    intake, settings, rpc
):
    """Anyone with broker credentials can publish to ``nameko-rpc``: without the request key
    they cannot act, whoever they claim to be."""
    case = rpc.intake.submit_application(application=sample_application(), actor=CLERK)
    before = stored(settings, "applications"), stored(settings, "outbox")
    other = sample_application(id_number=make_id_number(77))
    with ClusterRpcProxy({"AMQP_URI": settings.amqp_uri}, timeout=15) as plain:
        with pytest.raises(RemoteError) as raised:
            plain.intake.submit_application(application=other, actor=CLERK)  # a filer
        assert remote(raised)["code"] == "unsigned_request"
        assert remote(raised)["type"] == "Unauthenticated"
        for read in (
            lambda: plain.intake.get_case(actor=DISTRICT, case_id=case["case_id"]),
            lambda: plain.intake.list_documents(actor=DISTRICT, case_id=case["case_id"]),
            lambda: plain.intake.list_awaiting_materials(actor=DISTRICT),
        ):
            with pytest.raises(RemoteError) as raised:
                read()
            assert remote(raised)["code"] == "unsigned_request"
        assert plain.intake.ping()["status"] == "up"  # no actor, nothing to verify
    # Signed for one acting user and sent with another: refused too.
    headers = envelope.sign(
        request_key(settings),
        "intake",
        "submit_application",
        {"application": other, "actor": actor_for("sgz-community")},
        timeout=15,
    )
    with ClusterRpcProxy(
        {"AMQP_URI": settings.amqp_uri}, timeout=15, context_data=headers
    ) as forged:
        with pytest.raises(RemoteError) as raised:
            forged.intake.submit_application(application=other, actor=CLERK)
        assert remote(raised)["code"] == "unsigned_request"
    assert (stored(settings, "applications"), stored(settings, "outbox")) == before


def _held(seconds: float):
    """intake's submit_application, held ``seconds`` after it has done its work and before
    its transaction commits: a service hung past its caller's deadline."""
    original = intake_handlers.submit_application

    def held(request, ctx):
        reply = original(request, ctx)
        eventlet.sleep(seconds)
        return reply

    held.spec = original.spec  # type: ignore[attr-defined]
    held.__name__ = original.__name__
    return held


def test_SEC10_a_step_past_its_deadline_is_not_applied_and_a_retry_succeeds(
    intake, settings, monkeypatch
):
    application = sample_application()
    monkeypatch.setattr(intake_handlers, "submit_application", _held(2.0))
    with signed_rpc(settings, timeout=1.0) as hurried:
        with pytest.raises(RpcTimeout):  # the caller is told it timed out (the gateway: 504)
            hurried.intake.submit_application(
                application=application, actor=CLERK, idempotency_key="form-1"
            )
    # The held step wakes after its deadline and rolls back instead of committing.
    eventlet.sleep(2.5)
    wait_until(lambda: stored(settings, "applications") == 0, message="nothing stored")
    assert stored(settings, "outbox") == 0
    assert stored(settings, "idempotency") == 0
    monkeypatch.undo()
    with signed_rpc(settings, timeout=15) as rpc:
        case = rpc.intake.submit_application(
            application=application, actor=CLERK, idempotency_key="form-1"
        )  # not 409 duplicate_open_case: the first attempt left nothing behind
        assert case["status"] == "accepted"
    assert stored(settings, "applications") == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_SEC10_an_idempotent_resubmission_returns_the_same_case(intake, settings, rpc):
    application = sample_application()
    first = rpc.intake.submit_application(
        application=application, actor=CLERK, idempotency_key="form-7"
    )
    again = rpc.intake.submit_application(
        application=application, actor=CLERK, idempotency_key="form-7"
    )
    assert again["case_id"] == first["case_id"] and again["case_no"] == first["case_no"]
    assert stored(settings, "applications") == 1
    accepted = stored(settings, "outbox")
    # Another body under the same key: refused, nothing applied.
    with pytest.raises(RemoteError) as raised:
        rpc.intake.submit_application(
            application=sample_application(id_number=make_id_number(78)),
            actor=CLERK,
            idempotency_key="form-7",
        )
    error = remote(raised)
    assert (error["type"], error["code"], error["field"]) == (
        "Conflict",
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    # Without the key (or with a new one) the same family is a duplicate, as before.
    with pytest.raises(RemoteError) as raised:
        rpc.intake.submit_application(application=application, actor=CLERK)
    assert remote(raised)["code"] == "duplicate_open_case"
    # A key is the acting user's: another clerk's same key is a request of their own.
    with pytest.raises(RemoteError) as raised:
        rpc.intake.submit_application(
            application=application, actor=actor_for("sgz-community"), idempotency_key="form-7"
        )
    assert remote(raised)["code"] in ("duplicate_open_case", "invalid_proxy")
    assert stored(settings, "applications") == 1
    assert stored(settings, "outbox") == accepted


def test_SEC10_through_the_gateway_a_repeated_post_answers_the_same_case(intake, settings):
    """The gateway's own RPC client signs (SEC-14) and passes the Idempotency-Key header."""
    app = create_app(settings)
    try:
        auth = app.extensions["hq_gateway"].auth
        client = app.test_client()
        token = auth.issue(auth.accounts["sgz-clerk"])
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "web-1"}
        body = sample_application()
        first = client.post("/api/v1/applications", json=body, headers=headers)
        again = client.post("/api/v1/applications", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201), again.get_json()
        assert again.get_json()["case_id"] == first.get_json()["case_id"]
        other = client.post(
            "/api/v1/applications",
            json=sample_application(id_number=make_id_number(79)),
            headers=headers,
        )
        assert other.status_code == 409
        assert other.get_json()["error"]["code"] == "idempotency_key_reused"
        assert stored(settings, "applications") == 1
    finally:
        app.extensions["hq_gateway"].close()
