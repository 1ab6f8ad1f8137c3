"""The content hash of each stored document, for the case's hash chain (SEC-16).

Revision ID: 0005
"""

from alembic import op

from hqcore.documents import add_document_hash_v2

revision = "0005"
down_revision = "0004"


def upgrade():
    add_document_hash_v2(op)


def downgrade():
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("content_hash")
