"""Strict local fake of the wFirma API v2 (https://api2.wfirma.pl), JSON flavour.

An independent model of the provider written from its public documentation (doc.wfirma.pl, read
through the scraped official Postman collection) and integration-tested community clients; the
facts with their sources are in /work/shared/providers/wfirma-ifirma.md section 1. It never
imports the production package: it must be able to prove that package wrong.

What makes wFirma different, and what the fake therefore insists on:

* API-key auth in three headers: ``accessKey`` + ``secretKey`` (the merchant's) and ``appKey``
  (issued once per integration). Any of them wrong: status ``AUTH``; no keys at all: the bare
  string ``AUTH`` (what a community client met); repeated failures lock the key for 5 minutes.
* Every answer is HTTP 200 with ``status.code`` in the body (OK, ERROR, AUTH, NOT FOUND, ...);
  validation errors are echoed back on the failing record (``errors > error {field, message}``).
* Formats come from ``?inputFormat=json&outputFormat=json``; lists of records are objects with
  numeric string keys (``{"0": {"invoice": {...}}}``), in requests and answers.
* ``company_id`` is required when the key reaches several companies (``COMPANY ID REQUIRED``).
* VAT goes as ``vat_code > id`` from ``/vat_codes/find``; each company gets its own ids.
* ``id_external`` is stored and searchable but NOT unique: a second add makes a second document.
* Numbers come only from the series template (``[numer]``); a series serves one document type
  (its ``type``, listed by series/find), and an invoice in another type's series is refused; the
  request limit answers ``TOTAL REQUESTS LIMIT EXCEEDED``.
* KSeF: wFirma submits documents by the company's own settings (E-FAKTURY), never through an API
  action; invoices carry the read-only ``ksef_status``, ``ksef_reference_number`` and
  ``ksef_registration_date``. ``company.ksef_auto_send`` makes wFirma submit each new invoice and
  correction, which KSeF answers after ``company.ksef_reads_until_final`` reads of the document
  (``ksef_rejects``: refused). The status words are undocumented (see KSEF_* below).

Public API (tests and the local demo)::

    fake = WfirmaFake(app_key="app-1", rate_limit=(30, 15.0))
    WfirmaFake(own_rate_fields="ignored")            # a rate we send: honoured (default) / ignored / refused
    WfirmaFake(errors_as_xml=True)                   # non-OK status answers in XML, whatever outputFormat says
    base_url = fake.start()                          # or: with WfirmaFake() as fake: ...
    company_id = fake.add_company("access-1", "secret-1", name="Sklep", nip="5252445767")
    fake.add_company("access-1", "secret-1", name="Druga firma")   # the key now needs company_id
    series_id = fake.add_series(company_id, "Sklep", "SKL [numer]/[rok]", invoice_type="normal")
    good_id = fake.add_good(company_id, "Kubek", "MUG-300", netto="24.38", vat="23", count=10)
    fake.set_exchange_rate("EUR", "4.2351")          # the NBP rate wFirma itself applies
    fake.company(company_id).invoices                # stored invoices by id (API representation)
    fake.company(company_id).vat_code_id("23")       # this company's id of a Polish code
    fake.company(company_id).delete_invoice(id)      # "the merchant deleted it in the app"
    fake.company(company_id).ksef_auto_send = True   # wFirma sends to KSeF by its settings
    fake.company(company_id).ksef_submissions        # {invoice id: submissions}: 2+ is a double
    fake.answer_status("SNAPSHOT LOCK", path=r"/invoices/add")  # a wFirma status answer, once
    fake.faults.rate_limited() / .status(502) / .stall_after_commit(2.0)  # see common.FaultPlan
    fake.requests / fake.limiter.peak("access-1")    # request log (no secrets), per-key peak

Endpoints (POST; reads also by GET, as the documentation's collection shows both):
invoices/add, invoices/edit/{id}, invoices/get/{id}, invoices/find, invoices/download/{id},
vat_codes/find, series/find, goods/find, payments/find, payments/edit/{id}.

Payments (W-SDK Payments/Payment.php, integration-tested): a payment record {object_name "invoice",
object_id, value, date, payment_method, initial}. ``alreadypaid_initial`` on an invoice makes its
initial payment (``initial`` 1), dated the issue date (ASSUMPTION: "paid when issued"); its date,
like any payment's, can be changed with payments/edit.

Everything the documentation does not define is marked ``ASSUMPTION:``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from .common import (
    ISO_3166_ALPHA2,
    FakeServer,
    HttpError,
    Request,
    Response,
    bytes_response,
    format_money,
    json_response,
    ksef_number,
    parse_date,
    parse_decimal,
    quantize_money,
    render_pdf,
    route,
)

# ASSUMPTION: the docs give no numbers; a maintainer measured 30 requests per 15 s per key
# (dbojdo/wFirma PR 29, 2022). The fake enforces the tightest of the reported windows.
DEFAULT_RATE_LIMIT = (30, 15.0)
DEFAULT_APP_KEY = "fake-wfirma-app-key"
# Documented for Basic Auth (5 failed logins block access for 5 minutes).
# ASSUMPTION: the same rule guards API keys.
AUTH_FAILURES_BEFORE_LOCK = 5
AUTH_LOCK_SECONDS = 300.0

# --------------------------------------------------------------------------- documented values

OK = "OK"
# Types the fake models (W-SDK Type.php). The others (proforma, bill...) are refused loudly.
INVOICE_TYPES = frozenset({"normal", "receipt_normal", "receipt_fiscal_normal", "correction"})
# Documented types the fake does not model.
OTHER_INVOICE_TYPES = frozenset({"proforma", "offer", "income_normal", "bill", "proforma_bill", "offer_bill",
                                 "receipt_bill", "receipt_fiscal_bill", "income_bill", "normal_draft"})
# A fiscal receipt is printed by the fiscal printer; wFirma renders no PDF of it.
FISCAL_TYPES = frozenset({"receipt_fiscal_normal"})
STOCK_MOVING_TYPES = frozenset({"normal", "receipt_normal", "receipt_fiscal_normal"})
PAYMENT_METHODS = frozenset({"cash", "transfer", "compensation", "cod", "payment_card"})
PRICE_TYPES = frozenset({"netto", "brutto"})
TAX_ID_TYPES = frozenset({"nip", "vat", "pesel", "regon", "custom", "none"})
DISPOSALDATE_FORMATS = frozenset({"date", "month"})
SERIES_RESETS = frozenset({"yearly", "monthly", "daily"})
DOWNLOAD_PARAMETERS = {
    "page": frozenset({"invoice", "invoiceCopy", "all"}),
    "address": frozenset({"0", "1"}), "leaflet": frozenset({"0", "1"}),
    "duplicate": frozenset({"0", "1"}), "payment_cashbox_documents": frozenset({"0", "1"}),
    "warehouse_documents": frozenset({"0", "1"}),
}
FIND_OPERATORS = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "like", "not like", "is null",
                            "is not null", "in"})
# The Polish VAT code table (W-SDK VatRate.php); rates as vat_codes/find shows them.
POLISH_VAT_CODES = (("23", "23.00"), ("8", "8.00"), ("5", "5.00"), ("0", "0.00"), ("ZW", "0.00"),
                    ("NP", "0.00"), ("NPUE", "0.00"), ("WDT", "0.00"), ("EXP", "0.00"),
                    ("VAT_BUYER", "0.00"))
# Foreign (OSS) codes have an empty code and a declaration country (community client notes).
OSS_VAT_CODES = (("DE", "19.00"), ("CZ", "21.00"))

# Request fields of an invoice (W-SDK Invoice.php, groups "request"/"addRequest"), plus the
# correction's parent_id (W-DOC "invoices_correction").
INVOICE_REQUEST_FIELDS = frozenset({
    "contractor", "paymentmethod", "paymentdate", "disposaldate_format", "disposaldate_empty",
    "disposaldate", "date", "alreadypaid_initial", "number", "type", "currency", "description",
    "id_external", "price_type", "invoicecontents", "series", "parent_id", "type_of_sale",
    "template", "auto_send", "schema", "register_description", "tags", "company_account",
    "translation_language", "day", "month", "year",
})
# Fields wFirma computes: read-only (W-SDK group "response").
INVOICE_READ_ONLY_FIELDS = frozenset({
    "id", "fullnumber", "netto", "tax", "total", "total_composed", "alreadypaid", "remaining",
    "paymentstate", "currency_label",
    "corrections", "correction_type", "ksef_reference_number", "ksef_status", "ksef_registration_date",
    "warehouse_type", "contractor_detail", "company_detail",
})
# The invoice's exchange-rate fields. W-SDK Invoice.php puts currency_exchange, currency_date and
# price_currency_exchange in its "response" group only, and a community transcription of doc.wfirma.pl's
# field list marks them read-only ("Tylko odczyt"); yet a production integration sends
# price_currency_exchange on add. Whether invoices/add honours a rate sent there is undocumented, so the
# fake offers each reading (`own_rate_fields`): "honoured", "ignored" (wFirma applies its NBP rate) or
# "refused" (READ_ONLY). ASSUMPTION in every case.
OWN_RATE_FIELDS = ("currency_exchange", "currency_date", "price_currency_exchange")
OWN_RATE_READINGS = frozenset({"honoured", "ignored", "refused"})
KSEF_FIELDS = ("ksef_status", "ksef_reference_number", "ksef_registration_date")
# Documents that go to KSeF (receipts do not).
KSEF_TYPES = frozenset({"normal", "correction"})
# ksef_status words. ASSUMPTION: wFirma documents none. "sent" is the one seen in public client code
# (python-wfirma's tests), with a reference in the KSeF number's form and a registration date
# "YYYY-MM-DD HH:MM:SS"; the word while KSeF has not answered and the refusal's word are assumed.
# Before any submission the three fields are empty strings (ASSUMPTION: W-SDK reads them as nullable).
KSEF_SUBMITTED = "processing"
KSEF_ACCEPTED = "sent"
KSEF_REFUSED = "rejected"
# Modelled only as stored text, not interpreted.
INVOICE_PASSIVE_FIELDS = frozenset({"type_of_sale", "template", "auto_send", "schema",
                                    "register_description", "tags", "company_account",
                                    "translation_language", "disposaldate_empty", "day", "month", "year"})
CONTRACTOR_FIELDS = frozenset({"id", "name", "altname", "tax_id_type", "nip", "street", "zip",
                               "city", "country", "email", "phone"})
CONTENT_FIELDS = frozenset({"name", "unit", "count", "price", "vat", "vat_code", "good", "parent_id",
                            "classification", "discount", "discount_percent", "lumpcode", "unit_count"})
CONTENT_READ_ONLY_FIELDS = frozenset({"id", "netto", "brutto", "price_modified"})

# Messages. The two marked "documented" appear verbatim in the docs' validation example.
BLANK = "Pole nie może być puste"  # documented
BAD_DATE = "Data musi być w formacie RRRR-MM-DD"  # documented
# ASSUMPTION on the wording of everything below (the checks themselves are labelled where needed).
INVALID = "Nieprawidłowa wartość"
BAD_NIP = "Nieprawidłowy numer NIP"
READ_ONLY = "Pole tylko do odczytu"
# ASSUMPTION: the real API ignores unknown fields; the fake refuses them so a typo cannot pass.
UNKNOWN = "Nieznane pole"
NOT_MODELLED = "Not modelled by the local wFirma fake"
MISSING_RECORD = "Wskazany rekord nie istnieje"
NUMBER_TAKEN = "Numer jest już zajęty w tej serii"
# ASSUMPTION on the wording (found in no stored source); the series' type is named as series/find shows it.
SERIES_TYPE = "Seria numeracji jest przeznaczona dla dokumentów typu {type}"
TOO_LONG = "Wartość jest za długa (maksymalnie {limit} znaków)"
NO_RATE = "Brak kursu waluty"
TOO_MANY_DECIMALS = "Maksymalnie {places} miejsca po przecinku"
NOT_POSITIVE = "Wartość musi być większa od zera"
PAID_TOO_MUCH = "Kwota zapłacona nie może przekraczać kwoty do zapłaty"
NO_PDF_FOR_FISCAL = "Paragon fiskalny jest drukowany na drukarce fiskalnej i nie ma wydruku PDF"

# W-KO reports that wFirma stores 32 characters of id_external.
ID_EXTERNAL_MAX = 32
# ASSUMPTION: wFirma documents no text lengths (W-DOC, W-SDK, W-PY have none). These are the limits
# Fakturownia's KSeF guide gives for the same data (a position name 256, names and streets 255) and
# KSeF's 3500 for printed notes; the fake refuses beyond them so a longer text cannot pass unnoticed.
LINE_NAME_MAX = 256
CONTRACTOR_TEXT_MAX = {"name": 255, "street": 255, "city": 255}
DESCRIPTION_MAX = 3500
NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EU_VAT = re.compile(r"(AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PT|RO|SE|SI|SK|XI)"
                    r"[0-9A-Z+*]{2,12}")


def nip_is_valid(nip: str) -> bool:
    """The Polish NIP checksum (10 digits, weighted sum mod 11 equals the last digit)."""
    if not re.fullmatch(r"\d{10}", nip):
        return False
    check = sum(int(d) * w for d, w in zip(nip, NIP_WEIGHTS, strict=False)) % 11
    return check != 10 and check == int(nip[9])


# --------------------------------------------------------------------------- records


@dataclass(eq=False)
class WfirmaCompany:
    """One company in wFirma, with its own VAT code ids, series, goods and documents."""

    company_id: int
    name: str
    nip: str
    vat_codes: dict[int, dict[str, Any]] = field(default_factory=dict)
    series: dict[int, dict[str, Any]] = field(default_factory=dict)
    goods: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    sources: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)  # for edits
    last_numbers: dict[tuple, int] = field(default_factory=dict, repr=False)
    payments: dict[int, dict[str, Any]] = field(default_factory=dict)
    # KSeF as set in wFirma (USTAWIENIA » FAKTURY » E-FAKTURY). ASSUMPTION: KSeF itself is modelled
    # only by these switches: the answer comes after some reads of the document (really: seconds
    # to hours), accepted with a KSeF number unless ksef_rejects.
    ksef_auto_send: bool = False
    ksef_reads_until_final: int = 1
    ksef_rejects: bool = False
    ksef_reads: dict[int, int] = field(default_factory=dict, repr=False)
    ksef_submissions: dict[int, int] = field(default_factory=dict)  # invoice id -> submissions

    def vat_code_id(self, code: str) -> int:
        """This company's id of a Polish VAT code ("23", "ZW"...)."""
        return next(i for i, v in self.vat_codes.items() if v["code"] == code and v["country"] == "PL")

    def default_series(self, invoice_type: str) -> int:
        return next(i for i, s in self.series.items() if s["type"] == invoice_type and s["default"])

    def delete_invoice(self, invoice_id: int) -> None:
        """Test helper: the merchant deleted the document in the app."""
        self.invoices.pop(invoice_id, None)
        self.sources.pop(invoice_id, None)


