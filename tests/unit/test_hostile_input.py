"""Hostile input at the gateway and in the contracts (issue 8: SEC-8, SEC-9, SEC-11).

Through Flask's test client with a fake RPC client: what a user (or an attacker) sees, and that
nothing reached a service when the request was refused. The contracts are checked directly too,
since a service receives RPC payloads that did not come through the gateway's body parser.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway import create_app
from gateway.routes import OPERATIONS
from hqcore import idnumber
from hqcore.config import Settings
from hqcore.contracts import load_event_payload, load_rpc_request
from hqcore.contracts.registry import RPC, ContractError
from hqcore.errors import ServiceUnavailable, ValidationFailed
from hqops.samples import make_id_number

APPLICANT_ID = "11010519491231002X"


class FakeRpc:
    """Records every call and answers none: a refused request must leave ``calls`` empty."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def call_async(self, service: str, method: str, *args: Any, **kwargs: Any) -> Future:
        self.calls.append((service, method, kwargs))
        future: Future = Future()
        future.set_exception(ServiceUnavailable("not faked"))
        return future


class RecordedReads:
    """The gateway's read log (SEC-15) without a broker."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    def publish(self, envelope: Any) -> None:
        self.envelopes.append(envelope)


def make_app(rpc: FakeRpc, var_dir: Path):
    settings = Settings.from_env(
        {
            "HQ_DEMO": "1",
            "HQ_CLOCK_MODE": "controlled",
            "HQ_CLOCK_FILE": str(var_dir / "clock.json"),
            "HQ_VAR_DIR": str(var_dir / "var"),
        }
    )
    return create_app(settings, rpc=rpc)


def logged_in(app, username: str):
    """A test client holding the bearer token a real login gives ``username``."""
    client = app.test_client()
    answer = client.post("/api/v1/login", json={"username": username, "password": "demo"})
    assert answer.status_code == 200, answer.data
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {answer.get_json()['token']}"
    return client


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Any, FakeRpc, dict[str, Any]]:
    """One app (and one login per user) for the module: logins are slow on purpose."""
    rpc = FakeRpc()
    app = make_app(rpc, tmp_path_factory.mktemp("gateway"))
    users = {name: logged_in(app, name) for name in ("sgz-clerk", "district-officer")}
    return app, rpc, users


@pytest.fixture
def rpc(shared) -> FakeRpc:
    shared[1].calls.clear()
    return shared[1]


@pytest.fixture
def app(shared, rpc):
    return shared[0]


@pytest.fixture
def clerk(shared, rpc):
    return shared[2]["sgz-clerk"]


@pytest.fixture
def district(shared, rpc):
    return shared[2]["district-officer"]


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return error


def application(**person: str) -> dict:
    applicant = {"name": "王秀英", "id_number": APPLICANT_ID, "relationship": "self", **person}
    return {
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "applicant": applicant,
        "members": [dict(applicant)],
    }


def id_number(region: str, birth: str, serial: str = "001") -> str:
    first17 = f"{region}{birth}{serial}"
    return first17 + idnumber.check_digit(first17)


# Every route that takes a JSON body (its OpenAPI operation names a request schema), with
# example path parameters.
BODY_ROUTES = sorted(
    {
        (op.method.upper(), op.path.replace("{case_id}", "c-1").replace("{street_code}", "xigu"))
        for op in OPERATIONS
        if op.request is not None
    }
)


def test_body_routes_are_found():
    assert ("POST", "/api/v1/applications") in BODY_ROUTES
    assert ("POST", "/api/v1/clock") in BODY_ROUTES
    assert ("PUT", "/api/v1/streets/xigu/delegation") in BODY_ROUTES
    assert len(BODY_ROUTES) > 20


# -- SEC-8: deep nesting, lone surrogates and NUL -----------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_SEC8_deeply_nested_json_is_400_invalid_json_on_every_route(district, rpc, depth):
    arrays = "[" * depth + "]" * depth
    objects = '{"a":' * depth + "1" + "}" * depth
    for method, path in BODY_ROUTES:
        for body in (arrays, objects):
            response = district.open(
                path, method=method, data=body, content_type="application/json"
            )
            assert_error(response, 400, "invalid_json", "body")
    assert rpc.calls == []


def test_SEC8_nesting_deeper_than_any_contract_is_invalid_json(clerk, rpc):
    body = application()
    nested: dict = body
    for _ in range(40):
        nested["more"] = {}
        nested = nested["more"]
    assert_error(clerk.post("/api/v1/applications", json=body), 400, "invalid_json", "body")
    assert rpc.calls == []


@pytest.mark.parametrize(
    "raw, field",
    [
        (r'"community": "前园\ud800社区"', "community"),
        (r'"community": "\udfff"', "community"),
        (r'"community": "前园\u0000社区"', "community"),
        (r'"materials": ["\u0000"]', "materials.0"),
    ],
)
def test_SEC8_lone_surrogate_or_nul_in_any_string_is_400_naming_the_field(clerk, rpc, raw, field):
    """Escaped in JSON (``\\ud800``, ``\\u0000``): valid JSON, but no text a store can keep;
    refused naming the field before any service is called, so nothing is stored."""
    person = f'{{"name": "王秀英", "id_number": "{APPLICANT_ID}", "relationship": "self"}}'
    body = (
        f'{{"program": "dibao", "street_code": "shaogongzhuang", "applicant": {person}, '
        f'"members": [{person}], {raw}}}'
    )
    response = clerk.post(
        "/api/v1/applications", data=body.encode(), content_type="application/json"
    )
    error = assert_error(response, 400, "validation_failed", field)
    assert "U+" in error["message"]
    assert rpc.calls == []


def test_SEC8_nul_or_surrogate_in_a_name_of_a_field_is_400(clerk, rpc):
    body = r'{"program\u0000": "dibao", "x\ud800": 1}'
    response = clerk.post(
        "/api/v1/applications", data=body.encode(), content_type="application/json"
    )
    error = assert_error(response, 400, "validation_failed")
    assert error["field"] in {"program\\x00", "x\\ud800"}
    assert rpc.calls == []


@pytest.mark.parametrize(
    "url, field",
    [
        ("/api/v1/cases/c-1%00", "case_id"),
        ("/api/v1/cases/c-1%00/timeline", "case_id"),
        ("/api/v1/streets/xigu/recipients?community=%00", "community"),
        ("/api/v1/cases?street_code=xigu%00", "street_code"),
    ],
)
def test_SEC8_nul_in_a_path_or_query_parameter_is_400_naming_it(district, rpc, url, field):
    assert_error(district.get(url), 400, "validation_failed", field)
    assert rpc.calls == []


@pytest.mark.parametrize(
    "raw, field",
    [
        ("前园\x00社区", "community"),
        ("前园\ud800社区", "community"),
    ],
)
def test_SEC8_a_service_refuses_nul_and_surrogates_sent_over_rpc(raw, field):
    """A service checks what it is sent itself: an RPC payload never went through the
    gateway's body parser."""
    request = {**application(), "community": raw}
    with pytest.raises(ValidationFailed) as refused:
        load_rpc_request("intake.submit_application", request)
    assert refused.value.field == field
    assert refused.value.code == "validation_failed"
    applicant = {"name": "王\x00秀英", "id_number": APPLICANT_ID, "relationship": "self"}
    with pytest.raises(ValidationFailed) as named:
        load_rpc_request("intake.submit_application", {**application(), "applicant": applicant})
    assert named.value.field == "applicant.name"


