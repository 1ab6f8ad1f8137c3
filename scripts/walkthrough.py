"""Follow one dibao case from application to scheduled payment, through the gateway's HTTP API.

    make demo                          # in one terminal: the suite with the demo clock
    .venv/bin/python scripts/walkthrough.py [http://127.0.0.1:8000]

Each step logs in as the demo account whose role takes it (password ``demo``), prints what
happened, and moves the suite's clock where the procedure waits (the 5-day publicity).
The end-to-end tests run this same script against a freshly started suite.
"""

from __future__ import annotations

import sys

from gateway.client import GatewayClient

HOUSEHOLD = [  # a couple living on two small pensions (known to the city platform simulator)
    {
        "name": "王秀英",
        "id_number": "120106195803027017",
        "relationship": "self",
        "authorisation_signed": True,
    },
    {
        "name": "李建国",
        "id_number": "120106196004157020",
        "relationship": "spouse",
        "authorisation_signed": True,
    },
]
APPLICATION = {
    "program": "dibao",
    "street_code": "shaogongzhuang",
    "community": "前园社区",
    "applicant": {k: HOUSEHOLD[0][k] for k in ("name", "id_number", "relationship")},
    "members": HOUSEHOLD,
    "payment_account": {
        "bank": "天津农商银行",
        "account_number": "6223000012345678",
        "holder": "王秀英",
    },
    "materials_provided": ["household_id_cards", "household_register", "economic_declaration"],
}


class Walkthrough(GatewayClient):
    def __init__(self, url: str, out=print, timeout: float = 60.0):
        super().__init__(url, timeout)
        self.out = out

    def say(self, text: str) -> None:
        self.out(f"- {text}")

    def run(self) -> dict:
        self.set_clock("2026-03-02T01:00:00+00:00")
        self.say("the suite's date is Monday 2026-03-02, 09:00 in Tianjin")

        case = self.submit(APPLICATION, "sgz-clerk")
        case_id = case["case_id"]
        self.say(f"sgz-clerk accepts the dibao application {case['case_no']} (IN-1, IN-6)")
        view = self.wait_for(case_id, "verification", "investigation", "sgz-clerk")
        [ve1] = [d for d in view["services"]["verification"]["deadlines"] if d["rule_id"] == "VE-1"]
        self.say(f"the household investigation is due by {ve1['due_date']} (VE-1)")

        self.investigate(case_id, "sgz")
        self.say("two investigators record the household visit, signed by the applicant (VE-4)")
        self.check_information(case_id, "sgz")
        self.say(
            "the handling agency and the district verification agency pass the file to "
            "the city platform (VE-2)"
        )
        self.wait_for(case_id, "verification", "verified", "sgz-clerk")
        self.say("the city's verification report arrives; the means test finds the family eligible")

        self.wait_for(case_id, "publicity", "awaiting_preliminary_opinion", "sgz-clerk")
        self.publicise(case_id, "sgz")
        self.say("the preliminary opinion is posted on the community notice board (PU-1)")
        self.advance_clock("P6D")
        self.say("six days pass without objection: publicity concludes by itself (PU-1, PU-2)")
        self.wait_for(case_id, "decision", "management_review", "sgz-clerk")

        self.review_and_consent(case_id, "sgz")
        self.say("the management department reviews, its head consents (DE-1)")
        self.decide(case_id, "sgz-leader")
        view = self.wait_for(case_id, "payments", "scheduled", "sgz-clerk")
        amount = view["services"]["decision"]["details"]["amount"]["monthly_amount_fen"]
        self.say(
            f"the leader in charge approves: {amount // 100}.{amount % 100:02d} yuan a "
            f"month (DE-1, DE-5)"
        )
        payments = self.call("GET", "/api/v1/payments?month=2026-04", "sgz-clerk")
        [payment] = [p for p in payments["payments"] if p["case_id"] == case_id]
        self.say(
            f"payment is scheduled from {payment['first_month']} to "
            f"{payment['payee_name']}'s account (PA-1)"
        )
        return {
            "case_id": case_id,
            "case_no": case["case_no"],
            "monthly_amount_fen": amount,
            "first_month": payment["first_month"],
            "view": view,
        }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    Walkthrough(argv[0] if argv else "http://127.0.0.1:8000").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
