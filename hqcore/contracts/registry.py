"""The registry of versioned contracts and the functions that validate against it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from marshmallow import Schema, ValidationError

from hqcore.contracts.fields import refuse_hostile
from hqcore.errors import ValidationFailed, validation_error_from_marshmallow


class ContractError(ValidationFailed):
    """A message does not match its contract: rejected visibly, never half-applied."""

    code = "contract_violation"


@dataclass(frozen=True)
class RpcContract:
    request: type[Schema]
    response: type[Schema]
    version: int = 1


S = TypeVar("S", bound=Schema)
EVENTS: dict[tuple[str, int], type[Schema]] = {}
RPC: dict[str, RpcContract] = {}


def event(event_type: str, version: int) -> Callable[[type[S]], type[S]]:
    """Class decorator: register ``cls`` as the payload schema of ``event_type`` v``version``."""

    def register(cls: type[S]) -> type[S]:
        key = (event_type, version)
        if key in EVENTS:
            raise RuntimeError(f"event contract {event_type} v{version} defined twice")
        EVENTS[key] = cls
        # Marks on the registered class itself, which Schema does not declare.
        cls.event_type, cls.schema_version = event_type, version  # type: ignore[attr-defined]
        return cls

    return register


def rpc(name: str, request: type[Schema], response: type[Schema], version: int = 1) -> None:
    RPC[name] = RpcContract(request, response, version)


def event_schema(event_type: str, version: int) -> Schema:
    try:
        return EVENTS[(event_type, version)]()
    except KeyError:
        raise ContractError(
            f"unknown event contract {event_type} v{version}", field="event_type"
        ) from None


def load_event_payload(event_type: str, version: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    try:
        refuse_hostile(payload, prefix="payload")
    except ValidationFailed as exc:
        raise ContractError(exc.message, field=exc.field) from None
    try:
        loaded: dict[str, Any] = event_schema(event_type, version).load(payload)
    except ValidationError as exc:
        err = validation_error_from_marshmallow(exc.messages, prefix="payload")
        raise ContractError(err.message, field=err.field, details=err.details) from None
    return loaded


def load_rpc_request(name: str, data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``data`` loaded by the request schema of ``name``: 400 naming the field when it breaks
    the contract, or when any string in it could not be stored (SEC-8: a service refuses what
    the gateway refuses, whoever sent the message)."""
    refuse_hostile(data, prefix)
    try:
        loaded: dict[str, Any] = RPC[name].request().load(data)
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages, prefix=prefix) from None
    return loaded


def dump_rpc_response(name: str, data: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = RPC[name].response().dump(data)
    return dumped
