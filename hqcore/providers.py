"""nameko extensions: how a service reaches its database, runs its steps, and its background
work. A service class declares one unit-of-work provider and nothing else of the platform::

    class DecisionService(CaseService):
        name = "decision"
        work = UnitOfWorkProvider(adapters.TABLES, repositories=adapters.REPOSITORIES,
                                  templates=letters.TEMPLATES, view=handlers.view)

        @rpc(expected_exceptions=EXPECTED)
        def record_review(self, actor, **fields):
            return self.work.step(handlers.record_review, actor, fields)

``UnitOfWorkProvider`` opens units of work and runs declared handlers (``hqcore.steps``). Its
two sub-extensions run in every instance: ``OutboxRelay`` publishes committed events, woken by
each commit that added some, and ``DeadlineScanner`` marks overdue deadlines breached; both are
correct with several instances (row locks and conditional updates). Everything periodic — the
relay's poll, the scanner, a service's ``@scan`` entrypoints — runs on one mechanism,
``Every``: a managed green thread that sleeps on an event, so it wakes early when asked and
stops at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kombu import Connection
from nameko.extensions import DependencyProvider, Entrypoint, Extension
from nameko.rpc import Rpc

from hqcore import envelope, logs, metrics, steps
from hqcore.authz import Actor
from hqcore.calendar import WorkingCalendar
from hqcore.clock import get_clock
from hqcore.config import Settings
from hqcore.db import Database
from hqcore.deadlines import compute_due
from hqcore.documents import Templates
from hqcore.messaging import broker_loss
from hqcore.messaging.outbox import EventPublisher
from hqcore.messaging.outbox import OutboxRelay as Relay
from hqcore.messaging.subscriber import EventSubscriber, ExcInfo
from hqcore.secrets import request_key
from hqcore.uow import MessageContext, UnitOfWork, deadline_event

if TYPE_CHECKING:
    from eventlet.greenthread import GreenThread

log = logging.getLogger(__name__)


class Every:
    """Call ``task`` every ``interval`` seconds in a managed thread of ``container`` until
    stopped; ``wake()`` runs it at once. The one periodic mechanism of the suite."""

    def __init__(self, container: Any, name: str, interval: float, task: Callable[[], None]):
        self._container, self._name = container, name
        self._interval, self._task = interval, task
        self._wake = threading.Event()
        self._running = False

    def start(self) -> None:
        self._running = True
        self._container.spawn_managed_thread(self._loop, identifier=self._name)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._running = False
        self._wake.set()

    def _loop(self) -> None:
        while self._running:
            try:
                self._task()
            except Exception:
                log.exception("%s failed; it runs again in %ss", self._name, self._interval)
            self._wake.wait(self._interval)
            self._wake.clear()


class OutboxRelay(Extension):  # type: ignore[misc]  # nameko has no type information
    """Publishes committed outbox rows, with publisher confirms (``hqcore.messaging.outbox``)."""

    def attach(self, database: Database, tables: dict[str, Any]) -> None:
        self._database, self._tables = database, tables

    def setup(self) -> None:
        settings: Settings = self.container.config["HQ_SETTINGS"]
        self.service: str = self.container.service_name
        self._amqp_uri = settings.amqp_uri
        self._every = Every(
            self.container, "outbox_relay", settings.outbox_poll_interval, self.relay
        )

    def start(self) -> None:
        self.publisher = EventPublisher(self._amqp_uri)
        self._relay = Relay(self._database, self._tables["outbox"], self.publisher)
        self._every.start()

    def wake(self) -> None:
        self._every.wake()

    def relay(self) -> None:
        published = self._relay.relay_pending()
        if published:
            metrics.OUTBOX_PUBLISHED.labels(self.service).inc(published)
        backlog, age = self._relay.backlog()
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(age)

    def stop(self) -> None:
        self._every.stop()
        self.publisher.close()

    kill = stop


class DeadlineScanner(Extension):  # type: ignore[misc]  # nameko has no type information
    """Marks overdue deadlines breached, each exactly once with its event; recomputes
    provisional deadlines once their year's holidays are known; updates the queue gauges."""

    def attach(
        self, make_uow: Callable[[MessageContext], UnitOfWork], calendar: WorkingCalendar
    ) -> None:
        self._make_uow, self.calendar = make_uow, calendar

    def setup(self) -> None:
        self.settings: Settings = self.container.config["HQ_SETTINGS"]
        self.service: str = self.container.service_name
        self._every = Every(
            self.container, "deadline_scanner", self.settings.deadline_scan_interval, self._tick
        )

    def start(self) -> None:
        self._every.start()

    def stop(self) -> None:
        self._every.stop()

    kill = stop

    def _tick(self) -> None:
        self.scan()
        self._update_queue_gauges()

    def scan(self) -> int:
        """One scan now (safe beside every other instance's); how many deadlines it breached."""
        context = MessageContext(
            self.service, correlation_id=f"scan-{uuid.uuid4()}", acting_user="system"
        )
        breached = 0
        with self._make_uow(context) as uow:
            now = uow.now
            assert now is not None  # set when the unit of work begins
            self._recompute_provisional(uow)
            for deadline in uow.deadlines.overdue(now):
                if not uow.deadlines.mark_breached(deadline, now):
                    continue  # another instance took it
                breached += 1
                metrics.DEADLINE_BREACHES.labels(
                    self.service, deadline.rule_id, deadline.street_code or ""
                ).inc()
                uow.outbox.add(
                    "deadline.breached",
                    deadline_event(deadline, self.service),
                    case_id=deadline.case_id,
                    street_code=deadline.street_code,
                )
            metrics.record_deadline_counts(self.service, uow.deadlines.counts())
        return breached

    def open_provisional(self) -> int:
        context = MessageContext(
            self.service, correlation_id=f"ops-{uuid.uuid4()}", acting_user="system"
        )
        with self._make_uow(context) as uow:
            return len(uow.deadlines.open_provisional())

    def _recompute_provisional(self, uow: UnitOfWork) -> None:
        """A deadline computed for a year without holiday data is provisional: once an
        administrator adds that year's data, it is recomputed from its start."""
        try:
            self.calendar.reload()
        except ValueError:
            log.exception("holiday data file unreadable; keeping the calendar loaded before")
        waiting: dict[int, int] = {}
        for deadline in uow.deadlines.open_provisional():
            due = compute_due(deadline.started_at, deadline.amount, deadline.unit, self.calendar)
            if due.provisional:
                for year in due.unknown_years:
                    waiting[year] = waiting.get(year, 0) + 1
                continue
            deadline.due_at, deadline.provisional = due.due_at, False
            uow.deadlines.reschedule(deadline)
        for labels in list(metrics.CALENDAR_UNKNOWN_YEAR._metrics):
            if labels[0] == self.service and int(labels[1]) not in waiting:
                metrics.CALENDAR_UNKNOWN_YEAR.labels(*labels).set(0)
        for year, count in waiting.items():
            metrics.CALENDAR_UNKNOWN_YEAR.labels(self.service, str(year)).set(count)

    def _update_queue_gauges(self) -> None:
        subscribers = [
            ext for ext in self.container.entrypoints if isinstance(ext, EventSubscriber)
        ]
        if not subscribers:
            return
        with Connection(self.settings.amqp_uri) as conn:
            channel = conn.default_channel
            for sub in subscribers:
                _, count, _ = channel.queue_declare(sub.dead_queue, passive=True)
                metrics.DEAD_LETTER_DEPTH.labels(self.service, sub.dead_queue).set(count)


