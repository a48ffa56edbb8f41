"""Fixtures shared by all tests."""

from __future__ import annotations

from typing import Any

import pytest

from testsupport import load_example


@pytest.fixture
def invoice_message() -> dict[str, Any]:
    return load_example("01-invoice-company.json")
