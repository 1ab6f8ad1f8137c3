"""The supervision service: the district's oversight of every street (SU, ORG-3, DE-3).

It only listens and answers: the register of cases with their current step and timeline, the
deadlines of every street, worklists by role, and the register of new recipients.
"""
from __future__ import annotations

from nameko.rpc import rpc

from hqcore import metrics
from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.contracts.common import TimelineEntrySchema
from hqcore.contracts.supervision import DeadlineEntry
from hqcore.errors import EXPECTED, NotFound
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform, scan
from hqcore.service_kit import BaseService
from services.supervision import adapters, domain


class NotYetRegistered(Exception):
    """An event needs a record an earlier event creates; the subscriber retries it later."""


class SupervisionService(BaseService):
    name = "supervision"
    platform = Platform(adapters.TABLES)

    # -- events ---------------------------------------------------------------------------
    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        with self.platform.uow() as uow:
            if uow.inbox.claim(event, "on_application_accepted"):
                adapters.Register(uow.conn).add(domain.register_entry(event.payload))

    @subscribe("case.progressed")
    def on_case_progressed(self, event):
        with self.platform.uow() as uow:
            if uow.inbox.claim(event, "on_case_progressed"):
                adapters.Register(uow.conn).record_progress(
                    domain.timeline_entry(event.payload, event.event_id))

    @subscribe("deadline.opened")
    def on_deadline_opened(self, event):
        self._record_deadline(event, "on_deadline_opened", domain.DEADLINE_OPEN)

    @subscribe("deadline.met")
    def on_deadline_met(self, event):
        self._record_deadline(event, "on_deadline_met", domain.DEADLINE_MET)

    @subscribe("deadline.breached")
    def on_deadline_breached(self, event):
        self._record_deadline(event, "on_deadline_breached", domain.DEADLINE_BREACHED)

    def _record_deadline(self, event, handler: str, status: str) -> None:
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, handler):
                return
            adapters.DeadlineRegister(uow.conn).record(event.payload, status, uow.now)
            if status == domain.DEADLINE_BREACHED:
                adapters.add_breach(uow.conn, domain.breach_entry(event.payload, uow.now))

    @subscribe("decision.made")
    def on_decision_made(self, event):
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_decision_made"):
                return
            registered = adapters.Register(uow.conn).get(event.payload["case_id"])
            if registered is None:
                raise NotYetRegistered(f"case {event.payload['case_id']} is not registered yet")
            entry = domain.new_recipient(event.payload, registered)  # SU-1, SU-3
            if entry is not None:
                adapters.Recipients(uow.conn).add(entry)

    @subscribe("payment.scheduled")
    def on_payment_scheduled(self, event):
        payload = event.payload
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_payment_scheduled"):
                return
            if not adapters.Recipients(uow.conn).schedule_payment(  # PA-1
                    payload["case_id"], payload["first_month"], payload["monthly_amount_fen"],
                    payload["payee_kind"]):
                raise NotYetRegistered(f"the approval of {payload['case_id']} is not "
                                       "registered yet")

    # -- figures ----------------------------------------------------------------------------
    @scan
    def report_register_figures(self):
        """The register's figures as Prometheus gauges, every scan interval (the dashboard)."""
        with self.platform.uow() as uow:
            figures = adapters.register_figures(uow.conn, uow.now)
        metrics.record_register_figures(self.name, figures)

    # -- queries --------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id):
        """The district's view of one case: register entry, deadlines of every service,
        timeline."""
        case_id = load_rpc_request("supervision.get_case", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            register = adapters.Register(uow.conn)
            case = register.get(case_id)
            if case is None:
                raise NotFound(f"supervision has no record of case {case_id}", field="case_id")
            deadlines = adapters.DeadlineRegister(uow.conn).for_case(case_id, uow.now)
            entries = register.timeline(case_id)
        details = {
            "case_no": case["case_no"], "program": case["program"],
            "street_code": case["street_code"], "community": case["community"],
            "near_relative": case["near_relative"], "household_size": case["household_size"],
            "accepted_at": case["accepted_at"].isoformat(), "current_step": case["step"],
            "current_service": case["service"], "closed": case["closed"],
            "overdue": any(d["overdue"] for d in deadlines),
            "household_check_required": domain.household_check_required(
                case["program"], case["near_relative"]),
            "deadline_register": DeadlineEntry(many=True).dump(deadlines),
            "timeline": TimelineEntrySchema(many=True).dump(entries),
        }
        return dump_rpc_response("supervision.get_case", {
            "service": self.name, "case_id": case_id,
            "status": "closed" if case["closed"] else "in_procedure",
            "since": case["step_at"], "deadlines": [], "details": details})

    @rpc(expected_exceptions=EXPECTED)
    def get_timeline(self, case_id):
        query = load_rpc_request("supervision.get_timeline", {"case_id": case_id})
        with self.platform.uow() as uow:
            entries = adapters.Register(uow.conn).timeline(query["case_id"])
        return dump_rpc_response("supervision.get_timeline",
                                 {"case_id": query["case_id"], "entries": entries})

    @rpc(expected_exceptions=EXPECTED)
    def list_cases(self, street_code=None, program=None, step=None, overdue=None, page=1,
                   per_page=20):
        """The register, newest acceptance first."""
        query = load_rpc_request("supervision.list_cases", {
            "street_code": street_code, "program": program, "step": step, "overdue": overdue,
            "page": page, "per_page": per_page})
        step = query.pop("step")
        steps = (step,) if step else None
        with self.platform.uow() as uow:
            result = adapters.Register(uow.conn).page(uow.now, steps=steps, **query)
        return dump_rpc_response("supervision.list_cases", result)

    @rpc(expected_exceptions=EXPECTED)
    def worklist(self, role, street_code=None, page=1, per_page=20):
        """The open cases waiting for ``role``'s step, longest waiting first."""
        query = load_rpc_request("supervision.worklist", {
            "role": role, "street_code": street_code, "page": page, "per_page": per_page})
        steps = domain.steps_for_role(query.pop("role"))
        with self.platform.uow() as uow:
            result = adapters.Register(uow.conn).page(uow.now, steps=steps, open_only=True,
                                                      oldest_step_first=True, **query)
        return dump_rpc_response("supervision.worklist", result)

    @rpc(expected_exceptions=EXPECTED)
    def list_deadlines(self, street_code=None, status=None, page=1, per_page=20):
        """Every street's deadlines, earliest due first; ``overdue`` = breached or open past
        due."""
        query = load_rpc_request("supervision.list_deadlines", {
            "street_code": street_code, "status": status, "page": page, "per_page": per_page})
        with self.platform.uow() as uow:
            result = adapters.DeadlineRegister(uow.conn).page(uow.now, **query)
        return dump_rpc_response("supervision.list_deadlines", result)

    @rpc(expected_exceptions=EXPECTED)
    def list_new_recipients(self, street_code=None, month=None):
        """Newly confirmed recipients for the district's checks (SU-1 to SU-3)."""
        query = load_rpc_request("supervision.list_new_recipients",
                                 {"street_code": street_code, "month": month})
        with self.platform.uow() as uow:
            items = adapters.Recipients(uow.conn).list(query["street_code"], query["month"])
        return dump_rpc_response("supervision.list_new_recipients", {"items": items})

    @rpc(expected_exceptions=EXPECTED)
    def list_breaches(self, street_code=None, limit=100):
        query = load_rpc_request("supervision.list_breaches",
                                 {"street_code": street_code, "limit": limit})
        with self.platform.uow() as uow:
            rows = adapters.list_breaches(uow.conn, query["street_code"], query["limit"])
        return dump_rpc_response("supervision.list_breaches", {"breaches": rows})


SERVICE = SupervisionService
