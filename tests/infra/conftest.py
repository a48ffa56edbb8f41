"""Fixtures for the infra tests: the SAM template, translated once per test session."""

from __future__ import annotations

import pytest
from template_support import TEMPLATE_PATH, RolePolicies, Translation, role_policies, translate


@pytest.fixture(scope="session")
def sam_text() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def translation(sam_text: str) -> Translation:
    return translate(sam_text)


@pytest.fixture(scope="session")
def cfn(translation: Translation) -> dict:
    """The translated CloudFormation template (Globals merged, policy templates expanded)."""
    return translation.cfn


@pytest.fixture(scope="session")
def functions(cfn: dict) -> dict[str, dict]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}


@pytest.fixture(scope="session")
def policies(cfn: dict, functions: dict) -> dict[str, RolePolicies]:
    """Function logical id -> what its execution role grants (inline + reviewed managed policies)."""
    return {fn: role_policies(cfn, fn) for fn in functions}
