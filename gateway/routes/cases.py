"""HTTP routes of a case across the services: the whole case as every service holds it, with
its timeline and documents, and one document (ORG-7) from the service that issued it.

Street staff see their own street's cases only, the district every street's: the gateway checks
the street of record (intake's) and every service checks it again for its own read.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from gateway.openapi import HTML, JSON, RPC_ERRORS, Operation
from gateway.readlog import record_read
from gateway.schemas import CaseOverviewSchema, DocumentFormatQuery
from gateway.web import (
    call,
    call_async,
    current_actor,
    gateway,
    present,
    require_view,
    validated,
)
from hqcore.authz import may_view
from hqcore.config import SERVICES
from hqcore.contracts.rpc import DocumentView
from hqcore.errors import DomainError, Forbidden, NotFound, ValidationFailed

bp = Blueprint("cases", __name__)

DOCUMENT_FORMATS = ("html", "json")


@bp.get("/api/v1/cases/<case_id>")
def get_case(case_id: str) -> Response:
    """The whole case as every service holds it, its timeline (supervision) and every
    service's documents by issue date. A service that does not answer is reported instead of
    failing the request."""
    actor = current_actor()
    views = {
        name: call_async(
            name, "get_case", actor, **validated(f"{name}.get_case", {"case_id": case_id})
        )
        for name in SERVICES
    }
    listings = {
        name: call_async(
            name,
            "list_documents",
            actor,
            **validated(f"{name}.list_documents", {"case_id": case_id}),
        )
        for name in SERVICES
    }
    timeline = call_async(
        "supervision",
        "get_timeline",
        actor,
        **validated("supervision.get_timeline", {"case_id": case_id}),
    )
    case = gateway().result(views.pop("intake"))
    if not may_view(actor, case["street_code"]):
        raise Forbidden(
            "the case belongs to another street", field="street_code", code="wrong_street"
        )
    unavailable: dict[str, str] = {}

    def answer(call_name: str, future: Future) -> Any:
        try:
            return gateway().result(future)
        except Exception as exc:
            unavailable[call_name] = exc.code if isinstance(exc, DomainError) else "internal_error"
            return None

    services: dict[str, Any] = {}
    for name, future in views.items():
        view = answer(f"{name}.get_case", future)
        services[name] = (
            present(view, actor)
            if view is not None
            else {"status": "unavailable", "error": unavailable.pop(f"{name}.get_case")}
        )
    documents = [
        ref
        for name, future in listings.items()
        for ref in (answer(f"{name}.list_documents", future) or {}).get("documents", [])
    ]
    documents.sort(key=lambda ref: datetime.fromisoformat(ref["issued_at"]))
    entries = (answer("supervision.get_timeline", timeline) or {}).get("entries", [])
    record_read(actor, "case", case_id=case_id, street_code=case["street_code"])
    return jsonify(
        case=present(case, actor),
        services=services,
        timeline=present(entries, actor),
        documents=documents,
        unavailable=unavailable,
    )


@bp.get("/api/v1/documents/<document_id>")
def get_document(document_id: str) -> Response:
    """A notice or decision letter (ORG-7) as HTML, or as JSON with ``?format=json``."""
    actor = current_actor()
    answer_format = request.args.get("format", "html")
    if answer_format not in DOCUMENT_FORMATS:
        raise ValidationFailed("format: expected html or json", field="format")
    service, separator, _ = document_id.partition(":")  # the issuing service
    if not separator or service not in SERVICES:
        raise NotFound(f"no document {document_id}", field="document_id", code="document_not_found")
    document = call(
        service,
        "get_document",
        actor,
        **validated(f"{service}.get_document", {"document_id": document_id}),
    )
    require_view(actor, document["case_id"])
    record_read(actor, "document", case_id=document["case_id"], document_id=document_id)
    if answer_format == "json":
        return jsonify(present(document, actor))
    return Response(document["html"], mimetype="text/html")


OPERATIONS = (
    Operation(
        "/api/v1/cases/{case_id}",
        "get",
        "A case as every service sees it",
        "cases",
        {200: ("Intake's view and each downstream service's view", CaseOverviewSchema)},
        description="Asks all six services concurrently; a downstream service that does not "
        "answer is reported as unavailable instead of failing the request. Street "
        "staff see their own street's cases (403 `wrong_street`); an unknown case "
        "is 404 `case_not_found`.",
        path_params=(("case_id", "the case identifier returned on submission"),),
        errors=(404, *RPC_ERRORS),
    ),
    Operation(
        "/api/v1/documents/{document_id}",
        "get",
        "A notice or decision letter",
        "documents",
        {
            200: (
                "The document as `text/html`; with `?format=json` its JSON with issue and "
                "service dates",
                {HTML: {"type": "string"}, JSON: DocumentView},
            )
        },
        description="The id starts with the issuing service (`decision:…`). Street staff see "
        "the documents of their street's cases only. An unknown document is 404 "
        "`document_not_found`.",
        path_params=(("document_id", "as listed in the case view's `documents`"),),
        query=("format",),
        query_contract=DocumentFormatQuery,
        errors=(404, *RPC_ERRORS),
    ),
)