def test_SEC8_a_service_refuses_deep_payloads_without_recursing():
    deep: dict = {}
    inner = deep
    for _ in range(100_000):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(ValidationFailed) as refused:
        load_rpc_request("intake.submit_application", {**application(), "proxy": deep})
    assert refused.value.code == "invalid_json"


def test_SEC8_an_event_with_a_nul_breaks_its_contract():
    with pytest.raises(ContractError) as refused:
        load_event_payload("case.progressed", 1, {"note": "x\x00"})
    assert refused.value.code == "contract_violation"
    assert refused.value.field == "payload.note"


# -- SEC-9: names, ID numbers, months and dates -------------------------------------------------

INVISIBLE_NAMES = [
    "   ",
    "\u200b",
    "\u200c\u200d",
    "\u2060",
    "\ufeff",
    "\u3000",
    "王\u200b秀英",
    "\u202e英秀王",
    "王\u202a秀英\u202c",
    "\u2066王秀英\u2069",
    "王\x07秀英",
    "王\n秀英",
    "王\t秀英",
    "123",
    "。。",
]


@pytest.mark.parametrize("name", INVISIBLE_NAMES)
def test_SEC9_blank_invisible_or_control_names_are_400_naming_the_field(clerk, rpc, name):
    response = clerk.post("/api/v1/applications", json=application(name=name))
    assert_error(response, 400, "validation_failed", "applicant.name")
    assert rpc.calls == []


