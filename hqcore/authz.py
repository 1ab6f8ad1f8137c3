"""Who may do what (ORG-4, ORG-5): roles, the acting user, and the permission check.

Pure: services call ``authorize`` with the acting user the gateway authenticated and the
case's street; a refusal is a ``Forbidden`` the gateway answers with 403.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from hqcore.errors import Forbidden

COMMUNITY_WORKER = "community_worker"
CLERK = "clerk"  # handling agency (经办机构)
INVESTIGATOR = "investigator"
REVIEWER = "reviewer"  # management department (管理部门)
DEPARTMENT_HEAD = "department_head"
STREET_LEADER = "street_leader"  # street leader in charge (街道分管领导)
DISTRICT_OFFICER = "district_officer"

ROLES = (
    COMMUNITY_WORKER,
    CLERK,
    INVESTIGATOR,
    REVIEWER,
    DEPARTMENT_HEAD,
    STREET_LEADER,
    DISTRICT_OFFICER,
)
STREET_ROLES = ROLES[:-1]

# Roles that need full ID numbers and incomes for their work; everyone else sees them masked.
SEES_PERSONAL_DATA = frozenset(
    {CLERK, INVESTIGATOR, REVIEWER, DEPARTMENT_HEAD, STREET_LEADER, DISTRICT_OFFICER}
)


class ActorData(TypedDict):
    """An ``Actor`` as it travels (the contract ``ActorSchema``)."""

    user_id: str
    role: str
    street_code: str | None
    name: str


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str
    street_code: str | None  # None: the district, which sees every street
    name: str = ""

    @property
    def is_district(self) -> bool:
        return self.role == DISTRICT_OFFICER

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Actor:
        return cls(data["user_id"], data["role"], data.get("street_code"), data.get("name", ""))

    def to_dict(self) -> ActorData:
        return {
            "user_id": self.user_id,
            "role": self.role,
            "street_code": self.street_code,
            "name": self.name,
        }


def authorize(
    actor: Actor, allowed_roles: Collection[str], case_street: str | None, step: str
) -> None:
    """Raise Forbidden unless ``actor`` has one of ``allowed_roles`` and, for street staff,
    works in the case's street."""
    if actor.role not in allowed_roles:
        raise Forbidden(
            f"{step} is not for the role {actor.role}",
            field="role",
            code="wrong_role",
            details={"allowed_roles": sorted(allowed_roles)},
        )
    if not actor.is_district and case_street is not None and actor.street_code != case_street:
        raise Forbidden(
            f"the case belongs to another street ({case_street})",
            field="street_code",
            code="wrong_street",
        )


def may_view(actor: Actor, case_street: str | None) -> bool:
    return actor.is_district or case_street is None or actor.street_code == case_street


def sees_personal_data(actor: Actor) -> bool:
    return actor.role in SEES_PERSONAL_DATA
