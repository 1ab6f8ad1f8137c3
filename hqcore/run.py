"""Run one service: ``python -m hqcore.run intake``.

Builds the nameko configuration from ``Settings`` (the one source of configuration), patches
eventlet before anything else is imported, and runs the service until SIGTERM or Ctrl-C.
"""

import eventlet

eventlet.monkey_patch()  # noqa: E402  (must precede every other import)

import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from types import FrameType, TracebackType  # noqa: E402
from typing import Any  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from hqcore import logs  # noqa: E402
from hqcore.config import SERVICES, Settings  # noqa: E402

log = logging.getLogger("hqcore.run")


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
    logs.configure(name)  # before anything can fail: every line of the process is JSON
    sys.excepthook = _log_uncaught
    _json_hub_errors()
    try:
        settings = Settings.from_env()
        logging.getLogger().setLevel(settings.log_level)
        runner = ServiceRunner(nameko_config(settings))
        cls = service_class(name)
        runner.add_service(wrap(cls) if wrap else cls)

        def shutdown(signum: int, frame: FrameType | None) -> None:
            eventlet.spawn_n(runner.stop)

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        runner.start()
        runner.wait()
    except Exception as exc:  # the broker unreachable, a missing secret, ... (SEC-13)
        log.critical("%s cannot run: %s: %s", name, type(exc).__name__, exc, exc_info=exc)
        return 1
    return 0


def _json_hub_errors() -> None:
    """eventlet's hub prints a green thread's or a timer's uncaught exception as a raw
    traceback; log it as JSON instead."""
    hub = eventlet.hubs.get_hub()

    def logged(*args: Any) -> None:
        exc_info = args[-1]
        log.error("uncaught in a green thread: %s", exc_info[1], exc_info=exc_info)

    def descriptor_failed(fileno: int, exc_info: Any) -> None:
        log.error("uncaught on descriptor %s, removed: %s", fileno, exc_info[1], exc_info=exc_info)
        try:
            hub.remove_descriptor(fileno)
        except Exception:
            log.exception("could not remove descriptor %s", fileno)

    hub.squelch_generic_exception = logged
    hub.squelch_timer_exception = logged
    hub.squelch_exception = descriptor_failed


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Anything that escapes, logged as one JSON line like every other line of the process."""
    log.critical("uncaught %s: %s", kind.__name__, exc, exc_info=(kind, exc, tb))


if __name__ == "__main__":
    sys.exit(main())
