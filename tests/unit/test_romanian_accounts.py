"""A non-Polish account: home currency, Romanian tax ids, full reversals and gross-only read-backs."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from pydantic import ValidationError

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.planning import plan_export
from invoice_export.domain.readback import ProviderTotals, compare
from invoice_export.domain.tax_ids import COMPANY_TAX_ID_CHECKS, cui_problem
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter
from invoice_export.providers.romania import storno_by_total
from testsupport import load_example, with_changes

RO_INVOICE, RO_EUR, RO_STORNO = "ro/01-invoice-company.json", "ro/03-invoice-eur.json", "ro/05-storno.json"


def ron_home(adapter: type = FakturowniaAdapter, **caps) -> type:
    """An adapter class keeping its books in RON (as the Romanian ones do), with some capabilities changed."""
    return type("RonHome", (adapter,), {"home_currency": "RON", "vat_calculation": None,
                                        "capabilities": dataclasses.replace(adapter.capabilities, **caps)})


def settings(**changes) -> AccountSettings:
    return AccountSettings.model_validate({
        "account_id": "shop-ro", "provider": "fakturownia", "home_currency": "RON",
        "series_links": {"FV": None, "ST": None}, "payment_links": {"Transfer bancar": "transfer"}, **changes})


def document(name: str, **changes):
    return ExportMessage.model_validate(with_changes(load_example(name), **changes)).document


# ----------------------------------------------------------------------- tax ids


@pytest.mark.parametrize("cui", ["RO37311090", "37311090", "ro 18547290", "RO14399840", "19"])
def test_valid_romanian_cuis_with_or_without_the_ro_prefix(cui: str) -> None:
    assert cui_problem(cui) is None


@pytest.mark.parametrize("cui, problem", [
    ("RO37311091", "has a wrong check digit"), ("18547291", "has a wrong check digit"),
    ("RO", "does not have 2 to 10 digits"), ("12345678901", "does not have 2 to 10 digits"),
    ("RO1234A", "does not have 2 to 10 digits")])
def test_a_cui_with_a_wrong_check_digit_or_length_is_named(cui: str, problem: str) -> None:
    assert cui_problem(cui) == problem


def test_the_check_by_country_knows_nip_and_cui() -> None:
    assert COMPANY_TAX_ID_CHECKS["RO"][0] == "CUI" and COMPANY_TAX_ID_CHECKS["RO"][1]("RO37311091")
    assert COMPANY_TAX_ID_CHECKS["PL"][0] == "NIP" and COMPANY_TAX_ID_CHECKS["PL"][1]("5260250274") is None


# ----------------------------------------------------------------------- home currency in the message


def test_a_ron_document_of_a_romanian_seller_needs_no_exchange_rate() -> None:
    doc = document(RO_INVOICE)
    assert (doc.currency, doc.home_currency, doc.exchange_rate) == ("RON", "RON", None)
    assert doc.vat_in_pln() is None  # Polish law's VAT in PLN: not for a Romanian seller


def test_without_home_currency_a_ron_document_is_foreign_and_needs_a_rate_as_before() -> None:
    message = load_example(RO_INVOICE)
    del message["document"]["home_currency"]  # an old-style message: PLN is the home currency
    with pytest.raises(ValidationError, match="currency RON needs exchange_rate .* for VAT in PLN"):
        ExportMessage.model_validate(message)


def test_foreign_currency_is_relative_to_the_home_currency() -> None:
    message = load_example(RO_EUR)
    assert ExportMessage.model_validate(message).document.exchange_rate.rate == Decimal("5.0900")
    del message["document"]["exchange_rate"]
    with pytest.raises(ValidationError, match="currency EUR needs exchange_rate .* for VAT in RON"):
        ExportMessage.model_validate(message)
    pln = with_changes(load_example(RO_INVOICE), currency="PLN")  # PLN is foreign to a Romanian seller
    with pytest.raises(ValidationError, match="currency PLN needs exchange_rate"):
        ExportMessage.model_validate(pln)


def test_polish_examples_keep_pln_as_home_currency() -> None:
    doc = ExportMessage.model_validate(load_example("04-invoice-eur.json")).document
    assert doc.home_currency == "PLN" and doc.vat_in_pln() is not None


# ----------------------------------------------------------------------- full reversals


def test_a_correction_without_lines_after_is_a_full_reversal_and_only_a_correction_may_have_none() -> None:
    storno = document(RO_STORNO)
    assert storno.is_full_reversal and storno.totals.gross == Decimal("-193.47")
    assert not document(RO_INVOICE).is_full_reversal
    with pytest.raises(ValidationError, match="an invoice or receipt needs at least one line"):
        ExportMessage.model_validate(with_changes(load_example(RO_INVOICE), lines=[]))


def test_a_partial_correction_is_refused_where_the_provider_only_reverses_whole_documents() -> None:
    adapter = ron_home(partial_corrections=False)
    partial = load_example(RO_STORNO)
    partial["document"]["lines"] = partial["document"]["correction"]["lines_before"][1:]
    partial["document"]["totals"] = {"net": "-82.63", "vat": "-17.35", "gross": "-99.98"}
    with pytest.raises(ConfigurationError, match="can only reverse a whole document") as caught:
        plan_export(ExportMessage.model_validate(partial).document, settings(), adapter)
    assert caught.value.code == "unsupported_partial_correction" and "no lines after the change" in caught.value.fix
    assert plan_export(document(RO_STORNO), settings(), adapter).document.is_full_reversal


# ----------------------------------------------------------------------- planning: the account's home currency


def test_a_document_in_another_home_currency_than_the_account_is_refused() -> None:
    polish = ExportMessage.model_validate(load_example("01-invoice-company.json")).document
    with pytest.raises(ConfigurationError, match="accounts VAT in PLN, but account shop-ro keeps its books in RON") \
            as caught:
        plan_export(polish, settings(series_links={"FV": None}, payment_links={"Przelew": "x"}), ron_home())
    assert caught.value.code == "home_currency_mismatch"


def test_an_account_whose_home_currency_the_provider_does_not_keep_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="Fakturownia keeps its books in PLN, but account shop-ro is set to"):
        plan_export(document(RO_INVOICE), settings(), FakturowniaAdapter)


def test_accounts_default_to_pln() -> None:
    assert AccountSettings(account_id="a", provider="fakturownia").home_currency == "PLN"


# ----------------------------------------------------------------------- read-back of what the API returns


def test_a_gross_only_read_back_compares_what_it_has() -> None:
    doc = document(RO_INVOICE)
    exact = ProviderTotals(net=None, vat=None, gross=Decimal("193.47"), currency=None, is_correction=False)
    assert compare(doc, exact, None) == []
    drifted = dataclasses.replace(exact, gross=Decimal("193.48"), currency="EUR")
    assert [(d.field, d.ours, d.provider) for d in compare(doc, drifted, None)] == [
        ("gross", "193.47", "193.48"), ("currency", "RON", "EUR")]


def test_an_unreadable_corrected_reference_is_not_drift_but_the_kind_still_is() -> None:
    storno = document(RO_STORNO)
    unreadable = ProviderTotals(net=None, vat=None, gross=Decimal("-193.47"), currency="RON", is_correction=True,
                                corrects_readable=False)
    assert compare(storno, unreadable, "FCT-0001") == []
    plain_invoice = dataclasses.replace(unreadable, is_correction=False)
    assert [d.field for d in compare(storno, plain_invoice, "FCT-0001")] == ["kind"]
    cannot_tell = dataclasses.replace(unreadable, is_correction=None)  # e.g. a zero total: no kind to compare
    assert compare(storno, cannot_tell, "FCT-0001") == []
    assert storno_by_total(Decimal("-1.00")) is True and storno_by_total(Decimal("0.00")) is None


# ----------------------------------------------------------------------- connecting a Romanian account


def test_a_romanian_provider_connects_with_ron_books_and_refuses_others() -> None:
    from invoice_export.services.connections import ConnectRequest, connection_settings, refusals

    for provider in ("oblio", "smartbill"):
        request = ConnectRequest(provider=provider, credentials={})
        settings = connection_settings("shop-ro", "tenant-1", request, None, allow_custom_urls=False)
        assert settings.home_currency == "RON" and refusals(settings) == []
        assert refusals(settings.model_copy(update={"home_currency": "PLN"})) == [
            (f"{'Oblio' if provider == 'oblio' else 'SmartBill'} keeps its books in RON, not PLN",
             "set home_currency to RON")]
    polish = connection_settings("shop-pl", "tenant-1", ConnectRequest(provider="fakturownia", credentials={}), None,
                                 allow_custom_urls=False)
    assert polish.home_currency == "PLN"
