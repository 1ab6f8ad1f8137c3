"""Decision: case records, street delegations, policy rates; platform tables.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from hqcore.case_records import create_case_records_v1
from hqcore.migrations import create_platform_tables_v1

revision = "0001"
down_revision = None


def upgrade():
    create_platform_tables_v1()
    create_case_records_v1(op)
    op.create_table(
        "street_delegations",
        sa.Column("street_code", sa.String(40), primary_key=True),
        sa.Column("delegated_from", sa.Date, nullable=True),
    )
    op.create_table(
        "policy_rates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(60), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.UniqueConstraint("key", "valid_from", name="uq_policy_key_from"),
    )


def downgrade():
    for table in (
        "policy_rates",
        "street_delegations",
        "case_records",
        "deadlines",
        "inbox",
        "outbox",
    ):
        op.drop_table(table)
