"""The producer's message contract: what is accepted, and the exact errors for what is not."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from invoice_export.domain.documents import ExportMessage, Line, VatCode, describe_validation_error
from invoice_export.domain.money import loads_exact
from invoice_export.entrypoints.sqs import UnreadableMessage, read_export_message
from testsupport import example_names, load_example, with_changes


def problem_of(message: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        ExportMessage.model_validate(loads_exact(json.dumps(message)))
    return describe_validation_error(caught.value)


@pytest.mark.parametrize("name", example_names())
def test_every_example_is_a_valid_message(name: str) -> None:
    message = ExportMessage.model_validate(load_example(name))
    assert message.document.totals == message.document.computed_totals()


def test_money_is_read_exactly_from_json_numbers() -> None:
    body = json.dumps(load_example("01-invoice-company.json")).replace('"unit_price": "29.99"', '"unit_price": 29.99')
    message = read_export_message(body)
    assert isinstance(message, ExportMessage)
    price = message.document.lines[0].unit_price
    assert isinstance(price, Decimal) and price == Decimal("29.99")
    # A number float cannot hold is kept exactly (pydantic alone would read it through float).
    assert loads_exact('{"x": 1.0000000000000001}')["x"] == Decimal("1.0000000000000001")


def test_totals_that_do_not_add_up_name_the_difference(invoice_message: dict) -> None:
    invoice_message["document"]["totals"]["gross"] = "130.48"
    invoice_message["document"]["totals"]["net"] = "113.82"
    problem = problem_of(invoice_message)
    assert "totals do not match the lines" in problem
    assert "gross 130.48 but the lines give 130.47 (difference 0.01)" in problem
    assert "net 113.82 but the lines give 113.81 (difference 0.01)" in problem


def test_per_line_and_per_rate_vat_differ_and_each_is_checked(invoice_message: dict) -> None:
    doc = invoice_message["document"]
    # Three 0.02 gross lines at 23%: VAT from the sum (0.06) is 0.01; line by line it is 3 x 0.00.
    doc["lines"] = [{"line_id": f"l{i}", "name": "Drobiazg", "quantity": "1", "unit_price": "0.02", "vat": "23"}
                    for i in range(3)]
    doc["totals"] = {"net": "0.05", "vat": "0.01", "gross": "0.06"}
    assert ExportMessage.model_validate(invoice_message).document.vat_calculation.value == "per_rate"
    doc["vat_calculation"] = "per_line"
    assert "vat 0.01 but the lines give 0.00 (difference 0.01)" in problem_of(invoice_message)
    doc["totals"] = {"net": "0.06", "vat": "0.00", "gross": "0.06"}
    assert ExportMessage.model_validate(invoice_message).document.totals.vat == Decimal("0.00")


def test_exempt_line_needs_its_legal_basis() -> None:
    message = load_example("03-invoice-exempt-person.json")
    del message["document"]["lines"][0]["vat_exemption_basis"]
    assert "document.lines[0]: a zw (VAT-exempt) line needs vat_exemption_basis" in problem_of(message)


def test_vat_codes_and_percentages() -> None:
    message = load_example("03-invoice-exempt-person.json")
    assert ExportMessage.model_validate(message).document.lines[0].vat == VatCode.EXEMPT
    message["document"]["lines"][0]["vat"] = "zero"
    assert "document.lines[0].vat" in problem_of(message)
    message["document"]["lines"][0]["vat"] = "123"
    assert "document.lines[0].vat" in problem_of(message)


def test_misspelt_field_is_named(invoice_message: dict) -> None:
    invoice_message["document"]["buyer"]["tax_no"] = "5260250274"
    assert "document.buyer.tax_no: Extra inputs are not permitted" in problem_of(invoice_message)


def test_missing_field_is_named(invoice_message: dict) -> None:
    del invoice_message["document"]["series"]
    assert "document.series: Field required" in problem_of(invoice_message)


def test_foreign_currency_needs_exchange_rate() -> None:
    message = load_example("04-invoice-eur.json")
    del message["document"]["exchange_rate"]
    assert "currency EUR needs exchange_rate" in problem_of(message)


def test_correction_must_carry_its_before_lines(invoice_message: dict) -> None:
    assert "must carry 'correction'" in problem_of(with_changes(invoice_message, kind="correction"))
    correction = load_example("05-correction.json")
    correction["document"]["correction"]["lines_before"][1]["line_id"] = "l1"
    assert "correction.lines_before: line_id values must be unique" in problem_of(correction)


def test_correction_totals_are_the_difference() -> None:
    message = ExportMessage.model_validate(load_example("05-correction.json"))
    assert message.document.totals.gross == Decimal("-29.99")


def test_negative_and_overlong_values_are_refused(invoice_message: dict) -> None:
    invoice_message["document"]["lines"][0]["quantity"] = "-1"
    invoice_message["document"]["lines"][1]["name"] = "x" * 2001
    problem = problem_of(invoice_message)
    assert "document.lines[0].quantity: Input should be greater than 0" in problem
    assert "document.lines[1].name: String should have at most 2000 characters" in problem


# A marketplace's product name, 300 characters (the case that failed whole invoices), and one at the bound.
LONG_NAME = ("Zestaw prezentowy „Herbaciany Ogród” – 12 herbat liściastych (czarna, zielona, biała, oolong, "
             "rooibos, owocowa) w drewnianej skrzynce z grawerem, z zaparzaczem ze stali nierdzewnej, "
             "miarką bambusową i kartką z życzeniami; idealny na święta, urodziny i Dzień Matki – edycja "
             "limitowana 2026, wysyłka w 24 h")[:300]


@pytest.mark.parametrize("length", [300, 2000])
def test_long_names_addresses_and_reasons_are_accepted(length: int) -> None:
    text = (LONG_NAME * 7)[:length]
    message = load_example("05-correction.json")
    document = message["document"]
    for line in document["lines"] + document["correction"]["lines_before"]:
        line["name"] = text
    document["buyer"] |= {"name": text, "first_name": text, "last_name": text}
    document["buyer"]["address"] |= {"street": text, "city": text}
    document["correction"]["reason"] = text
    parsed = ExportMessage.model_validate(message).document
    assert len(parsed.lines[0].name) == length and parsed.buyer.name == text
    assert parsed.buyer.address.street == text and parsed.correction.reason == text


@pytest.mark.parametrize("path", [("buyer", "name"), ("buyer", "address", "street"), ("buyer", "address", "city"),
                                  ("correction", "reason"), ("lines", 0, "name")])
def test_a_text_beyond_2000_characters_is_refused_naming_the_field_and_the_bound(path: tuple) -> None:
    message = load_example("05-correction.json")
    node = message["document"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "ż" * 2001
    where = "document." + ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    assert problem_of(message) == f"{where}: String should have at most 2000 characters"


@pytest.mark.parametrize("field", ["number", "series", "order_id"])
def test_identifiers_keep_their_short_limit(field: str) -> None:
    message = load_example("01-invoice-company.json")
    message["document"][field] = "x" * 257
    assert problem_of(message) == f"document.{field}: String should have at most 256 characters"
    message["document"]["payment"]["method"] = "x" * 257
    assert "document.payment.method: String should have at most 256 characters" in problem_of(message)


@pytest.mark.parametrize("body, expected", [
    ("not json", "the body is not JSON"),
    ('{"schema_version": "1", "account_id": "shop-1", "document": {"document_id": "D-1"}}', "document.version"),
    ('{"schema_version": "2", "account_id": "shop-1", "document": {}}', "schema_version"),
])
def test_unreadable_messages_say_why(body: str, expected: str) -> None:
    result = read_export_message(body)
    assert isinstance(result, UnreadableMessage)
    assert expected in result.problem


def test_ids_of_an_invalid_message_are_kept_when_valid() -> None:
    result = read_export_message('{"account_id": "shop-1", "document": {"document_id": "D-1"}}')
    assert isinstance(result, UnreadableMessage)
    assert (result.account_id, result.document_id) == ("shop-1", "D-1")
    result = read_export_message('{"account_id": "../../etc", "document": {"document_id": "D 1"}}')
    assert (result.account_id, result.document_id) == (None, None)


# --------------------------------------------------------------------------- per-line discounts


def _line(**fields) -> Line:
    return Line.model_validate({"line_id": "l1", "name": "Kubek", "quantity": "3", "unit_price": "10.99",
                                "vat": "23", **fields})


@pytest.mark.parametrize("quantity, unit_price, discount, value", [
    ("3", "10.99", None, "32.97"),  # absent: no discount (backward compatible)
    # 3 x 10.99 x 0.875 = 28.84875 -> 28.85 once; a rounded unit price (9.62 x 3) would give 28.86.
    ("3", "10.99", "12.5", "28.85"),
    ("1", "0.05", "10", "0.05"),  # 0.045 -> 0.05: half-up, not half-even
    ("1", "0.15", "50", "0.08"),  # 0.075 -> 0.08
    ("2.5", "19.9999", "33.33", "33.33"),  # 49.99975 x 0.6667 = 33.33283... -> 33.33
    ("7", "1.43", "5", "9.51"),  # 10.01 x 0.95 = 9.5095 -> 9.51
])
def test_a_discounted_line_value_is_rounded_half_up_once(quantity, unit_price, discount, value) -> None:
    line = _line(quantity=quantity, unit_price=unit_price,
                 **({"discount_percent": discount} if discount is not None else {}))
    assert line.value() == Decimal(value)


@pytest.mark.parametrize("discount", ["0", "100", "-5", "100.5", "12.345", "abc"])
def test_a_discount_must_be_between_0_and_100_with_2_places(discount) -> None:
    with pytest.raises(ValidationError) as refused:
        _line(discount_percent=discount)
    assert "discount_percent" in str(refused.value)


def test_discounts_carry_into_the_totals_and_a_mismatch_names_the_difference() -> None:
    message = load_example("02-receipt-person.json")
    document = message["document"]
    document["lines"] = [{"line_id": "l1", "name": "Kubek", "quantity": "3", "unit_price": "10.99", "vat": "23",
                          "discount_percent": "12.5"}]
    document["totals"] = {"net": "23.46", "vat": "5.39", "gross": "28.85"}  # gross prices: 28.85 incl. VAT
    document["price_basis"] = "gross"
    document.pop("correction", None)
    parsed = ExportMessage.model_validate(message)
    assert parsed.document.computed_totals().gross == Decimal("28.85")
    document["totals"] = {"net": "23.46", "vat": "5.40", "gross": "28.86"}  # the rounded-unit-price figure
    assert "gross 28.86 but the lines give 28.85" in problem_of(message)
