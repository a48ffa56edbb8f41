"""Contract tests: the wFirma adapter against the strict local fake of wFirma's API v2.

Each item of the facts file's "recurring problems" list for wFirma has a test named after it.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import pytest
import requests
from logcapture import captured_log_lines

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import (
    DocumentKind,
    ExportMessage,
    Line,
    PriceBasis,
    VatCalculation,
    compute_totals,
)
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    ConfigurationError,
    CredentialsRejected,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import KsefState, KsefStatus, ProviderReference
from invoice_export.domain.readback import compare, settle_vat_split
from invoice_export.providers import build_adapter
from invoice_export.providers.wfirma.adapter import WfirmaAdapter, external_id, ksef_state
from local.fakes.wfirma import WfirmaFake
from testsupport import (
    GROSS_PER_LINE_EXAMPLE,
    NET_LINES_VAT_BY_METHOD,
    computed_totals,
    discounted_plan,
    load_example,
    plan_for,
)

APP_KEY = "integration-app-key-7f3a"


@pytest.fixture(scope="module")
def fake():
    with WfirmaFake(app_key=APP_KEY, rate_limit=None) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def account(fake):
    return fresh_account(fake)


def fresh_account(fake: WfirmaFake) -> dict[str, Any]:
    """A fresh wFirma company per test, with its own keys, a series for FV and two goods."""
    access, secret = secrets.token_hex(16), secrets.token_hex(16)
    company_id = fake.add_company(access, secret, name="Herbaciarnia Sp. z o.o.", nip="5252445767")
    series = fake.add_series(company_id, "Sklep internetowy", "SKL [numer]/[rok]")
    fake.add_good(company_id, "Kubek ceramiczny 300 ml", "MUG-300", netto="24.38", count=10)
    fake.add_good(company_id, "Kubek ceramiczny 300 ml XL", "MUG-300-XL", netto="32.51", count=10)
    return {"access_key": access, "secret_key": secret, "company_id": company_id, "series": series}


def credentials(account: dict[str, Any], **changes: str) -> dict[str, str]:
    return {"access_key": account["access_key"], "secret_key": account["secret_key"], "app_key": APP_KEY,
            "company_id": str(account["company_id"]), **changes}


def make_adapter(fake, account, *, credential_changes: dict[str, str] | None = None,
                 **settings_changes) -> WfirmaAdapter:
    settings = AccountSettings.model_validate({
        "account_id": "shop-1", "provider": "wfirma", "api_url": fake.base_url,
        "series_links": {"FV": str(account["series"]), "FV-EXPORT": None, "PAR": None, "KOR": None,
                         "FV-B2B": None},
        "payment_links": {"Przelew": "transfer", "Karta": "payment_card"}, **settings_changes})
    adapter = build_adapter(settings, credentials(account, **(credential_changes or {})), read_timeout=1.0)
    assert isinstance(adapter, WfirmaAdapter)
    return adapter


def stored(fake, account, reference: ProviderReference) -> dict:
    return fake.company(account["company_id"]).invoices[int(reference.provider_document_id)]


def contents(invoice: dict) -> list[dict]:
    return [entry["invoicecontent"] for entry in invoice["invoicecontents"].values()]


def vat_id(fake, account, code: str) -> str:
    return str(fake.company(account["company_id"]).vat_code_id(code))


def totals_of(invoice: dict) -> tuple[Decimal, Decimal, Decimal]:
    return Decimal(invoice["netto"]), Decimal(invoice["tax"]), Decimal(invoice["total"])


def lines_totals(after: list[dict], before: list[dict], basis: str) -> dict[str, str]:
    """Our totals of a correction (after minus before), computed by our own model."""
    def total(lines: list[dict]):
        return compute_totals([Line.model_validate(line) for line in lines], PriceBasis(basis),
                              VatCalculation.PER_RATE)
    a, b = total(after), total(before)
    return {"net": str(a.net - b.net), "vat": str(a.vat - b.vat), "gross": str(a.gross - b.gross)}


# --------------------------------------------------------------------------- mapping, per example


def test_invoice_for_a_company_arrives_field_by_field_with_wfirmas_totals_equal_to_ours(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    doc = plan.document
    assert invoice["type"] == "normal" and invoice["price_type"] == "brutto"
    assert invoice["id_external"] == doc.document_id
    assert invoice["series"] == {"id": str(account["series"])}
    assert (invoice["date"], invoice["disposaldate"], invoice["paymentdate"]) == ("2026-11-20", "2026-11-19",
                                                                                  "2026-12-04")
    assert invoice["paymentmethod"] == "transfer" and invoice["paymentstate"] == "unpaid"
    buyer = invoice["contractor_detail"]
    assert (buyer["name"], buyer["tax_id_type"], buyer["nip"]) == ("Hurtownia Zielony Liść Sp. z o.o.", "nip",
                                                                  "5260250274")
    assert (buyer["street"], buyer["zip"], buyer["city"], buyer["country"], buyer["email"]) == (
        "ul. Kwiatowa 12/4", "02-001", "Warszawa", "PL", "ksiegowosc@zielonylisc.example")
    lines = contents(invoice)
    assert [(c["name"], c["unit"], Decimal(c["count"]), c["price"]) for c in lines] == [
        (line.name, line.unit, line.quantity, f"{line.unit_price:.2f}") for line in doc.lines]
    assert [c["vat_code"]["id"] for c in lines] == [vat_id(fake, account, code) for code in ("23", "5", "23")]
    assert all(c["good"] == {"id": "0"} for c in lines)  # no SKU links unless the account sends them
    # wFirma computed its totals on its own: they equal ours to the grosz.
    assert totals_of(invoice) == (doc.totals.net, doc.totals.vat, doc.totals.gross)
    assert created.reference == ProviderReference(str(invoice["id"]), "SKL 1/2026", str(account["series"]))
    assert created.readback is not None and (created.readback.net, created.readback.vat, created.readback.gross) \
        == (doc.totals.net, doc.totals.vat, doc.totals.gross)
    assert created.warnings == ()


def test_receipt_for_a_person_is_paid_in_wfirmas_default_receipt_series(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "02-receipt-person.json"))
    invoice = stored(fake, account, created.reference)
    company = fake.company(account["company_id"])
    assert invoice["type"] == "receipt_normal"
    assert invoice["series"] == {"id": str(company.default_series("receipt_normal"))}  # 'do not pass'
    buyer = invoice["contractor_detail"]
    assert (buyer["name"], buyer["tax_id_type"], buyer["nip"], buyer["phone"]) == (
        "Anna Nowak", "none", "", "+48 600 100 200")
    assert invoice["paymentmethod"] == "payment_card"
    assert (invoice["alreadypaid_initial"], invoice["paymentstate"], invoice["remaining"]) == ("18.50", "paid", "0.00")
    assert totals_of(invoice) == (Decimal("17.62"), Decimal("0.88"), Decimal("18.50"))
    assert adapter.download_pdf(created.reference.provider_document_id).startswith(b"%PDF")


def test_fiscal_receipt_is_issued_and_its_missing_pdf_is_explained(fake, account) -> None:
    adapter = make_adapter(fake, account, provider_options={"receipt_type": "fiscal"})
    created = adapter.create_document(plan_for(adapter, "02-receipt-person.json"))
    assert stored(fake, account, created.reference)["type"] == "receipt_fiscal_normal"
    with pytest.raises(ProviderRejected) as caught:
        adapter.download_pdf(created.reference.provider_document_id)
    assert caught.value.code == "no_pdf_for_fiscal_receipt"
    assert "fiscal printer" in caught.value.message and "receipt_type" in caught.value.fix


def test_unknown_provider_option_is_refused_naming_the_options(fake, account) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_adapter(fake, account, provider_options={"receipt_kind": "fiscal"})
    assert "receipt_type" in caught.value.fix


def test_exempt_line_uses_the_zw_code_and_prints_its_legal_basis(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json"))
    invoice = stored(fake, account, created.reference)
    assert invoice["price_type"] == "netto"
    assert contents(invoice)[0]["vat_code"]["id"] == vat_id(fake, account, "ZW")
    basis = "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"
    assert invoice["description"] == f"Podstawa zwolnienia z VAT: {basis}"
    assert totals_of(invoice) == (Decimal("199.00"), Decimal("0.00"), Decimal("199.00"))
    assert basis.encode() in adapter.download_pdf(created.reference.provider_document_id)


@pytest.mark.parametrize("our_code, wfirma_code", [("np", "NP"), ("np-EU", "NPUE"), ("oo", "VAT_BUYER"),
                                                    ("0", "0"), ("8", "8")])
def test_every_vat_code_is_sent_as_the_companys_own_vat_code_id(fake, account, our_code, wfirma_code) -> None:
    adapter = make_adapter(fake, account)
    line = {"line_id": "l1", "name": "Usługa", "quantity": "1", "unit_price": "100.00", "vat": our_code}
    vat = Decimal("8.00") if our_code == "8" else Decimal("0.00")
    plan = plan_for(adapter, "03-invoice-exempt-person.json", lines=[line],
                    totals={"net": "100.00", "vat": str(vat), "gross": str(Decimal("100.00") + vat)})
    invoice = stored(fake, account, adapter.create_document(plan).reference)
    assert contents(invoice)[0]["vat_code"]["id"] == vat_id(fake, account, wfirma_code)
    assert "Podstawa zwolnienia" not in invoice["description"]


def test_unit_prices_to_four_places_keep_our_line_values(fake, account) -> None:
    adapter = make_adapter(fake, account)
    lines = [{"line_id": "l1", "name": "Śrubka", "quantity": "3", "unit_price": "0.3333", "vat": "23"},
             {"line_id": "l2", "name": "Nakrętka", "quantity": "2.5", "unit_price": "1.0101", "vat": "23"}]
    plan = plan_for(adapter, "01-invoice-company.json", lines=lines,
                    totals={"net": "2.87", "vat": "0.66", "gross": "3.53"})  # 1.00 + 2.53 gross at 23%
    invoice = stored(fake, account, adapter.create_document(plan).reference)
    assert [c["price"] for c in contents(invoice)] == ["0.3333", "1.0101"]
    assert [c["brutto"] for c in contents(invoice)] == ["1.00", "2.53"]
    assert totals_of(invoice) == (Decimal("2.87"), Decimal("0.66"), Decimal("3.53"))


def test_a_company_without_a_needed_vat_code_is_told_before_sending(fake, account) -> None:
    company = fake.company(account["company_id"])
    del company.vat_codes[company.vat_code_id("ZW")]  # a code table without zw
    adapter = make_adapter(fake, account)
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json"))
    assert caught.value.code == "unsupported_vat_code" and "no VAT code ZW" in caught.value.message
    assert company.invoices == {}


def test_foreign_currency_buyer_with_eu_vat_number_and_our_rate_reaching_wfirma(fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.set_exchange_rate("EUR", "4.3012")  # wFirma's own NBP look-up would differ from our rate
    try:
        created = adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
    finally:
        fake.set_exchange_rate("EUR", "4.2351")
    invoice = stored(fake, account, created.reference)
    # Our rate and its date (example: 4.2351 of 2026-11-19), not the one wFirma would pick.
    assert (invoice["currency"], invoice["currency_exchange"], invoice["currency_date"],
            invoice["price_currency_exchange"]) == ("EUR", "4.2351", "2026-11-19", "4.2351")
    assert created.warnings == ()
    assert (invoice["contractor_detail"]["tax_id_type"], invoice["contractor_detail"]["nip"]) == ("vat",
                                                                                                  "DE811907980")
    assert totals_of(invoice) == (Decimal("420.00"), Decimal("96.60"), Decimal("516.60"))


def test_a_rate_wfirma_ignores_is_reported_next_to_ours() -> None:
    with WfirmaFake(app_key=APP_KEY, rate_limit=None, own_rate_fields="ignored") as ignoring:
        account = fresh_account(ignoring)
        adapter = make_adapter(ignoring, account)
        ignoring.set_exchange_rate("EUR", "4.3012")
        created = adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
        [warning] = created.warnings
        assert "4.3012" in warning and "4.2351" in warning and "224/A/NBP/2026" in warning
        assert ignoring.server_errors == []


def test_a_rate_wfirma_refuses_names_our_rate_to_fix() -> None:
    with WfirmaFake(app_key=APP_KEY, rate_limit=None, own_rate_fields="refused") as refusing:
        account = fresh_account(refusing)
        adapter = make_adapter(refusing, account)
        with pytest.raises(ProviderRejected) as caught:
            adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
        assert "currency_exchange" in caught.value.field_errors
        assert "document.exchange_rate.rate" in caught.value.fix


def test_a_rate_with_more_places_than_wfirma_keeps_is_not_sent(fake, account) -> None:
    adapter = make_adapter(fake, account)
    message = load_example("04-invoice-eur.json")
    message["document"]["exchange_rate"]["rate"] = "4.235123"
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, WfirmaAdapter)
    invoice = adapter.build_request(plan)["invoices"]["0"]["invoice"]
    assert not {"currency_exchange", "currency_date", "price_currency_exchange"} & invoice.keys()
    [warning] = adapter.create_document(plan).warnings  # wFirma's own 4.2351 is then reported
    assert "4.2351" in warning and "4.235123" in warning


def test_correction_names_the_original_and_its_lines_and_totals_are_the_difference(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    created = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original))
    correction = stored(fake, account, created.reference)
    original_lines = contents(stored(fake, account, original))
    assert correction["type"] == "correction" and correction["parent_id"] == original.provider_document_id
    company = fake.company(account["company_id"])
    assert correction["series"] == {"id": str(company.default_series("correction"))}
    assert [c["parent_id"] for c in contents(correction)] == [c["id"] for c in original_lines]
    assert [Decimal(c["count"]) for c in contents(correction)] == [1, 3, 1]
    assert correction["description"].startswith("Przyczyna korekty: Zwrot 1 szt. kubka")
    assert totals_of(correction) == (Decimal("-24.38"), Decimal("-5.61"), Decimal("-29.99"))
    assert created.readback is not None and created.readback.is_correction
    assert created.readback.corrects == original.provider_document_id


def test_correction_removing_a_line_and_adding_one(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    message = load_example("05-correction.json")
    before = message["document"]["correction"]["lines_before"]
    after = [before[0], before[2], {"line_id": "gift", "name": "Próbka herbaty", "quantity": "1",
                                    "unit_price": "4.90", "vat": "5"}]
    plan = plan_for(adapter, "05-correction.json", corrected=original, lines=after,
                    totals=lines_totals(after, before, "gross"))
    correction = stored(fake, account, adapter.create_document(plan).reference)
    original_ids = [c["id"] for c in contents(stored(fake, account, original))]
    assert [(c["name"], Decimal(c["count"]), c["parent_id"]) for c in contents(correction)] == [
        ("Kubek ceramiczny 300 ml", 2, original_ids[0]), ("Wysyłka kurierem", 1, original_ids[2]),
        ("Próbka herbaty", 1, "0"), ("Herbata liściasta 100 g", 0, original_ids[1])]
    ours = plan.document.totals
    assert totals_of(correction) == (ours.net, ours.vat, ours.gross)


# --------------------------------------------------------------------------- numbering, series, payment types


def test_wfirma_numbers_from_its_series_and_our_numbering_is_refused_before_sending(fake, account) -> None:
    adapter = make_adapter(fake, account)
    first = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    second = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-2")).reference
    assert (first.number, second.number) == ("SKL 1/2026", "SKL 2/2026")
    ours = make_adapter(fake, account, numbering="ours")
    with pytest.raises(ConfigurationError) as caught:
        plan_for(ours, "01-invoice-company.json")
    assert caught.value.code == "unsupported_numbering" and "wFirma's numbering" in caught.value.fix
    assert "number" not in adapter.build_request(plan_for(adapter, "01-invoice-company.json"))["invoices"]["0"][
        "invoice"]


def test_series_linked_to_another_document_type_is_named_in_the_rejection(fake, account) -> None:
    adapter = make_adapter(fake, account, series_links={"PAR": str(account["series"])})
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, "02-receipt-person.json"))
    assert "wFirma rejected series" in caught.value.message
    assert "the account's series link" in caught.value.fix


def test_payment_type_outside_wfirmas_list_is_refused_before_sending(fake, account) -> None:
    adapter = make_adapter(fake, account, payment_links={"Przelew": "card"})
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "unsupported_payment_type" and "payment_card" in caught.value.fix
    assert fake.company(account["company_id"]).invoices == {}


def test_lists_series_for_linking_and_the_fixed_payment_methods(fake, account) -> None:
    adapter = make_adapter(fake, account)
    options = {option.id: option.name for option in adapter.list_series()}
    assert options[str(account["series"])] == "Sklep internetowy (SKL [numer]/[rok], normal)"
    assert len(options) == 5  # the four default series of a new company, and ours
    assert {option.id for option in adapter.list_payment_types()} == {
        "transfer", "cash", "payment_card", "cod", "compensation"}


@pytest.mark.parametrize("receipt_type, receipt_series_type", [("non_fiscal", "receipt_normal"),
                                                                ("fiscal", "receipt_fiscal_normal")])
def test_each_series_is_listed_with_the_kinds_of_our_documents_it_takes(fake, account, receipt_type,
                                                                         receipt_series_type) -> None:
    """A series numbers one wFirma document type, and invoices/add refuses another type in it: the
    listing says which of our kinds each series can take (a receipt as the account sends it)."""
    company = fake.company(account["company_id"])
    fake.add_series(account["company_id"], "Proformy", "PRO [numer]/[rok]", invoice_type="proforma")
    adapter = make_adapter(fake, account, provider_options={"receipt_type": receipt_type})
    kinds = {option.id: option.kinds for option in adapter.list_series()}
    by_type = {series_type: kinds[str(company.default_series(series_type))] for series_type in (
        "normal", "correction", "receipt_normal", "receipt_fiscal_normal")}
    assert kinds[str(account["series"])] == by_type["normal"] == (DocumentKind.INVOICE,)
    assert by_type["correction"] == (DocumentKind.CORRECTION,)
    assert by_type[receipt_series_type] == (DocumentKind.RECEIPT,)
    assert [value for value in by_type.values() if value == ()] == [()]  # the other receipt type: none
    assert kinds[next(str(i) for i, s in company.series.items() if s["type"] == "proforma")] == ()
    # The listing is right about what wFirma refuses: an invoice linked to the correction series.
    wrong = make_adapter(fake, account, series_links={"FV": str(company.default_series("correction")),
                                                      "FV-EXPORT": None, "PAR": None, "KOR": None, "FV-B2B": None})
    with pytest.raises(ProviderRejected) as caught:
        wrong.create_document(plan_for(wrong, "01-invoice-company.json"))
    assert caught.value.field_errors == {"series": ["Seria numeracji jest przeznaczona dla dokumentów typu correction"]}


# --------------------------------------------------------------------------- SKUs


def test_skus_link_goods_found_by_exact_code_and_decrease_stock(fake, account) -> None:
    adapter = make_adapter(fake, account, send_skus=True, missing_sku="warn")
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    mug, tea, shipping = contents(stored(fake, account, created.reference))
    goods = fake.company(account["company_id"]).goods
    assert goods[int(mug["good"]["id"])]["code"] == "MUG-300"  # not MUG-300-XL
    assert Decimal(goods[int(mug["good"]["id"])]["count"]) == 8
    assert tea["good"] == shipping["good"] == {"id": "0"}
    assert created.warnings == ("SKU TEA-100 (no good with this code): line sent to wFirma without a stock link",)


def test_missing_sku_fails_before_anything_is_created(fake, account) -> None:
    adapter = make_adapter(fake, account, send_skus=True, missing_sku="fail")
    with pytest.raises(PermanentError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "sku_not_found" and "TEA-100" in caught.value.message
    assert fake.company(account["company_id"]).invoices == {}


# --------------------------------------------------------------------------- recurring problems (facts file section 3)


def test_recurring_invalid_input_data_from_a_bad_nip_names_contractor_nip_and_our_field(fake, account) -> None:
    """dbojdo/wFirma#41: status ERROR caused by a bad NIP; the echoed errors must be parsed."""
    adapter = make_adapter(fake, account)
    message = load_example("01-invoice-company.json")
    message["document"]["buyer"]["tax_id"] = "5260250275"  # checksum wrong
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, type(adapter))
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan)
    assert caught.value.message == "wFirma rejected contractor.nip: Nieprawidłowy numer NIP"
    assert caught.value.field_errors == {"contractor.nip": ["Nieprawidłowy numer NIP"]}
    assert "document.buyer.tax_id" in caught.value.fix


