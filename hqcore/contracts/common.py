"""Schema pieces used by several contracts."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from hqcore.contracts.fields import ResidentId

PROGRAMS = ("dibao", "low_income", "tekun")
RELATIONSHIPS = ("self", "spouse", "child", "parent", "sibling", "grandparent", "grandchild",
                 "other")


class PersonSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    id_number = ResidentId(required=True)
    relationship = fields.String(required=True, validate=validate.OneOf(RELATIONSHIPS))


class DeadlineViewSchema(Schema):
    id = fields.String(required=True)
    rule_id = fields.String(required=True)
    unit = fields.String(required=True)
    amount = fields.Integer(required=True)
    started_at = fields.AwareDateTime(required=True)
    due_at = fields.AwareDateTime(required=True)
    due_date = fields.Date(allow_none=True)
    status = fields.String(required=True)
    provisional = fields.Boolean(required=True)
