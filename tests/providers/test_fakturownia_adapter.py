"""Contract tests: the Fakturownia adapter against the strict local fake of Fakturownia's API."""

from __future__ import annotations

import secrets
from decimal import Decimal

import pytest
import requests

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    CredentialsRejected,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import KsefState, ProviderReference
from invoice_export.providers import build_adapter
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter
from local.fakes.fakturownia import FakturowniaFake
from testsupport import discounted_plan, load_example, plan_for


@pytest.fixture(scope="module")
def fake():
    with FakturowniaFake(rate_limit=None) as server:
        yield server


@pytest.fixture
def account(fake):
    """A fresh Fakturownia account per test: its token, a department and two products."""
    token = secrets.token_hex(16)
    fake.add_account(token, prefix="shop")
    department = fake.add_department(token, "Sklep internetowy", "5252445767")
    fake.add_product(token, "Kubek ceramiczny 300 ml", "MUG-300", "29.99", 23, stock_level=10)
    fake.add_product(token, "Kubek ceramiczny 300 ml XL", "MUG-300-XL", "39.99", 23, stock_level=10)
    return {"token": token, "department": department}


def make_adapter(fake, account, **settings_changes) -> FakturowniaAdapter:
    settings = AccountSettings.model_validate({
        "account_id": "shop-1", "provider": "fakturownia", "api_url": fake.base_url,
        "series_links": {"FV": str(account["department"]), "FV-EXPORT": None, "PAR": None, "KOR": None,
                         "FV-B2B": None},
        "payment_links": {"Przelew": "transfer", "Karta": "card"}, **settings_changes})
    adapter = build_adapter(settings, {"api_token": account["token"]}, read_timeout=1.0)
    assert isinstance(adapter, FakturowniaAdapter)
    return adapter


def stored(fake, account, reference: ProviderReference) -> dict:
    invoice = fake.account(account["token"]).invoice(int(reference.provider_document_id))
    assert invoice is not None
    return invoice


def test_invoice_fields_and_totals_arrive_exactly(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    doc = plan.document
    assert invoice["kind"] == "vat"
    assert created.reference.number == invoice["number"] and invoice["number"]
    assert invoice["oid"] == doc.document_id
    assert invoice["department_id"] == account["department"]
    assert invoice["payment_type"] == "transfer"
    assert invoice["payment_to"] == "2026-12-04"
    assert (invoice["issue_date"], invoice["sell_date"]) == ("2026-11-20", "2026-11-19")
    assert invoice["buyer_name"] == "Hurtownia Zielony Liść Sp. z o.o."
    assert invoice["buyer_tax_no"] == "5260250274"
    assert (invoice["buyer_street"], invoice["buyer_post_code"], invoice["buyer_city"], invoice["buyer_country"]) == (
        "ul. Kwiatowa 12/4", "02-001", "Warszawa", "PL")
    assert [p["name"] for p in invoice["positions"]] == [line.name for line in doc.lines]
    assert [str(p["tax"]) for p in invoice["positions"]] == ["23", "5", "23"]
    # Fakturownia computed its totals on its own: they equal ours to the grosz.
    assert Decimal(invoice["price_gross"]) == doc.totals.gross
    assert Decimal(invoice["price_net"]) == doc.totals.net
    assert Decimal(invoice["price_tax"]) == doc.totals.vat


def test_receipt_for_a_person_paid_in_the_default_series(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "02-receipt-person.json"))
    invoice = stored(fake, account, created.reference)
    assert invoice["kind"] == "receipt"
    assert invoice.get("department_id") in (None, "")  # 'do not pass': the provider's default
    assert invoice["buyer_company"] in (False, "0", 0)
    assert (invoice["buyer_first_name"], invoice["buyer_last_name"]) == ("Anna", "Nowak")
    assert invoice["status"] == "paid" and invoice["paid_date"] == "2026-11-19"
    assert invoice["payment_type"] == "card"
    assert Decimal(invoice["price_gross"]) == Decimal("18.50")


