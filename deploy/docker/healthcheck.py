"""Container health check: ``python /app/deploy/docker/healthcheck.py <service|gateway>``.

Exits 0 when the process answers on its own HTTP port, 1 otherwise (Docker reserves 2). A
service answers on its Prometheus port (``<SERVICE>_METRICS_PORT``, e.g. 9101 for intake) at
``/metrics``; the gateway on ``GATEWAY_PORT`` at ``/metrics``. Ports are read through
``hqcore.config.Settings`` (standard library only), so a port changed by environment variable
is the port checked.

The check is deliberately local: it tells whether this process is alive and serving, not whether
the services it talks to are. The gateway's ``/healthz`` (every service answers a ping) is a
readiness signal for the whole suite and would mark a healthy gateway unhealthy whenever one
downstream service restarts.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from hqcore.config import SERVICES, Settings

TIMEOUT_SECONDS = 3.0


def url_for(name: str, settings: Settings) -> str:
    if name == "gateway":
        return f"http://127.0.0.1:{settings.gateway_port}/metrics"
    if name in SERVICES:
        return f"http://127.0.0.1:{settings.metrics_ports[name]}/metrics"
    raise ValueError(f"unknown process {name!r}; one of: gateway, {', '.join(SERVICES)}")


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"{url}: HTTP {response.status}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"{url}: {error}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: healthcheck.py {{gateway|{'|'.join(SERVICES)}}}", file=sys.stderr)
        return 1
    try:
        url = url_for(argv[0], Settings.from_env())
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    healthy, detail = check(url)
    print(detail)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
