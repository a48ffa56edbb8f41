"""The SmartBill fake, driven over real HTTP on 127.0.0.1 the way the adapter will drive it.

These tests pin the fake to SmartBill's own documentation (the OpenAPI document behind
api.smartbill.ro, its Postman collection; see local/fakes/smartbill/model.py), so that a test
passing against the fake means something for the real API.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from decimal import Decimal

import pytest
import requests

from local.fakes.smartbill import SmartBillFake

EMAIL, TOKEN, CIF = "shop@example.ro", "fake-token-1", "RO14399840"
OTHER_EMAIL, OTHER_CIF = "other@example.ro", "RO18547290"
TODAY = date(2026, 3, 2)
INVOICE_OK = {"errorText": "", "message": "", "url": ""}


class Clock:
    """A hand-moved unix clock for the rate limit."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def serve(**options):
    fake = SmartBillFake(today=TODAY, **options)
    fake.start()
    fake.add_account(EMAIL, TOKEN, CIF, name="Magazin Demo SRL")
    fake.add_account(OTHER_EMAIL, "fake-token-2", OTHER_CIF, name="Alt Magazin SRL")
    return fake


@pytest.fixture
def fake(clock):
    server = serve(clock=clock)
    yield server
    server.stop()
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 must never go through a proxy from the environment
    session.auth = (EMAIL, TOKEN)
    session.headers["Accept"] = "application/json"
    yield session
    session.close()


def as_json(body) -> str:
    """JSON with Decimal amounts written as JSON numbers (the documented doubles), never via float."""
    marked = json.dumps(body, default=lambda amount: f"<decimal>{amount}")
    return re.sub(r'"<decimal>([-0-9.E+]+)"', r"\1", marked)


def post(http, fake, body, path="/invoice", **kwargs):
    return http.post(f"{fake.api_url}{path}", data=as_json(body), timeout=5,
                     headers={"Content-Type": "application/json"}, **kwargs)


def get(http, fake, path, **params):
    return http.get(f"{fake.api_url}{path}", params={"cif": CIF, **params}, timeout=5)


def keyed(http, fake, method, path, series="FCT", number="0001", **headers):
    return http.request(method, f"{fake.api_url}{path}", params={"cif": CIF, "seriesname": series, "number": number},
                        headers=headers, timeout=5)


def error_of(response, status=400):
    assert response.status_code == status, response.text
    return response.json()["errorText"]


def product(**changes):
    line = {"name": "Cana ceramica", "code": "CANA-300", "isDiscount": False, "measuringUnitName": "buc",
            "currency": "RON", "quantity": 2, "price": Decimal("12.10"), "isTaxIncluded": True, "taxName": "Normala",
            "taxPercentage": 21, "saveToDb": False, "isService": False}
    return {**line, **changes}


def invoice(*products, **changes):
    """POSTMAN's "Emitere factura simpla" body, with a real county and today's Romanian rates."""
    body = {"companyVatCode": CIF,
            "client": {"name": "Ion Popescu", "vatCode": "-", "isTaxPayer": False, "address": "Str. Lunga nr. 2",
                       "city": "Cluj-Napoca", "county": "Cluj", "country": "Romania", "email": "ion@example.ro",
                       "saveToDb": False},
            "issueDate": "2026-03-02", "seriesName": "FCT", "isDraft": False, "dueDate": "2026-03-16",
            "deliveryDate": "2026-03-02", "products": list(products) or [product()]}
    return {**body, **changes}


def stored(fake, number="0001", series="FCT", cif=CIF):
    return fake.company(cif).invoice(series, number)


def totals(document):
    return document["net"], document["vat"], document["total"]


# --------------------------------------------------------------------------- create and totals


def test_issues_the_postman_example_with_its_number_and_series_and_rate_headers(fake, http):
    response = post(http, fake, invoice())
    assert response.status_code == 200
    assert response.json() == {**INVOICE_OK, "number": "0001", "series": "FCT"}
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("30", "29")
    assert int(response.headers["X-RateLimit-Reset"]) == 1_800_000_010
    document = stored(fake)
    # Gross-priced: 2 x 12.10 = 24.20, of which VAT 21/121 = 4.20.
    assert totals(document) == (Decimal("20.00"), Decimal("4.20"), Decimal("24.20"))
    assert (document["currency"], document["status"], document["issueDate"]) == ("RON", "emisa", TODAY)


def test_net_prices_get_vat_added_per_entry_rounded_half_up(fake, http):
    body = invoice(product(quantity=3, price=Decimal("19.99"), isTaxIncluded=False),
                   product(name="Carte", quantity=1, price=Decimal("45.50"), isTaxIncluded=False, taxName="Redusa",
                           taxPercentage=11))
    assert post(http, fake, body).status_code == 200
    lines = stored(fake)["lines"]
    assert [(line["net"], line["vat"], line["gross"]) for line in lines] == [
        (Decimal("59.97"), Decimal("12.59"), Decimal("72.56")),
        (Decimal("45.50"), Decimal("5.01"), Decimal("50.51"))]  # 5.005 rounds up
    assert totals(stored(fake)) == (Decimal("105.47"), Decimal("17.60"), Decimal("123.07"))


