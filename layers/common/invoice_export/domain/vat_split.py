"""Two lawful splits of one gross amount into net and VAT: per line or per rate (art. 106e ust. 10).

A provider that always computes VAT one way (wFirma and iFirma per rate, inFakt per line), or that
derives net from a gross amount its own way (Fakturownia), can show a document's net and VAT a grosz
away from ours while the amount due (gross) is the same. Such a document is sent, and both splits
are recorded on the document and in its `exported` event (`vat_split`, code `vat_split_differs`):
the document the accounting system issues is the invoice from then on. Only a different gross is
refused before sending (domain.planning), and the account option `totals_policy: strict` refuses
any difference, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoice_export.domain import money
from invoice_export.domain.documents import Document, Line, PriceBasis, VatCalculation, split_values, vat_percent

SPLIT_DIFFERS = "vat_split_differs"
ZERO = Decimal("0.00")

RateParts = Mapping[Decimal, tuple[Decimal, Decimal]]  # VAT percentage -> (net, VAT)


@dataclass(frozen=True)
class VatSplit:
    """A document's net and VAT, in total and per VAT percentage where known."""

    net: Decimal
    vat: Decimal
    by_rate: RateParts | None = None  # None: only the totals are known (read back from a provider)

    @classmethod
    def of(cls, by_rate: RateParts) -> VatSplit:
        return cls(net=money.money_sum(net for net, _ in by_rate.values()),
                   vat=money.money_sum(vat for _, vat in by_rate.values()), by_rate=dict(by_rate))

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat

    def minus(self, before: VatSplit) -> VatSplit:
        """After minus before, rate by rate: a correction's split."""
        assert self.by_rate is not None and before.by_rate is not None
        difference = {}
        for rate in self.by_rate.keys() | before.by_rate.keys():
            (net_after, vat_after), (net_before, vat_before) = _part(self.by_rate, rate), _part(before.by_rate, rate)
            difference[rate] = (net_after - net_before, vat_after - vat_before)
        return VatSplit.of(difference)

    def same_as(self, other: VatSplit) -> bool:
        """The same net and VAT, and the same per rate where both are known."""
        if (self.net, self.vat) != (other.net, other.vat):
            return False
        return self.by_rate is None or other.by_rate is None or _nonzero(self.by_rate) == _nonzero(other.by_rate)

    def vat_in_pln(self, exchange_rate: Decimal) -> Decimal | None:
        """The VAT in PLN this split states (per rate, as Document.vat_in_pln); None without rates."""
        if self.by_rate is None:
            return None
        return money.money_sum(money.vat_to_pln(vat, exchange_rate) for rate, (_, vat) in self.by_rate.items() if rate)

    def figures(self, exchange_rate: Decimal | None, home_currency: str = "PLN") -> dict[str, Any]:
        """Plain strings for the record and the event; a foreign-currency document's VAT in the home
        currency as `vat_in_home_currency` (and, for a PLN seller, as `vat_in_pln`, as ever)."""
        figures: dict[str, Any] = {"net": f"{self.net:f}", "vat": f"{self.vat:f}"}
        if self.by_rate is not None:
            figures["by_rate"] = {_percent(rate): {"net": f"{net:f}", "vat": f"{vat:f}"}
                                  for rate, (net, vat) in sorted(self.by_rate.items(), reverse=True)}
        in_home = self.vat_in_pln(exchange_rate) if exchange_rate is not None else None  # the same arithmetic
        if in_home is not None:
            if home_currency == "PLN":
                figures["vat_in_pln"] = f"{in_home:f}"
            figures["vat_in_home_currency"] = f"{in_home:f}"
        return figures


@dataclass(frozen=True)
class VatSplitDifference:
    """The same gross split otherwise by the provider than by our document."""

    ours: VatSplit
    theirs: VatSplit
    read_back: bool = False  # theirs as the provider stored it after the create; else as predicted before

    def warning(self, provider_name: str) -> str:
        rates = ""
        if self.ours.by_rate is not None and self.theirs.by_rate is not None:
            differing = [
                f"at {_percent(rate)}%: net {theirs[0]} and VAT {theirs[1]}, ours {ours[0]} and {ours[1]}"
                for rate in sorted(self.ours.by_rate.keys() | self.theirs.by_rate.keys(), reverse=True)
                if (ours := _part(self.ours.by_rate, rate)) != (theirs := _part(self.theirs.by_rate, rate))]
            rates = f" ({'; '.join(differing)})" if differing else ""
        return (f"{SPLIT_DIFFERS}: {provider_name} splits the amount due {self.ours.gross} into net {self.theirs.net} "
                f"and VAT {self.theirs.vat}, our document into net {self.ours.net} and VAT {self.ours.vat}{rates}; "
                f"both ways are lawful and the gross is the same: {provider_name}'s document is the invoice")

    def as_record(self, document: Document) -> dict[str, Any]:
        rate = document.exchange_rate.rate if document.exchange_rate is not None else None
        home = document.home_currency
        return {"code": SPLIT_DIFFERS, "gross": f"{self.ours.gross:f}", "ours": self.ours.figures(rate, home),
                "theirs": self.theirs.figures(rate, home), "read_back": self.read_back,
                **({"home_currency": home} if rate is not None else {})}


def line_values(lines: list[Line], *, gross_from_net: bool = False) -> list[tuple[Decimal, Decimal]]:
    """(VAT percentage, line value) of each line as sent: its value in the document's price basis, or
    for net lines sent as gross unit prices, its gross (Line.gross_from_net)."""
    return [(vat_percent(line.vat), line.gross_from_net() if gross_from_net else line.value()) for line in lines]


def document_split(document: Document) -> VatSplit:
    """Our split, computed the way the document says; for a correction after minus before."""
    def split(lines: list[Line]) -> VatSplit:
        return VatSplit.of(split_values(line_values(lines), document.price_basis, document.vat_calculation))

    after = split(document.lines)
    return after if document.correction is None else after.minus(split(document.correction.lines_before))


def split_of(values: list[tuple[Decimal, Decimal]], basis: PriceBasis, method: VatCalculation) -> VatSplit:
    """The split of line values computed by `method` (a provider that always computes one way)."""
    return VatSplit.of(split_values(values, basis, method))


def _percent(rate: Decimal) -> str:
    return f"{rate.normalize():f}"


def _part(by_rate: RateParts, rate: Decimal) -> tuple[Decimal, Decimal]:
    return by_rate.get(rate, (ZERO, ZERO))


def _nonzero(by_rate: RateParts) -> dict[Decimal, tuple[Decimal, Decimal]]:
    return {rate: parts for rate, parts in by_rate.items() if parts != (ZERO, ZERO)}
