"""nameko dependency providers: how a service reaches its database, clock and calendar.

A service class declares two of them and nothing else of the platform::

    class IntakeService:
        name = "intake"
        platform = Platform(adapters.TABLES)
        instrumentation = Instrumentation()

``self.platform.uow()`` opens a unit of work; ``self.platform.clock`` and ``.calendar`` are the
suite's. ``Platform`` also runs, in every instance, the outbox relay and the deadline scanner;
both stay correct with several instances (row locks and conditional updates).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from hqcore import logs, metrics
from hqcore.calendar import WorkingCalendar
from hqcore.clock import get_clock
from hqcore.db import Database
from hqcore.deadlines import compute_due
from hqcore.messaging.outbox import EventPublisher, OutboxRelay
from hqcore.messaging.subscriber import EventSubscriber
from hqcore.uow import MessageContext, UnitOfWork, deadline_event

log = logging.getLogger(__name__)


@dataclass
class WorkerPlatform:
    """What a worker sees as ``self.platform``."""
    service: str
    settings: object
    clock: object
    calendar: WorkingCalendar
    database: Database
    context: MessageContext
    _uow_factory: object

    def uow(self) -> UnitOfWork:
        return self._uow_factory(self.context)


class Platform(DependencyProvider):
    def __init__(self, tables: dict):
        self.tables = tables

    def setup(self):
        self.settings = self.container.config["HQ_SETTINGS"]
        self.service = self.container.service_name
        self.clock = get_clock(self.settings)
        self.calendar = WorkingCalendar(self.settings.holiday_file)
        self.database = Database(self.settings.database_url(self.service))
        self.publisher = EventPublisher(self.settings.amqp_uri)
        self.relay = OutboxRelay(self.database, self.tables["outbox"], self.publisher)
        self._wake = threading.Event()
        self._running = False

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._relay_loop, identifier="outbox_relay")
        self.container.spawn_managed_thread(self._scan_loop, identifier="deadline_scanner")

    def stop(self):
        self._running = False
        self._wake.set()
        self.publisher.close()

    def kill(self):
        self.stop()

    def make_uow(self, context: MessageContext) -> UnitOfWork:
        return UnitOfWork(self.database, self.tables, self.clock, context,
                          on_commit=self._wake.set,
                          crash_after_commit=self.settings.fault_crash_after_commit)

    def get_dependency(self, worker_ctx):
        context = MessageContext(
            service=self.service,
            correlation_id=worker_ctx.data.get("correlation_id") or worker_ctx.call_id,
            acting_user=worker_ctx.data.get("acting_user"),
        )
        return WorkerPlatform(self.service, self.settings, self.clock, self.calendar,
                              self.database, context, self.make_uow)

    # -- background work -------------------------------------------------------------------
    def _relay_loop(self):
        interval = self.settings.outbox_poll_interval
        while self._running:
            try:
                published = self.relay.relay_pending()
                if published:
                    metrics.OUTBOX_PUBLISHED.labels(self.service).inc(published)
                backlog, age = self.relay.backlog()
                metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
                metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(age)
            except Exception:
                log.exception("outbox relay failed; retrying")
            self._wake.wait(interval)
            self._wake.clear()

    def _scan_loop(self):
        while self._running:
            try:
                self.scan_deadlines()
                self._update_queue_gauges()
            except Exception:
                log.exception("deadline scan failed; retrying")
            slept = 0.0
            while self._running and slept < self.settings.deadline_scan_interval:
                time.sleep(0.2)
                slept += 0.2

    def scan_deadlines(self) -> int:
        """Mark overdue deadlines breached, each exactly once, with its event."""
        context = MessageContext(self.service, correlation_id=f"scan-{uuid.uuid4()}",
                                 acting_user="system")
        breached = 0
        with self.make_uow(context) as uow:
            self._recompute_provisional(uow)
            for deadline in uow.deadlines.overdue(uow.now):
                if not uow.deadlines.mark_breached(deadline, uow.now):
                    continue  # another instance took it
                breached += 1
                metrics.DEADLINE_BREACHES.labels(
                    self.service, deadline.rule_id, deadline.street_code or "").inc()
                uow.outbox.add("deadline.breached", deadline_event(deadline, self.service),
                               case_id=deadline.case_id, street_code=deadline.street_code)
            metrics.record_deadline_counts(self.service, uow.deadlines.counts())
        return breached

    def _recompute_provisional(self, uow) -> None:
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

    def _update_queue_gauges(self):
        subscribers = [ext for ext in self.container.entrypoints
                       if isinstance(ext, EventSubscriber)]
        if not subscribers:
            return
        with Connection(self.settings.amqp_uri) as conn:
            channel = conn.default_channel
            for sub in subscribers:
                _, count, _ = channel.queue_declare(sub.dead_queue, passive=True)
                metrics.DEAD_LETTER_DEPTH.labels(self.service, sub.dead_queue).set(count)


class Instrumentation(DependencyProvider):
    """Entrypoint metrics, the correlation id in logs, and the metrics HTTP endpoint."""

    def setup(self):
        self.settings = self.container.config["HQ_SETTINGS"]
        self.service = self.container.service_name
        self._started: dict = {}

    def start(self):
        self._server = None
        if self.settings.metrics_enabled:
            import eventlet
            self._server = eventlet.spawn(metrics.serve_forever,
                                          self.settings.metrics_ports[self.service])

    def stop(self):
        if self._server is not None:
            self._server.kill()  # the metrics endpoint goes with the service, quietly

    kill = stop

    def worker_setup(self, worker_ctx):
        logs.correlation_id.set(worker_ctx.data.get("correlation_id") or worker_ctx.call_id)
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        entrypoint = worker_ctx.entrypoint
        kind = "event" if isinstance(entrypoint, EventSubscriber) else type(entrypoint).__name__.lower()
        expected = getattr(entrypoint, "expected_exceptions", ())
        if exc_info is None:
            outcome = "ok"
        elif expected and isinstance(exc_info[1], expected):
            outcome = "rejected"
        else:
            outcome = "error"
        name = entrypoint.method_name
        metrics.ENTRYPOINT_CALLS.labels(self.service, name, kind, outcome).inc()
        started = self._started.pop(worker_ctx, None)
        if started is not None:
            metrics.ENTRYPOINT_SECONDS.labels(self.service, name, kind).observe(
                time.perf_counter() - started)

    def worker_teardown(self, worker_ctx):
        self._started.pop(worker_ctx, None)


class ScanTimer(Timer):
    """nameko's timer firing every ``Settings.deadline_scan_interval`` seconds, in every
    instance: what it does must be guarded by conditional updates so one instance acts."""

    def __init__(self, **kwargs):
        super().__init__(interval=30.0, eager=True, **kwargs)

    def setup(self):
        self.interval = self.container.config["HQ_SETTINGS"].deadline_scan_interval


scan = ScanTimer.decorator
