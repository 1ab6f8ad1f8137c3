"""The payments service: schedules the monthly payment of an approved case (PA-1)."""
from __future__ import annotations

from nameko.rpc import rpc

from hqcore import timeline
from hqcore.authz import (
    CLERK, DEPARTMENT_HEAD, DISTRICT_OFFICER, REVIEWER, STREET_LEADER, authorize,
)
from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform
from hqcore.service_kit import CaseRecordService, load_actor
from services.payments import adapters, domain

PAYMENT_VIEWERS = (CLERK, REVIEWER, DEPARTMENT_HEAD, STREET_LEADER, DISTRICT_OFFICER)


class PaymentsService(CaseRecordService):
    name = "payments"
    platform = Platform(adapters.TABLES)
    case_records_table = adapters.cases_table

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_application_accepted"):
                return
            repository = adapters.cases(uow.conn)
            if repository.get(event.payload["case_id"]) is None:  # not already decided
                repository.add(domain.register_case(event.payload))

    @subscribe("decision.made")
    def on_decision_made(self, event):
        """PA-1: an approval in month M is paid from M+1, in full, to the payee's account."""
        decision = event.payload
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_decision_made"):
                return
            repository = adapters.cases(uow.conn)
            record = repository.get(decision["case_id"])
            known = record is not None
            record = record or domain.record_from_decision(decision)
            plan = domain.schedule(decision)
            domain.apply_decision(record, decision, plan, uow.now)
            if plan is not None:
                adapters.add_schedule(uow.conn, plan, uow.now)
                uow.outbox.add("payment.scheduled", domain.scheduled_event(plan),
                               case_id=plan.case_id, street_code=plan.street_code)
            action = "payment_scheduled" if plan else f"no_payment:{decision['outcome']}"
            note = f"from {plan.first_month}" if plan else None
            record.details["timeline"].append(
                domain.timeline_entry(uow.now, record.status, action, note))
            timeline.progressed(uow, record, step=record.status, action=action,
                                rule_id="PA-1", note=note)
            (repository.save if known else repository.add)(record)

    @rpc(expected_exceptions=EXPECTED)
    def list_payments(self, actor, month, street_code=None):
        """PA-1: the payments due in ``month``; street staff see their street, the district
        every street or the one it filters."""
        request = load_rpc_request("payments.list_payments", {"month": month,
                                                              "street_code": street_code})
        actor = load_actor(actor)
        street = request["street_code"] if actor.is_district else (
            request["street_code"] or actor.street_code)
        authorize(actor, PAYMENT_VIEWERS, street, "list_payments")
        with self.platform.uow() as uow:
            plans = adapters.schedules_due(uow.conn, request["month"], street)
        return dump_rpc_response("payments.list_payments", {
            "month": request["month"], "street_code": street,
            "payments": [plan.view() for plan in plans], "total_fen": domain.month_total(plans)})


SERVICE = PaymentsService
