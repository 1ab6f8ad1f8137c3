"""Database access, the one way: an engine per service and a unit of work per change.

Every service keeps, beside its own tables, the platform tables defined here in its own
database: ``outbox`` (events waiting to be published), ``inbox`` (events already handled),
``deadlines``, ``documents`` and ``idempotency_keys`` (replies remembered under a client's
Idempotency-Key, ``hqcore.idempotency``). A unit of work is one transaction: a state change,
the events it emits and the events it consumed commit together or not at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from hqcore.errors import ServiceUnavailable

if TYPE_CHECKING:
    import sqlite3


class UtcDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (SQLite has no time zones), always returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use the suite's clock")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value  # naive UTC, as the DateTime impl reads it
        return stored.replace(tzinfo=timezone.utc)


def platform_tables(metadata: MetaData) -> dict[str, Table]:
    """Add the outbox, inbox, deadlines, documents and idempotency keys tables to a service's
    metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("schema_version", Integer, nullable=False),
        Column("envelope", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("published_at", UtcDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        Index("ix_outbox_unpublished", "published_at", "id"),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("handler", String(100), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", UtcDateTime, nullable=False),
    )
    deadlines = Table(
        "deadlines",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("case_id", String(64), nullable=False, index=True),
        Column("street_code", String(40), nullable=True),
        Column("rule_id", String(10), nullable=False),
        Column("unit", String(2), nullable=False),
        Column("amount", Integer, nullable=False),
        Column("started_at", UtcDateTime, nullable=False),
        Column("due_at", UtcDateTime, nullable=False),
        Column("due_date", Date, nullable=True),
        Column("status", String(10), nullable=False),
        Column("provisional", Boolean, nullable=False, default=False),
        Column("met_at", UtcDateTime, nullable=True),
        Column("breached_at", UtcDateTime, nullable=True),
        Index("ix_deadlines_status_due", "status", "due_at"),
        UniqueConstraint("case_id", "rule_id", "started_at", name="uq_deadline_case_rule_start"),
    )
    documents = Table(
        "documents",
        metadata,
        Column("document_id", String(80), primary_key=True),
        Column("case_id", String(64), nullable=False, index=True),
        Column("kind", String(40), nullable=False),
        Column("title", String(200), nullable=False),
        Column("html", Text, nullable=False),
        Column("issued_at", UtcDateTime, nullable=False),
        Column("served_at", UtcDateTime, nullable=True),
        Column("content_hash", String(64), nullable=True),  # SEC-16, hqcore.documents
    )
    idempotency_keys = Table(  # SEC-10, hqcore.idempotency
        "idempotency_keys",
        metadata,
        Column("user_id", String(64), primary_key=True),
        Column("key", String(128), primary_key=True),
        Column("contract", String(100), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("reply", Text, nullable=True),
        Column("created_at", UtcDateTime, nullable=False),
    )
    return {
        "outbox": outbox,
        "inbox": inbox,
        "deadlines": deadlines,
        "documents": documents,
        "idempotency": idempotency_keys,
    }


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Database:
    """A service's database. ``transaction()`` is the only way to read or write it."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        # SQLite allows one writer: serialise this process's transactions so cooperative
        # green threads never wait on each other's file lock inside one OS thread.
        self._lock = threading.RLock() if self.is_sqlite else None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One database transaction: commits when the block ends, rolls back on error."""
        if self._lock is not None:
            self._lock.acquire()
        try:
            try:
                conn = self.engine.connect()
            except DBAPIError as exc:  # refused, too many clients, ...: try again later
                raise ServiceUnavailable(
                    "the service's database cannot be reached now; try again",
                    details={"reason": type(exc.orig).__name__},
                ) from exc
            with conn, conn.begin():
                yield conn
        finally:
            if self._lock is not None:
                self._lock.release()

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Database", "UtcDateTime", "platform_tables", "make_engine", "Connection"]
