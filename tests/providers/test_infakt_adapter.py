"""Contract tests: the inFakt adapter against the strict local fake of inFakt's API v3."""

from __future__ import annotations

import json
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
from invoice_export.domain.provider_contract import KsefState, ProviderReference
from invoice_export.domain.rate_limits import LimitScope
from invoice_export.domain.readback import compare, settle_vat_split
from invoice_export.domain.settlement import InterruptedAttempt, SettledBy, SettlementOutcome
from invoice_export.providers import build_adapter
from invoice_export.providers.infakt.adapter import InfaktAdapter, legal_provision
from local.fakes.infakt import InfaktFake
from testsupport import (
    GROSS_PER_LINE_EXAMPLE,
    NET_LINES_VAT_BY_METHOD,
    computed_totals,
    discounted_plan,
    load_example,
    plan_for,
)

EXEMPTION = "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"


def running_fake(**readings):
    # Tasks finish after one "in progress" poll; the background worker is slow enough (5 s) that
    # tests decide when a task completes.
    with InfaktFake(read_limit=None, write_limit=None, processing_polls=1, processing_seconds=5, **readings) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture(scope="module")
def fake():
    yield from running_fake()


def new_account(fake: InfaktFake) -> dict:
    """A fresh inFakt account: its API key and the id of its VAT exemption basis."""
    key = secrets.token_hex(16)
    fake.add_account(key)
    return {"key": key, "exemption": fake.add_vat_exemption(key, EXEMPTION)}


@pytest.fixture
def account(fake):
    return new_account(fake)


def make_adapter(fake, account, *, options: dict | None = None, **settings_changes) -> InfaktAdapter:
    """`options` change the provider options; None removes one."""
    provider_options = dict(options or {})
    settings = AccountSettings.model_validate({
        "account_id": "shop-1", "provider": "infakt", "api_url": f"{fake.base_url}/api/v3",
        "series_links": {"FV": None, "FV-EXPORT": None, "PAR": None, "KOR": None, "FV-B2B": None},
        "payment_links": {"Przelew": "transfer", "Karta": "card"},
        "provider_options": {name: value for name, value in provider_options.items() if value is not None},
        **settings_changes})
    adapter = build_adapter(settings, {"api_key": account["key"]}, read_timeout=1.0)
    assert isinstance(adapter, InfaktAdapter)
    adapter.poll_delays = (0.01, 0.02, 0.05)
    return adapter


def stored(fake, account, reference: ProviderReference) -> dict:
    uuid = reference.provider_document_id.removeprefix("correction:")
    document = fake.account(account["key"]).document(uuid)
    assert document is not None
    return document


def grosze(amount: str) -> int:
    return int(Decimal(amount) * 100)


def api(fake, account, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{fake.base_url}/api/v3{path}", timeout=5,
                            headers={"X-inFakt-ApiKey": account["key"]}, **kwargs)


# --------------------------------------------------------------------------- each example, field by field


