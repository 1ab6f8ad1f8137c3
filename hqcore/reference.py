"""The packaged reference data (streets, policy tables) that ``seed`` loads into services."""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

REFERENCE_FILE = Path(__file__).parent / "data" / "reference.json"


@lru_cache(maxsize=1)
def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
    for street in data["streets"]:
        street["delegated_from"] = date.fromisoformat(street["delegated_from"])
    for row in data["policy"]:
        row["valid_from"] = date.fromisoformat(row["valid_from"])
        row["valid_to"] = date.fromisoformat(row["valid_to"]) if row["valid_to"] else None
    return data


def streets() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = load()["streets"]
    return rows


def policy_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = load()["policy"]
    return rows
