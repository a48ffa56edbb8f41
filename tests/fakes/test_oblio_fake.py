"""The Oblio fake, driven over real HTTP on 127.0.0.1 the way the adapter will drive it.

These tests pin the fake to Oblio's documentation and official clients (sources in
local/fakes/oblio/vocabulary.py), so that a test passing against the fake means something for the
real API. The fake's clock is a ManualClock: token expiry and the 10-minute block take no time.
"""

from __future__ import annotations

import io
import threading
import zipfile
from decimal import Decimal

import pytest
import requests

from local.fakes.common import ManualClock, parse_bracket_params
from local.fakes.oblio import OblioFake

EMAIL, SECRET = "magazin@exemplu.ro", "1edd9e4f6a"
OTHER_EMAIL = "alt@exemplu.ro"
CIF = "RO37311090"  # the docs' company; its control digit is valid
OTHER_CIF = "RO44991231"
TOKEN_INVALID = {"status": 401, "statusMessage": "The access token provided is invalid"}


class Oblio:
    """A thin client: what an adapter does, without any of its logic."""

    def __init__(self, fake: OblioFake, http: requests.Session, email: str = EMAIL, secret: str = SECRET):
        self.fake, self.http = fake, http
        self.token = self.authorize(email, secret).json()["access_token"]

    def authorize(self, email: str = EMAIL, secret: str = SECRET, **extra) -> requests.Response:
        # docs: form-urlencoded client_id / client_secret
        return self.http.post(self.url("/api/authorize/token"), data={"client_id": email, "client_secret": secret,
                                                                        **extra}, timeout=5)

    def url(self, path: str) -> str:
        return self.fake.base_url + path

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def create(self, body: dict, kind: str = "invoice", token: str | None = None) -> requests.Response:
        return self.http.post(self.url(f"/api/docs/{kind}"), json=body, headers=self.headers(token), timeout=5)

    def created(self, body: dict, kind: str = "invoice") -> dict:
        answer = self.create(body, kind)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def get(self, path: str, token: str | None = None, **params) -> requests.Response:
        return self.http.get(self.url(path), params=params, headers=self.headers(token), timeout=5)

    def put(self, path: str, form: dict) -> requests.Response:
        return self.http.put(self.url(path), data=form, headers=self.headers(), timeout=5)

    def listed(self, **params) -> list[dict]:
        answer = self.get("/api/docs/invoice/list", cif=CIF, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def one(self, data: dict) -> dict:
        """The list entry of a created document (adapters read totals and flags this way)."""
        (entry,) = self.listed(seriesName=data["seriesName"], number=data["number"], withCollects=1,
                               withEinvoiceStatus=1)
        return entry


@pytest.fixture
def clock():
    return ManualClock()


def make_fake(clock: ManualClock, **options) -> OblioFake:
    fake = OblioFake(clock=clock, **options)
    fake.add_account(EMAIL, SECRET)
    fake.add_account(OTHER_EMAIL, "alt-secret")
    fake.add_company(EMAIL, CIF, "OBLIO SOFTWARE SRL")
    fake.add_company(OTHER_EMAIL, OTHER_CIF, "ALTA FIRMA SRL")
    return fake


@pytest.fixture
def fake(clock):
    # The manual clock does not move between requests: without this every 4th call would be a burst.
    server = make_fake(clock, burst_block=False, windowed_limits=False)
    with server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def api(fake, http):
    return Oblio(fake, http)


def romanian_company(**changes) -> dict:
    client = {"cif": "RO19", "name": "BUCUR OBOR SA", "rc": "J40/365/1991", "address": "Bdul. Pache Protopopescu 109",
              "state": "Bucuresti", "city": "Sector 2", "country": "RO", "email": "", "vatPayer": 1}
    return {**client, **changes}


def invoice(**changes) -> dict:
    """The PHP README's invoice, with the 2025 standard rate: 2 x 100 RON gross at 21 %."""
    body = {"cif": CIF, "client": romanian_company(), "issueDate": "2026-01-10", "dueDate": "", "deliveryDate": "",
            "collectDate": "", "seriesName": "FCT", "collect": [], "referenceDocument": [], "language": "RO",
            "precision": 2, "currency": "RON",
            "products": [{"name": "Abonament", "code": "", "description": "", "price": "100", "measuringUnit": "buc",
                          "currency": "RON", "vatName": "Normala", "vatPercentage": 21, "vatIncluded": True,
                          "quantity": 2, "productType": "Serviciu"}],
            "issuerName": "", "mentions": "", "value": 0, "workStation": "Sediu", "useStock": 0}
    return {**body, **changes}


def product(**changes) -> dict:
    return {"name": "Ceai verde", "price": "50", "vatName": "Redusa", "vatPercentage": 11, "quantity": 1, **changes}


# --------------------------------------------------------------------------- OAuth


def test_token_in_both_encodings_has_the_documented_shape(fake, http, clock):
    client = Oblio(fake, http)
    form = client.authorize()
    as_json = http.post(client.url("/api/authorize/token"), timeout=5,  # the PHP client's way
                        json={"client_id": EMAIL, "client_secret": SECRET, "grant_type": "client_credentials"})
    for answer in (form, as_json):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"access_token", "expires_in", "token_type", "scope", "request_time"}
        assert (body["expires_in"], body["token_type"], body["scope"]) == ("3600", "Bearer", "")
        assert body["request_time"] == str(int(clock()))
    assert form.json()["access_token"] != as_json.json()["access_token"]
    assert fake.tokens_issued(EMAIL) == 3 and fake.token_requests == 3


