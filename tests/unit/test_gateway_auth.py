"""Authentication and who sees what at the gateway: login, tokens, sessions, throttling, the
clock, streets, masking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

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
from tests.support.reads import FakeReadLog

ROOT = Path(__file__).resolve().parents[2]
SECRET = "unit-test-token-secret-0123456789abcdef"  # 38 characters
OTHER_SECRET = "another-unit-test-token-secret-0123456789"


def demo(var_dir: Path, **env: str) -> Settings:
    """Demo mode with a known token secret (so tests can sign tokens of their own)."""
    return Settings.from_env(
        {"HQ_DEMO": "1", "HQ_VAR_DIR": str(var_dir), "HQ_GATEWAY_SECRET": SECRET, **env}
    )


@pytest.fixture
def rpc() -> FakeRpc:
    return FakeRpc()


@pytest.fixture
def app(rpc, tmp_path):
    return create_app(demo(tmp_path), rpc=rpc, reads=FakeReadLog())


def login(app, username: str = "sgz-clerk", password: str = "demo", address: str = "10.0.0.1"):
    return app.test_client().post(
        "/api/v1/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


def test_expired_token_is_401(app):
    auth = app.extensions["hq_gateway"].auth
    token = auth.issue(auth.accounts["sgz-clerk"])
    started = auth.now()
    auth.now = lambda: started + gateway_auth.ACCESS_SECONDS + 1
    answer = app.test_client().get("/api/v1/me", headers=bearer(token))
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


# -- SEC-3: no default secret, no demo accounts outside demo mode ------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -m gateway`` in real-clock mode, without HQ_DEMO, with ``env``; a gateway that
    starts serving instead of refusing is stopped after 15 s (the test then fails)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HQ_", "GATEWAY_")) and k != "AMQP_URI"
    }
    full = {
        **base,
        "HQ_VAR_DIR": str(tmp_path),
        "HQ_CLOCK_MODE": "real",
        "GATEWAY_PORT": str(free_port()),
        "AMQP_URI": "amqp://guest:guest@127.0.0.1:1//",
        **env,
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "gateway"],
            cwd=ROOT,
            env=full,
            capture_output=True,
            text=True,
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the gateway started serving instead of refusing to start")


def refusal(done: subprocess.CompletedProcess) -> str:
    """The one line the gateway printed when it refused to start."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(lines[0])["msg"]


def test_SEC3_gateway_refuses_to_start_without_a_secret_outside_demo_mode(tmp_path):
    accounts = tmp_path / "accounts.json"
    shutil.copy(gateway_auth.DEMO_ACCOUNTS, accounts)
    message = refusal(start_gateway(tmp_path, HQ_ACCOUNTS_FILE=str(accounts)))
    assert "HQ_GATEWAY_SECRET" in message


def test_SEC3_gateway_refuses_a_short_secret(tmp_path):
    accounts = tmp_path / "accounts.json"
    shutil.copy(gateway_auth.DEMO_ACCOUNTS, accounts)
    done = start_gateway(tmp_path, HQ_ACCOUNTS_FILE=str(accounts), HQ_GATEWAY_SECRET="short")
    message = refusal(done)
    assert "HQ_GATEWAY_SECRET" in message and "32" in message


def test_SEC3_gateway_refuses_to_start_without_an_accounts_file_outside_demo_mode(tmp_path):
    message = refusal(start_gateway(tmp_path, HQ_GATEWAY_SECRET=SECRET))
    assert "HQ_ACCOUNTS_FILE" in message


def test_SEC3_gateway_refuses_an_unreadable_accounts_file(tmp_path):
    (tmp_path / "accounts.json").write_text("{not json", encoding="utf-8")
    done = start_gateway(
        tmp_path, HQ_GATEWAY_SECRET=SECRET, HQ_ACCOUNTS_FILE=str(tmp_path / "accounts.json")
    )
    assert "HQ_ACCOUNTS_FILE" in refusal(done)


