"""Intake: streets, applications, household members, case counters; platform tables.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from hqcore.db import UtcDateTime
from hqcore.migrations import create_platform_tables_v1

revision = "0001"
down_revision = None


def upgrade():
    create_platform_tables_v1()
    op.create_table(
        "streets",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("abbr", sa.String(8), nullable=False, unique=True),
    )
    op.create_table(
        "applications",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(40), nullable=False, unique=True),
        sa.Column("program", sa.String(20), nullable=False),
        sa.Column("street_code", sa.String(40), sa.ForeignKey("streets.code"), nullable=False),
        sa.Column("community", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("near_relative", sa.Boolean, nullable=False),
        sa.Column("accepted_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "members",
        sa.Column(
            "case_id", sa.String(64), sa.ForeignKey("applications.case_id"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False, index=True),
        sa.Column("relationship", sa.String(20), nullable=False),
        sa.Column("is_applicant", sa.Boolean, nullable=False),
    )
    op.create_table(
        "case_counters",
        sa.Column("street_code", sa.String(40), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last_sequence", sa.Integer, nullable=False),
    )


def downgrade():
    for table in (
        "case_counters",
        "members",
        "applications",
        "streets",
        "deadlines",
        "inbox",
        "outbox",
    ):
        op.drop_table(table)
