"""HTTP routes of the payments service: a month's scheduled payments (PA-1)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from gateway.openapi import Operation
from gateway.web import command, current_actor, present
from hqcore.contracts import load_rpc_request
from hqcore.contracts.payments import MonthPayments

bp = Blueprint("payments", __name__)


@bp.get("/api/v1/payments")
def list_payments() -> Response:
    actor = current_actor()
    query = {"month": request.args.get("month")}
    if request.args.get("street_code"):
        query["street_code"] = request.args["street_code"]
    load_rpc_request("payments.list_payments", query)
    return jsonify(present(command("payments", "list_payments", actor, **query), actor))


OPERATIONS = (
    Operation("/api/v1/payments", "get", "Payments scheduled for a month", "payments",
              {200: ("Every approved case paying in that month, with payee and total in fen",
                     MonthPayments)},
              description="PA-1: a case approved in month M is paid from M+1, in full, to the "
                          "recipient's or the entrusted caregiver's account. Query: `month` "
                          "(YYYY-MM, required); `street_code` (district only; street staff see "
                          "their own street).",
              errors=(400, 401, 403, 503, 504)),
)