@dataclass(frozen=True)
class Call:
    """An RPC request as the service received it: what ``hqcore.envelope.verify`` checks."""

    method: str
    args: list[Any]
    kwargs: dict[str, Any]
    context: dict[str, Any]


class Work:
    """What a worker sees as ``self.work``: the runtime of ``hqcore.steps`` for this call.

    Whatever acts for a user (``step``, ``read_case``, ``authenticate`` then ``unit``) first
    verifies that the request was signed with the suite's request key for exactly this
    method, these arguments and this acting user, and that its deadline has not passed
    (``hqcore.envelope``); a step checks the deadline again right before it commits."""

    def __init__(
        self,
        runtime: steps.Runtime,
        correlation_id: str | None,
        scanner: DeadlineScanner,
        *,
        key: bytes | None = None,
        call: Call | None = None,
    ):
        self.runtime, self._correlation_id, self.scanner = runtime, correlation_id, scanner
        self._key, self._call = key, call
        self._signed: envelope.Signed | None = None

    def authenticate(self, actor: Any) -> Actor:
        """The acting user of a request signed by the gateway, validated (401
        ``unsigned_request``, 504 ``request_expired``, 400 for a malformed actor)."""
        self._verify(actor)
        return steps.load_actor(actor)

    def _verify(self, actor: Any) -> envelope.Signed:
        """Verify the request for ``actor`` and remember it for ``unit``."""
        if self._call is None or self._key is None:
            raise envelope.unsigned("only a signed RPC request may act for a user")
        call = self._call
        signed = envelope.verify(
            self._key, self.runtime.service, call.method, call.args, call.kwargs, call.context
        )
        if signed.actor != actor:
            raise envelope.unsigned("the acting user is not the one the request was signed for")
        self._signed = signed
        return signed

    @property
    def clock(self) -> steps.Clock:
        return self.runtime.clock

    @property
    def calendar(self) -> WorkingCalendar:
        return self.runtime.calendar

    def step(
        self, handler: Callable[..., Any], actor: Any, fields: dict[str, Any]
    ) -> dict[str, Any]:
        signed = self._verify(actor)
        return steps.run_step(
            self.runtime,
            handler,
            actor,
            fields,
            correlation_id=self._correlation_id,
            before_commit=signed.check_deadline,
            idempotency_key=signed.idempotency_key,
        )

    def read_case(self, actor: Any, case_id: Any) -> dict[str, Any]:
        self._verify(actor)
        return steps.read_case(self.runtime, actor, case_id)

    def event(self, handler: Callable[..., Any], event: Any) -> None:
        steps.run_event(self.runtime, handler, event)

    def periodic(self, handler: Callable[[steps.Work], None]) -> None:
        steps.run_periodic(self.runtime, handler)

    def unit(self, actor: Actor | None = None) -> AbstractContextManager[steps.Context[Any]]:
        """A unit of work with its handler context, for the kit's shared entrypoints; one
        for an acting user only after ``authenticate``, and it commits only before the
        request's deadline."""
        if actor is None:
            return steps.unit_of_work(self.runtime, None, correlation_id=self._correlation_id)
        if self._signed is None:
            raise envelope.unsigned("the acting user was not authenticated")
        return steps.unit_of_work(
            self.runtime,
            actor,
            correlation_id=self._correlation_id,
            before_commit=self._signed.check_deadline,
        )


