"""The wFirma fake, driven over real HTTP on 127.0.0.1 the way a client drives wFirma.

These tests pin the fake to the provider's documentation (facts file section 1), so that a test
passing against the fake means something for the real API.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest
import requests

from local.fakes.wfirma import BAD_DATE, BLANK, NO_PDF_FOR_FISCAL, WfirmaFake, nip_is_valid

APP_KEY = "app-key-of-our-integration"
ACCESS, SECRET = "access-key-shop", "secret-key-shop"
JSON_FORMAT = {"inputFormat": "json", "outputFormat": "json"}


@pytest.fixture
def fake():
    with WfirmaFake(app_key=APP_KEY, rate_limit=None) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def company_id(fake) -> int:
    return fake.add_company(ACCESS, SECRET, name="Sklep Demo Sp. z o.o.", nip="5252445767")


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 must never go through a proxy from the environment
    yield session
    session.close()


def keys(access: str = ACCESS, secret: str = SECRET, app: str = APP_KEY) -> dict[str, str]:
    return {"accessKey": access, "secretKey": secret, "appKey": app}


def call(http, fake, action: str, body: Any = None, *, headers: dict[str, str] | None = None,
         params: dict[str, Any] | None = None, method: str = "POST", timeout: float = 5) -> requests.Response:
    return http.request(method, f"{fake.base_url}/{action}", json=body, timeout=timeout,
                        headers=keys() if headers is None else headers,
                        params=JSON_FORMAT if params is None else params)


def status(response: requests.Response) -> str:
    return response.json()["status"]["code"]


def first(response: requests.Response, module: str = "invoices", name: str = "invoice") -> dict:
    return response.json()[module]["0"][name]


def buyer(**changes: str) -> dict[str, str]:
    return {"name": "ACME Sp. z o.o.", "tax_id_type": "nip", "nip": "5261040828", "street": "Prosta 1",
            "zip": "00-001", "city": "Warszawa", "country": "PL", **changes}


def line(fake, company_id: int, *, name: str = "Usługa", count: str = "1", price: str = "100.00",
         code: str = "23", **extra: Any) -> dict[str, Any]:
    return {"name": name, "unit": "szt.", "count": count, "price": price,
            "vat_code": {"id": str(fake.company(company_id).vat_code_id(code))}, **extra}


def invoice(fake, company_id: int, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"type": "normal", "date": "2026-11-24", "price_type": "netto", "contractor": buyer(),
            "invoicecontents": {str(i): {"invoicecontent": item} for i, item in
                                enumerate(lines or [line(fake, company_id)])}, **fields}
    return {"invoices": {"0": {"invoice": body}}}


def add(http, fake, company_id: int, *lines: dict[str, Any], **fields: Any) -> requests.Response:
    return call(http, fake, "invoices/add", invoice(fake, company_id, *lines, **fields))


# --------------------------------------------------------------------------- the documentation's example


def test_the_facts_files_example_body_is_accepted_with_wfirmas_own_totals(fake, company_id, http) -> None:
    """Facts file 1.2, verbatim except the ids, which must be this company's."""
    series = fake.add_series(company_id, "Sklep", "SKL [numer]/[rok]")
    good = fake.add_good(company_id, "Kubek", "MUG-300", netto="40.00", count=5)
    vat23 = str(fake.company(company_id).vat_code_id("23"))
    body = {"invoices": {"0": {"invoice": {
        "type": "normal", "price_type": "brutto", "date": "2026-11-24", "disposaldate": "2026-11-24",
        "paymentmethod": "transfer", "paymentdate": "2026-12-01", "currency": "PLN",
        "series": {"id": str(series)}, "id_external": "bl-ord-998877", "description": "Zamówienie 998877",
        "contractor": {"name": "ACME Sp. z o.o.", "tax_id_type": "nip", "nip": "5261040828",
                       "street": "Prosta 1", "zip": "00-001", "city": "Warszawa", "country": "PL",
                       "email": "f@acme.pl"},
        "invoicecontents": {
            "0": {"invoicecontent": {"name": "Kubek", "unit": "szt.", "count": "2", "price": "49.20",
                                     "vat_code": {"id": vat23}, "good": {"id": str(good)}}},
            "1": {"invoicecontent": {"name": "Dostawa", "unit": "usł.", "count": "1", "price": "12.30",
                                     "vat_code": {"id": vat23}}}},
    }}}}
    response = call(http, fake, "invoices/add", body)
    assert response.status_code == 200 and status(response) == "OK"
    created = first(response)
    # 110.70 gross at 23%: VAT from the sum, 20.70 "in hundred".
    assert (created["netto"], created["tax"], created["total"]) == ("90.00", "20.70", "110.70")
    assert created["fullnumber"] == "SKL 1/2026" and created["id_external"] == "bl-ord-998877"
    assert [entry["invoicecontent"]["brutto"] for entry in created["invoicecontents"].values()] == ["98.40", "12.30"]
    assert fake.company(company_id).goods[good]["count"] == "3.0000"  # the sale moved stock


