"""HTTP routes of the steps the intake service owns: an application (IN-1 to IN-3, ORG-6) and
the materials supplied after the written notice (IN-6, IN-7)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.openapi import CASE_STEP_ERRORS, RPC_ERRORS, Operation
from gateway.web import (
    call,
    case_step,
    current_actor,
    idempotency_key,
    json_object,
    present,
    validated,
)
from hqcore.contracts.intake import (
    IntakeCaseView,
    SubmitApplicationRequest,
    SupplyMaterialsRequest,
)

bp = Blueprint("intake", __name__)


@bp.post("/api/v1/applications")
def submit_application() -> tuple[Response, int, dict[str, str]]:
    actor = current_actor()
    application = validated("intake.submit_application", json_object())
    key = idempotency_key()  # SEC-10: a repeat under the same key answers the first reply
    view = call("intake", "submit_application", actor, key, application=application)
    return jsonify(present(view, actor)), 201, {"Location": f"/api/v1/cases/{view['case_id']}"}


@bp.post("/api/v1/cases/<case_id>/materials")
def supply_materials(case_id: str) -> Response:
    """Materials and signed authorisations handed in after the written notice (IN-6, IN-7)."""
    return case_step("intake", "supply_materials", case_id)


OPERATIONS = (
    Operation(
        "/api/v1/applications",
        "post",
        "Submit a family's application",
        "cases",
        {
            201: (
                "The case was opened; `Location` points at it. ID numbers are masked.",
                IntakeCaseView,
            )
        },
        description="A street's clerk, or a community worker as the residents' committee's "
        "proxy, files an application (IN-1, IN-2, ORG-6): accepted at once when "
        "complete, otherwise one written notice lists every missing item (IN-6). "
        "An open case of the same program covering a member is 409 "
        "`duplicate_open_case`; an unknown street is 404 `unknown_street`. With an "
        "`Idempotency-Key` header (1 to 128 printable ASCII characters), a repeat with "
        "the same key and body answers the first reply (the same case), e.g. after a 504 "
        "whose outcome is unknown; the same key with another body is 409 "
        "`idempotency_key_reused`.",
        request=SubmitApplicationRequest,
        errors=(404, 409, *RPC_ERRORS),
    ),
    Operation(
        "/api/v1/cases/{case_id}/materials",
        "post",
        "Supply missing materials",
        "cases",
        {
            200: (
                "The case; `accepted` once nothing is missing (then `accepted_at` is set and "
                "every later deadline runs from it)",
                IntakeCaseView,
            )
        },
        description="A community worker or clerk of the case's street records the materials "
        "(codes of the IN-3 checklist) and the ID numbers of members or obligors "
        "who have now signed the verification authorisation (IN-7). Only a case "
        "`awaiting_materials` takes them (409 `invalid_state` otherwise); the "
        "written notice listing every missing item was issued once, on filing "
        "(IN-6).",
        request=SupplyMaterialsRequest,
        path_params=(("case_id", "the case identifier returned on submission"),),
        errors=CASE_STEP_ERRORS,
    ),
)
