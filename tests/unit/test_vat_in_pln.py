"""VAT in PLN on a foreign-currency invoice (art. 106e ust. 11): per VAT rate, the VAT in the
invoice currency times the document's exchange rate, rounded half-up to the grosz."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_export.domain.documents import Document, ExportMessage
from invoice_export.domain.money import vat_to_pln
from testsupport import load_example

EXEMPTION = "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"


def eur_document(lines: list[dict], totals: dict[str, str], rate: str = "4.2250", **changes) -> Document:
    message = load_example("04-invoice-eur.json")
    document = {**message["document"], "lines": lines, "totals": totals,
                "exchange_rate": {**message["document"]["exchange_rate"], "rate": rate}, **changes}
    return ExportMessage.model_validate({**message, "document": document}).document


def line(line_id: str, unit_price: str, vat: str, **extra: str) -> dict:
    return {"line_id": line_id, "name": f"Pozycja {line_id}", "quantity": "1", "unit_price": unit_price,
            "vat": vat, **extra}


@pytest.mark.parametrize(("vat", "rate", "expected"), [
    ("1.00", "4.2250", "4.23"),  # exactly half a grosz: up (half-even would give 4.22)
    ("1.00", "4.2249", "4.22"),  # just under half: down
    ("0.01", "4.5000", "0.05"),  # 0.045 -> 0.05
    ("-1.00", "4.2250", "-4.23"),  # a correction lowering VAT mirrors the increase
    ("96.60", "4.2351", "409.11"),  # 409.11066
])
def test_vat_is_converted_half_up_at_the_grosz(vat: str, rate: str, expected: str) -> None:
    assert vat_to_pln(Decimal(vat), Decimal(rate)) == Decimal(expected)


def test_each_rate_is_converted_and_rounded_on_its_own_and_zw_np_add_nothing() -> None:
    # 23% of 4.35 and 8% of 12.50 are both 1.00 EUR of VAT; each is 4.225 PLN -> 4.23, so the total
    # is 8.46 (converting the 2.00 EUR total at once would give 8.45).
    doc = eur_document(
        [line("a", "4.35", "23"), line("b", "12.50", "8"), line("c", "10.00", "zw", vat_exemption_basis=EXEMPTION),
         line("d", "5.00", "np"), line("e", "3.00", "0")],
        totals={"net": "34.85", "vat": "2.00", "gross": "36.85"})
    pln = doc.vat_in_pln()
    assert pln is not None
    assert pln.by_rate == {Decimal(23): Decimal("4.23"), Decimal(8): Decimal("4.23")}
    assert list(pln.by_rate) == [Decimal(23), Decimal(8)]  # highest rate first, as printed
    assert pln.total == Decimal("8.46")
    assert pln.as_record() == {"23": "4.23", "8": "4.23", "total": "8.46", "exchange_rate": "4.2250",
                               "table_id": "224/A/NBP/2026"}


def test_per_line_documents_convert_the_sum_of_their_line_vat_per_rate() -> None:
    # Gross 1.00 at 23% holds 0.19 of VAT; per line 0.19 + 0.19 = 0.38 (from the 2.00 sum it would be 0.37).
    doc = eur_document([line("a", "1.00", "23"), line("b", "1.00", "23")],
                       totals={"net": "1.62", "vat": "0.38", "gross": "2.00"},
                       price_basis="gross", vat_calculation="per_line")
    assert doc.vat_by_rate() == {Decimal(23): Decimal("0.38")}
    pln = doc.vat_in_pln()
    assert pln is not None and pln.total == Decimal("1.61")  # 0.38 * 4.225 = 1.6055 -> 1.61


def test_a_correction_states_the_pln_vat_of_its_difference_per_rate() -> None:
    message = load_example("05-correction.json")
    original = message["document"]
    doc = ExportMessage.model_validate({**message, "document": {
        **original, "currency": "EUR",
        "exchange_rate": {"rate": "4.2250", "date": "2026-11-19", "table_id": "224/A/NBP/2026"}}}).document
    by_rate = doc.vat_by_rate()
    assert sum(by_rate.values()) == doc.totals.vat
    pln = doc.vat_in_pln()
    assert pln is not None
    assert pln.total == sum(vat_to_pln(vat, Decimal("4.2250")) for rate, vat in by_rate.items() if rate != 0)


def test_a_pln_document_states_no_separate_pln_vat() -> None:
    doc = ExportMessage.model_validate(load_example("01-invoice-company.json")).document
    assert doc.vat_in_pln() is None
    assert sum(doc.vat_by_rate().values()) == doc.totals.vat
