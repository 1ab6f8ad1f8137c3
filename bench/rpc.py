"""Section 1: a gateway request that needs one RPC, against a raw kombu round trip.

Every path is a callable making one call. Sequential paths run interleaved in rounds (each
round runs every path for its share of the calls), so a slow patch of a noisy machine is spread
over all paths instead of landing on one.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlsplit

from bench.report import BASELINE, LATENCY, THROUGHPUT, Row
from hqops.samples import actor_for, make_id_number, sample_application

SECTION = "1. request needing one RPC, vs raw kombu request/reply"


class Http:
    """One keep-alive HTTP/1.1 connection (``http.client``: the cheapest Python client)."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> bytes:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        headers.update(self.auth)
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # the server closed the kept-alive connection: once more
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {payload[:300]!r}")
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return payload

    def close(self) -> None:
        self.conn.close()


class Applicants:
    """Distinct valid applications: intake refuses a second open case for the same person."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def id_number(self) -> str:
        with self._lock:
            n = self._next
            self._next += 1
        birth = (date(1950, 1, 1) + timedelta(days=n // 1000)).strftime("%Y%m%d")
        return make_id_number(n % 1000, birth=birth)

    def application(self) -> dict:
        return sample_application(id_number=self.id_number())


@dataclass
class Timing:
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    count: int = 0


def run_sequential(call: Callable[[], object], count: int, timing: Timing) -> None:
    clock = time.perf_counter
    started = clock()
    for _ in range(count):
        t0 = clock()
        call()
        timing.latencies.append(clock() - t0)
    timing.elapsed += clock() - started
    timing.count += count


def run_concurrent(calls: list[Callable[[], object]], per_thread: int, timing: Timing) -> None:
    """One thread per callable in ``calls``, ``per_thread`` calls each, all started together.

    Elapsed is wall time from the common start to the last thread's end.
    """
    threads = len(calls)
    barrier = threading.Barrier(threads + 1)
    results: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    clock = time.perf_counter

    def worker(index: int) -> None:
        call, mine = calls[index], results[index]
        barrier.wait()
        try:
            for _ in range(per_thread):
                t0 = clock()
                call()
                mine.append(clock() - t0)
        except BaseException as exc:
            errors.append(exc)

    workers = [
        threading.Thread(target=worker, args=(i,), daemon=True, name=f"bench-c{i}")
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    barrier.wait()
    started = clock()
    for w in workers:
        w.join()
    timing.elapsed += clock() - started
    if errors:
        raise errors[0]
    for mine in results:
        timing.latencies.extend(mine)
        timing.count += len(mine)


CLERK = "sgz-clerk"  # the demo account submitting the benchmark's applications


def login(base_url: str, username: str) -> str:
    answer = Http(base_url).request(
        "POST", "/api/v1/login", {"username": username, "password": "demo"}
    )
    return json.loads(answer)["token"]


class HttpCall:
    """A callable making one HTTP request on its own connection (one per thread)."""

    def __init__(
        self,
        base_url: str,
        method: str,
        path: str,
        body=None,
        expect: int = 200,
        token: str | None = None,
    ):
        self.http = Http(base_url, token=token)
        self.method, self.path, self.body, self.expect = method, path, body, expect

    def __call__(self):
        body = self.body() if callable(self.body) else self.body
        return self.http.request(self.method, self.path, body, self.expect)

    def close(self) -> None:
        self.http.close()


def measure(
    amqp_uri: str,
    gateway_url: str,
    rpc_client,
    *,
    calls: int,
    warmup: int,
    rounds: int,
    threads: int,
    concurrent_calls: int,
) -> tuple[list[Row], dict]:
    from nameko.standalone.rpc import ClusterRpcProxy

    from bench.raw import EchoResponder, RawClient

    applicants = Applicants()
    opened: list = []
    try:
        echo = EchoResponder(amqp_uri).start()
        opened.append(echo)
        echo_c = EchoResponder(amqp_uri, confirms=True).start()
        opened.append(echo_c)
        raw = RawClient(amqp_uri, echo.queue_name)
        opened.append(raw)
        raw_c = RawClient(amqp_uri, echo_c.queue_name, confirms=True)
        opened.append(raw_c)
        proxy_ctx = ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=30)
        proxy = proxy_ctx.start()
        opened.append(proxy_ctx)
        http_clock = HttpCall(gateway_url, "GET", "/api/v1/clock")
        opened.append(http_clock)
        token = login(gateway_url, CLERK)
        http_submit = HttpCall(
            gateway_url,
            "POST",
            "/api/v1/applications",
            body=applicants.application,
            expect=201,
            token=token,
        )
        opened.append(http_submit)
        request = {"args": [], "kwargs": {}}

        sequential = [
            # key, label, compare, call, note
            (
                "raw_rr",
                "raw kombu request/reply",
                BASELINE,
                lambda: raw.call(request),
                "echo responder thread; default exchange, non-persistent, auto-ack, no confirms",
            ),
            (
                "raw_rr_confirms",
                "raw kombu request/reply, confirms both ways",
                LATENCY,
                lambda: raw_c.call(request),
                "each publish waits for its confirm, as RpcClient requests and nameko replies do",
            ),
            (
                "rpcclient_ping",
                "RpcClient.call intake.ping",
                LATENCY,
                lambda: rpc_client.call("intake", "ping"),
                "the gateway's RPC client, called from the bench process",
            ),
            (
                "nameko_proxy_ping",
                "nameko ClusterRpcProxy intake.ping",
                LATENCY,
                lambda: proxy.intake.ping(),
                "reference: nameko's standalone proxy, kept open",
            ),
            (
                "http_clock",
                "HTTP GET /api/v1/clock (no RPC)",
                LATENCY,
                http_clock,
                "the gateway's HTTP floor (waitress + Flask), keep-alive http.client",
            ),
            (
                "rpcclient_submit",
                "RpcClient.call intake.submit_application",
                LATENCY,
                lambda: rpc_client.call(
                    "intake",
                    "submit_application",
                    application=applicants.application(),
                    actor=actor_for(CLERK),
                ),
                "the RPC behind the POST below, without HTTP: a write to intake's SQLite + outbox",
            ),
            (
                "http_submit",
                "HTTP POST /api/v1/applications (1 RPC)",
                LATENCY,
                http_submit,
                "the gateway's only route making exactly one RPC (GET /cases makes 6, /healthz 6)",
            ),
        ]
        timings = {key: Timing() for key, *_ in sequential}
        # One callable per thread, kept for every round (connections stay open).
        http_posts = [
            HttpCall(
                gateway_url,
                "POST",
                "/api/v1/applications",
                body=applicants.application,
                expect=201,
                token=token,
            )
            for _ in range(threads)
        ]
        opened.extend(http_posts)
        concurrent = [
            (
                "http_submit_concurrent",
                f"HTTP POST /api/v1/applications, {threads} threads",
                http_posts,
                "each thread on its own keep-alive connection; rate compared with "
                "the raw baseline's sequential rate",
            ),
            (
                "rpcclient_ping_concurrent",
                f"RpcClient.call intake.ping, {threads} threads",
                [lambda: rpc_client.call("intake", "ping")] * threads,
                "one RpcClient shared by all threads, as in the gateway",
            ),
        ]
        for key, *_ in concurrent:
            timings[key] = Timing()

        for _key, _label, _compare, call, _note in sequential:  # warm-up, not timed
            for _ in range(warmup):
                call()
        for _key, _label, calls_, _note in concurrent:
            run_concurrent(calls_, max(1, warmup // threads), Timing())

        per_round = max(1, calls // rounds)
        per_thread = max(1, concurrent_calls // (threads * rounds))
        for _round in range(rounds):
            for key, _label, _compare, call, _note in sequential:
                run_sequential(call, per_round, timings[key])
            for key, _label, calls_, _note in concurrent:
                run_concurrent(calls_, per_thread, timings[key])
    finally:
        for thing in reversed(opened):
            with contextlib.suppress(Exception):  # cleaning up
                thing.stop() if hasattr(thing, "stop") else thing.close()

    rows = []
    for key, label, compare, _call, note in sequential:
        t = timings[key]
        rows.append(
            Row(
                SECTION,
                key,
                label,
                t.count,
                t.elapsed,
                t.latencies,
                compare,
                None if compare == BASELINE else "raw_rr",
                note,
            )
        )
    for key, label, _calls, note in concurrent:
        t = timings[key]
        rows.append(
            Row(SECTION, key, label, t.count, t.elapsed, t.latencies, THROUGHPUT, "raw_rr", note)
        )
    return rows, {"applications_submitted": applicants._next}
