"""The ``version`` of each case, for the one concurrency strategy (``hqcore.case_records``:
loaded with the row lock, saved only from the version it was read in); intake's own timeline
goes (supervision keeps the suite's one timeline, from ``case.progressed``).

Revision ID: 0004
"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from hqcore.case_records import add_case_version_v2
from hqcore.db import UtcDateTime

revision = "0004"
down_revision = "0003"

_CHILDREN = ("members", "obligors")  # rows referring to applications.case_id


@contextmanager
def _children_set_aside():
    """SQLite drops a column by rebuilding the table and dropping the old one: the rows that
    refer to it are set aside meanwhile so the foreign keys are never broken."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table in _CHILDREN:
            op.execute(f"CREATE TEMPORARY TABLE {table}_kept AS SELECT * FROM {table}")
            op.execute(f"DELETE FROM {table}")
    yield
    if sqlite:
        for table in _CHILDREN:
            op.execute(f"INSERT INTO {table} SELECT * FROM {table}_kept")
            op.execute(f"DROP TABLE {table}_kept")


def upgrade():
    add_case_version_v2(op, "applications")
    op.drop_table("timeline")


def downgrade():
    op.create_table(
        "timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("actor_user", sa.String(64), nullable=True),
        sa.Column("actor_role", sa.String(40), nullable=True),
        sa.Column("rule_id", sa.String(10), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("document_ids", sa.JSON, nullable=False),
    )
    with _children_set_aside(), op.batch_alter_table("applications") as batch:
        batch.drop_column("version")
