"""The ``version`` of each register row, for the one concurrency strategy: ``case.progressed``
loads a case's row locked, moves its current step and saves it from the version it read.

Revision ID: 0004
"""

from alembic import op

from hqcore.case_records import add_case_version_v2

revision = "0004"
down_revision = "0003"


def upgrade():
    add_case_version_v2(op, "cases")


def downgrade():
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("version")
