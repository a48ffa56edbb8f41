"""The producer's contract: one message per issued document (schema version 1).

Money fields are Decimal. Send them as JSON strings ("59.98") or as JSON numbers; bodies are
decoded with `money.loads_exact`, so numbers are not read through float either way.
The committed JSON Schema (schemas/export-message.v1.json) is generated from these models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from invoice_export.domain import money

SCHEMA_VERSION = "1"

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
    Field(description="Letters, digits and . _ : - (used in keys and provider references)"),
]
# Short texts that name or key something (our number, series, payment method, order id).
Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# Names, addresses, reasons: shops and marketplaces have long ones. An accounting system that takes
# fewer characters gets the text cut to its limit, with a `text_truncated` warning on the document
# (providers/texts.py), never a refused document. Raised from 256 in schema version 1 (additive).
LONG_TEXT_MAX_LENGTH = 2000
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=LONG_TEXT_MAX_LENGTH),
    Field(description=f"At most {LONG_TEXT_MAX_LENGTH} characters; an accounting system that takes fewer gets "
          "it cut to its limit, with a text_truncated warning"),
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(description="ISO 3166-1 alpha-2")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217")]
Amount = Annotated[Decimal, Field(max_digits=15, decimal_places=2)]
NonNegativeAmount = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=2)]


class _Strict(BaseModel):
    # extra="forbid": a misspelt field is an error naming it, not silently dropped data.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    RECEIPT = "receipt"
    CORRECTION = "correction"


class PriceBasis(StrEnum):
    """Whether unit prices on the lines are net or gross."""

    NET = "net"
    GROSS = "gross"


class VatCalculation(StrEnum):
    """How the document computed VAT: from the sum of values per rate, or line by line."""

    PER_RATE = "per_rate"
    PER_LINE = "per_line"


class VatCode(StrEnum):
    EXEMPT = "zw"  # zwolniony: needs the legal basis of the exemption
    NOT_SUBJECT = "np"  # nie podlega (outside the scope, e.g. export of services)
    NOT_SUBJECT_EU = "np-EU"  # services to an EU business, taxed by the buyer (art. 28b)
    REVERSE_CHARGE = "oo"  # odwrotne obciążenie (domestic reverse charge)


VatRate = Annotated[
    VatCode | Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)],
    Field(description="A percentage (23, 8, 5, 0) or one of the codes zw, np, np-EU, oo"),
]


def vat_percent(rate: VatRate) -> Decimal:
    """The percentage a rate taxes at; the codes carry no VAT on the document."""
    return Decimal(0) if isinstance(rate, VatCode) else rate


class Line(_Strict):
    line_id: Identifier = Field(description="Stable across versions and between a correction's before/after")
    name: LongText
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    quantity: Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=4)]
    unit: Annotated[str, StringConstraints(min_length=1, max_length=16)] = "szt."
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=4)] = Field(
        description="Net or gross, per the document's price_basis"
    )
    vat: VatRate
    vat_exemption_basis: LongText | None = Field(
        default=None, description="Legal basis of a zw (exempt) line, e.g. 'art. 43 ust. 1 pkt 29 ustawy o VAT'"
    )
    is_shipping: bool = False
    discount_percent: Annotated[Decimal, Field(gt=0, lt=100, max_digits=4, decimal_places=2)] | None = Field(
        default=None,
        description="Optional per-line discount in percent (0 < d < 100, at most 2 decimal places). With it, "
        "unit_price is the list price and the line value is quantity x unit_price x (1 - d/100), rounded half-up "
        "to the grosz once, in the document's price basis. Absent: no discount. Added in schema version 1 "
        "(optional and additive, so the version stays 1).",
    )

    @model_validator(mode="after")
    def _exempt_needs_basis(self) -> Self:
        if self.vat == VatCode.EXEMPT and not self.vat_exemption_basis:
            raise ValueError("a zw (VAT-exempt) line needs vat_exemption_basis: the legal basis of the exemption")
        return self

    def value(self) -> Decimal:
        """Line value in the document's price basis: quantity x unit price, less the discount when the
        line has one, rounded half-up to the grosz once (never the discounted unit price first)."""
        return line_value(self.quantity, self.unit_price, self.discount_percent)

    def gross_from_net(self) -> Decimal:
        """This net-priced line's gross: its value plus the VAT of the line itself (VAT per line)."""
        value = self.value()
        return value + money.vat_from_net(value, vat_percent(self.vat))


