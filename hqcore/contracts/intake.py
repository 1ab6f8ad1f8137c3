"""RPC contracts of the intake service's steps (requests carry the acting user as ``actor``).

An application names the household (IN-1; for tekun the applicant alone, IN-2), the support
obligors, who filed it for the family (ORG-6), and the materials handed in (IN-3). Missing
materials and unsigned authorisations (IN-7) keep the case waiting (IN-6).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hqcore.contracts.common import (
    PROGRAMS,
    DocumentRefSchema,
    ObligorSchema,
    PaymentAccountSchema,
    PersonSchema,
    ProxySchema,
)
from hqcore.contracts.fields import ResidentId
from hqcore.contracts.registry import rpc

# The materials checklist (IN-3; tekun also needs the written application, IN-2), in Chinese
# as the written notice lists them (IN-6).
MATERIALS = {
    "written_application": "本人书面申请",
    "household_id_cards": "申请人及共同生活家庭成员居民身份证（原件）",
    "household_register": "申请人及共同生活家庭成员户口簿（原件）",
    "economic_declaration": "家庭经济状况如实申报材料",
    "obligor_id_cards": "赡养（抚养、扶养）义务人及其家庭成员居民身份证（原件）",
    "obligor_household_registers": "赡养（抚养、扶养）义务人及其家庭成员户口簿（原件）",
    "entrustment": "申请人签署的委托书",
}
STATUSES = ("awaiting_materials", "accepted", "closed")


class HouseholdMemberSchema(PersonSchema):
    """A co-residing family member; the signed verification authorisation is IN-7."""

    authorisation_signed = fields.Boolean(load_default=False)


class SubmitApplicationRequest(Schema):
    """A street's handling agency takes a family's application (IN-1, IN-2, IN-3, ORG-6)."""

    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    street_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    community = fields.String(required=True, validate=validate.Length(min=1, max=100))
    applicant = fields.Nested(PersonSchema, required=True)
    members = fields.List(
        fields.Nested(HouseholdMemberSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    obligors = fields.List(
        fields.Nested(ObligorSchema), load_default=list, validate=validate.Length(max=20)
    )
    proxy = fields.Nested(ProxySchema, allow_none=True, load_default=None)
    payment_account = fields.Nested(PaymentAccountSchema, allow_none=True, load_default=None)
    near_relative = fields.Boolean(load_default=False)  # SU-3
    materials_provided = fields.List(
        fields.String(validate=validate.OneOf(tuple(MATERIALS))), load_default=list
    )

    @validates_schema
    def household_is_consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        applicant, members = data.get("applicant"), data.get("members") or []
        if applicant and applicant["id_number"] not in {m["id_number"] for m in members}:
            raise ValidationError(
                "the applicant must be listed among the household members", field_name="members"
            )
        seen = set()
        for member in members:
            if member["id_number"] in seen:
                raise ValidationError("the same ID number is listed twice", field_name="members")
            seen.add(member["id_number"])
        if data.get("program") == "tekun" and len(members) > 1:  # IN-2
            raise ValidationError(
                "tekun is one person's application: list the applicant alone", field_name="members"
            )
        for i, obligor in enumerate(data.get("obligors") or []):
            if obligor["id_number"] in seen:
                message = "a support obligor is not a co-residing member of the household"
                raise ValidationError({"id_number": [message]}, field_name=f"obligors.{i}")
        proxy = data.get("proxy")
        if proxy and data.get("program") != "tekun" and proxy["kind"] != "residents_committee":
            message = "a family application may be filed only by the residents' committee"
            raise ValidationError({"kind": [message]}, field_name="proxy")  # IN-1


class SupplyMaterialsRequest(Schema):
    """Materials and signed authorisations handed in after the written notice (IN-6, IN-7)."""

    case_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    materials = fields.List(
        fields.String(validate=validate.OneOf(tuple(MATERIALS))), load_default=list
    )
    authorisations = fields.List(
        ResidentId(),
        load_default=list,
        metadata={"description": "ID numbers of the members and obligors who have now signed"},
    )

    @validates_schema
    def something_supplied(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("materials") and not data.get("authorisations"):
            raise ValidationError(
                "supply at least one material or signed authorisation", field_name="materials"
            )


class MissingItemSchema(Schema):
    """One item the written notice asks for: a material, or a person's authorisation."""

    item = fields.String(required=True)
    label = fields.String(required=True)
    name = fields.String(allow_none=True)
    id_number = fields.String(allow_none=True)


class IntakeCaseView(Schema):
    """``intake.get_case``: the case as intake holds it. Its timeline is supervision's
    (``supervision.get_timeline``), from every service's ``case.progressed``."""

    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True)
    street_code = fields.String(required=True)
    community = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    submitted_at = fields.AwareDateTime(required=True)
    submitted_by = fields.String(required=True)
    accepted_at = fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "null while materials are missing"}
    )
    closed_at = fields.AwareDateTime(allow_none=True)
    closed_reason = fields.String(allow_none=True)
    applicant = fields.Nested(PersonSchema, required=True)
    members = fields.List(fields.Nested(HouseholdMemberSchema), required=True)
    obligors = fields.List(fields.Nested(ObligorSchema), required=True)
    proxy = fields.Nested(ProxySchema, allow_none=True)
    payment_account = fields.Nested(PaymentAccountSchema, allow_none=True)
    near_relative = fields.Boolean(required=True)
    materials_provided = fields.List(fields.String(), required=True)
    materials_missing = fields.List(fields.Nested(MissingItemSchema), required=True)
    documents = fields.List(fields.Nested(DocumentRefSchema), required=True)


# ``intake.submit_application`` and ``intake.get_case`` are registered in hqcore.contracts.rpc.
rpc("intake.supply_materials", SupplyMaterialsRequest, IntakeCaseView)


class AwaitingMaterialsRequest(Schema):
    """The applications of a street still waiting for materials (IN-6): a worklist."""

    street_code = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=40)
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class AwaitingCase(Schema):
    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True)
    street_code = fields.String(required=True)
    community = fields.String(required=True)
    submitted_at = fields.AwareDateTime(required=True)


class AwaitingMaterialsList(Schema):
    cases = fields.List(fields.Nested(AwaitingCase), required=True)


rpc("intake.list_awaiting_materials", AwaitingMaterialsRequest, AwaitingMaterialsList)
