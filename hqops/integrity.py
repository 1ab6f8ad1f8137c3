"""``python -m hqops.cli integrity verify [--case CASE_ID | --all]``: tamper evidence (SEC-16).

Supervision keeps each case's timeline as a hash chain (``hqcore.timeline.chain_hash``): every
entry stores the previous entry's hash and its own over its canonical form, the chain head
stores the last one, and an entry that reports documents carries each one's content hash
(``hqcore.documents.content_hash``). This command walks the chain of one case or of every case
in supervision's database and checks each document in its issuing service's database against
the hash in the chain. It prints ``OK`` or, per case, the first broken link (the case, the
entry or document, what differs), and exits 1 when any link is broken.

It only reads: the operator repairs nothing through it. It reads the databases directly (not
through the services) because it must not trust the code paths whose data it checks.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from hqcore.config import SERVICES, Settings
from hqcore.db import make_engine, platform_tables
from hqcore.documents import Document
from hqcore.timeline import GENESIS, chain_hash
from services.supervision.adapters import timeline, timeline_heads, timeline_row
from services.supervision.domain import TimelineEntry, chain_fields

DOCUMENTS = platform_tables(sa.MetaData())["documents"]


@dataclass(frozen=True)
class Broken:
    """The first broken link of a case: which entry or document, and what differs."""

    case_id: str
    link: str
    what: str

    def line(self) -> str:
        return f"BROKEN case {self.case_id}: {self.link}: {self.what}"


@dataclass
class Report:
    cases: int = 0
    entries: int = 0
    documents: int = 0
    broken: list[Broken] = field(default_factory=list)


class UnknownCase(Exception):
    """``--case`` names a case supervision has no timeline of."""


def add_parser(sub: Any) -> None:
    """Register ``integrity verify`` on the operator tool's sub-commands."""
    cmd = sub.add_parser("integrity", help="verify the hash chain of the timeline and documents")
    cmd.add_argument("action", choices=("verify",))
    scope = cmd.add_mutually_exclusive_group(required=True)
    scope.add_argument("--case", dest="case_id", metavar="CASE_ID", help="one case")
    scope.add_argument("--all", action="store_true", help="every case")
    cmd.set_defaults(func=run, parser=cmd)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print ``OK …`` or each case's first broken link; 1 when broken or the case is unknown."""
    try:
        report = verify(settings, args.case_id)
    except UnknownCase as exc:
        print(f"error: integrity: {exc}")
        return 1
    for broken in report.broken:
        print(broken.line())
    summary = f"{report.cases} case(s), {report.entries} entries, {report.documents} documents"
    if report.broken:
        print(f"BROKEN: {len(report.broken)} of {summary}")
        return 1
    print(f"OK: {summary} verified")
    return 0


def verify(settings: Settings, case_id: str | None = None) -> Report:
    """Verify one case's chain (``case_id``) or every case's."""
    databases = _Databases(settings)
    try:
        with databases.connect("supervision") as conn:
            case_ids = [case_id] if case_id is not None else _every_case(conn)
            report = Report()
            for one in case_ids:
                entries, head = _chain(conn, one)
                if case_id is not None and not entries and head is None:
                    raise UnknownCase(f"supervision has no timeline of case {one}")
                report.cases += 1
                report.entries += len(entries)
                broken = _first_broken(one, entries, head, databases, report)
                if broken is not None:
                    report.broken.append(broken)
            return report
    finally:
        databases.dispose()


def _every_case(conn: sa.Connection) -> list[str]:
    ids = {row.case_id for row in conn.execute(select(timeline.c.case_id).distinct())}
    ids |= {row.case_id for row in conn.execute(select(timeline_heads.c.case_id))}
    return sorted(ids)


def _chain(conn: sa.Connection, case_id: str) -> tuple[list[TimelineEntry], Any]:
    rows = conn.execute(
        select(timeline)
        .where(timeline.c.case_id == case_id)
        .order_by(timeline.c.seq, timeline.c.id)
    ).all()
    head = conn.execute(select(timeline_heads).where(timeline_heads.c.case_id == case_id)).first()
    return [timeline_row(row) for row in rows], head


def _first_broken(
    case_id: str,
    entries: list[TimelineEntry],
    head: Any,
    databases: _Databases,
    report: Report,
) -> Broken | None:
    """Walk the chain from its start: each entry's place and links, then its documents."""
    prev_hash, seq = GENESIS, 0
    for entry in entries:
        seq += 1
        name = f"entry {entry.seq} (event {entry.event_id}, {entry.service} {entry.action})"
        if entry.seq != seq:
            return Broken(
                case_id,
                name,
                f"is at place {entry.seq} where {seq} was expected "
                "(an entry was removed or inserted)",
            )
        if entry.prev_hash != prev_hash:
            return Broken(
                case_id,
                name,
                f"prev_hash {entry.prev_hash} is not the hash of the entry before it ({prev_hash})",
            )
        recomputed = chain_hash(entry.prev_hash, chain_fields(entry))
        if recomputed != entry.hash:
            return Broken(
                case_id,
                name,
                f"content differs from its hash: stored {entry.hash}, recomputed {recomputed}",
            )
        for document_id, chained in sorted(entry.document_hashes.items()):
            report.documents += 1
            broken = _document(case_id, entry, document_id, chained, databases)
            if broken is not None:
                return broken
        prev_hash = entry.hash
    if head is None or (head.seq, head.hash) != (seq, prev_hash):
        named = "none" if head is None else f"entry {head.seq} with hash {head.hash}"
        return Broken(
            case_id,
            "chain head",
            f"names {named}, but the chain ends at entry "
            f"{seq} with hash {prev_hash} (an entry was removed or added)",
        )
    return None


def _document(
    case_id: str, entry: TimelineEntry, document_id: str, chained: str, databases: _Databases
) -> Broken | None:
    """A document against the content hash its timeline entry carries."""
    name = f"document {document_id} (reported by entry {entry.seq})"
    service = document_id.split(":", 1)[0]
    if service not in SERVICES:
        return Broken(case_id, name, "its id names no service")
    with databases.connect(service) as conn:
        row = conn.execute(select(DOCUMENTS).where(DOCUMENTS.c.document_id == document_id)).first()
    if row is None:
        return Broken(case_id, name, f"is missing from {service}'s documents")
    stored = Document(**row._mapping)
    recomputed = stored.recomputed_hash()
    if recomputed != chained:
        return Broken(
            case_id,
            name,
            f"content differs from the hash in the chain: chained "
            f"{chained}, recomputed {recomputed}",
        )
    if stored.content_hash != chained:
        return Broken(
            case_id,
            name,
            f"stored content_hash {stored.content_hash} differs from the chain's {chained}",
        )
    return None


class _Databases:
    """One engine per service database, opened when first needed."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._engines: dict[str, sa.Engine] = {}

    def connect(self, service: str) -> _Connection:
        if service not in self._engines:
            url = self._settings.database_url(service)
            # SQLite: a plain engine, so reading takes no write lock (the kit's engine begins
            # every transaction IMMEDIATE) and the services are not held up meanwhile.
            self._engines[service] = (
                sa.create_engine(url) if url.startswith("sqlite") else make_engine(url)
            )
        return _Connection(self._engines[service])

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()


class _Connection:
    """``with``: a read-only connection (nothing is committed)."""

    def __init__(self, engine: sa.Engine):
        self._engine = engine

    def __enter__(self) -> sa.Connection:
        self._conn = self._engine.connect()
        return self._conn

    def __exit__(self, *exc_info: object) -> None:
        self._conn.rollback()
        self._conn.close()
