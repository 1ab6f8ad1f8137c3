"""HTTP routes of the steps the publicity service owns (PU-1 to PU-7)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.openapi import CASE_STEP_ERRORS, RPC_ERRORS, Operation
from gateway.web import call, case_step, current_actor, json_object, present, validated
from hqcore.contracts.publicity import (
    DeliberationBodyRequest,
    DeliberationBodyView,
    DeliberationRequest,
    MajorDisputeRequest,
    ObjectionRequest,
    PreliminaryOpinionRequest,
)
from hqcore.contracts.rpc import ServiceCaseView

bp = Blueprint("publicity", __name__)


@bp.post("/api/v1/cases/<case_id>/preliminary-opinion")
def record_preliminary_opinion(case_id: str) -> Response:
    return case_step("publicity", "record_preliminary_opinion", case_id)


@bp.post("/api/v1/cases/<case_id>/objections")
def record_objection(case_id: str) -> Response:
    return case_step("publicity", "record_objection", case_id)


@bp.post("/api/v1/cases/<case_id>/major-disputes")
def record_major_dispute(case_id: str) -> Response:
    return case_step("publicity", "record_major_dispute", case_id)


@bp.post("/api/v1/cases/<case_id>/deliberation")
def record_deliberation(case_id: str) -> Response:
    return case_step("publicity", "record_deliberation", case_id)


@bp.get("/api/v1/streets/<street_code>/deliberation-body")
def get_deliberation_body(street_code: str) -> Response:
    actor = current_actor()
    fields = validated("publicity.get_deliberation_body", {"street_code": street_code})
    return jsonify(present(call("publicity", "get_deliberation_body", actor, **fields), actor))


@bp.put("/api/v1/streets/<street_code>/deliberation-body")
def set_deliberation_body(street_code: str) -> Response:
    actor = current_actor()
    fields = validated(
        "publicity.set_deliberation_body", {**json_object(), "street_code": street_code}
    )
    return jsonify(present(call("publicity", "set_deliberation_body", actor, **fields), actor))


_CASE = (("case_id", "the case identifier"),)
_STREET = (("street_code", "the street's code, e.g. shaogongzhuang"),)
_UPDATED = {200: ("The case as the publicity service now holds it", ServiceCaseView)}

OPERATIONS = (
    Operation(
        "/api/v1/cases/{case_id}/preliminary-opinion",
        "post",
        "Record the preliminary opinion and start the publicity",
        "publicity",
        _UPDATED,
        description="Handling agency (clerk). The opinion and the economic investigation are "
        "posted on the residents' committee notice board for 5 days (PU-1); a "
        "public notice document is issued. After a major dispute this is the new "
        "opinion due within 10 WD (PU-4).",
        request=PreliminaryOpinionRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/objections",
        "post",
        "Record an objection to the publicity",
        "publicity",
        _UPDATED,
        description="Residents' committee or clerk, during the publicity: the case goes back "
        "to investigation and is publicised again (PU-3).",
        request=ObjectionRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/major-disputes",
        "post",
        "Record a complaint or report raising a major dispute",
        "publicity",
        _UPDATED,
        description="Clerk or district officer, during the publicity: investigation again, a "
        "new preliminary opinion within 10 WD, a new publicity (PU-4).",
        request=MajorDisputeRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/deliberation",
        "post",
        "Record the democratic deliberation",
        "publicity",
        _UPDATED,
        description="Clerk, for a tekun or disputed case after its publicity: members present "
        "(a majority of the street's body), conclusion, minutes, the leader in "
        "charge's sign-off and the leadership meeting's approval date (PU-5, "
        "PU-6); the minutes join the family's file (PU-7).",
        request=DeliberationRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/streets/{street_code}/deliberation-body",
        "get",
        "A street's deliberation-and-consultation body",
        "publicity",
        {200: ("Its members and who last set it", DeliberationBodyView)},
        path_params=_STREET,
        errors=(404, *RPC_ERRORS),
    ),
    Operation(
        "/api/v1/streets/{street_code}/deliberation-body",
        "put",
        "Replace a street's deliberation-and-consultation body",
        "publicity",
        {200: ("The body as now set", DeliberationBodyView)},
        description="The street's leader in charge, or the district: 5 to 7 members, with the "
        "leader in charge, management-department staff, residents' committee "
        "staff and public representatives (PU-5).",
        request=DeliberationBodyRequest,
        path_params=_STREET,
        errors=RPC_ERRORS,
    ),
)
