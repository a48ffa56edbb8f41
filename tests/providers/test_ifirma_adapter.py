"""Contract tests: the iFirma adapter against the strict local fake of iFirma's API (signed HTTP on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from decimal import Decimal

import pytest
import requests

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.errors import (
    ConfigurationError,
    CredentialsRejected,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.domain.readback import compare, settle_vat_split
from invoice_export.domain.settlement import InterruptedAttempt, SettledBy, SettlementOutcome
from invoice_export.providers import build_adapter
from invoice_export.providers.ifirma.adapter import (
    IfirmaAdapter,
    IfirmaCredentials,
    IfirmaSigner,
    encode_json,
    signature,
)
from local.fakes.ifirma import IfirmaFake
from testsupport import (
    GROSS_PER_LINE_EXAMPLE,
    NET_LINES_VAT_BY_METHOD,
    computed_totals,
    discounted_plan,
    load_example,
    plan_for,
)

INVOICE_KEY = "EAB0D8ACF3308F3B"
SUBSCRIBER_KEY = "0A1B2C3D4E5F6071"


@pytest.fixture(scope="module")
def fake():
    with IfirmaFake(rate_limit=None) as server:
        yield server


@pytest.fixture
def login(fake) -> str:
    """A fresh iFirma user per test, booking in November 2026 (the examples' month), with series SKLEP."""
    name = f"shop-{secrets.token_hex(4)}@example.pl"
    fake.add_account(name, invoice_key=INVOICE_KEY, subscriber_key=SUBSCRIBER_KEY, accounting_month=(2026, 11),
                     series=("SKLEP", "KOREKTY"))
    return name


def make_adapter(fake, login, *, credentials=None, options=None, **settings_changes) -> IfirmaAdapter:
    settings = AccountSettings.model_validate({
        "account_id": "shop-1", "provider": "ifirma", "api_url": f"{fake.base_url}/iapi",
        "series_links": {"FV": "SKLEP", "FV-EXPORT": None, "KOR": None},
        "payment_links": {"Przelew": "PRZ", "Karta": "KAR"}, "provider_options": options or {},
        **settings_changes})
    adapter = build_adapter(settings, credentials or {"login": login, "invoice_key": INVOICE_KEY,
                                                      "subscriber_key": SUBSCRIBER_KEY}, read_timeout=1.0)
    assert isinstance(adapter, IfirmaAdapter)
    return adapter


def stored(fake, login, reference: ProviderReference) -> dict:
    return fake.account(login).invoices[int(reference.provider_document_id.split(":")[1])]


# ----------------------------------------------------------------------- signing (published vectors)


def test_published_test_vector_uses_the_hex_decoded_key() -> None:
    assert signature("111111", b"222222") == "cec153ee6350475f117a307111e2bd7d83034925"
    # The documented mistake: the key's ASCII text instead of its bytes.
    assert hmac.new(b"111111", b"222222", hashlib.sha1).hexdigest() == "1558ab6c5ab2b0d1cd129b9ad11527cf33486705"


@pytest.mark.parametrize("method, url, body, expected", [
    ("POST", "https://www.ifirma.pl/iapi/fakturakraj.json", b'{"Zaplacono":0}',
     "ba9be0141611352e602c78ab3aa25cb25f348950"),
    ("GET", "https://www.ifirma.pl/iapi/fakturakraj/12345.pdf?typ=dup", None,
     "ae6c6a71d621b8b3ef29c18533dc47e67da8e4fb"),  # the query string is not signed
])
def test_full_request_vectors_sign_url_login_key_name_and_body(method, url, body, expected) -> None:
    signer = IfirmaSigner(IfirmaCredentials(login="jan.kowalski@example.pl", invoice_key=INVOICE_KEY))
    prepared = requests.Request(method, url, data=body).prepare()
    signer(prepared)
    assert prepared.headers["Authentication"] == f"IAPIS user=jan.kowalski@example.pl, hmac-sha1={expected}"
    assert INVOICE_KEY not in repr(signer)


# ----------------------------------------------------------------------- mapping of each example


def test_domestic_invoice_fields_and_totals_computed_by_ifirma(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "01-invoice-company.json")
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    doc = plan.document
    assert created.reference.provider_document_id.startswith("fakturakraj:")
    # The number comes from the follow-up read, in the linked series.
    assert created.reference.number == invoice["PelnyNumer"] == "1/2026/SKLEP"
    assert created.reference.series == "SKLEP" and invoice["NazwaSeriiNumeracji"] == "SKLEP"
    assert (invoice["LiczOd"], invoice["SposobZaplaty"], invoice["TerminPlatnosci"]) == ("BRT", "PRZ", "2026-12-04")
    assert (invoice["DataWystawienia"], invoice["DataSprzedazy"]) == ("2026-11-20", "2026-11-19")
    assert invoice["Zaplacono"] == 0  # unpaid
    assert invoice["Kontrahent"] == {
        "Nazwa": "Hurtownia Zielony Liść Sp. z o.o.", "NIP": "5260250274", "Ulica": "ul. Kwiatowa 12/4",
        "KodPocztowy": "02-001", "Miejscowosc": "Warszawa", "KodKraju": "PL",
        "Email": "ksiegowosc@zielonylisc.example", "OsobaFizyczna": False}
    assert [(p["NazwaPelna"], p["Ilosc"], p["CenaJednostkowa"], p["TypStawkiVat"], p["StawkaVat"])
            for p in invoice["Pozycje"]] == [
        ("Kubek ceramiczny 300 ml", 2, Decimal("29.99"), "PRC", Decimal("0.23")),
        ("Herbata liściasta 100 g", 3, Decimal("18.50"), "PRC", Decimal("0.05")),
        ("Wysyłka kurierem", 1, Decimal("14.99"), "PRC", Decimal("0.23"))]
    # iFirma computed its totals on its own: they equal ours to the grosz.
    assert (Decimal(invoice["Netto"]), Decimal(invoice["Vat"]), Decimal(invoice["Brutto"])) == (
        doc.totals.net, doc.totals.vat, doc.totals.gross)
    assert created.readback is not None and created.readback.gross == doc.totals.gross


def test_receipts_are_refused_before_any_request(fake, login) -> None:
    adapter = make_adapter(fake, login, series_links={"PAR": None})
    with pytest.raises(ConfigurationError, match="iFirma cannot take receipts"):
        plan_for(adapter, "02-receipt-person.json")
    assert not [entry for entry in fake.requests.entries() if entry.key == login]


def test_exempt_person_paid_in_the_default_series(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "03-invoice-exempt-person.json", series="FV-EXPORT")
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    assert "NazwaSeriiNumeracji" not in invoice and created.reference.number == "1/2026"  # 'do not pass'
    [line] = invoice["Pozycje"]
    assert (line["TypStawkiVat"], line["PodstawaPrawna"]) == ("ZW", "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT")
    assert "StawkaVat" not in line
    assert invoice["Kontrahent"]["OsobaFizyczna"] is True and "NIP" not in invoice["Kontrahent"]
    assert invoice["LiczOd"] == "NET" and invoice["SposobZaplaty"] == "KAR"
    assert invoice["Zaplacono"] == Decimal("199.00") == Decimal(invoice["Brutto"])  # paid in full


def test_foreign_currency_goes_to_fakturawaluta_with_our_rate(fake, login) -> None:
    adapter = make_adapter(fake, login)
    created = adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
    assert created.reference.provider_document_id.startswith("fakturawaluta:")
    invoice = stored(fake, login, created.reference)
    assert (invoice["Waluta"], invoice["TypSprzedazy"]) == ("EUR", "KRAJOWA")
    assert invoice["KursWalutyZDniaPoprzedzajacegoDzienWystawieniaFaktury"] == Decimal("4.2351")
    assert (invoice["Kontrahent"]["PrefiksUE"], invoice["Kontrahent"]["NIP"]) == ("DE", "811907980")
    assert Decimal(invoice["Brutto"]) == Decimal("516.60") and created.readback.currency == "EUR"


def test_np_eu_services_go_to_the_art_28b_document_type(fake, login) -> None:
    adapter = make_adapter(fake, login, options={"foreign_language": "de"})
    lines = [{"line_id": "l1", "name": "Beratung", "quantity": "2", "unit": "godz.", "unit_price": "100.00",
              "vat": "np-EU"}]
    plan = plan_for(adapter, "04-invoice-eur.json", lines=lines,
                    totals={"net": "200.00", "vat": "0.00", "gross": "200.00"})
    created = adapter.create_document(plan)
    assert created.reference.provider_document_id.startswith("fakturaeksportuslugue:")
    invoice = stored(fake, login, created.reference)
    assert (invoice["Jezyk"], invoice["NazwaUslugi"], invoice["DataObowiazkuPodatkowego"]) == (
        "de", "Beratung", "2026-11-19")
    assert invoice["Pozycje"][0]["TypStawkiVat"] == "NP" and invoice["Pozycje"][0]["NazwaPelnaObca"] == "Beratung"
    assert Decimal(invoice["Brutto"]) == Decimal("200.00")


def test_correction_references_the_original_in_the_path_with_the_full_state_after(fake, login) -> None:
    adapter = make_adapter(fake, login, options={"correction_reason": "ZWR_SPRZ_TOW"},
                           series_links={"FV": "SKLEP", "KOR": "KOREKTY"})
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    created = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original))
    correction = stored(fake, login, created.reference)
    assert f"fakturakraj:{correction['IdentyfikatorFakturyKorygowanej']}" == original.provider_document_id
    assert fake.requests.count("POST", rf"/iapi/fakturakraj/korekta/{original.provider_document_id[12:]}\.json") == 1
    assert correction["PowodKorekty"] == "ZWR_SPRZ_TOW"
    assert correction["Uwagi"] == "Zwrot 1 szt. kubka\nref: KOR-2026-11-0001"
    assert [p["Ilosc"] for p in correction["Pozycje"]] == [1, 3, 1]
    assert created.reference.number == "KOR 1/2026/KOREKTY"
    assert Decimal(correction["Brutto"]) == Decimal("-29.99")
    assert created.readback.is_correction and created.readback.corrects == original.provider_document_id