def test_a_single_unnumbered_record_is_accepted_but_a_json_array_is_not(fake, company_id, http) -> None:
    body = invoice(fake, company_id)
    single = {"invoices": {"invoice": body["invoices"]["0"]["invoice"]}}
    assert status(call(http, fake, "invoices/add", single)) == "OK"
    as_array = {"invoices": [{"invoice": body["invoices"]["0"]["invoice"]}]}
    assert status(call(http, fake, "invoices/add", as_array)) == "INPUT ERROR"


# --------------------------------------------------------------------------- auth, formats, company


def test_auth_needs_all_three_keys_and_answers_in_wfirmas_shapes(fake, company_id, http) -> None:
    no_keys = call(http, fake, "series/find", {}, headers={})
    assert (no_keys.status_code, no_keys.text) == (200, "AUTH")  # the bare string, no status branch
    for wrong in (keys(app="someone-elses-app"), keys(secret="wrong"), keys(access="unknown")):
        response = call(http, fake, "series/find", {}, headers=wrong)
        assert response.status_code == 200 and response.json() == {"status": {"code": "AUTH"}}
    assert status(call(http, fake, "series/find", {})) == "OK"


def test_repeated_failed_logins_lock_the_key_for_five_minutes(fake, company_id, http) -> None:
    for _ in range(5):
        assert status(call(http, fake, "series/find", {}, headers=keys(secret="guess"))) == "AUTH"
    assert status(call(http, fake, "series/find", {})) == "AUTH FAILED LIMIT WAIT 5 MINUTES"


def test_formats_come_from_the_query_and_xml_is_the_default(fake, company_id, http) -> None:
    default = call(http, fake, "series/find", {}, params={})
    assert default.headers["Content-Type"].startswith("text/xml") and "<code>INPUT ERROR</code>" in default.text
    broken = http.post(f"{fake.base_url}/invoices/add", params=JSON_FORMAT, headers=keys(), data=b"{not json",
                       timeout=5)
    assert broken.json() == {"status": {"code": "INPUT ERROR"}}


def test_errors_can_come_in_xml_whatever_format_was_asked_for(http) -> None:
    """The switch for the reading that a status answer may come in wFirma's default format, XML."""
    with WfirmaFake(app_key=APP_KEY, rate_limit=None, errors_as_xml=True) as xml_fake:
        company = xml_fake.add_company(ACCESS, SECRET)
        denied = call(http, xml_fake, "series/find", {}, headers=keys(secret="wrong"))
        assert denied.headers["Content-Type"].startswith("text/xml")
        assert ElementTree.fromstring(denied.content).findtext("status/code") == "AUTH"
        refused = ElementTree.fromstring(add(http, xml_fake, company, contractor=buyer(nip="1234567890")).content)
        assert refused.findtext("status/code") == "ERROR"
        [error] = refused.findall("invoices/invoice/contractor/errors/error")
        assert (error.findtext("field"), error.findtext("message")) == ("nip", "Nieprawidłowy numer NIP")
        assert status(call(http, xml_fake, "series/find", {})) == "OK"  # OK answers stay in JSON
        assert xml_fake.server_errors == []


