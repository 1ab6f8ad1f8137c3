"""Sample households and the demo accounts' actors, for the benchmark and the tests.

Standard library and ``hqcore`` only (no pytest), so the benchmark can use them too.
"""

from __future__ import annotations

import json
from typing import Any

from hqcore.config import PROJECT_ROOT
from hqcore.idnumber import check_digit

DEMO_ACCOUNTS = PROJECT_ROOT / "gateway" / "data" / "accounts.json"


def sample_application(
    id_number: str = "11010519491231002X",
    program: str = "dibao",
    street_code: str = "shaogongzhuang",
) -> dict[str, Any]:
    """A complete one-person application: every material of the checklist (IN-3, and the
    written application for tekun, IN-2) and a signed authorisation (IN-7)."""
    materials = ["household_id_cards", "household_register", "economic_declaration"]
    if program == "tekun":
        materials.insert(0, "written_application")
    return {
        "program": program,
        "street_code": street_code,
        "community": "前园社区",
        "applicant": {"name": "王秀英", "id_number": id_number, "relationship": "self"},
        "members": [
            {
                "name": "王秀英",
                "id_number": id_number,
                "relationship": "self",
                "authorisation_signed": True,
            }
        ],
        "materials_provided": materials,
    }


def actor_for(username: str) -> dict[str, Any]:
    """The actor dict of a seeded demo account (``gateway/data/accounts.json``), as the
    gateway passes it to a service step."""
    data = json.loads(DEMO_ACCOUNTS.read_text(encoding="utf-8"))
    [account] = [a for a in data["accounts"] if a["username"] == username]
    return {
        "user_id": account["username"],
        "role": account["role"],
        "street_code": account["street_code"],
        "name": account["name"],
    }


def make_id_number(serial: int, birth: str = "19600101", region: str = "120106") -> str:
    """A valid resident ID number (GB 11643) for test households."""
    first17 = f"{region}{birth}{serial % 1000:03d}"
    return first17 + check_digit(first17)
