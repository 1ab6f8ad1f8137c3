"""Schema pieces used by several contracts."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hqcore.authz import ROLES
from hqcore.contracts.fields import PersonName, ResidentId, Text

PROGRAMS = ("dibao", "low_income", "tekun")
RELATIONSHIPS = (
    "self",
    "spouse",
    "child",
    "parent",
    "sibling",
    "grandparent",
    "grandchild",
    "child_in_law",
    "other",
)
PROGRAMS_LABEL_ZH = {
    "dibao": "最低生活保障",
    "low_income": "低收入家庭救助",
    "tekun": "特困人员供养",
}


class PersonSchema(Schema):
    name = PersonName(required=True, validate=validate.Length(min=1, max=50))
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


class ActorSchema(Schema):
    """The acting user, authenticated by the gateway; services authorise with it."""

    user_id = Text(required=True, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    street_code = fields.String(required=True, allow_none=True)
    name = Text(load_default="")


class ObligorSchema(Schema):
    """A support obligor (赡养人、抚养人、扶养人) and the obligor's own family members (IN-3)."""

    name = PersonName(required=True, validate=validate.Length(min=1, max=50))
    id_number = ResidentId(required=True)
    relationship = fields.String(required=True, validate=validate.OneOf(RELATIONSHIPS))
    family_members = fields.List(fields.Nested(PersonSchema), load_default=list)
    authorisation_signed = fields.Boolean(required=True)


class ProxySchema(Schema):
    """Who filed for the applicant (IN-1, IN-2, ORG-6)."""

    kind = fields.String(required=True, validate=validate.OneOf(("residents_committee", "person")))
    name = PersonName(required=True, validate=validate.Length(min=1, max=100))


class PaymentAccountSchema(Schema):
    bank = Text(required=True, validate=validate.Length(min=1, max=60))
    account_number = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{8,30}$"))
    holder = PersonName(required=True, validate=validate.Length(min=1, max=50))


class TimelineEntrySchema(Schema):
    at = fields.AwareDateTime(required=True)
    service = fields.String(required=True)
    step = fields.String(required=True)
    action = fields.String(required=True)
    actor_user = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    rule_id = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    document_ids = fields.List(fields.String(), load_default=list)


class DocumentRefSchema(Schema):
    document_id = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    issued_at = fields.AwareDateTime(required=True)
    served_at = fields.AwareDateTime(allow_none=True)
