"""A small HTTP client of the gateway that speaks the procedure's steps, for scripts and the
end-to-end tests: it logs in as whichever demo account takes a step (password ``demo``)."""

from __future__ import annotations

import time

import requests


class StepFailed(RuntimeError):
    def __init__(self, method: str, path: str, user: str | None, answer: requests.Response):
        self.status = answer.status_code
        try:
            self.error = answer.json().get("error", {})
        except ValueError:
            self.error = {}
        super().__init__(f"{method} {path} as {user}: {answer.status_code} {answer.text[:500]}")


def _code(answer: requests.Response) -> str | None:
    try:
        return answer.json().get("error", {}).get("code")
    except (ValueError, AttributeError):
        return None


class GatewayClient:
    def __init__(self, url: str, timeout: float = 60.0, password: str = "demo"):
        self.url, self.timeout, self.password = url.rstrip("/"), timeout, password
        self.tokens: dict[str, str] = {}
        self.http = requests.Session()

    # -- plumbing ---------------------------------------------------------------------------
    def call(self, method: str, path: str, user: str | None = None, body=None, expect: int = 200):
        """One request as ``user``; anything but ``expect`` raises StepFailed."""
        answer = self._send(method, path, user, body)
        if user and answer.status_code == 401 and _code(answer) == "token_expired":
            self.tokens.pop(user, None)  # access tokens live 15 minutes: log in again, once
            answer = self._send(method, path, user, body)
        if answer.status_code != expect:
            raise StepFailed(method, path, user, answer)
        if "json" in answer.headers.get("Content-Type", ""):
            return answer.json()
        return answer.text

    def _send(self, method: str, path: str, user: str | None, body) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return self.http.request(method, self.url + path, json=body, headers=headers, timeout=30)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = self.call(
                "POST", "/api/v1/login", body={"username": user, "password": self.password}
            )["token"]
        return self.tokens[user]

    def set_clock(self, iso: str, user: str = "district-officer") -> dict:
        """Moving the suite's clock is the district officer's (SEC-11)."""
        return self.call("POST", "/api/v1/clock", user, body={"set": iso})

    def advance_clock(self, duration: str, user: str = "district-officer") -> dict:
        return self.call("POST", "/api/v1/clock", user, body={"advance": duration})

    def case(self, case_id: str, user: str) -> dict:
        return self.call("GET", f"/api/v1/cases/{case_id}", user)

    def wait_for(self, case_id: str, service: str, status: str, user: str) -> dict:
        """Poll the case view until ``service`` reports ``status`` (events take a moment)."""
        deadline = time.monotonic() + self.timeout
        while True:
            view = self.case(case_id, user)
            if view["services"][service].get("status") == status:
                return view
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{service} never reached {status}: {view['services'][service].get('status')}"
                )
            time.sleep(0.2)

    def step(self, case_id: str, step: str, user: str, body: dict | None = None, expect: int = 200):
        """``POST /api/v1/cases/<case_id>/<step>`` as ``user``."""
        return self.call("POST", f"/api/v1/cases/{case_id}/{step}", user, body or {}, expect)

    # -- the procedure's usual steps, for a street with the demo accounts' prefix ----------
    def submit(self, application: dict, user: str) -> dict:
        return self.call("POST", "/api/v1/applications", user, application, expect=201)

    def investigate(self, case_id: str, prefix: str, self_care: str | None = None) -> dict:
        body = {
            "investigators": [f"{prefix}-investigator-1", f"{prefix}-investigator-2"],
            "methods": ["household_visit", "neighbour_visits", "letter_inquiries"],
            "findings": "入户调查、邻里访问、信函索证已完成。",
            "applicant_signed": True,
        }
        if self_care:
            body["self_care"] = self_care
        return self.step(case_id, "investigation", f"{prefix}-investigator-1", body)

    def check_information(self, case_id: str, prefix: str) -> None:
        """The handling agency's pre-review and the district's review (VE-2)."""
        self.step(
            case_id,
            "pre-review",
            f"{prefix}-clerk",
            {"opinion": "申报材料和授权书齐全。", "authorisations_complete": True},
        )
        self.step(case_id, "district-review", "district-officer", {"opinion": "同意提交市级核对。"})

    def publicise(self, case_id: str, prefix: str, opinion: str = "approve") -> dict:
        return self.step(
            case_id,
            "preliminary-opinion",
            f"{prefix}-clerk",
            {"opinion": opinion, "summary": "经入户调查和经济状况核对，提出初审意见。"},
        )

    def deliberate(
        self,
        case_id: str,
        street_code: str,
        prefix: str,
        conclusion: str = "approve",
        approved_on: str = "2026-03-10",
    ) -> dict:
        body = self.call(
            "GET", f"/api/v1/streets/{street_code}/deliberation-body", f"{prefix}-clerk"
        )
        members = body["members"]
        leader = next(m["name"] for m in members if m["kind"] == "leader_in_charge")
        return self.step(
            case_id,
            "deliberation",
            f"{prefix}-clerk",
            {
                "members_present": [m["name"] for m in members],
                "conclusion": conclusion,
                "minutes": "议事协商机构对申请家庭情况进行评议，一致同意初审意见。",
                "signed_off_by": leader,
                "leadership_meeting_approved_on": approved_on,
            },
        )

    def review_and_consent(
        self, case_id: str, prefix: str, opinion: str = "approve", reasons: list[str] | None = None
    ) -> None:
        self.step(
            case_id,
            "review",
            f"{prefix}-reviewer",
            {"opinion": opinion, "reasons": reasons or [], "note": "审核意见。"},
        )
        self.step(case_id, "head-consent", f"{prefix}-head", {"note": "同意。"})

    def decide(self, case_id: str, user: str, outcome: str = "approve", **fields) -> dict:
        return self.step(case_id, "decision", user, {"outcome": outcome, **fields})

    # -- a case brought to a given step, for demos and tests ------------------------------
    def accepted_case(self, application: dict, prefix: str) -> str:
        """Submitted complete by the street's clerk; verification has opened VE-1."""
        case_id = self.submit(application, f"{prefix}-clerk")["case_id"]
        self.wait_for(case_id, "verification", "investigation", f"{prefix}-clerk")
        return case_id

    def verified_case(self, application: dict, prefix: str, self_care: str | None = None) -> str:
        """Investigated and checked; publicity waits for the preliminary opinion."""
        case_id = self.accepted_case(application, prefix)
        self.investigate(case_id, prefix, self_care=self_care)
        self.check_information(case_id, prefix)
        self.wait_for(case_id, "publicity", "awaiting_preliminary_opinion", f"{prefix}-clerk")
        return case_id

    def publicised_case(self, application: dict, prefix: str, self_care: str | None = None) -> str:
        case_id = self.verified_case(application, prefix, self_care)
        self.publicise(case_id, prefix)
        return case_id

    def reviewed_case(self, application: dict, prefix: str) -> str:
        """Publicity ended without dispute (the clock moves 6 days); reviewed and consented."""
        case_id = self.publicised_case(application, prefix)
        self.advance_clock("P6D")
        self.wait_for(case_id, "decision", "management_review", f"{prefix}-clerk")
        self.review_and_consent(case_id, prefix)
        return case_id
