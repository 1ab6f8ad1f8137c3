"""HTTP routes across the services: the case register, worklists, timelines, deadlines, new
recipients (supervision, SU, ORG-3) and the documents every service issues (ORG-7).

Street staff see their own street only; the district officer sees every street or filters one.
Query parameters are validated with the supervision contracts before any RPC (400 naming the
parameter).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.openapi import Operation
from gateway.web import current_actor, gateway, present
from hqcore.authz import CLERK, COMMUNITY_WORKER, DISTRICT_OFFICER, Actor, may_view
from hqcore.config import SERVICES
from hqcore.contracts import load_rpc_request
from hqcore.contracts.rpc import DocumentView
from hqcore.contracts.supervision import CasePage, DeadlinePage, NewRecipientList, Timeline
from hqcore.errors import Forbidden, NotFound, ValidationFailed

bp = Blueprint("supervision", __name__)

DOCUMENT_FORMATS = ("html", "json")


def _query(contract: str, names: tuple[str, ...], **fixed: Any) -> dict[str, Any]:
    """The named query parameters (those given) plus ``fixed``, validated by ``contract``."""
    given = {name: request.args[name] for name in names if name in request.args}
    return load_rpc_request(contract, {**given, **fixed})


def _street_scope(actor: Actor) -> str | None:
    """The street a list is limited to: the district's choice, or street staff's own street
    (asking for another one is 403)."""
    asked = request.args.get("street_code")
    if actor.is_district:
        return asked
    if asked is not None and asked != actor.street_code:
        raise Forbidden("street staff see their own street only", field="street_code",
                        code="wrong_street")
    return actor.street_code


def _require_view(actor: Actor, case_id: str) -> None:
    """403 unless ``actor`` may see the case's street (intake holds the street of record);
    a street's monthly roster (``roster:<street>:<month>``, DE-3) names its street itself."""
    kind, _, rest = case_id.partition(":")
    if kind == "roster":
        street = rest.partition(":")[0]
    else:
        street = gateway().call("intake", "get_case", case_id=case_id)["street_code"]
    if not may_view(actor, street):
        raise Forbidden("the case belongs to another street", field="street_code",
                        code="wrong_street")


def _supervision(method: str, query: dict[str, Any], actor: Actor) -> Response:
    return jsonify(present(gateway().call("supervision", method, **query), actor))


@bp.get("/api/v1/cases")
def list_cases() -> Response:
    actor = current_actor()
    query = _query("supervision.list_cases",
                   ("street_code", "program", "step", "overdue", "page", "per_page"),
                   street_code=_street_scope(actor))
    return _supervision("list_cases", query, actor)


MATERIALS_ROLES = frozenset({COMMUNITY_WORKER, CLERK, DISTRICT_OFFICER})  # IN-6, ORG-6


@bp.get("/api/v1/worklist")
def worklist() -> Response:
    """The cases waiting for the user's role; for those who take materials, also the
    applications still waiting for materials (intake's list)."""
    actor = current_actor()
    street = None if actor.is_district else actor.street_code
    query = _query("supervision.worklist", ("page", "per_page"), role=actor.role,
                   street_code=street)
    answer = gateway().call("supervision", "worklist", **query)
    if actor.role in MATERIALS_ROLES:
        answer["awaiting_materials"] = gateway().call(
            "intake", "list_awaiting_materials", street_code=street)["cases"]
    return jsonify(present(answer, actor))


@bp.get("/api/v1/cases/<case_id>/timeline")
def timeline(case_id: str) -> Response:
    actor = current_actor()
    query = load_rpc_request("supervision.get_timeline", {"case_id": case_id})
    _require_view(actor, case_id)
    return _supervision("get_timeline", query, actor)


@bp.get("/api/v1/deadlines")
def list_deadlines() -> Response:
    actor = current_actor()
    query = _query("supervision.list_deadlines", ("street_code", "status", "page", "per_page"),
                   street_code=_street_scope(actor))
    return _supervision("list_deadlines", query, actor)


