"""Fixtures shared by all tests."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from testsupport import load_example


@pytest.fixture
def invoice_message() -> dict[str, Any]:
    return load_example("01-invoice-company.json")


@pytest.fixture
def aws_in_process(monkeypatch):
    """moto's backends in this process (no server), with test credentials and no local-stack endpoint."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield
