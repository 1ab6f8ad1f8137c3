"""Errors a user can see: one hierarchy, one wire format, one mapping to HTTP.

A service raises a ``DomainError`` subclass; nameko serialises it over RPC by class name and
arguments; the gateway turns it back into the same class with ``from_remote`` and answers with
``http_status`` and ``{"error": {"code", "message", "field"}}``.
"""
from __future__ import annotations

import json


class DomainError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.details = details or {}

    def __str__(self) -> str:
        # nameko puts str(exc) into the RPC reply's "value": carry everything as JSON there.
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "field": self.field}
        if self.details:
            body["details"] = self.details
        return body


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


EXPECTED = (ValidationFailed, NotFound, Conflict, Forbidden, Unauthenticated)
_BY_NAME = {cls.__name__: cls for cls in (DomainError, *EXPECTED, ServiceUnavailable, UpstreamTimeout)}


def from_remote(exc_type: str, value: str) -> DomainError:
    """Rebuild a service's error from an RPC reply; unknown types become a 500-class error."""
    cls = _BY_NAME.get(exc_type)
    if cls is None:
        err = DomainError("The service failed to handle the request.", code="internal_error")
        err.http_status = 500
        return err
    try:
        body = json.loads(value)
    except (TypeError, ValueError):
        body = {"message": str(value)}
    return cls(body.get("message", ""), field=body.get("field"), code=body.get("code"),
               details=body.get("details"))


def validation_error_from_marshmallow(messages: dict, prefix: str = "") -> ValidationFailed:
    """Turn marshmallow's nested error dict into one error naming the first offending field."""
    field, text = _first_error(messages, prefix)
    return ValidationFailed(f"{field}: {text}", field=field, details={"fields": messages})


def _first_error(messages, prefix: str) -> tuple[str, str]:
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
