"""Entrypoints every service shares, so each service class holds only its own.

Besides health and documents, two operator facilities live here (``python -m hqcore.cli``):

- the working-day calendar: ``calendar_info`` (RPC, answered by one instance) and the
  ``calendar.reload`` broadcast, which every instance of every service receives on its own
  exclusive queue: it re-reads ``HQ_HOLIDAY_FILE``, recomputes provisional deadlines at once
  and confirms to the operator's reply queue;
- the effective-dated policy tables (``PolicyTableService``, for the services that keep a copy:
  decision and verification): ``add_policy_rate`` and ``list_policy_rates``.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import date, timedelta

from kombu import Connection, Producer
from marshmallow import Schema, ValidationError, fields, validate
from nameko.events import BROADCAST, EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from sqlalchemy import select

from hqcore.authz import DISTRICT_OFFICER, ROLES, Actor, authorize
from hqcore.case_records import CaseRecordRepository
from hqcore.clock import local_date
from hqcore.config import SERVICES
from hqcore.contracts import EVENTS, dump_rpc_response, load_rpc_request
from hqcore.contracts.common import ActorSchema
from hqcore.contracts.registry import rpc as register_rpc
from hqcore.errors import (EXPECTED, Conflict, NotFound, ValidationFailed,
                           validation_error_from_marshmallow)
from hqcore.nameko_ext import Instrumentation, Platform
from hqcore.uow import MessageContext

log = logging.getLogger(__name__)

# The operators' broadcasts: nameko events "from" this source, exchange ``hq-operator.events``.
OPERATOR_SOURCE = "hq-operator"
CALENDAR_RELOAD = "calendar.reload"


def load_actor(data) -> Actor:
    """The acting user the gateway sent, validated against its contract."""
    try:
        return Actor.from_dict(ActorSchema().load(data or {}))
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages, prefix="actor") from None


# -- operator facilities shared by every service ---------------------------------------------

class CalendarInfoRequest(Schema):
    year = fields.Integer(load_default=None, allow_none=True,
                          validate=validate.Range(min=2000, max=2100))


class CalendarYearView(Schema):
    year = fields.Integer(required=True)
    known = fields.Boolean(required=True)
    source = fields.String(required=True)
    holidays = fields.List(fields.Date(), required=True)   # Monday to Friday without work
    workdays = fields.List(fields.Date(), required=True)   # make-up Saturdays and Sundays


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


class OperatorBroadcast(EventHandler):
    """An operator's broadcast, delivered to every running instance of every service.

    nameko's ``BROADCAST`` handler type gives each instance its own exclusive, auto-deleted
    queue bound to ``hq-operator.events``; declared classic, whatever the vhost's default
    queue type (an exclusive queue cannot be a quorum queue). An instance that is not running
    misses the broadcast and needs none: it reads the holiday file when it starts, and every
    deadline scan re-reads it as well.
    """

    def __init__(self, event_type: str, **kwargs):
        super().__init__(OPERATOR_SOURCE, event_type, handler_type=BROADCAST,
                         reliable_delivery=False, **kwargs)

    def setup(self):
        super().setup()
        self.queue.queue_arguments = {"x-queue-type": "classic"}


operator_broadcast = OperatorBroadcast.decorator


class Operations(DependencyProvider):
    """``self.operations``: this instance's identity, and the operator actions on its
    platform (the ``Platform`` provider of the same container)."""

    def setup(self):
        self.settings = self.container.config["HQ_SETTINGS"]
        self.service = self.container.service_name
        self.instance = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"

    def get_dependency(self, worker_ctx):
        return self

    def _platform(self) -> Platform:
        return next(d for d in self.container.dependencies if isinstance(d, Platform))

    def _provisional_open(self) -> int:
        context = MessageContext(self.service, correlation_id=f"ops-{uuid.uuid4()}",
                                 acting_user="system")
        with self._platform().make_uow(context) as uow:
            return len(uow.deadlines.open_provisional())

    def reload_calendar(self) -> dict:
        """Re-read the holiday file now and recompute provisional deadlines (one deadline
        scan, safe beside the scanner of this and every other instance)."""
        platform = self._platform()
        report = {"service": self.service, "instance": self.instance}
        try:
            platform.calendar.reload()
        except ValueError as exc:
            log.error("calendar reload refused: %s", exc)
            return {**report, "status": "failed", "error": str(exc)}
        before = self._provisional_open()
        platform.scan_deadlines()
        after = self._provisional_open()
        log.info("calendar reloaded: %d provisional deadlines recomputed, %d still provisional",
                 before - after, after)
        return {**report, "status": "reloaded", "known_years": list(
            platform.calendar.known_years()), "recomputed": before - after,
            "provisional_open": after}

    def calendar_info(self, year: int | None) -> dict:
        calendar = self._platform().calendar
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
            view = {"year": year, "known": known, "source": calendar.source(year),
                    "holidays": holidays, "workdays": workdays}
        holiday_file = self.settings.holiday_file
        return {"service": self.service, "instance": self.instance,
                "holiday_file": str(holiday_file) if holiday_file else None,
                "known_years": list(calendar.known_years()),
                "provisional_open": self._provisional_open(), "year": view}

    def reply(self, reply_to: str | None, body: dict) -> None:
        """Send a confirmation to the operator's reply queue (dropped if it is gone)."""
        if not reply_to:
            return
        with Connection(self.settings.amqp_uri) as conn:
            Producer(conn.default_channel, serializer="json").publish(
                body, exchange="", routing_key=reply_to, delivery_mode=1)