@pytest.mark.parametrize("email, secret, extra", [(EMAIL, "wrong", {}), ("nobody@exemplu.ro", SECRET, {}),
                                                  (EMAIL, "", {}), (EMAIL, SECRET, {"grant_type": "password"})])
def test_bad_credentials_get_a_400_and_no_token(api, fake, email, secret, extra):
    answer = api.authorize(email, secret, **extra)
    assert answer.status_code == 400 and "access_token" not in answer.json()
    assert answer.json()["status"] == 400 and answer.json()["statusMessage"]
    assert fake.tokens_issued(EMAIL) == 1


def test_token_expires_after_3600_seconds(api, clock):
    clock.advance(3599)
    assert api.get("/api/nomenclature/companies").status_code == 200
    clock.advance(1)
    expired = api.get("/api/nomenclature/companies")
    assert (expired.status_code, expired.json()) == (401, {"status": 401,
                                                           "statusMessage": "The access token provided has expired"})
    api.token = api.authorize().json()["access_token"]
    assert api.get("/api/nomenclature/companies").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer 0123456789abcdef", "Basic bWFnYXppbjpzZWNyZXQ="])
def test_missing_or_unknown_token_gets_401(api, http, header):
    headers = {"Authorization": header} if header else {}
    answer = http.get(api.url("/api/nomenclature/companies"), headers=headers, timeout=5)
    assert (answer.status_code, answer.json()) == (401, TOKEN_INVALID)


def test_single_active_token_option_revokes_older_tokens(clock, http):
    with make_fake(clock, burst_block=False, windowed_limits=False, single_active_token=True) as fake:
        first = Oblio(fake, http)
        second = Oblio(fake, http)
        assert first.get("/api/nomenclature/companies").json() == TOKEN_INVALID
        assert second.get("/api/nomenclature/companies").status_code == 200


def test_integer_token_numbers_option(clock, http):
    with make_fake(clock, token_numbers="integer") as fake:
        body = Oblio(fake, http).authorize().json()
        assert (body["expires_in"], body["request_time"]) == (3600, int(clock()))


# --------------------------------------------------------------------------- creating invoices


def test_docs_example_paid_invoice_with_net_prices_and_discount(api, fake):
    """docs "Exemplu de fisier JSON pentru factura cu incasare", at the docs' rates: 428.4 collected."""
    fake.set_vat_rates(CIF, [("Normala", 19, True), ("Redusa", 9, False), ("SFDD", 0, False)])
    body = {"cif": CIF, "client": {"cif": CIF, "name": "OBLIO SOFTWARE SRL", "rc": "J13/887/2017", "code": "oblio",
                                   "state": "Constanta", "city": "Constanta", "country": "", "vatPayer": True},
            "issueDate": "2018-10-15", "dueDate": "2018-10-30", "seriesName": "FCT", "language": "RO", "precision": 2,
            "currency": "RON", "collect": {"type": "Ordin de plata", "documentNumber": "OP 7001"},
            "products": [{"name": "Test", "code": "test", "description": "Descriere de test", "price": 200,
                          "measuringUnit": "buc", "vatName": "Normala", "vatPercentage": 19, "vatIncluded": 0,
                          "quantity": 2, "productType": "Serviciu", "management": "Magazin"},
                         {"name": "Discount 10% Test", "discount": 10, "discountType": "procentual"}],
            "workStation": "Sediu"}
    data = api.created(body)
    assert set(data) == {"seriesName", "number", "link"} and (data["seriesName"], data["number"]) == ("FCT", "0001")
    read = api.get("/api/docs/invoice", cif=CIF, seriesName="FCT", number="1").json()["data"]
    assert read["collects"] == [{"issueDate": fake.today().isoformat(), "type": "Ordin de plata",
                                 "number": "OP 7001", "value": 428.4}]
    entry = api.one(data)
    assert (entry["total"], entry["collected"], entry["currency"], entry["exchangeRate"]) == (
        "428.4000", "1", "RON", "0.000000")
    document = fake.document(CIF, "FCT", 1)
    assert (document.net_total, document.vat_total) == (Decimal("360.00"), Decimal("68.40"))


def test_gross_prices_unpaid_invoice(api, fake):
    data = api.created(invoice())
    entry = api.one(data)
    assert (entry["total"], entry["collected"], entry["collects"]) == ("200.0000", "0", [])
    document = fake.document(CIF, "FCT", 1)
    assert [(line.net, line.vat, line.gross) for line in document.lines] == [
        (Decimal("165.29"), Decimal("34.71"), Decimal("200.00"))]


def test_net_prices_round_per_line_at_the_requested_precision(api, fake):
    lines = [product(price="10.005", vatIncluded=0, vatName="Normala", vatPercentage=21, quantity=3)]
    api.created(invoice(products=lines, precision=4))
    (line,) = fake.document(CIF, "FCT", 1).lines
    assert (line.net, line.vat, line.gross) == (Decimal("30.0150"), Decimal("6.3032"), Decimal("36.3182"))
    api.created(invoice(products=lines))
    (line,) = fake.document(CIF, "FCT", 2).lines
    assert (line.net, line.vat, line.gross) == (Decimal("30.02"), Decimal("6.30"), Decimal("36.32"))


def test_value_discount_over_all_lines_above_is_split_in_proportion(api, fake):
    lines = [product(price="30"), product(name="Cana", price="10", vatName="Normala", vatPercentage=21),
             {"name": "Cupon", "discount": "8", "discountAllAbove": 1}]
    api.created(invoice(products=lines))
    document = fake.document(CIF, "FCT", 1)
    assert [line.gross for line in document.lines if line.is_discount] == [Decimal("-6.00"), Decimal("-2.00")]
    assert document.total == Decimal("32.00")


