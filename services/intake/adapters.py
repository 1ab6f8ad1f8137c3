"""Intake's tables and repository."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import and_, select, update

from hqcore.db import UtcDateTime, platform_tables
from services.intake.domain import OPEN_STATUSES, Application, Street

metadata = sa.MetaData()

streets = sa.Table(
    "streets", metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("abbr", sa.String(8), nullable=False, unique=True),
)
applications = sa.Table(
    "applications", metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("case_no", sa.String(40), nullable=False, unique=True),
    sa.Column("program", sa.String(20), nullable=False),
    sa.Column("street_code", sa.String(40), sa.ForeignKey("streets.code"), nullable=False),
    sa.Column("community", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("near_relative", sa.Boolean, nullable=False),
    sa.Column("accepted_at", UtcDateTime, nullable=False),
)
members = sa.Table(
    "members", metadata,
    sa.Column("case_id", sa.String(64), sa.ForeignKey("applications.case_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("id_number", sa.String(18), nullable=False, index=True),
    sa.Column("relationship", sa.String(20), nullable=False),
    sa.Column("is_applicant", sa.Boolean, nullable=False),
)
case_counters = sa.Table(
    "case_counters", metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last_sequence", sa.Integer, nullable=False),
)
TABLES = {**platform_tables(metadata), "streets": streets}


class ApplicationRepository:
    def __init__(self, conn):
        self.conn = conn

    def street(self, code: str) -> Street | None:
        row = self.conn.execute(select(streets).where(streets.c.code == code)).first()
        return Street(row.code, row.name, row.abbr) if row else None

    def open_case_no_for(self, program: str, id_numbers: list[str]) -> str | None:
        row = self.conn.execute(
            select(applications.c.case_no)
            .join(members, members.c.case_id == applications.c.case_id)
            .where(and_(applications.c.program == program,
                        applications.c.status.in_(OPEN_STATUSES),
                        members.c.id_number.in_(id_numbers)))
            .limit(1)).first()
        return row.case_no if row else None

    def next_sequence(self, street_code: str, year: int) -> int:
        """The street's next case number in ``year``; the row lock serialises instances."""
        row = self.conn.execute(
            select(case_counters.c.last_sequence)
            .where(and_(case_counters.c.street_code == street_code, case_counters.c.year == year))
            .with_for_update()).first()
        if row is None:
            self.conn.execute(case_counters.insert().values(
                street_code=street_code, year=year, last_sequence=1))
            return 1
        self.conn.execute(update(case_counters).where(and_(
            case_counters.c.street_code == street_code, case_counters.c.year == year,
        )).values(last_sequence=row.last_sequence + 1))
        return row.last_sequence + 1

    def add(self, app: Application) -> None:
        self.conn.execute(applications.insert().values(
            case_id=app.case_id, case_no=app.case_no, program=app.program,
            street_code=app.street_code, community=app.community, status=app.status,
            near_relative=app.near_relative, accepted_at=app.accepted_at,
        ))
        self.conn.execute(members.insert(), [
            {"case_id": app.case_id, "position": i, "name": m["name"],
             "id_number": m["id_number"], "relationship": m["relationship"],
             "is_applicant": m["id_number"] == app.applicant["id_number"]}
            for i, m in enumerate(app.members)
        ])

    def get(self, case_id: str) -> Application | None:
        row = self.conn.execute(select(applications).where(applications.c.case_id == case_id)).first()
        if row is None:
            return None
        people = self.conn.execute(select(members).where(members.c.case_id == case_id)
                                   .order_by(members.c.position)).all()
        household = [{"name": p.name, "id_number": p.id_number, "relationship": p.relationship}
                     for p in people]
        applicant = next(h for h, p in zip(household, people) if p.is_applicant)
        return Application(
            case_id=row.case_id, case_no=row.case_no, program=row.program,
            street_code=row.street_code, community=row.community, applicant=applicant,
            members=household, near_relative=row.near_relative, accepted_at=row.accepted_at,
            status=row.status,
        )


def seed(conn, reference) -> None:
    """Load the district's streets; existing rows are left as an administrator edited them."""
    known = {r.code for r in conn.execute(select(streets.c.code))}
    rows = [{"code": s["code"], "name": s["name"], "abbr": s["abbr"]}
            for s in reference.streets() if s["code"] not in known]
    if rows:
        conn.execute(streets.insert(), rows)
