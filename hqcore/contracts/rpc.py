"""RPC request and response contracts, by ``service.method``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hqcore.config import SERVICES
from hqcore.contracts.common import DeadlineViewSchema, DocumentRefSchema

# Intake's schemas live in hqcore.contracts.intake; imported here for the registrations below.
from hqcore.contracts.intake import IntakeCaseView, SubmitApplicationRequest
from hqcore.contracts.registry import rpc


class Empty(Schema):
    """A request with no fields (e.g. ``ping``)."""


class PingResponse(Schema):
    service = fields.String(required=True)
    status = fields.String(required=True)
    now = fields.AwareDateTime(required=True)
    contract_versions = fields.Dict(keys=fields.String(), values=fields.Integer())


class CaseRef(Schema):
    case_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ServiceCaseView(Schema):
    """What one downstream service holds about a case."""

    service = fields.String(required=True)
    case_id = fields.String(required=True)
    status = fields.String(required=True)
    since = fields.AwareDateTime(required=True)
    deadlines = fields.List(fields.Nested(DeadlineViewSchema), load_default=list)
    details = fields.Dict(keys=fields.String(), load_default=dict)


class DocumentRequest(Schema):
    document_id = fields.String(required=True, validate=validate.Length(min=3, max=80))


class DocumentView(DocumentRefSchema):
    case_id = fields.String(required=True)
    html = fields.String(required=True)


class DocumentList(Schema):
    documents = fields.List(fields.Nested(DocumentRefSchema), required=True)


for _service in SERVICES:
    rpc(f"{_service}.ping", Empty, PingResponse)
    rpc(f"{_service}.get_document", DocumentRequest, DocumentView)
    rpc(f"{_service}.list_documents", CaseRef, DocumentList)
    if _service != "intake":
        rpc(f"{_service}.get_case", CaseRef, ServiceCaseView)
rpc("intake.submit_application", SubmitApplicationRequest, IntakeCaseView)
rpc("intake.get_case", CaseRef, IntakeCaseView)


class ListBreachesRequest(Schema):
    street_code = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class BreachView(Schema):
    deadline_id = fields.String(required=True)
    service = fields.String(required=True)
    rule_id = fields.String(required=True)
    case_id = fields.String(required=True)
    street_code = fields.String(allow_none=True)
    due_at = fields.AwareDateTime(required=True)
    provisional = fields.Boolean(required=True)
    recorded_at = fields.AwareDateTime(required=True)


class BreachList(Schema):
    breaches = fields.List(fields.Nested(BreachView), required=True)


rpc("supervision.list_breaches", ListBreachesRequest, BreachList)
