"""Written notices and decision letters (ORG-7): rendered from Chinese templates, stored in the
case file with their issue and service dates, downloadable.

Each service keeps the documents it issues in its own ``documents`` table; a document id starts
with the issuing service's name (``decision:…``) so the gateway knows whom to ask.

Tamper evidence (SEC-16): a document is stored with its ``content_hash`` (``content_hash``:
sha256 over what was issued: id, case, kind, title, HTML and issue instant; not the service
date, which is recorded later), and the timeline entry reporting it carries the same hash, so
supervision's hash chain covers the case's documents too.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import and_, select, update

from hqcore.clock import CHINA_TZ
from hqcore.db import UtcDateTime
from hqcore.timeline import canonical

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from alembic.operations import BatchOperations

    from hqcore.migrations import SchemaOperations


class _Migrating(Protocol):
    """What ``add_document_hash_v2`` uses of alembic's ``op``."""

    def batch_alter_table(self, table_name: str) -> AbstractContextManager[BatchOperations]: ...

    def get_bind(self) -> sa.Connection: ...


def create_documents_v1(op: SchemaOperations) -> None:
    """The documents table as first released (table definition: ``hqcore.db``)."""
    op.create_table(
        "documents",
        sa.Column("document_id", sa.String(80), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("served_at", UtcDateTime, nullable=True),
    )


def add_document_hash_v2(op: _Migrating) -> None:
    """The ``content_hash`` column (SEC-16), filled in for the documents already stored."""
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(64), nullable=True))
    documents = sa.table(
        "documents",
        sa.column("document_id"),
        sa.column("case_id"),
        sa.column("kind"),
        sa.column("title"),
        sa.column("html"),
        sa.column("issued_at", UtcDateTime),
        sa.column("content_hash"),
    )
    conn = op.get_bind()
    for row in conn.execute(sa.select(documents)).all():
        conn.execute(
            update(documents)
            .where(documents.c.document_id == row.document_id)
            .values(
                content_hash=content_hash(
                    row.document_id, row.case_id, row.kind, row.title, row.html, row.issued_at
                )
            )
        )


def content_hash(
    document_id: str, case_id: str, kind: str, title: str, html: str, issued_at: datetime
) -> str:
    """sha256 over a document as issued (frozen: stored hashes depend on it)."""
    issued = canonical(
        {
            "document_id": document_id,
            "case_id": case_id,
            "kind": kind,
            "title": title,
            "html": html,
            "issued_at": issued_at,
        }
    )
    return hashlib.sha256(issued.encode("utf-8")).hexdigest()


class DocumentRef(TypedDict):
    """A document as listed (the contract ``DocumentRefSchema``)."""

    document_id: str
    kind: str
    title: str
    issued_at: datetime
    served_at: datetime | None


@dataclass(frozen=True)
class Document:
    document_id: str
    case_id: str
    kind: str
    title: str
    html: str
    issued_at: datetime
    served_at: datetime | None
    content_hash: str | None = None  # None only for a row stored before SEC-16's migration

    @classmethod
    def new(
        cls,
        service: str,
        case_id: str,
        kind: str,
        title: str,
        html: str,
        issued_at: datetime,
        served_at: datetime | None = None,
        document_id: str | None = None,
    ) -> Document:
        """A document ``service`` issues now (its id drawn unless the step drew one), with its
        content hash."""
        chosen = document_id or new_document_id(service)
        return cls(
            chosen,
            case_id,
            kind,
            title,
            html,
            issued_at,
            served_at,
            content_hash(chosen, case_id, kind, title, html, issued_at),
        )

    def recomputed_hash(self) -> str:
        """The content hash of the document as it is now (differs if a stored row was
        edited)."""
        return content_hash(
            self.document_id, self.case_id, self.kind, self.title, self.html, self.issued_at
        )

    def ref(self) -> DocumentRef:
        return {
            "document_id": self.document_id,
            "kind": self.kind,
            "title": self.title,
            "issued_at": self.issued_at,
            "served_at": self.served_at,
        }


def _date_zh(value: datetime) -> str:
    local = value.astimezone(CHINA_TZ)
    return f"{local.year}年{local.month}月{local.day}日"


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


class Templates:
    """Jinja2 templates of one service, HTML-escaped, failing on any missing value."""

    def __init__(self, folder: Path):
        self.env = Environment(
            loader=FileSystemLoader(str(folder)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"]),
        )
        self.env.filters["date_zh"] = _date_zh
        self.env.filters["yuan"] = _yuan

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)


def new_document_id(service: str) -> str:
    """A document's id: the issuing service, then a random part (the gateway routes by it)."""
    return f"{service}:{uuid.uuid4()}"


class DocumentStore:
    def __init__(self, conn: sa.Connection, table: sa.Table, service: str):
        self._conn, self._table, self._service = conn, table, service

    def issue(
        self,
        case_id: str,
        kind: str,
        title: str,
        html: str,
        issued_at: datetime,
        served_at: datetime | None = None,
        document_id: str | None = None,
    ) -> Document:
        document = Document.new(
            self._service, case_id, kind, title, html, issued_at, served_at, document_id
        )
        self._conn.execute(self._table.insert().values(**asdict(document)))
        return document

    def mark_served(self, document_id: str, served_at: datetime) -> None:
        self._conn.execute(
            update(self._table)
            .where(
                and_(
                    self._table.c.document_id == document_id,
                    self._table.c.served_at.is_(None),
                )
            )
            .values(served_at=served_at)
        )

    def get(self, document_id: str) -> Document | None:
        row = self._conn.execute(
            select(self._table).where(self._table.c.document_id == document_id)
        ).first()
        return Document(**row._mapping) if row else None

    def for_case(self, case_id: str) -> list[Document]:
        rows = self._conn.execute(
            select(self._table)
            .where(self._table.c.case_id == case_id)
            .order_by(self._table.c.issued_at)
        ).all()
        return [Document(**r._mapping) for r in rows]
