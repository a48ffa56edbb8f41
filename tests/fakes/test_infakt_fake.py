"""The inFakt fake, driven over real HTTP on 127.0.0.1 the way the adapter will drive it.

These tests pin the fake to the provider's documentation (facts file section 2), so that a test
passing against the fake means something for the real API.
"""

from __future__ import annotations

import time
from datetime import date

import pytest
import requests

from local.fakes.infakt import InfaktFake

KEY = "fake-key-shop-1"
OTHER_KEY = "fake-key-shop-2"
READ_ONLY_KEY = "fake-key-read-only"
API = "/api/v3"
MONTH = date.today().strftime("%m/%Y")
UNAUTHORIZED = {"error": "Unauthorized"}
NOT_GROSZE = ["musi być liczbą całkowitą (kwota w groszach)"]


@pytest.fixture
def fake():
    with InfaktFake(read_limit=None, write_limit=None, processing_polls=1, processing_seconds=30) as server:
        server.add_account(KEY)
        server.add_account(OTHER_KEY)
        server.add_account(READ_ONLY_KEY, scopes=frozenset({"api:invoices:read"}))
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 must never go through a proxy from the environment
    yield session
    session.close()


def auth(key: str = KEY) -> dict[str, str]:
    return {"X-inFakt-ApiKey": key}


def url(fake, path: str) -> str:
    return f"{fake.base_url}{API}{path}"


def post_task(http, fake, document, *, key=KEY, resource="invoices", root="invoice", **top_level):
    return http.post(url(fake, f"/async/{resource}.json"), json={root: document, **top_level},
                     headers=auth(key), timeout=5)


def finished(http, fake, accepted, *, key=KEY, resource="invoices") -> dict:
    """The task's final status, after inFakt's background worker has caught up."""
    assert accepted.status_code in (201, 202), accepted.text
    fake.settle_tasks()
    reference = accepted.json()["invoice_task_reference_number"]
    return http.get(url(fake, f"/async/{resource}/status/{reference}.json"), headers=auth(key), timeout=5).json()


def create(http, fake, document, *, key=KEY, resource="invoices", root="invoice") -> dict:
    status = finished(http, fake, post_task(http, fake, document, key=key, resource=resource, root=root),
                      key=key, resource=resource)
    assert status["processing_code"] == 201, status
    return http.get(url(fake, f"/{resource}/{status['invoice_uuid']}.json"), headers=auth(key), timeout=5).json()


def errors_of(http, fake, document, **kwargs) -> dict:
    status = finished(http, fake, post_task(http, fake, document, **kwargs))
    assert (status["processing_code"], status["processing_description"]) == (422, "Nie udało się stworzyć faktury")
    return status["invoice_errors"]


def company_invoice(**changes) -> dict:
    invoice = {"payment_method": "transfer", "client_company_name": "Firma Sp. z o.o.",
               "client_tax_code": "1234567890", "client_country": "PL",
               "services": [{"name": "Usługa", "tax_symbol": "23", "quantity": 1, "gross_price": 12300}]}
    return {**invoice, **changes}


# --------------------------------------------------------------------------- the docs' own examples


def test_accepts_the_readme_example_and_answers_with_a_task(fake, http):
    example = {"payment_method": "transfer", "client_company_name": "Firma Sp. z o.o.",
               "client_tax_code": "1234567890", "client_country": "PL",
               "services": [{"name": "Usługa programistyczna", "unit_net_price": 500000, "quantity": 1,
                             "tax_symbol": "23"}]}
    accepted = post_task(http, fake, example)
    assert accepted.status_code == 201
    task = accepted.json()
    assert (task["processing_code"], task["processing_description"]) == (100, "Zlecenie przyjęte")
    assert set(task) == {"invoice_task_reference_number", "processing_code", "processing_description", "timestamps"}
    status_url = url(fake, f"/async/invoices/status/{task['invoice_task_reference_number']}.json")
    in_progress = http.get(status_url, headers=auth(), timeout=5).json()
    assert (in_progress["processing_code"], "invoice_uuid" in in_progress) == (140, False)
    done = http.get(status_url, headers=auth(), timeout=5).json()
    assert (done["processing_code"], done["processing_description"], done["action"]) == (
        201, "Faktura stworzona", "create_invoice")
    invoice = http.get(url(fake, f"/invoices/{done['invoice_uuid']}.json"), headers=auth(), timeout=5).json()
    assert (invoice["net_price"], invoice["tax_price"], invoice["gross_price"]) == (500000, 115000, 615000)
    assert (invoice["number"], invoice["status"], invoice["kind"]) == (f"1/{MONTH}", "draft", "vat")
    assert isinstance(invoice["id"], int) and invoice["uuid"] == done["invoice_uuid"]


