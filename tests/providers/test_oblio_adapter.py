"""Contract tests: the Oblio adapter against the strict local fake of Oblio's API (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import date
from decimal import Decimal

import pytest
from logcapture import captured_log_lines

from invoice_export.domain.account_settings import AccountSettings, KsefMode, Numbering
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
from invoice_export.domain.provider_contract import KsefState
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.readback import compare, home_vat_record
from invoice_export.platform.rate_limiter import SlidingWindowLimiter
from invoice_export.providers import build_adapter
from invoice_export.providers.oblio import adapter as oblio
from invoice_export.providers.oblio.adapter import TOKENS, OblioAdapter
from local.fakes.common import ManualClock
from local.fakes.oblio import OblioFake
from testsupport import (
    ROMANIAN_FOLDED_LINES,
    SharedTime,
    invoice_and_storno_changes,
    load_example,
    plan_for,
    rate_limits_table,
    valid_cui,
    with_changes,
)

CIF = "RO37311090"
INVOICE, PAID, EUR, EXEMPT, STORNO = (f"ro/{name}" for name in (
    "01-invoice-company.json", "02-invoice-person-paid.json", "03-invoice-eur.json",
    "04-invoice-exempt-and-zero.json", "05-storno.json"))


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def fake(clock):
    # The rate-limit rules are off here (every test sends at the same instant of the manual clock);
    # test_the_declared_windows_never_reach_either_rule_or_the_block runs them.
    with OblioFake(clock=clock, burst_block=False, windowed_limits=False) as server:
        yield server


@pytest.fixture
def login(fake) -> dict[str, str]:
    """A fresh Oblio login per test with one company and its standard series (FCT for invoices)."""
    email = f"shop-{secrets.token_hex(4)}@example.ro"
    secret = secrets.token_hex(16)
    fake.add_account(email, secret)
    cif = f"RO{valid_cui()}"
    fake.add_company(email, cif, "Magazin Demo SRL")
    return {"client_id": email, "client_secret": secret, "cif": cif}



def make_adapter(fake, login, **settings_changes) -> OblioAdapter:
    settings = AccountSettings.model_validate({
        "account_id": "shop-ro", "provider": "oblio", "home_currency": "RON", "api_url": fake.base_url,
        "series_links": {"FV": "FCT", "ST": "FCT"},
        "payment_links": {"Transfer bancar": "Ordin de plata", "Card": "Card"}, **settings_changes})
    adapter = build_adapter(settings, login, read_timeout=1.0)
    assert isinstance(adapter, OblioAdapter)
    return adapter


def stored(fake, login, reference):
    [document] = [d for d in fake.documents(login["cif"]) if str(d.id) == reference.provider_document_id]
    return document


# ----------------------------------------------------------------------- create and read-back


def test_company_invoice_goes_with_romanian_vat_names_and_oblio_computes_our_totals(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, INVOICE)
    created = adapter.create_document(plan)
    document = stored(fake, login, created.reference)
    assert created.reference.number == f"FCT {document.number_text}" and created.reference.series == "FCT"
    assert document.idempotency_key == "RO-FV-2026-11-0001:v1"
    assert (document.issue_date, document.due_date, document.delivery_date) == (
        date(2026, 11, 20), date(2026, 12, 4), date(2026, 11, 19))
    assert document.client | {"clientId": ""} == {
        "cif": "RO18547290", "rc": "", "code": "", "address": "Str. Memorandumului 28", "state": "Cluj",
        "city": "Cluj-Napoca", "country": "RO", "iban": "", "bank": "", "email": "contabilitate@ceainariaverde.example",
        "phone": "", "contact": "", "name": "Ceainăria Verde SRL", "vatPayer": True, "clientId": ""}
    assert [(line.name, line.quantity, line.price, line.vat_name, line.vat_percentage, line.vat_included)
            for line in document.lines] == [
        ("Cană ceramică 300 ml", 2, Decimal("49.99"), "Normala", 21, True),
        ("Ceai verde 100 g", 3, Decimal("24.50"), "Redusa", 11, True),
        ("Livrare prin curier", 1, Decimal("19.99"), "Normala", 21, True)]
    # Oblio computed its totals on its own: they equal ours to the ban, and the read-back shows them.
    assert (document.net_total, document.vat_total, document.total) == (
        plan.document.totals.net, plan.document.totals.vat, plan.document.totals.gross)
    assert created.readback is not None and created.readback.gross == Decimal("193.47")
    assert created.readback.currency == "RON" and created.readback.net is None  # the list has the gross only
    assert compare(plan.document, created.readback, None) == [] and created.warnings == ()


def test_a_paid_invoice_is_collected_and_a_discount_keeps_our_line_value(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, PAID)
    created = adapter.create_document(plan)
    document = stored(fake, login, created.reference)
    [collect] = document.collects
    assert (collect.type, collect.number, collect.value, collect.issue_date) == (
        "Card", "CMD-20002", Decimal("121.89"), "2026-11-20")
    # 29.00 less 10 % = 26.10 sent as the price: Oblio's line value is ours.
    assert document.lines[1].price == Decimal("26.1") and document.lines[1].gross == Decimal("26.10")
    assert document.client["state"] == "Bucuresti" and document.client["city"] == "Sector 3"
    assert document.client["vatPayer"] is False and document.client["cif"] == ""
    assert document.total == plan.document.totals.gross


def test_a_foreign_currency_invoice_carries_our_rate_to_ron_and_reads_it_back(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, EUR)
    created = adapter.create_document(plan)
    document = stored(fake, login, created.reference)
    assert (document.currency, document.exchange_rate) == ("EUR", Decimal("5.0900"))
    assert [line.vat_included for line in document.lines] == [False]  # net prices
    assert created.readback.currency == "EUR" and created.readback.exchange_rate == Decimal("5.09")
    assert compare(plan.document, created.readback, None) == []
    # The VAT in RON (Codul fiscal art. 319 alin. (23)) is ours: Oblio's list returns no VAT to compare.
    assert created.readback.vat_in_home_currency is None
    assert home_vat_record(plan.document, created.readback) == {
        "21": "224.47", "total": "224.47", "exchange_rate": "5.0900", "table_id": "BNR 19.11.2026",
        "currency": "RON", "checked": "no"}
    fake.set_exchange_rate(login["cif"], "EUR", "4.9000")  # the company's own rate is not what we send
    again = adapter.create_document(plan_for(adapter, EUR, document_id="EUR-2"))
    assert stored(fake, login, again.reference).exchange_rate == Decimal("5.0900")


def test_zero_rated_and_exempt_lines_take_sdd_and_sfdd_and_the_legal_basis_is_printed(fake, login) -> None:
    adapter = make_adapter(fake, login)
    created = adapter.create_document(plan_for(adapter, EXEMPT))
    document = stored(fake, login, created.reference)
    assert [(line.vat_name, line.vat_percentage) for line in document.lines] == [("SFDD", 0), ("SDD", 0)]
    assert document.texts["mentions"] == "Scutit de TVA: art. 292 alin. (2) lit. a) pct. 4 din Codul fiscal"
    assert document.total == Decimal("199.00")


def test_a_full_reversal_is_a_storno_of_the_original_and_reads_back_as_a_correction(fake, login) -> None:
    adapter = make_adapter(fake, login)
    original = adapter.create_document(plan_for(adapter, INVOICE))
    plan = plan_for(adapter, STORNO, corrected=original.reference)
    assert adapter.build_request(plan) == {
        "cif": login["cif"], "seriesName": "FCT", "issueDate": "2026-11-23",
        "idempotencyKey": "RO-ST-2026-11-0001:v1",
        "referenceDocument": {"type": "Factura", "seriesName": "FCT", "number": original.reference.number[4:]}}
    created = adapter.create_document(plan)
    storno = stored(fake, login, created.reference)
    assert storno.reference == ("Factura", "FCT", stored(fake, login, original.reference).number)
    assert storno.total == Decimal("-193.47") == plan.document.totals.gross
    assert created.readback.is_correction and compare(plan.document, created.readback, "any") == []
    with pytest.raises(ProviderRejected, match="deja stornata") as caught:  # Oblio reverses an invoice once
        adapter.create_document(plan_for(adapter, STORNO, corrected=original.reference, document_id="ST-2"))
    assert "the corrected document at Oblio" in caught.value.fix


def test_gross_prices_whose_vat_oblio_splits_another_way_are_sent_with_both_splits(fake, login) -> None:
    adapter = make_adapter(fake, login)
    # At 21 % and 11 % the two splits never differ (no gross of whole bani puts that VAT on a half ban);
    # at a rate like the former 20 % they can: 0.15 x 20/120 = 0.025 -> VAT 0.03, 0.15 / 1.2 = 0.125 -> net 0.13.
    line = {"line_id": "l1", "name": "Ceai", "quantity": "1", "unit": "buc", "unit_price": "0.15", "vat": "20"}
    message = with_changes(load_example(INVOICE), lines=[line],
                           totals={"net": "0.12", "vat": "0.03", "gross": "0.15"})
    document = ExportMessage.model_validate(message).document
    plan = plan_export(document, adapter.settings, OblioAdapter)
    # The same 0.15 due either way: sent, with Oblio's split (0.13 + 0.02) recorded beside ours.
    assert plan.vat_split is not None and plan.vat_split.theirs.net == Decimal("0.13")
    strict = make_adapter(fake, login, totals_policy="strict")
    with pytest.raises(ConfigurationError, match="Oblio splits gross amounts") as caught:
        plan_export(document, strict.settings, OblioAdapter)
    assert caught.value.code == "provider_totals_would_differ"
    assert "net 0.13 instead of our 0.12" in caught.value.message


# ----------------------------------------------------------------------- look-up: the idempotency key


def test_a_create_whose_answer_was_lost_is_settled_by_its_idempotency_key(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, INVOICE)
    fake.faults.reset(after_commit=True, method="POST", path=r"/api/docs/invoice")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    [made] = fake.documents(login["cif"])
    found = adapter.find_document(plan)  # the retry's look-up: the same create, the same key
    assert found is not None and found.provider_document_id == str(made.id)
    assert len(fake.documents(login["cif"])) == 1
    # A create that never arrived is made by the look-up itself, once.
    other = plan_for(adapter, PAID)
    assert adapter.find_document(other) is not None and len(fake.documents(login["cif"])) == 2
    assert adapter.create_document(other).reference.provider_document_id == str(fake.documents(login["cif"])[1].id)
    assert len(fake.documents(login["cif"])) == 2


def test_a_failed_read_back_after_the_create_is_a_warning_never_an_error(fake, login) -> None:
    adapter = make_adapter(fake, login)
    fake.faults.status(503, method="GET", path=r"/api/docs/invoice/list", times=3)  # beyond the read retries
    created = adapter.create_document(plan_for(adapter, INVOICE))
    assert created.readback is None and "could not be read back" in created.warnings[0]
    assert len(fake.documents(login["cif"])) == 1


# ----------------------------------------------------------------------- PDF, lists, credentials


def test_the_pdf_comes_from_the_documents_link_without_its_secret_in_any_log(fake, login) -> None:
    adapter = make_adapter(fake, login)
    created = adapter.create_document(plan_for(adapter, INVOICE))
    with captured_log_lines() as logs:
        pdf = adapter.download_pdf(created.reference.provider_document_id)
    assert pdf.startswith(b"%PDF") and created.reference.number.encode() in pdf
    link_token = stored(fake, login, created.reference).link_token
    assert link_token not in logs.text and "/utils/show_file/" in logs.text
    with pytest.raises(ProviderRejected, match="lists no document with id 1"):
        adapter.download_pdf("1")


def test_reconciliation_lists_the_periods_invoices_page_by_page_and_stornos_as_corrections(fake, login) -> None:
    adapter = make_adapter(fake, login)
    originals = [adapter.create_document(plan_for(adapter, INVOICE, document_id=f"INV-{n}")) for n in range(101)]
    adapter.create_document(plan_for(adapter, STORNO, corrected=originals[0].reference))
    adapter.create_document(plan_for(adapter, INVOICE, document_id="LATER", issue_date="2026-12-01",
                                     payment={"method": "Transfer bancar"}))
    listed = adapter.list_documents(date(2026, 11, 1), date(2026, 11, 30))
    assert len(listed) == 102  # two pages; December's invoice is outside the period
    assert [d.provider_document_id for d in listed[:101]] == [o.reference.provider_document_id for o in originals]
    assert (listed[-1].kind, listed[-1].gross, listed[-1].net) == ("correction", Decimal("-193.47"), None)
    assert {d.kind for d in listed[:101]} == {"invoice"} and listed[0].number == originals[0].reference.number


def test_series_payment_types_and_the_credentials_check(fake, login) -> None:
    fake.add_series(login["cif"], "Factura", "WEB", next_number=17)
    adapter = make_adapter(fake, login)
    assert [(o.id, o.name) for o in adapter.list_series()] == [("FCT", "FCT (next 0001)"), ("WEB", "WEB (next 0017)")]
    assert "Ordin de plata" in [o.id for o in adapter.list_payment_types()]
    assert "Chitanta" not in [o.id for o in adapter.list_payment_types()]  # it needs a receipt series
    adapter.check_credentials()
    with pytest.raises(CredentialsRejected, match="refused the login e-mail and API secret"):
        make_adapter(fake, {**login, "client_secret": "wrong"}).check_credentials()
    with pytest.raises(ConfigurationError, match="no company with CIF RO18547290") as caught:
        make_adapter(fake, {**login, "cif": "RO18547290"}).check_credentials()
    assert caught.value.code == "unknown_company"


# ----------------------------------------------------------------------- the token


def test_one_token_per_credentials_is_shared_renewed_before_expiry_and_never_logged(fake, login, monkeypatch) -> None:
    ours = ManualClock()
    monkeypatch.setattr(TOKENS, "clock", ours)
    with captured_log_lines() as logs:
        for _ in range(2):  # two adapters of the same credentials, as two documents would build them
            adapter = make_adapter(fake, login)
            adapter.list_series()
            adapter.check_credentials()
        assert fake.tokens_issued(login["client_id"]) == 1
        ours.advance(3600 - 299)  # inside the 300 s renewal margin before the hour is up
        adapter.list_series()
    assert fake.tokens_issued(login["client_id"]) == 2
    assert login["client_secret"] not in logs.text and "Bearer" not in logs.text
    assert not any(token in logs.text for token in fake._tokens)
    assert login["client_secret"] not in repr(adapter.http.session.auth)


def test_a_token_oblio_expired_or_revoked_early_is_renewed_once(fake, login, clock) -> None:
    adapter = make_adapter(fake, login)
    adapter.list_series()
    clock.advance(3600)  # Oblio's clock says expired; ours still trusts the token
    assert adapter.list_series()
    assert fake.tokens_issued(login["client_id"]) == 2
    revoking = OblioFake(clock=clock, burst_block=False, windowed_limits=False, single_active_token=True)
    with revoking:
        revoking.add_account(login["client_id"], login["client_secret"])
        revoking.add_company(login["client_id"], login["cif"])
        first, second = (make_adapter(revoking, login) for _ in range(2))
        first.list_series()
        TOKENS.drop(oblio.token_key(first.credentials))
        second.list_series()  # a new token revokes the first adapter's (single_active_token)
        first.list_series()  # its cached token is the new one anyway: one process, one cache
        assert revoking.tokens_issued(login["client_id"]) == 2


# ----------------------------------------------------------------------- each error class


def test_a_refusal_names_oblios_field_and_ours(fake, login) -> None:
    adapter = make_adapter(fake, login, series_links={"FV": "NOPE", "ST": "FCT"})
    with pytest.raises(ProviderRejected, match="seriesName: seria 'NOPE' nu exista") as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert "seriesName" in caught.value.field_errors and "the account's series link" in caught.value.fix
    buyer = load_example(INVOICE)["document"]["buyer"]
    atlantis = {**buyer, "address": {**buyer["address"], "region": "Atlantis"}}
    adapter = make_adapter(fake, login)
    with pytest.raises(ProviderRejected, match="client.state") as caught:
        adapter.create_document(plan_for(adapter, INVOICE, buyer=atlantis))
    assert caught.value.fix == "correct document.buyer.address.region and retry the document"
    assert fake.documents(login["cif"]) == []


@pytest.mark.parametrize("fault, error", [
    ({"kind": "status", "status": 500}, RequestMayHaveSucceeded),  # may hide a created document
    ({"kind": "status", "status": 503}, TransientError),
    ({"kind": "reset"}, RequestMayHaveSucceeded),  # the connection dropped: it may have arrived
])
def test_provider_failures_on_create_are_transient_and_say_whether_it_may_exist(fake, login, fault, error) -> None:
    adapter = make_adapter(fake, login)
    adapter.list_series()  # a token first: the fault is for the create
    fake.faults.add(method="POST", path=r"/api/docs/invoice", **fault)
    with pytest.raises(error) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert (caught.type is RequestMayHaveSucceeded) == (error is RequestMayHaveSucceeded)


def test_a_rate_limit_refusal_waits_out_the_documented_block(fake, login) -> None:
    adapter = make_adapter(fake, login)
    adapter.list_series()
    fake.faults.rate_limited(method="POST", path=r"/api/docs/invoice")
    with pytest.raises(TransientError) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert caught.value.code == "provider_rate_limited" and caught.value.retry_after == 600


def test_a_lost_token_answer_creates_nothing_and_is_plainly_transient(fake, login) -> None:
    fake.faults.reset(after_commit=True, method="POST", path=r"/api/authorize/token")
    with pytest.raises(TransientError) as caught:
        make_adapter(fake, login).create_document(plan_for(make_adapter(fake, login), INVOICE))
    assert not isinstance(caught.value, RequestMayHaveSucceeded) and fake.documents(login["cif"]) == []


# ----------------------------------------------------------------------- capability refusals


@pytest.mark.parametrize("name, changes, settings_changes, code", [
    ("ro/01-invoice-company.json", {"kind": "receipt"}, {}, "unsupported_kind"),
    (INVOICE, {}, {"numbering": Numbering.OURS}, "unsupported_numbering"),
    (INVOICE, {}, {"send_skus": True}, "missing_provider_option"),
    (INVOICE, {}, {"series_links": {"FV": None}}, "series_required"),
    (INVOICE, {}, {"ksef": KsefMode.OFF, "home_currency": "PLN"}, "home_currency_mismatch"),
    (PAID, {}, {"payment_links": {"Card": "Chitanta"}}, "unsupported_payment_type"),
])
def test_what_oblio_cannot_take_is_refused_before_sending(fake, login, name, changes, settings_changes, code) -> None:
    adapter = make_adapter(fake, login, **settings_changes)
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, name, **changes))
    assert caught.value.code == code and caught.value.fix
    assert fake.documents(login["cif"]) == []



def test_ksef_modes_mean_e_factura_here_and_both_are_honoured() -> None:
    assert OblioAdapter.clearance() == ("e-Factura", True, True)
    assert OblioAdapter.ksef_refusal(KsefMode.SEND_ON_EXPORT) is None
    assert OblioAdapter.ksef_refusal(KsefMode.PROVIDER_SENDS) is None


# ----------------------------------------------------------------------- e-Factura


def test_the_e_factura_state_is_read_back_and_a_send_is_asked_once(fake, login) -> None:
    adapter = make_adapter(fake, login)
    created = adapter.create_document(plan_for(adapter, INVOICE))
    document_id = created.reference.provider_document_id
    assert adapter.ksef_status(document_id).state == KsefState.NOT_SENT
    assert adapter.send_to_ksef_once(document_id) is True
    assert adapter.ksef_status(document_id).state == KsefState.PENDING
    assert adapter.send_to_ksef_once(document_id) is False  # in SPV already: never sent twice
    fake.process_spv(accept=True)
    accepted = adapter.ksef_status(document_id)
    document = stored(fake, login, created.reference)
    assert (accepted.state, accepted.ksef_number) == (KsefState.ACCEPTED, document.index_upload)
    assert document.spv_submissions == 1


def test_an_e_factura_refused_by_anaf_says_why(fake, login) -> None:
    adapter = make_adapter(fake, login)
    created = adapter.create_document(plan_for(adapter, INVOICE))
    adapter.send_to_ksef(created.reference.provider_document_id)
    fake.process_spv(accept=False, message="Codul fiscal al cumparatorului nu este valid")
    refused = adapter.ksef_status(created.reference.provider_document_id)
    assert (refused.state, refused.message) == (KsefState.REJECTED, "Codul fiscal al cumparatorului nu este valid")


# ----------------------------------------------------------------------- the rate limit



def test_the_declared_windows_never_reach_either_rule_or_the_block(aws_in_process) -> None:
    table = rate_limits_table()
    time = SharedTime()
    with OblioFake(clock=time.clock) as limited:  # both published rules and the 10-minute block
        limited.add_account("busy@example.ro", "secret")
        limited.add_company("busy@example.ro", CIF)
        limiter = SlidingWindowLimiter(table, max_wait_seconds=10, clock=time.clock, sleep=time.sleep)
        settings = AccountSettings.model_validate({
            "account_id": "busy", "provider": "oblio", "home_currency": "RON", "api_url": limited.base_url,
            "series_links": {"FV": "FCT"}, "payment_links": {"Transfer bancar": "Ordin de plata"}})
        adapter = build_adapter(settings, {"client_id": "busy@example.ro", "client_secret": "secret", "cif": CIF},
                                limiter=limiter)
        TOKENS.drop(oblio.token_key(adapter.credentials))
        for n in range(35):  # more creates than one 100 s window takes, each with its read-back
            adapter.create_document(plan_for(adapter, INVOICE, document_id=f"B-{n}"))
            adapter.list_series()
        assert {entry.status for entry in limited.requests.entries()} == {200}  # never refused
        assert limited.limiter.blocks_started == 0 and limited.blocked_until("busy@example.ro") is None
        assert limited.peak_rate("busy@example.ro") <= 3
        assert limited.limiter.window_peak("busy@example.ro", "document") <= 30
        assert limited.limiter.window_peak("busy@example.ro", "other") <= 30
    scopes = {item["scope"] for item in table.scan()["Items"]}
    assert len(scopes) == 2 and all(scope.startswith("oblio:credential:") for scope in scopes)


def test_creates_and_the_rest_count_in_their_own_windows_and_overrides_keep_their_meaning() -> None:
    creates, rest = OblioAdapter.rate_windows()
    assert creates == (":creates", OblioAdapter.create_rate_limit) and 100 / creates[1].window_seconds <= 30
    assert rest == ("", OblioAdapter.rate_limit) and rest[1].methods is None
    # Only the POSTs that make a document count as creates; the token and e-Factura sends with the rest.
    assert creates[1].counts("POST", "/api/docs/invoice") and creates[1].counts("POST", "/api/docs/proforma")
    assert not creates[1].counts("POST", "/api/docs/einvoice") and not creates[1].counts("POST", "/api/authorize/token")
    assert not creates[1].counts("GET", "/api/docs/invoice")
    ours = RateLimit(limit=30, window_seconds=2, scope=LimitScope.CREDENTIAL, source="test")
    assert OblioAdapter.rate_windows({"oblio": ours}) == [("", ours)]
    assert OblioAdapter.rate_windows({"oblio": ours, "oblio:creates": ours})[0] == (
        ":creates", dataclasses.replace(ours, methods=frozenset({"POST"}), paths=oblio.CREATE_PATHS))


def test_the_limit_counts_per_login_whichever_company() -> None:
    settings = AccountSettings(account_id="a", provider="oblio", home_currency="RON")
    one = oblio.OblioCredentials(client_id="x@example.ro", client_secret="s1", cif=CIF)
    other_company = oblio.OblioCredentials(client_id="x@example.ro", client_secret="s1", cif="RO18547290")
    assert OblioAdapter.rate_limit_key(settings, one) == OblioAdapter.rate_limit_key(settings, other_company)
    assert "x@example.ro" not in OblioAdapter.rate_limit_key(settings, one)


# ----------------------------------------------------------------------- SKUs and stock


def stocked(fake, login, management: str = "Magazin", work_station: str = "Sediu", **stock: int) -> str:
    """The login's company with stock activated, one gestiune and a product per SKU (code) in it."""
    cif = login["cif"]
    fake.company(cif).use_stock = True
    fake.add_management(cif, management, work_station)
    for code, quantity in stock.items():
        fake.add_product(cif, f"Produs {code}", code=code, price="10", stock={management: quantity})
    return cif


