"""Event payload contracts of the procedure, by type and version.

The flow (rules in ../shared/docs/rules.md):
intake ``application.accepted`` → verification investigates and checks means →
``verification.completed`` (eligible) → publicity publicises, deliberates →
``publicity.concluded`` → decision reviews and decides → ``decision.made`` → payments schedules.
Branches: ``publicity.reinvestigation_requested`` (PU-3, PU-4) sends a case back to
verification; ``verification.non_confirmation_proposed`` (VE-3) and ``verification.withdrawn``
(VE-5) end it early. Every service reports what it did as ``case.progressed`` for the
district's timeline, and its deadlines as ``deadline.*``. The gateway reports every read of
personal data as ``access.read`` (SEC-15), for supervision's read log.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hqcore.contracts.common import (
    PROGRAMS,
    ObligorSchema,
    PaymentAccountSchema,
    PersonSchema,
    ProxySchema,
)
from hqcore.contracts.registry import event

OUTCOMES = ("approved", "refused", "non_confirmed")
SELF_CARE = ("able", "partly_unable", "wholly_unable")


class CaseKeys(Schema):
    case_id = fields.String(required=True)
    case_no = fields.String(required=True)
    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    street_code = fields.String(required=True)


@event("application.accepted", 1)
class ApplicationAcceptedV1(CaseKeys):
    """A complete application was accepted (IN-6); every later deadline runs from here."""

    community = fields.String(required=True)
    applicant = fields.Nested(PersonSchema, required=True)
    members = fields.List(
        fields.Nested(PersonSchema), required=True, validate=validate.Length(min=1)
    )
    obligors = fields.List(fields.Nested(ObligorSchema), load_default=list)
    proxy = fields.Nested(ProxySchema, allow_none=True, load_default=None)
    payment_account = fields.Nested(PaymentAccountSchema, allow_none=True, load_default=None)
    near_relative = fields.Boolean(required=True)
    accepted_at = fields.AwareDateTime(required=True)


@event("verification.completed", 1)
class VerificationCompletedV1(CaseKeys):
    """Investigation and information check done; the means test found the family eligible
    (directly, or after an accepted explanation, VE-3)."""

    round = fields.Integer(required=True, validate=validate.Range(min=1))
    household_size = fields.Integer(required=True, validate=validate.Range(min=1))
    income_per_head_fen = fields.Integer(required=True, validate=validate.Range(min=0))
    money_assets_fen = fields.Integer(required=True, validate=validate.Range(min=0))
    self_care = fields.String(allow_none=True, validate=validate.OneOf(SELF_CARE))
    report_id = fields.String(required=True)
    means_test = fields.Dict(required=True)  # figures used, with their policy rows
    completed_at = fields.AwareDateTime(required=True)


@event("verification.non_confirmation_proposed", 1)
class NonConfirmationProposedV1(CaseKeys):
    """Not eligible and no explanation within 4 WD: the file goes to the management
    department for a non-confirmation decision (VE-3)."""

    reasons = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    report_id = fields.String(required=True)
    proposed_at = fields.AwareDateTime(required=True)


@event("verification.withdrawn", 1)
class VerificationWithdrawnV1(CaseKeys):
    """An untruthful declaration was not corrected in time: deemed withdrawn (VE-5)."""

    reason = fields.String(required=True)
    withdrawn_at = fields.AwareDateTime(required=True)


@event("publicity.reinvestigation_requested", 1)
class ReinvestigationRequestedV1(CaseKeys):
    """An objection (PU-3) or a major dispute (PU-4) sends the case back to investigation."""

    cause = fields.String(required=True, validate=validate.OneOf(("objection", "major_dispute")))
    detail = fields.String(required=True)
    requested_at = fields.AwareDateTime(required=True)


@event("publicity.concluded", 1)
class PublicityConcludedV1(CaseKeys):
    """Publicity ended without dispute, and deliberation (mandatory for tekun) concluded."""

    community = fields.String(required=True)
    rounds = fields.Integer(required=True, validate=validate.Range(min=1))
    preliminary_opinion = fields.String(
        required=True, validate=validate.OneOf(("approve", "refuse"))
    )
    deliberation_held = fields.Boolean(required=True)
    deliberation_conclusion = fields.String(
        allow_none=True, validate=validate.OneOf(("approve", "refuse"))
    )
    minutes_document_id = fields.String(allow_none=True)
    concluded_at = fields.AwareDateTime(required=True)


@event("decision.made", 1)
class DecisionMadeV1(CaseKeys):
    """The confirmation decision (DE-1, DE-5, DE-7, VE-3), made by the street or the district."""

    community = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    authority = fields.String(required=True, validate=validate.OneOf(("street", "district")))
    decided_at = fields.AwareDateTime(required=True)
    monthly_amount_fen = fields.Integer(allow_none=True, validate=validate.Range(min=0))
    recipients = fields.List(fields.Nested(PersonSchema), load_default=list)
    payee_kind = fields.String(allow_none=True, validate=validate.OneOf(("recipient", "caregiver")))
    payee_name = fields.String(allow_none=True)
    payee_account = fields.Nested(PaymentAccountSchema, allow_none=True)
    reasons = fields.List(fields.String(), load_default=list)
    document_id = fields.String(required=True)


@event("payment.scheduled", 1)
class PaymentScheduledV1(CaseKeys):
    """Approval in month M: monthly payment from month M+1 (PA-1)."""

    first_month = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"))
    monthly_amount_fen = fields.Integer(required=True, validate=validate.Range(min=0))
    payee_kind = fields.String(required=True, validate=validate.OneOf(("recipient", "caregiver")))
    payee_name = fields.String(required=True)


@event("case.progressed", 1)
class CaseProgressedV1(Schema):
    """One step of the procedure happened: the timeline and the district's case register."""

    case_id = fields.String(required=True)
    case_no = fields.String(allow_none=True)
    program = fields.String(allow_none=True)
    street_code = fields.String(required=True)
    service = fields.String(required=True)
    step = fields.String(required=True)  # the case's current step after this action
    action = fields.String(required=True)  # what happened
    actor_user = fields.String(allow_none=True)
    actor_role = fields.String(allow_none=True)
    rule_id = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    document_ids = fields.List(fields.String(), load_default=list)
    # SEC-16: the content hash of each document of this service the entry reports; added in
    # version 1 as optional (older senders send none), so the chain covers documents too.
    document_hashes = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")),
        load_default=dict,
    )
    closed = fields.Boolean(load_default=False)
    at = fields.AwareDateTime(required=True)


