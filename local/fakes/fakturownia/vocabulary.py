"""Fakturownia's documented vocabulary: values, error messages, field validators."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from local.fakes.common import (
    ISO_3166_ALPHA2,
    parse_boolish,
    parse_date,
    parse_decimal,
    quantize_money,
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