def test_vat_is_extracted_from_a_gross_price(fake, http):
    assert post(http, fake, invoice(product(quantity=1, price=Decimal("9.99")))).status_code == 200
    assert totals(stored(fake)) == (Decimal("8.26"), Decimal("1.73"), Decimal("9.99"))


@pytest.mark.parametrize(("precision", "unit_price", "gross"), [
    (None, Decimal("10.12"), Decimal("30.36")), (4, Decimal("10.1235"), Decimal("30.37")),
    (7, Decimal("10.1235"), Decimal("30.37"))])  # above 4 is limited to 4 (documented)
def test_precision_rounds_the_unit_price_not_the_amounts(fake, http, precision, unit_price, gross):
    body = invoice(product(quantity=3, price=Decimal("10.12345")), precision=precision)
    assert post(http, fake, body).status_code == 200
    line = stored(fake)["lines"][0]
    assert (line["price"], line["gross"]) == (unit_price, gross)


def test_a_paid_invoice_reads_back_as_paid(fake, http):
    body = invoice(payment={"value": Decimal("24.20"), "paymentSeries": None, "type": "Card", "isCash": False})
    assert post(http, fake, body).status_code == 200
    status = keyed(http, fake, "GET", "/invoice/paymentstatus").json()
    assert status == {"errorText": "", "message": "", "number": "", "series": "", "invoiceTotalAmount": 24.2,
                      "paidAmount": 24.2, "unpaidAmount": 0.0, "paid": True}


def test_an_unpaid_invoice_reads_back_as_unpaid_and_a_partial_payment_counts(fake, http):
    post(http, fake, invoice())
    post(http, fake, invoice(payment={"value": 10, "type": "Ordin plata"}))
    unpaid = keyed(http, fake, "GET", "/invoice/paymentstatus", number="0001").json()
    partial = keyed(http, fake, "GET", "/invoice/paymentstatus", number="0002").json()
    assert (unpaid["paidAmount"], unpaid["unpaidAmount"], unpaid["paid"]) == (0.0, 24.2, False)
    assert (partial["paidAmount"], partial["unpaidAmount"], partial["paid"]) == (10.0, 14.2, False)


def test_a_cash_receipt_takes_the_next_number_of_its_receipt_series(fake, http):
    body = invoice(payment={"value": 24.2, "paymentSeries": "CHT", "type": "Chitanta", "isCash": True})
    assert post(http, fake, body).status_code == 200
    assert stored(fake)["payments"][0]["receipt"] == "CHT 0001"
    receipts = get(http, fake, "/series", type="c").json()["list"]
    assert receipts == [{"name": "CHT", "nextNumber": "0002", "type": "c"}]


@pytest.mark.parametrize(("payment", "message"), [
    ({"value": 5, "type": "Chitanta", "paymentSeries": "NOPE"}, "Seria incasarii nu a fost gasita pe server."),
    ({"value": 5, "type": "Cash"}, "Tipul incasarii nu a fost gasit!"),
    ({"type": "Card"}, "value trebuie specificat pentru incasare"),
    ({"value": 5}, "type trebuie specificat pentru incasare")])
def test_payment_errors_are_the_documented_ones(fake, http, payment, message):
    assert error_of(post(http, fake, invoice(payment=payment))) == message
    assert fake.company(CIF).invoices == {}


def test_an_eur_invoice_keeps_eur_amounts_at_the_rate_sent_or_the_bnr_rate(fake, http):
    eur = product(currency="EUR", quantity=1, price=Decimal("100.00"), isTaxIncluded=False)
    assert post(http, fake, invoice(eur, currency="EUR", exchangeRate=Decimal("4.97"))).status_code == 200
    fake.set_exchange_rate("EUR", "5.0123")
    assert post(http, fake, invoice(eur, currency="EUR")).status_code == 200
    sent_rate, bnr_rate = stored(fake, "0001"), stored(fake, "0002")
    assert (totals(sent_rate), sent_rate["currency"]) == ((Decimal("100.00"), Decimal("21.00"), Decimal("121.00")),
                                                          "EUR")
    assert (sent_rate["exchangeRate"], sent_rate["totalRon"]) == (Decimal("4.97"), Decimal("601.37"))
    assert (bnr_rate["exchangeRate"], bnr_rate["totalRon"]) == (Decimal("5.0123"), Decimal("606.49"))
    pdf = keyed(http, fake, "GET", "/invoice/pdf", Accept="application/octet-stream").content
    assert b"Total de plata: 121.00 EUR" in pdf


def test_currency_rules(fake, http):
    ron_line_on_eur = invoice(product(), currency="EUR", exchangeRate=5)
    eur_line_on_ron = invoice(product(currency="EUR", price=10, exchangeRate=5))
    assert error_of(post(http, fake, ron_line_on_eur)) == (
        "Nu puteti emite documente in EUR cu moneda de referinta a produselor in RON !")
    assert error_of(post(http, fake, eur_line_on_ron)) == (
        "Aveti produse care au pretul in alta moneda decat cea a facturii.")
    assert error_of(post(http, fake, invoice(currency="XYZ"))) == "Moneda nu a fost gasita pe server!"
    fake.company(CIF).foreign_reference_prices = True  # "Am preturi cu moneda de referinta in valuta"
    assert post(http, fake, eur_line_on_ron).status_code == 200
    line = stored(fake)["lines"][0]
    assert (line["productCurrency"], line["price"], line["gross"]) == ("EUR", Decimal("50.00"), Decimal("100.00"))


