"""The operators' command-line tool without a broker: wrong arguments end with exit status 2
and a message naming the argument, before anything is sent; the holiday file is validated
and merged; the policy-table rule (close the open row, refuse an overlap) on SQLite."""

import json
from datetime import date

import pytest
import sqlalchemy as sa

from hqcore.errors import Conflict, NotFound, ValidationFailed
from hqcore.policy_tables import policy_rates_table
from hqcore.service_kit import add_policy_row
from hqops import cli


@pytest.fixture(autouse=True)
def no_broker(monkeypatch, tmp_path):
    """Nothing here may reach a broker: an unroutable AMQP URI and a fresh var dir."""
    monkeypatch.setenv("AMQP_URI", "amqp://guest:guest@127.0.0.1:1//")
    monkeypatch.setenv("HQ_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HQ_REQUEST_KEY", "r" * 32)  # signs the operator's calls (SEC-14)
    monkeypatch.delenv("HQ_HOLIDAY_FILE", raising=False)
    monkeypatch.delenv("HQ_ACCOUNTS_FILE", raising=False)


def usage_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


POLICY = [
    "policy",
    "add",
    "--service",
    "decision",
    "--key",
    "dibao_standard",
    "--value",
    "110000",
    "--unit",
    "fen_per_person_month",
    "--from",
    "2026-07-01",
    "--source",
    "a notice",
]


@pytest.mark.parametrize(
    "argv, argument, message",
    [
        (["policy", "add", "--key", "k"], "--service", "required"),
        (["policy", "add", "--service", "payments"], "--service", "invalid choice"),
        (POLICY[:7] + ["-5"] + POLICY[8:], "--value", "must not be negative"),
        (POLICY[:7] + ["12.5"] + POLICY[8:], "--value", "not a whole number"),
        (POLICY[:11] + ["2026-02-30"] + POLICY[12:], "--from", "not an ISO date"),
        (POLICY + ["--to", "2026-06-30"], "--to", "is before --from 2026-07-01"),
        (POLICY[:-2], "--source", "is required for policy add"),
        (POLICY + ["--as", "nobody"], "--as", "no account 'nobody'"),
        (
            ["policy", "list", "--service", "decision", "--value", "1"],
            "--key",
            "policy list takes only --service and --key",
        ),
        (["delegation", "set", "shaogongzhuang", "1 May"], "DATE|none", "not an ISO date"),
        (["delegation", "set", "shaogongzhuang"], "DATE|none", "required"),
        (["holidays", "load"], "FILE", "needs the administrator's holiday file"),
        (["holidays", "load", "x.json", "--year", "1999"], "--year", "not a year between"),
        (["holidays", "load", "x.json", "--wait", "0"], "--wait", "more than 0"),
        (["holidays", "show", "next"], "YEAR", "not a whole number"),
        (["migrate", "billing"], "service", "invalid choice"),
        (["dead-letters", "replay"], "target", "needs a queue"),
        (
            ["dead-letters", "replay", "hq.publicity.on_application_accepted"],
            "target",
            "is not a dead-letter queue",
        ),
        (["dead-letters", "list", "--limit", "0"], "--limit", "must be at least 1"),
    ],
)
def test_a_wrong_argument_exits_2_naming_it(capsys, argv, argument, message):
    err = usage_error(capsys, argv)
    assert (
        f"argument {argument}" in err
        or f"arguments are required: {argument}" in err
        or f"required: {argument}" in err
    ), err
    assert message in err, err
    assert "usage: python -m hqops.cli" in err


def test_holidays_need_the_configured_file(capsys):
    err = usage_error(capsys, ["holidays", "reload"])
    assert "argument HQ_HOLIDAY_FILE: is not set" in err


def _year_file(path, **years):
    path.write_text(json.dumps({"years": years}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"source": "s", "holidays": ["2027-13-01"], "workdays": []}, "not an ISO date"),
        ({"source": "s", "holidays": ["2026-10-01"], "workdays": []}, "not in 2027"),
        ({"source": "s", "holidays": ["2027-01-02"], "workdays": []}, "must be Monday to Friday"),
        (
            {"source": "s", "holidays": ["2027-01-01"], "workdays": ["2027-01-04"]},
            "must be a Saturday or Sunday",
        ),
        ({"source": "", "holidays": ["2027-01-01"], "workdays": []}, "source: a non-empty"),
        ({"source": "s", "holidays": [], "workdays": []}, "holidays is empty"),
    ],
)
def test_a_malformed_holiday_file_is_refused_and_nothing_installed(
    capsys, monkeypatch, tmp_path, entry, message
):
    installed = tmp_path / "installed.json"
    monkeypatch.setenv("HQ_HOLIDAY_FILE", str(installed))
    bad = _year_file(tmp_path / "bad.json", **{"2027": entry})
    err = usage_error(capsys, ["holidays", "load", str(bad), "--no-reload"])
    assert "argument FILE: holiday data file" in err and "years.2027" in err
    assert message in err, err
    assert not installed.exists()


