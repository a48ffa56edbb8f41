"""The Firmao fake, driven over real HTTP on 127.0.0.1 the way the adapter will drive it.

These tests pin the fake to the vendor's README (FirmaoCRM/API; facts file next-providers.md section 1),
and pin each labelled ASSUMPTION and switch, so that the adapter can be tested against both readings.
"""

from __future__ import annotations

import copy
import threading
import time
from datetime import date
from decimal import Decimal

import pytest
import requests

from local.fakes.firmao import FirmaoFake

ORG, LOGIN, PASSWORD = "sklep1", "api@sklep1.pl", "gen-pass-1"
OTHER_ORG, OTHER_LOGIN, OTHER_PASSWORD = "sklep2", "api@sklep2.pl", "gen-pass-2"
TODAY = date(2026, 8, 8)
UNAUTHORIZED = {"errorCode": "unauthorized"}


def make_fake(**options) -> FirmaoFake:
    options.setdefault("rate_limit", None)
    fake = FirmaoFake(today=lambda: TODAY, **options)
    fake.start()
    fake.add_account(ORG, LOGIN, PASSWORD)
    fake.add_account(OTHER_ORG, OTHER_LOGIN, OTHER_PASSWORD)
    # The README examples' own records: customer 50 "Internet Center", product 52 "ST0003".
    fake.add_customer(ORG, "Internet Center", customer_id=50)
    fake.add_product(ORG, "ST0003", "Stół", net_price="1000.00", vat=0, product_id=52, stock=10)
    return fake


@pytest.fixture
def fake():
    server = make_fake()
    yield server
    server.stop()
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 must never go through a proxy from the environment
    session.auth = (LOGIN, PASSWORD)
    yield session
    session.close()


def url(fake, path: str, org: str = ORG) -> str:
    return f"{fake.base_url}/{org}/svc/v1{path}"


def post(http, fake, body, path="/transactions", **kwargs):
    return http.post(url(fake, path), json=body, timeout=5, **kwargs)


def get(http, fake, path, **params):
    return http.get(url(fake, path), params=params, timeout=5)


def created(response) -> int:
    """The new transaction's id: the objectId of the changelog's CREATE row of class transaction."""
    assert response.status_code == 201, response.text
    return next(row["objectId"] for row in response.json()["changelog"]
                if row["modification"] == "CREATE" and row["objectClass"] == "transaction")


def read(http, fake, transaction_id) -> dict:
    response = get(http, fake, f"/transactions/{transaction_id}")
    assert response.status_code == 200, response.text
    return response.json()


def lines_of(http, fake, transaction_id) -> list[dict]:
    return get(http, fake, "/transactionentries", **{"transaction(eq)": transaction_id}).json()["data"]


def totals(document) -> tuple[Decimal, Decimal, Decimal]:
    return tuple(Decimal(str(document[f"transaction{part}Price"])) for part in ("Netto", "Vat", "Brutto"))


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


# The README's invoice example (§2e) with its typographic quotes made ASCII.
README_INVOICE = {
    "transactionEntries": [{"classificationNumber": "", "discount": None, "productCode": "ST0003", "quantity": 1,
                            "unit": None, "vatPercent": 0, "product": 52, "unitNettoPrice": "1000.00"}],
    "transactionNettoPrice": "1000.00", "transactionBruttoPrice": "1000.00", "transactionVatPrice": "0.00",
    "invoiceAnnotations": None, "paid": False, "currency": "PLN", "paymentType": "CASH", "restOfPaidValue": 1000,
    "paidValue": 0, "invoiceDate": "2012-08-08", "paymentDate": "2012-08-15", "transactionDate": "2012-08-08",
    "type": "INVOICE", "mode": "SALE", "createCustomerIfNeeded": True, "customerName": "test",
    "phones": ["111222333"], "emails": ["test@test.test"], "customerAddress.postCode": "91-477", "customer": 50,
    "customerAddress.city": "Łódź", "customerAddress.country": "Polska", "customerAddress.street": "Piotrkowska 147/8",
    "nipNumber": "1060000062", "issuingPerson": "Jacob Smith", "transactionNumber": "1/8/2012",
}


def readme_correction(base_entry_id: int) -> dict:
    """The README's correction example (quantity 1 -> 2), its baseEntryId set to the real line's id."""
    line = {"unit": None, "classificationNumber": "", "productCode": "ST0003", "entryPaid": "NOT_PAID",
            "entrySize": 1, "variant": 1, "salePriceGroup": "A", "unitPurchaseNettoPrice": 0,
            "unitNettoPrice": "1000.00", "product": 52}
    return {
        "invoicePatternId": 1, "exchangeRate": 1, "exchangeRateDate": "2012-08-07", "factor": 1,
        "correctionCause": "Błędnie wprowadzone dane.", "paid": False, "bankAccount": 1, "currency": "PLN",
        "paymentType": "CASH", "restOfPaidValue": 1000, "paidValue": 0, "invoiceDate": "2022-04-08",
        "invoiceReceptionDate": "2022-04-08", "paymentDate": "2022-04-15", "transactionDate": "2012-08-08",
        "type": "CORRECTION", "mode": "SALE", "customerAddress.postCode": "91-477", "customer": 50,
        "customerAddress.country": "Polska", "customerAddress.city": "Łódź",
        "customerAddress.street": "Piotrkowska 147/8", "nipNumber": "106-00-00-062", "recipientPhoneNumber": None,
        "connectedDocDate": "2012-08-08", "issuingPerson": "Jacob Smith", "splitPayment": False,
        "transactionNumber": "2022/04/004/KOR", "connectedDocNumber": "1/8/2012", "calculateFromGross": False,
        "transactionEntries": [
            {**line, "baseEntryId": base_entry_id, "quantity": 1, "vatPercent": "0", "recordId": 16,
             "unitNettoPriceWithoutDiscount": "1000.00"},
            {**line, "quantity": 2, "vatPercent": 0, "recordId": 17, "unitNettoPriceWithoutDiscount": "0.00",
             "invalidRecordId": 16},
        ],
        "transactionNettoPrice": "1000.00", "transactionBruttoPrice": "1000.00", "transactionVatPrice": "0.00",
        "lastSelectedInvoiceReport": "Faktura_korygujaca2",
    }


