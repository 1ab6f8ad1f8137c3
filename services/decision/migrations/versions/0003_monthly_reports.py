"""Decision: the streets' monthly rosters and reports filed with the district (DE-3).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from hqcore.db import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade():
    op.create_table(
        "monthly_reports",
        sa.Column("street_code", sa.String(40), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("filed_at", UtcDateTime, nullable=False),
        sa.Column("filed_by", sa.String(64), nullable=False),
        sa.Column("on_time", sa.Boolean, nullable=False),
        sa.Column("households", sa.Integer, nullable=False),
        sa.Column("monthly_amount_fen", sa.Integer, nullable=False),
        sa.Column("document_id", sa.String(80), nullable=False),
    )


def downgrade():
    op.drop_table("monthly_reports")