def test_recurring_good_linked_line_sends_vat_code_id_never_the_ignored_vat_string(fake, account) -> None:
    """dbojdo/wFirma#22 and PR 29: on a line linked to a good, `vat` is ignored (the good's rate
    wins) and good lines started failing: only vat_code.id sets the line's rate."""
    adapter = make_adapter(fake, account, send_skus=True, missing_sku="warn")
    fake.add_good(account["company_id"], "Herbata liściasta 100 g", "TEA-100", netto="17.62", vat="8")
    plan = plan_for(adapter, "01-invoice-company.json")
    created = adapter.create_document(plan)
    tea = contents(stored(fake, account, created.reference))[1]
    assert tea["good"]["id"] != "0" and tea["vat_code"]["id"] == vat_id(fake, account, "5")  # ours, not the good's 8
    for entry in adapter.build_request(plan)["invoices"]["0"]["invoice"]["invoicecontents"].values():
        assert "vat" not in entry["invoicecontent"] and "vat_code" in entry["invoicecontent"]


def test_recurring_vat_code_ids_are_looked_up_per_company_never_hard_coded(fake, account) -> None:
    """PR 29: ids like 222 = 23% differ per account; two companies, two different ids."""
    other = {**account, "access_key": secrets.token_hex(16), "secret_key": secrets.token_hex(16)}
    other["company_id"] = fake.add_company(other["access_key"], other["secret_key"])
    other["series"] = fake.add_series(other["company_id"], "Sklep", "S [numer]/[rok]")
    sent = []
    for target in (account, other):
        adapter = make_adapter(fake, target)
        invoice = stored(fake, target, adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference)
        sent.append(contents(invoice)[0]["vat_code"]["id"])
    assert sent == [vat_id(fake, account, "23"), vat_id(fake, other, "23")] and sent[0] != sent[1]


