"""Replies remembered under a client's Idempotency-Key (SEC-10, ``hqcore.idempotency``): a
platform table, in every service's database.

Revision ID: 0007
"""

from alembic import op

from hqcore.idempotency import create_idempotency_keys_v1

revision = "0007"
down_revision = "0006"


def upgrade():
    create_idempotency_keys_v1(op)


def downgrade():
    op.drop_table("idempotency_keys")
