"""Contract tests: the SmartBill adapter against the strict local fake of SmartBill's API (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal

import pytest
from logcapture import captured_log_lines

from invoice_export.domain.account_settings import AccountSettings, KsefMode, Numbering
from invoice_export.domain.errors import (
    ConfigurationError,
    CredentialsRejected,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.readback import compare, home_vat_record
from invoice_export.platform.rate_limiter import SlidingWindowLimiter
from invoice_export.providers import build_adapter
from invoice_export.providers.smartbill.adapter import SmartBillAdapter
from local.fakes.smartbill import SmartBillFake
from testsupport import (
    ROMANIAN_FOLDED_LINES,
    SharedTime,
    invoice_and_storno_changes,
    load_example,
    plan_for,
    rate_limits_table,
    valid_cui,
)

TODAY = date(2026, 11, 20)
INVOICE, PAID, EUR, EXEMPT, STORNO = (f"ro/{name}" for name in (
    "01-invoice-company.json", "02-invoice-person-paid.json", "03-invoice-eur.json",
    "04-invoice-exempt-and-zero.json", "05-storno.json"))


@pytest.fixture(scope="module")
def fake():
    with SmartBillFake(rate_limit=None, today=TODAY) as server:  # the limit: its own tests below
        yield server


@pytest.fixture
def login(fake) -> dict[str, str]:
    """A fresh SmartBill login per test with one firm (default series FCT) and its standard VAT rates."""
    email = f"shop-{secrets.token_hex(4)}@example.ro"
    token = secrets.token_hex(16)
    cif = f"RO{valid_cui()}"
    fake.add_account(email, token, cif)
    return {"username": email, "token": token, "cif": cif}



def make_adapter(fake, login, **settings_changes) -> SmartBillAdapter:
    settings = AccountSettings.model_validate({
        "account_id": "shop-ro", "provider": "smartbill", "home_currency": "RON", "api_url": fake.api_url,
        "series_links": {"FV": None, "ST": None},
        "payment_links": {"Transfer bancar": "Ordin plata", "Card": "Card"}, **settings_changes})
    adapter = build_adapter(settings, login, read_timeout=1.0)
    assert isinstance(adapter, SmartBillAdapter)
    return adapter


def invoices(fake, login) -> dict:
    return fake.company(login["cif"]).invoices


def stored(fake, login, reference) -> dict:
    return fake.company(login["cif"]).invoice(*reference.provider_document_id.split(":"))


# ----------------------------------------------------------------------- create and read-back


def test_company_invoice_goes_with_romanian_tax_names_and_smartbill_computes_our_totals(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, INVOICE)
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    assert created.reference.provider_document_id == "FCT:0001" and created.reference.number == "FCT 0001"
    assert invoice["client"] == {
        "name": "Ceainăria Verde SRL", "vatCode": "RO18547290", "isTaxPayer": True, "address": "Str. Memorandumului 28",
        "city": "Cluj-Napoca", "county": "Cluj", "country": "Romania", "email": "contabilitate@ceainariaverde.example",
        "saveToDb": False}
    assert (invoice["issueDate"], invoice["dueDate"], invoice["deliveryDate"]) == (
        date(2026, 11, 20), date(2026, 12, 4), date(2026, 11, 19))
    assert [(line["name"], line["quantity"], line["price"], line["taxName"], line["taxPercentage"],
             line["isTaxIncluded"], line["isService"]) for line in invoice["lines"]] == [
        ("Cană ceramică 300 ml", 2, Decimal("49.99"), "Normala", 21, True, False),
        ("Ceai verde 100 g", 3, Decimal("24.5"), "Redusa", 11, True, False),
        ("Livrare prin curier", 1, Decimal("19.99"), "Normala", 21, True, True)]
    # SmartBill computed its totals on its own: they equal ours to the ban; the read-back is the gross.
    assert (invoice["net"], invoice["vat"], invoice["total"]) == (
        plan.document.totals.net, plan.document.totals.vat, plan.document.totals.gross)
    assert created.readback.gross == Decimal("193.47") and created.readback.currency is None
    assert compare(plan.document, created.readback, None) == [] and created.warnings == ()
    # Amounts went as JSON numbers, exactly (the fake refuses numeric strings).
    assert invoice["request"]["products"][0]["price"] == Decimal("49.99")


def test_a_paid_invoice_records_its_payment_and_a_discount_keeps_our_line_value(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, PAID)
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    assert [(p["type"], p["value"]) for p in invoice["payments"]] == [("Card", Decimal("121.89"))]
    assert invoice["lines"][1]["price"] == Decimal("26.1") and invoice["lines"][1]["gross"] == Decimal("26.10")
    assert invoice["client"]["vatCode"] == "-" and invoice["client"]["county"] == "Bucuresti"
    assert invoice["client"]["city"] == "Sector 3" and invoice["total"] == plan.document.totals.gross
    assert created.warnings == ()  # SmartBill shows it paid, as ours is


def test_a_foreign_currency_invoice_carries_our_rate_to_ron(fake, login) -> None:
    adapter = make_adapter(fake, login)
    plan = plan_for(adapter, EUR)
    created = adapter.create_document(plan)
    invoice = stored(fake, login, created.reference)
    assert (invoice["currency"], invoice["exchangeRate"], invoice["total"]) == ("EUR", Decimal("5.09"),
                                                                               Decimal("254.10"))
    # paymentstatus returns the gross only: the VAT in RON is ours, recorded as not compared.
    assert created.readback.vat_in_home_currency is None
    assert home_vat_record(plan.document, created.readback)["checked"] == "no"
    assert invoice["totalRon"] == Decimal("1293.37")  # 254.10 x 5.09, SmartBill's RON equivalent
    assert [line["isTaxIncluded"] for line in invoice["lines"]] == [False]


def test_zero_rated_and_exempt_lines_take_sdd_and_sfdd_and_the_legal_basis_is_printed(fake, login) -> None:
    adapter = make_adapter(fake, login)
    invoice = stored(fake, login, adapter.create_document(plan_for(adapter, EXEMPT)).reference)
    assert [(line["taxName"], line["taxPercentage"]) for line in invoice["lines"]] == [("SFDD", 0), ("SDD", 0)]
    assert invoice["mentions"] == ("Scutit de TVA: art. 292 alin. (2) lit. a) pct. 4 din Codul fiscal\n"
                                   "ref: RO-FV-2026-11-0004")  # our reference last (its interrupted creates)


def test_a_linked_series_is_used_and_an_unknown_one_is_named(fake, login) -> None:
    fake.add_series(login["cif"], "WEB", "f", next_number=117)
    adapter = make_adapter(fake, login, series_links={"FV": "WEB"})
    assert adapter.create_document(plan_for(adapter, INVOICE)).reference.number == "WEB 0117"
    unknown = make_adapter(fake, login, series_links={"FV": "NOPE"})
    with pytest.raises(ProviderRejected, match="Seria nu a fost gasita") as caught:
        unknown.create_document(plan_for(unknown, INVOICE))
    assert caught.value.fix == "correct the account's series link and retry the document"


def test_a_full_reversal_is_smartbills_storno_once(fake, login) -> None:
    adapter = make_adapter(fake, login)
    original = adapter.create_document(plan_for(adapter, INVOICE))
    plan = plan_for(adapter, STORNO, corrected=original.reference)
    assert adapter.build_request(plan) == {"companyVatCode": login["cif"], "seriesName": "FCT", "number": "0001",
                                           "issueDate": "2026-11-23"}
    created = adapter.create_document(plan)
    storno = stored(fake, login, created.reference)
    assert storno["storno"] and storno["reverses"] == ("FCT", "0001") and created.reference.number == "FCT 0002"
    assert storno["total"] == Decimal("-193.47") == plan.document.totals.gross
    assert created.readback.is_correction and compare(plan.document, created.readback, "FCT:0001") == []
    with pytest.raises(ProviderRejected, match="deja stornata") as caught:
        adapter.create_document(plan_for(adapter, STORNO, corrected=original.reference, document_id="ST-2"))
    assert "the corrected document at SmartBill" in caught.value.fix


def test_a_timed_out_create_says_it_may_exist_and_there_is_no_look_up_by_our_id(fake, login) -> None:
    adapter = make_adapter(fake, login)
    fake.faults.reset(after_commit=True, method="POST", path=r"/SBORO/api/invoice")
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan_for(adapter, INVOICE))
    assert len(invoices(fake, login)) == 1  # it exists: the settlement finds it by its number and PDF
    capabilities = SmartBillAdapter.capabilities  # (test_smartbill_settlement.py), never by a look-up
    assert (capabilities.lookup_by_reference, capabilities.settle_by_listing) == (False, True)
    with pytest.raises(ConfigurationError, match="cannot be searched"):
        adapter.find_document(plan_for(adapter, INVOICE))


def test_a_failed_read_back_after_the_create_is_a_warning_never_an_error(fake, login) -> None:
    adapter = make_adapter(fake, login)
    fake.faults.status(503, method="GET", path=r"/SBORO/api/invoice/paymentstatus", times=3)
    created = adapter.create_document(plan_for(adapter, INVOICE))
    assert created.readback is None and "could not be read back" in created.warnings[0]


# ----------------------------------------------------------------------- PDF, lists, credentials


def test_the_pdf_is_asked_for_as_an_octet_stream(fake, login) -> None:
    adapter = make_adapter(fake, login)
    created = adapter.create_document(plan_for(adapter, INVOICE))
    with captured_log_lines() as logs:
        pdf = adapter.download_pdf(created.reference.provider_document_id)
    assert pdf.startswith(b"%PDF") and b"FCT 0001" in pdf
    assert login["token"] not in logs.text and login["username"] not in logs.text
    with pytest.raises(ProviderRejected, match="nu a fost gasita"):
        adapter.download_pdf("FCT:9999")


def test_series_payment_types_and_the_credentials_check(fake, login) -> None:
    fake.add_series(login["cif"], "WEB", "f", next_number=5)
    adapter = make_adapter(fake, login)
    assert [(o.id, o.name) for o in adapter.list_series()] == [("FCT", "FCT (next 0001)"), ("WEB", "WEB (next 0005)")]
    assert "Ordin plata" in [o.id for o in adapter.list_payment_types()]
    assert "Chitanta" not in [o.id for o in adapter.list_payment_types()]  # it needs a receipt series
    adapter.check_credentials()
    with pytest.raises(CredentialsRejected):
        make_adapter(fake, {**login, "token": "wrong"}).check_credentials()
    with pytest.raises(ConfigurationError, match="does not know the firm RO18547290") as caught:
        make_adapter(fake, {**login, "cif": "RO18547290"}).check_credentials()
    assert caught.value.code == "unknown_company"


def test_reconciliation_is_refused_clearly_smartbill_has_no_list(fake, login) -> None:
    with pytest.raises(ConfigurationError, match="SmartBill cannot list its documents") as caught:
        make_adapter(fake, login).list_documents(date(2026, 11, 1), date(2026, 11, 30))
    assert caught.value.code == "not_supported" and "by hand" in caught.value.fix


# ----------------------------------------------------------------------- each error class


def test_a_refusal_is_read_from_its_errortext_and_says_what_to_fix(fake, login) -> None:
    adapter = make_adapter(fake, login)
    buyer = load_example(INVOICE)["document"]["buyer"]
    cases = {"document.buyer.address.region": {**buyer, "address": {**buyer["address"], "region": "Atlantis"}},
             "document.buyer.address.city (the sector": {**buyer, "address": {**buyer["address"],
                                                                              "region": "Bucuresti"}}}
    for field, changed in cases.items():
        with pytest.raises(ProviderRejected) as caught:
            adapter.create_document(plan_for(adapter, INVOICE, buyer=changed))
        assert caught.value.fix.startswith(f"correct {field}"), caught.value
    fake.company(login["cif"]).taxes = [tax for tax in fake.company(login["cif"]).taxes if tax.name != "Redusa"]
    with pytest.raises(ProviderRejected, match="Cota tva a produsului Ceai verde 100 g nu a fost gasita") as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert "Configurare > Cote TVA" in caught.value.fix and invoices(fake, login) == {}


def test_an_error_answered_with_http_200_is_still_an_error(login) -> None:
    with SmartBillFake(rate_limit=None, today=TODAY, error_status=200) as other:
        other.add_account(login["username"], login["token"], login["cif"])
        adapter = make_adapter(other, login, series_links={"FV": "NOPE"})
        with pytest.raises(ProviderRejected, match="Seria nu a fost gasita"):
            adapter.create_document(plan_for(adapter, INVOICE))


@pytest.mark.parametrize("method, path, status, error", [
    ("POST", r"/SBORO/api/invoice", 500, RequestMayHaveSucceeded),
    ("POST", r"/SBORO/api/invoice", 503, TransientError),
    ("GET", r"/SBORO/api/series", 503, TransientError),
])
def test_provider_failures_are_transient_and_say_whether_a_create_may_exist(fake, login, method, path, status,
                                                                            error) -> None:
    adapter = make_adapter(fake, login)
    fake.faults.status(status, method=method, path=path, times=3)
    with pytest.raises(error) as caught:
        adapter.create_document(plan_for(adapter, INVOICE)) if method == "POST" else adapter.list_series()
    assert (caught.type is RequestMayHaveSucceeded) == (error is RequestMayHaveSucceeded)
    fake.faults.clear()


def test_the_block_after_too_many_calls_is_transient_never_a_credentials_problem(login) -> None:
    with SmartBillFake(rate_limit=(2, 10.0, 600.0), today=TODAY) as strict:
        strict.add_account(login["username"], login["token"], login["cif"])
        adapter = make_adapter(strict, login)
        adapter.list_series()
        adapter.list_series()
        with pytest.raises(TransientError) as caught:  # the 3rd call in 10 s: blocked, answered 403
            adapter.create_document(plan_for(adapter, INVOICE))
        assert not isinstance(caught.value, CredentialsRejected)
        assert caught.value.code == "provider_rate_limited" and caught.value.retry_after == 600
        assert strict.limiter.blocked_until(login["username"]) is not None



def test_the_declared_limit_keeps_every_10_seconds_under_30_calls_and_never_blocks(aws_in_process) -> None:
    table = rate_limits_table()
    time = SharedTime()
    with SmartBillFake(clock=time.clock, today=TODAY) as limited:  # 30 per 10 s, then the 10-minute block
        limited.add_account("busy@example.ro", "tok", "RO14399840")
        limiter = SlidingWindowLimiter(table, max_wait_seconds=15, clock=time.clock, sleep=time.sleep)
        settings = AccountSettings.model_validate({
            "account_id": "busy", "provider": "smartbill", "home_currency": "RON", "api_url": limited.api_url,
            "series_links": {"FV": None}, "payment_links": {"Transfer bancar": "Ordin plata"}})
        adapter = build_adapter(settings, {"username": "busy@example.ro", "token": "tok", "cif": "RO14399840"},
                                limiter=limiter)
        for n in range(40):  # 80 calls: each create and its read-back
            adapter.create_document(plan_for(adapter, INVOICE, document_id=f"B-{n}"))
        assert {entry.status for entry in limited.requests.entries()} == {200}
        assert limited.limiter.blocked_until("busy@example.ro") is None
        assert limited.limiter.peak("busy@example.ro") == 30  # used to the full, never over
    assert [item["scope"].split(":")[:2] for item in table.scan()["Items"]] == [["smartbill", "credential"]]


# ----------------------------------------------------------------------- capability refusals


@pytest.mark.parametrize("name, changes, settings_changes, code", [
    (INVOICE, {"kind": "receipt"}, {}, "unsupported_kind"),
    (INVOICE, {}, {"numbering": Numbering.OURS}, "unsupported_numbering"),
    (INVOICE, {}, {"send_skus": True}, "missing_provider_option"),
    (INVOICE, {}, {"ksef": KsefMode.SEND_ON_EXPORT}, "unsupported_ksef"),
    (INVOICE, {}, {"ksef": KsefMode.PROVIDER_SENDS}, "unsupported_ksef"),
    (INVOICE, {}, {"home_currency": "PLN"}, "home_currency_mismatch"),
    (PAID, {}, {"payment_links": {"Card": "Chitanta"}}, "unsupported_payment_type"),
])
def test_what_smartbill_cannot_take_is_refused_before_sending(fake, login, name, changes, settings_changes,
                                                             code) -> None:
    adapter = make_adapter(fake, login, **settings_changes)
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, name, **changes))
    assert caught.value.code == code and caught.value.fix
    assert invoices(fake, login) == {}


def test_e_factura_is_not_in_smartbills_api_and_the_refusal_says_where_it_is() -> None:
    assert SmartBillAdapter.clearance() == ("e-Factura", False, False)
    what, instead = SmartBillAdapter.ksef_refusal(KsefMode.PROVIDER_SENDS)
    assert "reports no e-Factura state" in what and "off" in instead



# ----------------------------------------------------------------------- SKUs and stock


def stocked(fake, login, unit: str = "buc", **stock: int) -> str:
    """The login's firm uses product codes, has the warehouse "Magazin" and stock per SKU (its own names)."""
    cif = login["cif"]
    fake.company(cif).uses_product_codes = True
    fake.add_warehouse(cif, "Magazin")
    for code, quantity in stock.items():
        fake.add_stock(cif, "Magazin", f"Produs {code}", quantity, code=code, unit=unit)
    return cif


