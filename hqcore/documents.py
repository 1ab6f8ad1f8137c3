"""Written notices and decision letters (ORG-7): rendered from Chinese templates, stored in the
case file with their issue and service dates, downloadable.

Each service keeps the documents it issues in its own ``documents`` table; a document id starts
with the issuing service's name (``decision:…``) so the gateway knows whom to ask.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import and_, select, update

from hqcore.clock import CHINA_TZ
from hqcore.db import UtcDateTime

if TYPE_CHECKING:
    from hqcore.migrations import SchemaOperations


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
        """A document ``service`` issues now (its id drawn unless the step drew one)."""
        return cls(
            document_id or new_document_id(service),
            case_id,
            kind,
            title,
            html,
            issued_at,
            served_at,
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
