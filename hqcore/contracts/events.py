"""Event payload contracts, by type and version."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hqcore.contracts.common import PROGRAMS, PersonSchema
from hqcore.contracts.registry import event


@event("application.submitted", 1)
class ApplicationSubmittedV1(Schema):
    """A complete application was accepted by a street's handling agency (IN-1, IN-6)."""
    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    street_code = fields.String(required=True)
    community = fields.String(required=True)
    applicant = fields.Nested(PersonSchema, required=True)
    members = fields.List(fields.Nested(PersonSchema), required=True,
                          validate=validate.Length(min=1))
    near_relative = fields.Boolean(required=True)
    accepted_at = fields.AwareDateTime(required=True)


@event("deadline.breached", 1)
class DeadlineBreachedV1(Schema):
    """A statutory deadline passed while still open."""
    deadline_id = fields.String(required=True)
    service = fields.String(required=True)
    rule_id = fields.String(required=True)
    case_id = fields.String(required=True)
    street_code = fields.String(required=True, allow_none=True)
    unit = fields.String(required=True)
    amount = fields.Integer(required=True)
    due_at = fields.AwareDateTime(required=True)
    provisional = fields.Boolean(required=True)
