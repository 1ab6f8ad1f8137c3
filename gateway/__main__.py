"""Serve the gateway with waitress: ``python -m gateway``."""

from __future__ import annotations

import waitress

from gateway.app import create_app
from hqcore import logs
from hqcore.config import Settings


def main() -> None:
    settings = Settings.from_env()
    logs.configure("gateway", settings.log_level)
    app = create_app(settings)
    try:
        waitress.serve(app, host=settings.gateway_host, port=settings.gateway_port, threads=16)
    finally:
        app.extensions["hq_gateway"].close()


if __name__ == "__main__":
    main()
