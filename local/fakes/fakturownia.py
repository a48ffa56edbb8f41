"""Strict local fake of the Fakturownia (a.k.a. InvoiceOcean) HTTP API.

An independent model of the provider, written from its public documentation
(fakturownia/API README.md and KSeF.md; summarised with sources in
/work/shared/providers/fakturownia-infakt.md section 1). It never imports the production
package: it must be able to prove that package wrong.

Public API (for tests and the local demo)::

    fake = FakturowniaFake(rate_limit=(600, 60.0))
    base_url = fake.start()                      # or: with FakturowniaFake() as fake: ...
    account = fake.add_account("token-1", prefix="shop", validate_for_ksef=True)
    dep_id = fake.add_department("token-1", "Sklep 2", "5252445767", shortcut="S2")
    prod_id = fake.add_product("token-1", "Kubek", "MUG-300", "29.99", 23, stock_level=10)
    client_id = fake.add_client("token-1", "Firma ABC", tax_no="9876543210")
    cat_id = fake.add_category("token-1", "Sklep")
    wh_id = fake.add_warehouse("token-1", "Magazyn główny")
    fake.account("token-1").invoices             # stored invoice dicts (API representation)
    fake.account("token-1").delete_invoice(id)   # "the merchant deleted it in the app"
    fake.account("token-1").ksef_number_with_check = False  # gov_id as the KSeF guide shows it (32 chars)
    fake.requests                                # RequestLog (no credentials in it)
    fake.limiter.peak("token-1")                 # most requests seen in one window for the token
    fake.faults.status(503, method="POST", path=r"/invoices\\.json")   # see common.FaultPlan

Endpoints: POST/GET /invoices.json, GET/PUT /invoices/{id}.json, GET /invoices/{id}.pdf,
GET /invoice/{token}.pdf and /invoice/{token} (public, no auth), GET /departments.json,
/departments/{id}.json, /products.json, /products/{id}.json, /categories.json, /warehouses.json.

Every behaviour the documentation does not define is marked ``ASSUMPTION:`` below.
"""

from __future__ import annotations

import copy
import html
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .common import (
    ISO_3166_ALPHA2,
    FakeServer,
    FieldErrors,
    HttpError,
    Request,
    Response,
    bytes_response,
    contains_emoji,
    format_money,
    json_response,
    ksef_number,
    parse_boolish,
    parse_date,
    parse_decimal,
    quantize_money,
    render_pdf,
    route,
)

# ASSUMPTION: the rate limit is undocumented. 600 requests per 60 s per API token is generous
# for a shop integration yet finite, so a client without backoff is still caught in tests.
DEFAULT_RATE_LIMIT = (600, 60.0)

# --------------------------------------------------------------------------- documented vocabularies

KINDS = frozenset({
    "vat", "proforma", "bill", "receipt", "advance", "final", "correction", "invoice_other",
    "vat_margin", "vat_mp", "vat_rr", "kp", "kw", "estimate", "correction_note", "accounting_note",
    "client_order", "dw", "wnt", "wdt", "import_service", "import_service_eu", "import_products",
    "export_products",
})
# Only these kinds go to KSeF, so only they get the KSeF validation rules (F-KSEF "Typy faktur").
KSEF_KINDS = frozenset({"vat", "correction", "vat_mp", "vat_margin", "wdt", "export_products",
                        "advance", "final"})
# ASSUMPTION: sales documents that hand goods over move stock; offers, orders, advances and
# cash/accounting notes do not. Corrections never do (warehouse documents are out of scope).
STOCK_MOVING_KINDS = frozenset({"vat", "receipt", "bill", "invoice_other", "vat_margin", "vat_mp",
                                "final", "wdt", "export_products"})
# ASSUMPTION: number formats are configurable in the app and not exposed by the API;
# the fake uses "FV 1/03/2026" style, restarting every month, per kind and per department.
NUMBER_PREFIXES = {"vat": "FV", "receipt": "PAR", "correction": "KOR", "proforma": "PRO",
                   "bill": "R", "advance": "ZAL", "final": "FK", "estimate": "ZAM"}
PDF_TITLES = {"vat": "Faktura VAT", "receipt": "Paragon", "correction": "Faktura korygujaca",
              "proforma": "Faktura Proforma", "bill": "Rachunek", "advance": "Faktura zaliczkowa",
              "final": "Faktura koncowa"}
STATUSES = frozenset({"issued", "sent", "paid", "partial", "rejected"})
EXCHANGE_KINDS = frozenset({"ecb", "nbp", "cbr", "nbu", "nbg", "own"})
LANGS = frozenset({"pl", "en", "en-GB", "de", "fr", "cz", "ru", "es", "it", "nl", "hr", "ar", "sk",
                   "sl", "el", "et", "cn", "hu", "tr", "fa"})
NP_TAX_KINDS = frozenset({"export_service", "export_service_eu", "not_specified"})
BUYER_TAX_NO_KINDS = frozenset({"", "nip_ue", "other", "empty", "nip_with_id"})
PROCEDURE_DESIGNATIONS = frozenset({"SW", "EE", "TP", "TT_WNT", "TT_D", "MR_T", "MR_UZ", "I_42", "I_63",
                                    "B_SPV", "B_SPV_DOSTAWA", "B_MPV_PROWIZJA", "MPP"})
ACCOUNTING_KINDS = frozenset({"purchases", "expenses", "media", "salary", "incident", "fuel0",
                              "fuel_expl75", "fuel_expl100", "fixed_assets", "fixed_assets50",
                              "no_vat_deduction"})
DISCOUNT_KINDS = frozenset({"percent_unit", "percent_unit_gross", "percent_total", "amount"})
CALCULATING_STRATEGY = {"position": {"default", "keep_gross"}, "sum": {"sum", "keep_gross", "keep_net"},
                        "invoice_form_price_kind": {"net", "gross"}}
PRINT_OPTIONS = frozenset({"original", "copy", "original_and_copy", "duplicate"})
PERIODS = frozenset({"last_12_months", "this_month", "last_30_days", "last_month", "this_year",
                     "last_year", "all", "more"})
# Rates that are not percentages; each is 0% VAT for the totals.
NP_TAX_SPELLINGS = frozenset({"np", "n/a", "na", "nie podlega", "not applicable"})
TAX_CODES = frozenset({"zw", "oo", "disabled"})
GTU_CODE = re.compile(r"GTU_(0[1-9]|1[0-3])")
# F-KSEF "Walidacja formatu identyfikatora" (country prefix optional for every kind).
TAX_NO_PATTERNS = {
    "": re.compile(r"([A-Z]{2})?[1-9]((\d[1-9])|([1-9]\d))\d{7}"),
    "nip_ue": re.compile(r"([A-Z]{2})?[\dA-Z+*]{1,12}"),
    "other": re.compile(r"([A-Z]{2})?[a-zA-Z0-9]{1,50}"),
    "nip_with_id": re.compile(r"([A-Z]{2})?[1-9]((\d[1-9])|([1-9]\d))\d{7}-\d{5}"),
}
# Prefixes of EU VAT numbers (Greece is EL, Northern Ireland XI).
EU_VAT_PREFIXES = frozenset({"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR",
                             "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "RO", "SE", "SI", "SK",
                             "XI"})
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

CREATE_TOP_LEVEL_KEYS = frozenset({"invoice", "api_token", "gov_save_and_send", "identify_oss",
                                   "fill_default_descriptions"})
UPDATE_TOP_LEVEL_KEYS = frozenset({"invoice", "api_token", "gov_save_and_send"})

# --------------------------------------------------------------------------- messages

BLANK = "- nie może być puste"
INVALID = "- jest nieprawidłowe"
TOO_LONG = "- pole jest za długie (maksymalna ilość znaków: {limit})"
# Only with FakturowniaAccount.refuses_duplicate_numbers (off by default): the body of such a refusal.
NUMBER_TAKEN = "- jest już zajęty"
OID_TAKEN = "- jest już zajęte"  # ASSUMPTION: undocumented body of the oid_unique refusal
# ASSUMPTION: the real API ignores unknown keys; the fake refuses them so a typo cannot pass.
UNKNOWN_FIELD = "- nieznany parametr"
# Documented features this fake does not model: refused loudly rather than silently ignored.
NOT_MODELLED = "- not modelled by the local Fakturownia fake"
MISSING_RECORD = "- nie istnieje"
NOT_POSITIVE = "- musi być większe od 0"
NEGATIVE = "- nie może być ujemne"
TOO_MANY_DECIMALS = "- może mieć maksymalnie 2 miejsca po przecinku"
HAS_EMOJI = "- nie może zawierać emoji"
# ASSUMPTION on the wording of the errors below (the rules themselves are documented or labelled).
CHANGED_ON_CORRECTION = "- nie może być zmienione względem faktury korygowanej"
INCONSISTENT_AMOUNT = "- niezgodne z pozostałymi kwotami pozycji"
NOT_A_DIFFERENCE = "- musi być różnicą wartości po korekcie i przed korektą"

UNAUTHORIZED = {"code": "error", "message": "You must be logged in to gain access to the site"}
NOT_FOUND = {"code": "error", "message": "Not Found"}


class _Invalid(ValueError):
    """A value failed validation; ``args[0]`` is the message for the 422 body."""


# --------------------------------------------------------------------------- value validators


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _Invalid(INVALID)
    return str(value)


