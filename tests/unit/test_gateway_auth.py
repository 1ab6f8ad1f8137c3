"""Authentication and who sees what at the gateway: login, bearer tokens, streets, masking."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from test_gateway_app import (  # tests/unit is on sys.path
    APPLICANT_ID,
    SPOUSE_ID,
    FakeRpc,
    assert_error,
    intake_view,
    logged_in,
    service_view,
)

import gateway.auth as gateway_auth
from gateway import create_app
from hqcore import idnumber
from hqcore.config import SERVICES, Settings


@pytest.fixture
def rpc() -> FakeRpc:
    return FakeRpc()


@pytest.fixture
def app(rpc):
    return create_app(Settings.from_env({}), rpc=rpc)


PROTECTED = [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/cases"),
    ("get", "/api/v1/cases/c-1"),
    ("get", "/api/v1/worklist"),
    ("get", "/api/v1/deadlines"),
    ("get", "/api/v1/recipients/new"),
    ("get", "/api/v1/cases/c-1/timeline"),
    ("get", "/api/v1/documents/decision:d-1"),
    ("post", "/api/v1/applications"),
]


def test_login_with_a_demo_account_gives_a_token_for_that_user(app):
    answer = app.test_client().post(
        "/api/v1/login", json={"username": "sgz-clerk", "password": "demo"}
    )
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["user"] == {
        "user_id": "sgz-clerk",
        "role": "clerk",
        "street_code": "shaogongzhuang",
        "name": body["user"]["name"],
    }
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.get_json()["user_id"] == "sgz-clerk"


@pytest.mark.parametrize("username, password", [("sgz-clerk", "wrong"), ("nobody", "demo")])
def test_login_failure_is_401_invalid_credentials(app, username, password):
    answer = app.test_client().post(
        "/api/v1/login", json={"username": username, "password": password}
    )
    assert_error(answer, 401, "invalid_credentials", "password")


def test_login_without_a_password_is_400_naming_it(app):
    assert_error(
        app.test_client().post("/api/v1/login", json={"username": "sgz-clerk"}),
        400,
        "validation_failed",
        "password",
    )


@pytest.mark.parametrize("method, path", PROTECTED)
def test_every_route_needs_a_login(app, rpc, method, path):
    answer = getattr(app.test_client(), method)(path)
    assert_error(answer, 401, "not_authenticated", "Authorization")
    assert rpc.calls == []


def test_every_operation_documented_as_authenticated_needs_a_login(app, rpc):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    checked = 0
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if op.get("security") != [{"bearer": []}]:
                continue
            url = (
                path.replace("{case_id}", "c-1")
                .replace("{street_code}", "shaogongzhuang")
                .replace("{document_id}", "decision:d-1")
            )
            answer = getattr(app.test_client(), method)(url, json={})
            assert_error(answer, 401, "not_authenticated", "Authorization")
            checked += 1
    assert checked >= 30
    assert rpc.calls == []


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer a.b.c", "Bearer e30.e30"])
def test_invalid_token_is_401(app, rpc, header):
    answer = app.test_client().get("/api/v1/cases", headers={"Authorization": header})
    assert_error(answer, 401, "invalid_token", "Authorization")
    assert rpc.calls == []


def test_tampered_token_is_401(app):
    auth = app.extensions["hq_gateway"].auth
    signature = auth.issue(auth.accounts["sgz-clerk"]).split(".")[1]
    forged = auth.issue(auth.accounts["district-officer"]).split(".")[0]  # another user
    answer = app.test_client().get(
        "/api/v1/me", headers={"Authorization": f"Bearer {forged}.{signature}"}
    )
    assert_error(answer, 401, "invalid_token")


def test_expired_token_is_401(app, monkeypatch):
    auth = app.extensions["hq_gateway"].auth
    long_ago = time.time() - (gateway_auth.TOKEN_HOURS * 3600 + 60)
    monkeypatch.setattr(gateway_auth, "time", SimpleNamespace(time=lambda: long_ago))
    token = auth.issue(auth.accounts["sgz-clerk"])
    monkeypatch.undo()
    answer = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(answer, 401, "token_expired", "Authorization")


def whole_case(rpc) -> None:
    rpc.answers.update({f"{name}.get_case": service_view(name) for name in SERVICES})
    rpc.answers["intake.get_case"] = intake_view()
    rpc.answers["verification.get_case"] = {
        **service_view("verification"),
        "details": {
            "income_per_head_fen": 52000,
            "money_assets_fen": 100000,
            "members": [{"name": "李强", "id_number": SPOUSE_ID}],
        },
    }


def test_street_staff_cannot_see_another_streets_case(app, rpc):
    whole_case(rpc)
    for username in ("shc-clerk", "xgu-leader", "shc-community"):
        assert_error(
            logged_in(app, username).get("/api/v1/cases/c-1"), 403, "wrong_street", "street_code"
        )


def test_the_district_sees_every_streets_case(app, rpc):
    whole_case(rpc)
    body = logged_in(app, "district-officer").get("/api/v1/cases/c-1").get_json()
    assert body["case"]["street_code"] == "shaogongzhuang"
    assert body["case"]["applicant"]["id_number"] == APPLICANT_ID


def test_community_worker_sees_id_numbers_and_incomes_masked(app, rpc):
    whole_case(rpc)
    client = logged_in(app, "sgz-community")
    body = client.get("/api/v1/cases/c-1").get_json()
    assert body["case"]["applicant"]["id_number"] == idnumber.mask(APPLICANT_ID)
    details = body["services"]["verification"]["details"]
    assert details["income_per_head_fen"] == "***" and details["money_assets_fen"] == "***"
    assert details["members"][0]["id_number"] == idnumber.mask(SPOUSE_ID)
    assert APPLICANT_ID not in client.get("/api/v1/cases/c-1").get_data(as_text=True)


def test_clerk_sees_id_numbers_and_incomes_in_full(app, rpc):
    whole_case(rpc)
    body = logged_in(app, "sgz-clerk").get("/api/v1/cases/c-1").get_json()
    assert body["case"]["applicant"]["id_number"] == APPLICANT_ID
    details = body["services"]["verification"]["details"]
    assert details["income_per_head_fen"] == 52000
    assert details["members"][0]["id_number"] == SPOUSE_ID
