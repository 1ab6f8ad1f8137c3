"""The decision service: management review, the department head's consent and the leader's
decision, service of the decision documents, the monthly roster and the delegation dates.
Entrypoints only: the steps are in ``handlers``, the rules in ``domain`` and ``roster``."""

from __future__ import annotations

from nameko.rpc import rpc

from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.providers import UnitOfWorkProvider
from hqcore.service_kit import CaseService, PolicyTableService
from services.decision import adapters, handlers, notices


class DecisionService(PolicyTableService, CaseService):
    name = "decision"
    work = UnitOfWorkProvider(
        adapters.TABLES,
        repositories=adapters.REPOSITORIES,
        templates=notices.TEMPLATES,
        view=handlers.view,
    )
    policy_rates_table = adapters.policy_rates  # add_policy_rate, list_policy_rates

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.work.event(handlers.on_application_accepted, event)

    @subscribe("verification.completed")
    def on_verification_completed(self, event):
        self.work.event(handlers.on_verification_completed, event)

    @subscribe("publicity.concluded")
    def on_publicity_concluded(self, event):
        self.work.event(handlers.on_publicity_concluded, event)

    @subscribe("verification.non_confirmation_proposed")
    def on_non_confirmation_proposed(self, event):
        self.work.event(handlers.on_non_confirmation_proposed, event)

    @subscribe("verification.withdrawn")
    def on_verification_withdrawn(self, event):
        self.work.event(handlers.on_verification_withdrawn, event)

    @rpc(expected_exceptions=EXPECTED)
    def record_review(self, actor=None, **fields):
        return self.work.step(handlers.record_review, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_head_consent(self, actor=None, **fields):
        return self.work.step(handlers.record_head_consent, actor, fields)

    @rpc(expected_exceptions=EXPECTED, sensitive_arguments=("fields.care_arrangement",))
    def decide(self, actor=None, **fields):
        return self.work.step(handlers.decide, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def extend(self, actor=None, **fields):
        return self.work.step(handlers.extend, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_service(self, actor=None, **fields):
        return self.work.step(handlers.record_service, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def set_delegation(self, actor=None, **fields):
        return self.work.step(handlers.set_delegation, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def list_recipients(self, actor=None, **fields):
        return self.work.step(handlers.list_recipients, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def file_monthly_report(self, actor=None, **fields):
        return self.work.step(handlers.file_monthly_report, actor, fields)


SERVICE = DecisionService
