"""Price arithmetic shared by the adapters of providers that value a line as quantity x unit price."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from invoice_export.domain.documents import Line
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import round_money


def exact_unit_price(line: Line, *, places: int, quantity: Decimal | None = None) -> Decimal:
    """The unit price to send for a line, for a provider that values a line as quantity x unit price
    rounded half-up to the grosz, takes unit prices with at most `places` decimals, and whose
    documented discount arithmetic cannot be relied on.

    A line without a discount whose unit price fits in `places` sends its own unit price. A discounted
    line, or one whose unit price has more decimals than the provider takes, sends a price with at most
    `places` decimals whose quantity x price rounds to exactly our line value (quantity x list price x
    (1 - d/100), rounded once): the nearest one to the exact unit price. None exists when the quantity
    is so large that one step of the price moves the value by more than a grosz and no step lands in
    it; the document is then refused before sending (code "discount_not_exact", or "unit_price_not_exact"
    for an undiscounted line), never sent with other totals. `quantity` is the quantity sent, when it is
    not the line's (a removed line: 0)."""
    step = Decimal(1).scaleb(-places)
    if line.discount_percent is None and line.unit_price == line.unit_price.quantize(step):
        return line.unit_price
    count = line.quantity if quantity is None else quantity
    if not count:
        return line.unit_price.quantize(step, rounding=ROUND_HALF_UP)  # a zeroed line is worth 0 at any price
    value = line.value()
    target = value / count
    nearest = target.quantize(step, rounding=ROUND_HALF_UP)
    # Prices whose value rounds to ours lie within half a grosz / quantity of the target: if any
    # price on the grid does, the nearest one or a neighbour does.
    for offset in (0, -1, 1, -2, 2):
        price = nearest + offset * step
        if price >= 0 and round_money(count * price) == value:
            return price
    if line.discount_percent is not None:
        raise ConfigurationError(
            f"line {line.line_id}: no unit price with at most {places} decimals gives quantity "
            f"{count.normalize():f} a value of exactly {value} after the {line.discount_percent.normalize():f}% "
            "discount, and the provider's own discount rounding is not documented",
            fix="issue the line with a quantity up to 100, or with the discount already in its unit price",
            code="discount_not_exact")
    raise ConfigurationError(
        f"line {line.line_id}: the provider takes unit prices with at most {places} decimals, and none gives "
        f"quantity {count.normalize():f} our value of exactly {value} ({line.unit_price.normalize():f} each)",
        fix=f"issue the line with a unit price of at most {places} decimals, or with quantity 1",
        code="unit_price_not_exact")


# The name the wFirma and iFirma adapters use: their providers take 4 places, so every undiscounted
# unit price of ours goes through as it is there.
discounted_unit_price = exact_unit_price