# Every name of a person in a request: (contract, request, dotted field).
_PERSON = {"name": "李强", "id_number": make_id_number(21), "relationship": "spouse"}
NAME_FIELDS = [
    ("intake.submit_application", {"applicant": {"name": "\u200b"}}, "applicant.name"),
    ("intake.submit_application", {"members": [{"name": "\u202e"}]}, "members.0.name"),
    ("intake.submit_application", {"obligors": [{"name": " "}]}, "obligors.0.name"),
    (
        "intake.submit_application",
        {"obligors": [{"family_members": [{**_PERSON, "name": "\x00"}]}]},
        "obligors.0.family_members.0.name",
    ),
    ("intake.submit_application", {"proxy": {"name": "\u2066"}}, "proxy.name"),
    (
        "decision.decide",
        {"care_arrangement": {"caregiver": {"name": "\ufeff"}}},
        "care_arrangement.caregiver.name",
    ),
    (
        "decision.decide",
        {"care_arrangement": {"payee_account": {"holder": "\u200d"}}},
        "care_arrangement.payee_account.holder",
    ),
    ("publicity.record_objection", {"objector": "\u2060"}, "objector"),
    ("publicity.record_deliberation", {"members_present": ["\u200b"]}, "members_present.0"),
    ("publicity.record_deliberation", {"signed_off_by": "\x1b"}, "signed_off_by"),
    ("publicity.set_deliberation_body", {"members": [{"name": "\u202d"}]}, "members.0.name"),
]


def _at(messages: Any, dotted: str) -> Any:
    """The messages marshmallow gives at ``dotted`` (list items are keyed by index)."""
    for part in dotted.split("."):
        messages = messages[int(part) if part.isdigit() else part]
    return messages


@pytest.mark.parametrize("contract, request_body, field", NAME_FIELDS)
def test_SEC9_every_name_of_a_person_must_be_printable_with_a_letter(contract, request_body, field):
    errors = RPC[contract].request().validate(request_body)
    messages = _at(errors, field)
    assert any("letter" in m or "U+" in m for m in messages), messages


