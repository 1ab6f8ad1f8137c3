"""HTTP routes of the steps the intake service owns (``POST /api/v1/applications`` itself is in
``gateway.app``)."""
from flask import Blueprint, Response, jsonify

from gateway.openapi import Operation
from gateway.web import command, current_actor, json_object, present
from hqcore.contracts import load_rpc_request
from hqcore.contracts.intake import IntakeCaseView, SupplyMaterialsRequest

bp = Blueprint("intake", __name__)


@bp.post("/api/v1/cases/<case_id>/materials")
def supply_materials(case_id: str) -> Response:
    """Materials and signed authorisations handed in after the written notice (IN-6, IN-7)."""
    actor = current_actor()
    fields = load_rpc_request("intake.supply_materials", {**json_object(), "case_id": case_id})
    view = command("intake", "supply_materials", actor, **fields)
    return jsonify(present(view, actor))


OPERATIONS = (
    Operation(
        "/api/v1/cases/{case_id}/materials", "post", "Supply missing materials", "cases",
        {200: ("The case; `accepted` once nothing is missing (then `accepted_at` is set and "
               "every later deadline runs from it)", IntakeCaseView)},
        description="A community worker or clerk of the case's street records the materials "
                    "(codes of the IN-3 checklist) and the ID numbers of members or obligors "
                    "who have now signed the verification authorisation (IN-7). Only a case "
                    "`awaiting_materials` takes them (409 `invalid_state` otherwise); the "
                    "written notice listing every missing item was issued once, on filing "
                    "(IN-6).",
        request=SupplyMaterialsRequest,
        path_params=(("case_id", "the case identifier returned on submission"),),
        errors=(400, 401, 403, 404, 409, 503, 504),
    ),
)