def test_company_id_is_required_once_the_key_reaches_two_companies(fake, company_id, http) -> None:
    assert status(call(http, fake, "series/find", {})) == "OK"  # one company: no id needed
    second = fake.add_company(ACCESS, SECRET, name="Druga firma")
    assert status(call(http, fake, "series/find", {})) == "COMPANY ID REQUIRED"
    assert status(call(http, fake, "series/find", {}, params={**JSON_FORMAT, "company_id": second})) == "OK"
    other = fake.add_company("other-access", "other-secret")
    assert status(call(http, fake, "series/find", {}, params={**JSON_FORMAT, "company_id": other})) == "ACCESS DENIED"


def test_unknown_actions_and_writes_by_get_are_action_not_found(fake, company_id, http) -> None:
    assert status(call(http, fake, "invoices/sendtoksef", {})) == "ACTION NOT FOUND"
    assert status(call(http, fake, "invoices/add", invoice(fake, company_id), method="GET")) == "ACTION NOT FOUND"
    assert status(call(http, fake, "invoices/find", {}, method="GET")) == "OK"


# --------------------------------------------------------------------------- validation


def test_validation_errors_are_echoed_on_each_failing_record(fake, company_id, http) -> None:
    bad_line = line(fake, company_id, name=" ")
    response = add(http, fake, company_id, line(fake, company_id), bad_line, date="24.11.2026",
                   contractor=buyer(street="", nip="5261040829"))
    assert response.status_code == 200 and status(response) == "ERROR"
    echoed = first(response)
    assert echoed["errors"]["0"]["error"] == {"field": "date", "message": BAD_DATE,
                                              "method": {"name": "validation", "parameters": ""}}
    contractor_errors = {e["error"]["field"]: e["error"]["message"] for e in echoed["contractor"]["errors"].values()}
    assert contractor_errors == {"street": BLANK, "nip": "Nieprawidłowy numer NIP"}
    contents = echoed["invoicecontents"]
    assert "errors" not in contents["0"]["invoicecontent"]
    assert contents["1"]["invoicecontent"]["errors"]["0"]["error"]["field"] == "name"
    assert fake.company(company_id).invoices == {}


@pytest.mark.parametrize("field, value", [("fullnumber", "FV 1/2026"), ("netto", "1.00"), ("vat_rate", "23"),
                                          ("paymentmethod", "card"), ("price_type", "gross"),
                                          ("id_external", "x" * 33), ("currency", "XXX")])
def test_read_only_unknown_and_malformed_invoice_fields_are_refused(fake, company_id, http, field, value) -> None:
    response = add(http, fake, company_id, **{field: value})
    assert status(response) == "ERROR"
    assert [e["error"]["field"] for e in first(response)["errors"].values()] == [field]


@pytest.mark.parametrize("changes, field", [({"vat_code": {"id": "1"}}, "vat_code"), ({"price": "1.23456"}, "price"),
                                            ({"count": "0"}, "count"), ({"discount": "1"}, "discount_percent"),
                                            ({"netto": "1.00"}, "netto"), ({"parent_id": "5"}, "parent_id")])
def test_line_values_are_checked(fake, company_id, http, changes, field) -> None:
    response = add(http, fake, company_id, {**line(fake, company_id), **changes})
    errors = first(response)["invoicecontents"]["0"]["invoicecontent"]["errors"]
    assert status(response) == "ERROR" and field in [e["error"]["field"] for e in errors.values()]


def test_nip_checksum() -> None:
    assert nip_is_valid("5261040828") and nip_is_valid("5252445767")
    assert not nip_is_valid("5261040829") and not nip_is_valid("526104082") and not nip_is_valid("PL5261040828")


# --------------------------------------------------------------------------- VAT codes and goods


def test_vat_codes_have_ids_of_each_company_and_foreign_codes_have_no_code(fake, company_id, http) -> None:
    codes = call(http, fake, "vat_codes/find", {"vat_codes": {"parameters": {"limit": 100}}}).json()["vat_codes"]
    polish = {c["vat_code"]["code"]: c["vat_code"]["id"] for k, c in codes.items() if k.isdigit()
              and c["vat_code"]["declaration_country"]["id"] == "0"}
    assert {"23", "8", "5", "0", "ZW", "NP", "NPUE", "VAT_BUYER"} <= set(polish)
    assert polish["23"] == str(fake.company(company_id).vat_code_id("23"))
    assert any(c["vat_code"]["code"] == "" for k, c in codes.items() if k.isdigit())
    other = fake.add_company("other-access", "other-secret")
    assert fake.company(other).vat_code_id("23") != fake.company(company_id).vat_code_id("23")


