"""RPC request and response contracts, by ``service.method``."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hqcore.config import SERVICES
from hqcore.contracts.common import (
    PROGRAMS, DeadlineViewSchema, DocumentRefSchema, PersonSchema,
)
from hqcore.contracts.registry import rpc


class Empty(Schema):
    pass


class PingResponse(Schema):
    service = fields.String(required=True)
    status = fields.String(required=True)
    now = fields.AwareDateTime(required=True)
    contract_versions = fields.Dict(keys=fields.String(), values=fields.Integer())


class CaseRef(Schema):
    case_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class SubmitApplicationRequest(Schema):
    """A street's handling agency takes a family's complete application (IN-1, IN-6)."""
    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    street_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    community = fields.String(required=True, validate=validate.Length(min=1, max=100))
    applicant = fields.Nested(PersonSchema, required=True)
    members = fields.List(fields.Nested(PersonSchema), required=True,
                          validate=validate.Length(min=1, max=20))
    near_relative = fields.Boolean(load_default=False)

    @validates_schema
    def applicant_is_a_member(self, data, **kwargs):
        applicant, members = data.get("applicant"), data.get("members") or []
        if applicant and applicant["id_number"] not in {m["id_number"] for m in members}:
            raise ValidationError("the applicant must be listed among the household members",
                                  field_name="members")
        seen = set()
        for member in members:
            if member["id_number"] in seen:
                raise ValidationError("the same ID number is listed twice",
                                      field_name="members")
            seen.add(member["id_number"])


class IntakeCaseView(Schema):
    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True)
    street_code = fields.String(required=True)
    community = fields.String(required=True)
    status = fields.String(required=True)
    accepted_at = fields.AwareDateTime(required=True)
    applicant = fields.Nested(PersonSchema, required=True)
    members = fields.List(fields.Nested(PersonSchema), required=True)
    near_relative = fields.Boolean(required=True)


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