def with_stock(**options):
    return {"send_skus": True, "provider_options": {"management": "Magazin", **options}}


def test_skus_take_the_goods_out_of_the_accounts_gestiune_by_code(fake, login) -> None:
    cif = stocked(fake, login, **{"MUG-300": 5, "TEA-100": 10})
    adapter = make_adapter(fake, login, **with_stock())
    created = adapter.create_document(plan_for(adapter, INVOICE))
    document = stored(fake, login, created.reference)
    assert document.use_stock is True and created.warnings == ()
    assert [(line.code, line.management) for line in document.lines] == [
        ("MUG-300", "Magazin"), ("TEA-100", "Magazin"), ("", None)]  # shipping moves no stock
    assert (fake.stock_of_code(cif, "Magazin", "MUG-300"), fake.stock_of_code(cif, "Magazin", "TEA-100")) == (3, 7)
    # The storno gives the goods back (the fake's reading, see the adapter's docstring).
    adapter.create_document(plan_for(adapter, STORNO, corrected=created.reference))
    assert (fake.stock_of_code(cif, "Magazin", "MUG-300"), fake.stock_of_code(cif, "Magazin", "TEA-100")) == (5, 10)


def test_a_sku_the_gestiune_does_not_have_fails_or_goes_unlinked_with_a_warning(fake, login) -> None:
    cif = stocked(fake, login, **{"MUG-300": 5})
    failing = make_adapter(fake, login, **with_stock())
    with pytest.raises(PermanentError) as caught:
        failing.create_document(plan_for(failing, INVOICE))
    assert caught.value.code == "sku_not_found" and "TEA-100" in caught.value.message
    assert fake.documents(cif) == []
    warning = make_adapter(fake, login, missing_sku="warn", **with_stock())
    created = warning.create_document(plan_for(warning, INVOICE))
    document = stored(fake, login, created.reference)
    assert [(line.code, line.management) for line in document.lines] == [("MUG-300", "Magazin"), ("", None), ("", None)]
    assert created.warnings == ("SKU TEA-100 not found in Oblio's gestiune 'Magazin': line sent without a stock link",)
    assert fake.stock_of_code(cif, "Magazin", "MUG-300") == 3