def test_a_romanian_company_client_needs_a_real_county_and_a_valid_cif(fake, http):
    company_client = {"name": "Firma Client SRL", "vatCode": "RO18547290", "regCom": "J12/345/2020",
                      "isTaxPayer": True, "address": "Str. Fabricii 5", "city": "Cluj-Napoca", "county": "Cluj",
                      "country": "Romania", "saveToDb": False}
    assert post(http, fake, invoice(client=company_client)).status_code == 200
    assert stored(fake)["client"]["regCom"] == "J12/345/2020"
    city_as_county = {**company_client, "county": "Cluj-Napoca"}  # what POSTMAN's own variables send
    assert error_of(post(http, fake, invoice(client=city_as_county))) == (
        "Judetul clientului (Cluj-Napoca) nu este un judet din Romania.")
    bucharest = {**company_client, "county": "Bucuresti", "city": "Bucuresti"}
    assert "sector" in error_of(post(http, fake, invoice(client=bucharest)))
    assert post(http, fake, invoice(client={**bucharest, "city": "Sector 3"})).status_code == 200
    bad_cif = {**company_client, "vatCode": "RO12345678"}
    assert error_of(post(http, fake, invoice(client=bad_cif))) == "CIF-ul/CNP-ul clientului (RO12345678) nu este valid."
    assert error_of(post(http, fake, invoice(client=drop(company_client, "vatCode")))).startswith(
        "CIF-ul/CNP-ul clientului trebuie completat")
    person_with_cnp = {**company_client, "name": "Ana Pop", "vatCode": "1800101221144", "isTaxPayer": False}
    assert post(http, fake, invoice(client=person_with_cnp)).status_code == 200
    foreign = {"name": "Kunde GmbH", "vatCode": "DE811569869", "country": "Germany", "city": "Berlin"}
    assert post(http, fake, invoice(client=foreign)).status_code == 200


def test_the_anaf_conditions_can_be_switched_off(http):
    fake = serve(anaf_checks=False)
    try:
        client = {"name": "Firma Client SRL", "county": "Cluj-Napoca", "country": "Romania"}
        assert post(http, fake, invoice(client=client)).status_code == 200
    finally:
        fake.stop()


# --------------------------------------------------------------------------- VAT rates


def test_get_tax_lists_the_accounts_own_rates(fake, http):
    fake.add_tax(CIF, "Redusa locuinte", 5)
    taxes = get(http, fake, "/tax").json()
    assert taxes["errorText"] == "" and "url" not in taxes
    assert taxes["taxes"] == [{"name": "Normala", "percentage": 21.0}, {"name": "Redusa", "percentage": 11.0},
                              {"name": "Taxare inversa", "percentage": 0.0}, {"name": "TVA Inclus", "percentage": 0.0},
                              {"name": "SDD", "percentage": 0.0}, {"name": "SFDD", "percentage": 0.0},
                              {"name": "Redusa locuinte", "percentage": 5.0}]


@pytest.mark.parametrize(("changes", "message"), [
    ({"taxPercentage": 19}, "Cota tva a produsului Cana ceramica nu a fost gasita pe server!"),  # the old rate
    ({"taxName": "Scutita", "taxPercentage": 0}, "Cota tva a produsului Cana ceramica nu a fost gasita pe server!"),
    ({"taxName": None, "taxPercentage": None}, "Trebuie sa setezi o cota tva pentru produsul Cana ceramica.")])
def test_a_rate_must_be_one_of_the_account(fake, http, changes, message):
    assert error_of(post(http, fake, invoice(product(**changes)))) == message


@pytest.mark.parametrize(("changes", "tax_name"), [
    ({"taxName": None, "taxPercentage": 0}, "TVA Inclus"),  # documented default of a 0 % line
    ({"taxName": "SDD", "taxPercentage": 0}, "SDD"),
    ({"taxName": "Redusa", "taxPercentage": None}, "Redusa")])
def test_rates_are_found_by_name_and_percentage(fake, http, changes, tax_name):
    assert post(http, fake, invoice(product(**changes))).status_code == 200
    assert stored(fake)["lines"][0]["taxName"] == tax_name


def test_a_firm_that_is_no_vat_payer_shows_no_vat(fake, http):
    fake.company(CIF).vat_payer = False
    assert post(http, fake, invoice(product(taxPercentage=99))).status_code == 200  # VAT fields are ignored
    assert totals(stored(fake)) == (Decimal("24.20"), Decimal("0.00"), Decimal("24.20"))
    assert error_of(post(http, fake, invoice(usePaymentTax=True))) == (
        "O firma neplatitoare de tva nu poate folosi tva la incasare!")


