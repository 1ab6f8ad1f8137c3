"""Supervision: case register with current step, timeline, deadline register, new recipients.

The case register replaces ``case_records``: its rows are carried over (community unknown).

Revision ID: 0003
"""

import json

import sqlalchemy as sa
from alembic import op

from hqcore.case_records import create_case_records_v1
from hqcore.db import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade():
    cases = op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(40), nullable=False),
        sa.Column("program", sa.String(20), nullable=False),
        sa.Column("street_code", sa.String(40), nullable=False, index=True),
        sa.Column("community", sa.String(100), nullable=True),
        sa.Column("near_relative", sa.Boolean, nullable=False),
        sa.Column("household_size", sa.Integer, nullable=True),
        sa.Column("accepted_at", UtcDateTime, nullable=False, index=True),
        sa.Column("step", sa.String(40), nullable=False, index=True),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("step_at", UtcDateTime, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("closed_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("street_code", sa.String(40), nullable=False),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("action", sa.String(80), nullable=False),
        sa.Column("actor_user", sa.String(64), nullable=True),
        sa.Column("actor_role", sa.String(40), nullable=True),
        sa.Column("rule_id", sa.String(10), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("document_ids", sa.Text, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "deadline_register",
        sa.Column("deadline_id", sa.String(36), primary_key=True),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("rule_id", sa.String(10), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("street_code", sa.String(40), nullable=True, index=True),
        sa.Column("unit", sa.String(2), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("provisional", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("met_at", UtcDateTime, nullable=True),
        sa.Column("breached_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_deadline_register_status_due", "deadline_register", ["status", "due_at"])
    op.create_table(
        "recipients",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("case_no", sa.String(40), nullable=False),
        sa.Column("program", sa.String(20), nullable=False),
        sa.Column("street_code", sa.String(40), nullable=False, index=True),
        sa.Column("community", sa.String(100), nullable=False),
        sa.Column("near_relative", sa.Boolean, nullable=False),
        sa.Column("household_check_required", sa.Boolean, nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=False),
        sa.Column("month", sa.String(7), nullable=False, index=True),
        sa.Column("authority", sa.String(10), nullable=False),
        sa.Column("monthly_amount_fen", sa.Integer, nullable=True),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("first_payment_month", sa.String(7), nullable=True),
        sa.Column("payee_kind", sa.String(10), nullable=True),
    )
    records = sa.table(
        "case_records",
        sa.column("case_id"),
        sa.column("case_no"),
        sa.column("program"),
        sa.column("street_code"),
        sa.column("since", UtcDateTime),
        sa.column("details"),
    )
    rows = op.get_bind().execute(sa.select(records)).all()
    op.bulk_insert(cases, [_register_row(row) for row in rows])
    op.drop_table("case_records")


def _register_row(row) -> dict:
    details = json.loads(row.details)
    return {
        "case_id": row.case_id,
        "case_no": row.case_no,
        "program": row.program,
        "street_code": row.street_code,
        "community": None,
        "near_relative": bool(details.get("near_relative")),
        "household_size": details.get("household_size"),
        "accepted_at": row.since,
        "step": "accepted",
        "service": "intake",
        "step_at": row.since,
        "closed": False,
        "closed_at": None,
    }


def downgrade():
    create_case_records_v1(op)
    records = sa.table(
        "case_records",
        sa.column("case_id"),
        sa.column("case_no"),
        sa.column("program"),
        sa.column("street_code"),
        sa.column("status"),
        sa.column("since", UtcDateTime),
        sa.column("details"),
    )
    cases = sa.table(
        "cases",
        sa.column("case_id"),
        sa.column("case_no"),
        sa.column("program"),
        sa.column("street_code"),
        sa.column("near_relative"),
        sa.column("household_size"),
        sa.column("accepted_at", UtcDateTime),
    )
    rows = op.get_bind().execute(sa.select(cases)).all()
    op.bulk_insert(
        records,
        [
            {
                "case_id": r.case_id,
                "case_no": r.case_no,
                "program": r.program,
                "street_code": r.street_code,
                "status": "in_procedure",
                "since": r.accepted_at,
                "details": json.dumps(
                    {"near_relative": bool(r.near_relative), "household_size": r.household_size}
                ),
            }
            for r in rows
        ],
    )
    for table in ("recipients", "deadline_register", "timeline", "cases"):
        op.drop_table(table)