def test_SEC3_outside_demo_mode_only_the_deployments_accounts_log_in(tmp_path, rpc):
    accounts = tmp_path / "accounts.json"
    own = {
        "username": "hq-officer",
        "name": "区民政局工作人员",
        "role": "district_officer",
        "street_code": None,
        "password_hash": gateway_auth.hash_password("a long passphrase"),
    }
    accounts.write_text(json.dumps({"accounts": [own]}), encoding="utf-8")
    settings = Settings.from_env(
        {
            "HQ_VAR_DIR": str(tmp_path),
            "HQ_GATEWAY_SECRET": SECRET,
            "HQ_ACCOUNTS_FILE": str(accounts),
        }
    )
    app = create_app(settings, rpc=rpc)
    assert_error(login(app, "sgz-clerk", "demo"), 401, "invalid_credentials", "password")
    answer = login(app, "hq-officer", "a long passphrase")
    assert answer.status_code == 200 and answer.get_json()["user"]["user_id"] == "hq-officer"
    assert not (tmp_path / "secrets.json").exists()  # nothing generated outside demo mode


def test_SEC3_demo_mode_generates_one_secret_per_suite_never_a_fixed_one(tmp_path, rpc):
    settings = Settings.from_env({"HQ_DEMO": "1", "HQ_VAR_DIR": str(tmp_path / "a")})
    first, second = create_app(settings, rpc=rpc), create_app(settings, rpc=rpc)
    token = login(first).get_json()["token"]
    assert second.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 200
    other = create_app(Settings.from_env({"HQ_DEMO": "1", "HQ_VAR_DIR": str(tmp_path / "b")}))
    assert_error(other.test_client().get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")


def test_SEC3_the_previous_secret_still_verifies_during_a_rotation(tmp_path, rpc):
    before = create_app(demo(tmp_path), rpc=rpc)
    token = login(before).get_json()["token"]
    rotating = create_app(
        demo(tmp_path, HQ_GATEWAY_SECRET=OTHER_SECRET, HQ_GATEWAY_SECRET_PREVIOUS=SECRET), rpc=rpc
    )
    assert rotating.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 200
    fresh = login(rotating).get_json()["token"]
    assert before.test_client().get("/api/v1/me", headers=bearer(fresh)).status_code == 401
    after = create_app(demo(tmp_path, HQ_GATEWAY_SECRET=OTHER_SECRET), rpc=rpc)
    assert_error(after.test_client().get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")
    assert after.test_client().get("/api/v1/me", headers=bearer(fresh)).status_code == 200


# -- SEC-4: every malformed token is 401, sessions can be ended, tokens are short-lived ---------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, secret: str = SECRET) -> str:
    """A token this gateway's secret signed, whatever its payload: only the claims are wrong."""
    body = b64(payload)
    return f"{body}.{b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())}"


def claims(**changes) -> bytes:
    base = {"typ": "access", "u": "sgz-clerk", "sid": "s-1", "exp": 4102444800}
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


MALFORMED = {
    "empty": "",
    "one part": "abc",
    "three parts": "a.b.c",
    "empty parts": ".",
    "not base64": "!!!.###",
    "non-ascii": "é.é",
    "bad padding": "a.b",
    "unsigned": b64(claims()) + ".",
    "very long": "A" * 100_000 + "." + "B" * 43,
    "no exp": signed(claims(exp=...)),
    "exp a string": signed(claims(exp="tomorrow")),
    "exp null": signed(claims(exp=None)),
    "exp a float too large": signed(claims(exp=1e308)),
    "exp true": signed(claims(exp=True)),
    "exp a list": signed(claims(exp=[1])),
    "exp an object": signed(claims(exp={"at": 1})),
    "no user": signed(claims(u=...)),
    "user a number": signed(claims(u=42)),
    "user a list": signed(claims(u=["sgz-clerk"])),
    "no claims": signed(b"{}"),
    "a JSON list": signed(b"[1, 2]"),
    "a JSON string": signed(b'"sgz-clerk"'),
    "a JSON number": signed(b"12"),
    "JSON null": signed(b"null"),
    "not JSON": signed(b"sgz-clerk"),
    "not UTF-8": signed(b"\xff\xfe{"),
    "deeply nested": signed(b"[" * 100_000 + b"]" * 100_000),
    "the old token format": signed(json.dumps({"u": "sgz-clerk", "exp": 4102444800}).encode()),
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
def test_SEC4_malformed_token_is_401_invalid_token_never_500(app, rpc, token):
    answer = app.test_client().get("/api/v1/cases", headers=bearer(token))
    assert_error(answer, 401, "invalid_token", "Authorization")
    assert rpc.calls == []


def test_SEC4_a_refresh_token_is_no_access_token(app):
    tokens = login(app).get_json()
    answer = app.test_client().get("/api/v1/me", headers=bearer(tokens["refresh_token"]))
    assert_error(answer, 401, "invalid_token", "Authorization")
    answer = app.test_client().post("/api/v1/refresh", json={"refresh_token": tokens["token"]})
    assert_error(answer, 401, "invalid_token", "refresh_token")


def test_SEC4_access_tokens_live_15_minutes(app):
    auth = app.extensions["hq_gateway"].auth
    body = login(app).get_json()
    assert body["expires_in"] == 15 * 60
    started = auth.now()
    auth.now = lambda: started + 14 * 60
    assert app.test_client().get("/api/v1/me", headers=bearer(body["token"])).status_code == 200
    auth.now = lambda: started + 15 * 60 + 1
    answer = app.test_client().get("/api/v1/me", headers=bearer(body["token"]))
    assert_error(answer, 401, "token_expired", "Authorization")


def test_SEC4_refresh_gives_a_new_pair_and_each_refresh_token_works_once(app):
    auth = app.extensions["hq_gateway"].auth
    first = login(app).get_json()
    started = auth.now()
    auth.now = lambda: started + 20 * 60  # the access token has expired
    answer = app.test_client().post(
        "/api/v1/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert answer.status_code == 200, answer.data
    second = answer.get_json()
    assert second["user"]["user_id"] == "sgz-clerk" and second["expires_in"] == 15 * 60
    assert app.test_client().get("/api/v1/me", headers=bearer(second["token"])).status_code == 200
    # The first refresh token again: a copy is around, so the whole session ends.
    again = app.test_client().post(
        "/api/v1/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert_error(again, 401, "token_revoked")
    answer = app.test_client().get("/api/v1/me", headers=bearer(second["token"]))
    assert_error(answer, 401, "token_revoked", "Authorization")
    answer = app.test_client().post(
        "/api/v1/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert_error(answer, 401, "token_revoked")


def test_SEC4_a_session_ends_12_hours_after_login(app):
    auth = app.extensions["hq_gateway"].auth
    body = login(app).get_json()
    started = auth.now()
    auth.now = lambda: started + 12 * 3600 + 1
    answer = app.test_client().post(
        "/api/v1/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert_error(answer, 401, "token_expired", "refresh_token")


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({}, "validation_failed", "refresh_token"),
        ({"refresh_token": 7}, "validation_failed", "refresh_token"),
        ({"refresh_token": "a.b"}, "invalid_token", "refresh_token"),
    ],
)
def test_SEC4_a_bad_refresh_request_is_4xx_naming_the_field(app, body, code, field):
    answer = app.test_client().post("/api/v1/refresh", json=body)
    assert_error(answer, 400 if code == "validation_failed" else 401, code, field)


def test_SEC4_logout_revokes_the_access_and_the_refresh_token(app):
    body = login(app).get_json()
    answer = app.test_client().post("/api/v1/logout", headers=bearer(body["token"]))
    assert answer.status_code == 204
    answer = app.test_client().get("/api/v1/me", headers=bearer(body["token"]))
    assert_error(answer, 401, "token_revoked", "Authorization")
    answer = app.test_client().post(
        "/api/v1/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert_error(answer, 401, "token_revoked")
    assert_error(app.test_client().post("/api/v1/logout"), 401, "not_authenticated")


def test_SEC4_logout_is_seen_by_every_gateway_instance(tmp_path, rpc):
    """Two instances sharing the session store (GATEWAY_DATABASE_URL), as replicas do."""
    shared = {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'shared-sessions.db'}"}
    one = create_app(demo(tmp_path / "one", **shared), rpc=rpc)
    two = create_app(demo(tmp_path / "two", **shared), rpc=rpc)
    body = login(one).get_json()
    assert two.test_client().get("/api/v1/me", headers=bearer(body["token"])).status_code == 200
    assert (
        one.test_client().post("/api/v1/logout", headers=bearer(body["token"])).status_code == 204
    )
    answer = two.test_client().get("/api/v1/me", headers=bearer(body["token"]))
    assert_error(answer, 401, "token_revoked")


def test_SEC4_other_sessions_of_the_same_user_survive_a_logout(app):
    first, second = login(app).get_json(), login(app).get_json()
    app.test_client().post("/api/v1/logout", headers=bearer(first["token"]))
    assert app.test_client().get("/api/v1/me", headers=bearer(second["token"])).status_code == 200


def test_SEC4_refresh_and_logout_are_in_the_openapi_document(app):
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/refresh"] and "post" in paths["/api/v1/logout"]
    assert paths["/api/v1/logout"]["post"]["security"] == [{"bearer": []}]


# -- SEC-5: throttled logins, the same work for unknown users -----------------------------------


def test_SEC5_five_failures_for_a_username_give_429_with_retry_after(app):
    auth = app.extensions["hq_gateway"].auth
    for attempt in range(5):
        address = f"10.0.1.{attempt}"  # spread over addresses: the username is what counts
        assert_error(login(app, password="wrong", address=address), 401, "invalid_credentials")
    answer = login(app, password="demo", address="10.0.2.1")  # even the right password
    error = assert_error(answer, 429, "too_many_attempts", "username")
    retry_after = int(answer.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60 and error["details"] == {"retry_after": retry_after}
    assert login(app, "sgz-community", address="10.0.2.1").status_code == 200  # others may
    started = auth.now()
    auth.now = lambda: started + retry_after
    assert login(app, address="10.0.2.1").status_code == 200


def test_SEC5_twenty_failures_from_one_address_give_429(app):
    auth = app.extensions["hq_gateway"].auth
    for attempt in range(20):
        answer = login(app, f"nobody-{attempt}", "wrong", address="192.0.2.7")
        assert_error(answer, 401, "invalid_credentials")
    answer = login(app, "sgz-clerk", "demo", address="192.0.2.7")
    assert_error(answer, 429, "too_many_attempts")
    assert 0 < int(answer.headers["Retry-After"]) <= 60
    assert login(app, "sgz-clerk", "demo", address="192.0.2.8").status_code == 200
    started = auth.now()
    auth.now = lambda: started + 61
    assert login(app, "sgz-clerk", "demo", address="192.0.2.7").status_code == 200


def test_SEC5_a_successful_login_clears_the_usernames_failures(app):
    for _ in range(4):
        login(app, password="wrong")
    assert login(app).status_code == 200
    for _ in range(4):
        assert_error(login(app, password="wrong"), 401, "invalid_credentials")
    assert login(app).status_code == 200


def test_SEC5_an_unknown_username_costs_the_same_pbkdf2_work_as_a_known_one(app, monkeypatch):
    calls: list[tuple[str, int]] = []
    real = hashlib.pbkdf2_hmac

    def counting(name, password, salt, iterations, *args):
        calls.append((name, iterations))
        return real(name, password, salt, iterations, *args)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    assert_error(login(app, "sgz-clerk", "wrong"), 401, "invalid_credentials")
    known = list(calls)
    calls.clear()
    assert_error(login(app, "no-such-user", "wrong"), 401, "invalid_credentials")
    assert known == calls == [("sha256", 120_000)]


def test_SEC5_login_documents_429(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "429" in doc["paths"]["/api/v1/login"]["post"]["responses"]


# -- SEC-11: only the district officer moves the suite's clock ---------------------------------


def controlled(tmp_path: Path) -> Settings:
    return demo(tmp_path, HQ_CLOCK_MODE="controlled", HQ_CLOCK_FILE=str(tmp_path / "clock.json"))


def test_SEC11_moving_the_clock_anonymously_is_401_and_changes_nothing(tmp_path, rpc):
    app = create_app(controlled(tmp_path), rpc=rpc)
    answer = app.test_client().post("/api/v1/clock", json={"advance": "P30D"})
    assert_error(answer, 401, "not_authenticated", "Authorization")
    assert app.test_client().get("/api/v1/clock").get_json()["offset_seconds"] == 0


@pytest.mark.parametrize("username", ["sgz-clerk", "sgz-leader", "shc-head", "xgu-community"])
def test_SEC11_moving_the_clock_is_403_for_other_roles(tmp_path, rpc, username):
    app = create_app(controlled(tmp_path), rpc=rpc)
    answer = logged_in(app, username).post("/api/v1/clock", json={"advance": "P30D"})
    error = assert_error(answer, 403, "wrong_role", "role")
    assert error["details"] == {"allowed_roles": ["district_officer"]}
    assert app.test_client().get("/api/v1/clock").get_json()["offset_seconds"] == 0


def test_SEC11_the_district_officer_moves_the_clock(tmp_path, rpc):
    app = create_app(controlled(tmp_path), rpc=rpc)
    answer = logged_in(app, "district-officer").post("/api/v1/clock", json={"advance": "P1D"})
    assert answer.status_code == 200
    assert answer.get_json()["offset_seconds"] == pytest.approx(86400, abs=1)
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["paths"]["/api/v1/clock"]["post"]["security"] == [{"bearer": []}]
