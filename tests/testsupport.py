"""Helpers shared by tests (importable: `tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "documents"


def load_example(name: str) -> dict[str, Any]:
    """An example message as a plain dict (a fresh copy each time)."""
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.json"))


def with_changes(message: dict[str, Any], **document_changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(message)
    changed["document"].update(document_changes)
    return changed