def test_company_invoice_every_field_and_totals_to_the_grosz(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    doc = plan.document
    assert created.reference == ProviderReference(invoice["uuid"], "1/11/2026")
    assert (invoice["kind"], invoice["status"]) == ("vat", "printed")  # issued, in the accounts
    assert (invoice["invoice_date"], invoice["sale_date"], invoice["payment_date"]) == (
        "2026-11-20", "2026-11-19", "2026-12-04")
    assert (invoice["payment_method"], invoice["currency"], invoice["paid_date"]) == ("transfer", "PLN", None)
    assert (invoice["client_business_activity_kind"], invoice["client_company_name"], invoice["client_tax_code"]) == (
        "other_business", "Hurtownia Zielony Liść Sp. z o.o.", "5260250274")
    assert (invoice["client_street"], invoice["client_post_code"], invoice["client_city"],
            invoice["client_country"]) == ("ul. Kwiatowa 12/4", "02-001", "Warszawa", "PL")
    assert [(s["name"], s["tax_symbol"], s["quantity"], s["unit"], s["gross_price"]) for s in invoice["services"]] == [
        ("Kubek ceramiczny 300 ml", "23", "2", "szt.", 5998),
        ("Herbata liściasta 100 g", "5", "3", "szt.", 5550),
        ("Wysyłka kurierem", "23", "1", "usł.", 1499)]
    # inFakt computed its totals on its own, in grosze: they equal ours to the grosz.
    assert (invoice["net_price"], invoice["tax_price"], invoice["gross_price"]) == (
        grosze(str(doc.totals.net)), grosze(str(doc.totals.vat)), grosze(str(doc.totals.gross)))
    assert created.readback is not None
    assert (created.readback.net, created.readback.vat, created.readback.gross) == (
        doc.totals.net, doc.totals.vat, doc.totals.gross)
    assert created.readback.is_correction is False and created.warnings == ()


def test_exempt_invoice_for_a_person_carries_the_exemption_and_net_prices(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json"))
    invoice = stored(fake, account, created.reference)
    assert invoice["client_business_activity_kind"] == "private_person"
    assert (invoice["client_first_name"], invoice["client_last_name"]) == ("Anna", "Nowak")
    assert invoice["client_company_name"] is None and invoice["client_tax_code"] is None
    assert (invoice["status"], invoice["paid_date"], invoice["payment_method"]) == ("paid", "2026-11-20", "card")
    [service] = invoice["services"]
    assert (service["tax_symbol"], service["unit_net_price"], service["net_price"]) == ("zw", 19900, 19900)
    assert invoice["vat_exemption_reason"] == account["exemption"]
    assert (invoice["net_price"], invoice["tax_price"], invoice["gross_price"]) == (19900, 0, 19900)


@pytest.mark.parametrize("one, other, same", [
    ("art. 43 ust. 1 pkt 2", "Art.43 ust.1 pkt 2 ustawy o VAT", True),
    ("art 43 ust 1 pkt. 2)", "Zwolnienie: art. 43 ust. 1 pkt 2 ustawy z dnia 11 marca 2004 r. o VAT", True),
    ("art. 113 ust. 1 i 9 ustawy o VAT", "art. 113 ust. 1, 9", True),
    ("art. 43 ust. 1 pkt 2", "art. 43 ust. 1 pkt 29", False),
    ("art. 43 ust. 1 pkt 29 lit. a", "art. 43 ust. 1 pkt 29 lit. c", False),
    ("art. 43a ust. 1", "art. 43 ust. 1", False),
    ("art. 132 ust. 1 lit. i dyrektywy 2006/112/WE", "art. 132 ust. 1 lit. i ustawy", False),
    ("§ 3 ust. 1 pkt 2 rozporządzenia", "§ 3 ust. 1 pkt 2", True),
])
def test_legal_provisions_are_compared_whatever_their_spelling(one, other, same) -> None:
    assert legal_provision(one) is not None and (legal_provision(one) == legal_provision(other)) is same


def test_a_basis_naming_no_provision_has_none() -> None:
    assert legal_provision("Zwolnienie podmiotowe") is None


def exempt_plan(adapter: InfaktAdapter, basis: str):
    message = load_example("03-invoice-exempt-person.json")
    message["document"]["lines"][0]["vat_exemption_basis"] = basis
    return plan_export(ExportMessage.model_validate(message).document, adapter.settings, InfaktAdapter)


@pytest.mark.parametrize("basis", ["art. 43 ust. 1 pkt 29 lit. c ustawy o VAT", "Art.43 ust.1 pkt 29 lit.c",
                                   "Zwolnienie z VAT na podstawie art 43 ust. 1 pkt. 29 lit. c ustawy z dnia "
                                   "11 marca 2004 r. o podatku od towarów i usług"])
def test_the_exemption_basis_is_resolved_in_infakts_list_on_its_legal_provision(fake, basis) -> None:
    """Issue 13 section 3: the document carries its basis; no id has to be configured by hand."""
    key = secrets.token_hex(16)
    fake.add_account(key)
    neighbours = [fake.add_vat_exemption(key, text) for text in (
        "art. 43 ust. 1 pkt 29 lit. a ustawy o VAT", "art. 43 ust. 1 pkt 2 ustawy o VAT",
        "art. 113 ust. 1 i 9 ustawy o VAT", "art. 132 ust. 1 lit. i dyrektywy 2006/112/WE")]
    wanted = fake.add_vat_exemption(key, "Art. 43 ust. 1 pkt 29 lit. c ustawy o VAT (usługi kształcenia)")
    fake.add_vat_exemption(key, "art. 43 ust. 1 pkt 29 lit. c dyrektywy", default=True)  # another act
    adapter = make_adapter(fake, {"key": key})
    created = adapter.create_document(exempt_plan(adapter, basis))
    assert stored(fake, {"key": key}, created.reference)["vat_exemption_reason"] == wanted not in neighbours


def test_the_exemption_list_is_read_once_per_account_while_fresh_and_on_a_miss(fake, account) -> None:
    adapter = make_adapter(fake, account)
    now = [1000.0]
    adapter.clock = lambda: now[0]
    reads = lambda: fake.requests.count("GET", r"/api/v3/vat_exemptions\.json")  # noqa: E731
    before = reads()
    for number in range(2):
        adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json", document_id=f"ZW-{number}"))
    assert reads() == before + 1  # the second document used the list read for the first
    added = fake.add_vat_exemption(account["key"], "art. 113 ust. 1 ustawy o VAT")
    other = adapter.create_document(exempt_plan(adapter, "art. 113 ust. 1 ustawy o VAT"))
    assert stored(fake, account, other.reference)["vat_exemption_reason"] == added
    assert reads() == before + 2  # a miss in the kept list reads it again before refusing
    now[0] += InfaktAdapter.exemptions_ttl
    adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json", document_id="ZW-LATER"))
    assert reads() == before + 3  # its lifetime is over
    again = make_adapter(fake, account)  # another adapter of the account, in the same process
    again.clock = adapter.clock
    again.create_document(plan_for(again, "03-invoice-exempt-person.json", document_id="ZW-AGAIN"))
    assert reads() == before + 3


def test_a_basis_without_a_provision_matches_an_entry_in_the_same_words(fake, account) -> None:
    same = fake.add_vat_exemption(account["key"], "Zwolnienie  podmiotowe")
    adapter = make_adapter(fake, account)
    created = adapter.create_document(exempt_plan(adapter, "zwolnienie podmiotowe"))
    assert stored(fake, account, created.reference)["vat_exemption_reason"] == same


def test_a_long_exemption_list_is_read_page_by_page(fake) -> None:
    key = secrets.token_hex(16)
    fake.add_account(key)
    for number in range(1, 131):
        fake.add_vat_exemption(key, f"art. 43 ust. 1 pkt {number} ustawy o VAT")
    adapter = make_adapter(fake, {"key": key})
    created = adapter.create_document(exempt_plan(adapter, "art. 43 ust. 1 pkt 120 ustawy o VAT"))
    page_two = api(fake, {"key": key}, "GET", "/vat_exemptions.json", params={"offset": 100, "limit": 100}).json()
    wanted = next(entity["id"] for entity in page_two["entities"]
                  if entity["name"] == "art. 43 ust. 1 pkt 120 ustawy o VAT")
    assert stored(fake, {"key": key}, created.reference)["vat_exemption_reason"] == wanted


def test_an_unlisted_basis_falls_back_to_the_account_option_else_is_refused_naming_both(fake, account) -> None:
    basis = "art. 82 ust. 3 ustawy o VAT"
    chosen = fake.add_vat_exemption(account["key"], "Zwolnienie wskazane przez księgową")
    with_option = make_adapter(fake, account, options={"vat_exemption_reason_id": chosen})
    created = with_option.create_document(exempt_plan(with_option, basis))
    assert stored(fake, account, created.reference)["vat_exemption_reason"] == chosen
    fake.add_vat_exemption(account["key"], "art. 113 ust. 1 ustawy o VAT", default=True)  # never guessed
    without = make_adapter(fake, account)
    before = len(fake.account(account["key"]).tasks)
    with pytest.raises(ConfigurationError) as caught:
        without.create_document(exempt_plan(without, basis))
    error = caught.value
    assert error.code == "vat_exemption_basis_unknown"
    assert f"'{basis}'" in error.message and "art. 82 ust. 3 (ustawa)" in error.message
    assert f"[{account['exemption']}] {EXEMPTION}" in error.message and "art. 113 ust. 1 ustawy o VAT" in error.message
    assert "vat_exemption_reason_id" in error.fix and "vat_exemption_basis" in error.fix
    assert len(fake.account(account["key"]).tasks) == before  # nothing was sent


def test_foreign_currency_records_the_rate_infakt_applied_next_to_ours(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
    invoice = stored(fake, account, created.reference)
    assert (invoice["currency"], invoice["vat_exchange_date_kind"]) == ("EUR", "vat")
    assert (invoice["client_country"], invoice["client_tax_code"]) == ("DE", "DE811907980")
    [service] = invoice["services"]
    assert (service["unit_net_price"], service["net_price"], service["quantity"]) == (8400, 42000, "5")
    assert invoice["gross_price"] == 51660  # euro cents, computed by inFakt
    [warning] = created.warnings
    assert "inFakt applied its own exchange rate 4.2400 PLN/EUR (table 223/A/NBP/2026" in warning
    assert "our document states 4.2351 (table 224/A/NBP/2026, 2026-11-19)" in warning


def test_the_same_nbp_rate_is_not_flagged(fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.set_exchange_rate("EUR", "4.2351", "224/A/NBP/2026")  # the rate and table our document states
    try:
        created = adapter.create_document(plan_for(adapter, "04-invoice-eur.json"))
    finally:
        fake.set_exchange_rate("EUR", "4.2400", "223/A/NBP/2026")
    assert created.warnings == ()


def test_pln_vat_is_read_back_and_drift_at_another_rate_is_reported(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "04-invoice-eur.json")  # 96.60 EUR of VAT at 4.2351: 409.11 PLN
    fake.set_exchange_rate("EUR", "4.2351", "224/A/NBP/2026")  # inFakt picked the NBP rate we state
    try:
        same_rate = adapter.create_document(plan).readback
        fake.set_exchange_rate("EUR", "4.2400", "223/A/NBP/2026")  # ... or another day's
        other_rate = adapter.create_document(plan_for(adapter, "04-invoice-eur.json", document_id="EUR-2",
                                                      number="FV 4/11/2026")).readback
    finally:
        fake.set_exchange_rate("EUR", "4.2400", "223/A/NBP/2026")
    assert same_rate is not None and same_rate.vat_in_pln == Decimal("409.11")
    assert compare(plan.document, same_rate, None) == []
    assert other_rate is not None and other_rate.vat_in_pln == Decimal("409.58")  # 96.60 * 4.24 = 409.584
    assert [d.describe("inFakt") for d in compare(plan.document, other_rate, None)] == [
        "inFakt shows VAT in PLN 409.58, our document 409.11"]


def test_pln_documents_carry_no_pln_vat_figure(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    readback = adapter.create_document(plan).readback
    assert readback is not None and readback.vat_in_pln is None
    assert compare(plan.document, readback, None) == []


def test_receipts_are_refused_before_any_request(fake, account) -> None:
    adapter = make_adapter(fake, account)
    with pytest.raises(ConfigurationError) as caught:
        plan_for(adapter, "02-receipt-person.json")
    assert caught.value.code == "unsupported_kind" and "inFakt cannot take receipts" in caught.value.message


def test_correction_references_the_original_and_carries_before_and_after_pairs(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    created = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original))
    correction = stored(fake, account, created.reference)
    assert created.reference.provider_document_id == f"correction:{correction['uuid']}"
    assert created.reference.number == "1/KOR/11/2026"
    assert (correction["kind"], correction["corrected_invoice_uuid"], correction["corrected_invoice_number"]) == (
        "correction", original.provider_document_id, original.number)
    assert correction["correction_reason_symbol"] == "other"
    assert correction["notes"] == "Przyczyna korekty: Zwrot 1 szt. kubka\nref: KOR-2026-11-0001"
    mug_before, mug_after = correction["services"][:2]
    assert (mug_before["group"], mug_before["correction"], mug_before["quantity"], mug_before["gross_price"]) == (
        "1", False, "2", 5998)
    assert (mug_after["group"], mug_after["correction"], mug_after["quantity"], mug_after["gross_price"]) == (
        "1", True, "1", 2999)
    assert (correction["net_price"], correction["tax_price"], correction["gross_price"]) == (-2438, -561, -2999)
    assert created.readback is not None and created.readback.corrects == original.provider_document_id


def test_a_correction_of_a_correction_is_refused_clearly(fake, account) -> None:
    adapter = make_adapter(fake, account)
    corrected = ProviderReference("correction:5b7f2f8e-0000-4000-8000-000000000000", "1/KOR/11/2026")
    with pytest.raises(ConfigurationError) as caught:
        adapter.build_request(plan_for(adapter, "05-correction.json", corrected=corrected))
    assert caught.value.code == "unsupported_correction"


# --------------------------------------------------------------------------- numbering, series, payment types


def test_our_numbering_passes_our_number_with_the_duplicate_check(fake, account) -> None:
    adapter = make_adapter(fake, account, numbering="ours")
    plan = plan_for(adapter, "01-invoice-company.json")
    assert adapter.build_request(plan)["invoice"]["check_duplicate_number"] is True
    created = adapter.create_document(plan)
    assert created.reference.number == "FV 1/11/2026" == stored(fake, account, created.reference)["number"]


def test_our_number_taken_by_another_document_is_named(fake, account) -> None:
    adapter = make_adapter(fake, account, numbering="ours")
    adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    other = plan_for(adapter, "06-series-not-linked.json", number="FV 1/11/2026")
    with pytest.raises(PermanentError) as caught:
        adapter.create_document(other)  # inFakt refuses the number; the holder is not ours
    assert caught.value.code == "number_taken_by_another_document"
    assert "130.47 PLN, not our 59.98 PLN" in caught.value.message


def test_a_repeated_create_with_our_number_settles_on_the_existing_document(fake, account) -> None:
    adapter = make_adapter(fake, account, numbering="ours")
    plan = plan_for(adapter, "01-invoice-company.json")
    first = adapter.create_document(plan).reference
    assert adapter.create_document(plan).reference == first
    assert len(fake.account(account["key"]).invoices) == 1


def test_provider_numbering_omits_the_number_and_series_cannot_be_linked(fake, account) -> None:
    adapter = make_adapter(fake, account)
    body = adapter.build_request(plan_for(adapter, "01-invoice-company.json"))["invoice"]
    assert "number" not in body and "check_duplicate_number" not in body
    linked = make_adapter(fake, account, series_links={"FV": "sklep"})
    with pytest.raises(ConfigurationError) as caught:
        plan_for(linked, "01-invoice-company.json")
    assert caught.value.code == "unsupported_series"


def test_payment_types_are_the_documented_closed_list(fake, account) -> None:
    adapter = make_adapter(fake, account)
    assert {"transfer", "card", "cash", "delivery", "przelewy24"} <= {o.id for o in adapter.list_payment_types()}


def test_skus_cannot_move_stock_in_infakt(fake, account) -> None:
    adapter = make_adapter(fake, account, send_skus=True)
    with pytest.raises(ConfigurationError) as caught:
        plan_for(adapter, "01-invoice-company.json")
    assert caught.value.code == "unsupported_sku"


# --------------------------------------------------------------------------- credentials and rejections


def test_wrong_key_says_check_the_infakt_api_key_and_never_shows_it(fake, account) -> None:
    adapter = make_adapter(fake, {**account, "key": "wrong-key-value-123"})
    with pytest.raises(CredentialsRejected) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert "check the inFakt API key" in caught.value.fix
    assert "wrong-key-value-123" not in str(caught.value)
    with pytest.raises(CredentialsRejected):
        adapter.check_credentials()
    make_adapter(fake, account).check_credentials()


def test_the_key_travels_only_in_its_header(fake, account) -> None:
    adapter = make_adapter(fake, account)
    assert "<redacted>" in repr(adapter.http.session.auth) and account["key"] not in repr(adapter.http.session.auth)
    adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    for entry in fake.requests.entries():
        assert account["key"] not in json.dumps(entry.query)


def test_a_field_rejection_names_the_infakt_field_and_our_setting_to_fix(fake, account) -> None:
    stale = max(fake.account(account["key"]).vat_exemptions) + 1000  # an id inFakt does not know
    adapter = make_adapter(fake, account, options={"vat_exemption_reason_id": stale})
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(exempt_plan(adapter, "art. 82 ust. 3 ustawy o VAT"))
    assert "inFakt rejected vat_exemption_reason: nie istnieje" in caught.value.message
    assert "provider option vat_exemption_reason_id" in caught.value.fix
    assert caught.value.field_errors.keys() == {"vat_exemption_reason"}


def test_a_private_buyer_needs_first_and_last_name(fake, account) -> None:
    adapter = make_adapter(fake, account)
    message = load_example("03-invoice-exempt-person.json")
    del message["document"]["buyer"]["last_name"]
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, InfaktAdapter)
    with pytest.raises(PermanentError) as caught:
        adapter.build_request(plan)
    assert caught.value.code == "buyer_names_required"


# --------------------------------------------------------------------------- failures in flight


def test_the_per_ip_limit_is_shared_by_every_account_and_its_429_is_transient_with_retry_after() -> None:
    assert InfaktAdapter.rate_limit is not None and InfaktAdapter.rate_limit.scope == LimitScope.DEPLOYMENT
    with InfaktFake(read_limit=None, write_limit=(1, 60.0)) as limited:
        shops = []
        for key in ("key-shop-a", "key-shop-b"):
            limited.add_account(key)
            shops.append({"key": key, "exemption": limited.add_vat_exemption(key, EXEMPTION)})
        first, second = (make_adapter(limited, shop) for shop in shops)
        first.create_document(plan_for(first, "01-invoice-company.json"))
        with pytest.raises(TransientError) as caught:  # another account, the same calling IP
            second.create_document(plan_for(second, "01-invoice-company.json"))
        assert caught.value.code == "provider_rate_limited"
        assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 60
        assert limited.limiter.peak(("write", "127.0.0.1")) == 2


def test_unavailable_infakt_is_transient_and_nothing_was_accepted(fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.faults.status(503, method="POST")  # inFakt's other documented overload answer
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "provider_unavailable" and not isinstance(caught.value, RequestMayHaveSucceeded)
    assert fake.account(account["key"]).tasks == {}


def test_a_failure_while_polling_means_the_document_may_exist(fake, account) -> None:
    adapter = make_adapter(fake, account, numbering="ours")
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.status(500, method="GET", path=r".*/status/.*")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    fake.settle_tasks()
    assert adapter.find_document(plan) is not None


def test_lost_response_after_create_is_flagged_and_settled_by_our_number(fake, account) -> None:
    adapter = make_adapter(fake, account, numbering="ours")
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.stall_after_commit(2.0, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    fake.settle_tasks()  # inFakt's worker processed the task meanwhile
    [invoice] = fake.account(account["key"]).invoices.values()
    assert adapter.find_document(plan) == ProviderReference(invoice["uuid"], "FV 1/11/2026")
    assert adapter.find_document(plan_for(adapter, "01-invoice-company.json", number="FV 9/11/2026")) is None


def test_with_infakt_numbering_the_look_up_by_number_is_never_the_way(fake, account) -> None:
    adapter = make_adapter(fake, account)
    with pytest.raises(PermanentError) as caught:
        adapter.find_document(plan_for(adapter, "01-invoice-company.json"))
    assert caught.value.code == "lookup_not_possible" and "listing" in caught.value.message


# --------------------------------------------------------------------------- interrupted creates (settlement)

TRUSTED = InterruptedAttempt()  # begun long enough ago: the list shows whatever it created


def settle(adapter: InfaktAdapter, plan, attempt: InterruptedAttempt = TRUSTED, *, fake=None):
    """adapter.settle_interrupted, checking it wrote nothing at inFakt (GETs only: the read window)."""
    before = fake.requests.count() if fake else 0
    settlement = adapter.settle_interrupted(plan, attempt)
    if fake:
        asked = fake.requests.entries()[before:]
        assert {entry.method for entry in asked} <= {"GET"}, asked
    return settlement


def lists_since(fake, before: int) -> int:
    """Pages of the invoice list asked for since the request log held `before` entries."""
    return sum(1 for entry in fake.requests.entries()[before:] if entry.path.endswith("/invoices.json"))


def test_every_create_carries_our_reference_as_the_last_line_of_its_notes(fake, account) -> None:
    adapter = make_adapter(fake, account)
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json", notes="Zamówienie 12"))
    assert stored(fake, account, created.reference)["notes"] == "Zamówienie 12\nref: INV-2026-11-0001"


def test_an_interrupted_create_stored_at_infakt_is_found_by_our_reference_in_the_days_list(fake, account) -> None:
    adapter = make_adapter(fake, account)  # inFakt numbers: no number of ours to look it up by
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.stall_after_commit(2.0, method="POST")  # the task accepted, its answer lost: no task reference
    with pytest.raises(RequestMayHaveSucceeded) as lost:
        adapter.create_document(plan)
    assert lost.value.task_reference is None
    fake.settle_tasks()
    before = fake.requests.count()
    settlement = settle(adapter, plan, fake=fake)
    [invoice] = fake.account(account["key"]).invoices.values()
    assert (settlement.outcome, settlement.by) == (SettlementOutcome.FOUND, SettledBy.LISTING)
    assert settlement.found == ProviderReference(invoice["uuid"], invoice["number"])
    assert lists_since(fake, before) == fake.requests.count() - before == 1  # the notes are in the list


def test_an_interrupted_create_never_stored_at_infakt_is_absent_once_the_list_is_trusted(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.status(502, method="POST")  # a gateway error: nothing was accepted, but we cannot know it
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    early = settle(adapter, plan, InterruptedAttempt(listing_complete_in=600.0), fake=fake)
    assert (early.outcome, early.retry_after) == (SettlementOutcome.NOT_YET, 600.0)
    assert settle(adapter, plan, fake=fake).outcome == SettlementOutcome.ABSENT
    adapter.create_document(plan)  # sent once more: one document
    fake.settle_tasks()
    assert len(fake.account(account["key"]).invoices) == 1


def test_a_poll_that_fails_after_the_task_was_accepted_is_settled_by_the_task(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.faults.status(500, method="GET", path=r".*/status/.*")
    with pytest.raises(RequestMayHaveSucceeded) as lost:
        adapter.create_document(plan)
    [task] = fake.account(account["key"]).tasks
    assert lost.value.task_reference == task
    fake.processing_polls = 5
    try:
        waiting = settle(adapter, plan, InterruptedAttempt(task_reference=task), fake=fake)
    finally:
        fake.processing_polls = 1
    assert (waiting.outcome, waiting.by) == (SettlementOutcome.NOT_YET, SettledBy.TASK)
    fake.settle_tasks()
    before = fake.requests.count()
    found = settle(adapter, plan, InterruptedAttempt(task_reference=task), fake=fake)
    [invoice] = fake.account(account["key"]).invoices.values()
    assert (found.outcome, found.by, found.found.provider_document_id) == (
        SettlementOutcome.FOUND, SettledBy.TASK, invoice["uuid"])
    assert lists_since(fake, before) == 0  # the task told: no list needed


def test_a_task_that_failed_proves_nothing_was_created(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    body = adapter.fit_texts(adapter.build_request(plan)).body  # no zw lines: no exemption to look up
    body["invoice"]["payment_method"] = "bitcoin"  # refused by the task, as a create inFakt rejects later
    task = api(fake, account, "POST", "/async/invoices.json", json=body).json()["invoice_task_reference_number"]
    fake.settle_tasks()
    settlement = settle(adapter, plan, InterruptedAttempt(task_reference=task), fake=fake)
    assert (settlement.outcome, settlement.by) == (SettlementOutcome.ABSENT, SettledBy.TASK)
    assert "payment_method" in settlement.reason


def test_a_repeat_order_of_the_same_buyer_day_and_amount_is_not_taken_for_ours(fake, account) -> None:
    adapter = make_adapter(fake, account)
    first = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="ORDER-1")).reference
    repeat = plan_for(adapter, "01-invoice-company.json", document_id="ORDER-2")
    assert settle(adapter, repeat, fake=fake).outcome == SettlementOutcome.ABSENT  # ORDER-1 carries its own
    fake.faults.stall_after_commit(2.0, method="POST")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(repeat)
    fake.settle_tasks()
    found = settle(adapter, repeat, fake=fake).found
    assert found is not None and found.provider_document_id != first.provider_document_id
    assert stored(fake, account, found)["notes"].endswith("ref: ORDER-2")


def test_notes_edited_by_the_merchant_leave_the_document_undecided_with_the_candidates(fake, account) -> None:
    adapter = make_adapter(fake, account)
    plan = plan_for(adapter, "01-invoice-company.json")
    created = adapter.create_document(plan).reference
    # Edited in inFakt's application (the fake's stored document; an API edit would rebuild its lines).
    stored(fake, account, created)["notes"] = "Dziękujemy!"
    settlement = settle(adapter, plan, fake=fake)
    assert settlement.outcome == SettlementOutcome.UNDECIDED
    assert settlement.candidates == ({"provider_document_id": created.provider_document_id,
                                      "number": created.number, "reference": "no reference of ours"},)


def test_another_days_or_amounts_documents_and_other_kinds_are_never_candidates(fake, account) -> None:
    adapter = make_adapter(fake, account)
    adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="OTHER-DAY",
                                     issue_date="2026-11-21", sale_date="2026-11-21"))
    adapter.create_document(plan_for(adapter, "04-invoice-eur.json", document_id="OTHER-AMOUNT"))
    plan = plan_for(adapter, "01-invoice-company.json")
    for invoice in fake.account(account["key"]).invoices.values():
        invoice["notes"] = "bez referencji"  # even without our reference: another day or amount, not ours
    settlement = settle(adapter, plan, fake=fake)
    assert (settlement.outcome, settlement.candidates) == (SettlementOutcome.ABSENT, ())


def test_a_task_still_running_after_the_poll_budget_is_handed_to_the_look_up(fake, account) -> None:
    adapter = make_adapter(fake, account, numbering="ours")
    plan = plan_for(adapter, "01-invoice-company.json")
    fake.processing_polls = 50
    try:
        with pytest.raises(RequestMayHaveSucceeded, match="still processing"):
            adapter.create_document(plan)
    finally:
        fake.processing_polls = 1
    assert adapter.find_document(plan) is None  # not processed yet: nothing to find, nothing wrong
    fake.settle_tasks()
    assert adapter.find_document(plan) is not None


# --------------------------------------------------------------------------- PDF


def test_pdf_has_the_number_and_totals_and_changes_after_an_edit(fake, account) -> None:
    adapter = make_adapter(fake, account)
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    first = adapter.download_pdf(reference.provider_document_id)
    assert first.startswith(b"%PDF") and b"1/11/2026" in first and b"Razem brutto: 130.47 PLN" in first
    edited = api(fake, account, "PUT", f"/invoices/{reference.provider_document_id}.json",
                 json={"invoice": {"client_company_name": "Hurtownia Zielony Liść S.A."}})
    assert edited.status_code == 200, edited.text
    assert adapter.download_pdf(reference.provider_document_id) != first


def test_a_correction_pdf_comes_from_the_corrective_resource(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    correction = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original)).reference
    pdf = adapter.download_pdf(correction.provider_document_id)
    assert b"Korekta do: 1/11/2026" in pdf and b"Razem brutto: -29.99 PLN" in pdf


# --------------------------------------------------------------------------- recurring problems (facts, section 4)


def test_recurring_1_amounts_travel_as_integer_grosze_never_decimals(fake, account) -> None:
    adapter = make_adapter(fake, account)
    body = adapter.build_request(plan_for(adapter, "01-invoice-company.json"))
    prices = [s["gross_price"] for s in body["invoice"]["services"]]
    assert prices == [5998, 5550, 1499] and all(type(price) is int for price in prices)
    # The fake refuses what made other integrations' invoices 100x too low, in inFakt's task shape.
    body["invoice"]["services"][0]["gross_price"] = "59.98"
    task = api(fake, account, "POST", "/async/invoices.json", json=body).json()
    fake.settle_tasks()
    status = api(fake, account, "GET", f"/async/invoices/status/{task['invoice_task_reference_number']}.json").json()
    assert status["processing_code"] == 422
    assert status["invoice_errors"] == {"services.gross_price": ["musi być liczbą całkowitą (kwota w groszach)"]}


def test_recurring_1_a_correction_also_sends_integer_grosze(fake, account) -> None:
    adapter = make_adapter(fake, account)
    corrected = ProviderReference("5b7f2f8e-0000-4000-8000-000000000000", "1/11/2026")
    body = adapter.build_request(plan_for(adapter, "05-correction.json", corrected=corrected))
    assert all(type(s["gross_price"]) is int for s in body["corrective_invoice"]["services"])


def test_recurring_2_no_silent_tax_rate_fallback_and_only_infakt_payment_values(fake, account) -> None:
    adapter = make_adapter(fake, account)
    message = load_example("01-invoice-company.json")
    message["document"]["lines"][2]["vat"] = "oo"
    message["document"]["totals"] = {"net": "116.61", "vat": "13.86", "gross": "130.47"}
    plan = plan_export(ExportMessage.model_validate(message).document, adapter.settings, InfaktAdapter)
    with pytest.raises(ConfigurationError) as caught:
        adapter.build_request(plan)  # never guessed as 23% or np
    assert caught.value.code == "unsupported_vat_code" and "oo" in caught.value.message
    # Fakturownia's "cash_on_delivery" is inFakt's "delivery": refused before anything is sent.
    cod = make_adapter(fake, account, payment_links={"Przelew": "cash_on_delivery", "Karta": "card"})
    with pytest.raises(ConfigurationError) as caught:
        cod.create_document(plan_for(cod, "01-invoice-company.json"))
    assert caught.value.code == "unsupported_payment_type" and "delivery" in caught.value.fix
    assert fake.account(account["key"]).tasks == {}


def test_recurring_3_fractional_prices_are_never_float_strings(fake, account) -> None:
    adapter = make_adapter(fake, account)
    lines = [{"line_id": "l1", "name": "Próbka", "quantity": "3", "unit_price": "0.3333", "vat": "23"}]
    plan = plan_for(adapter, "01-invoice-company.json", price_basis="net", lines=lines,
                    totals={"net": "1.00", "vat": "0.23", "gross": "1.23"})
    [service] = adapter.build_request(plan)["invoice"]["services"]
    assert service == {"name": "Próbka", "tax_symbol": "23", "unit": "szt.", "quantity": "3", "net_price": 100}
    created = adapter.create_document(plan)
    assert stored(fake, account, created.reference)["gross_price"] == 123


def test_recurring_3_a_correction_task_is_read_from_the_corrective_resource(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    fake.requests.clear()
    adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original))
    # The fake logs a request once it has answered it, so the original's last read may still land
    # after clear(): look from the correction's create on.
    paths = [entry.path for entry in fake.requests.entries()]
    correction = paths[paths.index("/api/v3/async/corrective_invoices.json"):]
    assert all(p.startswith("/api/v3/async/corrective_invoices/status/") for p in correction[1:-1])
    assert correction[-1].startswith("/api/v3/corrective_invoices/")
    assert "/api/v3/async/invoices.json" not in paths


def test_recurring_correction_is_never_created_as_a_plain_invoice(fake, account) -> None:
    adapter = make_adapter(fake, account)
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    plan = plan_for(adapter, "05-correction.json", corrected=original)
    body = adapter.build_request(plan)
    assert set(body) == {"corrective_invoice", "send_to_ksef"}
    # The same body posted to the invoice endpoint is refused by the fake, not turned into an invoice.
    wrong = api(fake, account, "POST", "/async/invoices.json", json=body)
    assert wrong.status_code == 400
    created = adapter.create_document(plan)
    assert created.readback is not None and created.readback.is_correction
    assert len(fake.account(account["key"]).invoices) == 1  # only the original


def test_recurring_4_ksef_lifecycle_sent_then_success_with_its_number_and_never_from_a_draft(fake, account) -> None:
    adapter = make_adapter(fake, account, ksef="send_on_export")
    plan = plan_for(adapter, "01-invoice-company.json")
    assert adapter.build_request(plan)["send_to_ksef"] is True
    fake.account(account["key"]).ksef_reads_until_final = 2  # the create's own read-back is one
    reference = adapter.create_document(plan).reference
    document = stored(fake, account, reference)
    assert document["status"] != "draft"  # issued: a draft would stop at KSeF or be printed by it
    assert document["ksef_data"]["status"] == "sent"
    assert adapter.ksef_status(reference.provider_document_id).state == KsefState.PENDING
    accepted = adapter.ksef_status(reference.provider_document_id)
    assert accepted.state == KsefState.ACCEPTED
    assert accepted.ksef_number == stored(fake, account, reference)["ksef_data"]["ksef_number"]
    assert fake.account(account["key"]).ksef_submissions == {document["uuid"]: 1}
    # Review drafts and send on export contradict each other: refused with what to do.
    drafts = make_adapter(fake, account, ksef="send_on_export", options={"create_as_draft": True})
    with pytest.raises(ConfigurationError) as caught:
        drafts.build_request(plan_for(drafts, "01-invoice-company.json"))
    assert caught.value.code == "unsupported_ksef" and "create_as_draft" in caught.value.message
    plain = make_adapter(fake, account)
    assert plain.build_request(plan_for(plain, "01-invoice-company.json"))["send_to_ksef"] is False


def test_recurring_5_a_drafts_pdf_is_not_downloaded_because_it_would_print_it(fake, account) -> None:
    adapter = make_adapter(fake, account, options={"create_as_draft": True})
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    assert stored(fake, account, reference)["status"] == "draft"
    with pytest.raises(PermanentError) as caught:
        adapter.download_pdf(reference.provider_document_id)
    assert caught.value.code == "provider_document_is_draft"
    assert stored(fake, account, reference)["status"] == "draft"  # untouched
    # The fake models the side effect the adapter avoids.
    api(fake, account, "GET", f"/invoices/{reference.provider_document_id}/pdf.json",
        params={"document_type": "original"})
    assert stored(fake, account, reference)["status"] == "printed"


def test_recurring_6_put_with_services_replaces_every_line_so_the_adapter_never_edits(fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.requests.clear()
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    adapter.download_pdf(reference.provider_document_id)
    assert "PUT" not in {entry.method for entry in fake.requests.entries()}
    # What an edit would do (documented): the lines not sent again are gone.
    replaced = api(fake, account, "PUT", f"/invoices/{reference.provider_document_id}.json", json={"invoice": {
        "services": [{"name": "Wysyłka kurierem", "tax_symbol": "23", "quantity": "1", "gross_price": 1499}]}})
    assert [s["name"] for s in replaced.json()["services"]] == ["Wysyłka kurierem"]


def test_recurring_7_an_unverified_bank_account_is_never_sent_and_its_refusal_is_named(fake, account) -> None:
    adapter = make_adapter(fake, account)
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    assert "bank_account" not in adapter.build_request(plan_for(adapter, "01-invoice-company.json"))["invoice"]
    fake.add_bank_account(account["key"], "PL61109010140000071219812874", verified=False)
    refused = api(fake, account, "PUT", f"/invoices/{reference.provider_document_id}.json",
                  json={"invoice": {"bank_account": "PL61109010140000071219812874"}})
    assert refused.status_code == 422
    rejection = InfaktAdapter.read_rejection(refused)
    assert "inFakt rejected bank_account" in rejection.message
    assert "add and verify it in the app" in rejection.fix


# --------------------------------------------------------------------------- KSeF (infakt/API ksef.md)


def test_ksef_is_declared_and_a_correction_goes_with_its_own_resource(fake, account) -> None:
    assert InfaktAdapter.capabilities.ksef_send and InfaktAdapter.capabilities.ksef_read_back
    fake.account(account["key"]).ksef_reads_until_final = 2  # the create's own read-back is one
    adapter = make_adapter(fake, account, ksef="send_on_export")
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    correction = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original)).reference
    assert correction.provider_document_id.startswith("correction:")
    assert adapter.ksef_status(correction.provider_document_id).state == KsefState.PENDING
    assert adapter.ksef_status(correction.provider_document_id).state == KsefState.ACCEPTED


def test_ksef_rejection_carries_infakts_description(fake, account) -> None:
    fake.account(account["key"]).ksef_rejects = "Błąd weryfikacji semantyki dokumentu: NIP nabywcy"
    fake.account(account["key"]).ksef_reads_until_final = 0
    adapter = make_adapter(fake, account, ksef="send_on_export")
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    status = adapter.ksef_status(reference.provider_document_id)
    assert status.state == KsefState.REJECTED and "NIP nabywcy" in (status.message or "")


def test_ksef_status_of_a_document_never_sent_is_not_sent_and_sending_it_is_guarded(fake, account) -> None:
    fake.account(account["key"]).ksef_reads_until_final = 5
    adapter = make_adapter(fake, account, ksef="provider_sends")
    plan = plan_for(adapter, "01-invoice-company.json")
    assert adapter.build_request(plan)["send_to_ksef"] is False  # the accounting system sends, never us
    reference = adapter.create_document(plan).reference
    assert adapter.ksef_status(reference.provider_document_id).state == KsefState.NOT_SENT
    assert adapter.send_to_ksef_once(reference.provider_document_id) is True
    assert fake.requests.count("POST", r"/api/v3/invoices/[0-9a-f-]+/send_to_ksef\.json") == 1
    # In flight now: a second send is not even asked for (inFakt would refuse it too).
    assert adapter.send_to_ksef_once(reference.provider_document_id) is False
    uuid = reference.provider_document_id
    assert fake.account(account["key"]).ksef_submissions == {uuid: 1}
    again = api(fake, account, "POST", f"/invoices/{uuid}/send_to_ksef.json")
    assert again.status_code == 422


def test_ksef_without_an_integration_is_a_clear_rejection(fake, account) -> None:
    fake.account(account["key"]).ksef_connected = False
    adapter = make_adapter(fake, account, ksef="send_on_export")
    reference = adapter.create_document(plan_for(adapter, "01-invoice-company.json")).reference
    status = adapter.ksef_status(reference.provider_document_id)
    assert status.state == KsefState.REJECTED and "nie jest zintegrowany z KSeF" in (status.message or "")
    with pytest.raises(ProviderRejected) as caught:
        adapter.send_to_ksef(reference.provider_document_id)
    assert "nie jest zintegrowany z KSeF" in caught.value.message


# --------------------------------------------------------------------------- per-line discounts


def test_a_gross_priced_per_rate_invoice_is_created_with_infakts_split_of_our_gross(fake, account) -> None:
    adapter = make_adapter(fake, account)
    lines = load_example(GROSS_PER_LINE_EXAMPLE)["document"]["lines"]
    plan = plan_for(adapter, GROSS_PER_LINE_EXAMPLE, vat_calculation="per_rate",
                    totals=computed_totals(lines, "gross", "per_rate"))  # refused before
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    assert plan.vat_split is not None
    theirs = plan.vat_split.theirs  # inFakt adds each line's VAT
    assert tuple(Decimal(invoice[f"{part}_price"]) / 100 for part in ("net", "tax", "gross")) == (
        theirs.net, theirs.vat, plan.document.totals.gross)
    split = settle_vat_split(plan.document, plan.vat_split, created.readback)
    assert split is not None and split.read_back and compare(plan.document, created.readback, None, split) == []


def test_net_prices_computed_per_rate_are_refused_before_sending_as_another_amount_due(fake, account) -> None:
    adapter = make_adapter(fake, account)
    lines = NET_LINES_VAT_BY_METHOD
    with pytest.raises(ConfigurationError) as refused:
        plan_for(adapter, "01-invoice-company.json", lines=lines, price_basis="net", vat_calculation="per_rate",
                 totals=computed_totals(lines, "net", "per_rate"))
    assert refused.value.code == "provider_gross_differs" and "41.07 instead of our 41.06" in refused.value.message


def test_a_discounted_invoice_is_exported_with_our_exact_totals(fake, account) -> None:
    adapter = make_adapter(fake, account)
    # inFakt computes VAT per line: the document says so too.
    plan = discounted_plan(adapter, "per_line")
    created = adapter.create_document(plan)
    invoice = stored(fake, account, created.reference)
    field = "gross_price" if plan.document.price_basis.value == "gross" else "net_price"
    assert [s[field] for s in invoice["services"]][:2] == [2885, 951]
    ours = plan.document.totals
    assert tuple(Decimal(invoice[f"{part}_price"]) / 100 for part in ("net", "tax", "gross")) == (
        ours.net, ours.vat, ours.gross)
    assert created.readback is None or created.readback.net == ours.net


# --------------------------------------------------------------------------- a document inFakt keeps a draft


@pytest.fixture(scope="module")
def draft_fake():
    """inFakt read the readme's way: every document is created as a draft, whatever `status` says."""
    yield from running_fake(create_status="always_draft")


@pytest.fixture
def draft_account(draft_fake):
    return new_account(draft_fake)


def test_an_unpaid_invoice_kept_a_draft_is_booked_and_its_pdf_is_fetched(draft_fake, draft_account) -> None:
    """Issue 14: a draft inFakt kept against our "printed" is moved on, never left without a PDF."""
    adapter = make_adapter(draft_fake, draft_account)
    created = adapter.create_document(plan_for(adapter, "01-invoice-company.json"))
    uuid = created.reference.provider_document_id
    assert created.warnings == ()
    assert draft_fake.account(draft_account["key"]).accounted == {uuid}  # PUT .../mark_as_accounted.json
    assert adapter.download_pdf(uuid).startswith(b"%PDF")
    assert stored(draft_fake, draft_account, created.reference)["status"] == "printed"  # the download printed it


def test_a_paid_invoice_kept_a_draft_is_marked_paid_on_our_date(draft_fake, draft_account) -> None:
    adapter = make_adapter(draft_fake, draft_account)
    created = adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json"))
    invoice = stored(draft_fake, draft_account, created.reference)
    assert (invoice["status"], invoice["paid_date"], invoice["left_to_pay"]) == ("paid", "2026-11-20", 0)
    assert created.warnings == () and draft_fake.account(draft_account["key"]).accounted == set()


def test_a_draft_that_cannot_be_moved_on_is_exported_with_what_to_do(draft_fake, draft_account) -> None:
    adapter = make_adapter(draft_fake, draft_account)
    draft_fake.faults.status(503, path=r"/api/v3/async/invoices/[0-9a-f-]+/paid\.json")
    created = adapter.create_document(plan_for(adapter, "03-invoice-exempt-person.json", document_id="ZW-FAIL"))
    assert stored(draft_fake, draft_account, created.reference)["status"] == "draft"
    [warning] = created.warnings
    assert f"invoice {created.reference.number} as a draft (not 'paid')" in warning
    assert "mark it paid on 2026-11-20 in inFakt" in warning
    original = adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id="FV-KOR"))
    correction = adapter.create_document(plan_for(adapter, "05-correction.json", corrected=original.reference))
    [warning] = correction.warnings  # no documented call moves a correction on
    assert "correction" in warning and "no call" in warning and "issue it in inFakt" in warning
    assert adapter.download_pdf(correction.reference.provider_document_id).startswith(b"%PDF")


def test_with_the_status_honoured_nothing_more_is_called(fake, account) -> None:
    adapter = make_adapter(fake, account)
    fake.requests.clear()
    for name in ("01-invoice-company.json", "03-invoice-exempt-person.json"):
        created = adapter.create_document(plan_for(adapter, name))
        assert stored(fake, account, created.reference)["status"] in ("printed", "paid") and created.warnings == ()
    assert not fake.requests.entries(path=r".*(/paid|/mark_as_accounted)\.json")
    assert fake.account(account["key"]).accounted == set()
