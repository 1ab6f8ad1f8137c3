"""A downstream service's own record of a case (pure; stored by ``hqcore.case_records``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class CaseRecord:
    case_id: str
    case_no: str
    program: str
    street_code: str
    status: str
    since: datetime
    details: dict = field(default_factory=dict)

    @classmethod
    def from_accepted(cls, payload: dict, status: str, **details) -> "CaseRecord":
        """The record a service opens when intake accepts an application."""
        return cls(case_id=payload["case_id"], case_no=payload["case_no"],
                   program=payload["program"], street_code=payload["street_code"],
                   status=status, since=payload["accepted_at"], details=details)
