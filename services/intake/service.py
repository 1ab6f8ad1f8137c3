"""The intake service: a street's handling agency takes applications, asks once for whatever is
missing and accepts the complete ones (IN-1, IN-2, IN-3, IN-6, IN-7, ORG-6)."""
from __future__ import annotations

import logging
import uuid
from pathlib import Path

from nameko.rpc import rpc

from hqcore.authz import Actor, authorize
from hqcore.clock import local_date
from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.documents import Templates
from hqcore.errors import EXPECTED, NotFound, ValidationFailed
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform
from hqcore.service_kit import BaseService, load_actor
from services.intake import adapters, domain

log = logging.getLogger(__name__)
TEMPLATES = Templates(Path(__file__).parent / "templates")
NOTICE_TITLE = "补正申请材料一次性告知书"


class IntakeService(BaseService):
    name = "intake"
    platform = Platform(adapters.TABLES)

    @rpc(expected_exceptions=EXPECTED, sensitive_arguments=("application",))
    def submit_application(self, application, actor=None):
        """A community worker (for the family, ORG-6) or a clerk files an application."""
        request = load_rpc_request("intake.submit_application", application)
        acting = load_actor(actor)
        with self.platform.uow() as uow:
            cases = adapters.ApplicationRepository(uow.conn)
            street = cases.street(request["street_code"])
            if street is None:
                raise ValidationFailed(f"unknown street {request['street_code']!r}",
                                       field="street_code", code="unknown_street")
            authorize(acting, domain.FILERS, street.code, "submit_application")
            # Taking the street's counter row first also serialises the duplicate check.
            sequence = cases.next_sequence(street.code, local_date(uow.now).year)
            domain.refuse_duplicate(request["program"], cases.open_case_no_for(
                request["program"], [m["id_number"] for m in request["members"]]))
            app = domain.open_application(request, street, acting, case_id=str(uuid.uuid4()),
                                          sequence=sequence, now=uow.now)
            cases.add(app)
            if app.status == domain.ACCEPTED:
                adapters.record_progress(uow, app, action="application_submitted", actor=acting,
                                         rule_id=domain.filing_rule(app.program))
                _accept(uow, app, acting)
            else:
                missing = len(domain.missing_items(app))
                adapters.record_progress(uow, app, action="application_submitted", actor=acting,
                                         rule_id="IN-6", note=f"missing {missing} item(s)",
                                         document_ids=[_issue_notice(uow, app, street)])
            return _view(uow, cases, app)

    @rpc(expected_exceptions=EXPECTED)
    def supply_materials(self, case_id, materials=None, authorisations=None, actor=None):
        """Materials and signed authorisations handed in after the notice (IN-6, IN-7)."""
        request = load_rpc_request("intake.supply_materials", {
            "case_id": case_id, "materials": materials or [],
            "authorisations": authorisations or []})
        acting = load_actor(actor)
        with self.platform.uow() as uow:
            cases = adapters.ApplicationRepository(uow.conn)
            app = _existing(cases, request["case_id"], for_update=True)
            authorize(acting, domain.FILERS, app.street_code, "supply_materials")
            complete = domain.supply(app, request["materials"], request["authorisations"],
                                     uow.now)
            cases.save(app)
            remaining = len(domain.missing_items(app))
            adapters.record_progress(uow, app, action="materials_supplied", actor=acting,
                                     rule_id="IN-6", note=f"still missing {remaining} item(s)")
            if complete:
                _accept(uow, app, acting)
            return _view(uow, cases, app)

    @subscribe("decision.made", "verification.withdrawn")
    def on_case_ended(self, event):
        """A decision (any outcome) or a deemed withdrawal (VE-5) closes the case."""
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_case_ended"):
                return
            cases = adapters.ApplicationRepository(uow.conn)
            app = cases.get(event.payload["case_id"], for_update=True)
            if app is None:
                log.warning("%s for a case intake does not hold: %s", event.event_type,
                            event.payload["case_id"])
                return
            reason, rule_id, at = domain.closing(event.event_type, event.payload)
            if not domain.close(app, reason, at):
                return
            cases.save(app)
            adapters.record_progress(uow, app, action="case_closed", actor=None,
                                     rule_id=rule_id, note=reason)

    @rpc(expected_exceptions=EXPECTED)
    def list_awaiting_materials(self, street_code=None, limit=100):
        """The worklist of applications still waiting for materials (IN-6)."""
        query = load_rpc_request("intake.list_awaiting_materials",
                                 {"street_code": street_code, "limit": limit})
        with self.platform.uow() as uow:
            cases = adapters.ApplicationRepository(uow.conn).awaiting_materials(
                query["street_code"], query["limit"])
        return dump_rpc_response("intake.list_awaiting_materials", {"cases": cases})

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id):
        """The case as intake holds it: household, materials, documents and timeline."""
        case_id = load_rpc_request("intake.get_case", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            cases = adapters.ApplicationRepository(uow.conn)
            return _view(uow, cases, _existing(cases, case_id))


def _existing(cases: adapters.ApplicationRepository, case_id: str,
              for_update: bool = False) -> domain.Application:
    app = cases.get(case_id, for_update=for_update)
    if app is None:
        raise NotFound(f"no case {case_id}", field="case_id", code="case_not_found")
    return app


def _issue_notice(uow, app: domain.Application, street: domain.Street) -> str:
    """The one written notice listing every missing item (IN-6), handed over on filing."""
    html = TEMPLATES.render("materials_notice.html", **domain.notice_context(app, street))
    return uow.documents.issue(app.case_id, "materials_notice", NOTICE_TITLE, html,
                               issued_at=uow.now, served_at=uow.now).document_id


def _accept(uow, app: domain.Application, actor: Actor) -> None:
    """Acceptance: every later deadline runs from ``accepted_at`` (IN-6)."""
    uow.outbox.add("application.accepted", domain.accepted_event(app), case_id=app.case_id,
                   street_code=app.street_code)
    adapters.record_progress(uow, app, action="application_accepted", actor=actor,
                             rule_id="IN-6")


def _view(uow, cases: adapters.ApplicationRepository, app: domain.Application) -> dict:
    documents = [d.ref() for d in uow.documents.for_case(app.case_id)]
    return dump_rpc_response("intake.get_case",
                             domain.case_view(app, documents, cases.timeline(app.case_id)))


SERVICE = IntakeService