def test_accepts_the_facts_example_of_a_gross_priced_b2c_invoice(fake, http):
    example = {
        "kind": "vat", "invoice_date": "2026-03-02", "sale_date": "2026-03-01", "payment_date": "2026-03-02",
        "payment_method": "card", "status": "paid", "paid_date": "2026-03-01", "currency": "PLN",
        "client_business_activity_kind": "private_person", "client_first_name": "Anna", "client_last_name": "Nowak",
        "client_street": "Polna", "client_street_number": "3", "client_city": "Warszawa",
        "client_post_code": "00-950", "client_country": "PL", "notes": "Zamówienie shop-order-100231",
        "transaction_terms": {"orders": [{"number": "shop-order-100231", "date": "2026-03-01"}]},
        "services": [{"name": "Kubek 300 ml", "quantity": 2, "unit": "szt.", "tax_symbol": "23", "gross_price": 5998}],
    }
    status = finished(http, fake, post_task(http, fake, example, send_to_ksef=False))
    assert status["processing_code"] == 422  # documented rule: paid_date may not precede the issue date
    assert status["invoice_errors"] == {"paid_date": ["nie może być wcześniejsza niż data wystawienia"]}
    invoice = create(http, fake, {**example, "paid_date": "2026-03-02"})
    assert (invoice["status"], invoice["paid_price"], invoice["left_to_pay"]) == ("paid", 5998, 0)
    # Gross-based: VAT is taken out of 59.98 (11.22), not added to a rounded net.
    assert (invoice["net_price"], invoice["tax_price"], invoice["gross_price"]) == (4876, 1122, 5998)
    assert invoice["number"] == "1/03/2026"


def test_accepts_the_facts_example_correction_return_one_of_two(fake, http):
    client_id = fake.add_client(KEY, company_name="Firma ABC", nip="1234567890", country="PL")
    original = create(http, fake, {
        "number": "5/03/2026", "invoice_date": "2026-03-02", "client_id": client_id, "payment_method": "card",
        "services": [{"name": "Kubek 300 ml", "tax_symbol": "23", "quantity": 2, "unit_net_price": 2438}]})
    example = {"payment_method": "card", "client_id": client_id,
               "corrected_invoice_number": "5/03/2026", "corrected_invoice_date": "2026-03-02",
               "correction_reason": "other",
               "services": [
                   {"group": "1", "correction": False, "name": "Kubek 300 ml", "tax_symbol": "23",
                    "quantity": "2.0", "unit_net_price": 2438},
                   {"group": "1", "correction": True, "name": "Kubek 300 ml", "tax_symbol": "23",
                    "quantity": "1.0", "unit_net_price": 2438}]}
    correction = create(http, fake, example, resource="corrective_invoices", root="corrective_invoice")
    assert (correction["kind"], correction["corrected_invoice_uuid"]) == ("correction", original["uuid"])
    assert (correction["correction_reason"], correction["correction_reason_symbol"]) == ("Inna", "other")
    # Net-based, VAT per line: 48.76 -> 11.21 VAT before, 24.38 -> 5.61 after.
    assert (correction["net_price"], correction["tax_price"], correction["gross_price"]) == (-2438, -560, -2998)
    assert correction["number"] == f"1/KOR/{MONTH}"


# --------------------------------------------------------------------------- auth, content type, accounts


@pytest.mark.parametrize("headers, params", [
    ({}, {}),
    ({"X-inFakt-ApiKey": "wrong"}, {}),
    ({"Authorization": f"Bearer {KEY}"}, {}),
    ({}, {"api_key": KEY}),  # only the documented header counts
])
def test_missing_or_wrong_key_gets_401(fake, http, headers, params):
    response = http.get(url(fake, "/invoices.json"), headers=headers, params=params, timeout=5)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_a_key_without_the_write_scope_can_read_but_not_create(fake, http):
    assert http.get(url(fake, "/invoices.json"), headers=auth(READ_ONLY_KEY), timeout=5).status_code == 200
    refused = post_task(http, fake, company_invoice(), key=READ_ONLY_KEY)
    assert (refused.status_code, refused.json()) == (401, UNAUTHORIZED)
    assert fake.account(READ_ONLY_KEY).tasks == {}


def test_a_body_not_sent_as_json_is_a_400(fake, http):
    response = http.post(url(fake, "/async/invoices.json"), data='{"invoice": {}}', timeout=5,
                         headers={**auth(), "Content-Type": "text/plain"})
    assert response.status_code == 400 and "invoice" in response.json()["error"]


def test_accounts_are_separated_by_key(fake, http):
    invoice = create(http, fake, company_invoice())
    other = http.get(url(fake, f"/invoices/{invoice['uuid']}.json"), headers=auth(OTHER_KEY), timeout=5)
    assert other.status_code == 404
    listed = http.get(url(fake, "/invoices.json"), headers=auth(OTHER_KEY), timeout=5).json()
    assert listed["entities"] == []


# --------------------------------------------------------------------------- fields and formats


@pytest.mark.parametrize("price", [59.98, "5998", "59.98", 5998.0, True])
def test_money_must_be_an_integer_of_grosze(fake, http, price):
    invoice = company_invoice(services=[{"name": "Usługa", "tax_symbol": "23", "gross_price": price}])
    assert errors_of(http, fake, invoice) == {"services.gross_price": NOT_GROSZE}