def coded(name: str = INVOICE, **changes):
    """The example with a SKU on its shipping line too: a firm that uses product codes needs one on every
    product, services included."""
    lines = [{**line, "sku": "TRANSPORT"} if line.get("is_shipping") else line
             for line in load_example(name)["document"]["lines"]]
    return {"lines": lines, **changes}


def with_stock(**settings):
    return {"send_skus": True, "provider_options": {"warehouse": "Magazin"}, **settings}


def test_skus_take_the_goods_out_of_the_accounts_warehouse_by_code(fake, login) -> None:
    cif = stocked(fake, login, **{"MUG-300": 5, "TEA-100": 10})
    company = fake.company(cif)
    adapter = make_adapter(fake, login, **with_stock())
    created = adapter.create_document(plan_for(adapter, INVOICE, **coded()))
    request = stored(fake, login, created.reference)["request"]
    assert request["useStock"] is True and created.warnings == ()
    assert [(p.get("code"), p.get("warehouseName")) for p in request["products"]] == [
        ("MUG-300", "Magazin"), ("TEA-100", "Magazin"), ("TRANSPORT", None)]  # shipping is a service: no stock
    assert (company.stock_of_code("Magazin", "MUG-300"), company.stock_of_code("Magazin", "TEA-100")) == (3, 7)
    adapter.create_document(plan_for(adapter, STORNO, corrected=created.reference))  # the storno gives it back
    # A firm that uses product codes refuses a product without one, services too (shown by the fake).
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert "Livrare prin curier nu are codul specificat" in caught.value.message
    assert caught.value.fix.startswith("correct document.lines[].sku (the firm uses product codes")
    assert (company.stock_of_code("Magazin", "MUG-300"), company.stock_of_code("Magazin", "TEA-100")) == (5, 10)


