"""The operators' command-line tool (``python -m hqops.cli``), run in-process against nameko
containers on the real broker: each command acts through the services, and its effect is read
back through them (ops issue, item 5)."""

import dataclasses
import json
from datetime import datetime, timezone

import pytest

from hqcore.clock import get_clock
from hqcore.messaging.envelope import build_envelope
from hqcore.messaging.outbox import EventPublisher
from hqcore.messaging.subscriber import subscribe
from hqops import deadletters
from hqops.cli import main
from hqops.samples import actor_for, make_id_number, sample_application
from services.decision.service import DecisionService
from services.intake.service import IntakeService
from services.publicity.service import PublicityService
from services.verification.service import VerificationService
from tests.support.plugin import signed_rpc, wait_until

CLERK = actor_for("sgz-clerk")
OFFICER = actor_for("district-officer")


@pytest.fixture
def cli_env(monkeypatch, suite_env, tmp_path):
    """The operator's environment: the suite's broker, databases and clock, and a holiday
    file; returns the holiday file's path."""
    holiday_file = tmp_path / "config" / "holidays.json"
    holiday_file.parent.mkdir()
    holiday_file.write_text('{"years": {}}', encoding="utf-8")
    for name, value in {**suite_env, "HQ_HOLIDAY_FILE": str(holiday_file)}.items():
        monkeypatch.setenv(name, value)
    return holiday_file


@pytest.fixture
def proxy(settings):
    with signed_rpc(settings, timeout=15) as rpc:
        yield rpc


def _case(service, case_id):
    try:
        return service.get_case(actor=CLERK, case_id=case_id)
    except Exception:
        return None


def _submit(proxy, serial, street="shaogongzhuang"):
    application = sample_application(id_number=make_id_number(serial), street_code=street)
    return proxy.intake.submit_application(application=application, actor=CLERK)["case_id"]


def _ve1(proxy, case_id):
    view = wait_until(
        lambda: _case(proxy.verification, case_id), timeout=15, message="verification to open VE-1"
    )
    [deadline] = [d for d in view["deadlines"] if d["rule_id"] == "VE-1"]
    return deadline


# -- holidays ------------------------------------------------------------------------------