@pytest.mark.parametrize("change, field, message", [
    ({"payment_method": "cash_on_delivery"}, "payment_method", "nie znajduje się na liście dopuszczalnych wartości"),
    ({"currency": "EUR"}, "vat_exchange_date_kind", "nie może być puste"),
    ({"invoice_date": "20.11.2026"}, "invoice_date", "jest nieprawidłowe"),
    ({"client_country": "XX"}, "client_country", "jest nieprawidłowe"),
    ({"status": "issued"}, "status", "nie znajduje się na liście dopuszczalnych wartości"),
    ({"client_uuid": "8b3c"}, "client_uuid", "jest tylko do odczytu"),
    ({"buyer_name": "Firma"}, "buyer_name", "nieznany parametr"),
    ({"gross_price": 12300}, "gross_price", "jest tylko do odczytu"),
    ({"client_company_name": None}, "client_company_name", "nie może być puste"),
    ({"services": []}, "services", "nie może być puste"),
])
def test_invalid_fields_fail_the_task_with_invoice_errors(fake, http, change, field, message):
    assert errors_of(http, fake, company_invoice(**change)) == {field: [message]}


@pytest.mark.parametrize("service, field", [
    ({"tax_symbol": "oo"}, "services.tax_symbol"),  # undocumented symbols are not guessed
    ({"tax_symbol": None}, "services.tax_symbol"),
    ({"quantity": 0}, "services.quantity"),
    ({"quantity": "dwa"}, "services.quantity"),
    ({"product_id": 5}, "services.product_id"),  # no product link in v3
    ({"discount": 101}, "services.discount"),  # a percentage
    ({"discount": -1}, "services.discount"),
    ({"discount": "12.345"}, "services.discount"),
    ({"discount": True}, "services.discount"),
    ({"discount": 10, "unit_net_price_before_discount": "10.00", "gross_price": None},
     "services.unit_net_price_before_discount"),  # grosze, an integer
    ({"discount": 10, "unit_net_price_before_discount": 1000, "net_price": 901, "gross_price": None},
     "services.net_price"),  # 10 x 0.9 = 9.00, not 9.01
])
def test_invalid_services_are_named(fake, http, service, field):
    line = {"name": "Usługa", "tax_symbol": "23", "quantity": 1, "gross_price": 12300, **service}
    line = {key: value for key, value in line.items() if value is not None}
    assert field in errors_of(http, fake, company_invoice(services=[line]))


def test_all_errors_are_reported_at_once(fake, http):
    errors = errors_of(http, fake, company_invoice(payment_method="bitcoin", client_company_name=None,
                                                   services=[{"name": "", "tax_symbol": "23", "gross_price": 1.5}]))
    assert set(errors) == {"payment_method", "client_company_name", "services.name", "services.gross_price"}


def test_a_private_person_needs_first_and_last_name(fake, http):
    person = company_invoice(client_company_name=None, client_tax_code=None,
                             client_business_activity_kind="private_person", client_first_name="Anna")
    assert errors_of(http, fake, person) == {"client_last_name": ["nie może być puste"]}


def test_zw_needs_an_exemption_reason_or_the_accounts_default(fake, http):
    exempt = company_invoice(services=[{"name": "Kurs", "tax_symbol": "zw", "net_price": 19900}])
    assert errors_of(http, fake, exempt) == {"vat_exemption_reason": ["nie może być puste"]}  # inFakt's words
    assert "vat_exemption_reason" in errors_of(http, fake, {**exempt, "vat_exemption_reason": 999})
    chosen = fake.add_vat_exemption(KEY, "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT")
    assert create(http, fake, {**exempt, "vat_exemption_reason": chosen})["vat_exemption_reason"] == chosen
    default = fake.add_vat_exemption(KEY, "art. 113 ust. 1", default=True)
    assert create(http, fake, exempt)["vat_exemption_reason"] == default


def test_the_vat_exemption_list_is_paged_like_every_list(fake, http):
    texts = [f"art. 43 ust. 1 pkt {point} ustawy o VAT" for point in range(1, 13)]
    ids = [fake.add_vat_exemption(KEY, text, default=text.endswith("pkt 2 ustawy o VAT")) for text in texts]
    first = http.get(url(fake, "/vat_exemptions.json"), params={"limit": 5}, headers=auth(), timeout=5).json()
    assert (first["metainfo"]["count"], first["metainfo"]["total_count"]) == (5, 12)
    assert first["entities"][1] == {"id": ids[1], "name": texts[1], "default": True}
    seen = [entity["id"] for entity in first["entities"]]
    following = first["metainfo"]["next"]
    while following:
        page = http.get(f"{fake.base_url}{following}", headers=auth(), timeout=5).json()
        seen += [entity["id"] for entity in page["entities"]]
        following = page["metainfo"]["next"]
    assert seen == ids
    assert http.get(url(fake, "/vat_exemptions.json"), headers=auth(OTHER_KEY), timeout=5).json()["entities"] == []