def sale(kind="INVOICE", lines=None, **changes) -> dict:
    """A company invoice without declared totals (the fake computes them)."""
    body = {"type": kind, "mode": "SALE", "customer": 50, "invoiceDate": "2026-08-08", "paymentType": "TRANSFER",
            "transactionEntries": lines or [{"product": "Kubek 300 ml", "productCode": "MUG-300", "quantity": 2,
                                             "unit": "szt.", "vatPercent": 23, "unitNettoPrice": "24.38"}]}
    return {**body, **changes}


def invoice_with_entry(http, fake, **changes) -> tuple[dict, dict]:
    transaction_id = created(post(http, fake, sale(**changes)))
    document = read(http, fake, transaction_id)
    return document, lines_of(http, fake, transaction_id)[0]


# --------------------------------------------------------------------------- the README's own examples


def test_accepts_the_readme_invoice_example(fake, http):
    response = post(http, fake, README_INVOICE)
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = response.json()
    create, customer_change = body["changelog"]
    # Documented: the number comes back only inside objectLabel "<number> - <customer>".
    assert (create["modification"], create["objectClass"], create["objectLabel"]) == (
        "CREATE", "transaction", "1/8/2012 - Internet Center")
    assert (customer_change["objectId"], customer_change["property"], customer_change["newValueDisplay"]) == (
        50, "transactionsCount", "1")
    assert body["showCustomVatWarning"] == "true"  # as in the README's answer for its 0 % line
    document = read(http, fake, create["objectId"])
    assert totals(document) == (Decimal("1000.00"), Decimal("0.00"), Decimal("1000.00"))
    assert (document["transactionNumber"], document["type"], document["currency"], document["paymentType"]) == (
        "1/8/2012", "INVOICE", "PLN", "CASH")
    assert (document["paid"], document["paymentStatus"], document["restOfPaidValue"]) == (False, "NOT_PAID", 1000)
    assert document["customer"]["id"] == 50 and document["customerAddress"]["city"] == "Łódź"
    assert [c["name"] for c in fake.account(ORG).customers.values()] == ["Internet Center"]  # the id wins


def test_accepts_the_readme_correction_example(fake, http):
    invoice_id = created(post(http, fake, README_INVOICE))
    original_line = lines_of(http, fake, invoice_id)[0]
    correction_id = created(post(http, fake, readme_correction(original_line["id"])))
    correction = read(http, fake, correction_id)
    # 1 -> 2 pieces of 1000.00 at 0 %: the correction's totals are the difference (README: 1000.00).
    assert totals(correction) == (Decimal("1000.00"), Decimal("0.00"), Decimal("1000.00"))
    assert (correction["connectedDocNumber"], correction["connectedDocType"], correction["correctionCause"]) == (
        "1/8/2012", "INVOICE", "Błędnie wprowadzone dane.")
    before, after = lines_of(http, fake, correction_id)
    assert (before["type"], before["baseEntryId"], before["recordId"]) == ("INVALID", original_line["id"], 16)
    assert (after["type"], after["invalidEntry"], after["quantity"]) == ("ACTUAL", {"id": before["id"]}, 2)


def test_the_readme_php_example_totals_are_refused_or_recomputed(http):
    # README §9c sends a 100.00 line with totals of 1000.00.
    php_example = {**README_INVOICE, "transactionNumber": "12/8/2012",
                   "transactionEntries": [{**README_INVOICE["transactionEntries"][0], "unitNettoPrice": "100.00"}]}
    refusing = make_fake()
    try:
        refused = error_of(http.post(url(refusing, "/transactions"), json=php_example, timeout=5), 400)
        assert refused == {"errorCode": "invalidValue", "field": "transactionNettoPrice", "rejectedValue": "1000.00",
                           "additionalInfo": {"reason": "differs from the total Firmao computes",
                                              "expected": "100.00"}}
        assert refusing.transactions(ORG) == []
    finally:
        refusing.stop()
    recomputing = make_fake(totals="recompute")
    try:
        response = http.post(url(recomputing, "/transactions"), json=php_example, timeout=5)
        changes = {row["property"]: (row["oldValueDisplay"], row["newValueDisplay"])
                   for row in response.json()["changelog"] if row["objectClass"] == "transaction"
                   and row["modification"] == "CHANGE"}
        assert changes == {"transactionNettoPrice": ("1000.00", "100.00"),
                           "transactionBruttoPrice": ("1000.00", "100.00"), "restOfPaidValue": ("1000", "100.00")}
        assert totals(recomputing.transactions(ORG)[0]) == (Decimal("100.00"), Decimal("0.00"), Decimal("100.00"))
    finally:
        recomputing.stop()


# --------------------------------------------------------------------------- auth, organisation, content type


@pytest.mark.parametrize("auth, headers", [
    (None, {}),
    ((LOGIN, "wrong"), {}),
    (("someone@else", PASSWORD), {}),
    ((OTHER_LOGIN, OTHER_PASSWORD), {}),  # another organisation's API user
    (None, {"Authorization": f"Bearer {PASSWORD}"}),
    (None, {"Authorization": "Basic not-base64!"}),
])
def test_wrong_credentials_are_refused_with_401(fake, auth, headers):
    response = requests.get(url(fake, "/transactions"), auth=auth, headers=headers, timeout=5)
    assert error_of(response, 401) == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_an_unknown_organisation_is_not_found(fake, http):
    assert error_of(http.get(url(fake, "/transactions", org="nieznana"), timeout=5), 404) == {
        "errorCode": "organizationNotFound"}


def test_an_organisation_with_the_api_turned_off_is_refused_with_403(fake, http):
    fake.account(ORG).api_enabled = False
    assert error_of(get(http, fake, "/transactions"), 403) == {"errorCode": "accessDenied"}


def test_each_organisation_sees_only_its_own_documents(fake, http):
    created(post(http, fake, sale(transactionNumber="A/1")))
    other = requests.get(url(fake, "/transactions", org=OTHER_ORG), auth=(OTHER_LOGIN, OTHER_PASSWORD), timeout=5)
    assert other.json()["data"] == [] and len(fake.transactions(ORG)) == 1


