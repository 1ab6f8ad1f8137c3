"""Every event and RPC payload the suite exchanges, as versioned marshmallow schemas.

Services and the gateway import these and nothing else to talk to each other. A schema is
registered under its event type (or ``service.method``) and version; a new incompatible shape
gets a new version beside the old one so services can be upgraded one at a time.
"""

# The registry first, then the modules that register the schemas as they are imported, in this
# order (a later registration of the same name would replace an earlier one).
from hqcore.contracts.registry import (  # noqa: I001  (the order above)
    ContractError,
    EVENTS,
    RPC,
    event_schema,
    load_event_payload,
    load_rpc_request,
    dump_rpc_response,
)
from hqcore.contracts import events, rpc  # registers the schemas
from hqcore.contracts import (  # each service's step contracts
    decision,
    intake,
    payments,
    publicity,
    supervision,
    verification,
)

__all__ = [
    "ContractError",
    "EVENTS",
    "RPC",
    "event_schema",
    "load_event_payload",
    "load_rpc_request",
    "dump_rpc_response",
    "events",
    "rpc",
    "decision",
    "intake",
    "payments",
    "publicity",
    "supervision",
    "verification",
]