class UnitOfWorkProvider(DependencyProvider):  # type: ignore[misc]  # nameko: no type information
    """A service's database, units of work and step runner (``self.work``).

    ``repositories`` maps a name to a factory ``(conn) -> repository`` (``uow.cases`` is the
    service's case repository); ``ports`` maps a name to ``(settings, clock) -> factory``, for
    a client of an outside system that is chosen from the settings once and then works inside
    each unit of work (verification's city platform); ``templates`` is the folder of its
    documents' templates; ``view`` its case view ``(case, ctx) -> dict``.
    """

    relay = OutboxRelay()
    scanner = DeadlineScanner()

    def __init__(
        self,
        tables: dict[str, Any],
        *,
        repositories: dict[str, Any] | None = None,
        ports: dict[str, Any] | None = None,
        templates: Any = None,
        view: Callable[..., dict[str, Any]] | None = None,
    ):
        self.tables = tables
        self.repositories = repositories or {}
        self.ports = ports or {}
        self.templates_folder = templates
        self.view = view

    def setup(self) -> None:
        self.settings: Settings = self.container.config["HQ_SETTINGS"]
        self.service: str = self.container.service_name
        self.clock = get_clock(self.settings)
        self.calendar = WorkingCalendar(self.settings.holiday_file)
        self.database = Database(self.settings.database_url(self.service))
        self.templates = Templates(self.templates_folder) if self.templates_folder else None
        self.factories = {
            **self.repositories,
            **{name: port(self.settings, self.clock) for name, port in self.ports.items()},
        }
        self.relay.attach(self.database, self.tables)
        self.scanner.attach(self.make_uow, self.calendar)
        # A broker that goes away under a worker must not end the service.
        broker_loss.install()
        # Outside demo mode a service without the request key refuses to start (SecretMissing).
        self.request_key = request_key(self.settings)

    def make_uow(self, context: MessageContext) -> UnitOfWork:
        return UnitOfWork(
            self.database,
            self.tables,
            self.clock,
            context,
            repositories=self.factories,
            on_commit=self.after_commit,
        )

    def after_commit(self) -> None:
        """A unit of work committed events: the relay publishes them now."""
        self.relay.wake()

    def runtime(self) -> steps.Runtime:
        return steps.Runtime(
            self.service, self.clock, self.calendar, self.make_uow, self.templates, self.view
        )

    def get_dependency(self, worker_ctx: Any) -> Work:
        entrypoint = worker_ctx.entrypoint
        call = (
            Call(
                entrypoint.method_name,
                list(worker_ctx.args),
                dict(worker_ctx.kwargs),
                dict(worker_ctx.data),
            )
            if isinstance(entrypoint, Rpc)
            else None
        )
        return Work(
            self.runtime(),
            worker_ctx.data.get("correlation_id") or worker_ctx.call_id,
            self.scanner,
            key=self.request_key,
            call=call,
        )


