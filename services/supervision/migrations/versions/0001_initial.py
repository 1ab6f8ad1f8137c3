"""Supervision: case register, breaches; platform tables.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from hqcore.case_records import create_case_records_v1
from hqcore.db import UtcDateTime
from hqcore.migrations import create_platform_tables_v1

revision = "0001"
down_revision = None


def upgrade():
    create_platform_tables_v1()
    create_case_records_v1(op)
    op.create_table(
        "breaches",
        sa.Column("deadline_id", sa.String(36), primary_key=True),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("rule_id", sa.String(10), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("street_code", sa.String(40), nullable=True, index=True),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("provisional", sa.Boolean, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
    )


def downgrade():
    for table in ("breaches", "case_records", "deadlines", "inbox", "outbox"):
        op.drop_table(table)
