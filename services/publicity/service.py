"""The publicity service: preliminary opinion, publicity, objections, major disputes and
democratic deliberation (PU-1 to PU-7). Entrypoints only: the steps are in ``handlers``, the
rules in ``domain``."""

from __future__ import annotations

from nameko.rpc import rpc

from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.providers import UnitOfWorkProvider, scan
from hqcore.service_kit import CaseService
from services.publicity import adapters, handlers, notices


class PublicityService(CaseService):
    name = "publicity"
    work = UnitOfWorkProvider(
        adapters.TABLES,
        repositories=adapters.REPOSITORIES,
        templates=notices.TEMPLATES,
        view=handlers.view,
    )

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.work.event(handlers.on_application_accepted, event)

    @subscribe("verification.completed")
    def on_verification_completed(self, event):
        self.work.event(handlers.on_verification_completed, event)

    @subscribe("decision.made")
    def on_decision_made(self, event):
        self.work.event(handlers.on_decision_made, event)

    @subscribe("verification.withdrawn")
    def on_verification_withdrawn(self, event):
        self.work.event(handlers.on_verification_withdrawn, event)

    @rpc(expected_exceptions=EXPECTED)
    def record_preliminary_opinion(self, actor=None, **fields):
        return self.work.step(handlers.record_preliminary_opinion, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_objection(self, actor=None, **fields):
        return self.work.step(handlers.record_objection, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_major_dispute(self, actor=None, **fields):
        return self.work.step(handlers.record_major_dispute, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_deliberation(self, actor=None, **fields):
        return self.work.step(handlers.record_deliberation, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def set_deliberation_body(self, actor=None, **fields):
        return self.work.step(handlers.set_deliberation_body, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def get_deliberation_body(self, actor=None, **fields):
        return self.work.step(handlers.get_deliberation_body, actor, fields)

    @scan
    def end_publicities(self):
        self.work.periodic(handlers.end_publicities)


SERVICE = PublicityService