def test_a_line_removed_by_a_correction_stays_with_quantity_zero(fake, login) -> None:
    adapter = make_adapter(fake, login)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    message = load_example("05-correction.json")
    doc = message["document"]
    doc["lines"] = [line for line in doc["lines"] if line["line_id"] != "l2"]
    doc["lines"][0]["quantity"] = "2"  # only the tea is returned
    doc["totals"] = {"net": "-52.86", "vat": "-2.64", "gross": "-55.50"}
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, IfirmaAdapter,
                       corrected=original)
    created = adapter.create_document(plan)
    correction = stored(fake, login, created.reference)
    assert [(p["NazwaPelna"], p["Ilosc"]) for p in correction["Pozycje"]] == [
        ("Kubek ceramiczny 300 ml", 2), ("Herbata liściasta 100 g", 0), ("Wysyłka kurierem", 1)]
    assert Decimal(correction["Brutto"]) == Decimal("-55.50")


def test_a_correction_carries_spelniono_warunki_which_ifirma_requires(fake, login) -> None:
    """api.ifirma.pl "Faktura korygująca fakturę krajową" marks SpelnionoWarunki required: true unless the
    message says the correction's conditions were not met by its issue date."""
    adapter = make_adapter(fake, login)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    created = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original))
    correction = stored(fake, login, created.reference)
    assert (correction["SpelnionoWarunki"], correction["PowodKorektyNaWydruku"]) == (True, True)
    assert correction["RodzajPodpisuOdbiorcy"] == "BPO"
    message = load_example("05-correction.json")
    message["document"]["correction"]["conditions_met"] = False
    message["document"]["document_id"] = "COR-CONDITIONS-NOT-MET"
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, IfirmaAdapter,
                       corrected=original)
    assert adapter.build_request(plan)["SpelnionoWarunki"] is False
    assert stored(fake, login, adapter.create_document(plan).reference)["SpelnionoWarunki"] is False


