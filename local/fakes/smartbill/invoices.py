"""POST /invoice: the body checked the way SmartBill checks it, and the document SmartBill would store.

SmartBill answers one error at a time (``errorText`` is a single message, SPEC), so checks run in
order and the first failure is raised as :class:`ApiError`. Totals are the fake's own computation,
never taken from the request.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..common import parse_date, quantize_money
from .model import (
    ANAF_ADDRESS,
    ANAF_COUNTY,
    ANAF_SECTOR,
    ANAF_VAT_CODE,
    ANAF_VAT_CODE_MISSING,
    BAD_DATE,
    BOOLEAN_FIELDS,
    BUCHAREST_SECTOR,
    CLIENT_INVALID,
    CLIENT_REQUIRED,
    CURRENCY_NOT_FOUND,
    DESCRIPTION_TOO_LONG,
    DISCOUNT_BY_PERCENT,
    DISCOUNT_BY_VALUE,
    DISCOUNT_FIELD_REQUIRED,
    DISCOUNT_ITEMS_INVALID,
    DISCOUNT_TAX_REQUIRED,
    DISCOUNT_VALUE_NOT_NEGATIVE,
    EXCHANGE_RATE_INVALID,
    FOREIGN_INVOICE_MIXED,
    FOREIGN_PRICES_OFF,
    INTEGER_FIELDS,
    LANGUAGE_NOT_FOUND,
    MAX_DESCRIPTION_CHARS,
    MAX_DESCRIPTION_LINES,
    MAX_ENTRIES,
    NESTED_OBJECTS,
    NEVER_PURCHASED,
    NO_EXCHANGE_RATE,
    NO_PRODUCTS,
    NOT_MODELLED,
    NUMBER_FIELDS,
    ONLY_DISCOUNTS,
    PAYMENT_FIELD_REQUIRED,
    PAYMENT_TAX_NOT_VAT_PAYER,
    PAYMENT_TYPE_NOT_FOUND,
    PAYMENT_TYPES,
    PRODUCT_CODE_REQUIRED,
    PRODUCT_FIELD_REQUIRED,
    PRODUCT_FIELDS,
    RECEIPT_SERIES_NOT_FOUND,
    ROMANIA_NAMES,
    SERIES_NOT_FOUND,
    STOCK_MODULE_OFF,
    STOCK_SHORT_ON_ISSUE,
    STRING_FIELDS,
    TAX_NOT_FOUND,
    TAX_REQUIRED,
    TOO_MANY_ENTRIES,
    UNIT_WITHOUT_CONVERSION,
    UNKNOWN_FIELD,
    WAREHOUSE_NOT_FOUND,
    WAREHOUSE_NOT_SET,
    WRONG_TYPE,
    ZERO_RATE_DEFAULT_TAX,
    Company,
    Series,
    StockItem,
    Tax,
    format_number,
    is_acceptable_client_code,
    is_romanian_county,
    plain,
)

RON = "RON"


class ApiError(Exception):
    """SmartBill's error answer: one ``errorText`` and an HTTP status (400 unless said otherwise)."""

    def __init__(self, text: str, status: int = 400):
        super().__init__(text)
        self.text = text
        self.status = status


def not_modelled(what: str) -> ApiError:
    """A documented feature the fake does not model: refused loudly (501), never silently ignored."""
    return ApiError(NOT_MODELLED.format(what=what), 501)


# --------------------------------------------------------------------------- shape and types


