"""The suite's two secrets, read in one place.

- ``gateway_secret``: signs the gateway's bearer tokens (``HQ_GATEWAY_SECRET``).
- ``request_key``: signs every request the gateway sends a service; a service refuses a
  request it cannot verify (``HQ_REQUEST_KEY``), so broker credentials alone do not let anyone
  act as a user.

Outside demo mode both must be set, at least ``MIN_LENGTH`` characters, or the process refuses
to start (``SecretMissing``). In demo mode (``Settings.demo``: the controlled clock or
``HQ_DEMO=1``) a missing secret is generated once, at random, into ``<HQ_VAR_DIR>/secrets.json``
(mode 0600), which every process of a local suite shares. No secret is written in the source.
"""

from __future__ import annotations

import json
import os
import secrets as _random
import time
from pathlib import Path

from hqcore.config import Settings

MIN_LENGTH = 32
_ENV = {"gateway_secret": "HQ_GATEWAY_SECRET", "request_key": "HQ_REQUEST_KEY"}
_PREVIOUS = "HQ_GATEWAY_SECRET_PREVIOUS"


class SecretMissing(RuntimeError):
    """A secret is missing or too short outside demo mode: the process must not start."""


def gateway_secret(settings: Settings) -> bytes:
    return _secret(settings, "gateway_secret")


def previous_gateway_secret(settings: Settings) -> bytes | None:
    """The token secret being rotated out (``HQ_GATEWAY_SECRET_PREVIOUS``), or None: tokens it
    signed stay valid until they expire, so a rotation logs nobody out (docs/security.md)."""
    given = settings.gateway_secret_previous
    if not given:
        return None
    if len(given) < MIN_LENGTH:
        raise SecretMissing(f"{_PREVIOUS} must be at least {MIN_LENGTH} characters long")
    return given.encode()


def request_key(settings: Settings) -> bytes:
    return _secret(settings, "request_key")


def _secret(settings: Settings, name: str) -> bytes:
    given: str | None = getattr(settings, name)
    if given:
        if len(given) < MIN_LENGTH:
            raise SecretMissing(f"{_ENV[name]} must be at least {MIN_LENGTH} characters long")
        return given.encode()
    if not settings.demo:
        raise SecretMissing(
            f"{_ENV[name]} is not set: outside demo mode (HQ_DEMO=1 or the controlled clock) "
            f"it must be set to a random value of at least {MIN_LENGTH} characters"
        )
    return _demo_secrets(settings.var_dir)[name].encode()


def _demo_secrets(var_dir: Path) -> dict[str, str]:
    """The demo secrets of a local suite, created on first use by whichever process is first."""
    path = var_dir / "secrets.json"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        values = {name: _random.token_urlsafe(MIN_LENGTH) for name in _ENV}
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process of the suite created it first
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(values, out)
    for _ in range(50):  # the creating process may still be writing
        try:
            data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
            if all(data.get(name) for name in _ENV):
                return data
        except ValueError:
            pass
        time.sleep(0.02)
    raise SecretMissing(f"{path} holds no usable demo secrets; delete it to generate new ones")
