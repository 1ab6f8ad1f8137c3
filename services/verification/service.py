"""The verification service: household investigation and the economic check (VE-1 to VE-5).
Entrypoints only: the steps are in ``handlers``, the rules in ``domain``."""

from __future__ import annotations

from nameko.rpc import rpc

from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.providers import UnitOfWorkProvider, scan
from hqcore.service_kit import CaseService, PolicyTableService
from services.verification import adapters, handlers, notices


class VerificationService(PolicyTableService, CaseService):
    name = "verification"
    work = UnitOfWorkProvider(
        adapters.TABLES,
        repositories=adapters.REPOSITORIES,
        ports=adapters.PORTS,
        templates=notices.TEMPLATES,
        view=handlers.view,
    )
    policy_rates_table = adapters.policy_rates  # add_policy_rate, list_policy_rates

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.work.event(handlers.on_application_accepted, event)

    @subscribe("publicity.reinvestigation_requested")
    def on_reinvestigation_requested(self, event):
        self.work.event(handlers.on_reinvestigation_requested, event)

    @rpc(expected_exceptions=EXPECTED)
    def record_investigation(self, actor=None, **fields):
        return self.work.step(handlers.record_investigation, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def pre_review(self, actor=None, **fields):
        return self.work.step(handlers.pre_review, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def district_review(self, actor=None, **fields):
        return self.work.step(handlers.district_review, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_explanation(self, actor=None, **fields):
        return self.work.step(handlers.record_explanation, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_untruthful_declaration(self, actor=None, **fields):
        return self.work.step(handlers.record_untruthful_declaration, actor, fields)

    @rpc(expected_exceptions=EXPECTED)
    def record_correction(self, actor=None, **fields):
        return self.work.step(handlers.record_correction, actor, fields)

    @scan
    def collect_city_reports(self):
        self.work.periodic(handlers.collect_city_reports)

    @scan
    def end_explanation_windows(self):
        self.work.periodic(handlers.end_explanation_windows)

    @scan
    def end_correction_windows(self):
        self.work.periodic(handlers.end_correction_windows)


SERVICE = VerificationService