def test_net_and_unit_prices_must_agree(fake, http):
    line = {"name": "Próbka", "tax_symbol": "23", "quantity": "3", "unit_net_price": 33, "net_price": 100}
    assert errors_of(http, fake, company_invoice(services=[line])) == {
        "services.net_price": ["nie zgadza się z ceną jednostkową i ilością"]}
    invoice = create(http, fake, company_invoice(services=[{**line, "unit_net_price": None}]))
    assert (invoice["services"][0]["unit_net_price"], invoice["gross_price"]) == (33, 123)


def test_an_unverified_bank_account_is_refused(fake, http):
    fake.add_bank_account(KEY, "PL61109010140000071219812874", verified=False)
    fake.add_bank_account(KEY, "PL27114020040000300201355387", verified=True)
    errors = errors_of(http, fake, company_invoice(bank_account="PL61109010140000071219812874"))
    assert errors == {"bank_account": ["konto bankowe musi być dodane i zweryfikowane w aplikacji"]}
    assert create(http, fake, company_invoice(bank_account="PL27114020040000300201355387"))["bank_account"]


def test_foreign_currency_gets_the_rate_infakt_picks(fake, http):
    fake.set_exchange_rate("EUR", "4.3000", "100/A/NBP/2026")
    invoice = create(http, fake, company_invoice(currency="EUR", vat_exchange_date_kind="vat",
                                                 sale_date="2026-11-19", invoice_date="2026-11-20"))
    assert invoice["exchange_rates_data"] == {"currency": "EUR", "exchange_rate": "4.3000",
                                              "exchange_date": "2026-11-18", "table_name": "100/A/NBP/2026",
                                              "vat_in_pln": 9890}
    assert create(http, fake, company_invoice())["exchange_rates_data"] is None


def test_vat_in_pln_is_converted_per_vat_rate_half_up(fake, http):
    fake.set_exchange_rate("EUR", "4.2250", "100/A/NBP/2026")
    # 1.00 EUR of VAT at 23% and at 8%: 4.225 PLN each, 4.23 + 4.23 (not 2.00 * 4.225 = 8.45).
    invoice = create(http, fake, company_invoice(currency="EUR", vat_exchange_date_kind="vat", services=[
        {"name": "A", "tax_symbol": "23", "quantity": 1, "net_price": 435},
        {"name": "B", "tax_symbol": "8", "quantity": 1, "net_price": 1250},
        {"name": "C", "tax_symbol": "np", "quantity": 1, "net_price": 500}]))
    assert invoice["tax_price"] == 200
    assert invoice["exchange_rates_data"]["vat_in_pln"] == 846


# --------------------------------------------------------------------------- numbering


def test_numbers_run_per_kind_and_month_and_the_preview_takes_none(fake, http):
    preview = http.get(url(fake, "/invoices/next_number.json"), params={"kind": "vat", "date": "2026-11-20"},
                       headers=auth(), timeout=5).json()
    assert preview == {"invoice_date": "2026-11-20", "invoice_kind": "vat", "next_number": "1/11/2026"}
    numbers = [create(http, fake, company_invoice(invoice_date=day))["number"]
               for day in ("2026-11-20", "2026-11-21", "2026-12-01")]
    assert numbers == ["1/11/2026", "2/11/2026", "1/12/2026"]


def test_own_number_with_check_duplicate_number_is_refused_twice(fake, http):
    own = company_invoice(number="FV 7/2026", check_duplicate_number=True)
    assert create(http, fake, own)["number"] == "FV 7/2026"
    assert errors_of(http, fake, own) == {"number": ["jest już zajęty"]}
    # Without the check inFakt takes the duplicate (the flag is what makes a retry safe).
    assert create(http, fake, {**own, "check_duplicate_number": False})["number"] == "FV 7/2026"


# --------------------------------------------------------------------------- the asynchronous flow


def test_processing_delay_is_configurable(fake, http):
    fake.processing_polls = 2
    task = post_task(http, fake, company_invoice()).json()
    status_url = url(fake, f"/async/invoices/status/{task['invoice_task_reference_number']}.json")
    codes = [http.get(status_url, headers=auth(), timeout=5).json()["processing_code"] for _ in range(3)]
    assert codes == [120, 140, 201]


def test_the_background_worker_finishes_a_task_nobody_polls(http):
    with InfaktFake(read_limit=None, write_limit=None, processing_polls=5, processing_seconds=0.05) as quick:
        quick.add_account(KEY)
        post_task(http, quick, company_invoice())
        time.sleep(0.1)
        listed = http.get(url(quick, "/invoices.json"), headers=auth(), timeout=5).json()
        assert listed["metainfo"]["total_count"] == 1


