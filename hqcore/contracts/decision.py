"""RPC contracts of the decision service's steps (requests carry the acting user as ``actor``).

Management review and the leader's decision (DE-1), the VE-3 non-confirmation, the DE-4
extension, service of the decision documents (DE-5, DE-7, ORG-7), the ORG-1 delegation dates
and the DE-2 list of recipients for public announcement.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hqcore.contracts.common import PROGRAMS, PaymentAccountSchema
from hqcore.contracts.fields import Day, Fen, Month, PersonName, ResidentId
from hqcore.contracts.registry import rpc
from hqcore.contracts.rpc import CaseRef, ServiceCaseView

OPINIONS = ("approve", "refuse", "non_confirm")
CARE_MODES = ("dispersed", "institutional")  # 分散供养 / 集中供养
GUARDIANSHIP_MODES = ("self", "relative", "residents_committee", "institution", "other")
PAYEES = ("recipient", "caregiver")

_Reason = fields.String(validate=validate.Length(min=1, max=500))


class _WithReasons(Schema):
    reasons = fields.List(_Reason, load_default=list, validate=validate.Length(max=20))

    @validates_schema
    def reasons_for_a_negative_opinion(self, data: dict[str, Any], **kwargs: Any) -> None:
        choice = data.get("opinion", data.get("outcome"))
        if choice in ("refuse", "non_confirm") and not data.get("reasons"):
            raise ValidationError(
                "a refusal or non-confirmation states its reasons (DE-7, VE-3)",
                field_name="reasons",
            )


class ReviewRequest(CaseRef, _WithReasons):
    """The management department's review opinion on the whole file (DE-1, VE-3)."""

    opinion = fields.String(required=True, validate=validate.OneOf(OPINIONS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class HeadConsentRequest(CaseRef):
    """The department head's consent sends the file to the deciding leader (DE-1)."""

    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class CaregiverSchema(Schema):
    name = PersonName(required=True, validate=validate.Length(min=1, max=50))
    id_number = ResidentId(required=True)
    relationship = fields.String(required=True, validate=validate.Length(min=1, max=40))
    phone = fields.String(required=True, validate=validate.Regexp(r"^[0-9-]{7,20}$"))


class CareArrangementSchema(Schema):
    """What a tekun approval fixes (DE-6), and whose account receives the money (PA-1)."""

    care_mode = fields.String(required=True, validate=validate.OneOf(CARE_MODES))
    caregiver = fields.Nested(CaregiverSchema, required=True)
    guardianship_mode = fields.String(required=True, validate=validate.OneOf(GUARDIANSHIP_MODES))
    responsibilities = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    agreement_signed = fields.Boolean(
        required=True,
        validate=validate.Equal(True, error="the entrusted-care agreement must be signed (DE-6)"),
    )
    agreement_signed_on = Day(required=True)
    payee = fields.String(required=True, validate=validate.OneOf(PAYEES))
    payee_account = fields.Nested(PaymentAccountSchema, load_default=None, allow_none=True)

    @validates_schema
    def caregiver_paid_into_an_account(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("payee") == "caregiver" and not data.get("payee_account"):
            raise ValidationError(
                "payment to the entrusted caregiver needs the caregiver's account (PA-1)",
                field_name="payee_account",
            )


class DecideRequest(CaseRef, _WithReasons):
    """The deciding leader's decision (DE-1; the district on the pre-reform route, ORG-1)."""

    outcome = fields.String(required=True, validate=validate.OneOf(OPINIONS))
    care_arrangement = fields.Nested(CareArrangementSchema, load_default=None, allow_none=True)


class ExtendRequest(CaseRef):
    """DE-4: a special case may take 45 WD instead of 30; the reason is recorded."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class ServiceRequest(CaseRef):
    """A decision document was served on the applicant or proxy (ORG-7, DE-5, DE-7, VE-3)."""

    document_id = fields.String(required=True, validate=validate.Length(min=3, max=80))
    served_at = fields.AwareDateTime(required=True)


class DelegationRequest(Schema):
    """ORG-1: the date from which a street confirms its own cases (null: not delegated).

    ``delegated_from`` null and absent are the same: the step skeleton (``hqcore.steps``)
    leaves out the fields sent as null before it validates a request."""

    street_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    delegated_from = Day(load_default=None, allow_none=True)


class DelegationView(Schema):
    street_code = fields.String(required=True)
    delegated_from = fields.Date(allow_none=True)


class RecipientsRequest(Schema):
    street_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    community = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=100)
    )


class RecipientView(Schema):
    """One approved household as announced in its community (DE-2): no ID numbers."""

    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    community = fields.String(required=True)
    name = fields.String(required=True)
    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    monthly_amount_fen = Fen(required=True)
    decided_at = fields.AwareDateTime(required=True)


class RecipientList(Schema):
    street_code = fields.String(required=True)
    community = fields.String(allow_none=True)
    recipients = fields.List(fields.Nested(RecipientView), required=True)


rpc("decision.record_review", ReviewRequest, ServiceCaseView)
rpc("decision.record_head_consent", HeadConsentRequest, ServiceCaseView)
rpc("decision.decide", DecideRequest, ServiceCaseView)
rpc("decision.extend", ExtendRequest, ServiceCaseView)
rpc("decision.record_service", ServiceRequest, ServiceCaseView)
rpc("decision.set_delegation", DelegationRequest, DelegationView)
rpc("decision.list_recipients", RecipientsRequest, RecipientList)


# -- the effective-dated policy tables (DE-5), edited by the district -------------------------
# Verification keeps its own copy of the same tables and registers the same shapes.

_POLICY_NAME = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="lower-case letters, digits and _")


class PolicyRateRequest(Schema):
    """A new effective-dated row: ``value`` in the key's unit (fen, permille, months)."""

    key = fields.String(required=True, validate=[validate.Length(min=1, max=60), _POLICY_NAME])
    unit = fields.String(required=True, validate=[validate.Length(min=1, max=40), _POLICY_NAME])
    value = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=1_000_000_000)
    )
    valid_from = Day(required=True)
    valid_to = Day(load_default=None, allow_none=True)
    source = fields.String(required=True, validate=validate.Length(min=3, max=500))
    verified = fields.Boolean(load_default=True)

    @validates_schema
    def ends_after_it_starts(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("valid_to") is not None and data["valid_to"] < data["valid_from"]:
            raise ValidationError("must not be before valid_from", field_name="valid_to")


class PolicyRateView(Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    unit = fields.String(required=True)
    value = fields.Integer(required=True)
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(allow_none=True)
    source = fields.String(required=True)
    verified = fields.Boolean(required=True)
    in_force = fields.Boolean()


class PolicyRateAdded(Schema):
    service = fields.String(required=True)
    row = fields.Nested(PolicyRateView, required=True)
    closed = fields.Nested(PolicyRateView, allow_none=True)  # the open-ended row now closed
    created = fields.Boolean(required=True)  # False: the same row was held
    warnings = fields.List(fields.String(), load_default=list)


class PolicyRatesRequest(Schema):
    key = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=60))


class PolicyRateList(Schema):
    service = fields.String(required=True)
    on = fields.Date(required=True)
    rows = fields.List(fields.Nested(PolicyRateView), required=True)


rpc("decision.add_policy_rate", PolicyRateRequest, PolicyRateAdded)
rpc("decision.list_policy_rates", PolicyRatesRequest, PolicyRateList)


class MonthlyReportRequest(Schema):
    """DE-3: the street's management department files the month's roster and report."""

    street_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    month = Month(required=True)


class MonthlyReportView(Schema):
    street_code = fields.String(required=True)
    month = fields.String(required=True)
    filed_at = fields.AwareDateTime(required=True)
    filed_by = fields.String(required=True)
    on_time = fields.Boolean(required=True)
    households = fields.Integer(required=True)
    monthly_amount_fen = fields.Integer(required=True)
    document_id = fields.String(required=True)


rpc("decision.file_monthly_report", MonthlyReportRequest, MonthlyReportView)