def test_eur_invoice_takes_the_company_rate_or_the_one_sent(api, fake):
    in_euro = [product(price="100", currency="EUR", quantity=2)]
    default_rate = api.one(api.created(invoice(currency="EUR", products=in_euro)))
    own_rate = api.one(api.created(invoice(currency="EUR", exchangeRate="4.9712", products=in_euro)))
    assert (default_rate["currency"], default_rate["exchangeRate"], default_rate["total"]) == (
        "EUR", "5.090000", "200.0000")
    assert (own_rate["exchangeRate"], own_rate["total"]) == ("4.971200", "200.0000")
    refused = api.create(invoice(currency="USD", products=[product()]))
    assert refused.status_code == 400 and "exchangeRate" in refused.json()["statusMessage"]
    fake.set_exchange_rate(CIF, "USD", "4.3500")
    assert api.create(invoice(currency="USD", products=[product()])).status_code == 200


def test_product_in_another_currency_is_converted_into_the_document_currency(api, fake):
    api.created(invoice(products=[product(price="10", currency="EUR")]))
    assert fake.document(CIF, "FCT", 1).total == Decimal("50.90")  # 10 EUR x 5.09
    # The README's products say "currency": "RON": inside a EUR invoice they are converted.
    api.created(invoice(currency="EUR"))
    assert fake.document(CIF, "FCT", 2).total == Decimal("39.29")  # 2 x 100 RON / 5.09


@pytest.mark.parametrize("client, field", [
    (romanian_company(cif="RO18"), "client.cif"),  # wrong control digit (RO19 is valid)
    (romanian_company(state=""), "client.state"),
    (romanian_company(state="Transilvania"), "client.state"),
    (romanian_company(name=""), "client.name"),
])
def test_romanian_company_client_is_checked(api, client, field):
    answer = api.create(invoice(client=client))
    assert answer.status_code == 400 and field in answer.json()["statusMessage"]


@pytest.mark.parametrize("client", [
    romanian_company(),
    romanian_company(cif="37311090", state="CONSTANŢA", city="Constanta", country="România"),
    romanian_company(cif="1960101400011", state="Bistrița-Năsăud"),  # a person's CNP
    {"name": "Kowalski Sp. z o.o.", "cif": "PL5252445767", "country": "Polonia", "city": "Warszawa"},
])
def test_valid_clients_are_accepted(api, client):
    assert api.create(invoice(client=client)).status_code == 200


def test_switches_allow_a_romanian_client_without_county_or_with_a_bad_cui(clock, http):
    with make_fake(clock, burst_block=False, windowed_limits=False, require_county=False, validate_cui=False) as fake:
        answer = Oblio(fake, http).create(invoice(client=romanian_company(state="", cif="RO18")))
        assert answer.status_code == 200, answer.text


def test_new_clients_join_the_clients_nomenclature(api):
    api.created(invoice())
    api.created(invoice())
    clients = api.get("/api/nomenclature/clients", cif=CIF, clientCif="19").json()["data"]
    assert [(client["name"], client["cif"]) for client in clients] == [("BUCUR OBOR SA", "RO19")]


# --------------------------------------------------------------------------- idempotency


def test_idempotency_key_returns_the_first_document(api, fake):
    first = api.created(invoice(idempotencyKey="order-1001"))
    again = api.created(invoice(idempotencyKey="order-1001"))
    changed = api.created(invoice(idempotencyKey="order-1001", products=[product()]))
    other = api.created(invoice(idempotencyKey="order-1002"))
    assert first == again == changed
    assert other["number"] == "0002" and len(fake.documents(CIF)) == 2


def test_reject_option_refuses_a_different_body_under_a_used_key(clock, http):
    with make_fake(clock, burst_block=False, windowed_limits=False, idempotency_mismatch="reject") as fake:
        api = Oblio(fake, http)
        api.created(invoice(idempotencyKey="order-1"))
        assert api.create(invoice(idempotencyKey="order-1")).status_code == 200
        assert api.create(invoice(idempotencyKey="order-1", products=[product()])).status_code == 400


def test_parallel_retries_with_one_key_issue_one_invoice(api, fake):
    answers: list[requests.Response] = []

    def send() -> None:
        with requests.Session() as own:
            own.trust_env = False
            answers.append(own.post(api.url("/api/docs/invoice"), json=invoice(idempotencyKey="order-7"),
                                    headers=api.headers(), timeout=5))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {answer.json()["data"]["number"] for answer in answers} == {"0001"}
    assert len(fake.documents(CIF)) == 1


def test_delete_frees_the_key_and_the_number(api, fake):
    api.created(invoice(idempotencyKey="order-5"))
    deleted = api.http.delete(api.url("/api/docs/invoice"), json={"cif": CIF, "seriesName": "FCT", "number": 1,
                                                                 "deleteCollect": None, "idempotencyKey": "order-5"},
                              headers=api.headers(), timeout=5)
    assert deleted.json() == {"status": 200, "statusMessage": "Documentul a fost sters.",
                              "data": {"documentType": "Factura", "seriesName": "FCT", "number": "0001"}}
    again = api.created(invoice(idempotencyKey="order-5", products=[product()]))
    assert again["number"] == "0001" and fake.document(CIF, "FCT", 1).total == Decimal("50.00")


# --------------------------------------------------------------------------- reading and listing


