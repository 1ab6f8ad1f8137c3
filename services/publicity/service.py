"""The publicity service: preliminary opinion, publicity, objections, major disputes and
democratic deliberation (PU-1 to PU-7). Entrypoints only; the rules are in ``domain``."""
from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

from nameko.rpc import rpc

from hqcore import reference, timeline
from hqcore.authz import (
    CLERK, COMMUNITY_WORKER, DISTRICT_OFFICER, STREET_LEADER, Actor, authorize, may_view,
)
from hqcore.clock import CHINA_TZ
from hqcore.contracts import dump_rpc_response, load_rpc_request
from hqcore.contracts.common import PROGRAMS_LABEL_ZH, DocumentRefSchema
from hqcore.documents import Templates
from hqcore.errors import EXPECTED, Conflict, Forbidden, NotFound
from hqcore.messaging.subscriber import subscribe
from hqcore.nameko_ext import Platform, scan
from hqcore.service_kit import CaseRecordService, deadline_view, load_actor
from services.publicity import adapters, domain
from services.publicity.adapters import BodyRepository, CaseRepository, PeriodRepository

TEMPLATES = Templates(Path(__file__).parent / "templates")
OPINION_ZH = {"approve": "拟同意给予救助", "refuse": "拟不予救助"}
CONCLUSION_ZH = {"approve": "同意给予救助", "refuse": "不同意给予救助"}
KIND_ZH = {"leader_in_charge": "分管领导", "management_staff": "管理部门工作人员",
           "committee_staff": "居委会工作人员", "public_representative": "群众代表"}
REASON_ZH = {"tekun": "特困人员供养，须开展民主评议", "objection": "公示期间有异议",
             "major_dispute": "投诉、举报等较大争议"}


