"""Authentication: accounts, signed bearer tokens, and the acting user of a request.

Accounts come from a JSON file (``HQ_ACCOUNTS_FILE``; the packaged demo accounts otherwise),
passwords stored as PBKDF2 hashes. ``POST /api/v1/login`` returns a token signed with
``HQ_GATEWAY_SECRET`` that expires after ``TOKEN_HOURS`` of real time (never the suite's demo
clock). Services receive the acting user as ``actor`` and authorise every step themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path

from flask import request

from hqcore.authz import Actor
from hqcore.errors import Unauthenticated

DEMO_ACCOUNTS = Path(__file__).parent / "data" / "accounts.json"
TOKEN_HOURS = 12


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    role: str
    street_code: str | None
    password_hash: str

    def actor(self) -> Actor:
        return Actor(self.username, self.role, self.street_code, self.name)


def _check_password(password: str, stored: str) -> bool:
    scheme, iterations, salt, digest = stored.split("$")
    if scheme != "pbkdf2_sha256":
        return False
    computed = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    def __init__(self, secret: str, accounts_file: Path | None = None):
        self._secret = secret.encode()
        data = json.loads((accounts_file or DEMO_ACCOUNTS).read_text(encoding="utf-8"))
        self.accounts = {a["username"]: Account(**a) for a in data["accounts"]}

    def login(self, username: str, password: str) -> tuple[str, Account]:
        account = self.accounts.get(username)
        if account is None or not _check_password(password, account.password_hash):
            raise Unauthenticated(
                "unknown user or wrong password", field="password", code="invalid_credentials"
            )
        return self.issue(account), account

    def issue(self, account: Account) -> str:
        payload = _b64(
            json.dumps(
                {"u": account.username, "exp": int(time.time()) + TOKEN_HOURS * 3600}
            ).encode()
        )
        return f"{payload}.{self._sign(payload)}"

    def actor_for(self, token: str) -> Actor:
        try:
            payload, signature = token.split(".")
            if not hmac.compare_digest(signature, self._sign(payload)):
                raise ValueError("bad signature")
            claims = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            raise Unauthenticated(
                "the token is not valid; log in again", field="Authorization", code="invalid_token"
            ) from None
        if claims["exp"] < time.time():
            raise Unauthenticated(
                "the token has expired; log in again", field="Authorization", code="token_expired"
            )
        account = self.accounts.get(claims["u"])
        if account is None:
            raise Unauthenticated(
                "the account no longer exists", field="Authorization", code="invalid_token"
            )
        return account.actor()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def current_actor(self) -> Actor:
        """The authenticated user of this request, or 401."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Unauthenticated(
                "log in and send 'Authorization: Bearer <token>'",
                field="Authorization",
                code="not_authenticated",
            )
        return self.actor_for(header[len("Bearer ") :].strip())
