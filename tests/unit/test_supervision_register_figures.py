"""The register figures supervision exports for the dashboard (hq_cases_open, hq_cases_overdue,
hq_decisions_this_month, hq_payments_this_month*), computed from its tables (SQLite here)."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.supervision import adapters, domain

# 2026-03-31T17:00Z is 2026-04-01 01:00 in Beijing: April there, still March in UTC.
NOW = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)


@pytest.fixture
def conn():
    engine = sa.create_engine("sqlite://")
    adapters.metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection


def add_case(conn, case_id, street, step, closed=False):
    conn.execute(
        adapters.cases.insert().values(
            case_id=case_id,
            case_no=case_id.upper(),
            program="dibao",
            street_code=street,
            community="c",
            near_relative=False,
            household_size=1,
            accepted_at=NOW - timedelta(days=9),
            step=step,
            service="verification",
            step_at=NOW - timedelta(days=1),
            closed=closed,
            closed_at=None,
        )
    )


def add_deadline(conn, case_id, street, status, due_at):
    conn.execute(
        adapters.deadline_register.insert().values(
            deadline_id=f"d-{case_id}-{status}",
            service="verification",
            rule_id="VE-1",
            case_id=case_id,
            street_code=street,
            unit="WD",
            amount=3,
            due_at=due_at,
            provisional=False,
            status=status,
        )
    )


def add_decision(conn, case_id, street, outcome, at, service="decision"):
    conn.execute(
        adapters.timeline.insert().values(
            event_id=f"e-{case_id}-{service}",
            case_id=case_id,
            street_code=street,
            service=service,
            step="leader_decision",
            action=f"decided:{outcome}",
            document_ids="[]",
            closed=False,
            at=at,
        )
    )


def add_recipient(conn, case_id, street, first_month, fen):
    conn.execute(
        adapters.recipients.insert().values(
            case_id=case_id,
            case_no=case_id.upper(),
            program="dibao",
            street_code=street,
            community="c",
            near_relative=False,
            household_check_required=False,
            decided_at=NOW - timedelta(days=40),
            month="2026-02",
            authority="street",
            monthly_amount_fen=fen,
            recipients="[]",
            first_payment_month=first_month,
            payee_kind="applicant",
        )
    )


def test_month_bounds_are_beijing_months():
    start, end = domain.month_bounds(NOW)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-04-01T00:00:00+08:00",
        "2026-05-01T00:00:00+08:00",
    )
    start, end = domain.month_bounds(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))
    assert (start.date().isoformat(), end.date().isoformat()) == ("2027-01-01", "2027-02-01")


def test_register_figures_count_open_overdue_decisions_and_payments(conn):
    add_case(conn, "a", "xigu", "investigation")
    add_case(conn, "b", "xigu", "investigation")
    add_case(conn, "c", "xigu", "publicity")
    add_case(conn, "d", "shuanghuancun", "investigation")
    add_case(conn, "e", "shuanghuancun", "investigation", closed=True)  # not open
    add_deadline(conn, "a", "xigu", "breached", NOW - timedelta(days=2))  # overdue
    add_deadline(conn, "b", "xigu", "open", NOW - timedelta(hours=1))  # past due: overdue
    add_deadline(conn, "c", "xigu", "open", NOW + timedelta(days=1))  # not yet
    add_deadline(conn, "e", "shuanghuancun", "breached", NOW - timedelta(days=3))  # closed case
    add_decision(conn, "a", "xigu", "approved", NOW - timedelta(minutes=30))  # 1 April, Beijing
    add_decision(conn, "b", "xigu", "rejected", NOW - timedelta(minutes=45))
    add_decision(conn, "c", "xigu", "approved", NOW - timedelta(hours=2))  # 31 March, 23:00
    add_decision(conn, "d", "xigu", "approved", NOW, service="publicity")  # not a decision
    add_recipient(conn, "a", "xigu", "2026-04", 90000)
    add_recipient(conn, "c", "xigu", "2026-03", 110000)
    add_recipient(conn, "f", "xigu", "2026-05", 70000)  # starts next month
    add_recipient(conn, "g", "shuanghuancun", None, 50000)  # not scheduled yet

    figures = adapters.register_figures(conn, NOW)

    assert figures["open_cases"] == {
        ("xigu", "investigation"): 2,
        ("xigu", "publicity"): 1,
        ("shuanghuancun", "investigation"): 1,
    }
    assert figures["overdue_cases"] == {("xigu",): 2}
    assert figures["decisions_this_month"] == {("xigu", "approved"): 1, ("xigu", "rejected"): 1}
    assert figures["payments_this_month"] == {("xigu",): 2}
    assert figures["payments_this_month_fen"] == {("xigu",): 200000}
