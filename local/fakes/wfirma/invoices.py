"""Building a wFirma invoice: validation, the fake's own totals, and its PDF."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from local.fakes.common import (
    ISO_3166_ALPHA2,
    format_money,
    parse_date,
    parse_decimal,
    quantize_money,
    render_pdf,
)
from local.fakes.wfirma.vocabulary import (
    BAD_DATE,
    BAD_NIP,
    BLANK,
    CONTENT_FIELDS,
    CONTENT_READ_ONLY_FIELDS,
    CONTRACTOR_FIELDS,
    CONTRACTOR_TEXT_MAX,
    DESCRIPTION_MAX,
    DISPOSALDATE_FORMATS,
    EMAIL,
    EU_VAT,
    ID_EXTERNAL_MAX,
    INVALID,
    INVOICE_PASSIVE_FIELDS,
    INVOICE_READ_ONLY_FIELDS,
    INVOICE_REQUEST_FIELDS,
    INVOICE_TYPES,
    LINE_NAME_MAX,
    MISSING_RECORD,
    NO_RATE,
    NOT_MODELLED,
    NOT_POSITIVE,
    OTHER_INVOICE_TYPES,
    OWN_RATE_FIELDS,
    PAID_TOO_MUCH,
    PAYMENT_METHODS,
    PRICE_TYPES,
    READ_ONLY,
    SERIES_TYPE,
    TAX_ID_TYPES,
    TOO_LONG,
    TOO_MANY_DECIMALS,
    UNKNOWN,
    WfirmaCompany,
    _positive_int,
    _record_id,
    _Rejected,
    _StatusAnswer,
    nip_is_valid,
    numbered,
    unnumbered,
)

# --------------------------------------------------------------------------- building an invoice

if TYPE_CHECKING:  # only named in annotations: the server imports this module
    from local.fakes.wfirma.server import WfirmaFake


@dataclass
class _Content:
    """One validated line: its request form, VAT code and computed values."""

    source: dict[str, Any]
    vat_id: int
    rate: Decimal
    count: Decimal
    value: Decimal  # count x price (less the discount), rounded once, in the document's price basis
    good_id: int | None
    parent_id: int | None
    discount: Decimal = Decimal(0)  # discount_percent when the line's discount flag is on


class _InvoiceBuilder:
    """Validates one invoice request (collecting every error, like the API) and computes the
    stored invoice with wFirma's own totals."""

    def __init__(self, fake: WfirmaFake, company: WfirmaCompany, source: dict[str, Any], *,
                 editing: dict[str, Any] | None):
        self.fake = fake
        self.company = company
        self.source = source
        self.editing = editing
        self.errors = _Rejected()

    def build(self) -> dict[str, Any]:
        src = self.source
        for name in src:
            if name in INVOICE_READ_ONLY_FIELDS:
                self.errors.add((), name, READ_ONLY)
            elif name not in INVOICE_REQUEST_FIELDS and name not in OWN_RATE_FIELDS:
                self.errors.add((), name, UNKNOWN)
        invoice_type = self._choice("type", INVOICE_TYPES, default="normal")
        issued = self._date("date", default=self.fake.today().isoformat())
        price_type = self._choice("price_type", PRICE_TYPES, default="netto")  # ASSUMPTION: default
        currency = self._currency()
        own_rate = self._own_rate(currency)
        invoice: dict[str, Any] = {
            "type": invoice_type,
            "date": issued,
            "disposaldate": self._date("disposaldate", default=issued),
            "disposaldate_format": self._choice("disposaldate_format", DISPOSALDATE_FORMATS, default="date"),
            # ASSUMPTION: without a method or term the account defaults apply: transfer, due on issue.
            "paymentmethod": self._choice("paymentmethod", PAYMENT_METHODS, default="transfer"),
            "paymentdate": self._date("paymentdate", default=issued),
            "currency": currency,
            "price_type": price_type,
            "id_external": self._text("id_external", limit=ID_EXTERNAL_MAX),
            "description": self._text("description", limit=DESCRIPTION_MAX),
            "series": {"id": str(self._series(invoice_type))},
            "parent_id": "0",
            "contractor_detail": self._contractor(),
        }
        if "number" in src and _positive_int(src["number"]) is None:
            self.errors.add((), "number", INVALID)
        for name in INVOICE_PASSIVE_FIELDS & src.keys():
            invoice[name] = src[name]
        parent = self._parent(invoice_type)
        contents = self._contents(invoice_type, parent)
        if self.errors:
            raise self.errors
        invoice["invoicecontents"] = numbered(self._rendered_contents(contents, price_type), "invoicecontent")
        net, tax = self._totals(self._after_correction(contents, parent), price_type)
        if parent is not None:
            # ASSUMPTION: a correction's totals are the difference, after minus before.
            invoice["parent_id"] = str(parent["id"])
            before_net, before_tax = self._totals(self._parent_contents(parent), price_type)
            net, tax = net - before_net, tax - before_tax
        total = net + tax
        invoice.update(netto=format_money(net), tax=format_money(tax), total=format_money(total))
        self._payment(invoice, total)
        self._exchange(invoice, own_rate)
        invoice["contractor"] = {"id": str(self.fake._new_id())}  # ASSUMPTION: inline buyer becomes a contractor
        return invoice

    # ----------------------------------------------------------------- header values

    def _choice(self, name: str, allowed: frozenset[str], *, default: str) -> str:
        value = self.source.get(name, default)
        if value not in allowed:
            self.errors.add((), name, NOT_MODELLED if name == "type" and value in OTHER_INVOICE_TYPES else INVALID)
            return default
        return value

    def _date(self, name: str, *, default: str) -> str:
        value = self.source.get(name, default)
        try:
            return parse_date(value).isoformat()
        except ValueError:
            self.errors.add((), name, BAD_DATE)
            return default

    def _text(self, name: str, *, limit: int | None) -> str:
        value = self.source.get(name, "")
        if not isinstance(value, str):
            self.errors.add((), name, INVALID)
            return ""
        if limit is not None and len(value) > limit:
            self.errors.add((), name, TOO_LONG.format(limit=limit))
        return value

    def _currency(self) -> str:
        currency = self.source.get("currency", "PLN")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            self.errors.add((), "currency", INVALID)
            return "PLN"
        if currency != "PLN" and currency not in self.fake.exchange_rates:
            self.errors.add((), "currency", NO_RATE)
        return currency

    def _series(self, invoice_type: str) -> int:
        if "series" not in self.source:
            return self.company.default_series(invoice_type)
        series_id = _record_id(self.source["series"])
        series = self.company.series.get(series_id or 0)
        if series is None:
            self.errors.add((), "series", MISSING_RECORD)
            return self.company.default_series(invoice_type)
        if series["type"] != invoice_type:
            # ASSUMPTION: a series serves one document type (series have a "type" field).
            self.errors.add((), "series", SERIES_TYPE.format(type=series["type"]))
        return series["id"]

    def _contractor(self) -> dict[str, Any]:
        contractor = self.source.get("contractor")
        record = ("contractor",)
        if not isinstance(contractor, dict):
            self.errors.add((), "contractor", BLANK)
            return {}
        for name in contractor.keys() - CONTRACTOR_FIELDS:
            self.errors.add(record, name, UNKNOWN)
        if "id" in contractor:
            self.errors.add(record, "id", NOT_MODELLED)  # linking a stored contractor
        detail = {name: contractor.get(name, "") for name in sorted(CONTRACTOR_FIELDS - {"id"})}
        for name, text in detail.items():
            if not isinstance(text, str):
                self.errors.add(record, name, INVALID)
                detail[name] = ""
        # Documented example: name, street, zip and city may not be blank.
        for name in ("name", "street", "zip", "city"):
            if not detail[name].strip():
                self.errors.add(record, name, BLANK)
        for name, limit in CONTRACTOR_TEXT_MAX.items():
            if len(detail[name]) > limit:
                self.errors.add(record, name, TOO_LONG.format(limit=limit))
        detail["country"] = detail["country"] or "PL"  # ASSUMPTION: the default country
        if detail["country"] not in ISO_3166_ALPHA2:
            self.errors.add(record, "country", INVALID)
        tax_id_type = detail["tax_id_type"] or ("nip" if detail["nip"] else "none")
        detail["tax_id_type"] = tax_id_type
        if tax_id_type not in TAX_ID_TYPES:
            self.errors.add(record, "tax_id_type", INVALID)
        elif tax_id_type == "nip" and not nip_is_valid(detail["nip"]):
            self.errors.add(record, "nip", BAD_NIP)  # the recurring "Invalid input data" cause
        elif tax_id_type == "vat" and not EU_VAT.fullmatch(detail["nip"]):
            self.errors.add(record, "nip", INVALID)  # ASSUMPTION: EU VAT numbers keep their prefix
        elif tax_id_type == "none" and detail["nip"]:
            self.errors.add(record, "nip", INVALID)  # ASSUMPTION
        if detail["country"] == "PL" and detail["zip"] and not re.fullmatch(r"\d{2}-\d{3}", detail["zip"]):
            self.errors.add(record, "zip", INVALID)  # ASSUMPTION: the Polish postal-code format
        if detail["email"] and not EMAIL.fullmatch(detail["email"]):
            self.errors.add(record, "email", INVALID)
        return detail

    def _parent(self, invoice_type: str) -> dict[str, Any] | None:
        """Documented: a correction names the corrected invoice in parent_id."""
        raw = self.source.get("parent_id")
        if invoice_type != "correction":
            if raw not in (None, "", "0", 0):
                self.errors.add((), "parent_id", INVALID)
            return None
        if self.editing is not None:
            return self.company.invoices.get(int(self.editing["parent_id"]))
        parent = self.company.invoices.get(_record_id(raw) or 0)
        if parent is None:
            self.errors.add((), "parent_id", BLANK if raw in (None, "") else MISSING_RECORD)
        elif parent["type"] == "correction":
            self.errors.add((), "parent_id", INVALID)  # ASSUMPTION: correct the invoice, not a correction
        return parent

    # ----------------------------------------------------------------- lines

    def _contents(self, invoice_type: str, parent: dict[str, Any] | None) -> list[_Content]:
        try:
            raw_contents = unnumbered(self.source.get("invoicecontents"), "invoicecontent")
        except _StatusAnswer:
            raw_contents = []
        if not raw_contents:
            self.errors.add((), "invoicecontents", BLANK)
            return []
        parent_ids = {int(e["invoicecontent"]["id"]) for e in parent["invoicecontents"].values()} if parent else set()
        contents = []
        for index, raw in enumerate(raw_contents):
            content = self._content(("invoicecontents", index), raw, invoice_type, parent_ids)
            if content is not None:
                contents.append(content)
        return contents

    def _content(self, record: tuple, raw: Any, invoice_type: str, parent_ids: set[int]) -> _Content | None:
        if not isinstance(raw, dict):
            self.errors.add(record, "invoicecontent", INVALID)
            return None
        for name in raw:
            if name in CONTENT_READ_ONLY_FIELDS:
                self.errors.add(record, name, READ_ONLY)
            elif name not in CONTENT_FIELDS:
                self.errors.add(record, name, UNKNOWN)
        if "unit_count" in raw:
            self.errors.add(record, "unit_count", NOT_MODELLED)
        discount = self._discount(record, raw)
        if not isinstance(raw.get("name"), str) or not raw["name"].strip():
            self.errors.add(record, "name", "Treść nie moze być pusta")  # documented (sic)
        elif len(raw["name"]) > LINE_NAME_MAX:
            self.errors.add(record, "name", TOO_LONG.format(limit=LINE_NAME_MAX))
        parent_id = _record_id(raw["parent_id"]) if raw.get("parent_id") not in (None, "", "0", 0) else None
        if parent_id is not None and parent_id not in parent_ids:
            self.errors.add(record, "parent_id", MISSING_RECORD)
        # A corrected line may drop to zero (a return); ASSUMPTION: other lines must be above zero.
        count = self._number(record, raw, "count", places=4, allow_zero=parent_id is not None)
        price = self._number(record, raw, "price", places=4, allow_zero=True)
        good_id = self._good(record, raw)
        vat_id = self._vat(record, raw, good_id)
        if count is None or price is None or vat_id is None or discount is None:
            return None
        # ASSUMPTION: a discounted line is count x price x (1 - discount_percent/100), rounded half-up
        # to the grosz once (the docs name the fields, not the rounding).
        return _Content(source=raw, vat_id=vat_id, rate=Decimal(self.company.vat_codes[vat_id]["rate"]),
                        count=count, value=quantize_money(count * price * (100 - discount) / 100),
                        good_id=good_id, parent_id=parent_id, discount=discount)

    def _discount(self, record: tuple, raw: dict[str, Any]) -> Decimal | None:
        """The line's discount percentage (0 without one); None after reporting an invalid one.
        Documented fields (W-SDK InvoicesContent.php): `discount` and `discount_percent`.
        ASSUMPTION: `discount` is the on/off flag ("1"/"0") and `discount_percent` a percentage from
        0 to 100 with at most 2 decimals, read only when the flag is on."""
        flag = raw.get("discount", "0")
        if flag not in ("0", "1", 0, 1, True, False):
            self.errors.add(record, "discount", INVALID)
            return None
        if flag in ("0", 0, False):
            return Decimal(0)
        try:
            percent = parse_decimal(raw.get("discount_percent"))
        except ValueError:
            self.errors.add(record, "discount_percent", BLANK if raw.get("discount_percent") in (None, "")
                            else INVALID)
            return None
        if percent != percent.quantize(Decimal("0.01")):
            self.errors.add(record, "discount_percent", TOO_MANY_DECIMALS.format(places=2))
            return None
        if not 0 <= percent <= 100:
            self.errors.add(record, "discount_percent", INVALID)
            return None
        return percent

    def _number(self, record: tuple, raw: dict[str, Any], name: str, *, places: int,
                allow_zero: bool) -> Decimal | None:
        """ASSUMPTION: count and price have at most 4 decimals (answers show counts as "4850.0000";
        wFirma lets an account price to 4 places)."""
        try:
            number = parse_decimal(raw.get(name))
        except ValueError:
            self.errors.add(record, name, BLANK if raw.get(name) in (None, "") else INVALID)
            return None
        if number.as_tuple().exponent < -places and number != number.quantize(Decimal(1).scaleb(-places)):
            self.errors.add(record, name, TOO_MANY_DECIMALS.format(places=places))
            return None
        if number < 0 or (number == 0 and not allow_zero):
            self.errors.add(record, name, NOT_POSITIVE)
            return None
        return number

    def _good(self, record: tuple, raw: dict[str, Any]) -> int | None:
        if raw.get("good") in (None, {"id": "0"}, {"id": 0}):
            return None
        good_id = _record_id(raw["good"])
        if good_id is None or good_id not in self.company.goods:
            self.errors.add(record, "good", MISSING_RECORD)
            return None
        return good_id

    def _vat(self, record: tuple, raw: dict[str, Any], good_id: int | None) -> int | None:
        """vat_code > id of this company; or the documented `vat` code string.

        Reported (dbojdo/wFirma PR 29): `vat` is ignored on a line linked to a good, which then
        takes the good's own VAT code; only vat_code.id sets the line's rate."""
        if "vat_code" in raw:
            vat_id = _record_id(raw["vat_code"])
            if vat_id is None or vat_id not in self.company.vat_codes:
                self.errors.add(record, "vat_code", MISSING_RECORD)
                return None
            return vat_id
        if good_id is not None:
            return int(self.company.goods[good_id]["vat_code"]["id"])
        code = raw.get("vat")
        for vat_id, vat_code in self.company.vat_codes.items():
            if vat_code["code"] and vat_code["country"] == "PL" and str(code).upper() == vat_code["code"]:
                return vat_id
        self.errors.add(record, "vat", BLANK if code in (None, "") else INVALID)
        return None

    def _parent_contents(self, parent: dict[str, Any]) -> list[_Content]:
        result = []
        for entry in parent["invoicecontents"].values():
            line = entry["invoicecontent"]
            vat_id = int(line["vat_code"]["id"])
            count = Decimal(line["count"])
            result.append(_Content(source=line, vat_id=vat_id, rate=Decimal(self.company.vat_codes[vat_id]["rate"]),
                                   count=count, value=quantize_money(count * Decimal(line["price"]) * (
                                       100 - Decimal(line.get("discount_percent", "0"))) / 100),
                                   good_id=None, parent_id=int(line["id"])))
        return result

    def _after_correction(self, contents: list[_Content], parent: dict[str, Any] | None) -> list[_Content]:
        """Documented: corrected lines state the value after correction; lines without parent_id
        are new. ASSUMPTION: parent lines the correction does not mention stay as they were."""
        if parent is None:
            return contents
        mentioned = {c.parent_id for c in contents if c.parent_id is not None}
        untouched = [c for c in self._parent_contents(parent) if c.parent_id not in mentioned]
        return untouched + contents

    def _rendered_contents(self, contents: list[_Content], price_type: str) -> list[dict[str, Any]]:
        rendered = []
        for content in contents:
            net, vat = _split(content.value, content.rate, price_type)
            raw = content.source
            rendered.append({
                "id": str(self.fake._new_id()), "name": raw["name"], "unit": raw.get("unit", "szt."),
                "count": f"{content.count:.4f}", "price": _price_text(parse_decimal(raw["price"])),
                "netto": format_money(net), "brutto": format_money(net + vat),
                "classification": raw.get("classification", ""),
                "vat_code": {"id": str(content.vat_id)}, "good": {"id": str(content.good_id or 0)},
                "parent_id": str(content.parent_id or 0),
                "discount": "1" if content.discount else "0", "discount_percent": f"{content.discount:.2f}",
            })
        return rendered

    def _totals(self, contents: list[_Content], price_type: str) -> tuple[Decimal, Decimal]:
        """ASSUMPTION (docs silent, the usual Polish method): VAT from the sum of the line values
        per VAT code, half-up to the grosz; lines are count x price rounded to the grosz."""
        by_code: dict[int, tuple[Decimal, Decimal]] = {}
        for content in contents:
            value, rate = by_code.get(content.vat_id, (Decimal("0.00"), content.rate))
            by_code[content.vat_id] = (value + content.value, rate)
        net = tax = Decimal("0.00")
        for value, rate in by_code.values():
            part_net, part_vat = _split(value, rate, price_type)
            net, tax = net + part_net, tax + part_vat
        return net, tax

    def _payment(self, invoice: dict[str, Any], total: Decimal) -> None:
        """alreadypaid_initial: what was paid when the document was issued (W-SDK)."""
        raw = self.source.get("alreadypaid_initial", "0")
        try:
            paid = parse_decimal(raw)
        except ValueError:
            self.errors.add((), "alreadypaid_initial", INVALID)
            raise self.errors from None
        if paid < 0 or paid > max(total, Decimal(0)) or paid != quantize_money(paid):
            self.errors.add((), "alreadypaid_initial", PAID_TOO_MUCH if paid > total else INVALID)
            raise self.errors
        remaining = max(total, Decimal(0)) - paid
        invoice.update(alreadypaid_initial=format_money(paid), alreadypaid=format_money(paid),
                       remaining=format_money(remaining),
                       paymentstate="paid" if remaining == 0 and total > 0 else "unpaid")

    def _own_rate(self, currency: str) -> tuple[str, str, str] | None:
        """(currency_exchange, currency_date, price_currency_exchange) as sent, when the fake honours
        them (OWN_RATE_FIELDS); None when none was sent or they are ignored. Refusals are collected.
        ASSUMPTION on the checks: a rate is a positive decimal(15,4) (the field list's type), the date
        a date, and both the VAT rate and its date come together, only on a foreign-currency invoice."""
        sent = [name for name in OWN_RATE_FIELDS if name in self.source]
        if not sent or self.fake.own_rate_fields == "ignored":
            return None
        if self.fake.own_rate_fields == "refused":
            for name in sent:
                self.errors.add((), name, READ_ONLY)
            return None
        if currency == "PLN":
            for name in sent:
                self.errors.add((), name, INVALID)
            return None
        rates = []
        for name in ("currency_exchange", "price_currency_exchange"):
            try:
                rate = parse_decimal(self.source.get(name, self.source.get("currency_exchange")))
            except ValueError:
                self.errors.add((), name, BLANK if self.source.get(name) in (None, "") else INVALID)
                continue
            if rate <= 0:
                self.errors.add((), name, NOT_POSITIVE)
            elif rate != rate.quantize(Decimal("0.0001")):
                self.errors.add((), name, TOO_MANY_DECIMALS.format(places=4))
            rates.append(f"{rate:.4f}")
        if "currency_date" not in self.source:
            self.errors.add((), "currency_date", BLANK)
        rate_date = self._date("currency_date", default=self.fake.today().isoformat())
        return (rates[0], rate_date, rates[1]) if len(rates) == 2 else None

    def _exchange(self, invoice: dict[str, Any], own: tuple[str, str, str] | None) -> None:
        """Our rate where the fake honours it (`own`); else ASSUMPTION: the NBP rate of the day before
        the issue date (art. 31a), as seeded."""
        if invoice["currency"] == "PLN":
            invoice.update(currency_exchange="1.0000", currency_date=invoice["date"], price_currency_exchange="1.0000")
            return
        if own is not None:
            invoice.update(zip(OWN_RATE_FIELDS, own, strict=True))
            return
        rate = f"{self.fake.exchange_rates[invoice['currency']]:.4f}"
        invoice.update(currency_exchange=rate, price_currency_exchange=rate,
                       currency_date=(date.fromisoformat(invoice["date"]) - timedelta(days=1)).isoformat())


