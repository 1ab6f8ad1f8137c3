"""Events as values: building an envelope to publish and reading one received."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from hqcore.contracts import load_event_payload
from hqcore.contracts.envelope import EnvelopeSchema
from hqcore.contracts.registry import ContractError, event_schema
from hqcore.errors import validation_error_from_marshmallow

EVENTS_EXCHANGE = "hq.events"


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    schema_version: int
    occurred_at: datetime
    case_id: str | None
    street_code: str | None
    correlation_id: str
    acting_user: str | None
    source: str
    payload: dict[str, Any]


def build_envelope(
    *,
    event_type: str,
    version: int,
    payload: Mapping[str, Any],
    occurred_at: datetime,
    case_id: str | None,
    street_code: str | None,
    correlation_id: str,
    acting_user: str | None,
    source: str,
) -> dict[str, Any]:
    """Validate ``payload`` against its contract (on publish) and wrap it; JSON-ready."""
    schema = event_schema(event_type, version)
    data = schema.dump(payload)
    try:
        schema.load(data)
    except ValidationError as exc:
        err = validation_error_from_marshmallow(exc.messages, prefix="payload")
        raise ContractError(f"{event_type} v{version}: {err.message}", field=err.field) from None
    envelope: dict[str, Any] = EnvelopeSchema().dump(
        {
            "event_id": uuid.uuid4(),
            "event_type": event_type,
            "schema_version": version,
            "occurred_at": occurred_at,
            "case_id": case_id,
            "street_code": street_code,
            "correlation_id": correlation_id,
            "acting_user": acting_user,
            "source": source,
            "payload": data,
        }
    )
    return envelope


def read_envelope(body: object) -> Event:
    """Validate a received envelope and its payload (on receive); raise ContractError if not."""
    if not isinstance(body, dict):
        raise ContractError("an event must be a JSON object", field="body")
    try:
        envelope = EnvelopeSchema().load(body)
    except ValidationError as exc:
        err = validation_error_from_marshmallow(exc.messages)
        raise ContractError(err.message, field=err.field) from None
    payload = load_event_payload(
        envelope["event_type"], envelope["schema_version"], envelope["payload"]
    )
    return Event(**{**envelope, "event_id": str(envelope["event_id"]), "payload": payload})
