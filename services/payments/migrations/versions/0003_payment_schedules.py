"""Monthly payment schedules of approved cases (PA-1).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from hqcore.db import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade():
    op.create_table(
        "payment_schedules",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(40), nullable=False),
        sa.Column("program", sa.String(20), nullable=False),
        sa.Column("street_code", sa.String(40), nullable=False),
        sa.Column("community", sa.String(100), nullable=False),
        sa.Column("first_month", sa.String(7), nullable=False),
        sa.Column("monthly_amount_fen", sa.Integer, nullable=False),
        sa.Column("payee_kind", sa.String(20), nullable=False),
        sa.Column("payee_name", sa.String(50), nullable=False),
        sa.Column("payee_account", sa.Text, nullable=True),
        sa.Column("scheduled_at", UtcDateTime, nullable=False),
        sa.Index("ix_payment_schedules_street_month", "street_code", "first_month"),
    )


def downgrade():
    op.drop_table("payment_schedules")
