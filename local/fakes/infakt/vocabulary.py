"""The inFakt fake's vocabulary: documented values, messages, error bodies, records and field checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from local.fakes.common import ISO_3166_ALPHA2, parse_date, parse_decimal

API = "/api/v3"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Documented per-IP limits (I-PM "Limity"): GET and everything else are counted separately.
READ_LIMIT = (300, 60.0)
WRITE_LIMIT = (150, 60.0)

SCOPE_READ = "api:invoices:read"
SCOPE_WRITE = "api:invoices:write"

# --------------------------------------------------------------------------- documented vocabularies

PAYMENT_METHODS = frozenset({
    "transfer", "cash", "card", "barter", "check", "bill_of_sale", "delivery", "compensation",
    "accredited", "paypal", "instalment_sale", "payu", "tpay", "przelewy24", "dotpay", "other",
})
CREATE_STATUSES = frozenset({"draft", "sent", "printed", "paid"})
# The docs read two ways (ASSUMPTION which holds): infakt/API readme.md's field table says `status`
# "można ustawiać przy zapisie" (can be set when saving) and the Postman "Stwórz" example creates a
# paid invoice ("honoured"), while the same readme says "Faktura zawsze tworzy się w statusie draft"
# (always created as a draft; then marked paid, printed or sent: "always_draft"). always_draft
# ignores `status` and `paid_date` on a create; the document is then an unpaid draft.
CREATE_STATUS_READINGS = frozenset({"honoured", "always_draft"})
ACTIVITY_KINDS = frozenset({"private_person", "self_employed", "other_business"})
EXCHANGE_DATE_KINDS = frozenset({"vat", "pit"})
INVOICE_DATE_KINDS = frozenset({"sale_date", "service_date", "cargo_date", "continuous_service_end_on"})
SPLIT_PAYMENT_TYPES = frozenset({"required", "optional"})
CORRECTION_REASONS = {"mistake": "Pomyłka", "other": "Inna"}  # write: symbol; read: Polish name
PDF_DOCUMENT_TYPES = frozenset({"original", "copy", "original_copy", "original_duplicate", "copy_duplicate",
                                "duplicate", "regular", "double_regular"})
PDF_LOCALES = frozenset({"pl", "en", "pe"})
# ASSUMPTION: the symbols the docs name (GET /vat_rates.json holds the full list, which the docs do
# not reproduce). Reverse charge, WDT and export symbols are undocumented, so they are refused here
# rather than guessed.
TAX_SYMBOLS = frozenset({"23", "8", "5", "0", "zw", "np"})

PROCESSING = {
    100: "Zlecenie przyjęte",
    120: "Zlecenie czeka na przetworzenie",
    140: "Zlecenie jest w trakcie przetwarzania",
    201: "Faktura stworzona",
    422: "Nie udało się stworzyć faktury",
}

INVOICE_FIELDS = frozenset({
    "kind", "number", "check_duplicate_number", "currency", "payment_method", "invoice_date", "sale_date",
    "invoice_date_kind", "payment_date", "paid_date", "paid_price", "status", "client_id",
    "client_company_name", "client_first_name", "client_last_name", "client_business_activity_kind",
    "client_tax_code", "client_street", "client_street_number", "client_flat_number", "client_city",
    "client_post_code", "client_country", "notes", "split_payment", "split_payment_type",
    "vat_exemption_reason", "vat_exchange_date_kind", "bank_account", "bank_name", "swift",
    "sale_type", "transaction_terms", "services",
})
CORRECTION_FIELDS = (INVOICE_FIELDS - {"kind"}) | {
    "corrected_invoice_number", "corrected_invoice_date", "corrected_invoice_uuid", "correction_reason",
    "check_correction_obligation", "sale_date_before_correction",
}
SERVICE_FIELDS = frozenset({"name", "tax_symbol", "unit", "quantity", "unit_net_price", "net_price",
                            "discount", "unit_net_price_before_discount",
                            "gross_price", "pkwiu", "cn", "pkob", "gtin", "gtu_id", "flat_rate_tax_symbol"})
CORRECTION_SERVICE_FIELDS = SERVICE_FIELDS | {"group", "correction"}
# Read-only on every document (documented): sending them is an error, not a silent no-op.
READ_ONLY_FIELDS = frozenset({"id", "uuid", "net_price", "tax_price", "gross_price", "left_to_pay",
                              "client_uuid", "ksef_number", "ksef_data", "correction_reason_symbol",
                              "exchange_rates_data", "created_at"})
# Documented features this fake does not model: refused loudly rather than silently ignored.
NOT_MODELLED_SERVICE_FIELDS: frozenset[str] = frozenset()

# --------------------------------------------------------------------------- messages
# ASSUMPTION: the wording of validation messages is not documented; Polish, Rails-style.

BLANK = "nie może być puste"
INVALID = "jest nieprawidłowe"
NOT_GROSZE = "musi być liczbą całkowitą (kwota w groszach)"
NOT_ON_LIST = "nie znajduje się na liście dopuszczalnych wartości"
TAKEN = "jest już zajęty"
UNKNOWN_FIELD = "nieznany parametr"
READ_ONLY = "jest tylko do odczytu"
NOT_MODELLED = "not modelled by the local inFakt fake"
NOT_POSITIVE = "musi być większe od 0"
NEGATIVE = "nie może być ujemne"
MISSING_RECORD = "nie istnieje"
BANK_NOT_VERIFIED = "konto bankowe musi być dodane i zweryfikowane w aplikacji"
ALREADY_PAID = "faktura jest już opłacona"
PAID_BEFORE_ISSUE = "nie może być wcześniejsza niż data wystawienia"  # documented rule
NOT_A_DRAFT = "faktura nie jest szkicem"
BEFORE_NOT_ORIGINAL = "pozycja przed korektą musi odpowiadać pozycji faktury korygowanej"
PAIR_REQUIRED = "każda grupa musi mieć jedną pozycję przed korektą i jedną po korekcie"
DATE_AND_SERVICES = "nie można jednocześnie korygować daty sprzedaży i pozycji"
CORRECTED_MISMATCH = "nie zgadza się z fakturą korygowaną"
INCONSISTENT_NET = "nie zgadza się z ceną jednostkową i ilością"
TOO_LONG = "jest za długie (maksymalnie {limit} znaków)"

# Text lengths. Documented under KSeF (I-PM "Services"; I-DOC ksef.md): a service's name 256, notes 3500;
# ASSUMPTION: refused at the create while the account's KSeF integration is active. The client's fields
# have no documented length: ASSUMPTION 255, what Fakturownia (also Rails) documents for its buyer.
SERVICE_NAME_LIMIT = 256
KSEF_NOTES_LIMIT = 3500
CLIENT_TEXT_LIMIT = 255
CLIENT_TEXT_FIELDS = ("client_company_name", "client_first_name", "client_last_name", "client_street",
                      "client_city")

# ASSUMPTION: error bodies outside the async task (401, 404, 400, 429) are not documented;
# {"error": "..."} is the shape used here.
UNAUTHORIZED = {"error": "Unauthorized"}
NOT_FOUND = {"error": "Not Found"}
# Documented KSeF answers (infakt/API ksef.md).
KSEF_NOT_INTEGRATED = {"error": "Użytkownik nie jest zintegrowany z KSeF."}
KSEF_NOT_FOUND = {"error": "Zasób którego szukasz nie został znaleziony."}
KSEF_SENT = "Faktura została wysłana do przetworzenia w KSeF."
KSEF_DONE = "Faktura została przetworzona."
# ASSUMPTION: a second send while a submission is in flight or accepted is refused (undocumented).
KSEF_ALREADY_SENT = {"error": "Faktura została już wysłana do KSeF."}


# --------------------------------------------------------------------------- records


@dataclass
class Task:
    """One asynchronous task: a creation (invoice or corrective invoice) or marking an invoice paid."""

    reference: str
    resource: str  # "invoices" or "corrective_invoices": the status endpoint that knows it
    created_at: str
    ready_at: float  # time.monotonic() after which the background worker has processed it
    polls_left: int  # status reads answered "in progress" before it is processed
    document: dict[str, Any] | None  # what a creation stores on success
    errors: dict[str, list[str]] | None  # invoice_errors on failure
    done: bool = False
    invoice_uuid: str | None = None  # the created document; for mark_as_paid, the invoice marked
    send_to_ksef: bool = False  # the create's documented top-level switch
    action: str = "create_invoice"  # or "mark_as_paid" (the status endpoint reports it)
    paid_date: str | None = None  # mark_as_paid


@dataclass(eq=False)
class InfaktAccount:
    api_key: str
    company: dict[str, str]
    scopes: frozenset[str]
    default_vat_exemption: int | None = None
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    corrections: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    vat_exemptions: dict[int, str] = field(default_factory=dict)
    bank_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by account number
    clients: dict[int, dict[str, Any]] = field(default_factory=dict)
    accounted: set[str] = field(default_factory=set)  # drafts put into the accounts (mark_as_accounted)
    number_counters: dict[tuple, int] = field(default_factory=dict, repr=False)
    # KSeF. ASSUMPTION: KSeF itself is modelled only by these switches (answer after some reads).
    ksef_connected: bool = True  # an active KSeF integration (GET /ksef2/integration.json "active")
    ksef_auto_send: bool = False  # the app's automation sends every new document by itself
    ksef_reads_until_final: int = 1  # reads of a submission answered "sent" before KSeF's answer
    ksef_rejects: str | None = None  # KSeF refuses new submissions with this status_description
    ksef_submissions: dict[str, int] = field(default_factory=dict)  # document uuid -> sends received
    ksef_reads_left: dict[str, int] = field(default_factory=dict, repr=False)

    def document(self, document_uuid: str) -> dict[str, Any] | None:
        return self.invoices.get(document_uuid) or self.corrections.get(document_uuid)


# --------------------------------------------------------------------------- value checks


class _Invalid(ValueError):
    """A value failed validation; ``args[0]`` is the message for invoice_errors."""


def _grosze(value: Any) -> int:
    """A money field: a JSON integer of grosze. Decimals (numbers or strings) are refused.

    ASSUMPTION: the real API is known to misread "59.98" as 59 grosze (openlinker #1293); the fake
    refuses every non-integer so that mistake is loud in tests.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(NOT_GROSZE)
    return value


def _quantity(value: Any) -> Decimal:
    """Documented as a number with decimals allowed; numeric strings as in the docs' examples."""
    if isinstance(value, bool):
        raise _Invalid(INVALID)
    try:
        return parse_decimal(value)
    except ValueError:
        raise _Invalid(INVALID) from None


def _date(value: Any) -> str:
    try:
        return parse_date(value).isoformat()
    except ValueError:
        raise _Invalid(INVALID) from None


def _enum(allowed: frozenset[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _Invalid(NOT_ON_LIST)
        return value
    return check


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(INVALID)
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(INVALID)
    return value


def _country(value: Any) -> str:
    if not isinstance(value, str) or value not in ISO_3166_ALPHA2:
        raise _Invalid(INVALID)
    return value


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise _Invalid(INVALID)
    return value


def _record_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid(INVALID)
    return value


def _transaction_terms(value: Any) -> dict[str, list[dict[str, str]]]:
    """Documented KSeF WarunkiTransakcji: {"contracts"|"orders": [{"number", "date"}]}."""
    if not isinstance(value, dict) or not set(value) <= {"contracts", "orders"}:
        raise _Invalid(INVALID)
    terms = {}
    for name, entries in value.items():
        if not isinstance(entries, list) or not all(
                isinstance(entry, dict) and set(entry) == {"number", "date"} and isinstance(entry["number"], str)
                for entry in entries):
            raise _Invalid(INVALID)
        terms[name] = [{"number": entry["number"], "date": _date(entry["date"])} for entry in entries]
    return terms


HEADER_CHECKS: dict[str, Callable[[Any], Any]] = {
    "kind": _enum(frozenset({"vat", "proforma"})), "number": _text, "check_duplicate_number": _bool,
    "currency": _currency, "payment_method": _enum(PAYMENT_METHODS), "invoice_date": _date,
    "sale_date": _date, "invoice_date_kind": _enum(INVOICE_DATE_KINDS), "payment_date": _date,
    "paid_date": _date, "paid_price": _grosze, "status": _enum(CREATE_STATUSES), "client_id": _record_id,
    "client_business_activity_kind": _enum(ACTIVITY_KINDS), "client_country": _country,
    "split_payment": _bool, "split_payment_type": _enum(SPLIT_PAYMENT_TYPES),
    "vat_exemption_reason": _record_id, "vat_exchange_date_kind": _enum(EXCHANGE_DATE_KINDS),
    "sale_type": _enum(frozenset({"service", "merchandise"})), "transaction_terms": _transaction_terms,
    "corrected_invoice_date": _date, "corrected_invoice_number": _text,
    "corrected_invoice_uuid": _text, "correction_reason": _enum(frozenset(CORRECTION_REASONS)),
    "check_correction_obligation": _bool, "sale_date_before_correction": _date,
}

