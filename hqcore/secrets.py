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

import contextlib
import json
import os
import secrets as _random
import tempfile
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
    """The demo secrets of a local suite, created on first use by whichever process is first:
    written whole to a private file, then linked into place, which fails if another process got
    there first; so every process reads a complete file, never a half-written one."""
    path = var_dir / "secrets.json"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        values = {name: _random.token_urlsafe(MIN_LENGTH) for name in _ENV}
        fd, draft = tempfile.mkstemp(dir=var_dir, prefix=".secrets-")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(values, out)
            with contextlib.suppress(FileExistsError):  # another process linked its own first
                os.link(draft, path)
        finally:
            os.unlink(draft)
    try:
        data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        data = {}
    if not all(isinstance(data.get(name), str) and data[name] for name in _ENV):
        raise SecretMissing(f"{path} holds no usable demo secrets; delete it to generate new ones")
    return data
