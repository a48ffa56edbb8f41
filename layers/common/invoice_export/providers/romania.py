"""What Romanian invoicing asks of a request, the same for every Romanian provider (Oblio, SmartBill).

VAT rates go by name and percentage, as both providers' nomenclatures list them (Oblio GET
/api/nomenclature/vat_rates, SmartBill GET /tax): the standard rate "Normala" (21 % since 1 August
2025), the reduced "Redusa" (11 %), "SDD" and "SFDD" (exempt with and without the right to deduct,
both 0 %) and "Taxare inversa" (reverse charge, 0 %). Ours map onto them:

    21 -> Normala, 11 -> Redusa, any other percentage -> that percentage without a name (the provider
    picks its one rate with it: an account that still has an older rate), 0 -> SDD (the EU's zero rate:
    intra-EU supplies and exports are exempt with the right to deduct), zw -> SFDD (exempt without it),
    oo and np-EU -> Taxare inversa (the buyer accounts the VAT); np (outside the scope) has no Romanian
    name and is refused.

ASSUMPTION: these names, from the providers' nomenclature examples and their fakes' defaults; a
provider that has another name refuses the request in its own words (read back by the adapter).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import Buyer, BuyerKind, Document, DocumentKind, Line, VatCode
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.domain.tax_ids import cui_problem
from invoice_export.providers import pricing
from invoice_export.providers.pricing import PricedLine, folded_name, priced_line
from invoice_export.providers.texts import TextLimit

STANDARD, REDUCED = Decimal(21), Decimal(11)
VAT_NAMES_BY_CODE = {VatCode.EXEMPT: "SFDD", VatCode.REVERSE_CHARGE: "Taxare inversa",
                     VatCode.NOT_SUBJECT_EU: "Taxare inversa"}
VAT_NAMES_BY_PERCENT = {STANDARD: "Normala", REDUCED: "Redusa", Decimal(0): "SDD"}
ROMANIA = "RO"


def vat_name_and_percent(line: Line, provider: str) -> tuple[str | None, Decimal]:
    """The provider's VAT rate for a line: (its name, or None to let the percentage pick it; percentage)."""
    if isinstance(line.vat, VatCode):
        if line.vat not in VAT_NAMES_BY_CODE:
            raise ConfigurationError(
                f"line {line.line_id}: {provider} has no VAT rate for '{line.vat.value}' (outside the scope of VAT)",
                fix="issue the line as exempt (zw, with its legal basis) or with the rate that applies in Romania",
                code="unsupported_vat_rate")
        return VAT_NAMES_BY_CODE[line.vat], Decimal(0)
    rate = line.vat.normalize()
    return VAT_NAMES_BY_PERCENT.get(rate), rate


def exemption_mentions(document: Document) -> list[str]:
    """The legal basis of each exempt rate, for the document's printed mentions (Romanian invoices must
    state why a supply is exempt, Codul fiscal art. 319 (20))."""
    lines = document.lines + (document.correction.lines_before if document.correction else [])
    bases = dict.fromkeys(line.vat_exemption_basis for line in lines if line.vat == VatCode.EXEMPT)
    return [f"Scutit de TVA: {basis}" for basis in bases if basis]


def mentions(document: Document) -> str:
    """The printed mentions Oblio and SmartBill both take: our notes, then each exemption's legal basis,
    one a line ("" when there is nothing to say, and the field is then left out)."""
    return "\n".join([*([document.notes] if document.notes else []), *exemption_mentions(document)])


def delivery_and_due_dates(document: Document) -> dict[str, str]:
    """The optional dates Oblio and SmartBill name alike: deliveryDate only when the sale was on another
    day than the issue (else both take the issue date), dueDate only when the order has one."""
    dates: dict[str, str] = {}
    if document.sale_date != document.issue_date:
        dates["deliveryDate"] = document.sale_date.isoformat()
    if document.payment.due_date is not None:
        dates["dueDate"] = document.payment.due_date.isoformat()
    return dates


def is_romanian(buyer: Buyer) -> bool:
    return buyer.address.country == ROMANIA


def romanian_buyer_county(buyer: Buyer, provider: str) -> str | None:
    """A Romanian buyer's county (judet), which e-Factura and both providers need; None for others. A
    Romanian company's CUI is checked here too, so a typo is named before anything is sent."""
    if not is_romanian(buyer):
        return None
    if buyer.kind == BuyerKind.COMPANY and buyer.tax_id and (problem := cui_problem(buyer.tax_id)):
        raise ConfigurationError(f"the buyer's CUI {buyer.tax_id} {problem}", code="bad_tax_id",
                                 fix="correct document.buyer.tax_id in the order system and send the document again")
    if not buyer.address.region:
        raise ConfigurationError(
            f"{provider} needs the county (judet) of a Romanian buyer, and this document has none",
            fix="send document.buyer.address.region (e.g. 'Cluj'; 'Bucuresti' with the sector as the city)",
            code="missing_region")
    return buyer.address.region


def is_vat_payer(buyer: Buyer) -> bool:
    """ASSUMPTION: a company whose tax id carries a country prefix (RO12345678, DE123456789) is registered
    for VAT; a bare Romanian CUI, and a person, are not (the Romanian convention)."""
    tax_id = (buyer.tax_id or "").strip().upper()
    return buyer.kind == BuyerKind.COMPANY and len(tax_id) > 2 and tax_id[:2].isalpha()