def test_vat_string_is_ignored_on_a_good_linked_line_and_the_goods_code_applies(fake, company_id, http) -> None:
    good = fake.add_good(company_id, "Kubek", "MUG-300", netto="10.00", vat="23")
    stored = first(add(http, fake, company_id, {"name": "Kubek", "count": "1", "price": "10.00", "vat": "8",
                                                "good": {"id": str(good)}}))
    content = stored["invoicecontents"]["0"]["invoicecontent"]
    assert content["vat_code"]["id"] == str(fake.company(company_id).vat_code_id("23"))
    assert stored["tax"] == "2.30"


def test_goods_are_found_by_exact_code(fake, company_id, http) -> None:
    fake.add_good(company_id, "Kubek", "MUG-300", netto="10.00")
    fake.add_good(company_id, "Kubek XL", "MUG-300-XL", netto="12.00")
    body = {"goods": {"parameters": {"conditions": {"0": {"condition": {
        "field": "code", "operator": "eq", "value": "MUG-300"}}}}}}
    goods = call(http, fake, "goods/find", body).json()["goods"]
    assert goods["parameters"]["total"] == "1" and goods["0"]["good"]["name"] == "Kubek"


# --------------------------------------------------------------------------- numbering, find, id_external


def test_numbers_run_per_series_and_period_and_a_taken_number_is_refused(fake, company_id, http) -> None:
    yearly = fake.add_series(company_id, "Roczna", "R/[numer]/[rok]")
    in_yearly = {"series": {"id": str(yearly)}}
    numbers = [first(add(http, fake, company_id, **extra))["fullnumber"] for extra in (
        {}, {}, in_yearly, {"date": "2026-12-01"}, {"date": "2026-12-01", **in_yearly})]
    assert numbers == ["FV 1/11/2026", "FV 2/11/2026", "R/1/2026", "FV 1/12/2026", "R/2/2026"]
    taken = add(http, fake, company_id, number=2)
    assert status(taken) == "ERROR" and first(taken)["errors"]["0"]["error"]["field"] == "number"
    receipt_series = fake.company(company_id).default_series("receipt_normal")
    wrong_type = add(http, fake, company_id, series={"id": str(receipt_series)})
    assert first(wrong_type)["errors"]["0"]["error"]["field"] == "series"


def test_series_are_listed_with_their_type_and_refuse_documents_of_another_type(fake, company_id, http) -> None:
    shop = fake.add_series(company_id, "Sklep", "SKL [numer]/[rok]")
    receipts = fake.add_series(company_id, "Paragony", "P [numer]/[rok]", invoice_type="receipt_normal")
    listed = call(http, fake, "series/find", {"series": {"parameters": {"limit": 100}}}).json()["series"]
    types = {entry["series"]["id"]: entry["series"]["type"] for key, entry in listed.items() if key.isdigit()}
    assert (types[str(shop)], types[str(receipts)]) == ("normal", "receipt_normal")
    refused = add(http, fake, company_id, series={"id": str(receipts)})
    assert status(refused) == "ERROR" and first(refused)["errors"]["0"]["error"] == {
        "field": "series", "message": "Seria numeracji jest przeznaczona dla dokumentów typu receipt_normal",
        "method": {"name": "validation", "parameters": ""}}
    receipt = add(http, fake, company_id, type="receipt_normal", series={"id": str(receipts)},
                  contractor=buyer(tax_id_type="none", nip=""))
    assert first(receipt)["fullnumber"] == "P 1/2026"