def test_a_discounted_line_no_4_place_price_states_goes_folded_unlinked_and_its_storno_reverses_it(fake, login) -> None:
    cif = stocked(fake, login, **{"MUG-300": 5, "TEA-100": 10})
    adapter = make_adapter(fake, login, **with_stock())  # missing SKUs 'fail': the folded SKU is not looked up
    invoice, storno = invoice_and_storno_changes(ROMANIAN_FOLDED_LINES)
    plan = plan_for(adapter, INVOICE, **invoice)
    created = adapter.create_document(plan)
    document = stored(fake, login, created.reference)
    mug, tea, shipping = document.lines
    assert (mug.name, mug.quantity, mug.measuring_unit, mug.price, mug.gross, mug.code, mug.management) == (
        "Cană ceramică 300 ml (1234.5 buc × 1.23 -12.5%)", 1, "buc", Decimal("1328.63"), Decimal("1328.63"), "", None)
    assert (tea.quantity, tea.code, tea.management) == (3, "TEA-100", "Magazin")
    assert document.total == plan.document.totals.gross == Decimal("1422.12")
    assert compare(plan.document, created.readback, None) == []
    # The folded line moved no stock (it would have taken 1, not 1234.5); the other took its 3.
    assert (fake.stock_of_code(cif, "Magazin", "MUG-300"), fake.stock_of_code(cif, "Magazin", "TEA-100")) == (5, 7)
    assert [warning.split(" (")[0] for warning in created.warnings] == ["line_folded: line l1", "SKU MUG-300"]
    assert "sent to Oblio as quantity 1 at its value 1328.63" in created.warnings[0]
    assert created.warnings[1].endswith("line sent to Oblio without a stock link")
    # The storno negates Oblio's stored lines: exactly our reversal, and only the linked goods come back.
    reversal = plan_for(adapter, STORNO, corrected=created.reference, **storno)
    reversed_ = adapter.create_document(reversal)
    assert stored(fake, login, reversed_.reference).total == reversal.document.totals.gross == Decimal("-1422.12")
    assert reversed_.warnings == () and compare(reversal.document, reversed_.readback, "any") == []
    assert (fake.stock_of_code(cif, "Magazin", "MUG-300"), fake.stock_of_code(cif, "Magazin", "TEA-100")) == (5, 10)

