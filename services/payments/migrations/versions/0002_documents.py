"""Documents issued for a case (ORG-7).

Revision ID: 0002
"""

from alembic import op

from hqcore.documents import create_documents_v1

revision = "0002"
down_revision = "0001"


def upgrade():
    create_documents_v1(op)


def downgrade():
    op.drop_table("documents")
