"""Intake's tables and repositories: the streets and their case counters, and the cases
(applications, their household members and support obligors, and the members of open cases
that guard IN-3's one open case per person and program)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

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
    OpenCase,
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
# One row per person and program while a case of that program covering the person is open:
# the primary key makes the one-open-case rule hold however many requests race (SEC-1). Rows
# are claimed before the case is added, in its transaction, and go when the case closes.
open_case_members = sa.Table(
    "open_case_members",
    metadata,
    sa.Column("id_number", sa.String(18), primary_key=True),
    sa.Column("program", sa.String(20), primary_key=True),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
)
TABLES = {
    **platform_tables(metadata),
    "streets": streets,
    "applications": applications,
    "open_case_members": open_case_members,
}

# A conflicting claim whose holder closed before it could be named is claimed again; more
# than this many such races in one request would need a household closing and reopening
# cases in a loop.
_CLAIM_ATTEMPTS = 5


def insert_if_absent(conn: Any, table: sa.Table, **values: Any) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: whether the row was inserted. On PostgreSQL a
    conflicting row another transaction has not committed yet is waited for: kept if it
    commits, replaced by this one if it rolls back, so no request fails on a race."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = conn.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount == 1)


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
        if app.status not in OPEN_STATUSES:  # closed: a new application becomes possible
            self.conn.execute(
                delete(open_case_members).where(open_case_members.c.case_id == app.case_id)
            )
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

    def claim_household(self, case_id: str, program: str, id_numbers: list[str]) -> OpenCase | None:
        """Claim these people for the new open case ``case_id`` of ``program``, in this
        transaction; the open case already covering one of them (nothing is kept then: the
        caller refuses and the transaction rolls back). Claimed in one order (sorted) so that
        two households sharing members never wait on each other in a cycle."""
        wanted = sorted(set(id_numbers))
        for _ in range(_CLAIM_ATTEMPTS):
            taken = [
                number
                for number in wanted
                if not insert_if_absent(
                    self.conn,
                    open_case_members,
                    id_number=number,
                    program=program,
                    case_id=case_id,
                )
            ]
            if not taken:
                return None
            holder = self._holder(program, taken)
            if holder is not None:
                return holder
            wanted = taken  # its holder closed meanwhile: free again
        raise RuntimeError(f"could not claim the household for case {case_id}")

    def _holder(self, program: str, id_numbers: list[str]) -> OpenCase | None:
        row = self.conn.execute(
            select(applications.c.case_id, applications.c.case_no, applications.c.street_code)
            .join(open_case_members, open_case_members.c.case_id == applications.c.case_id)
            .where(
                and_(
                    open_case_members.c.program == program,
                    open_case_members.c.id_number.in_(id_numbers),
                )
            )
            .order_by(applications.c.case_no)
            .limit(1)
        ).first()
        return OpenCase(row.case_id, row.case_no, row.street_code) if row else None

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
        """The street's next case number in ``year``, gap-free: the counter row is created if
        absent (the year's first filings may race, SEC-2), then incremented, which holds its
        row lock until the filing commits; a filing that fails gives its number back."""
        insert_if_absent(
            self.conn, case_counters, street_code=street_code, year=year, last_sequence=0
        )
        sequence = self.conn.execute(
            update(case_counters)
            .where(and_(case_counters.c.street_code == street_code, case_counters.c.year == year))
            .values(last_sequence=case_counters.c.last_sequence + 1)
            .returning(case_counters.c.last_sequence)
        ).scalar_one()
        return int(sequence)


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