def test_id_external_is_stored_and_searchable_but_not_unique(fake, company_id, http) -> None:
    for _ in range(2):
        assert status(add(http, fake, company_id, id_external="order-1")) == "OK"
    add(http, fake, company_id, id_external="order-10")

    def find(conditions: dict, **parameters: Any) -> dict:
        body = {"invoices": {"parameters": {"conditions": conditions, **parameters}}}
        return call(http, fake, "invoices/find", body).json()["invoices"]

    eq = {"0": {"condition": {"field": "id_external", "operator": "eq", "value": "order-1"}}}
    found = find(eq, limit=1, page=2)
    assert found["parameters"] == {"limit": "1", "page": "2", "total": "2"} and list(found) == ["0", "parameters"]
    like = {"condition": {"field": "Invoice.id_external", "operator": "like", "value": "order-1%"}}
    assert find(like)["parameters"]["total"] == "3"
    either = {"or": {"0": {"condition": {"field": "id_external", "operator": "eq", "value": "order-10"}},
                     "1": {"condition": {"field": "number", "operator": "lt", "value": "2"}}}}
    assert find(either)["parameters"]["total"] == "2"
    unknown_field = {"condition": {"field": "secret_column", "operator": "eq", "value": "x"}}
    assert status(call(http, fake, "invoices/find", {"invoices": {"parameters": {"conditions": unknown_field}}})) \
        == "INPUT ERROR"


# --------------------------------------------------------------------------- receipts, currency, corrections


def test_receipts_and_currency(fake, company_id, http) -> None:
    receipt = first(add(http, fake, company_id, type="receipt_normal", alreadypaid_initial="123.00",
                        contractor=buyer(tax_id_type="none", nip="")))
    assert (receipt["fullnumber"], receipt["paymentstate"], receipt["remaining"]) == ("PAR 1/11/2026", "paid", "0.00")
    overpaid = add(http, fake, company_id, alreadypaid_initial="123.01")
    assert first(overpaid)["errors"]["0"]["error"]["field"] == "alreadypaid_initial"
    euro = first(add(http, fake, company_id, currency="EUR"))
    assert (euro["currency_exchange"], euro["currency_date"]) == ("4.2351", "2026-11-23")
    assert status(add(http, fake, company_id, currency="CHF")) == "ERROR"  # no rate for it


OUR_RATE = {"currency": "EUR", "currency_exchange": "4.3012", "currency_date": "2026-11-21",
            "price_currency_exchange": "4.3012"}


def test_a_rate_sent_with_the_invoice_is_stored_and_read_back_when_honoured(fake, company_id, http) -> None:
    euro = first(add(http, fake, company_id, **OUR_RATE))
    assert (euro["currency_exchange"], euro["currency_date"], euro["price_currency_exchange"]) == (
        "4.3012", "2026-11-21", "4.3012")
    read = first(call(http, fake, f"invoices/get/{euro['id']}", {}))
    assert (read["currency_exchange"], read["currency_date"]) == ("4.3012", "2026-11-21")


@pytest.mark.parametrize("changes, field", [({"currency_exchange": "4.30125"}, "currency_exchange"),
                                            ({"currency_exchange": "0"}, "currency_exchange"),
                                            ({"currency_date": "21.11.2026"}, "currency_date"),
                                            ({"currency": "PLN"}, "currency_exchange")])
def test_a_rate_sent_with_the_invoice_is_checked(fake, company_id, http, changes, field) -> None:
    response = add(http, fake, company_id, **{**OUR_RATE, **changes})
    assert status(response) == "ERROR" and field in [e["error"]["field"] for e in first(response)["errors"].values()]


@pytest.mark.parametrize("reading, outcome", [("ignored", "4.2351"), ("refused", "ERROR")])
def test_the_other_readings_of_a_rate_sent_with_the_invoice(http, reading, outcome) -> None:
    with WfirmaFake(app_key=APP_KEY, rate_limit=None, own_rate_fields=reading) as other:
        company = other.add_company(ACCESS, SECRET)
        response = add(http, other, company, **OUR_RATE)
        if outcome == "ERROR":
            assert status(response) == "ERROR"
            assert sorted(e["error"]["field"] for e in first(response)["errors"].values()) == [
                "currency_date", "currency_exchange", "price_currency_exchange"]
        else:  # wFirma's own NBP rate of the day before the issue date
            assert (first(response)["currency_exchange"], first(response)["currency_date"]) == (outcome, "2026-11-23")


