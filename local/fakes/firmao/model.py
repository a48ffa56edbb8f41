"""The Firmao fake's vocabulary, records, value checks and answer helpers (see the package docstring).

Sources: the vendor's README (github.com/FirmaoCRM/API, commit c3ed124), called README below, and
/work/shared/providers/next-providers.md section 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..common import HttpError, Response, parse_date

# README §2: "ContentType = application/json; charset=UTF-8", the same on every answer here.
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"

# The POST `type` values and the numbering dictionary's transaction types (README §4o).
# ASSUMPTION: "RECEIPT" is the POST value of a receipt, by analogy with INVOICE and CORRECTION; the
# README names only the numbering type "receipt" (Paragon) (source: README §4o, inference).
NUMBERING_TYPES = {"INVOICE": "invoice", "RECEIPT": "receipt", "CORRECTION": "correction"}
# Types in the numbering dictionary that the fake does not model as POST types.
UNMODELLED_TYPES = frozenset({"PROFORMA", "BILL", "INVOICEMARGIN", "ADVANCE_INVOICE"})
# ASSUMPTION: only the two values the README shows (CASH in the POST example, TRANSFER in GET output);
# the real list is longer but undocumented, so the fake refuses what it cannot vouch for. The fake's
# `payment_types` option widens it once the real values are known (source: README §2e, §4e/f).
PAYMENT_TYPES = frozenset({"CASH", "TRANSFER"})
# README GET output shows NO_UPDATE on transactions and AUTO_UPDATE on storage documents.
STOCK_UPDATES = frozenset({"NO_UPDATE", "AUTO_UPDATE"})
# ASSUMPTION: Poland's rates plus the pre-2011 ones the README's 2012 examples use (22); vatPercent
# is numeric in every example and zw/np codes are not documented, so they are refused (source: README §2e).
VAT_RATES = frozenset(Decimal(rate) for rate in (0, 3, 5, 7, 8, 22, 23))
# ASSUMPTION: showCustomVatWarning (a string) is "true" when a line's rate is not one of these; the
# README's only example answers "true" for a 0 % line; the flag's meaning is undocumented (source: README §2e).
RATES_WITHOUT_VAT_WARNING = frozenset(Decimal(rate) for rate in (5, 8, 23))
# ASSUMPTION: the PDF templates the fake knows; "Faktura_korygujaca" and "Paragon" are guesses (source:
# README §7a "Faktura", correction example's lastSelectedInvoiceReport "Faktura_korygujaca2").
PDF_TEMPLATES = frozenset({"Faktura", "Faktura_korygujaca", "Faktura_korygujaca2", "Paragon"})
DEFAULT_TEMPLATES = {"INVOICE": "Faktura", "RECEIPT": "Paragon", "CORRECTION": "Faktura_korygujaca2"}
# ASSUMPTION: the template syntax of numbering series is undocumented. The fake's own tokens are
# {n} (counter), {nnn} (counter, 3 digits), {d} {dd} {m} {mm} {yy} {yyyy}; the default patterns
# reproduce the README's numbers "1/8/2012" and "2022/04/004/KOR" (source: README §4o, §2e).
DEFAULT_SERIES_PATTERNS = {"invoice": "{n}/{m}/{yyyy}", "receipt": "PAR/{n}/{m}/{yyyy}",
                           "correction": "{yyyy}/{mm}/{nnn}/KOR"}

QUANTITY_STEP = Decimal("0.001")  # README GET of entries: "quantity":1.000
RATE_STEP = Decimal("0.01")  # README GET of entries: "vatPercent":22.00


# --------------------------------------------------------------------------- answers and errors


_NUMBER_MARK = "\u0000firmao-decimal:"
_MARKED_NUMBER = re.compile(r'"\\u0000firmao-decimal:(-?\d+(?:\.\d+)?)"')


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_NUMBER_MARK}{value:f}"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def firmao_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """JSON the way the README shows it: amounts are JSON NUMBERS in GET output ("transactionNettoPrice":
    818.85), so Decimals go out as exact numbers (never through float), with their scale ("1.000")."""
    text = _MARKED_NUMBER.sub(r"\1", json.dumps(body, default=_encode, ensure_ascii=False))
    return Response(status, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}, text.encode("utf-8"))


class FirmaoError(HttpError):
    """An answer in the README's error shape: {"errorCode", "field", "rejectedValue", "additionalInfo"}.

    Documented codes: entityNotFoundForId (400), transactionNumberAlreadyExists (400),
    duplicateValueFoundException (409, own shape). Every other errorCode is an ASSUMPTION named here
    (source: README §2 and §8 give the shape and say errors carry "zrozumiały opis błędu").
    """

    def __init__(self, status: int, error_code: str, *, field: str | None = None, rejected: Any = None,
                 info: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        body: dict[str, Any] = {"errorCode": error_code}
        if field is not None:
            body["field"] = field
        if rejected is not None:  # the README shows rejectedValue as a string even for an id ("50")
            body["rejectedValue"] = rejected if isinstance(rejected, str) else json.dumps(rejected, default=str)
        if info:
            body["additionalInfo"] = info
        super().__init__(firmao_json(status, body, headers))
        self.body = body


def invalid(field_name: str, value: Any, reason: str, **info: Any) -> FirmaoError:
    """ASSUMPTION: errorCode "invalidValue" with the reason in additionalInfo (source: README §2 shape only)."""
    return FirmaoError(400, "invalidValue", field=field_name, rejected=value, info={"reason": reason, **info})


def required(field_name: str) -> FirmaoError:
    return FirmaoError(400, "fieldRequired", field=field_name)  # ASSUMPTION: code (source: README §2 shape)


def not_found(field_name: str, value: Any, cls: str, status: int = 400) -> FirmaoError:
    """Documented (README §2): 400 {"errorCode":"entityNotFoundForId","field":"project","rejectedValue":"50",
    "additionalInfo":{"id":"50","cls":"project"}} for a reference to a missing object."""
    return FirmaoError(status, "entityNotFoundForId", field=field_name, rejected=str(value),
                       info={"id": str(value), "cls": cls})


def not_modelled(field_name: str, value: Any) -> FirmaoError:
    """A documented feature this fake does not model: refused loudly instead of being ignored."""
    return FirmaoError(400, "notModelledByLocalFake", field=field_name, rejected=value)


def check_keys(body: dict[str, Any], allowed: Callable[[str], bool], read_only: frozenset[str], prefix: str) -> None:
    """ASSUMPTION: unknown keys are refused (400 unknownField), not ignored; this catches misspelt keys and
    the README's typographic quotes (“createCustomerIfNeeded”). The README says `permission` is computed
    and cannot be sent (400 readOnlyField here) (source: README §2; it says the fields are described in the
    data-import help, not what happens to others)."""
    for name, value in body.items():
        if name in read_only:
            raise FirmaoError(400, "readOnlyField", field=f"{prefix}{name}", rejected=value)
        if not allowed(name):
            raise FirmaoError(400, "unknownField", field=f"{prefix}{name}", rejected=value)


def change_entry(object_class: str, object_id: int, label: str, prop: str, old: Any, new: Any,
                 value_class: str) -> dict[str, Any]:
    """One CHANGE row of a changelog, as in the README's PUT answers."""
    return {"deletedWith": "", "modification": "CHANGE", "newValueClass": value_class, "newValueDisplay": str(new),
            "newValueIsDictionary": False, "objectClass": object_class, "objectId": object_id,
            "objectLabel": label, "oldValueClass": value_class, "oldValueDisplay": str(old),
            "oldValueIsDictionary": False, "property": prop}


