"""HTTP routes of the steps the decision service owns: review, consent, decision, extension,
service of documents (DE-1 to DE-7, VE-3, ORG-7), delegation dates (ORG-1) and the recipients
announced in each community (DE-2)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.openapi import CASE_STEP_ERRORS, RPC_ERRORS, Operation
from gateway.readlog import record_read
from gateway.web import call, case_step, current_actor, json_object, present, query, validated
from hqcore.contracts.decision import (
    DecideRequest,
    DelegationRequest,
    DelegationView,
    ExtendRequest,
    HeadConsentRequest,
    MonthlyReportRequest,
    MonthlyReportView,
    RecipientList,
    ReviewRequest,
    ServiceRequest,
)
from hqcore.contracts.rpc import ServiceCaseView

bp = Blueprint("decision", __name__)


@bp.post("/api/v1/cases/<case_id>/review")
def record_review(case_id: str) -> Response:
    return case_step("decision", "record_review", case_id)


@bp.post("/api/v1/cases/<case_id>/head-consent")
def record_head_consent(case_id: str) -> Response:
    return case_step("decision", "record_head_consent", case_id)


@bp.post("/api/v1/cases/<case_id>/decision")
def decide(case_id: str) -> Response:
    return case_step("decision", "decide", case_id)


@bp.post("/api/v1/cases/<case_id>/extension")
def extend(case_id: str) -> Response:
    return case_step("decision", "extend", case_id)


@bp.post("/api/v1/cases/<case_id>/service")
def record_service(case_id: str) -> Response:
    return case_step("decision", "record_service", case_id)


@bp.put("/api/v1/streets/<street_code>/delegation")
def set_delegation(street_code: str) -> Response:
    actor = current_actor()
    fields = validated("decision.set_delegation", {**json_object(), "street_code": street_code})
    return jsonify(present(call("decision", "set_delegation", actor, **fields), actor))


@bp.get("/api/v1/streets/<street_code>/recipients")
def list_recipients(street_code: str) -> Response:
    actor = current_actor()
    fields = validated(
        "decision.list_recipients", {**query("community"), "street_code": street_code}
    )
    recipients = call("decision", "list_recipients", actor, **fields)
    record_read(actor, "list", street_code=street_code)  # SEC-15
    return jsonify(present(recipients, actor))


@bp.post("/api/v1/streets/<street_code>/monthly-reports")
def file_monthly_report(street_code: str) -> tuple[Response, int]:
    actor = current_actor()
    fields = validated(
        "decision.file_monthly_report", {**json_object(), "street_code": street_code}
    )
    return jsonify(present(call("decision", "file_monthly_report", actor, **fields), actor)), 201


_CASE = (("case_id", "the case identifier"),)
OPERATIONS = (
    Operation(
        "/api/v1/cases/{case_id}/review",
        "post",
        "Management department's review opinion",
        "decision",
        {200: ("The decision service's view of the case", ServiceCaseView)},
        description="Reviewer. DE-1: within 2 WD of the file's arrival, opinion `approve` "
        "or `refuse` (reasons required); on the VE-3 path `non_confirm`, which "
        "goes straight to the leader.",
        request=ReviewRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/head-consent",
        "post",
        "Department head's consent",
        "decision",
        {200: ("The decision service's view of the case", ServiceCaseView)},
        description="Department head. DE-1: the leader in charge then decides within 3 WD.",
        request=HeadConsentRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/decision",
        "post",
        "The confirmation decision",
        "decision",
        {200: ("The decision service's view of the case", ServiceCaseView)},
        description="Street leader (district officer on the pre-reform route, ORG-1). "
        "`approve` fixes the monthly amount from the policy rows in force "
        "(DE-5) and serves the decision letter and the duty to report "
        "changes; tekun also needs `care_arrangement` (DE-6). `refuse` needs "
        "reasons and is served within 3 WD (DE-7). `non_confirm` on the VE-3 "
        "path.",
        request=DecideRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/extension",
        "post",
        "Extend the 30 WD limit to 45 WD",
        "decision",
        {200: ("The decision service's view of the case", ServiceCaseView)},
        description="Reviewer. DE-4, once, with the reason recorded (dibao, low-income).",
        request=ExtendRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/service",
        "post",
        "Record that a document was served",
        "decision",
        {200: ("The decision service's view of the case", ServiceCaseView)},
        description="Clerk. ORG-7: when every document of the decision is served, the "
        "DE-5, DE-7 or VE-3 service deadline is met at `served_at`.",
        request=ServiceRequest,
        path_params=_CASE,
        errors=CASE_STEP_ERRORS,
    ),
    Operation(
        "/api/v1/streets/{street_code}/delegation",
        "put",
        "Set the date a street's delegation starts",
        "decision",
        {200: ("The street's delegation date", DelegationView)},
        description="District officer. ORG-1: cases accepted from that date on are "
        "decided by the street; `null` means not delegated. Cases already "
        "accepted keep their route.",
        request=DelegationRequest,
        path_params=(("street_code", "the street, e.g. shaogongzhuang"),),
        errors=(404, *RPC_ERRORS),
    ),
    Operation(
        "/api/v1/streets/{street_code}/recipients",
        "get",
        "Recipients to announce in the communities",
        "decision",
        {200: ("Approved households: case number, name, program, amount (DE-2)", RecipientList)},
        description="Staff of the street or the district. Query: `community` to show one "
        "community's notice-board list. No ID numbers.",
        path_params=(("street_code", "the street, e.g. shaogongzhuang"),),
        query=("community",),
        query_contract="decision.list_recipients",
        errors=RPC_ERRORS,
    ),
    Operation(
        "/api/v1/streets/{street_code}/monthly-reports",
        "post",
        "File the month's roster and monthly report with the district",
        "decision",
        {
            201: (
                "The filing, with its document (downloadable) and whether it was on time",
                MonthlyReportView,
            )
        },
        description="Management department (reviewer or department head) of the street. "
        "DE-3: before the 25th of the month; a case approved from the 25th on "
        "goes into the next month's roster. Body: `month` (YYYY-MM); once "
        "per month (409 `already_filed`).",
        request=MonthlyReportRequest,
        path_params=(("street_code", "the street, e.g. shaogongzhuang"),),
        errors=(409, *RPC_ERRORS),
    ),
)