def test_a_correction_of_a_foreign_currency_invoice_is_refused_saying_why(fake, login) -> None:
    """iFirma documents (and public clients use) fakturakraj/korekta only: no currency-invoice correction."""
    adapter = make_adapter(fake, login)
    original = adapter.create_document(plan_for(adapter, "04-invoice-eur.json")).reference
    with pytest.raises(ConfigurationError) as of_a_currency_original:
        adapter.build_request(plan_for(adapter, "05-correction.json", corrected=original))
    eur = {"currency": "EUR", "exchange_rate": {"rate": "4.2351", "date": "2026-11-18", "table_id": "224/A/NBP/2026"}}
    with pytest.raises(ConfigurationError) as in_a_currency:
        adapter.build_request(plan_for(adapter, "05-correction.json", corrected=original, **eur))
    for refused, what in ((of_a_currency_original, "the original's document type (fakturawaluta)"),
                          (in_a_currency, "a EUR invoice (fakturawaluta)")):
        assert refused.value.code == "unsupported_correction" and "by hand" in refused.value.fix
        assert "corrects domestic invoices only (fakturakraj/korekta" in refused.value.message
        assert f"documents no correction of {what}, and no public iFirma client has one" in refused.value.message
    assert fake.requests.count("POST", r"/iapi/fakturawaluta/korekta/.*") == 0


# ----------------------------------------------------------------------- numbering, series, payment types


def test_our_numbering_is_refused_because_ifirma_numbers_in_its_own_series(fake, login) -> None:
    adapter = make_adapter(fake, login, numbering="ours")
    with pytest.raises(ConfigurationError) as caught:
        plan_for(adapter, "01-invoice-company.json")
    assert caught.value.code == "unsupported_numbering"


def test_ifirma_numbers_consecutively_per_series(fake, login) -> None:
    adapter = make_adapter(fake, login)
    numbers = [adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id=f"INV-{i}"))
               .reference.number for i in range(2)]
    assert numbers == ["1/2026/SKLEP", "2/2026/SKLEP"]


def test_unknown_series_name_points_at_the_series_link(fake, login) -> None:
    adapter = make_adapter(fake, login, series_links={"FV": "SKELP"})
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert "NazwaSeriiNumeracji" in caught.value.message and "SKELP" in caught.value.message
    assert "series link" in caught.value.fix


def test_payment_types_are_the_documented_codes_and_a_wrong_link_is_refused_before_sending(fake, login) -> None:
    adapter = make_adapter(fake, login, payment_links={"Przelew": "transfer"})
    assert {"PRZ", "KAR", "P24", "ELE"} <= {option.id for option in adapter.list_payment_types()}
    with pytest.raises(ConfigurationError, match="not an iFirma payment code"):
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert fake.account(login).invoices == {}
    with pytest.raises(ConfigurationError):
        adapter.list_series()  # no endpoint lists series: names are typed in as configured in iFirma


