"""The registry of versioned contracts and the functions that validate against it."""
from __future__ import annotations

from dataclasses import dataclass

from marshmallow import Schema, ValidationError

from hqcore.errors import ValidationFailed, validation_error_from_marshmallow


class ContractError(ValidationFailed):
    """A message does not match its contract: rejected visibly, never half-applied."""
    code = "contract_violation"


@dataclass(frozen=True)
class RpcContract:
    request: type[Schema]
    response: type[Schema]
    version: int = 1


EVENTS: dict[tuple[str, int], type[Schema]] = {}
RPC: dict[str, RpcContract] = {}


def event(event_type: str, version: int):
    """Class decorator: register ``cls`` as the payload schema of ``event_type`` v``version``."""
    def register(cls: type[Schema]) -> type[Schema]:
        key = (event_type, version)
        if key in EVENTS:
            raise RuntimeError(f"event contract {event_type} v{version} defined twice")
        EVENTS[key] = cls
        cls.event_type, cls.schema_version = event_type, version
        return cls
    return register


def rpc(name: str, request: type[Schema], response: type[Schema], version: int = 1) -> None:
    RPC[name] = RpcContract(request, response, version)


def event_schema(event_type: str, version: int) -> Schema:
    try:
        return EVENTS[(event_type, version)]()
    except KeyError:
        raise ContractError(f"unknown event contract {event_type} v{version}",
                            field="event_type") from None


def load_event_payload(event_type: str, version: int, payload: dict) -> dict:
    try:
        return event_schema(event_type, version).load(payload)
    except ValidationError as exc:
        err = validation_error_from_marshmallow(exc.messages, prefix="payload")
        raise ContractError(err.message, field=err.field, details=err.details) from None


def load_rpc_request(name: str, data: dict, prefix: str = "") -> dict:
    try:
        return RPC[name].request().load(data)
    except ValidationError as exc:
        raise validation_error_from_marshmallow(exc.messages, prefix=prefix) from None


def dump_rpc_response(name: str, data) -> dict:
    return RPC[name].response().dump(data)