def test_a_document_exists_only_once_its_task_is_processed(fake, http):
    post_task(http, fake, company_invoice(number="FV 1", check_duplicate_number=True))
    listed = http.get(url(fake, "/invoices.json"), params={"q[number_eq]": "FV 1"}, headers=auth(), timeout=5)
    assert listed.json()["entities"] == []
    fake.settle_tasks()
    listed = http.get(url(fake, "/invoices.json"), params={"q[number_eq]": "FV 1"}, headers=auth(), timeout=5)
    assert [e["number"] for e in listed.json()["entities"]] == ["FV 1"]


def test_a_task_is_known_only_to_its_own_status_endpoint(fake, http):
    task = post_task(http, fake, company_invoice()).json()["invoice_task_reference_number"]
    wrong = http.get(url(fake, f"/async/corrective_invoices/status/{task}.json"), headers=auth(), timeout=5)
    assert wrong.status_code == 404
    unknown = http.get(url(fake, "/async/invoices/status/0000.json"), headers=auth(), timeout=5)
    assert unknown.status_code == 404


# --------------------------------------------------------------------------- corrections


def original_invoice(http, fake) -> dict:
    return create(http, fake, company_invoice(services=[
        {"name": "Kubek", "tax_symbol": "23", "quantity": 2, "gross_price": 5998},
        {"name": "Wysyłka", "tax_symbol": "23", "quantity": 1, "gross_price": 1499}]))


def correction_of(original: dict, services: list[dict], **changes) -> dict:
    return {"corrected_invoice_uuid": original["uuid"], "correction_reason": "other", "payment_method": "transfer",
            "client_company_name": "Firma Sp. z o.o.", "client_tax_code": "1234567890", "services": services,
            **changes}


def pair(name: str, before: tuple, after: tuple, group: str = "1") -> list[dict]:
    return [{"group": group, "correction": False, "name": name, "tax_symbol": "23", "quantity": before[0],
             "gross_price": before[1]},
            {"group": group, "correction": True, "name": name, "tax_symbol": "23", "quantity": after[0],
             "gross_price": after[1]}]


def test_a_correction_removing_and_adding_lines(fake, http):
    original = original_invoice(http, fake)
    services = pair("Wysyłka", (1, 1499), (0, 0)) + pair("Gratis", (0, 0), (1, 100), group="2")
    correction = create(http, fake, correction_of(original, services), resource="corrective_invoices",
                        root="corrective_invoice")
    assert (correction["gross_price"], correction["corrected_invoice_number"]) == (-1399, original["number"])


@pytest.mark.parametrize("services, field", [
    (pair("Kubek", (1, 2999), (1, 2999)), "services.correction"),  # the before state is not the original's
    (pair("Kubek", (2, 5998), (1, 2999))[:1], "services.group"),  # no after row
    ([{**row, "group": None} for row in pair("Kubek", (2, 5998), (1, 2999))], "services.group"),
])
def test_correction_pairs_must_describe_the_original(fake, http, services, field):
    original = original_invoice(http, fake)
    status = finished(http, fake, post_task(http, fake, correction_of(original, services),
                                            resource="corrective_invoices", root="corrective_invoice"),
                      resource="corrective_invoices")
    assert status["processing_code"] == 422 and field in status["invoice_errors"]


def test_a_correction_posted_to_the_invoice_endpoint_is_refused(fake, http):
    original = original_invoice(http, fake)
    body = correction_of(original, pair("Kubek", (2, 5998), (1, 2999)))
    assert post_task(http, fake, body, root="corrective_invoice").status_code == 400
    assert "corrected_invoice_uuid" in errors_of(http, fake, body)  # unknown fields on an invoice


def test_corrections_and_invoices_live_under_their_own_resources(fake, http):
    original = original_invoice(http, fake)
    correction = create(http, fake, correction_of(original, pair("Kubek", (2, 5998), (1, 2999))),
                        resource="corrective_invoices", root="corrective_invoice")
    assert http.get(url(fake, f"/invoices/{correction['uuid']}.json"), headers=auth(), timeout=5).status_code == 404
    assert http.get(url(fake, f"/corrective_invoices/{original['uuid']}.json"), headers=auth(),
                    timeout=5).status_code == 404
    wrong_original = correction_of({"uuid": correction["uuid"]}, pair("Kubek", (2, 5998), (1, 2999)))
    status = finished(http, fake, post_task(http, fake, wrong_original, resource="corrective_invoices",
                                            root="corrective_invoice"), resource="corrective_invoices")
    assert status["invoice_errors"] == {"corrected_invoice_uuid": ["nie istnieje"]}


def test_sale_date_and_lines_cannot_be_corrected_together(fake, http):
    original = original_invoice(http, fake)
    body = correction_of(original, pair("Kubek", (2, 5998), (1, 2999)), sale_date_before_correction="2026-01-01")
    status = finished(http, fake, post_task(http, fake, body, resource="corrective_invoices",
                                            root="corrective_invoice"), resource="corrective_invoices")
    assert "sale_date_before_correction" in status["invoice_errors"]


# --------------------------------------------------------------------------- reading, editing, PDF


