"""``case.progressed``: every service tells the district what step a case reached, and who
acted, in the same transaction as the step itself."""
from __future__ import annotations

from hqcore.authz import Actor


def progressed(uow, case, *, step: str, action: str, actor: Actor | None = None,
               rule_id: str | None = None, note: str | None = None, document_ids=(),
               closed: bool = False) -> None:
    """``case`` is anything with case_id, case_no, program and street_code (attributes or keys)."""
    def get(name):
        return case[name] if isinstance(case, dict) else getattr(case, name)

    uow.outbox.add("case.progressed", {
        "case_id": get("case_id"), "case_no": get("case_no"), "program": get("program"),
        "street_code": get("street_code"), "service": uow.context.service, "step": step,
        "action": action, "actor_user": actor.user_id if actor else None,
        "actor_role": actor.role if actor else None, "rule_id": rule_id, "note": note,
        "document_ids": list(document_ids), "closed": closed, "at": uow.now,
    }, case_id=get("case_id"), street_code=get("street_code"))
