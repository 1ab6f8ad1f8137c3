"""HTTP routes of the session: log in with a demo or deployment account, and who is logged in.
Authentication is the gateway's own (``gateway.auth``); no service is called."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.openapi import Operation
from gateway.schemas import LoginAnswerSchema, LoginSchema
from gateway.web import current_actor, gateway, json_object, validated

bp = Blueprint("session", __name__)


@bp.post("/api/v1/login")
def login() -> Response:
    body = validated(LoginSchema, json_object())
    token, account = gateway().auth.login(body["username"], body["password"])
    return jsonify(token=token, user=account.actor().to_dict())


@bp.get("/api/v1/me")
def me() -> Response:
    return jsonify(current_actor().to_dict())


OPERATIONS = (
    Operation(
        "/api/v1/login",
        "post",
        "Log in",
        "authentication",
        {200: ("A bearer token and the user's role and street", LoginAnswerSchema)},
        description="Demo accounts are listed in the README; every password is `demo`. A "
        "wrong user or password is 401 `invalid_credentials`.",
        request=LoginSchema,
        errors=(400, 401),
        authenticated=False,
    ),
    Operation(
        "/api/v1/me",
        "get",
        "The logged-in user",
        "authentication",
        {200: ("user_id, role, street_code (null for the district), name", None)},
    ),
)
