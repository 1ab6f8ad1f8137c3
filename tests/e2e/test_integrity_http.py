"""Tamper evidence over a whole case (SEC-16): after the README's walk-through, with the suite
running as processes on PostgreSQL, the operator command verifies the case's hash chain and
every document it reports in the issuing services' databases; an edited document is named."""

import importlib.util
import os
import subprocess
import sys

import sqlalchemy as sa

from hqcore.config import PROJECT_ROOT, Settings
from hqcore.db import make_engine
from tests.support.plugin import wait_until


def _walkthrough():
    spec = importlib.util.spec_from_file_location(
        "walkthrough", PROJECT_ROOT / "scripts" / "walkthrough.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _verify(suite, *args):
    return subprocess.run(
        [sys.executable, "-m", "hqops.cli", "integrity", "verify", *args],
        env={**os.environ, **suite.env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_SEC16_a_whole_case_verifies_and_an_edited_letter_is_named(suite):
    result = _walkthrough().Walkthrough(suite.url, out=lambda line: None).run()
    case_id = result["case_id"]
    wait_until(lambda: not suite.pending_work(), timeout=30, interval=0.2, message="all handled")

    whole = _verify(suite, "--case", case_id)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    [summary] = whole.stdout.splitlines()
    entries, documents = (int(n) for n in summary.split()[3:6:2])
    assert entries >= 10 and documents >= 3  # notice, letter, duty to report: all chained
    assert _verify(suite, "--all").returncode == 0

    view = suite.as_user("sgz-clerk").get(f"/api/v1/cases/{case_id}").json()
    letter = next(d for d in view["documents"] if d["document_id"].startswith("decision:"))
    engine = make_engine(Settings.from_env(suite.env).database_url("decision"))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE documents SET title = title || ' ' WHERE document_id = :id"),
                {"id": letter["document_id"]},
            )
    finally:
        engine.dispose()
    broken = _verify(suite, "--case", case_id)
    assert broken.returncode == 1
    assert broken.stdout.startswith(
        f"BROKEN case {case_id}: document {letter['document_id']} (reported by entry "
    )
    assert "content differs from the hash in the chain" in broken.stdout
