"""RPC contracts of the publicity service's steps (requests carry the acting user as ``actor``).

Shapes only; the rules (PU-1 to PU-7) are the service's domain. Dates are China-local.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hqcore import reference
from hqcore.contracts.fields import Day, PersonName
from hqcore.contracts.registry import rpc
from hqcore.contracts.rpc import ServiceCaseView

OPINIONS = ("approve", "refuse")
DISPUTE_SOURCES = ("complaint", "report")  # 投诉、举报 (PU-4)
MEMBER_KINDS = (
    "leader_in_charge",
    "management_staff",
    "committee_staff",
    "public_representative",
)  # PU-5
STREET_CODES = tuple(street["code"] for street in reference.streets())


class CaseStep(Schema):
    case_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class PreliminaryOpinionRequest(CaseStep):
    """The handling agency's preliminary opinion, to be publicised (PU-1)."""

    opinion = fields.String(required=True, validate=validate.OneOf(OPINIONS))
    summary = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "the economic investigation, as posted"},
    )


class ObjectionRequest(CaseStep):
    """An objection raised during publicity (PU-3)."""

    objector = PersonName(required=True, validate=validate.Length(min=1, max=100))
    detail = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class MajorDisputeRequest(CaseStep):
    """A complaint or report raising a major dispute (PU-4)."""

    source = fields.String(required=True, validate=validate.OneOf(DISPUTE_SOURCES))
    detail = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class DeliberationRequest(CaseStep):
    """The deliberation-and-consultation body's meeting on the case (PU-5, PU-6, PU-7)."""

    members_present = fields.List(
        PersonName(validate=validate.Length(min=1, max=50)),
        required=True,
        validate=validate.Length(min=1, max=7),
    )
    conclusion = fields.String(required=True, validate=validate.OneOf(OPINIONS))
    minutes = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    signed_off_by = PersonName(
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"description": "the leader in charge who signed"},
    )
    leadership_meeting_approved_on = Day(required=True)


class BodyMember(Schema):
    name = PersonName(required=True, validate=validate.Length(min=1, max=50))
    kind = fields.String(required=True, validate=validate.OneOf(MEMBER_KINDS))
    title = fields.String(load_default="", validate=validate.Length(max=100))


class StreetRef(Schema):
    street_code = fields.String(required=True, validate=validate.OneOf(STREET_CODES))


class DeliberationBodyRequest(StreetRef):
    """A street's deliberation-and-consultation body, replaced as a whole (PU-5)."""

    members = fields.List(
        fields.Nested(BodyMember), required=True, validate=validate.Length(min=1, max=20)
    )


class DeliberationBodyView(Schema):
    street_code = fields.String(required=True)
    members = fields.List(fields.Nested(BodyMember), required=True)
    updated_at = fields.AwareDateTime(required=True)
    updated_by = fields.String(required=True)


rpc("publicity.record_preliminary_opinion", PreliminaryOpinionRequest, ServiceCaseView)
rpc("publicity.record_objection", ObjectionRequest, ServiceCaseView)
rpc("publicity.record_major_dispute", MajorDisputeRequest, ServiceCaseView)
rpc("publicity.record_deliberation", DeliberationRequest, ServiceCaseView)
rpc("publicity.set_deliberation_body", DeliberationBodyRequest, DeliberationBodyView)
rpc("publicity.get_deliberation_body", StreetRef, DeliberationBodyView)
