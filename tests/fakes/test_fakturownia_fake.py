"""The Fakturownia fake, driven over real HTTP on 127.0.0.1 the way the adapter will drive it.

These tests pin the fake to the provider's documentation (facts file section 1), so that a
test passing against the fake means something for the real API.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
import requests

from local.fakes.common import render_pdf
from local.fakes.fakturownia import FakturowniaFake

TOKEN = "fake-token-shop-1"
OTHER_TOKEN = "fake-token-other-2"
TODAY = date.today().isoformat()
UNAUTHORIZED = {"code": "error", "message": "You must be logged in to gain access to the site"}
NOT_FOUND = {"code": "error", "message": "Not Found"}


@pytest.fixture
def fake():
    with FakturowniaFake(rate_limit=None) as server:
        server.add_account(TOKEN, prefix="shop")
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 must never go through a proxy from the environment
    yield session
    session.close()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def create(http, fake, invoice, *, token=TOKEN, timeout=5, **top_level):
    return http.post(f"{fake.base_url}/invoices.json", json={"invoice": invoice, **top_level},
                     headers=bearer(token), timeout=timeout)


def totals(invoice: dict) -> tuple[str, str, str]:
    return invoice["price_net"], invoice["price_tax"], invoice["price_gross"]


def company_invoice(**overrides):
    """A valid B2B VAT invoice under the KSeF rules (seller = the account's company data)."""
    invoice = {
        "kind": "vat", "issue_date": TODAY, "buyer_company": True,
        "buyer_name": "Klient ABC Sp. z o.o.", "buyer_tax_no": "9876543210",
        "positions": [{"name": "Usługa", "quantity": 1, "tax": 23, "total_price_gross": "123.00"}],
    }
    return {**invoice, **overrides}


def docs_example_1_2(department_id: int, category_id: int, product_id: int) -> dict:
    """Facts file 1.2 example, verbatim except the ids, which must exist in the account."""
    return {"invoice": {
        "kind": "vat", "number": None, "issue_date": "2026-03-02", "sell_date": "2026-03-01",
        "payment_type": "card", "status": "paid", "paid_date": "2026-03-01", "currency": "PLN",
        "department_id": department_id, "category_id": category_id,
        "oid": "shop-order-100231", "oid_unique": "yes",
        "buyer_company": False, "buyer_first_name": "Anna", "buyer_last_name": "Nowak",
        "buyer_street": "ul. Polna 3", "buyer_post_code": "00-950", "buyer_city": "Warszawa",
        "buyer_country": "PL", "buyer_email": "anna@example.com",
        "exempt_tax_kind":
            "Zwolnienie ze względu na rodzaj prowadzonej działalności (art. 43 ust 1 ustawy o VAT)",
        "positions": [
            {"name": "Kubek 300 ml", "code": "MUG-300", "product_id": product_id, "quantity": 2,
             "quantity_unit": "szt", "tax": 23, "total_price_gross": 59.98},
            {"name": "Kurs online", "quantity": 1, "tax": "zw", "total_price_gross": 100.00},
        ],
    }}


# --------------------------------------------------------------------------- the docs' own examples


def test_accepts_docs_example_1_2_and_moves_stock(fake, http):
    department_id = fake.add_department(TOKEN, "Sklep internetowy", "5252445767", shortcut="WWW")
    category_id = fake.add_category(TOKEN, "Sklep")
    product_id = fake.add_product(TOKEN, "Kubek 300 ml", "MUG-300", "29.99", 23, stock_level=10)

    response = http.post(f"{fake.base_url}/invoices.json", headers=bearer(),
                         json=docs_example_1_2(department_id, category_id, product_id), timeout=5)

    assert response.status_code == 201, response.text
    invoice = response.json()
    assert isinstance(invoice["id"], int)
    assert invoice["number"] == "FV 1/03/2026/WWW"
    assert re.fullmatch(r"[0-9a-f]{20}", invoice["token"])
    assert invoice["view_url"] == f"{fake.base_url}/invoice/{invoice['token']}"
    assert invoice["buyer_name"] == "Anna Nowak"  # documented: built from first and last name
    assert invoice["seller_name"] == "Sklep internetowy"  # the department wins
    assert invoice["gov_status"] is None
    assert [p["tax"] for p in invoice["positions"]] == ["23", "zw"]
    assert all(isinstance(p["id"], int) for p in invoice["positions"])
    # Default strategy works from net: 59.98 gross -> 48.76 net -> 11.21 VAT -> 59.97 (the grosz drift).
    assert totals(invoice) == ("148.76", "11.21", "159.97")
    assert invoice["paid"] == "159.97"
    assert fake.account(TOKEN).products[product_id]["stock_level"] == "8.0"


def test_accepts_docs_example_1_6_correction(fake, http):
    client_id = fake.add_client(TOKEN, "Firma ABC Sp. z o.o.", tax_no="9876543210")
    original = create(http, fake, {
        "client_id": client_id, "issue_date": TODAY,
        "positions": [{"name": "Kubek 300 ml", "tax": 23, "quantity": 2, "total_price_gross": 59.98}],
    }).json()
    correction = {"invoice": {
        "kind": "correction", "invoice_id": original["id"], "from_invoice_id": original["id"],
        "correction_reason": "Zwrot 1 szt.", "client_id": client_id,
        "positions": [{
            "name": "Kubek 300 ml", "kind": "correction", "tax": 23,
            "quantity": -1, "total_price_gross": -29.99,
            "correction_before_attributes": {"name": "Kubek 300 ml", "kind": "correction_before", "tax": 23,
                                             "quantity": 2, "total_price_gross": 59.98},
            "correction_after_attributes": {"name": "Kubek 300 ml", "kind": "correction_after", "tax": 23,
                                            "quantity": 1, "total_price_gross": 29.99},
        }],
    }}

    response = http.post(f"{fake.base_url}/invoices.json", json=correction, headers=bearer(), timeout=5)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["kind"] == "correction" and created["number"].startswith("KOR 1/")
    line = created["positions"][0]
    assert line["quantity"] == "-1.0"
    # The stored line is after - before as computed: (24.38 + 5.61) - (48.76 + 11.21).
    assert (line["total_price_net"], line["total_price_gross"]) == ("-24.38", "-29.98")
    assert created["price_gross"] == "-29.98"
    # The halves are documented to come back with ?correction_positions=full only.
    plain = http.get(f"{fake.base_url}/invoices/{created['id']}.json", headers=bearer(), timeout=5).json()
    assert "correction_before_attributes" not in plain["positions"][0]
    full = http.get(f"{fake.base_url}/invoices/{created['id']}.json?correction_positions=full",
                    headers=bearer(), timeout=5).json()
    assert full["positions"][0]["correction_after_attributes"]["quantity"] == "1.0"


def test_correction_line_must_be_after_minus_before(fake, http):
    original = create(http, fake, company_invoice()).json()
    line = {"name": "Usługa", "kind": "correction", "tax": 23,
            "quantity": -2, "total_price_gross": "-100.00",
            "correction_before_attributes": {"name": "Usługa", "kind": "correction_before", "tax": 23,
                                             "quantity": 1, "total_price_gross": "123.00"},
            "correction_after_attributes": {"name": "Usługa", "kind": "correction_after", "tax": 23,
                                            "quantity": 0, "total_price_gross": "0.00"}}
    response = create(http, fake, company_invoice(kind="correction", invoice_id=original["id"],
                                                  correction_reason="Zwrot", positions=[line]))
    assert response.status_code == 422
    assert set(response.json()["message"]) == {"positions[0].quantity", "positions[0].total_price_gross"}


def test_correction_totals_are_the_after_summary_minus_the_before_summary(fake, http):
    """A line moved from 5% to exempt: the difference line alone (0.00 net at zw) has no VAT, but the
    correction takes back the 5.01 VAT of the before side's 5% summary."""
    per_rate = {"position": "default", "sum": "keep_net"}
    original = create(http, fake, company_invoice(calculating_strategy=per_rate, positions=[
        {"name": "Usługa", "tax": 5, "quantity": 1, "total_price_net": "100.10"}])).json()
    line = {"name": "Usługa", "kind": "correction", "tax": "zw", "quantity": 0,
            "correction_before_attributes": {"name": "Usługa", "kind": "correction_before", "tax": 5,
                                             "quantity": 1, "total_price_net": "100.10"},
            "correction_after_attributes": {"name": "Usługa", "kind": "correction_after", "tax": "zw",
                                            "quantity": 1, "total_price_net": "100.10"}}
    response = create(http, fake, company_invoice(
        kind="correction", invoice_id=original["id"], correction_reason="Zwolnienie z VAT",
        calculating_strategy=per_rate, exempt_tax_kind="art. 43 ust. 1 pkt 1", positions=[line]))

    assert response.status_code == 201, response.text
    assert totals(response.json()) == ("0.00", "-5.01", "-5.01")


# --------------------------------------------------------------------------- auth


def test_token_is_accepted_in_all_three_documented_forms(fake, http):
    url = f"{fake.base_url}/invoices.json"
    by_header = http.post(url, json={"invoice": company_invoice()}, headers=bearer(), timeout=5)
    by_body = http.post(url, json={"api_token": TOKEN, "invoice": company_invoice()}, timeout=5)
    by_query = http.get(url, params={"api_token": TOKEN, "period": "all"}, timeout=5)

    assert (by_header.status_code, by_body.status_code, by_query.status_code) == (201, 201, 200)
    assert len(by_query.json()) == 2


@pytest.mark.parametrize("headers, params", [
    ({}, {}),
    ({"Authorization": "Bearer wrong-token"}, {}),
    ({"Authorization": TOKEN}, {}),  # not the Bearer scheme
    ({}, {"api_token": "wrong-token"}),
    ({"Authorization": f"Bearer {TOKEN}"}, {"api_token": "wrong-token"}),  # must agree
])
def test_missing_or_wrong_token_gets_the_exact_401(fake, http, headers, params):
    response = http.get(f"{fake.base_url}/invoices.json", headers=headers, params=params, timeout=5)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_accounts_are_separated_by_token(fake, http):
    fake.add_account(OTHER_TOKEN, prefix="other")
    mine = create(http, fake, company_invoice()).json()
    response = http.get(f"{fake.base_url}/invoices/{mine['id']}.json", headers=bearer(OTHER_TOKEN), timeout=5)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


# --------------------------------------------------------------------------- validation


def test_rejects_a_body_that_is_not_sent_as_json(fake, http):
    response = http.post(f"{fake.base_url}/invoices.json", headers=bearer(),
                         data={"invoice[kind]": "vat"}, timeout=5)
    assert response.status_code == 415
    assert response.json()["code"] == "error"


def test_missing_buyer_name_gets_the_exact_documented_422(fake, http):
    response = create(http, fake, company_invoice(buyer_name=None))
    assert response.status_code == 422
    assert response.json() == {"code": "error", "message": {"buyer_name": ["- nie może być puste"]}}


@pytest.mark.parametrize("change, field", [
    ({"buyer_nmae": "typo"}, "buyer_nmae"),  # unknown field
    ({"issue_date": "02.03.2026"}, "issue_date"),
    ({"sell_date": "2026-13"}, "sell_date"),
    ({"currency": "pln"}, "currency"),
    ({"buyer_country": "Polska"}, "buyer_country"),
    ({"kind": "invoice"}, "kind"),
    ({"status": "done"}, "status"),
    ({"oid_unique": True}, "oid_unique"),
    ({"payment_to_kind": "other_date"}, "payment_to"),
    ({"buyer_company": "maybe"}, "buyer_company"),
    ({"buyer_phone": "+48 600 000 000 ext 12"}, "buyer_phone"),
    ({"description": "Dziękujemy 😀"}, "description"),
    ({"positions": []}, "positions"),
    ({"positions": [{"name": "X", "quantity": 1, "tax": "VAT23", "price_net": 10}]}, "positions[0].tax"),
    ({"positions": [{"name": "X", "quantity": 0, "tax": 23, "price_net": 10}]}, "positions[0].quantity"),
    ({"positions": [{"name": "X", "quantity": 1, "tax": 23, "price_net": "10.001"}]},
     "positions[0].price_net"),
    ({"positions": [{"name": "X", "quantity": 1, "tax": 23}]}, "positions[0].price_net"),
    ({"positions": [{"quantity": 1, "tax": 23, "price_net": 10}]}, "positions[0].name"),
    ({"positions": [{"name": "X" * 257, "tax": 23, "price_net": 10}]}, "positions[0].name"),
    ({"positions": [{"name": "X", "tax": 23, "price_net": 10, "sku": "A1"}]}, "positions[0].sku"),
    ({"positions": [{"name": "X", "tax": 23, "price_gross": 10, "total_price_gross": 30, "quantity": 2}]},
     "positions[0].price_gross"),  # unit and total disagree: the total wins, the unit is refused
    ({"positions": [{"name": "X", "tax": 23, "price_net": 10, "product_id": 999999}]},
     "positions[0].product_id"),
    ({"buyer_tax_no": None}, "buyer_tax_no"),  # KSeF: a company needs its NIP
])
def test_rejects_invalid_fields_with_the_documented_422_shape(fake, http, change, field):
    response = create(http, fake, company_invoice(**change))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "error"
    assert field in body["message"], body
    assert all(m.startswith("- ") for messages in body["message"].values() for m in messages)


def test_collects_all_errors_at_once(fake, http):
    response = create(http, fake, company_invoice(issue_date="yesterday", currency="zł", extra_field=1),
                      unknown_top_level=True)
    assert set(response.json()["message"]) == {"issue_date", "currency", "extra_field", "unknown_top_level"}


def test_accepts_decimal_strings_with_comma_and_np_spellings(fake, http):
    response = create(http, fake, company_invoice(np_tax_kind="export_service", positions=[
        {"name": "A", "quantity": "2", "tax": "23", "price_net": "59,00"},
        {"name": "B", "quantity": 1, "tax": "nie podlega", "total_price_net": "10"},
    ]))
    assert response.status_code == 201, response.text
    assert [p["tax"] for p in response.json()["positions"]] == ["23", "np"]
    assert response.json()["price_net"] == "128.00"


def test_private_buyer_needs_first_and_last_name_or_a_name(fake, http):
    response = create(http, fake, company_invoice(buyer_company=False, buyer_name=None, buyer_tax_no=None,
                                                  buyer_first_name="Anna"))
    assert response.status_code == 422
    assert {"buyer_name", "buyer_last_name"} <= set(response.json()["message"])


def test_zw_needs_exempt_tax_kind_unless_ksef_validation_is_off(fake, http):
    invoice = company_invoice(positions=[{"name": "Kurs", "tax": "zw", "total_price_gross": 100}])
    refused = create(http, fake, invoice)
    assert refused.status_code == 422
    assert refused.json()["message"] == {"exempt_tax_kind": ["- nie może być puste"]}

    fake.add_account(OTHER_TOKEN, validate_for_ksef=False)
    saved = create(http, fake, invoice, token=OTHER_TOKEN)
    assert saved.status_code == 201
    assert saved.json()["gov_error_messages"] == ["exempt_tax_kind - nie może być puste"]


def test_np_needs_np_tax_kind(fake, http):
    line = {"name": "IT", "tax": "np", "total_price_net": 10}
    response = create(http, fake, company_invoice(positions=[line]))
    assert response.json()["message"] == {"np_tax_kind": ["- nie może być puste"]}


def test_unknown_department_gets_404_not_found(fake, http):
    response = create(http, fake, company_invoice(department_id=424242))
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_oid_unique_refuses_a_second_invoice_for_the_same_order(fake, http):
    first = create(http, fake, company_invoice(oid="order-77", oid_unique="yes"))
    second = create(http, fake, company_invoice(oid="order-77", oid_unique="yes"))
    without_flag = create(http, fake, company_invoice(oid="order-77"))

    assert first.status_code == 201
    assert second.status_code == 422
    assert second.json() == {"code": "error", "message": {"oid": ["- jest już zajęte"]}}
    assert without_flag.status_code == 201  # uniqueness is only enforced when asked for


def test_own_number_used_twice_is_created_twice_by_default(fake, http):
    first = create(http, fake, company_invoice(number="SKLEP/7/2026"))
    again = create(http, fake, company_invoice(number="SKLEP/7/2026"))

    assert first.status_code == again.status_code == 201
    assert first.json()["number"] == again.json()["number"] == "SKLEP/7/2026"
    assert [i["number"] for i in fake.account(TOKEN).invoices].count("SKLEP/7/2026") == 2


def test_own_number_can_be_refused_twice_for_the_same_kind(fake, http):
    fake.account(TOKEN).refuses_duplicate_numbers = True
    first = create(http, fake, company_invoice(number="SKLEP/7/2026"))
    again = create(http, fake, company_invoice(number="SKLEP/7/2026"))
    as_receipt = create(http, fake, company_invoice(number="SKLEP/7/2026", kind="receipt"))

    assert first.json()["number"] == "SKLEP/7/2026"
    assert again.status_code == 422
    assert again.json()["message"] == {"number": ["- jest już zajęty"]}
    assert as_receipt.status_code == 201


def test_correction_of_an_unknown_invoice_is_refused(fake, http):
    line = {"name": "X", "kind": "correction", "tax": 23, "quantity": -1, "total_price_gross": -10,
            "correction_before_attributes": {"name": "X", "kind": "correction_before", "tax": 23,
                                             "quantity": 1, "total_price_gross": 10},
            "correction_after_attributes": {"name": "X", "kind": "correction_after", "tax": 23,
                                            "quantity": 0, "total_price_gross": 0}}
    response = create(http, fake, company_invoice(kind="correction", invoice_id=999999,
                                                  correction_reason="Zwrot", positions=[line]))
    assert response.status_code == 422
    assert response.json()["message"] == {"invoice_id": ["- nie istnieje"]}


# --------------------------------------------------------------------------- numbering and totals


def test_automatic_numbers_run_per_kind_and_per_department(fake, http):
    department_id = fake.add_department(TOKEN, "Sklep 2", "5252445767", shortcut="S2")
    march = {"issue_date": "2026-03-02"}
    numbers = [create(http, fake, company_invoice(**{**march, **extra})).json()["number"] for extra in (
        {}, {}, {"kind": "receipt"}, {"department_id": department_id}, {"issue_date": "2026-04-01"})]
    assert numbers == ["FV 1/03/2026", "FV 2/03/2026", "PAR 1/03/2026", "FV 1/03/2026/S2", "FV 1/04/2026"]


def test_totals_from_net_prices(fake, http):
    response = create(http, fake, company_invoice(positions=[
        {"name": "A", "quantity": 3, "tax": 23, "price_net": "10.00"},
        {"name": "B", "quantity": 1, "tax": 8, "price_net": "0.99"},
    ]))
    invoice = response.json()
    assert [(p["total_price_net"], p["total_price_gross"]) for p in invoice["positions"]] == [
        ("30.00", "36.90"), ("0.99", "1.07")]
    assert totals(invoice) == ("30.99", "6.98", "37.97")


@pytest.mark.parametrize("strategy, expected", [
    (None, ("48.76", "11.21", "59.97")),  # default: from net, the gross drifts by a grosz
    ({"position": "keep_gross"}, ("48.76", "11.22", "59.98")),
])
def test_gross_price_and_the_one_grosz_rounding_case(fake, http, strategy, expected):
    extra = {"calculating_strategy": strategy} if strategy else {}
    invoice = create(http, fake, company_invoice(**extra, positions=[
        {"name": "Kubek", "quantity": 2, "tax": 23, "price_gross": "29.99"}])).json()
    assert totals(invoice) == expected


@pytest.mark.parametrize("sum_mode, expected", [
    ("sum", ("2.43", "0.57", "3.00")),
    ("keep_gross", ("2.44", "0.56", "3.00")),
])
def test_sum_strategy(fake, http, sum_mode, expected):
    line = {"name": "Drobiazg", "quantity": 1, "tax": 23, "total_price_gross": "1.00"}
    invoice = create(http, fake, company_invoice(
        calculating_strategy={"position": "keep_gross", "sum": sum_mode}, positions=[line] * 3)).json()
    assert totals(invoice) == expected


# --------------------------------------------------------------------------- reading and listing


def test_oid_lookup_is_not_exact_so_clients_must_filter(fake, http):
    for oid in ("order-1", "order-10", "other-2"):
        create(http, fake, company_invoice(oid=oid))
    found = http.get(f"{fake.base_url}/invoices.json", params={"oid": "order-1", "period": "all"},
                     headers=bearer(), timeout=5).json()
    assert sorted(inv["oid"] for inv in found) == ["order-1", "order-10"]


def test_default_period_hides_an_old_invoice_but_period_all_shows_it(fake, http):
    create(http, fake, company_invoice(issue_date="2020-01-15", oid="old"))
    create(http, fake, company_invoice(oid="new"))
    url = f"{fake.base_url}/invoices.json"
    default = http.get(url, headers=bearer(), timeout=5).json()
    everything = http.get(url, params={"period": "all"}, headers=bearer(), timeout=5).json()
    assert [inv["oid"] for inv in default] == ["new"]
    assert sorted(inv["oid"] for inv in everything) == ["new", "old"]
    assert "positions" not in default[0]  # documented: only with include_positions=true


def test_list_filters_and_pagination(fake, http):
    for kind in ("vat", "vat", "receipt"):
        create(http, fake, company_invoice(kind=kind))
    url = f"{fake.base_url}/invoices.json"
    receipts = http.get(url, params={"kind": "receipt", "include_positions": "true"}, headers=bearer(),
                        timeout=5).json()
    page_two = http.get(url, params={"per_page": 2, "page": 2}, headers=bearer(), timeout=5).json()
    assert [inv["kind"] for inv in receipts] == ["receipt"] and receipts[0]["positions"]
    assert len(page_two) == 1


def test_parallel_creates_get_unique_numbers_and_oid_unique_holds(fake):
    def post(oid):
        with requests.Session() as session:
            session.trust_env = False
            return create(session, fake, company_invoice(oid=oid, oid_unique="yes")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        same_order = list(pool.map(post, ["order-dup"] * 8))
        distinct = list(pool.map(post, [f"order-{n}" for n in range(8)]))
    numbers = [inv["number"] for inv in fake.account(TOKEN).invoices]
    assert sorted(same_order) == [201] + [422] * 7
    assert distinct == [201] * 8
    assert len(set(numbers)) == len(numbers) == 9


def test_unknown_invoice_is_404(fake, http):
    response = http.get(f"{fake.base_url}/invoices/123.json", headers=bearer(), timeout=5)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_put_edits_fields_and_positions_and_bumps_updated_at(fake, http):
    created = create(http, fake, company_invoice(positions=[
        {"name": "A", "tax": 23, "total_price_gross": "123.00"},
        {"name": "B", "tax": 23, "total_price_gross": "12.30"}])).json()
    first_id, second_id = (p["id"] for p in created["positions"])
    edit = {"api_token": TOKEN, "invoice": {"buyer_name": "Nowa nazwa Sp. z o.o.", "positions": [
        {"id": first_id, "total_price_gross": "246.00"},
        {"id": second_id, "_destroy": 1},
        {"name": "C", "tax": 8, "price_net": "1.00"}]}}

    response = http.put(f"{fake.base_url}/invoices/{created['id']}.json", json=edit, timeout=5)

    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["number"] == created["number"] and edited["token"] == created["token"]
    assert edited["buyer_name"] == "Nowa nazwa Sp. z o.o."
    assert [p["name"] for p in edited["positions"]] == ["A", "C"]
    assert edited["positions"][0]["id"] == first_id
    assert edited["price_gross"] == "247.08"
    assert edited["updated_at"] > created["updated_at"]
    assert fake.account(TOKEN).invoice(created["id"])["price_gross"] == "247.08"


def test_put_is_validated_like_a_create(fake, http):
    created = create(http, fake, company_invoice()).json()
    response = http.put(f"{fake.base_url}/invoices/{created['id']}.json", headers=bearer(), timeout=5,
                        json={"invoice": {"issue_date": "soon", "positions": [{"id": 1, "name": "?"}]}})
    assert response.status_code == 422
    assert set(response.json()["message"]) == {"issue_date", "positions[0].id"}


# --------------------------------------------------------------------------- PDF


def test_pdf_has_number_and_totals_and_changes_after_an_edit(fake, http):
    created = create(http, fake, company_invoice()).json()
    pdf_url = f"{fake.base_url}/invoices/{created['id']}.pdf"
    before = http.get(pdf_url, headers=bearer(), timeout=5)

    assert before.status_code == 200
    assert before.headers["Content-Type"] == "application/pdf"
    assert before.content.startswith(b"%PDF-") and before.content.rstrip().endswith(b"%%EOF")
    assert created["number"].encode() in before.content and b"123.00 PLN" in before.content

    http.put(f"{fake.base_url}/invoices/{created['id']}.json", headers=bearer(), timeout=5,
             json={"invoice": {"positions": [{"id": created["positions"][0]["id"],
                                              "total_price_gross": "246.00"}]}})
    after = http.get(pdf_url, params={"print_option": "copy"}, headers=bearer(), timeout=5)

    assert after.content != before.content
    assert b"246.00 PLN" in after.content and b"KOPIA" in after.content
    assert http.get(pdf_url, timeout=5).status_code == 401


def test_public_pdf_needs_only_the_token(fake, http):
    created = create(http, fake, company_invoice()).json()
    public = http.get(f"{fake.base_url}/invoice/{created['token']}.pdf", timeout=5)
    unknown = http.get(f"{fake.base_url}/invoice/{'0' * 20}.pdf", timeout=5)
    assert public.status_code == 200 and public.content.startswith(b"%PDF-")
    assert created["number"].encode() in public.content
    assert unknown.status_code == 404


def test_render_pdf_is_structurally_valid():
    pdf = render_pdf("Faktura (FV 1/03/2026)", ["Zażółć gęślą jaźń \\ (x)", "Brutto: 1.00 PLN"])
    assert pdf.startswith(b"%PDF-1.4") and pdf.endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n", pdf).group(1))
    assert pdf[startxref:].startswith(b"xref\n")
    offsets = [int(offset) for offset in re.findall(rb"(\d{10}) 00000 n ", pdf)]
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    stream = re.search(rb"<< /Length (\d+) >>\nstream\n", pdf)
    assert pdf[stream.end() + int(stream.group(1)):].startswith(b"\nendstream")
    assert b"(Zazolc gesla jazn \\\\ \\(x\\)) Tj" in pdf
    assert pdf.isascii() is False  # only the binary marker comment is non-ASCII
    assert pdf[9:].split(b"\n", 1)[1].isascii()


# --------------------------------------------------------------------------- catalogue


def test_products_and_departments_are_listed(fake, http):
    mug = fake.add_product(TOKEN, "Kubek 300 ml", "MUG-300", "29.99", 23, stock_level=5)
    fake.add_product(TOKEN, "Kubek 500 ml", "MUG-3000", "39.99", 23)
    fake.add_department(TOKEN, "Sklep", "5252445767")
    url = fake.base_url
    found = http.get(f"{url}/products.json", params={"search": "mug-300"}, headers=bearer(), timeout=5).json()
    one = http.get(f"{url}/products/{mug}.json", headers=bearer(), timeout=5).json()
    departments = http.get(f"{url}/departments.json", headers=bearer(), timeout=5).json()
    assert [p["code"] for p in found] == ["MUG-300", "MUG-3000"]  # substring: pick the exact code yourself
    assert (one["price_gross"], one["price_net"], one["stock_level"]) == ("29.99", "24.38", "5.0")
    assert [d["name"] for d in departments] == ["Sklep"]
    assert http.get(f"{url}/products/1.json", headers=bearer(), timeout=5).status_code == 404


def test_product_id_supplies_name_price_and_tax(fake, http):
    product_id = fake.add_product(TOKEN, "Kubek 300 ml", "MUG-300", "29.99", 23, stock_level=3)
    line = {"product_id": product_id, "quantity": 2}
    invoice = create(http, fake, company_invoice(positions=[line])).json()
    assert invoice["positions"][0]["name"] == "Kubek 300 ml"
    assert invoice["positions"][0]["price_gross"] == "29.99"
    assert fake.account(TOKEN).products[product_id]["stock_level"] == "1.0"


# --------------------------------------------------------------------------- rate limit and faults


def test_rate_limit_answers_429_with_retry_after_and_peak_is_recorded(http):
    with FakturowniaFake(rate_limit=(3, 60.0)) as limited:
        limited.add_account(TOKEN)
        statuses = [http.get(f"{limited.base_url}/invoices.json", headers=bearer(), timeout=5)
                    for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        refused = statuses[-1]
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json() == {"code": "error", "message": "Rate limit exceeded"}
        assert limited.limiter.peak(TOKEN) == 4


def test_status_fault_uses_the_provider_error_shape_and_applies_once(fake, http):
    fake.faults.status(503, method="POST", path=r"/invoices\.json")
    url = f"{fake.base_url}/invoices.json"
    listed = http.get(url, headers=bearer(), timeout=5)  # other method: unaffected
    failed = create(http, fake, company_invoice())
    retried = create(http, fake, company_invoice())
    assert listed.status_code == 200
    assert (failed.status_code, failed.json()) == (503, {"code": "error", "message": "Service Unavailable"})
    assert retried.status_code == 201
    assert len(fake.account(TOKEN).invoices) == 1


def test_status_fault_can_return_a_proxy_html_page(fake, http):
    fake.faults.status(502, body=b"<html>502 Bad Gateway</html>", content_type="text/html")
    response = http.get(f"{fake.base_url}/invoices.json", headers=bearer(), timeout=5)
    assert response.status_code == 502 and response.headers["Content-Type"] == "text/html"


def test_rate_limited_fault(fake, http):
    fake.faults.rate_limited(retry_after=7, times=2)
    responses = [http.get(f"{fake.base_url}/invoices.json", headers=bearer(), timeout=5) for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "7"


def test_reset_drops_the_connection_before_anything_is_stored(fake, http):
    fake.faults.reset(method="POST")
    with pytest.raises(requests.ConnectionError):
        create(http, fake, company_invoice(oid="reset-1"), timeout=2)
    assert fake.account(TOKEN).invoices == []
    assert create(http, fake, company_invoice(oid="reset-1")).status_code == 201


def test_reset_after_commit_stores_the_invoice_although_the_client_failed(fake, http):
    fake.faults.reset(after_commit=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        create(http, fake, company_invoice(oid="reset-2"), timeout=2)
    assert [inv["oid"] for inv in fake.account(TOKEN).invoices] == ["reset-2"]


def test_stall_after_commit_times_the_client_out_but_the_invoice_exists(fake, http):
    fake.faults.stall_after_commit(0.6, method="POST")
    with pytest.raises(requests.ReadTimeout):
        create(http, fake, company_invoice(oid="stall-1", oid_unique="yes"), timeout=0.2)
    found = http.get(f"{fake.base_url}/invoices.json", params={"oid": "stall-1", "period": "all"},
                     headers=bearer(), timeout=5).json()
    assert [inv["oid"] for inv in found] == ["stall-1"]
    retry = create(http, fake, company_invoice(oid="stall-1", oid_unique="yes"))
    assert retry.status_code == 422  # the retry is refused: the document exists


def test_slow_fault_delays_but_answers(fake, http):
    fake.faults.slow(0.3)
    started = time.monotonic()
    response = http.get(f"{fake.base_url}/invoices.json", headers=bearer(), timeout=5)
    assert response.status_code == 200 and time.monotonic() - started >= 0.3


def test_request_log_records_calls_without_credentials(fake, http):
    create(http, fake, company_invoice())
    http.get(f"{fake.base_url}/invoices.json", params={"api_token": TOKEN}, timeout=5)
    http.get(f"{fake.base_url}/invoices.json", headers=bearer("nope"), timeout=5)

    entries = fake.requests.entries()
    assert [(e.method, e.path, e.status, e.key) for e in entries] == [
        ("POST", "/invoices.json", 201, "shop"), ("GET", "/invoices.json", 200, "shop"),
        ("GET", "/invoices.json", 401, None)]
    assert entries[1].query == {"api_token": "***"}
    assert TOKEN not in repr(entries)
    assert fake.server_errors == []


def test_unknown_paths_are_not_found(fake, http):
    response = http.get(f"{fake.base_url}/invoices/1", headers=bearer(), timeout=5)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_amounts_are_strings_with_two_decimals(fake, http):
    invoice = create(http, fake, company_invoice(positions=[{"name": "A", "tax": 5, "price_net": 7}])).json()
    position = invoice["positions"][0]
    for value in (invoice["price_net"], invoice["price_tax"], invoice["price_gross"],
                  position["price_net"], position["total_price_gross"]):
        assert isinstance(value, str) and Decimal(value).as_tuple().exponent == -2


def test_a_percent_discount_lowers_the_line_once_rounded(fake, http):
    # 3 x 10.99 x (1 - 12.5/100) = 28.84875 -> 28.85 (rounded once, not 9.62 x 3 = 28.86).
    response = create(http, fake, company_invoice(show_discount=True, discount_kind="percent_unit", positions=[
        {"name": "A", "quantity": 3, "tax": 23, "price_net": "10.99", "discount_percent": "12.5"}]))
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert invoice["positions"][0]["total_price_net"] == "28.85"
    assert totals(invoice) == ("28.85", "6.64", "35.49")


@pytest.mark.parametrize("overrides, position, message", [
    ({}, {"discount_percent": "10"}, "show_discount"),  # documented: only with show_discount
    ({"show_discount": True, "discount_kind": "amount"}, {"discount_percent": "10"}, "percent_unit"),
    ({"show_discount": True}, {"discount_percent": "101"}, "discount_percent"),
    ({"show_discount": True}, {"discount_percent": "abc"}, "discount_percent"),
    ({"show_discount": True}, {"discount_percent": "10.005"}, "discount_percent"),
    ({"show_discount": True}, {"discount_percent": "10", "total_price_net": "10.00", "price_net": None},
     "discount_percent"),
])
def test_invalid_discounts_are_refused(fake, http, overrides, position, message):
    line = {"name": "A", "quantity": 1, "tax": 23, "price_net": "10.00", **position}
    response = create(http, fake, company_invoice(**overrides, positions=[
        {key: value for key, value in line.items() if value is not None}]))
    assert response.status_code == 422, response.text
    assert "positions" in response.text and message in response.text


def test_gov_id_comes_with_its_check_characters_or_as_the_ksef_guide_shows_it(fake, http):
    """ASSUMPTION switch ksef_number_with_check: KSeF's 35-character number, or the 32-character form of
    fakturownia/API KSeF.md ("Numer KSeF (gov_id)": {NIP}-{DATA}-{ID}, e.g. 5252445767-20260201-ABC123DEF456)."""
    def accepted_gov_id() -> str:
        created = create(http, fake, company_invoice(), gov_save_and_send=True).json()
        assert created["gov_status"] == "processing"
        read = http.get(f"{fake.base_url}/invoices/{created['id']}.json", headers=bearer(), timeout=5).json()
        assert read["gov_status"] == "ok"
        return read["gov_id"]

    assert re.fullmatch(rf"5252445767-{TODAY.replace('-', '')}-[0-9A-F]{{12}}-[0-9A-F]{{2}}", accepted_gov_id())
    fake.account(TOKEN).ksef_number_with_check = False
    assert re.fullmatch(rf"5252445767-{TODAY.replace('-', '')}-[0-9A-F]{{12}}", accepted_gov_id())
