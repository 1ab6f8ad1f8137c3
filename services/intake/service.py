"""The intake service: a street's handling agency takes applications (IN-1, IN-6)."""
from __future__ import annotations

import uuid

from nameko.rpc import rpc

from hqcore.clock import local_date
from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.errors import EXPECTED, NotFound, ValidationFailed
from hqcore.nameko_ext import Platform
from hqcore.service_kit import BaseService
from services.intake import adapters, domain


class IntakeService(BaseService):
    name = "intake"
    platform = Platform(adapters.TABLES)

    @rpc(expected_exceptions=EXPECTED, sensitive_arguments=("application",))
    def submit_application(self, application):
        request = load_rpc_request("intake.submit_application", application)
        with self.platform.uow() as uow:
            cases = adapters.ApplicationRepository(uow.conn)
            street = cases.street(request["street_code"])
            if street is None:
                raise ValidationFailed(f"unknown street {request['street_code']!r}",
                                       field="street_code", code="unknown_street")
            id_numbers = [m["id_number"] for m in request["members"]]
            domain.refuse_duplicate(request["program"],
                                    cases.open_case_no_for(request["program"], id_numbers))
            sequence = cases.next_sequence(street.code, local_date(uow.now).year)
            app = domain.accept(request, street, case_id=str(uuid.uuid4()), sequence=sequence,
                                now=uow.now)
            cases.add(app)
            uow.outbox.add("application.accepted", domain.accepted_event(app),
                           case_id=app.case_id, street_code=app.street_code)
        return dump_rpc_response("intake.submit_application", domain.case_view(app))

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id):
        case_id = load_rpc_request("intake.get_case", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            app = adapters.ApplicationRepository(uow.conn).get(case_id)
        if app is None:
            raise NotFound(f"no case {case_id}", field="case_id", code="case_not_found")
        return dump_rpc_response("intake.get_case", domain.case_view(app))


SERVICE = IntakeService