def test_read_back_by_number_with_or_without_zeros(api):
    data = api.created(invoice())
    for number in ("1", "0001"):
        read = api.get("/api/docs/invoice", cif=CIF, seriesName="FCT", number=number)
        assert read.json() == {"status": 200, "statusMessage": "Success",
                               "data": {"documentType": "Factura", **data, "collects": []}}
    missing = api.get("/api/docs/invoice", cif=CIF, seriesName="FCT", number="2")
    assert missing.status_code == 400 and missing.json()["status"] == 400


def test_read_extras_option_adds_total_and_einvoice(clock, http):
    with make_fake(clock, burst_block=False, windowed_limits=False, read_extras=True) as fake:
        api = Oblio(fake, http)
        api.created(invoice())
        data = api.get("/api/docs/invoice", cif=CIF, seriesName="FCT", number=1).json()["data"]
        assert data["total"] == "200.0000" and "einvoice=1" in data["einvoice"]


def test_list_filters(api, fake, clock):
    fake.add_series(CIF, "Factura", "WEB")
    api.created(invoice(issueDate="2026-01-05"))
    api.created(invoice(issueDate="2026-02-05", client={"name": "Ion Popescu", "country": "Germania",
                                                                     "email": "ion@exemplu.de"}))
    web = api.created(invoice(issueDate="2026-02-20", seriesName="WEB",
                              collect={"type": "Card", "documentNumber": "tx-1"}))
    api.put("/api/docs/invoice/cancel", {"cif": CIF, "seriesName": "FCT", "number": 2})

    def numbers(**params) -> list[tuple[str, str]]:
        return [(entry["seriesName"], entry["number"]) for entry in api.listed(orderBy="id", orderDir="ASC", **params)]

    first, second, third = (("FCT", "0001"), ("FCT", "0002"), ("WEB", "0001"))
    assert numbers() == [first, second, third]
    assert numbers(seriesName="WEB") == [third]
    assert numbers(seriesName="FCT", number=2) == [second]
    assert numbers(id=web["link"].split("&id=")[1].split("&")[0]) == [third]  # the link's id (OblioApi issue #11)
    assert numbers(issuedAfter="2026-02-01", issuedBefore="2026-02-05") == [second]
    assert numbers(**{"client[cif]": "19"}) == [first, third]
    assert numbers(**{"client[email]": "ion@exemplu.de"}) == [second]
    assert numbers(canceled=1) == [second] and numbers(canceled=0) == [first, third]
    assert numbers(collected=1) == [third] and numbers(collected=-1, draft=-1) == [first, second, third]
    assert numbers(draft=1) == []
    assert [entry["number"] for entry in api.listed(orderBy="issueDate", orderDir="DESC")] == ["0001", "0002", "0001"]
    assert api.listed()[0]["seriesName"] == "WEB"  # ASSUMPTION in the fake: newest first by default


def test_list_pagination(api):
    for _ in range(7):
        api.created(invoice())
    pages = [[entry["number"] for entry in api.listed(orderBy="number", orderDir="ASC", limitPerPage=3, offset=offset)]
             for offset in (0, 3, 6, 9)]
    assert pages == [["0001", "0002", "0003"], ["0004", "0005", "0006"], ["0007"], []]


@pytest.mark.parametrize("params", [{"limitPerPage": 101}, {"offset": -1}, {"canceled": 2}, {"orderBy": "total"},
                                    {"orderDir": "UP"}, {"issuedAfter": "01.02.2026"}, {"serieName": "FCT"},
                                    {"client[name]": "x"}, {"seriesName[]": "FCT"}, {"client[cif][0]": "19"}])
def test_list_refuses_bad_parameters(api, params):
    answer = api.get("/api/docs/invoice/list", cif=CIF, **params)
    assert answer.status_code == 400 and answer.json()["status"] == 400


# --------------------------------------------------------------------------- reversal, cancel, delete, collect


def test_storno_reverses_the_whole_invoice_and_refund_drops_its_collect(api, fake):
    original = api.created(invoice(collect={"type": "Card", "documentNumber": "tx-9"}))
    storno = api.created({"cif": CIF, "seriesName": "FCT",
                          "referenceDocument": {"type": "Factura", "refund": 1, "seriesName": "FCT", "number": 1}})
    assert storno["number"] == "0002"
    assert api.one(storno)["total"] == "-200.0000" and api.one(original)["collected"] == "0"
    reversed_lines = fake.document(CIF, "FCT", 2).lines
    assert [(line.quantity, line.net, line.vat) for line in reversed_lines] == [
        (Decimal(-2), Decimal("-165.29"), Decimal("-34.71"))]
    assert fake.document(CIF, "FCT", 1).reversed_by == fake.document(CIF, "FCT", 2).id
    twice = api.create({"cif": CIF, "seriesName": "FCT",
                        "referenceDocument": {"type": "Factura", "seriesName": "FCT", "number": 1}})
    assert twice.status_code == 400 and "stornata" in twice.json()["statusMessage"]


def test_a_canceled_storno_frees_the_invoice_for_another_one(api):
    api.created(invoice())
    reference = {"cif": CIF, "seriesName": "FCT", "referenceDocument": {"type": "Factura", "seriesName": "FCT",
                                                                        "number": 1}}
    api.created(reference)
    assert api.create(reference).status_code == 400
    api.put("/api/docs/invoice/cancel", {"cif": CIF, "seriesName": "FCT", "number": 2})
    assert api.created(reference)["number"] == "0003"
    restored = api.put("/api/docs/invoice/restore", {"cif": CIF, "seriesName": "FCT", "number": 2})
    assert restored.status_code == 400 and "stornata" in restored.json()["statusMessage"]