@pytest.mark.parametrize("content_type, status", [
    ("application/json; charset=UTF-8", 201),
    ("application/json; charset=UTF8", 201),  # as the README's PHP example writes it
    ("application/json", 201),
    ("application/json; charset=ISO-8859-2", 415),
    ("text/plain", 415),
    ("application/x-www-form-urlencoded", 415),
])
def test_the_body_must_be_declared_json_in_utf8(fake, http, content_type, status):
    import json
    response = http.post(url(fake, "/transactions"), data=json.dumps(sale()).encode(),
                         headers={"Content-Type": content_type}, timeout=5)
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json()["errorCode"] == "unsupportedMediaType" and fake.transactions(ORG) == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_refused(fake, http, body):
    response = http.post(url(fake, "/transactions"), data=body, headers={"Content-Type": "application/json"},
                         timeout=5)
    assert error_of(response, 400) == {"errorCode": "invalidJson"}


# --------------------------------------------------------------------------- creating documents


def test_invoice_totals_are_computed_per_line(fake, http):
    lines = [{"product": "Herbata", "quantity": 3, "vatPercent": 23, "unitNettoPrice": "10.99"},
             {"product": "Książka", "quantity": 1, "vatPercent": 8, "unitNettoPrice": "5.55"}]
    document = read(http, fake, created(post(http, fake, sale(lines=lines))))
    # 32.97 + 7.58 VAT (7.5831) and 5.55 + 0.44 VAT (0.444).
    assert totals(document) == (Decimal("38.52"), Decimal("8.02"), Decimal("46.54"))
    entries = lines_of(http, fake, document["id"])
    assert [(e["nettoPrice"], e["vatPrice"], e["bruttoPrice"]) for e in entries] == [(32.97, 7.58, 40.55),
                                                                                   (5.55, 0.44, 5.99)]


@pytest.mark.parametrize("vat_totals, vat", [("per_line", "0.04"), ("per_rate", "0.05")])
def test_the_vat_total_reading_is_a_switch(http, vat_totals, vat):
    # Two lines of 0.10 at 23 %: 0.023 rounds to 0.02 per line; 0.20 x 23 % = 0.046 -> 0.05 per rate.
    lines = [{"product": "A", "quantity": 1, "vatPercent": 23, "unitNettoPrice": "0.10"}] * 2
    server = make_fake(vat_totals=vat_totals)
    try:
        declared = {"transactionNettoPrice": "0.20", "transactionVatPrice": vat,
                    "transactionBruttoPrice": str(Decimal("0.20") + Decimal(vat))}
        assert http.post(url(server, "/transactions"), json=sale(lines=lines, **declared), timeout=5).status_code == 201
        assert totals(server.transactions(ORG)[0])[1] == Decimal(vat)
    finally:
        server.stop()


def test_receipt_needs_no_buyer_and_is_numbered_from_its_series(fake, http):
    body = sale("RECEIPT", paymentType="CASH")
    del body["customer"]
    response = post(http, fake, body)
    assert response.json()["changelog"][0]["objectLabel"] == "PAR/1/8/2026"  # no buyer: the number alone
    document = read(http, fake, created(response))
    assert (document["type"], document["customer"], document["transactionNumber"]) == ("RECEIPT", None, "PAR/1/8/2026")


def test_an_invoice_needs_a_buyer(fake, http):
    body = sale()
    del body["customer"]
    assert error_of(post(http, fake, body), 400) == {"errorCode": "fieldRequired", "field": "customer"}


def test_gross_prices_with_calculate_from_gross(fake, http):
    line = {"product": "Kubek", "quantity": 1, "vatPercent": 23, "unitBruttoPrice": "59.98"}
    document = read(http, fake, created(post(http, fake, sale(lines=[line], calculateFromGross=True))))
    # VAT is taken out of 59.98 (48.76 net), not added to a rounded net.
    assert totals(document) == (Decimal("48.76"), Decimal("11.22"), Decimal("59.98"))
    entry = lines_of(http, fake, document["id"])[0]
    assert (entry["unitBruttoPrice"], entry["unitNettoPrice"], entry["calculateFromGross"]) == (59.98, 48.76, True)
    net_field = error_of(post(http, fake, sale(lines=[{**line, "unitNettoPrice": "59.98"}], calculateFromGross=True)),
                         400)
    assert net_field["field"] == "transactionEntries[0].unitNettoPrice"
    gross_without_flag = error_of(post(http, fake, sale(lines=[line])), 400)
    assert gross_without_flag["field"] == "transactionEntries[0].unitBruttoPrice"


def test_the_gross_price_field_reading_is_a_switch(http):
    server = make_fake(gross_price_field="unitNettoPrice")
    try:
        line = {"product": "Kubek", "quantity": 1, "vatPercent": 23, "unitNettoPrice": "59.98"}
        response = http.post(url(server, "/transactions"), json=sale(lines=[line], calculateFromGross=True), timeout=5)
        assert totals(server.transactions(ORG)[0]) == (Decimal("48.76"), Decimal("11.22"), Decimal("59.98")), response
        refused = http.post(url(server, "/transactions"), timeout=5, json=sale(
            lines=[{**line, "unitBruttoPrice": "59.98"}], calculateFromGross=True))
        assert refused.status_code == 400 and refused.json()["field"] == "transactionEntries[0].unitBruttoPrice"
    finally:
        server.stop()


def test_foreign_currency_needs_its_rate_and_reports_the_pln_base(fake, http):
    lines = [{"product": "Mug", "quantity": 1, "vatPercent": 23, "unitNettoPrice": "10.00"}]
    document = read(http, fake, created(post(http, fake, sale(
        lines=lines, currency="EUR", exchangeRate="4.2400", exchangeRateDate="2026-08-07"))))
    assert (document["currency"], document["exchangeRate"], document["exchangeRateDate"]) == ("EUR", 4.24, "2026-08-07")
    assert totals(document) == (Decimal("10.00"), Decimal("2.30"), Decimal("12.30"))
    assert (document["baseNettoPrice"], document["baseVatPrice"], document["baseBruttoPrice"]) == (42.40, 9.75, 52.15)
    assert error_of(post(http, fake, sale(lines=lines, currency="EUR")), 400) == {
        "errorCode": "fieldRequired", "field": "exchangeRate"}
    assert error_of(post(http, fake, sale(exchangeRate=4)), 400)["field"] == "exchangeRate"  # PLN has rate 1


