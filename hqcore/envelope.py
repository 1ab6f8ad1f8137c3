"""The signed request envelope between the gateway and the services (SEC-14, SEC-10).

Broker credentials alone must not let anyone act as a user: the gateway (and the operator's
tools, and the tests) sign every RPC request with the suite's request key
(``hqcore.secrets.request_key``, HMAC-SHA256), and a service verifies the signature before it
does anything for an acting user. The signature covers, in one canonical form
(``canonical``), the service, the method, every argument (the acting user ``actor`` among
them), the request's deadline, a nonce and the Idempotency-Key, so no part of a signed request
can be changed or moved to another method.

The same envelope carries the caller's **deadline** (real time, epoch seconds: the moment the
caller stops waiting and answers 504). A service refuses a request whose deadline has passed
when it starts, and checks again in the same transaction right before commit, so a step is not
applied once its caller has been told it timed out.

Everything travels in nameko context headers (``nameko.hq_*``), which nameko hands the service
as ``worker_ctx.data``; the request body stays nameko's ``{"args", "kwargs"}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hqcore.errors import Unauthenticated, UpstreamTimeout

VERSION = "hq-request-1"
SIGNATURE = "hq_signature"
DEADLINE = "hq_deadline"
NONCE = "hq_nonce"
IDEMPOTENCY_KEY = "hq_idempotency_key"
# A signed request is good until its deadline; a deadline further ahead than this is refused,
# which bounds how long a captured request could be replayed.
MAX_HORIZON = 600.0


def _json_default(value: Any) -> Any:
    """What kombu's JSON serializer sends for values JSON has no type for: their ISO form or
    their string, so both ends compute the same canonical text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be sent in a request")


def canonical_json(value: Any) -> bytes:
    """One text for one value: keys sorted, no spaces, ASCII only (so a lone surrogate cannot
    break the encoding)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default
    ).encode("ascii")


def canonical(
    service: str,
    method: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    deadline: str,
    nonce: str,
    idempotency_key: str | None,
) -> bytes:
    """The bytes the signature is computed over."""
    return canonical_json(
        {
            "v": VERSION,
            "service": service,
            "method": method,
            "args": list(args),
            "kwargs": dict(kwargs),
            "deadline": deadline,
            "nonce": nonce,
            "idempotency_key": idempotency_key,
        }
    )


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(
    key: bytes,
    service: str,
    method: str,
    kwargs: Mapping[str, Any],
    *,
    timeout: float,
    idempotency_key: str | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """The context headers (without nameko's ``nameko.`` prefix) of one signed request that
    its caller waits ``timeout`` seconds for."""
    issued = time.time() if now is None else now
    deadline = f"{issued + timeout:.3f}"
    nonce = uuid.uuid4().hex
    headers = {
        SIGNATURE: _mac(
            key, canonical(service, method, (), kwargs, deadline, nonce, idempotency_key)
        ),
        DEADLINE: deadline,
        NONCE: nonce,
    }
    if idempotency_key is not None:
        headers[IDEMPOTENCY_KEY] = idempotency_key
    return headers


def unsigned(message: str) -> Unauthenticated:
    return Unauthenticated(message, code="unsigned_request")


def expired(deadline: float, now: float) -> UpstreamTimeout:
    return UpstreamTimeout(
        "the request's deadline passed before the service could finish it; nothing was applied",
        code="request_expired",
        details={"deadline": deadline, "late_by": round(now - deadline, 3)},
    )


@dataclass(frozen=True)
class Signed:
    """A request whose signature a service has verified."""

    actor: Any
    deadline: float
    idempotency_key: str | None

    def check_deadline(self, now: float | None = None) -> None:
        """504 ``request_expired`` once the caller has stopped waiting: called when the
        request starts and again right before its transaction commits."""
        current = time.time() if now is None else now
        if current >= self.deadline:
            raise expired(self.deadline, current)


def verify(
    key: bytes,
    service: str,
    method: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    now: float | None = None,
) -> Signed:
    """The verified request, or 401 ``unsigned_request`` (no signature, or one that does not
    match the request) / 504 ``request_expired`` (its deadline has passed)."""
    signature, deadline_text, nonce = (context.get(k) for k in (SIGNATURE, DEADLINE, NONCE))
    idempotency_key = context.get(IDEMPOTENCY_KEY)
    if not all(isinstance(v, str) and v for v in (signature, deadline_text, nonce)):
        raise unsigned("the request carries no signature of the gateway")
    if idempotency_key is not None and not isinstance(idempotency_key, str):
        raise unsigned("the request's Idempotency-Key is malformed")
    assert isinstance(signature, str) and isinstance(deadline_text, str)
    assert isinstance(nonce, str)
    expected = _mac(
        key, canonical(service, method, args, kwargs, deadline_text, nonce, idempotency_key)
    )
    if not hmac.compare_digest(expected, signature):
        raise unsigned("the request's signature does not match it")
    try:
        deadline = float(deadline_text)
    except ValueError:  # signed, so only a caller holding the key could send this
        deadline = math.nan
    if not math.isfinite(deadline):
        raise unsigned("the request's deadline is malformed")
    current = time.time() if now is None else now
    if deadline - current > MAX_HORIZON:
        raise unsigned(f"the request's deadline is more than {MAX_HORIZON:g} s ahead")
    signed = Signed(kwargs.get("actor"), deadline, idempotency_key)
    signed.check_deadline(current)
    return signed
