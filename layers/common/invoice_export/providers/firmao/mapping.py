"""Our document as a Firmao sale transaction (POST /transactions), and Firmao's arithmetic: pure, no I/O.

Facts: FirmaoCRM/API README (commit c3ed124), summarised with sources in
/work/shared/providers/next-providers.md section 1. The README documents by example only; every
choice it leaves open is marked ASSUMPTION here, as the local fake (local/fakes/firmao/) models it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoice_export.domain.documents import Document, DocumentKind, Line, PriceBasis, Totals, VatCode, vat_percent
from invoice_export.domain.errors import ConfigurationError, PermanentError
from invoice_export.domain.money import HUNDRED, format_amount, round_money
from invoice_export.domain.provider_contract import ExportPlan
from invoice_export.providers import pricing
from invoice_export.providers.base import LOOKED_UP_WHEN_SENT
from invoice_export.providers.pricing import PricedLine, folded_name, priced_line

# README: "type":"INVOICE" and "CORRECTION". ASSUMPTION: a receipt is "RECEIPT", by analogy (the
# numbering dictionary names the type "receipt", Paragon; README section 4o).
TYPES = {DocumentKind.INVOICE: "INVOICE", DocumentKind.RECEIPT: "RECEIPT", DocumentKind.CORRECTION: "CORRECTION"}
OUR_KINDS = {firmao_type: kind.value for kind, firmao_type in TYPES.items()}
# ASSUMPTION: Firmao keeps quantities to 3 decimals (its GET shows "quantity":1.000) and unit prices to
# the grosz (the README sends "1000.00"); the fake refuses more, as the cautious reading. A line finer
# than that goes folded (providers.pricing.priced_line): quantity 1 at its value, the real ones in its name.
QUANTITY_PLACES = 3
PRICE_PLACES = 2
# A folded line is one piece: the whole line (README's unit example: "unit":"szt.").
FOLDED_UNIT = "szt."
# ASSUMPTION: not documented by Firmao; KSeF's limit for a position name (see adapter.TEXT_LIMITS). A
# folded line's name is fitted to it here, so that the cut falls on our name, never on what it folds.
LINE_NAME_LENGTH = 256
# ASSUMPTION, a reading the README leaves open (the fake has both): with calculateFromGross the gross
# unit price travels in unitBruttoPrice (the entry's GET field) or in unitNettoPrice itself. The adapter
# sends the first and falls back to the second when Firmao names unitBruttoPrice as refused.
GROSS_PRICE_FIELDS = ("unitBruttoPrice", "unitNettoPrice")
# README's address example: "customerAddress.country":"Polska". ASSUMPTION: the country is free text;
# Poland goes by its Polish name, others by their ISO code (no list of Firmao's names is documented).
POLAND = "Polska"


@dataclass(frozen=True)
class OriginalLine:
    """A line of the corrected transaction, as Firmao's GET /transactionentries lists it."""

    entry_id: int
    product: int | str  # the linked product's id, or the unlinked line's text


@dataclass(frozen=True)
class OriginalDocument:
    number: str
    issue_date: str
    lines: list[OriginalLine]


@dataclass(frozen=True)
class Lookups:
    """What a request needs from the account: product ids by SKU, the corrected transaction, and
    which field carries a gross unit price."""

    product_ids: dict[str, int] | None = None  # None: not looked up (a dry run)
    original: OriginalDocument | None = None
    gross_price_field: str = GROSS_PRICE_FIELDS[0]


# --------------------------------------------------------------------------- Firmao's arithmetic


def line_split(value: Decimal, rate: Decimal, basis: PriceBasis) -> tuple[Decimal, Decimal]:
    """(net, VAT) Firmao gives a line worth `value` in `basis`. ASSUMPTION (as the fake models it; the
    README's entries carry nettoPrice/vatPrice/bruttoPrice per line): net lines take VAT = net x rate,
    rounded; gross lines take net = gross / (1 + rate), rounded, and VAT as the rest - which differs
    from our VAT-from-gross only where that VAT falls on exactly half a grosz (never at 23, 8 or 5 %)."""
    if basis == PriceBasis.GROSS:
        net = round_money(value * HUNDRED / (HUNDRED + rate))
        return net, value - net
    return value, round_money(value * rate / HUNDRED)


