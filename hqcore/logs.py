"""Structured logging: JSON lines carrying the correlation id, with personal data redacted.

ID numbers (18-character resident IDs) and incomes never reach a log line: values under
sensitive keys are replaced, and anything shaped like an ID number in the message is masked.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

SENSITIVE_KEYS = frozenset(
    {
        "id_number",
        "id_numbers",
        "resident_id",
        "income",
        "incomes",
        "monthly_income",
        "assets",
        "deposits",
        "wages",
        "pension",
        "bank_account",
        "account_number",
        "phone",
    }
)
_ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{9}[0-9Xx](?![0-9])")
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    return _ID_NUMBER.sub(lambda m: m.group(0)[:4] + "*" * 12 + m.group(0)[-2:], text)


def redact(value: Any) -> Any:
    """Copy ``value`` with sensitive keys replaced and ID-number-like strings masked."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if str(k).lower() in SENSITIVE_KEYS else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        if extra:
            entry.update(redact(_jsonable(extra)))
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(value, default=str)
        return value
    except (TypeError, ValueError):
        return {k: str(v) for k, v in value.items()}


def configure(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log record of the process as one JSON line to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "nameko", "sqlalchemy.engine", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
