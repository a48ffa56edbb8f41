"""Fakturownia request mapping, field by field (pure: no HTTP)."""

from __future__ import annotations

import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import ExportMessage, Line, PriceBasis, VatCalculation, compute_totals
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter, FakturowniaCredentials
from invoice_export.providers.http import ProviderHttp
from testsupport import load_example


def adapter(**changes) -> FakturowniaAdapter:
    settings = AccountSettings.model_validate({
        "account_id": "shop-1", "provider": "fakturownia", "provider_subdomain": "myshop",
        "series_links": {"FV": "12", "FV-EXPORT": None, "PAR": None, "KOR": None},
        "payment_links": {"Przelew": "transfer", "Karta": "card"}, **changes})
    http = ProviderHttp(provider="Fakturownia", base_url=FakturowniaAdapter.api_url(settings), auth=None,
                        read_rejection=FakturowniaAdapter.read_rejection)
    return FakturowniaAdapter(settings, FakturowniaCredentials(api_token="t"), http)


def body(name: str, corrected: ProviderReference | None = None, adapter_: FakturowniaAdapter | None = None,
         **document_changes) -> dict:
    a = adapter_ or adapter()
    message = load_example(name)
    message["document"].update(document_changes)
    plan = plan_export(ExportMessage.model_validate(message).document, a.settings, type(a), corrected=corrected)
    return a.build_request(plan, product_ids={})["invoice"]


def test_real_host_is_per_account_subdomain() -> None:
    assert adapter().http.base_url == "https://myshop.fakturownia.pl"


def test_company_invoice_fields() -> None:
    invoice = body("01-invoice-company.json")
    assert invoice["kind"] == "vat" and invoice["number"] is None
    assert (invoice["oid"], invoice["oid_unique"]) == ("INV-2026-11-0001", "yes")  # document id, not order id
    assert invoice["department_id"] == 12
    assert (invoice["issue_date"], invoice["sell_date"]) == ("2026-11-20", "2026-11-19")
    assert (invoice["payment_to_kind"], invoice["payment_to"]) == ("other_date", "2026-12-04")
    assert "status" not in invoice and "paid_date" not in invoice  # not paid yet
    assert invoice["buyer_company"] is True and invoice["buyer_tax_no"] == "5260250274"
    assert "buyer_first_name" not in invoice
    assert invoice["calculating_strategy"] == {"position": "keep_gross", "sum": "keep_gross",
                                              "invoice_form_price_kind": "gross"}
    mug = invoice["positions"][0]
    assert mug == {"name": "Kubek ceramiczny 300 ml", "quantity": "2", "quantity_unit": "szt.", "tax": 23,
                   "total_price_gross": "59.98"}  # no code/product_id: SKUs are off


def test_payment_date_is_omitted_when_the_series_hides_it() -> None:
    invoice = body("02-receipt-person.json")
    assert "payment_to" not in invoice and "payment_to_kind" not in invoice
    assert (invoice["status"], invoice["paid_date"], invoice["paid"]) == ("paid", "2026-11-19", "18.50")
    assert "department_id" not in invoice  # 'do not pass'


def test_private_buyer_is_sent_as_on_the_order() -> None:
    invoice = body("02-receipt-person.json")
    assert invoice["buyer_company"] is False
    assert (invoice["buyer_first_name"], invoice["buyer_last_name"], invoice["buyer_name"]) == (
        "Anna", "Nowak", "Anna Nowak")
    assert invoice["buyer_phone"] == "+48 600 100 200" and "buyer_tax_no" not in invoice


def test_net_prices_and_exempt_basis() -> None:
    invoice = body("03-invoice-exempt-person.json")
    assert invoice["calculating_strategy"] == {"position": "default", "sum": "keep_net",
                                              "invoice_form_price_kind": "net"}
    assert invoice["positions"][0]["total_price_net"] == "199.00" and invoice["positions"][0]["tax"] == "zw"
    assert invoice["exempt_tax_kind"] == "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"


def test_currency_and_our_exchange_rate() -> None:
    invoice = body("04-invoice-eur.json")
    assert invoice["currency"] == "EUR"
    assert (invoice["exchange_currency"], invoice["exchange_kind"], invoice["exchange_currency_rate"]) == (
        "PLN", "own", "4.2351")
    assert "2026-11-19" in invoice["exchange_note"] and "224/A/NBP/2026" in invoice["exchange_note"]