def test_a_payment_code_the_currency_invoice_does_not_take_names_the_link(fake, login) -> None:
    adapter = make_adapter(fake, login, payment_links={"Przelew": "P24"})
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
    assert "SposobZaplaty" in caught.value.message and "payment-type link" in caught.value.fix


def test_skus_cannot_be_sent(fake, login) -> None:
    adapter = make_adapter(fake, login, send_skus=True)
    with pytest.raises(ConfigurationError, match="cannot decrease stock"):
        plan_for(adapter, "01-invoice-company.json")


# ----------------------------------------------------------------------- errors


def test_wrong_invoice_key_says_check_your_api_key_naming_the_key_not_showing_it(fake, login) -> None:
    adapter = make_adapter(fake, login, credentials={"login": login, "invoice_key": "00112233445566FF"})
    with pytest.raises(CredentialsRejected) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    text = str(caught.value)
    assert "check your API key" in caught.value.fix and "'faktura'" in text and "invoice_key" in text
    assert "00112233445566FF" not in text and "Kod 403" in text


def test_a_key_that_is_not_hex_is_refused_without_showing_it(fake, login) -> None:
    adapter = make_adapter(fake, login, credentials={"login": login, "invoice_key": "my-secret-key!"})
    with pytest.raises(CredentialsRejected) as caught:
        adapter.check_credentials()
    assert "check your API key" in caught.value.fix and "my-secret-key!" not in str(caught.value)


def test_check_credentials_checks_each_key_and_names_the_subscriber_key(fake, login) -> None:
    make_adapter(fake, login).check_credentials()
    adapter = make_adapter(fake, login, credentials={"login": login, "invoice_key": INVOICE_KEY,
                                                     "subscriber_key": "FFFFFFFFFFFFFFFF"})
    with pytest.raises(CredentialsRejected) as caught:
        adapter.check_credentials()
    assert "'abonent'" in caught.value.message and "subscriber_key" in caught.value.fix
    assert "FFFFFFFFFFFFFFFF" not in str(caught.value)


def test_unknown_login_is_a_credentials_error(fake, login) -> None:
    adapter = make_adapter(fake, login, credentials={"login": "nobody@example.pl", "invoice_key": INVOICE_KEY})
    with pytest.raises(CredentialsRejected, match="login is unknown"):
        adapter.check_credentials()


def test_field_rejection_names_the_provider_field_and_ours(fake, login) -> None:
    adapter = make_adapter(fake, login)
    message = load_example("01-invoice-company.json")
    message["document"]["buyer"]["tax_id"] = "5260250275"  # wrong check digit
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, IfirmaAdapter)
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan)
    assert "iFirma rejected NIP" in caught.value.message and "niepoprawny numer NIP" in caught.value.message
    assert "document.buyer.tax_id" in caught.value.fix


def test_rate_limit_answer_is_transient_with_the_minute_to_wait(fake, login) -> None:
    adapter = make_adapter(fake, login)
    fake.faults.rate_limited(method="POST")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert (caught.value.code, caught.value.retry_after) == ("provider_rate_limited", 60.0)
    assert fake.account(login).invoices == {}


def test_the_fakes_own_minute_limit_is_answered_and_read_as_transient(login) -> None:
    with IfirmaFake(rate_limit=(2, 60.0)) as limited:
        limited.add_account(login, invoice_key=INVOICE_KEY)
        adapter = make_adapter(limited, login, credentials={"login": login, "invoice_key": INVOICE_KEY})
        adapter.check_credentials()
        adapter.check_credentials()
        with pytest.raises(TransientError) as caught:
            adapter.check_credentials()
        assert caught.value.retry_after == 60.0 and limited.limiter.peak(login) == 3


def test_outage_is_transient_and_a_gateway_error_on_create_may_have_succeeded(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.status(503, method="POST")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan)
    assert caught.value.code == "provider_unavailable" and not isinstance(caught.value, RequestMayHaveSucceeded)
    fake.faults.status(502, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)


def test_there_is_no_look_up_by_our_id(fake, login) -> None:
    adapter = make_adapter(fake, login)
    assert IfirmaAdapter.capabilities.lookup_by_reference is False
    assert IfirmaAdapter.capabilities.settle_by_listing is True
    with pytest.raises(PermanentError) as caught:
        adapter.find_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "lookup_not_possible"


# ----------------------------------------------------------------------- interrupted creates (settlement)

TRUSTED = InterruptedAttempt()  # begun long enough ago: the list shows whatever it created


def settle(fake, adapter: IfirmaAdapter, plan, attempt: InterruptedAttempt = TRUSTED):
    """adapter.settle_interrupted, checking it only read (GETs: nothing created, nothing moved)."""
    before = fake.requests.count()
    settlement = adapter.settle_interrupted(plan, attempt)
    asked = fake.requests.entries()[before:]
    assert {entry.method for entry in asked} <= {"GET"}, asked
    return settlement