def line_value(quantity: Decimal, unit_price: Decimal, discount_percent: Decimal | None = None) -> Decimal:
    """quantity x unit_price x (1 - discount/100), rounded half-up to the grosz once (exact Decimal)."""
    amount = quantity * unit_price
    if discount_percent is not None:
        amount = amount * (money.HUNDRED - discount_percent) / money.HUNDRED
    return money.round_money(amount)


class Totals(_Strict):
    net: Amount
    vat: Amount
    gross: Amount


class Address(_Strict):
    street: LongText | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    city: LongText | None = None
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="State, province or county; for a Romanian address its county (judet, e.g. 'Cluj', "
        "'Bucuresti'), which Oblio and SmartBill require (in Bucharest the city is the sector, 'Sector 3'). "
        "Added in schema version 1 (optional and additive, so the version stays 1).")
    country: CountryCode


class BuyerKind(StrEnum):
    COMPANY = "company"
    PERSON = "person"


class Buyer(_Strict):
    kind: BuyerKind
    name: LongText = Field(description="Company name, or the person's full name, exactly as on the order")
    first_name: LongText | None = None
    last_name: LongText | None = None
    tax_id: Annotated[str, StringConstraints(min_length=2, max_length=32)] | None = Field(
        default=None, description="NIP, a Romanian CUI/CIF (with or without RO), or an EU VAT number with its "
        "country prefix (DE123456789)"
    )
    address: Address
    email: Annotated[str, StringConstraints(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None


class Payment(_Strict):
    method: Text = Field(description="Our payment name; the account links it to a provider payment type")
    due_date: date | None = Field(default=None, description="Absent when the series hides it")
    paid_date: date | None = Field(default=None, description="Absent when unpaid or hidden by the series")


class ExchangeRate(_Strict):
    rate: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=6)] = Field(
        description="Units of the document's home_currency (PLN, or RON for a Romanian seller) per unit of its "
        "currency")
    date: date
    table_id: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="e.g. 231/A/NBP/2026 (NBP), or the BNR rate's reference for a Romanian seller"
    )


class Correction(_Strict):
    corrected_document_id: Identifier = Field(description="Our id of the corrected document")
    reason: LongText
    lines_before: list[Line] = Field(min_length=1, description="The corrected document's lines before")
    conditions_met: bool = Field(
        default=True,
        description="Whether the conditions the correction depends on (e.g. the goods returned, the agreed price "
        "reduction) were met by its issue date; some providers must be told (iFirma: SpelnionoWarunki). Absent: "
        "true. Added in schema version 1 (optional and additive, so the version stays 1).",
    )


