"""Entrypoints every service shares, so each service class holds only its own.

``BaseService``: health, documents (read by whoever may see the case's street), and the
working-day calendar's operator facilities: ``calendar_info`` (RPC, answered by one instance)
and the ``calendar.reload`` broadcast, which every instance of every service receives on its
own exclusive queue: it re-reads ``HQ_HOLIDAY_FILE``, recomputes provisional deadlines at once
and confirms to the operator's reply queue. ``CaseService`` adds ``get_case``.
``PolicyTableService``: the effective-dated policy tables, for the services that keep a copy
(decision and verification): ``add_policy_rate`` and ``list_policy_rates``.

A service class declares ``name`` and ``work`` (``hqcore.providers.UnitOfWorkProvider``).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from kombu import Connection, Producer
from marshmallow import Schema, fields, validate
from nameko.events import BROADCAST, EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from hqcore import personal
from hqcore.authz import DISTRICT_OFFICER, ROLES, Actor, authorize, sees_personal_data
from hqcore.clock import local_date
from hqcore.config import SERVICES, Settings
from hqcore.contracts import EVENTS, dump_rpc_response, load_rpc_request
from hqcore.contracts.registry import rpc as register_rpc
from hqcore.errors import EXPECTED, Forbidden, NotFound
from hqcore.policy_tables import add_policy_row, list_rates
from hqcore.providers import Instrumentation, Work
from hqcore.steps import Context

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _registering(decorator: Any) -> Callable[[F], F]:
    """A nameko entrypoint's decorator (nameko has no type information) as what it is: it
    registers the method and returns it unchanged, so the method keeps its type."""
    registering: Callable[[F], F] = decorator
    return registering


# The operators' broadcasts: nameko events "from" this source, exchange ``hq-operator.events``.
OPERATOR_SOURCE = "hq-operator"
CALENDAR_RELOAD = "calendar.reload"


# -- operator facilities shared by every service ---------------------------------------------


class CalendarInfoRequest(Schema):
    year = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=2000, max=2100)
    )


class CalendarYearView(Schema):
    year = fields.Integer(required=True)
    known = fields.Boolean(required=True)
    source = fields.String(required=True)
    holidays = fields.List(fields.Date(), required=True)  # Monday to Friday without work
    workdays = fields.List(fields.Date(), required=True)  # make-up Saturdays and Sundays


class CalendarInfoView(Schema):
    """What one instance's working-day calendar knows (``holidays show``)."""

    service = fields.String(required=True)
    instance = fields.String(required=True)
    holiday_file = fields.String(allow_none=True)
    known_years = fields.List(fields.Integer(), required=True)
    provisional_open = fields.Integer(required=True)
    year = fields.Nested(CalendarYearView, allow_none=True)


# The contract of ``<service>.calendar_info`` sits beside the entrypoint every service shares.
for _service in SERVICES:
    register_rpc(f"{_service}.calendar_info", CalendarInfoRequest, CalendarInfoView)


class OperatorBroadcast(EventHandler):  # type: ignore[misc]  # nameko: no type information
    """An operator's broadcast, delivered to every running instance of every service.

    nameko's ``BROADCAST`` handler type gives each instance its own exclusive, auto-deleted
    queue bound to ``hq-operator.events``; declared classic, whatever the vhost's default
    queue type (an exclusive queue cannot be a quorum queue). An instance that is not running
    misses the broadcast and needs none: it reads the holiday file when it starts, and every
    deadline scan re-reads it as well.
    """

    def __init__(self, event_type: str, **kwargs: Any) -> None:
        super().__init__(
            OPERATOR_SOURCE, event_type, handler_type=BROADCAST, reliable_delivery=False, **kwargs
        )

    def setup(self) -> None:
        super().setup()
        self.queue.queue_arguments = {"x-queue-type": "classic"}


operator_broadcast = OperatorBroadcast.decorator


def reload_calendar(work: Work, service: str, instance: str) -> dict[str, Any]:
    """Re-read the holiday file now and recompute provisional deadlines (one deadline scan,
    safe beside the scanner of this and every other instance)."""
    report: dict[str, Any] = {"service": service, "instance": instance}
    try:
        work.calendar.reload()
    except ValueError as exc:
        log.error("calendar reload refused: %s", exc)
        return {**report, "status": "failed", "error": str(exc)}
    before = work.scanner.open_provisional()
    work.scanner.scan()
    after = work.scanner.open_provisional()
    log.info(
        "calendar reloaded: %d provisional deadlines recomputed, %d still provisional",
        before - after,
        after,
    )
    return {
        **report,
        "status": "reloaded",
        "known_years": list(work.calendar.known_years()),
        "recomputed": before - after,
        "provisional_open": after,
    }


