"""A company's state and the validation of a document body into a stored document, totals included.

Totals are the fake's own computation, the way Romanian invoicing programs print them:

ASSUMPTION (Oblio's rounding is not documented): per line, price x quantity rounded half-up to the
document's ``precision``; with ``vatIncluded`` that amount is the gross and the net is
gross / (1 + rate) rounded, VAT = gross - net; without it the amount is the net and VAT = net x rate
rounded. The document total is the sum of the line grosses. The docs' invoice example (200 x 2 at
19 % net, 10 % discount) gives their collected value 428.4 this way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..common import FieldErrors, parse_boolish, parse_date, parse_decimal
from .vocabulary import (
    CLIENT_FIELDS,
    CLIENT_LOCATION_FIELDS,
    CLIENT_LOCATION_REQUIRED,
    COLLECT_FIELDS,
    COLLECT_TYPES,
    DISCOUNT_FIELDS,
    DISCOUNT_TYPES,
    DOCUMENT_FIELDS,
    DOCUMENT_TYPES,
    HEADER_TEXTS,
    PRODUCT_FIELDS,
    PRODUCT_TYPES,
    RECEIPT_SERIES_TYPE,
    REFERENCE_FIELDS,
    SPV_NOT_SENT,
    SPV_NOT_SENT_TEXT,
    county_ok,
    cui_is_valid,
    fail,
    fail_fields,
    is_blank,
    is_romanian,
    normalize_cif,
)

# --------------------------------------------------------------------------- state


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))


@dataclass
class Series:
    type: str  # "Factura", "Proforma", "Aviz", "Chitanta"
    name: str
    start: int = 1
    next: int = 1
    width: int = 4  # docs: "0001", "0053"
    default: bool = False

    def text(self, number: int) -> str:
        return str(number).zfill(self.width)


@dataclass
class Line:
    name: str
    quantity: Decimal
    price: Decimal  # unit price in the document's currency, gross when vat_included
    vat_name: str
    vat_percentage: Decimal
    vat_included: bool
    net: Decimal = Decimal(0)
    vat: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)
    code: str = ""
    description: str = ""
    measuring_unit: str = "buc"
    product_type: str | None = None
    management: str | None = None
    is_discount: bool = False

    def compute(self, precision: int) -> Line:
        step = Decimal(1).scaleb(-precision)
        amount = (self.price * self.quantity).quantize(step, ROUND_HALF_UP)
        rate = self.vat_percentage / 100
        if self.vat_included:
            self.gross, self.net = amount, (amount / (1 + rate)).quantize(step, ROUND_HALF_UP)
            self.vat = self.gross - self.net
        else:
            self.net, self.vat = amount, (amount * rate).quantize(step, ROUND_HALF_UP)
            self.gross = self.net + self.vat
        return self

    @property
    def basis(self) -> Decimal:
        """The line's value in the terms of its price (gross or net): what a discount takes from."""
        return self.gross if self.vat_included else self.net


@dataclass
class Collect:
    type: str
    number: str
    value: Decimal
    issue_date: str
    mentions: str = ""


@dataclass
class Document:
    kind: str  # "invoice", "proforma", "notice"
    series_name: str
    issue_date: date
    currency: str
    exchange_rate: Decimal | None
    precision: int
    language: str
    client: dict[str, Any]
    lines: list[Line]
    texts: dict[str, str]
    use_stock: bool = False
    due_date: date | None = None
    delivery_date: date | None = None
    collect_date: date | None = None
    idempotency_key: str | None = None
    reference: tuple[str, str, int] | None = None  # (type, series, number) the document was made from
    id: int = 0
    number: int = 0
    number_text: str = ""
    link_token: str = ""
    canceled: bool = False
    collects: list[Collect] = field(default_factory=list)
    reversed_by: int | None = None  # the storno invoice's id
    stock_taken: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (management, product, qty)
    spv_code: int = SPV_NOT_SENT
    spv_text: str = SPV_NOT_SENT_TEXT
    index_upload: str | None = None
    id_download: str | None = None
    spv_submissions: int = 0
    created_body: str = ""  # canonical JSON of the create body (idempotency comparisons)

    @property
    def type_name(self) -> str:
        return DOCUMENT_TYPES[self.kind]

    @property
    def total(self) -> Decimal:
        return _total(line.gross for line in self.lines)

    @property
    def net_total(self) -> Decimal:
        return _total(line.net for line in self.lines)

    @property
    def vat_total(self) -> Decimal:
        return _total(line.vat for line in self.lines)

    @property
    def collected_value(self) -> Decimal:
        return _total(collect.value for collect in self.collects)

    @property
    def collected(self) -> bool:
        """ASSUMPTION: collected once its collects cover the total (partial collects exist in Oblio)."""
        return bool(self.collects) and self.collected_value >= self.total


