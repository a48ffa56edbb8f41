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


def test_the_provider_table_says_which_fields_carry_our_rate_and_exemption_basis() -> None:
    """Issue 13: what each adapter sends of our exchange rate and of a zw/np basis is in the table."""
    from invoice_export.providers import adapter_class, supported_providers
    from tools.provider_table import render

    table = render()
    assert "| Our exchange rate | Exemption basis (zw/np) |" in table.splitlines()[1]
    for provider in supported_providers():
        cls = adapter_class(provider)
        declared = (cls.exchange_rate_fields, cls.exemption_basis_fields)
        assert all(declared), f"{cls.display_name}: declare exchange_rate_fields and exemption_basis_fields"
        row = next(line for line in table.splitlines() if line.startswith(f"| {cls.display_name} |"))
        assert row.endswith(f"| {declared[0]} | {declared[1]} |")
