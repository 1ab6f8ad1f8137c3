"""RPC contracts of the payments service's steps (requests carry the acting user as ``actor``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hqcore.contracts.common import PROGRAMS, PaymentAccountSchema
from hqcore.contracts.fields import Fen, Month
from hqcore.contracts.registry import rpc


class MonthRequest(Schema):
    """The payments due in one month (PA-1); the district may filter by street."""

    month = Month(required=True)
    street_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=40)
    )


class ScheduledPaymentView(Schema):
    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    street_code = fields.String(required=True)
    community = fields.String(required=True)
    first_month = fields.String(required=True)
    monthly_amount_fen = Fen(required=True)
    payee_kind = fields.String(required=True)
    payee_name = fields.String(required=True)
    payee_account = fields.Nested(PaymentAccountSchema, allow_none=True)


class MonthPayments(Schema):
    month = fields.String(required=True)
    street_code = fields.String(allow_none=True)
    payments = fields.List(fields.Nested(ScheduledPaymentView), required=True)
    total_fen = Fen(required=True)


rpc("payments.list_payments", MonthRequest, MonthPayments)