def test_a_gestiune_of_another_work_station_needs_that_work_station(fake, login) -> None:
    cif = stocked(fake, login, management="Depozit", work_station="Hala", **{"MUG-300": 5, "TEA-100": 10})
    without = make_adapter(fake, login, send_skus=True, provider_options={"management": "Depozit"})
    with pytest.raises(ProviderRejected) as caught:
        without.create_document(plan_for(without, INVOICE))
    assert "products[0].management" in caught.value.message
    assert caught.value.fix.startswith("correct the provider options management and work_station")
    adapter = make_adapter(fake, login, send_skus=True,
                           provider_options={"management": "Depozit", "work_station": "Hala"})
    created = adapter.create_document(plan_for(adapter, INVOICE))
    assert stored(fake, login, created.reference).texts["workStation"] == "Hala"
    assert fake.stock_of_code(cif, "Depozit", "TEA-100") == 7


def test_stock_not_activated_at_oblio_is_a_warning_on_the_created_invoice(fake, login) -> None:
    cif = stocked(fake, login, **{"MUG-300": 5, "TEA-100": 10})
    fake.company(cif).use_stock = False  # Oblio ignores useStock then (docs: "in cazul in care este activat")
    adapter = make_adapter(fake, login, **with_stock())
    created = adapter.create_document(plan_for(adapter, INVOICE))
    assert stored(fake, login, created.reference).use_stock is False
    assert created.warnings == (f"Oblio did not take {created.reference.number}'s goods out of stock (useStock 0: "
                                "stock is not activated for the company in Oblio); decrease the stock there by hand",)
    assert fake.stock_of_code(cif, "Magazin", "MUG-300") == 5


def test_skus_without_a_gestiune_are_refused_when_saved_and_before_sending(fake, login) -> None:
    from invoice_export.services.connections import refusals

    adapter = make_adapter(fake, login, send_skus=True)
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert caught.value.code == "missing_provider_option" and "provider_options.management" in caught.value.fix
    assert [what for what, _ in refusals(adapter.settings)] == [
        "Oblio takes sold goods out of a named gestiune (warehouse), and none is set for the SKUs this account sends"]
    assert refusals(make_adapter(fake, login, **with_stock()).settings) == []
    assert fake.documents(login["cif"]) == []
