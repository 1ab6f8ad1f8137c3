"""The whole happy path of one program across every service, through the gateway, as the
README's walk-through shows it: the script itself, then the case view with its one timeline
and its documents (rules IN-1, IN-6, VE-1, VE-2, VE-4, PU-1, PU-2, DE-1, DE-2, DE-4, DE-5,
ORG-7, PA-1)."""

import importlib.util

from hqcore.config import PROJECT_ROOT
from tests.support.plugin import wait_until


def _walkthrough():
    spec = importlib.util.spec_from_file_location(
        "walkthrough", PROJECT_ROOT / "scripts" / "walkthrough.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dibao_case_from_application_to_scheduled_payment_PA1(suite):
    lines = []
    result = _walkthrough().Walkthrough(suite.url, out=lines.append).run()
    assert len(lines) >= 10
    # Two pensions of 450 and 400 yuan: 425 a head against the 1,045 yuan standard of
    # 2025-09-01, for two people: (1045 - 425) x 2 = 1,240 yuan a month (DE-5).
    assert result["monthly_amount_fen"] == 124000
    assert result["first_month"] == "2026-04"  # approved in March, paid from April (PA-1)

    clerk = suite.as_user("sgz-clerk")
    case_id = result["case_id"]
    # every event of the case handled: the case view and the timeline are final
    wait_until(
        lambda: not suite.pending_work(),
        timeout=30,
        interval=0.2,
        message="every event to be handled",
    )
    view = clerk.get(f"/api/v1/cases/{case_id}").json()
    rules = {
        d["rule_id"]: d["status"]
        for service in view["services"].values()
        for d in service.get("deadlines", [])
    }
    assert rules["VE-1"] == "met" and rules["DE-4"] == "met" and rules["DE-1"] == "met"

    kinds = {d["kind"]: d for d in view["documents"]}
    letter = next(d for d in view["documents"] if d["document_id"].startswith("decision:"))
    html = clerk.get(f"/api/v1/documents/{letter['document_id']}")
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert "1240.00" in html.text or "1,240.00" in html.text
    assert len(kinds) >= 3  # the public notice, the decision letter, the duty to report (ORG-7)

    # One timeline, supervision's: the case view carries the same entries as its own route,
    # and every service that took a step is on it.
    timeline = clerk.get(f"/api/v1/cases/{case_id}/timeline").json()["entries"]
    assert view["timeline"] == timeline
    services = [entry["service"] for entry in timeline]
    for service in ("intake", "verification", "publicity", "decision", "payments"):
        assert service in services
    assert all("timeline" not in (s.get("details") or {}) for s in view["services"].values())

    recipients = clerk.get("/api/v1/streets/shaogongzhuang/recipients").json()["recipients"]
    assert result["case_no"] in {r["case_no"] for r in recipients}  # DE-2
    district = suite.as_user("district-officer").get("/api/v1/recipients/new").json()
    assert result["case_no"] in str(district)