def test_holiday_year_loads_and_every_instance_recomputes_at_once(
    start_service, settings, cli_env, proxy, tmp_path, capsys
):
    # No deadline scan during the test: only the operator's broadcast can recompute.
    services_settings = dataclasses.replace(
        settings, holiday_file=cli_env, deadline_scan_interval=3600.0
    )
    # Wednesday 2026-12-30, 10:00 in Tianjin: VE-1 (3 WD) runs into 2027, a year without data.
    get_clock(settings).set(datetime(2026, 12, 30, 2, 0, tzinfo=timezone.utc))
    start_service(IntakeService, services_settings)
    start_service(VerificationService, services_settings)
    start_service(VerificationService, services_settings)  # a second instance

    first = _submit(proxy, 1)
    before = _ve1(proxy, first)
    assert before["provisional"] is True and before["due_date"] == "2027-01-04"

    schedule = tmp_path / "holidays-2027.json"
    schedule.write_text(
        json.dumps(
            {
                "years": {
                    "2027": {
                        "source": "State Council holiday schedule for 2027 (test data)",
                        "holidays": ["2027-01-01"],
                        "workdays": [],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    assert main(["holidays", "load", str(schedule), "--wait", "1.5"]) == 0
    out = capsys.readouterr().out

    installed = json.loads(cli_env.read_text(encoding="utf-8"))
    assert list(installed["years"]) == ["2027"]
    confirmations = [line.split()[:2] for line in out.splitlines() if ": reloaded;" in line]
    verification = {instance for service, instance in confirmations if service == "verification"}
    assert len(verification) == 2, out  # the broadcast reached both instances
    assert "intake" in {service for service, _ in confirmations}, out
    assert "verification: knows 2027" in out and "intake: knows 2027" in out

    # recomputed when the command returned, not at a later scan: 2027-01-01 is a holiday now
    after = proxy.verification.get_case(actor=CLERK, case_id=first)["deadlines"][0]
    assert after["provisional"] is False and after["due_date"] == "2027-01-05"
    # and a deadline opened from now on uses the new year's schedule
    assert _ve1(proxy, _submit(proxy, 2)) | {"id": None, "started_at": None} == after | {
        "id": None,
        "started_at": None,
    }

    assert main(["holidays", "show", "2027"]) == 0
    shown = capsys.readouterr().out
    assert "2027: State Council holiday schedule for 2027 (test data)" in shown
    assert "holidays (Monday to Friday): 2027-01-01" in shown


def test_holiday_load_refuses_to_overwrite_a_year_without_replace(cli_env, tmp_path, capsys):
    cli_env.write_text(
        json.dumps(
            {"years": {"2027": {"source": "first", "holidays": ["2027-01-01"], "workdays": []}}}
        ),
        encoding="utf-8",
    )
    other = tmp_path / "other.json"
    other.write_text(
        json.dumps(
            {
                "years": {
                    "2027": {
                        "source": "second",
                        "holidays": ["2027-01-01", "2027-02-08"],
                        "workdays": [],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as stop:
        main(["holidays", "load", str(other), "--no-reload"])
    assert stop.value.code == 2
    assert "argument --replace" in capsys.readouterr().err
    assert json.loads(cli_env.read_text())["years"]["2027"]["source"] == "first"

    assert main(["holidays", "load", str(other), "--no-reload", "--replace"]) == 0
    assert json.loads(cli_env.read_text())["years"]["2027"]["source"] == "second"


# -- delegation ----------------------------------------------------------------------------


def test_delegation_set_decides_the_route_of_cases_accepted_afterwards(
    start_service, settings, cli_env, proxy, capsys
):
    get_clock(settings).set(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    start_service(IntakeService)
    start_service(DecisionService)

    assert main(["delegation", "set", "shaogongzhuang", "none"]) == 0
    assert "not delegated" in capsys.readouterr().out

    def authority(case_id):
        view = wait_until(
            lambda: _case(proxy.decision, case_id),
            timeout=15,
            message="decision to record the case",
        )
        return view["details"]["deciding_authority"]

    assert authority(_submit(proxy, 12)) == "district"
    assert main(["delegation", "set", "shaogongzhuang", "2026-03-02"]) == 0
    assert authority(_submit(proxy, 13)) == "street"

    assert main(["delegation", "set", "nowhere", "2026-03-02"]) == 1
    assert "unknown_street" in capsys.readouterr().err
    # a street's own staff may not change it: the service refuses the actor
    assert main(["delegation", "set", "shaogongzhuang", "none", "--as", "sgz-clerk"]) == 1
    assert "wrong_role" in capsys.readouterr().err
    assert authority(_submit(proxy, 14)) == "street"


# -- policy tables -------------------------------------------------------------------------


def _rows(service, key):
    return [
        (r["valid_from"], r["valid_to"], r["value"])
        for r in service.list_policy_rates(actor=OFFICER, key=key)["rows"]
    ]


def test_policy_add_closes_the_open_row_and_refuses_an_overlap(
    start_service, settings, cli_env, proxy, capsys
):
    get_clock(settings).set(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    start_service(DecisionService)
    start_service(VerificationService)
    seeded = _rows(proxy.decision, "dibao_standard")
    assert seeded[-1] == ("2025-09-01", None, 104500)

    add = [
        "policy",
        "add",
        "--service",
        "all",
        "--key",
        "dibao_standard",
        "--value",
        "110000",
        "--unit",
        "fen_per_person_month",
        "--from",
        "2026-07-01",
        "--source",
        "a new city notice (test)",
    ]
    assert main(add) == 0
    out = capsys.readouterr().out
    assert "decision: closed dibao_standard 2025-09-01..2026-06-30" in out
    assert "verification: added dibao_standard 2026-07-01.. = 110000" in out
    for service in (proxy.decision, proxy.verification):
        assert _rows(service, "dibao_standard") == seeded[:-1] + [
            ("2025-09-01", "2026-06-30", 104500),
            ("2026-07-01", None, 110000),
        ]

    assert main(add) == 0  # the same row again: answered as held, nothing changes
    assert "decision: already holds" in capsys.readouterr().out
    assert len(_rows(proxy.decision, "dibao_standard")) == len(seeded) + 1

    overlap = [
        "policy",
        "add",
        "--service",
        "decision",
        "--key",
        "dibao_standard",
        "--value",
        "108000",
        "--unit",
        "fen_per_person_month",
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-30",
        "--source",
        "an overlapping row",
    ]
    assert main(overlap) == 1
    assert "policy_overlap" in capsys.readouterr().err
    assert (
        main(
            [
                "policy",
                "add",
                "--service",
                "decision",
                "--key",
                "dibao_standard",
                "--value",
                "110000",
                "--unit",
                "fen_per_household_month",
                "--from",
                "2026-08-01",
                "--source",
                "a row in the wrong unit",
            ]
        )
        == 1
    )
    assert "unit_mismatch" in capsys.readouterr().err
    assert (
        main(
            [
                "policy",
                "add",
                "--service",
                "verification",
                "--key",
                "no_such_key",
                "--value",
                "1",
                "--unit",
                "fen",
                "--from",
                "2026-01-01",
                "--source",
                "nothing",
            ]
        )
        == 1
    )
    assert "unknown_policy_key" in capsys.readouterr().err
    assert _rows(proxy.decision, "dibao_standard")[-1] == ("2026-07-01", None, 110000)

    assert main(["policy", "list", "--service", "verification", "--key", "dibao_standard"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "verification (in force on 2026-03-02 marked *):"
    assert [line[:4] for line in listed[1:]].count("  * ") == 1
    assert "* dibao_standard 2025-09-01..2026-06-30 = 104500" in "\n".join(listed)


# -- dead letters --------------------------------------------------------------------------


def _accepted_envelope(settings, case_id):
    now = get_clock(settings).now()
    person = {"name": "李桂兰", "id_number": make_id_number(21), "relationship": "self"}
    return build_envelope(
        event_type="application.accepted",
        version=1,
        occurred_at=now,
        case_id=case_id,
        street_code="shaogongzhuang",
        correlation_id="test",
        acting_user="clerk",
        source="intake",
        payload={
            "case_id": case_id,
            "case_no": "SGZ-2026-00021",
            "program": "dibao",
            "street_code": "shaogongzhuang",
            "community": "前园社区",
            "applicant": person,
            "members": [person],
            "near_relative": False,
            "accepted_at": now,
        },
    )


class FailingPublicity(PublicityService):
    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        raise RuntimeError("simulated failure")


def test_dead_letters_list_and_replay_to_the_fixed_handler(
    start_service, settings, cli_env, broker, proxy, capsys
):
    failing = start_service(FailingPublicity)
    publisher = EventPublisher(settings.amqp_uri)
    publisher.publish(_accepted_envelope(settings, "case-21"))
    publisher.close()
    queue = "hq.publicity.on_application_accepted.dead"
    wait_until(
        lambda: deadletters.depth(broker, queue) == 1,
        timeout=15,
        message="the event to be dead-lettered",
    )

    assert main(["dead-letters", "list", "publicity"]) == 0
    out = capsys.readouterr().out
    assert f"{queue}: 1" in out and "reason=handler_failed" in out
    assert "simulated failure" in out

    failing.stop()
    start_service(PublicityService)
    assert main(["dead-letters", "replay", queue]) == 0
    assert f"{queue}: 1 replayed" in capsys.readouterr().out
    view = wait_until(
        lambda: _case(proxy.publicity, "case-21"),
        timeout=15,
        message="publicity to apply the replayed event",
    )
    assert view["case_id"] == "case-21"
    assert deadletters.depth(broker, queue) == 0
