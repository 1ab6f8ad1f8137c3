"""DE-3: the monthly roster and report, filed with the district before the 25th."""

from datetime import datetime, timezone

from services.decision import roster


def at(text):
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def test_DE3_an_approval_before_the_25th_is_in_that_months_roster():
    assert roster.roster_month(at("2026-03-24T23:59:00+08:00")) == "2026-03"
    assert roster.roster_month(at("2026-03-25T00:00:00+08:00")) == "2026-04"
    assert roster.roster_month(at("2026-12-28T10:00:00+08:00")) == "2027-01"


def test_DE3_the_roster_is_due_before_the_25th_in_Tianjin():
    deadline = roster.filing_deadline("shaogongzhuang", "2026-03", at("2026-03-02T09:00:00+08:00"))
    assert deadline.rule_id == "DE-3" and deadline.case_id == "roster:shaogongzhuang:2026-03"
    assert deadline.due_at == at("2026-03-25T00:00:00+08:00")
    assert str(deadline.due_date) == "2026-03-24"
    assert deadline.amount == 23


def test_DE3_the_monthly_report_totals_each_program_of_the_month_only():
    recipients = [
        {
            "case_no": "SGZ-2026-00002",
            "program": "dibao",
            "monthly_amount_fen": 124000,
            "decided_at": at("2026-03-10T10:00:00+08:00"),
        },
        {
            "case_no": "SGZ-2026-00001",
            "program": "dibao",
            "monthly_amount_fen": 104500,
            "decided_at": at("2026-03-11T10:00:00+08:00"),
        },
        {
            "case_no": "SGZ-2026-00003",
            "program": "low_income",
            "monthly_amount_fen": 31400,
            "decided_at": at("2026-03-12T10:00:00+08:00"),
        },
        {
            "case_no": "SGZ-2026-00004",
            "program": "dibao",
            "monthly_amount_fen": 50000,
            "decided_at": at("2026-03-26T10:00:00+08:00"),
        },  # April's roster
    ]
    report = roster.monthly_report("shaogongzhuang", "2026-03", recipients)
    assert [r["case_no"] for r in report["rows"]] == [
        "SGZ-2026-00001",
        "SGZ-2026-00002",
        "SGZ-2026-00003",
    ]
    assert report["programs"] == {
        "dibao": {"households": 2, "monthly_amount_fen": 228500},
        "low_income": {"households": 1, "monthly_amount_fen": 31400},
    }
    assert (report["households"], report["monthly_amount_fen"]) == (3, 259900)