def check_shape(obj: Any, allowed: frozenset[str], cls: str, *, refuse_unknown: bool) -> None:
    """Field names and JSON types, recursively, as the deserializer sees them before any rule runs.

    ASSUMPTION: an unknown (e.g. misspelt) field is refused, as Jackson does by default; whether
    SmartBill's server ignores unknown properties is undocumented (``refuse_unknown=False`` models
    that reading). ``null`` is accepted anywhere and means "absent": the SPEC's own examples send
    nulls for unused fields.
    ASSUMPTION: numbers must be JSON numbers and booleans true/false or 1/0 (the SPEC's types and
    its boolean rule); a numeric string such as "10.5" is refused, though Jackson could coerce it.
    """
    if not isinstance(obj, dict):
        raise ApiError(WRONG_TYPE.format(type=cls, value=_json_kind(obj), field=cls))
    nested = NESTED_OBJECTS if cls == "Invoice" else {}  # a client's "email" is a string, the invoice's an object
    for name, value in obj.items():
        if name not in allowed:
            if refuse_unknown:
                raise ApiError(UNKNOWN_FIELD.format(field=name, cls=cls))
            continue
        if value is None or name == "ecommercePluginInfo":
            continue
        if name in nested:
            nested_cls, nested_fields = nested[name]
            check_shape(value, nested_fields, nested_cls, refuse_unknown=refuse_unknown)
        elif name == "products":
            if not isinstance(value, list):
                raise ApiError(WRONG_TYPE.format(type="List<Product>", value=_json_kind(value), field=name))
            for product in value:
                check_shape(product, PRODUCT_FIELDS, "Product", refuse_unknown=refuse_unknown)
        else:
            _check_type(name, value)


def _check_type(name: str, value: Any) -> None:
    expected = None
    if name in STRING_FIELDS and not isinstance(value, str):
        expected = "java.lang.String"
    elif name in BOOLEAN_FIELDS and not (isinstance(value, bool) or (type(value) is int and value in (0, 1))):
        expected = "boolean"
    elif name in NUMBER_FIELDS and (isinstance(value, bool) or not isinstance(value, (int, Decimal))):
        expected = "double"
    elif name in INTEGER_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
        expected = "int"
    if expected:
        raise ApiError(WRONG_TYPE.format(type=expected, value=_json_kind(value), field=name))


def _json_kind(value: Any) -> str:
    if isinstance(value, str):
        return f'String "{value}"'
    return {dict: "Object value", list: "Array value", bool: "Boolean value"}.get(type(value), f"value {value}")


def text_of(obj: dict[str, Any], name: str) -> str:
    """A string field, '' when absent or null (types were checked by check_shape)."""
    value = obj.get(name)
    return value.strip() if isinstance(value, str) else ""


def flag(obj: dict[str, Any], name: str, default: bool = False) -> bool:
    value = obj.get(name)
    return default if value is None else bool(value)


def number_of(obj: dict[str, Any], name: str) -> Decimal | None:
    value = obj.get(name)
    return None if value is None else Decimal(value)


def date_of(obj: dict[str, Any], name: str) -> date | None:
    value = text_of(obj, name)
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError:
        raise ApiError(BAD_DATE) from None


# --------------------------------------------------------------------------- amounts


