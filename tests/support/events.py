"""Events as another service would send them, for handler unit tests: each builder returns
the event validated by its contract, as a subscriber receives it. Keyword arguments override
the payload's fields."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from tests.support.fakes import FakeEvent, as_received

AT = datetime(2026, 3, 2, 2, tzinfo=timezone.utc)  # Monday 2026-03-02, 10:00 in Tianjin
APPLICANT = {"name": "张三", "id_number": "120106196001010015", "relationship": "self"}


def keys(
    case_id: str = "c1",
    program: str = "dibao",
    street_code: str = "shaogongzhuang",
    case_no: str = "SGZ-2026-00001",
) -> dict[str, Any]:
    return {"case_id": case_id, "case_no": case_no, "program": program, "street_code": street_code}


def _event(event_type: str, defaults: dict[str, Any], overrides: dict[str, Any]) -> FakeEvent:
    case = {
        k: overrides.pop(k)
        for k in ("case_id", "program", "street_code", "case_no")
        if k in overrides
    }
    return as_received(event_type, {**keys(**case), **defaults, **overrides})


def application_accepted(**overrides: Any) -> FakeEvent:
    return _event(
        "application.accepted",
        {
            "community": "前园社区",
            "applicant": APPLICANT,
            "members": [APPLICANT],
            "obligors": [],
            "proxy": None,
            "payment_account": None,
            "near_relative": False,
            "accepted_at": AT,
        },
        overrides,
    )


def verification_completed(**overrides: Any) -> FakeEvent:
    return _event(
        "verification.completed",
        {
            "round": 1,
            "household_size": 1,
            "income_per_head_fen": 50000,
            "money_assets_fen": 0,
            "self_care": None,
            "report_id": "r1",
            "means_test": {},
            "completed_at": AT,
        },
        overrides,
    )


def non_confirmation_proposed(**overrides: Any) -> FakeEvent:
    return _event(
        "verification.non_confirmation_proposed",
        {"reasons": ["income above the standard"], "report_id": "r1", "proposed_at": AT},
        overrides,
    )


def verification_withdrawn(**overrides: Any) -> FakeEvent:
    return _event(
        "verification.withdrawn",
        {"reason": "declaration not corrected in time", "withdrawn_at": AT},
        overrides,
    )


def reinvestigation_requested(**overrides: Any) -> FakeEvent:
    return _event(
        "publicity.reinvestigation_requested",
        {"cause": "objection", "detail": "家中有车辆", "requested_at": AT},
        overrides,
    )


def publicity_concluded(**overrides: Any) -> FakeEvent:
    return _event(
        "publicity.concluded",
        {
            "community": "前园社区",
            "rounds": 1,
            "preliminary_opinion": "approve",
            "deliberation_held": False,
            "deliberation_conclusion": None,
            "minutes_document_id": None,
            "concluded_at": AT,
        },
        overrides,
    )


def decision_made(**overrides: Any) -> FakeEvent:
    return _event(
        "decision.made",
        {
            "community": "前园社区",
            "outcome": "approved",
            "authority": "street",
            "decided_at": AT,
            "monthly_amount_fen": 120000,
            "recipients": [APPLICANT],
            "payee_kind": "recipient",
            "payee_name": "张三",
            "payee_account": None,
            "reasons": [],
            "document_id": "decision:letter",
        },
        overrides,
    )
