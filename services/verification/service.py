"""The verification service: household investigation and the economic check (VE-1 to VE-5)."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from nameko.rpc import rpc

from hqcore import reference
from hqcore.authz import CLERK, DISTRICT_OFFICER, INVESTIGATOR, Actor, authorize
from hqcore.contracts import load_rpc_request
from hqcore.contracts.common import PROGRAMS_LABEL_ZH
from hqcore.documents import Templates
from hqcore.errors import EXPECTED, Conflict
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform, scan
from hqcore.service_kit import CaseRecordService, PolicyTableService, load_actor
from hqcore.timeline import progressed
from services.verification import adapters, domain
from services.verification.adapters import CaseStore

log = logging.getLogger(__name__)


class VerificationService(PolicyTableService, CaseRecordService):
    name = "verification"
    platform = Platform(adapters.TABLES)
    city = adapters.CityPlatform()
    case_records_table = adapters.TABLES["case_records"]
    policy_rates_table = adapters.policy_rates  # add_policy_rate, list_policy_rates
    templates = Templates(Path(__file__).parent / "templates")

    # -- events ----------------------------------------------------------------------------
    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        record, deadline = domain.open_verification(event.payload, self.platform.calendar)
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_application_accepted"):
                return
            uow.deadlines.add(deadline)  # VE-1
            self._progress(uow, record, "household registered; investigation due", None, "VE-1")
            CaseStore(uow.conn).add(record)

    @subscribe("publicity.reinvestigation_requested")
    def on_reinvestigation_requested(self, event):
        payload = event.payload
        rule_id = "PU-3" if payload["cause"] == "objection" else "PU-4"
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_reinvestigation_requested"):
                return
            store = CaseStore(uow.conn)
            record = store.load(payload["case_id"])
            before = record.status
            if not domain.reopen_for_reinvestigation(record, payload["cause"],
                                                     payload["requested_at"]):
                log.warning("reinvestigation of case %s ignored: it is %s", record.case_id,
                            record.status)
                return
            uow.deadlines.add(domain.investigation_deadline(  # VE-1 again, from the request
                record, payload["requested_at"], self.platform.calendar))
            self._progress(uow, record, f"reinvestigation requested: round {record.details['round']}",
                           None, rule_id, note=payload["detail"])
            store.save_from(record, before)

    # -- steps -----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def record_investigation(self, actor, **fields):
        with self._step("record_investigation", actor, fields, (INVESTIGATOR,)) as (
                uow, record, request, who):
            domain.record_investigation(record, request, who, uow.now)  # VE-1, VE-4
            uow.deadlines.meet(record.case_id, "VE-1", uow.now)
            self._progress(uow, record, "household investigation recorded", who, "VE-1",
                           note=", ".join(request["methods"]))
        return self.get_case(record.case_id)

    @rpc(expected_exceptions=EXPECTED)
    def pre_review(self, actor, **fields):
        with self._step("pre_review", actor, fields, (CLERK,)) as (uow, record, request, who):
            domain.record_check(record, "pre_review", request["opinion"], who, uow.now)  # VE-2
            self._progress(uow, record, "pre-reviewed; sent to the district verification agency",
                           who, "VE-2", note=request["opinion"])
        return self.get_case(record.case_id)

    @rpc(expected_exceptions=EXPECTED)
    def district_review(self, actor, **fields):
        with self._step("district_review", actor, fields, (DISTRICT_OFFICER,)) as (
                uow, record, request, who):
            domain.record_check(record, "district_review", request["opinion"], who, uow.now)
            self._progress(uow, record, "district reviewed; city verification commissioned",
                           who, "VE-2", note=request["opinion"])
        return self.get_case(record.case_id)

    @rpc(expected_exceptions=EXPECTED)
    def record_explanation(self, actor, **fields):
        with self._step("record_explanation", actor, fields, (CLERK,)) as (
                uow, record, request, who):
            domain.record_explanation(record, request["explanation"], request["accepted"], who,
                                      uow.now)  # VE-3
            uow.deadlines.meet(record.case_id, "VE-3", uow.now)
            if request["accepted"]:
                self._complete(uow, record, who, "explanation accepted; verified", "VE-3")
            else:
                self._propose_non_confirmation(uow, record, who, "explanation not accepted")
        return self.get_case(record.case_id)

    @rpc(expected_exceptions=EXPECTED)
    def record_untruthful_declaration(self, actor, **fields):
        with self._step("record_untruthful_declaration", actor, fields, (CLERK,)) as (
                uow, record, request, who):
            domain.record_untruthful_declaration(record, request["detail"], who, uow.now)
            deadline = uow.deadlines.add(domain.correction_deadline(  # VE-5
                record, uow.now, self.platform.calendar))
            record.details["untruthful_declaration"]["deadline_id"] = deadline.id
            notice = self._issue(uow, record, "correction_notice.html", "correction_notice",
                                 "限期更正告知书", detail=request["detail"],
                                 correct_by=deadline.due_at - timedelta(seconds=1))
            self._progress(uow, record, "untruthful declaration: correction notice served", who,
                           "VE-5", note=request["detail"], document_ids=[notice.document_id])
        return self.get_case(record.case_id)

    @rpc(expected_exceptions=EXPECTED)
    def record_correction(self, actor, **fields):
        with self._step("record_correction", actor, fields, (CLERK,)) as (
                uow, record, request, who):
            resumed = domain.record_correction(record, request["detail"], who, uow.now)  # VE-5
            uow.deadlines.meet(record.case_id, "VE-5", uow.now)
            self._progress(uow, record, f"declaration corrected; resumes at {resumed}", who,
                           "VE-5", note=request["detail"])
        return self.get_case(record.case_id)

    # -- periodic work (every instance; one acts per case) ---------------------------------
    @scan
    def collect_city_reports(self):
        """VE-2: collect the city's reports and run the means test."""
        with self.platform.uow() as uow:
            case_ids = CaseStore(uow.conn).case_ids_in(domain.CITY_CHECK)
        for case_id in case_ids:
            self._guarded(self._collect_report, case_id)

    @scan
    def close_ended_windows(self):
        """VE-3 and VE-5: act on the windows whose time ran out (the deadline scanner marks
        them breached exactly once)."""
        with self.platform.uow() as uow:
            store = CaseStore(uow.conn)
            explanations = store.ended_windows(domain.AWAITING_EXPLANATION, "VE-3")
            corrections = store.ended_windows(domain.AWAITING_CORRECTION, "VE-5")
        for case_id, deadline_id in explanations:
            self._guarded(self._end_explanation_window, case_id, deadline_id)
        for case_id, deadline_id in corrections:
            self._guarded(self._end_correction_window, case_id, deadline_id)

    # -- helpers ---------------------------------------------------------------------------
    def _collect_report(self, case_id: str) -> None:
        with self.platform.uow() as uow:
            record = CaseStore(uow.conn).load(case_id)
        city_reference = domain.city_reference(record)
        report = self.city.report(self.city.commission(city_reference,
                                                       domain.persons_to_check(record)))
        if report is None:
            return
        with self._automatic(case_id) as (uow, record):
            if domain.city_reference(record) != city_reference:
                raise Conflict("the report is of an earlier round", code="invalid_state")
            day = domain.acceptance_day(record)
            policy = adapters.policy_in_force(uow.conn, domain.POLICY_KEYS, day)
            result = domain.means_test(record.program, record.details["members"], report,
                                       policy, day)
            domain.apply_report(record, report, result, uow.now)
            if result.eligible:
                self._complete(uow, record, None, "verification report: eligible", "VE-2")
            else:
                self._notify_ineligible(uow, record, result, report.report_id)

    def _notify_ineligible(self, uow, record, result: domain.MeansTest, report_id: str) -> None:
        """VE-3: a written notice with the reasons; 4 WD from its receipt to explain."""
        deadline = uow.deadlines.add(domain.explanation_deadline(record, uow.now,
                                                                 self.platform.calendar))
        domain.current_round(record)["explanation_deadline_id"] = deadline.id
        notice = self._issue(uow, record, "ineligibility_notice.html", "ineligibility_notice",
                             "不符合条件告知书", reasons=result.reasons, figures=result.figures(),
                             round=record.details["round"], report_id=report_id,
                             explain_by=deadline.due_at - timedelta(seconds=1))
        self._progress(uow, record, "not eligible: written notice served", None, "VE-3",
                       note="；".join(result.reasons), document_ids=[notice.document_id])

    def _end_explanation_window(self, case_id: str, deadline_id: str) -> None:
        with self._automatic(case_id) as (uow, record):
            domain.end_explanation_window(record, deadline_id, uow.now)  # VE-3
            self._propose_non_confirmation(uow, record, None, "no explanation within 4 WD")

    def _end_correction_window(self, case_id: str, deadline_id: str) -> None:
        with self._automatic(case_id) as (uow, record):
            domain.end_correction_window(record, deadline_id, uow.now)  # VE-5
            for rule_id in {d.rule_id for d in uow.deadlines.open_for_case(case_id)}:
                uow.deadlines.meet(case_id, rule_id, uow.now)  # nothing is owed any more
            window = next(d for d in uow.deadlines.for_case(case_id) if d.id == deadline_id)
            notice = self._issue(uow, record, "withdrawal_notice.html", "withdrawal_notice",
                                 "视为撤回申请告知书",
                                 detail=record.details["untruthful_declaration"]["detail"],
                                 correct_by=window.due_at - timedelta(seconds=1))
            uow.outbox.add("verification.withdrawn", domain.withdrawn_event(record, uow.now),
                           case_id=case_id, street_code=record.street_code)
            self._progress(uow, record, "not corrected in time: deemed withdrawn", None, "VE-5",
                           document_ids=[notice.document_id], closed=True)

    def _complete(self, uow, record, actor: Actor | None, action: str, rule_id: str) -> None:
        uow.outbox.add("verification.completed", domain.completed_event(record, uow.now),
                       case_id=record.case_id, street_code=record.street_code)
        self._progress(uow, record, action, actor, rule_id)

    def _propose_non_confirmation(self, uow, record, actor: Actor | None, action: str) -> None:
        uow.outbox.add("verification.non_confirmation_proposed",  # VE-3
                       domain.non_confirmation_event(record, uow.now),
                       case_id=record.case_id, street_code=record.street_code)
        self._progress(uow, record, f"{action}: non-confirmation proposed", actor, "VE-3")

    def _issue(self, uow, record, template: str, kind: str, title: str, **context):
        """Render, store and serve a written notice (ORG-7); served when issued."""
        streets = {s["code"]: s["name"] for s in reference.streets()}
        html = self.templates.render(
            template, street_name=streets.get(record.street_code, record.street_code),
            case_no=record.case_no, applicant_name=record.details["applicant"]["name"],
            program_label=PROGRAMS_LABEL_ZH[record.program], issued_at=uow.now,
            accepted_at=datetime.fromisoformat(record.details["accepted_at"]), **context)
        document = uow.documents.issue(record.case_id, kind, title, html, issued_at=uow.now,
                                       served_at=uow.now)
        record.details["documents"].append(
            {**document.ref(), "issued_at": uow.now.isoformat(), "served_at": uow.now.isoformat()})
        return document

    def _progress(self, uow, record, action: str, actor: Actor | None, rule_id: str | None,
                  note: str | None = None, document_ids=(), closed: bool = False) -> None:
        """The step on the case's own timeline and, as ``case.progressed``, the district's."""
        record.details["timeline"].append(domain.timeline_entry(
            record, action=action, at=uow.now, actor=actor, rule_id=rule_id, note=note,
            document_ids=document_ids))
        progressed(uow, record, step=record.status, action=action, actor=actor, rule_id=rule_id,
                   note=note, document_ids=document_ids, closed=closed)

    @contextmanager
    def _step(self, step: str, actor, fields: dict, roles):
        """Validate, authorise (403), then one unit of work saved only from the state the
        case was read in (409 otherwise)."""
        request = load_rpc_request(f"verification.{step}", fields)
        who = load_actor(actor)
        with self.platform.uow() as uow:
            store = CaseStore(uow.conn)
            record = store.load(request["case_id"])
            authorize(who, roles, record.street_code, step)
            before = record.status
            yield uow, record, request, who
            store.save_from(record, before)

    @contextmanager
    def _automatic(self, case_id: str):
        """A unit of work of the service's own accord, saved only from the state read."""
        with self.platform.uow() as uow:
            store = CaseStore(uow.conn)
            record = store.load(case_id)
            before = record.status
            yield uow, record
            store.save_from(record, before)

    @staticmethod
    def _guarded(work, *args) -> None:
        """Periodic work on one case: losing the race to another instance is normal."""
        try:
            work(*args)
        except Conflict:
            return  # another instance acted on this case first
        except Exception:
            log.exception("verification: periodic work on %s failed; retried next time", args)


SERVICE = VerificationService
