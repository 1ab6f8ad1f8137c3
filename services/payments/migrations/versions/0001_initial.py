"""Payments: case records; platform tables.

Revision ID: 0001
"""

from alembic import op

from hqcore.case_records import create_case_records_v1
from hqcore.migrations import create_platform_tables_v1

revision = "0001"
down_revision = None


def upgrade():
    create_platform_tables_v1()
    create_case_records_v1(op)


def downgrade():
    for table in ("case_records", "deadlines", "inbox", "outbox"):
        op.drop_table(table)