class PublicityService(CaseRecordService):
    name = "publicity"
    platform = Platform(adapters.TABLES)
    case_records_table = adapters.TABLES["case_records"]

    # -- events ----------------------------------------------------------------------------
    @subscribe("application.accepted")
    def on_application_accepted(self, event):
        self.record_case(event, "on_application_accepted",
                         domain.register_case(event.payload).to_record())  # PU-2

    @subscribe("verification.completed")
    def on_verification_completed(self, event):
        """The family was found eligible: the handling agency forms its opinion (PU-1)."""
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, "on_verification_completed"):
                return
            cases = CaseRepository(uow.conn)
            case = self._case(cases, event.payload["case_id"])
            before = case.status
            if domain.verification_completed(case, event.payload):
                self._commit(uow, cases, case, before, "verification_completed",
                             rule_id="PU-4" if case.awaiting_dispute_opinion else "PU-1")

    @subscribe("decision.made")
    def on_decision_made(self, event):
        self._close(event, "on_decision_made", f"decided:{event.payload['outcome']}")

    @subscribe("verification.withdrawn")
    def on_verification_withdrawn(self, event):
        self._close(event, "on_verification_withdrawn", "withdrawn")  # VE-5

    # -- steps -----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def record_preliminary_opinion(self, actor=None, **fields):
        """PU-1: publicise the preliminary opinion for 5 D (PU-4: after a major dispute)."""
        request = load_rpc_request("publicity.record_preliminary_opinion", fields)
        actor = load_actor(actor)
        with self.platform.uow() as uow:
            cases = CaseRepository(uow.conn)
            case = self._case(cases, request["case_id"])
            authorize(actor, (CLERK,), case.street_code, "record_preliminary_opinion")
            before = case.status
            publicity = domain.record_preliminary_opinion(
                case, request["opinion"], request["summary"], uow.now, self.platform.calendar)
            notice = self._issue_notice(uow, case, publicity)
            PeriodRepository(uow.conn).start(case.case_id, domain.ends_at(publicity))
            uow.deadlines.meet(case.case_id, "PU-4", uow.now)  # PU-4: the new opinion is given
            self._commit(uow, cases, case, before, "preliminary_opinion_recorded", actor=actor,
                         rule_id="PU-1", note=request["opinion"],
                         document_ids=[notice.document_id])
            return self._view(uow, case)

    @rpc(expected_exceptions=EXPECTED)
    def record_objection(self, actor=None, **fields):
        """PU-3: an objection during publicity sends the case back to investigation."""
        request = load_rpc_request("publicity.record_objection", fields)
        actor = load_actor(actor)
        with self.platform.uow() as uow:
            cases = CaseRepository(uow.conn)
            case = self._case(cases, request["case_id"])
            authorize(actor, (COMMUNITY_WORKER, CLERK), case.street_code, "record_objection")
            before = case.status
            domain.record_objection(case, request["objector"], request["detail"], uow.now,
                                    actor.user_id)
            self._reinvestigate(uow, cases, case, before, "objection", request["detail"],
                                actor, "PU-3")
            return self._view(uow, case)

    @rpc(expected_exceptions=EXPECTED)
    def record_major_dispute(self, actor=None, **fields):
        """PU-4: a major dispute: investigate again, new opinion within 10 WD."""
        request = load_rpc_request("publicity.record_major_dispute", fields)
        actor = load_actor(actor)
        with self.platform.uow() as uow:
            cases = CaseRepository(uow.conn)
            case = self._case(cases, request["case_id"])
            authorize(actor, (CLERK, DISTRICT_OFFICER), case.street_code,
                      "record_major_dispute")
            before = case.status
            _, deadline = domain.record_major_dispute(
                case, request["source"], request["detail"], uow.now, actor.user_id,
                self.platform.calendar)
            uow.deadlines.add(deadline)
            self._reinvestigate(uow, cases, case, before, "major_dispute", request["detail"],
                                actor, "PU-4")
            return self._view(uow, case)

    @rpc(expected_exceptions=EXPECTED)
    def record_deliberation(self, actor=None, **fields):
        """PU-5 to PU-7: the body's conclusion, minuted into the family's file."""
        request = load_rpc_request("publicity.record_deliberation", fields)
        actor = load_actor(actor)
        with self.platform.uow() as uow:
            cases = CaseRepository(uow.conn)
            case = self._case(cases, request["case_id"])
            authorize(actor, (CLERK,), case.street_code, "record_deliberation")
            case.require((domain.DELIBERATION,), "record_deliberation")
            body = self._body(uow, case.street_code)
            before = case.status
            deliberation = domain.record_deliberation(
                case, body["members"], request["members_present"], request["conclusion"],
                request["minutes"], request["signed_off_by"],
                request["leadership_meeting_approved_on"], uow.now)
            minutes = self._issue_minutes(uow, case, deliberation)
            deliberation["minutes_document_id"] = minutes.document_id  # PU-7
            uow.outbox.add("publicity.concluded", domain.concluded_payload(case, uow.now),
                           case_id=case.case_id, street_code=case.street_code)
            self._commit(uow, cases, case, before, "deliberation_recorded", actor=actor,
                         rule_id="PU-7", note=request["conclusion"],
                         document_ids=[minutes.document_id])
            return self._view(uow, case)

    @rpc(expected_exceptions=EXPECTED)
    def set_deliberation_body(self, actor=None, **fields):
        """PU-5: the street's leader in charge (or the district) sets the street's body."""
        request = load_rpc_request("publicity.set_deliberation_body", fields)
        actor = load_actor(actor)
        authorize(actor, (STREET_LEADER, DISTRICT_OFFICER), request["street_code"],
                  "set_deliberation_body")
        members = domain.validate_body(request["members"])
        with self.platform.uow() as uow:
            bodies = BodyRepository(uow.conn)
            bodies.replace(request["street_code"], members, uow.now, actor.user_id)
            return dump_rpc_response("publicity.set_deliberation_body",
                                     bodies.get(request["street_code"]))

    @rpc(expected_exceptions=EXPECTED)
    def get_deliberation_body(self, actor=None, **fields):
        """A street's body, for its own staff and the district."""
        street_code = load_rpc_request("publicity.get_deliberation_body", fields)["street_code"]
        actor = load_actor(actor)
        if not may_view(actor, street_code):
            raise Forbidden(f"the body belongs to another street ({street_code})",
                            field="street_code", code="wrong_street")
        with self.platform.uow() as uow:
            body = self._body(uow, street_code)
        return dump_rpc_response("publicity.get_deliberation_body", body)

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id):
        case_id = load_rpc_request("publicity.get_case", {"case_id": case_id})["case_id"]
        with self.platform.uow() as uow:
            return self._view(uow, self._case(CaseRepository(uow.conn), case_id))

    # -- periodic --------------------------------------------------------------------------
    @scan
    def end_publicities(self):
        """PU-1, PU-2: a publicity that reached its end without objection concludes by itself
        (every instance scans; the conditional save lets one act on each case)."""
        with self.platform.uow() as uow:
            due = PeriodRepository(uow.conn).ended(uow.now)
        for case_id in due:
            try:
                self._end_publicity(case_id)
            except Conflict:
                continue  # another instance (or an objection) got there first

    def _end_publicity(self, case_id: str) -> None:
        with self.platform.uow() as uow:
            cases = CaseRepository(uow.conn)
            case = self._case(cases, case_id)
            before = case.status
            target = domain.end_publicity(case, uow.now)
            PeriodRepository(uow.conn).stop(case_id)
            if target == domain.CONCLUDED:
                uow.outbox.add("publicity.concluded", domain.concluded_payload(case, uow.now),
                               case_id=case.case_id, street_code=case.street_code)
            note = ("deliberation required" if target == domain.DELIBERATION
                    else "no dispute: deliberation skipped")
            self._commit(uow, cases, case, before, "publicity_ended", rule_id="PU-2", note=note)

    # -- helpers ---------------------------------------------------------------------------
    def _case(self, cases: CaseRepository, case_id: str) -> domain.PublicityCase:
        case = cases.get(case_id)
        if case is None:
            raise NotFound(f"publicity has no record of case {case_id}", field="case_id",
                           code="case_not_found")
        return case

    def _body(self, uow, street_code: str) -> dict:
        body = BodyRepository(uow.conn).get(street_code)
        if body is None:
            raise NotFound(f"street {street_code} has no deliberation body (PU-5)",
                           field="street_code", code="no_deliberation_body")
        return body

    def _commit(self, uow, cases: CaseRepository, case: domain.PublicityCase, before: str,
                action: str, *, actor: Actor | None = None, rule_id: str | None = None,
                note: str | None = None, document_ids=()) -> None:
        """Save the case from the state it was read in, with its timeline entry and event."""
        case.timeline.append({
            "at": uow.now.isoformat(), "service": self.name, "step": case.status,
            "action": action, "actor_user": actor.user_id if actor else None,
            "actor_role": actor.role if actor else None, "rule_id": rule_id, "note": note,
            "document_ids": list(document_ids)})
        if not cases.save(case, before):
            raise Conflict(f"the case moved on from {before} meanwhile", field="case_id",
                           code="invalid_state")
        timeline.progressed(uow, case, step=case.status, action=action, actor=actor,
                            rule_id=rule_id, note=note, document_ids=document_ids)

    def _reinvestigate(self, uow, cases, case, before: str, cause: str, detail: str,
                       actor: Actor, rule_id: str) -> None:
        """PU-3, PU-4: the publicity stops and verification investigates again."""
        PeriodRepository(uow.conn).stop(case.case_id)
        uow.outbox.add("publicity.reinvestigation_requested",
                       domain.reinvestigation_payload(case, cause, detail, uow.now),
                       case_id=case.case_id, street_code=case.street_code)
        self._commit(uow, cases, case, before, f"{cause}_recorded", actor=actor,
                     rule_id=rule_id, note=detail)

    def _close(self, event, handler: str, reason: str) -> None:
        with self.platform.uow() as uow:
            if not uow.inbox.claim(event, handler):
                return
            cases = CaseRepository(uow.conn)
            case = self._case(cases, event.payload["case_id"])
            before = case.status
            if domain.close(case, reason, uow.now):
                PeriodRepository(uow.conn).stop(case.case_id)
                uow.deadlines.meet(case.case_id, "PU-4", uow.now)  # nothing left to give
                cases.save(case, before)

    def _view(self, uow, case: domain.PublicityCase) -> dict:
        details = case.to_record().details
        details["documents"] = DocumentRefSchema(many=True).dump(
            [d.ref() for d in uow.documents.for_case(case.case_id)])
        return dump_rpc_response("publicity.get_case", {
            "service": self.name, "case_id": case.case_id, "status": case.status,
            "since": case.since, "details": details,
            "deadlines": [deadline_view(d) for d in uow.deadlines.for_case(case.case_id)],
        })

    def _issue_notice(self, uow, case: domain.PublicityCase, publicity: dict):
        """The public notice (公示) for the residents' committee notice board: no ID numbers."""
        title = f"社会救助审核确认公示（{case.case_no}）"
        last_day = datetime.combine(datetime.fromisoformat(publicity["last_day"]).date(),
                                    time(12), CHINA_TZ)
        html = TEMPLATES.render(
            "public_notice.html", title=title, round=publicity["round"], case_no=case.case_no,
            program_label=PROGRAMS_LABEL_ZH[case.program], community=case.community,
            household_size=publicity["household_size"], summary=publicity["summary"],
            opinion_label=OPINION_ZH[publicity["opinion"]], starts_at=uow.now,
            last_day=last_day, days=domain.PUBLICITY_DAYS,
            street_name=_street_name(case.street_code))
        notice = uow.documents.issue(case.case_id, "public_notice", title, html, uow.now)
        publicity["notice_document_id"] = notice.document_id
        return notice

    def _issue_minutes(self, uow, case: domain.PublicityCase, deliberation: dict):
        """The body's minutes (会议纪要), archived in the family's file (PU-6, PU-7)."""
        title = f"社会救助审批确认议事协商会议纪要（{case.case_no}）"
        html = TEMPLATES.render(
            "deliberation_minutes.html", title=title, case_no=case.case_no,
            program_label=PROGRAMS_LABEL_ZH[case.program], community=case.community,
            reason="；".join(REASON_ZH[r] for r in domain.deliberation_reasons(case)),
            held_at=uow.now, members=deliberation["members_present"],
            body_size=deliberation["body_size"], kind_labels=KIND_ZH,
            minutes=deliberation["minutes"], conclusion_label=CONCLUSION_ZH[
                deliberation["conclusion"]], signed_off_by=deliberation["signed_off_by"],
            approved_on=deliberation["leadership_meeting_approved_on"],
            street_name=_street_name(case.street_code))
        return uow.documents.issue(case.case_id, "deliberation_minutes", title, html, uow.now)


def _street_name(street_code: str) -> str:
    return next((s["name"] for s in reference.streets() if s["code"] == street_code),
                street_code)


SERVICE = PublicityService