def test_recurring_api_keys_with_the_app_key_replace_basic_auth(fake, account) -> None:
    """dbojdo/wFirma#37: Basic Auth is off; API keys need the appKey issued to the integration."""
    adapter = make_adapter(fake, account)
    prepared = adapter.http.session.auth(requests.Request("POST", fake.base_url + "/series/find").prepare())
    assert {"accessKey", "secretKey", "appKey"} <= set(prepared.headers) and "Authorization" not in prepared.headers
    wrong_app = make_adapter(fake, account, credential_changes={"app_key": "not-our-app-key"})
    with pytest.raises(CredentialsRejected) as caught:
        wrong_app.create_document(plan_for(wrong_app, "01-invoice-company.json"))
    assert "check your wFirma API keys" in caught.value.fix
    secrets_sent = (account["access_key"], account["secret_key"], "not-our-app-key")
    assert not any(secret in str(caught.value) for secret in secrets_sent)
    assert not any(secret in repr(adapter.http.session.auth) for secret in secrets_sent)


def test_recurring_bare_auth_answer_without_status_is_a_credentials_error(fake, account) -> None:
    """dbojdo/wFirma#50: a body that is just `AUTH` (no XML/JSON, no status) crashed a client."""
    adapter = make_adapter(fake, account)
    fake.faults.status(200, body=b"AUTH", content_type="text/plain", path=r"/series/find")
    with pytest.raises(CredentialsRejected, match="status AUTH"):
        adapter.check_credentials()
    wrong_secret = make_adapter(fake, account, credential_changes={"secret_key": "wrong-secret-value"})
    with pytest.raises(CredentialsRejected) as caught:
        wrong_secret.check_credentials()
    assert "wrong-secret-value" not in str(caught.value)


