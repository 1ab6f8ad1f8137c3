"""Follow one dibao case from application to scheduled payment, through the gateway's HTTP API.

    make demo                          # in one terminal: the suite with the demo clock
    .venv/bin/python scripts/walkthrough.py [http://127.0.0.1:8000]

Each step logs in as the demo account whose role takes it (password ``demo``), prints what
happened, and moves the suite's clock where the procedure waits (the 5-day publicity).
The end-to-end tests run this same script against a freshly started suite.
"""
from __future__ import annotations

import sys
import time

import requests

HOUSEHOLD = [  # a couple living on two small pensions (known to the city platform simulator)
    {"name": "王秀英", "id_number": "120106195803027017", "relationship": "self",
     "authorisation_signed": True},
    {"name": "李建国", "id_number": "120106196004157020", "relationship": "spouse",
     "authorisation_signed": True},
]
APPLICATION = {
    "program": "dibao", "street_code": "shaogongzhuang", "community": "前园社区",
    "applicant": {k: HOUSEHOLD[0][k] for k in ("name", "id_number", "relationship")},
    "members": HOUSEHOLD,
    "payment_account": {"bank": "天津农商银行", "account_number": "6223000012345678",
                        "holder": "王秀英"},
    "materials_provided": ["household_id_cards", "household_register", "economic_declaration"],
}


class Walkthrough:
    def __init__(self, url: str, out=print, timeout: float = 60.0):
        self.url, self.out, self.timeout = url.rstrip("/"), out, timeout
        self.tokens: dict[str, str] = {}

    def call(self, method: str, path: str, user: str | None = None, body=None, expect=200):
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        answer = requests.request(method, self.url + path, json=body, headers=headers, timeout=30)
        if answer.status_code != expect:
            raise RuntimeError(f"{method} {path} as {user}: {answer.status_code} {answer.text}")
        return answer.json() if "json" in answer.headers.get("Content-Type", "") else answer.text

    def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = self.call("POST", "/api/v1/login",
                                          body={"username": user, "password": "demo"})["token"]
        return self.tokens[user]

    def wait_for(self, case_id: str, service: str, status: str) -> dict:
        """Poll the case view until ``service`` reports ``status`` (events take a moment)."""
        deadline = time.monotonic() + self.timeout
        while True:
            view = self.call("GET", f"/api/v1/cases/{case_id}", "sgz-clerk")
            if view["services"][service].get("status") == status:
                return view
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} never reached {status}: {view['services'][service]}")
            time.sleep(0.3)

    def step(self, text: str) -> None:
        self.out(f"- {text}")

    def run(self) -> dict:
        self.call("POST", "/api/v1/clock", body={"set": "2026-03-02T01:00:00+00:00"})
        self.step("the suite's date is Monday 2026-03-02, 09:00 in Tianjin")

        case = self.call("POST", "/api/v1/applications", "sgz-clerk", APPLICATION, expect=201)
        case_id = case["case_id"]
        self.step(f"sgz-clerk accepts the dibao application {case['case_no']} (IN-1, IN-6)")
        view = self.wait_for(case_id, "verification", "investigation")
        [ve1] = [d for d in view["services"]["verification"]["deadlines"] if d["rule_id"] == "VE-1"]
        self.step(f"the household investigation is due by {ve1['due_date']} (VE-1)")

        self.call("POST", f"/api/v1/cases/{case_id}/investigation", "sgz-investigator-1", {
            "investigators": ["sgz-investigator-1", "sgz-investigator-2"],
            "methods": ["household_visit", "neighbour_visits", "letter_inquiries"],
            "findings": "夫妻二人同住，靠养老金生活，无其他收入。", "applicant_signed": True})
        self.step("two investigators record the household visit, signed by the applicant (VE-4)")
        self.call("POST", f"/api/v1/cases/{case_id}/pre-review", "sgz-clerk", {
            "opinion": "申报材料和授权书齐全。", "authorisations_complete": True})
        self.call("POST", f"/api/v1/cases/{case_id}/district-review", "district-officer",
                  {"opinion": "同意提交市级核对。"})
        self.step("the handling agency and the district verification agency pass the file to "
                  "the city platform (VE-2)")
        view = self.wait_for(case_id, "verification", "verified")
        self.step("the city's verification report arrives; the means test finds the family "
                  "eligible")

        self.wait_for(case_id, "publicity", "awaiting_preliminary_opinion")
        self.call("POST", f"/api/v1/cases/{case_id}/preliminary-opinion", "sgz-clerk", {
            "opinion": "approve", "summary": "家庭人均收入低于本市低保标准，拟予以确认。"})
        self.step("the preliminary opinion is posted on the community notice board (PU-1)")
        self.call("POST", "/api/v1/clock", body={"advance": "P6D"})
        self.step("six days pass without objection: publicity concludes by itself (PU-1, PU-2)")
        self.wait_for(case_id, "decision", "management_review")

        self.call("POST", f"/api/v1/cases/{case_id}/review", "sgz-reviewer",
                  {"opinion": "approve", "note": "材料完整，程序合规。"})
        self.call("POST", f"/api/v1/cases/{case_id}/head-consent", "sgz-head", {"note": "同意。"})
        self.step("the management department reviews, its head consents (DE-1)")
        self.call("POST", f"/api/v1/cases/{case_id}/decision", "sgz-leader",
                  {"outcome": "approve"})
        view = self.wait_for(case_id, "payments", "scheduled")
        decision = view["services"]["decision"]
        amount = decision["details"]["amount"]["monthly_amount_fen"]
        self.step(f"the leader in charge approves: {amount // 100}.{amount % 100:02d} yuan a "
                  f"month (DE-1, DE-5)")
        payments = self.call("GET", "/api/v1/payments?month=2026-04", "sgz-clerk")
        [payment] = [p for p in payments["payments"] if p["case_id"] == case_id]
        self.step(f"payment is scheduled from {payment['first_month']} to "
                  f"{payment['payee_name']}'s account (PA-1)")
        return {"case_id": case_id, "case_no": case["case_no"], "monthly_amount_fen": amount,
                "first_month": payment["first_month"], "view": view}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    Walkthrough(argv[0] if argv else "http://127.0.0.1:8000").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
