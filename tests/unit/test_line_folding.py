"""The shared rule for a line a provider cannot state as quantity x unit price (providers/pricing.py):
sent folded, as quantity 1 at its value, with the real quantity and price in its name and a warning."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from invoice_export.domain.documents import Line
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import round_money
from invoice_export.providers.pricing import discounted_unit_price, fold_warning, folded_name, priced_line


def line(**fields: Any) -> Line:
    return Line.model_validate({"line_id": "l1", "name": "Kawa ziarnista", "quantity": "2", "unit_price": "10.00",
                                "vat": "23", **fields})


@pytest.mark.parametrize("fields, places, quantity_places", [
    ({"quantity": "2.5", "unit_price": "9.99"}, 2, 3),  # 24.975 -> 24.98: 9.99 x 2.5 rounds to it
    ({"quantity": "3", "unit_price": "3.3334"}, 4, None),  # a price the provider takes as it is
    ({"quantity": "3", "unit_price": "10.99", "discount_percent": "12.5"}, 4, None),  # 9.6167 x 3 = 28.85
    ({"quantity": "1.234", "unit_price": "10"}, 2, 3),  # three decimals: kept
])
def test_a_line_the_provider_can_state_goes_as_it_is(fields, places, quantity_places) -> None:
    subject = line(**fields)
    sent = priced_line(subject, places=places, quantity_places=quantity_places)
    assert sent.folded_because is None and sent.quantity == subject.quantity
    assert round_money(sent.quantity * sent.unit_price) == subject.value()
    assert sent.unit_price == sent.unit_price.quantize(Decimal(1).scaleb(-places))


@pytest.mark.parametrize("fields, places, quantity_places, value, why", [
    ({"quantity": "2.3456", "unit": "kg", "unit_price": "45.99"}, 2, 3, "107.87", "quantities to 3 decimals"),
    ({"quantity": "3", "unit_price": "10.99", "discount_percent": "12.5"}, 2, 3, "28.85", "discounted value"),
    ({"quantity": "3", "unit_price": "3.3333"}, 2, 3, "10.00", "the line value exactly"),
    # 4 decimals are not always enough: 1234.5 x 1.23 less 12.5 % = 1328.63; a step of 0.0001 moves 0.12.
    ({"quantity": "1234.5", "unit_price": "1.23", "discount_percent": "12.5"}, 4, None, "1328.63", "discounted"),
])
def test_a_line_the_provider_cannot_state_goes_folded_at_its_value(fields, places, quantity_places, value,
                                                                   why) -> None:
    subject = line(**fields)
    sent = priced_line(subject, places=places, quantity_places=quantity_places)
    assert (sent.quantity, sent.unit_price) == (Decimal(1), Decimal(value)) == (Decimal(1), subject.value())
    assert sent.folded_because is not None and why in sent.folded_because


def test_the_unfolded_price_is_still_refused_where_no_exact_price_exists() -> None:
    # The rule providers without folding (Oblio, SmartBill) keep: refused before sending, never other totals.
    with pytest.raises(ConfigurationError) as caught:
        discounted_unit_price(line(quantity="1234.5", unit_price="1.23", discount_percent="12.5"), places=4)
    assert caught.value.code == "discount_not_exact"


def test_a_line_removed_by_a_correction_is_never_folded() -> None:
    sent = priced_line(line(quantity="2.3456"), places=2, quantity_places=3, quantity=Decimal(0))
    assert (sent.folded_because, sent.quantity, sent.unit_price) == (None, Decimal(0), Decimal("10.00"))


def test_the_folded_name_states_quantity_unit_price_and_discount() -> None:
    assert folded_name(line(quantity="2.3456", unit="kg", unit_price="45.99")) == "Kawa ziarnista (2.3456 kg × 45.99)"
    assert folded_name(line(quantity="3", unit_price="10.990", discount_percent="12.50")) == (
        "Kawa ziarnista (3 szt. × 10.99 -12.5%)")


def test_a_long_name_is_cut_and_what_it_folds_stays_whole() -> None:
    subject = line(name="Kawa " * 100, quantity="2.3456", unit="kg", unit_price="45.99")
    name = folded_name(subject, 40)
    assert len(name) <= 40 and name.endswith("Kawa (2.3456 kg × 45.99)") and name.startswith("Kawa Kawa")
    assert folded_name(line(name="K" * 30, quantity="2.3456"), 19) == "(2.3456 szt. × 10)"  # no room for a name


def test_the_warning_names_the_line_its_figures_and_why_never_its_text() -> None:
    subject = line(name="Tajna mieszanka", quantity="3", unit_price="10.99", discount_percent="12.5")
    sent = priced_line(subject, places=2, quantity_places=3)
    warning = fold_warning(subject, sent, provider="Firmao", name_length=256)
    assert warning == ("line_folded: line l1 (quantity 3 szt. x 10.99 less 12.5%) sent to Firmao as quantity 1 at "
                       "its value 28.85, with its quantity and unit price in its name: no unit price with 2 decimals "
                       "gives the discounted value exactly")
    assert "Tajna" not in warning
    long_line = line(name="K" * 300, quantity="2.3456")
    assert warning_of(long_line).endswith("; its name was cut to fit Firmao's 256 characters with them")


def warning_of(subject: Line) -> str:
    return fold_warning(subject, priced_line(subject, places=2, quantity_places=3), provider="Firmao", name_length=256)
