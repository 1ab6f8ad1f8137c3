"""The supervision service: the district's oversight of every street (SU, ORG-3).

It only listens and answers: the register of cases with their current step, the one timeline
(a hash chain per case, SEC-16), the deadlines of every street, worklists, the breaches, the
register of new recipients and the read log (SEC-15).
Entrypoints only: the events, reads and the periodic job are in ``handlers``, the rules in
``domain``.
"""

from __future__ import annotations

from nameko.rpc import rpc

from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.providers import UnitOfWorkProvider, scan
from hqcore.service_kit import CaseService
from services.supervision import adapters, handlers


class SupervisionService(CaseService):
    name = "supervision"
    work = UnitOfWorkProvider(
        adapters.TABLES, repositories=adapters.REPOSITORIES, view=handlers.view
    )

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.work.event(handlers.on_application_accepted, event)

    @subscribe("case.progressed")
    def on_case_progressed(self, event):
        self.work.event(handlers.on_case_progressed, event)

    @subscribe("deadline.opened")
    def on_deadline_opened(self, event):
        self.work.event(handlers.on_deadline_opened, event)

    @subscribe("deadline.met")
    def on_deadline_met(self, event):
        self.work.event(handlers.on_deadline_met, event)

    @subscribe("deadline.breached")
    def on_deadline_breached(self, event):
        self.work.event(handlers.on_deadline_breached, event)

    @subscribe("decision.made")
    def on_decision_made(self, event):
        self.work.event(handlers.on_decision_made, event)

    @subscribe("payment.scheduled")
    def on_payment_scheduled(self, event):
        self.work.event(handlers.on_payment_scheduled, event)

    @subscribe("access.read")
    def on_access_read(self, event):
        self.work.event(handlers.on_access_read, event)

    @scan
    def report_register_figures(self):
        self.work.periodic(handlers.report_register_figures)

    @rpc(expected_exceptions=EXPECTED)
    def get_timeline(self, actor=None, **fields):
        return self.work.step(handlers.get_timeline, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def list_cases(self, actor=None, **fields):
        return self.work.step(handlers.list_cases, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def worklist(self, actor=None, **fields):
        return self.work.step(handlers.worklist, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def list_deadlines(self, actor=None, **fields):
        return self.work.step(handlers.list_deadlines, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def list_new_recipients(self, actor=None, **fields):
        return self.work.step(handlers.list_new_recipients, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def list_breaches(self, actor=None, **fields):
        return self.work.step(handlers.list_breaches, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def list_reads(self, actor=None, **fields):
        return self.work.step(handlers.list_reads, actor, fields)


SERVICE = SupervisionService
