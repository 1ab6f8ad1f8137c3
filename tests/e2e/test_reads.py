"""What each reader sees and the record of who read, through the gateway's HTTP API with the
suite running as separate processes: a community worker reads the ineligibility notice
without the family's figures (SEC-6), and a clerk's read of a case reaches the district
officer's read log (SEC-15)."""

import re

import pytest

from gateway.client import GatewayClient
from hqops.samples import make_id_number
from tests.support.plugin import wait_until

CAR_OWNER = ("孙丽", "120106196507077313")  # the city platform simulator finds a car: VE-3
MATERIALS = ["household_id_cards", "household_register", "economic_declaration"]
# the two figures of the family in the VE-3 notice, marked or not (the row's first number)
FIGURE_ROWS = {
    "income_per_head_fen": r"家庭月人均收入</th><td>(?:<span[^>]*>)?([^<元]+)",
    "money_assets_fen": r"家庭货币财产</th><td>(?:<span[^>]*>)?([^<元]+)",
}


def application(name, id_number):
    person = {"name": name, "id_number": id_number, "relationship": "self"}
    return {
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "示范社区",
        "applicant": person,
        "members": [{**person, "authorisation_signed": True}],
        "payment_account": {
            "bank": "天津银行",
            "account_number": "6212000098765432",
            "holder": name,
        },
        "materials_provided": MATERIALS,
    }


@pytest.fixture
def api(suite):
    return GatewayClient(suite.url, timeout=30)


def figures(html):
    return {key: re.search(row, html).group(1) for key, row in FIGURE_ROWS.items()}


def test_SEC6_a_community_worker_reads_the_ineligibility_notice_without_the_familys_figures(api):
    api.set_clock("2026-08-03T01:00:00+00:00")  # Monday
    case_id = api.accepted_case(application(*CAR_OWNER), "sgz")
    api.investigate(case_id, "sgz")
    api.check_information(case_id, "sgz")
    view = api.wait_for(case_id, "verification", "awaiting_explanation", "sgz-clerk")
    notice = next(d for d in view["documents"] if d["kind"] == "ineligibility_notice")
    path = f"/api/v1/documents/{notice['document_id']}"

    full = api.call("GET", path, "sgz-clerk")
    assert all(re.fullmatch(r"\d+\.\d\d", value) for value in figures(full).values())
    masked = api.call("GET", path, "sgz-community")
    assert set(figures(masked).values()) == {"***"}
    assert CAR_OWNER[1] not in masked
    as_json = api.call("GET", path + "?format=json", "sgz-community")
    assert set(figures(as_json["html"]).values()) == {"***"}
    assert as_json["case_id"] == case_id and as_json["kind"] == "ineligibility_notice"


def test_SEC15_a_clerks_read_of_a_case_is_in_the_district_officers_read_log(api):
    case_id = api.submit(application("赵敏", make_id_number(615, birth="19720303")), "sgz-clerk")[
        "case_id"
    ]
    api.case(case_id, "sgz-clerk")  # the one read

    def clerk_reads():
        log = api.call("GET", f"/api/v1/reads?case_id={case_id}", "district-officer")
        return [r for r in log["items"] if r["user_id"] == "sgz-clerk"]

    wait_until(lambda: clerk_reads(), timeout=30, interval=0.3, message="the read to be logged")
    [read] = clerk_reads()
    assert read["target"] == f"/api/v1/cases/{case_id}"
    assert (read["kind"], read["case_id"], read["role"]) == ("case", case_id, "clerk")
    assert read["street_code"] == "shaogongzhuang" and read["document_id"] is None
    assert read["remote_addr"] == "127.0.0.1"