def calendar_info(
    work: Work, settings: Settings, service: str, instance: str, year: int | None
) -> dict[str, Any]:
    calendar = work.calendar
    view = None
    if year is not None:
        known = calendar.is_known_year(year)
        holidays, workdays = [], []
        if known:
            day = date(year, 1, 1)
            while day.year == year:
                working, weekend = calendar.is_working_day(day), day.weekday() >= 5
                if weekend and working:
                    workdays.append(day)
                elif not weekend and not working:
                    holidays.append(day)
                day += timedelta(days=1)
        view = {
            "year": year,
            "known": known,
            "source": calendar.source(year),
            "holidays": holidays,
            "workdays": workdays,
        }
    holiday_file = settings.holiday_file
    return {
        "service": service,
        "instance": instance,
        "holiday_file": str(holiday_file) if holiday_file else None,
        "known_years": list(calendar.known_years()),
        "provisional_open": work.scanner.open_provisional(),
        "year": view,
    }


def reply(amqp_uri: str, reply_to: str | None, body: dict[str, Any]) -> None:
    """Send a confirmation to the operator's reply queue (dropped if it is gone)."""
    if not reply_to:
        return
    with Connection(amqp_uri) as conn:
        Producer(conn.default_channel, serializer="json").publish(
            body, exchange="", routing_key=reply_to, delivery_mode=1
        )


class Identity(DependencyProvider):  # type: ignore[misc]  # nameko has no type information
    """``self.identity``: this instance's name and settings (for the operator's replies)."""

    def setup(self) -> None:
        self.settings: Settings = self.container.config["HQ_SETTINGS"]
        self.service: str = self.container.service_name
        self.instance = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"

    def get_dependency(self, worker_ctx: Any) -> Identity:
        return self


class BaseService:
    """Health, documents, instrumentation and the operator facilities for every service
    (subclasses set ``name`` and ``work``)."""

    name: str
    work: Work  # in a worker: what its UnitOfWorkProvider gives
    instrumentation = Instrumentation()
    identity = Identity()

    @_registering(rpc(expected_exceptions=EXPECTED))
    def get_document(self, actor: Any = None, document_id: Any = None) -> dict[str, Any]:
        """One document this service issued (ORG-7), with its HTML, for whoever may see the
        street of its case."""
        name = f"{self.name}.get_document"
        document_id = load_rpc_request(name, {"document_id": document_id})["document_id"]
        acting = self.work.authenticate(actor)
        with self.work.unit(acting) as ctx:
            document = ctx.uow.documents.get(document_id)
            if document is None:
                raise NotFound(
                    f"no document {document_id}", field="document_id", code="document_not_found"
                )
            ctx.may_view(document_street(ctx, document.case_id), "document")
        html = document_html(acting, document.html)
        return dump_rpc_response(
            name, {**document.ref(), "case_id": document.case_id, "html": html}
        )

    @_registering(rpc(expected_exceptions=EXPECTED))
    def list_documents(self, actor: Any = None, case_id: Any = None) -> dict[str, Any]:
        name = f"{self.name}.list_documents"
        case_id = load_rpc_request(name, {"case_id": case_id})["case_id"]
        acting = self.work.authenticate(actor)
        with self.work.unit(acting) as ctx:
            ctx.may_view(document_street(ctx, case_id), "case")
            documents = ctx.uow.documents.for_case(case_id)
        return dump_rpc_response(name, {"documents": [d.ref() for d in documents]})

    @_registering(rpc)
    def ping(self) -> dict[str, Any]:
        return dump_rpc_response(
            f"{self.name}.ping",
            {
                "service": self.name,
                "status": "up",
                "now": self.work.clock.now(),
                "contract_versions": {f"{t}": v for (t, v) in EVENTS},
            },
        )

    @_registering(rpc(expected_exceptions=EXPECTED))
    def calendar_info(self, year: Any = None) -> dict[str, Any]:
        """What this instance's working-day calendar knows (``holidays show``)."""
        request = load_rpc_request(f"{self.name}.calendar_info", {"year": year})
        return dump_rpc_response(
            f"{self.name}.calendar_info",
            calendar_info(
                self.work,
                self.identity.settings,
                self.name,
                self.identity.instance,
                request["year"],
            ),
        )

    @_registering(operator_broadcast(CALENDAR_RELOAD))
    def on_calendar_reload(self, request: Any) -> None:
        """Every instance: re-read the holiday file, recompute provisional deadlines now, and
        confirm to the operator (``holidays load`` / ``holidays reload``)."""
        request = request if isinstance(request, dict) else {}
        log.info(
            "calendar reload requested by %s (%s)",
            request.get("requested_by"),
            request.get("request_id"),
        )
        report = reload_calendar(self.work, self.name, self.identity.instance)
        reply(
            self.identity.settings.amqp_uri,
            request.get("reply_to"),
            {**report, "request_id": request.get("request_id")},
        )