@pytest.mark.parametrize(
    "name, stored",
    [
        ("王秀英", "王秀英"),
        (" 李明 ", "李明"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("Mary O'Brien-Smith", "Mary O'Brien-Smith"),
        ("李\ue000", "李\ue000"),  # a rare character some registers write in private use
    ],
)
def test_SEC9_real_names_still_load(name, stored):
    loaded = load_rpc_request("intake.submit_application", application(name=name))
    assert loaded["applicant"]["name"] == stored


def _tomorrow() -> str:
    return (idnumber.today() + timedelta(days=1)).strftime("%Y%m%d")


@pytest.mark.parametrize(
    "value, reason",
    [
        (id_number("120106", "20990101"), "future"),
        (id_number("120106", "18000101"), "before 1900"),
        (id_number("120106", "18991231"), "before 1900"),
        (id_number("999999", "19600101"), "unknown region"),
        (id_number("900106", "19600101"), "unknown region"),
        (id_number("160106", "19600101"), "unknown region"),
    ],
)
def test_SEC9_id_numbers_born_in_the_future_or_before_1900_or_of_no_region_are_400(
    clerk, rpc, value, reason
):
    body = application(id_number=value)
    error = assert_error(
        clerk.post("/api/v1/applications", json=body),
        400,
        "validation_failed",
        "applicant.id_number",
    )
    assert reason in error["message"]
    assert rpc.calls == []


def test_SEC9_an_id_number_born_tomorrow_is_refused_today_accepted():
    tomorrow = id_number("120106", _tomorrow())
    today = id_number("120106", idnumber.today().strftime("%Y%m%d"))
    with pytest.raises(ValidationFailed, match="future"):
        load_rpc_request("intake.submit_application", application(id_number=tomorrow))
    assert load_rpc_request("intake.submit_application", application(id_number=today))


def test_SEC9_sample_id_numbers_stay_valid():
    """The helpers that generate households (hqops.samples) still give valid ID numbers."""
    for serial in range(0, 1000, 7):
        assert idnumber.problem(make_id_number(serial), today=idnumber.today()) is None
    assert idnumber.problem(make_id_number(1, birth="20100101"), today=idnumber.today()) is None


@pytest.mark.parametrize("month", ["0001-01", "1999-12", "2101-01", "9999-12"])
def test_SEC9_months_out_of_range_are_400_naming_the_month(district, rpc, month):
    assert_error(district.get(f"/api/v1/payments?month={month}"), 400, "validation_failed", "month")
    assert_error(
        district.post("/api/v1/streets/xigu/monthly-reports", json={"month": month}),
        400,
        "validation_failed",
        "month",
    )
    assert_error(
        district.get(f"/api/v1/recipients/new?month={month}"), 400, "validation_failed", "month"
    )
    assert rpc.calls == []


@pytest.mark.parametrize("month", ["2000-01", "2024-02", "2100-12"])
def test_months_in_range_load(month):
    for contract in ("payments.list_payments", "decision.file_monthly_report"):
        errors = RPC[contract].request().validate({"month": month, "street_code": "xigu"})
        assert "month" not in errors


@pytest.mark.parametrize("day", ["9999-12-31", "2101-01-01", "1999-12-31", "0001-01-01"])
def test_SEC9_delegation_dates_out_of_range_are_400(district, rpc, day):
    response = district.put("/api/v1/streets/xigu/delegation", json={"delegated_from": day})
    assert_error(response, 400, "validation_failed", "delegated_from")
    assert rpc.calls == []


DATE_FIELDS = [
    ("decision.set_delegation", {"delegated_from": "9999-01-01"}, "delegated_from"),
    ("decision.add_policy_rate", {"valid_from": "0001-01-01"}, "valid_from"),
    ("decision.add_policy_rate", {"valid_to": "9999-12-31"}, "valid_to"),
    (
        "decision.decide",
        {"care_arrangement": {"agreement_signed_on": "9999-01-01"}},
        "care_arrangement.agreement_signed_on",
    ),
    (
        "publicity.record_deliberation",
        {"leadership_meeting_approved_on": "9999-01-01"},
        "leadership_meeting_approved_on",
    ),
]


@pytest.mark.parametrize("contract, request_body, field", DATE_FIELDS)
def test_SEC9_every_date_of_a_request_is_within_2000_to_2100(contract, request_body, field):
    messages = _at(RPC[contract].request().validate(request_body), field)
    assert any("2000-01-01" in m for m in messages), messages
    assert date(2000, 1, 1).isoformat() in messages[0]


# -- SEC-11: bodies must be JSON; security headers ----------------------------------------------

NOT_JSON = [
    ("text/plain", b'{"advance": "P1D"}'),
    ("application/x-www-form-urlencoded", b"advance=P1D"),
    (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
    ),
    ("text/html", b"<p>"),
    ("application/xml", b"<a/>"),
]


@pytest.mark.parametrize("content_type, body", NOT_JSON)
def test_SEC11_a_body_that_is_not_json_is_415_on_every_route_before_anything_runs(
    app, rpc, content_type, body
):
    client = app.test_client()  # no login: the media type is refused before authentication
    for method, path in BODY_ROUTES:
        response = client.open(path, method=method, data=body, content_type=content_type)
        assert_error(response, 415, "unsupported_media_type")
    assert rpc.calls == []


def test_SEC11_a_body_without_a_content_type_is_415(app, rpc):
    response = app.test_client().post("/api/v1/login", data=b'{"username": "x", "password": "y"}')
    assert_error(response, 415, "unsupported_media_type")


def test_SEC11_a_cross_site_form_cannot_move_the_clock(app):
    client = app.test_client()
    before = client.get("/api/v1/clock").get_json()["offset_seconds"]
    response = client.post("/api/v1/clock", data=b'{"advance": "P30D"}', content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")
    assert abs(client.get("/api/v1/clock").get_json()["offset_seconds"] - before) < 60


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.hq+json"],
)
def test_json_media_types_are_accepted(app, content_type):
    response = app.test_client().post(
        "/api/v1/login",
        data=b'{"username": "sgz-clerk", "password": "demo"}',
        content_type=content_type,
    )
    assert response.status_code == 200, response.data


def test_unknown_routes_stay_404_whatever_the_body(app):
    response = app.test_client().post("/api/v1/nothing", data=b"x", content_type="text/plain")
    assert_error(response, 404, "not_found")


def _assert_security_headers(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    policy = response.headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "script-src" not in policy


def test_SEC11_html_pages_carry_a_content_security_policy(app):
    page = app.test_client().get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    _assert_security_headers(page)


def test_SEC11_html_documents_carry_a_content_security_policy(tmp_path):
    rpc = FakeRpc()
    app = make_app(rpc, tmp_path)
    html = "<html><body><script>alert(1)</script></body></html>"

    def answer(service: str, method: str, *args: Any, **kwargs: Any) -> Future:
        rpc.calls.append((service, method, kwargs))
        future: Future = Future()
        if method == "get_document":
            future.set_result(
                {
                    "document_id": "decision:d-1",
                    "case_id": "c-1",
                    "kind": "decision_letter",
                    "title": "决定书",
                    "issued_at": "2024-03-01T08:00:00+00:00",
                    "served_at": None,
                    "html": html,
                }
            )
        elif method == "get_case":
            future.set_result({"case_id": "c-1", "street_code": "shaogongzhuang"})
        else:
            future.set_result(None)
        return future

    rpc.call_async = answer  # type: ignore[method-assign]
    app.extensions["hq_readlog"] = RecordedReads()  # SEC-15's read log, kept in memory
    response = logged_in(app, "sgz-clerk").get("/api/v1/documents/decision:d-1")
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/html"
    _assert_security_headers(response)


@pytest.mark.parametrize(
    "method, url", [("GET", "/api/v1/clock"), ("GET", "/api/v1/nothing"), ("GET", "/api/v1/me")]
)
def test_SEC11_every_answer_says_nosniff(app, method, url):
    _assert_security_headers(app.test_client().open(url, method=method))


def test_a_body_over_one_mib_is_413_before_it_is_read(clerk, rpc):
    body = b'{"community": "' + b"x" * (1024 * 1024) + b'"}'
    response = clerk.post("/api/v1/applications", data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    assert rpc.calls == []