def test_automatic_numbers_come_from_the_series(fake, http):
    assert [read(http, fake, created(post(http, fake, sale())))["transactionNumber"] for _ in range(2)] == [
        "1/8/2026", "2/8/2026"]
    shop = fake.add_series(ORG, "Sklep", {"invoice": "FV/{n}/{mm}/{yyyy}", "correction": "KOR/{nnn}/{yyyy}"})
    assert read(http, fake, created(post(http, fake, sale(invoicePatternId=shop))))["transactionNumber"] == (
        "FV/1/08/2026")
    listed = get(http, fake, "/invoicenumbers", dataFormat="MEDIUM").json()
    assert [(s["id"], s["name"]) for s in listed["data"]] == [(1, "Domyślna"), (shop, "Sklep")]
    assert listed["totalSize"] == 2
    receipt_in_invoice_series = error_of(post(http, fake, sale("RECEIPT", invoicePatternId=shop)), 400)
    assert (receipt_in_invoice_series["errorCode"], receipt_in_invoice_series["field"]) == (
        "invalidValue", "invoicePatternId")
    assert error_of(post(http, fake, sale(invoicePatternId=99)), 400) == {
        "errorCode": "entityNotFoundForId", "field": "invoicePatternId", "rejectedValue": "99",
        "additionalInfo": {"id": "99", "cls": "invoicenumber"}}


def test_next_number_previews_without_using_the_number(fake, http):
    params = {"objectClass": "transaction", "type": "invoice", "mode": "SALE", "id": "1"}
    assert [get(http, fake, "/invoicenumbers/next", **params).json() for _ in range(2)] == [{"number": "1/8/2026"}] * 2
    assert get(http, fake, "/invoicenumbers/next", **{**params, "type": "correction"}).json() == {
        "number": "2026/08/001/KOR"}
    assert error_of(get(http, fake, "/invoicenumbers/next", **{**params, "type": "proforma"}), 400)["field"] == "type"
    assert error_of(get(http, fake, "/invoicenumbers/next", **{**params, "id": "7"}), 400)["errorCode"] == (
        "entityNotFoundForId")


def test_our_own_number_is_kept_and_skipped_by_automatic_numbering(fake, http):
    ours = read(http, fake, created(post(http, fake, sale(transactionNumber="1/8/2026"))))
    automatic = read(http, fake, created(post(http, fake, sale())))
    assert (ours["transactionNumber"], automatic["transactionNumber"]) == ("1/8/2026", "2/8/2026")


def test_a_second_sale_with_the_same_number_is_refused_as_documented(fake, http):
    created(post(http, fake, sale(transactionNumber="1/8/2026")))
    suggested = get(http, fake, "/invoicenumbers/next", objectClass="transaction", type="invoice", mode="SALE",
                    id="1").json()["number"]
    again = post(http, fake, sale(transactionNumber="1/8/2026"))
    assert error_of(again, 400) == {"errorCode": "transactionNumberAlreadyExists",
                                    "additionalInfo": {"suggestedNumber": suggested}}
    assert suggested == "2/8/2026"
    as_receipt = post(http, fake, sale("RECEIPT", transactionNumber="1/8/2026"))  # one space for all sale types
    assert error_of(as_receipt, 400)["errorCode"] == "transactionNumberAlreadyExists"
    assert len(fake.transactions(ORG)) == 1


def test_create_customer_if_needed_creates_then_attaches_by_name(fake, http):
    body = sale(createCustomerIfNeeded=True, customerName="Anna Nowak", phones=["500100200"],
                emails=["anna@example.pl"])
    del body["customer"]
    first = post(http, fake, body).json()["changelog"]
    new_customer = next(row for row in first if row["objectClass"] == "customer" and row["modification"] == "CREATE")
    second = post(http, fake, body).json()["changelog"]
    assert not any(row["objectClass"] == "customer" and row["modification"] == "CREATE" for row in second)
    customer = fake.account(ORG).customers[new_customer["objectId"]]
    assert (customer["name"], customer["phones"], customer["emails"]) == ("Anna Nowak", ["500100200"],
                                                                          ["anna@example.pl"])
    assert [doc["customer"]["id"] for doc in fake.transactions(ORG)] == [customer["id"]] * 2
    assert error_of(post(http, fake, sale(phones=["500100200"])), 400)["field"] == "phones"  # only with the flag


def test_an_unknown_customer_or_product_is_refused_with_the_documented_body(fake, http):
    assert error_of(post(http, fake, sale(customer=77)), 400) == {
        "errorCode": "entityNotFoundForId", "field": "customer", "rejectedValue": "77",
        "additionalInfo": {"id": "77", "cls": "customer"}}
    line = {"product": 999, "quantity": 1, "vatPercent": 23, "unitNettoPrice": "1.00"}
    assert error_of(post(http, fake, sale(lines=[line])), 400)["field"] == "transactionEntries[0].product"


def test_a_text_product_makes_an_unlinked_line_and_an_id_links_the_product(fake, http):
    mug = fake.add_product(ORG, "MUG-300", "Kubek 300 ml", net_price="24.38")
    lines = [{"product": "Wysyłka", "productCode": "SHIP", "quantity": 1, "vatPercent": 23, "unitNettoPrice": "12.19"},
             {"product": mug, "productCode": "MUG-300", "quantity": 1, "vatPercent": 23, "unitNettoPrice": "24.38"}]
    shipping, linked = lines_of(http, fake, created(post(http, fake, sale(lines=lines))))
    assert (shipping["product"], shipping["name"], shipping["productCode"]) == (None, "Wysyłka", "SHIP")
    assert (linked["product"], linked["name"]) == ({"id": mug, "name": "Kubek 300 ml"}, None)
    wrong_code = [{**lines[1], "productCode": "OTHER"}]
    assert error_of(post(http, fake, sale(lines=wrong_code)), 400)["field"] == "transactionEntries[0].productCode"


def test_stock_decreases_only_when_a_sale_asks_for_it(fake, http):
    line = {"product": 52, "quantity": 3, "vatPercent": 0, "unitNettoPrice": "1000.00"}
    created(post(http, fake, sale(lines=[line])))  # default NO_UPDATE: stock untouched
    assert fake.stock(ORG, 52) == 10
    response = post(http, fake, sale(lines=[line, {**line, "product": "Tekst", "quantity": 1}],
                                     storageStateUpdate="AUTO_UPDATE"))
    stock_rows = [row for row in response.json()["changelog"] if row["property"] == "currentStoreState"]
    assert [(r["objectId"], r["oldValueDisplay"], r["newValueDisplay"], r["subId"]) for r in stock_rows] == [
        (52, "10", "7", 1)]
    second = fake.add_warehouse(ORG, "Magazyn 2")
    created(post(http, fake, sale(lines=[line], storageStateUpdate="AUTO_UPDATE", warehouse={"id": second})))
    assert (fake.stock(ORG, 52, 1), fake.stock(ORG, 52, second), fake.stock(ORG, 52)) == (7, -3, 4)
    listed = get(http, fake, "/products", **{"productCode(eq)": "ST0003"}).json()["data"]
    assert [(p["id"], p["currentStoreState"]) for p in listed] == [(52, 4)]
    assert error_of(post(http, fake, sale(storageStateUpdate="MAYBE")), 400)["field"] == "storageStateUpdate"
    assert error_of(post(http, fake, sale(warehouse={"id": 9})), 400)["errorCode"] == "entityNotFoundForId"