@dataclass
class Company:
    cif: str  # as registered, e.g. "RO37311090"
    name: str
    company_id: int  # the `ic` of its document links
    vat_payer: bool = True
    use_stock: bool = False
    user_type_access: str = "admin"
    vat_rates: list[dict[str, Any]] = field(default_factory=list)  # {"name", "percent", "default"}
    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    languages: list[dict[str, str]] = field(default_factory=list)
    managements: list[dict[str, str]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)  # catalogue, stock per management
    clients: list[dict[str, Any]] = field(default_factory=list)
    exchange_rates: dict[str, Decimal] = field(default_factory=dict)  # RON per unit (company settings)
    spv_configured: bool = True
    spv_auto_send: bool = False  # Setari > Preferinte "Trimite automat e-Factura in SPV"
    documents: dict[int, Document] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, key) -> document id

    def find(self, kind: str, series_name: str, number: int) -> Document | None:
        for document in self.documents.values():
            if (document.kind, document.series_name, document.number) == (kind, series_name, number):
                return document
        return None


@dataclass
class Draft:
    """A validated create request: the document plus what the server settles under its lock."""

    document: Document
    series: Series
    manual_number: int | None
    collect: dict[str, Any] | None
    source: Document | None  # the referenced document (storno, invoice from proforma/notice)
    refund: bool
    send_to_spv: bool


# --------------------------------------------------------------------------- readers

REFERENCE_KINDS = {name: kind for kind, name in DOCUMENT_TYPES.items()}


def read_json_object(body: bytes) -> dict[str, Any]:
    """docs: documents are sent "in forma RAW in format JSON". ASSUMPTION: whatever the Content-Type,
    since the docs' own curl example (`-d @invoice.json`, no header) sends form-urlencoded."""
    try:
        value = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        raise fail("Corpul cererii trebuie sa fie un obiect JSON valid") from None
    if not isinstance(value, dict):
        raise fail("Corpul cererii trebuie sa fie un obiect JSON valid")
    return value


def check_fields(errors: FieldErrors, where: str, values: dict[str, Any], allowed: frozenset[str]) -> None:
    """ASSUMPTION: an unknown or misspelt name is refused, not ignored (a strict fake's choice)."""
    for name in sorted(set(values) - allowed):
        errors.add(f"{where}{name}", "camp necunoscut")


def text_of(value: Any) -> str:
    """Texts may come as numbers (docs: "issuerId": 1234567890123)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        raise ValueError("trebuie sa fie text")
    return str(value).strip()


class _Reader:
    """Reads one object's fields into errors instead of raising at the first problem."""

    def __init__(self, errors: FieldErrors, where: str, values: dict[str, Any]):
        self.errors, self.where, self.values = errors, where, values

    def _read(self, name: str, parse: Callable[[Any], Any], default: Any, required: bool) -> Any:
        value = self.values.get(name)
        if is_blank(value):
            if required:
                self.errors.add(self.where + name, "este obligatoriu")
            return default
        try:
            return parse(value)
        except ValueError as problem:
            self.errors.add(self.where + name, f"valoare invalida ({problem})")
            return default

    def text(self, name: str, default: str = "", *, required: bool = False) -> str:
        return self._read(name, text_of, default, required)

    def flag(self, name: str, default: bool = False) -> bool:
        return self._read(name, parse_boolish, default, False)

    def number(self, name: str, default: Decimal | None = None, *, required: bool = False) -> Decimal | None:
        return self._read(name, parse_decimal, default, required)

    def day(self, name: str, default: date | None = None) -> date | None:
        return self._read(name, parse_date, default, False)

    def whole(self, name: str, default: int | None = None, *, required: bool = False) -> int | None:
        def parse(value: Any) -> int:
            number = parse_decimal(value)
            if number != number.to_integral_value():
                raise ValueError("trebuie sa fie numar intreg")
            return int(number)
        return self._read(name, parse, default, required)

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self.values.get(name)
        if is_blank(value):
            return None
        if not isinstance(value, dict):
            self.errors.add(self.where + name, "trebuie sa fie un obiect")
            return None
        return value