@bp.get("/api/v1/recipients/new")
def new_recipients() -> Response:
    actor = current_actor()
    if not actor.is_district:  # SU-1 to SU-3: the district's checks
        raise Forbidden("the register of new recipients is the district's", field="role",
                        code="wrong_role", details={"allowed_roles": ["district_officer"]})
    query = _query("supervision.list_new_recipients", ("street_code", "month"))
    return _supervision("list_new_recipients", query, actor)


@bp.get("/api/v1/documents/<document_id>")
def get_document(document_id: str) -> Response:
    """A notice or decision letter (ORG-7) as HTML, or as JSON with ``?format=json``."""
    actor = current_actor()
    answer_format = request.args.get("format", "html")
    if answer_format not in DOCUMENT_FORMATS:
        raise ValidationFailed("format: expected html or json", field="format")
    load_rpc_request("intake.get_document", {"document_id": document_id})
    service, separator, _ = document_id.partition(":")
    if not separator or service not in SERVICES:
        raise NotFound(f"no document {document_id}", field="document_id",
                       code="document_not_found")
    document = gateway().call(service, "get_document", document_id=document_id)
    _require_view(actor, document["case_id"])
    if answer_format == "json":
        return jsonify(present(document, actor))
    return Response(document["html"], mimetype="text/html")


_PAGING = "Query: `page` (from 1), `per_page` (1-100, default 20); a bad value is 400 naming it."
_CASE_PATH = (("case_id", "the case identifier"),)

OPERATIONS = (
    Operation(
        "/api/v1/cases", "get", "The register of cases", "supervision",
        {200: ("One page of cases, newest acceptance first, each with its current step, the "
               "service holding it and whether it is overdue", CasePage)},
        description="Query: `street_code` (street staff: only their own, another is 403), "
                    "`program`, `step`, `overdue=true|false`. " + _PAGING,
        errors=(400, 401, 403, 503, 504),
    ),
    Operation(
        "/api/v1/worklist", "get", "The logged-in user's worklist", "supervision",
        {200: ("Open cases of the user's street (all streets for the district) waiting at a "
               "step the user's role takes, longest waiting first", CasePage)},
        description="Community workers, clerks and the district also get "
                    "`awaiting_materials`: applications still waiting for materials (IN-6). "
                    + _PAGING, errors=(400, 401, 503, 504),
    ),
    Operation(
        "/api/v1/cases/{case_id}/timeline", "get", "A case's timeline", "supervision",
        {200: ("Every step any service reported, oldest first, with actor and rule", Timeline)},
        path_params=_CASE_PATH, errors=(400, 401, 403, 404, 503, 504),
    ),
    Operation(
        "/api/v1/deadlines", "get", "Deadlines of every street", "supervision",
        {200: ("One page of deadlines, earliest due first", DeadlinePage)},
        description="Query: `street_code` (street staff: only their own), `status` (open, met, "
                    "breached, or overdue = breached or open past due). " + _PAGING,
        errors=(400, 401, 403, 503, 504),
    ),
    Operation(
        "/api/v1/recipients/new", "get", "Newly confirmed recipients", "supervision",
        {200: ("Approvals for the district's monthly checks (SU-1, SU-2); near-relative dibao "
               "families are `household_check_required` (SU-3)", NewRecipientList)},
        description="District officer only. Query: `street_code`, `month` (YYYY-MM, Beijing "
                    "time of the decision).",
        errors=(400, 401, 403, 503, 504),
    ),
    Operation(
        "/api/v1/documents/{document_id}", "get", "A notice or decision letter", "documents",
        {200: ("The document as `text/html`; with `?format=json` its JSON with issue and "
               "service dates", DocumentView)},
        description="The id starts with the issuing service (`decision:…`). Street staff see "
                    "the documents of their street's cases only.",
        path_params=(("document_id", "as listed in the case view's `documents`"),),
        errors=(400, 401, 403, 404, 503, 504),
    ),
)
