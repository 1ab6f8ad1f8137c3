"""Intake's tables and repositories: the streets and their case counters, and the cases
(applications, their household members and support obligors)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, select, update

from hqcore.case_records import save_versioned
from hqcore.db import UtcDateTime, platform_tables
from services.intake.domain import (
    ACCEPTED,
    AWAITING_MATERIALS,
    CLOSED,
    OPEN_STATUSES,
    Application,
    Member,
    Obligor,
    PaymentAccount,
    Person,
    Proxy,
    Street,
)

metadata = sa.MetaData()

streets = sa.Table(
    "streets",
    metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("abbr", sa.String(8), nullable=False, unique=True),
)
applications = sa.Table(
    "applications",
    metadata,
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
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
)
members = sa.Table(
    "members",
    metadata,
    sa.Column("case_id", sa.String(64), sa.ForeignKey("applications.case_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("id_number", sa.String(18), nullable=False, index=True),
    sa.Column("relationship", sa.String(20), nullable=False),
    sa.Column("is_applicant", sa.Boolean, nullable=False),
    sa.Column("authorisation_signed", sa.Boolean, nullable=False),
)
obligors = sa.Table(
    "obligors",
    metadata,
    sa.Column("case_id", sa.String(64), sa.ForeignKey("applications.case_id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("id_number", sa.String(18), nullable=False),
    sa.Column("relationship", sa.String(20), nullable=False),
    sa.Column("family_members", sa.JSON, nullable=False),
    sa.Column("authorisation_signed", sa.Boolean, nullable=False),
)
case_counters = sa.Table(
    "case_counters",
    metadata,
    sa.Column("street_code", sa.String(40), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("last_sequence", sa.Integer, nullable=False),
)
TABLES = {**platform_tables(metadata), "streets": streets, "applications": applications}


class ApplicationRecords:
    """``uow.cases``: intake's cases in its own tables, with the contract of
    ``hqcore.case_records.CaseRecords``: ``get(case_id, lock=...)`` (the row lock on
    PostgreSQL), ``add``, and ``save`` only from the version the case was read in."""

    def __init__(self, conn: Any):
        self.conn = conn

    def get(self, case_id: str, *, lock: bool = False) -> Application | None:
        query = select(applications).where(applications.c.case_id == case_id)
        row = self.conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            return None
        people = self.conn.execute(
            select(members).where(members.c.case_id == case_id).order_by(members.c.position)
        ).all()
        household = [
            Member(p.name, p.id_number, p.relationship, p.authorisation_signed) for p in people
        ]
        applicant = next(
            Person(p.name, p.id_number, p.relationship) for p in people if p.is_applicant
        )
        support = [
            Obligor(
                o.name,
                o.id_number,
                o.relationship,
                o.authorisation_signed,
                [
                    Person(f["name"], f["id_number"], f["relationship"])
                    for f in o.family_members or []
                ],
            )
            for o in self.conn.execute(
                select(obligors).where(obligors.c.case_id == case_id).order_by(obligors.c.position)
            )
        ]
        return Application(
            case_id=row.case_id,
            case_no=row.case_no,
            program=row.program,
            street_code=row.street_code,
            status=row.status,
            since=_since(row),
            version=row.version,
            community=row.community,
            applicant=applicant,
            members=household,
            near_relative=row.near_relative,
            submitted_at=row.submitted_at,
            submitted_by=row.submitted_by,
            obligors=support,
            proxy=Proxy(row.proxy["kind"], row.proxy["name"]) if row.proxy else None,
            payment_account=PaymentAccount(
                row.payment_account["bank"],
                row.payment_account["account_number"],
                row.payment_account["holder"],
            )
            if row.payment_account
            else None,
            materials_provided=list(row.materials_provided),
            accepted_at=row.accepted_at,
            closed_at=row.closed_at,
            closed_reason=row.closed_reason,
        )

    def add(self, app: Application) -> None:
        self.conn.execute(
            applications.insert().values(
                case_id=app.case_id,
                case_no=app.case_no,
                program=app.program,
                street_code=app.street_code,
                community=app.community,
                near_relative=app.near_relative,
                submitted_at=app.submitted_at,
                submitted_by=app.submitted_by,
                proxy={"kind": app.proxy.kind, "name": app.proxy.name} if app.proxy else None,
                payment_account={
                    "bank": app.payment_account.bank,
                    "account_number": app.payment_account.account_number,
                    "holder": app.payment_account.holder,
                }
                if app.payment_account
                else None,
                version=app.version,
                **_state(app),
            )
        )
        self.conn.execute(
            members.insert(),
            [
                {
                    "case_id": app.case_id,
                    "position": i,
                    "name": m.name,
                    "id_number": m.id_number,
                    "relationship": m.relationship,
                    "authorisation_signed": m.authorisation_signed,
                    "is_applicant": m.id_number == app.applicant.id_number,
                }
                for i, m in enumerate(app.members)
            ],
        )
        if app.obligors:
            self.conn.execute(
                obligors.insert(),
                [
                    {
                        "case_id": app.case_id,
                        "position": i,
                        "name": o.name,
                        "id_number": o.id_number,
                        "relationship": o.relationship,
                        "authorisation_signed": o.authorisation_signed,
                        "family_members": [
                            {
                                "name": f.name,
                                "id_number": f.id_number,
                                "relationship": f.relationship,
                            }
                            for f in o.family_members
                        ],
                    }
                    for i, o in enumerate(app.obligors)
                ],
            )

    def save(self, app: Application) -> None:
        """Store the case's state, materials and who has signed an authorisation, from the
        version it was read in (409 ``concurrent_update`` otherwise), and count the save."""
        save_versioned(self.conn, applications, app, **_state(app))
        for table, signed in (
            (members, [m.authorisation_signed for m in app.members]),
            (obligors, [o.authorisation_signed for o in app.obligors]),
        ):
            for i, flag in enumerate(signed):
                self.conn.execute(
                    update(table)
                    .where(
                        and_(
                            table.c.case_id == app.case_id,
                            table.c.position == i,
                        )
                    )
                    .values(authorisation_signed=flag)
                )

    def open_case_no_for(self, program: str, id_numbers: list[str]) -> str | None:
        """The number of an open case of ``program`` covering one of these people."""
        row = self.conn.execute(
            select(applications.c.case_no)
            .join(members, members.c.case_id == applications.c.case_id)
            .where(
                and_(
                    applications.c.program == program,
                    applications.c.status.in_(OPEN_STATUSES),
                    members.c.id_number.in_(id_numbers),
                )
            )
            .limit(1)
        ).first()
        return row.case_no if row else None

    def awaiting_materials(self, street_code: str | None, limit: int) -> list[dict[str, Any]]:
        """Applications still waiting for materials, oldest first (IN-6)."""
        query = (
            select(
                applications.c.case_id,
                applications.c.case_no,
                applications.c.program,
                applications.c.street_code,
                applications.c.community,
                applications.c.submitted_at,
            )
            .where(applications.c.status == AWAITING_MATERIALS)
            .order_by(applications.c.submitted_at)
            .limit(limit)
        )
        if street_code:
            query = query.where(applications.c.street_code == street_code)
        return [dict(row._mapping) for row in self.conn.execute(query)]


class StreetRegister:
    """``uow.streets``: the district's streets and each street's yearly case counter."""

    def __init__(self, conn: Any):
        self.conn = conn

    def get(self, code: str) -> Street | None:
        row = self.conn.execute(select(streets).where(streets.c.code == code)).first()
        return Street(row.code, row.name, row.abbr) if row else None

    def next_sequence(self, street_code: str, year: int) -> int:
        """The street's next case number in ``year``; the row lock serialises instances."""
        row = self.conn.execute(
            select(case_counters.c.last_sequence)
            .where(and_(case_counters.c.street_code == street_code, case_counters.c.year == year))
            .with_for_update()
        ).first()
        if row is None:
            self.conn.execute(
                case_counters.insert().values(street_code=street_code, year=year, last_sequence=1)
            )
            return 1
        self.conn.execute(
            update(case_counters)
            .where(
                and_(
                    case_counters.c.street_code == street_code,
                    case_counters.c.year == year,
                )
            )
            .values(last_sequence=row.last_sequence + 1)
        )
        return int(row.last_sequence) + 1


def _state(app: Application) -> dict[str, Any]:
    return {
        "status": app.status,
        "accepted_at": app.accepted_at,
        "materials_provided": list(app.materials_provided),
        "closed_at": app.closed_at,
        "closed_reason": app.closed_reason,
    }


def _since(row: Any) -> Any:
    """Since when the case is in its state: intake's table records each state's instant."""
    if row.status == CLOSED and row.closed_at is not None:
        return row.closed_at
    if row.status == ACCEPTED and row.accepted_at is not None:
        return row.accepted_at
    return row.submitted_at


def seed(conn: Any, reference: Any) -> None:
    """Load the district's streets; existing rows are left as an administrator edited them."""
    known = {r.code for r in conn.execute(select(streets.c.code))}
    rows = [
        {"code": s["code"], "name": s["name"], "abbr": s["abbr"]}
        for s in reference.streets()
        if s["code"] not in known
    ]
    if rows:
        conn.execute(streets.insert(), rows)


# ``uow.<name>`` for each unit of work (``hqcore.providers.UnitOfWorkProvider``).
REPOSITORIES = {"cases": ApplicationRecords, "streets": StreetRegister}