# --------------------------------------------------------------------------- the builder


class DocumentBuilder:
    """Turns a create body into a :class:`Draft`, or raises the 400 Oblio would answer."""

    def __init__(self, company: Company, kind: str, body: dict[str, Any], *, today: date,
                 require_county: bool, validate_cui: bool):
        self.company, self.kind, self.body, self.today = company, kind, body, today
        self.require_county, self.validate_cui = require_county, validate_cui
        self.errors = FieldErrors()

    def build(self) -> Draft:
        errors, read = self.errors, _Reader(self.errors, "", self.body)
        check_fields(errors, "", self.body, DOCUMENT_FIELDS)
        series = self._series(read)
        source, refund = self._reference(read)
        issue_date = read.day("issueDate", self.today)
        document = Document(
            kind=self.kind, series_name=series.name if series else "", issue_date=issue_date,
            due_date=read.day("dueDate"), delivery_date=read.day("deliveryDate"),
            collect_date=read.day("collectDate"), currency="RON", exchange_rate=None, precision=2,
            language=self._language(read), client={}, lines=[],
            texts={name: read.text(name) for name in HEADER_TEXTS},
            use_stock=self._use_stock(read), idempotency_key=read.text("idempotencyKey") or None,
        )
        document.texts["workStation"] = document.texts["workStation"] or "Sediu"  # docs default
        if document.due_date and document.due_date < issue_date:  # ASSUMPTION: refused
            errors.add("dueDate", "nu poate fi inaintea datei emiterii")
        self._client_location(read)
        if source is not None:
            self._copy_from(document, source)
        else:
            document.precision = read.whole("precision", 2)
            if not 2 <= document.precision <= 4:  # docs: "intre 2 si 4"
                errors.add("precision", "trebuie sa fie intre 2 si 4")
                document.precision = 2
            document.currency, document.exchange_rate = self._currency(read)
            client = read.mapping("client")
            if client is None:  # docs: client * (not needed when a reference document supplies it)
                errors.add("client", "este obligatoriu")
            else:
                document.client = self._client(client)
            document.lines = self._lines(document)
        manual_number = self._manual_number(read)
        collect = read.mapping("collect") if self.kind == "invoice" else None
        if collect is not None:
            check_collect(errors, self.company, collect)
        if errors:
            raise fail_fields(errors)
        return Draft(document=document, series=series, manual_number=manual_number, collect=collect,
                     source=source, refund=refund,
                     send_to_spv=self.kind == "invoice" and read.flag("spvExtern") and self.company.spv_auto_send)

    # ----------------------------------------------------------------- header

    def _series(self, read: _Reader) -> Series | None:
        name = read.text("seriesName", required=True)  # docs: seriesName *
        series = self.company.series.get((DOCUMENT_TYPES[self.kind], name))
        if name and series is None:
            self.errors.add("seriesName", f"seria {name!r} nu exista pentru {DOCUMENT_TYPES[self.kind]}")
        return series

    def _manual_number(self, read: _Reader) -> int | None:
        if not read.flag("disableAutoSeries"):
            if not is_blank(self.body.get("number")):  # ASSUMPTION: refused rather than ignored
                self.errors.add("number", "se trimite doar cu disableAutoSeries = 1")
            return None
        number = read.whole("number", required=True)
        if number is not None and number < 1:
            self.errors.add("number", "trebuie sa fie pozitiv")
        return number

    def _language(self, read: _Reader) -> str:
        language = read.text("language", "RO").upper()
        known = {"RO"} | {entry["code"] for entry in self.company.languages}
        if language not in known:
            self.errors.add("language", f"limba {language!r} nu exista in nomenclator")
        return language

    def _use_stock(self, read: _Reader) -> bool:
        # docs: notices default to useStock 1; ASSUMPTION: invoices default to 0.
        wanted = read.flag("useStock", self.kind == "notice")
        return wanted and self.company.use_stock  # docs: only "in cazul in care este activat stocul"

    def _currency(self, read: _Reader) -> tuple[str, Decimal | None]:
        currency = read.text("currency", "RON").upper()
        if len(currency) != 3 or not currency.isalpha():
            self.errors.add("currency", "trebuie sa fie un cod ISO 4217")
            return "RON", None
        rate = read.number("exchangeRate")
        if currency == "RON":
            return currency, None
        rate = rate if rate is not None else self.company.exchange_rates.get(currency)
        if rate is None:  # docs: default "cursul setat in setarile companiei"; none set here
            self.errors.add("exchangeRate", f"lipseste cursul pentru {currency}")
        elif rate <= 0:
            self.errors.add("exchangeRate", "trebuie sa fie pozitiv")
        return currency, rate

    def _client_location(self, read: _Reader) -> None:
        location = read.mapping("clientLocation")
        if location is not None:
            check_fields(self.errors, "clientLocation.", location, CLIENT_LOCATION_FIELDS)
            location_reader = _Reader(self.errors, "clientLocation.", location)
            for name in CLIENT_LOCATION_REQUIRED:  # docs: marked * in "Punct de Lucru Client"
                location_reader.text(name, required=True)

    # ----------------------------------------------------------------- reference document

    def _reference(self, read: _Reader) -> tuple[Document | None, bool]:
        reference = read.mapping("referenceDocument")
        if reference is None:
            return None, False
        check_fields(self.errors, "referenceDocument.", reference, REFERENCE_FIELDS)
        ref = _Reader(self.errors, "referenceDocument.", reference)
        type_name, series_name = ref.text("type", required=True), ref.text("seriesName", required=True)
        number, refund = ref.whole("number", required=True), ref.flag("refund")
        for name in ("client", "products"):  # ASSUMPTION: the reference supplies them; both is an error
            if not is_blank(self.body.get(name)):
                self.errors.add(name, "nu se trimite impreuna cu referenceDocument")
        kind = REFERENCE_KINDS.get(type_name)
        if type_name and kind is None:
            self.errors.add("referenceDocument.type", "trebuie sa fie Factura, Proforma sau Aviz")
        if kind is None or not series_name or number is None:
            return None, refund
        if kind == "invoice" and self.kind != "invoice":
            self.errors.add("referenceDocument.type", "doar o factura poate storna o factura")
            return None, refund
        source = self.company.find(kind, series_name, number)
        if source is None:
            self.errors.add("referenceDocument", f"documentul {type_name} {series_name} {number} nu exista")
        elif source.canceled:
            self.errors.add("referenceDocument", "documentul de referinta este anulat")
        elif kind == "invoice" and source.reversed_by is not None:  # ASSUMPTION: one storno per invoice
            self.errors.add("referenceDocument", "factura a fost deja stornata")
        return source, refund

    def _copy_from(self, document: Document, source: Document) -> None:
        """Storno (type Factura): the lines with negated quantities. Invoice from a proforma or
        notice: the same lines. ASSUMPTION: currency, rate and precision come with them."""
        sign = Decimal(-1) if source.kind == "invoice" else Decimal(1)
        document.client = dict(source.client)
        document.currency, document.exchange_rate, document.precision = (
            source.currency, source.exchange_rate, source.precision)
        document.lines = [
            Line(**{**vars(line), "quantity": line.quantity * sign}).compute(source.precision)
            for line in source.lines
        ]
        document.reference = (source.type_name, source.series_name, source.number)

    # ----------------------------------------------------------------- client

    def _client(self, client: dict[str, Any]) -> dict[str, Any]:
        check_fields(self.errors, "client.", client, CLIENT_FIELDS)
        read = _Reader(self.errors, "client.", client)
        stored = {name: read.text(name) for name in ("cif", "rc", "code", "address", "state", "city", "country",
                                                      "iban", "bank", "email", "phone", "contact")}
        stored["name"] = read.text("name", required=True)  # docs: name *
        stored["vatPayer"] = read.flag("vatPayer")
        read.flag("save"), read.flag("autocomplete")
        if is_romanian(stored["country"]):
            self._romanian_client(stored)
        return stored

    def _romanian_client(self, client: dict[str, Any]) -> None:
        cif = client["cif"]
        if cif and self.validate_cui:
            digits = normalize_cif(cif)
            # ASSUMPTION: a CUI with a wrong control digit is refused; a 13-digit CNP is not checked.
            if not (len(digits) == 13 and digits.isdigit()) and not cui_is_valid(digits):
                self.errors.add("client.cif", f"CIF-ul {cif!r} nu este valid")
        if self.require_county:
            # ASSUMPTION: the county is required for Romanian clients (e-Factura needs it; the docs
            # do not mark it required); names with or without diacritics.
            if not client["state"]:
                self.errors.add("client.state", "judetul este obligatoriu pentru clientii din Romania")
            elif not county_ok(client["state"]):
                self.errors.add("client.state", f"judetul {client['state']!r} nu exista")

    # ----------------------------------------------------------------- products and discounts

    def _lines(self, document: Document) -> list[Line]:
        products = self.body.get("products")
        if is_blank(products) or not isinstance(products, list):
            self.errors.add("products", "trebuie sa contina cel putin un produs")
            return []
        lines: list[Line] = []
        discounted: set[int] = set()  # ids of lines that already have their discount
        for position, item in enumerate(products):
            where = f"products[{position}]."
            if not isinstance(item, dict):
                self.errors.add(f"products[{position}]", "trebuie sa fie un obiect")
            elif "discount" in item and "price" not in item:
                lines.extend(self._discount(where, item, lines, discounted, document.precision))
            else:
                line = self._product(where, item, document)
                if line is not None:
                    lines.append(line.compute(document.precision))
        return lines

    def _product(self, where: str, item: dict[str, Any], document: Document) -> Line | None:
        check_fields(self.errors, where, item, PRODUCT_FIELDS)
        read = _Reader(self.errors, where, item)
        name, price = read.text("name", required=True), read.number("price", required=True)
        quantity = read.number("quantity", Decimal(1))
        if quantity == 0:  # ASSUMPTION: refused
            self.errors.add(where + "quantity", "nu poate fi 0")
        product_type = read.text("productType") or None
        if product_type and product_type not in PRODUCT_TYPES:
            self.errors.add(where + "productType", f"tip necunoscut {product_type!r}")
        vat = self._vat(where, read)
        for name_only in ("codeClient", "codeEAN", "nameTranslation", "measuringUnitTranslation"):
            read.text(name_only)
        read.flag("save")
        unit_price = self._in_document_currency(where, read, price, document)
        if price is None or quantity is None or vat is None or unit_price is None:
            return None
        return Line(name=name, quantity=quantity, price=unit_price, vat_name=vat["name"],
                    vat_percentage=vat["percent"], vat_included=read.flag("vatIncluded", True),
                    code=read.text("code"), description=read.text("description"),
                    measuring_unit=read.text("measuringUnit", "buc"), product_type=product_type,
                    management=read.text("management") or None)

    def _in_document_currency(self, where: str, read: _Reader, price: Decimal | None,
                              document: Document) -> Decimal | None:
        """ASSUMPTION: a product in another currency is converted with its exchangeRate (document
        currency per unit of the product's), else through the company's RON rates."""
        currency = read.text("currency", document.currency).upper()
        own_rate = read.number("exchangeRate")
        if price is None or currency == document.currency:
            return price
        if own_rate is not None:
            return price * own_rate
        rates = {**self.company.exchange_rates, "RON": Decimal(1)}
        document_rate = document.exchange_rate if document.currency != "RON" else Decimal(1)
        if currency not in rates or not document_rate:
            self.errors.add(where + "exchangeRate", f"lipseste cursul pentru {currency}")
            return None
        return price * rates[currency] / document_rate

    def _vat(self, where: str, read: _Reader) -> dict[str, Any] | None:
        """docs: vatName and vatPercentage "se gaseste in nomenclator cote TVA".

        ASSUMPTION: both given must match one rate; a percentage alone must be unambiguous (0 %
        belongs to SDD, SFDD and "Taxare inversa", so it needs the name); neither = the default rate.
        """
        name, percent = read.text("vatName"), read.number("vatPercentage")
        rates = self.company.vat_rates
        if name and percent is not None:
            found = [rate for rate in rates if rate["name"].lower() == name.lower() and rate["percent"] == percent]
        elif name:
            found = [rate for rate in rates if rate["name"].lower() == name.lower()]
        elif percent is not None:
            found = [rate for rate in rates if rate["percent"] == percent]
            if len(found) > 1:
                self.errors.add(where + "vatName", f"cota de {percent}% este ambigua, trimite vatName")
                return None
        else:
            found = [rate for rate in rates if rate["default"]]
        if not found:
            self.errors.add(where + "vatName", f"cota TVA {name or ''} {percent if percent is not None else ''}"
                            .strip() + " nu exista in nomenclator")
            return None
        return found[0]

    def _discount(self, where: str, item: dict[str, Any], lines: list[Line], discounted: set[int],
                  precision: int) -> list[Line]:
        """docs "Discounturi": a row after the product(s) it lowers. ASSUMPTION: each discounted line
        gets its own negative line at its VAT rate; a value discount is in the terms of the prices
        (gross when vatIncluded) and is split over several lines in proportion, the last taking the
        rounding rest; a line takes one discount, and no discount may exceed the line."""
        check_fields(self.errors, where, item, DISCOUNT_FIELDS)
        read = _Reader(self.errors, where, item)
        name, amount = read.text("name", required=True), read.number("discount", required=True)
        kind = read.text("discountType", "valoric")
        if kind not in DISCOUNT_TYPES:
            self.errors.add(where + "discountType", "trebuie sa fie procentual sau valoric")
            return []
        products = [line for line in lines if not line.is_discount]
        targets = ([line for line in products if id(line) not in discounted] if read.flag("discountAllAbove")
                   else products[-1:])
        if amount is None or not targets or any(id(line) in discounted for line in targets):
            if amount is not None:
                self.errors.add(where + "discount", "nu exista un produs fara discount deasupra")
            return []
        if amount <= 0 or (kind == "procentual" and amount > 100):
            self.errors.add(where + "discount", "valoare invalida")
            return []
        step = Decimal(1).scaleb(-precision)
        base = sum((line.basis for line in targets), Decimal(0))
        shares, left = [], amount
        for index, line in enumerate(targets):
            if kind == "procentual":
                share = (line.basis * amount / 100).quantize(step, ROUND_HALF_UP)
            elif index == len(targets) - 1:
                share = left
            else:
                share = (amount * line.basis / base).quantize(step, ROUND_HALF_UP) if base else Decimal(0)
                left -= share
            if abs(share) > abs(line.basis):
                self.errors.add(where + "discount", "discountul depaseste valoarea produsului")
                return []
            shares.append((line, share))
        discounted.update(id(line) for line in targets)
        return [Line(name=name, quantity=Decimal(1), price=-share, vat_name=line.vat_name,
                     vat_percentage=line.vat_percentage, vat_included=line.vat_included,
                     is_discount=True).compute(precision) for line, share in shares]


def check_collect(errors: FieldErrors, company: Company, collect: dict[str, Any]) -> None:
    """docs "Parametri incasare document" (on create and on PUT /docs/invoice/collect)."""
    check_fields(errors, "collect.", collect, COLLECT_FIELDS)
    read = _Reader(errors, "collect.", collect)
    kind = read.text("type", required=True)
    if kind and kind not in COLLECT_TYPES:
        errors.add("collect.type", f"tip de incasare necunoscut {kind!r}")
    if kind == RECEIPT_SERIES_TYPE:  # docs: a receipt series for "Chitanta", else documentNumber
        series = read.text("seriesName", required=True)
        if series and (RECEIPT_SERIES_TYPE, series) not in company.series:
            errors.add("collect.seriesName", f"seria de chitante {series!r} nu exista")
    elif kind:
        read.text("documentNumber", required=True)
    value = read.number("value")
    if value is not None and value <= 0:
        errors.add("collect.value", "trebuie sa fie pozitiva")
    read.day("issueDate"), read.text("mentions")