def test_custom_fields_take_strings(fake, http):
    document = read(http, fake, created(post(http, fake, sale(**{"customFields.custom5": "order-100231"}))))
    assert document["customFields"] == {"custom5": "order-100231"}
    assert error_of(post(http, fake, sale(**{"customFields.custom5": 100231})), 400)["field"] == "customFields.custom5"


def test_payment_fields(fake, http):
    paid = read(http, fake, created(post(http, fake, sale(paid=True, paymentType="CASH"))))
    assert (paid["paid"], paid["paidValue"], paid["restOfPaidValue"], paid["paymentStatus"]) == (
        True, 59.97, 0, "PAID")  # 2 x 24.38 = 48.76 + 11.21 VAT
    part = read(http, fake, created(post(http, fake, sale(paidValue="10.00", paymentDate="2026-08-22"))))
    assert (part["paid"], part["restOfPaidValue"], part["paymentStatus"], part["paymentDate"]) == (
        False, 49.97, "PARTIALLY_PAID", "2026-08-22")
    assert error_of(post(http, fake, sale(paid=True, paidValue="10.00")), 400)["field"] == "paidValue"
    assert error_of(post(http, fake, sale(paidValue="70.00")), 400)["field"] == "paidValue"


# --------------------------------------------------------------------------- refused fields and values


@pytest.mark.parametrize("body_change, field, code", [
    ({"transactionNettoPirce": "59.98"}, "transactionNettoPirce", "unknownField"),
    ({"“createCustomerIfNeeded”": True}, "“createCustomerIfNeeded”", "unknownField"),  # the README's quotes
    ({"createcustomerifneeded": True}, "createcustomerifneeded", "unknownField"),
    ({"permissions": {}}, "permissions", "readOnlyField"),
    ({"paymentStatus": "PAID"}, "paymentStatus", "readOnlyField"),
])
def test_unknown_and_read_only_fields_are_refused(fake, http, body_change, field, code):
    response = post(http, fake, sale(**body_change))
    assert (error_of(response, 400)["errorCode"], response.json()["field"]) == (code, field)
    assert fake.transactions(ORG) == []


def test_a_misspelt_line_field_is_refused(fake, http):
    line = {"product": "Kubek", "quantity": 1, "vatPercent": 23, "unitNetoPrice": "24.38"}
    assert error_of(post(http, fake, sale(lines=[line])), 400) == {
        "errorCode": "unknownField", "field": "transactionEntries[0].unitNetoPrice", "rejectedValue": "24.38"}


@pytest.mark.parametrize("change, field, code", [
    ({"invoiceDate": "08.08.2026"}, "invoiceDate", "invalidValue"),
    ({"currency": "zł"}, "currency", "invalidValue"),
    ({"type": "FAKTURA"}, "type", "invalidValue"),
    ({"type": "PROFORMA"}, "type", "notModelledByLocalFake"),
    ({"mode": "PURCHASE"}, "mode", "notModelledByLocalFake"),
    ({"mode": None}, "mode", "fieldRequired"),
    ({"paymentType": "CARD"}, "paymentType", "invalidValue"),
    ({"paid": "true"}, "paid", "invalidValue"),
    ({"nipNumber": "abc"}, "nipNumber", "invalidValue"),
    ({"transactionEntries": []}, "transactionEntries", "fieldRequired"),
])
def test_invalid_header_values_are_refused(fake, http, change, field, code):
    assert (lambda body: (body["errorCode"], body["field"]))(error_of(post(http, fake, sale(**change)), 400)) == (
        code, field)


@pytest.mark.parametrize("change, field, code", [
    ({"unitNettoPrice": "24.385"}, "unitNettoPrice", "invalidValue"),
    ({"unitNettoPrice": "24,38"}, "unitNettoPrice", "invalidValue"),
    ({"unitNettoPrice": "-1.00"}, "unitNettoPrice", "invalidValue"),
    ({"vatPercent": 21}, "vatPercent", "invalidValue"),
    ({"vatPercent": "zw"}, "vatPercent", "invalidValue"),
    ({"quantity": 0}, "quantity", "invalidValue"),
    ({"quantity": "1.0001"}, "quantity", "invalidValue"),
    ({"discount": 10}, "discount", "notModelledByLocalFake"),
    ({"product": None}, "product", "fieldRequired"),
])
def test_invalid_line_values_are_refused(fake, http, change, field, code):
    line = {"product": "Kubek", "quantity": 1, "vatPercent": 23, "unitNettoPrice": "24.38", **change}
    body = error_of(post(http, fake, sale(lines=[line])), 400)
    assert (body["errorCode"], body["field"]) == (code, f"transactionEntries[0].{field}")


def test_vat_percent_and_amounts_accept_the_readme_forms(fake, http):
    # The README sends vatPercent 0, 22 and "0", prices as strings and paidValue as a number.
    lines = [{"product": "A", "quantity": 1, "vatPercent": "0", "unitNettoPrice": "1.00"},
             {"product": "B", "quantity": 1, "vatPercent": 22, "unitNettoPrice": 2}]
    assert post(http, fake, sale(lines=lines, paidValue=0)).status_code == 201


# --------------------------------------------------------------------------- corrections


def correction_of(document, before_entry, after_changes, **changes) -> dict:
    before = {"baseEntryId": before_entry["id"], "recordId": 1, "product": before_entry["name"],
              "quantity": before_entry["quantity"], "vatPercent": before_entry["vatPercent"],
              "unitNettoPrice": str(before_entry["unitNettoPrice"])}
    after = {**{k: v for k, v in before.items() if k not in ("baseEntryId", "recordId")}, "invalidRecordId": 1,
             **after_changes}
    return {"type": "CORRECTION", "mode": "SALE", "customer": 50, "invoiceDate": "2026-08-10",
            "connectedDocNumber": document["transactionNumber"], "connectedDocDate": document["invoiceDate"],
            "correctionCause": "Zwrot", "transactionEntries": [before, after], **changes}


