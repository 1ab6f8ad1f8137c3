"""Intake's tables and repository."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import and_, select, update

from hqcore import timeline
from hqcore.authz import Actor
from hqcore.db import UtcDateTime, platform_tables
from services.intake.domain import AWAITING_MATERIALS, CLOSED, OPEN_STATUSES, Application, Street

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
    sa.Column("accepted_at", UtcDateTime, nullable=True),
    sa.Column("submitted_at", UtcDateTime, nullable=False),
    sa.Column("submitted_by", sa.String(64), nullable=False),
    sa.Column("proxy", sa.JSON, nullable=True),
    sa.Column("payment_account", sa.JSON, nullable=True),
    sa.Column("materials_provided", sa.JSON, nullable=False),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.Column("closed_reason", sa.String(40), nullable=True),
)
members = sa.Table(
    "members", metadata,
    sa.Column("case_id", sa.String(64), sa.ForeignKey("applications.case_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("id_number", sa.String(18), nullable=False, index=True),
    sa.Column("relationship", sa.String(20), nullable=False),
    sa.Column("is_applicant", sa.Boolean, nullable=False),
    sa.Column("authorisation_signed", sa.Boolean, nullable=False),
)
obligors = sa.Table(
    "obligors", metadata,
    sa.Column("case_id", sa.String(64), sa.ForeignKey("applications.case_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("id_number", sa.String(18), nullable=False),
    sa.Column("relationship", sa.String(20), nullable=False),
    sa.Column("family_members", sa.JSON, nullable=False),
    sa.Column("authorisation_signed", sa.Boolean, nullable=False),
)
timeline_entries = sa.Table(
    "timeline", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("step", sa.String(40), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("actor_user", sa.String(64), nullable=True),
    sa.Column("actor_role", sa.String(40), nullable=True),
    sa.Column("rule_id", sa.String(10), nullable=True),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("document_ids", sa.JSON, nullable=False),
)
case_counters = sa.Table(
    "case_counters", metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last_sequence", sa.Integer, nullable=False),
)
TABLES = {**platform_tables(metadata), "streets": streets}

_PERSON = ("name", "id_number", "relationship", "authorisation_signed")


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
            street_code=app.street_code, community=app.community, near_relative=app.near_relative,
            submitted_at=app.submitted_at, submitted_by=app.submitted_by, proxy=app.proxy,
            payment_account=app.payment_account, **self._state(app),
        ))
        self.conn.execute(members.insert(), [
            {"case_id": app.case_id, "position": i, **{k: m[k] for k in _PERSON},
             "is_applicant": m["id_number"] == app.applicant["id_number"]}
            for i, m in enumerate(app.members)
        ])
        if app.obligors:
            self.conn.execute(obligors.insert(), [
                {"case_id": app.case_id, "position": i, **{k: o[k] for k in _PERSON},
                 "family_members": o.get("family_members") or []}
                for i, o in enumerate(app.obligors)
            ])

    def save(self, app: Application) -> None:
        """Store the case's state, materials and who has signed an authorisation."""
        self.conn.execute(update(applications).where(applications.c.case_id == app.case_id)
                          .values(**self._state(app)))
        for table, people in ((members, app.members), (obligors, app.obligors)):
            for i, person in enumerate(people):
                self.conn.execute(update(table).where(and_(
                    table.c.case_id == app.case_id, table.c.position == i,
                )).values(authorisation_signed=person["authorisation_signed"]))

    def awaiting_materials(self, street_code: str | None, limit: int) -> list[dict]:
        """Applications still waiting for materials, oldest first (IN-6)."""
        query = (select(applications.c.case_id, applications.c.case_no, applications.c.program,
                        applications.c.street_code, applications.c.community,
                        applications.c.submitted_at)
                 .where(applications.c.status == AWAITING_MATERIALS)
                 .order_by(applications.c.submitted_at).limit(limit))
        if street_code:
            query = query.where(applications.c.street_code == street_code)
        return [dict(row._mapping) for row in self.conn.execute(query)]

    @staticmethod
    def _state(app: Application) -> dict:
        return {"status": app.status, "accepted_at": app.accepted_at,
                "materials_provided": app.materials_provided, "closed_at": app.closed_at,
                "closed_reason": app.closed_reason}

    def get(self, case_id: str, for_update: bool = False) -> Application | None:
        query = select(applications).where(applications.c.case_id == case_id)
        row = self.conn.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            return None
        people = self.conn.execute(select(members).where(members.c.case_id == case_id)
                                   .order_by(members.c.position)).all()
        household = [{k: getattr(p, k) for k in _PERSON} for p in people]
        applicant = next({k: h[k] for k in ("name", "id_number", "relationship")}
                         for h, p in zip(household, people) if p.is_applicant)
        support = [{**{k: getattr(o, k) for k in _PERSON}, "family_members": o.family_members}
                   for o in self.conn.execute(select(obligors).where(obligors.c.case_id == case_id)
                                              .order_by(obligors.c.position))]
        return Application(
            case_id=row.case_id, case_no=row.case_no, program=row.program,
            street_code=row.street_code, community=row.community, applicant=applicant,
            members=household, near_relative=row.near_relative, submitted_at=row.submitted_at,
            submitted_by=row.submitted_by, obligors=support, proxy=row.proxy,
            payment_account=row.payment_account, materials_provided=row.materials_provided,
            status=row.status, accepted_at=row.accepted_at, closed_at=row.closed_at,
            closed_reason=row.closed_reason,
        )

    def timeline(self, case_id: str) -> list[dict]:
        rows = self.conn.execute(select(timeline_entries)
                                 .where(timeline_entries.c.case_id == case_id)
                                 .order_by(timeline_entries.c.id)).all()
        return [{k: v for k, v in r._mapping.items() if k not in ("id", "case_id")}
                for r in rows]


def record_progress(uow, app: Application, *, action: str, actor: Actor | None,
                    rule_id: str | None, note: str | None = None, document_ids=()) -> None:
    """One step of the case: the ``case.progressed`` event and intake's own timeline entry."""
    closed = app.status == CLOSED
    timeline.progressed(uow, app, step=app.status, action=action, actor=actor, rule_id=rule_id,
                        note=note, document_ids=document_ids, closed=closed)
    uow.conn.execute(timeline_entries.insert().values(
        case_id=app.case_id, at=uow.now, step=app.status, action=action,
        actor_user=actor.user_id if actor else None, actor_role=actor.role if actor else None,
        rule_id=rule_id, note=note, document_ids=list(document_ids)))


def seed(conn, reference) -> None:
    """Load the district's streets; existing rows are left as an administrator edited them."""
    known = {r.code for r in conn.execute(select(streets.c.code))}
    rows = [{"code": s["code"], "name": s["name"], "abbr": s["abbr"]}
            for s in reference.streets() if s["code"] not in known]
    if rows:
        conn.execute(streets.insert(), rows)
