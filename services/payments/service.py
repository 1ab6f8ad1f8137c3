"""The payments service: schedules the monthly payment of an approved case (PA-1).
Entrypoints only: the events and the read are in ``handlers``, the rules in ``domain``."""

from __future__ import annotations

from nameko.rpc import rpc

from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.providers import UnitOfWorkProvider
from hqcore.service_kit import CaseService
from services.payments import adapters, handlers


class PaymentsService(CaseService):
    name = "payments"
    work = UnitOfWorkProvider(
        adapters.TABLES, repositories=adapters.REPOSITORIES, view=handlers.view
    )

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.work.event(handlers.on_application_accepted, event)

    @subscribe("decision.made")
    def on_decision_made(self, event):
        self.work.event(handlers.on_decision_made, event)

    @rpc(expected_exceptions=EXPECTED)
    def list_payments(self, actor=None, **fields):
        return self.work.step(handlers.list_payments, actor, fields)


SERVICE = PaymentsService