def test_list_envelope_filters_and_limit(fake, http):
    for number in ("A/1", "A/2", "B/1"):
        create(http, fake, company_invoice(number=number))
    listed = http.get(url(fake, "/invoices.json"), params={"q[number_eq]": "A/2"}, headers=auth(), timeout=5).json()
    assert listed["metainfo"]["total_count"] == 1 and [e["number"] for e in listed["entities"]] == ["A/2"]
    # An unknown filter is ignored (seen on the sandbox): clients must compare the results themselves.
    ignored = http.get(url(fake, "/invoices.json"), params={"q[external_id_eq]": "x"}, headers=auth(), timeout=5)
    assert ignored.json()["metainfo"]["total_count"] == 3
    page = http.get(url(fake, "/invoices.json"), params={"limit": 2}, headers=auth(), timeout=5).json()
    assert (page["metainfo"]["count"], page["metainfo"]["total_count"]) == (2, 3)


def test_put_services_replaces_every_line_and_recomputes(fake, http):
    invoice = original_invoice(http, fake)
    response = http.put(url(fake, f"/invoices/{invoice['uuid']}.json"), headers=auth(), timeout=5, json={
        "invoice": {"services": [{"name": "Kubek", "tax_symbol": "23", "quantity": 1, "gross_price": 2999}]}})
    assert response.status_code == 200
    edited = response.json()
    assert [s["name"] for s in edited["services"]] == ["Kubek"] and edited["gross_price"] == 2999
    assert (edited["number"], edited["uuid"]) == (invoice["number"], invoice["uuid"])
    refused = http.put(url(fake, f"/invoices/{invoice['uuid']}.json"), headers=auth(), timeout=5,
                       json={"invoice": {"payment_method": "bitcoin"}})
    assert (refused.status_code, refused.json()) == (422, {"errors": {
        "payment_method": ["nie znajduje się na liście dopuszczalnych wartości"]}})


def test_pdf_has_number_and_totals_changes_after_an_edit_and_prints_a_draft(fake, http):
    invoice = original_invoice(http, fake)
    pdf_url = url(fake, f"/invoices/{invoice['uuid']}/pdf.json")
    response = http.get(pdf_url, params={"document_type": "original", "locale": "pl"}, headers=auth(), timeout=5)
    assert response.headers["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert invoice["number"].encode() in response.content and b"Razem brutto: 74.97 PLN" in response.content
    stored = fake.account(KEY).invoices[invoice["uuid"]]
    assert stored["status"] == "printed"  # documented side effect of downloading a draft's PDF
    http.put(url(fake, f"/invoices/{invoice['uuid']}.json"), headers=auth(), timeout=5,
             json={"invoice": {"client_company_name": "Firma Nowa Sp. z o.o."}})
    again = http.get(pdf_url, params={"document_type": "original"}, headers=auth(), timeout=5).content
    assert again != response.content and b"Firma Nowa" in again


@pytest.mark.parametrize("params", [{}, {"document_type": "pdf"}, {"document_type": "original", "locale": "de"}])
def test_pdf_needs_a_documented_document_type(fake, http, params):
    invoice = original_invoice(http, fake)
    response = http.get(url(fake, f"/invoices/{invoice['uuid']}/pdf.json"), params=params, headers=auth(), timeout=5)
    assert response.status_code == 400
    assert fake.account(KEY).invoices[invoice["uuid"]]["status"] == "draft"  # nothing printed


# --------------------------------------------------------------------------- rate limits and faults


def test_the_limit_is_per_ip_with_separate_read_and_write_windows(http):
    with InfaktFake(read_limit=(3, 60.0), write_limit=(2, 60.0), processing_seconds=30) as limited:
        limited.add_account(KEY)
        limited.add_account(OTHER_KEY)
        assert post_task(http, limited, company_invoice()).status_code == 201
        assert post_task(http, limited, company_invoice(), key=OTHER_KEY).status_code == 201  # same IP
        refused = post_task(http, limited, company_invoice())
        assert (refused.status_code, refused.json()) == (429, {"error": "Too Many Requests"})
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        reads = [http.get(url(limited, "/invoices.json"), headers=auth(), timeout=5).status_code for _ in range(4)]
        assert reads == [200, 200, 200, 429]
        assert limited.limiter.peak(("write", "127.0.0.1")) == 3
        assert limited.limiter.peak(("read", "127.0.0.1")) == 4


def test_status_fault_uses_the_error_shape_and_applies_once(fake, http):
    fake.faults.status(503, method="POST")
    first = post_task(http, fake, company_invoice())
    assert (first.status_code, first.json()) == (503, {"error": "Service Unavailable"})
    assert post_task(http, fake, company_invoice()).status_code == 201


def test_status_fault_can_return_a_proxy_page(fake, http):
    fake.faults.status(502, body=b"<html>Bad Gateway</html>", content_type="text/html")
    response = http.get(url(fake, "/invoices.json"), headers=auth(), timeout=5)
    assert (response.status_code, response.text) == (502, "<html>Bad Gateway</html>")


def test_rate_limited_fault(fake, http):
    fake.faults.rate_limited(retry_after=9, method="GET")
    response = http.get(url(fake, "/invoices.json"), headers=auth(), timeout=5)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "9")


