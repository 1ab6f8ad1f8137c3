"""The timeline as a hash chain per case (SEC-16), the chain heads that are also each case's
one lock (SEC-2), and the read log (SEC-15).

Entries already stored are linked in the order they were stored; they carry no document hashes
(their senders sent none).

Revision ID: 0006
"""

import json

import sqlalchemy as sa
from alembic import op

from hqcore.db import UtcDateTime
from hqcore.timeline import GENESIS, chain_hash

revision = "0006"
down_revision = "0005"

# The timeline's columns as this revision knows them (frozen).
_TIMELINE = sa.table(
    "timeline",
    sa.column("id"),
    sa.column("event_id"),
    sa.column("case_id"),
    sa.column("street_code"),
    sa.column("service"),
    sa.column("step"),
    sa.column("action"),
    sa.column("actor_user"),
    sa.column("actor_role"),
    sa.column("rule_id"),
    sa.column("note"),
    sa.column("document_ids"),
    sa.column("closed"),
    sa.column("at", UtcDateTime),
    sa.column("seq"),
    sa.column("prev_hash"),
    sa.column("hash"),
)


def upgrade():
    with op.batch_alter_table("timeline") as batch:
        batch.add_column(sa.Column("document_hashes", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("seq", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=False, server_default=""))
    heads = op.create_table(
        "timeline_heads",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(heads, _link_stored_entries(op.get_bind()))
    op.create_index("uq_timeline_case_seq", "timeline", ["case_id", "seq"], unique=True)
    op.create_table(
        "reads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("street_code", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True, index=True),
        sa.Column("document_id", sa.String(80), nullable=True),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=True),
        sa.Column("read_at", UtcDateTime, nullable=False, index=True),
    )


def _link_stored_entries(conn) -> list[dict]:
    """Link every stored entry, case by case in storage order; the heads reached."""
    heads: dict[str, dict] = {}
    rows = conn.execute(sa.select(_TIMELINE).order_by(_TIMELINE.c.id)).all()
    for row in rows:
        head = heads.setdefault(row.case_id, {"case_id": row.case_id, "seq": 0, "hash": GENESIS})
        seq = head["seq"] + 1
        fields = {
            "event_id": row.event_id,
            "case_id": row.case_id,
            "street_code": row.street_code,
            "service": row.service,
            "step": row.step,
            "action": row.action,
            "actor_user": row.actor_user,
            "actor_role": row.actor_role,
            "rule_id": row.rule_id,
            "note": row.note,
            "document_ids": json.loads(row.document_ids),
            "closed": bool(row.closed),
            "at": row.at,
            "document_hashes": {},
            "seq": seq,
        }
        digest = chain_hash(head["hash"], fields)
        conn.execute(
            sa.update(_TIMELINE)
            .where(_TIMELINE.c.id == row.id)
            .values(seq=seq, prev_hash=head["hash"], hash=digest)
        )
        head["seq"], head["hash"] = seq, digest
    return list(heads.values())


def downgrade():
    op.drop_table("reads")
    op.drop_index("uq_timeline_case_seq", table_name="timeline")
    op.drop_table("timeline_heads")
    with op.batch_alter_table("timeline") as batch:
        for column in ("hash", "prev_hash", "seq", "document_hashes"):
            batch.drop_column(column)
