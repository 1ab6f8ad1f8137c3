"""The one envelope every event travels in."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

ENVELOPE_VERSION = 1


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a newer envelope may add fields; older services ignore them

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True)
    case_id = fields.String(required=True, allow_none=True)
    street_code = fields.String(required=True, allow_none=True)
    correlation_id = fields.String(required=True)
    acting_user = fields.String(required=True, allow_none=True)
    source = fields.String(required=True)
    payload = fields.Dict(required=True)
