"""HTTP routes of the steps the verification service owns (VE-1 to VE-5)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify
from marshmallow import Schema, fields, validate

from gateway.openapi import Operation
from gateway.web import command, current_actor, gateway, json_object, present
from hqcore.contracts import load_rpc_request
from hqcore.contracts.rpc import ServiceCaseView
from hqcore.contracts.verification import (
    PreReviewRequest,
    RecordCorrectionRequest,
    RecordExplanationRequest,
    RecordInvestigationRequest,
    RecordUntruthfulDeclarationRequest,
    ReviewRequest,
)
from hqcore.errors import ValidationFailed

bp = Blueprint("verification", __name__)


def _body(request: type[Schema], name: str, **overrides) -> type[Schema]:
    """The HTTP body of a step: its RPC request without ``case_id`` (taken from the path)."""
    meta = type("Meta", (), {"exclude": ("case_id",)})
    return type(name, (request,), {"Meta": meta, **overrides})


InvestigationBody = _body(
    RecordInvestigationRequest, "InvestigationBody",
    investigators=fields.List(fields.String(), required=True,
                              validate=validate.Length(min=2, max=10),
                              metadata={"description": "user ids of the investigating group "
                                                       "(at least 2, the caller among them)"}))

# path segment: (RPC method, HTTP body schema, summary)
STEPS = {
    "investigation": ("record_investigation", InvestigationBody,
                      "Record the household investigation (VE-1, VE-4)"),
    "pre-review": ("pre_review", _body(PreReviewRequest, "PreReviewBody"),
                   "Pre-review by the handling agency (VE-2)"),
    "district-review": ("district_review", _body(ReviewRequest, "DistrictReviewBody"),
                        ("Review by the district verification agency; commissions the city "
                         "check (VE-2)")),
    "explanation": ("record_explanation", _body(RecordExplanationRequest, "ExplanationBody"),
                    "Record the applicant's explanation after a negative check (VE-3)"),
    "untruthful-declaration": ("record_untruthful_declaration",
                               _body(RecordUntruthfulDeclarationRequest, "UntruthfulBody"),
                               "Record an untruthful declaration; 5 WD to correct (VE-5)"),
    "correction": ("record_correction", _body(RecordCorrectionRequest, "CorrectionBody"),
                   "Record the applicant's correction (VE-5)"),
}


def _investigators(body: dict) -> dict:
    """Expand the investigators' user ids into the accounts the gateway knows (VE-1)."""
    ids = body.get("investigators")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValidationFailed("investigators: a list of user ids is required",
                               field="investigators")
    accounts = gateway().auth.accounts
    unknown = [i for i in ids if i not in accounts]
    if unknown:
        raise ValidationFailed(f"investigators: unknown user {unknown[0]}",
                               field="investigators", code="unknown_user")
    return {**body, "investigators": [accounts[i].actor().to_dict() for i in ids]}


def _step_view(method: str):
    def view(case_id: str) -> Response:
        actor = current_actor()
        body = {**json_object(), "case_id": case_id}
        if method == "record_investigation":
            body = _investigators(body)
        load_rpc_request(f"verification.{method}", body)  # 400 naming the field, before any RPC
        return jsonify(present(command("verification", method, actor, **body), actor))
    view.__name__ = method
    return view


for _segment, (_method, _schema, _summary) in STEPS.items():
    bp.add_url_rule(f"/api/v1/cases/<case_id>/{_segment}", view_func=_step_view(_method),
                    methods=["POST"])

OPERATIONS = tuple(
    Operation(
        f"/api/v1/cases/{{case_id}}/{segment}", "post", summary, "verification",
        {200: (("The verification service's view of the case after the step; incomes and "
                "ID numbers masked for roles that must not see them"), ServiceCaseView)},
        request=schema,
        path_params=(("case_id", "the case identifier"),),
        errors=(400, 401, 403, 404, 409, 503, 504),
    )
    for segment, (_, schema, summary) in STEPS.items())
