"""Fixtures shared by the fakes' tests."""

from __future__ import annotations

import pytest
import requests


@pytest.fixture
def http():
    """A session that talks to 127.0.0.1 directly: never through a proxy from the environment."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()
