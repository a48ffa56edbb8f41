"""Strict local fake of the inFakt HTTP API (v3).

An independent model of the provider, written from its public documentation (infakt/API
readme.md and the official Postman collection behind docs.infakt.pl; summarised with sources in
/work/shared/providers/fakturownia-infakt.md section 2) plus what a live sandbox integration
reported (openlinker PRs, marked as such). It never imports the production package: it must be
able to prove that package wrong.

What makes inFakt different, and what this fake therefore insists on:

* every amount is an INTEGER number of grosze: a decimal (59.98 or "59.98") is refused with a 422
  instead of being read 100x too low, the bug other integrations shipped;
* documents are created ASYNCHRONOUSLY: POST /async/invoices.json answers a task reference; the
  document appears when the task is processed, and the status endpoint tells 100/120/140, then
  201 with ``invoice_uuid`` or 422 with ``invoice_errors``;
* corrections have their own resource (/async/corrective_invoices.json, /corrective_invoices/...):
  a correction body posted to the invoice endpoint is refused, and a correction's uuid is unknown
  under /invoices/;
* downloading a draft's PDF turns it into "printed" (documented side effect);
* a create's ``status`` is honoured, or ignored so that every document starts as a draft (the docs
  say both: ``create_status``); a draft moves on through the documented calls
  POST /async/invoices/{uuid}/paid.json (a task, ``action: mark_as_paid``) and
  PUT /invoices/{uuid}/mark_as_accounted.json (the draft is booked);
* the rate limit is per calling IP: 300 GET and 150 other requests per 60 s;
* KSeF (infakt/API ksef.md): the create's top-level ``send_to_ksef: true``, or
  POST /{resource}/{uuid}/send_to_ksef.json and POST /ksef[2]/documents/{uuid}/send.json, send a
  document; 422 ``{"error": "Użytkownik nie jest zintegrowany z KSeF."}`` without an integration.
  The document's ``ksef_data`` (null until sent) is ``sent`` first and, after the account's
  ``ksef_reads_until_final`` reads, ``success`` with a ``ksef_number`` or ``error`` with its
  ``status_description``; GET /ksef[2]/documents/{uuid}/status.json answers the same with
  ``invoice_uuid``/``invoice_kind``; GET /ksef[2]/integration.json tells ``active``.

Public API (tests and the local demo)::

    fake = InfaktFake(processing_polls=1, processing_seconds=0.5)
    InfaktFake(create_status="always_draft")  # the readme's "always created as a draft" reading
    base_url = fake.start()                 # the API lives under f"{base_url}/api/v3"
    account = fake.add_account("key-1")     # scopes, default VAT exemption, bank accounts...
    fake.add_vat_exemption("key-1", "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT")  # -> id
    fake.add_bank_account("key-1", "PL61109010140000071219812874", verified=False)
    fake.set_exchange_rate("EUR", "4.2400", "223/A/NBP/2026")   # the rate inFakt applies itself
    fake.settle_tasks()                     # process every pending task now (background worker)
    account.invoices / account.corrections  # stored documents by uuid (API representation)
    account.tasks                           # async tasks by reference
    account.accounted                       # uuids of drafts booked with mark_as_accounted
    account.ksef_connected / ksef_auto_send / ksef_reads_until_final / ksef_rejects
    account.ksef_submissions                # {document uuid: sends received}: a second one is visible
    fake.requests, fake.faults, fake.limiter.peak(("write", "127.0.0.1"))

Every behaviour the documentation does not define is marked ``ASSUMPTION:``.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.fakes.common import (
    ISO_3166_ALPHA2,
    FakeServer,
    FieldErrors,
    HttpError,
    RateLimiter,
    Request,
    Response,
    bytes_response,
    json_response,
    ksef_number,
    parse_date,
    parse_decimal,
    render_pdf,
    route,
)

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

GROSZ = Decimal(1)


def _round_grosze(value: Decimal) -> int:
    return int(value.quantize(GROSZ, rounding=ROUND_HALF_UP))


def _vat_in_pln(services: list[dict[str, Any]], rate: Decimal) -> int:
    """VAT in PLN grosze (art. 106e ust. 11) the way invoicing programs print it: per VAT rate, the
    VAT in the currency times the rate, rounded half-up to the grosz, then summed. A correction's
    "before" services (correction: false) count negative, as in its totals.
    ASSUMPTION: inFakt's own rule and field are not documented."""
    by_symbol: dict[str, int] = {}
    for service in services:
        sign = -1 if service.get("correction") is False else 1
        by_symbol[service["tax_symbol"]] = by_symbol.get(service["tax_symbol"], 0) + sign * service["tax_price"]
    return sum(_round_grosze(Decimal(tax) * rate) for tax in by_symbol.values())