def test_storno_without_refund_keeps_the_collect_and_refuses_products(api):
    original = api.created(invoice(collect={"type": "Card", "documentNumber": "tx-9"}))
    reference = {"type": "Factura", "seriesName": "FCT", "number": 1}
    with_products = api.create({"cif": CIF, "seriesName": "FCT", "referenceDocument": reference,
                                "products": [product()]})
    assert with_products.status_code == 400
    api.created({"cif": CIF, "seriesName": "FCT", "referenceDocument": reference})
    assert api.one(original)["collected"] == "1"


def test_invoice_from_a_proforma(api):
    proforma = api.created(invoice(seriesName="PR"), kind="proforma")
    assert proforma["number"] == "0001"
    made = api.created({"cif": CIF, "seriesName": "FCT",
                        "referenceDocument": {"type": "Proforma", "seriesName": "PR", "number": 1}})
    assert api.one(made)["total"] == "200.0000"
    wrong_series = api.create(invoice(seriesName="PR"))
    assert wrong_series.status_code == 400 and "seriesName" in wrong_series.json()["statusMessage"]


def test_cancel_and_restore_answer_the_documented_texts(api):
    data = api.created(invoice())
    form = {"cif": CIF, "seriesName": "FCT", "number": "1"}
    canceled = api.put("/api/docs/invoice/cancel", form)
    assert canceled.json() == {"status": 200, "statusMessage": "Documentul a fost anulat.",
                               "data": {"documentType": "Factura", **data}}
    assert api.put("/api/docs/invoice/cancel", form).status_code == 400
    assert api.one(data)["canceled"] == "1"
    restored = api.put("/api/docs/invoice/restore", form)
    assert restored.json()["statusMessage"] == "Documentul a fost restaurat."
    assert api.one(data)["canceled"] == "0"


def test_delete_only_the_last_of_a_series_and_not_a_collected_one_by_default(api):
    api.created(invoice())
    api.created(invoice(collect={"type": "Card", "documentNumber": "tx-2"}))

    def delete(number, **extra):
        return api.http.delete(api.url("/api/docs/invoice"), data={"cif": CIF, "seriesName": "FCT",
                                                                    "number": number, **extra},
                               headers=api.headers(), timeout=5)

    assert "ultimul" in delete(1).json()["statusMessage"]
    assert "deleteCollect" in delete(2).json()["statusMessage"]
    assert delete(2, deleteCollect=1).status_code == 200
    assert delete(1).status_code == 200
    assert api.created(invoice())["number"] == "0001"


def test_collect_endpoint_with_the_docs_form_body_and_a_receipt(api):
    data = api.created(invoice())
    form = {"cif": CIF, "seriesName": "FCT", "number": "1", "collect[type]": "Chitanta", "collect[seriesName]": "CH",
            "collect[value]": "50"}
    answer = api.put("/api/docs/invoice/collect", form)
    assert answer.status_code == 200, answer.text
    assert answer.json()["statusMessage"] == ""
    assert answer.json()["data"]["collects"] == [{"issueDate": "2026-01-01", "type": "Chitanta", "number": "CH 0001",
                                                  "value": 50}]
    rest = api.put("/api/docs/invoice/collect", {"cif": CIF, "seriesName": "FCT", "number": "1",
                                                 "collect[type]": "Ordin de plata", "collect[documentNumber]": "OP 1"})
    assert rest.json()["data"]["collects"][1]["value"] == 150 and api.one(data)["collected"] == "1"
    assert api.put("/api/docs/invoice/collect", {**form, "collect[seriesName]": "CH"}).status_code == 400
    no_number = api.put("/api/docs/invoice/collect", {"cif": CIF, "seriesName": "FCT", "number": "1",
                                                      "collect[type]": "Card"})
    assert "collect.documentNumber" in no_number.json()["statusMessage"]


# --------------------------------------------------------------------------- error classes


@pytest.mark.parametrize("change, field", [
    ({"seriesname": "FCT"}, "seriesname"),  # misspelt: refused, not ignored
    ({"client": romanian_company(vatpayer=1)}, "client.vatpayer"),
    ({"products": [product(vatPercent=11)]}, "products[0].vatPercent"),
    ({"collect": {"type": "Card", "documentNo": "1"}}, "collect.documentNo"),
    ({"seriesName": ""}, "seriesName"),
    ({"seriesName": "XYZ"}, "seriesName"),
    ({"client": ""}, "client"),
    ({"products": []}, "products"),
    ({"products": [product(price="")]}, "products[0].price"),
    ({"products": [product(vatName="Normala", vatPercentage=19)]}, "products[0].vatName"),
    ({"products": [product(vatName="", vatPercentage=0)]}, "products[0].vatName"),  # SDD, SFDD or reverse charge?
    ({"products": [product(productType="Gadget")]}, "products[0].productType"),
    ({"products": [{"name": "Discount", "discount": 5}]}, "products[0].discount"),
    ({"products": [product(), {"name": "Discount", "discount": 101, "discountType": "procentual"}]},
     "products[1].discount"),
    ({"precision": 5}, "precision"),
    ({"language": "DE"}, "language"),
    ({"currency": "EURO"}, "currency"),
    ({"issueDate": "10.01.2026"}, "issueDate"),
    ({"dueDate": "2026-01-01"}, "dueDate"),
    ({"number": 7}, "number"),
    ({"collect": {"type": "Bitcoin", "documentNumber": "1"}}, "collect.type"),
])
def test_invalid_documents_get_400_naming_the_field(api, fake, change, field):
    answer = api.create(invoice(**change))
    assert answer.status_code == 400, answer.text
    assert answer.json()["status"] == 400 and field in answer.json()["statusMessage"]
    assert fake.documents(CIF) == []