READ_KINDS = ("case", "document", "list")


@event("access.read", 1)
class AccessReadV1(Schema):
    """SEC-15: the gateway served a case, a document or a list of personal data; supervision
    keeps the read log. ``read_at`` is real time (UTC), not the suite's clock."""

    user_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    role = fields.String(required=True, validate=validate.Length(min=1, max=40))
    street_code = fields.String(allow_none=True, load_default=None)
    kind = fields.String(required=True, validate=validate.OneOf(READ_KINDS))
    case_id = fields.String(allow_none=True, load_default=None)
    document_id = fields.String(allow_none=True, load_default=None)
    target = fields.String(required=True, validate=validate.Length(min=1, max=500))
    remote_addr = fields.String(allow_none=True, load_default=None)
    read_at = fields.AwareDateTime(required=True)


class DeadlineFields(Schema):
    deadline_id = fields.String(required=True)
    service = fields.String(required=True)
    rule_id = fields.String(required=True)
    case_id = fields.String(required=True)
    street_code = fields.String(required=True, allow_none=True)
    unit = fields.String(required=True)
    amount = fields.Integer(required=True)
    due_at = fields.AwareDateTime(required=True)
    provisional = fields.Boolean(required=True)


@event("deadline.opened", 1)
class DeadlineOpenedV1(DeadlineFields):
    """A statutory deadline started."""


@event("deadline.met", 1)
class DeadlineMetV1(DeadlineFields):
    """The required action happened (late if after due_at)."""

    met_at = fields.AwareDateTime(required=True)


@event("deadline.breached", 1)
class DeadlineBreachedV1(DeadlineFields):
    """A statutory deadline passed while still open."""