def document_html(actor: Actor, html: str) -> str:
    """A stored document as ``actor`` may read it (SEC-6): in full for the roles that see
    personal data, with the family's figures and ID numbers masked for the others
    (``hqcore.personal``). A document rendered before its template marked its figures cannot
    be masked, so it is refused to them rather than shown in full."""
    if sees_personal_data(actor):
        return html
    if not personal.can_mask_document(html):
        raise Forbidden(
            f"the role {actor.role} may not see this document's personal data, and it was "
            "issued before documents could be masked",
            field="document_id",
            code="personal_data_withheld",
        )
    return personal.mask_document(html)


def document_street(ctx: Context[Any], case_id: str) -> str | None:
    """The street whose staff may read a case's documents: the case's street; a key that is
    not a case (e.g. ``roster:<street>:<month>``) names its street second."""
    cases = getattr(ctx.uow, "cases", None)
    case = cases.get(case_id) if cases is not None else None
    if case is not None:
        street: str = case.street_code
        return street
    parts = case_id.split(":")
    return parts[1] if len(parts) == 3 else None


class CaseService(BaseService):
    """A service holding cases: ``get_case`` answers its view of one (``hqcore.steps``)."""

    @_registering(rpc(expected_exceptions=EXPECTED))
    def get_case(self, actor: Any = None, case_id: Any = None) -> dict[str, Any]:
        return self.work.read_case(actor, case_id)


class PolicyTableService:
    """``add_policy_rate`` and ``list_policy_rates`` for a service keeping a copy of the
    policy tables; the subclass sets ``policy_rates_table`` and registers the contracts
    ``<service>.add_policy_rate`` and ``<service>.list_policy_rates``."""

    name: str
    work: Work  # in a worker: what its UnitOfWorkProvider gives
    policy_rates_table: sa.Table | None = None

    def _policy_rates(self) -> sa.Table:
        if self.policy_rates_table is None:
            raise RuntimeError(f"{self.name} sets no policy_rates_table")
        return self.policy_rates_table

    @_registering(rpc(expected_exceptions=EXPECTED))
    def add_policy_rate(self, actor: Any = None, **fields: Any) -> dict[str, Any]:
        """A district officer adds a row (``hqcore.policy_tables.add_policy_row``)."""
        name = f"{self.name}.add_policy_rate"
        request = load_rpc_request(name, {"verified": True, **fields})
        acting = self.work.authenticate(actor)
        authorize(acting, (DISTRICT_OFFICER,), None, "add_policy_rate")
        with self.work.unit(acting) as ctx:
            result = add_policy_row(ctx.uow.conn, self._policy_rates(), request, self.name)
        log.info(
            "policy row %s from %s added by %s (%s); closed: %s",
            request["key"],
            request["valid_from"],
            acting.user_id,
            "new" if result["created"] else "as held",
            result["closed"] and result["closed"]["valid_to"],
        )
        return dump_rpc_response(name, {"service": self.name, **result})

    @_registering(rpc(expected_exceptions=EXPECTED))
    def list_policy_rates(self, actor: Any = None, key: Any = None) -> dict[str, Any]:
        """Every row (of one key), with whether it is in force on the suite's today."""
        name = f"{self.name}.list_policy_rates"
        request = load_rpc_request(name, {"key": key})
        acting = self.work.authenticate(actor)
        authorize(acting, ROLES, None, "list_policy_rates")
        with self.work.unit(acting) as ctx:
            today = local_date(ctx.now)
            rates = list_rates(ctx.uow.conn, self._policy_rates(), request["key"])
        rows = [{**rate.view(), "in_force": rate.in_force(today)} for rate in rates]
        return dump_rpc_response(name, {"service": self.name, "on": today, "rows": rows})