def test_company_must_belong_to_the_account(api):
    for cif in (OTHER_CIF, "RO12345678", ""):
        answer = api.create(invoice(cif=cif))
        assert answer.status_code == 400 and answer.json()["status"] == 400
    assert api.create(invoice(cif="37311090")).status_code == 200  # the same company without "RO"


def test_body_must_be_a_json_object_but_any_content_type_is_read(api):
    as_text = api.http.post(api.url("/api/docs/invoice"), headers=api.headers(), timeout=5,
                            data=__import__("json").dumps(invoice()))  # the docs' curl: no JSON content type
    assert as_text.status_code == 200, as_text.text
    broken = api.http.post(api.url("/api/docs/invoice"), headers={**api.headers(), "Content-Type": "application/json"},
                           data=b"{not json", timeout=5)
    assert broken.status_code == 400 and broken.json()["status"] == 400


@pytest.mark.parametrize("body", [{"cif": CIF, "seriesName": True, "number": 1},
                                  {"cif": CIF, "seriesName": "FCT", "number": "unu"},
                                  {"cif": CIF, "seriesName": "FCT", "number": 1, "motiv": "x"}])
def test_addressing_a_document_with_bad_parameters_gets_400(api, body):
    api.created(invoice())
    answer = api.http.put(api.url("/api/docs/invoice/cancel"), json=body, headers=api.headers(), timeout=5)
    assert answer.status_code == 400 and answer.json()["status"] == 400


def test_disable_auto_series_uses_the_number_sent_once(api):
    assert api.created(invoice(disableAutoSeries=1, number=40))["number"] == "0040"
    assert api.create(invoice(disableAutoSeries=1, number=40)).status_code == 400
    assert api.created(invoice())["number"] == "0041"


# --------------------------------------------------------------------------- stock and nomenclatures


def test_use_stock_takes_goods_out_and_a_storno_brings_them_back(clock, http):
    with make_fake(clock, burst_block=False, windowed_limits=False) as fake:
        fake.company(CIF).use_stock = True
        fake.add_management(CIF, "Magazin")
        fake.add_product(CIF, "Ceai verde", code="CV1", price="50", stock={"Magazin": 5})
        api = Oblio(fake, http)
        goods = [product(code="CV1", productType="Marfa", management="Magazin", quantity=3)]
        api.created(invoice(useStock=1, products=goods))
        assert fake.stock(CIF, "Magazin", "Ceai verde") == 2
        too_many = api.create(invoice(useStock=1, products=goods))
        assert too_many.status_code == 400 and "Stoc insuficient" in too_many.json()["statusMessage"]
        api.created({"cif": CIF, "seriesName": "FCT", "referenceDocument": {"type": "Factura", "seriesName": "FCT",
                                                                            "number": 1}})
        assert fake.stock(CIF, "Magazin", "Ceai verde") == 5
        unknown = api.create(invoice(useStock=1, products=[product(productType="Marfa", management="Depozit")]))
        assert unknown.status_code == 400
        listed = api.get("/api/nomenclature/products", cif=CIF).json()["data"]
        assert listed[0]["stock"][0] == {"workStation": "Sediu", "management": "Magazin", "quantity": 5,
                                         "price": "50.00", "currency": "RON", "vatName": "Normala",
                                         "vatPercentage": 21, "vatIncluded": True}
        assert api.get("/api/nomenclature/management", cif=CIF).json()["data"] == [
            {"management": "Magazin", "workStation": "Sediu", "managementType": "Cantitativ Valorica"}]


@pytest.mark.parametrize("by_work_station", [True, False])
def test_stock_goes_by_product_code_from_a_management_of_the_documents_work_station(clock, http, by_work_station):
    with make_fake(clock, burst_block=False, windowed_limits=False, stock_by_work_station=by_work_station) as fake:
        fake.company(CIF).use_stock = True
        fake.add_management(CIF, "Depozit", "Hala")
        fake.add_product(CIF, "Ceai verde 100 g", code="TEA-100", price="20", stock={"Depozit": 10})
        api = Oblio(fake, http)
        # The line's own name differs from the catalogue's: the code names the product.
        goods = [product(name="Ceai (magazin online)", code="TEA-100", management="Depozit", quantity=4)]
        elsewhere = api.create(invoice(useStock=1, products=goods))  # workStation defaults to "Sediu"
        if by_work_station:
            assert elsewhere.status_code == 400
            assert elsewhere.json()["statusMessage"] == "products[0].management: gestiune lipsa sau necunoscuta"
            assert fake.stock_of_code(CIF, "Depozit", "TEA-100") == 10
        else:
            assert elsewhere.status_code == 200 and fake.stock_of_code(CIF, "Depozit", "TEA-100") == 6
        api.created(invoice(useStock=1, workStation="Hala", products=goods))
        assert fake.stock_of_code(CIF, "Depozit", "TEA-100") == (6 if by_work_station else 2)
        unknown_code = api.create(invoice(useStock=1, workStation="Hala", products=[
            product(code="NOPE-1", management="Depozit")]))
        assert unknown_code.status_code == 400
        assert unknown_code.json()["statusMessage"] == "Produsul 'Ceai verde' cu codul 'NOPE-1' nu exista in gestiune"
        misspelt = api.create(invoice(useStock=1, workStation="Hala", products=[
            product(code="TEA-100", managment="Depozit")]))
        assert misspelt.status_code == 400 and "products[0].managment" in misspelt.json()["statusMessage"]
        assert fake.stock_of_code(CIF, "Depozit", "TEA-100") == (6 if by_work_station else 2)