@pytest.mark.parametrize("unit, stock, problem", [
    ("buc", {"MUG-300": 5}, "SKU TEA-100 is not in warehouse 'Magazin'"),
    ("kg", {"MUG-300": 5, "TEA-100": 10}, "SKU MUG-300 is kept in 'kg', line l1 is in 'buc'"),
])
def test_goods_smartbill_cannot_take_out_fail_or_go_without_stock_with_a_warning(fake, login, unit, stock,
                                                                                 problem) -> None:
    cif = stocked(fake, login, unit=unit, **stock)
    failing = make_adapter(fake, login, **with_stock())
    with pytest.raises(PermanentError) as caught:
        failing.create_document(plan_for(failing, INVOICE, **coded()))
    assert caught.value.code == "sku_not_found" and problem in caught.value.message
    assert invoices(fake, login) == {}
    warning = make_adapter(fake, login, **with_stock(missing_sku="warn"))
    created = warning.create_document(plan_for(warning, INVOICE, **coded()))
    request = stored(fake, login, created.reference)["request"]
    assert request["useStock"] is False and "warehouseName" not in request["products"][0]
    assert request["products"][0]["code"] == "MUG-300"  # a firm with product codes needs it all the same
    [warned] = created.warnings
    assert warned.startswith("sent without taking anything out of SmartBill's stock (useStock false): ")
    assert problem in warned and f"discharge {created.reference.number} in SmartBill" in warned
    assert fake.company(cif).stock_of_code("Magazin", "MUG-300") == 5



