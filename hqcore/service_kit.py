"""Entrypoints every service shares, so each service class holds only its own."""
from __future__ import annotations

from nameko.rpc import rpc

from hqcore.case_records import CaseRecordRepository
from hqcore.contracts import EVENTS, dump_rpc_response, load_rpc_request
from marshmallow import ValidationError

from hqcore.authz import Actor
from hqcore.contracts.common import ActorSchema
from hqcore.errors import EXPECTED, NotFound, validation_error_from_marshmallow
from hqcore.nameko_ext import Instrumentation


def load_actor(data) -> Actor:
    """The acting user the gateway sent, validated against its contract."""
    try:
        return Actor.from_dict(ActorSchema().load(data or {}))
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages, prefix="actor") from None


class BaseService:
    """Health, documents and instrumentation for every service (subclasses set ``name`` and
    ``platform``)."""
    instrumentation = Instrumentation()

    @rpc(expected_exceptions=EXPECTED)
    def get_document(self, document_id):
        """One document this service issued (ORG-7), with its HTML."""
        document_id = load_rpc_request(f"{self.name}.get_document",
                                       {"document_id": document_id})["document_id"]
        with self.platform.uow() as uow:
            document = uow.documents.get(document_id)
        if document is None:
            raise NotFound(f"no document {document_id}", field="document_id",
                           code="document_not_found")
        return dump_rpc_response(f"{self.name}.get_document",
                                 {**document.ref(), "case_id": document.case_id,
                                  "html": document.html})

    @rpc(expected_exceptions=EXPECTED)
    def list_documents(self, case_id):
        case_id = load_rpc_request(f"{self.name}.list_documents", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            documents = uow.documents.for_case(case_id)
        return dump_rpc_response(f"{self.name}.list_documents",
                                 {"documents": [d.ref() for d in documents]})

    @rpc
    def ping(self):
        return dump_rpc_response(f"{self.name}.ping", {
            "service": self.name, "status": "up", "now": self.platform.clock.now(),
            "contract_versions": {f"{t}": v for (t, v) in EVENTS},
        })


class CaseRecordService(BaseService):
    """A downstream service answering ``get_case`` from its own case records."""
    case_records_table = None  # set by the subclass: the service's ``case_records`` table

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id):
        case_id = load_rpc_request(f"{self.name}.get_case", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            record = CaseRecordRepository(uow.conn, self.case_records_table).get(case_id)
            if record is None:
                raise NotFound(f"{self.name} has no record of case {case_id}", field="case_id")
            deadlines = uow.deadlines.for_case(case_id)
        return dump_rpc_response(f"{self.name}.get_case", {
            "service": self.name, "case_id": record.case_id, "status": record.status,
            "since": record.since, "details": record.details,
            "deadlines": [deadline_view(d) for d in deadlines],
        })


    def record_case(self, event, handler: str, record, deadlines=()) -> bool:
        """Store a new case record and its deadlines once per event (idempotent)."""
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, handler):
                return False
            CaseRecordRepository(uow.conn, self.case_records_table).add(record)
            for deadline in deadlines:
                uow.deadlines.add(deadline)
        return True


def deadline_view(deadline) -> dict:
    return {
        "id": deadline.id, "rule_id": deadline.rule_id, "unit": deadline.unit.value,
        "amount": deadline.amount, "started_at": deadline.started_at, "due_at": deadline.due_at,
        "due_date": deadline.due_date, "status": deadline.status.value,
        "provisional": deadline.provisional,
    }
