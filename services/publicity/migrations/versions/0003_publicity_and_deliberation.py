"""Running publicity periods (PU-1) and the streets' deliberation bodies (PU-5).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from hqcore.db import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade():
    op.create_table(
        "publicity_periods",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("ends_at", UtcDateTime, nullable=False, index=True),
    )
    op.create_table(
        "deliberation_bodies",
        sa.Column("street_code", sa.String(40), primary_key=True),
        sa.Column("members", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )


def downgrade():
    op.drop_table("deliberation_bodies")
    op.drop_table("publicity_periods")