def test_a_discounted_line_no_4_place_price_states_goes_folded_without_stock_and_its_storno_reverses_it(
        fake, login) -> None:
    cif = stocked(fake, login, **{"MUG-300": 5, "TEA-100": 10})
    company = fake.company(cif)
    adapter = make_adapter(fake, login, **with_stock())  # missing SKUs 'fail': a folded line is no missing SKU
    invoice, storno = invoice_and_storno_changes([{**line, "sku": line.get("sku", "TRANSPORT")}
                                                  for line in ROMANIAN_FOLDED_LINES])
    plan = plan_for(adapter, INVOICE, **invoice)
    assert adapter.build_request(plan)["useStock"] is False  # a dry run's request shows it as it goes
    created = adapter.create_document(plan)
    stored_invoice = stored(fake, login, created.reference)
    mug, tea, shipping = stored_invoice["lines"]
    assert (mug["name"], mug["quantity"], mug["measuringUnitName"], mug["price"], mug["gross"], mug["code"]) == (
        "Cană ceramică 300 ml (1234.5 buc × 1.23 -12.5%)", 1, "buc", Decimal("1328.63"), Decimal("1328.63"),
        "MUG-300")  # the firm uses product codes: the code goes, with useStock false it moves nothing
    assert (tea["quantity"], tea["price"], shipping["price"]) == (3, Decimal("24.5"), Decimal("19.99"))
    assert stored_invoice["total"] == plan.document.totals.gross == Decimal("1422.12")
    assert compare(plan.document, created.readback, None) == []
    # No product can be marked to take no stock (isService would book goods as a service): the whole
    # invoice goes without a discharge, said so, and nothing moved.
    assert stored_invoice["request"]["useStock"] is False and not any(line["warehouseName"] for line in (mug, tea))
    assert (company.stock_of_code("Magazin", "MUG-300"), company.stock_of_code("Magazin", "TEA-100")) == (5, 10)
    stock_warning, folded, unlinked = created.warnings
    assert stock_warning.startswith("sent without taking anything out of SmartBill's stock (useStock false): line l1 "
                                    "(SKU MUG-300) goes folded, as quantity 1;")
    assert folded.startswith("line_folded: line l1 (")
    assert "sent to SmartBill as quantity 1 at its value 1328.63" in folded
    assert unlinked == "SKU MUG-300 (line l1 sent folded, as quantity 1): line sent to SmartBill without a stock link"
    # SmartBill's storno negates its stored lines: exactly our reversal.
    reversal = plan_for(adapter, STORNO, corrected=created.reference, **storno)
    reversed_ = adapter.create_document(reversal)
    assert stored(fake, login, reversed_.reference)["total"] == reversal.document.totals.gross == Decimal("-1422.12")
    assert reversed_.warnings == ()
    assert compare(reversal.document, reversed_.readback, created.reference.provider_document_id) == []
    assert (company.stock_of_code("Magazin", "MUG-300"), company.stock_of_code("Magazin", "TEA-100")) == (5, 10)