def _format_grosze(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def _rate(symbol: str) -> Decimal:
    """VAT percentage of a tax symbol; zw and np carry no VAT."""
    return Decimal(symbol) if symbol.isdigit() else Decimal(0)


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


class _MethodLimiter(RateLimiter):
    """The documented pair of per-IP limits: GET and the other methods have separate windows.

    Keys are ("read" | "write", ip), so tests can read each peak on its own.
    """

    def __init__(self, read: tuple[int, float] | None, write: tuple[int, float] | None):
        super().__init__(None, 60.0)
        self._limiters = {"read": RateLimiter(*(read or (None, 60.0))),
                          "write": RateLimiter(*(write or (None, 60.0)))}

    def hit(self, key: Any) -> float | None:
        return self._limiters[key[0]].hit(key)

    def peak(self, key: Any) -> int:
        return self._limiters[key[0]].peak(key)

    def reset(self) -> None:
        for limiter in self._limiters.values():
            limiter.reset()


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


# --------------------------------------------------------------------------- the document builder


class _Builder:
    """Validates one create (or edit) body and computes the stored document; collects all errors."""

    def __init__(self, fake: InfaktFake, account: InfaktAccount, source: dict[str, Any], *, correction: bool):
        self.fake = fake
        self.account = account
        self.source = source
        self.correction = correction
        self.errors = FieldErrors()

    def build(self) -> dict[str, Any] | None:
        allowed = CORRECTION_FIELDS if self.correction else INVOICE_FIELDS
        values: dict[str, Any] = {}
        for name, raw in self.source.items():
            if name in READ_ONLY_FIELDS:
                self.errors.add(name, READ_ONLY)
            elif name not in allowed:
                # ASSUMPTION: the real API ignores unknown keys (a sandbox run saw client_uuid
                # silently dropped); the fake refuses them so a wrong field name cannot pass.
                self.errors.add(name, UNKNOWN_FIELD)
            elif name == "services" or raw is None:
                continue
            elif name in HEADER_CHECKS:
                try:
                    values[name] = HEADER_CHECKS[name](raw)
                except _Invalid as problem:
                    self.errors.add(name, problem.args[0])
            else:
                try:
                    values[name] = _text(raw)
                except _Invalid as problem:
                    self.errors.add(name, problem.args[0])
        document = self._header(values)
        original = self._corrected_original(values) if self.correction else None
        services = self._services(document, original)
        self._check_rules(document, services)
        self._check_text_lengths(document, services)
        if self.errors:
            return None
        document["services"] = services
        self._totals(document, original)
        return document

    # ----------------------------------------------------------------- header

    def _header(self, values: dict[str, Any]) -> dict[str, Any]:
        today = self.fake.today()
        document: dict[str, Any] = {
            "kind": "correction" if self.correction else values.get("kind", "vat"),
            "number": values.get("number"),
            "currency": values.get("currency", "PLN"),
            "payment_method": values.get("payment_method", "transfer"),  # ASSUMPTION: default method
            "invoice_date": values.get("invoice_date", today.isoformat()),
            "status": values.get("status", "draft"),  # documented default
            "notes": values.get("notes"),
            "split_payment": values.get("split_payment", False),
            "split_payment_type": values.get("split_payment_type"),
            "invoice_date_kind": values.get("invoice_date_kind", "sale_date"),
            "sale_type": values.get("sale_type"),
            "transaction_terms": values.get("transaction_terms"),
            "vat_exchange_date_kind": values.get("vat_exchange_date_kind"),
            "vat_exemption_reason": values.get("vat_exemption_reason"),
            "bank_account": values.get("bank_account"),
            "bank_name": values.get("bank_name"),
            "swift": values.get("swift"),
            "check_duplicate_number": values.get("check_duplicate_number", False),
        }
        document["sale_date"] = values.get("sale_date", document["invoice_date"])
        # ASSUMPTION: without payment_date the client's default term applies; the fake uses 7 days.
        document["payment_date"] = values.get("payment_date") or (
            date.fromisoformat(document["invoice_date"]) + timedelta(days=7)).isoformat()
        document["paid_date"] = values.get("paid_date")
        if document["status"] == "paid" and document["paid_date"] is None:
            document["paid_date"] = document["invoice_date"]  # ASSUMPTION: paid on the issue date
        if document["paid_date"] and document["paid_date"] < document["invoice_date"]:
            self.errors.add("paid_date", PAID_BEFORE_ISSUE)
        self._client(values, document)
        if document["currency"] != "PLN" and document["vat_exchange_date_kind"] is None:
            self.errors.add("vat_exchange_date_kind", BLANK)  # documented: required for a foreign currency
        if document["split_payment"] and document["split_payment_type"] is None:
            self.errors.add("split_payment_type", BLANK)
        if document["bank_account"] is not None:
            bank = self.account.bank_accounts.get(document["bank_account"])
            if bank is None or not bank["verified"]:  # documented: added and verified in the app first
                self.errors.add("bank_account", BANK_NOT_VERIFIED)
        reason = document["vat_exemption_reason"]
        if reason is not None and reason not in self.account.vat_exemptions:
            self.errors.add("vat_exemption_reason", MISSING_RECORD)
        if self.correction:
            document["correction_reason_symbol"] = values.get("correction_reason")
            if document["correction_reason_symbol"] is None:
                self.errors.add("correction_reason", BLANK)
            document["correction_reason"] = CORRECTION_REASONS.get(values.get("correction_reason") or "")
            if "sale_date_before_correction" in values and self.source.get("services"):
                self.errors.add("sale_date_before_correction", DATE_AND_SERVICES)  # documented rule
        return document

    def _client(self, values: dict[str, Any], document: dict[str, Any]) -> None:
        client_fields = ("client_company_name", "client_first_name", "client_last_name",
                         "client_business_activity_kind", "client_tax_code", "client_street",
                         "client_street_number", "client_flat_number", "client_city", "client_post_code",
                         "client_country")
        client_id = values.get("client_id")
        if client_id is not None:
            client = self.account.clients.get(client_id)
            if client is None:
                self.errors.add("client_id", MISSING_RECORD)
                client = {}
            # ASSUMPTION: the client card supplies what the request leaves out.
            for name in client_fields:
                document[name] = values.get(name, client.get(name.removeprefix("client_")))
        else:
            for name in client_fields:
                document[name] = values.get(name)
        document["client_id"] = client_id
        document["client_country"] = document["client_country"] or "PL"  # ASSUMPTION: default PL
        kind = document["client_business_activity_kind"] or "other_business"  # ASSUMPTION: default
        document["client_business_activity_kind"] = kind
        # Documented: company name for businesses; first and last name for persons and sole traders.
        if kind != "private_person" and not document["client_company_name"]:
            self.errors.add("client_company_name", BLANK)
        if kind != "other_business":
            for name in ("client_first_name", "client_last_name"):
                if not document[name]:
                    self.errors.add(name, BLANK)
        tax_code = document["client_tax_code"]
        if tax_code and document["client_country"] == "PL" and \
                not re.fullmatch(r"(PL)?\d{10}", re.sub(r"[\s-]", "", tax_code)):
            self.errors.add("client_tax_code", INVALID)

    def _corrected_original(self, values: dict[str, Any]) -> dict[str, Any] | None:
        by_uuid = values.get("corrected_invoice_uuid")
        by_number = values.get("corrected_invoice_number")
        if by_uuid is None and by_number is None:
            self.errors.add("corrected_invoice_number", BLANK)
            return None
        original = None
        if by_uuid is not None:
            original = self.account.invoices.get(by_uuid)  # a correction's uuid is not an invoice
        elif by_number is not None:
            original = next((inv for inv in self.account.invoices.values() if inv["number"] == by_number), None)
        if original is None:
            self.errors.add("corrected_invoice_uuid" if by_uuid else "corrected_invoice_number", MISSING_RECORD)
            return None
        if by_number is not None and by_number != original["number"]:
            self.errors.add("corrected_invoice_number", CORRECTED_MISMATCH)
        given_date = values.get("corrected_invoice_date")
        if given_date is not None and given_date != original["invoice_date"]:
            self.errors.add("corrected_invoice_date", CORRECTED_MISMATCH)
        if original["currency"] != (values.get("currency") or "PLN"):
            self.errors.add("currency", CORRECTED_MISMATCH)  # ASSUMPTION: a correction keeps the currency
        return original

    # ----------------------------------------------------------------- services

    def _services(self, document: dict[str, Any], original: dict[str, Any] | None) -> list[dict[str, Any]]:
        raw_services = self.source.get("services")
        if not isinstance(raw_services, list) or not raw_services:
            self.errors.add("services", BLANK)
            return []
        allowed = CORRECTION_SERVICE_FIELDS if self.correction else SERVICE_FIELDS
        services = []
        for raw in raw_services:
            if not isinstance(raw, dict):
                self.errors.add("services", INVALID)
                continue
            for name in sorted(raw.keys() - allowed):
                message = NOT_MODELLED if name in NOT_MODELLED_SERVICE_FIELDS else (
                    READ_ONLY if name in ("id", "tax_price") else UNKNOWN_FIELD)
                # ASSUMPTION: nested errors are keyed "services.<field>" without the index, as a
                # sandbox run reported ("services.gross"); the index is not given.
                self.errors.add(f"services.{name}", message)
            service = self._service(raw)
            if service is not None:
                services.append(service)
        if self.correction:
            self._check_pairs(services, original)
        return services

    def _service(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        ok = True
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.errors.add("services.name", BLANK)
            ok = False
        symbol = raw.get("tax_symbol")
        if symbol is None or symbol == "":
            self.errors.add("services.tax_symbol", BLANK)
            ok = False
        elif not isinstance(symbol, str) or symbol not in TAX_SYMBOLS:
            self.errors.add("services.tax_symbol", NOT_ON_LIST)
            ok = False
        quantity = Decimal(1)  # ASSUMPTION: one unit when quantity is omitted
        if raw.get("quantity") is not None:
            try:
                quantity = _quantity(raw["quantity"])
            except _Invalid as problem:
                self.errors.add("services.quantity", problem.args[0])
                ok = False
        if ok and quantity < 0:
            self.errors.add("services.quantity", NEGATIVE)
            ok = False
        elif ok and quantity == 0 and not self.correction:
            self.errors.add("services.quantity", NOT_POSITIVE)  # only a correction may zero a line
            ok = False
        prices: dict[str, int] = {}
        for price_field in ("unit_net_price", "net_price", "gross_price"):
            if raw.get(price_field) is not None:
                try:
                    prices[price_field] = _grosze(raw[price_field])
                except _Invalid as problem:
                    self.errors.add(f"services.{price_field}", problem.args[0])
                    ok = False
        discount = self._discount(raw)
        if discount is None:
            ok = False
        elif raw.get("unit_net_price_before_discount") is not None:
            try:
                before = _grosze(raw["unit_net_price_before_discount"])
            except _Invalid as problem:
                self.errors.add("services.unit_net_price_before_discount", problem.args[0])
                ok = False
            else:
                # ASSUMPTION (docs name the fields, not the arithmetic): the net value is the price
                # before the discount x quantity x (1 - discount/100), rounded half-up once; a net
                # value sent with it must agree (else refused, as for unit_net_price).
                from_before = _round_grosze(Decimal(before) * quantity * (100 - discount) / 100)
                if prices.setdefault("net_price", from_before) != from_before:
                    self.errors.add("services.net_price", INCONSISTENT_NET)
                    ok = False
        if ok and not prices:
            self.errors.add("services.unit_net_price", BLANK)
            ok = False
        if not ok:
            return None
        net, vat, gross, unit_net = self._amounts(quantity, symbol, prices)
        if net is None:
            return None
        service = {
            "id": self.fake.new_id("service"),
            "name": name, "tax_symbol": symbol, "unit": raw.get("unit") or "szt.",
            "quantity": f"{quantity.normalize():f}" if quantity else "0",
            "unit_net_price": unit_net, "net_price": net, "tax_price": vat, "gross_price": gross,
            "pkwiu": raw.get("pkwiu"), "gtu_id": raw.get("gtu_id"),
        }
        if self.correction:
            service["group"] = str(raw.get("group")) if raw.get("group") not in (None, "") else None
            service["correction"] = raw.get("correction")
        return service

    def _discount(self, raw: dict[str, Any]) -> Decimal | None:
        """Documented: `discount` (%) on a service. ASSUMPTION: a number from 0 to 100 with at most 2
        decimals; it names the discount already in unit_net_price/net_price/gross_price, and is applied
        only to unit_net_price_before_discount. None after reporting an invalid one."""
        value = raw.get("discount")
        if value is None:
            return Decimal(0)
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            self.errors.add("services.discount", INVALID)
            return None
        try:
            discount = Decimal(str(value))
        except ArithmeticError:
            self.errors.add("services.discount", INVALID)
            return None
        if not discount.is_finite() or not 0 <= discount <= 100 or discount != discount.quantize(Decimal("0.01")):
            self.errors.add("services.discount", INVALID)
            return None
        return discount

    def _amounts(self, quantity: Decimal, symbol: str,
                 prices: dict[str, int]) -> tuple[int | None, int, int, int]:
        """(net, VAT, gross, unit net) of one line, in grosze, computed line by line.

        Documented: with only gross_price the invoice is gross-based and net is derived; any net
        value makes everything computed from net. ASSUMPTION on the arithmetic: VAT is rounded
        half-up per line, document totals are the sums of the lines.
        """
        rate = _rate(symbol)
        if "unit_net_price" not in prices and "net_price" not in prices:
            gross = prices["gross_price"]
            vat = _round_grosze(Decimal(gross) * rate / (100 + rate))
            net = gross - vat
        else:
            from_unit = None
            if "unit_net_price" in prices:
                from_unit = _round_grosze(Decimal(prices["unit_net_price"]) * quantity)
            net = prices.get("net_price", from_unit)
            if from_unit is not None and net != from_unit:
                # ASSUMPTION: a line whose net value contradicts unit price x quantity is refused
                # instead of one of them being silently preferred.
                self.errors.add("services.net_price", INCONSISTENT_NET)
                return None, 0, 0, 0
            vat = _round_grosze(Decimal(net) * rate / 100)
            gross = net + vat
            if "gross_price" in prices and prices["gross_price"] != gross:
                self.errors.add("services.gross_price", INCONSISTENT_NET)
                return None, 0, 0, 0
        unit_net = prices.get("unit_net_price", _round_grosze(Decimal(net) / quantity) if quantity else 0)
        return net, vat, gross, unit_net

    def _check_pairs(self, services: list[dict[str, Any]], original: dict[str, Any] | None) -> None:
        """Documented: pairs per group, correction false = as it was, true = as it should be."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for service in services:
            if service["group"] is None:
                self.errors.add("services.group", BLANK)
                continue
            if not isinstance(service["correction"], bool):
                self.errors.add("services.correction", BLANK)
                continue
            groups.setdefault(service["group"], []).append(service)
        for pair in groups.values():
            if sorted(s["correction"] for s in pair) != [False, True]:
                self.errors.add("services.group", PAIR_REQUIRED)
        if original is None:
            return
        # ASSUMPTION: the "before" row must reproduce a line of the corrected invoice (a new line
        # has a before row with quantity 0), as the document shows both states side by side.
        remaining = list(original["services"])
        for service in services:
            if service["correction"] is not False or service["quantity"] == "0":
                continue
            match = next((line for line in remaining if all(
                line[key] == service[key] for key in ("name", "tax_symbol", "quantity", "net_price", "gross_price"))),
                None)
            if match is None:
                self.errors.add("services.correction", BEFORE_NOT_ORIGINAL)
            else:
                remaining.remove(match)

    # ----------------------------------------------------------------- rules and totals

    def _check_rules(self, document: dict[str, Any], services: list[dict[str, Any]]) -> None:
        if any(s["tax_symbol"] == "zw" for s in services) and document["vat_exemption_reason"] is None:
            if self.account.default_vat_exemption is None:  # documented: required unless a default
                # Wording as inFakt answered it (reported in the project's issue 13 section 3).
                self.errors.add("vat_exemption_reason", BLANK)
            else:
                document["vat_exemption_reason"] = self.account.default_vat_exemption
        number = document["number"]
        if number and document["check_duplicate_number"]:
            # ASSUMPTION (open question 5): the duplicate refusal arrives in invoice_errors.number.
            same_kind = self.account.corrections if self.correction else self.account.invoices
            if any(doc["number"] == number for doc in same_kind.values()):
                self.errors.add("number", TAKEN)

    def _check_text_lengths(self, document: dict[str, Any], services: list[dict[str, Any]]) -> None:
        limits = dict.fromkeys(CLIENT_TEXT_FIELDS, CLIENT_TEXT_LIMIT)
        if self.account.ksef_connected:
            limits["notes"] = KSEF_NOTES_LIMIT
            if any(len(service["name"]) > SERVICE_NAME_LIMIT for service in services):
                self.errors.add("services.name", TOO_LONG.format(limit=SERVICE_NAME_LIMIT))
        for name, limit in limits.items():
            if isinstance(document.get(name), str) and len(document[name]) > limit:
                self.errors.add(name, TOO_LONG.format(limit=limit))

    def _totals(self, document: dict[str, Any], original: dict[str, Any] | None) -> None:
        """Totals in grosze of the document's currency. A correction's totals are the difference
        after − before (ASSUMPTION: what the correction shows as its value)."""
        signs = [(-1 if s.get("correction") is False else 1) for s in document["services"]]
        for name in ("net_price", "tax_price", "gross_price"):
            document[name] = sum(sign * s[name] for sign, s in zip(signs, document["services"], strict=True))
        paid = document["gross_price"] if document["status"] == "paid" else 0
        document["paid_price"] = paid
        document["left_to_pay"] = document["gross_price"] - paid
        if original is not None:
            document["corrected_invoice_uuid"] = original["uuid"]
            document["corrected_invoice_number"] = original["number"]
            document["corrected_invoice_date"] = original["invoice_date"]
            document["corrected_invoice_gross_price"] = original["gross_price"]
        document["exchange_rates_data"] = self.fake.exchange_rates_data(document)


# --------------------------------------------------------------------------- the fake server


class InfaktFake(FakeServer):
    """Strict fake of inFakt API v3 for several accounts (API keys) on one local host."""

    def __init__(self, *, read_limit: tuple[int, float] | None = READ_LIMIT,
                 write_limit: tuple[int, float] | None = WRITE_LIMIT,
                 processing_polls: int = 1, processing_seconds: float = 0.5,
                 today: Callable[[], date] = date.today, create_status: str = "honoured"):
        """``processing_polls``: status reads answered "in progress" before a task is processed;
        ``processing_seconds``: after this long the background worker has processed it anyway;
        ``create_status``: "honoured" or "always_draft", the two readings of the docs (CREATE_STATUS_READINGS)."""
        super().__init__(rate_limit=None)
        if create_status not in CREATE_STATUS_READINGS:
            raise ValueError(f"create_status is one of {sorted(CREATE_STATUS_READINGS)}")
        self.create_status = create_status
        self.limiter = _MethodLimiter(read_limit, write_limit)
        self.processing_polls = processing_polls
        self.processing_seconds = processing_seconds
        self.today = today
        self._lock = threading.RLock()
        self._accounts: dict[str, InfaktAccount] = {}
        self._next_ids = {"invoice": 9001, "service": 70001, "exemption": 11, "client": 501}
        # ASSUMPTION: inFakt applies its own NBP rate; tests set what it "picks".
        self._exchange_rates: dict[str, tuple[Decimal, str]] = {"EUR": (Decimal("4.2400"), "223/A/NBP/2026")}

    # ----------------------------------------------------------------- seeding

    def add_account(self, api_key: str, *, scopes: frozenset[str] = frozenset({SCOPE_READ, SCOPE_WRITE}),
                    company: dict[str, str] | None = None) -> InfaktAccount:
        with self._lock:
            if api_key in self._accounts:
                raise ValueError("an account with this API key exists already")
            account = InfaktAccount(api_key=api_key, scopes=frozenset(scopes), company=company or {
                "name": "Sklep Herbaciany Sp. z o.o.", "nip": "5252445767", "street": "ul. Przykładowa 10",
                "postal_code": "00-001", "city": "Warszawa"})
            self._accounts[api_key] = account
            return account

    def account(self, api_key: str) -> InfaktAccount:
        return self._accounts[api_key]

    def add_vat_exemption(self, api_key: str, text: str, *, default: bool = False) -> int:
        with self._lock:
            exemption_id = self.new_id("exemption")
            account = self.account(api_key)
            account.vat_exemptions[exemption_id] = text
            if default:
                account.default_vat_exemption = exemption_id
            return exemption_id

    def add_bank_account(self, api_key: str, number: str, *, verified: bool = True, bank_name: str = "Bank") -> None:
        self.account(api_key).bank_accounts[number] = {"account_number": number, "bank_name": bank_name,
                                                       "verified": verified}

    def add_client(self, api_key: str, **client: Any) -> int:
        with self._lock:
            client_id = self.new_id("client")
            self.account(api_key).clients[client_id] = {"id": client_id, **client}
            return client_id

    def set_exchange_rate(self, currency: str, rate: str, table: str) -> None:
        self._exchange_rates[currency] = (Decimal(rate), table)

    def new_id(self, kind: str) -> int:
        with self._lock:
            value = self._next_ids[kind]
            self._next_ids[kind] += 1
            return value

    def exchange_rates_data(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """ASSUMPTION: the read-only block inFakt reports its own rate in (name seen in the docs on
        final invoices; shape not documented)."""
        if document["currency"] == "PLN":
            return None
        rate, table = self._exchange_rates.get(document["currency"], (Decimal("1.0000"), "?"))
        # VAT date rule: the last working day before the chosen date; the fake takes the day before.
        basis = document["invoice_date"] if document.get("vat_exchange_date_kind") == "pit" else document["sale_date"]
        return {"currency": document["currency"], "exchange_rate": f"{rate:f}",
                "exchange_date": (date.fromisoformat(basis) - timedelta(days=1)).isoformat(), "table_name": table,
                "vat_in_pln": _vat_in_pln(document["services"], rate)}

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        return json_response(status, {"error": message})

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # Documented status 429; ASSUMPTION: the body shape and a Retry-After header in seconds.
        return json_response(429, {"error": "Too Many Requests"}, {"Retry-After": str(retry_after)})

    def rate_limit_key(self, request: Request) -> Any:
        # Documented: per calling IP, GET counted apart from POST/PUT/DELETE.
        return ("read" if request.method == "GET" else "write", request.client_ip)

    def log_key(self, request: Request) -> str | None:
        account = self._accounts.get(request.headers.get("x-infakt-apikey", ""))
        return account.company["nip"] if account else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        handler = super()._handler_class()
        # Headers and body leave in separate writes; with Nagle's algorithm the body waits for the
        # client's delayed ACK (~40 ms per request), which made the tests slow, not more faithful.
        handler.disable_nagle_algorithm = True
        return handler

    # ----------------------------------------------------------------- auth and bodies

    def _require_account(self, request: Request, scope: str) -> InfaktAccount:
        """Documented: the key travels only in X-inFakt-ApiKey; 401 without auth or without the scope."""
        account = self._accounts.get(request.headers.get("x-infakt-apikey", ""))
        if account is None or scope not in account.scopes:
            raise HttpError(json_response(401, UNAUTHORIZED))
        return account

    @staticmethod
    def _body(request: Request, root: str) -> dict[str, Any]:
        """The JSON body's root object. Documented: JSON with Content-Type: application/json.

        ASSUMPTION: without it (or with an unparsable body or no root key) the answer is 400, the
        documented code for a bad parameter, as a Rails `params.require(root)` gives.
        """
        if not request.is_json or request.json_error is not None or not isinstance(request.json, dict):
            raise HttpError(json_response(400, {"error": f"param is missing or the value is empty: {root}"}))
        if not isinstance(request.json.get(root), dict):
            raise HttpError(json_response(400, {"error": f"param is missing or the value is empty: {root}"}))
        unknown = sorted(request.json.keys() - {root, "send_to_ksef"})
        if unknown:  # ASSUMPTION: refused rather than ignored, see UNKNOWN_FIELD
            raise HttpError(json_response(400, {"error": f"unknown parameter: {', '.join(unknown)}"}))
        if not isinstance(request.json.get("send_to_ksef", False), bool):  # ASSUMPTION: a boolean, else 400
            raise HttpError(json_response(400, {"error": "send_to_ksef must be true or false"}))
        return request.json

    # ----------------------------------------------------------------- async creation

    @route("POST", rf"{API}/async/invoices\.json")
    def create_invoice(self, request: Request) -> Response:
        return self._accept_task(request, "invoices", "invoice", correction=False)

    @route("POST", rf"{API}/async/corrective_invoices\.json")
    def create_corrective_invoice(self, request: Request) -> Response:
        return self._accept_task(request, "corrective_invoices", "corrective_invoice", correction=True)

    def _accept_task(self, request: Request, resource: str, root: str, *, correction: bool) -> Response:
        account = self._require_account(request, SCOPE_WRITE)
        body = self._body(request, root)
        with self._lock:
            builder = _Builder(self, account, copy.deepcopy(body[root]), correction=correction)
            document = builder.build()
            if document is not None and self.create_status == "always_draft":
                _make_unpaid_draft(document)
            task = self._new_task(account, resource, document=document,
                                  errors=None if document else builder.errors.as_dict())
            task.send_to_ksef = body.get("send_to_ksef") is True
        # I-DOC shows 202, I-PM examples 201: ASSUMPTION 201, clients must accept both.
        return json_response(201, self._task_json(task, 100))

    def _new_task(self, account: InfaktAccount, resource: str, **details: Any) -> Task:
        task = Task(reference=str(uuid.uuid4()), resource=resource, created_at=self._timestamp(),
                    ready_at=time.monotonic() + self.processing_seconds, polls_left=self.processing_polls,
                    **{"document": None, "errors": None, **details})
        account.tasks[task.reference] = task
        return task

    @route("POST", rf"{API}/async/invoices/(?P<uuid>{UUID})/paid\.json")
    def mark_invoice_paid(self, request: Request) -> Response:
        """Documented (readme "Oznaczenie jako zapłacona"): asynchronous, 201 = the task is accepted,
        not the invoice paid; optional `paid_date` (not before the issue date) and `allow_correction`,
        top-level (the collection does not wrap them: orafal-dev/infakt-sdk resources.generated.ts).
        The task reports `action: mark_as_paid` on the status endpoint. ASSUMPTION: paid_date defaults to
        today; marking a paid invoice again is refused; marking makes it "paid" with nothing left to pay.
        No such call is listed for corrective invoices."""
        account = self._require_account(request, SCOPE_WRITE)
        params = request.json if request.body.strip() else {}
        if request.body.strip() and (not request.is_json or not isinstance(params, dict)
                                     or set(params) - {"paid_date", "allow_correction"}):
            return json_response(400, {"error": "the parameters are paid_date and allow_correction"})
        with self._lock:
            self._settle_due(account)
            document = account.invoices.get(request.params["uuid"])
            if document is None:
                return json_response(404, NOT_FOUND)
            errors = FieldErrors()
            try:
                paid_date = _date(params.get("paid_date", self.today().isoformat()))
            except _Invalid as problem:
                errors.add("paid_date", problem.args[0])
                paid_date = None
            if paid_date is not None and paid_date < document["invoice_date"]:
                errors.add("paid_date", PAID_BEFORE_ISSUE)
            if document["status"] == "paid":
                errors.add("status", ALREADY_PAID)
            task = self._new_task(account, "invoices", action="mark_as_paid", invoice_uuid=document["uuid"],
                                  paid_date=paid_date, errors=errors.as_dict() if errors else None)
        return json_response(201, self._task_json(task, 100))

    @route("PUT", rf"{API}/invoices/(?P<uuid>{UUID})/mark_as_accounted\.json")
    def mark_as_accounted(self, request: Request) -> Response:
        """Documented (readme "Oznaczenie jako zaksięgowana"): "Uwzględnia fakturę w szkicu w
        księgowości", puts a draft into the accounts. ASSUMPTION: the document stays a draft (the
        words say a draft is accounted, not that it changes), the call answers 200 with the document,
        and a document that is no draft is refused with 422 (`account.accounted` records the drafts)."""
        account = self._require_account(request, SCOPE_WRITE)
        with self._lock:
            self._settle_due(account)
            document = account.invoices.get(request.params["uuid"])
            if document is None:
                return json_response(404, NOT_FOUND)
            if document["status"] != "draft":
                return json_response(422, {"errors": {"status": [NOT_A_DRAFT]}})
            account.accounted.add(document["uuid"])
            return json_response(200, copy.deepcopy(document))

    def _process(self, account: InfaktAccount, task: Task) -> None:
        """The background worker: store the document (numbering happens here, in task order), or mark
        an invoice paid."""
        if task.done:
            return
        task.done = True
        if task.errors is not None:
            return
        if task.action == "mark_as_paid":
            paid = account.invoices[str(task.invoice_uuid)]
            paid.update(status="paid", paid_date=task.paid_date, paid_price=paid["gross_price"], left_to_pay=0)
            return
        assert task.document is not None
        document = task.document
        store = account.corrections if task.resource == "corrective_invoices" else account.invoices
        document["id"] = self.new_id("invoice")
        document["uuid"] = task.invoice_uuid = str(uuid.uuid4())
        document["number"] = document["number"] or self._next_number(account, document)
        document["created_at"] = self._timestamp()
        document["ksef_data"] = None  # documented: null until the document is sent
        document.pop("check_duplicate_number", None)
        store[document["uuid"]] = document
        # ASSUMPTION: each trigger (the create's switch, the app's automation) is its own submission;
        # the docs do not say inFakt merges them, so a double submission shows in ksef_submissions.
        for _ in range(int(task.send_to_ksef) + int(account.ksef_auto_send)):
            if account.ksef_connected:
                self._submit_ksef(account, document)
            else:
                # ASSUMPTION: the create succeeds and the send fails the way the send endpoint says.
                document["ksef_data"] = self._ksef_data(None, "error", KSEF_NOT_INTEGRATED["error"], finished=True)

    def settle_tasks(self) -> None:
        """Test helper: the background worker catches up with every pending task."""
        with self._lock:
            for account in self._accounts.values():
                for task in account.tasks.values():
                    self._process(account, task)

    def _settle_due(self, account: InfaktAccount) -> None:
        now = time.monotonic()
        for task in account.tasks.values():
            if not task.done and now >= task.ready_at:
                self._process(account, task)

    @route("GET", rf"{API}/async/(?P<resource>invoices|corrective_invoices)/status/(?P<ref>[0-9a-f-]+)\.json")
    def task_status(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        with self._lock:
            self._settle_due(account)
            task = account.tasks.get(request.params["ref"])
            if task is None or task.resource != request.params["resource"]:
                return json_response(404, NOT_FOUND)  # a correction's task is unknown to invoices/...
            if not task.done:
                if task.polls_left > 0:
                    task.polls_left -= 1
                    return json_response(200, self._task_json(task, 120 if task.polls_left else 140))
                self._process(account, task)
            return json_response(200, self._task_json(task, 422 if task.errors is not None else 201))

    @staticmethod
    def _task_json(task: Task, code: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "invoice_task_reference_number": task.reference, "processing_code": code,
            "processing_description": PROCESSING[code], "timestamps": {"task_created_at": task.created_at},
        }
        if code in (201, 422):
            # Seen live for corrections: action + invoice_kind "corrective_invoice". ASSUMPTION:
            # "invoice" for a plain invoice; "mark_as_paid" is the facts file's reading of I-PM.
            body["action"] = task.action
            body["invoice_kind"] = "corrective_invoice" if task.resource == "corrective_invoices" else "invoice"
        if code == 201:
            body["invoice_uuid"] = task.invoice_uuid
        if code == 422:
            body["invoice_errors"] = task.errors
        return body

    def _next_number(self, account: InfaktAccount, document: dict[str, Any]) -> str:
        """Formats seen: 16/03/2023 (VAT), 3/KOR/07/2026 (correction); counted per kind and month."""
        issued = date.fromisoformat(document["invoice_date"])
        kind = document["kind"]
        key = (kind, issued.year, issued.month)
        store = account.corrections if kind == "correction" else account.invoices
        taken = {doc["number"] for doc in store.values()}
        infix = {"correction": "KOR/", "proforma": "PRO/"}.get(kind, "")
        while True:
            account.number_counters[key] = account.number_counters.get(key, 0) + 1
            number = f"{account.number_counters[key]}/{infix}{issued.month:02d}/{issued.year}"
            if number not in taken:
                return number

    @route("GET", rf"{API}/invoices/next_number\.json")
    def next_number(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        kind = request.query.get("kind", "vat")
        day = request.query.get("date", self.today().isoformat())
        with self._lock:
            probe = {"kind": kind, "invoice_date": day}
            counters = dict(account.number_counters)
            number = self._next_number(account, probe)
            account.number_counters = counters  # a preview takes no number
        return json_response(200, {"invoice_date": day, "invoice_kind": kind, "next_number": number})

    # ----------------------------------------------------------------- reading

    @route("GET", rf"{API}/(?P<resource>invoices|corrective_invoices)\.json")
    def list_documents(self, request: Request) -> Response:
        """Documented filters q[field_eq|_cont|...], offset/limit (max 100), list envelope."""
        account = self._require_account(request, SCOPE_READ)
        filters = {key[2:-1]: value for key, value in request.query.items()
                   if key.startswith("q[") and key.endswith("]")}
        offset, limit = _page(request)
        with self._lock:
            self._settle_due(account)
            store = account.corrections if request.params["resource"] == "corrective_invoices" else account.invoices
            selected = [doc for doc in store.values() if all(_matches(doc, name, value)
                                                             for name, value in filters.items())]
            # Documented default order: invoice_date descending.
            selected.sort(key=lambda doc: (doc["invoice_date"], doc["id"]), reverse=True)
            for doc in selected[offset:offset + limit]:
                self._ksef_progress(account, doc)
            page = [copy.deepcopy(doc) for doc in selected[offset:offset + limit]]
        return json_response(200, {"metainfo": {"count": len(page), "total_count": len(selected),
                                                "next": None, "previous": None}, "entities": page})

    @route("GET", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})\.json")
    def show_document(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        with self._lock:
            self._settle_due(account)
            document = self._require_document(account, request)
            self._ksef_progress(account, document)
            return json_response(200, copy.deepcopy(document))

    def _require_document(self, account: InfaktAccount, request: Request) -> dict[str, Any]:
        store = account.corrections if request.params["resource"] == "corrective_invoices" else account.invoices
        document = store.get(request.params["uuid"])
        if document is None:  # also a correction's uuid under invoices/ (seen live: 404)
            raise HttpError(json_response(404, NOT_FOUND))
        return document

    # ----------------------------------------------------------------- editing

    @route("PUT", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})\.json")
    def update_document(self, request: Request) -> Response:
        """Documented: header fields replace; sending `services` DELETES every line and writes the
        new ones (no per-line edit). ASSUMPTION: answered synchronously, 200 with the document, and
        refused with 422 {"errors": {...}} (the sync error shape is not documented)."""
        account = self._require_account(request, SCOPE_WRITE)
        correction = request.params["resource"] == "corrective_invoices"
        root = "corrective_invoice" if correction else "invoice"
        patch = self._body(request, root)[root]
        with self._lock:
            existing = self._require_document(account, request)
            source = _editable_source(existing)
            source.update(copy.deepcopy(patch))
            if correction:
                source.setdefault("corrected_invoice_uuid", existing["corrected_invoice_uuid"])
            builder = _Builder(self, account, source, correction=correction)
            document = builder.build()
            if document is None:
                return json_response(422, {"errors": builder.errors.as_dict()})
            for name in ("id", "uuid", "created_at", "ksef_data"):
                document[name] = existing.get(name)
            document["number"] = document["number"] or existing["number"]
            document.pop("check_duplicate_number", None)
            existing.clear()
            existing.update(document)
            return json_response(200, copy.deepcopy(existing))

    # ----------------------------------------------------------------- KSeF

    @route("GET", rf"{API}/(?P<ns>ksef|ksef2)/integration\.json")
    def ksef_integration(self, request: Request) -> Response:
        """Documented: /ksef2/ needs api:invoices:read. ASSUMPTION: the same scope for the legacy /ksef/ read."""
        account = self._require_account(request, SCOPE_READ)
        return json_response(200, {"active": account.ksef_connected, "incomes_last_fetched_at": None,
                                   "costs_last_fetched_at": None})

    @route("POST", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})/send_to_ksef\.json")
    def send_document_to_ksef(self, request: Request) -> Response:
        """Documented per-resource send; an optional body {"inform_via_email": {...}} (not modelled: refused)."""
        account = self._require_account(request, SCOPE_WRITE)
        if request.body and (not request.is_json or not isinstance(request.json, dict)
                             or set(request.json) - {"inform_via_email"}):
            return json_response(400, {"error": "the only parameter is inform_via_email"})
        if request.body and request.json:
            return json_response(400, {"error": f"inform_via_email: {NOT_MODELLED}"})
        with self._lock:
            store = account.corrections if request.params["resource"] == "corrective_invoices" else account.invoices
            return self._send_ksef(account, store.get(request.params["uuid"]))

    @route("POST", rf"{API}/(?P<ns>ksef|ksef2)/documents/(?P<uuid>{UUID})/send\.json")
    def send_to_ksef_any(self, request: Request) -> Response:
        """Documented universal send: any income document by its uuid."""
        account = self._require_account(request, SCOPE_WRITE)
        with self._lock:
            return self._send_ksef(account, account.document(request.params["uuid"]))

    @route("GET", rf"{API}/(?P<ns>ksef|ksef2)/documents/(?P<uuid>{UUID})/status\.json")
    def ksef_document_status(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        with self._lock:
            self._settle_due(account)
            document = account.document(request.params["uuid"])
            if document is None or document.get("ksef_data") is None:
                return json_response(404, KSEF_NOT_FOUND)  # ASSUMPTION: never sent answers like unknown
            self._ksef_progress(account, document)
            return json_response(200, self._ksef_answer(document))

    def _send_ksef(self, account: InfaktAccount, document: dict[str, Any] | None) -> Response:
        if document is None:
            return json_response(404, KSEF_NOT_FOUND)
        if not account.ksef_connected:
            return json_response(422, KSEF_NOT_INTEGRATED)
        if (document.get("ksef_data") or {}).get("status") in ("sent", "success"):
            return json_response(422, KSEF_ALREADY_SENT)
        self._submit_ksef(account, document)
        return json_response(200, self._ksef_answer(document))

    def _submit_ksef(self, account: InfaktAccount, document: dict[str, Any]) -> None:
        account.ksef_submissions[document["uuid"]] = account.ksef_submissions.get(document["uuid"], 0) + 1
        account.ksef_reads_left[document["uuid"]] = account.ksef_reads_until_final
        document["ksef_data"] = self._ksef_data(str(uuid.uuid4()), "sent", KSEF_SENT)

    def _ksef_progress(self, account: InfaktAccount, document: dict[str, Any]) -> None:
        """KSeF answers asynchronously: a submission stays "sent" for the account's number of reads."""
        data = document.get("ksef_data")
        if not data or data["status"] != "sent":
            return
        left = account.ksef_reads_left.get(document["uuid"], 0)
        if left > 0:
            account.ksef_reads_left[document["uuid"]] = left - 1
            return
        if account.ksef_rejects:
            document["ksef_data"] = self._ksef_data(data["request_uuid"], "error", account.ksef_rejects,
                                                    finished=True, created=data["timestamps"]["request_created_at"])
            return
        number = ksef_number(account.company["nip"], date.fromisoformat(document["invoice_date"]))
        document["ksef_data"] = self._ksef_data(data["request_uuid"], "success", KSEF_DONE, ksef_number=number,
                                                finished=True, created=data["timestamps"]["request_created_at"])

    def _ksef_data(self, request_uuid: str | None, status: str, description: str, *, ksef_number: str | None = None,
                   finished: bool = False, created: str | None = None) -> dict[str, Any]:
        now = self._timestamp()
        return {"request_uuid": request_uuid, "ksef_number": ksef_number, "status": status,
                "status_description": description,
                "timestamps": {"request_created_at": created or now, "request_finished_at": now if finished else None}}

    @staticmethod
    def _ksef_answer(document: dict[str, Any]) -> dict[str, Any]:
        """The send and status endpoints: ksef_data plus invoice_uuid and invoice_kind (documented)."""
        kind = "corrective_invoice" if document.get("kind") == "correction" else "vat"
        return {"invoice_uuid": document["uuid"], "invoice_kind": kind, **copy.deepcopy(document["ksef_data"])}

    # ----------------------------------------------------------------- PDF

    @route("GET", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})/pdf\.json")
    def document_pdf(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        document_type = request.query.get("document_type")
        locale = request.query.get("locale", "pl")
        if document_type not in PDF_DOCUMENT_TYPES or locale not in PDF_LOCALES:
            # document_type is documented as required; ASSUMPTION: 400, the documented bad-parameter code.
            return json_response(400, {"error": "document_type is missing or invalid"})
        with self._lock:
            self._settle_due(account)
            document = self._require_document(account, request)
            if document["status"] == "draft":
                document["status"] = "printed"  # documented side effect: the draft enters the accounts
            pdf = _document_pdf(account, document, document_type)
        filename = re.sub(r"[^0-9A-Za-z]+", "_", document["number"]).strip("_") + ".pdf"
        return bytes_response(200, "application/pdf", pdf,
                              {"Content-Disposition": f'attachment; filename="{filename}"'})

    # ----------------------------------------------------------------- reference data

    @route("GET", rf"{API}/vat_exemptions\.json")
    def list_vat_exemptions(self, request: Request) -> Response:
        """Documented list (readme "Dane referencyjne"), paged like every list (offset, limit up to 100;
        a community client follows metainfo.next). ASSUMPTION: entity fields id, name (the legal basis
        text) and default; the docs give no example entity."""
        account = self._require_account(request, SCOPE_READ)
        offset, limit = _page(request)
        entities = [{"id": key, "name": text, "default": key == account.default_vat_exemption}
                    for key, text in sorted(account.vat_exemptions.items())]
        page = entities[offset:offset + limit]
        following = f"{API}/vat_exemptions.json?offset={offset + limit}&limit={limit}"
        return json_response(200, {"metainfo": {"count": len(page), "total_count": len(entities),
                                                "next": following if offset + limit < len(entities) else None,
                                                "previous": None}, "entities": page})

    @route("GET", rf"{API}/account/details\.json")
    def account_details(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        return json_response(200, {"company_name": account.company["name"], "nip": account.company["nip"]})

    def _timestamp(self) -> str:
        return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")  # the docs' format


# --------------------------------------------------------------------------- module helpers


def _page(request: Request) -> tuple[int, int]:
    """The documented paging parameters (offset, limit up to 100). ASSUMPTION: a default page of 10."""
    try:
        offset = int(request.query.get("offset", "0"))
        limit = min(int(request.query.get("limit", "10")), 100)
    except ValueError:
        raise HttpError(json_response(400, {"error": "offset and limit must be numbers"})) from None
    return offset, limit


def _matches(document: dict[str, Any], condition: str, value: str) -> bool:
    """Documented ransack-style conditions (_eq, _cont, _gteq, _lteq) on a few fields.

    A condition on an unknown field is IGNORED, i.e. matches everything: a sandbox integration saw
    inFakt answer an unfiltered page for an unrecognised q[] key (openlinker #1926), so clients
    must compare the results themselves.
    """
    for suffix, test in (("_eq", lambda a, b: a == b), ("_cont", lambda a, b: b in a),
                         ("_gteq", lambda a, b: a >= b), ("_lteq", lambda a, b: a <= b)):
        if condition.endswith(suffix):
            name = condition.removesuffix(suffix)
            if name == "clean_client_nip":
                actual = re.sub(r"\D", "", str(document.get("client_tax_code") or ""))
            elif name in ("number", "invoice_date", "sale_date", "paid_date", "status", "currency"):
                actual = str(document.get(name) or "")
            else:
                return True
            return test(actual, value)
    return True


def _make_unpaid_draft(document: dict[str, Any]) -> None:
    """A created document as the "always_draft" reading has it: status and paid date ignored."""
    document.update(status="draft", paid_date=None, paid_price=0, left_to_pay=document["gross_price"])


def _editable_source(document: dict[str, Any]) -> dict[str, Any]:
    """A stored document turned back into a request body, for an edit to be rebuilt from."""
    correction = document["kind"] == "correction"
    allowed = CORRECTION_FIELDS if correction else INVOICE_FIELDS
    source = {name: copy.deepcopy(value) for name, value in document.items()
              if name in allowed and name not in ("services", "check_duplicate_number") and value is not None}
    if correction:
        source["correction_reason"] = document["correction_reason_symbol"]
        for name in ("corrected_invoice_number", "corrected_invoice_date"):
            source.pop(name, None)
    source["services"] = [
        {key: service[key] for key in ("name", "tax_symbol", "unit", "quantity", "net_price")
         if service.get(key) is not None}
        | ({"group": service["group"], "correction": service["correction"]} if correction else {})
        for service in document["services"]
    ]
    return source


def _document_pdf(account: InfaktAccount, document: dict[str, Any], document_type: str) -> bytes:
    currency = document["currency"]
    title = "Faktura korygujaca" if document["kind"] == "correction" else "Faktura VAT"
    client = document["client_company_name"] or f"{document['client_first_name']} {document['client_last_name']}"
    lines = [
        document_type.upper(),
        f"Numer: {document['number']}",
        f"Data wystawienia: {document['invoice_date']}   Data sprzedazy: {document['sale_date']}",
        f"Sprzedawca: {account.company['name']} NIP {account.company['nip']}",
        f"Nabywca: {client} NIP {document.get('client_tax_code') or '-'}",
    ]
    if document["kind"] == "correction":
        lines.append(f"Korekta do: {document['corrected_invoice_number']}; przyczyna: {document['correction_reason']}")
    lines.append("")
    for index, service in enumerate(document["services"], start=1):
        side = {False: " (przed korekta)", True: " (po korekcie)"}.get(service.get("correction"), "")
        lines.append(f"{index}. {service['name']}{side} | {service['quantity']} {service['unit']} | VAT "
                     f"{service['tax_symbol']} | netto {_format_grosze(service['net_price'])}"
                     f" | brutto {_format_grosze(service['gross_price'])} {currency}")
    lines += [
        "",
        f"Razem netto: {_format_grosze(document['net_price'])} {currency}",
        f"VAT: {_format_grosze(document['tax_price'])} {currency}",
        f"Razem brutto: {_format_grosze(document['gross_price'])} {currency}",
    ]
    if document.get("exchange_rates_data"):
        rates = document["exchange_rates_data"]
        lines.append(f"Kurs {rates['exchange_rate']} PLN/{currency}, tabela {rates['table_name']}")
    lines.append(f"Status: {document['status']}   Termin platnosci: {document['payment_date']}")
    return render_pdf(f"{title} {document['number']}", lines)
