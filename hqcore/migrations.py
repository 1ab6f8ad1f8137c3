"""Alembic, the same way for every service.

Each service keeps its revisions in ``services/<name>/migrations/versions``; its ``env.py`` is
two lines calling ``run_env``. ``upgrade(service, settings)`` is what ``make run`` and the
operator command ``python -m hqops.cli migrate`` call.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.operations import BatchOperations

from hqcore.config import PROJECT_ROOT, Settings
from hqcore.db import UtcDateTime, make_engine


class SchemaOperations(Protocol):
    """What the kit's table helpers use of alembic's ``op`` (the module, or ``Operations``)."""

    def create_table(
        self, table_name: str, *columns: sa.schema.SchemaItem, **kw: Any
    ) -> sa.Table: ...

    def batch_alter_table(self, table_name: str) -> AbstractContextManager[BatchOperations]: ...


def alembic_config(service: str, settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", settings.database_url(service).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, settings: Settings, revision: str = "head") -> None:
    if settings.database_url(service).startswith("sqlite"):
        path = settings.database_url(service).split("///", 1)[-1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, settings), revision)


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:  # ``alembic_config`` always sets it
        raise RuntimeError("the alembic configuration names no sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def create_platform_tables_v1() -> None:
    """The outbox, inbox and deadlines tables as first released; called by each service's
    first revision. Later changes to them get revisions of their own."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "id"])
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("handler", sa.String(100), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("processed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "deadlines",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("street_code", sa.String(40), nullable=True),
        sa.Column("rule_id", sa.String(10), nullable=False),
        sa.Column("unit", sa.String(2), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("provisional", sa.Boolean, nullable=False),
        sa.Column("met_at", UtcDateTime, nullable=True),
        sa.Column("breached_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("case_id", "rule_id", "started_at", name="uq_deadline_case_rule_start"),
    )
    op.create_index("ix_deadlines_status_due", "deadlines", ["status", "due_at"])