def test_a_line_without_a_sku_cannot_be_taken_out_of_stock(fake, login) -> None:
    stocked(fake, login, **{"MUG-300": 5, "TEA-100": 10})
    adapter = make_adapter(fake, login, **with_stock())
    lines = [{**line, "sku": None} if line["line_id"] == "l2" else line for line in coded()["lines"]]
    with pytest.raises(PermanentError) as caught:
        adapter.create_document(plan_for(adapter, INVOICE, lines=lines))
    assert "line l2 has no SKU" in caught.value.message


def test_skus_without_a_warehouse_are_refused_when_saved_and_before_sending(fake, login) -> None:
    from invoice_export.services.connections import refusals

    adapter = make_adapter(fake, login, send_skus=True)
    with pytest.raises(ConfigurationError) as caught:
        adapter.create_document(plan_for(adapter, INVOICE))
    assert caught.value.code == "missing_provider_option" and "provider_options.warehouse" in caught.value.fix
    assert [what for what, _ in refusals(adapter.settings)] == [
        "SmartBill takes sold goods out of a named gestiune (warehouse), and none is set for the SKUs this account "
        "sends"]
    assert refusals(make_adapter(fake, login, **with_stock()).settings) == []
    assert invoices(fake, login) == {}


def test_too_little_stock_is_smartbills_refusal_naming_the_sku(fake, login) -> None:
    cif = stocked(fake, login, **{"MUG-300": 1, "TEA-100": 10})  # the look-up finds it; 2 are sold
    adapter = make_adapter(fake, login, **with_stock())
    with pytest.raises(ProviderRejected) as caught:
        adapter.create_document(plan_for(adapter, INVOICE, **coded()))
    assert "Cantitate stoc insuficienta" in caught.value.message
    assert caught.value.fix == "correct the stock in SmartBill of document.lines[].sku and retry the document"
    assert invoices(fake, login) == {} and fake.company(cif).stock_of_code("Magazin", "TEA-100") == 10
