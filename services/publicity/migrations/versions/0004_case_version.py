"""The ``version`` of each case, for the one concurrency strategy (``hqcore.case_records``).

Revision ID: 0004
"""

from alembic import op

from hqcore.case_records import add_case_version_v2

revision = "0004"
down_revision = "0003"


def upgrade():
    add_case_version_v2(op)


def downgrade():
    with op.batch_alter_table("case_records") as batch:
        batch.drop_column("version")