def test_holidays_load_merges_years_into_the_installed_file(capsys, monkeypatch, tmp_path):
    installed = _year_file(
        tmp_path / "installed.json",
        **{"2027": {"source": "2027 notice", "holidays": ["2027-01-01"], "workdays": []}},
    )
    monkeypatch.setenv("HQ_HOLIDAY_FILE", str(installed))
    both = _year_file(
        tmp_path / "new.json",
        **{
            "2027": {"source": "2027 notice", "holidays": ["2027-01-01"], "workdays": []},
            "2028": {"source": "2028 notice", "holidays": ["2028-01-03"], "workdays": []},
        },
    )
    err = usage_error(capsys, ["holidays", "load", str(both), "--year", "2029", "--no-reload"])
    assert "argument --year" in err and "has no year 2029" in err

    assert cli.main(["holidays", "load", str(both), "--year", "2028", "--no-reload"]) == 0
    out = capsys.readouterr().out
    assert "2028: added (2028 notice)" in out
    years = json.loads(installed.read_text(encoding="utf-8"))["years"]
    assert sorted(years) == ["2027", "2028"] and years["2027"]["source"] == "2027 notice"
    assert cli.main(["holidays", "load", str(both), "--no-reload"]) == 0
    assert "2027: already installed, unchanged" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".holidays-")]


def test_the_acting_user_comes_from_the_accounts_file(monkeypatch, tmp_path):
    accounts = tmp_path / "accounts.json"
    accounts.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "username": "ops-1",
                        "name": "operator",
                        "role": "district_officer",
                        "street_code": None,
                        "password_hash": "x",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("HQ_ACCOUNTS_FILE", str(accounts))
    from hqcore.config import Settings

    settings = Settings.from_env()
    assert cli.operator_actor("ops-1", settings) == {
        "user_id": "ops-1",
        "role": "district_officer",
        "street_code": None,
        "name": "operator",
    }
    with pytest.raises(cli.UsageError) as refused:
        cli.operator_actor(cli.DEFAULT_OPERATOR, settings)
    assert refused.value.argument == "--as" and str(accounts) in refused.value.message


def test_an_unreachable_broker_is_exit_1_not_a_traceback(capsys):
    assert cli.main(["delegation", "set", "shaogongzhuang", "none"]) == 1
    assert "error: service_unavailable" in capsys.readouterr().err


# -- the policy-table rule -------------------------------------------------------------------


@pytest.fixture
def table():
    metadata = sa.MetaData()
    policy = policy_rates_table(metadata)
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            policy.insert(),
            [
                _row(date(2020, 9, 1), date(2025, 8, 31), 101000),
                _row(date(2025, 9, 1), None, 104500),
            ],
        )
    return engine, policy


def _row(start, end, value, **extra):
    return {
        "key": "dibao_standard",
        "unit": "fen_per_person_month",
        "value": value,
        "valid_from": start,
        "valid_to": end,
        "source": "notice",
        "verified": True,
        **extra,
    }


def _periods(engine, policy):
    with engine.begin() as conn:
        return [
            (r.valid_from, r.valid_to, r.value)
            for r in conn.execute(sa.select(policy).order_by(policy.c.valid_from))
        ]


def _add(engine, policy, row):
    with engine.begin() as conn:
        return add_policy_row(conn, policy, row, "decision")


def test_a_new_row_closes_the_open_one_the_day_before(table):
    engine, policy = table
    result = _add(engine, policy, _row(date(2026, 7, 1), None, 110000))
    assert result["created"] and result["warnings"] == []
    assert result["closed"]["valid_to"] == date(2026, 6, 30)
    assert _periods(engine, policy)[1:] == [
        (date(2025, 9, 1), date(2026, 6, 30), 104500),
        (date(2026, 7, 1), None, 110000),
    ]
    again = _add(engine, policy, _row(date(2026, 7, 1), None, 110000))
    assert again["created"] is False and len(_periods(engine, policy)) == 3


@pytest.mark.parametrize(
    "start, end",
    [
        (date(2025, 1, 1), date(2025, 12, 31)),  # across a closed row and the open one
        (date(2021, 1, 1), date(2021, 6, 30)),  # inside a closed row
        (date(2025, 9, 1), None),  # the open row's own start
        (date(2019, 1, 1), None),  # open-ended before everything
    ],
)
def test_an_overlap_is_refused_and_nothing_changes(table, start, end):
    engine, policy = table
    before = _periods(engine, policy)
    with pytest.raises(Conflict) as refused:
        _add(engine, policy, _row(start, end, 99900))
    assert refused.value.code == "policy_overlap" and refused.value.http_status == 409
    assert _periods(engine, policy) == before


def test_a_bounded_row_warns_of_the_gap_after_it(table):
    engine, policy = table
    result = _add(engine, policy, _row(date(2026, 1, 1), date(2026, 6, 30), 108000))
    assert result["warnings"] == ["no dibao_standard row is in force after 2026-06-30"]
    gap = _add(engine, policy, _row(date(2019, 1, 1), date(2019, 12, 31), 90000))
    assert gap["warnings"] == ["no dibao_standard row is in force after 2019-12-31"]
    joined = _add(engine, policy, _row(date(2020, 1, 1), date(2020, 8, 31), 95000))
    assert joined["warnings"] == []  # it ends the day before the next row starts


def test_an_unknown_key_or_another_unit_is_refused(table):
    engine, policy = table
    with pytest.raises(NotFound):
        _add(engine, policy, _row(date(2026, 7, 1), None, 1, key="dibao_standartd"))
    with pytest.raises(ValidationFailed) as refused:
        _add(engine, policy, _row(date(2026, 7, 1), None, 1, unit="fen_per_household_month"))
    assert refused.value.field == "unit"