class BaseService:
    """Health, documents, instrumentation and the operator facilities for every service
    (subclasses set ``name`` and ``platform``)."""
    instrumentation = Instrumentation()
    operations = Operations()

    @rpc(expected_exceptions=EXPECTED)
    def get_document(self, document_id):
        """One document this service issued (ORG-7), with its HTML."""
        document_id = load_rpc_request(f"{self.name}.get_document",
                                       {"document_id": document_id})["document_id"]
        with self.platform.uow() as uow:
            document = uow.documents.get(document_id)
        if document is None:
            raise NotFound(f"no document {document_id}", field="document_id",
                           code="document_not_found")
        return dump_rpc_response(f"{self.name}.get_document",
                                 {**document.ref(), "case_id": document.case_id,
                                  "html": document.html})

    @rpc(expected_exceptions=EXPECTED)
    def list_documents(self, case_id):
        case_id = load_rpc_request(f"{self.name}.list_documents", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            documents = uow.documents.for_case(case_id)
        return dump_rpc_response(f"{self.name}.list_documents",
                                 {"documents": [d.ref() for d in documents]})

    @rpc
    def ping(self):
        return dump_rpc_response(f"{self.name}.ping", {
            "service": self.name, "status": "up", "now": self.platform.clock.now(),
            "contract_versions": {f"{t}": v for (t, v) in EVENTS},
        })

    @rpc(expected_exceptions=EXPECTED)
    def calendar_info(self, year=None):
        """What this instance's working-day calendar knows (``holidays show``)."""
        request = load_rpc_request(f"{self.name}.calendar_info", {"year": year})
        return dump_rpc_response(f"{self.name}.calendar_info",
                                 self.operations.calendar_info(request["year"]))

    @operator_broadcast(CALENDAR_RELOAD)
    def on_calendar_reload(self, request):
        """Every instance: re-read the holiday file, recompute provisional deadlines now, and
        confirm to the operator (``holidays load`` / ``holidays reload``)."""
        request = request if isinstance(request, dict) else {}
        log.info("calendar reload requested by %s (%s)", request.get("requested_by"),
                 request.get("request_id"))
        report = self.operations.reload_calendar()
        self.operations.reply(request.get("reply_to"),
                              {**report, "request_id": request.get("request_id")})


class CaseRecordService(BaseService):
    """A downstream service answering ``get_case`` from its own case records."""
    case_records_table = None  # set by the subclass: the service's ``case_records`` table

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id):
        case_id = load_rpc_request(f"{self.name}.get_case", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            record = CaseRecordRepository(uow.conn, self.case_records_table).get(case_id)
            if record is None:
                raise NotFound(f"{self.name} has no record of case {case_id}", field="case_id")
            deadlines = uow.deadlines.for_case(case_id)
        return dump_rpc_response(f"{self.name}.get_case", {
            "service": self.name, "case_id": record.case_id, "status": record.status,
            "since": record.since, "details": record.details,
            "deadlines": [deadline_view(d) for d in deadlines],
        })


    def record_case(self, event, handler: str, record, deadlines=()) -> bool:
        """Store a new case record and its deadlines once per event (idempotent)."""
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, handler):
                return False
            CaseRecordRepository(uow.conn, self.case_records_table).add(record)
            for deadline in deadlines:
                uow.deadlines.add(deadline)
        return True


def deadline_view(deadline) -> dict:
    return {
        "id": deadline.id, "rule_id": deadline.rule_id, "unit": deadline.unit.value,
        "amount": deadline.amount, "started_at": deadline.started_at, "due_at": deadline.due_at,
        "due_date": deadline.due_date, "status": deadline.status.value,
        "provisional": deadline.provisional,
    }


# -- effective-dated policy tables (decision and verification keep a copy each) -------------

_POLICY_FIELDS = ("key", "unit", "value", "valid_from", "valid_to", "source", "verified")