def test_reset_before_and_after_commit(fake, http):
    fake.faults.reset(method="POST")
    with pytest.raises(requests.ConnectionError):
        post_task(http, fake, company_invoice())
    assert fake.account(KEY).tasks == {}
    fake.faults.reset(after_commit=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        post_task(http, fake, company_invoice())
    fake.settle_tasks()
    assert len(fake.account(KEY).invoices) == 1  # the client failed, the document exists


def test_stall_after_commit_and_slow(fake, http):
    fake.faults.stall_after_commit(1.0, method="POST")
    with pytest.raises(requests.ReadTimeout):
        http.post(url(fake, "/async/invoices.json"), json={"invoice": company_invoice()}, headers=auth(), timeout=0.3)
    assert len(fake.account(KEY).tasks) == 1
    fake.faults.slow(0.2, method="GET")
    started = time.monotonic()
    assert http.get(url(fake, "/invoices.json"), headers=auth(), timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_request_log_never_holds_the_key(fake, http):
    create(http, fake, company_invoice())
    entries = fake.requests.entries()
    assert entries and all(KEY not in repr(entry) for entry in entries)
    assert {entry.key for entry in entries} == {"5252445767"}  # the seller's NIP labels the caller


# --------------------------------------------------------------------------- KSeF (infakt/API ksef.md)


def test_ksef_send_on_create_then_sent_then_success_with_the_documented_shapes(fake, http):
    accepted = post_task(http, fake, company_invoice(), send_to_ksef=True)
    status = finished(http, fake, accepted)
    uuid = status["invoice_uuid"]
    fake.account(KEY).ksef_reads_until_final = 1
    first = http.get(url(fake, f"/ksef2/documents/{uuid}/status.json"), headers=auth(), timeout=5).json()
    assert (first["status"], first["ksef_number"], first["invoice_kind"]) == ("sent", None, "vat")
    assert first["status_description"] == "Faktura została wysłana do przetworzenia w KSeF."
    assert first["timestamps"]["request_finished_at"] is None and first["request_uuid"]
    document = http.get(url(fake, f"/invoices/{uuid}.json"), headers=auth(), timeout=5).json()
    data = document["ksef_data"]
    assert data["status"] == "success" and "invoice_uuid" not in data  # only the endpoints add it
    assert data["ksef_number"].startswith("5252445767-") and data["timestamps"]["request_finished_at"]
    assert fake.account(KEY).ksef_submissions == {uuid: 1}


def test_ksef_send_endpoints_refuse_what_the_docs_say(fake, http):
    uuid = create(http, fake, company_invoice())["uuid"]
    assert create(http, fake, company_invoice())["ksef_data"] is None  # documented: null when never sent
    missing = "00000000-0000-4000-8000-000000000000"
    answer = http.post(url(fake, f"/ksef/documents/{missing}/send.json"), headers=auth(), timeout=5)
    assert (answer.status_code, answer.json()) == (404, {"error": "Zasób którego szukasz nie został znaleziony."})
    assert http.post(url(fake, f"/invoices/{uuid}/send_to_ksef.json"), timeout=5).status_code == 401
    read_only = http.post(url(fake, f"/invoices/{uuid}/send_to_ksef.json"), headers=auth(READ_ONLY_KEY), timeout=5)
    assert read_only.status_code == 401
    fake.account(KEY).ksef_connected = False
    assert http.get(url(fake, "/ksef2/integration.json"), headers=auth(), timeout=5).json()["active"] is False
    answer = http.post(url(fake, f"/invoices/{uuid}/send_to_ksef.json"), headers=auth(), timeout=5)
    assert (answer.status_code, answer.json()) == (422, {"error": "Użytkownik nie jest zintegrowany z KSeF."})
    fake.account(KEY).ksef_connected = True
    sent = http.post(url(fake, f"/ksef2/documents/{uuid}/send.json"), headers=auth(), timeout=5)
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    # ASSUMPTION in the fake: a second send while one is in flight is refused.
    assert http.post(url(fake, f"/invoices/{uuid}/send_to_ksef.json"), headers=auth(), timeout=5).status_code == 422
    assert fake.account(KEY).ksef_submissions == {uuid: 1}


def test_ksef_error_keeps_the_description_and_the_document_may_be_sent_again(fake, http):
    account = fake.account(KEY)
    account.ksef_reads_until_final, account.ksef_rejects = 0, "Błąd weryfikacji: brak NIP nabywcy"
    uuid = create(http, fake, company_invoice())["uuid"]
    http.post(url(fake, f"/invoices/{uuid}/send_to_ksef.json"), headers=auth(), timeout=5)
    failed = http.get(url(fake, f"/ksef/documents/{uuid}/status.json"), headers=auth(), timeout=5).json()
    assert (failed["status"], failed["status_description"]) == ("error", "Błąd weryfikacji: brak NIP nabywcy")
    account.ksef_rejects = None  # corrected, then sent again (the docs' retry advice)
    again = http.post(url(fake, f"/invoices/{uuid}/send_to_ksef.json"), headers=auth(), timeout=5)
    assert again.status_code == 200 and account.ksef_submissions == {uuid: 2}


def test_a_discount_on_the_price_before_it_is_applied_once(fake, http):
    # 3 x 10.99 x (1 - 12.5/100) = 28.84875 -> 28.85 net (2885 grosze), VAT 6.64.
    line = {"name": "Kubek", "tax_symbol": "23", "quantity": 3, "discount": "12.5",
            "unit_net_price_before_discount": 1099}
    invoice = create(http, fake, company_invoice(services=[line]))
    assert (invoice["services"][0]["net_price"], invoice["net_price"], invoice["gross_price"]) == (2885, 2885, 3549)
    # A discount stated next to the line's value after it does not lower it again.
    invoice = create(http, fake, company_invoice(services=[{"name": "Kubek", "tax_symbol": "23", "quantity": 3,
                                                            "discount": 10, "net_price": 2885}]))
    assert invoice["net_price"] == 2885


# --------------------------------------------------------------------------- a created draft and its way on


def test_with_the_always_draft_reading_status_and_paid_date_are_ignored_on_create(http):
    with InfaktFake(read_limit=None, write_limit=None, processing_seconds=30, create_status="always_draft") as drafts:
        drafts.add_account(KEY)
        paid = create(http, drafts, company_invoice(status="paid", paid_date=date.today().isoformat()))
        printed = create(http, drafts, company_invoice(status="printed"))
        assert [(doc["status"], doc["paid_date"], doc["left_to_pay"]) for doc in (paid, printed)] == [
            ("draft", None, 12300), ("draft", None, 12300)]
        assert drafts.server_errors == []


def test_the_honoured_reading_keeps_the_status_sent(fake, http):
    assert create(http, fake, company_invoice(status="printed"))["status"] == "printed"


def test_a_draft_is_marked_paid_by_an_asynchronous_task(fake, http):
    draft = create(http, fake, company_invoice(invoice_date="2026-11-20"))
    paid_url = url(fake, f"/async/invoices/{draft['uuid']}/paid.json")
    accepted = http.post(paid_url, json={"paid_date": "2026-11-21"}, headers=auth(), timeout=5)
    assert accepted.status_code == 201 and accepted.json()["processing_code"] == 100  # accepted, not paid yet
    assert fake.account(KEY).invoices[draft["uuid"]]["status"] == "draft"
    done = finished(http, fake, accepted)
    assert (done["processing_code"], done["action"], done["invoice_uuid"]) == (201, "mark_as_paid", draft["uuid"])
    stored = fake.account(KEY).invoices[draft["uuid"]]
    assert (stored["status"], stored["paid_date"], stored["paid_price"], stored["left_to_pay"]) == (
        "paid", "2026-11-21", 12300, 0)
    again = finished(http, fake, http.post(paid_url, json={}, headers=auth(), timeout=5))
    assert (again["processing_code"], again["invoice_errors"]) == (422, {"status": ["faktura jest już opłacona"]})


@pytest.mark.parametrize("body, status_code, errors", [
    ({"paid_date": "2026-11-19"}, 201, {"paid_date": ["nie może być wcześniejsza niż data wystawienia"]}),
    ({"paid_date": "19.11.2026"}, 201, {"paid_date": ["jest nieprawidłowe"]}),
    ({"paid_on": "2026-11-21"}, 400, None)])
def test_marking_paid_is_checked(fake, http, body, status_code, errors):
    draft = create(http, fake, company_invoice(invoice_date="2026-11-20"))
    accepted = http.post(url(fake, f"/async/invoices/{draft['uuid']}/paid.json"), json=body, headers=auth(),
                         timeout=5)
    assert accepted.status_code == status_code
    if errors is not None:
        assert finished(http, fake, accepted)["invoice_errors"] == errors
    assert fake.account(KEY).invoices[draft["uuid"]]["status"] == "draft"


def test_a_draft_is_put_into_the_accounts_and_stays_a_draft(fake, http):
    draft = create(http, fake, company_invoice())
    accounted_url = url(fake, f"/invoices/{draft['uuid']}/mark_as_accounted.json")
    answer = http.put(accounted_url, headers=auth(), timeout=5)
    assert answer.status_code == 200 and answer.json()["status"] == "draft"
    assert fake.account(KEY).accounted == {draft["uuid"]}
    printed = create(http, fake, company_invoice(status="printed"))
    refused = http.put(url(fake, f"/invoices/{printed['uuid']}/mark_as_accounted.json"), headers=auth(), timeout=5)
    assert refused.status_code == 422 and fake.account(KEY).accounted == {draft["uuid"]}
    assert http.put(accounted_url, headers=auth(READ_ONLY_KEY), timeout=5).status_code == 401
