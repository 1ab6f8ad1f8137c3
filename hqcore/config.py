"""Configuration: environment variables only, read in one place.

Every process (service, gateway, operator command, test) builds a ``Settings`` with
``Settings.from_env()``. Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("intake", "verification", "publicity", "decision", "payments", "supervision")

DEFAULT_METRICS_PORTS = {
    "intake": 9101,
    "verification": 9102,
    "publicity": 9103,
    "decision": 9104,
    "payments": 9105,
    "supervision": 9106,
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _floats(value: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    if not value:
        return default
    return tuple(float(part) for part in value.split(",") if part.strip())


def normalise_database_url(url: str) -> str:
    """``postgresql://`` URLs use pg8000: pure Python, so eventlet can make it cooperative."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+pg8000://" + url[len("postgresql://") :]
    return url


@dataclass(frozen=True)
class Settings:
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672//"
    var_dir: Path = PROJECT_ROOT / "var"
    database_urls: dict[str, str] = field(default_factory=dict)
    # The suite's clock: "real" reads the system time; "controlled" (demo and test mode) reads a
    # shared clock file that the gateway can set and advance for the whole suite at once.
    clock_mode: str = "real"
    clock_file: Path = PROJECT_ROOT / "var" / "clock.json"
    holiday_file: Path | None = None
    metrics_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_METRICS_PORTS))
    metrics_enabled: bool = True
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_metrics_enabled: bool = True
    # Demo mode: the controlled clock, or HQ_DEMO=1 (``make run``). Only demo mode may use the
    # packaged demo accounts and secrets generated on first use (``hqcore.secrets``).
    demo: bool = False
    # Signs the gateway's bearer tokens; required outside demo mode (``hqcore.secrets``).
    gateway_secret: str | None = None
    # Signs every request the gateway sends a service; services refuse unsigned ones.
    request_key: str | None = None
    # The token secret being rotated out: still accepted to verify tokens, never to sign them
    # (docs/security.md, "Rotating secrets").
    gateway_secret_previous: str | None = None
    # The gateway's own store of sessions (revocations) and failed logins, shared by every
    # gateway instance; ``sqlite:///<var_dir>/gateway.db`` when unset (``session_database_url``).
    gateway_database_url: str | None = None
    # Login throttling (SEC-5): failed logins allowed per username in 15 minutes and per client
    # address in one minute before 429 ``too_many_attempts``.
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    accounts_file: Path | None = None
    rpc_timeout: float = 10.0
    max_workers: int = 10
    # Backoff before each retry of a failed event handler; after the last, the dead-letter queue.
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    outbox_poll_interval: float = 0.5
    deadline_scan_interval: float = 30.0
    # Seconds the embedded city verification platform simulator takes to answer (VE-2).
    city_platform_delay: float = 2.0
    queue_type: str = "quorum"
    log_level: str = "INFO"
    # Fault injection for the crash-between-commit-and-publish test; never set in production.

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("HQ_VAR_DIR", str(PROJECT_ROOT / "var")))
        database_urls = {
            name: normalise_database_url(
                env.get(f"{name.upper()}_DATABASE_URL", f"sqlite:///{var_dir / (name + '.db')}")
            )
            for name in SERVICES
        }
        metrics_ports = {
            name: int(env.get(f"{name.upper()}_METRICS_PORT", port))
            for name, port in DEFAULT_METRICS_PORTS.items()
        }
        holiday_file = env.get("HQ_HOLIDAY_FILE")
        return cls(
            amqp_uri=env.get("AMQP_URI", cls.amqp_uri),
            var_dir=var_dir,
            database_urls=database_urls,
            clock_mode=env.get("HQ_CLOCK_MODE", "real"),
            clock_file=Path(env.get("HQ_CLOCK_FILE", str(var_dir / "clock.json"))),
            holiday_file=Path(holiday_file) if holiday_file else None,
            metrics_ports=metrics_ports,
            metrics_enabled=_bool(env.get("HQ_METRICS_ENABLED"), True),
            gateway_host=env.get("GATEWAY_HOST", cls.gateway_host),
            gateway_port=int(env.get("GATEWAY_PORT", cls.gateway_port)),
            gateway_metrics_enabled=_bool(env.get("GATEWAY_METRICS_ENABLED"), True),
            demo=_bool(env.get("HQ_DEMO")) or env.get("HQ_CLOCK_MODE", "real") == "controlled",
            gateway_secret=env.get("HQ_GATEWAY_SECRET") or None,
            request_key=env.get("HQ_REQUEST_KEY") or None,
            gateway_secret_previous=env.get("HQ_GATEWAY_SECRET_PREVIOUS") or None,
            gateway_database_url=(
                normalise_database_url(env["GATEWAY_DATABASE_URL"])
                if env.get("GATEWAY_DATABASE_URL")
                else None
            ),
            login_failures_per_user=int(
                env.get("HQ_LOGIN_FAILURES_PER_USER", cls.login_failures_per_user)
            ),
            login_failures_per_address=int(
                env.get("HQ_LOGIN_FAILURES_PER_ADDRESS", cls.login_failures_per_address)
            ),
            accounts_file=Path(env["HQ_ACCOUNTS_FILE"]) if env.get("HQ_ACCOUNTS_FILE") else None,
            rpc_timeout=float(env.get("HQ_RPC_TIMEOUT", cls.rpc_timeout)),
            max_workers=int(env.get("HQ_MAX_WORKERS", cls.max_workers)),
            retry_delays=_floats(env.get("HQ_RETRY_DELAYS"), cls.retry_delays),
            outbox_poll_interval=float(
                env.get("HQ_OUTBOX_POLL_INTERVAL", cls.outbox_poll_interval)
            ),
            deadline_scan_interval=float(
                env.get("HQ_DEADLINE_SCAN_INTERVAL", cls.deadline_scan_interval)
            ),
            city_platform_delay=float(
                env.get("CITY_PLATFORM_DELAY_SECONDS", cls.city_platform_delay)
            ),
            queue_type=env.get("HQ_QUEUE_TYPE", cls.queue_type),
            log_level=env.get("HQ_LOG_LEVEL", cls.log_level),
        )

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def session_database_url(self) -> str:
        """The gateway's session store: ``GATEWAY_DATABASE_URL``, else a file in ``var_dir``."""
        return self.gateway_database_url or f"sqlite:///{self.var_dir / 'gateway.db'}"
