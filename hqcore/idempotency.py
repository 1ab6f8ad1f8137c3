"""Idempotency-Key for the steps that create (SEC-10).

A client that was answered 504 cannot know whether its request was applied. For a step
declared ``@step(contract, idempotent=True)`` it may send an ``Idempotency-Key``: the kit
remembers, in the same transaction as the step's change, the key (per acting user), the
request's hash and the reply. The same key with the same request answers the remembered reply
(the same case) without running the step again; the same key with another request is 409
``idempotency_key_reused``. Keys are scoped to the acting user, so one user can never read
another's reply through a key.

The table is a platform table (``hqcore.db.platform_tables``) in every service's database;
``create_idempotency_keys_v1`` is what each service's revision calls.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Connection, Table, and_, select, update
from sqlalchemy.exc import IntegrityError

from hqcore.db import UtcDateTime
from hqcore.envelope import canonical_json
from hqcore.errors import Conflict

if TYPE_CHECKING:
    from hqcore.migrations import SchemaOperations

TABLE = "idempotency_keys"
HEADER = "Idempotency-Key"
MAX_LENGTH = 128


def create_idempotency_keys_v1(op: SchemaOperations) -> None:
    """The idempotency_keys table as first released (table definition: ``hqcore.db``)."""
    op.create_table(
        TABLE,
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(MAX_LENGTH), primary_key=True),
        sa.Column("contract", sa.String(100), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("reply", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def request_hash(contract: str, fields: dict[str, Any]) -> str:
    """What makes two requests "the same": the step and its fields, canonically."""
    return hashlib.sha256(canonical_json({"contract": contract, "fields": fields})).hexdigest()


class IdempotencyKeys:
    """``uow.idempotency``: the replies remembered under a user's Idempotency-Keys."""

    def __init__(self, conn: Connection, table: Table, now: datetime):
        self._conn, self._table, self._now = conn, table, now

    def _where(self, user_id: str, key: str) -> sa.ColumnElement[bool]:
        return and_(self._table.c.user_id == user_id, self._table.c.key == key)

    def claim(
        self, user_id: str, key: str, contract: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The reply remembered for the same request under ``key``; None after claiming the
        key for this request (its reply is ``remember``ed before the commit). 409
        ``idempotency_key_reused`` for another request under the same key; 409
        ``idempotency_key_in_use`` while a request with the key is still being handled."""
        digest = request_hash(contract, fields)
        row = self._conn.execute(select(self._table).where(self._where(user_id, key))).first()
        if row is not None:
            if (row.contract, row.request_hash) != (contract, digest):
                raise Conflict(
                    "this Idempotency-Key was used for another request; use a new key",
                    field=HEADER,
                    code="idempotency_key_reused",
                )
            if row.reply is None:  # pragma: no cover - remembered in the claiming transaction
                raise _in_use()
            remembered: dict[str, Any] = json.loads(row.reply)
            return remembered
        try:
            # On PostgreSQL a concurrent request with the same key waits here for the first
            # one's commit, then fails on the primary key.
            self._conn.execute(
                self._table.insert().values(
                    user_id=user_id,
                    key=key,
                    contract=contract,
                    request_hash=digest,
                    reply=None,
                    created_at=self._now,
                )
            )
        except IntegrityError:
            raise _in_use() from None
        return None

    def remember(self, user_id: str, key: str, reply: dict[str, Any]) -> None:
        """The reply to answer a repeat of the request with."""
        self._conn.execute(
            update(self._table)
            .where(self._where(user_id, key))
            .values(reply=canonical_json(reply).decode("ascii"))
        )


def _in_use() -> Conflict:
    return Conflict(
        "a request with this Idempotency-Key is being handled; repeat it to learn its outcome",
        field=HEADER,
        code="idempotency_key_in_use",
    )