def test_nomenclatures_for_a_config_screen(api, fake):
    fake.add_series(CIF, "Factura", "WEB", start=100)
    companies = api.get("/api/nomenclature/companies", cif="", name="").json()["data"]
    assert companies == [{"cif": CIF, "company": "OBLIO SOFTWARE SRL", "userTypeAccess": "admin", "useStock": 0}]
    rates = api.get("/api/nomenclature/vat_rates", cif=CIF).json()["data"]
    assert rates[:2] == [{"name": "Normala", "percent": 21, "default": True},
                         {"name": "Redusa", "percent": 11, "default": False}]
    series = api.get("/api/nomenclature/series", cif=CIF).json()["data"]
    assert {"type": "Factura", "name": "WEB", "start": "0100", "next": "0100", "default": False} in series
    assert {entry["type"] for entry in series} == {"Factura", "Proforma", "Aviz", "Chitanta"}
    assert api.get("/api/nomenclature/series", cif=CIF, name="we").json()["data"][0]["name"] == "WEB"
    assert api.get("/api/nomenclature/languages", cif=CIF).json()["data"][0] == {"code": "EN", "name": "Engleza"}
    assert api.get("/api/nomenclature/management", cif=CIF).json()["data"] == []  # stock is off
    assert api.get("/api/nomenclature/series", cif=OTHER_CIF).status_code == 400
    assert api.get("/api/nomenclature/series", cif=CIF, type="Factura").status_code == 400
    assert api.get("/api/nomenclature/currencies", cif=CIF).status_code == 400


def test_the_default_vat_rate_applies_without_name_or_percentage(api, fake):
    api.created(invoice(products=[{"name": "Serviciu", "price": "121"}]))
    (line,) = fake.document(CIF, "FCT", 1).lines
    assert (line.vat_name, line.vat_percentage, line.net) == ("Normala", Decimal(21), Decimal("100.00"))


# --------------------------------------------------------------------------- e-Factura (SPV)


