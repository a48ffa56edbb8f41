"""Shared by the local-stack emulator tests: each module brings a small template of its own (TEMPLATE)."""

from __future__ import annotations

from pathlib import Path

import pytest

HANDLERS_DIR = Path(__file__).resolve().parent  # handlers_for_tests.py


@pytest.fixture
def template_path(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The test module's TEMPLATE, written out with its CodeUri (HANDLERS_DIR) pointing at the dummy handlers."""
    path = tmp_path / "template.yaml"
    path.write_text(request.module.TEMPLATE.replace("HANDLERS_DIR", str(HANDLERS_DIR)))
    return path