def _sum_lines(lines: list[Line], basis: PriceBasis) -> tuple[Decimal, Decimal]:
    net = vat = Decimal("0.00")
    for line in lines:
        line_net, line_vat = line_split(line.value(), vat_percent(line.vat), basis)
        net, vat = net + line_net, vat + line_vat
    return net, vat


def firmao_totals(document: Document) -> Totals:
    """The totals Firmao computes from our request: the lines' amounts summed (ASSUMPTION: its header
    VAT is the sum of the lines', see FirmaoAdapter.vat_calculation); a correction's are its "after"
    lines' minus its "before" lines' (README: the example correcting 1 to 2 pieces sends the difference)."""
    net, vat = _sum_lines(document.lines, document.price_basis)
    if document.correction is not None:
        before_net, before_vat = _sum_lines(document.correction.lines_before, document.price_basis)
        net, vat = net - before_net, vat - before_vat
    return Totals(net=net, vat=vat, gross=net + vat)


# --------------------------------------------------------------------------- the request


def transaction(plan: ExportPlan, lookups: Lookups, *, reference_field: str | None,
                warehouse_id: int | None) -> dict[str, Any]:
    """The POST /transactions body for the plan."""
    doc = plan.document
    _check_vat_codes(doc)
    totals = firmao_totals(doc)
    body: dict[str, Any] = {
        "type": TYPES[doc.kind],
        "mode": "SALE",
        "invoiceDate": doc.issue_date.isoformat(),
        "transactionDate": doc.sale_date.isoformat(),
        "paymentType": plan.provider_payment_type,
        "currency": doc.currency,
        "calculateFromGross": doc.price_basis == PriceBasis.GROSS,
        **_buyer(doc),
        # README: the client sends the totals as strings. They are what Firmao will compute (the
        # planning refuses a document where that differs from ours), so a Firmao that computes another
        # way refuses them by name, or answers its own, which the read-back reports.
        "transactionNettoPrice": format_amount(totals.net),
        "transactionVatPrice": format_amount(totals.vat),
        "transactionBruttoPrice": format_amount(totals.gross),
    }
    if plan.number is not None:
        body["transactionNumber"] = plan.number  # Firmao refuses a second sale with it: the duplicate guard
    if plan.provider_series is not None:
        body["invoicePatternId"] = series_id(plan.provider_series)
    body.update(_payment(doc, totals))
    body.update(_exchange_rate(doc))
    if annotations := _annotations(doc):
        body["invoiceAnnotations"] = annotations
    if reference_field is not None:
        body[f"customFields.{reference_field}"] = doc.document_id  # README: "customFields.custom5", a string
    if plan.send_skus and doc.kind != DocumentKind.CORRECTION:
        body.update(_stock_update(warehouse_id))
    if doc.kind == DocumentKind.CORRECTION:
        body.update(_correction(plan, lookups))
    else:
        body["transactionEntries"] = [_entry(line, _product(line, plan, lookups), doc.price_basis, lookups)
                                      for line in doc.lines]
    return body


def _payment(doc: Document, totals: Totals) -> dict[str, Any]:
    """The due date (README: paymentDate, "2012-08-15") and, but on a correction (settled against its
    original), whether and how much is paid."""
    fields: dict[str, Any] = {}
    if doc.payment.due_date is not None:
        fields["paymentDate"] = doc.payment.due_date.isoformat()
    if doc.kind != DocumentKind.CORRECTION:
        paid = doc.payment.paid_date is not None
        fields["paid"] = paid
        fields["paidValue"] = format_amount(totals.gross if paid else Decimal(0))
    return fields


def _exchange_rate(doc: Document) -> dict[str, Any]:
    # ASSUMPTION: our rate goes in exchangeRate/exchangeRateDate (the README's correction example
    # sends both; whether Firmao would look one up itself is not documented).
    if doc.exchange_rate is None:
        return {}
    return {"exchangeRate": f"{doc.exchange_rate.rate.normalize():f}",
            "exchangeRateDate": doc.exchange_rate.date.isoformat()}


def _stock_update(warehouse_id: int | None) -> dict[str, Any]:
    # ASSUMPTION: how a sale decreases stock is undocumented. GET output shows storageStateUpdate
    # (NO_UPDATE on a transaction, AUTO_UPDATE on a storage document) and warehouse {id, name};
    # AUTO_UPDATE on the sale is read as "take the linked lines off the warehouse's stock".
    return {"storageStateUpdate": "AUTO_UPDATE", **({"warehouse": {"id": warehouse_id}} if warehouse_id else {})}


