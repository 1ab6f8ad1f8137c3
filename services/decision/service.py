"""The decision service: management review, the department head's consent and the leader's
decision (DE-1 to DE-7, ORG-1, ORG-7), and the VE-3 non-confirmation."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nameko.rpc import rpc

from hqcore import timeline
from hqcore.authz import CLERK, DEPARTMENT_HEAD, DISTRICT_OFFICER, REVIEWER, ROLES, authorize
from hqcore.clock import local_date
from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.errors import EXPECTED, Conflict, NotFound
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform
from hqcore.service_kit import CaseRecordService, PolicyTableService, load_actor
from hqcore.uow import deadline_event
from services.decision import adapters, domain, letters, roster


def _request(name: str, **fields) -> dict:
    """Validate a step's fields against its contract (fields not sent are left out)."""
    return load_rpc_request(name, {k: v for k, v in fields.items() if v is not None})


class DecisionService(PolicyTableService, CaseRecordService):
    name = "decision"
    platform = Platform(adapters.TABLES)
    case_records_table = adapters.cases_table
    policy_rates_table = adapters.policy_rates  # add_policy_rate, list_policy_rates

    # -- events ----------------------------------------------------------------------------
    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_application_accepted"):
                return
            street_from = adapters.delegated_from(uow.conn, event.payload["street_code"])
            record, deadlines = domain.open_decision(event.payload, street_from,
                                                     self.platform.calendar)  # ORG-1, DE-4
            adapters.cases(uow.conn).add(record)
            for deadline in deadlines:
                uow.deadlines.add(deadline)

    @subscribe("verification.completed")
    def on_verification_completed(self, event):
        self._on_case_event(event, "on_verification_completed",
                            lambda uow, record: domain.keep_verification(record, event.payload))

    @subscribe("publicity.concluded")
    def on_publicity_concluded(self, event):
        def apply(uow, record):
            deadline = domain.receive_publicity(record, event.payload, self.platform.calendar)
            if deadline is not None:
                uow.deadlines.add(deadline)  # DE-1: review within 2 WD
                self._progress(uow, record, "file_received_for_review", rule_id="DE-1")
        self._on_case_event(event, "on_publicity_concluded", apply)

    @subscribe("verification.non_confirmation_proposed")
    def on_non_confirmation_proposed(self, event):
        def apply(uow, record):
            deadline = domain.receive_non_confirmation(record, event.payload,
                                                       self.platform.calendar)
            if deadline is not None:
                uow.deadlines.add(deadline)  # VE-3: decided and served within 3 WD
                self._progress(uow, record, "non_confirmation_proposed", rule_id="VE-3",
                               note="; ".join(event.payload["reasons"]))
        self._on_case_event(event, "on_non_confirmation_proposed", apply)

    @subscribe("verification.withdrawn")
    def on_verification_withdrawn(self, event):
        def apply(uow, record):
            if domain.withdraw(record, event.payload):  # VE-5: no decision is needed
                for rule_id in {d.rule_id for d in uow.deadlines.open_for_case(record.case_id)}:
                    uow.deadlines.meet(record.case_id, rule_id, uow.now)
                self._progress(uow, record, "closed_as_withdrawn", rule_id="VE-5",
                               note=event.payload["reason"], closed=True)
        self._on_case_event(event, "on_verification_withdrawn", apply)

    # -- steps -----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def record_review(self, actor, case_id, opinion, reasons=None, note=None):
        request = _request("decision.record_review", case_id=case_id, opinion=opinion,
                           reasons=reasons, note=note)
        with self._step(actor, case_id, "record_review", (REVIEWER,)) as (uow, actor, record):
            domain.review(record, request, actor, uow.now)
            uow.deadlines.meet(case_id, "DE-1", uow.now)  # DE-1: reviewed within 2 WD
            self._progress(uow, record, f"reviewed:{request['opinion']}", actor=actor,
                           rule_id="VE-3" if request["opinion"] == "non_confirm" else "DE-1",
                           note="; ".join(request["reasons"]) or request["note"])
        return self.get_case(case_id)

    @rpc(expected_exceptions=EXPECTED)
    def record_head_consent(self, actor, case_id, note=None):
        request = _request("decision.record_head_consent", case_id=case_id, note=note)
        with self._step(actor, case_id, "record_head_consent",
                        (DEPARTMENT_HEAD,)) as (uow, actor, record):
            deadline = domain.consent(record, request, actor, uow.now, self.platform.calendar)
            uow.deadlines.add(deadline)  # DE-1: the leader decides within 3 WD
            self._progress(uow, record, "head_consented", actor=actor, rule_id="DE-1",
                           note=request["note"])
        return self.get_case(case_id)

    @rpc(expected_exceptions=EXPECTED, sensitive_arguments=("care_arrangement",))
    def decide(self, actor, case_id, outcome, reasons=None, care_arrangement=None):
        request = _request("decision.decide", case_id=case_id, outcome=outcome,
                           reasons=reasons, care_arrangement=care_arrangement)
        with self._step(actor, case_id, "decide") as (uow, actor, record):
            authorize(actor, domain.decider_roles(record.details["deciding_authority"]),
                      record.street_code, "decide")  # ORG-1
            day = local_date(uow.now)
            decision = domain.decide(
                record, request, lambda keys: adapters.rates_in_force(uow.conn, keys, day))
            documents = [uow.documents.issue(case_id, kind, title, html, uow.now)
                         for kind, title, html in letters.render(record, decision, uow.now)]
            ids = [document.document_id for document in documents]
            record.details["documents"] += [domain.document_ref(d) for d in documents]
            service_deadline = domain.record_decision(record, decision, actor, uow.now, ids,
                                                      self.platform.calendar)
            uow.deadlines.meet(case_id, "DE-1", uow.now)
            uow.deadlines.meet(case_id, "DE-4", uow.now)  # DE-4: decided within the limit
            if service_deadline is not None:
                uow.deadlines.add(service_deadline)       # DE-5, DE-7: served within 3 WD
            uow.outbox.add("decision.made",
                           domain.decision_made_event(record, decision, uow.now, ids[0]),
                           case_id=case_id, street_code=record.street_code)
            if decision.outcome == domain.APPROVED:
                self._open_roster_deadline(uow, record.street_code)  # DE-3
            self._progress(uow, record, f"decided:{decision.outcome}", actor=actor,
                           rule_id="VE-3" if decision.outcome == domain.NON_CONFIRMED
                           else "DE-1", note="; ".join(decision.reasons) or None,
                           document_ids=ids, closed=decision.outcome != domain.APPROVED)
        return self.get_case(case_id)

    @rpc(expected_exceptions=EXPECTED)
    def extend(self, actor, case_id, reason):
        request = _request("decision.extend", case_id=case_id, reason=reason)
        with self._step(actor, case_id, "extend", (REVIEWER,)) as (uow, actor, record):
            de4 = next((d for d in uow.deadlines.open_for_case(case_id) if d.rule_id == "DE-4"),
                       None)
            extended = domain.extend(record, request, actor, uow.now, de4,
                                     self.platform.calendar)  # DE-4: 30 → 45 WD
            adapters.extend_deadline(uow.conn, extended)
            uow.outbox.add("deadline.opened", deadline_event(extended, self.name),
                           case_id=case_id, street_code=record.street_code)
            self._progress(uow, record, "extended_to_45_wd", actor=actor, rule_id="DE-4",
                           note=request["reason"])
        return self.get_case(case_id)

    @rpc(expected_exceptions=EXPECTED)
    def record_service(self, actor, case_id, document_id, served_at):
        request = _request("decision.record_service", case_id=case_id,
                           document_id=document_id, served_at=served_at)
        with self._step(actor, case_id, "record_service", (CLERK,)) as (uow, actor, record):
            served_at = request["served_at"]
            all_served = domain.serve(record, request["document_id"], served_at, uow.now)
            uow.documents.mark_served(request["document_id"], served_at)  # ORG-7
            rule = record.details["decision"]["service_rule"]
            if all_served:
                uow.deadlines.meet(case_id, rule, served_at)  # DE-5, DE-7, VE-3
            self._progress(uow, record, "document_served", actor=actor, rule_id=rule,
                           document_ids=[request["document_id"]])
        return self.get_case(case_id)

    @rpc(expected_exceptions=EXPECTED)
    def set_delegation(self, actor, street_code, delegated_from):
        """ORG-1: the district sets the date from which a street confirms its own cases;
        cases keep the route in force on their acceptance day."""
        request = load_rpc_request("decision.set_delegation", {
            "street_code": street_code, "delegated_from": delegated_from})
        authorize(load_actor(actor), (DISTRICT_OFFICER,), None, "set_delegation")
        with self.platform.uow() as uow:
            if not adapters.set_delegated_from(uow.conn, request["street_code"],
                                               request["delegated_from"]):
                raise NotFound(f"no street {street_code}", field="street_code",
                               code="unknown_street")
        return dump_rpc_response("decision.set_delegation", request)

    @rpc(expected_exceptions=EXPECTED)
    def list_recipients(self, actor, street_code, community=None):
        """DE-2: the approved households of a street (or one community) for announcement."""
        request = _request("decision.list_recipients", street_code=street_code,
                           community=community)
        authorize(load_actor(actor), ROLES, request["street_code"], "list_recipients")
        with self.platform.uow() as uow:
            records = adapters.approved_cases(uow.conn, request["street_code"])
        announced = [domain.announced(r) for r in records
                     if request["community"] in (None, r.details["community"])]
        return dump_rpc_response("decision.list_recipients", {**request,
                                                              "recipients": announced})

    @rpc(expected_exceptions=EXPECTED)
    def file_monthly_report(self, actor, street_code, month):
        """DE-3: the management department files the month's roster of newly confirmed
        recipients and the monthly report with the district, before the 25th."""
        request = _request("decision.file_monthly_report", street_code=street_code, month=month)
        actor = load_actor(actor)
        authorize(actor, (REVIEWER, DEPARTMENT_HEAD), request["street_code"],
                  "file_monthly_report")
        with self.platform.uow() as uow:
            street, month = request["street_code"], request["month"]
            if adapters.monthly_report(uow.conn, street, month) is not None:
                raise Conflict(f"the {month} report of {street} is already filed",
                               field="month", code="already_filed")
            if month > roster.roster_month(uow.now):
                raise Conflict(f"the roster of {month} is not open yet", field="month",
                               code="invalid_state")
            records = adapters.approved_cases(uow.conn, street)
            report = roster.monthly_report(street, month, [domain.announced(r) for r in records])
            title, html = letters.render_monthly_report(report, uow.now)
            key = roster.roster_key(street, month)
            document = uow.documents.issue(key, "monthly_report", title, html, uow.now,
                                           served_at=uow.now)
            filed = {"street_code": street, "month": month, "filed_at": uow.now,
                     "filed_by": actor.user_id,
                     "on_time": uow.now < roster.filing_due_at(month),
                     "households": report["households"],
                     "monthly_amount_fen": report["monthly_amount_fen"],
                     "document_id": document.document_id}
            adapters.add_monthly_report(uow.conn, filed)
            uow.deadlines.meet(key, "DE-3", uow.now)
        return dump_rpc_response("decision.file_monthly_report", filed)

    def _open_roster_deadline(self, uow, street_code: str) -> None:
        """The first approval of a roster month opens the street's DE-3 filing deadline."""
        month = roster.roster_month(uow.now)
        key = roster.roster_key(street_code, month)
        if not uow.deadlines.for_case(key) and \
                adapters.monthly_report(uow.conn, street_code, month) is None:
            uow.deadlines.add(roster.filing_deadline(street_code, month, uow.now))

    # -- shared ----------------------------------------------------------------------------
    def _on_case_event(self, event, handler: str, apply) -> None:
        """``apply(uow, record)`` once per event, in one unit of work; a case not recorded yet
        fails the delivery, which is retried once the acceptance has arrived."""
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, handler):
                return
            record = adapters.case_for_update(uow.conn, event.payload["case_id"])
            if record is None:
                raise NotFound(f"decision has no record of case {event.payload['case_id']} yet",
                               field="case_id")
            apply(uow, record)
            adapters.cases(uow.conn).save(record)

    @contextmanager
    def _step(self, actor, case_id: str, step: str, roles=None) -> Iterator[tuple]:
        """A step's unit of work: the acting user, the locked case, its street and role
        checked (``roles`` None: the step checks them itself); saved if the step succeeds."""
        actor = load_actor(actor)
        with self.platform.uow() as uow:
            record = adapters.case_for_update(uow.conn, case_id)
            if record is None:
                raise NotFound(f"decision has no record of case {case_id}", field="case_id")
            if roles is not None:
                authorize(actor, roles, record.street_code, step)
            yield uow, actor, record
            adapters.cases(uow.conn).save(record)

    def _progress(self, uow, record, action: str, *, actor=None, rule_id=None, note=None,
                  document_ids=(), closed: bool = False) -> None:
        """The step on the district's timeline (event) and on the case's own timeline."""
        record.details["timeline"].append(domain.timeline_entry(
            uow.now, record.status, action, actor, rule_id, note, document_ids))
        timeline.progressed(uow, record, step=domain.reported_step(record), action=action,
                            actor=actor, rule_id=rule_id, note=note,
                            document_ids=document_ids, closed=closed)


SERVICE = DecisionService