class Document(_Strict):
    document_id: Identifier
    version: Annotated[int, Field(ge=1)]
    kind: DocumentKind
    number: Text = Field(description="Our number; passed only when the account uses our numbering")
    series: Text = Field(description="Our numbering series; the account links it to a provider series")
    issue_date: date
    sale_date: date
    order_id: Text | None = None
    currency: CurrencyCode = "PLN"
    home_currency: CurrencyCode = Field(
        default="PLN",
        description="The seller's home currency, in which VAT is accounted: PLN for a Polish seller, RON for a "
        "Romanian one; a document in any other currency carries exchange_rate to it. Must be the account's. "
        "Added in schema version 1 (optional and additive, so the version stays 1).")
    exchange_rate: ExchangeRate | None = None
    price_basis: PriceBasis
    vat_calculation: VatCalculation = VatCalculation.PER_RATE
    buyer: Buyer
    payment: Payment
    lines: list[Line] = Field(
        description="At least one; for a correction the lines after the change, none when it cancels the whole "
        "corrected document (a full reversal, storno); shipping is a line")
    totals: Totals = Field(description="For a correction: the difference, after minus before")
    correction: Correction | None = None
    notes: Annotated[str, StringConstraints(max_length=3500)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = []
        if (self.kind == DocumentKind.CORRECTION) != (self.correction is not None):
            problems.append("a correction (kind 'correction') must carry 'correction', and only a correction may")
        if not self.lines and self.kind != DocumentKind.CORRECTION:
            problems.append("lines: an invoice or receipt needs at least one line (only a correction cancelling "
                            "the whole corrected document has none)")
        if self.currency != self.home_currency and self.exchange_rate is None:
            problems.append(f"currency {self.currency} needs exchange_rate (rate, date and table id) for VAT in "
                            f"{self.home_currency}")
        for label, lines in self._line_sets():
            ids = [line.line_id for line in lines]
            if len(ids) != len(set(ids)):
                problems.append(f"{label}: line_id values must be unique")
        if problems:
            raise ValueError("; ".join(problems))
        difference = self.computed_totals_difference()
        if difference is not None:
            raise ValueError(difference)
        return self

    @property
    def is_full_reversal(self) -> bool:
        """A correction that cancels the whole corrected document: no line is left after it."""
        return self.correction is not None and not self.lines

    def _line_sets(self) -> list[tuple[str, list[Line]]]:
        sets = [("lines", self.lines)]
        if self.correction:
            sets.append(("correction.lines_before", self.correction.lines_before))
        return sets

    def computed_totals(self) -> Totals:
        """Totals recomputed from the lines the way this document says it computes VAT."""
        after = compute_totals(self.lines, self.price_basis, self.vat_calculation)
        if self.correction is None:
            return after
        before = compute_totals(self.correction.lines_before, self.price_basis, self.vat_calculation)
        return Totals(net=after.net - before.net, vat=after.vat - before.vat, gross=after.gross - before.gross)

    def vat_by_rate(self) -> dict[Decimal, Decimal]:
        """VAT in the document's currency per VAT percentage, computed the way the document says;
        for a correction the difference after minus before, rate by rate."""
        after = {rate: vat for rate, (_net, vat) in _parts_by_rate(
            self.lines, self.price_basis, self.vat_calculation).items()}
        if self.correction is None:
            return after
        before = {rate: vat for rate, (_net, vat) in _parts_by_rate(
            self.correction.lines_before, self.price_basis, self.vat_calculation).items()}
        return {rate: after.get(rate, Decimal("0.00")) - before.get(rate, Decimal("0.00"))
                for rate in after.keys() | before.keys()}

    def vat_in_pln(self) -> VatInPln | None:
        """The VAT amounts in PLN a foreign-currency invoice must state (art. 106e ust. 11), at the
        document's exchange rate; None for a PLN document, and for a seller whose home currency is not PLN
        (Polish law). Rate by rate, see `money.vat_to_pln`; zero-rated, exempt (zw), not-subject (np) and
        reverse-charge lines carry no VAT to state."""
        home = self.vat_in_home_currency() if self.home_currency == "PLN" else None
        if home is None:
            return None
        return VatInPln(exchange_rate=home.exchange_rate, table_id=home.table_id, by_rate=home.by_rate,
                        total=home.total)

    def vat_in_home_currency(self) -> VatInHomeCurrency | None:
        """The VAT amounts in the seller's home currency a document in another currency must state, at its
        exchange rate: in PLN (art. 106e ust. 11, as `vat_in_pln`) or in RON (Codul fiscal art. 319 alin.
        (23), see `money.vat_to_home_currency`); None for a document in the home currency. Rate by rate;
        lines at 0 % (zero-rated, exempt, not subject, reverse charge) carry no VAT to state."""
        if self.currency == self.home_currency or self.exchange_rate is None:
            return None
        rate = self.exchange_rate.rate
        by_rate = {percent: money.vat_to_home_currency(vat, rate)
                   for percent, vat in sorted(self.vat_by_rate().items(), reverse=True) if percent != 0}
        return VatInHomeCurrency(currency=self.home_currency, exchange_rate=rate,
                                 table_id=self.exchange_rate.table_id, by_rate=by_rate,
                                 total=money.money_sum(by_rate.values()))

    def computed_totals_difference(self) -> str | None:
        computed = self.computed_totals()
        wrong = [
            f"{name} {getattr(self.totals, name)} but the lines give {getattr(computed, name)}"
            f" (difference {getattr(self.totals, name) - getattr(computed, name)})"
            for name in ("net", "vat", "gross")
            if getattr(self.totals, name) != getattr(computed, name)
        ]
        if not wrong:
            return None
        method = f"{self.price_basis.value} prices, VAT {self.vat_calculation.value}"
        return f"totals do not match the lines ({method}): " + "; ".join(wrong)


@dataclass(frozen=True)
class VatAtExchangeRate:
    """VAT of a document in a foreign currency stated in the seller's home currency at the document's
    exchange rate, per VAT percentage and in total."""

    exchange_rate: Decimal
    table_id: str
    by_rate: dict[Decimal, Decimal]  # VAT percentage (23, 8, 5) -> VAT in the home currency; highest rate first
    total: Decimal

    def as_record(self) -> dict[str, str]:
        """Plain strings for storage and events: {"23": "97.75", ..., "total": ..., "exchange_rate": ...}."""
        return {**{f"{percent.normalize():f}": f"{vat:f}" for percent, vat in self.by_rate.items()},
                "total": f"{self.total:f}", "exchange_rate": f"{self.exchange_rate:f}", "table_id": self.table_id}


@dataclass(frozen=True)
class VatInPln(VatAtExchangeRate):
    """The figures in PLN (a Polish seller, art. 106e ust. 11): the record without a currency, as ever."""


@dataclass(frozen=True)
class VatInHomeCurrency(VatAtExchangeRate):
    """The figures in `currency`, the seller's home currency (PLN, RON), which the record names."""

    currency: str = "PLN"

    def as_record(self) -> dict[str, str]:
        """{"21": "115.51", ..., "total": ..., "exchange_rate": ..., "table_id": ..., "currency": "RON"}."""
        return {**super().as_record(), "currency": self.currency}


def compute_totals(lines: list[Line], basis: PriceBasis, method: VatCalculation) -> Totals:
    parts = _parts_by_rate(lines, basis, method).values()
    net = money.money_sum(p[0] for p in parts)
    vat = money.money_sum(p[1] for p in parts)
    return Totals(net=net, vat=vat, gross=net + vat)


def _parts_by_rate(lines: list[Line], basis: PriceBasis,
                   method: VatCalculation) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """(net, vat) per VAT percentage of the document's lines."""
    return split_values([(vat_percent(line.vat), line.value()) for line in lines], basis, method)


def split_values(values: list[tuple[Decimal, Decimal]], basis: PriceBasis,
                 method: VatCalculation) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """(net, vat) per VAT percentage of line values given as (VAT percentage, value in `basis`):
    line by line and summed per rate, or from each rate's sum."""
    if method == VatCalculation.PER_LINE:
        by_rate: dict[Decimal, tuple[Decimal, Decimal]] = {}
        for rate, value in values:
            net, vat = _split(value, rate, basis)
            so_far = by_rate.get(rate, (Decimal("0.00"), Decimal("0.00")))
            by_rate[rate] = (so_far[0] + net, so_far[1] + vat)
        return by_rate
    return {rate: _split(value, rate, basis) for rate, value in sum_per_rate(values).items()}


def sum_per_rate(values: list[tuple[Decimal, Decimal]]) -> dict[Decimal, Decimal]:
    """The summed value per VAT percentage of (VAT percentage, value) pairs."""
    sums: dict[Decimal, Decimal] = {}
    for rate, value in values:
        sums[rate] = sums.get(rate, Decimal("0.00")) + value
    return sums


def _split(value: Decimal, rate: Decimal, basis: PriceBasis) -> tuple[Decimal, Decimal]:
    """(net, vat) of a value given in `basis`."""
    if basis == PriceBasis.GROSS:
        vat = money.vat_from_gross(value, rate)
        return value - vat, vat
    return value, money.vat_from_net(value, rate)


class Trigger(StrEnum):
    ISSUED = "issued"  # the order system issued (or re-sent) the document
    BULK = "bulk"  # a manual or scheduled bulk export re-queued a pending document
    RETRY = "retry"  # an operator retried a failed document after a fix


class ExportMessage(_Strict):
    """Body of one message on the export queue (MessageGroupId = account_id)."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    account_id: Identifier
    trigger: Trigger = Trigger.ISSUED
    document: Document


def describe_validation_error(error: ValidationError, limit: int = 8) -> str:
    """One line per problem, each naming the field path, e.g. `document.lines[1].vat: ...`."""
    lines = []
    for item in error.errors()[:limit]:
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path or 'message'}: {message}")
    if error.error_count() > limit:
        lines.append(f"... and {error.error_count() - limit} more")
    return "; ".join(lines)