def series_id(provider_series: str) -> int:
    if not provider_series.isdigit():
        raise ConfigurationError(
            f"'{provider_series}' is not a Firmao numbering series id",
            fix="link the series to a Firmao series from its list (GET /invoicenumbers: a number)",
            code="series_not_linked")
    return int(provider_series)


def vat_percent_text(line: Line) -> str:
    """README: vatPercent is a number in every example (0, 22, the string "0"). It documents no form for
    a VAT exemption or a sale outside the scope of VAT, and 0 % is neither: those are refused."""
    if isinstance(line.vat, VatCode):
        raise ConfigurationError(
            f"Firmao's API documents only VAT percentages (vatPercent), no form for VAT code {line.vat.value} "
            f"(line '{line.name}'); sending 0 % instead would state the wrong tax basis",
            fix="issue this document in Firmao by hand", code="unsupported_vat_code")
    return f"{line.vat.normalize():f}"


def _check_vat_codes(doc: Document) -> None:
    for line in doc.lines + (doc.correction.lines_before if doc.correction else []):
        vat_percent_text(line)


def priced(line: Line, quantity: Decimal | None = None) -> PricedLine:
    """The quantity and unit price Firmao gets for a line: as it is, or folded where Firmao's decimals
    cannot state it exactly."""
    return priced_line(line, places=PRICE_PLACES, quantity_places=QUANTITY_PLACES, quantity=quantity)


def fold_warnings(plan: ExportPlan) -> list[str]:
    """What folded lines change (providers.pricing.fold_warnings); a correction links no stock."""
    doc = plan.document
    return pricing.fold_warnings(doc.lines + (doc.correction.lines_before if doc.correction else []), priced,
                                 provider="Firmao", name_length=LINE_NAME_LENGTH,
                                 sku_links=plan.send_skus and doc.kind != DocumentKind.CORRECTION)


def _buyer(doc: Document) -> dict[str, Any]:
    """README: createCustomerIfNeeded with customerName attaches the customer of that name or creates it
    (with phones and emails, allowed only then); the address and NIP go on the transaction itself."""
    buyer = doc.buyer
    country = buyer.address.country
    fields: dict[str, Any] = {
        "createCustomerIfNeeded": True,
        "customerName": buyer.name,
        "customerAddress.street": buyer.address.street,
        "customerAddress.postCode": buyer.address.postal_code,
        "customerAddress.city": buyer.address.city,
        "customerAddress.country": POLAND if country == "PL" else country,
        "nipNumber": _tax_number(buyer.tax_id, country),
        "emails": [buyer.email] if buyer.email else None,
        "phones": [buyer.phone] if buyer.phone else None,
    }
    # Customer data go exactly as on the order: absent values are left out, not blanked.
    return {key: value for key, value in fields.items() if value is not None}


def _tax_number(raw: str | None, country: str) -> str | None:
    """README: "1060000062" (also "106-00-00-062"). A Polish NIP as its 10 digits, a foreign VAT number
    with its country prefix, spaces and dashes dropped."""
    if raw is None:
        return None
    compact = "".join(raw.split()).replace("-", "").upper()
    return compact.removeprefix("PL") if country == "PL" else compact


def _annotations(doc: Document) -> str | None:
    """Printed notes (invoiceAnnotations): ours, and the exchange rate's NBP table, which no field takes."""
    parts = [doc.notes] if doc.notes else []
    if doc.exchange_rate is not None:
        rate = doc.exchange_rate
        parts.append(f"Kurs {rate.rate.normalize():f} PLN/{doc.currency} z dnia {rate.date.isoformat()}, "
                     f"tabela {rate.table_id}")
    return "\n".join(parts) or None


def _product(line: Line, plan: ExportPlan, lookups: Lookups) -> int | str:
    """README: `product` as a number links the product of that id (the stock link); as a text the line
    is that text, linked to nothing. A folded line goes as its text: linked, it would move 1 unit of stock."""
    if priced(line).folded_because is not None:
        return folded_name(line, LINE_NAME_LENGTH)
    if plan.send_skus and line.sku:
        if lookups.product_ids is None:  # a dry run: the look-up happens when the document is sent
            return LOOKED_UP_WHEN_SENT.format(f"the product with code {line.sku}")
        if line.sku in lookups.product_ids:
            return lookups.product_ids[line.sku]
    return line.name


