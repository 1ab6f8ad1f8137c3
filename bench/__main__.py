"""``python -m bench [--quick]``: the suite's messaging paths against raw kombu, in one run.

Prints a table (stdout) with each figure as a ratio to a baseline measured in the same run, then
one machine-readable line ``BENCH {...}``. Progress goes to stderr. Everything the run creates
(processes, RabbitMQ vhost, temporary directory) is removed at the end, also on Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import signal
import sys
import time
import traceback
from dataclasses import dataclass

from bench import report
from bench.env import BenchEnv, say


@dataclass(frozen=True)
class Sizes:
    calls: int  # sequential calls per path (section 1)
    warmup: int  # untimed calls per path first
    rounds: int  # section 1 paths run interleaved in this many rounds
    threads: int  # concurrent line
    concurrent_calls: int
    events: int  # section 2
    event_warmup: int
    batch: int  # events per outbox transaction


FULL = Sizes(
    calls=500,
    warmup=50,
    rounds=5,
    threads=8,
    concurrent_calls=800,
    events=1000,
    event_warmup=50,
    batch=100,
)
QUICK = Sizes(
    calls=50,
    warmup=10,
    rounds=2,
    threads=8,
    concurrent_calls=80,
    events=100,
    event_warmup=10,
    batch=50,
)


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N (a smoke run)")
    parser.add_argument("--calls", type=int, help="sequential calls per path (section 1)")
    parser.add_argument("--events", type=int, help="events through the outbox (section 2)")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="HQ_LOG_LEVEL of the services and gateway (default WARNING)",
    )
    return parser.parse_args(argv)


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run(args) -> int:
    sizes = QUICK if args.quick else FULL
    if args.calls:
        sizes = Sizes(**{**sizes.__dict__, "calls": args.calls})
    if args.events:
        sizes = Sizes(**{**sizes.__dict__, "events": args.events})
    env = BenchEnv(log_level=args.log_level)
    rpc_client = None
    rows: list[report.Row] = []
    extra: dict = {
        "quick": bool(args.quick),
        "sizes": sizes.__dict__,
        "python": platform.python_version(),
        "log_level": args.log_level,
    }
    started = time.monotonic()
    try:
        say("preparing: temporary var dir, vhost, migrate, seed")
        settings = env.prepare()
        extra["queue_type"] = settings.queue_type
        env.start("intake")
        env.start("gateway")

        from hqcore.messaging.rpc_client import RpcClient
        from hqcore.secrets import request_key

        # Signed as the gateway signs: the services refuse unsigned steps (SEC-14).
        rpc_client = RpcClient(
            settings.amqp_uri, timeout=10.0, name="bench", request_key=request_key(settings)
        )
        rpc_client.start()
        env.wait_until(lambda: rpc_client.call("intake", "ping", timeout=2.0), 90, "intake")
        env.wait_until(lambda: env_gateway_sees(env, "intake"), 90, "gateway")

        say(
            f"section 1: {sizes.calls} sequential calls per path in {sizes.rounds} rounds, "
            f"{sizes.concurrent_calls} calls on {sizes.threads} threads"
        )
        from bench import rpc

        section1, info = rpc.measure(
            settings.amqp_uri,
            env.gateway_url,
            rpc_client,
            calls=sizes.calls,
            warmup=sizes.warmup,
            rounds=sizes.rounds,
            threads=sizes.threads,
            concurrent_calls=sizes.concurrent_calls,
        )
        rows += section1
        extra.update(info)

        say("starting supervision for section 2")
        env.start("supervision")
        env.wait_until(
            lambda: rpc_client.call("supervision", "ping", timeout=2.0), 90, "supervision"
        )
        say(f"section 2: {sizes.events} events through the outbox")
        from bench import events

        section2, info = events.measure(
            env,
            settings,
            rpc.Applicants(),
            events=sizes.events,
            warmup=sizes.event_warmup,
            batch=sizes.batch,
        )
        rows += section2
        extra.update(info)
    except KeyboardInterrupt:
        say("interrupted; cleaning up")
        return 130
    except Exception:
        say("failed:\n" + traceback.format_exc())
        for name in list(env.procs):
            tail = env.log_tail(name)
            if tail:
                say(f"last lines of {name}:\n{tail}")
        return 1
    finally:
        # A second Ctrl-C (or a SIGTERM) must not cut the clean-up short; it is bounded anyway
        # (SIGKILL after 10 s per process).
        previous = {
            sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        if rpc_client is not None:
            with contextlib.suppress(Exception):
                rpc_client.stop()
        env.close()
        say(f"cleaned up ({time.monotonic() - started:.0f}s in all)")
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    print()
    print("\n".join(report.table_lines(rows)))
    print()
    print(report.bench_line(rows, extra))
    return 0


def env_gateway_sees(env: BenchEnv, service: str) -> bool:
    """The gateway answers /healthz (503 is fine: not all six services run) and reaches
    ``service``."""
    import json

    from bench.rpc import Http

    http = Http(env.gateway_url, timeout=5)
    try:
        http.conn.request("GET", "/healthz")
        response = http.conn.getresponse()
        health = json.loads(response.read() or b"{}")
    finally:
        http.close()
    return health.get("services", {}).get(service, {}).get("status") == "up"


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