def test_every_create_carries_our_reference_as_the_last_line_of_uwagi(fake, login) -> None:
    adapter = make_adapter(fake, login)
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json", notes="Zamówienie 998877"))
    assert stored(fake, login, created.reference)["Uwagi"] == "Zamówienie 998877\nref: INV-2026-11-0001"
    without_notes = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="INV-2"))
    assert stored(fake, login, without_notes.reference)["Uwagi"] == "ref: INV-2"


def test_an_interrupted_create_stored_at_ifirma_is_found_by_our_reference_never_sent_twice(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.stall_after_commit(2.0, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    [(invoice_id, invoice)] = fake.account(login).invoices.items()
    settlement = settle(fake, adapter, plan)
    assert (settlement.outcome, settlement.by) == (SettlementOutcome.FOUND, SettledBy.LISTING)
    assert settlement.found == ProviderReference(f"fakturakraj:{invoice_id}", invoice["PelnyNumer"])
    assert len(fake.account(login).invoices) == 1


def test_an_interrupted_create_never_stored_at_ifirma_is_sent_once_when_the_list_can_be_trusted(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.status(502, method="POST")  # may have been stored: iFirma is asked before a second send
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    early = settle(fake, adapter, plan, InterruptedAttempt(listing_complete_in=200.0))
    assert (early.outcome, early.retry_after) == (SettlementOutcome.NOT_YET, 200.0)
    assert settle(fake, adapter, plan).outcome == SettlementOutcome.ABSENT
    adapter.create_document(plan)
    assert len(fake.account(login).invoices) == 1


def test_a_repeat_order_of_the_same_buyer_day_and_amount_is_told_apart_by_our_reference(fake, login) -> None:
    adapter = make_adapter(fake, login)
    first = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="ORDER-1")).reference
    repeat = plan_for(adapter, "01-invoice-company.json", document_id="ORDER-2")
    absent = settle(fake, adapter, repeat)
    assert (absent.outcome, absent.candidates) == (SettlementOutcome.ABSENT, ())  # ORDER-1 read: not ours
    fake.faults.stall_after_commit(2.0, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(repeat)
    found = settle(fake, adapter, repeat).found
    assert found is not None and found.provider_document_id != first.provider_document_id
    assert stored(fake, login, found)["Uwagi"] == "ref: ORDER-2"


def test_uwagi_edited_by_the_merchant_leave_the_document_undecided_never_sent_again(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "01-invoice-company.json")
    created = adapter.create_document(plan).reference
    fake.edit_invoice(login, int(created.provider_document_id.split(":")[1]), Uwagi="Dziękujemy za zakupy")
    settlement = settle(fake, adapter, plan)
    assert settlement.outcome == SettlementOutcome.UNDECIDED
    assert settlement.candidates == ({"provider_document_id": created.provider_document_id,
                                      "number": created.number, "reference": "no reference of ours"},)
    assert "Dziękujemy" not in settlement.reason


def test_the_list_is_read_to_its_end_and_only_same_day_kind_and_gross_documents_are_read(fake, login,
                                                                                         monkeypatch) -> None:
    monkeypatch.setattr("invoice_export.providers.ifirma.adapter.LIST_PAGE_SIZE", 2)
    adapter = make_adapter(fake, login)
    example = load_example("01-invoice-company.json")["document"]
    for index in range(4):  # other amounts: listed, never read
        lines = [{**example["lines"][0], "quantity": str(index + 5)}]
        adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id=f"OTHER-{index}",
                                         lines=lines, totals=computed_totals(lines, example["price_basis"],
                                                                             "per_rate")))
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.stall_after_commit(2.0, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)  # the fifth: on the third page of two
    before = fake.requests.count()
    assert settle(fake, adapter, plan).outcome == SettlementOutcome.FOUND
    asked = [entry.path for entry in fake.requests.entries()[before:]]
    assert asked.count("/iapi/faktury.json") == 4  # pages 1-3, then an empty one: the end
    assert len([path for path in asked if path.startswith("/iapi/fakturakraj/")]) == 1  # only the candidate


def test_a_failed_number_read_after_create_keeps_the_document_and_its_number_is_read_later(fake, login) -> None:
    adapter = make_adapter(fake, login)
    fake.faults.status(503, method="GET", path=r"/iapi/fakturakraj/\d+\.json", times=3)
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    reference = created.reference
    assert reference.provider_document_id.startswith("fakturakraj:") and reference.number == ""
    assert created.warnings == ()  # the export service reads the number before announcing the document
    fake.faults.clear()
    [stored] = fake.account(login).invoices.values()
    assert adapter.read_number(reference.provider_document_id) == stored["PelnyNumer"] == "1/2026/SKLEP"


# ----------------------------------------------------------------------- answers without Kod (issue 14)


def test_reads_without_kod_still_give_the_number_the_month_and_the_quota(fake, login) -> None:
    """Two clients (iFirma's own shop plugin, iFirmaBundle) accept a read answered without Kod."""
    fake.account(login).reads_carry_kod = False
    fake.account(login).accounting_month = (2026, 10)
    adapter = make_adapter(fake, login, options={"allow_accounting_month_switch": True})
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert created.reference.number == "1/2026/SKLEP" and created.readback is not None
    assert created.warnings == ("iFirma accounting month moved from 10/2026 to 11/2026",)
    assert adapter.accounting_month() == (2026, 11)
    assert adapter.remaining_quota().used == 1
    adapter.check_credentials()