class Periodic(Entrypoint):  # type: ignore[misc]  # nameko has no type information
    """``@scan``: a worker every ``Settings.deadline_scan_interval`` seconds, in every
    instance, on the suite's one periodic mechanism; the next run waits for this one."""

    def setup(self) -> None:
        interval: float = self.container.config["HQ_SETTINGS"].deadline_scan_interval
        self._every = Every(self.container, f"scan:{self.method_name}", interval, self._run)

    def start(self) -> None:
        self._every.start()

    def stop(self) -> None:
        self._every.stop()

    kill = stop

    def _run(self) -> None:
        done = threading.Event()

        def finished(
            worker_ctx: Any, result: Any, exc_info: ExcInfo | None
        ) -> tuple[Any, ExcInfo | None]:
            done.set()
            return result, exc_info

        self.container.spawn_worker(self, (), {}, handle_result=finished)
        done.wait()


scan = Periodic.decorator


class Instrumentation(DependencyProvider):  # type: ignore[misc]  # nameko: no type information
    """Entrypoint metrics, the correlation id in logs, and the metrics HTTP endpoint."""

    def setup(self) -> None:
        self.settings: Settings = self.container.config["HQ_SETTINGS"]
        self.service: str = self.container.service_name
        self._started: dict[Any, float] = {}  # by nameko WorkerContext

    def start(self) -> None:
        self._server: GreenThread | None = None
        if self.settings.metrics_enabled:
            import eventlet

            self._server = eventlet.spawn(
                metrics.serve_forever, self.settings.metrics_ports[self.service]
            )

    def stop(self) -> None:
        if self._server is not None:
            self._server.kill()  # the metrics endpoint goes with the service, quietly

    kill = stop

    def worker_setup(self, worker_ctx: Any) -> None:
        logs.correlation_id.set(worker_ctx.data.get("correlation_id") or worker_ctx.call_id)
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(
        self, worker_ctx: Any, result: Any = None, exc_info: ExcInfo | None = None
    ) -> None:
        entrypoint = worker_ctx.entrypoint
        kind = (
            "event"
            if isinstance(entrypoint, EventSubscriber)
            else type(entrypoint).__name__.lower()
        )
        expected = getattr(entrypoint, "expected_exceptions", ())
        if exc_info is None:
            outcome = "ok"
        elif expected and isinstance(exc_info[1], expected):
            outcome = "rejected"
        else:
            outcome = "error"
        name: str = entrypoint.method_name
        metrics.ENTRYPOINT_CALLS.labels(self.service, name, kind, outcome).inc()
        started = self._started.pop(worker_ctx, None)
        if started is not None:
            metrics.ENTRYPOINT_SECONDS.labels(self.service, name, kind).observe(
                time.perf_counter() - started
            )

    def worker_teardown(self, worker_ctx: Any) -> None:
        self._started.pop(worker_ctx, None)
