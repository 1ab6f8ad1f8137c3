"""Authentication: accounts, sessions, signed bearer tokens, and the acting user of a request.

Accounts come from a JSON file (``HQ_ACCOUNTS_FILE``), passwords stored as PBKDF2 hashes; the
packaged demo accounts are used only in demo mode (``Settings.demo``), and outside it the
gateway refuses to start without an accounts file or a token secret (SEC-3).

``POST /api/v1/login`` opens a *session* and answers two tokens signed with
``HQ_GATEWAY_SECRET`` (SEC-4):

- an access token, sent as ``Authorization: Bearer …``, valid ``ACCESS_SECONDS``;
- a refresh token, exchanged once at ``POST /api/v1/refresh`` for a new pair; the session ends
  ``REFRESH_SECONDS`` after login. Presenting a refresh token a second time (a stolen copy)
  closes the whole session.

``POST /api/v1/logout`` closes the session: its access token and refresh token are refused at
once by every gateway instance, because sessions live in the shared ``SessionStore``. Token
lifetimes are real time, never the suite's demo clock.

Failed logins are throttled per username and per client address (SEC-5), and an unknown
username costs one PBKDF2 computation like a known one, so timing does not tell them apart.
Services receive the acting user as ``actor`` and authorise every step themselves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import request

from gateway.sessions import SessionStore, SqlSessionStore
from hqcore.authz import Actor
from hqcore.config import Settings
from hqcore.errors import DomainError, Unauthenticated
from hqcore.secrets import gateway_secret, previous_gateway_secret

DEMO_ACCOUNTS = Path(__file__).parent / "data" / "accounts.json"
ACCESS_SECONDS = 15 * 60
REFRESH_SECONDS = 12 * 3600
# SEC-5: failures per username are counted over 15 minutes, per address over one minute.
USER_WINDOW = 15 * 60
ADDRESS_WINDOW = 60

_PBKDF2_ITERATIONS = 120_000
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{43}")


class AccountsMissing(RuntimeError):
    """No usable accounts source outside demo mode: the gateway must not start."""


class TooManyAttempts(DomainError):
    """Too many failed logins for the username or from the address: 429 with Retry-After."""

    code = "too_many_attempts"
    http_status = 429

    def __init__(self, message: str, *, field: str | None, retry_after: int):
        super().__init__(message, field=field, details={"retry_after": retry_after})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    role: str
    street_code: str | None
    password_hash: str

    def actor(self) -> Actor:
        return Actor(self.username, self.role, self.street_code, self.name)


@dataclass(frozen=True)
class Tokens:
    """What a login or a refresh answers."""

    access_token: str
    refresh_token: str
    expires_in: int
    account: Account


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of a password (``pbkdf2_sha256$iterations$salt$digest``)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ITERATIONS)
    return "$".join(
        (
            "pbkdf2_sha256",
            str(_PBKDF2_ITERATIONS),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        )
    )


# Checked instead of a real hash when the username is unknown, so that an unknown username
# costs the same PBKDF2 work as a known one (no enumeration by timing, SEC-5).
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


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


def load_accounts(settings: Settings) -> dict[str, Account]:
    """``HQ_ACCOUNTS_FILE``; the packaged demo accounts only in demo mode (SEC-3)."""
    path = settings.accounts_file
    if path is None:
        if not settings.demo:
            raise AccountsMissing(
                "HQ_ACCOUNTS_FILE is not set: outside demo mode (HQ_DEMO=1 or the controlled "
                "clock) the gateway needs the deployment's own accounts file"
            )
        path = DEMO_ACCOUNTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {a["username"]: Account(**a) for a in data["accounts"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AccountsMissing(
            f"HQ_ACCOUNTS_FILE {path} is not a usable accounts file: {exc}"
        ) from None


def _invalid(message: str = "the token is not valid; log in again") -> Unauthenticated:
    return Unauthenticated(message, field="Authorization", code="invalid_token")


def _revoked() -> Unauthenticated:
    return Unauthenticated(
        "the session has ended (logged out, or its refresh token was used twice); log in again",
        field="Authorization",
        code="token_revoked",
    )


class Authenticator:
    """Logins, tokens and sessions of one gateway instance (the sessions are shared)."""

    def __init__(
        self,
        keys: Sequence[bytes],
        accounts: Mapping[str, Account],
        store: SessionStore,
        *,
        max_user_failures: int = 5,
        max_address_failures: int = 20,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``keys[0]`` signs; every key verifies (the previous one during a rotation)."""
        self._keys = tuple(keys)
        self.accounts = dict(accounts)
        self.store = store
        self.max_user_failures = max_user_failures
        self.max_address_failures = max_address_failures
        self.now = now

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """Refuses (``SecretMissing``, ``AccountsMissing``) what must stop the gateway."""
        keys = [gateway_secret(settings)]
        previous = previous_gateway_secret(settings)
        if previous is not None:
            keys.append(previous)
        return cls(
            keys,
            load_accounts(settings),
            SqlSessionStore(settings.session_database_url()),
            max_user_failures=settings.login_failures_per_user,
            max_address_failures=settings.login_failures_per_address,
        )

    # -- login and its throttling ----------------------------------------------------------

    def login(self, username: str, password: str, address: str = "unknown") -> Tokens:
        now = self.now()
        user_key, address_key = f"user:{username}", f"address:{address}"
        self._throttle(user_key, now, USER_WINDOW, self.max_user_failures, "username")
        self._throttle(address_key, now, ADDRESS_WINDOW, self.max_address_failures, "address")
        account = self.accounts.get(username)
        valid = _check_password(password, account.password_hash if account else _DUMMY_HASH)
        if account is None or not valid:
            self.store.record_failure((user_key, address_key), now)
            raise Unauthenticated(
                "unknown user or wrong password", field="password", code="invalid_credentials"
            )
        self.store.clear_failures(user_key)
        return self.start_session(account)

    def _throttle(self, key: str, now: float, window: int, limit: int, what: str) -> None:
        """429 while ``limit`` failures under ``key`` fall within the last ``window`` seconds;
        Retry-After is when the oldest of them leaves the window."""
        recent = self.store.failures(key, now - window)
        if len(recent) < limit:
            return
        retry_after = max(1, math.ceil(recent[len(recent) - limit] + window - now))
        raise TooManyAttempts(
            f"too many failed logins for this {what}; try again in {retry_after} s",
            field="username" if what == "username" else None,
            retry_after=retry_after,
        )

    # -- sessions ----------------------------------------------------------------------------

    def start_session(self, account: Account) -> Tokens:
        session_id, refresh_id = str(uuid.uuid4()), str(uuid.uuid4())
        ends = int(self.now()) + REFRESH_SECONDS
        self.store.open(session_id, account.username, refresh_id, ends)
        return self._tokens(account, session_id, refresh_id, ends)

    def issue(self, account: Account) -> str:
        """An access token of a new session for ``account`` (scripts and tests)."""
        return self.start_session(account).access_token

    def refresh(self, refresh_token: str) -> Tokens:
        """A new token pair for a refresh token, which can be used only once."""
        claims = self._claims(refresh_token, "refresh", field="refresh_token")
        account = self._account(claims)
        new_refresh = str(uuid.uuid4())
        if not self.store.rotate(claims["sid"], claims["jti"], new_refresh, self.now()):
            # Used before, or the session is closed: a second use means a copy is around,
            # so the whole session ends for both holders.
            self.store.revoke(claims["sid"], self.now())
            raise _revoked()
        return self._tokens(account, claims["sid"], new_refresh, claims["exp"])

    def logout(self, access_token: str) -> None:
        """Close the session of ``access_token``: it and its refresh token stop working."""
        claims = self._claims(access_token, "access")
        self.store.revoke(claims["sid"], self.now())

    def _tokens(self, account: Account, session_id: str, refresh_id: str, ends: int) -> Tokens:
        now = int(self.now())
        access_exp = min(now + ACCESS_SECONDS, ends)
        access = {"typ": "access", "u": account.username, "sid": session_id, "exp": access_exp}
        refresh = {
            "typ": "refresh",
            "u": account.username,
            "sid": session_id,
            "jti": refresh_id,
            "exp": ends,
        }
        return Tokens(self._sign(access), self._sign(refresh), access_exp - now, account)

    # -- tokens ------------------------------------------------------------------------------

    def actor_for(self, token: str) -> Actor:
        """The user of an access token; 401 for anything malformed, expired or revoked."""
        claims = self._claims(token, "access")
        account = self._account(claims)
        if not self.store.is_open(claims["sid"], self.now()):
            raise _revoked()
        return account.actor()

    def _account(self, claims: dict[str, Any]) -> Account:
        account = self.accounts.get(claims["u"])
        if account is None:
            raise _invalid("the account no longer exists")
        return account

    def _sign(self, claims: dict[str, Any]) -> str:
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{_mac(self._keys[0], payload)}"

    def _claims(self, token: str, kind: str, field: str = "Authorization") -> dict[str, Any]:
        """The verified claims of a token of ``kind``, every one checked for its type: a token
        that is not exactly what this gateway signs is 401 ``invalid_token``, never a 500."""
        claims = self._verified(token)
        if (
            claims is None
            or claims.get("typ") != kind
            or not _is_text(claims.get("u"))
            or not _is_text(claims.get("sid"))
            or not _is_int(claims.get("exp"))
            or (kind == "refresh" and not _is_text(claims.get("jti")))
        ):
            error = _invalid()
            error.field = field
            raise error
        if claims["exp"] <= self.now():
            raise Unauthenticated(
                "the token has expired; refresh it or log in again",
                field=field,
                code="token_expired",
            )
        return claims

    def _verified(self, token: str) -> dict[str, Any] | None:
        if not _TOKEN.fullmatch(token):
            return None
        payload, signature = token.split(".")
        if not any(hmac.compare_digest(signature, _mac(key, payload)) for key in self._keys):
            return None
        try:
            claims = json.loads(_unb64(payload))
        except (ValueError, binascii.Error, RecursionError):
            return None
        return claims if isinstance(claims, dict) else None

    def current_actor(self) -> Actor:
        """The authenticated user of this request, or 401."""
        return self.actor_for(bearer_token())


def bearer_token() -> str:
    """The request's bearer token (401 ``not_authenticated`` without one)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthenticated(
            "log in and send 'Authorization: Bearer <token>'",
            field="Authorization",
            code="not_authenticated",
        )
    return header[len("Bearer ") :].strip()


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def _is_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53
