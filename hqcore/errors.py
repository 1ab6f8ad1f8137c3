"""Errors a user can see: one hierarchy, one wire format, one mapping to HTTP.

A service raises a ``DomainError`` subclass; nameko serialises it over RPC by class name and
arguments; the gateway turns it back into the same class with ``from_remote`` and answers with
``http_status`` and ``{"error": {"code", "message", "field", "details"}}``. Every code, its
status, field and details: ``docs/errors.md`` (``tests/unit/test_error_vocabulary.py`` keeps the
two in step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class DomainError(Exception):
    code = "error"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.details = details or {}

    def __str__(self) -> str:
        # nameko puts str(exc) into the RPC reply's "value": carry everything as JSON there.
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def rebuilt(
        cls,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> DomainError:
        """The error as it arrived over the RPC wire: its parts as sent, without running a
        subclass's own constructor (``CaseNotFound``, ``InvalidState`` build their parts)."""
        err = cls.__new__(cls)
        DomainError.__init__(err, message, field=field, code=code, details=details)
        return err


class ValidationFailed(DomainError):
    code = "validation_failed"
    http_status = 400


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    """The request clashes with what is stored, e.g. a duplicate open case."""

    code = "conflict"
    http_status = 409


class CaseNotFound(NotFound):
    """A case the service holds no record of: always 404 ``case_not_found`` on ``case_id``
    (other missing things keep their own code: ``document_not_found``, ``unknown_street``)."""

    code = "case_not_found"

    def __init__(self, case_id: str, service: str):
        super().__init__(f"{service} has no record of case {case_id}", field="case_id")


class InvalidState(Conflict):
    """A step asked of a case in a state that does not allow it: always 409 ``invalid_state``
    on ``case_id``, details ``{"status": <the case's status>, "allowed": [<states allowing the
    step>]}``; ``message`` and ``extra`` details may say more (e.g. when a publicity ends)."""

    code = "invalid_state"

    def __init__(
        self,
        step: str,
        status: str,
        allowed: Sequence[str],
        *,
        message: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__(
            message or f"{step} is not possible while the case is {status}",
            field="case_id",
            details={**(extra or {}), "status": status, "allowed": list(allowed)},
        )


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class Unauthenticated(DomainError):
    code = "unauthenticated"
    http_status = 401


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    http_status = 503


class UpstreamTimeout(DomainError):
    code = "upstream_timeout"
    http_status = 504


class InternalError(DomainError):
    """Something failed that the user cannot fix; the message never carries internals."""

    code = "internal_error"
    http_status = 500

    def __init__(
        self,
        message: str = "The service failed to handle the request.",
        *,
        field: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message, field=field, code=code, details=details)


# What a service answers without logging a failure. ``UpstreamTimeout`` is among them: a
# service raises it only as ``request_expired``, dropping a request its caller stopped waiting
# for (``hqcore.envelope``).
EXPECTED = (ValidationFailed, NotFound, Conflict, Forbidden, Unauthenticated, UpstreamTimeout)
_BY_NAME = {
    cls.__name__: cls
    for cls in (
        DomainError,
        *EXPECTED,
        CaseNotFound,
        InvalidState,
        ServiceUnavailable,
        InternalError,
    )
}


def from_remote(exc_type: str, value: str) -> DomainError:
    """Rebuild a service's error from an RPC reply; unknown types become ``internal_error``."""
    cls = _BY_NAME.get(exc_type)
    if cls is None:
        return InternalError()
    try:
        body = json.loads(value)
    except (TypeError, ValueError):
        body = {"message": str(value)}
    if not isinstance(body, dict):
        body = {"message": str(value)}
    return cls.rebuilt(
        body.get("message", ""),
        field=body.get("field"),
        code=body.get("code"),
        details=body.get("details"),
    )


def validation_error_from_marshmallow(
    messages: dict[str, Any] | list[Any] | str, prefix: str = ""
) -> ValidationFailed:
    """Turn marshmallow's nested error dict into one error naming the first offending field."""
    field, text = _first_error(messages, prefix)
    return ValidationFailed(f"{field}: {text}", field=field, details={"fields": messages})


def _first_error(messages: Any, prefix: str) -> tuple[str, str]:
    if isinstance(messages, dict):
        for key in sorted(messages, key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            return _first_error(messages[key], path)
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, (dict, list)):
            return _first_error(first, prefix)
        return prefix or "body", str(first)
    return prefix or "body", str(messages)