@pytest.mark.parametrize("answer", [
    b'<?xml version="1.0" encoding="UTF-8"?>\n<api><status><code>AUTH</code></status></api>',
    b'{"api": {"status": {"code": "AUTH"}}}'])
def test_an_auth_answer_in_xml_or_under_an_api_root_is_a_credentials_error_not_a_lost_create(
        fake, account, answer) -> None:
    """Issue 14: the XML form of AUTH was read as an answer without a status, i.e. "may have
    succeeded" on a create (a look-up and a retry of a document refused for its keys)."""
    adapter = make_adapter(fake, account)
    adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-WARMUP"))  # VAT codes read
    fake.faults.status(200, body=answer, content_type="text/xml", path=r"/invoices/add")
    with pytest.raises(CredentialsRejected, match="status AUTH"):
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))


def test_every_status_answer_of_a_fake_answering_errors_in_xml_is_read() -> None:
    with WfirmaFake(app_key=APP_KEY, rate_limit=None, errors_as_xml=True) as xml_fake:
        account = fresh_account(xml_fake)
        with pytest.raises(CredentialsRejected):
            make_adapter(xml_fake, account, credential_changes={"secret_key": "wrong"}).check_credentials()
        adapter = make_adapter(xml_fake, account)
        message = load_example("01-invoice-company.json")
        message["document"]["buyer"]["tax_id"] = "5260250275"  # checksum wrong: wFirma's ERROR, in XML
        plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, WfirmaAdapter)
        with pytest.raises(ProviderRejected) as caught:
            adapter.create_document(plan)
        assert caught.value.field_errors == {"contractor.nip": ["Nieprawidłowy numer NIP"]}
        assert "document.buyer.tax_id" in caught.value.fix
        xml_fake.answer_status("SNAPSHOT LOCK", path=r"/series/find")
        with pytest.raises(TransientError) as locked:
            adapter.check_credentials()
        assert locked.value.code == "provider_unavailable"
        assert xml_fake.server_errors == []