def test_exempt_line_carries_its_basis_and_net_prices_stay_exact(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json"))
    invoice = stored(fake, account, created.reference)
    assert invoice["positions"][0]["tax"] == "zw"
    assert invoice["exempt_tax_kind"] == "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"
    assert Decimal(invoice["price_gross"]) == Decimal("199.00")


def test_foreign_currency_keeps_currency_and_our_rate(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
    invoice = stored(fake, account, created.reference)
    assert invoice["currency"] == "EUR"
    assert invoice["exchange_kind"] == "own"
    assert Decimal(str(invoice["exchange_currency_rate"])) == Decimal("4.2351")
    assert "224/A/NBP/2026" in invoice["exchange_note"]
    assert Decimal(invoice["price_gross"]) == Decimal("516.60")
    assert created.readback.exchange_rate == Decimal("4.2351")  # read back, so a changed rate is reported


def test_correction_references_the_original_and_carries_before_and_after(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    created = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original))
    correction = stored(fake, account, created.reference)
    assert correction["kind"] == "correction"
    # KOR is 'do not pass', yet the correction stays in the original's department (a KSeF rule).
    assert original.series == str(account["department"]) and correction["department_id"] == account["department"]
    assert str(correction["invoice_id"]) == original.provider_document_id
    mug = correction["positions"][0]
    assert Decimal(str(mug["quantity"])) == Decimal(-1)
    assert Decimal(str(mug["correction_before_attributes"]["quantity"])) == Decimal(2)
    assert Decimal(str(mug["correction_after_attributes"]["quantity"])) == Decimal(1)
    assert Decimal(correction["price_gross"]) == Decimal("-29.99")


def test_our_numbering_passes_our_number_and_a_duplicate_is_named(fake, account) -> None:
    # Should Fakturownia refuse a number used twice (the fake's other reading; the export service
    # refuses it before sending anyway: duplicate_number), its refusal names the field to fix.
    fake.account(account["token"]).refuses_duplicate_numbers = True
    adapter = make_adapter(fake, account, numbering="ours")
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert created.reference.number == "FV 1/11/2026"
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-OTHER"))
    assert "Fakturownia rejected number" in caught.value.message
    assert "switch the account to the provider's numbering" in caught.value.fix


def test_skus_link_products_and_decrease_stock(fake, account) -> None:
    adapter = make_adapter(fake, account, send_skus=True, missing_sku="warn")
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    invoice = stored(fake, account, created.reference)
    mug = invoice["positions"][0]
    assert mug["code"] == "MUG-300" and mug["product_id"]  # exact code, not MUG-300-XL
    products = fake.account(account["token"]).products
    assert Decimal(str(products[int(mug["product_id"])]["stock_level"])) == Decimal(8)
    assert created.warnings == ("SKU TEA-100 not found in Fakturownia: line sent without stock link",)


def test_missing_sku_fails_when_set_to_fail(fake, account) -> None:
    adapter = make_adapter(fake, account, send_skus=True, missing_sku="fail")
    with pytest.raises(PermanentError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "sku_not_found" and "TEA-100" in caught.value.message
    assert fake.account(account["token"]).invoices == []


def test_look_up_matches_our_id_exactly(fake, account) -> None:
    adapter = make_adapter(fake, account)
    longer = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-10")).reference
    assert adapter.find_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-1")) is None
    found = adapter.find_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-10"))
    assert found == longer


def test_a_second_create_settles_on_the_existing_document(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    first = adapter.create_document(plan).reference
    again = adapter.create_document(plan).reference  # oid_unique refuses; the adapter finds ours
    assert again == first
    assert len(fake.account(account["token"]).invoices) == 1


def test_wrong_token_is_a_credentials_error_without_the_token(fake, account) -> None:
    adapter = make_adapter(fake, {**account, "token": "wrong-token-value"})
    with pytest.raises(CredentialsRejected) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert "check the Fakturownia API key" in caught.value.fix
    assert "wrong-token-value" not in str(caught.value)


def test_token_never_travels_in_the_url(fake, account) -> None:
    adapter = make_adapter(fake, account)
    adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    adapter.check_credentials()
    for entry in fake.requests.entries():
        assert "api_token" not in entry.query


def test_field_rejection_names_the_field_and_our_field_to_fix(fake, account) -> None:
    adapter = make_adapter(fake, account)
    message = load_example("01-invoice-company.json")
    message["document"]["buyer"]["tax_id"] = "12345"  # not a NIP: refused under KSeF
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, type(adapter))
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan)
    assert "Fakturownia rejected buyer_tax_no" in caught.value.message
    assert "document.buyer.tax_id" in caught.value.fix


def test_unknown_department_points_at_the_series_link(fake, account) -> None:
    adapter = make_adapter(fake, {**account, "department": 999999})
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "provider_not_found"
    assert "series link" in caught.value.fix


def test_rate_limit_and_outage_are_transient(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.rate_limited(retry_after=7, method="POST")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan)
    assert (caught.value.code, caught.value.retry_after) == ("provider_rate_limited", 7.0)
    fake.faults.status(503, method="POST")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan)
    assert caught.value.code == "provider_unavailable" and not isinstance(caught.value, RequestMayHaveSucceeded)
    assert fake.account(account["token"]).invoices == []


