"""RPC contracts of the supervision service: the district's read side (SU, ORG-3).

These are queries, not steps: the gateway scopes them to the logged-in user's street. The
``supervision.list_breaches`` contract stays in ``hqcore.contracts.rpc``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hqcore.authz import DISTRICT_OFFICER, ROLES
from hqcore.contracts.common import PROGRAMS, PersonSchema, TimelineEntrySchema
from hqcore.contracts.fields import Month
from hqcore.contracts.registry import rpc

MAX_PER_PAGE = 100
MAX_READS = 1000
DEADLINE_FILTERS = ("open", "met", "breached", "overdue")


def _street_code() -> fields.String:
    return fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=40)
    )


class PageRequest(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class ListCasesRequest(PageRequest):
    street_code = _street_code()
    program = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PROGRAMS))
    step = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=40)
    )
    overdue = fields.Boolean(load_default=None, allow_none=True)


class WorklistRequest(PageRequest):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    street_code = _street_code()

    @validates_schema
    def street_staff_name_their_street(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("role") != DISTRICT_OFFICER and not data.get("street_code"):
            raise ValidationError(
                "street staff see the worklist of their street", field_name="street_code"
            )


class TimelineRequest(Schema):
    case_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ListDeadlinesRequest(PageRequest):
    street_code = _street_code()
    status = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(DEADLINE_FILTERS)
    )


class ListNewRecipientsRequest(Schema):
    street_code = _street_code()
    month = Month(load_default=None, allow_none=True)


class CaseSummary(Schema):
    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True)
    street_code = fields.String(required=True)
    community = fields.String(allow_none=True)
    near_relative = fields.Boolean(required=True)
    accepted_at = fields.AwareDateTime(required=True)
    step = fields.String(required=True, metadata={"description": "the case's current step"})
    service = fields.String(required=True, metadata={"description": "the service holding it"})
    step_at = fields.AwareDateTime(required=True)
    closed = fields.Boolean(required=True)
    overdue = fields.Boolean(
        required=True, metadata={"description": "a deadline is breached or open past due"}
    )


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseSummary), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class Timeline(Schema):
    case_id = fields.String(required=True)
    entries = fields.List(fields.Nested(TimelineEntrySchema), required=True)


class DeadlineEntry(Schema):
    deadline_id = fields.String(required=True)
    service = fields.String(required=True)
    rule_id = fields.String(required=True)
    case_id = fields.String(required=True)
    street_code = fields.String(allow_none=True)
    unit = fields.String(required=True)
    amount = fields.Integer(required=True)
    due_at = fields.AwareDateTime(required=True)
    provisional = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("open", "met", "breached")))
    met_at = fields.AwareDateTime(allow_none=True)
    breached_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Boolean(required=True)


class DeadlinePage(Schema):
    items = fields.List(fields.Nested(DeadlineEntry), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class NewRecipient(Schema):
    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True)
    street_code = fields.String(required=True)
    community = fields.String(required=True)
    near_relative = fields.Boolean(required=True)
    household_check_required = fields.Boolean(
        required=True, metadata={"description": "SU-3: near-relative dibao family"}
    )
    decided_at = fields.AwareDateTime(required=True)
    month = fields.String(required=True)
    authority = fields.String(required=True)
    monthly_amount_fen = fields.Integer(allow_none=True)
    first_payment_month = fields.String(allow_none=True)
    payee_kind = fields.String(allow_none=True)
    recipients = fields.List(fields.Nested(PersonSchema), required=True)


class NewRecipientList(Schema):
    items = fields.List(fields.Nested(NewRecipient), required=True)


class ListReadsRequest(Schema):
    """SEC-15: the read log, newest first, filtered; ``since`` inclusive, ``until``
    exclusive."""

    case_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    user_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    since = fields.AwareDateTime(load_default=None, allow_none=True)
    until = fields.AwareDateTime(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_READS))

    @validates_schema
    def since_before_until(self, data: dict[str, Any], **kwargs: Any) -> None:
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since >= until:
            raise ValidationError("must be after since", field_name="until")


class ReadEntry(Schema):
    user_id = fields.String(required=True)
    role = fields.String(required=True)
    street_code = fields.String(allow_none=True)
    kind = fields.String(required=True, metadata={"description": "case, document or list"})
    case_id = fields.String(allow_none=True)
    document_id = fields.String(allow_none=True)
    target = fields.String(required=True, metadata={"description": "the HTTP path read"})
    remote_addr = fields.String(allow_none=True)
    read_at = fields.AwareDateTime(required=True)


class ReadList(Schema):
    items = fields.List(fields.Nested(ReadEntry), required=True)


rpc("supervision.list_cases", ListCasesRequest, CasePage)
rpc("supervision.worklist", WorklistRequest, CasePage)
rpc("supervision.get_timeline", TimelineRequest, Timeline)
rpc("supervision.list_deadlines", ListDeadlinesRequest, DeadlinePage)
rpc("supervision.list_new_recipients", ListNewRecipientsRequest, NewRecipientList)
rpc("supervision.list_reads", ListReadsRequest, ReadList)