def test_correction_totals_are_after_minus_before_per_parent_line(fake, company_id, http) -> None:
    original = first(add(http, fake, company_id, line(fake, company_id, count="2"),
                         line(fake, company_id, name="Dostawa", price="10.00")))
    first_id, second_id = (e["invoicecontent"]["id"] for e in original["invoicecontents"].values())
    correction = add(http, fake, company_id, line(fake, company_id, count="1", parent_id=first_id),
                     line(fake, company_id, name="Dostawa", price="10.00", count="0", parent_id=second_id),
                     type="correction", parent_id=original["id"])
    created = first(correction)
    assert (created["netto"], created["tax"], created["total"]) == ("-110.00", "-25.30", "-135.30")
    assert created["fullnumber"] == "KOR 1/11/2026" and created["parent_id"] == original["id"]
    new_line_at_zero = add(http, fake, company_id, line(fake, company_id, count="0"), type="correction",
                           parent_id=original["id"])
    assert first(new_line_at_zero)["invoicecontents"]["0"]["invoicecontent"]["errors"]["0"]["error"]["field"] == "count"
    orphan = add(http, fake, company_id, type="correction")
    assert first(orphan)["errors"]["0"]["error"] == {"field": "parent_id", "message": BLANK,
                                                     "method": {"name": "validation", "parameters": ""}}


# --------------------------------------------------------------------------- PDF


def download(http, fake, invoice_id: str, *parameters: tuple[str, str]) -> requests.Response:
    body = {"invoices": {"parameters": {str(i): {"parameter": {"name": n, "value": v}}
                                        for i, (n, v) in enumerate(parameters)}}}
    return call(http, fake, f"invoices/download/{invoice_id}", body)


def test_pdf_carries_the_number_and_totals_and_follows_an_edit(fake, company_id, http) -> None:
    created = first(add(http, fake, company_id, description="Zamówienie 1"))
    pdf = download(http, fake, created["id"], ("page", "invoice"), ("leaflet", "0"))
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert b"FV 1/11/2026" in pdf.content and b"123.00" in pdf.content
    edit = {"invoices": {"0": {"invoice": {"invoicecontents": {"0": {"invoicecontent": line(fake, company_id,
                                                                                             price="200.00")}}}}}}
    edited = first(call(http, fake, f"invoices/edit/{created['id']}", edit))
    assert (edited["fullnumber"], edited["total"]) == ("FV 1/11/2026", "246.00")
    after = download(http, fake, created["id"]).content
    assert after != pdf.content and b"246.00" in after
    assert status(download(http, fake, created["id"], ("page", "everything"))) == "INPUT ERROR"
    assert status(download(http, fake, "999999")) == "NOT FOUND"


def test_a_fiscal_receipt_has_no_pdf(fake, company_id, http) -> None:
    fiscal = first(add(http, fake, company_id, type="receipt_fiscal_normal"))
    answer = download(http, fake, fiscal["id"]).json()
    assert answer == {"status": {"code": "ERROR", "message": NO_PDF_FOR_FISCAL}}


# --------------------------------------------------------------------------- limits and faults


def test_the_request_limit_answer_is_a_status_counted_per_api_key(company_id, http) -> None:
    with WfirmaFake(app_key=APP_KEY, rate_limit=(3, 15.0)) as limited:
        limited.add_company(ACCESS, SECRET)
        limited.add_company("second-access", "second-secret")
        answers = [call(http, limited, "series/find", {}) for _ in range(4)]
        assert [status(a) for a in answers] == ["OK", "OK", "OK", "TOTAL REQUESTS LIMIT EXCEEDED"]
        assert answers[-1].status_code == 200 and "Retry-After" not in answers[-1].headers
        assert status(call(http, limited, "series/find", {}, headers=keys("second-access", "second-secret"))) == "OK"
        assert limited.limiter.peak(ACCESS) == 4


def test_faults_render_in_wfirmas_shapes(fake, company_id, http) -> None:
    fake.answer_status("SNAPSHOT LOCK", path=r"/invoices/add")
    assert call(http, fake, "invoices/add", invoice(fake, company_id)).json() == {"status": {"code": "SNAPSHOT LOCK"}}
    fake.faults.rate_limited(path=r"/series/find")
    assert status(call(http, fake, "series/find", {})) == "TOTAL REQUESTS LIMIT EXCEEDED"
    fake.faults.status(502, path=r"/series/find")
    gateway = call(http, fake, "series/find", {})
    assert gateway.status_code == 502 and gateway.headers["Content-Type"].startswith("text/html")
    fake.faults.reset(path=r"/series/find")
    with pytest.raises(requests.ConnectionError):
        call(http, fake, "series/find", {})
    assert fake.company(company_id).invoices == {}


