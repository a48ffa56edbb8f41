"""Price arithmetic shared by the adapters of providers that value a line as quantity x unit price."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from invoice_export.domain.documents import Line, VatCalculation, sum_per_rate
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import exact_unit_price, round_money
from invoice_export.domain.vat_split import VatSplit


def discounted_unit_price(line: Line, *, places: int, quantity: Decimal | None = None) -> Decimal:
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
    price = exact_unit_price(line.value(), count, places)
    if price is not None:
        return price
    if line.discount_percent is not None:
        raise ConfigurationError(
            f"line {line.line_id}: no unit price with at most {places} decimals gives quantity "
            f"{count.normalize():f} a value of exactly {line.value()} after the "
            f"{line.discount_percent.normalize():f}% discount, and the provider's own discount rounding is not "
            "documented",
            fix="issue the line with a quantity up to 100, or with the discount already in its unit price",
            code="discount_not_exact")
    raise ConfigurationError(
        f"line {line.line_id}: the provider takes unit prices with at most {places} decimals, and none gives "
        f"quantity {count.normalize():f} our value of exactly {line.value()} ({line.unit_price.normalize():f} each)",
        fix=f"issue the line with a unit price of at most {places} decimals, or with quantity 1",
        code="unit_price_not_exact")


def unit_price_to_send(line: Line, *, places: int, quantity: Decimal | None = None,
                       as_gross: bool = False) -> Decimal:
    """The unit price a line goes with: `discounted_unit_price`, or with `as_gross` (a net-priced line
    sent as a gross unit price, ExportPlan.send_gross_prices) a price with at most `places` decimals
    whose quantity x price rounds to exactly the line's gross (its value plus its own VAT). Planning
    sends no document whose line has none (provider_gross_differs); a removed line (quantity 0) keeps
    the price of its quantity before."""
    if not as_gross:
        return discounted_unit_price(line, places=places, quantity=quantity)
    price = exact_unit_price(line.gross_from_net(), line.quantity, places)
    if price is None:
        raise ConfigurationError(
            f"line {line.line_id}: no gross unit price with at most {places} decimals gives quantity "
            f"{line.quantity.normalize():f} its gross {line.gross_from_net()} exactly",
            fix="give the line a quantity up to 100", code="provider_gross_differs")
    return price


def net_first_split(values: list[tuple[Decimal, Decimal]], method: VatCalculation) -> VatSplit:
    """How a provider splits gross amounts that derives each net from its gross (net = gross / (1 + rate),
    rounded half-up) and leaves VAT as the rest, per line or per rate (`method`; values are (VAT
    percentage, gross)); our documents take VAT from the gross instead (gross x rate / (100 + rate)).
    The two differ by a grosz where that VAT falls on a half grosz; the gross is the same.
    (Fakturownia's keep_gross; Oblio's gross prices.)"""
    groups = values if method == VatCalculation.PER_LINE else list(sum_per_rate(values).items())
    by_rate: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for rate, gross in groups:
        net = round_money(gross / (1 + rate / 100))
        so_far = by_rate.get(rate, (Decimal("0.00"), Decimal("0.00")))
        by_rate[rate] = (so_far[0] + net, so_far[1] + gross - net)
    return VatSplit.of(by_rate)
