"""The read-back comparison: what the provider stored against our document."""

from __future__ import annotations

from decimal import Decimal

from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.readback import ProviderTotals, compare, pln_vat_record
from testsupport import load_example


def document(name: str):
    return ExportMessage.model_validate(load_example(name)).document


def test_exact_totals_show_no_drift() -> None:
    doc = document("01-invoice-company.json")
    same = ProviderTotals(net=doc.totals.net, vat=doc.totals.vat, gross=doc.totals.gross, currency="PLN",
                          is_correction=False)
    assert compare(doc, same, None) == []


def test_a_grosz_of_drift_is_reported_with_both_figures() -> None:
    doc = document("01-invoice-company.json")
    provider = ProviderTotals(net=Decimal("113.81"), vat=Decimal("16.65"), gross=Decimal("130.46"),
                              currency="PLN", is_correction=False)
    described = [d.describe("Fakturownia") for d in compare(doc, provider, None)]
    assert described == ["Fakturownia shows VAT 16.65, our document 16.66",
                         "Fakturownia shows gross 130.46, our document 130.47"]


def test_a_dropped_currency_is_reported() -> None:
    doc = document("04-invoice-eur.json")
    provider = ProviderTotals(net=doc.totals.net, vat=doc.totals.vat, gross=doc.totals.gross, currency="PLN",
                              is_correction=False)
    assert [(d.field, d.ours, d.provider) for d in compare(doc, provider, None)] == [("currency", "EUR", "PLN")]


def test_a_correction_created_as_a_plain_invoice_or_against_another_original_is_reported() -> None:
    doc = document("05-correction.json")
    totals = {"net": doc.totals.net, "vat": doc.totals.vat, "gross": doc.totals.gross, "currency": "PLN"}
    plain = ProviderTotals(**totals, is_correction=False)
    assert [d.field for d in compare(doc, plain, "555")] == ["kind"]
    wrong_original = ProviderTotals(**totals, is_correction=True, corrects="777")
    assert [(d.field, d.ours, d.provider) for d in compare(doc, wrong_original, "555")] == [
        ("corrected document", "555", "777")]
    right = ProviderTotals(**totals, is_correction=True, corrects="555")
    assert compare(doc, right, "555") == []


def test_a_provider_pln_vat_other_than_ours_is_reported_with_both_figures() -> None:
    doc = document("04-invoice-eur.json")  # 96.60 EUR of VAT at 4.2351 = 409.11 PLN
    totals = {"net": doc.totals.net, "vat": doc.totals.vat, "gross": doc.totals.gross, "currency": "EUR"}
    drifted = ProviderTotals(**totals, is_correction=False, vat_in_pln=Decimal("409.58"))
    described = [d.describe("inFakt") for d in compare(doc, drifted, None)]
    assert described == ["inFakt shows VAT in PLN 409.58, our document 409.11"]
    assert pln_vat_record(doc, drifted)["checked"] == "yes"
    same = ProviderTotals(**totals, is_correction=False, vat_in_pln=Decimal("409.11"))
    assert compare(doc, same, None) == []


def test_a_provider_exchange_rate_other_than_ours_is_reported() -> None:
    doc = document("04-invoice-eur.json")  # NBP rate 4.2351
    totals = {"net": doc.totals.net, "vat": doc.totals.vat, "gross": doc.totals.gross, "currency": "EUR"}
    other_rate = ProviderTotals(**totals, is_correction=False, exchange_rate=Decimal("4.2400"))
    assert [d.describe("Fakturownia") for d in compare(doc, other_rate, None)] == [
        "Fakturownia shows exchange rate 4.2400, our document 4.2351"]
    assert compare(doc, ProviderTotals(**totals, is_correction=False, exchange_rate=Decimal("4.23510")), None) == []


def test_without_the_provider_figure_ours_is_recorded_unchecked() -> None:
    doc = document("04-invoice-eur.json")
    silent = ProviderTotals(net=doc.totals.net, vat=doc.totals.vat, gross=doc.totals.gross, currency="EUR",
                            is_correction=False)
    assert compare(doc, silent, None) == []
    assert pln_vat_record(doc, silent) == {"23": "409.11", "total": "409.11", "exchange_rate": "4.2351",
                                           "table_id": "224/A/NBP/2026", "checked": "no"}


def test_pln_documents_have_no_pln_vat_to_check_or_record() -> None:
    doc = document("01-invoice-company.json")
    stray = ProviderTotals(net=doc.totals.net, vat=doc.totals.vat, gross=doc.totals.gross, currency="PLN",
                           is_correction=False, vat_in_pln=Decimal("1.00"))
    assert compare(doc, stray, None) == []
    assert pln_vat_record(doc, stray) is None