def test_a_stalled_answer_still_creates_the_document(fake, company_id, http) -> None:
    fake.faults.stall_after_commit(1.0, path=r"/invoices/add")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        add_body = invoice(fake, company_id, id_external="order-lost")
        call(http, fake, "invoices/add", add_body, timeout=0.3)
    assert [inv["id_external"] for inv in fake.company(company_id).invoices.values()] == ["order-lost"]
    assert time.monotonic() - started < 1.0
    fake.faults.slow(0.2, path=r"/series/find")
    assert status(call(http, fake, "series/find", {})) == "OK"
    assert [entry.fault for entry in fake.requests.entries(path=r"/series/find")] == ["slow"]
    # No key ever reaches the request log.
    assert all(SECRET not in repr(entry) and ACCESS not in repr(entry) for entry in fake.requests)


def test_money_is_decimal_through_and_through(fake, company_id, http) -> None:
    lines = [line(fake, company_id, price="0.10", count="3") for _ in range(3)]
    created = first(add(http, fake, company_id, *lines, price_type="brutto"))
    # 9 x 0.10 = 0.90 gross at 23%: VAT 0.17 from the sum (a float sum would drift).
    assert (created["netto"], created["tax"], created["total"]) == ("0.73", "0.17", "0.90")
    assert Decimal(created["total"]) == Decimal("0.90")


def test_a_discounted_line_is_count_x_price_less_the_percent_rounded_once(fake, company_id, http) -> None:
    # 3 x 10.99 x (1 - 12.5/100) = 28.84875 -> 28.85 net (not 3 x 9.62 = 28.86); VAT 23 % = 6.64.
    created = first(add(http, fake, company_id, line(fake, company_id, count="3", price="10.99",
                                                     discount="1", discount_percent="12.50")))
    assert (created["netto"], created["tax"], created["total"]) == ("28.85", "6.64", "35.49")
    stored = created["invoicecontents"]["0"]["invoicecontent"]
    assert (stored["netto"], stored["discount"], stored["discount_percent"]) == ("28.85", "1", "12.50")
    # The flag off: the percentage is not applied.
    created = first(add(http, fake, company_id, line(fake, company_id, count="3", price="10.99",
                                                     discount="0", discount_percent="12.50")))
    assert created["netto"] == "32.97"


@pytest.mark.parametrize("changes, field", [({"discount": "yes", "discount_percent": "10"}, "discount"),
                                            ({"discount": "1", "discount_percent": "abc"}, "discount_percent"),
                                            ({"discount": "1", "discount_percent": "100.01"}, "discount_percent"),
                                            ({"discount": "1", "discount_percent": "-1"}, "discount_percent"),
                                            ({"discount": "1", "discount_percent": "10.555"}, "discount_percent")])
def test_invalid_discounts_are_refused(fake, company_id, http, changes, field) -> None:
    response = add(http, fake, company_id, {**line(fake, company_id), **changes})
    errors = first(response)["invoicecontents"]["0"]["invoicecontent"]["errors"]
    assert status(response) == "ERROR" and field in [e["error"]["field"] for e in errors.values()]


# --------------------------------------------------------------------------- KSeF (facts 1.11)


def test_ksef_fields_are_read_only_and_empty_until_wfirma_submits(fake, company_id, http) -> None:
    for name in ("ksef_status", "ksef_reference_number", "ksef_registration_date"):
        refused = add(http, fake, company_id, **{name: "sent"})
        assert status(refused) == "ERROR" and [e["error"]["field"] for e in first(refused)["errors"].values()] == [name]
    created = first(add(http, fake, company_id))
    assert {created[n] for n in ("ksef_status", "ksef_reference_number", "ksef_registration_date")} == {""}
    read = first(call(http, fake, f"invoices/get/{created['id']}"))
    assert read["ksef_status"] == "" and fake.company(company_id).ksef_submissions == {}


