"""Price arithmetic shared by the adapters of providers that value a line as quantity x unit price."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from invoice_export.domain.documents import Document, Line, Totals, VatCalculation, vat_percent
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import money_sum, round_money


def discounted_unit_price(line: Line, *, places: int, quantity: Decimal | None = None) -> Decimal:
    """The unit price to send for a line, for a provider that values a line as quantity x unit price
    rounded half-up to the grosz (and whose documented discount arithmetic cannot be relied on).

    A line without a discount sends its own unit price. A discounted line sends a price with at most
    `places` decimals whose quantity x price rounds to exactly our line value (quantity x list price x
    (1 - d/100), rounded once): the nearest one to the discounted price. None exists when the quantity
    is so large that one step of the price moves the value by more than a grosz and no step lands in
    it; the document is then refused before sending (code "discount_not_exact"), never sent with
    other totals. `quantity` is the quantity sent, when it is not the line's (a removed line: 0)."""
    if line.discount_percent is None:
        return line.unit_price
    count = line.quantity if quantity is None else quantity
    if not count:
        return line.unit_price  # a zeroed line is worth 0 at any price
    value = line.value()
    step = Decimal(1).scaleb(-places)
    target = value / count
    nearest = target.quantize(step, rounding=ROUND_HALF_UP)
    # Prices whose value rounds to ours lie within half a grosz / quantity of the target: if any
    # price on the grid does, the nearest one or a neighbour does.
    for offset in (0, -1, 1, -2, 2):
        price = nearest + offset * step
        if price >= 0 and round_money(count * price) == value:
            return price
    raise ConfigurationError(
        f"line {line.line_id}: no unit price with at most {places} decimals gives quantity {count.normalize():f} "
        f"a value of exactly {value} after the {line.discount_percent.normalize():f}% discount, and the "
        "provider's own discount rounding is not documented",
        fix="issue the line with a quantity up to 100, or with the discount already in its unit price",
        code="discount_not_exact")


def net_first_gross_split(document: Document, method: VatCalculation) -> Totals:
    """The totals of a gross-priced document as a provider computes them that derives the net from each
    gross amount (net = gross / (1 + rate), rounded half-up) and leaves VAT as the rest, per line or per
    rate (`method`); our documents take the VAT from the gross instead (gross x rate / (100 + rate)). The
    two differ by a grosz where that VAT falls on a half grosz. For a correction: after minus before."""
    after = _net_first(document.lines, method)
    if document.correction is None:
        return after
    before = _net_first(document.correction.lines_before, method)
    return Totals(net=after.net - before.net, vat=after.vat - before.vat, gross=after.gross - before.gross)


def _net_first(lines: list[Line], method: VatCalculation) -> Totals:
    if method == VatCalculation.PER_LINE:
        groups = [(vat_percent(line.vat), line.value()) for line in lines]
    else:
        by_rate: dict[Decimal, Decimal] = {}
        for line in lines:
            by_rate[vat_percent(line.vat)] = by_rate.get(vat_percent(line.vat), Decimal(0)) + line.value()
        groups = list(by_rate.items())
    net = money_sum(round_money(gross / (1 + rate / 100)) for rate, gross in groups)
    gross = money_sum(gross for _, gross in groups)
    return Totals(net=net, vat=gross - net, gross=gross)