def test_discounts_by_value_and_by_percent_as_in_the_spec_example(fake, http):
    mapa = product(name="Mapa A4", code="ccd1", quantity=2, price=40)
    biblioraft = product(name="Biblioraft", code="ccd2", quantity=3, price=60)
    common = {"isDiscount": True, "measuringUnitName": "buc", "currency": "RON", "isTaxIncluded": True,
              "taxName": "Normala", "taxPercentage": 21}
    by_value = {**common, "name": "Discount valoric", "numberOfItems": 1, "discountType": 1, "discountValue": -15}
    by_percent = {**common, "name": "Discount 10%", "numberOfItems": 3, "discountType": 2, "discountPercentage": 10}
    assert post(http, fake, invoice(mapa, biblioraft, by_value, by_percent)).status_code == 200
    lines = stored(fake)["lines"]
    assert [line["gross"] for line in lines] == [Decimal("80.00"), Decimal("180.00"), Decimal("-15.00"),
                                                 Decimal("-24.50")]  # 10 % of 80 + 180 - 15
    assert totals(stored(fake)) == (Decimal("182.23"), Decimal("38.27"), Decimal("220.50"))


@pytest.mark.parametrize(("discount", "message"), [
    ({"discountType": 1, "discountValue": None},
     "discountValue trebuie specificat pentru fiecare produs de tip discount"),
    ({"discountType": 2}, "discountPercentage trebuie specificat pentru fiecare produs de tip discount"),
    ({"discountType": 2, "discountPercentage": 10, "taxName": None, "taxPercentage": None},
     "La aplicarea unui discount pentru produse cu cote tva diferite, trebuie sa specifici si cota tva a "
     "discountului.")])
def test_discount_errors(fake, http, discount, message):
    base = {"name": "Discount", "isDiscount": True, "numberOfItems": 2, "measuringUnitName": "buc", "currency": "RON",
            "isTaxIncluded": True, "taxName": "Normala", "taxPercentage": 21}
    body = invoice(product(), product(name="Carte", taxName="Redusa", taxPercentage=11), {**base, **discount})
    assert error_of(post(http, fake, body)) == message


# --------------------------------------------------------------------------- strictness and errors


@pytest.mark.parametrize(("body_change", "message"), [
    ({"isDraf": False}, 'Unrecognized field "isDraf" (class Invoice), not marked as ignorable'),
    ({"client": {"nmae": "Ion"}}, 'Unrecognized field "nmae" (class Client), not marked as ignorable'),
    ({"products": [product(taxPercent=21)]},
     'Unrecognized field "taxPercent" (class Product), not marked as ignorable'),
    ({"invoice": {}}, 'Unrecognized field "invoice" (class Invoice), not marked as ignorable')])  # no XML root
def test_a_misspelt_or_unknown_field_is_refused(fake, http, body_change, message):
    assert error_of(post(http, fake, invoice(**body_change))) == message
    assert fake.company(CIF).invoices == {}


def test_unknown_fields_can_be_ignored_and_the_plugins_own_field_is_known(http):
    lenient = serve(refuse_unknown_fields=False)
    try:
        assert post(http, lenient, invoice(isDraf=False)).status_code == 200
    finally:
        lenient.stop()


def test_the_official_plugins_extra_field_and_the_specs_nulls_are_accepted(fake, http):
    body = invoice(product(translatedName=None, exchangeRate=None, warehouseName=None), currency=None, mentions=None,
                   ecommercePluginInfo={"platformName": "magento", "details": {}})
    assert post(http, fake, body).status_code == 200


@pytest.mark.parametrize(("body_change", "message"), [
    ({"products": [product(price="12.10")]}, 'Cannot deserialize value of type `double` from String "12.10" '
                                             '(field "price")'),
    ({"isDraft": "false"}, 'Cannot deserialize value of type `boolean` from String "false" (field "isDraft")'),
    ({"products": [product(quantity=True)]}, 'Cannot deserialize value of type `double` from Boolean value '
                                             '(field "quantity")')])
def test_values_must_have_the_documented_json_types(fake, http, body_change, message):
    assert error_of(post(http, fake, invoice(**body_change))) == message


def test_booleans_may_be_one_and_zero(fake, http):
    assert post(http, fake, invoice(product(isTaxIncluded=0, quantity=1, price=10), isDraft=0)).status_code == 200
    assert totals(stored(fake)) == (Decimal("10.00"), Decimal("2.10"), Decimal("12.10"))


def drop(body, path):
    """The body without one field; path like 'client.name' or 'products.0.price'."""
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[last]
    return body


@pytest.mark.parametrize(("body", "message"), [
    (drop(invoice(), "companyVatCode"), "CIF-ul firmei ('companyVatCode') trebuie specificat"),
    (drop(invoice(), "client"), "client trebuie specificat"),
    (invoice(client={"name": ""}), "Client invalid!"),
    (invoice(products=[]), "Factura nu contine produse!"),
    (drop(invoice(), "products.0.name"), "name trebuie specificat pentru fiecare produs"),
    (drop(invoice(), "products.0.measuringUnitName"), "measuringUnitName trebuie specificat pentru fiecare produs"),
    (drop(invoice(), "products.0.currency"), "currency trebuie specificat pentru fiecare produs"),
    (drop(invoice(), "products.0.quantity"), "quantity trebuie specificat pentru fiecare produs"),
    (drop(invoice(), "products.0.price"), "price trebuie specificat pentru fiecare produs"),
    (invoice(issueDate="02.03.2026"), "Data documentului trebuie sa fie de forma yyyy-MM-dd."),
    (invoice(seriesName="NOPE"), "Seria nu a fost gasita! Folositi o serie creata in contul de cloud."),
    (invoice(seriesName="CHT"), "Seria nu a fost gasita! Folositi o serie creata in contul de cloud."),
    (invoice(language="XX"), "Limba nu a fost gasita pe server!"),
    (invoice(products=[product()] * 401), "Numarul maxim acceptat de 400 intrari pe document a fost depasit."),
    (invoice(product(isDiscount=True)), "Nu poti sa emiti un document care contine doar un discount. Trebuie sa ai "
                                        "si produse / servicii adaugate."),
    (invoice(companyVatCode="RO99999996"), "Firma la care incercati sa va conectati nu mai este disponibila in Cloud. "
                                           "Verificati ciful companiei.")])