def test_a_read_without_kod_and_without_its_data_is_not_taken_for_an_answer(fake, login) -> None:
    adapter = make_adapter(fake, login)
    fake.faults.status(200, body=b'{"response":{"Informacja":"?"}}', content_type="application/json",
                       method="GET", path=r"/iapi/abonent/miesiacksiegowy\.json")
    with pytest.raises(ProviderRejected, match="without Kod and without MiesiacKsiegowy or RokKsiegowy"):
        adapter.accounting_month()


def test_a_create_answered_with_neither_kod_nor_identyfikator_may_have_succeeded(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.status(200, body=b'{"response":{"Informacja":"Faktura"}}', content_type="application/json",
                       method="POST")
    with pytest.raises(RequestMayHaveSucceeded, match="without Kod and without Identyfikator"):
        adapter.create_document(plan)
    # An id without Kod is the create's answer: the document is recorded under it.
    fake.faults.status(200, body=b'{"response":{"Identyfikator":777}}', content_type="application/json",
                       method="POST")
    created = adapter.create_document(plan)
    assert created.reference.provider_document_id == "fakturakraj:777"
    assert created.reference.number == ""  # 777 is not in the fake: the read is refused
    with pytest.raises(ProviderRejected):
        adapter.read_number("fakturakraj:777")


def test_a_ksef_send_answered_without_kod_may_have_been_taken(fake, login) -> None:
    adapter = make_adapter(fake, login, ksef="send_on_export")
    invoice = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    fake.faults.status(200, body=b'{"response":{}}', content_type="application/json", method="POST",
                       path=r"/iapi/fakturakraj/ksef/send/\d+\.json")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.send_to_ksef(invoice.provider_document_id)


# ----------------------------------------------------------------------- PDF and quota


def test_pdf_has_the_number_and_changes_after_an_edit_in_ifirma(fake, login) -> None:
    adapter = make_adapter(fake, login)
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    first = adapter.download_pdf(reference.provider_document_id)
    assert first.startswith(b"%PDF") and reference.number.encode() in first and b"130.47" in first
    fake.edit_invoice(login, int(reference.provider_document_id.split(":")[1]), Uwagi="Zmieniono w iFirmie")
    assert adapter.download_pdf(reference.provider_document_id) != first


def test_pdf_of_a_currency_invoice_uses_its_type_path(fake, login) -> None:
    adapter = make_adapter(fake, login)
    reference = adapter.create_document(plan_for(adapter, "04-invoice-eur.json")).reference
    assert adapter.download_pdf(reference.provider_document_id).startswith(b"%PDF")
    assert fake.requests.count("GET", r"/iapi/fakturawaluta/\d+\.pdf") == 1


def test_remaining_quota_reads_the_monthly_limit(fake, login) -> None:
    adapter = make_adapter(fake, login)
    adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    quota = adapter.remaining_quota()
    assert (quota.used, quota.granted, quota.remaining) == (1, 1000, 999)
    without = make_adapter(fake, login, credentials={"login": login, "invoice_key": INVOICE_KEY})
    with pytest.raises(ConfigurationError, match="subscriber"):
        without.remaining_quota()


def test_an_exhausted_monthly_quota_is_a_clear_rejection(fake, login) -> None:
    fake.account(login).quota = 0
    adapter = make_adapter(fake, login)
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "provider_settings" and "limit" in caught.value.message


# ----------------------------------------------------------------------- recurring problems (facts file §3)


def test_recurring_bad_hash_key_as_ascii_or_query_signed_is_refused_403(fake, login) -> None:
    """403 "bad hash": the fake refuses the ASCII-key signature and one over the URL with its query."""
    url = f"{fake.base_url}/iapi/faktury.json"
    headers = {"Accept": "application/json"}
    ascii_key = hmac.new(INVOICE_KEY.encode(), f"{url}{login}faktura".encode(), hashlib.sha1).hexdigest()
    with_query = signature(INVOICE_KEY, f"{url}?dataOd=2026-11-01{login}faktura".encode())
    for digest in (ascii_key, with_query):
        response = requests.get(url, params={"dataOd": "2026-11-01"}, timeout=5,
                                headers={**headers, "Authentication": f"IAPIS user={login}, hmac-sha1={digest}"})
        assert response.json()["response"]["Kod"] == 403
    # The adapter signs the hex-decoded key over the URL without its query: accepted.
    make_adapter(fake, login).check_credentials()
    assert fake.requests.entries("GET", r"/iapi/faktury\.json")[-1].query["dataOd"] == "2000-01-01"


def test_recurring_wrong_endpoint_guesses_each_type_has_its_documented_path(fake, login) -> None:
    """Guessed endpoints (fakturakrajwaluta, a correction id in the body) do not exist at iFirma."""
    adapter = make_adapter(fake, login)
    body = encode_json(adapter.build_request(plan_for(adapter, "04-invoice-eur.json")))
    url = f"{fake.base_url}/iapi/fakturakrajwaluta.json"
    digest = signature(INVOICE_KEY, f"{url}{login}faktura".encode() + body)
    guessed = requests.post(url, data=body, timeout=5, headers={
        "Content-Type": "application/json; charset=UTF-8", "Accept": "application/json",
        "Authentication": f"IAPIS user={login}, hmac-sha1={digest}"})
    assert guessed.status_code == 404
    assert adapter.endpoint(plan_for(adapter, "04-invoice-eur.json").document) == "fakturawaluta"
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    correction = adapter.build_request(plan_for(adapter, "05-correction.json", corrected=original))
    assert not {"Identyfikator", "IdentyfikatorFaktury", "FakturaId"} & set(correction)  # the id is in the path


def test_recurring_issue_date_outside_the_accounting_month_says_what_to_do(fake, login) -> None:
    fake.account(login).accounting_month = (2026, 10)
    adapter = make_adapter(fake, login)
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "accounting_month" and "allow_accounting_month_switch" in caught.value.fix
    assert "11/2026" in caught.value.fix
    assert fake.account(login).accounting_month == (2026, 10) and fake.account(login).month_moves == []


def test_recurring_accounting_month_switched_only_with_the_accounts_opt_in(fake, login) -> None:
    fake.account(login).accounting_month = (2026, 9)
    adapter = make_adapter(fake, login, options={"allow_accounting_month_switch": True})
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert fake.account(login).month_moves == ["NAST", "NAST"]
    assert created.warnings == ("iFirma accounting month moved from 09/2026 to 11/2026",)
    without_key = make_adapter(fake, login, options={"allow_accounting_month_switch": True},
                               credentials={"login": login, "invoice_key": INVOICE_KEY})
    with pytest.raises(ConfigurationError, match="abonent"):
        without_key.create_document(plan_for(adapter, "01-invoice-company.json"))


def test_recurring_contractor_update_deletes_unsent_fields_so_the_full_buyer_is_always_sent(fake, login) -> None:
    """Saving a contractor replaces the whole record: the adapter sends every field of the buyer inline
    on each document and never calls a contractor-update endpoint."""
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, "01-invoice-company.json")
    body = adapter.build_request(plan)
    buyer = plan.document.buyer
    assert body["Kontrahent"] == {
        "Nazwa": buyer.name, "NIP": buyer.tax_id, "Ulica": buyer.address.street,
        "KodPocztowy": buyer.address.postal_code, "Miejscowosc": buyer.address.city,
        "KodKraju": buyer.address.country, "Email": buyer.email, "OsobaFizyczna": False}
    adapter.create_document(plan)
    assert fake.account(login).contractors["5260250274"] == body["Kontrahent"]
    assert fake.requests.count(path=r"/iapi/kontrahenci.*") == 0


