"""HTTP routes of the session: log in with a deployment (or, in demo mode, a demo) account,
refresh the tokens, log out, and who is logged in. Authentication is the gateway's own
(``gateway.auth``); no service is called."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from gateway.auth import Tokens, bearer_token
from gateway.openapi import Operation
from gateway.schemas import LoginAnswerSchema, LoginSchema, RefreshSchema
from gateway.web import current_actor, gateway, json_object, validated
from hqcore.contracts.common import ActorSchema

bp = Blueprint("session", __name__)


def _answer(tokens: Tokens) -> Response:
    return jsonify(
        token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        user=tokens.account.actor().to_dict(),
    )


@bp.post("/api/v1/login")
def login() -> Response:
    body = validated(LoginSchema, json_object())
    address = request.remote_addr or "unknown"
    return _answer(gateway().auth.login(body["username"], body["password"], address))


@bp.post("/api/v1/refresh")
def refresh() -> Response:
    body = validated(RefreshSchema, json_object())
    return _answer(gateway().auth.refresh(body["refresh_token"]))


@bp.post("/api/v1/logout")
def logout() -> Response:
    current_actor()  # 401 unless the token is valid and its session open
    gateway().auth.logout(bearer_token())
    return Response(status=204)


@bp.get("/api/v1/me")
def me() -> Response:
    return jsonify(current_actor().to_dict())


OPERATIONS = (
    Operation(
        "/api/v1/login",
        "post",
        "Log in",
        "authentication",
        {
            200: (
                "An access token, a refresh token and the user's role and street",
                LoginAnswerSchema,
            )
        },
        description="Opens a session. The access token is valid 15 minutes; the refresh token "
        "gives a new pair once (POST /api/v1/refresh) until 12 hours after login. A wrong user "
        "or password is 401 `invalid_credentials`. After 5 failures for a username in 15 "
        "minutes, or 20 from one address in a minute, 429 `too_many_attempts` with "
        "`Retry-After` (seconds). In demo mode the demo accounts of the README log in with "
        "the password `demo`.",
        request=LoginSchema,
        errors=(400, 401, 429),
        authenticated=False,
    ),
    Operation(
        "/api/v1/refresh",
        "post",
        "A new token pair for a refresh token",
        "authentication",
        {200: ("A new access token and a new refresh token", LoginAnswerSchema)},
        description="Each refresh token works once. Presenting one a second time ends the "
        "session (401 `token_revoked`), as a stolen copy would; an expired one is 401 "
        "`token_expired`, anything else 401 `invalid_token`.",
        request=RefreshSchema,
        errors=(400, 401),
        authenticated=False,
    ),
    Operation(
        "/api/v1/logout",
        "post",
        "Log out",
        "authentication",
        {204: ("The session is closed: its access and refresh tokens are refused", None)},
        description="Every gateway instance refuses the session's tokens from now on "
        "(401 `token_revoked`).",
    ),
    Operation(
        "/api/v1/me",
        "get",
        "The logged-in user",
        "authentication",
        {200: ("user_id, role, street_code (null for the district), name", ActorSchema)},
    ),
)