def round_to(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def line_amounts(quantity: Decimal, price: Decimal, rate: Decimal | None, tax_included: bool) -> tuple[
        Decimal, Decimal, Decimal]:
    """(net, vat, gross) of one entry, each rounded half-up to 0.01.

    SPEC "Folosirea cotelor TVA": with isTaxIncluded the VAT is extracted from the price
    (TVA = price - price / (1 + p%)), otherwise it is added (TVA = price * p%).
    ASSUMPTION: VAT is computed and rounded per entry (the SPEC's formula is per product); a firm
    that is no VAT payer (rate None) shows no VAT. The half-up rounding is undocumented.
    """
    value = quantize_money(quantity * price)
    if rate is None:
        return value, Decimal("0.00"), value
    if tax_included:
        vat = quantize_money(value * rate / (100 + rate))
        return value - vat, vat, value
    vat = quantize_money(value * rate / 100)
    return value, vat, value + vat


@dataclass
class Entry:
    """One product or discount entry of the document, in the invoice's currency."""

    position: int
    source: dict[str, Any]
    is_discount: bool
    price: Decimal
    quantity: Decimal
    tax: Tax | None
    tax_included: bool
    net: Decimal
    vat: Decimal
    gross: Decimal

    def as_stored(self) -> dict[str, Any]:
        return {
            "position": self.position, "name": text_of(self.source, "name"), "code": text_of(self.source, "code"),
            "isDiscount": self.is_discount, "isService": flag(self.source, "isService"),
            "measuringUnitName": text_of(self.source, "measuringUnitName"),
            "productCurrency": text_of(self.source, "currency"), "quantity": self.quantity, "price": self.price,
            "isTaxIncluded": self.tax_included, "taxName": self.tax.name if self.tax else None,
            "taxPercentage": self.tax.percentage if self.tax else None,
            "net": self.net, "vat": self.vat, "gross": self.gross,
            "warehouseName": text_of(self.source, "warehouseName"),
        }


# --------------------------------------------------------------------------- the builder


class InvoiceBuilder:
    """Checks one POST /invoice body against one firm and computes the document it stands for.

    Nothing is changed here: :meth:`build` returns the document (without its number), and
    ``stock_moves`` / ``receipt_series`` tell the caller what to apply when it stores it.
    """

    def __init__(self, company: Company, body: dict[str, Any], *, today: date,
                 exchange_rates: dict[str, Decimal], anaf_checks: bool, stock_by_code: bool = True):
        self.company = company
        self.stock_by_code = stock_by_code
        self.body = body
        self.today = today
        self.exchange_rates = exchange_rates
        self.anaf_checks = anaf_checks
        self.stock_moves: list[tuple[tuple[str, str, str], Decimal]] = []
        self.receipt_series: Series | None = None
        self.series: Series | None = None

    def build(self) -> dict[str, Any]:
        body = self.body
        if flag(body, "useEstimateDetails") or body.get("estimate") is not None:
            raise not_modelled("Invoicing from a proforma (useEstimateDetails / estimate)")
        if flag(body, "usePaymentTax") and not self.company.vat_payer:
            raise ApiError(PAYMENT_TAX_NOT_VAT_PAYER)
        issue_date = date_of(body, "issueDate") or self.today  # SPEC: default "data curenta"
        other_dates = {name: date_of(body, name) for name in ("dueDate", "deliveryDate", "paymentDate")}
        series = self.series = self._series()
        client = self._client()
        currency, exchange_rate = self._currency()
        language = text_of(body, "language") or "RO"
        if language.upper() not in self.company.languages:
            raise ApiError(LANGUAGE_NOT_FOUND)
        # SPEC: "valori suportate: 2, 3, 4; daca se adauga o valoare mai mare de 4, valoarea se limiteaza
        # automat la 4". ASSUMPTION: below 2 it is raised to 2 the same way.
        precision = min(max(body.get("precision") or 2, 2), 4)
        entries = self._entries(currency, precision, issue_date)
        net, vat, gross = (sum((getattr(entry, part) for entry in entries), Decimal("0.00"))
                           for part in ("net", "vat", "gross"))
        payments = self._payments()
        return {
            "series": series.name, "number": None, "status": "emisa", "isDraft": flag(body, "isDraft"),
            "issueDate": issue_date, **other_dates, "client": client, "currency": currency,
            "exchangeRate": exchange_rate, "language": language.upper(), "precision": precision,
            "mentions": text_of(body, "mentions"), "observations": text_of(body, "observations"),
            "lines": [entry.as_stored() for entry in entries], "net": net, "vat": vat, "total": gross,
            # ASSUMPTION: the RON equivalent is the total at the document's rate, rounded to 0.01.
            "totalRon": gross if currency == RON else quantize_money(gross * exchange_rate),
            "payments": payments, "paid": sum((p["value"] for p in payments), Decimal("0.00")),
            "useStock": flag(body, "useStock"), "stockMoves": list(self.stock_moves),
            "storno": False, "reverses": None, "reversedBy": [], "request": copy.deepcopy(body),
        }

    # ----------------------------------------------------------------- header

    def _series(self) -> Series:
        name = text_of(self.body, "seriesName")
        # SPEC: "default: seria implicita setata in contul Cloud". ASSUMPTION: series names are exact.
        series = self.company.series.get(name) if name else self.company.default_series("f")
        if series is None or series.type != "f":
            raise ApiError(SERIES_NOT_FOUND)
        return series

    def _client(self) -> dict[str, Any]:
        client = self.body.get("client")
        if client is None:
            raise ApiError(CLIENT_REQUIRED)
        if not text_of(client, "name"):
            raise ApiError(CLIENT_INVALID)
        if self.anaf_checks and plain(text_of(client, "country")) in ROMANIA_NAMES:
            self._check_anaf_conditions(client)
        return copy.deepcopy(client)

    @staticmethod
    def _check_anaf_conditions(client: dict[str, Any]) -> None:
        """The SPEC lists these as the conditions for ANAF (e-Factura) to accept the invoice, not as
        API errors; SmartBill's own POSTMAN sends county "Cluj-Napoca" (a city). ASSUMPTION: the API
        refuses them (strict default; ``SmartBillFake(anaf_checks=False)`` models the other reading)."""
        if not text_of(client, "address") or not text_of(client, "city"):
            raise ApiError(ANAF_ADDRESS)
        county = text_of(client, "county")
        if not is_romanian_county(county):
            raise ApiError(ANAF_COUNTY.format(county=county))
        if plain(county) == "bucuresti" and not BUCHAREST_SECTOR.fullmatch(text_of(client, "city")):
            raise ApiError(ANAF_SECTOR)
        code = text_of(client, "vatCode")
        if not code:  # "sa fie completat": a person without a CNP sends "-" or 0
            raise ApiError(ANAF_VAT_CODE_MISSING)
        if not is_acceptable_client_code(code):
            raise ApiError(ANAF_VAT_CODE.format(code=code))

    def _currency(self) -> tuple[str, Decimal]:
        currency = (text_of(self.body, "currency") or RON).upper()  # SPEC: default RON
        if currency not in self.company.currencies:
            raise ApiError(CURRENCY_NOT_FOUND)
        if currency == RON:
            return RON, Decimal(1)  # ASSUMPTION: an exchangeRate sent with RON is ignored
        return currency, self._rate(currency, number_of(self.body, "exchangeRate"))

    def _rate(self, currency: str, sent: Decimal | None) -> Decimal:
        """SPEC: the rate sent, else "cursul valutar preluat de pe internet" (POSTMAN: the BNR rate of the
        day); the fake's BNR rates are SmartBillFake.exchange_rates."""
        if sent is not None:
            if sent <= 0:
                raise ApiError(EXCHANGE_RATE_INVALID)
            return sent
        if currency not in self.exchange_rates:
            raise ApiError(NO_EXCHANGE_RATE.format(currency=currency))
        return self.exchange_rates[currency]

    # ----------------------------------------------------------------- entries

    def _entries(self, currency: str, precision: int, issue_date: date) -> list[Entry]:
        products = self.body.get("products") or []
        if not products:
            raise ApiError(NO_PRODUCTS)
        if len(products) > MAX_ENTRIES:
            raise ApiError(TOO_MANY_ENTRIES)
        if all(flag(product, "isDiscount") for product in products):
            raise ApiError(ONLY_DISCOUNTS)
        entries: list[Entry] = []
        for position, product in enumerate(products, start=1):
            if flag(product, "isDiscount"):
                entries.append(self._discount(position, product, entries, currency))
            else:
                entries.append(self._product(position, product, currency, precision))
        if flag(self.body, "useStock"):
            self._plan_stock(products, issue_date)
        return entries

    def _product(self, position: int, product: dict[str, Any], currency: str, precision: int) -> Entry:
        for name in ("name", "measuringUnitName", "currency"):
            if not text_of(product, name):
                raise ApiError(PRODUCT_FIELD_REQUIRED.format(field=name))
        for name in ("quantity", "price"):
            if product.get(name) is None:
                raise ApiError(PRODUCT_FIELD_REQUIRED.format(field=name))
        name = text_of(product, "name")
        if self.company.uses_product_codes and not text_of(product, "code"):
            raise ApiError(PRODUCT_CODE_REQUIRED.format(name=name))
        description = text_of(product, "productDescription")
        if len(description) > MAX_DESCRIPTION_CHARS or description.count("\n") >= MAX_DESCRIPTION_LINES:
            raise ApiError(DESCRIPTION_TOO_LONG.format(name=name))
        conversion = self._conversion(product, currency)
        # ASSUMPTION: `precision` is the number of decimals of the unit price on the document; amounts
        # (line values, VAT, totals) are always rounded to 0.01.
        price = round_to(number_of(product, "price") * conversion, precision)
        quantity = number_of(product, "quantity")
        tax = self._tax(product, name)
        included = flag(product, "isTaxIncluded")  # SPEC: default false
        net, vat, gross = line_amounts(quantity, price, tax.percentage if tax else None, included)
        return Entry(position, product, False, price, quantity, tax, included, net, vat, gross)

    def _conversion(self, product: dict[str, Any], currency: str) -> Decimal:
        """The factor from the product's price currency to the invoice's (SPEC, "Emitere factura pentru
        produse cu pretul de referinta in valuta")."""
        product_currency = text_of(product, "currency").upper()
        if product_currency not in self.company.currencies:
            raise ApiError(CURRENCY_NOT_FOUND)
        if product_currency == currency:
            return Decimal(1)
        if currency != RON:
            raise ApiError(FOREIGN_INVOICE_MIXED.format(invoice=currency, product=product_currency))
        if not self.company.foreign_reference_prices:
            raise ApiError(FOREIGN_PRICES_OFF)
        # The SPEC says both that the product's exchangeRate sets the conversion and (ATENTIE) that it is
        # not taken into account for products priced in a foreign currency. ASSUMPTION: it is used
        # when sent (POSTMAN's wording), else the BNR rate.
        return self._rate(product_currency, number_of(product, "exchangeRate"))

    def _tax(self, entry: dict[str, Any], name: str) -> Tax | None:
        """The account's VAT rate for an entry; None for a firm that is no VAT payer (SPEC: VAT fields
        are not needed and not taken into account there).

        SPEC: taxName + taxPercentage must be a combination defined in the account (GET /tax), and a 0 %
        entry without taxName is "0% TVA Inclus". ASSUMPTION: taxName alone picks that rate; a
        percentage alone picks the one rate with that percentage."""
        if not self.company.vat_payer:
            return None
        tax_name = text_of(entry, "taxName")
        percentage = number_of(entry, "taxPercentage")
        if not tax_name and percentage is None:
            raise ApiError(TAX_REQUIRED.format(name=name))
        if not tax_name and percentage == 0:
            tax_name = ZERO_RATE_DEFAULT_TAX
        candidates = [tax for tax in self.company.taxes if (not tax_name or tax.name == tax_name)
                      and (percentage is None or tax.percentage == percentage)]
        if len(candidates) != 1:
            raise ApiError(TAX_NOT_FOUND.format(name=name))
        return candidates[0]

    def _discount(self, position: int, discount: dict[str, Any], before: list[Entry], currency: str) -> Entry:
        """SPEC "Aplicarea unui discount": the entry covers the ``numberOfItems`` entries right before
        it (products or discounts); type 1 is a (negative) value, type 2 a percentage, and any other
        type counts as 1. ASSUMPTION: a percentage applies to the covered entries' gross amounts when
        the discount has isTaxIncluded, else to their net amounts; the discount is one entry of
        quantity 1 carrying the covered entries' VAT rate (or its own when they differ)."""
        # ASSUMPTION: a missing numberOfItems is worded like the other required fields.
        for name in ("name", "numberOfItems", "measuringUnitName", "currency"):
            if discount.get(name) in (None, ""):
                raise ApiError(PRODUCT_FIELD_REQUIRED.format(field=name))
        name = text_of(discount, "name")
        covered_count = discount["numberOfItems"]
        if not 1 <= covered_count <= len(before):
            raise ApiError(DISCOUNT_ITEMS_INVALID.format(name=name))
        covered = before[-covered_count:]
        tax = self._discount_tax(discount, name, covered)
        included = flag(discount, "isTaxIncluded")
        kind = discount.get("discountType") or DISCOUNT_BY_PERCENT
        if kind != DISCOUNT_BY_PERCENT:
            kind = DISCOUNT_BY_VALUE
        if kind == DISCOUNT_BY_PERCENT:
            percent = number_of(discount, "discountPercentage")
            if percent is None:
                raise ApiError(DISCOUNT_FIELD_REQUIRED.format(field="discountPercentage"))
            base = sum((entry.gross if included else entry.net for entry in covered), Decimal(0))
            amount = quantize_money(-base * percent / 100)
        else:
            value = number_of(discount, "discountValue")
            if value is None:
                raise ApiError(DISCOUNT_FIELD_REQUIRED.format(field="discountValue"))
            if value >= 0:
                raise ApiError(DISCOUNT_VALUE_NOT_NEGATIVE)
            amount = quantize_money(value * self._conversion(discount, currency))
        net, vat, gross = line_amounts(Decimal(1), amount, tax.percentage if tax else None, included)
        return Entry(position, discount, True, amount, Decimal(1), tax, included, net, vat, gross)

    def _discount_tax(self, discount: dict[str, Any], name: str, covered: list[Entry]) -> Tax | None:
        if not self.company.vat_payer:
            return None
        if discount.get("taxName") is not None or discount.get("taxPercentage") is not None:
            return self._tax(discount, name)
        rates = {(entry.tax.name, entry.tax.percentage) for entry in covered if entry.tax}
        if len(rates) != 1:
            raise ApiError(DISCOUNT_TAX_REQUIRED)
        return covered[0].tax

    # ----------------------------------------------------------------- stock and payment

    def _plan_stock(self, products: list[dict[str, Any]], issue_date: date) -> None:
        """SPEC "Emitere factura cu descarcarea gestiunii": useStock takes each product (not services)
        out of its warehouseName; the unit must be the one the stock was loaded with. All lines are
        checked before anything moves (ASSUMPTION: a refused invoice moves no stock)."""
        if not self.company.stock_module:
            raise ApiError(STOCK_MODULE_OFF)
        needed: dict[tuple[str, str, str], Decimal] = {}
        for position, product in enumerate(products, start=1):
            if flag(product, "isDiscount") or flag(product, "isService"):
                continue
            name, warehouse = text_of(product, "name"), text_of(product, "warehouseName")
            if not warehouse:
                raise ApiError(WAREHOUSE_NOT_SET.format(name=name))
            if warehouse not in self.company.warehouses:
                raise ApiError(WAREHOUSE_NOT_FOUND.format(warehouse=warehouse, name=name))
            item = self._stock_item(warehouse, name, text_of(product, "code"))
            if item is None:
                raise ApiError(NEVER_PURCHASED.format(name=name))
            if item.unit != text_of(product, "measuringUnitName"):  # SPEC: case sensitive
                raise ApiError(UNIT_WITHOUT_CONVERSION.format(unit=text_of(product, "measuringUnitName"),
                                                              name=name))
            key = (item.warehouse, item.name, item.code)
            needed[key] = needed.get(key, Decimal(0)) + number_of(product, "quantity")
            if needed[key] > item.quantity:
                document = f"{self.series.name} {format_number(self.series.next_number)}"
                raise ApiError(STOCK_SHORT_ON_ISSUE.format(document=document, day=f"{issue_date:%d/%m/%Y}",
                                                           name=name, position=position))
        self.stock_moves = [(key, -quantity) for key, quantity in needed.items()]

    def _stock_item(self, warehouse: str, name: str, code: str) -> StockItem | None:
        """The stock a product line takes from. Without product codes, by the product's name. With them
        ("Foloseste cod produs"), ASSUMPTION (the SPEC does not say which identifies a product in stock):
        by the code alone, the line's name being free text (switch stock_by_code=False: the name and
        the code must both match)."""
        if not self.company.uses_product_codes:
            return self.company.stock.get((warehouse, name, ""))
        if not self.stock_by_code:
            return self.company.stock.get((warehouse, name, code))
        return next((item for item in self.company.stock.values()
                     if item.warehouse == warehouse and item.code == code), None)

    def _payments(self) -> list[dict[str, Any]]:
        """SPEC "Incasarea facturii la emitere": a payment{} collects (part of) the invoice on issue; a
        Chitanta gets a receipt numbered in paymentSeries (a 'c' series)."""
        payment = self.body.get("payment")
        if payment is None:
            return []
        if not text_of(payment, "type"):
            raise ApiError(PAYMENT_FIELD_REQUIRED.format(field="type"))
        if payment.get("value") is None:
            raise ApiError(PAYMENT_FIELD_REQUIRED.format(field="value"))
        payment_type = text_of(payment, "type")
        if payment_type not in PAYMENT_TYPES:
            raise ApiError(PAYMENT_TYPE_NOT_FOUND)
        if payment_type == "Chitanta":
            series = self.company.series.get(text_of(payment, "paymentSeries"))
            if series is None or series.type != "c":
                raise ApiError(RECEIPT_SERIES_NOT_FOUND)
            self.receipt_series = series
        # ASSUMPTION: the value is taken as sent, even above the total (the SPEC says SmartBill does not
        # cross-check collected amounts: "Aplicatia nu face verificari in aceasta privinta").
        return [{"type": payment_type, "value": quantize_money(number_of(payment, "value")),
                 "isCash": flag(payment, "isCash"), "receipt": None}]