def create_entry(object_class: str, object_id: int, label: str) -> dict[str, Any]:
    """One CREATE row of a changelog, as in the README's POST answers."""
    return {"deletedWith": "", "modification": "CREATE", "newValueIsDictionary": False, "objectClass": object_class,
            "objectId": object_id, "objectLabel": label, "oldValueIsDictionary": False, "property": ""}


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # README: "creationDate":"2017-09-21T13:38:08Z"


# --------------------------------------------------------------------------- value checks


class Invalid(ValueError):
    """A value failed its check; args[0] is the reason."""


def checked(name: str, raw: Any, check: Callable[[Any], Any]) -> Any:
    """`check(raw)`, its Invalid turned into the 400 answer for field `name`."""
    try:
        return check(raw)
    except Invalid as problem:
        raise invalid(name, raw, problem.args[0]) from None


def money(value: Any) -> Decimal:
    """README: prices and totals as strings ("1000.00"), paidValue/restOfPaidValue as numbers (1000).
    ASSUMPTION: both forms anywhere, at most 2 decimals, dot separator only (source: README §2e)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise Invalid("an amount: a number or a string like \"12.30\"")
    if isinstance(value, str) and not re.fullmatch(r"-?\d+(\.\d+)?", value):
        raise Invalid("an amount: a number or a string like \"12.30\"")
    amount = Decimal(value)
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise Invalid("at most 2 decimal places")
    return amount


def decimal_number(places: int) -> Callable[[Any], Decimal]:
    def check(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            raise Invalid("a number")
        if isinstance(value, str) and not re.fullmatch(r"-?\d+(\.\d+)?", value):
            raise Invalid("a number")
        number = Decimal(value)
        if not number.is_finite() or number.as_tuple().exponent < -places:
            raise Invalid(f"at most {places} decimal places")
        return number
    return check


def vat_percent(value: Any) -> Decimal:
    """README: 0, 22 and the string "0" all appear."""
    rate = decimal_number(2)(value)
    if rate not in VAT_RATES:
        raise Invalid(f"one of {sorted(int(r) for r in VAT_RATES)}")
    return rate


def day(value: Any) -> str:
    try:
        return parse_date(value).isoformat()
    except ValueError:
        raise Invalid("a YYYY-MM-DD date") from None


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("a string")
    return value


def non_empty_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("a non-empty string")
    return value


def flag(value: Any) -> bool:
    if not isinstance(value, bool):  # the README sends JSON booleans only
        raise Invalid("true or false")
    return value


def record_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid("a positive integer id")
    return value


def one_of(allowed: frozenset[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Invalid(f"one of {sorted(allowed)}")
        return value
    return check


def currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise Invalid("an ISO 4217 code like PLN")
    return value


def tax_number(value: Any) -> str:
    """README: "1060000062" and "106-00-00-062". ASSUMPTION: an optional country prefix, digits, dashes,
    spaces (foreign VAT numbers too); no checksum, as foreign buyers would fail it (source: README §2e)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{0,2}[0-9A-Z][0-9A-Z -]{3,19}", value):
        raise Invalid("a tax number like 1060000062")
    return value


