"""HTTP routes of the steps the verification service owns (VE-1 to VE-5)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from marshmallow import Schema, fields, validate

from gateway.openapi import CASE_STEP_ERRORS, Operation
from gateway.web import case_step, gateway
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


@bp.post("/api/v1/cases/<case_id>/investigation")
def record_investigation(case_id: str) -> Response:
    return case_step("verification", "record_investigation", case_id, prepare=_investigators)


@bp.post("/api/v1/cases/<case_id>/pre-review")
def pre_review(case_id: str) -> Response:
    return case_step("verification", "pre_review", case_id)


@bp.post("/api/v1/cases/<case_id>/district-review")
def district_review(case_id: str) -> Response:
    return case_step("verification", "district_review", case_id)


@bp.post("/api/v1/cases/<case_id>/explanation")
def record_explanation(case_id: str) -> Response:
    return case_step("verification", "record_explanation", case_id)


@bp.post("/api/v1/cases/<case_id>/untruthful-declaration")
def record_untruthful_declaration(case_id: str) -> Response:
    return case_step("verification", "record_untruthful_declaration", case_id)


@bp.post("/api/v1/cases/<case_id>/correction")
def record_correction(case_id: str) -> Response:
    return case_step("verification", "record_correction", case_id)


def _investigators(body: dict[str, Any]) -> dict[str, Any]:
    """The HTTP body names the investigating group by user id; the step's contract takes them
    as the accounts the gateway knows (user id, role, street; VE-1)."""
    if "investigators" not in body:
        return body  # the contract names the missing field
    ids = body["investigators"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValidationFailed(
            "investigators: a list of user ids is required", field="investigators"
        )
    accounts = gateway().auth.accounts
    unknown = [i for i in ids if i not in accounts]
    if unknown:
        raise ValidationFailed(
            f"investigators: unknown user {unknown[0]}", field="investigators", code="unknown_user"
        )
    return {**body, "investigators": [accounts[i].actor().to_dict() for i in ids]}


def _body(request: type[Schema], name: str, **overrides: Any) -> type[Schema]:
    """The HTTP body of a step, for the document: its RPC request without ``case_id`` (taken
    from the path)."""
    meta = type("Meta", (), {"exclude": ("case_id",)})
    return type(name, (request,), {"Meta": meta, **overrides})


InvestigationBody = _body(
    RecordInvestigationRequest,
    "InvestigationBody",
    investigators=fields.List(
        fields.String(),
        required=True,
        validate=validate.Length(min=2, max=10),
        metadata={
            "description": "user ids of the investigating group (at least 2, the caller among them)"
        },
    ),
)

# path segment: (HTTP body schema, summary)
STEPS = {
    "investigation": (InvestigationBody, "Record the household investigation (VE-1, VE-4)"),
    "pre-review": (
        _body(PreReviewRequest, "PreReviewBody"),
        "Pre-review by the handling agency (VE-2)",
    ),
    "district-review": (
        _body(ReviewRequest, "DistrictReviewBody"),
        "Review by the district verification agency; commissions the city check (VE-2)",
    ),
    "explanation": (
        _body(RecordExplanationRequest, "ExplanationBody"),
        "Record the applicant's explanation after a negative check (VE-3)",
    ),
    "untruthful-declaration": (
        _body(RecordUntruthfulDeclarationRequest, "UntruthfulBody"),
        "Record an untruthful declaration; 5 WD to correct (VE-5)",
    ),
    "correction": (
        _body(RecordCorrectionRequest, "CorrectionBody"),
        "Record the applicant's correction (VE-5)",
    ),
}

OPERATIONS = tuple(
    Operation(
        f"/api/v1/cases/{{case_id}}/{segment}",
        "post",
        summary,
        "verification",
        {
            200: (
                "The verification service's view of the case after the step; incomes and "
                "ID numbers masked for roles that must not see them",
                ServiceCaseView,
            )
        },
        request=schema,
        path_params=(("case_id", "the case identifier"),),
        errors=CASE_STEP_ERRORS,
    )
    for segment, (schema, summary) in STEPS.items()
)