def test_wfirma_submits_by_its_settings_and_ksef_answers_after_some_reads(fake, company_id, http) -> None:
    company = fake.company(company_id)
    company.ksef_auto_send, company.ksef_reads_until_final = True, 2
    created = first(add(http, fake, company_id))
    assert created["ksef_status"] == "processing"  # ASSUMPTION-labelled word
    assert first(call(http, fake, f"invoices/get/{created['id']}"))["ksef_status"] == "processing"
    answered = first(call(http, fake, f"invoices/get/{created['id']}"))
    assert answered["ksef_status"] == "sent"
    assert re.fullmatch(r"5252445767-20261124-[0-9A-F]{12}-[0-9A-F]{2}", answered["ksef_reference_number"])
    assert answered["ksef_registration_date"].startswith("2026-11-24 ")
    receipt = first(add(http, fake, company_id, type="receipt_normal"))
    assert receipt["ksef_status"] == ""  # receipts do not go to KSeF
    assert company.ksef_submissions == {int(created["id"]): 1}
    edited = first(call(http, fake, f"invoices/edit/{created['id']}", invoice(fake, company_id, description="x")))
    assert edited["ksef_reference_number"] == answered["ksef_reference_number"]  # an edit keeps the KSeF state


def test_a_ksef_refusal_shows_in_ksef_status(fake, company_id, http) -> None:
    company = fake.company(company_id)
    company.ksef_auto_send, company.ksef_rejects = True, True
    created = first(add(http, fake, company_id))
    refused = first(call(http, fake, f"invoices/get/{created['id']}"))
    assert (refused["ksef_status"], refused["ksef_reference_number"]) == ("rejected", "")


# --------------------------------------------------------------------------- payments (W-SDK Payments)


def payment_edit(http, fake, payment_id: str, **changes: Any) -> requests.Response:
    return call(http, fake, f"payments/edit/{payment_id}", {"payments": {"0": {"payment": changes}}})


def test_a_paid_invoice_has_its_initial_payment_on_the_issue_date_and_its_date_can_be_edited(
        fake, company_id, http) -> None:
    created = first(add(http, fake, company_id, alreadypaid_initial="123.00"))
    unpaid = first(add(http, fake, company_id))
    found = call(http, fake, "payments/find", {"payments": {"parameters": {"conditions": {
        "0": {"condition": {"field": "object_name", "operator": "eq", "value": "invoice"}},
        "1": {"condition": {"field": "object_id", "operator": "eq", "value": created["id"]}}}}}})
    [payment] = [entry["payment"] for key, entry in found.json()["payments"].items() if key.isdigit()]
    assert (payment["date"], payment["value"], payment["initial"]) == ("2026-11-24", "123.00", "1")
    edited = payment_edit(http, fake, payment["id"], date="2026-11-19")
    assert status(edited) == "OK" and first(edited, "payments", "payment")["date"] == "2026-11-19"
    assert [p for p in fake.company(company_id).payments.values() if p["object_id"] == unpaid["id"]] == []


@pytest.mark.parametrize("changes, field, message", [
    ({"date": "19.11.2026"}, "date", BAD_DATE), ({"date": "2026-02-30"}, "date", BAD_DATE),
    ({"value": "1.00"}, "value", "Pole tylko do odczytu"), ({"object_id": "1"}, "object_id", "Pole tylko do odczytu"),
    ({"initial": "0"}, "initial", "Pole tylko do odczytu"), ({"paid_on": "2026-11-19"}, "paid_on", "Nieznane pole"),
    ({"payment_method": "gold"}, "payment_method", "Nieprawidłowa wartość")])
def test_payment_edits_are_validated(fake, company_id, http, changes, field, message) -> None:
    add(http, fake, company_id, alreadypaid_initial="123.00")
    [payment] = fake.company(company_id).payments.values()
    refused = payment_edit(http, fake, payment["id"], **changes)
    assert status(refused) == "ERROR"
    assert [(e["error"]["field"], e["error"]["message"]) for e in
            first(refused, "payments", "payment")["errors"].values()] == [(field, message)]
    assert payment["date"] == "2026-11-24"  # unchanged
    assert status(payment_edit(http, fake, "999999", date="2026-11-19")) == "NOT FOUND"
