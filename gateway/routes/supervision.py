"""HTTP routes of the supervision service, the district's read side (SU, ORG-3): the case
register, worklists, timelines, deadlines, breaches and new recipients.

Street staff see their own street only (asking for another is 403); the district officer sees
every street or filters one. Query parameters are validated with the supervision contracts
before any RPC (400 naming the parameter).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gateway.openapi import RPC_ERRORS, Operation
from gateway.readlog import record_read
from gateway.web import (
    call,
    current_actor,
    present,
    query,
    require_view,
    street_scope,
    validated,
)
from hqcore.authz import CLERK, COMMUNITY_WORKER, DISTRICT_OFFICER
from hqcore.contracts.rpc import BreachList
from hqcore.contracts.supervision import (
    CasePage,
    DeadlinePage,
    NewRecipientList,
    ReadList,
    Timeline,
)
from hqcore.errors import Forbidden

bp = Blueprint("supervision", __name__)

MATERIALS_ROLES = frozenset({COMMUNITY_WORKER, CLERK, DISTRICT_OFFICER})  # IN-6, ORG-6


@bp.get("/api/v1/cases")
def list_cases() -> Response:
    actor = current_actor()
    fields = validated(
        "supervision.list_cases",
        {
            **query("program", "step", "overdue", "page", "per_page"),
            "street_code": street_scope(actor),
        },
    )
    cases = call("supervision", "list_cases", actor, **fields)
    record_read(actor, "list", street_code=fields.get("street_code"))  # SEC-15
    return jsonify(present(cases, actor))


@bp.get("/api/v1/worklist")
def worklist() -> Response:
    """The cases waiting for the user's role; for those who take materials, also the
    applications still waiting for materials (intake's list)."""
    actor = current_actor()
    street = None if actor.is_district else actor.street_code
    fields = validated(
        "supervision.worklist",
        {**query("page", "per_page"), "role": actor.role, "street_code": street},
    )
    answer = call("supervision", "worklist", actor, **fields)
    if actor.role in MATERIALS_ROLES:
        waiting = validated("intake.list_awaiting_materials", {"street_code": street})
        answer["awaiting_materials"] = call("intake", "list_awaiting_materials", actor, **waiting)[
            "cases"
        ]
    record_read(actor, "list", street_code=street)  # SEC-15
    return jsonify(present(answer, actor))


@bp.get("/api/v1/cases/<case_id>/timeline")
def timeline(case_id: str) -> Response:
    actor = current_actor()
    fields = validated("supervision.get_timeline", {"case_id": case_id})
    require_view(actor, case_id)
    entries = call("supervision", "get_timeline", actor, **fields)
    record_read(actor, "case", case_id=case_id)  # SEC-15
    return jsonify(present(entries, actor))


@bp.get("/api/v1/deadlines")
def list_deadlines() -> Response:
    actor = current_actor()
    fields = validated(
        "supervision.list_deadlines",
        {**query("status", "page", "per_page"), "street_code": street_scope(actor)},
    )
    return jsonify(present(call("supervision", "list_deadlines", actor, **fields), actor))


@bp.get("/api/v1/supervision/breaches")
def list_breaches() -> Response:
    actor = current_actor()
    fields = validated(
        "supervision.list_breaches", {**query("limit"), "street_code": street_scope(actor)}
    )
    return jsonify(present(call("supervision", "list_breaches", actor, **fields), actor))


@bp.get("/api/v1/recipients/new")
def list_new_recipients() -> Response:
    actor = current_actor()
    if not actor.is_district:  # SU-1 to SU-3: the district's checks
        raise Forbidden(
            "the register of new recipients is the district's",
            field="role",
            code="wrong_role",
            details={"allowed_roles": [DISTRICT_OFFICER]},
        )
    fields = validated("supervision.list_new_recipients", query("street_code", "month"))
    recipients = call("supervision", "list_new_recipients", actor, **fields)
    record_read(actor, "list", street_code=fields.get("street_code"))  # SEC-15
    return jsonify(present(recipients, actor))


@bp.get("/api/v1/reads")
def list_reads() -> Response:
    """SEC-15: the read log, for the district only (street staff get 403 before any RPC)."""
    actor = current_actor()
    if not actor.is_district:
        raise Forbidden(
            "the read log is the district's",
            field="role",
            code="wrong_role",
            details={"allowed_roles": [DISTRICT_OFFICER]},
        )
    fields = validated(
        "supervision.list_reads", query("case_id", "user_id", "since", "until", "limit")
    )
    return jsonify(call("supervision", "list_reads", actor, **fields))


_PAGING = "Query: `page` (from 1), `per_page` (1-100, default 20); a bad value is 400 naming it."
_CASE_PATH = (("case_id", "the case identifier"),)

OPERATIONS = (
    Operation(
        "/api/v1/cases",
        "get",
        "The register of cases",
        "supervision",
        {
            200: (
                "One page of cases, newest acceptance first, each with its current step, the "
                "service holding it and whether it is overdue",
                CasePage,
            )
        },
        description="Query: `street_code` (street staff: only their own, another is 403), "
        "`program`, `step`, `overdue=true|false`. " + _PAGING,
        query=("street_code", "program", "step", "overdue", "page", "per_page"),
        query_contract="supervision.list_cases",
        errors=RPC_ERRORS,
    ),
    Operation(
        "/api/v1/worklist",
        "get",
        "The logged-in user's worklist",
        "supervision",
        {
            200: (
                "Open cases of the user's street (all streets for the district) waiting at a "
                "step the user's role takes, longest waiting first",
                CasePage,
            )
        },
        description="Community workers, clerks and the district also get "
        "`awaiting_materials`: applications still waiting for materials (IN-6). " + _PAGING,
        query=("page", "per_page"),
        query_contract="supervision.worklist",
        errors=RPC_ERRORS,
    ),
    Operation(
        "/api/v1/cases/{case_id}/timeline",
        "get",
        "A case's timeline",
        "supervision",
        {200: ("Every step any service reported, oldest first, with actor and rule", Timeline)},
        path_params=_CASE_PATH,
        errors=(404, *RPC_ERRORS),
    ),
    Operation(
        "/api/v1/deadlines",
        "get",
        "Deadlines of every street",
        "supervision",
        {200: ("One page of deadlines, earliest due first", DeadlinePage)},
        description="Query: `street_code` (street staff: only their own), `status` (open, met, "
        "breached, or overdue = breached or open past due). " + _PAGING,
        query=("street_code", "status", "page", "per_page"),
        query_contract="supervision.list_deadlines",
        errors=RPC_ERRORS,
    ),
    Operation(
        "/api/v1/recipients/new",
        "get",
        "Newly confirmed recipients",
        "supervision",
        {
            200: (
                "Approvals for the district's monthly checks (SU-1, SU-2); near-relative dibao "
                "families are `household_check_required` (SU-3)",
                NewRecipientList,
            )
        },
        description="District officer only. Query: `street_code`, `month` (YYYY-MM, Beijing "
        "time of the decision).",
        query=("street_code", "month"),
        query_contract="supervision.list_new_recipients",
        errors=RPC_ERRORS,
    ),
    Operation(
        "/api/v1/supervision/breaches",
        "get",
        "Deadlines breached across the streets",
        "supervision",
        {200: ("The register of breached deadlines, oldest due first", BreachList)},
        description="Every deadline any service found breached, with its rule ID. Query: "
        "`street_code` (street staff: only their own; the district filters one), "
        "`limit` (1-500, default 100).",
        query=("street_code", "limit"),
        query_contract="supervision.list_breaches",
        errors=RPC_ERRORS,
    ),
    Operation(
        "/api/v1/reads",
        "get",
        "The read log",
        "supervision",
        {
            200: (
                "Who read which case, document or list of personal data, when (`read_at`, UTC) "
                "and from where (`remote_addr`), newest first (SEC-15)",
                ReadList,
            )
        },
        description="District officer only (street staff: 403 `wrong_role`). Query: "
        "`case_id`, `user_id`, `since` (inclusive) and `until` (exclusive) as ISO-8601 "
        "instants with a time zone, `limit` (1-1000, default 100); a bad value is 400 naming "
        "it.",
        query=("case_id", "user_id", "since", "until", "limit"),
        query_contract="supervision.list_reads",
        errors=RPC_ERRORS,
    ),
)