def test_lost_response_after_create_is_flagged_and_settled_by_look_up(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.stall_after_commit(2.0, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    [invoice] = fake.account(account["token"]).invoices
    found = adapter.find_document(plan)
    assert found == ProviderReference(str(invoice["id"]), invoice["number"], str(account["department"]))


def test_pdf_has_the_number_and_changes_after_an_edit(fake, account) -> None:
    adapter = make_adapter(fake, account)
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    first = adapter.download_pdf(reference.provider_document_id)
    assert first.startswith(b"%PDF") and reference.number.encode() in first
    response = requests.put(f"{fake.base_url}/invoices/{reference.provider_document_id}.json",
                            json={"invoice": {"buyer_name": "Hurtownia Zielony Liść S.A."}},
                            headers={"Authorization": f"Bearer {account['token']}"}, timeout=5)
    assert response.status_code == 200
    assert adapter.download_pdf(reference.provider_document_id) != first


def test_lists_departments_for_series_links(fake, account) -> None:
    adapter = make_adapter(fake, account)
    options = adapter.list_series()
    assert [(o.id, o.name) for o in options] == [(str(account["department"]), "Sklep internetowy")]
    assert "transfer" in {o.id for o in adapter.list_payment_types()}


def test_two_documents_with_our_reference_are_ambiguous(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    adapter.create_document(plan)
    body = adapter.build_request(plan)
    body["invoice"]["oid_unique"] = "no"  # someone issued a copy by hand in Fakturownia
    response = requests.post(f"{fake.base_url}/invoices.json", json=body, timeout=5,
                             headers={"Authorization": f"Bearer {account['token']}"})
    assert response.status_code == 201
    with pytest.raises(AmbiguousAtProvider, match="2 documents with our reference"):
        adapter.find_document(plan)


@pytest.mark.parametrize("basis, method, totals", [
    # Three 0.02 lines at 23%: VAT from the sum differs from the sum of the lines' VAT.
    ("gross", "per_rate", {"net": "0.05", "vat": "0.01", "gross": "0.06"}),
    ("gross", "per_line", {"net": "0.06", "vat": "0.00", "gross": "0.06"}),
    ("net", "per_rate", {"net": "0.06", "vat": "0.01", "gross": "0.07"}),
    ("net", "per_line", {"net": "0.06", "vat": "0.00", "gross": "0.06"}),
])
def test_fakturownia_computes_vat_the_way_our_document_did(fake, account, basis, method, totals) -> None:
    adapter = make_adapter(fake, account)
    lines = [{"line_id": f"l{i}", "name": "Drobiazg", "quantity": "1", "unit_price": "0.02", "vat": "23"}
             for i in range(3)]
    plan = plan_for(adapter, "01-invoice-company.json", price_basis=basis, vat_calculation=method,
                    lines=lines, totals=totals)
    created = adapter.create_document(plan)
    assert created.readback is not None
    provider = created.readback
    assert (f"{provider.net:f}", f"{provider.vat:f}", f"{provider.gross:f}") == (
        totals["net"], totals["vat"], totals["gross"])


# --------------------------------------------------------------------------- per-line discounts


def test_a_discounted_invoice_is_exported_with_our_exact_totals(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = discounted_plan(adapter)
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    # The exact discounted line totals, no discount_percent (its arithmetic depends on the account's mode).
    field = "total_price_gross" if plan.document.price_basis.value == "gross" else "total_price_net"
    assert [p[field] for p in invoice["positions"]] == ["28.85", "9.51", "15.00"]
    ours = plan.document.totals
    assert tuple(Decimal(invoice[f"price_{part}"]) for part in ("net", "tax", "gross")) == (
        ours.net, ours.vat, ours.gross)
    assert created.readback is None or created.readback.net == ours.net


# --------------------------------------------------------------------------- KSeF number shapes (issue 14)


@pytest.mark.parametrize("with_check", [True, False])
def test_the_ksef_number_is_recorded_as_given_and_a_missing_check_suffix_is_a_warning(fake, account,
                                                                                      with_check) -> None:
    """gov_id with KSeF's 2 check characters, or as Fakturownia's KSeF guide shows it (32 characters)."""
    fake.account(account["token"]).ksef_number_with_check = with_check
    adapter = make_adapter(fake, account, ksef="send_on_export")
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    status = adapter.ksef_status(reference.provider_document_id)
    gov_id = stored(fake, account, reference)["gov_id"]
    assert status.state == KsefState.ACCEPTED and status.ksef_number == gov_id  # as given, never completed
    assert len(gov_id) == (35 if with_check else 32)
    if with_check:
        assert status.warnings == ()
    else:
        [warning] = status.warnings
        assert gov_id in warning and "without its 2 check characters" in warning
