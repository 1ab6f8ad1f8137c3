"""Policy tables for the means test; the city platform simulator's requests (VE-2).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from hqcore.db import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade():
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
    op.create_table(
        "city_sim_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(100), nullable=False, unique=True),
        sa.Column("persons", sa.Text, nullable=False),
        sa.Column("commissioned_at", UtcDateTime, nullable=False),
    )


def downgrade():
    op.drop_table("city_sim_requests")
    op.drop_table("policy_rates")