def test_required_fields_and_references_answer_the_documented_400(fake, http, body, message):
    assert error_of(post(http, fake, body)) == message
    assert fake.company(CIF).invoices == {} and fake.company(CIF).series["FCT"].next_number == 1


def test_a_firm_that_uses_product_codes_needs_one_on_every_product(fake, http):
    fake.company(CIF).uses_product_codes = True
    assert error_of(post(http, fake, invoice(product(code=None)))) == "Produsul Cana ceramica nu are codul specificat."


def test_errors_can_come_with_http_200_as_one_third_party_client_reports(http):
    lenient = serve(error_status=200)
    try:
        assert error_of(post(http, lenient, invoice(seriesName="NOPE")), status=200).startswith("Seria nu a fost")
    finally:
        lenient.stop()


# --------------------------------------------------------------------------- auth and transport


def test_wrong_or_missing_credentials_get_tomcats_401_page(fake, http):
    for auth in [(EMAIL, "wrong"), ("nobody@example.ro", TOKEN), None]:
        response = requests.post(f"{fake.api_url}/invoice", data=as_json(invoice()), auth=auth, timeout=5,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 401
        assert response.headers["Content-Type"].startswith("text/html")
        assert "<h1>HTTP Status 401 - Unauthorized</h1>" in response.text
    assert fake.company(CIF).invoices == {}


def test_another_logins_firm_is_refused_and_the_cif_may_come_without_ro(fake, http):
    assert error_of(post(http, fake, invoice(companyVatCode=OTHER_CIF)), status=401) == (
        "Firma la care incercati sa va conectati nu este disponibila pentru acest utilizator.")
    assert post(http, fake, invoice(companyVatCode="14399840")).status_code == 200
    assert fake.company(OTHER_CIF).invoices == {} and list(fake.company(CIF).invoices) == [("FCT", "0001")]


def test_one_login_may_reach_two_firms(fake, http):
    fake.add_company(EMAIL, "RO41144780", name="Al doilea SRL")
    assert post(http, fake, invoice(companyVatCode="RO41144780")).json()["number"] == "0001"
    assert list(fake.company("41144780").invoices) == [("FCT", "0001")]


def test_only_json_is_spoken(fake, http):
    form = http.post(f"{fake.api_url}/invoice", data="companyVatCode=1", timeout=5,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    xml = http.post(f"{fake.api_url}/invoice", data="<invoice/>", headers={"Content-Type": "application/xml"},
                    timeout=5)
    broken = http.post(f"{fake.api_url}/invoice", data="{", headers={"Content-Type": "application/json"}, timeout=5)
    xml_answer = http.get(f"{fake.api_url}/tax", params={"cif": CIF}, headers={"Accept": "application/xml"}, timeout=5)
    assert form.status_code == 415
    assert error_of(xml, 501) == "XML (Content-Type: application/xml) is not modelled by the local SmartBill fake"
    assert error_of(broken).startswith("Continutul apelului nu este un JSON valid")
    assert xml_answer.status_code == 501


def test_unknown_paths_wrong_methods_and_unmodelled_endpoints(fake, http):
    assert http.get(f"{fake.api_url}/invoices", timeout=5).status_code == 404
    assert http.get(f"{fake.api_url}/invoice", timeout=5).status_code == 405  # there is no GET of an invoice
    assert http.get(f"{fake.api_url}/invoice/list", timeout=5).status_code == 404
    estimate = post(http, fake, invoice(), path="/estimate")
    assert error_of(estimate, 501) == "POST /estimate is not modelled by the local SmartBill fake"


def test_the_request_log_holds_no_credentials(fake, http):
    post(http, fake, invoice())
    requests.get(f"{fake.api_url}/tax", params={"cif": CIF}, auth=(EMAIL, "wrong"), timeout=5)
    entries = fake.requests.entries()
    assert [(e.method, e.path, e.status, e.key) for e in entries] == [
        ("POST", "/SBORO/api/invoice", 200, "14399840"), ("GET", "/SBORO/api/tax", 401, None)]
    assert TOKEN not in repr(entries) and EMAIL not in repr(entries)


# --------------------------------------------------------------------------- numbering, drafts, no idempotency


def test_numbers_run_per_series_and_a_repeated_post_makes_a_second_invoice(fake, http):
    fake.add_series(CIF, "WEB", next_number=117)
    first, second = post(http, fake, invoice()), post(http, fake, invoice())
    web = post(http, fake, invoice(seriesName="WEB"))
    assert [r.json()["number"] for r in (first, second, web)] == ["0001", "0002", "0117"]
    invoices = get(http, fake, "/series", type="f").json()["list"]
    assert invoices == [{"name": "FCT", "nextNumber": "0003", "type": "f"},
                        {"name": "WEB", "nextNumber": "0118", "type": "f"}]
    assert {entry["type"] for entry in get(http, fake, "/series").json()["list"]} == {"f", "c", "p"}
    assert error_of(get(http, fake, "/series", type="g")) == (
        "Tipul documentului nu poate fi g! Parametrul type poate lua valorile: 'f' pentru factura, 'p' pentru "
        "proforma si 'c' pentru chitanta.")


def test_without_series_name_the_default_invoice_series_is_used(fake, http):
    fake.add_series(CIF, "WEB", next_number=5, default=True)
    assert post(http, fake, drop(invoice(), "seriesName")).json()["series"] == "WEB"


def test_a_draft_gets_no_number_and_changes_nothing(fake, http):
    response = post(http, fake, invoice(isDraft=True))
    assert response.json() == {**INVOICE_OK, "number": "", "series": "FCT"}
    company = fake.company(CIF)
    assert (len(company.drafts), company.invoices, company.series["FCT"].next_number) == (1, {}, 1)
    assert totals(company.drafts[0]) == (Decimal("20.00"), Decimal("4.20"), Decimal("24.20"))
    assert post(http, fake, invoice()).json()["number"] == "0001"


def test_v2_also_returns_the_documents_address(fake, http):
    answer = post(http, fake, invoice(), path="/invoice/v2").json()
    assert (answer["number"], answer["documentId"]) == ("0001", str(stored(fake)["documentId"]))
    assert answer["documentUrl"].startswith("https://cloud.smartbill.ro/documente/editare/factura/")


# --------------------------------------------------------------------------- PDF


def test_the_pdf_needs_accept_octet_stream_and_carries_series_number_and_total(fake, http):
    post(http, fake, invoice())
    as_json = keyed(http, fake, "GET", "/invoice/pdf")
    pdf = keyed(http, fake, "GET", "/invoice/pdf", Accept="application/octet-stream")
    assert as_json.status_code == 406
    assert (pdf.status_code, pdf.headers["Content-Type"]) == (200, "application/octet-stream")
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert b"Factura FCT 0001" in pdf.content and b"Total de plata: 24.20 RON" in pdf.content


def test_the_pdf_of_a_missing_invoice_and_missing_parameters(fake, http):
    headers = {"Accept": "application/octet-stream"}
    url = f"{fake.api_url}/invoice/pdf"
    missing = http.get(url, params={"cif": CIF, "seriesname": "FCT", "number": "0009"}, headers=headers, timeout=5)
    no_number = http.get(url, params={"cif": CIF, "seriesName": "FCT"}, headers=headers, timeout=5)
    no_cif = http.get(url, params={"seriesname": "FCT", "number": "0001"}, headers=headers, timeout=5)
    assert error_of(missing) == "Factura cu seria si numarul FCT 0009 nu a fost gasita!"
    assert error_of(no_number) == "Numarul facturii trebuie specificat!"
    assert error_of(no_cif) == "Ciful firmei trebuie specificat!"


def test_payment_status_of_a_missing_invoice(fake, http):
    assert error_of(keyed(http, fake, "GET", "/invoice/paymentstatus")) == "Factura nu a fost gasita!"


# --------------------------------------------------------------------------- storno, cancel, restore, delete


def reverse(http, fake, number="0001", **changes):
    return post(http, fake, {"companyVatCode": CIF, "seriesName": "FCT", "number": number, **changes},
                path="/invoice/reverse")


def test_a_storno_reverses_the_whole_invoice_once(fake, http):
    post(http, fake, invoice(product(quantity=3, price=Decimal("19.99"), isTaxIncluded=False)))
    answer = reverse(http, fake, issueDate="2026-03-05").json()
    assert (answer["errorText"], answer["number"], answer["series"]) == ("", "0002", "FCT")
    storno = stored(fake, "0002")
    assert (storno["storno"], storno["reverses"], storno["issueDate"]) == (True, ("FCT", "0001"), date(2026, 3, 5))
    assert totals(storno) == (Decimal("-59.97"), Decimal("-12.59"), Decimal("-72.56"))
    assert storno["lines"][0]["quantity"] == Decimal("-3")
    assert keyed(http, fake, "GET", "/invoice/paymentstatus", number="0002").json()["invoiceTotalAmount"] == -72.56
    again = reverse(http, fake)
    assert again.json() == {"errorText": "Factura este deja stornata.", "message": "", "number": "", "series": "",
                            "url": "", "documentUrl": "", "documentId": -1, "documentViewUrl": ""}
    assert error_of(reverse(http, fake, "0002")) == "Factura FCT 0002 este de tip storno. Nu se poate storna."


@pytest.mark.parametrize(("changes", "message"), [
    ({"issueDate": "2026-03-01"}, "Data emiterii facturii storno nu poate fi anterioara datei emiterii facturii "
                                  "stornate."),
    ({"number": "0042"}, "Factura cu seria si numarul FCT 0042 nu a fost gasita!"),
    ({"number": None}, "Numarul facturii trebuie specificat in parametrul 'number'!"),
    ({"seriesName": ""}, "Seria facturii trebuie specificata in parametrul 'seriesName'!"),
    ({"lines": []}, 'Unrecognized field "lines" (class Storno), not marked as ignorable')])
def test_storno_errors(fake, http, changes, message):
    post(http, fake, invoice())
    assert error_of(reverse(http, fake, **changes)) == message


def test_cancel_and_restore(fake, http):
    post(http, fake, invoice())
    cancelled = keyed(http, fake, "PUT", "/invoice/cancel")
    assert cancelled.json() == {**INVOICE_OK, "number": "", "series": "",
                                "message": "Factura cu seria si numarul FCT0001 a fost anulata cu succes."}
    assert stored(fake)["status"] == "anulata"
    assert b"ANULATA" in keyed(http, fake, "GET", "/invoice/pdf", Accept="application/octet-stream").content
    assert error_of(keyed(http, fake, "PUT", "/invoice/cancel")) == "Factura FCT 0001 este deja anulata."
    assert error_of(reverse(http, fake)) == "Factura FCT 0001 este anulata. Nu se poate storna."
    restored = keyed(http, fake, "PUT", "/invoice/restore")
    assert restored.json()["message"] == "Factura cu seria si numarul FCT0001 a fost restaurata cu succes."
    assert stored(fake)["status"] == "emisa"
    assert error_of(keyed(http, fake, "PUT", "/invoice/restore")) == "Factura FCT 0001 nu este anulata."


def test_only_the_last_invoice_of_a_series_can_be_deleted_and_its_number_comes_back(fake, http):
    post(http, fake, invoice())
    post(http, fake, invoice())
    assert error_of(keyed(http, fake, "DELETE", "/invoice", number="0001")) == (
        "Documentul cu seria si numarul FCT 0001 nu este ultimul din serie!")
    deleted = keyed(http, fake, "DELETE", "/invoice", number="0002")
    assert deleted.json()["message"] == "Factura cu seria si numarul FCT0002 a fost stearsa cu succes."
    assert list(fake.company(CIF).invoices) == [("FCT", "0001")]
    assert post(http, fake, invoice()).json()["number"] == "0002"
    no_series = http.delete(f"{fake.api_url}/invoice", params={"cif": CIF, "number": "0002"}, timeout=5)
    assert error_of(no_series) == "Seriesname trebuie specificat."


def test_deleting_a_storno_lets_the_invoice_be_reversed_again(fake, http):
    post(http, fake, invoice())
    reverse(http, fake)
    assert keyed(http, fake, "DELETE", "/invoice", number="0002").status_code == 200
    assert reverse(http, fake).json()["number"] == "0002"


# --------------------------------------------------------------------------- stock


def stock_line(**changes):
    return product(**{"warehouseName": "Magazin", **changes})


def test_use_stock_takes_products_out_and_storno_or_cancel_puts_them_back(fake, http):
    fake.add_warehouse(CIF, "Magazin")
    fake.add_stock(CIF, "Magazin", "Cana ceramica", 5)
    company = fake.company(CIF)
    service = product(name="Transport", isService=True)
    assert post(http, fake, invoice(stock_line(quantity=2), service, useStock=True)).status_code == 200
    assert company.stock_of("Magazin", "Cana ceramica") == 3
    assert error_of(post(http, fake, invoice(stock_line(quantity=4), useStock=True))).startswith(
        "Cantitate stoc insuficienta la <b>Factura FCT 0002</b> din data <b>02/03/2026</b>")
    assert company.stock_of("Magazin", "Cana ceramica") == 3
    reverse(http, fake)
    assert company.stock_of("Magazin", "Cana ceramica") == 5
    assert error_of(keyed(http, fake, "PUT", "/invoice/cancel")) == (
        "Pentru factura FCT 0001 exista deja stornari care incarca stocul. Trebuie sa anulati intai facturile storno "
        "(FCT 0002).")
    keyed(http, fake, "PUT", "/invoice/cancel", number="0002")
    assert company.stock_of("Magazin", "Cana ceramica") == 3
    listed = get(http, fake, "/stocks", date="2026-03-02", warehouseName="Magazin").json()["list"]
    assert listed == [{"products": [{"measuringUnit": "buc", "productCode": "", "productName": "Cana ceramica",
                                     "quantity": 3.0}],
                       "warehouse": {"warehouseName": "Magazin", "warehouseType": "en detail"}}]


@pytest.mark.parametrize(("line", "message"), [
    (stock_line(warehouseName=None), "Gestiunea predatoare nu este setata pentru produsul Cana ceramica."),
    (stock_line(warehouseName="Depozit"), "Gestiunea predatoare Depozit a produsului Cana ceramica nu a fost gasita."),
    (stock_line(name="Farfurie"), "Nu ai facut nicio achizitie pentru produsul Farfurie. Incarca mai intai stoc pentru "
                                  "produs sau emite documentul fara descarcare de gestiune."),
    (stock_line(measuringUnitName="BUC"), "Unitatea de masura BUC a produsului Cana ceramica nu are factor de "
                                          "conversie setat.")])
def test_stock_errors(fake, http, line, message):
    fake.add_warehouse(CIF, "Magazin")
    fake.add_stock(CIF, "Magazin", "Cana ceramica", 5)
    assert error_of(post(http, fake, invoice(line, useStock=True))) == message


def test_use_stock_needs_the_stock_module(fake, http):
    assert error_of(post(http, fake, invoice(stock_line(), useStock=True))) == "Modulul stoc nu este activ!"


@pytest.mark.parametrize("by_code", [True, False])
def test_with_product_codes_stock_goes_by_code_or_by_name_and_code(clock, http, by_code):
    server = serve(clock=clock, stock_by_code=by_code)
    try:
        company = server.company(CIF)
        company.uses_product_codes = True
        server.add_warehouse(CIF, "Magazin")
        server.add_stock(CIF, "Magazin", "Cana ceramica 300 ml", 5, code="CANA-300")
        # The invoice's name for the product is the shop's own; the code is the catalogue's.
        answer = post(http, server, invoice(stock_line(name="Cana (magazin online)"), useStock=True))
        if by_code:
            assert answer.status_code == 200 and company.stock_of_code("Magazin", "CANA-300") == 3
        else:
            assert error_of(answer).startswith("Nu ai facut nicio achizitie pentru produsul Cana (magazin online).")
            assert company.stock_of_code("Magazin", "CANA-300") == 5
        unknown = post(http, server, invoice(stock_line(code="CANA-999"), useStock=True))
        assert error_of(unknown).startswith("Nu ai facut nicio achizitie pentru produsul Cana ceramica.")
        misspelt = post(http, server, invoice(stock_line(warehouse="Magazin"), useStock=True))
        assert misspelt.status_code == 400 and "warehouse" in error_of(misspelt)
        listed = get(http, server, "/stocks", date="2026-03-02", warehouseName="Magazin", productCode="CANA-300")
        assert listed.json()["list"][0]["products"] == [{"measuringUnit": "buc", "productCode": "CANA-300",
                                                          "productName": "Cana ceramica 300 ml",
                                                          "quantity": 3 if by_code else 5}]
    finally:
        server.stop()


# --------------------------------------------------------------------------- rate limit and faults


def test_the_31st_call_in_10_seconds_blocks_the_user_for_10_minutes(fake, http, clock):
    answers = []
    for _ in range(31):
        answers.append(get(http, fake, "/tax"))
        clock.now += 0.25
    assert [a.status_code for a in answers] == [200] * 30 + [403]
    assert answers[29].headers["X-RateLimit-Remaining"] == "0"
    assert error_of(answers[30], 403) == (
        "Utilizatorul a fost blocat pentru ca s-a depasit limita maxima de apeluri permise.")
    assert fake.limiter.peak(EMAIL) == 31
    clock.now += 599  # 10 minutes after the 31st call, less a little
    assert get(http, fake, "/tax").status_code == 403
    assert post(http, fake, invoice()).status_code == 403 and fake.company(CIF).invoices == {}
    clock.now += 1
    assert get(http, fake, "/tax").status_code == 200
    other = requests.get(f"{fake.api_url}/tax", params={"cif": OTHER_CIF}, auth=(OTHER_EMAIL, "fake-token-2"),
                         headers={"Accept": "application/json"}, timeout=5)
    assert other.status_code == 200  # counted per user


def test_30_calls_per_fixed_window_are_fine(fake, http, clock):
    for _ in range(30):
        assert get(http, fake, "/tax").status_code == 200
    clock.now += 10
    assert get(http, fake, "/tax").headers["X-RateLimit-Remaining"] == "29"
    assert fake.limiter.blocked_until(EMAIL) is None and fake.limiter.peak(EMAIL) == 30


def test_without_enforcement_the_peak_is_still_measured(http):
    unlimited = serve(rate_limit=None)
    try:
        for _ in range(32):
            assert get(http, unlimited, "/tax").status_code == 200
        assert unlimited.limiter.peak(EMAIL) == 32
    finally:
        unlimited.stop()


def test_injected_server_errors_store_nothing_and_a_retry_issues(fake, http):
    fake.faults.status(503, method="POST", path=r"/SBORO/api/invoice")
    failed = post(http, fake, invoice())
    assert failed.status_code == 503 and "HTTP Status 503" in failed.text
    assert fake.company(CIF).invoices == {}
    assert post(http, fake, invoice()).json()["number"] == "0001"


def test_a_reset_after_commit_leaves_an_invoice_that_a_blind_retry_doubles(fake, http):
    fake.faults.reset(after_commit=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        post(http, fake, invoice())
    assert post(http, fake, invoice()).json()["number"] == "0002"  # no idempotency key, no duplicate check
    assert list(fake.company(CIF).invoices) == [("FCT", "0001"), ("FCT", "0002")]


def test_a_stall_after_commit_times_out_although_the_invoice_exists(fake, http):
    fake.faults.stall_after_commit(0.6, method="POST")
    with pytest.raises(requests.ReadTimeout):
        http.post(f"{fake.api_url}/invoice", data=as_json(invoice()), headers={"Content-Type": "application/json"},
                  timeout=0.2)
    # What an adapter can check instead of listing (there is no list): the series moved on.
    assert get(http, fake, "/series", type="f").json()["list"][0]["nextNumber"] == "0002"
    assert keyed(http, fake, "GET", "/invoice/paymentstatus").json()["invoiceTotalAmount"] == 24.2


def test_an_injected_rate_limit_answers_the_403(fake, http):
    fake.faults.rate_limited(path=r"/SBORO/api/tax")
    assert error_of(get(http, fake, "/tax"), 403).startswith("Utilizatorul a fost blocat")
    assert get(http, fake, "/tax").status_code == 200
