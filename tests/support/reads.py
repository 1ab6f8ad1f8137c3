"""A read log for tests of the gateway without a broker (``create_app(reads=FakeReadLog())``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hqcore.errors import ServiceUnavailable
from hqcore.messaging.envelope import read_envelope


class FakeReadLog:
    """Keeps every ``access.read`` envelope the gateway publishes, after checking it against
    the envelope and payload contracts as a subscriber would; ``down`` makes it refuse them
    as ``BrokerReadLog`` does when the broker cannot take a read."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.down = False

    def publish(self, envelope: Mapping[str, Any]) -> None:
        if self.down:
            raise ServiceUnavailable("the read log cannot be written (test: broker down)")
        read_envelope(dict(envelope))
        self.envelopes.append(dict(envelope))

    @property
    def reads(self) -> list[dict[str, Any]]:
        """The payloads, in the order they were published."""
        return [envelope["payload"] for envelope in self.envelopes]
