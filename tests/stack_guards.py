"""Fixtures that make the local stack behave like AWS where moto does not (import them by name)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reliability.faults import atomic_sqs_deletes


@pytest.fixture(autouse=True)
def whole_sqs_deletes() -> Iterator[None]:
    """moto can lose a DeleteMessage that races another (the message comes back and is handled twice,
    with a second outcome event): tests that count events per document need deletes to hold."""
    with atomic_sqs_deletes():
        yield
