"""Serve the gateway with waitress: ``python -m gateway``.

Outside demo mode it refuses to start, with one line saying why and exit status 2, when the
token secret or the accounts file is missing or unusable (SEC-3, docs/security.md)."""

from __future__ import annotations

import logging
import sys

import waitress

from gateway.app import create_app
from gateway.auth import AccountsMissing
from hqcore import logs
from hqcore.config import Settings
from hqcore.secrets import SecretMissing

log = logging.getLogger("gateway")

EXIT_MISCONFIGURED = 2


def main() -> None:
    settings = Settings.from_env()
    logs.configure("gateway", settings.log_level)
    try:
        app = create_app(settings)
    except (SecretMissing, AccountsMissing) as exc:
        log.critical("gateway refuses to start: %s", exc)
        sys.exit(EXIT_MISCONFIGURED)
    try:
        waitress.serve(app, host=settings.gateway_host, port=settings.gateway_port, threads=16)
    finally:
        app.extensions["hq_gateway"].close()


if __name__ == "__main__":
    main()
