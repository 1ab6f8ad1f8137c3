"""The publicity service: publicity, objections and democratic deliberation (PU)."""
from __future__ import annotations

from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform
from hqcore.service_kit import CaseRecordService
from services.publicity import adapters, domain


class PublicityService(CaseRecordService):
    name = "publicity"
    platform = Platform(adapters.TABLES)
    case_records_table = adapters.TABLES["case_records"]

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.record_case(event, "on_application_accepted", domain.register_case(event.payload))


SERVICE = PublicityService
