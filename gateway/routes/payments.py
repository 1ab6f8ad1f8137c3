"""HTTP routes of the payments service: a month's scheduled payments (PA-1)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.openapi import RPC_ERRORS, Operation
from gateway.readlog import record_read
from gateway.web import call, current_actor, present, query, validated
from hqcore.contracts.payments import MonthPayments

bp = Blueprint("payments", __name__)


@bp.get("/api/v1/payments")
def list_payments() -> Response:
    actor = current_actor()
    fields = validated("payments.list_payments", query("month", "street_code"))
    payments = call("payments", "list_payments", actor, **fields)
    record_read(actor, "list", street_code=fields.get("street_code"))  # SEC-15
    return jsonify(present(payments, actor))


OPERATIONS = (
    Operation(
        "/api/v1/payments",
        "get",
        "Payments scheduled for a month",
        "payments",
        {
            200: (
                "Every approved case paying in that month, with payee and total in fen",
                MonthPayments,
            )
        },
        description="PA-1: a case approved in month M is paid from M+1, in full, to the "
        "recipient's or the entrusted caregiver's account. Query: `month` "
        "(YYYY-MM, required); `street_code` (district only; street staff see "
        "their own street).",
        query=("month", "street_code"),
        query_contract="payments.list_payments",
        errors=RPC_ERRORS,
    ),
)