def test_an_xml_answer_declaring_a_dtd_is_not_parsed(fake, account) -> None:
    adapter = make_adapter(fake, account)
    bomb = (b'<?xml version="1.0"?><!DOCTYPE api [<!ENTITY a "AUTH">]>'
            b'<api><status><code>&a;</code></status></api>')
    fake.faults.status(200, body=bomb, content_type="text/xml", path=r"/series/find")
    with pytest.raises(TransientError) as caught:  # no wFirma answer: read as no status at all
        adapter.check_credentials()
    assert not isinstance(caught.value, CredentialsRejected) and "without a status" in caught.value.message


def test_recurring_company_id_on_every_call_so_nothing_reaches_another_company(fake, account) -> None:
    """W-DOC: without company_id a call may go to another company of the same user."""
    second = fake.add_company(account["access_key"], account["secret_key"], name="Druga firma")
    adapter = make_adapter(fake, {**account, "company_id": second}, series_links={"FV": None})
    fake.requests.clear()
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert int(created.reference.provider_document_id) in fake.company(second).invoices
    assert fake.company(account["company_id"]).invoices == {}
    assert {entry.query.get("company_id") for entry in fake.requests} == {str(second)}
    stranger = make_adapter(fake, account, credential_changes={"company_id": "999999"})
    with pytest.raises(CredentialsRejected, match="ACCESS DENIED"):
        stranger.check_credentials()


def test_recurring_timed_out_add_is_settled_by_id_external_not_retried_into_a_duplicate(fake, account) -> None:
    """W-KO: a retried invoices/add makes a duplicate (id_external is not unique): search first."""
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.stall_after_commit(2.0, method="POST", path=r"/invoices/add")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    [invoice] = fake.company(account["company_id"]).invoices.values()
    assert adapter.find_document(plan) == ProviderReference(str(invoice["id"]), invoice["fullnumber"],
                                                            str(account["series"]))
    assert len(fake.company(account["company_id"]).invoices) == 1


