"""The gateway's session store: which login sessions are still open, and recent failed logins.

Tokens are signed, so the gateway needs no store to read them; it needs one to *take them back*
(logout, a reused refresh token) and to count failed logins (SEC-4, SEC-5). The gateway scales
out (several instances behind one Service), so the store is shared: a small SQL database of
the gateway's own, ``GATEWAY_DATABASE_URL`` (PostgreSQL in a cluster; a SQLite file in
``HQ_VAR_DIR`` on one machine). ``SessionStore`` is the port, ``SqlSessionStore`` the adapter.

Times are seconds since the epoch, real time (never the suite's demo clock): a demo that moves
the suite's clock by a week must not log everybody out.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, delete, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import SQLAlchemyError

from hqcore.db import Database

# Failed logins older than this are forgotten (the longest throttling window).
FAILURE_HORIZON = 15 * 60


class SessionStore(Protocol):
    """What the gateway keeps between requests, shared by all its instances."""

    def open(self, session_id: str, username: str, refresh_id: str, expires_at: float) -> None:
        """Record a new session whose current refresh token is ``refresh_id``."""

    def is_open(self, session_id: str, now: float) -> bool:
        """The session exists, is not revoked and has not expired."""

    def rotate(self, session_id: str, used: str, new: str, now: float) -> bool:
        """Replace the session's refresh token ``used`` by ``new``, atomically; False when
        ``used`` is not the current one (already used, or the session is closed)."""

    def revoke(self, session_id: str, now: float) -> None:
        """Close the session: its access and refresh tokens are refused from now on."""

    def failures(self, key: str, since: float) -> list[float]:
        """When the failed logins counted under ``key`` happened, since ``since``, oldest first."""

    def record_failure(self, keys: tuple[str, ...], at: float) -> None:
        """Count one failed login under each of ``keys``."""

    def clear_failures(self, key: str) -> None:
        """Forget the failed logins counted under ``key`` (after a successful login)."""


metadata = MetaData()
sessions = Table(
    "gateway_sessions",
    metadata,
    Column("session_id", String(36), primary_key=True),
    Column("username", String(100), nullable=False),
    Column("refresh_id", String(36), nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
    Column("revoked_at", Float, nullable=True),
)
login_failures = Table(
    "gateway_login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, index=True),
    Column("at", Float, nullable=False, index=True),
)


class SqlSessionStore:
    """``SessionStore`` on SQLAlchemy; the two tables are created on first start."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        try:
            metadata.create_all(self.db.engine)
        except SQLAlchemyError:
            # Another gateway instance created them at the same moment: check once more.
            metadata.create_all(self.db.engine)

    def open(self, session_id: str, username: str, refresh_id: str, expires_at: float) -> None:
        with self.db.transaction() as conn:
            # Keep the table small: sessions past their end cannot be used anyway.
            conn.execute(delete(sessions).where(sessions.c.expires_at < expires_at - 2 * 86400))
            conn.execute(
                sessions.insert().values(
                    session_id=session_id,
                    username=username,
                    refresh_id=refresh_id,
                    expires_at=expires_at,
                    revoked_at=None,
                )
            )

    def is_open(self, session_id: str, now: float) -> bool:
        with self.db.transaction() as conn:
            found = conn.execute(
                select(func.count())
                .select_from(sessions)
                .where(
                    sessions.c.session_id == session_id,
                    sessions.c.revoked_at.is_(None),
                    sessions.c.expires_at > now,
                )
            ).scalar_one()
        return bool(found)

    def rotate(self, session_id: str, used: str, new: str, now: float) -> bool:
        with self.db.transaction() as conn:
            changed = conn.execute(
                sql_update(sessions)
                .where(
                    sessions.c.session_id == session_id,
                    sessions.c.refresh_id == used,
                    sessions.c.revoked_at.is_(None),
                    sessions.c.expires_at > now,
                )
                .values(refresh_id=new)
            ).rowcount
        return changed == 1

    def revoke(self, session_id: str, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                sql_update(sessions)
                .where(sessions.c.session_id == session_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    def failures(self, key: str, since: float) -> list[float]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                select(login_failures.c.at)
                .where(login_failures.c.key == key, login_failures.c.at >= since)
                .order_by(login_failures.c.at)
            ).scalars()
            return [float(at) for at in rows]

    def record_failure(self, keys: tuple[str, ...], at: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(delete(login_failures).where(login_failures.c.at < at - FAILURE_HORIZON))
            conn.execute(login_failures.insert(), [{"key": key, "at": at} for key in keys])

    def clear_failures(self, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(delete(login_failures).where(login_failures.c.key == key))

    def close(self) -> None:
        self.db.dispose()