# --------------------------------------------------------------------------- per-line discounts


def test_a_discounted_invoice_is_exported_with_our_exact_totals(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = discounted_plan(adapter)
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    ours = plan.document.totals
    assert tuple(Decimal(invoice[part]) for part in ("Netto", "Vat", "Brutto")) == (ours.net, ours.vat, ours.gross)
    assert created.readback is None or created.readback.net == ours.net


def test_a_discounted_line_no_4_place_price_reproduces_goes_folded_with_our_totals(fake, login) -> None:
    # 1234.5 x 1.23 less 12.5 % = 1328.63; one step of a 4-place price moves 1234.5 of them by 0.12.
    adapter = make_adapter(fake, login)
    lines = [{"line_id": "l1", "name": "Kubek", "quantity": "1234.5", "unit_price": "1.23", "vat": "23",
              "discount_percent": "12.5"},
             {"line_id": "l2", "name": "Wysyłka", "quantity": "1", "unit_price": "15.00", "vat": "23"}]
    plan = plan_for(adapter, "01-invoice-company.json", lines=lines, totals=computed_totals(lines, "gross", "per_rate"))
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    mug, shipping = invoice["Pozycje"]
    assert (mug["NazwaPelna"], mug["Jednostka"], Decimal(str(mug["Ilosc"])), Decimal(str(mug["CenaJednostkowa"]))) \
        == ("Kubek (1234.5 szt. × 1.23 -12.5%)", "szt.", Decimal(1), Decimal("1328.63"))
    assert shipping["NazwaPelna"] == "Wysyłka"
    ours = plan.document.totals
    assert tuple(Decimal(invoice[part]) for part in ("Netto", "Vat", "Brutto")) == (ours.net, ours.vat, ours.gross)
    [warning] = created.warnings
    assert warning.startswith("line_folded: line l1 (quantity 1234.5 szt. x 1.23 less 12.5%) sent to iFirma")


# ----------------------------------------------------------------------- VAT per rate (issue 13 §1)


def test_a_gross_priced_per_line_invoice_is_created_with_ifirmas_split_of_our_gross(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, GROSS_PER_LINE_EXAMPLE)  # refused before as provider_totals_would_differ
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    assert plan.vat_split is not None
    theirs = plan.vat_split.theirs
    assert tuple(Decimal(invoice[part]) for part in ("Netto", "Vat", "Brutto")) == (theirs.net, theirs.vat,
                                                                                    plan.document.totals.gross)
    split = settle_vat_split(plan.document, plan.vat_split, created.readback)
    assert split is not None and split.read_back and compare(plan.document, created.readback, None, split) == []


def test_a_correction_of_net_lines_sent_as_gross_prices_goes_in_the_originals_basis(fake, login) -> None:
    adapter = make_adapter(fake, login)
    lines = NET_LINES_VAT_BY_METHOD
    original_plan = plan_for(adapter, "01-invoice-company.json", lines=lines, price_basis="net",
                             vat_calculation="per_line", totals=computed_totals(lines, "net", "per_line"))
    assert original_plan.send_gross_prices
    original = adapter.create_document(original_plan)
    assert stored(fake, login, original.reference)["LiczOd"] == "BRT"
    # One cup returned: after 1 x 10.99 (gross 13.52), the rest as before.
    after = [{**lines[0], "quantity": "1"}, *lines[1:]]
    before_totals, after_totals = (computed_totals(side, "net", "per_line") for side in (lines, after))
    message = load_example("05-correction.json")
    message["document"].update(price_basis="net", vat_calculation="per_line", lines=after, totals={
        name: str(Decimal(after_totals[name]) - Decimal(before_totals[name])) for name in ("net", "vat", "gross")})
    message["document"]["correction"]["lines_before"] = lines
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, IfirmaAdapter,
                       corrected=original.reference)
    assert plan.send_gross_prices  # as its original went, though its lines alone would not need it
    created = adapter.create_document(plan)
    correction = stored(fake, login, created.reference)
    assert "LiczOd" not in adapter.build_request(plan) and correction["LiczOd"] == "BRT"  # inherited
    assert Decimal(correction["Brutto"]) == plan.document.totals.gross == Decimal("-13.52")
    assert created.readback is not None and created.readback.gross == plan.document.totals.gross