def test_a_return_of_one_of_two_pieces(fake, http):
    document, entry = invoice_with_entry(http, fake)
    correction = read(http, fake, created(post(http, fake, correction_of(document, entry, {"quantity": 1}))))
    # Per line: after (24.38 + 5.61) minus before (48.76 + 11.21).
    assert totals(correction) == (Decimal("-24.38"), Decimal("-5.60"), Decimal("-29.98"))
    assert correction["transactionNumber"] == "2026/08/001/KOR"
    assert fake.stock(ORG, 52) == 10  # corrections move no stock


@pytest.mark.parametrize("spoil, field", [
    (lambda body, other: body["transactionEntries"][0].update(baseEntryId=other["id"]),
     "transactionEntries[0].baseEntryId"),
    (lambda body, other: body["transactionEntries"][0].update(baseEntryId=987654), "transactionEntries[0].baseEntryId"),
    (lambda body, other: body["transactionEntries"][0].update(quantity=5), "transactionEntries[0]"),
    (lambda body, other: body["transactionEntries"].pop(), "transactionEntries[0].recordId"),
    (lambda body, other: body["transactionEntries"][1].update(invalidRecordId=2),
     "transactionEntries[1].invalidRecordId"),
    (lambda body, other: body["transactionEntries"][1].pop("invalidRecordId"), "transactionEntries[1]"),
    (lambda body, other: body.update(connectedDocDate="2026-08-01"), "connectedDocDate"),
    (lambda body, other: body.update(connectedDocNumber="nie-ma"), "connectedDocNumber"),
    (lambda body, other: body.pop("connectedDocDate"), "connectedDocDate"),
])
def test_correction_rules(fake, http, spoil, field):
    document, entry = invoice_with_entry(http, fake)
    _, other_entry = invoice_with_entry(http, fake)
    body = correction_of(document, entry, {"quantity": 1})
    spoil(body, other_entry)
    assert error_of(post(http, fake, body), 400)["field"] == field


def test_the_correction_repeats_every_line_or_only_the_changed_ones(http):
    two_lines = [{"product": "A", "quantity": 2, "vatPercent": 23, "unitNettoPrice": "10.00"},
                 {"product": "B", "quantity": 1, "vatPercent": 23, "unitNettoPrice": "5.00"}]
    for setting, status in (("all", 400), ("changed", 201)):
        server = make_fake(correction_lines=setting)
        try:
            transaction_id = created(http.post(url(server, "/transactions"), json=sale(lines=two_lines), timeout=5))
            first_line, second_line = lines_of(http, server, transaction_id)
            body = correction_of(read(http, server, transaction_id), first_line, {"quantity": 1})
            response = http.post(url(server, "/transactions"), json=body, timeout=5)
            assert response.status_code == status, (setting, response.text)
            if status == 400:
                assert response.json()["additionalInfo"]["missingEntryIds"] == [second_line["id"]]
        finally:
            server.stop()


def test_a_second_correction_starts_from_the_state_after_the_first(fake, http):
    document, entry = invoice_with_entry(http, fake)
    created(post(http, fake, correction_of(document, entry, {"quantity": 1})))
    stale = post(http, fake, correction_of(document, entry, {"quantity": 0}))
    assert error_of(stale, 400)["additionalInfo"]["expected"]["quantity"] == "1"
    current = correction_of(document, {**entry, "quantity": 1}, {"quantity": 0})
    assert totals(read(http, fake, created(post(http, fake, current)))) == (
        Decimal("-24.38"), Decimal("-5.61"), Decimal("-29.99"))


# --------------------------------------------------------------------------- reading back and listing


def test_an_unknown_transaction_is_not_found(fake, http):
    assert error_of(get(http, fake, "/transactions/424242"), 404)["errorCode"] == "entityNotFoundForId"


def test_without_the_single_get_the_document_is_read_by_id_filter(http):
    server = make_fake(single_transaction_get=False)
    try:
        transaction_id = created(http.post(url(server, "/transactions"), json=sale(), timeout=5))
        assert http.get(url(server, f"/transactions/{transaction_id}"), timeout=5).status_code == 404
        found = http.get(url(server, "/transactions"), params={"id(eq)": transaction_id}, timeout=5).json()
        assert [doc["id"] for doc in found["data"]] == [transaction_id]
    finally:
        server.stop()


def documents_on(http, fake, days: list[str], **changes) -> list[int]:
    return [created(post(http, fake, sale(invoiceDate=day, transactionDate=day, **changes))) for day in days]


def listed_ids(http, fake, path="/transactions", **params) -> list[int]:
    response = get(http, fake, path, **params)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def test_list_filters_by_documented_fields(fake, http):
    early, middle, late = documents_on(http, fake, ["2026-08-01", "2026-08-05", "2026-08-09"])
    receipt = created(post(http, fake, sale("RECEIPT", invoiceDate="2026-08-07", transactionDate="2026-08-07")))
    assert listed_ids(http, fake) == [late, receipt, middle, early]  # documented default: transactionDate DESC
    assert listed_ids(http, fake, **{"transactionDate(ge)": "2026-08-05", "type(eq)": "INVOICE"}) == [late, middle]
    assert listed_ids(http, fake, **{"transactionDate(lt)": "2026-08-05"}) == [early]
    assert listed_ids(http, fake, **{"id(in)": f"{early};{late}", "sort": "id", "dir": "ASC"}) == [early, late]
    assert listed_ids(http, fake, **{"customer(eq)": "50", "type(ne)": "INVOICE"}) == [receipt]
    assert listed_ids(http, fake, **{"customer(eq)": "51"}) == []


def test_list_pages_with_start_limit_and_total_size(fake, http):
    ids = documents_on(http, fake, ["2026-08-01", "2026-08-02", "2026-08-03"])
    page = get(http, fake, "/transactions", start=1, limit=1, sort="transactionDate", dir="ASC").json()
    assert ([row["id"] for row in page["data"]], page["totalSize"], page["sort"], page["dir"]) == (
        [ids[1]], 3, "transactionDate", "ASC")
    for params in ({"limit": "0"}, {"start": "-1"}, {"limit": "ten"}, {"dir": "UP"}, {"sort": "nonsense"},
                   {"dataFormat": "FULL"}):
        assert error_of(get(http, fake, "/transactions", **params), 400)["errorCode"] == "invalidValue"


