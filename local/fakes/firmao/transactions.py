"""POST /transactions: the checks and the computation of one sale document, before anything is stored.

The README (§2e) documents the fields by example only, so the accepted keys are exactly those its
examples (invoice and correction) send, plus the few its GET output shows and the brief needs
(unitBruttoPrice, warehouse, storageStateUpdate, customFields.customN). Everything else is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ..common import quantize_money
from .model import (
    NUMBERING_TYPES,
    STOCK_UPDATES,
    UNMODELLED_TYPES,
    FirmaoAccount,
    FirmaoError,
    check_keys,
    checked,
    currency,
    day,
    decimal_number,
    flag,
    id_object,
    invalid,
    money,
    non_empty_text,
    not_found,
    not_modelled,
    one_of,
    record_id,
    required,
    string_list,
    tax_number,
    text,
    vat_percent,
)

CUSTOM_FIELD = re.compile(r"customFields\.custom\d+")  # README §2: "customFields.custom5", string values
ADDRESS_FIELDS = ("customerAddress.postCode", "customerAddress.city", "customerAddress.country",
                  "customerAddress.street")
# The totals the client sends and the fake computes itself (see Settings.totals).
DECLARED_TOTALS = ("transactionNettoPrice", "transactionVatPrice", "transactionBruttoPrice", "restOfPaidValue")

HEADER_CHECKS: dict[str, Callable[[Any], Any]] = {
    "type": text, "mode": text, "transactionNumber": non_empty_text, "invoicePatternId": record_id,
    "invoiceDate": day, "transactionDate": day, "paymentDate": day, "invoiceReceptionDate": day,
    "currency": currency, "exchangeRate": decimal_number(6), "exchangeRateDate": day, "factor": record_id,
    "paymentType": text, "paid": flag, "paidValue": money, **dict.fromkeys(DECLARED_TOTALS, money),
    "customer": record_id, "createCustomerIfNeeded": flag, "customerName": non_empty_text,
    "phones": string_list, "emails": string_list, **dict.fromkeys(ADDRESS_FIELDS, text),
    "nipNumber": tax_number, "issuingPerson": text, "invoiceAnnotations": text, "bankAccount": record_id,
    "calculateFromGross": flag, "splitPayment": flag, "recipientPhoneNumber": text,
    "lastSelectedInvoiceReport": text, "warehouse": id_object, "storageStateUpdate": one_of(STOCK_UPDATES),
    "correctionCause": text, "connectedDocNumber": non_empty_text, "connectedDocDate": day,
}
# Computed by Firmao (README GET output); README §2: `permission` cannot be sent.
READ_ONLY_FIELDS = frozenset({"id", "permission", "permissions", "creationDate", "lastUpdateDate", "createdBy",
                              "documentNumber", "paymentStatus", "baseNettoPrice", "baseVatPrice",
                              "baseBruttoPrice", "transactionEntriesCount"})
ENTRY_READ_ONLY_FIELDS = frozenset({"id", "permissions", "nettoPrice", "vatPrice", "bruttoPrice", "transaction"})
ENTRY_CHECKS: dict[str, Callable[[Any], Any]] = {
    "product": lambda value: value, "productCode": text, "quantity": decimal_number(3), "unit": text,
    "vatPercent": vat_percent, "unitNettoPrice": money, "unitBruttoPrice": money, "classificationNumber": text,
    "discount": decimal_number(2), "baseEntryId": record_id, "recordId": record_id, "invalidRecordId": record_id,
    # Sent by the README's correction example; stored, not interpreted.
    "entryPaid": text, "entrySize": decimal_number(3), "variant": decimal_number(0), "salePriceGroup": text,
    "unitPurchaseNettoPrice": money, "unitNettoPriceWithoutDiscount": money,
}


@dataclass(frozen=True)
class Settings:
    """The readings the documentation leaves open; each is a switch on the fake (see FirmaoFake)."""

    totals: str  # "refuse" | "recompute"
    vat_totals: str  # "per_line" | "per_rate"
    gross_price_field: str  # "unitBruttoPrice" | "unitNettoPrice"
    correction_lines: str  # "all" | "changed"
    payment_types: frozenset[str]


@dataclass
class Line:
    path: str
    values: dict[str, Any]
    product: dict[str, Any] | None
    text: str | None
    quantity: Decimal
    rate: Decimal
    unit_price: Decimal  # net, or gross with calculateFromGross
    net: Decimal = Decimal(0)
    vat: Decimal = Decimal(0)
    gross: Decimal = Decimal(0)
    role: str = "plain"  # "plain" | "before" | "after" (a correction's pair)
    sign: int = 1  # a correction's "before" line counts negative in its totals


@dataclass
class Draft:
    """A validated transaction, not yet stored (no id, number or customer created yet)."""

    values: dict[str, Any]
    kind: str  # INVOICE | RECEIPT | CORRECTION
    series_id: int
    lines: list[Line]
    totals: dict[str, Decimal]
    paid_value: Decimal
    customer: dict[str, Any] | None
    new_customer: dict[str, Any] | None
    original: dict[str, Any] | None
    recomputed: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)  # (field, sent, computed)


class TransactionBuilder:
    """Checks one POST /transactions body against the account; raises FirmaoError at the first problem
    (the README's error body names one field)."""

    def __init__(self, account: FirmaoAccount, body: dict[str, Any], settings: Settings, today: date):
        self.account = account
        self.body = body
        self.settings = settings
        self.today = today

    def build(self) -> Draft:
        check_keys(self.body, lambda name: name in HEADER_CHECKS or name == "transactionEntries"
                   or CUSTOM_FIELD.fullmatch(name) is not None, READ_ONLY_FIELDS, "")
        values = {name: checked(name, raw, HEADER_CHECKS.get(name, text))
                  for name, raw in self.body.items() if raw is not None and name != "transactionEntries"}
        kind = self._kind(values)
        self._fill_dates(values)
        self._check_currency(values)
        customer, new_customer = self._buyer(values, kind)
        series_id = self._series(values, kind)
        if "bankAccount" in values and values["bankAccount"] not in self.account.bank_accounts:
            raise not_found("bankAccount", values["bankAccount"], "bankaccount")
        if "warehouse" in values and values["warehouse"] not in self.account.warehouses:
            raise not_found("warehouse", values["warehouse"], "warehouse")
        values.setdefault("paymentType", "TRANSFER")  # ASSUMPTION: the default (source: none)
        if values["paymentType"] not in self.settings.payment_types:
            raise invalid("paymentType", values["paymentType"], f"one of {sorted(self.settings.payment_types)}")
        gross = values.setdefault("calculateFromGross", False)
        lines = [self._line(index, raw, gross, correction=kind == "CORRECTION")
                 for index, raw in enumerate(self._raw_entries())]
        original = self._check_correction(values, lines) if kind == "CORRECTION" else None
        totals = self._totals(lines, gross)
        paid_value = self._payment(values, totals["transactionBruttoPrice"])
        totals["restOfPaidValue"] = totals["transactionBruttoPrice"] - paid_value
        draft = Draft(values, kind, series_id, lines, totals, paid_value, customer, new_customer, original)
        self._compare_declared(draft)
        self._check_number(draft)
        return draft

    # ----------------------------------------------------------------- header

    def _kind(self, values: dict[str, Any]) -> str:
        """README: "type":"INVOICE"|"CORRECTION", "mode":"SALE". ASSUMPTION: both required (source: README
        §2e, every example sends them); PURCHASE and the other numbering types are real but not modelled here."""
        for name in ("type", "mode"):
            if name not in values:
                raise required(name)
        if values["mode"] == "PURCHASE":
            raise not_modelled("mode", "PURCHASE")
        if values["type"] in UNMODELLED_TYPES:
            raise not_modelled("type", values["type"])
        if values["mode"] != "SALE":
            raise invalid("mode", values["mode"], "SALE or PURCHASE")
        if values["type"] not in NUMBERING_TYPES:
            raise invalid("type", values["type"], f"one of {sorted(NUMBERING_TYPES)}")
        return values["type"]

    def _fill_dates(self, values: dict[str, Any]) -> None:
        """ASSUMPTION: invoiceDate defaults to today, transactionDate (sale date) and paymentDate (due
        date) to invoiceDate (source: README §2e sends all three; defaults are not documented)."""
        values.setdefault("invoiceDate", self.today.isoformat())
        values.setdefault("transactionDate", values["invoiceDate"])
        values.setdefault("paymentDate", values["invoiceDate"])

    @staticmethod
    def _check_currency(values: dict[str, Any]) -> None:
        """ASSUMPTION: a foreign currency needs exchangeRate and exchangeRateDate (source: README §2e
        correction example sends both; Firmao's own rate look-up is undocumented); PLN takes no rate other than 1."""
        values.setdefault("currency", "PLN")
        if values["currency"] == "PLN":
            if values.get("exchangeRate", Decimal(1)) != 1:
                raise invalid("exchangeRate", values["exchangeRate"], "PLN has the rate 1")
            return
        for name in ("exchangeRate", "exchangeRateDate"):
            if name not in values:
                raise required(name)
        if values["exchangeRate"] <= 0:
            raise invalid("exchangeRate", values["exchangeRate"], "greater than 0")

    def _buyer(self, values: dict[str, Any], kind: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """README: `customer` (an existing customer's id), or createCustomerIfNeeded + customerName (the
        customer of that name is attached, else created with customerName, phones, emails; phones and
        emails "only if createCustomerIfNeeded: true"). The README's own example sends both `customer`
        and createCustomerIfNeeded and answers with the label of customer 50: the id wins.
        ASSUMPTION: customerName alone names an unlinked buyer (source: README §2f, documented for offers);
        an invoice or correction needs a buyer, a receipt does not."""
        create = values.get("createCustomerIfNeeded", False)
        for name in ("phones", "emails"):
            if name in values and not create:
                raise invalid(name, values[name], "only with createCustomerIfNeeded: true")
        if "customer" in values:
            customer = self.account.customers.get(values["customer"])
            if customer is None:
                raise not_found("customer", values["customer"], "customer")
            return customer, None
        name = values.get("customerName")
        if create and name is None:
            raise required("customerName")
        if kind != "RECEIPT" and name is None:
            raise required("customer")
        if not create:
            return None, None
        existing = next((c for c in self.account.customers.values() if c["name"] == name), None)
        if existing is not None:
            return existing, None
        return None, {"name": name, "phones": values.get("phones", []), "emails": values.get("emails", [])}

    def _series(self, values: dict[str, Any], kind: str) -> int:
        """README: invoicePatternId names a numbering series (GET /invoicenumbers). ASSUMPTIONS: without
        it the organisation's first series numbers the document; a series with no template for the
        document's type is refused (even with our own number: it is the document's series) (source: README
        §4o: a series holds a template per document type)."""
        series_id = values.get("invoicePatternId", min(self.account.series))
        if series_id not in self.account.series:
            raise not_found("invoicePatternId", series_id, "invoicenumber")
        if NUMBERING_TYPES[kind] not in self.account.series[series_id]["patterns"]:
            raise invalid("invoicePatternId", series_id, f"the series numbers no {NUMBERING_TYPES[kind]} documents")
        return series_id

    # ----------------------------------------------------------------- lines

    def _raw_entries(self) -> list[dict[str, Any]]:
        entries = self.body.get("transactionEntries")
        if entries is None or entries == []:
            raise required("transactionEntries")
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise invalid("transactionEntries", entries, "a list of objects")
        return entries

    def _line(self, index: int, raw: dict[str, Any], gross: bool, *, correction: bool) -> Line:
        path = f"transactionEntries[{index}]."
        price_field, refused_field = self._price_fields(gross)
        if refused_field in raw:
            raise invalid(path + refused_field, raw[refused_field], f"with calculateFromGross: {str(gross).lower()} "
                          f"the unit price is {price_field}")
        allowed = set(ENTRY_CHECKS)
        if self.settings.gross_price_field != "unitBruttoPrice":
            allowed.discard("unitBruttoPrice")  # this reading has no gross price field at all
        check_keys(raw, allowed.__contains__, ENTRY_READ_ONLY_FIELDS, path)
        values = {name: checked(path + name, value, ENTRY_CHECKS[name])
                  for name, value in raw.items() if value is not None}
        for name in ("product", "quantity", "vatPercent", price_field):
            if name not in values:
                raise required(path + name)
        if values.get("discount", 0) != 0:
            # README: "discount":null; what a value means (percent? amount?) is undocumented.
            raise not_modelled(path + "discount", raw["discount"])
        product, line_text = self._product(path, values)
        if values["quantity"] < 0 or (values["quantity"] == 0 and not correction):
            raise invalid(path + "quantity", raw["quantity"], "greater than 0 (0 only after a correction)")
        if values[price_field] < 0:
            raise invalid(path + price_field, raw[price_field], "not negative")
        line = Line(path, values, product, line_text, values["quantity"], values["vatPercent"], values[price_field])
        self._amounts(line, gross)
        return line

    def _price_fields(self, gross: bool) -> tuple[str, str]:
        """(the unit price field this line needs, the one it must not carry).

        README: unitNettoPrice; calculateFromGross is a flag of the correction example and GET output.
        ASSUMPTION, a switch: with calculateFromGross the gross unit price travels in unitBruttoPrice (source:
        README §4g, the entry's GET field) or in unitNettoPrice itself; sending both prices is refused either way."""
        if not gross:
            return "unitNettoPrice", "unitBruttoPrice"
        if self.settings.gross_price_field == "unitBruttoPrice":
            return "unitBruttoPrice", "unitNettoPrice"
        return "unitNettoPrice", "unitBruttoPrice"

    def _product(self, path: str, values: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """README: `product` as a number links the product of that id; as a string it is the line's text,
        not linked to any product. ASSUMPTION: a productCode that contradicts the linked product is refused
        (source: none)."""
        reference = values["product"]
        if isinstance(reference, str):
            if not reference.strip():
                raise invalid(path + "product", reference, "a product id or a non-empty text")
            return None, reference
        if isinstance(reference, bool) or not isinstance(reference, int):
            raise invalid(path + "product", reference, "a product id or a text")
        product = self.account.products.get(reference)
        if product is None:
            raise not_found(path + "product", reference, "product")
        code = values.get("productCode")
        if code is not None and code != product["productCode"]:
            raise invalid(path + "productCode", code, "the linked product's code", productCode=product["productCode"])
        return product, None

    @staticmethod
    def _amounts(line: Line, gross: bool) -> None:
        """ASSUMPTION: per line, rounded half-up to the grosz: net = unit net x quantity, VAT = net x rate,
        gross = net + VAT; with calculateFromGross, gross = unit gross x quantity, net = gross / (1 + rate),
        VAT = gross - net (source: README GET of entries carries nettoPrice, vatPrice, bruttoPrice per line)."""
        total = quantize_money(line.unit_price * line.quantity)
        if gross:
            line.gross = total
            line.net = quantize_money(total * 100 / (100 + line.rate))
            line.vat = line.gross - line.net
        else:
            line.net = total
            line.vat = quantize_money(total * line.rate / 100)
            line.gross = line.net + line.vat

    def _totals(self, lines: list[Line], gross: bool) -> dict[str, Decimal]:
        """The header totals; a correction's are after minus before (README: the example correcting 1 to 2
        pieces of 1000.00 sends 1000.00). ASSUMPTION, a switch: the sum of the lines ("per_line"), or per
        VAT rate from the summed net (or gross) of each rate ("per_rate") (source: README §4g keeps VAT per
        line, which fits per_line; the header rule itself is not documented)."""
        if self.settings.vat_totals == "per_line":
            net = sum((line.sign * line.net for line in lines), Decimal(0))
            vat = sum((line.sign * line.vat for line in lines), Decimal(0))
        else:
            net = vat = Decimal(0)
            for rate in {line.rate for line in lines}:
                same_rate = [line for line in lines if line.rate == rate]
                if gross:
                    rate_gross = sum((line.sign * line.gross for line in same_rate), Decimal(0))
                    rate_net = quantize_money(rate_gross * 100 / (100 + rate))
                    net, vat = net + rate_net, vat + rate_gross - rate_net
                else:
                    rate_net = sum((line.sign * line.net for line in same_rate), Decimal(0))
                    net, vat = net + rate_net, vat + quantize_money(rate_net * rate / 100)
        return {"transactionNettoPrice": net, "transactionVatPrice": vat, "transactionBruttoPrice": net + vat}

    # ----------------------------------------------------------------- corrections

    def _check_correction(self, values: dict[str, Any], lines: list[Line]) -> dict[str, Any]:
        """README: a correction repeats each line of the original twice: "before" (baseEntryId = the
        original line's id, recordId = its number within this request) and "after" (invalidRecordId = the
        "before" recordId); connectedDocNumber/connectedDocDate name the original.
        ASSUMPTIONS: connectedDocDate must be the original's invoiceDate; currency and calculateFromGross
        must be the original's; a "before" line must repeat the line's current state (after earlier
        corrections) and every "before" needs exactly one "after"; a line with neither key is refused.
        A switch: every line of the original must be repeated ("all": the README's "po dwa wpisy dla
        każdej pozycji z oryginalnego dokumentu") or only the changed ones ("changed") (source: README §2e
        correction example; it names the fields, not these rules)."""
        for name in ("connectedDocNumber", "connectedDocDate"):
            if name not in values:
                raise required(name)
        original = self.account.transaction_by_number(values["connectedDocNumber"])
        if original is None or original["type"] == "CORRECTION":
            raise invalid("connectedDocNumber", values["connectedDocNumber"], "the number of a sale invoice or receipt")
        for name, own in (("connectedDocDate", original["invoiceDate"]), ("currency", original["currency"]),
                          ("calculateFromGross", original["calculateFromGross"])):
            if values.get(name) != own:
                raise invalid(name, values.get(name), "the corrected document's value", expected=own)
        before_by_record: dict[int, Line] = {}
        after_by_record: dict[int, Line] = {}
        for line in lines:
            if "baseEntryId" in line.values:
                self._before(line, original, before_by_record)
            elif "invalidRecordId" in line.values:
                line.role = "after"
                if line.values["invalidRecordId"] in after_by_record:
                    raise invalid(line.path + "invalidRecordId", line.values["invalidRecordId"],
                                  "one after line per before line")
                after_by_record[line.values["invalidRecordId"]] = line
            else:
                raise invalid(line.path.rstrip("."), None,
                              "a correction line needs baseEntryId (before) or invalidRecordId (after)")
        for record, line in after_by_record.items():
            if record not in before_by_record:
                raise invalid(line.path + "invalidRecordId", record, "the recordId of a before line")
        for record, line in before_by_record.items():
            if record not in after_by_record:
                raise invalid(line.path + "recordId", record, "a before line needs its after line")
        if self.settings.correction_lines == "all":
            covered = {line.values["baseEntryId"] for line in before_by_record.values()}
            missing = sorted(entry["id"] for entry in self.account.entries_of(original["id"])
                             if entry["type"] == "ACTUAL" and entry["id"] not in covered)
            if missing:
                raise invalid("transactionEntries", None, "every line of the corrected document, before and after",
                              missingEntryIds=missing)
        return original

    def _before(self, line: Line, original: dict[str, Any], before_by_record: dict[int, Line]) -> None:
        line.role, line.sign = "before", -1
        base_id = line.values["baseEntryId"]
        entry = self.account.entries.get(base_id)
        if entry is None:
            raise not_found(line.path + "baseEntryId", base_id, "transactionentry")
        if entry["transaction"]["id"] != original["id"] or entry["type"] != "ACTUAL":
            raise invalid(line.path + "baseEntryId", base_id, "a line of the corrected document",
                          transaction=original["id"])
        if any(other.values["baseEntryId"] == base_id for other in before_by_record.values()):
            raise invalid(line.path + "baseEntryId", base_id, "each corrected line once")
        if "recordId" not in line.values:
            raise required(line.path + "recordId")
        if line.values["recordId"] in before_by_record:
            raise invalid(line.path + "recordId", line.values["recordId"], "unique within the document")
        state = self.account.line_states[base_id]
        seen = {"product": line.product["id"] if line.product else line.text, "quantity": line.quantity,
                "vatPercent": line.rate, "unitPrice": line.unit_price}
        if seen != state:
            raise invalid(line.path.rstrip("."), None, "the before line must repeat the corrected line",
                          expected={key: str(value) for key, value in state.items()})
        before_by_record[line.values["recordId"]] = line

    # ----------------------------------------------------------------- payment, totals, number

    @staticmethod
    def _payment(values: dict[str, Any], gross: Decimal) -> Decimal:
        """README: paid (bool), paidValue, restOfPaidValue. ASSUMPTIONS: paid: true without paidValue means
        paid in full, with a paidValue it must be the whole amount; paidValue lies between 0 and the gross
        total (a correction's may be negative, down to its total) (source: README §2e example: paid false,
        paidValue 0, restOfPaidValue 1000)."""
        paid_value = values.get("paidValue", gross if values.get("paid") else Decimal(0))
        if values.get("paid") and paid_value != gross:
            raise invalid("paidValue", values["paidValue"], "paid: true means the whole gross amount",
                          expected=str(gross))
        if not min(gross, Decimal(0)) <= paid_value <= max(gross, Decimal(0)):
            raise invalid("paidValue", values.get("paidValue"), "between 0 and the gross total", gross=str(gross))
        return paid_value

    def _compare_declared(self, draft: Draft) -> None:
        """README: the client sends the totals as strings. ASSUMPTION, a switch: a total that differs from
        the fake's own is refused ("refuse", 400 invalidValue), or replaced by the computed one and reported
        as a CHANGE row of the changelog ("recompute"; source: the README's PHP example sends totals of 1000.00 for a
        100.00 line, and says POST answers list "fields computed or changed by Firmao")."""
        for name in DECLARED_TOTALS:
            if name not in draft.values or draft.values[name] == draft.totals[name]:
                continue
            if self.settings.totals == "refuse":
                raise invalid(name, str(draft.values[name]), "differs from the total Firmao computes",
                              expected=f"{draft.totals[name]:.2f}")
            draft.recomputed.append((name, draft.values[name], draft.totals[name]))

    def _check_number(self, draft: Draft) -> None:
        """Documented: with a number that a sale transaction already has, nothing is created and the answer
        is 400 {"errorCode":"transactionNumberAlreadyExists","additionalInfo":{"suggestedNumber":...}}.
        ASSUMPTION: the numbers of all sale types share one space; the suggestion is the series' next
        (source: README §2e, "transakcja sprzedaży o danym numerze", suggestedNumber 2/8/2012 after 1/8/2012)."""
        number = draft.values.get("transactionNumber")
        if number is not None and self.account.transaction_by_number(number) is not None:
            suggested = self.account.next_number(draft.series_id, NUMBERING_TYPES[draft.kind],
                                                 date.fromisoformat(draft.values["invoiceDate"]), take=False)
            raise FirmaoError(400, "transactionNumberAlreadyExists", info={"suggestedNumber": suggested})
