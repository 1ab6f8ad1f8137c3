"""The signed request envelope between the gateway and the services (SEC-14) and the deadline
and Idempotency-Key it carries (SEC-10), without a broker: ``hqcore.envelope``, the RPC
client's headers, the service side's ``Work`` and the gateway's Idempotency-Key header."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from gateway import create_app
from hqcore import envelope, errors
from hqcore.messaging.rpc_client import RpcClient, _timeout
from hqcore.providers import Call, Work
from tests.support.reads import FakeReadLog
from tests.unit.test_gateway_app import (
    FakeRpc,
    application,
    assert_error,
    demo_settings,
    intake_view,
    logged_in,
)

KEY = b"k" * 32
CLERK = {"user_id": "sgz-clerk", "role": "clerk", "street_code": "shaogongzhuang"}
DIRECTOR = {"user_id": "qd-officer", "role": "district_officer", "street_code": None}
FIELDS = {"case_id": "c-1", "opinion": "confirm"}


def signed(kwargs=None, method="pre_review", service="verification", timeout=10.0, **extra):
    kwargs = {"actor": CLERK, **FIELDS} if kwargs is None else kwargs
    return envelope.sign(KEY, service, method, kwargs, timeout=timeout, **extra)


def verify(context, kwargs=None, method="pre_review", service="verification", key=KEY):
    kwargs = {"actor": CLERK, **FIELDS} if kwargs is None else kwargs
    return envelope.verify(key, service, method, [], kwargs, context)


def refused(context, **changes) -> errors.DomainError:
    with pytest.raises(errors.DomainError) as raised:
        verify(context, **changes)
    return raised.value


def test_SEC14_a_request_verifies_as_signed():
    checked = verify(signed())
    assert checked.actor == CLERK
    assert checked.deadline == pytest.approx(time.time() + 10.0, abs=1.0)
    assert checked.idempotency_key is None


def test_SEC14_unsigned_request_is_401_unsigned_request():
    error = refused({"correlation_id": "x", "acting_user": "sgz-clerk"})
    assert (error.http_status, error.code) == (401, "unsigned_request")
    assert isinstance(error, errors.Unauthenticated)


@pytest.mark.parametrize(
    "changes",
    [
        {"kwargs": {"actor": DIRECTOR, **FIELDS}},  # a forged acting user
        {"kwargs": {"actor": {**CLERK, "street_code": "xinxing"}}},  # another street
        {"kwargs": {"actor": CLERK, **FIELDS, "opinion": "non_confirm"}},  # a changed field
        {"kwargs": {"actor": CLERK, **FIELDS, "extra": 1}},  # an added field
        {"method": "district_review"},  # another step
        {"service": "decision"},  # another service
        {"key": b"x" * 32},  # signed with another key
    ],
    ids=["actor", "street", "field", "added", "method", "service", "key"],
)
def test_SEC14_a_tampered_request_is_refused(changes):
    error = refused(signed(), **changes)
    assert (error.http_status, error.code) == (401, "unsigned_request")


def test_SEC14_tampered_deadline_nonce_or_idempotency_key_is_refused():
    context = signed(idempotency_key="k-1")
    for name, value in (
        (envelope.DEADLINE, f"{time.time() + 60:.3f}"),
        (envelope.NONCE, "0" * 32),
        (envelope.IDEMPOTENCY_KEY, "k-2"),
    ):
        error = refused({**context, name: value})
        assert error.code == "unsigned_request", name
    assert refused({k: v for k, v in context.items() if k != envelope.IDEMPOTENCY_KEY})


def test_SEC14_a_deadline_far_ahead_is_refused():
    error = refused(signed(timeout=envelope.MAX_HORIZON + 60))
    assert error.code == "unsigned_request"


def test_SEC10_an_expired_request_is_refused_with_request_expired():
    context = signed(timeout=5.0)
    with pytest.raises(errors.UpstreamTimeout) as raised:
        envelope.verify(
            KEY, "verification", "pre_review", [], {"actor": CLERK, **FIELDS}, context,
            now=time.time() + 6.0,
        )  # fmt: skip
    assert (raised.value.http_status, raised.value.code) == (504, "request_expired")


def test_SEC10_the_deadline_is_checked_again_before_commit():
    checked = verify(signed(timeout=5.0))
    checked.check_deadline(time.time())  # still in time
    with pytest.raises(errors.UpstreamTimeout) as raised:
        checked.check_deadline(checked.deadline + 0.001)
    assert raised.value.code == "request_expired"


def test_SEC14_canonical_form_is_that_of_the_values_as_received():
    """Dates travel as ISO strings: the service, which receives the string, verifies what the
    caller signed with the date."""
    from datetime import date

    context = envelope.sign(KEY, "decision", "extend", {"on": date(2024, 3, 1)}, timeout=5)
    assert envelope.verify(KEY, "decision", "extend", [], {"on": "2024-03-01"}, context)


def test_SEC14_the_rpc_client_signs_every_request_with_its_deadline():
    client = RpcClient("amqp://unused//", request_key=KEY)
    headers = client._envelope("verification", "pre_review", 7.0, None, {"actor": CLERK, **FIELDS})
    context = {name.removeprefix("nameko."): value for name, value in headers.items()}
    assert set(context) == {envelope.SIGNATURE, envelope.DEADLINE, envelope.NONCE}
    assert verify(context).deadline == pytest.approx(time.time() + 7.0, abs=1.0)
    assert RpcClient("amqp://unused//")._envelope("a", "b", 1.0, None, {}) == {}


def _work(kwargs, context, method="pre_review"):
    runtime = SimpleNamespace(service="verification")
    return Work(runtime, "corr", None, key=KEY, call=Call(method, [], kwargs, context))  # type: ignore[arg-type]


def test_SEC14_a_service_refuses_an_unsigned_step_before_doing_anything():
    kwargs = {"actor": DIRECTOR, **FIELDS}
    work = _work(kwargs, {"correlation_id": "c"})
    for act in (
        lambda: work.step(lambda *a: pytest.fail("the handler ran"), DIRECTOR, FIELDS),
        lambda: work.read_case(DIRECTOR, "c-1"),
        lambda: work.authenticate(DIRECTOR),
    ):
        with pytest.raises(errors.Unauthenticated) as raised:
            act()
        assert raised.value.code == "unsigned_request"
    with pytest.raises(errors.Unauthenticated):
        work.unit(SimpleNamespace(user_id="qd-officer"))  # type: ignore[arg-type]


def test_SEC14_a_service_refuses_an_actor_other_than_the_signed_one():
    kwargs = {"actor": CLERK, **FIELDS}
    work = _work(kwargs, signed(kwargs))
    assert work.authenticate(CLERK).user_id == "sgz-clerk"
    with pytest.raises(errors.Unauthenticated):
        work.authenticate(DIRECTOR)


def test_SEC14_a_service_without_the_request_or_key_refuses():
    runtime = SimpleNamespace(service="verification")
    work = Work(runtime, "c", None)  # type: ignore[arg-type]  # e.g. not an RPC entrypoint
    with pytest.raises(errors.Unauthenticated):
        work.authenticate(CLERK)


def test_SEC10_a_timeout_says_the_outcome_is_unknown_and_how_to_learn_it():
    plain = _timeout("intake", "submit_application", 10.0)
    keyed = _timeout("intake", "submit_application", 10.0, "k-1")
    assert plain.code == keyed.code == "upstream_timeout" and plain.http_status == 504
    assert "outcome is unknown" in plain.message and plain.details["outcome"] == "unknown"
    assert "same Idempotency-Key" in keyed.message
    assert keyed.details == {
        "service": "intake",
        "method": "submit_application",
        "outcome": "unknown",
        "idempotency_key": "k-1",
    }


@pytest.fixture
def rpc() -> FakeRpc:
    return FakeRpc()


@pytest.fixture
def clerk(rpc, tmp_path):
    app = create_app(demo_settings(tmp_path), rpc=rpc, reads=FakeReadLog())
    return logged_in(app, "sgz-clerk")


def test_SEC10_the_gateway_passes_the_idempotency_key_of_a_submission(clerk, rpc):
    rpc.answers["intake.submit_application"] = intake_view()
    response = clerk.post(
        "/api/v1/applications", json=application(), headers={"Idempotency-Key": "form-42"}
    )
    assert response.status_code == 201
    [call] = rpc.calls
    assert call.kwargs["idempotency_key"] == "form-42"
    rpc.calls.clear()
    assert clerk.post("/api/v1/applications", json=application()).status_code == 201
    assert "idempotency_key" not in rpc.calls[0].kwargs


@pytest.mark.parametrize("key", ["", "x" * 129, "caf\u00e9", "tab\there"])
def test_SEC10_a_malformed_idempotency_key_is_400_naming_the_header(clerk, rpc, key):
    response = clerk.post(
        "/api/v1/applications", json=application(), headers={"Idempotency-Key": key}
    )
    assert_error(response, 400, "validation_failed", "Idempotency-Key")
    assert rpc.calls == []


def test_SEC10_a_504_with_an_idempotency_key_says_to_repeat_it(clerk, rpc):
    rpc.answers["intake.submit_application"] = _timeout("intake", "submit_application", 10, "f-1")
    response = clerk.post(
        "/api/v1/applications", json=application(), headers={"Idempotency-Key": "f-1"}
    )
    error = assert_error(response, 504, "upstream_timeout")
    assert "same Idempotency-Key" in error["message"]
    assert error["details"]["outcome"] == "unknown"
