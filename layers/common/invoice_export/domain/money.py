"""Money and VAT arithmetic: Decimal only, rounded half-up to the grosz, never float.

Polish invoices may compute VAT either per line or from the sum of net (or gross) values per
rate (art. 106e ust. 10 ustawy o VAT); a document says which it used, and we recompute the same
way to check the totals it carries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

GROSZ = Decimal("0.01")
HUNDRED = Decimal(100)


def round_money(amount: Decimal) -> Decimal:
    """Half-up to the grosz: the rounding Polish VAT rules and every provider here use."""
    return amount.quantize(GROSZ, rounding=ROUND_HALF_UP)


def vat_from_net(net: Decimal, rate_percent: Decimal) -> Decimal:
    return round_money(net * rate_percent / HUNDRED)


def vat_from_gross(gross: Decimal, rate_percent: Decimal) -> Decimal:
    """VAT contained in a gross amount (the "in hundred" method)."""
    return round_money(gross * rate_percent / (HUNDRED + rate_percent))


def vat_to_pln(vat: Decimal, exchange_rate: Decimal) -> Decimal:
    """VAT of one VAT rate, in PLN, for an invoice in a foreign currency (art. 106e ust. 11).

    The VAT amount in the invoice currency times the document's exchange rate, rounded half-up
    to the grosz: the common practice, and what accounting systems print in their "VAT in PLN"
    summary. The alternative, converting the net amount first and computing VAT on the PLN net,
    can differ by a grosz or more; we do not use it. Negative amounts (a correction lowering VAT)
    round the same way away from zero, so a correction and its reversal mirror each other.
    """
    return round_money(vat * exchange_rate)


def vat_to_home_currency(vat: Decimal, exchange_rate: Decimal) -> Decimal:
    """VAT of one VAT rate in the seller's home currency, for a document in another currency: in PLN
    (art. 106e ust. 11, `vat_to_pln`) or in RON - Codul fiscal (Legea 227/2015) art. 319 alin. (23): the
    amounts may be in any currency "cu condiţia ca valoarea TVA colectată sau de regularizat să fie
    exprimată în lei", converted at the exchange rate of art. 290 (the document's rate here). The same
    arithmetic: VAT times the rate, rounded half-up to the smallest unit (grosz, ban). ASSUMPTION for
    RON: the code does not say how to round; e-Factura states the VAT in lei with 2 decimals (BT-111)."""
    return vat_to_pln(vat, exchange_rate)


def exact_unit_price(value: Decimal, quantity: Decimal, places: int) -> Decimal | None:
    """A unit price with at most `places` decimals whose quantity x price, rounded half-up to the
    grosz, is exactly `value` (the nearest such price to value / quantity); None when no price on that
    grid lands on it (a quantity so large that one step of the price moves the value by more than a
    grosz, and no step hits it). For a provider that values a line as quantity x unit price."""
    step = Decimal(1).scaleb(-places)
    nearest = (value / quantity).quantize(step, rounding=ROUND_HALF_UP)
    # Prices whose value rounds to ours lie within half a grosz / quantity of value / quantity: if any
    # price on the grid does, the nearest one or a neighbour does.
    for offset in (0, -1, 1, -2, 2):
        price = nearest + offset * step
        if price >= 0 and round_money(quantity * price) == value:
            return price
    return None


def money_sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))


def loads_exact(text: str | bytes) -> Any:
    """json.loads that keeps every JSON number with a fraction as an exact Decimal.

    pydantic reads JSON numbers through float (1.0000000000000001 becomes 1), so message bodies
    are decoded here first and validated as Python objects.
    """
    return json.loads(text, parse_float=Decimal)


def format_amount(amount: Decimal, places: int = 2) -> str:
    """Plain decimal string with a dot and fixed places ("1234.50"), as provider APIs expect."""
    return f"{amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