def test_spv_submission_status_and_archive(api, fake):
    data = api.created(invoice())
    assert api.one(data)["einvoiceStatus"] == {"text": "e-Factura netrimisa in SPV.", "sent": False, "code": -1}
    sent = api.http.post(api.url("/api/docs/einvoice"), data={"cif": CIF, "seriesName": "FCT", "number": 1},
                         headers=api.headers(), timeout=5)
    assert sent.json() == {"status": 200, "statusMessage": "Success",
                           "data": {"text": "e-Factura trimisa cu succes in SPV.", "sent": True, "code": 0}}
    entry = api.one(data)
    assert entry["einvoiceStatus"]["code"] == 0 and entry["indexUpload"] and entry["idDownload"] is None
    assert api.get("/api/docs/einvoice", cif=CIF, seriesName="FCT", number=1).status_code == 400
    assert fake.process_spv() == 1
    entry = api.one(data)
    assert entry["einvoiceStatus"]["code"] == 1 and entry["idDownload"]
    archive = api.get("/api/docs/einvoice", cif=CIF, seriesName="FCT", number=1)
    assert archive.headers["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert f"{entry['indexUpload']}.xml" in names
    refused = api.put("/api/docs/invoice/cancel", {"cif": CIF, "seriesName": "FCT", "number": 1})
    assert refused.status_code == 400 and "storn" in refused.json()["statusMessage"]


def test_spv_reports_address_errors_with_code_2(api, fake):
    api.created(invoice(client=romanian_company(city="Municipiul Bucuresti")))
    sent = api.http.post(api.url("/api/docs/einvoice"), json={"cif": CIF, "seriesName": "FCT", "number": 1},
                         headers=api.headers(), timeout=5).json()["data"]
    assert (sent["sent"], sent["code"]) == (False, 2) and "SECTOR" in sent["text"]
    fake.company(CIF).spv_configured = False
    api.created(invoice())
    unconfigured = api.http.post(api.url("/api/docs/einvoice"), data={"cif": CIF, "seriesName": "FCT", "number": 2},
                                 headers=api.headers(), timeout=5).json()["data"]
    assert unconfigured == {"text": "Neconfigurat", "sent": False, "code": -1}


def test_spv_extern_sends_on_create_when_the_company_sends_automatically(api, fake):
    fake.company(CIF).spv_auto_send = True
    api.created(invoice(spvExtern=1))
    api.created(invoice())
    assert [doc.spv_code for doc in fake.documents(CIF)] == [0, -1]


# --------------------------------------------------------------------------- PDF


def test_the_link_serves_a_pdf_without_authorization(api, http):
    data = api.created(invoice())
    pdf = http.get(data["link"], timeout=5)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and b"Factura FCT 0001" in pdf.content
    assert b"Total: 200.00 RON" in pdf.content and b"BUCUR OBOR SA" in pdf.content
    assert http.get(data["link"].replace("&it=", "&it=0"), timeout=5).status_code == 404
    listed = api.one(data)
    assert http.get(listed["link"], timeout=5).content == pdf.content  # "&preload=1" variant
    assert b"<ID>FCT0001</ID>" in http.get(listed["einvoice"], timeout=5).content


# --------------------------------------------------------------------------- rate limits


def test_more_than_3_requests_a_second_block_the_account_for_10_minutes(clock, http):
    with make_fake(clock) as fake:
        api = Oblio(fake, http)  # the token request is not counted
        for _ in range(3):
            assert api.get("/api/nomenclature/companies").status_code == 200
        fourth = api.get("/api/nomenclature/companies")
        assert (fourth.status_code, fourth.json()) == (429, {"status": 429,
                                                             "statusMessage": "Limita de cereri API a fost depasita"})
        assert fake.blocked_until(EMAIL) == clock() + 600
        clock.advance(599)
        fresh = api.authorize().json()["access_token"]  # a new token does not escape the block
        assert api.get("/api/nomenclature/companies", token=fresh).status_code == 429
        clock.advance(1)
        assert api.get("/api/nomenclature/companies", token=fresh).status_code == 200
        assert fake.peak_rate(EMAIL) == 4
        other = Oblio(fake, http, OTHER_EMAIL, "alt-secret")  # other accounts are not affected
        assert other.get("/api/nomenclature/companies").status_code == 200


def test_spaced_requests_stay_under_the_burst_limit(clock, http):
    with make_fake(clock) as fake:
        api = Oblio(fake, http)
        for _ in range(12):
            assert api.get("/api/nomenclature/companies").status_code == 200
            clock.advance(0.34)
        assert fake.peak_rate(EMAIL) == 3 and fake.blocked_until(EMAIL) is None


def test_token_scope_option_blocks_only_that_token(clock, http):
    with make_fake(clock, block_scope="token", rate_limit_status=401) as fake:
        api = Oblio(fake, http)
        statuses = [api.get("/api/nomenclature/companies").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 401]
        fresh = api.authorize().json()["access_token"]
        assert api.get("/api/nomenclature/companies", token=fresh).status_code == 200


def test_documented_windows_30_documents_per_100s_and_30_others_per_10s(clock, http):
    with make_fake(clock, burst_block=False) as fake:
        api = Oblio(fake, http)
        for _ in range(30):
            assert api.create(invoice()).status_code == 200
            clock.advance(1)
        assert api.create(invoice()).status_code == 429
        assert api.get("/api/nomenclature/companies").status_code == 200  # the other window is separate
        clock.advance(70)  # t = 100: the create of t = 0 has left the window
        assert api.create(invoice()).status_code == 200
        for _ in range(30):
            assert api.get("/api/nomenclature/series", cif=CIF).status_code == 200
        assert api.get("/api/nomenclature/series", cif=CIF).status_code == 429
        clock.advance(10)
        assert api.get("/api/nomenclature/series", cif=CIF).status_code == 200
        assert fake.peak_rate(EMAIL) == 32  # all within t = 100, measured with the block switched off


# --------------------------------------------------------------------------- faults and the request log


def test_status_fault_uses_oblio_error_shape_and_stores_nothing(api, fake):
    fake.faults.status(503, method="POST", path=r"/api/docs/invoice")
    failed = api.create(invoice())
    assert (failed.status_code, failed.json()) == (503, {"status": 503, "statusMessage": "Service Unavailable"})
    assert fake.documents(CIF) == [] and api.create(invoice()).status_code == 200


def test_rate_limited_fault(api, fake):
    fake.faults.rate_limited(path=r"/api/docs/invoice/list")
    assert api.get("/api/docs/invoice/list", cif=CIF).status_code == 429


def test_reset_after_commit_stores_the_invoice_and_a_retry_with_the_key_gets_it(api, fake):
    fake.faults.reset(after_commit=True, method="POST", path=r"/api/docs/invoice")
    with pytest.raises(requests.ConnectionError):
        api.create(invoice(idempotencyKey="order-42"))
    assert len(fake.documents(CIF)) == 1
    assert api.created(invoice(idempotencyKey="order-42"))["number"] == "0001"
    assert len(fake.documents(CIF)) == 1


def test_stall_after_commit_times_the_client_out_but_the_invoice_exists(api, fake):
    fake.faults.stall_after_commit(0.6, method="POST", path=r"/api/docs/invoice")
    with pytest.raises(requests.Timeout):
        api.http.post(api.url("/api/docs/invoice"), json=invoice(), headers=api.headers(), timeout=0.3)
    assert len(fake.documents(CIF)) == 1


def test_request_log_has_no_credentials(api, fake):
    api.created(invoice())
    logged = fake.requests.entries()
    assert [(entry.method, entry.path, entry.status) for entry in logged] == [
        ("POST", "/api/authorize/token", 200), ("POST", "/api/docs/invoice", 200)]
    assert logged[1].key == "37311090"
    assert SECRET not in repr(logged) and api.token not in repr(logged)


# --------------------------------------------------------------------------- common helpers added for Oblio


def test_parse_bracket_params_reads_php_style_names():
    assert parse_bracket_params("cif=RO1&collect[type]=Ordin+de+plata&collect[documentNumber]=OP+7001&t[]=a&t[]=b") \
        == {"cif": "RO1", "collect": {"type": "Ordin de plata", "documentNumber": "OP 7001"}, "t": ["a", "b"]}
    assert parse_bracket_params([("client[cif]", "1111"), ("odd[", "1")]) == {"client": {"cif": "1111"}, "odd[": "1"}


def test_manual_clock_moves_only_forward():
    clock = ManualClock(100.0)
    assert clock() == 100.0 and clock.advance(2.5) == 102.5 and clock() == 102.5
    with pytest.raises(ValueError):
        clock.advance(-1)
