"""Price arithmetic shared by the adapters of providers that value a line as quantity x unit price."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from invoice_export.domain.documents import Line, VatCalculation, sum_per_rate
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import exact_unit_price, round_money
from invoice_export.domain.vat_split import VatSplit
from invoice_export.providers.texts import cut_text

LINE_FOLDED = "line_folded"


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


@dataclass(frozen=True)
class PricedLine:
    """How a line goes to a provider that values a line as quantity x unit price."""

    quantity: Decimal
    unit_price: Decimal
    # Why the line goes folded (quantity 1 at its whole value, see `priced_line`); None: as it is.
    folded_because: str | None = None


def priced_line(line: Line, *, places: int, quantity_places: int | None = None,
                quantity: Decimal | None = None) -> PricedLine:
    """The quantity and unit price a line goes with, for a provider that keeps quantities to
    `quantity_places` decimals (None: to ours) and unit prices to `places`.

    A line the provider can state exactly goes as it is (`discounted_unit_price`). One it cannot - a
    quantity finer than it keeps, or no unit price at its decimals giving our line value exactly (a
    discount, or a price finer than it takes) - goes folded rather than refused: quantity 1 at a unit price
    of its whole value, in the document's price basis. Quantity 1 x the value is the value at any rounding,
    so the line's net, VAT and gross stay ours; the real quantity and price go in its name
    (`folded_name`) and the document carries a `line_folded` warning (`fold_warning`). A folded line must
    not move stock: the adapter sends it without its product link. `quantity` is the quantity sent, when
    it is not the line's (a line removed by a correction: 0, never folded)."""
    count = line.quantity if quantity is None else quantity
    if quantity_places is not None and count != count.quantize(Decimal(1).scaleb(-quantity_places)):
        return _folded(line, f"the provider keeps quantities to {quantity_places} decimals")
    try:
        return PricedLine(count, discounted_unit_price(line, places=places, quantity=quantity))
    except ConfigurationError as refused:
        if refused.code not in ("discount_not_exact", "unit_price_not_exact"):
            raise
    if line.discount_percent is not None:
        return _folded(line, f"no unit price with {places} decimals gives the discounted value exactly")
    return _folded(line, f"no unit price with {places} decimals gives the line value exactly")


def _folded(line: Line, because: str) -> PricedLine:
    return PricedLine(Decimal(1), line.value(), folded_because=because)


def folded_name(line: Line, max_length: int | None = None) -> str:
    """The name of a folded line: ours followed by what it folds, e.g. "Kawa ziarnista (2.3456 kg × 45.99)"
    or "Kubek (3 szt. × 10.99 -12.5%)". Where it must fit `max_length` characters, our name is cut and
    the folded quantity and price stay whole: without them the line would not say what was sold."""
    discount = f" -{line.discount_percent.normalize():f}%" if line.discount_percent is not None else ""
    stated = f"({line.quantity.normalize():f} {line.unit} × {line.unit_price.normalize():f}{discount})"
    room = None if max_length is None else max(max_length - len(stated) - 1, 0)
    name = line.name if room is None else cut_text(line.name, room)
    return f"{name} {stated}" if name else stated


def fold_warning(line: Line, priced: PricedLine, *, provider: str, name_length: int | None = None) -> str:
    """The `line_folded` warning for a folded line: which line, its real quantity and unit price, and
    why (our field names and figures only, never the line's text: events carry no shop data)."""
    assert priced.folded_because is not None
    discount = f" less {line.discount_percent.normalize():f}%" if line.discount_percent is not None else ""
    cut = ""
    if name_length is not None and len(folded_name(line)) > name_length:
        cut = f"; its name was cut to fit {provider}'s {name_length} characters with them"
    return (f"{LINE_FOLDED}: line {line.line_id} (quantity {line.quantity.normalize():f} {line.unit} x "
            f"{line.unit_price.normalize():f}{discount}) sent to {provider} as quantity 1 at its value "
            f"{priced.unit_price}, with its quantity and unit price in its name: {priced.folded_because}{cut}")


def fold_warnings(lines: list[Line], priced: Callable[[Line], PricedLine], *, provider: str,
                  name_length: int | None, sku_links: bool) -> list[str]:
    """The warnings of a request's folded lines (`lines`: a correction's before and after, each line
    once per state): `line_folded`, and where SKUs link products (`sku_links`) that the folded line's
    was not linked - a link would move one unit of stock, not the real quantity - in the words of the
    missing-SKU warning. `priced` is the provider's `priced_line`."""
    warnings: list[str] = []
    seen: set[tuple[str, Decimal, Decimal]] = set()
    for line in lines:
        sent = priced(line)
        if sent.folded_because is None or (line.line_id, line.quantity, line.unit_price) in seen:
            continue
        seen.add((line.line_id, line.quantity, line.unit_price))
        warnings.append(fold_warning(line, sent, provider=provider, name_length=name_length))
        if sku_links and line.sku:
            warnings.append(f"SKU {line.sku} (line {line.line_id} sent folded, as quantity 1): line sent to "
                            f"{provider} without a stock link")
    return warnings


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
