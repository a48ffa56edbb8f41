"""wFirma's documented values and messages, the fake's records, and the numbered JSON form."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

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


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9]\d*", value):
        return int(value)
    return None
