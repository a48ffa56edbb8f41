"""Properties of every registered provider mapper (`adapter.build_request` after `plan_export`).

A valid document maps without error and the mapped lines add up to our totals; a document the
account or the provider cannot express is refused with a ConfigurationError that says what to
change, never with another exception. Each provider joins by being registered in
`invoice_export.providers` and, for the totals check, by a reader of its mapped line totals below.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from property.strategies import PAYMENT_METHODS, PROPERTY_SETTINGS, SERIES, documents, to_body
from pydantic import BaseModel, SecretStr

from invoice_export.documents import Document, DocumentKind, ExportMessage, PriceBasis, compute_totals
from invoice_export.errors import ConfigurationError
from invoice_export.planning import plan_export
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.providers.base import ExportPlan, ProviderAdapter, ProviderReference
from invoice_export.providers.http import ProviderHttp
from invoice_export.settings import AccountSettings, ProviderName

DUMMY_URL = "http://127.0.0.1:9"  # never called: mapping is pure
CORRECTED = ProviderReference(provider_document_id="1001", number="FV 1/2026", series="7")


def fakturownia_line_totals(body: dict[str, Any], basis: PriceBasis) -> list[Decimal]:
    field = "total_price_gross" if basis == PriceBasis.GROSS else "total_price_net"
    return [Decimal(position[field]) for position in body["invoice"]["positions"]]


# Provider -> the mapped line totals (in the document's price basis) of a request body.
LINE_TOTAL_READERS: dict[ProviderName, Callable[[dict[str, Any], PriceBasis], list[Decimal]]] = {
    ProviderName.FAKTUROWNIA: fakturownia_line_totals,
}


def dummy_credentials(model: type[BaseModel]) -> BaseModel:
    """Any well-formed credentials: mapping never uses them."""
    return model.model_validate({name: "dummy-secret" if field.annotation is SecretStr else "dummy"
                                 for name, field in model.model_fields.items() if field.is_required()})


def build_adapter(provider: ProviderName, **setting_changes: Any) -> ProviderAdapter:
    cls = adapter_class(provider)
    caps = cls.capabilities
    settings = AccountSettings.model_validate({
        "account_id": "shop-1", "provider": provider.value, "api_url": DUMMY_URL,
        # A series id the provider can take where it has series ("7": a numeric id, e.g. a department).
        "series_links": dict.fromkeys(SERIES, "7" if caps.series else None),
        "payment_links": dict.fromkeys(PAYMENT_METHODS, "transfer"), **setting_changes})
    http = ProviderHttp(provider=cls.display_name, base_url=DUMMY_URL, auth=None, read_rejection=cls.read_rejection)
    return cls(settings, dummy_credentials(cls.credentials_model), http)


def plan(adapter: ProviderAdapter, document: Document) -> ExportPlan:
    corrected = CORRECTED if document.kind == DocumentKind.CORRECTION else None
    return plan_export(document, adapter.settings, type(adapter), corrected=corrected)


def read(message_document: dict[str, Any]) -> Document:
    return ExportMessage.model_validate_json(
        to_body({"schema_version": "1", "account_id": "shop-1", "document": message_document})).document


def supported_kinds(provider: ProviderName) -> tuple[str, ...]:
    caps = adapter_class(provider).capabilities
    return tuple(kind.value for kind in DocumentKind if caps.supports_kind(kind))


PROVIDERS = pytest.mark.parametrize("provider", supported_providers(), ids=lambda p: p.value)


@PROVIDERS
@given(data=st.data())
@PROPERTY_SETTINGS
def test_every_valid_document_maps_and_its_lines_add_up_to_our_totals(provider, data) -> None:
    document = read(data.draw(documents(kinds=supported_kinds(provider))))
    adapter = build_adapter(provider)
    try:
        body = adapter.build_request(plan(adapter, document))
    except ConfigurationError as error:
        assert_declared_refusal(adapter, document, error)
    else:
        assert_lines_add_up(provider, document, body)


def assert_declared_refusal(adapter: ProviderAdapter, document: Document, error: ConfigurationError) -> None:
    """A valid document may be refused only for a limit the provider declares, and the refusal must hold."""
    assert error.fix, error.message
    if error.code == "provider_totals_would_differ":
        # The provider computes VAT its own way (always per rate or per line, or its own split of a
        # gross amount); the refusal is right only if that really changes the totals.
        method = type(adapter).vat_calculation
        predicted = type(adapter).predicted_totals(document)
        if predicted is not None and predicted != document.totals:
            return
        assert method is not None and method != document.vat_calculation
        if document.correction is None:
            theirs = compute_totals(document.lines, document.price_basis, method)
            assert theirs != document.totals, "refused although the provider's totals would be the same"
    elif error.code == "unsupported_correction":
        assert document.kind == DocumentKind.CORRECTION
    else:
        raise AssertionError(f"refused a valid document: {error.code}: {error.message}")


def assert_lines_add_up(provider: ProviderName, document: Document, body: dict[str, Any]) -> None:
    if reader := LINE_TOTAL_READERS.get(provider):
        total = document.totals.gross if document.price_basis == PriceBasis.GROSS else document.totals.net
        assert sum(reader(body, document.price_basis), Decimal("0.00")) == total


@PROVIDERS
def test_every_provider_has_a_reader_of_its_mapped_line_totals(provider) -> None:
    if provider not in LINE_TOTAL_READERS:
        pytest.skip(f"add a reader of {provider.value}'s mapped line totals to LINE_TOTAL_READERS")


@PROVIDERS
@given(data=st.data())
@PROPERTY_SETTINGS
def test_any_vat_mix_maps_adding_up_or_is_refused_as_configuration(provider, data) -> None:
    document = read(data.draw(documents(kinds=supported_kinds(provider), provider_mappable=False)))
    adapter = build_adapter(provider)
    try:
        body = adapter.build_request(plan(adapter, document))
    except ConfigurationError as error:
        if error.code in ("provider_totals_would_differ", "unsupported_correction"):
            assert_declared_refusal(adapter, document, error)
            return
        assert error.code in ("unsupported_vat_mix", "unsupported_vat_code") and error.fix
        assert any(code in error.message for code in ("zw", "np", "np-EU", "oo", "exemption")), error.message
    else:
        assert_lines_add_up(provider, document, body)


@PROVIDERS
@given(data=st.data())
@PROPERTY_SETTINGS
def test_unlinked_series_and_payment_methods_are_refused_naming_them(provider, data) -> None:
    document = read(data.draw(documents(kinds=supported_kinds(provider))))
    missing = data.draw(st.sampled_from(("series", "payment")))
    if missing == "series":
        adapter = build_adapter(provider, series_links={})
        expected = (f"our series '{document.series}' is not linked", "series_not_linked")
    else:
        adapter = build_adapter(provider, payment_links={})
        expected = (f"our payment method '{document.payment.method}' is not linked", "payment_type_not_linked")
    with pytest.raises(ConfigurationError) as refused:
        plan(adapter, document)
    assert expected[0] in refused.value.message and refused.value.code == expected[1]
    assert refused.value.fix