@dataclass(eq=False)
class _ApiKey:
    access_key: str
    secret_key: str
    company_ids: list[int] = field(default_factory=list)
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class _Rejected(Exception):
    """Validation errors, keyed by the record they belong to: () for the invoice itself,
    ("contractor",) or ("invoicecontents", index)."""

    def __init__(self) -> None:
        super().__init__("validation errors")
        self.by_record: dict[tuple, list[tuple[str, str]]] = {}

    def add(self, record: tuple, field_name: str, message: str) -> None:
        self.by_record.setdefault(record, []).append((field_name, message))

    def __bool__(self) -> bool:
        return bool(self.by_record)


class _StatusAnswer(Exception):
    """Answer at once with a bare status code (ACCESS DENIED, NOT FOUND, INPUT ERROR...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --------------------------------------------------------------------------- the numbered JSON form


def numbered(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """[{...}, {...}] -> {"0": {name: {...}}, "1": {name: {...}}} (the documented JSON list form)."""
    return {str(index): {name: record} for index, record in enumerate(records)}


def unnumbered(branch: Any, name: str) -> list[Any]:
    """The records under a plural branch, numbered (documented) or a single unnumbered one.

    ASSUMPTION: a JSON array is not the documented form and is refused (INPUT ERROR); a single
    unnumbered record is accepted because a production integration (W-KO) sends it that way.
    """
    if not isinstance(branch, dict):
        raise _StatusAnswer("INPUT ERROR")
    if set(branch) == {name}:
        return [branch[name]]
    records = []
    for key in sorted((k for k in branch if k.isdigit()), key=int):
        entry = branch[key]
        if not isinstance(entry, dict) or set(entry) != {name}:
            raise _StatusAnswer("INPUT ERROR")
        records.append(entry[name])
    return records


def _record_id(value: Any) -> int | None:
    """An id as the API sends it ("123" or 123) inside ``{"id": ...}``."""
    if isinstance(value, dict) and set(value) == {"id"}:
        value = value["id"]
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9]\d*", value):
        return int(value)
    return None


# --------------------------------------------------------------------------- the fake


class WfirmaFake(FakeServer):
    secret_query_params = frozenset()  # the keys travel in headers only

    def __init__(self, *, app_key: str = DEFAULT_APP_KEY,
                 rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT, today: date | None = None,
                 own_rate_fields: str = "honoured", errors_as_xml: bool = False):
        """``own_rate_fields``: how invoices/add treats a rate sent in OWN_RATE_FIELDS (see there).
        ``errors_as_xml``: every non-OK status answer comes in wFirma's default format, XML
        (``<api><status><code>AUTH</code></status></api>``), whatever outputFormat asked for. ASSUMPTION:
        an answer given before the request's format parameters are read (an auth failure) is in the
        documented default format, XML (W-DOC "Format wejściowy / wyjściowy"; XML answer shape as in
        W-SDK's test resources, e.g. series.add.response.error.xml); seen on the live API per the
        project's issue 14. Off: status answers follow outputFormat."""
        super().__init__(rate_limit=rate_limit, peak_window_seconds=15.0)
        if own_rate_fields not in OWN_RATE_READINGS:
            raise ValueError(f"own_rate_fields is one of {sorted(OWN_RATE_READINGS)}")
        self.own_rate_fields = own_rate_fields
        self.errors_as_xml = errors_as_xml
        self.app_keys = {app_key}
        self._keys: dict[str, _ApiKey] = {}
        self._companies: dict[int, WfirmaCompany] = {}
        self._lock = threading.RLock()
        self._next_id = 1000
        # The NBP rate wFirma looks up itself when no rate of ours is taken (own_rate_fields): the fake
        # applies the rate a test seeds per currency.
        self.exchange_rates: dict[str, Decimal] = {"EUR": Decimal("4.2351"), "USD": Decimal("3.9876")}
        self._today = today

    def today(self) -> date:
        return self._today or date.today()

    # ----------------------------------------------------------------- setup

    def add_app_key(self, app_key: str) -> None:
        self.app_keys.add(app_key)

    def add_company(self, access_key: str, secret_key: str, *, name: str = "Sklep Demo Sp. z o.o.",
                    nip: str = "5252445767") -> int:
        """A company reachable with this key pair (created on first use), seeded like a new
        wFirma account: the VAT code table (ids of its own), and a default series per type."""
        with self._lock:
            key = self._keys.setdefault(access_key, _ApiKey(access_key, secret_key))
            if key.secret_key != secret_key:
                raise ValueError("this accessKey exists with another secretKey")
            company = WfirmaCompany(self._new_id(), name, nip)
            for code, rate in POLISH_VAT_CODES:
                vat_id = self._new_id()
                company.vat_codes[vat_id] = {"id": vat_id, "code": code, "rate": rate, "country": "PL"}
            for country, rate in OSS_VAT_CODES:
                vat_id = self._new_id()
                company.vat_codes[vat_id] = {"id": vat_id, "code": "", "rate": rate, "country": country}
            self._companies[company.company_id] = company
            key.company_ids.append(company.company_id)
            # ASSUMPTION: default series names and templates of a fresh account.
            for invoice_type, template in (("normal", "FV [numer]/[miesiac]/[rok]"),
                                           ("receipt_normal", "PAR [numer]/[miesiac]/[rok]"),
                                           ("receipt_fiscal_normal", "PF [numer]/[miesiac]/[rok]"),
                                           ("correction", "KOR [numer]/[miesiac]/[rok]")):
                self._add_series(company, f"Domyślna ({invoice_type})", template, invoice_type,
                                 reset="monthly", default=True)
            return company.company_id

    def company(self, company_id: int) -> WfirmaCompany:
        return self._companies[company_id]

    def add_series(self, company_id: int, name: str, template: str, *, invoice_type: str = "normal",
                   reset: str = "yearly") -> int:
        if "[numer]" not in template or reset not in SERIES_RESETS:
            raise ValueError("a series template needs [numer]; reset is yearly, monthly or daily")
        with self._lock:
            return self._add_series(self.company(company_id), name, template, invoice_type, reset=reset,
                                    default=False)

    def _add_series(self, company: WfirmaCompany, name: str, template: str, invoice_type: str, *,
                    reset: str, default: bool) -> int:
        series_id = self._new_id()
        company.series[series_id] = {"id": series_id, "name": name, "template": template,
                                     "type": invoice_type, "reset": reset, "default": default}
        return series_id

    def add_good(self, company_id: int, name: str, code: str, *, netto: Any, vat: str = "23",
                 count: Any = 0, unit: str = "szt.") -> int:
        """A good in the catalogue (warehouse "simple"). Its VAT code is one of the company's."""
        with self._lock:
            company = self.company(company_id)
            vat_id = company.vat_code_id(vat)
            rate = Decimal(company.vat_codes[vat_id]["rate"])
            net = quantize_money(parse_decimal(netto))
            good_id = self._new_id()
            company.goods[good_id] = {
                "id": str(good_id), "name": name, "code": code, "unit": unit, "type": "good",
                "netto": format_money(net), "brutto": format_money(net + quantize_money(net * rate / 100)),
                "vat_code": {"id": str(vat_id)}, "count": f"{parse_decimal(count):.4f}", "warehouse_type": "simple",
            }
            return good_id

    def set_exchange_rate(self, currency: str, rate: Any) -> None:
        self.exchange_rates[currency] = parse_decimal(rate)

    def answer_status(self, code: str, *, method: str | None = None, path: str | None = None,
                      times: int = 1) -> None:
        """Queue a wFirma status answer (HTTP 200, e.g. SNAPSHOT LOCK, OUT OF SERVICE, FATAL)."""
        body = json.dumps({"status": {"code": code}}).encode()
        self.faults.add("status", method=method, path=path, times=times, status=200, body=body,
                        content_type="application/json; charset=utf-8")

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        if status == 404:  # documented: an unknown module/action is a status, not an HTTP error
            return self._status(request, "ACTION NOT FOUND")
        # ASSUMPTION: HTTP errors come from the front proxy as an HTML page, not as an API body.
        page = f"<html><head><title>{status} {message}</title></head><body><h1>{message}</h1></body></html>"
        return bytes_response(status, "text/html; charset=utf-8", page.encode())

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # Documented status code; ASSUMPTION: HTTP 200 like every other status, no Retry-After.
        return self._status(request, "TOTAL REQUESTS LIMIT EXCEEDED")

    def rate_limit_key(self, request: Request) -> Any:
        """Per API key (the accessKey); requests without one: per client IP."""
        return request.headers.get("accesskey") or f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        company_id = request.query.get("company_id")
        return f"company:{company_id}" if company_id and company_id.isdigit() else None

    # ----------------------------------------------------------------- the request pipeline

    @staticmethod
    def _output_format(request: Request) -> str:
        """Documented: xml by default; outputFormat defaults to inputFormat."""
        return request.query.get("outputFormat") or request.query.get("inputFormat") or "xml"

    def _status(self, request: Request, code: str, branch: dict[str, Any] | None = None) -> Response:
        tree = {**(branch or {}), "status": {"code": code}}
        if self._output_format(request) != "json" or (self.errors_as_xml and code != OK):
            return _xml_response(tree)
        return json_response(200, tree)

    def _in_answer_format(self, response: Response) -> Response:
        """A JSON status answer other than OK, in XML when the fake is set to answer errors so."""
        if not self.errors_as_xml or not response.headers.get("Content-Type", "").startswith("application/json"):
            return response
        tree = json.loads(response.body, parse_float=Decimal)
        if not isinstance(tree, dict) or (tree.get("status") or {}).get("code") == OK:
            return response
        return _xml_response(tree)

    def _serve_api(self, request: Request, handler: Callable[[WfirmaCompany, Any], Response],
                   *, module: str, reads: bool = False) -> Response:
        """Auth, formats and company, in that order, then the action with the parsed body."""
        if request.method not in (("GET", "POST") if reads else ("POST",)):
            return self._status(request, "ACTION NOT FOUND")  # ASSUMPTION
        with self._lock:
            try:
                company = self._authenticate(request)
                body = self._parsed_body(request, module)
                return self._in_answer_format(handler(company, body))
            except HttpError as refusal:
                return self._in_answer_format(refusal.response)
            except _StatusAnswer as answer:
                if answer.code == "AUTH" and not self._sent_any_key(request):
                    # A community client met the bare string AUTH (no XML/JSON) on auth failures.
                    # ASSUMPTION: it is the answer to a request that carries no keys at all.
                    return bytes_response(200, "text/plain; charset=utf-8", b"AUTH")
                return self._status(request, answer.code)

    @staticmethod
    def _sent_any_key(request: Request) -> bool:
        return any(name in request.headers for name in ("accesskey", "secretkey", "appkey"))

    def _authenticate(self, request: Request) -> WfirmaCompany:
        access = request.headers.get("accesskey", "")
        secret = request.headers.get("secretkey", "")
        app = request.headers.get("appkey", "")
        key = self._keys.get(access)
        now = time.monotonic()
        if key is not None and key.locked_until > now:
            raise _StatusAnswer("AUTH FAILED LIMIT WAIT 5 MINUTES")
        if key is None or key.secret_key != secret or app not in self.app_keys:
            if key is not None:
                self._count_failure(key, now)
            raise _StatusAnswer("AUTH")
        company_id = request.query.get("company_id")
        if company_id is None:
            if len(key.company_ids) > 1:
                raise _StatusAnswer("COMPANY ID REQUIRED")
            return self._companies[key.company_ids[0]]
        if not company_id.isdigit() or int(company_id) not in key.company_ids:
            raise _StatusAnswer("ACCESS DENIED")  # ASSUMPTION: another company's id
        return self._companies[int(company_id)]

    @staticmethod
    def _count_failure(key: _ApiKey, now: float) -> None:
        key.failures.append(now)
        while key.failures and key.failures[0] < now - AUTH_LOCK_SECONDS:
            key.failures.popleft()
        if len(key.failures) >= AUTH_FAILURES_BEFORE_LOCK:
            key.locked_until = now + AUTH_LOCK_SECONDS
            key.failures.clear()

    @staticmethod
    def _parsed_body(request: Request, module: str) -> dict[str, Any]:
        """The body's module branch (``{"invoices": {...}}`` -> ``{...}``); {} when empty.

        The format is chosen by the documented query parameter, not by Content-Type (which the
        docs never mention). ASSUMPTION: this fake speaks JSON only, so XML input, the documented
        default, is INPUT ERROR here; so is a body that is not the JSON it claims to be."""
        if request.query.get("inputFormat") != "json" or request.query.get("outputFormat", "json") != "json":
            raise _StatusAnswer("INPUT ERROR")
        if not request.body.strip():
            return {}
        try:
            parsed = json.loads(request.body.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            raise _StatusAnswer("INPUT ERROR") from None
        if not isinstance(parsed, dict) or set(parsed) - {module} or not isinstance(parsed.get(module, {}), dict):
            raise _StatusAnswer("INPUT ERROR")
        return parsed.get(module, {})

    # ----------------------------------------------------------------- invoices

    @route("POST", r"/invoices/add")
    def add_invoice(self, request: Request) -> Response:
        return self._serve_api(request, self._add, module="invoices")

    def _add(self, company: WfirmaCompany, body: dict[str, Any]) -> Response:
        [source] = self._single_record(body)
        try:
            invoice = _InvoiceBuilder(self, company, source, editing=None).build()
        except _Rejected as rejected:
            return self._echo_errors(source, rejected)
        invoice_id = self._new_id()
        invoice["id"] = str(invoice_id)  # ids travel as strings, like every value in the docs' JSON
        self._number(company, invoice, source.get("number"))
        company.invoices[invoice_id] = invoice
        company.sources[invoice_id] = copy.deepcopy(source)
        self._move_stock(company, invoice)
        invoice.update(dict.fromkeys(KSEF_FIELDS, ""))
        if company.ksef_auto_send and invoice["type"] in KSEF_TYPES:
            _submit_to_ksef(company, invoice_id)
        if Decimal(invoice["alreadypaid_initial"]) > 0:
            payment_id = self._new_id()
            company.payments[payment_id] = {
                "id": str(payment_id), "object_name": "invoice", "object_id": invoice["id"],
                "value": invoice["alreadypaid_initial"], "date": invoice["date"],
                "payment_method": invoice["paymentmethod"], "initial": "1"}
        return _invoice_answer(invoice)

    @route("POST", r"/invoices/edit/(?P<id>\d+)")
    def edit_invoice(self, request: Request) -> Response:
        invoice_id = int(request.params["id"])

        def edit(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            current = _stored_invoice(company, invoice_id)
            [changes] = self._single_record(body)
            if "type" in changes and changes["type"] != current["type"]:
                raise _StatusAnswer("INPUT ERROR")  # ASSUMPTION: a document keeps its type
            source = {**company.sources[invoice_id], **changes}
            try:
                invoice = _InvoiceBuilder(self, company, source, editing=current).build()
            except _Rejected as rejected:
                return self._echo_errors(changes, rejected)
            # ASSUMPTION: an edit keeps the id, number and KSeF state; stock is not moved again.
            invoice.update({key: current[key] for key in ("id", "number", "fullnumber", *KSEF_FIELDS)})
            company.invoices[invoice_id] = invoice
            company.sources[invoice_id] = source
            return _invoice_answer(invoice)

        return self._serve_api(request, edit, module="invoices")

    @staticmethod
    def _single_record(body: dict[str, Any], name: str = "invoice") -> list[dict[str, Any]]:
        """The one record of an add or edit (`name`: invoice, payment)."""
        records = unnumbered({k: v for k, v in body.items() if k != "parameters"}, name)
        if len(records) != 1 or not isinstance(records[0], dict):
            raise _StatusAnswer("INPUT ERROR")  # ASSUMPTION: one record per add or edit
        return records

    @route("GET", r"/invoices/get/(?P<id>\d+)")
    @route("POST", r"/invoices/get/(?P<id>\d+)")
    def get_invoice(self, request: Request) -> Response:
        invoice_id = int(request.params["id"])

        def get(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            invoice = _stored_invoice(company, invoice_id)
            _ksef_progress(company, invoice_id)
            return _invoice_answer(invoice)

        return self._serve_api(request, get, module="invoices", reads=True)

    @route("GET", r"/invoices/find")
    @route("POST", r"/invoices/find")
    def find_invoices(self, request: Request) -> Response:
        return self._serve_api(request, lambda company, body: self._find(
            company.invoices.values(), body, "invoices", "invoice", INVOICE_FIND_FIELDS),
            module="invoices", reads=True)

    @route("POST", r"/invoices/download/(?P<id>\d+)")
    def download_invoice(self, request: Request) -> Response:
        invoice_id = int(request.params["id"])

        def download(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            invoice = _stored_invoice(company, invoice_id)
            options = _download_options(body)
            if invoice["type"] in FISCAL_TYPES:
                # ASSUMPTION: the shape of this refusal (the fact itself: no PDF of a fiscal receipt).
                return json_response(200, {"status": {"code": "ERROR", "message": NO_PDF_FOR_FISCAL}})
            return bytes_response(200, "application/pdf", _invoice_pdf(company, invoice, options),
                                  {"Content-Disposition": f'attachment; filename="{invoice["id"]}.pdf"'})

        return self._serve_api(request, download, module="invoices")

    # ----------------------------------------------------------------- dictionaries

    @route("GET", r"/vat_codes/find")
    @route("POST", r"/vat_codes/find")
    def find_vat_codes(self, request: Request) -> Response:
        def rendered(company: WfirmaCompany) -> list[dict[str, Any]]:
            countries = {code: index for index, code in enumerate(("PL", *dict(OSS_VAT_CODES)))}
            return [{"id": str(v["id"]), "code": v["code"], "rate": v["rate"],
                     "declaration_country": {"id": str(countries[v["country"]]), "code": v["country"]}}
                    for v in company.vat_codes.values()]
        return self._serve_api(request, lambda company, body: self._find(
            rendered(company), body, "vat_codes", "vat_code", {"id", "code", "rate"}),
            module="vat_codes", reads=True)

    @route("GET", r"/series/find")
    @route("POST", r"/series/find")
    def find_series(self, request: Request) -> Response:
        def rendered(company: WfirmaCompany) -> list[dict[str, Any]]:
            return [{key: str(value) if key == "id" else value for key, value in s.items() if key != "default"}
                    for s in company.series.values()]
        return self._serve_api(request, lambda company, body: self._find(
            rendered(company), body, "series", "series", {"id", "name", "type", "template"}),
            module="series", reads=True)

    @route("GET", r"/goods/find")
    @route("POST", r"/goods/find")
    def find_goods(self, request: Request) -> Response:
        return self._serve_api(request, lambda company, body: self._find(
            company.goods.values(), body, "goods", "good", {"id", "code", "name", "Good.code", "Good.name"}),
            module="goods", reads=True)

    # ----------------------------------------------------------------- find

    def _find(self, records: Any, body: dict[str, Any], module: str, name: str,
              searchable: set[str] | frozenset[str]) -> Response:
        """Documented find: parameters {conditions, page (from 1), limit}; the answer's own
        parameters {limit, page, total} sit inside the module branch.

        ASSUMPTION: default limit 20 (the docs' example answer), at most 100; a condition on a
        field the fake does not know is INPUT ERROR."""
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            raise _StatusAnswer("INPUT ERROR")
        limit, page = _positive_int(parameters.get("limit", 20)), _positive_int(parameters.get("page", 1))
        if limit is None or page is None:
            raise _StatusAnswer("INPUT ERROR")
        limit = min(limit, 100)
        matches = _conditions_filter(parameters.get("conditions"), searchable)
        selected = [copy.deepcopy(r) for r in records if matches(r)]
        branch = numbered(selected[(page - 1) * limit: page * limit], name)
        branch["parameters"] = {"limit": str(limit), "page": str(page), "total": str(len(selected))}
        return json_response(200, {module: branch, "status": {"code": OK}})

    # ----------------------------------------------------------------- payments

    @route("GET", r"/payments/find")
    @route("POST", r"/payments/find")
    def find_payments(self, request: Request) -> Response:
        return self._serve_api(request, lambda company, body: self._find(
            company.payments.values(), body, "payments", "payment", PAYMENT_FIND_FIELDS),
            module="payments", reads=True)

    @route("POST", r"/payments/edit/(?P<id>\d+)")
    def edit_payment(self, request: Request) -> Response:
        payment_id = int(request.params["id"])

        def edit(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            payment = company.payments.get(payment_id)
            if payment is None:
                raise _StatusAnswer("NOT FOUND")
            [changes] = self._single_record(body, "payment")
            errors = _payment_errors(payment, changes)
            if errors:
                echoed = {**changes, "errors": numbered([{"field": f, "message": m} for f, m in errors], "error")}
                return json_response(200, {"payments": numbered([echoed], "payment"), "status": {"code": "ERROR"}})
            payment.update(changes)
            return json_response(200, {"payments": numbered([payment], "payment"), "status": {"code": OK}})

        return self._serve_api(request, edit, module="payments")

    # ----------------------------------------------------------------- numbering and stock

    def _number(self, company: WfirmaCompany, invoice: dict[str, Any], requested: Any) -> None:
        """The next number in the series for the document's period, formatted by the template.

        ASSUMPTION: [miesiac] is the two-digit month of the issue date, [rok] its year; a number
        that was sent is accepted only if it is still free in the series and period."""
        series = company.series[int(invoice["series"]["id"])]
        issued = date.fromisoformat(invoice["date"])
        period = {"yearly": (issued.year,), "monthly": (issued.year, issued.month),
                  "daily": (issued.year, issued.month, issued.day)}[series["reset"]]
        counter_key = (series["id"], period)
        taken = {int(inv["number"]) for inv in company.invoices.values()
                 if inv["series"]["id"] == str(series["id"]) and _period_of(inv, series["reset"]) == period}
        number = int(requested) if requested not in (None, "") else company.last_numbers.get(counter_key, 0) + 1
        if number in taken:
            rejected = _Rejected()
            rejected.add((), "number", NUMBER_TAKEN)
            raise HttpError(self._echo_errors({"number": requested}, rejected))
        company.last_numbers[counter_key] = max(number, company.last_numbers.get(counter_key, 0))
        invoice["number"] = str(number)
        invoice["fullnumber"] = (series["template"].replace("[numer]", str(number))
                                 .replace("[miesiac]", f"{issued.month:02d}").replace("[rok]", str(issued.year)))

    @staticmethod
    def _move_stock(company: WfirmaCompany, invoice: dict[str, Any]) -> None:
        """ASSUMPTION: with the simple warehouse a sale linked to a good decreases its count."""
        if invoice["type"] not in STOCK_MOVING_TYPES:
            return
        for entry in invoice["invoicecontents"].values():
            content = entry["invoicecontent"]
            good = company.goods.get(int(content["good"]["id"]))
            if good is not None:
                good["count"] = f"{Decimal(good['count']) - Decimal(content['count']):.4f}"

    # ----------------------------------------------------------------- errors

    def _echo_errors(self, source: dict[str, Any], rejected: _Rejected) -> Response:
        """Documented: the input is echoed with errors > error {field, message, method} attached
        to the failing record or sub-record, and status ERROR."""
        echoed = copy.deepcopy(source)

        def attach(target: dict[str, Any], errors: list[tuple[str, str]]) -> None:
            target["errors"] = numbered([{"field": name, "message": message,
                                          "method": {"name": "validation", "parameters": ""}}
                                         for name, message in errors], "error")

        for record, errors in rejected.by_record.items():
            if record == ():
                attach(echoed, errors)
            elif record == ("contractor",):
                if not isinstance(echoed.get("contractor"), dict):
                    echoed["contractor"] = {}
                attach(echoed["contractor"], errors)
            else:
                contents = echoed.get("invoicecontents")
                index = record[1]
                target = None
                if isinstance(contents, dict) and isinstance(contents.get(str(index)), dict):
                    target = contents[str(index)].get("invoicecontent")
                elif isinstance(contents, dict) and index == 0:  # the single unnumbered form
                    target = contents.get("invoicecontent")
                if isinstance(target, dict):
                    attach(target, errors)
                    continue
                attach(echoed, [(f"invoicecontents.{index}.{name}", message) for name, message in errors])
        return json_response(200, {"invoices": numbered([echoed], "invoice"), "status": {"code": "ERROR"}})


def _payment_errors(payment: dict[str, Any], changes: dict[str, Any]) -> list[tuple[str, str]]:
    """A payment edit's problems (field, message). ASSUMPTION on each rule: what it pays stays, and an
    initial payment's value follows its invoice's alreadypaid_initial; the date is a YYYY-MM-DD date."""
    errors = []
    fixed = {"object_name", "object_id", *(("value", "value_pln") if payment["initial"] == "1" else ())}
    for name in changes:
        if name in PAYMENT_READ_ONLY_FIELDS or name in fixed:
            errors.append((name, READ_ONLY))
        elif name not in PAYMENT_REQUEST_FIELDS:
            errors.append((name, UNKNOWN))
    if "date" in changes:
        try:
            parse_date(changes["date"])
        except ValueError:
            errors.append(("date", BAD_DATE))
    if "payment_method" in changes and changes["payment_method"] not in PAYMENT_METHODS:
        errors.append(("payment_method", INVALID))
    return errors


def _stored_invoice(company: WfirmaCompany, invoice_id: int) -> dict[str, Any]:
    invoice = company.invoices.get(invoice_id)
    if invoice is None:
        raise _StatusAnswer("NOT FOUND")
    return invoice


def _submit_to_ksef(company: WfirmaCompany, invoice_id: int) -> None:
    """wFirma submits the document to KSeF by the company's settings."""
    company.invoices[invoice_id]["ksef_status"] = KSEF_SUBMITTED
    company.ksef_reads[invoice_id] = 0
    company.ksef_submissions[invoice_id] = company.ksef_submissions.get(invoice_id, 0) + 1


def _ksef_progress(company: WfirmaCompany, invoice_id: int) -> None:
    """A read of a submitted document: after enough reads, KSeF has answered."""
    invoice = company.invoices[invoice_id]
    if invoice["ksef_status"] != KSEF_SUBMITTED:
        return
    company.ksef_reads[invoice_id] += 1
    if company.ksef_reads[invoice_id] < company.ksef_reads_until_final:
        return
    if company.ksef_rejects:
        invoice["ksef_status"] = KSEF_REFUSED
        return
    issued = date.fromisoformat(invoice["date"])
    invoice.update(ksef_status=KSEF_ACCEPTED, ksef_reference_number=ksef_number(company.nip, issued),
                   ksef_registration_date=f"{issued.isoformat()} 10:15:00")


def _invoice_answer(invoice: dict[str, Any]) -> Response:
    return json_response(200, {"invoices": numbered([invoice], "invoice"), "status": {"code": OK}})


def _xml_response(tree: dict[str, Any]) -> Response:
    """An answer tree in the documented XML form: the JSON tree under an <api> root, with each
    numbered list ({"0": {"error": {...}}, "1": ...}) as repeated elements (<error>...</error>...)."""

    def element(name: str, value: Any) -> str:
        if isinstance(value, dict):
            return f"<{name}>{children(value)}</{name}>"
        text = "" if value is None else str(int(value) if isinstance(value, bool) else value)
        return f"<{name}>{xml_escape(text)}</{name}>"

    def children(branch: dict[str, Any]) -> str:
        return "".join("".join(element(inner, item) for inner, item in value.items())
                       if key.isdigit() and isinstance(value, dict) else element(key, value)
                       for key, value in branch.items())

    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n{element("api", tree)}'
    return bytes_response(200, "text/xml; charset=utf-8", xml.encode())


# Payment fields (W-SDK Payments/Payment.php: groups "request" and "response").
PAYMENT_REQUEST_FIELDS = frozenset({"object_name", "object_id", "value", "date", "payment_method", "payment_type",
                                    "account", "value_pln", "tags"})
PAYMENT_READ_ONLY_FIELDS = frozenset({"id", "initial", "type", "social", "health", "labor_fund",
                                      "transitional_retiring_fund", "currency_exchange", "currency_label",
                                      "currency_date", "notes", "invoice", "expense", "series", "payment_cashbox",
                                      "contractor"})
PAYMENT_FIND_FIELDS = frozenset({"id", "object_name", "object_id", "date", "initial"})
INVOICE_FIND_FIELDS = frozenset({"id", "id_external", "fullnumber", "number", "type", "date", "parent_id",
                                 "Invoice.id", "Invoice.id_external", "Invoice.fullnumber", "Invoice.type",
                                 "Invoice.date", "Invoice.remaining", "ContractorDetail.nip"})


def _period_of(invoice: dict[str, Any], reset: str) -> tuple:
    issued = date.fromisoformat(invoice["date"])
    return {"yearly": (issued.year,), "monthly": (issued.year, issued.month),
            "daily": (issued.year, issued.month, issued.day)}[reset]


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9]\d*", value):
        return int(value)
    return None


def _download_options(body: dict[str, Any]) -> dict[str, str]:
    """Documented body: invoices > parameters > parameter[] {name, value}."""
    parameters = body.get("parameters")
    if parameters is None:
        return {}
    options = {}
    for parameter in unnumbered(parameters, "parameter"):
        if not isinstance(parameter, dict) or set(parameter) != {"name", "value"}:
            raise _StatusAnswer("INPUT ERROR")
        name, value = parameter["name"], str(parameter["value"])
        if name not in DOWNLOAD_PARAMETERS or value not in DOWNLOAD_PARAMETERS[name]:
            raise _StatusAnswer("INPUT ERROR")  # ASSUMPTION: unknown options are not ignored
        options[name] = value
    return options


def _conditions_filter(conditions: Any, searchable: set[str] | frozenset[str]) -> Callable[[dict], bool]:
    """Documented conditions: condition {field, operator, value} entries (AND by default) and
    and/or/not groups; in JSON the repeated branches are numbered."""
    if conditions is None:
        return lambda record: True
    if not isinstance(conditions, dict):
        raise _StatusAnswer("INPUT ERROR")
    tests: list[Callable[[dict], bool]] = []
    for key, branch in conditions.items():
        if key == "condition":
            tests.append(_condition(branch, searchable))
        elif key in ("and", "or", "not"):
            inner = _conditions_filter(branch, searchable) if key != "or" else _any_of(branch, searchable)
            tests.append((lambda test: lambda r: not test(r))(inner) if key == "not" else inner)
        elif key.isdigit() and isinstance(branch, dict):
            tests.append(_conditions_filter(branch, searchable))
        else:
            raise _StatusAnswer("INPUT ERROR")
    return lambda record: all(test(record) for test in tests)


def _any_of(branch: Any, searchable: set[str] | frozenset[str]) -> Callable[[dict], bool]:
    if not isinstance(branch, dict):
        raise _StatusAnswer("INPUT ERROR")
    tests = [_conditions_filter({key: value}, searchable) if not key.isdigit()
             else _conditions_filter(value, searchable) for key, value in branch.items()]
    return lambda record: any(test(record) for test in tests)


def _condition(condition: Any, searchable: set[str] | frozenset[str]) -> Callable[[dict], bool]:
    if not isinstance(condition, dict) or not {"field", "operator"} <= set(condition) <= {"field", "operator", "value"}:
        raise _StatusAnswer("INPUT ERROR")
    name, operator, wanted = condition["field"], condition["operator"], condition.get("value")
    if name not in searchable or operator not in FIND_OPERATORS:
        raise _StatusAnswer("INPUT ERROR")
    plain = name.split(".", 1)[1] if name.startswith(("Invoice.", "Good.")) else name

    def value_of(record: dict[str, Any]) -> str | None:
        if plain == "ContractorDetail.nip":
            return (record.get("contractor_detail") or {}).get("nip")
        value = record.get(plain)
        return str(value) if value not in (None, "") else None

    def like(value: str, pattern: str) -> bool:
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
        return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None

    def compare(record: dict[str, Any]) -> bool:
        value = value_of(record)
        if operator in ("is null", "is not null"):
            return (value is None) == (operator == "is null")
        if value is None:
            return False
        target = str(wanted)
        if operator == "in":
            return value in target.split(",")
        if operator in ("like", "not like"):
            return like(value, target) == (operator == "like")
        if operator in ("eq", "ne"):
            return (value == target) == (operator == "eq")
        ordered = (Decimal(value), Decimal(target)) if _is_number(value) and _is_number(target) else (value, target)
        return {"gt": ordered[0] > ordered[1], "lt": ordered[0] < ordered[1],
                "ge": ordered[0] >= ordered[1], "le": ordered[0] <= ordered[1]}[operator]

    return compare


def _is_number(text: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", text) is not None


# --------------------------------------------------------------------------- building an invoice


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
