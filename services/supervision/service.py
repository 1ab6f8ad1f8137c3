"""The supervision service: the district's oversight of every street (SU, DE-3)."""
from __future__ import annotations

from nameko.rpc import rpc

from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.errors import EXPECTED
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform
from hqcore.service_kit import CaseRecordService
from services.supervision import adapters, domain


class SupervisionService(CaseRecordService):
    name = "supervision"
    platform = Platform(adapters.TABLES)
    case_records_table = adapters.TABLES["case_records"]

    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.record_case(event, "on_application_accepted", domain.register_case(event.payload))

    @subscribe("deadline.breached")
    def on_deadline_breached(self, event):
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_deadline_breached"):
                return
            adapters.add_breach(uow.conn, domain.breach_entry(event.payload, uow.now))

    @rpc(expected_exceptions=EXPECTED)
    def list_breaches(self, street_code=None, limit=100):
        query = load_rpc_request("supervision.list_breaches",
                                 {"street_code": street_code, "limit": limit})
        with self.platform.uow() as uow:
            rows = adapters.list_breaches(uow.conn, query["street_code"], query["limit"])
        return dump_rpc_response("supervision.list_breaches", {"breaches": rows})


SERVICE = SupervisionService