def test_total_size_unknown_and_the_licence_limit_are_switches(http):
    server = make_fake(total_size_unknown=True, max_limit=2)
    try:
        for _ in range(3):
            created(http.post(url(server, "/transactions"), json=sale(), timeout=5))
        first = http.get(url(server, "/transactions"), params={"limit": 50}, timeout=5).json()
        last = http.get(url(server, "/transactions"), params={"start": 2, "limit": 2}, timeout=5).json()
        assert (len(first["data"]), first["totalSize"]) == (2, -1)  # cut to the licence's 2; "at least 2"
        assert (len(last["data"]), last["totalSize"]) == (1, 3)
    finally:
        server.stop()


@pytest.mark.parametrize("setting", ["honour", "ignore"])
def test_undocumented_filters_are_honoured_or_ignored(http, setting):
    server = make_fake(undocumented_filters=setting)
    try:
        mine = created(http.post(url(server, "/transactions"), timeout=5,
                                 json=sale(transactionNumber="SKLEP/1", **{"customFields.custom3": "order-1"})))
        other = created(http.post(url(server, "/transactions"), json=sale(transactionNumber="SKLEP/2"), timeout=5))
        every = sorted([mine, other])
        for params in ({"transactionNumber(eq)": "SKLEP/1"}, {"customFields.custom3(eq)": "order-1"}):
            found = http.get(url(server, "/transactions"), params=params, timeout=5).json()["data"]
            assert sorted(doc["id"] for doc in found) == ([mine] if setting == "honour" else every), params
        by_code = http.get(url(server, "/products"), params={"productCode(eq)": "NONE"}, timeout=5).json()["data"]
        assert [p["id"] for p in by_code] == ([] if setting == "honour" else [52])
    finally:
        server.stop()


@pytest.mark.parametrize("params, code", [
    ({"transactionDate(gte)": "2026-08-01"}, "invalidFilter"),  # unknown operator
    ({"nonsenseField(eq)": "1"}, "invalidFilter"),  # honoured, but no such field
    ({"transactionNumber(gt)": "A"}, "invalidValue"),  # ordering only on numbers and dates
])
def test_bad_filters_are_refused(fake, http, params, code):
    created(post(http, fake, sale()))
    assert error_of(get(http, fake, "/transactions", **params), 400)["errorCode"] == code


def test_name_contains_is_case_insensitive_as_in_the_readme(fake, http):
    fake.add_customer(ORG, "Przykładowy Klient")
    assert [c["name"] for c in get(http, fake, "/customers", **{"name(contains)": "przy"}).json()["data"]] == [
        "Przykładowy Klient"]


def test_transaction_entries_are_listed_per_transaction(fake, http):
    first = created(post(http, fake, sale()))
    created(post(http, fake, sale()))
    entries = lines_of(http, fake, first)
    assert [entry["transaction"]["id"] for entry in entries] == [first]
    assert (entries[0]["quantity"], entries[0]["unitNettoPrice"], entries[0]["vatPercent"]) == (2, 24.38, 23)


# --------------------------------------------------------------------------- PDF


def test_pdf_of_a_transaction_carries_its_number(fake, http):
    transaction_id = created(post(http, fake, sale(transactionNumber="FV 17/08/2026")))
    response = get(http, fake, "/reports/invoices/transaction/Faktura/FV_17.pdf", original="true", id=transaction_id)
    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/pdf")
    assert response.content.startswith(b"%PDF-1.4") and response.content.rstrip().endswith(b"%%EOF")
    assert b"FV 17/08/2026" in response.content and b"ORYGINAL" in response.content
    assert 'filename="FV_17.pdf"' in response.headers["Content-Disposition"]
    copy_ = get(http, fake, "/reports/invoices/transaction/Faktura/x.pdf", original="false", id=transaction_id)
    assert b"KOPIA" in copy_.content


@pytest.mark.parametrize("path, params, status, code", [
    ("/reports/invoices/transaction/Nieznany/x.pdf", {"original": "true"}, 404, "reportNotFound"),
    ("/reports/invoices/transaction/Faktura/x.pdf", {"original": "true", "id": "424242"}, 404, "entityNotFoundForId"),
    ("/reports/invoices/transaction/Faktura/x.pdf", {"original": "true", "id": ""}, 400, "invalidValue"),
    ("/reports/invoices/transaction/Faktura/x.pdf", {"original": "yes"}, 400, "invalidValue"),
])
def test_pdf_errors(fake, http, path, params, status, code):
    transaction_id = created(post(http, fake, sale()))
    params = {"id": str(transaction_id), **params}
    assert error_of(get(http, fake, path, **params), status)["errorCode"] == code


# --------------------------------------------------------------------------- products and customers


def test_product_edits_only_as_documented(fake, http):
    renamed = http.put(url(fake, "/products/52"), json={"name": "Stół dębowy"}, timeout=5)
    assert renamed.status_code == 200
    assert [(r["property"], r["oldValueDisplay"], r["newValueDisplay"]) for r in renamed.json()["changelog"]] == [
        ("name", "Stół", "Stół dębowy")]
    refused = http.put(url(fake, "/products/52"), json={"currentStoreState": 50}, timeout=5)
    assert error_of(refused, 403)["errorCode"] == "directStoreStateModificationDisabled"
    fake.account(ORG).direct_stock_modification = True
    stock = http.put(url(fake, "/products/52"), json={"currentStoreState": 50}, timeout=5).json()["changelog"][0]
    assert (stock["newValueDisplay"], stock["subClass"], stock["subId"]) == ("50", "warehouse", 1)
    assert fake.stock(ORG, 52) == 50
    assert error_of(http.put(url(fake, "/products/52"), json={"netPrice": 5}, timeout=5), 400)["errorCode"] == (
        "notModelledByLocalFake")
    assert error_of(http.put(url(fake, "/products/9999"), json={"name": "X"}, timeout=5), 404)["errorCode"] == (
        "entityNotFoundForId")


