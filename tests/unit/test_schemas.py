"""The committed JSON Schemas are what the models generate (regenerate with `make schemas`)."""

from __future__ import annotations

import pytest

from tools.generate_schemas import ROOT, SCHEMAS, render


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    model, mode = SCHEMAS[name]
    committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
    assert committed == render(model, mode), f"schemas/{name} is stale: run `make schemas` and commit it"


def test_message_schema_version_is_in_the_file_name() -> None:
    from invoice_export.domain.documents import SCHEMA_VERSION

    assert f"export-message.v{SCHEMA_VERSION}.json" in SCHEMAS


def test_readme_provider_table_is_generated_from_capabilities() -> None:
    from tools.provider_table import render, rewrite

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert rewrite(readme) == readme, "README.md provider table is stale: run `make docs` and commit it"
    assert "| Fakturownia |" in render()