def string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid("a list of strings")
    return value


def json_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid("a list")
    return value


def id_object(value: Any) -> int:
    """ASSUMPTION: a reference written {"id": N} (source: README §4f GET output {"id":1,"name":"Magazyn 1"}
    and a third-party client's POST 'warehouse' => ['id' => ...], Magento module Techtor\\Firmao)."""
    if not isinstance(value, dict) or set(value) - {"id", "name"} or "id" not in value:
        raise Invalid('an object {"id": N}')
    return record_id(value["id"])


def digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


# --------------------------------------------------------------------------- records


@dataclass(eq=False)
class FirmaoAccount:
    """One organisation (the `{org}` of the URL) with its API user and its data."""

    organisation: str
    login: str
    password: str = field(repr=False)
    company: dict[str, str]
    api_enabled: bool = True  # README §1: the API is turned on in Firma -> Ustawienia -> API
    # README §3c: PUT currentStoreState needs "Bezpośrednia modyfikacja stanów magazynowych".
    direct_stock_modification: bool = False
    transactions: dict[int, dict[str, Any]] = field(default_factory=dict)  # API representation, by id
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)  # transaction entries, by id
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    series: dict[int, dict[str, Any]] = field(default_factory=dict)
    warehouses: dict[int, str] = field(default_factory=dict)
    bank_accounts: dict[int, str] = field(default_factory=dict)
    stock: dict[tuple[int, int], Decimal] = field(default_factory=dict)  # (product, warehouse) -> level
    # An original line's state after corrections (what the next correction's "before" must repeat).
    line_states: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    counters: dict[tuple, int] = field(default_factory=dict, repr=False)

    def transaction_by_number(self, number: str) -> dict[str, Any] | None:
        return next((doc for doc in self.transactions.values() if doc["transactionNumber"] == number), None)

    def entries_of(self, transaction_id: int) -> list[dict[str, Any]]:
        return [entry for entry in self.entries.values() if entry["transaction"]["id"] == transaction_id]

    def stock_level(self, product_id: int) -> Decimal:
        """ASSUMPTION: a product's currentStoreState is the sum over warehouses (source: README §4c product GET
        shows one number, §3c PUT changelog names warehouse 1)."""
        return sum((level for (product, _), level in self.stock.items() if product == product_id), Decimal(0))

    def next_number(self, series_id: int, kind: str, issued: date, *, take: bool) -> str:
        """The series' next free number for `kind` on `issued`; `take` uses it up. Numbers set by the
        client do not move the counter, but are skipped (ASSUMPTION; source: none, README §4o is silent)."""
        pattern = self.series[series_id]["patterns"][kind]
        period = ((issued.year, issued.month, issued.day) if "{d" in pattern else
                  (issued.year, issued.month) if "{m" in pattern else (issued.year,) if "{y" in pattern else ())
        key = (series_id, kind, *period)
        taken = {doc["transactionNumber"] for doc in self.transactions.values()}
        counter = self.counters.get(key, 0)
        while True:
            counter += 1
            number = _format_number(pattern, counter, issued)
            if number not in taken:
                break
        if take:
            self.counters[key] = counter
        return number


def _format_number(pattern: str, counter: int, issued: date) -> str:
    tokens = {"{nnn}": f"{counter:03d}", "{n}": str(counter), "{dd}": f"{issued.day:02d}", "{d}": str(issued.day),
              "{mm}": f"{issued.month:02d}", "{m}": str(issued.month), "{yyyy}": str(issued.year),
              "{yy}": f"{issued.year % 100:02d}"}
    return re.sub(r"\{(nnn|n|dd|d|mm|m|yyyy|yy)\}", lambda match: tokens[match.group(0)], pattern)