def lines_with_totals(name: str, lines: list[dict]) -> dict:
    """Document changes replacing the lines, with totals recomputed so the message stays valid."""
    document = load_example(name)["document"]
    parsed = [Line.model_validate(line) for line in lines]
    totals = compute_totals(parsed, PriceBasis(document["price_basis"]), VatCalculation.PER_RATE)
    return {"lines": lines, "totals": totals.model_dump(mode="json")}


@pytest.mark.parametrize("vat, tax, extra", [
    ("np", "np", {"np_tax_kind": "not_specified"}),
    ("np-EU", "np", {"np_tax_kind": "export_service_eu", "reverse_charge": True}),
    ("oo", "oo", {}),
    ("0", 0, {}),
    ("8", 8, {}),
    ("8.5", "8.5", {}),
])
def test_vat_rates_and_codes(vat, tax, extra) -> None:
    line = {**load_example("04-invoice-eur.json")["document"]["lines"][0], "vat": vat}
    invoice = body("04-invoice-eur.json", **lines_with_totals("04-invoice-eur.json", [line]))
    assert invoice["positions"][0]["tax"] == tax
    for key, value in extra.items():
        assert invoice[key] == value


def test_np_and_np_eu_cannot_share_a_document() -> None:
    first, second = load_example("01-invoice-company.json")["document"]["lines"][:2]
    lines = [{**first, "vat": "np"}, {**second, "vat": "np-EU"}]
    with pytest.raises(ConfigurationError, match="np and np-EU lines cannot be mixed"):
        body("01-invoice-company.json", **lines_with_totals("01-invoice-company.json", lines))


def test_two_exemption_bases_cannot_share_a_document() -> None:
    first, second = load_example("01-invoice-company.json")["document"]["lines"][:2]
    lines = [{**first, "vat": "zw", "vat_exemption_basis": "art. 43 ust. 1 pkt 29"},
             {**second, "vat": "zw", "vat_exemption_basis": "art. 113 ust. 1"}]
    with pytest.raises(ConfigurationError, match="one VAT exemption basis per document"):
        body("01-invoice-company.json", **lines_with_totals("01-invoice-company.json", lines))


def test_our_number_is_passed_when_the_account_uses_ours() -> None:
    assert body("01-invoice-company.json", adapter_=adapter(numbering="ours"))["number"] == "FV 1/11/2026"


def test_skus_are_sent_as_code_and_product_link() -> None:
    a = adapter(send_skus=True)
    message = ExportMessage.model_validate(load_example("01-invoice-company.json"))
    plan = plan_export(message.document, a.settings, type(a))
    positions = a.build_request(plan, product_ids={"MUG-300": 41})["invoice"]["positions"]
    assert (positions[0]["code"], positions[0]["product_id"]) == ("MUG-300", 41)
    assert positions[1]["code"] == "TEA-100" and "product_id" not in positions[1]
    assert "code" not in positions[2]  # shipping has no SKU


def test_correction_lines_carry_the_difference_and_both_sides() -> None:
    invoice = body("05-correction.json", corrected=ProviderReference("555", "FV 1/11/2026", "12"))
    assert (invoice["kind"], invoice["invoice_id"], invoice["from_invoice_id"]) == ("correction", 555, 555)
    assert invoice["department_id"] == 12 and invoice["correction_reason"] == "Zwrot 1 szt. kubka"
    mug, tea, _ = invoice["positions"]
    assert (mug["quantity"], mug["total_price_gross"]) == ("-1", "-29.99")
    assert mug["correction_before_attributes"]["quantity"] == "2"
    assert mug["correction_after_attributes"] == {
        "name": "Kubek ceramiczny 300 ml", "kind": "correction_after", "tax": 23, "quantity": "1",
        "quantity_unit": "szt.", "total_price_gross": "29.99"}
    assert (tea["quantity"], tea["total_price_gross"]) == ("0", "0.00")


def test_per_line_documents_ask_fakturownia_to_add_the_lines_vat() -> None:
    invoice = body("01-invoice-company.json", vat_calculation="per_line")
    assert invoice["calculating_strategy"]["sum"] == "sum"
