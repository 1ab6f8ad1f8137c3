"""HTTP routes of the steps the publicity service owns (PU-1 to PU-7)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.openapi import Operation
from gateway.web import command, current_actor, json_object, present
from hqcore.contracts import load_rpc_request
from hqcore.contracts.publicity import (
    DeliberationBodyRequest, DeliberationBodyView, DeliberationRequest, MajorDisputeRequest,
    ObjectionRequest, PreliminaryOpinionRequest,
)
from hqcore.contracts.rpc import ServiceCaseView

bp = Blueprint("publicity", __name__)

# path segment → the service's RPC step
CASE_STEPS = {
    "preliminary-opinion": "record_preliminary_opinion",
    "objections": "record_objection",
    "major-disputes": "record_major_dispute",
    "deliberation": "record_deliberation",
}


def _case_step(case_id: str, method: str) -> Response:
    actor = current_actor()
    body = {**json_object(), "case_id": case_id}
    load_rpc_request(f"publicity.{method}", body)  # 400 naming the field, before any RPC
    return jsonify(present(command("publicity", method, actor, **body), actor))


def _register_case_step(segment: str, method: str) -> None:
    bp.add_url_rule(f"/api/v1/cases/<case_id>/{segment}", f"case_{method}",
                    lambda case_id: _case_step(case_id, method), methods=["POST"])


for _segment, _method in CASE_STEPS.items():
    _register_case_step(_segment, _method)


@bp.get("/api/v1/streets/<street_code>/deliberation-body")
def get_deliberation_body(street_code: str) -> Response:
    actor = current_actor()
    query = load_rpc_request("publicity.get_deliberation_body", {"street_code": street_code})
    return jsonify(command("publicity", "get_deliberation_body", actor, **query))


@bp.put("/api/v1/streets/<street_code>/deliberation-body")
def set_deliberation_body(street_code: str) -> Response:
    actor = current_actor()
    body = {**json_object(), "street_code": street_code}
    load_rpc_request("publicity.set_deliberation_body", body)
    return jsonify(command("publicity", "set_deliberation_body", actor, **body))


_CASE = (("case_id", "the case identifier"),)
_STREET = (("street_code", "the street's code, e.g. shaogongzhuang"),)
_STEP_ERRORS = (400, 401, 403, 404, 409, 503, 504)
_UPDATED = {200: ("The case as the publicity service now holds it", ServiceCaseView)}

OPERATIONS = (
    Operation(
        "/api/v1/cases/{case_id}/preliminary-opinion", "post",
        "Record the preliminary opinion and start the publicity", "publicity", _UPDATED,
        description="Handling agency (clerk). The opinion and the economic investigation are "
                    "posted on the residents' committee notice board for 5 days (PU-1); a "
                    "public notice document is issued. After a major dispute this is the new "
                    "opinion due within 10 WD (PU-4).",
        request=PreliminaryOpinionRequest, path_params=_CASE, errors=_STEP_ERRORS),
    Operation(
        "/api/v1/cases/{case_id}/objections", "post", "Record an objection to the publicity",
        "publicity", _UPDATED,
        description="Residents' committee or clerk, during the publicity: the case goes back "
                    "to investigation and is publicised again (PU-3).",
        request=ObjectionRequest, path_params=_CASE, errors=_STEP_ERRORS),
    Operation(
        "/api/v1/cases/{case_id}/major-disputes", "post",
        "Record a complaint or report raising a major dispute", "publicity", _UPDATED,
        description="Clerk or district officer, during the publicity: investigation again, a "
                    "new preliminary opinion within 10 WD, a new publicity (PU-4).",
        request=MajorDisputeRequest, path_params=_CASE, errors=_STEP_ERRORS),
    Operation(
        "/api/v1/cases/{case_id}/deliberation", "post",
        "Record the democratic deliberation", "publicity", _UPDATED,
        description="Clerk, for a tekun or disputed case after its publicity: members present "
                    "(a majority of the street's body), conclusion, minutes, the leader in "
                    "charge's sign-off and the leadership meeting's approval date (PU-5, "
                    "PU-6); the minutes join the family's file (PU-7).",
        request=DeliberationRequest, path_params=_CASE, errors=_STEP_ERRORS),
    Operation(
        "/api/v1/streets/{street_code}/deliberation-body", "get",
        "A street's deliberation-and-consultation body", "publicity",
        {200: ("Its members and who last set it", DeliberationBodyView)},
        path_params=_STREET, errors=(400, 401, 403, 404, 503, 504)),
    Operation(
        "/api/v1/streets/{street_code}/deliberation-body", "put",
        "Replace a street's deliberation-and-consultation body", "publicity",
        {200: ("The body as now set", DeliberationBodyView)},
        description="The street's leader in charge, or the district: 5 to 7 members, with the "
                    "leader in charge, management-department staff, residents' committee "
                    "staff and public representatives (PU-5).",
        request=DeliberationBodyRequest, path_params=_STREET,
        errors=(400, 401, 403, 503, 504)),
)
