"""The decision service: management review and the street leader's decision (DE, ORG-1)."""
from __future__ import annotations

from hqcore.case_records import CaseRecordRepository
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform
from hqcore.service_kit import CaseRecordService
from services.decision import adapters, domain


class DecisionService(CaseRecordService):
    name = "decision"
    platform = Platform(adapters.TABLES)
    case_records_table = adapters.TABLES["case_records"]

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_application_accepted"):
                return
            street_from = adapters.delegated_from(uow.conn, event.payload["street_code"])
            record, deadlines = domain.open_decision(event.payload, street_from,
                                                     self.platform.calendar)  # ORG-1, DE-4
            CaseRecordRepository(uow.conn, self.case_records_table).add(record)
            for deadline in deadlines:
                uow.deadlines.add(deadline)


SERVICE = DecisionService
