"""Fixtures that make the local stack behave like AWS where moto does not (import them by name)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reliability.faults import sqs_like_aws


@pytest.fixture(autouse=True)
def sqs_as_in_aws() -> Iterator[None]:
    """moto can lose a DeleteMessage that races another (the message comes back and is handled twice,
    with a second outcome event) and reorder a FIFO group's returned messages: see sqs_like_aws."""
    with sqs_like_aws():
        yield
