"""Contract tests: the Firmao adapter against the strict local fake of Firmao's API (local/fakes/firmao/).

Where the vendor's README allows two readings the fake offers both as a switch; the adapter is run
against each one it must tolerate (filters honoured or ignored, the gross unit price's field, object ids
as numbers or strings, no GET by id, unknown totalSize).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.errors import (
    ConfigurationError,
    CredentialsRejected,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.readback import compare
from invoice_export.providers import build_adapter
from invoice_export.providers.firmao.adapter import FirmaoAdapter
from local.fakes.firmao import FirmaoFake
from testsupport import computed_totals, discounted_plan, plan_for

LOGIN = "api@herbaciarnia.example"
INVOICE, RECEIPT, EXEMPT, FOREIGN, CORRECTION = (
    "01-invoice-company.json", "02-receipt-person.json", "03-invoice-exempt-person.json", "04-invoice-eur.json",
    "05-correction.json")


@contextmanager
def firmao(**switches: Any) -> Iterator[FirmaoFake]:
    switches.setdefault("rate_limit", None)
    with FirmaoFake(**switches) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture(scope="module")
def fake():
    with firmao() as server:
        yield server


class Shop:
    """One Firmao organisation in a fake: its API user, a series "Sklep" and two products."""

    def __init__(self, fake: FirmaoFake) -> None:
        self.fake = fake
        self.organisation = f"sklep-{uuid.uuid4().hex[:8]}"
        self.password = uuid.uuid4().hex
        fake.add_account(self.organisation, LOGIN, self.password)
        self.series = fake.add_series(self.organisation, "Sklep", {
            "invoice": "FV/{n}/{mm}/{yyyy}", "receipt": "PAR/{n}/{mm}/{yyyy}", "correction": "KOR/{n}/{mm}/{yyyy}"})
        self.mug = fake.add_product(self.organisation, "MUG-300", "Kubek ceramiczny 300 ml", net_price="24.38",
                                    stock=10)
        self.mug_xl = fake.add_product(self.organisation, "MUG-300-XL", "Kubek 300 ml XL", net_price="32.51",
                                       stock=10)

    @property
    def credentials(self) -> dict[str, str]:
        return {"organisation": self.organisation, "login": LOGIN, "password": self.password}

    def adapter(self, credentials: dict[str, str] | None = None, **settings_changes: Any) -> FirmaoAdapter:
        settings = AccountSettings.model_validate({
            "account_id": "shop-1", "provider": "firmao", "api_url": self.fake.base_url,
            "series_links": {"FV": str(self.series), "FV-EXPORT": None, "PAR": None, "KOR": None, "FV-B2B": None},
            "payment_links": {"Przelew": "TRANSFER", "Karta": "CASH"}, **settings_changes})
        adapter = build_adapter(settings, credentials or self.credentials, read_timeout=1.0)
        assert isinstance(adapter, FirmaoAdapter)
        return adapter

    def stored(self, reference: ProviderReference) -> dict[str, Any]:
        document = self.fake.account(self.organisation).transactions[int(reference.provider_document_id)]
        return document

    def entries(self, reference: ProviderReference) -> list[dict[str, Any]]:
        return self.fake.entries(self.organisation, int(reference.provider_document_id))

    def transactions(self) -> list[dict[str, Any]]:
        return self.fake.transactions(self.organisation)

    def posts(self) -> int:
        return self.fake.requests.count("POST", rf"/{self.organisation}/svc/v1/transactions")


@pytest.fixture
def shop(fake) -> Shop:
    return Shop(fake)


def amounts(document: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    return tuple(Decimal(str(document[f"transaction{part}Price"])) for part in ("Netto", "Vat", "Brutto"))


# --------------------------------------------------------------------------- create and read back


def test_invoice_arrives_with_its_fields_and_firmao_computes_our_totals(shop) -> None:
    adapter = shop.adapter()
    plan = plan_for(adapter, INVOICE)
    created = adapter.create_document(plan)
    stored = shop.stored(created.reference)
    doc = plan.document
    assert (stored["type"], stored["mode"], stored["invoicePatternId"]) == ("INVOICE", "SALE", shop.series)
    assert (stored["invoiceDate"], stored["transactionDate"], stored["paymentDate"]) == (
        "2026-11-20", "2026-11-19", "2026-12-04")
    assert (stored["paymentType"], stored["paid"], stored["paymentStatus"]) == ("TRANSFER", False, "NOT_PAID")
    assert stored["customerName"] == doc.buyer.name and stored["nipNumber"] == "5260250274"
    assert stored["customerAddress"] == {"street": "ul. Kwiatowa 12/4", "postCode": "02-001", "city": "Warszawa",
                                         "country": "Polska", "county": None}
    assert stored["calculateFromGross"] is True  # gross prices, computed by Firmao from the gross
    entries = shop.entries(created.reference)
    assert [(e["name"], e["quantity"], e["vatPercent"], e["unitBruttoPrice"]) for e in entries] == [
        (line.name, line.quantity, line.vat, line.unit_price) for line in doc.lines]
    assert all(e["product"] is None for e in entries)  # SKUs not sent: plain lines
    # Firmao computed the totals on its own; the number is read back (the create answers only a changelog).
    assert amounts(stored) == (doc.totals.net, doc.totals.vat, doc.totals.gross)
    assert created.reference == ProviderReference(str(stored["id"]), "FV/1/11/2026", str(shop.series))
    assert created.readback is not None and compare(doc, created.readback, None) == []


def test_receipt_is_paid_in_cash_in_firmaos_default_series(shop) -> None:
    adapter = shop.adapter()
    created = adapter.create_document(plan_for(adapter, RECEIPT))
    stored = shop.stored(created.reference)
    assert (stored["type"], stored["invoicePatternId"]) == ("RECEIPT", 1)  # PAR: "do not pass"
    assert (stored["paymentType"], stored["paid"], stored["paidValue"]) == ("CASH", True, Decimal("18.50"))
    assert stored["restOfPaidValue"] == Decimal("0.00")
    assert created.reference.number == "PAR/1/11/2026"
    assert shop.stored(created.reference)["customer"]["label"] == "Anna Nowak"  # createCustomerIfNeeded


def test_correction_restates_every_line_before_and_after_and_names_its_original(shop) -> None:
    adapter = shop.adapter()
    original = adapter.create_document(plan_for(adapter, INVOICE)).reference
    created = adapter.create_document(plan_for(adapter, CORRECTION, corrected=original))
    correction = shop.stored(created.reference)
    assert correction["type"] == "CORRECTION"
    assert (correction["connectedDocNumber"], correction["connectedDocDate"]) == (original.number, "2026-11-20")
    assert correction["correctionCause"] == "Zwrot 1 szt. kubka"
    original_lines = [e["id"] for e in shop.entries(original)]
    entries = shop.entries(created.reference)
    before = [e for e in entries if e["type"] == "INVALID"]
    after = [e for e in entries if e["type"] == "ACTUAL"]
    assert [e["baseEntryId"] for e in before] == original_lines
    assert [e["quantity"] for e in before] == [Decimal(2), Decimal(3), Decimal(1)]
    assert [e["quantity"] for e in after] == [Decimal(1), Decimal(3), Decimal(1)]
    assert [e["invalidEntry"]["id"] for e in after] == [e["id"] for e in before]
    assert amounts(correction) == (Decimal("-24.38"), Decimal("-5.61"), Decimal("-29.99"))
    assert created.readback is not None and created.readback.corrects == original.provider_document_id
    # KOR is "do not pass": Firmao's default series numbers it (README's own correction number form).
    assert (created.reference.number, correction["invoicePatternId"]) == ("2026/11/001/KOR", 1)


def test_a_line_removed_by_a_correction_stays_with_quantity_zero(shop) -> None:
    adapter = shop.adapter()
    original = adapter.create_document(plan_for(adapter, INVOICE)).reference
    plan = plan_for(adapter, CORRECTION, corrected=original, lines=[
        {"line_id": "l2", "name": "Herbata liściasta 100 g", "sku": "TEA-100", "quantity": "3", "unit": "szt.",
         "unit_price": "18.50", "vat": "5"},
        {"line_id": "ship", "name": "Wysyłka kurierem", "quantity": "1", "unit": "usł.", "unit_price": "14.99",
         "vat": "23", "is_shipping": True}], totals={"net": "-48.76", "vat": "-11.22", "gross": "-59.98"})
    created = adapter.create_document(plan)
    after = [e for e in shop.entries(created.reference) if e["type"] == "ACTUAL"]
    assert [e["quantity"] for e in after] == [Decimal(0), Decimal(3), Decimal(1)]
    assert amounts(shop.stored(created.reference))[2] == Decimal("-59.98")


def test_a_second_correction_restates_the_lines_as_the_first_left_them(shop) -> None:
    adapter = shop.adapter()
    original = adapter.create_document(plan_for(adapter, INVOICE)).reference
    adapter.create_document(plan_for(adapter, CORRECTION, corrected=original))  # mugs 2 -> 1
    stale = plan_for(adapter, CORRECTION, corrected=original, document_id="KOR-2")  # still says 2 before
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(stale)
    assert "transactionEntries[0]" in caught.value.message and "lines_before" in caught.value.fix
    second = plan_for(adapter, CORRECTION, corrected=original, document_id="KOR-3")
    lines = second.document.model_dump(mode="json")["lines"]
    before = [{**line, "quantity": "1"} if line["line_id"] == "l1" else line for line in lines]
    after = [line for line in lines if line["line_id"] != "l1"]  # the last mug returned as well
    created = adapter.create_document(plan_for(adapter, CORRECTION, corrected=original, document_id="KOR-3",
                                               lines=after, correction={**second.document.correction.model_dump(
                                                   mode="json"), "lines_before": before},
                                               totals={"net": "-24.38", "vat": "-5.61", "gross": "-29.99"}))
    assert amounts(shop.stored(created.reference))[2] == Decimal("-29.99")


@pytest.mark.parametrize("gross_price_field", ["unitBruttoPrice", "unitNettoPrice"])
def test_gross_prices_go_with_calculate_from_gross_under_either_reading_of_its_price_field(gross_price_field) -> None:
    with firmao(gross_price_field=gross_price_field) as fake:
        shop = Shop(fake)
        adapter = shop.adapter()
        plan = plan_for(adapter, INVOICE)
        created = adapter.create_document(plan)
        assert amounts(shop.stored(created.reference)) == (Decimal("113.81"), Decimal("16.66"), Decimal("130.47"))
        assert len(shop.transactions()) == 1
        # The other reading costs one refused request (nothing created), then the adapter keeps to it.
        assert shop.posts() == (1 if gross_price_field == "unitBruttoPrice" else 2)
        adapter.create_document(plan_for(adapter, INVOICE, document_id="INV-2"))
        assert shop.posts() == (2 if gross_price_field == "unitBruttoPrice" else 3)


def test_foreign_currency_keeps_our_rate_and_its_table(shop) -> None:
    adapter = shop.adapter()
    created = adapter.create_document(plan_for(adapter, FOREIGN))
    stored = shop.stored(created.reference)
    assert (stored["currency"], stored["exchangeRate"], stored["exchangeRateDate"]) == (
        "EUR", Decimal("4.2351"), "2026-11-19")
    assert "tabela 224/A/NBP/2026" in stored["invoiceAnnotations"]
    assert stored["calculateFromGross"] is False
    assert amounts(stored) == (Decimal("420.00"), Decimal("96.60"), Decimal("516.60"))
    assert created.readback is not None and created.readback.exchange_rate == Decimal("4.2351")
    assert (created.readback.currency, created.readback.gross) == ("EUR", Decimal("516.60"))


def test_decimal_amounts_stay_exact_end_to_end(shop) -> None:
    adapter = shop.adapter()
    lines = [{"line_id": "l1", "name": "Herbata na wagę", "quantity": "1.255", "unit": "kg", "unit_price": "79.99",
              "vat": "5"},
             {"line_id": "l2", "name": "Kubek", "quantity": "2", "unit_price": "10.99", "vat": "23",
              "discount_percent": "10"}]
    plan = plan_for(adapter, INVOICE, price_basis="net", vat_calculation="per_line", lines=lines,
                    totals={"net": "120.17", "vat": "9.57", "gross": "129.74"})
    created = adapter.create_document(plan)
    entries = shop.entries(created.reference)
    # 1.255 x 79.99 = 100.387... -> 100.39; the discounted line (2 x 10.99 less 10 % = 19.782 -> 19.78) as
    # the grosz unit price giving exactly that value.
    assert [(e["quantity"], e["unitNettoPrice"], e["nettoPrice"]) for e in entries] == [
        (Decimal("1.255"), Decimal("79.99"), Decimal("100.39")), (Decimal(2), Decimal("9.89"), Decimal("19.78"))]
    assert amounts(shop.stored(created.reference)) == (Decimal("120.17"), Decimal("9.57"), Decimal("129.74"))


def test_our_number_is_passed_and_firmao_refuses_it_for_another_document(shop) -> None:
    adapter = shop.adapter(numbering="ours")
    created = adapter.create_document(plan_for(adapter, INVOICE))
    assert created.reference.number == "FV 1/11/2026" == shop.stored(created.reference)["transactionNumber"]
    with pytest.raises(PermanentError) as caught:  # another document of ours with the same number
        adapter.create_document(plan_for(adapter, INVOICE, document_id="INV-OTHER", issue_date="2026-11-21"))
    assert caught.value.code == "number_taken_by_another_document"
    assert "FV 1/11/2026" in caught.value.message and "renumber" in caught.value.fix
    assert len(shop.transactions()) == 1


def test_the_same_document_sent_again_is_settled_by_firmaos_duplicate_refusal(shop) -> None:
    adapter = shop.adapter(numbering="ours")
    plan = plan_for(adapter, INVOICE)
    first = adapter.create_document(plan)
    again = adapter.create_document(plan)  # 400 transactionNumberAlreadyExists: the holder is ours
    assert again.reference == first.reference and again.readback == first.readback
    assert len(shop.transactions()) == 1


def test_the_number_is_read_back_without_a_get_by_id_and_with_string_object_ids() -> None:
    with firmao(single_transaction_get=False, string_object_ids=True) as fake:
        shop = Shop(fake)
        adapter = shop.adapter()
        created = adapter.create_document(plan_for(adapter, INVOICE))
        assert created.reference.number == "FV/1/11/2026"
        assert adapter.download_pdf(created.reference.provider_document_id).startswith(b"%PDF")
        assert fake.requests.count("GET", rf"/{shop.organisation}/svc/v1/transactions/\d+") == 0


# --------------------------------------------------------------------------- SKU and stock


def test_skus_link_products_by_exact_code_and_decrease_stock(shop) -> None:
    adapter = shop.adapter(send_skus=True, missing_sku="warn")
    created = adapter.create_document(plan_for(adapter, INVOICE))
    mug, tea, shipping = shop.entries(created.reference)
    assert (mug["product"]["id"], mug["productCode"]) == (shop.mug, "MUG-300")  # not MUG-300-XL
    assert tea["product"] is None and tea["name"] == "Herbata liściasta 100 g"
    assert shipping["product"] is None
    assert shop.stored(created.reference)["storageStateUpdate"] == "AUTO_UPDATE"
    assert (shop.fake.stock(shop.organisation, shop.mug), shop.fake.stock(shop.organisation, shop.mug_xl)) == (
        Decimal(8), Decimal(10))
    assert created.warnings == ("SKU TEA-100 (no product with this code): line sent to Firmao without a stock link",)


def test_stock_leaves_the_warehouse_the_account_names(shop) -> None:
    warehouse = shop.fake.add_warehouse(shop.organisation, "Magazyn sklepu")
    adapter = shop.adapter(send_skus=True, missing_sku="warn", provider_options={"warehouse_id": warehouse})
    adapter.create_document(plan_for(adapter, INVOICE))
    assert shop.fake.stock(shop.organisation, shop.mug, warehouse) == Decimal(-2)
    assert shop.fake.stock(shop.organisation, shop.mug, 1) == Decimal(10)


def test_a_missing_sku_fails_before_anything_is_sent_when_set_to_fail(shop) -> None:
    adapter = shop.adapter(send_skus=True, missing_sku="fail")
    with pytest.raises(PermanentError) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert caught.value.code == "sku_not_found" and "TEA-100" in caught.value.message
    assert shop.posts() == 0


def test_a_correction_keeps_the_products_of_the_lines_it_corrects(shop) -> None:
    adapter = shop.adapter(send_skus=True, missing_sku="warn")
    original = adapter.create_document(plan_for(adapter, INVOICE)).reference
    created = adapter.create_document(plan_for(adapter, CORRECTION, corrected=original))
    mug_before, mug_after = shop.entries(created.reference)[:2]
    assert mug_before["product"]["id"] == mug_after["product"]["id"] == shop.mug


# --------------------------------------------------------------------------- look-up and lists


@pytest.mark.parametrize("undocumented_filters", ["honour", "ignore"])
def test_look_up_by_our_number_under_either_reading_of_the_filter(undocumented_filters) -> None:
    with firmao(undocumented_filters=undocumented_filters) as fake:
        shop = Shop(fake)
        adapter = shop.adapter(numbering="ours")
        other = adapter.create_document(plan_for(adapter, INVOICE, document_id="INV-10", number="FV 10/11/2026"))
        assert adapter.find_document(plan_for(adapter, INVOICE)) is None  # FV 1/11/2026: not FV 10/11/2026
        mine = adapter.create_document(plan_for(adapter, INVOICE)).reference
        assert adapter.find_document(plan_for(adapter, INVOICE)) == mine != other.reference


@pytest.mark.parametrize("undocumented_filters", ["honour", "ignore"])
def test_look_up_by_our_reference_field_with_firmaos_numbering(undocumented_filters) -> None:
    with firmao(undocumented_filters=undocumented_filters) as fake:
        shop = Shop(fake)
        adapter = shop.adapter(provider_options={"reference_field": "custom3"})
        adapter.create_document(plan_for(adapter, INVOICE, document_id="INV-10"))
        assert adapter.find_document(plan_for(adapter, INVOICE, document_id="INV-1")) is None
        mine = adapter.create_document(plan_for(adapter, INVOICE, document_id="INV-1")).reference
        assert shop.stored(mine)["customFields"] == {"custom3": "INV-1"}
        assert adapter.find_document(plan_for(adapter, INVOICE, document_id="INV-1")) == mine


@pytest.mark.parametrize("undocumented_filters", ["honour", "ignore"])
def test_product_codes_are_matched_exactly_under_either_reading_of_the_filter(undocumented_filters) -> None:
    with firmao(undocumented_filters=undocumented_filters) as fake:
        shop = Shop(fake)
        for n in range(60):  # more than a page of products
            fake.add_product(shop.organisation, f"MUG-300-{n}", f"Kubek {n}")
        adapter = shop.adapter(send_skus=True, missing_sku="warn")
        created = adapter.create_document(plan_for(adapter, INVOICE))
        assert shop.entries(created.reference)[0]["product"]["id"] == shop.mug


def test_lists_documents_of_a_period_across_pages_of_unknown_size() -> None:
    with firmao(total_size_unknown=True, max_limit=2, undocumented_filters="ignore") as fake:
        shop = Shop(fake)
        adapter = shop.adapter(provider_options={"reference_field": "custom1"})
        made = [adapter.create_document(plan_for(adapter, INVOICE, document_id=f"INV-{n}")).reference
                for n in range(5)]
        adapter.create_document(plan_for(adapter, INVOICE, document_id="INV-DEC", issue_date="2026-12-01",
                                         payment={"method": "Przelew", "due_date": "2026-12-15"}))
        listed = adapter.list_documents(date(2026, 11, 1), date(2026, 11, 30))
        assert [d.provider_document_id for d in listed] == [r.provider_document_id for r in made]
        assert [(d.kind, d.our_document_id, d.gross, d.currency) for d in listed][0] == (
            "invoice", "INV-0", Decimal("130.47"), "PLN")


def test_lists_series_and_the_documented_payment_types(shop) -> None:
    adapter = shop.adapter()
    series = {option.id: option.name for option in adapter.list_series()}
    assert series[str(shop.series)].startswith("Sklep (invoice: FV/{n}/{mm}/{yyyy}")
    assert series["1"].startswith("Domyślna")
    assert [option.id for option in adapter.list_payment_types()] == ["TRANSFER", "CASH"]


# --------------------------------------------------------------------------- PDF


def test_pdf_carries_the_number_and_uses_the_documents_own_template(shop) -> None:
    adapter = shop.adapter()
    original = adapter.create_document(plan_for(adapter, INVOICE)).reference
    correction = adapter.create_document(plan_for(adapter, CORRECTION, corrected=original)).reference
    for reference in (original, correction):
        pdf = adapter.download_pdf(reference.provider_document_id)
        assert pdf.startswith(b"%PDF") and reference.number.encode() in pdf
    templates = [entry.path.split("/")[-2] for entry in shop.fake.requests.entries(
        "GET", rf"/{shop.organisation}/svc/v1/reports/invoices/transaction/.+")]
    assert templates == ["Faktura", "Faktura_korygujaca2"]  # lastSelectedInvoiceReport of each


def test_pdf_of_an_unknown_document_is_a_clear_rejection(shop) -> None:
    with pytest.raises(ProviderRejected) as caught:
        shop.adapter().download_pdf("999999")
    assert caught.value.code == "provider_not_found"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("change", ["password", "organisation", "api_disabled"])
def test_refused_credentials_are_credentials_errors_without_the_secret(fake, change) -> None:
    shop = Shop(fake)
    credentials = dict(shop.credentials)
    if change == "password":
        credentials["password"] = "wrong-password-value"
    elif change == "organisation":
        credentials["organisation"] = "no-such-organisation"
    else:
        fake.account(shop.organisation).api_enabled = False
    adapter = shop.adapter(credentials)
    for call in (adapter.check_credentials, lambda: adapter.create_document(plan_for(adapter, INVOICE))):
        with pytest.raises(CredentialsRejected) as caught:
            call()
        assert "wrong-password-value" not in str(caught.value) and shop.password not in str(caught.value)
    assert shop.transactions() == []


def test_credentials_travel_in_a_basic_auth_header_only(shop) -> None:
    adapter = shop.adapter()
    adapter.create_document(plan_for(adapter, INVOICE))
    for entry in shop.fake.requests.entries():
        assert shop.password not in str(entry.query) and LOGIN not in str(entry.query)
    assert shop.password not in repr(adapter.http.session.auth)


def test_a_refused_field_names_firmaos_field_and_ours(shop) -> None:
    adapter = shop.adapter(payment_links={"Przelew": "CARD", "Karta": "CASH"})
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert "Firmao rejected paymentType" in caught.value.message and "CARD" in caught.value.message
    assert "payment-type link" in caught.value.fix and "paymentType" in caught.value.field_errors


def test_an_unknown_series_points_at_the_series_link(shop) -> None:
    adapter = shop.adapter(series_links={"FV": "77"})
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert caught.value.code == "provider_not_found" and "invoicePatternId" in caught.value.message
    assert "series link" in caught.value.fix


def test_a_series_link_that_is_no_firmao_id_is_refused_before_sending(shop) -> None:
    adapter = shop.adapter(series_links={"FV": "Sklep"})
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert caught.value.code == "series_not_linked" and shop.posts() == 0


def test_rate_limit_and_outage_are_transient_and_nothing_was_created(shop) -> None:
    adapter = shop.adapter()
    plan = plan_for(adapter, INVOICE)
    shop.fake.faults.rate_limited(retry_after=7, method="POST")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan)
    assert (caught.value.code, caught.value.retry_after) == ("provider_rate_limited", 7.0)
    shop.fake.faults.status(503, method="POST")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan)
    assert caught.value.code == "provider_unavailable" and not isinstance(caught.value, RequestMayHaveSucceeded)
    assert shop.transactions() == []


def test_a_gateway_error_on_create_may_have_succeeded(shop) -> None:
    adapter = shop.adapter()
    shop.fake.faults.status(502, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan_for(adapter, INVOICE))


def create_losing_the_answer(shop: Shop, adapter: FirmaoAdapter, plan: Any) -> dict[str, Any]:
    """Firmao stores the transaction, then stalls past our read timeout: the answer is lost."""
    shop.fake.faults.stall_after_commit(2.0, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    [stored] = shop.transactions()
    return stored


def test_a_timed_out_create_with_our_number_is_found_by_the_look_up(shop) -> None:
    adapter = shop.adapter(numbering="ours")
    plan = plan_for(adapter, INVOICE)
    stored = create_losing_the_answer(shop, adapter, plan)
    assert adapter.find_document(plan) == ProviderReference(str(stored["id"]), "FV 1/11/2026", str(shop.series))


def test_a_timed_out_create_with_our_number_sent_again_is_settled_by_the_duplicate_refusal(shop) -> None:
    adapter = shop.adapter(numbering="ours")
    plan = plan_for(adapter, INVOICE)
    stored = create_losing_the_answer(shop, adapter, plan)
    again = adapter.create_document(plan)  # 400 transactionNumberAlreadyExists, and the holder is ours
    assert again.reference.provider_document_id == str(stored["id"]) and len(shop.transactions()) == 1


def test_a_timed_out_create_numbered_by_firmao_is_found_by_our_reference(shop) -> None:
    adapter = shop.adapter(provider_options={"reference_field": "custom1"})
    plan = plan_for(adapter, INVOICE)
    stored = create_losing_the_answer(shop, adapter, plan)
    assert adapter.find_document(plan) == ProviderReference(str(stored["id"]), "FV/1/11/2026", str(shop.series))
    assert adapter.find_document(plan_for(adapter, INVOICE, document_id="INV-NEVER-SENT")) is None


def test_without_a_reference_field_a_create_numbered_by_firmao_cannot_be_looked_up(shop) -> None:
    adapter = shop.adapter()
    with pytest.raises(PermanentError) as caught:
        adapter.find_document(plan_for(adapter, INVOICE))
    assert caught.value.code == "lookup_not_possible" and "reference_field" in caught.value.fix


def test_a_failed_read_back_after_the_create_means_the_document_exists(shop) -> None:
    adapter = shop.adapter(numbering="ours")
    plan = plan_for(adapter, INVOICE)
    shop.fake.faults.status(503, method="GET", path=rf"/{shop.organisation}/svc/v1/transactions", times=3)
    with pytest.raises(RequestMayHaveSucceeded) as caught:
        adapter.create_document(plan)
    [stored] = shop.transactions()
    assert str(stored["id"]) in caught.value.message
    assert adapter.find_document(plan).provider_document_id == str(stored["id"])


@pytest.mark.parametrize("totals", ["refuse", "recompute"])
def test_a_firmao_that_sums_vat_per_rate_refuses_our_totals_by_name_or_shows_its_own(totals) -> None:
    """The other reading of Firmao's header VAT (the fake's vat_totals switch): never silent."""
    lines = [{"line_id": f"l{n}", "name": "Drobiazg", "quantity": "1", "unit_price": "0.02", "vat": "23"}
             for n in range(3)]
    with firmao(vat_totals="per_rate", totals=totals) as fake:
        shop = Shop(fake)
        adapter = shop.adapter()
        plan = plan_for(adapter, INVOICE, price_basis="net", vat_calculation="per_line", lines=lines,
                        totals={"net": "0.06", "vat": "0.00", "gross": "0.06"})
        if totals == "refuse":
            with pytest.raises(ProviderRejected) as caught:
                adapter.create_document(plan)
            assert "transactionVatPrice" in caught.value.message and "document.totals" in caught.value.fix
            assert shop.transactions() == []
        else:
            created = adapter.create_document(plan)
            assert created.readback is not None
            assert [d.field for d in compare(plan.document, created.readback, None)] == ["VAT", "gross"]


# --------------------------------------------------------------------------- rate limit


def test_the_declared_limit_is_a_labelled_assumption_and_can_be_overridden() -> None:
    declared = FirmaoAdapter.rate_limit
    assert declared is not None and (declared.limit, declared.window_seconds) == (60, 60)
    assert declared.scope == LimitScope.CREDENTIAL and declared.source.startswith("assumption")
    override = RateLimit(limit=20, window_seconds=60, scope=LimitScope.CREDENTIAL, source="deployment")
    [(suffix, window)] = FirmaoAdapter.rate_windows({"firmao": override})
    assert (suffix, window.limit) == ("", 20)


def test_firmaos_own_limit_answers_429_and_reads_as_transient() -> None:
    with firmao(rate_limit=(2, 60.0)) as fake:
        shop = Shop(fake)
        adapter = shop.adapter()
        adapter.check_credentials()
        adapter.check_credentials()
        with pytest.raises(TransientError) as caught:
            adapter.check_credentials()
        assert caught.value.code == "provider_rate_limited" and caught.value.retry_after is not None
        assert fake.limiter.peak(shop.organisation) == 3


# --------------------------------------------------------------------------- capability refusals


def test_vat_exemption_has_no_form_at_firmao_and_is_refused_before_sending(shop) -> None:
    adapter = shop.adapter()
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, EXEMPT))
    assert caught.value.code == "unsupported_vat_code" and "zw" in caught.value.message
    assert shop.posts() == 0


# --------------------------------------------------------------------------- lines Firmao cannot state: folded


def folded_entry(entries: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(entry for entry in entries if entry["name"].startswith(name))


def test_a_quantity_finer_than_firmao_keeps_goes_folded_with_its_gross_and_a_warning(shop) -> None:
    # 2.3456 kg x 45.99 = 107.874144 -> 107.87 net, 24.81 VAT: Firmao keeps 3 decimals of a quantity.
    adapter = shop.adapter()
    lines = [{"line_id": "coffee", "name": "Kawa ziarnista", "quantity": "2.3456", "unit": "kg",
              "unit_price": "45.99", "vat": "23"},
             {"line_id": "tea", "name": "Herbata", "quantity": "2", "unit_price": "10.00", "vat": "23"}]
    plan = plan_for(adapter, INVOICE, price_basis="net", vat_calculation="per_line", lines=lines,
                    totals=computed_totals(lines, "net", "per_line"))
    created = adapter.create_document(plan)
    coffee, tea = shop.entries(created.reference)
    assert coffee["name"] == "Kawa ziarnista (2.3456 kg × 45.99)" and coffee["product"] is None
    assert (coffee["quantity"], coffee["unit"], coffee["unitNettoPrice"]) == (Decimal(1), "szt.", Decimal("107.87"))
    assert (coffee["nettoPrice"], coffee["vatPrice"]) == (Decimal("107.87"), Decimal("24.81"))
    assert (tea["quantity"], tea["unit"], tea["name"]) == (Decimal(2), "szt.", "Herbata")  # as it is
    assert amounts(shop.stored(created.reference)) == (Decimal("127.87"), Decimal("29.41"), Decimal("157.28"))
    assert created.readback is not None and compare(plan.document, created.readback, None) == []
    [warning] = created.warnings
    assert warning.startswith("line_folded: line coffee (quantity 2.3456 kg x 45.99) sent to Firmao as quantity 1 "
                              "at its value 107.87") and "3 decimals" in warning and "Kawa" not in warning


def test_a_discount_no_grosz_price_reproduces_goes_folded_with_the_exact_gross(shop) -> None:
    # Gross prices: 3 x 10.99 less 12.5 % = 28.85 (9.61 or 9.62 each give 28.83 or 28.86); 7 x 1.43 less 5 %
    # = 9.51 (1.35 or 1.36 give 9.45 or 9.52); the shipping line has an exact price and goes as it is.
    adapter = shop.adapter()
    plan = discounted_plan(adapter)
    created = adapter.create_document(plan)
    entries = shop.entries(created.reference)
    mug, coaster = folded_entry(entries, "Kubek"), folded_entry(entries, "Podkładka")
    assert (mug["name"], mug["quantity"], mug["unitBruttoPrice"]) == (
        "Kubek (3 szt. × 10.99 -12.5%)", Decimal(1), Decimal("28.85"))
    assert (coaster["name"], coaster["quantity"], coaster["unitBruttoPrice"]) == (
        "Podkładka (7 szt. × 1.43 -5%)", Decimal(1), Decimal("9.51"))
    assert folded_entry(entries, "Wysyłka")["quantity"] == Decimal(1)
    stored = shop.stored(created.reference)
    assert amounts(stored)[2] == plan.document.totals.gross == Decimal("53.36")
    assert created.readback is not None and compare(plan.document, created.readback, None, plan.vat_split) == []
    folded = [warning for warning in created.warnings if warning.startswith("line_folded:")]
    assert [warning.split(" (")[0] for warning in folded] == ["line_folded: line l1", "line_folded: line l2"]
    assert "less 12.5%" in folded[0] and "discounted value" in folded[0]


def test_a_folded_line_with_a_sku_goes_unlinked_and_moves_no_stock(shop) -> None:
    adapter = shop.adapter(send_skus=True, missing_sku="fail")
    lines = [{"line_id": "l1", "name": "Kubek ceramiczny 300 ml", "sku": "MUG-300", "quantity": "1.0005",
              "unit_price": "29.99", "vat": "23"}]
    plan = plan_for(adapter, INVOICE, lines=lines, totals=computed_totals(lines, "gross", "per_rate"))
    created = adapter.create_document(plan)
    [mug] = shop.entries(created.reference)
    assert mug["product"] is None and mug["name"] == "Kubek ceramiczny 300 ml (1.0005 szt. × 29.99)"
    assert shop.fake.stock(shop.organisation, shop.mug) == Decimal(10)
    assert shop.fake.requests.count("GET", rf"/{shop.organisation}/svc/v1/products") == 0  # its SKU is not looked up
    assert created.warnings[1] == ("SKU MUG-300 (line l1 sent folded, as quantity 1): line sent to Firmao without a "
                                   "stock link")


def test_a_folded_lines_long_name_is_cut_and_keeps_its_quantity_and_price(shop) -> None:
    adapter = shop.adapter()
    lines = [{"line_id": "l1", "name": "Herbata " * 40, "quantity": "1.2345", "unit": "kg", "unit_price": "10",
              "vat": "5"}]
    plan = plan_for(adapter, INVOICE, lines=lines, totals=computed_totals(lines, "gross", "per_rate"))
    created = adapter.create_document(plan)
    [tea] = shop.entries(created.reference)
    assert len(tea["name"]) <= 256 and tea["name"].endswith("Herbata (1.2345 kg × 10)")
    [warning] = created.warnings  # no text_truncated beside it: the cut is the fold's
    assert warning.startswith("line_folded: line l1") and "cut to fit Firmao's 256 characters" in warning


def test_a_correction_of_a_folded_line_restates_it_folded(shop) -> None:
    adapter = shop.adapter()
    coffee = {"line_id": "l1", "name": "Kawa", "quantity": "2.3456", "unit": "kg", "unit_price": "45.99", "vat": "23"}
    invoice = plan_for(adapter, INVOICE, lines=[coffee], totals=computed_totals([coffee], "gross", "per_rate"))
    original = adapter.create_document(invoice).reference
    after = {**coffee, "quantity": "1.1728"}  # half returned: 53.94 (was 107.87)
    before_totals, after_totals = (computed_totals([line], "gross", "per_rate") for line in (coffee, after))
    correction = {"corrected_document_id": "INV-2026-11-0001", "reason": "Zwrot", "lines_before": [coffee]}
    difference = {part: str(Decimal(after_totals[part]) - Decimal(before_totals[part])) for part in after_totals}
    plan = plan_for(adapter, CORRECTION, corrected=original, lines=[after], correction=correction, totals=difference)
    created = adapter.create_document(plan)
    before_entry, after_entry = shop.entries(created.reference)
    assert (before_entry["quantity"], before_entry["unitBruttoPrice"]) == (Decimal(1), Decimal("107.87"))
    assert (after_entry["quantity"], after_entry["unitBruttoPrice"]) == (Decimal(1), Decimal("53.94"))
    assert amounts(shop.stored(created.reference))[2] == plan.document.totals.gross == Decimal("-53.93")
    assert created.readback is not None and compare(plan.document, created.readback, original.provider_document_id,
                                                    plan.vat_split) == []
    assert [warning.split(" (")[0] for warning in created.warnings] == ["line_folded: line l1"] * 2


def test_a_correction_adding_a_line_is_refused_before_sending(shop) -> None:
    adapter = shop.adapter()
    original = adapter.create_document(plan_for(adapter, INVOICE)).reference
    added = {"line_id": "gift", "name": "Gratis", "quantity": "1", "unit_price": "1.23", "vat": "23"}
    plan = plan_for(adapter, CORRECTION, corrected=original, lines=[
        *plan_for(adapter, CORRECTION, corrected=original).document.model_dump(mode="json")["lines"], added],
        totals={"net": "-23.38", "vat": "-5.38", "gross": "-28.76"})
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan)
    assert caught.value.code == "unsupported_correction" and "gift" in caught.value.message
    assert shop.posts() == 1  # the original only


@pytest.mark.parametrize("ksef", ["send_on_export", "provider_sends"])
def test_ksef_is_refused_as_firmaos_api_documents_none(shop, ksef) -> None:
    adapter = shop.adapter(ksef=ksef)
    with pytest.raises(ConfigurationError) as caught:
        plan_for(adapter, INVOICE)
    assert caught.value.code == "unsupported_ksef" and "Firmao" in caught.value.message


def tiny_lines() -> list[dict]:
    return [{"line_id": f"l{n}", "name": "Drobiazg", "quantity": "1", "unit_price": "0.02", "vat": "23"}
            for n in range(3)]


def test_net_prices_whose_gross_firmao_would_compute_otherwise_are_refused_before_sending(shop) -> None:
    # Three 0.02 lines at 23 %, VAT from their sum (0.01); Firmao sums the lines' VAT (0.00 each): 0.06 due, not 0.07.
    adapter = shop.adapter()
    with pytest.raises(ConfigurationError) as caught:
        plan_for(adapter, INVOICE, price_basis="net", vat_calculation="per_rate", lines=tiny_lines(),
                 totals={"net": "0.06", "vat": "0.01", "gross": "0.07"})
    assert caught.value.code == "provider_gross_differs" and "0.06" in caught.value.message
    assert shop.posts() == 0


def test_gross_prices_firmao_splits_otherwise_are_sent_with_both_splits(shop) -> None:
    # The same lines priced gross: 0.06 due either way; Firmao's split (0.06 + 0.00) is not ours (0.05 + 0.01).
    adapter = shop.adapter()
    plan = plan_for(adapter, INVOICE, price_basis="gross", vat_calculation="per_rate", lines=tiny_lines(),
                    totals={"net": "0.05", "vat": "0.01", "gross": "0.06"})
    assert plan.vat_split is not None and plan.vat_split.theirs.vat == Decimal("0.00")
    created = adapter.create_document(plan)
    assert created.readback is not None and created.readback.gross == Decimal("0.06")
    assert shop.posts() == 1


def test_strict_totals_policy_refuses_any_other_split(shop) -> None:
    adapter = shop.adapter(totals_policy="strict")
    with pytest.raises(ConfigurationError) as caught:
        plan_for(adapter, INVOICE, price_basis="gross", vat_calculation="per_rate", lines=tiny_lines(),
                 totals={"net": "0.05", "vat": "0.01", "gross": "0.06"})
    assert caught.value.code == "provider_totals_would_differ" and "per line" in caught.value.message
    assert shop.posts() == 0
