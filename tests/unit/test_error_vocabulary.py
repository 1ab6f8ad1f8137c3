"""One error vocabulary: docs/errors.md lists every code the suite can answer with.

The source of ``services/``, ``hqcore/`` and ``gateway/`` is read with ``ast`` (not imported, so a
module that does not import today is still read): every ``DomainError`` subclass with its
class-level ``code`` and ``http_status``, and every ``code="…"`` given to an error.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway import app as gateway_app
from hqcore import errors

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"
SOURCES = ("services", "hqcore", "gateway")

# Where the source still breaks the rules of docs/errors.md, and what fixes it. An entry is
# (file, code); the test fails when an entry no longer matches anything: delete it then.
KNOWN_DRIFT: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Row:
    code: str
    status: int | None
    cls: str | None


def documented() -> dict[str, Row]:
    """The table of docs/errors.md: ``| `code` | status | `Class` | …``."""
    rows: dict[str, Row] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([a-z_]+)`\s*\|([^|]*)\|([^|]*)\|", line)
        if not match:
            continue
        code, status, cls = (part.strip() for part in match.groups())
        assert code not in rows, f"docs/errors.md lists {code} twice"
        rows[code] = Row(
            code,
            int(status) if status.isdigit() else None,
            cls.strip("`") if cls.startswith("`") else None,
        )
    return rows


def source_files() -> list[Path]:
    return sorted(path for folder in SOURCES for path in (ROOT / folder).rglob("*.py"))


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _constant(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


@dataclass(frozen=True)
class ErrorClass:
    name: str
    code: str
    http_status: int
    where: str


def error_classes(trees: dict[str, ast.Module]) -> dict[str, ErrorClass]:
    """Every ``DomainError`` subclass: those of ``hqcore.errors`` as imported, then every class
    in the source deriving from one of them, with its own or inherited code and status."""
    known = {
        cls.__name__: ErrorClass(cls.__name__, cls.code, cls.http_status, "hqcore/errors.py")
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DomainError)
    }
    pending = [
        (path, node)
        for path, tree in trees.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name not in known
    ]
    grew = True
    while grew:
        grew = False
        for path, node in list(pending):
            bases = [known[b] for b in map(_name, node.bases) if b in known]
            if not bases:
                continue
            code, status = bases[0].code, bases[0].http_status
            for statement in node.body:
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                    target = _name(statement.targets[0])
                    if target == "code" and _constant(statement.value):
                        code = _constant(statement.value)
                    elif target == "http_status" and isinstance(statement.value, ast.Constant):
                        status = statement.value.value
            known[node.name] = ErrorClass(node.name, code, status, f"{path}:{node.lineno}")
            pending.remove((path, node))
            grew = True
    return known


@dataclass(frozen=True)
class Raised:
    """An error built with ``code="…"`` (``cls`` None when the callee is not an error class),
    or a ``NotFound`` on ``case_id`` with no code of its own."""

    code: str
    cls: str | None
    path: str
    line: int
    field: str | None
    details_keys: frozenset[str] | None
    has_field: bool


def raised(trees: dict[str, ast.Module], classes: dict[str, ErrorClass]) -> list[Raised]:
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
            callee = _name(node.func)
            cls = callee if callee in classes else None
            code = _constant(keywords.get("code"))
            if code is None and cls is not None and "code" not in keywords:
                if _constant(keywords.get("field")) == "case_id" and cls == "NotFound":
                    code = classes[cls].code  # the default: not_found
                else:
                    continue
            if code is None:
                continue
            details = keywords.get("details")
            found.append(
                Raised(
                    code,
                    cls,
                    path,
                    node.lineno,
                    _constant(keywords.get("field")),
                    frozenset(_constant(k) for k in details.keys)
                    if isinstance(details, ast.Dict)
                    else None,
                    "field" in keywords,
                )
            )
    return found


@pytest.fixture(scope="module")
def trees() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"))
        for path in source_files()
    }


@pytest.fixture(scope="module")
def classes(trees) -> dict[str, ErrorClass]:
    return error_classes(trees)


@pytest.fixture(scope="module")
def uses(trees, classes) -> list[Raised]:
    return raised(trees, classes)


def test_the_doc_has_a_table_of_codes():
    rows = documented()
    assert len(rows) > 40
    assert rows["case_not_found"] == Row("case_not_found", 404, "CaseNotFound")
    assert rows["invalid_state"] == Row("invalid_state", 409, "InvalidState")


def test_every_error_class_has_its_code_documented_with_its_status(classes):
    rows = documented()
    assert {"DomainError", "CaseNotFound", "InvalidState", "ContractError"} <= set(classes)
    for cls in classes.values():
        assert cls.code in rows, f"{cls.name} ({cls.where}): add {cls.code} to docs/errors.md"
        row = rows[cls.code]
        assert row.status == cls.http_status, (
            f"docs/errors.md gives {cls.code} HTTP {row.status}; {cls.name} answers "
            f"{cls.http_status}"
        )
        assert row.cls == cls.name, f"docs/errors.md names {row.cls} for {cls.code}, not {cls.name}"


def test_every_code_given_in_the_source_is_documented(uses):
    rows = documented()
    assert len({use.code for use in uses}) > 30
    missing = sorted(
        {f"{use.code} ({use.path}:{use.line})" for use in uses if use.code not in rows}
    )
    assert not missing, f"add to docs/errors.md: {', '.join(missing)}"


def test_the_gateways_http_codes_are_documented():
    rows = documented()
    for status, code in gateway_app.HTTP_CODES.items():
        assert rows[code].status == status
        assert rows[code].cls is None or status == 404
    assert rows[gateway_app.OTHER_HTTP_CODE].status is None


def test_no_code_is_documented_that_nothing_answers_with(classes, uses):
    answered = (
        {cls.code for cls in classes.values()}
        | {use.code for use in uses}
        | set(gateway_app.HTTP_CODES.values())
        | {gateway_app.OTHER_HTTP_CODE}
    )
    stale = sorted(set(documented()) - answered)
    assert not stale, f"nothing answers with {', '.join(stale)}: remove from docs/errors.md"


def drift(uses: list[Raised], classes: dict[str, ErrorClass]) -> dict[tuple[str, str], list[str]]:
    """Every use breaking a rule of docs/errors.md, by (file, code)."""
    rows = documented()
    found: dict[tuple[str, str], list[str]] = {}

    def add(use: Raised, why: str) -> None:
        found.setdefault((use.path, use.code), []).append(f"{use.path}:{use.line}: {why}")

    for use in uses:
        row = rows.get(use.code)
        if row is None:
            continue  # test_every_code_given_in_the_source_is_documented says so
        if (
            use.cls is not None
            and row.status is not None
            and classes[use.cls].http_status != row.status
        ):
            add(
                use,
                f"{use.code} raised as {use.cls} ({classes[use.cls].http_status}); "
                f"docs/errors.md says {row.status} {row.cls}",
            )
        if use.code == "not_found" and use.field == "case_id":
            add(use, "a missing case answers not_found: raise CaseNotFound(case_id, service)")
        if use.code in ("case_not_found", "invalid_state") and use.field != "case_id":
            add(use, f"{use.code} names field {use.field!r}, not 'case_id'")
        if use.code == "invalid_state" and not (
            use.details_keys is not None and {"status", "allowed"} <= use.details_keys
        ):
            add(
                use,
                "invalid_state without details status and allowed: raise "
                "InvalidState(step, status, allowed)",
            )
    return found


def test_missing_cases_and_wrong_states_answer_the_one_way(uses, classes):
    found = drift(uses, classes)
    new = {key: why for key, why in found.items() if key not in KNOWN_DRIFT}
    assert not new, "\n".join(line for lines in new.values() for line in lines)
    fixed = sorted(f"{path} {code}" for path, code in KNOWN_DRIFT if (path, code) not in found)
    assert not fixed, f"fixed, so delete from KNOWN_DRIFT: {', '.join(fixed)}"
