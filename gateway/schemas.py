"""HTTP-only schemas of the gateway: errors, health, case overview and the suite clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hqcore.clock import parse_duration
from hqcore.contracts.common import ActorSchema, DocumentRefSchema, TimelineEntrySchema
from hqcore.contracts.intake import IntakeCaseView


class ErrorBody(Schema):
    code = fields.String(
        required=True,
        metadata={
            "description": "stable machine-readable code, one of those listed in docs/errors.md"
        },
    )
    message = fields.String(required=True, metadata={"description": "for people; may change"})
    field = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "dotted path of the offending field or "
            "parameter (`case_id`, `applicant.id_number`)"
            ", or null"
        },
    )
    details = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        required=True,
        metadata={
            "description": "the code's details as docs/errors.md gives "
            "them, e.g. `invalid_state`: `status`, "
            "`allowed`; empty when the code has none"
        },
    )


class ErrorSchema(Schema):
    """Every error answer of the API: ``{"error": {"code", "message", "field", "details"}}``."""

    error = fields.Nested(ErrorBody, required=True)


class ServiceHealth(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("up", "down")))
    now = fields.AwareDateTime(metadata={"description": "the service's clock, when up"})
    error = fields.String(metadata={"description": "error code, when down"})
    reason = fields.String(metadata={"description": "why the service is down"})


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ok", "degraded")))
    services = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceHealth), required=True)


class UnavailableView(Schema):
    """Stands in for a service's view of a case when that service did not answer."""

    status = fields.String(required=True, validate=validate.Equal("unavailable"))
    error = fields.String(required=True)


class CaseOverviewSchema(Schema):
    case = fields.Nested(
        IntakeCaseView,
        required=True,
        metadata={
            "description": "intake's view; ID numbers masked for roles that do not need them"
        },
    )
    timeline = fields.List(
        fields.Nested(TimelineEntrySchema),
        required=True,
        metadata={"description": "every step of every service, in order"},
    )
    documents = fields.List(
        fields.Nested(DocumentRefSchema),
        required=True,
        metadata={
            "description": "every notice and letter issued, downloadable at /api/v1/documents/{id}"
        },
    )
    unavailable = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "parts a service could not give now"},
    )
    services = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        required=True,
        metadata={
            "description": "per downstream service: a ServiceCaseView, "
            "or an UnavailableView when it did not answer"
        },
    )


class ClockStateSchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(("real", "controlled")))
    now = fields.AwareDateTime(required=True)
    offset_seconds = fields.Float(required=True)


class Duration(fields.String):
    """An ISO-8601 duration such as ``P3D`` or ``PT36H``, loaded as a ``timedelta``."""

    def _deserialize(self, value, attr, data, **kwargs) -> timedelta:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


# The suite's clock stays within the years every date of a request may take (SEC-9).
CLOCK_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
CLOCK_LATEST = datetime(2100, 12, 31, 15, 59, 59, tzinfo=timezone.utc)  # 23:59:59 in Beijing


class ClockCommandSchema(Schema):
    """Exactly one of ``set``, ``advance`` or ``reset`` (controlled clock mode only)."""

    set = fields.AwareDateTime(
        validate=validate.Range(min=CLOCK_EARLIEST, max=CLOCK_LATEST),
        metadata={"description": "move the suite's time to this instant (years 2000 to 2100)"},
    )
    advance = Duration(
        validate=validate.Range(
            min=timedelta(seconds=1), max=CLOCK_LATEST - CLOCK_EARLIEST, min_inclusive=True
        ),
        metadata={"description": "move the suite's time forward, e.g. P3D (up to 2100)"},
    )
    reset = fields.Boolean(
        validate=validate.Equal(True), metadata={"description": "back to real time"}
    )

    @validates_schema
    def exactly_one(self, data, **kwargs):
        if len(data) != 1:
            raise ValidationError("give exactly one of set, advance or reset", field_name="body")


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class LoginAnswerSchema(Schema):
    token = fields.String(
        required=True,
        metadata={
            "description": "the access token: send as 'Authorization: Bearer <token>'; "
            "valid `expires_in` seconds (15 minutes)"
        },
    )
    refresh_token = fields.String(
        required=True,
        metadata={
            "description": "exchange once at POST /api/v1/refresh for a new pair; the "
            "session ends 12 hours after login"
        },
    )
    expires_in = fields.Integer(
        required=True, metadata={"description": "seconds the access token is valid"}
    )
    user = fields.Nested(ActorSchema, required=True)


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class DocumentFormatQuery(Schema):
    """``GET /api/v1/documents/{id}``'s query: the HTML document itself, or its JSON."""

    format = fields.String(
        load_default="html",
        validate=validate.OneOf(("html", "json")),
        metadata={"description": "`html` (the default) or `json`"},
    )