class PolicyTableService:
    """``add_policy_rate`` and ``list_policy_rates`` for a service keeping a copy of the
    policy tables; the subclass sets ``policy_rates_table`` and registers the contracts
    ``<service>.add_policy_rate`` and ``<service>.list_policy_rates``."""
    policy_rates_table = None

    @rpc(expected_exceptions=EXPECTED)
    def add_policy_rate(self, actor, key, unit, value, valid_from, source, valid_to=None,
                        verified=True):
        """A district officer adds a row: an open-ended row of the same key that started
        before it is closed the day before it starts; any other overlap is refused (409)."""
        name = f"{self.name}.add_policy_rate"
        request = load_rpc_request(name, {
            "key": key, "unit": unit, "value": value, "valid_from": valid_from,
            "valid_to": valid_to, "source": source, "verified": verified})
        actor = load_actor(actor)
        authorize(actor, (DISTRICT_OFFICER,), None, "add_policy_rate")
        with self.platform.uow() as uow:
            result = add_policy_row(uow.conn, self.policy_rates_table, request, self.name)
        log.info("policy row %s from %s added by %s (%s); closed: %s", request["key"],
                 request["valid_from"], actor.user_id, "new" if result["created"] else "as held",
                 result["closed"] and result["closed"]["valid_to"])
        return dump_rpc_response(name, {"service": self.name, **result})

    @rpc(expected_exceptions=EXPECTED)
    def list_policy_rates(self, actor, key=None):
        """Every row (of one key), with whether it is in force on the suite's today."""
        name = f"{self.name}.list_policy_rates"
        request = load_rpc_request(name, {"key": key})
        authorize(load_actor(actor), ROLES, None, "list_policy_rates")
        table = self.policy_rates_table
        query = select(table).order_by(table.c.key, table.c.valid_from)
        if request["key"] is not None:
            query = query.where(table.c.key == request["key"])
        today = local_date(self.platform.clock.now())
        with self.platform.uow() as uow:
            rows = [_policy_view(r._mapping) for r in uow.conn.execute(query)]
        for row in rows:
            row["in_force"] = row["valid_from"] <= today and (
                row["valid_to"] is None or today <= row["valid_to"])
        return dump_rpc_response(name, {"service": self.name, "on": today, "rows": rows})


def _policy_view(row) -> dict:
    return {"id": row["id"], **{k: row[k] for k in _POLICY_FIELDS}}


def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return a_from <= (b_to or date.max) and b_from <= (a_to or date.max)


def add_policy_row(conn, table, row: dict, service: str) -> dict:
    """Add ``row`` (validated by its contract) to ``table``; returns ``{"row", "closed",
    "created", "warnings"}``. Refused: a key the service does not hold (404), another unit
    than the key's (400), an overlap with a row other than the open-ended one it closes (409).
    The same row sent again is answered as held (``created`` False), so a retry is safe."""
    held = conn.execute(select(table).where(table.c.key == row["key"])
                        .order_by(table.c.valid_from).with_for_update()).all()
    if not held:
        raise NotFound(f"{service} holds no policy key {row['key']}", field="key",
                       code="unknown_policy_key")
    units = sorted({r.unit for r in held})
    if row["unit"] not in units:
        raise ValidationFailed(f"unit: {row['key']} is kept in {', '.join(units)}, "
                               f"not {row['unit']}", field="unit", code="unit_mismatch")
    same = next((r for r in held if r.valid_from == row["valid_from"]), None)
    if same is not None and all(same._mapping[k] == row[k] for k in _POLICY_FIELDS):
        return {"row": _policy_view(same._mapping), "closed": None, "created": False,
                "warnings": []}
    start, end = row["valid_from"], row["valid_to"]
    to_close = [r for r in held if r.valid_to is None and r.valid_from < start]
    to_close = to_close[-1] if to_close else None
    clashes = [r for r in held if r is not to_close
               and _overlaps(r.valid_from, r.valid_to, start, end)]
    if clashes:
        clash = clashes[0]
        raise Conflict(
            f"{row['key']} from {start} to {end or 'open end'} overlaps the row valid from "
            f"{clash.valid_from} to {clash.valid_to or 'open end'}", field="valid_from",
            code="policy_overlap", details={"overlapping": [
                {"id": r.id, "valid_from": r.valid_from.isoformat(),
                 "valid_to": r.valid_to.isoformat() if r.valid_to else None} for r in clashes]})
    closed = None
    if to_close is not None:
        conn.execute(table.update().where(table.c.id == to_close.id)
                     .values(valid_to=start - timedelta(days=1)))
        closed = {**_policy_view(to_close._mapping), "valid_to": start - timedelta(days=1)}
    new_id = conn.execute(table.insert().values(**{k: row[k] for k in _POLICY_FIELDS})
                          ).inserted_primary_key[0]
    day_before = start - timedelta(days=1)
    periods = [(r.valid_from, day_before if r is to_close else r.valid_to) for r in held]
    warnings = []
    if any(f < start for f, _ in periods) and not any(
            _overlaps(f, t, day_before, day_before) for f, t in periods):
        warnings.append(f"no {row['key']} row is in force on {day_before}, the day before")
    if end is not None and not any(_overlaps(f, t, end + timedelta(days=1),
                                             end + timedelta(days=1)) for f, t in periods):
        warnings.append(f"no {row['key']} row is in force after {end}")
    return {"row": {"id": new_id, **{k: row[k] for k in _POLICY_FIELDS}}, "closed": closed,
            "created": True, "warnings": warnings}