def test_recurring_duplicates_at_wfirma_are_held_as_ambiguous_not_guessed(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    adapter.create_document(plan)
    adapter.create_document(plan)  # wFirma accepts a second document with the same id_external
    with pytest.raises(AmbiguousAtProvider, match="2 documents with our reference"):
        adapter.find_document(plan)


def test_recurring_request_limit_answer_is_transient_with_a_wait(fake, account) -> None:
    """PR 29: rate limits hit during tests; the limit answer is a status, not HTTP 429."""
    adapter = make_adapter(fake, account)
    fake.faults.rate_limited(method="POST", path=r"/invoices/add")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert (caught.value.code, caught.value.retry_after) == ("provider_rate_limited", 60.0)
    assert not isinstance(caught.value, RequestMayHaveSucceeded)
    assert fake.company(account["company_id"]).invoices == {}


def test_the_fakes_own_limit_per_api_key_reaches_the_adapter_as_transient(account) -> None:
    with WfirmaFake(app_key=APP_KEY, rate_limit=(2, 15.0)) as limited:
        company_id = limited.add_company(account["access_key"], account["secret_key"])
        adapter = make_adapter(limited, {**account, "company_id": company_id}, series_links={"FV": None})
        adapter.check_credentials()
        adapter.check_credentials()
        with pytest.raises(TransientError) as caught:
            adapter.check_credentials()
        assert caught.value.retry_after == 60.0 and "TOTAL REQUESTS LIMIT EXCEEDED" in caught.value.message
        assert WfirmaAdapter.rate_limit is not None and WfirmaAdapter.rate_limit.limit == 30


@pytest.mark.parametrize("status", ["SNAPSHOT LOCK", "OUT OF SERVICE", "TOTAL EXECUTION TIME LIMIT EXCEEDED"])
def test_wfirma_status_answers_that_mean_later_are_transient_and_create_nothing(fake, account, status) -> None:
    adapter = make_adapter(fake, account)
    fake.answer_status(status, path=r"/invoices/add")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert status in caught.value.message and caught.value.retry_after
    assert not isinstance(caught.value, RequestMayHaveSucceeded)


def test_gateway_errors_are_transient_for_reads_and_in_doubt_for_the_create(fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.faults.status(503, path=r"/vat_codes/find")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "provider_unavailable" and not isinstance(caught.value, RequestMayHaveSucceeded)
    fake.faults.status(502, path=r"/goods/find")
    with_skus = make_adapter(fake, account, send_skus=True)
    with pytest.raises(TransientError) as caught:
        with_skus.create_document(plan_for(with_skus, "01-invoice-company.json"))
    assert not isinstance(caught.value, RequestMayHaveSucceeded)  # a read created nothing
    for fault in ("FATAL", None):
        if fault:
            fake.answer_status(fault, path=r"/invoices/add")
        else:
            fake.faults.status(502, path=r"/invoices/add")
        with pytest.raises(RequestMayHaveSucceeded):
            adapter.create_document(plan_for(adapter, "01-invoice-company.json"))


# --------------------------------------------------------------------------- look-up, PDF, credentials


def test_look_up_matches_our_id_exactly_and_long_ids_fit_id_external(fake, account) -> None:
    adapter = make_adapter(fake, account)
    longer = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-10")).reference
    assert adapter.find_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-1")) is None
    assert adapter.find_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-10")) == longer
    long_id = "shop-7:order-2026-11-000123:invoice:v1-final"
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id=long_id)).reference
    assert len(stored(fake, account, created)["id_external"]) == 32 == len(external_id(long_id))
    assert adapter.find_document(plan_for(adapter, "01-invoice-company.json", document_id=long_id)) == created


def test_pdf_has_the_number_and_totals_and_changes_after_an_edit(fake, account) -> None:
    adapter = make_adapter(fake, account)
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    first = adapter.download_pdf(reference.provider_document_id)
    assert first.startswith(b"%PDF") and reference.number.encode() in first and b"130.47" in first
    response = requests.post(
        f"{fake.base_url}/invoices/edit/{reference.provider_document_id}",
        params={"inputFormat": "json", "outputFormat": "json", "company_id": account["company_id"]},
        json={"invoices": {"0": {"invoice": {"description": "Zamówienie ORD-10001, zmienione"}}}},
        headers={"accessKey": account["access_key"], "secretKey": account["secret_key"], "appKey": APP_KEY},
        timeout=5)
    assert response.json()["status"]["code"] == "OK"
    changed = adapter.download_pdf(reference.provider_document_id)
    assert changed != first and b"zmienione" in changed


def test_pdf_of_a_deleted_document_says_so(fake, account) -> None:
    adapter = make_adapter(fake, account)
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    fake.company(account["company_id"]).delete_invoice(int(reference.provider_document_id))
    with pytest.raises(ProviderRejected) as caught:
        adapter.download_pdf(reference.provider_document_id)
    assert caught.value.code == "provider_not_found"


def test_check_credentials_accepts_good_keys(fake, account) -> None:
    make_adapter(fake, account).check_credentials()
    assert fake.requests.entries(path=r"/series/find")[-1].query == {
        "inputFormat": "json", "outputFormat": "json", "company_id": str(account["company_id"])}


