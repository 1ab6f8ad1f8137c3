"""The intake service: a street's handling agency takes applications, asks once for whatever is
missing and accepts the complete ones (IN-1, IN-2, IN-3, IN-6, IN-7, ORG-6). Entrypoints only:
the steps are in ``handlers``, the rules in ``domain``."""

from __future__ import annotations

from nameko.rpc import rpc

from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.providers import UnitOfWorkProvider
from hqcore.service_kit import CaseService
from services.intake import adapters, handlers, notices


class IntakeService(CaseService):
    name = "intake"
    work = UnitOfWorkProvider(
        adapters.TABLES,
        repositories=adapters.REPOSITORIES,
        templates=notices.TEMPLATES,
        view=handlers.view,
    )

    @rpc(expected_exceptions=EXPECTED, sensitive_arguments=("application",))
    def submit_application(self, application=None, actor=None):
        return self.work.step(handlers.submit_application, actor, application or {})

    @rpc(expected_exceptions=EXPECTED)
    def supply_materials(self, actor=None, **fields):
        return self.work.step(handlers.supply_materials, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def list_awaiting_materials(self, actor=None, **fields):
        return self.work.step(handlers.list_awaiting_materials, actor, fields)

    @subscribe("decision.made", "verification.withdrawn")
    def on_case_ended(self, event):
        self.work.event(handlers.on_case_ended, event)


SERVICE = IntakeService
