"""The suite's Prometheus metrics: defined once, labelled by service.

Each service process serves them on its own port (intake 9101 … supervision 9106).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app

ENTRYPOINT_CALLS = Counter(
    "hq_entrypoint_calls_total",
    "Entrypoint calls by outcome",
    ["service", "entrypoint", "kind", "outcome"],
)
ENTRYPOINT_SECONDS = Histogram(
    "hq_entrypoint_seconds",
    "Entrypoint latency",
    ["service", "entrypoint", "kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_HANDLED = Counter(
    "hq_events_handled_total",
    "Events received by a handler: applied or duplicate",
    ["service", "handler", "result"],
)
EVENT_RETRIES = Counter(
    "hq_event_retries_total",
    "Failed event deliveries sent back for a retry",
    ["service", "handler"],
)
DEAD_LETTERED = Counter(
    "hq_dead_lettered_total",
    "Events moved to a dead-letter queue",
    ["service", "handler", "reason"],
)
DEAD_LETTER_DEPTH = Gauge(
    "hq_dead_letter_messages", "Messages waiting in a dead-letter queue", ["service", "queue"]
)
OUTBOX_BACKLOG = Gauge("hq_outbox_backlog", "Outbox events not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "hq_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event", ["service"]
)
OUTBOX_PUBLISHED = Counter(
    "hq_outbox_published_total", "Outbox events published with a broker confirm", ["service"]
)
DEADLINES = Gauge(
    "hq_deadlines",
    "Deadlines by rule, street and status",
    ["service", "rule_id", "street", "status"],
)
DEADLINES_PROVISIONAL = Gauge(
    "hq_deadlines_provisional",
    "Open deadlines computed for a year with no holiday data",
    ["service"],
)
DEADLINE_BREACHES = Counter(
    "hq_deadline_breaches_total",
    "Deadlines found breached by this process's scanner",
    ["service", "rule_id", "street"],
)
CALENDAR_UNKNOWN_YEAR = Gauge(
    "hq_calendar_year_without_data",
    "Open deadlines that are provisional because this year has no holiday data",
    ["service", "year"],
)

# The district's register, as the supervision service holds it (the dashboard's street panels).
# Recomputed from its database every scan interval, so they survive restarts and replicas
# report the same figures (aggregate them with max, not sum).
CASES_OPEN = Gauge(
    "hq_cases_open",
    "Open cases in the district's register by street and current step",
    ["service", "street", "step"],
)
CASES_OVERDUE = Gauge(
    "hq_cases_overdue",
    "Open cases with a deadline breached or open past its due time",
    ["service", "street"],
)
DECISIONS_THIS_MONTH = Gauge(
    "hq_decisions_this_month",
    "Decisions taken this calendar month (Beijing time)",
    ["service", "street", "outcome"],
)
PAYMENTS_THIS_MONTH = Gauge(
    "hq_payments_this_month",
    "Monthly payments due this calendar month (the payment roll)",
    ["service", "street"],
)
PAYMENTS_THIS_MONTH_FEN = Gauge(
    "hq_payments_this_month_fen",
    "Total of this calendar month's payments, in fen",
    ["service", "street"],
)
_REGISTER_GAUGES = {
    "open_cases": CASES_OPEN,
    "overdue_cases": CASES_OVERDUE,
    "decisions_this_month": DECISIONS_THIS_MONTH,
    "payments_this_month": PAYMENTS_THIS_MONTH,
    "payments_this_month_fen": PAYMENTS_THIS_MONTH_FEN,
}


def serve_forever(port: int, host: str = "0.0.0.0") -> None:
    """Serve this process's metrics over HTTP on ``port`` (blocks: run it in a green thread).

    eventlet's own WSGI server, because prometheus_client's threaded server calls
    ``getaddrinfo`` with keywords eventlet 0.33's green socket module does not accept."""
    import eventlet
    import eventlet.wsgi

    eventlet.wsgi.server(eventlet.listen((host, port)), make_wsgi_app(), log_output=False)


def record_deadline_counts(
    service: str, counts: Iterable[tuple[str, str | None, str, bool, int]]
) -> None:
    """Set the deadline gauges from (rule, street, status, provisional, n) rows."""
    totals: dict[tuple[str, str, str], int] = {}
    provisional_open = 0
    for rule_id, street, status, provisional, n in counts:
        key = (rule_id, street or "", status)
        totals[key] = totals.get(key, 0) + n
        if provisional and status == "open":
            provisional_open += n
    for labels in list(DEADLINES._metrics):  # labels no longer present fall to zero
        if labels[0] == service and labels[1:] not in totals:
            DEADLINES.labels(*labels).set(0)
    for (rule_id, street, status), n in totals.items():
        DEADLINES.labels(service, rule_id, street, status).set(n)
    DEADLINES_PROVISIONAL.labels(service).set(provisional_open)


def record_register_figures(
    service: str, figures: Mapping[str, Mapping[tuple[Any, ...], float]]
) -> None:
    """Set the register gauges from {figure: {label values after service: value}} (as
    ``services.supervision.adapters.register_figures`` returns); label sets no longer present
    fall to zero, so a street's last case leaving a step shows 0, not the old count."""
    for name, gauge in _REGISTER_GAUGES.items():
        values = {tuple(str(v or "") for v in key): n for key, n in figures.get(name, {}).items()}
        for labels in list(gauge._metrics):
            if labels[0] == service and labels[1:] not in values:
                gauge.labels(*labels).set(0)
        for key, n in values.items():
            gauge.labels(service, *key).set(n)
