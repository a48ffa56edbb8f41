"""VAT in the seller's home currency on a foreign-currency document: RON for a Romanian seller (Codul fiscal
art. 319 alin. (23)), PLN for a Polish one (art. 106e ust. 11, where `vat_in_pln` stays as it was)."""

from __future__ import annotations

from decimal import Decimal

from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.readback import ProviderTotals, compare, home_vat_record, pln_vat_record
from invoice_export.domain.vat_split import VatSplit, VatSplitDifference, document_split
from testsupport import load_example, with_changes

RO_EUR, RO_RON, PL_EUR = "ro/03-invoice-eur.json", "ro/01-invoice-company.json", "04-invoice-eur.json"

# 10.00 EUR net at 21 % (VAT 2.10), 10.01 at 11 % (VAT 1.1011 -> 1.10), 5.00 at 0 %: at 5.0045 RON per euro
# 2.10 x 5.0045 = 10.50945 -> 10.51 and 1.10 x 5.0045 = 5.50495 -> 5.50, each rate rounded to the ban.
THREE_RATES = {
    "lines": [
        {"line_id": "l1", "name": "Cană", "sku": "MUG-300", "quantity": "1", "unit": "buc", "unit_price": "10.00",
         "vat": "21"},
        {"line_id": "l2", "name": "Ceai", "sku": "TEA-100", "quantity": "1", "unit": "buc", "unit_price": "10.01",
         "vat": "11"},
        {"line_id": "l3", "name": "Export", "quantity": "1", "unit": "buc", "unit_price": "5.00", "vat": "0"},
    ],
    "totals": {"net": "25.01", "vat": "3.20", "gross": "28.21"},
    "exchange_rate": {"rate": "5.0045", "date": "2026-11-19", "table_id": "BNR 19.11.2026"},
}


def document(name: str, **changes):
    return ExportMessage.model_validate(with_changes(load_example(name), **changes)).document


def test_a_romanian_sellers_eur_invoice_states_its_vat_in_ron_at_the_documents_rate() -> None:
    doc = document(RO_EUR)  # 5 x 42.00 EUR net at 21 %: VAT 44.10 EUR
    home = doc.vat_in_home_currency()
    assert home is not None and home.currency == "RON"
    assert home.by_rate == {Decimal(21): Decimal("224.47")}  # 44.10 x 5.0900 = 224.469
    assert home.as_record() == {"21": "224.47", "total": "224.47", "exchange_rate": "5.0900",
                                "table_id": "BNR 19.11.2026", "currency": "RON"}
    assert doc.vat_in_pln() is None  # Polish law's figure is not a Romanian seller's


def test_each_rate_is_converted_and_rounded_by_itself_and_zero_rated_lines_state_none() -> None:
    home = document(RO_EUR, **THREE_RATES).vat_in_home_currency()
    assert home is not None
    assert home.by_rate == {Decimal(21): Decimal("10.51"), Decimal(11): Decimal("5.50")}
    assert list(home.by_rate) == [Decimal(21), Decimal(11)] and home.total == Decimal("16.01")


def test_a_document_in_the_home_currency_states_nothing() -> None:
    ron = document(RO_RON)
    assert ron.vat_in_home_currency() is None and home_vat_record(ron, None) is None


def test_a_polish_sellers_figures_are_the_same_in_both_fields_and_vat_in_pln_keeps_its_shape() -> None:
    doc = document(PL_EUR)
    in_pln, home = doc.vat_in_pln(), doc.vat_in_home_currency()
    assert in_pln is not None and home is not None and home.currency == "PLN"
    assert (home.by_rate, home.total, home.exchange_rate) == (in_pln.by_rate, in_pln.total, in_pln.exchange_rate)
    assert "currency" not in in_pln.as_record()
    assert home_vat_record(doc, None) == {**pln_vat_record(doc, None), "currency": "PLN"}


def test_the_record_says_whether_the_providers_ron_figure_was_compared() -> None:
    doc = document(RO_EUR)
    gross_only = ProviderTotals(net=None, vat=None, gross=Decimal("254.10"), currency="EUR", is_correction=False)
    assert home_vat_record(doc, gross_only)["checked"] == "no"  # Oblio and SmartBill read back the gross only
    assert home_vat_record(doc, None)["checked"] == "no"
    stating = ProviderTotals(net=None, vat=None, gross=Decimal("254.10"), currency="EUR", is_correction=False,
                             vat_in_home_currency=Decimal("224.47"))
    assert home_vat_record(doc, stating)["checked"] == "yes" and pln_vat_record(doc, stating) is None


def test_a_providers_other_vat_in_ron_is_drift_and_the_same_is_none() -> None:
    doc = document(RO_EUR)

    def read_back(vat_in_ron: str) -> ProviderTotals:
        return ProviderTotals(net=None, vat=None, gross=Decimal("254.10"), currency="EUR", is_correction=False,
                              vat_in_home_currency=Decimal(vat_in_ron))

    assert compare(doc, read_back("224.47"), None) == []
    [drift] = compare(doc, read_back("224.46"), None)
    assert (drift.field, drift.ours, drift.provider) == ("VAT in RON", "224.47", "224.46")
    # A provider that split the same gross otherwise states its own split's VAT in RON: that is expected.
    ours = document_split(doc)
    theirs = VatSplit.of({Decimal(21): (Decimal("210.01"), Decimal("44.09"))})
    split = VatSplitDifference(ours=ours, theirs=theirs)
    assert compare(doc, read_back("224.42"), None, split) == []  # 44.09 x 5.09 = 224.4181
    assert compare(doc, read_back("224.47"), None, split)[0].field == "VAT in RON"


def test_a_split_recorded_for_a_romanian_seller_names_ron_never_pln() -> None:
    doc = document(RO_EUR)
    theirs = VatSplit.of({Decimal(21): (Decimal("210.01"), Decimal("44.09"))})
    record = VatSplitDifference(ours=document_split(doc), theirs=theirs).as_record(doc)
    assert record["home_currency"] == "RON"
    assert record["ours"]["vat_in_home_currency"] == "224.47" and record["theirs"]["vat_in_home_currency"] == "224.42"
    assert "vat_in_pln" not in record["ours"] and "vat_in_pln" not in record["theirs"]
    polish = document(PL_EUR)
    polish_record = VatSplitDifference(ours=document_split(polish), theirs=document_split(polish)).as_record(polish)
    assert polish_record["ours"]["vat_in_pln"] == polish_record["ours"]["vat_in_home_currency"]