def test_customers_are_created_and_a_repeated_nip_answers_409(fake, http):
    body = {"name": "KOMP-SERVICE Jan Kowalski", "label": "KOMP-SERVICE", "nipNumber": "7291077843",
            "officeAddress.city": "Pruszków", "officeAddress.country": "Polska", "emails": ["biuro@komp.pl"],
            "customerType": "PARTNER"}
    response = post(http, fake, body, path="/customers")
    customer_id = response.json()["changelog"][0]["objectId"]
    assert (response.status_code, response.json()["changelog"][0]["objectLabel"]) == (201, "KOMP-SERVICE")
    duplicate = post(http, fake, {**body, "label": "INNY", "nipNumber": "729-107-78-43"}, path="/customers")
    assert error_of(duplicate, 409) == {
        "errorCode": "duplicateValueFoundException", "objectName": "customer", "fieldName": "nipNumber",
        "duplicateValues": [{"lineNumber": -1, "objectId": customer_id, "value": "729-107-78-43"}]}
    assert error_of(post(http, fake, {**body, "nipNumer": "1"}, path="/customers"), 400)["field"] == "nipNumer"
    found = get(http, fake, "/customers", **{"nipNumber(eq)": "7291077843"}).json()["data"]
    assert [(c["id"], c["officeAddress"]["city"]) for c in found] == [(customer_id, "Pruszków")]
    assert created(post(http, fake, sale(customer=customer_id)))


# --------------------------------------------------------------------------- rate limit, faults, request log


def test_rate_limit_answers_429_per_organisation_and_records_the_peak(http):
    server = make_fake(rate_limit=(3, 60.0))
    try:
        statuses = [http.get(url(server, "/transactions"), timeout=5) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert statuses[-1].json() == {"errorCode": "tooManyRequests"}
        assert int(statuses[-1].headers["Retry-After"]) >= 1
        other = requests.get(url(server, "/transactions", org=OTHER_ORG), auth=(OTHER_LOGIN, OTHER_PASSWORD), timeout=5)
        assert other.status_code == 200  # another organisation has its own window
        assert (server.limiter.peak(ORG), server.limiter.peak(OTHER_ORG)) == (4, 1)
    finally:
        server.stop()


def test_the_default_rate_limit_is_60_per_minute():
    limiter = FirmaoFake().limiter
    assert (limiter.limit, limiter.window_seconds) == (60, 60.0)


def test_status_fault_uses_the_error_shape_and_applies_once(fake, http):
    fake.faults.status(503, method="POST", path=rf"/{ORG}/svc/v1/transactions")
    assert get(http, fake, "/transactions").status_code == 200  # another method: unaffected
    assert error_of(post(http, fake, sale()), 503) == {"errorCode": "serviceUnavailable"}
    assert post(http, fake, sale()).status_code == 201 and len(fake.transactions(ORG)) == 1


def test_rate_limited_fault(fake, http):
    fake.faults.rate_limited(retry_after=7, times=2)
    responses = [get(http, fake, "/transactions") for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "7"


def test_reset_before_storing_leaves_nothing(fake, http):
    fake.faults.reset(method="POST")
    with pytest.raises(requests.ConnectionError):
        post(http, fake, sale(transactionNumber="R/1"))
    assert fake.transactions(ORG) == []


def test_reset_after_commit_stores_and_a_retry_with_our_number_is_refused(fake, http):
    fake.faults.reset(after_commit=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        post(http, fake, sale(transactionNumber="R/2"))
    assert [doc["transactionNumber"] for doc in fake.transactions(ORG)] == ["R/2"]
    retry = post(http, fake, sale(transactionNumber="R/2"))
    assert error_of(retry, 400)["errorCode"] == "transactionNumberAlreadyExists"
    assert fake.transaction_by_number(ORG, "R/2")["id"] == fake.transactions(ORG)[0]["id"]


def test_stall_after_commit_times_the_client_out_but_the_document_exists(fake, http):
    fake.faults.stall_after_commit(0.6, method="POST")
    with pytest.raises(requests.ReadTimeout):
        http.post(url(fake, "/transactions"), json=sale(transactionNumber="S/1"), timeout=0.2)
    found = get(http, fake, "/transactions", **{"transactionNumber(eq)": "S/1"}).json()["data"]
    assert [doc["transactionNumber"] for doc in found] == ["S/1"]


def test_slow_fault_delays_but_answers(fake, http):
    fake.faults.slow(0.3)
    started = time.monotonic()
    assert get(http, fake, "/transactions").status_code == 200 and time.monotonic() - started >= 0.3


def test_a_slow_request_counts_in_the_limit_when_it_arrives(http):
    """A provider counts a request on arrival, however long it then takes (common.FakeServer): counted
    only once handled, a slow request would make the peak exceed what any client sent in a window."""
    server = make_fake(rate_limit=(2, 60.0))
    try:
        server.faults.slow(0.5, method="GET")
        answers: list[int] = []
        slow = threading.Thread(target=lambda: answers.append(http.get(url(server, "/transactions"), timeout=5)
                                                              .status_code))
        slow.start()
        time.sleep(0.2)  # the slow request has arrived and is being handled
        quick = [requests.get(url(server, "/transactions"), auth=(LOGIN, PASSWORD), timeout=5).status_code
                 for _ in range(2)]
        slow.join()
        assert (answers, quick) == ([200], [200, 429])
    finally:
        server.stop()


def test_request_log_holds_the_organisation_and_no_credentials(fake, http):
    post(http, fake, sale())
    requests.get(url(fake, "/transactions"), auth=(LOGIN, "wrong"), timeout=5)
    entries = fake.requests.entries()
    assert [(e.method, e.path, e.status, e.key) for e in entries] == [
        ("POST", f"/{ORG}/svc/v1/transactions", 201, ORG), ("GET", f"/{ORG}/svc/v1/transactions", 401, ORG)]
    assert PASSWORD not in repr(entries) and LOGIN not in repr(entries)


def test_unknown_paths_answer_404_in_the_error_shape(fake, http):
    assert error_of(get(http, fake, "/invoices"), 404) == {"errorCode": "notFound"}


def test_changelog_object_ids_as_strings_is_a_switch(http):
    server = make_fake(string_object_ids=True)
    try:
        response = http.post(url(server, "/transactions"), json=copy.deepcopy(README_INVOICE), timeout=5)
        assert response.json()["changelog"][0]["objectId"] == str(server.transactions(ORG)[0]["id"])
    finally:
        server.stop()


def test_an_unknown_switch_value_is_refused():
    with pytest.raises(ValueError, match="totals"):
        FirmaoFake(totals="maybe")