def _enum(allowed: frozenset[str] | set[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _Invalid(INVALID)
        return value
    return check


def _date(value: Any) -> str:
    try:
        return parse_date(value).isoformat()
    except ValueError:
        raise _Invalid(INVALID) from None


def _date_or_month(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        return value
    return _date(value)


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise _Invalid(INVALID)
    return value


def _country(value: Any) -> str:
    if not isinstance(value, str) or value not in ISO_3166_ALPHA2:
        raise _Invalid(INVALID)
    return value


def _bool(value: Any) -> bool:
    try:
        return parse_boolish(value)
    except ValueError:
        raise _Invalid(INVALID) from None


def _record_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9]\d*", value.strip()):
        return int(value)
    raise _Invalid(INVALID)


def _client_id(value: Any) -> int:
    if value in (-1, "-1"):  # documented: -1 creates a new client from the buyer_* fields
        return -1
    return _record_id(value)


def _money(value: Any) -> Decimal:
    try:
        amount = parse_decimal(value)
    except ValueError:
        raise _Invalid(INVALID) from None
    if amount != quantize_money(amount):
        raise _Invalid(TOO_MANY_DECIMALS)
    return amount


def _positive_decimal(value: Any) -> Decimal:
    try:
        number = parse_decimal(value)
    except ValueError:
        raise _Invalid(INVALID) from None
    if number <= 0:
        raise _Invalid(NOT_POSITIVE)
    return number


def _lang(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value.split("/")) <= 2 \
            or not all(part in LANGS for part in value.split("/")):
        raise _Invalid(INVALID)
    return value


def _payment_to_kind(value: Any) -> int | str:
    if value in ("off", "other_date"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise _Invalid(INVALID)


def _procedure_designations(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(item in PROCEDURE_DESIGNATIONS for item in value):
        raise _Invalid(INVALID)
    return list(value)


def _calculating_strategy(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or any(
            key not in CALCULATING_STRATEGY or item not in CALCULATING_STRATEGY[key]
            for key, item in value.items()):
        raise _Invalid(INVALID)
    return dict(value)


def _descriptions(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(
            isinstance(item, dict) and set(item) <= {"kind", "content"}
            and all(isinstance(text, str) for text in item.values()) for item in value):
        raise _Invalid(INVALID)
    return [dict(item) for item in value]


def _parties(value: Any) -> list[dict[str, Any]]:
    """recipients / issuers: stored as sent (KSeF extras the fake does not interpret)."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _Invalid(INVALID)
    return copy.deepcopy(value)


def _sales_income(value: Any) -> bool:
    if not _bool(value):  # cost invoices (income "0") are a different book; not modelled
        raise _Invalid(NOT_MODELLED)
    return True


def _not_modelled(value: Any) -> Any:
    raise _Invalid(NOT_MODELLED)


def _number(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(INVALID)
    return value


def _oid_unique(value: Any) -> str:
    # Documented value is the string 'yes'; "no" is accepted as its natural opposite.
    return _enum({"yes", "no"})(value)


# Invoice fields with their validators. Blank values (null or "") mean "not given".
# Fields of the documented list not named here are plain text (see TEXT_FIELDS).
INVOICE_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "kind": _enum(KINDS), "number": _number, "income": _sales_income,
    "issue_date": _date, "sell_date": _date_or_month, "payment_to": _date, "paid_date": _date,
    "delivery_date": _date, "accounting_vat_tax_date": _date, "accounting_income_tax_date": _date,
    "skonto_discount_date": _date,
    "payment_to_kind": _payment_to_kind, "status": _enum(STATUSES), "paid": _money,
    "currency": _currency, "exchange_currency": _currency, "exchange_kind": _enum(EXCHANGE_KINDS),
    "exchange_currency_rate": _positive_decimal, "lang": _lang,
    "buyer_country": _country, "seller_country": _country, "recipient_country": _country,
    "buyer_company": _bool, "buyer_override": _bool, "split_payment": _bool, "use_oss": _bool,
    "use_moss": _bool, "reverse_charge": _bool, "exclude_from_stock_level": _bool,
    "show_discount": _bool, "skonto_active": _bool, "use_invoice_issuer": _bool,
    "disable_tax_no_validation": _bool, "show_attachments": _bool, "triangular_transaction": _bool,
    "skonto_discount_value": _positive_decimal,
    "department_id": _record_id, "category_id": _record_id, "warehouse_id": _record_id,
    "client_id": _client_id, "recipient_id": _record_id, "invoice_template_id": _record_id,
    "invoice_id": _record_id, "from_invoice_id": _record_id,
    "oid": _text, "oid_unique": _oid_unique,
    "np_tax_kind": _enum(NP_TAX_KINDS), "procedure_designations": _procedure_designations,
    "calculating_strategy": _calculating_strategy, "descriptions": _descriptions,
    "recipients": _parties, "issuers": _parties, "accounting_kind": _enum(ACCOUNTING_KINDS),
    "accounting_note_kind": _enum({"credit", "debit"}), "discount_kind": _enum(DISCOUNT_KINDS),
    # Documented, but not modelled by the fake:
    "copy_invoice_from": _not_modelled, "advance_creation_mode": _not_modelled,
    "advance_value": _not_modelled, "position_name": _not_modelled, "invoice_ids": _not_modelled,
    "use_prices_from_price_lists": _not_modelled, "price_list_id": _not_modelled,
}
TEXT_FIELDS = frozenset({
    "place", "payment_type", "exchange_note", "buyer_name", "buyer_first_name", "buyer_last_name",
    "buyer_tax_no", "buyer_tax_no_kind", "buyer_street", "buyer_post_code", "buyer_city",
    "buyer_email", "buyer_phone", "buyer_mobile_phone", "buyer_note", "buyer_person",
    "seller_name", "seller_tax_no", "seller_tax_no_kind", "seller_bank_account", "seller_bank",
    "seller_post_code", "seller_city", "seller_street", "seller_email", "seller_www", "seller_fax",
    "seller_phone", "seller_bdo_no", "seller_person", "invoice_issuer", "recipient_name",
    "recipient_street", "recipient_post_code", "recipient_city", "recipient_email",
    "recipient_phone", "recipient_note", "additional_info", "additional_info_desc", "description",
    "description_footer", "description_long", "internal_note", "exempt_tax_kind",
    "correction_reason", "corrected_content_before", "corrected_content_after",
    "additional_invoice_field", "additional_params", "gov_corrected_invoice_number",
})
INVOICE_FIELDS = frozenset(INVOICE_VALIDATORS) | TEXT_FIELDS | {"positions"}

POSITION_FIELDS = frozenset({
    "name", "quantity", "quantity_unit", "price_net", "price_gross", "total_price_net",
    "total_price_gross", "tax", "code", "product_id", "gtu_code", "discount", "discount_percent",
    "additional_info", "description", "lump_sum_tax", "kind", "correction_before_attributes",
    "correction_after_attributes",
})
# The before/after halves of a corrected line are plain positions without nesting.
CORRECTION_SIDE_FIELDS = POSITION_FIELDS - {"correction_before_attributes", "correction_after_attributes"}
# PUT only: address an existing position (documented "Aktualizacja pozycji").
POSITION_UPDATE_FIELDS = POSITION_FIELDS | {"id", "_destroy"}
# Documented (F-DOC): discount_percent / discount work only with the invoice's show_discount and must
# match the account's discount mode ("Jak obliczać rabat"). The fake models the percent-of-unit-price
# mode only (discount_kind "percent_unit"); an amount discount is refused instead of mis-computed.
NOT_MODELLED_POSITION_FIELDS = frozenset({"discount"})
DISCOUNT_NEEDS_SHOW = "- rabat wymaga show_discount na fakturze"
DISCOUNT_KIND_NOT_MODELLED = "- tylko discount_kind percent_unit jest modelowany w lokalnej atrapie"
PRICE_FIELDS = ("price_net", "price_gross", "total_price_net", "total_price_gross")
DESCRIPTION_FIELDS = ("description", "description_footer", "description_long")
# KSeF.md "Ograniczenia długości pól": Fakturownia's own limits, KSeF or not ("Nowe ograniczenie: Nie").
TEXT_LIMITS = {"seller_name": 255, "buyer_name": 255, "seller_street": 255, "buyer_street": 255,
               # ASSUMPTION: not documented; 255 like the name and street beside them.
               "buyer_city": 255, "buyer_first_name": 255, "buyer_last_name": 255}
# KSeF.md, under KSeF: the limits the checks below name; and two ASSUMPTIONs: the legacy `description`
# becomes one descriptions entry (256) "when sent to KSeF", checked here at the save like the other KSeF
# rules; exempt_tax_kind is KSeF's P_19A, a 256-character text.
KSEF_TEXT_LIMITS = {"buyer_phone": 16, "seller_phone": 16, "buyer_email": 255, "seller_email": 255,
                    "correction_reason": 256, "description_footer": 3500, "description": 256,
                    "exempt_tax_kind": 256}

BUYER_FIELDS = ("buyer_name", "buyer_first_name", "buyer_last_name", "buyer_company", "buyer_tax_no",
                "buyer_tax_no_kind", "buyer_street", "buyer_post_code", "buyer_city", "buyer_country",
                "buyer_email", "buyer_phone")
# KSeF: fields a correction may not change relative to the corrected invoice (F-KSEF "Korekty").
FIXED_ON_CORRECTION = ("department_id", "seller_tax_no", "buyer_company", "buyer_tax_no",
                       "buyer_tax_no_kind", "buyer_email", "buyer_phone")

# Rendered on every invoice, null when unset, so clients see a stable shape.
INVOICE_KEYS = (
    "id", "kind", "number", "token", "view_url", "status", "issue_date", "sell_date", "payment_to",
    "payment_to_kind", "payment_type", "place", "paid", "paid_date", "currency", "exchange_currency",
    "exchange_kind", "exchange_currency_rate", "exchange_note", "lang", "oid", "oid_unique",
    "department_id", "category_id", "warehouse_id", "client_id", "seller_name", "seller_tax_no",
    "seller_street", "seller_post_code", "seller_city", "seller_country", "seller_bank_account",
    "buyer_name", "buyer_first_name", "buyer_last_name", "buyer_company", "buyer_tax_no",
    "buyer_tax_no_kind", "buyer_street", "buyer_post_code", "buyer_city", "buyer_country",
    "buyer_email", "buyer_phone", "description", "split_payment", "use_oss", "reverse_charge",
    "exempt_tax_kind", "np_tax_kind", "invoice_id", "from_invoice_id", "correction_reason",
    "price_net", "price_tax", "price_gross", "gov_status", "gov_id", "gov_error_messages",
    "created_at", "updated_at",
)


# --------------------------------------------------------------------------- records


@dataclass(eq=False)  # an account is an identity, not a value
class FakturowniaAccount:
    """One Fakturownia account (``https://{prefix}.fakturownia.pl``), resolved from its API token."""

    api_token: str
    prefix: str
    validate_for_ksef: bool
    company: dict[str, str]  # the account's default seller data
    invoices: list[dict[str, Any]] = field(default_factory=list)
    departments: dict[int, dict[str, Any]] = field(default_factory=dict)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    clients: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    warehouses: dict[int, dict[str, Any]] = field(default_factory=dict)
    # The normalised request fields each invoice was built from, so a PUT can rebuild it.
    sources: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    number_counters: dict[tuple, int] = field(default_factory=dict, repr=False)
    # ASSUMPTION (two readings): the documented API has no duplicate-number check or flag (F-DOC field
    # list: a given `number` is used as it is; fakturownia-infakt.md 1.1), and issue 13 saw a server
    # written from the docs create a second invoice with an own number already used: False (default)
    # creates it. True refuses it (422, {"number": ["- jest już zajęty"]}, same kind), as the app's
    # form warns, in case the API shares that check.
    refuses_duplicate_numbers: bool = False
    # KSeF. ASSUMPTION: KSeF itself is not documented by Fakturownia beyond gov_status; the fake
    # settles a sent document after `ksef_reads_until_final` reads of it (the real one takes
    # seconds to minutes), accepted with a KSeF number unless `ksef_rejects` is set.
    ksef_connected: bool = True
    ksef_auto_send: bool = False  # documented account setting gov_auto_send_mode: sends every new invoice
    ksef_reads_until_final: int = 1
    ksef_rejects: bool = False
    # ASSUMPTION (two readings, issue 14): gov_id as KSeF numbers it, with its 2 check characters (True,
    # 35 characters), or as Fakturownia's KSeF guide shows it (False: fakturownia/API KSeF.md, "Numer
    # KSeF (gov_id)", format {NIP_SPRZEDAWCY}-{DATA}-{IDENTYFIKATOR}, e.g. 5252445767-20260201-ABC123DEF456,
    # 32 characters, no check characters).
    ksef_number_with_check: bool = True
    ksef_reads: dict[int, int] = field(default_factory=dict, repr=False)
    ksef_submissions: dict[int, int] = field(default_factory=dict)  # sends per invoice id: 2+ is a double

    def invoice(self, invoice_id: int) -> dict[str, Any] | None:
        return next((inv for inv in self.invoices if inv["id"] == invoice_id), None)

    def delete_invoice(self, invoice_id: int) -> None:
        """Test helper: the merchant deleted the document in the app."""
        self.invoices[:] = [inv for inv in self.invoices if inv["id"] != invoice_id]
        self.sources.pop(invoice_id, None)


@dataclass
class _Line:
    """Computed money of one position (or one side of a corrected position)."""

    quantity: Decimal
    tax: str  # "23", "8", "zw", "np", "oo", "disabled"
    net: Decimal
    vat: Decimal
    gross: Decimal
    given: dict[str, Decimal]  # price fields exactly as sent

    def declared(self, price_field: str) -> Decimal:
        """What the client said, else what was computed."""
        computed = {"total_price_net": self.net, "total_price_gross": self.gross}
        return self.given.get(price_field, computed.get(price_field))

    def unit(self, price_field: str, total: Decimal) -> Decimal:
        """The unit price as sent, else derived from the total."""
        return self.given.get(price_field, _per_unit(total, self.quantity))


def _per_unit(total: Decimal, quantity: Decimal) -> Decimal:
    return quantize_money(total / quantity) if quantity else Decimal("0.00")


def _rate(tax: str) -> Decimal:
    """VAT rate as a fraction; zw/np/oo/disabled are 0% for the totals."""
    return Decimal(tax) / 100 if tax[0].isdigit() else Decimal(0)


def _parse_tax(value: Any) -> str:
    if isinstance(value, str):
        spelled = value.strip().lower()
        if spelled in NP_TAX_SPELLINGS:
            return "np"
        if spelled in TAX_CODES:
            return spelled
        if not re.fullmatch(r"\d+([.,]\d+)?", spelled):
            raise _Invalid(INVALID)
    try:
        rate = parse_decimal(value)
    except ValueError:
        raise _Invalid(INVALID) from None
    if not 0 <= rate <= 100 or rate != quantize_money(rate):
        raise _Invalid(INVALID)
    return format(rate.normalize(), "f")


def _line_amounts(quantity: Decimal, rate: Decimal, given: dict[str, Decimal],
                  keep_gross: bool) -> tuple[Decimal, Decimal, Decimal]:
    """(net, vat, gross) of a line from whichever prices were given.

    ASSUMPTION (documented names, inferred arithmetic): "default" works from net, so a gross-only
    price is first converted to net and the gross recomputed from it — which can move the gross
    by a grosz (the known complaint); "keep_gross" fixes the gross and derives net and VAT from it.
    """
    net = given.get("total_price_net")
    if net is None and "price_net" in given:
        net = quantize_money(given["price_net"] * quantity)
    gross = given.get("total_price_gross")
    if gross is None and "price_gross" in given:
        gross = quantize_money(given["price_gross"] * quantity)
    if keep_gross and gross is not None:
        net = quantize_money(gross / (1 + rate))
        return net, gross - net, gross
    if net is None:
        net = quantize_money(gross / (1 + rate))
    vat = quantize_money(net * rate)
    return net, vat, net + vat


def _summary(positions: list[dict[str, Any]], mode: str) -> tuple[Decimal, Decimal]:
    """(net, gross) of positions under the invoice's "sum" strategy."""
    net_by_rate: dict[str, Decimal] = {}
    gross_by_rate: dict[str, Decimal] = {}
    for position in positions:
        tax = position["tax"]
        net_by_rate[tax] = net_by_rate.get(tax, Decimal(0)) + Decimal(position["total_price_net"])
        gross_by_rate[tax] = gross_by_rate.get(tax, Decimal(0)) + Decimal(position["total_price_gross"])
    net_total = gross_total = Decimal(0)
    for tax, net in net_by_rate.items():
        gross = gross_by_rate[tax]
        if mode == "keep_gross":
            net = quantize_money(gross / (1 + _rate(tax)))
        elif mode == "keep_net":
            gross = net + quantize_money(net * _rate(tax))
        net_total += net
        gross_total += gross
    return net_total, gross_total


def _format_quantity(quantity: Decimal) -> str:
    """Like the real API: "2.0", "0.5", "-1.0"."""
    if quantity == quantity.to_integral_value():
        return f"{quantity:.1f}"
    return format(quantity.normalize(), "f")


# --------------------------------------------------------------------------- the invoice builder


class _Rejected(Exception):
    def __init__(self, errors: FieldErrors):
        super().__init__(errors)
        self.errors = errors


class _InvoiceBuilder:
    """Validates one invoice source (the request's ``invoice`` object after merging) and computes
    the stored invoice. Collects all field errors; unknown referenced records raise 404 at once.

    ASSUMPTION: a missing department/client/category/warehouse answers 404 before any 422, as a
    record look-up failing ahead of model validation would (users see exactly this 404 for a wrong
    department id).
    """

    def __init__(self, account: FakturowniaAccount, source: dict[str, Any], *, today: date,
                 existing: dict[str, Any] | None, errors: FieldErrors, client_card_wins: bool):
        self.today = today
        self.account = account
        self.source = source
        self.existing = existing
        self.errors = errors
        # Only a client_id sent in this request applies the client card; an edit of a stored
        # invoice keeps its (possibly edited) buyer data.
        self.client_card_wins = client_card_wins
        # KSeF rules apply to the kinds sent to KSeF; their breaches block the save only when the
        # account says so (validate_for_ksef), else they land in gov_error_messages.
        self.ksef = False
        self.ksef_errors = FieldErrors()

    # ----------------------------------------------------------------- entry point

    def build(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Return (invoice without id/number/token, resolved position sources)."""
        values = self._validated_header()
        self._resolve_records(values)
        kind = values.setdefault("kind", "vat")
        self.ksef = kind in KSEF_KINDS
        invoice = dict.fromkeys(INVOICE_KEYS)
        invoice.update(values)
        invoice["currency"] = values.get("currency", "PLN")
        invoice["lang"] = values.get("lang", "pl")
        invoice["status"] = values.get("status", "issued")
        self._fill_dates(invoice)
        self._fill_seller(invoice)
        self._fill_buyer(invoice)
        original = self._related_invoices(invoice)
        positions, resolved_sources = self._positions(invoice)
        invoice["positions"] = positions
        self._fill_totals(invoice, positions)
        self._check_rules(invoice, original)
        self._check_unique(invoice)
        if self.account.validate_for_ksef:
            self.errors.merge(self.ksef_errors)
        else:  # documented: saved anyway, the problems listed in gov_error_messages
            invoice["gov_error_messages"] = [
                f"{name} {message}" for name, messages in self.ksef_errors.as_dict().items()
                for message in messages
            ] or None
        if self.errors:
            raise _Rejected(self.errors)
        return invoice, resolved_sources

    # ----------------------------------------------------------------- header

    def _validated_header(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, raw in self.source.items():
            if name == "positions" or name not in INVOICE_FIELDS:
                continue  # positions are handled on their own; unknown names were reported
            if _is_blank(raw):
                continue
            validator = INVOICE_VALIDATORS.get(name, _text)
            try:
                values[name] = validator(raw)
            except _Invalid as problem:
                self.errors.add(name, problem.args[0])
        return values

    def _resolve_records(self, values: dict[str, Any]) -> None:
        lookups = {"department_id": self.account.departments, "category_id": self.account.categories,
                   "warehouse_id": self.account.warehouses, "client_id": self.account.clients}
        for name, records in lookups.items():
            record_id = values.get(name)
            if record_id is not None and record_id != -1 and record_id not in records:
                raise HttpError(json_response(404, NOT_FOUND))

    def _fill_dates(self, invoice: dict[str, Any]) -> None:
        issue = invoice.get("issue_date") or self.today.isoformat()
        invoice["issue_date"] = issue
        invoice["sell_date"] = invoice.get("sell_date") or issue
        term = invoice.get("payment_to_kind")
        if term == "other_date" and not invoice.get("payment_to"):
            self.errors.add("payment_to", BLANK)
        elif term == "off":
            invoice["payment_to"] = None
        elif isinstance(term, int):
            invoice["payment_to"] = (date.fromisoformat(issue) + timedelta(days=term)).isoformat()
        elif invoice.get("payment_to"):
            invoice["payment_to_kind"] = "other_date"
        else:
            # ASSUMPTION: the account's default term; the docs' minimal example gets 5 days.
            invoice["payment_to_kind"] = 5
            invoice["payment_to"] = (date.fromisoformat(issue) + timedelta(days=5)).isoformat()
        if invoice["status"] == "paid":
            # ASSUMPTION: a document created as paid is paid in full on its issue date.
            invoice["paid_date"] = invoice.get("paid_date") or issue
        if invoice.get("exchange_kind") == "own" and invoice.get("exchange_currency_rate") is None:
            self.errors.add("exchange_currency_rate", BLANK)

    def _fill_seller(self, invoice: dict[str, Any]) -> None:
        department = self.account.departments.get(invoice.get("department_id"))
        if department is not None:  # documented: the department's data win over seller_*
            seller = {f"seller_{key}": department[key] for key in
                      ("name", "tax_no", "street", "post_code", "city", "country", "bank_account")}
            invoice.update(seller)
        elif not invoice.get("seller_name"):  # documented: the account's own company data
            for key, value in self.account.company.items():
                invoice[f"seller_{key}"] = invoice.get(f"seller_{key}") or value

    def _fill_buyer(self, invoice: dict[str, Any]) -> None:
        client = self.account.clients.get(invoice.get("client_id")) if self.client_card_wins else None
        if client is not None:
            # Documented: the card's data override buyer_*; with buyer_override the buyer_* sent
            # override the card instead (and update it, see FakturowniaFake._link_client).
            for key, value in client.items():
                if key != "id" and (not invoice.get("buyer_override") or invoice.get(f"buyer_{key}") is None):
                    invoice[f"buyer_{key}"] = value
        company = invoice.get("buyer_company")
        if company is None:
            company = invoice["buyer_company"] = True  # ASSUMPTION: like clients, a company by default
        first, last = invoice.get("buyer_first_name"), invoice.get("buyer_last_name")
        if not company:
            if not invoice.get("buyer_name") and first and last:
                invoice["buyer_name"] = f"{first} {last}"  # documented
            if self.ksef:
                for name in ("buyer_first_name", "buyer_last_name"):
                    if not invoice.get(name):
                        self.ksef_errors.add(name, BLANK)
        if not invoice.get("buyer_name"):
            self.errors.add("buyer_name", BLANK)
        if "buyer_person" not in self.source and first and last:
            invoice["buyer_person"] = f"{first} {last}"  # documented default signature
        if invoice.get("buyer_tax_no") and not invoice.get("buyer_tax_no_kind"):
            invoice["buyer_tax_no_kind"] = _tax_no_kind_from_prefix(invoice["buyer_tax_no"])

    def _related_invoices(self, invoice: dict[str, Any]) -> dict[str, Any] | None:
        """Check invoice_id / from_invoice_id point at documents of this account."""
        for name in ("invoice_id", "from_invoice_id"):
            related = invoice.get(name)
            if related is not None and self.account.invoice(related) is None:
                self.errors.add(name, MISSING_RECORD)
        if invoice["kind"] != "correction":
            return None
        original_id = invoice.get("invoice_id") or invoice.get("from_invoice_id")
        if original_id is None:
            self.errors.add("invoice_id", BLANK)
        if not invoice.get("correction_reason"):
            self.errors.add("correction_reason", BLANK)
        return self.account.invoice(original_id) if original_id else None

    # ----------------------------------------------------------------- positions

    def _positions(self, invoice: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        raw_positions = self.source.get("positions")
        if not isinstance(raw_positions, list) or not raw_positions:
            self.errors.add("positions", BLANK)
            return [], []
        strategy = invoice.get("calculating_strategy") or {}
        keep_gross = strategy.get("position") == "keep_gross"
        if invoice.get("reverse_charge"):
            # Documented: reverse charge forces "oo" for a Polish buyer and "np" for the others.
            forced_tax = "oo" if invoice.get("buyer_country") in (None, "PL") else "np"
        else:
            forced_tax = None
        positions, sources = [], []
        for index, raw in enumerate(raw_positions):
            path = f"positions[{index}]"
            if not isinstance(raw, dict):
                self.errors.add(path, INVALID)
                continue
            raw = self._with_product_defaults(raw, path)
            if forced_tax:
                raw = {**raw, "tax": forced_tax}
            sources.append(raw)
            if invoice["kind"] == "correction":
                line, extra = self._corrected_line(raw, path, keep_gross)
            else:
                line, extra = self._plain_line(raw, path, keep_gross)
            if line is not None:
                positions.append(self._position_json(raw, line, extra))
        return positions, sources

    def _with_product_defaults(self, raw: dict[str, Any], path: str) -> dict[str, Any]:
        """Documented: a line linked by product_id takes name, price, tax and GTU from the product.

        ASSUMPTION: values sent on the line win over the product's.
        """
        if _is_blank(raw.get("product_id")):
            return raw
        try:
            product_id = _record_id(raw["product_id"])
        except _Invalid as problem:
            self.errors.add(f"{path}.product_id", problem.args[0])
            return raw
        product = self.account.products.get(product_id)
        if product is None:
            self.errors.add(f"{path}.product_id", MISSING_RECORD)
            return raw
        resolved = {**raw, "product_id": product_id}
        resolved.setdefault("name", product["name"])
        resolved.setdefault("code", product["code"])
        resolved.setdefault("tax", product["tax"])
        resolved.setdefault("quantity_unit", product["quantity_unit"])
        if product["gtu_codes"]:
            resolved.setdefault("gtu_code", product["gtu_codes"][0])
        if not any(name in raw for name in PRICE_FIELDS):
            resolved["price_gross"] = product["price_gross"]
        return resolved

    def _plain_line(self, raw: dict[str, Any], path: str, keep_gross: bool) -> tuple[_Line | None, dict]:
        kind = raw.get("kind")
        if kind not in (None, "normal") or "correction_before_attributes" in raw \
                or "correction_after_attributes" in raw:
            self.errors.add(f"{path}.kind", INVALID)  # correction parts only on kind "correction"
        self._check_position_text(raw, path)
        return self._line(raw, path, keep_gross, quantity_rule="positive"), {}

    def _corrected_line(self, raw: dict[str, Any], path: str, keep_gross: bool) -> tuple[_Line | None, dict]:
        """Documented: the line carries the difference, plus the full before and after states.

        ASSUMPTION: a line whose quantity or totals are not after − before is refused (422).
        """
        if raw.get("kind") != "correction":
            self.errors.add(f"{path}.kind", INVALID)
        self._check_position_text(raw, path)
        sides: dict[str, _Line | None] = {}
        for side in ("before", "after"):
            side_path = f"{path}.correction_{side}_attributes"
            side_raw = raw.get(f"correction_{side}_attributes")
            if not isinstance(side_raw, dict):
                self.errors.add(side_path, BLANK)
                sides[side] = None
                continue
            if side_raw.get("kind") != f"correction_{side}":
                self.errors.add(f"{side_path}.kind", INVALID)
            self._check_position_text(side_raw, side_path)
            sides[side] = self._line(side_raw, side_path, keep_gross, quantity_rule="non_negative")
        before, after = sides["before"], sides["after"]
        delta_inputs = self._line_inputs(raw, path, quantity_rule="any")
        if before is None or after is None or delta_inputs is None:
            return None, {}
        delta_quantity, _, delta_given = delta_inputs
        if not _is_blank(raw.get("quantity")) and delta_quantity != after.quantity - before.quantity:
            self.errors.add(f"{path}.quantity", NOT_A_DIFFERENCE)
        for price_field in ("total_price_net", "total_price_gross"):
            if price_field in delta_given and \
                    delta_given[price_field] != after.declared(price_field) - before.declared(price_field):
                self.errors.add(f"{path}.{price_field}", NOT_A_DIFFERENCE)
        # The stored line is exactly after − before, so document totals add up.
        line = _Line(quantity=after.quantity - before.quantity, tax=after.tax, net=after.net - before.net,
                     vat=after.vat - before.vat, gross=after.gross - before.gross,
                     given={name: value for name, value in after.given.items() if name.startswith("price_")})
        extra = {f"correction_{side}_attributes": self._position_json(raw[f"correction_{side}_attributes"],
                                                                     sides[side], {})
                 for side in ("before", "after")}
        return line, extra

    def _check_position_text(self, raw: dict[str, Any], path: str) -> None:
        name = raw.get("name")
        if _is_blank(name):
            self.errors.add(f"{path}.name", BLANK)
        elif not isinstance(name, str):
            self.errors.add(f"{path}.name", INVALID)
        elif len(name) > 256 and self.ksef:
            self.ksef_errors.add(f"{path}.name", TOO_LONG.format(limit=256))
        gtu = raw.get("gtu_code")
        if not _is_blank(gtu) and (not isinstance(gtu, str) or not GTU_CODE.fullmatch(gtu)):
            self.errors.add(f"{path}.gtu_code", INVALID)
        for name in NOT_MODELLED_POSITION_FIELDS:
            if not _is_blank(raw.get(name)):
                self.errors.add(f"{path}.{name}", NOT_MODELLED)
        if not _is_blank(raw.get("discount_percent")):
            if self.source.get("show_discount") not in (True, "1", 1, "true"):
                self.errors.add(f"{path}.discount_percent", DISCOUNT_NEEDS_SHOW)
            elif self.source.get("discount_kind", "percent_unit") != "percent_unit":
                self.errors.add(f"{path}.discount_percent", DISCOUNT_KIND_NOT_MODELLED)
        info = raw.get("additional_info")
        if isinstance(info, str) and len(info) > 50 and self.ksef:
            self.ksef_errors.add(f"{path}.additional_info", TOO_LONG.format(limit=50))

    def _line(self, raw: dict[str, Any], path: str, keep_gross: bool, *, quantity_rule: str) -> _Line | None:
        inputs = self._line_inputs(raw, path, quantity_rule=quantity_rule)
        if inputs is None:
            return None
        quantity, tax, given = inputs
        if not given:
            self.errors.add(f"{path}.price_net", BLANK)
            return None
        discount = self._discount(raw, path)
        if discount is None:
            return None
        if discount:
            if given.keys() & {"total_price_net", "total_price_gross"}:
                # ASSUMPTION: the docs do not say whether a total price is before or after the
                # discount, so the fake refuses the mix instead of guessing.
                self.errors.add(f"{path}.discount_percent", NOT_MODELLED)
                return None
            # ASSUMPTION (percent_unit): the unit price is the list price, the line total is
            # quantity x price x (1 - discount/100) rounded half-up to the grosz once.
            given = {name: price * (100 - discount) / 100 for name, price in given.items()}
        net, vat, gross = _line_amounts(quantity, _rate(tax), given, keep_gross)
        # ASSUMPTION: several prices on one line must agree within a grosz (rounding); otherwise
        # the client mixed up unit and total prices, which the fake refuses instead of guessing.
        computed = {"total_price_net": net, "total_price_gross": gross}
        if quantity:
            computed |= {"price_net": _per_unit(net, quantity), "price_gross": _per_unit(gross, quantity)}
        for price_field, value in given.items():
            if price_field in computed and abs(value - computed[price_field]) > Decimal("0.01"):
                self.errors.add(f"{path}.{price_field}", INCONSISTENT_AMOUNT)
        return _Line(quantity=quantity, tax=tax, net=net, vat=vat, gross=gross, given=given)

    def _discount(self, raw: dict[str, Any], path: str) -> Decimal | None:
        """A position's discount_percent (0 without one); None after reporting an invalid one.
        ASSUMPTION: a percentage from 0 to 100 with at most 2 decimals, as the UI takes it."""
        if _is_blank(raw.get("discount_percent")):
            return Decimal(0)
        try:
            discount = parse_decimal(raw["discount_percent"])
        except ValueError:
            self.errors.add(f"{path}.discount_percent", INVALID)
            return None
        if not 0 <= discount <= 100 or discount != discount.quantize(Decimal("0.01")):
            self.errors.add(f"{path}.discount_percent", INVALID)
            return None
        return discount

    def _line_inputs(self, raw: dict[str, Any], path: str, *,
                     quantity_rule: str) -> tuple[Decimal, str, dict[str, Decimal]] | None:
        """(quantity, tax, prices as sent) of a position, or None after reporting its errors."""
        ok = True
        quantity = Decimal(1)  # ASSUMPTION: a line without quantity counts one unit
        if not _is_blank(raw.get("quantity")):
            try:
                quantity = parse_decimal(raw["quantity"])
            except ValueError:
                self.errors.add(f"{path}.quantity", INVALID)
                ok = False
        if ok and quantity_rule == "positive" and quantity <= 0:
            self.errors.add(f"{path}.quantity", NOT_POSITIVE)
            ok = False
        elif ok and quantity_rule == "non_negative" and quantity < 0:
            self.errors.add(f"{path}.quantity", NEGATIVE)
            ok = False
        tax = "23"  # ASSUMPTION: the account's default rate (the docs' own example omits tax)
        if not _is_blank(raw.get("tax")):
            try:
                tax = _parse_tax(raw["tax"])
            except _Invalid as problem:
                self.errors.add(f"{path}.tax", problem.args[0])
                ok = False
        given = {}
        for price_field in PRICE_FIELDS:
            if not _is_blank(raw.get(price_field)):
                try:
                    given[price_field] = _money(raw[price_field])
                except _Invalid as problem:
                    self.errors.add(f"{path}.{price_field}", problem.args[0])
                    ok = False
        return (quantity, tax, given) if ok else None

    @staticmethod
    def _position_json(raw: dict[str, Any], line: _Line, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": raw.get("id"),
            "name": raw.get("name"),
            "kind": raw.get("kind"),
            "product_id": raw.get("product_id"),
            "code": raw.get("code"),
            "gtu_code": raw.get("gtu_code"),
            "additional_info": raw.get("additional_info"),
            "description": raw.get("description"),
            "quantity": _format_quantity(line.quantity),
            "quantity_unit": raw.get("quantity_unit") or "szt",
            "tax": line.tax,
            "price_net": format_money(line.unit("price_net", line.net)),
            "price_gross": format_money(line.unit("price_gross", line.gross)),
            "total_price_net": format_money(line.net),
            "total_price_gross": format_money(line.gross),
            **extra,
        }

    # ----------------------------------------------------------------- totals and rules

    def _fill_totals(self, invoice: dict[str, Any], positions: list[dict[str, Any]]) -> None:
        """ASSUMPTION on "sum": "sum" adds the lines; "keep_gross"/"keep_net" add the gross/net per
        VAT rate and derive the rest per rate, as a VAT summary table does. A correction's totals are
        its "after" summary minus its "before" summary (the tables its PDF prints), each side at its
        own rates, not a summary of the difference lines."""
        mode = (invoice.get("calculating_strategy") or {}).get("sum", "sum")
        if invoice["kind"] == "correction" and positions:
            after_net, after_gross = _summary(
                [position["correction_after_attributes"] for position in positions], mode)
            before_net, before_gross = _summary(
                [position["correction_before_attributes"] for position in positions], mode)
            net_total, gross_total = after_net - before_net, after_gross - before_gross
        else:
            net_total, gross_total = _summary(positions, mode)
        invoice["price_net"] = format_money(net_total)
        invoice["price_tax"] = format_money(gross_total - net_total)
        invoice["price_gross"] = format_money(gross_total)
        paid = invoice.get("paid")
        if paid is None:  # ASSUMPTION: see _fill_dates
            paid = gross_total if invoice["status"] == "paid" else Decimal(0)
        invoice["paid"] = format_money(paid)

    def _check_rules(self, invoice: dict[str, Any], original: dict[str, Any] | None) -> None:
        for name in DESCRIPTION_FIELDS:
            if isinstance(invoice.get(name), str) and contains_emoji(invoice[name]):
                self.errors.add(name, HAS_EMOJI)  # documented: emoji are a validation error
        for index, item in enumerate(invoice.get("descriptions") or []):
            for key, text in item.items():
                if contains_emoji(text):
                    self.errors.add(f"descriptions[{index}].{key}", HAS_EMOJI)
                if len(text) > 256 and self.ksef:
                    self.ksef_errors.add(f"descriptions[{index}].{key}", TOO_LONG.format(limit=256))
        for name, limit in TEXT_LIMITS.items():
            if isinstance(invoice.get(name), str) and len(invoice[name]) > limit:
                self.errors.add(name, TOO_LONG.format(limit=limit))
        if not self.ksef:
            return
        taxes = {position["tax"] for position in invoice["positions"]}
        if "zw" in taxes and not invoice.get("exempt_tax_kind"):
            self.ksef_errors.add("exempt_tax_kind", BLANK)
        if "np" in taxes and not invoice.get("np_tax_kind"):
            self.ksef_errors.add("np_tax_kind", BLANK)
        if invoice.get("np_tax_kind") == "export_service_eu" and not invoice.get("reverse_charge"):
            self.ksef_errors.add("reverse_charge", INVALID)  # documented pairing
        for name in ("seller_name", "seller_tax_no", "seller_street", "seller_post_code", "seller_city"):
            if not invoice.get(name):
                self.ksef_errors.add(name, BLANK)
        self._check_buyer_tax_no(invoice)
        for name, limit in KSEF_TEXT_LIMITS.items():
            if isinstance(invoice.get(name), str) and len(invoice[name]) > limit:
                self.ksef_errors.add(name, TOO_LONG.format(limit=limit))
        for name in ("buyer_email", "seller_email"):
            if invoice.get(name) and not EMAIL.fullmatch(invoice[name]):
                self.ksef_errors.add(name, INVALID)
        if original is not None:
            for name in FIXED_ON_CORRECTION:
                if (invoice.get(name) or None) != (original.get(name) or None):
                    self.ksef_errors.add(name, CHANGED_ON_CORRECTION)

    def _check_buyer_tax_no(self, invoice: dict[str, Any]) -> None:
        kind = invoice.get("buyer_tax_no_kind") or ""
        if kind not in BUYER_TAX_NO_KINDS:
            self.ksef_errors.add("buyer_tax_no_kind", INVALID)
            return
        tax_no = invoice.get("buyer_tax_no") or ""
        if kind == "empty":
            if tax_no:
                self.ksef_errors.add("buyer_tax_no", INVALID)
        elif not tax_no:
            if invoice["buyer_company"]:
                self.ksef_errors.add("buyer_tax_no", BLANK)
        else:
            # ASSUMPTION: dashes and spaces (documented "525-244-57-67") are ignored for a NIP.
            compact = re.sub(r"[\s-]", "", tax_no) if kind == "" else tax_no
            if not TAX_NO_PATTERNS[kind].fullmatch(compact):
                self.ksef_errors.add("buyer_tax_no", INVALID)

    def _check_unique(self, invoice: dict[str, Any]) -> None:
        own_id = self.existing["id"] if self.existing else None
        others = [inv for inv in self.account.invoices if inv["id"] != own_id]
        number = invoice.get("number")
        if (self.account.refuses_duplicate_numbers and number
                and any(inv["number"] == number and inv["kind"] == invoice["kind"] for inv in others)):
            self.errors.add("number", NUMBER_TAKEN)
        # ASSUMPTION: oid_unique is checked against every document of the account, whatever its kind.
        oid = invoice.get("oid")
        if oid and invoice.get("oid_unique") == "yes" and any(inv["oid"] == oid for inv in others):
            self.errors.add("oid", OID_TAKEN)


def _tax_no_kind_from_prefix(tax_no: str) -> str:
    """Documented: an EU country prefix other than PL means nip_ue, another prefix means other."""
    prefix = tax_no[:2].upper()
    if not re.fullmatch(r"[A-Z]{2}", prefix) or prefix == "PL":
        return ""
    return "nip_ue" if prefix in EU_VAT_PREFIXES else "other"


# --------------------------------------------------------------------------- the fake server


class FakturowniaFake(FakeServer):
    """Strict fake of the Fakturownia API for one or more accounts on one local host."""

    secret_query_params = frozenset({"api_token"})

    def __init__(self, *, rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT,
                 today: Callable[[], date] = date.today):
        super().__init__(rate_limit=rate_limit)
        self.today = today
        self._lock = threading.RLock()  # one writer at a time: numbering and uniqueness are atomic
        self._accounts: dict[str, FakturowniaAccount] = {}
        # Separate id ranges per record type, so a product id passed as an invoice id is caught.
        self._next_ids = {"invoice": 100001, "position": 500001, "department": 1001, "product": 20001,
                          "client": 30001, "category": 40001, "warehouse": 50001}
        self._last_stamp: datetime | None = None

    # ----------------------------------------------------------------- seeding (tests, demo)

    def add_account(self, api_token: str, prefix: str = "demo", validate_for_ksef: bool = True,
                    *, company: dict[str, str] | None = None) -> FakturowniaAccount:
        """``validate_for_ksef``: the documented default "block documents that break KSeF rules"."""
        with self._lock:
            if api_token in self._accounts:
                raise ValueError("an account with this API token exists already")
            account = FakturowniaAccount(
                api_token=api_token, prefix=prefix, validate_for_ksef=validate_for_ksef,
                company=company or {"name": "Demo Sklep Sp. z o.o.", "tax_no": "5252445767",
                                    "street": "ul. Przykładowa 10", "post_code": "00-001",
                                    "city": "Warszawa", "country": "PL", "bank_account": None},
            )
            self._accounts[api_token] = account
            return account

    def account(self, api_token: str) -> FakturowniaAccount:
        return self._accounts[api_token]

    def add_department(self, api_token: str, name: str, tax_no: str, *, shortcut: str | None = None,
                       street: str = "ul. Handlowa 1", post_code: str = "00-002", city: str = "Warszawa",
                       country: str = "PL", bank_account: str | None = None) -> int:
        with self._lock:
            department_id = self._new_id("department")
            self.account(api_token).departments[department_id] = {
                "id": department_id, "name": name, "shortcut": shortcut or f"D{department_id}",
                "tax_no": tax_no, "street": street, "post_code": post_code, "city": city,
                "country": country, "bank_account": bank_account,
            }
            return department_id

    def add_product(self, api_token: str, name: str, code: str | None, price_gross: Any, tax: Any = 23,
                    *, stock_level: Any = None, quantity_unit: str = "szt", ean_code: str | None = None,
                    gtu_code: str | None = None) -> int:
        """Documented: a product's net price is derived from its gross price and tax."""
        tax_label = _parse_tax(tax)
        gross = quantize_money(parse_decimal(price_gross))
        with self._lock:
            product_id = self._new_id("product")
            self.account(api_token).products[product_id] = {
                "id": product_id, "name": name, "code": code, "ean_code": ean_code, "tax": tax_label,
                "price_gross": format_money(gross),
                "price_net": format_money(gross / (1 + _rate(tax_label))),
                "currency": "PLN", "quantity_unit": quantity_unit,
                "gtu_codes": [gtu_code] if gtu_code else [],
                "limited": stock_level is not None,
                "stock_level": None if stock_level is None else _format_quantity(parse_decimal(stock_level)),
                "created_at": self._stamp(), "updated_at": self._stamp(),
            }
            return product_id

    def add_client(self, api_token: str, name: str, *, tax_no: str = "", company: bool = True,
                   first_name: str | None = None, last_name: str | None = None,
                   street: str | None = None, post_code: str | None = None, city: str | None = None,
                   country: str | None = "PL", email: str | None = None, phone: str | None = None) -> int:
        with self._lock:
            return self._store_client(self.account(api_token), {
                "name": name, "tax_no": tax_no, "company": company, "first_name": first_name,
                "last_name": last_name, "street": street, "post_code": post_code, "city": city,
                "country": country, "email": email, "phone": phone})

    def add_category(self, api_token: str, name: str) -> int:
        return self._add_named("category", self.account(api_token).categories, name)

    def add_warehouse(self, api_token: str, name: str) -> int:
        return self._add_named("warehouse", self.account(api_token).warehouses, name)

    def _add_named(self, record_type: str, records: dict[int, dict[str, Any]], name: str) -> int:
        with self._lock:
            record_id = self._new_id(record_type)
            records[record_id] = {"id": record_id, "name": name, "description": None}
            return record_id

    def _store_client(self, account: FakturowniaAccount, data: dict[str, Any]) -> int:
        client_id = self._new_id("client")
        account.clients[client_id] = {"id": client_id, **data}
        return client_id

    def _new_id(self, record_type: str) -> int:
        with self._lock:
            record_id = self._next_ids[record_type]
            self._next_ids[record_type] += 1
            return record_id

    def _stamp(self) -> str:
        """Local time with offset and milliseconds, strictly increasing (updated_at must move)."""
        with self._lock:
            now = datetime.now().astimezone()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(milliseconds=1)
            self._last_stamp = now
            return now.isoformat(timespec="milliseconds")

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        return json_response(status, {"code": "error", "message": message})

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # ASSUMPTION: the real API documents no limit; HTTP 429 with Retry-After in seconds.
        return json_response(429, {"code": "error", "message": "Rate limit exceeded"},
                             {"Retry-After": str(retry_after)})

    def rate_limit_key(self, request: Request) -> Any:
        """ASSUMPTION: limited per API token (requests without one: per client IP)."""
        tokens = self._token_candidates(request)
        return tokens[0] if tokens else f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        account = self._authenticate(request)
        return account.prefix if account else None

    # ----------------------------------------------------------------- auth

    @staticmethod
    def _token_candidates(request: Request) -> list[str]:
        """Documented forms: Bearer header, ?api_token=, or "api_token" next to "invoice" in a
        JSON body of POST/PUT. A malformed header counts as a wrong token."""
        tokens = []
        header = request.headers.get("authorization")
        if header is not None:
            match = re.fullmatch(r"Bearer +(\S+)", header.strip())
            tokens.append(match.group(1) if match else "")
        if "api_token" in request.query:
            tokens.append(request.query["api_token"])
        body = request.json if request.method in ("POST", "PUT") else None
        if isinstance(body, dict) and "api_token" in body:
            token = body["api_token"]
            tokens.append(token if isinstance(token, str) else "")
        return tokens

    def _authenticate(self, request: Request) -> FakturowniaAccount | None:
        # ASSUMPTION: when several forms are sent, all must name the same account.
        accounts = {self._accounts.get(token) for token in self._token_candidates(request)}
        if len(accounts) != 1 or None in accounts:
            return None
        return accounts.pop()

    def _require_account(self, request: Request) -> FakturowniaAccount:
        account = self._authenticate(request)
        if account is None:
            raise HttpError(json_response(401, UNAUTHORIZED))
        return account

    @staticmethod
    def _invoice_body(request: Request, allowed_keys: frozenset[str]) -> tuple[dict[str, Any], FieldErrors]:
        """The body of POST/PUT, ``{"invoice": {...}}`` sent as application/json, and the errors of
        its top-level keys (reported together with the invoice's own errors)."""
        if not request.is_json:
            # ASSUMPTION: the docs require Content-Type: application/json but do not say what a
            # wrong one gets; 415 with an error body in the usual shape.
            raise HttpError(json_response(415, {
                "code": "error", "message": "Unsupported Media Type: send Content-Type: application/json"}))
        if request.json_error is not None or not isinstance(request.json, dict):
            # ASSUMPTION: unparsable JSON (or not an object) is a 400 in the usual shape.
            raise HttpError(json_response(400, {"code": "error",
                                                "message": "Bad Request: invalid JSON body"}))
        errors = FieldErrors()
        for key in sorted(request.json.keys() - allowed_keys):
            errors.add(key, UNKNOWN_FIELD)
        if not isinstance(request.json.get("invoice"), dict):
            errors.add("invoice", BLANK if request.json.get("invoice") is None else INVALID)
        for key in ("gov_save_and_send", "identify_oss", "fill_default_descriptions"):
            if key in request.json:
                try:
                    parse_boolish(request.json[key])
                except ValueError:
                    errors.add(key, INVALID)
        if "invoice" in errors:
            raise HttpError(_unprocessable(errors))  # nothing to validate further
        return request.json, errors

    # ----------------------------------------------------------------- invoices: create and edit

    @route("POST", r"/invoices\.json")
    def create_invoice(self, request: Request) -> Response:
        account = self._require_account(request)
        body, errors = self._invoice_body(request, CREATE_TOP_LEVEL_KEYS)
        source = copy.deepcopy(body["invoice"])
        errors.merge(_field_name_errors(source, POSITION_FIELDS))
        with self._lock:
            builder = _InvoiceBuilder(account, source, today=self.today(), existing=None, errors=errors,
                                      client_card_wins="client_id" in source)
            try:
                invoice, positions_source = builder.build()
            except _Rejected as rejected:
                return _unprocessable(rejected.errors)
            invoice["id"] = self._new_id("invoice")
            self._apply_top_level_flags(request, invoice)
            invoice["number"] = invoice.get("number") or self._next_number(account, invoice)
            invoice["token"] = secrets.token_hex(10)
            invoice["view_url"] = f"{self.base_url}/invoice/{invoice['token']}"
            invoice["created_at"] = invoice["updated_at"] = self._stamp()
            self._store(account, invoice, source, positions_source)
            self._move_stock(account, invoice)
            # ASSUMPTION: 201 Created (the docs only show the body; clients should accept any 2xx).
            return json_response(201, _render_invoice(invoice, full_corrections=True))

    @route("PUT", r"/invoices/(?P<id>\d+)\.json")
    def update_invoice(self, request: Request) -> Response:
        """Documented edit: header fields replace; positions with "id" are edited (or removed with
        "_destroy": 1), positions without "id" are appended. Totals are recomputed."""
        account = self._require_account(request)
        body, errors = self._invoice_body(request, UPDATE_TOP_LEVEL_KEYS)
        patch = body["invoice"]
        errors.merge(_field_name_errors(patch, POSITION_UPDATE_FIELDS))
        with self._lock:
            existing = self._require_invoice(account, int(request.params["id"]))
            source = copy.deepcopy(account.sources[existing["id"]])
            for name, value in patch.items():
                if name == "positions":
                    source["positions"] = _merge_positions(source["positions"], value, errors)
                elif name == "number" and _is_blank(value):
                    continue  # ASSUMPTION: a null number on edit keeps the number it has
                else:
                    source[name] = copy.deepcopy(value)
            builder = _InvoiceBuilder(account, source, today=self.today(), existing=existing, errors=errors,
                                      client_card_wins="client_id" in patch)
            try:
                invoice, positions_source = builder.build()
            except _Rejected as rejected:
                return _unprocessable(rejected.errors)
            for name in ("id", "token", "view_url", "created_at"):
                invoice[name] = existing[name]
            self._apply_top_level_flags(request, invoice)
            invoice["number"] = invoice.get("number") or existing["number"]
            invoice["updated_at"] = self._stamp()
            # ASSUMPTION: editing an invoice does not move stock again.
            self._store(account, invoice, source, positions_source, replacing=existing)
            return json_response(200, _render_invoice(existing, full_corrections=True))

    def _store(self, account: FakturowniaAccount, invoice: dict[str, Any], source: dict[str, Any],
               positions_source: list[dict[str, Any]], *, replacing: dict[str, Any] | None = None) -> None:
        """Save a built invoice, and the source a later PUT rebuilds it from. Defaults chosen now
        (number, dates, the buyer taken from a client card) are frozen into that source."""
        self._link_client(account, invoice)
        for position, position_source in zip(invoice["positions"], positions_source, strict=True):
            position["id"] = position_source["id"] = position_source.get("id") or self._new_id("position")
        frozen = {**source, "positions": positions_source}
        for name in ("number", "kind", "issue_date", "sell_date", "client_id", *BUYER_FIELDS):
            if invoice.get(name) is not None:
                frozen[name] = invoice[name]
        account.sources[invoice["id"]] = frozen
        if replacing is None:
            account.invoices.append(invoice)
        else:
            replacing.clear()
            replacing.update(invoice)  # the same dict object: tests holding it see the edit

    def _apply_top_level_flags(self, request: Request, invoice: dict[str, Any]) -> None:
        body = request.json
        if _flag(body.get("identify_oss")) and invoice.get("use_oss") \
                and (invoice.get("buyer_country") or "PL") == (invoice.get("seller_country") or "PL"):
            invoice["use_oss"] = False  # documented: not marked OSS when the conditions fail
        account = self._require_account(request)
        auto = account.ksef_auto_send and invoice["id"] not in account.ksef_submissions
        if auto or _flag(body.get("gov_save_and_send")) or _flag(request.query.get("gov_save_and_send")):
            self._send_to_ksef(account, invoice)

    @staticmethod
    def _send_to_ksef(account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """Queue the document for KSeF, as right after a real send (documented statuses)."""
        if invoice["kind"] not in KSEF_KINDS:
            invoice["gov_status"] = "not_applicable"
        elif not account.ksef_connected:
            invoice["gov_status"] = "not_connected"
        else:
            invoice["gov_status"] = "processing"
            account.ksef_reads[invoice["id"]] = 0
            account.ksef_submissions[invoice["id"]] = account.ksef_submissions.get(invoice["id"], 0) + 1

    def _settle_ksef(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """A read of a document KSeF is processing: after enough reads, KSeF has answered."""
        if invoice.get("gov_status") != "processing":
            return
        reads = account.ksef_reads[invoice["id"]] = account.ksef_reads.get(invoice["id"], 0) + 1
        if reads < account.ksef_reads_until_final:
            return
        if account.ksef_rejects:
            invoice["gov_status"] = "send_error"
            invoice["gov_error_messages"] = ["Błąd weryfikacji semantyki dokumentu faktury"]  # ASSUMPTION: text
        else:
            number = ksef_number(str(invoice.get("seller_tax_no") or "5252445767"),
                                 date.fromisoformat(invoice["issue_date"]))
            invoice["gov_id"] = number if account.ksef_number_with_check else number.rsplit("-", 1)[0]
            invoice["gov_status"] = "ok"
            invoice["gov_send_date"] = invoice["issue_date"]

    def _next_number(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> str:
        issue = date.fromisoformat(invoice["issue_date"])
        department = account.departments.get(invoice.get("department_id"))
        key = (invoice["kind"], invoice.get("department_id"), issue.year, issue.month)
        taken = {inv["number"] for inv in account.invoices if inv["kind"] == invoice["kind"]}
        prefix = NUMBER_PREFIXES.get(invoice["kind"], invoice["kind"].upper())
        suffix = f"/{department['shortcut']}" if department else ""
        while True:  # skip numbers already taken by documents with an own number
            account.number_counters[key] = account.number_counters.get(key, 0) + 1
            number = f"{prefix} {account.number_counters[key]}/{issue.month:02d}/{issue.year}{suffix}"
            if number not in taken:
                return number

    def _link_client(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """Documented: without client_id the buyer is matched to a client card or a new one is made;
        client_id -1 always makes one; buyer_override updates the card."""
        card = {name.removeprefix("buyer_"): invoice.get(name)
                for name in BUYER_FIELDS if name != "buyer_tax_no_kind"}
        client_id = invoice.get("client_id")
        if client_id in account.clients:
            if invoice.get("buyer_override"):
                account.clients[client_id].update(card)
            return
        if client_id is None:
            # ASSUMPTION on the matching rule: same NIP, else same name and e-mail. (-1 never
            # matches: it always makes a new card.)
            client_id = next((client["id"] for client in account.clients.values()
                              if (card["tax_no"] and client["tax_no"] == card["tax_no"])
                              or (client["name"], client["email"]) == (card["name"], card["email"])), None)
        if client_id in (None, -1):
            client_id = self._store_client(account, card)
        invoice["client_id"] = client_id

    def _move_stock(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """ASSUMPTION: a stock-moving document takes its linked products' quantities off stock."""
        if invoice["kind"] not in STOCK_MOVING_KINDS or invoice.get("exclude_from_stock_level"):
            return
        for position in invoice["positions"]:
            product = account.products.get(position["product_id"])
            if product is not None and product["stock_level"] is not None:
                level = Decimal(product["stock_level"]) - Decimal(position["quantity"])
                product["stock_level"] = _format_quantity(level)
                product["updated_at"] = self._stamp()

    # ----------------------------------------------------------------- invoices: read

    @route("GET", r"/invoices/(?P<id>\d+)\.json")
    def get_invoice(self, request: Request) -> Response:
        account = self._require_account(request)
        with self._lock:
            invoice = self._require_invoice(account, int(request.params["id"]))
            if _flag(request.query.get("send_to_ksef")):  # documented: send an existing invoice
                self._send_to_ksef(account, invoice)
            else:
                self._settle_ksef(account, invoice)
            full = request.query.get("correction_positions") == "full"
            return json_response(200, _render_invoice(invoice, full_corrections=full))

    @route("GET", r"/invoices\.json")
    def list_invoices(self, request: Request) -> Response:
        account = self._require_account(request)
        query = request.query
        errors = FieldErrors()
        in_period = self._period_filter(query, errors)
        page, per_page = _pagination(query, errors)
        if errors:
            return _unprocessable(errors)
        kinds = set(request.query_lists.get("kinds[]", []))  # documented: kinds[]=vat&kinds[]=proforma
        if query.get("kind"):
            kinds.add(query["kind"])
        ids = {int(part) for part in query.get("invoice_ids", "").split(",") if part.strip().isdigit()}
        with self._lock:
            selected = [
                inv for inv in account.invoices
                if in_period(inv)
                # ASSUMPTION (community reports): ?oid= is not an exact match; a substring match
                # here makes clients compare the oid exactly themselves.
                and (not query.get("oid") or query["oid"] in (inv["oid"] or ""))
                and (not kinds or inv["kind"] in kinds)
                and (not query.get("number") or inv["number"] == query["number"])
                and (not ids or inv["id"] in ids)
                and (not query.get("client_id") or str(inv["client_id"]) == query["client_id"])
                and (not query.get("department_id") or str(inv["department_id"]) == query["department_id"])
            ]
            selected = _ordered(selected, query.get("order"))
            page_items = selected[(page - 1) * per_page: page * per_page]
            with_positions = query.get("include_positions") == "true"
            return json_response(200, [_render_invoice(inv, include_positions=with_positions)
                                       for inv in page_items])

    def _period_filter(self, query: dict[str, str], errors: FieldErrors) -> Callable[[dict], bool]:
        """Documented periods; the default is this_month. ASSUMPTION: judged on issue_date unless
        search_date_type says otherwise (documented default), relative to today."""
        period = query.get("period", "this_month")
        date_field = {"issue_date": "issue_date", "paid_date": "paid_date",
                      "transaction_date": "sell_date"}.get(query.get("search_date_type", "issue_date"))
        if period not in PERIODS:
            errors.add("period", INVALID)  # ASSUMPTION: unknown values refused, not ignored
        if date_field is None:
            errors.add("search_date_type", INVALID)
        if period == "all" or errors:
            return lambda invoice: True
        today = self.today()
        month_start = today.replace(day=1)
        last_month_end = month_start - timedelta(days=1)
        next_month_start = (month_start + timedelta(days=32)).replace(day=1)
        if period == "more":
            try:
                start, end = parse_date(query.get("date_from")), parse_date(query.get("date_to"))
            except ValueError:
                errors.add("date_from", INVALID)
                return lambda invoice: True
        else:
            start, end = {
                "this_month": (month_start, next_month_start - timedelta(days=1)),
                "last_month": (last_month_end.replace(day=1), last_month_end),
                "last_30_days": (today - timedelta(days=30), today),
                "last_12_months": (today - timedelta(days=365), today),
                "this_year": (date(today.year, 1, 1), date(today.year, 12, 31)),
                "last_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
            }[period]

        def in_period(invoice: dict[str, Any]) -> bool:
            value = invoice.get(date_field)
            if not value:
                return False
            day = date.fromisoformat(value if len(value) == 10 else f"{value}-01")
            return start <= day <= end

        return in_period

    # ----------------------------------------------------------------- PDF

    @route("GET", r"/invoices/(?P<id>\d+)\.pdf")
    def invoice_pdf(self, request: Request) -> Response:
        account = self._require_account(request)
        option = request.query.get("print_option", "original")
        if option not in PRINT_OPTIONS:
            # ASSUMPTION: an unknown print_option is refused rather than silently printed.
            return _unprocessable_field("print_option", INVALID)
        with self._lock:
            invoice = self._require_invoice(account, int(request.params["id"]))
            return self._pdf_response(account, invoice, option, inline=False)

    @route("GET", r"/invoice/(?P<token>[0-9A-Za-z_-]+)\.pdf")
    def public_invoice_pdf(self, request: Request) -> Response:
        """Documented public link: no credentials, so whoever has the token can read it."""
        with self._lock:
            account, invoice = self._invoice_by_token(request.params["token"])
            inline = request.query.get("inline") == "yes"
            return self._pdf_response(account, invoice, "original", inline=inline)

    @route("GET", r"/invoice/(?P<token>[0-9A-Za-z_-]+)")
    def public_invoice_view(self, request: Request) -> Response:
        with self._lock:
            _, invoice = self._invoice_by_token(request.params["token"])
            number, buyer = html.escape(invoice["number"]), html.escape(invoice["buyer_name"])
            page = (f"<!doctype html><title>{number}</title><h1>{number}</h1><p>{buyer}</p>"
                    f"<p>{invoice['price_gross']} {invoice['currency']}</p>"
                    f"<a href=\"/invoice/{invoice['token']}.pdf\">PDF</a>")
            return bytes_response(200, "text/html; charset=utf-8", page.encode("utf-8"))

    def _invoice_by_token(self, token: str) -> tuple[FakturowniaAccount, dict[str, Any]]:
        for account in self._accounts.values():
            for invoice in account.invoices:
                if secrets.compare_digest(invoice["token"], token):
                    return account, invoice
        raise HttpError(json_response(404, NOT_FOUND))

    def _pdf_response(self, account: FakturowniaAccount, invoice: dict[str, Any], option: str,
                      *, inline: bool) -> Response:
        filename = re.sub(r"[^0-9A-Za-z]+", "_", invoice["number"]).strip("_") + ".pdf"
        disposition = "inline" if inline else "attachment"
        return bytes_response(200, "application/pdf", _invoice_pdf(account, invoice, option),
                              {"Content-Disposition": f'{disposition}; filename="{filename}"'})

    # ----------------------------------------------------------------- catalogue

    @route("GET", r"/departments\.json")
    def list_departments(self, request: Request) -> Response:
        return self._list_records(request, "departments")

    @route("GET", r"/departments/(?P<id>\d+)\.json")
    def get_department(self, request: Request) -> Response:
        return self._get_record(request, "departments")

    @route("GET", r"/categories\.json")
    def list_categories(self, request: Request) -> Response:
        return self._list_records(request, "categories")

    @route("GET", r"/warehouses\.json")
    def list_warehouses(self, request: Request) -> Response:
        return self._list_records(request, "warehouses")

    @route("GET", r"/products\.json")
    def list_products(self, request: Request) -> Response:
        """Community clients look products up with ?search=<code> and pick the exact code themselves;
        ASSUMPTION: search is a case-insensitive substring of name, code or EAN."""
        search = request.query.get("search", "").lower()
        date_from = request.query.get("date_from")

        def wanted(product: dict[str, Any]) -> bool:
            haystack = " ".join(str(product[key] or "") for key in ("name", "code", "ean_code")).lower()
            return search in haystack and (not date_from or product["updated_at"][:10] >= date_from)

        return self._list_records(request, "products", wanted)

    @route("GET", r"/products/(?P<id>\d+)\.json")
    def get_product(self, request: Request) -> Response:
        return self._get_record(request, "products")

    def _list_records(self, request: Request, collection: str,
                      wanted: Callable[[dict[str, Any]], bool] = lambda record: True) -> Response:
        account = self._require_account(request)
        errors = FieldErrors()
        page, per_page = _pagination(request.query, errors)
        if errors:
            return _unprocessable(errors)
        with self._lock:
            records = [copy.deepcopy(record) for record in getattr(account, collection).values()
                       if wanted(record)]
        return json_response(200, records[(page - 1) * per_page: page * per_page])

    def _get_record(self, request: Request, collection: str) -> Response:
        account = self._require_account(request)
        with self._lock:
            record = getattr(account, collection).get(int(request.params["id"]))
            if record is None:
                return json_response(404, NOT_FOUND)
            return json_response(200, copy.deepcopy(record))

    @staticmethod
    def _require_invoice(account: FakturowniaAccount, invoice_id: int) -> dict[str, Any]:
        invoice = account.invoice(invoice_id)
        if invoice is None:  # documented 404, also for another account's invoice
            raise HttpError(json_response(404, NOT_FOUND))
        return invoice


# --------------------------------------------------------------------------- module helpers


def _flag(value: Any) -> bool:
    """A top-level switch such as gov_save_and_send: blank or unparsable means off."""
    try:
        return not _is_blank(value) and parse_boolish(value)
    except ValueError:
        return False


def _unprocessable(errors: FieldErrors) -> Response:
    """Documented 422 shape. ASSUMPTION: nested fields are keyed like "positions[0].tax"."""
    return json_response(422, {"code": "error", "message": errors.as_dict()})


def _unprocessable_field(name: str, message: str) -> Response:
    errors = FieldErrors()
    errors.add(name, message)
    return _unprocessable(errors)


def _field_name_errors(invoice: dict[str, Any], position_fields: frozenset[str]) -> FieldErrors:
    """Unknown keys of the invoice, its positions and their correction halves."""
    errors = FieldErrors()
    for name in sorted(invoice.keys() - INVOICE_FIELDS):
        errors.add(name, UNKNOWN_FIELD)
    positions = invoice.get("positions")
    if positions is not None and not isinstance(positions, list):
        errors.add("positions", INVALID)
        return errors
    for index, position in enumerate(positions or []):
        if not isinstance(position, dict):
            continue
        for name in sorted(position.keys() - position_fields):
            errors.add(f"positions[{index}].{name}", UNKNOWN_FIELD)
        for side in ("correction_before_attributes", "correction_after_attributes"):
            if isinstance(position.get(side), dict):
                for name in sorted(position[side].keys() - CORRECTION_SIDE_FIELDS):
                    errors.add(f"positions[{index}].{side}.{name}", UNKNOWN_FIELD)
    return errors


def _merge_positions(current: list[dict[str, Any]], changes: Any,
                     errors: FieldErrors) -> list[dict[str, Any]]:
    if not isinstance(changes, list):
        errors.add("positions", INVALID)
        return current
    merged = [dict(position) for position in current]
    for index, change in enumerate(changes):
        if not isinstance(change, dict):
            errors.add(f"positions[{index}]", INVALID)
            continue
        if "id" not in change:
            if "_destroy" in change:
                errors.add(f"positions[{index}].id", BLANK)
            merged.append(dict(change))
            continue
        target = next((position for position in merged if str(position.get("id")) == str(change["id"])), None)
        if target is None:
            errors.add(f"positions[{index}].id", MISSING_RECORD)
        elif change.get("_destroy") in (1, "1", True, "true"):
            merged.remove(target)
        else:
            target.update({key: value for key, value in change.items() if key not in ("id", "_destroy")})
    return merged


def _pagination(query: dict[str, str], errors: FieldErrors) -> tuple[int, int]:
    """Documented page (from 1) and per_page (max 100).

    ASSUMPTION: default per_page 25; above 100 is capped at 100; non-numbers are refused."""
    numbers = {}
    for name, default in (("page", 1), ("per_page", 25)):
        raw = query.get(name, str(default))
        if not raw.isdigit() or int(raw) < 1:
            errors.add(name, INVALID)
            numbers[name] = default
        else:
            numbers[name] = int(raw)
    return numbers["page"], min(numbers["per_page"], 100)


ORDER_FIELDS = frozenset({"number", "updated_at", "price_net", "price_gross", "price_tax", "issue_date",
                          "payment_to", "paid_date", "transaction_date", "buyer_name", "buyer_tax_no",
                          "seller_name", "oid"})


def _ordered(invoices: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
    """Documented order= values (append .desc). ASSUMPTION: default newest id first; unknown
    values fall back to the default."""
    name, _, direction = (order or "").partition(".")
    if name not in ORDER_FIELDS:
        return sorted(invoices, key=lambda inv: inv["id"], reverse=True)
    name = "sell_date" if name == "transaction_date" else name
    money = name.startswith("price_")

    def key(invoice: dict[str, Any]) -> tuple:
        value = invoice.get(name)
        if money:
            value = Decimal(value)
        return (value is None, value if value is not None else "", invoice["id"])

    return sorted(invoices, key=key, reverse=direction == "desc")


def _render_invoice(invoice: dict[str, Any], *, include_positions: bool = True,
                    full_corrections: bool = False) -> dict[str, Any]:
    """The JSON the API returns. Correction halves only with ?correction_positions=full (documented)."""
    rendered = copy.deepcopy(invoice)
    if not include_positions:
        rendered.pop("positions", None)
    elif not full_corrections:
        for position in rendered["positions"]:
            position.pop("correction_before_attributes", None)
            position.pop("correction_after_attributes", None)
    return rendered


def _invoice_pdf(account: FakturowniaAccount, invoice: dict[str, Any], print_option: str) -> bytes:
    currency = invoice["currency"]
    lines = [
        {"original": "ORYGINAL", "copy": "KOPIA", "original_and_copy": "ORYGINAL / KOPIA",
         "duplicate": "DUPLIKAT"}[print_option],
        f"Numer: {invoice['number']}",
        f"Data wystawienia: {invoice['issue_date']}   Data sprzedazy: {invoice['sell_date']}",
        f"Sprzedawca: {invoice.get('seller_name') or ''} NIP {invoice.get('seller_tax_no') or ''}",
        f"Nabywca: {invoice['buyer_name']} NIP {invoice.get('buyer_tax_no') or '-'}",
    ]
    if invoice["kind"] == "correction":
        original = account.invoice(invoice.get("invoice_id") or invoice.get("from_invoice_id"))
        lines.append(f"Korekta do: {original['number'] if original else '?'}; "
                     f"przyczyna: {invoice['correction_reason']}")
    lines.append("")
    for index, position in enumerate(invoice["positions"], start=1):
        lines.append(f"{index}. {position['name']} | {position['quantity']} {position['quantity_unit']}"
                     f" x {position['price_gross']} | VAT {position['tax']}"
                     f" | netto {position['total_price_net']}"
                     f" | brutto {position['total_price_gross']} {currency}")
    lines += [
        "",
        f"Razem netto: {invoice['price_net']} {currency}",
        f"VAT: {invoice['price_tax']} {currency}",
        f"Razem brutto: {invoice['price_gross']} {currency}",
        f"Status: {invoice['status']}   Termin platnosci: {invoice.get('payment_to') or '-'}",
    ]
    return render_pdf(f"{PDF_TITLES.get(invoice['kind'], 'Dokument')} {invoice['number']}", lines)