# ----------------------------------------------------------------------- KSeF (facts 2.12, community-documented)


def test_ksef_send_on_export_asks_ifirma_once_per_document_by_the_community_documented_endpoint(fake, login) -> None:
    assert (IfirmaAdapter.capabilities.ksef_send, IfirmaAdapter.capabilities.ksef_read_back) == (True, False)
    adapter = make_adapter(fake, login, ksef="send_on_export")
    plan = plan_for(adapter, "01-invoice-company.json")
    assert plan.send_to_ksef is True
    assert "DataWysylki" not in adapter.build_request(plan)  # the send is its own call, after the create
    invoice = adapter.create_document(plan).reference
    foreign = adapter.create_document(plan_for(adapter, "04-invoice-eur.json")).reference
    assert fake.account(login).ksef_submissions == {}  # creating does not send
    fake.requests.clear()
    adapter.send_to_ksef(invoice.provider_document_id)
    adapter.send_to_ksef(foreign.provider_document_id)
    assert fake.account(login).ksef_submissions == {stored(fake, login, invoice)["FakturaId"]: None,
                                                    stored(fake, login, foreign)["FakturaId"]: None}
    assert [entry.path for entry in fake.requests.entries()] == [
        f"/iapi/fakturakraj/ksef/send/{stored(fake, login, invoice)['FakturaId']}.json",
        f"/iapi/fakturawaluta/ksef/send/{stored(fake, login, foreign)['FakturaId']}.json"]
    with pytest.raises(ProviderRejected, match="już przekazana"):  # iFirma's own guard, should we ever ask twice
        adapter.send_to_ksef(invoice.provider_document_id)
    with pytest.raises(ConfigurationError) as unreadable:
        adapter.ksef_status(invoice.provider_document_id)  # nothing to read back: none is invented
    assert unreadable.value.code == "not_supported"


def test_ksef_send_without_a_connection_to_ksef_in_ifirma_is_refused_in_its_words(fake, login) -> None:
    adapter = make_adapter(fake, login, ksef="send_on_export")
    invoice = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    fake.account(login).ksef_connected = False
    with pytest.raises(ProviderRejected) as refused:
        adapter.send_to_ksef(invoice.provider_document_id)
    assert "Kod 202" in refused.value.message and "KSeF" in refused.value.message


def test_ksef_provider_sends_is_refused_because_nothing_can_be_read_back(fake, login) -> None:
    adapter = make_adapter(fake, login, ksef="provider_sends")
    with pytest.raises(ConfigurationError) as refused:
        plan_for(adapter, "01-invoice-company.json")
    assert refused.value.code == "unsupported_ksef"
    assert "does not report a document's KSeF status or number" in refused.value.message
    assert "'send_on_export'" in refused.value.fix and "'off'" in refused.value.fix