def storno_by_total(gross: Decimal) -> bool | None:
    """Whether a document read back is a storno, for a provider whose answer does not say: the only
    documents of ours with a negative total are stornos; a zero total cannot tell (None)."""
    return None if gross == 0 else gross < 0


def gestiune_refusals(settings: AccountSettings, options_model: type[BaseModel], option: str, provider: str,
                      where: str) -> list[tuple[str, str]]:
    """Both providers take sold goods out of one named gestiune (warehouse), the provider option `option`:
    an account that sends SKUs must set it (ProviderAdapter.option_refusals)."""
    if settings.send_skus and getattr(options_model.model_validate(settings.provider_options), option) is None:
        return [(f"{provider} takes sold goods out of a named gestiune (warehouse), and none is set for the SKUs "
                 "this account sends",
                 f"set provider_options.{option} to the name of a {provider} gestiune ({where}), or set send_skus "
                 "to false")]
    return []


def refuse_receipt_payment(document: Document, payment_type: str, provider: str, receipt_type: str,
                           instead: str) -> None:
    """A paid document linked to the provider's receipt (chitanta) payment type would need a receipt
    series, which this service does not choose: refused with what to link instead."""
    if payment_type == receipt_type:
        method = document.payment.method
        raise ConfigurationError(
            f"payment method '{method}' is linked to {provider}'s '{receipt_type}', which needs a receipt series "
            "this service does not choose", code="unsupported_payment_type",
            fix=f"link '{method}' to another {provider} payment type (e.g. {instead})")


def series_and_number(reference: ProviderReference) -> tuple[str, str]:
    """The series and number of a document at the provider, from its reference ("FCT 0001" in series
    FCT): both Romanian providers name a document by them (a storno names its original so)."""
    series = reference.series or reference.number.rpartition(" ")[0]
    return series, reference.number.removeprefix(series).strip()


# Text lengths: neither Oblio nor SmartBill documents its own. A Romanian invoice goes on to e-Factura
# in the CIUS-RO profile, whose limits are the binding ones (Vertex's "Romania: Character Restrictions":
# CityName 50, AddressLine 100, registration name 200). ASSUMPTION: an item name of 100 and mentions of
# 300 characters, as commonly cited for CIUS-RO (BT-153, BT-22); not confirmed from ANAF's own pages.
_CIUS_RO = "ASSUMPTION: not documented by the provider; the CIUS-RO (e-Factura) limit"
ROMANIAN_TEXT_LIMITS: dict[str | tuple[str, ...], TextLimit] = {
    "products.*.name": TextLimit(100, "document.lines[].name", _CIUS_RO),
    "client.name": TextLimit(200, "document.buyer.name", f"{_CIUS_RO} (Vertex: RegistrationName 200)"),
    "client.address": TextLimit(100, "document.buyer.address.street", f"{_CIUS_RO} (Vertex: AddressLine 100)"),
    "client.city": TextLimit(50, "document.buyer.address.city", f"{_CIUS_RO} (Vertex: CityName 50)"),
    "mentions": TextLimit(300, "document.notes (with the exemption basis)", _CIUS_RO),
}


# Unit prices: both take at most 4 decimals (SmartBill SPEC `precision` 2, 3 or 4; Oblio, as its docs'
# examples and fake); quantities as ours.
PRICE_PLACES = 4
# A folded line (providers.pricing.priced_line) is one piece: the whole line ("buc", bucata).
FOLDED_UNIT = "buc"
LINE_NAME_LENGTH = ROMANIAN_TEXT_LIMITS["products.*.name"].max_length


def priced(line: Line) -> PricedLine:
    """The quantity and unit price a line goes with to Oblio or SmartBill: as it is (a discounted line at
    the 4-place unit price whose value is exactly ours: both round quantity x price half-up to the ban, as
    we round the line once), or, where no 4-place price gives that value (a discount on a large quantity),
    folded: quantity 1 at its value, the real figures in its name, never refused."""
    return priced_line(line, places=PRICE_PLACES)


def product_figures(line: Line) -> tuple[PricedLine, str, str]:
    """How a line is stated: (its quantity and price, its name, its unit); a folded line's name carries
    its real quantity and price, fitted to the item name's length so they are never cut."""
    sent = priced(line)
    if sent.folded_because is None:
        return sent, line.name, line.unit
    return sent, folded_name(line, LINE_NAME_LENGTH), FOLDED_UNIT


def is_folded(line: Line) -> bool:
    return priced(line).folded_because is not None


def fold_warnings(document: Document, provider: str, *, stock_links: bool) -> list[str]:
    """What folded lines change (providers.pricing.fold_warnings): line_folded each, and with
    `stock_links` (send_skus) that a folded line with a SKU went without its stock link. A storno sends no
    lines (the provider reverses the stored ones, folded as they were): nothing to say. Shipping never
    has a stock link."""
    if document.kind == DocumentKind.CORRECTION:
        return []
    goods = [line for line in document.lines if not line.is_shipping]
    shipping = [line for line in document.lines if line.is_shipping]
    return [*pricing.fold_warnings(goods, priced, provider=provider, name_length=LINE_NAME_LENGTH,
                                   sku_links=stock_links),
            *pricing.fold_warnings(shipping, priced, provider=provider, name_length=LINE_NAME_LENGTH,
                                   sku_links=False)]
