"""The members of open cases, one row per person and program: the unique key that keeps IN-3's
one open case per person and program under concurrent filings (SEC-1), back-filled from the
cases open now.

Should two open cases of one program already cover the same person (the race this closes),
the earlier filed keeps the person and the later is logged by its case number (no personal
data) for an officer to resolve; it stays open.

Revision ID: 0006
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

_OPEN_STATUSES = ("awaiting_materials", "accepted")  # services.intake.domain.OPEN_STATUSES
log = logging.getLogger(__name__)


def upgrade():
    table = op.create_table(
        "open_case_members",
        sa.Column("id_number", sa.String(18), primary_key=True),
        sa.Column("program", sa.String(20), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_open_case_members_case_id", "open_case_members", ["case_id"])
    rows, doubled = _open_members(op.get_bind())
    if rows:
        op.bulk_insert(table, rows)
    for case_no in doubled:
        log.warning("open case %s duplicates an earlier open case of its program", case_no)


def _open_members(conn):
    """One row per person and program, from the open cases, earliest filed first; and the
    numbers of the later open cases that cover someone already covered."""
    result = conn.execute(
        sa.text(
            "SELECT m.id_number, a.program, a.case_id, a.case_no FROM members m "
            "JOIN applications a ON a.case_id = m.case_id "
            "WHERE a.status IN :open ORDER BY a.submitted_at, a.case_no"
        ).bindparams(sa.bindparam("open", expanding=True)),
        {"open": list(_OPEN_STATUSES)},
    )
    rows, seen, doubled = [], set(), []
    for id_number, program, case_id, case_no in result:
        if (id_number, program) in seen:
            if case_no not in doubled:
                doubled.append(case_no)
            continue
        seen.add((id_number, program))
        rows.append({"id_number": id_number, "program": program, "case_id": case_id})
    return rows, doubled


def downgrade():
    op.drop_index("ix_open_case_members_case_id", "open_case_members")
    op.drop_table("open_case_members")
