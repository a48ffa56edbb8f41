"""Test modules need unique names across tests/ (no __init__.py there: pytest imports each by its
basename, and two files with one name in different folders fail to import when run together)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_name():
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
