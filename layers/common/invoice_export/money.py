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