def _price_text(price: Decimal) -> str:
    """A unit price as stored: two places at least, four at most ("0.20", "0.3333")."""
    return f"{price.quantize(Decimal('0.0001')).normalize():f}" if price != quantize_money(price) \
        else format_money(price)


def _split(value: Decimal, rate: Decimal, price_type: str) -> tuple[Decimal, Decimal]:
    """(net, vat) of a value given net (netto) or gross (brutto)."""
    if price_type == "brutto":
        vat = quantize_money(value * rate / (100 + rate))
        return value - vat, vat
    return value, quantize_money(value * rate / 100)


# --------------------------------------------------------------------------- PDF


def _invoice_pdf(company: WfirmaCompany, invoice: dict[str, Any], options: dict[str, str]) -> bytes:
    titles = {"normal": "Faktura VAT", "receipt_normal": "Paragon", "correction": "Faktura korygujaca"}
    buyer = invoice["contractor_detail"]
    currency = invoice["currency"]
    lines = [
        "DUPLIKAT" if options.get("duplicate") == "1" else
        {"invoiceCopy": "KOPIA", "all": "ORYGINAL / KOPIA"}.get(options.get("page", ""), "ORYGINAL"),
        f"Numer: {invoice['fullnumber']}",
        f"Data wystawienia: {invoice['date']}   Data sprzedazy: {invoice['disposaldate']}",
        f"Sprzedawca: {company.name} NIP {company.nip}",
        f"Nabywca: {buyer['name']} {buyer['tax_id_type'].upper()} {buyer['nip'] or '-'}",
        f"{buyer['street']}, {buyer['zip']} {buyer['city']} {buyer['country']}",
    ]
    if invoice["type"] == "correction":
        original = company.invoices.get(int(invoice["parent_id"]))
        lines.append(f"Korekta do: {original['fullnumber'] if original else '?'}")
    lines.append("")
    for index, entry in enumerate(invoice["invoicecontents"].values(), start=1):
        content = entry["invoicecontent"]
        code = company.vat_codes[int(content["vat_code"]["id"])]["code"]
        lines.append(f"{index}. {content['name']} | {content['count']} {content['unit']} x {content['price']}"
                     f" | VAT {code} | netto {content['netto']} | brutto {content['brutto']} {currency}")
    lines += [
        "",
        f"Razem netto: {invoice['netto']} {currency}",
        f"VAT: {invoice['tax']} {currency}",
        f"Razem brutto: {invoice['total']} {currency}",
        f"Zaplacono: {invoice['alreadypaid']}   Pozostalo: {invoice['remaining']}",
        f"Sposob platnosci: {invoice['paymentmethod']}   Termin: {invoice['paymentdate']}",
    ]
    if currency != "PLN":
        lines.append(f"Kurs {currency}: {invoice['currency_exchange']} z dnia {invoice['currency_date']}")
    if invoice["description"]:
        lines.append(f"Uwagi: {invoice['description']}")
    return render_pdf(f"{titles.get(invoice['type'], 'Dokument')} {invoice['fullnumber']}", lines)