def _entry(line: Line, product: int | str, basis: PriceBasis, lookups: Lookups,
           quantity: Decimal | None = None) -> dict[str, Any]:
    price_field = lookups.gross_price_field if basis == PriceBasis.GROSS else "unitNettoPrice"
    # A discounted line, or a unit price with more than 2 decimals, goes as the 2-decimal unit price
    # whose quantity x price is exactly our line value: Firmao's `discount` is documented only as null,
    # so its arithmetic cannot be relied on. Where no such price exists, or the quantity is finer than
    # Firmao keeps, the line goes folded (quantity 1 at its value).
    sent = priced(line, quantity)
    entry: dict[str, Any] = {
        "product": product,
        "quantity": f"{sent.quantity.normalize():f}",
        "unit": FOLDED_UNIT if sent.folded_because is not None else line.unit,
        "vatPercent": vat_percent_text(line),
        price_field: format_amount(sent.unit_price),
    }
    if line.sku and isinstance(product, int) and (lookups.product_ids or {}).get(line.sku) == product:
        entry["productCode"] = line.sku  # the code of the product found by it
    return entry


def _check_correctable(doc: Document, before: list[Line], original: OriginalDocument | None) -> None:
    """A correction Firmao's documented form can state: no added line, and the original's lines as we sent them."""
    added = [line.line_id for line in doc.lines if line.line_id not in {b.line_id for b in before}]
    if added:
        raise ConfigurationError(
            f"the correction adds line(s) {', '.join(added)}; Firmao's API documents corrections of the "
            "original's lines only (each as a before and after pair), with no form for a new line",
            fix="issue the added lines on a new invoice, or this correction in Firmao by hand",
            code="unsupported_correction")
    if original is not None and len(original.lines) != len(before):
        raise PermanentError(
            f"the corrected Firmao document has {len(original.lines)} lines, our original had {len(before)}: "
            "its lines were changed in Firmao, so the correction cannot name them",
            fix="issue this correction in Firmao by hand", code="correction_lines_mismatch")


def _corrected_line_pair(index: int, old: Line, new: Line | None, original: OriginalDocument | None,
                         basis: PriceBasis, lookups: Lookups) -> list[dict[str, Any]]:
    """The index-th original line before and after (a removed line: after with quantity 0)."""
    if original is None:
        base_id: int | str = LOOKED_UP_WHEN_SENT.format(f"line {index + 1} of the corrected document")
        product: int | str = folded_name(old, LINE_NAME_LENGTH) if priced(old).folded_because else old.name
    else:
        base_id, product = original.lines[index].entry_id, original.lines[index].product
    record_before, record_after = 2 * index + 1, 2 * index + 2
    return [{**_entry(old, product, basis, lookups), "baseEntryId": base_id, "recordId": record_before},
            {**_entry(new or old, product, basis, lookups, quantity=None if new else Decimal(0)),
             "recordId": record_after, "invalidRecordId": record_before}]


def _correction(plan: ExportPlan, lookups: Lookups) -> dict[str, Any]:
    """README: a correction restates each line of the original twice, "before" (baseEntryId = the
    original line's id, recordId = its number within this request) and "after" (invalidRecordId = the
    "before" recordId), with connectedDocNumber/connectedDocDate naming the original.

    Our lines before are the original's lines in their order (it was created from them), so the n-th
    line before is the original's n-th line; a line removed by the correction stays with quantity 0.
    Every line is restated, which both readings of the README allow (the fake's correction_lines switch)."""
    doc = plan.document
    assert doc.correction is not None and plan.corrected is not None
    before = doc.correction.lines_before
    after = {line.line_id: line for line in doc.lines}
    original = lookups.original
    _check_correctable(doc, before, original)
    entries = []
    for index, old in enumerate(before):
        entries += _corrected_line_pair(index, old, after.get(old.line_id), original, doc.price_basis, lookups)
    return {
        "connectedDocNumber": original.number if original else plan.corrected.number,
        "connectedDocDate": original.issue_date if original else LOOKED_UP_WHEN_SENT.format("its issue date"),
        "correctionCause": doc.correction.reason,
        "transactionEntries": entries,
    }
