"""Applications that wait for materials (IN-6): nullable acceptance, submission, proxy, payment
account, materials, closing; members' signed authorisations (IN-7); support obligors (IN-3);
intake's timeline.

Revision ID: 0003
"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from hqcore.db import UtcDateTime

revision = "0003"
down_revision = "0002"


@contextmanager
def _members_set_aside():
    """SQLite changes a column by rebuilding the table and dropping the old one: the members
    that refer to it are set aside meanwhile so the foreign key is never broken."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE members_kept AS SELECT * FROM members")
        op.execute("DELETE FROM members")
    yield
    if sqlite:
        op.execute("INSERT INTO members SELECT * FROM members_kept")
        op.execute("DROP TABLE members_kept")


def upgrade():
    with _members_set_aside(), op.batch_alter_table("applications") as batch:
        batch.alter_column("accepted_at", existing_type=UtcDateTime, nullable=True)
        batch.add_column(sa.Column("submitted_at", UtcDateTime, nullable=True))
        batch.add_column(
            sa.Column("submitted_by", sa.String(64), nullable=False, server_default="unknown")
        )
        batch.add_column(sa.Column("proxy", sa.JSON, nullable=True))
        batch.add_column(sa.Column("payment_account", sa.JSON, nullable=True))
        batch.add_column(
            sa.Column("materials_provided", sa.JSON, nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("closed_at", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.String(40), nullable=True))
    # Cases accepted before this revision were complete when submitted.
    op.execute("UPDATE applications SET submitted_at = accepted_at")
    with _members_set_aside(), op.batch_alter_table("applications") as batch:
        batch.alter_column("submitted_at", existing_type=UtcDateTime, nullable=False)
    op.add_column(
        "members",
        sa.Column("authorisation_signed", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "obligors",
        sa.Column(
            "case_id", sa.String(64), sa.ForeignKey("applications.case_id"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("relationship", sa.String(20), nullable=False),
        sa.Column("family_members", sa.JSON, nullable=False),
        sa.Column("authorisation_signed", sa.Boolean, nullable=False),
    )
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


def downgrade():
    op.drop_table("timeline")
    op.drop_table("obligors")
    op.drop_column("members", "authorisation_signed")
    with _members_set_aside(), op.batch_alter_table("applications") as batch:
        for column in (
            "closed_reason",
            "closed_at",
            "materials_provided",
            "payment_account",
            "proxy",
            "submitted_by",
            "submitted_at",
        ):
            batch.drop_column(column)
