"""RPC contracts of the verification service's steps (requests carry the acting user as ``actor``).

Every step answers with the service's view of the case (``ServiceCaseView``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from hqcore.contracts.common import ActorSchema
from hqcore.contracts.decision import (
    PolicyRateAdded,
    PolicyRateList,
    PolicyRateRequest,
    PolicyRatesRequest,
)
from hqcore.contracts.events import SELF_CARE
from hqcore.contracts.registry import rpc
from hqcore.contracts.rpc import ServiceCaseView

INVESTIGATION_METHODS = ("household_visit", "neighbour_visits", "letter_inquiries")  # VE-4

_CASE_ID = fields.String(required=True, validate=validate.Length(min=1, max=64))


def _text(max_length: int = 2000) -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length))


class RecordInvestigationRequest(Schema):
    """The household investigation (VE-1, VE-4). ``investigators`` are the group's members as
    the gateway's account directory knows them (user id, role, street)."""

    case_id = _CASE_ID
    investigators = fields.List(
        fields.Nested(ActorSchema), required=True, validate=validate.Length(min=2, max=10)
    )  # VE-1: at least 2
    methods = fields.List(
        fields.String(validate=validate.OneOf(INVESTIGATION_METHODS)),
        required=True,
        validate=validate.Length(min=1),
    )
    findings = _text()
    applicant_signed = fields.Boolean(required=True)
    self_care = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(SELF_CARE)
    )

    @validates("investigators")
    def distinct_investigators(self, value: list[dict[str, Any]], **kwargs: Any) -> None:
        ids = [person["user_id"] for person in value]
        if len(set(ids)) < len(ids):
            raise ValidationError("the same investigator is listed twice")

    @validates("methods")
    def distinct_methods(self, value: list[str], **kwargs: Any) -> None:
        if len(set(value)) < len(value):
            raise ValidationError("the same method is listed twice")

    @validates("applicant_signed")
    def signed(self, value: bool, **kwargs: Any) -> None:
        if value is not True:  # VE-4: the form is signed by the applicant
            raise ValidationError("the applicant must sign the household investigation form")


class ReviewRequest(Schema):
    """A stage of the information check (VE-2): the reviewer's opinion."""

    case_id = _CASE_ID
    opinion = _text(1000)


class PreReviewRequest(ReviewRequest):
    """The handling agency's pre-review of declarations and authorisations (VE-2, IN-7)."""

    authorisations_complete = fields.Boolean(required=True)

    @validates("authorisations_complete")
    def complete(self, value: bool, **kwargs: Any) -> None:
        if value is not True:  # IN-7: every signed authorisation is needed for the check
            raise ValidationError("every verification authorisation must be signed")


class RecordExplanationRequest(Schema):
    """The applicant's explanation after a negative check, and whether it is accepted (VE-3)."""

    case_id = _CASE_ID
    explanation = _text()
    accepted = fields.Boolean(required=True)


class RecordUntruthfulDeclarationRequest(Schema):
    """What the applicant did not declare truthfully (VE-5)."""

    case_id = _CASE_ID
    detail = _text()


class RecordCorrectionRequest(Schema):
    """The applicant corrected the declaration in time (VE-5)."""

    case_id = _CASE_ID
    detail = _text()


rpc("verification.record_investigation", RecordInvestigationRequest, ServiceCaseView)
rpc("verification.pre_review", PreReviewRequest, ServiceCaseView)
rpc("verification.district_review", ReviewRequest, ServiceCaseView)
rpc("verification.record_explanation", RecordExplanationRequest, ServiceCaseView)
rpc(
    "verification.record_untruthful_declaration",
    RecordUntruthfulDeclarationRequest,
    ServiceCaseView,
)
rpc("verification.record_correction", RecordCorrectionRequest, ServiceCaseView)

# The policy tables verification's means test reads (VE-2): the same shapes as decision's copy.
rpc("verification.add_policy_rate", PolicyRateRequest, PolicyRateAdded)
rpc("verification.list_policy_rates", PolicyRatesRequest, PolicyRateList)
