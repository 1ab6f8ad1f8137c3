"""SEC-13: when the broker or a database fails, the operator tool exits non-zero with one clear
line (never "not declared" and exit 0, never a raw traceback), and a service that cannot start
says so as a JSON log line."""

import json
import os
import subprocess
import sys

import pytest

from hqops import cli


@pytest.fixture(autouse=True)
def var_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HQ_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HQ_DEMO", "1")


def one_line_error(capsys, argv) -> str:
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and "not declared" not in captured.out
    return lines[0]


def test_SEC13_dead_letters_list_with_the_broker_unreachable_fails_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("AMQP_URI", "amqp://guest:secret-password@127.0.0.1:1//")
    line = one_line_error(capsys, ["dead-letters", "list"])
    assert line.startswith("error: dead-letters: ") and "refused" in line.lower()
    assert "secret-password" not in line


def test_SEC13_dead_letters_replay_with_the_broker_unreachable_fails_in_one_line(
    monkeypatch, capsys
):
    monkeypatch.setenv("AMQP_URI", "amqp://guest:guest@127.0.0.1:1//")
    line = one_line_error(capsys, ["dead-letters", "replay", "hq.publicity.on_x.dead"])
    assert line.startswith("error: dead-letters: ")


def test_SEC13_migrate_with_an_unusable_database_fails_in_one_line(monkeypatch, capsys, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path}/a-file/intake.db")
    line = one_line_error(capsys, ["migrate", "intake"])
    assert line.startswith("error: migrate: ") and "a-file" in line


def test_SEC13_a_service_that_cannot_reach_the_broker_logs_json_and_exits_non_zero(tmp_path):
    env = {
        **os.environ,
        "AMQP_URI": "amqp://guest:guest@127.0.0.1:1//",
        "HQ_VAR_DIR": str(tmp_path / "var"),
        "HQ_DEMO": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hqcore.run", "intake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stderr.strip().splitlines()]  # each line JSON
    assert lines[-1]["level"] == "CRITICAL"
    assert lines[-1]["msg"].startswith("intake cannot run:")