def test_dry_run_shows_where_the_looked_up_ids_go(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = ProviderReference("4242", "FV 1/11/2026", None)
    calls_before = len(fake.requests)
    body = adapter.build_request(plan_for(adapter, "05-correction.json", corrected=original))
    invoice = body["invoices"]["0"]["invoice"]
    assert invoice["parent_id"] == "4242"
    first = invoice["invoicecontents"]["0"]["invoicecontent"]
    assert first["vat_code"] == {"id": "looked up when sent: VAT code 23"}
    assert first["parent_id"] == "looked up when sent: line 1 of the corrected invoice"
    assert len(fake.requests) == calls_before  # pure: nothing was asked of wFirma


# --------------------------------------------------------------------------- per-line discounts


def test_a_discounted_invoice_is_exported_with_our_exact_totals(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = discounted_plan(adapter)
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    # A discounted unit price to 4 places that gives exactly our rounded line value.
    assert [c["price"] for c in contents(invoice)] == ["9.6167", "1.3586", "15.00"]
    field = "brutto" if plan.document.price_basis.value == "gross" else "netto"
    assert [c[field] for c in contents(invoice)] == ["28.85", "9.51", "15.00"]
    ours = plan.document.totals
    assert totals_of(invoice) == (ours.net, ours.vat, ours.gross)
    assert created.readback is None or created.readback.net == ours.net


def test_a_discounted_line_no_4_place_price_reproduces_goes_folded_unlinked_with_our_totals(fake, account) -> None:
    # 1234.5 x 1.23 less 12.5 % = 1328.63; one step of a 4-place price moves 1234.5 of them by 0.12.
    adapter = make_adapter(fake, account, send_skus=True, missing_sku="fail")
    lines = [{"line_id": "l1", "name": "Kubek ceramiczny 300 ml", "sku": "MUG-300", "quantity": "1234.5",
              "unit_price": "1.23", "vat": "23", "discount_percent": "12.5"},
             {"line_id": "l2", "name": "Wysyłka", "quantity": "1", "unit_price": "15.00", "vat": "23"}]
    plan = plan_for(adapter, "01-invoice-company.json", lines=lines, totals=computed_totals(lines, "gross", "per_rate"))
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    mug, shipping = contents(invoice)
    assert (mug["name"], mug["count"], mug["unit"], mug["price"], mug["brutto"]) == (
        "Kubek ceramiczny 300 ml (1234.5 szt. × 1.23 -12.5%)", "1.0000", "szt.", "1328.63", "1328.63")
    assert mug["good"] == {"id": "0"}  # unlinked: one unit of stock would move, not 1234.5
    goods = fake.company(account["company_id"]).goods.values()
    assert [Decimal(good["count"]) for good in goods if good["code"] == "MUG-300"] == [10]
    assert (shipping["name"], shipping["price"]) == ("Wysyłka", "15.00")
    ours = plan.document.totals
    assert totals_of(invoice) == (ours.net, ours.vat, ours.gross)
    assert [warning.split(" (")[0] for warning in created.warnings] == ["line_folded: line l1", "SKU MUG-300"]
    assert "sent to wFirma as quantity 1 at its value 1328.63" in created.warnings[0]


# --------------------------------------------------------------------------- VAT per rate (issue 13 §1)


def test_a_gross_priced_per_line_invoice_is_created_with_wfirmas_split_of_our_gross(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, GROSS_PER_LINE_EXAMPLE)  # refused before as provider_totals_would_differ
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    ours = plan.document.totals
    # wFirma computed per rate: the same gross, net and VAT a grosz apart - as planning predicted.
    assert totals_of(invoice)[2] == ours.gross and totals_of(invoice)[:2] != (ours.net, ours.vat)
    assert plan.vat_split is not None and totals_of(invoice) == (
        plan.vat_split.theirs.net, plan.vat_split.theirs.vat, plan.vat_split.theirs.gross)
    assert created.readback is not None
    split = settle_vat_split(plan.document, plan.vat_split, created.readback)
    assert split is not None and split.read_back
    assert compare(plan.document, created.readback, None, split) == []


def test_net_lines_computed_line_by_line_go_as_gross_unit_prices_keeping_our_gross(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json", lines=NET_LINES_VAT_BY_METHOD, price_basis="net",
                    vat_calculation="per_line", totals=computed_totals(NET_LINES_VAT_BY_METHOD, "net", "per_line"))
    assert plan.send_gross_prices
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    assert invoice["price_type"] == "brutto"
    # Each line's gross is our net + the line's own VAT (21.98 + 5.06, 4.07 + 0.94, 7.33 + 1.69).
    assert [c["brutto"] for c in contents(invoice)] == ["27.04", "5.01", "9.02"]
    assert totals_of(invoice)[2] == plan.document.totals.gross == Decimal("41.07")


# --------------------------------------------------------------------------- KSeF (facts 1.11)


def test_ksef_send_on_export_is_refused_because_wfirma_sends_by_its_own_settings(fake, account) -> None:
    assert (WfirmaAdapter.capabilities.ksef_send, WfirmaAdapter.capabilities.ksef_read_back) == (False, True)
    adapter = make_adapter(fake, account, ksef="send_on_export")
    with pytest.raises(ConfigurationError) as refused:
        plan_for(adapter, "01-invoice-company.json")
    assert refused.value.code == "unsupported_ksef"
    assert "USTAWIENIA » FAKTURY » E-FAKTURY" in refused.value.message
    assert "provider_sends" in refused.value.fix
    reading = make_adapter(fake, account, ksef="provider_sends")
    assert plan_for(reading, "01-invoice-company.json").send_to_ksef is False  # we never ask wFirma


def test_ksef_number_is_read_back_once_wfirma_has_sent_the_document_by_its_settings(fake, account) -> None:
    company = fake.company(account["company_id"])
    company.ksef_auto_send, company.ksef_reads_until_final = True, 2
    adapter = make_adapter(fake, account, ksef="provider_sends")
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    fake.requests.clear()
    assert adapter.ksef_status(reference.provider_document_id).state == KsefState.PENDING
    accepted = adapter.ksef_status(reference.provider_document_id)
    invoice = stored(fake, account, reference)
    assert accepted == KsefStatus(KsefState.ACCEPTED, ksef_number=invoice["ksef_reference_number"])
    assert invoice["ksef_status"] == "sent" and invoice["ksef_registration_date"]
    assert {entry.path for entry in fake.requests.entries()} == {f"/invoices/get/{reference.provider_document_id}"}
    assert company.ksef_submissions == {int(reference.provider_document_id): 1}  # wFirma's own send only


def test_ksef_not_sent_yet_a_receipt_and_a_refusal(fake, account) -> None:
    company = fake.company(account["company_id"])
    adapter = make_adapter(fake, account, ksef="provider_sends")
    waiting = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    assert adapter.ksef_status(waiting.provider_document_id).state == KsefState.NOT_SENT  # not sent by wFirma yet
    company.ksef_auto_send = True
    receipt = adapter.create_document(plan_for(adapter, "02-receipt-person.json")).reference
    assert adapter.ksef_status(receipt.provider_document_id).state == KsefState.NOT_SENT  # receipts stay out
    company.ksef_rejects = True
    refused = adapter.create_document(plan_for(adapter, "01-invoice-company.json",
                                               document_id="INV-KSEF-REFUSED")).reference
    status = adapter.ksef_status(refused.provider_document_id)
    assert status.state == KsefState.REJECTED and "ksef_status 'rejected'" in status.message
    assert status.ksef_number is None


@pytest.mark.parametrize("fields, expected", [
    # ASSUMPTION-labelled words and forms (KSEF_STATES): what each reading gives.
    ({"ksef_status": "queued"}, KsefStatus(KsefState.PENDING)),
    ({"ksef_status": "sent", "ksef_reference_number": "20261124-SE-ABCDEF0123-45"}, KsefStatus(KsefState.PENDING)),
    ({"ksef_status": "sent", "ksef_reference_number": "5252445767-20261124-ABCDEF012345-01"},
     KsefStatus(KsefState.PENDING)),  # a number without its registration date is not yet KSeF's answer
    ({"ksef_status": "", "ksef_reference_number": "5252445767-20261124-ABCDEF012345-01",
      "ksef_registration_date": "2026-11-24 10:15:00"},
     KsefStatus(KsefState.ACCEPTED, ksef_number="5252445767-20261124-ABCDEF012345-01")),
    # The shape Fakturownia's KSeF guide shows, without the 2 check characters: the same KSeF number
    # definition for every adapter, recorded as given (with a warning, see test_ksef_numbers).
    ({"ksef_status": "sent", "ksef_reference_number": "5252445767-20261124-ABCDEF012345",
      "ksef_registration_date": "2026-11-24 10:15:00"},
     KsefStatus(KsefState.ACCEPTED, ksef_number="5252445767-20261124-ABCDEF012345")),
])
def test_ksef_fields_are_read_by_the_assumed_table(fields, expected) -> None:
    blank = {"ksef_status": "", "ksef_reference_number": "", "ksef_registration_date": ""}
    assert ksef_state({**blank, **fields}) == expected


def test_an_unknown_ksef_status_word_is_pending_with_a_warning_never_a_crash(fake, account) -> None:
    adapter = make_adapter(fake, account, ksef="provider_sends")
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    stored(fake, account, reference)["ksef_status"] = "w_trakcie_weryfikacji"  # a word nobody documented
    with captured_log_lines() as lines:
        status = adapter.ksef_status(reference.provider_document_id)
    assert status == KsefStatus(KsefState.PENDING)
    [warning] = [line for line in lines.parsed() if line["message"] == "unknown KSeF status word from the provider"]
    assert warning["level"] == "WARNING" and warning["ksef_word"] == "w_trakcie_weryfikacji"
    assert warning["read_as"] == "pending"


# --------------------------------------------------------------------------- the payment date


def payments_of(fake, account, reference: ProviderReference) -> list[dict]:
    return [p for p in fake.company(account["company_id"]).payments.values()
            if p["object_id"] == reference.provider_document_id]


def test_a_document_paid_before_its_issue_date_is_paid_on_that_date_in_wfirma(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "02-receipt-person.json")  # paid 2026-11-19, issued 2026-11-20
    assert (str(plan.document.payment.paid_date), str(plan.document.issue_date)) == ("2026-11-19", "2026-11-20")
    created = adapter.create_document(plan)
    assert created.warnings == ()
    invoice = stored(fake, account, created.reference)
    assert (invoice["alreadypaid_initial"], invoice["paymentstate"]) == ("18.50", "paid")  # paid in the same call
    [payment] = payments_of(fake, account, created.reference)
    assert (payment["date"], payment["value"], payment["initial"]) == ("2026-11-19", "18.50", "1")
    assert invoice["paymentdate"] != "2026-11-19"  # paymentdate is the due date, never the paid date


def test_a_document_paid_on_its_issue_date_needs_no_second_call(fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.requests.clear()
    created = adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json"))  # paid when issued
    [payment] = payments_of(fake, account, created.reference)
    assert payment["date"] == stored(fake, account, created.reference)["date"] == "2026-11-20"
    assert not [entry for entry in fake.requests.entries() if entry.path.startswith("/payments/")]
    unpaid = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert payments_of(fake, account, unpaid.reference) == []
    assert stored(fake, account, unpaid.reference)["paymentstate"] == "unpaid"


def test_a_payment_date_wfirma_refuses_leaves_the_document_paid_with_a_warning_naming_both_dates(
        fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.answer_status("ACCESS DENIED", path=r"/payments/edit/\d+")
    created = adapter.create_document(plan_for(adapter, "02-receipt-person.json"))
    [warning] = created.warnings
    assert "on the issue date 2026-11-20, not on the paid date 2026-11-19" in warning and "Płatności" in warning
    invoice = stored(fake, account, created.reference)
    assert invoice["paymentstate"] == "paid"  # exported and paid: only the date is off
    assert [p["date"] for p in payments_of(fake, account, created.reference)] == ["2026-11-20"]
