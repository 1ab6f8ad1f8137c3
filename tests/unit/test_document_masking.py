"""SEC-6: a role that may not see a family's personal data (the community worker) reads
documents with the family's figures and ID numbers masked, as it reads the case view; the
roles that need them read them in full. One definition (``hqcore.personal``) for both."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_gateway_app import (  # tests/unit is on sys.path
    FakeRpc,
    demo_settings,
    intake_view,
    logged_in,
    service_view,
)

from gateway import create_app
from gateway.web import present
from hqcore import idnumber, personal
from hqcore.authz import ROLES, SEES_PERSONAL_DATA, Actor
from hqcore.config import SERVICES
from hqcore.documents import Templates
from hqcore.errors import Forbidden
from hqcore.service_kit import document_html
from services.verification import notices
from services.verification.domain import MeansTest
from tests.support.reads import FakeReadLog

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILES = sorted(ROOT.glob("services/*/templates/*.html"))
NOW = datetime(2026, 7, 6, 2, 0, tzinfo=timezone.utc)
APPLICANT_ID = "11010519491231002X"

COMMUNITY = Actor("sgz-community", "community_worker", "shaogongzhuang")
CLERK = Actor("sgz-clerk", "clerk", "shaogongzhuang")
MASKED_ROLES = sorted(set(ROLES) - SEES_PERSONAL_DATA)


def ineligibility_notice_html() -> str:
    """The real VE-3 notice, rendered from its template with figures no other text has."""
    case = SimpleNamespace(
        street_code="shaogongzhuang",
        case_no="SGZ-2026-0042",
        applicant=SimpleNamespace(name="孙丽"),
        program="dibao",
        accepted_at=NOW,
        round=1,
    )
    result = MeansTest(
        eligible=False,
        reasons=["家庭月人均收入高于最低生活保障标准", "家庭货币财产超过规定上限"],
        program="dibao",
        assessed_on=date(2026, 7, 1),
        household_size=3,
        income_household_fen=712_345,
        income_per_head_fen=237_448,
        money_assets_fen=9_876_543,
        money_assets_limit_fen=4_488_000,
        standard_fen=187_000,
        low_income_upper_fen=280_500,
    )
    draft = notices.ineligibility_notice(case, result, "R-77", explain_by=NOW, now=NOW)
    return Templates(notices.TEMPLATES).render(draft.template, **draft.context)


def test_SEC6_community_worker_sees_no_income_or_assets_in_the_ineligibility_notice():
    html = ineligibility_notice_html()
    assert "2374.48" in html and "98765.43" in html  # the clerk's notice has the figures
    assert document_html(CLERK, html) == html
    masked = document_html(COMMUNITY, html)
    assert "2374.48" not in masked and "98765.43" not in masked
    assert '<span data-personal="income_per_head_fen">***</span>' in masked
    assert '<span data-personal="money_assets_fen">***</span>' in masked
    # what is not the family's stays: the standard, the household size, the case and reasons
    assert "1870.00" in masked and "3人" in masked and "SGZ-2026-0042" in masked
    assert "家庭货币财产超过规定上限" in masked


@pytest.mark.parametrize("role", MASKED_ROLES)
def test_SEC6_every_role_without_personal_data_reads_documents_masked(role):
    masked = document_html(Actor("u", role, "shaogongzhuang"), ineligibility_notice_html())
    assert "2374.48" not in masked and "98765.43" not in masked


def test_SEC6_id_numbers_written_into_a_document_are_masked():
    html = f"{personal.PERSONAL_DATA_MARKED}<blockquote>申请人{APPLICANT_ID}未申报存款</blockquote>"
    masked = document_html(COMMUNITY, html)
    assert APPLICANT_ID not in masked and idnumber.mask(APPLICANT_ID) in masked
    assert document_html(CLERK, html) == html


def test_SEC6_a_document_rendered_before_figures_were_marked_is_withheld():
    """A stored document without the marker cannot be masked: 403, never in full."""
    old = ineligibility_notice_html().replace(personal.PERSONAL_DATA_MARKED, "")
    with pytest.raises(Forbidden) as refused:
        document_html(COMMUNITY, old)
    assert (refused.value.code, refused.value.field) == ("personal_data_withheld", "document_id")
    assert document_html(CLERK, old) == old


def test_SEC6_a_forged_marker_in_a_value_cannot_unmask_or_hide_a_figure():
    """Values are HTML-escaped, so a name that looks like a marker stays text."""
    forged = '<span data-personal="case_no">'
    html = Templates(notices.TEMPLATES).render(
        "correction_notice.html",
        street_name="邵公庄街",
        case_no="SGZ-1",
        applicant_name=forged,
        program_label="最低生活保障",
        detail="</span>2374.48",
        correct_by=NOW,
        issued_at=NOW,
    )
    assert forged not in html
    assert "2374.48" in document_html(COMMUNITY, html)  # escaped free text, not a figure


def _printed_names(expression: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression))


@pytest.mark.parametrize(
    "template", TEMPLATE_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}"
)
def test_SEC6_every_template_marks_every_personal_figure_it_prints(template):
    """The masked rendering relies on the templates: each personal key a template prints sits
    alone in a ``data-personal`` span naming it, and every page carries the marker."""
    source = template.read_text(encoding="utf-8")
    if "{% extends" not in source:
        assert personal.PERSONAL_DATA_MARKED in source
    for match in re.finditer(r"\{\{(.*?)\}\}", source, re.S):
        for name in filter(personal.is_personal_figure, _printed_names(match.group(1))):
            before, after = source[: match.start()], source[match.end() :]
            assert before.endswith(f'<span data-personal="{name}">'), (template.name, name)
            assert after.startswith("</span>"), (template.name, name)


def test_SEC6_the_json_masking_and_the_document_masking_share_one_definition():
    figures = {"income_per_head_fen": 1, "money_assets_fen": 2, "account_number": "6212"}
    assert set(present({"means_test": figures}, COMMUNITY)["means_test"].values()) == {"***"}
    assert all(personal.is_personal_figure(key) for key in figures)
    assert not personal.is_personal_figure("standard_fen")


@pytest.fixture
def rpc() -> FakeRpc:
    return FakeRpc()


@pytest.fixture
def app(rpc, tmp_path):
    return create_app(demo_settings(tmp_path), rpc=rpc, reads=FakeReadLog())


def test_SEC6_id_numbers_in_free_text_of_the_case_view_are_masked_for_the_community(app, rpc):
    """A timeline note that quotes an ID number is masked as the ID fields are."""
    rpc.answers.update({f"{name}.get_case": service_view(name) for name in SERVICES})
    rpc.answers.update({f"{name}.list_documents": {"documents": []} for name in SERVICES})
    rpc.answers["intake.get_case"] = intake_view()
    note = f"核对身份证号{APPLICANT_ID}"
    entry = {
        "at": "2024-03-01T08:00:00+00:00",
        "service": "verification",
        "step": "investigation",
        "action": "investigated",
        "actor_user": "sgz-investigator-1",
        "actor_role": "investigator",
        "rule_id": "VE-1",
        "note": note,
        "document_ids": [],
    }
    rpc.answers["supervision.get_timeline"] = {"case_id": "c-1", "entries": [entry]}
    community = logged_in(app, "sgz-community").get("/api/v1/cases/c-1").get_data(as_text=True)
    assert APPLICANT_ID not in community and idnumber.mask(APPLICANT_ID) in community
    clerk = logged_in(app, "sgz-clerk").get("/api/v1/cases/c-1").get_json()
    assert clerk["timeline"][0]["note"] == note
