"""The verification service: household investigation and the economic check (VE)."""
from __future__ import annotations

from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform
from hqcore.service_kit import CaseRecordService
from services.verification import adapters, domain


class VerificationService(CaseRecordService):
    name = "verification"
    platform = Platform(adapters.TABLES)
    case_records_table = adapters.TABLES["case_records"]

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        record, deadline = domain.open_verification(event.payload, self.platform.calendar)
        self.record_case(event, "on_application_accepted", record, [deadline])  # VE-1


SERVICE = VerificationService
