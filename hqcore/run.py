"""Run one service: ``python -m hqcore.run intake``.

Builds the nameko configuration from ``Settings`` (the one source of configuration), patches
eventlet before anything else is imported, and runs the service until SIGTERM or Ctrl-C.
"""

import eventlet

eventlet.monkey_patch()  # noqa: E402  (must precede every other import)

import importlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from hqcore import logs  # noqa: E402
from hqcore.config import SERVICES, Settings  # noqa: E402


def nameko_config(settings: Settings) -> dict[str, Any]:
    return {
        "AMQP_URI": settings.amqp_uri,
        "max_workers": settings.max_workers,
        "parent_calls_tracked": 10,
        "serializer": "json",
        "HQ_SETTINGS": settings,
    }


def service_class(name: str) -> type[Any]:
    cls: type[Any] = importlib.import_module(f"services.{name}.service").SERVICE
    return cls


def main(
    argv: Sequence[str] | None = None, wrap: Callable[[type[Any]], type[Any]] | None = None
) -> int:
    """Run the service named in ``argv``; ``wrap`` (tests only) may replace its class."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: python -m hqcore.run {{{'|'.join(SERVICES)}}}", file=sys.stderr)
        return 2
    name = argv[0]
    settings = Settings.from_env()
    logs.configure(name, settings.log_level)
    runner = ServiceRunner(nameko_config(settings))
    cls = service_class(name)
    runner.add_service(wrap(cls) if wrap else cls)

    def shutdown(signum: int, frame: FrameType | None) -> None:
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    runner.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
