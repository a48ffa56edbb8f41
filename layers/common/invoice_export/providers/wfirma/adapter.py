"""wFirma adapter (API v2, https://api2.wfirma.pl), JSON.

API facts and sources: shared/providers/wfirma-ifirma.md section 1 (doc.wfirma.pl through the
official Postman collection; dbojdo/wFirma, an SDK tested against the live API). Choices made
here where the docs leave room:
- API-key auth: the merchant's accessKey/secretKey and our integration's appKey travel in three
  headers; company_id goes on every call, so nothing lands in another company of the same user.
- wFirma answers HTTP 200 to nearly everything and puts the outcome in `status.code`: every
  answer is read by `read_answer`, which turns a non-OK status into our error types. The status is
  read from JSON, from wFirma's default XML (some answers, e.g. AUTH, come in XML whatever
  outputFormat asked for) and from the bare word AUTH.
- Everything is POSTed (as the tested SDK does: bodies travel on reads too); reads that fail on
  the way are retried as reads, never reported as a possibly created document.
- VAT rates go as `vat_code > id`, looked up per company through vat_codes/find (the ids differ
  per account, and the `vat` string is ignored on lines linked to a good).
- Our document id is `id_external`, which wFirma does NOT keep unique: a timed-out create is
  settled by `find_document` (invoices/find on id_external) before anything is sent again.
- wFirma numbers documents from its series templates only: our numbering is not offered.
- No API field carries the legal basis of a VAT exemption or a correction's reason: both are
  printed in the description.
- Our exchange rate and its date go in the invoice's currency_exchange, currency_date and
  price_currency_exchange (W-SDK Invoice.php names them). ASSUMPTION: invoices/add takes them as the
  document's rate; W-SDK only reads them, and no source confirms wFirma honours them, so the rate
  read back after the create is compared with ours and a different one is reported as a warning.
- Paid documents: `alreadypaid_initial` = the gross marks the document paid in the same call that
  creates it (never a paid state lost between two calls). Its initial payment is wFirma's payment
  record; ASSUMPTION: dated the issue date ("paid when issued"). wFirma has no paid-date field on
  the invoice (`paymentdate` is the due date), so a document paid on another day gets that payment
  record's date set to our paid date afterwards (payments/find on the invoice, payments/edit; the
  `date` field of W-SDK's Payment). Should that fail, the document stays exported and paid, and a
  warning names both dates.
- KSeF (facts 1.11): wFirma submits documents to KSeF by its own account settings (USTAWIENIA »
  FAKTURY » E-FAKTURY) and no documented API action sends one, so only `provider_sends` is offered:
  we never ask, and read the invoice's read-only ksef_status / ksef_reference_number /
  ksef_registration_date back through invoices/get (`ksef_state`). The status words are not
  documented: see KSEF_STATES for what is assumed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from xml.etree import ElementTree

import requests
from pydantic import BaseModel, ConfigDict, SecretStr, StringConstraints

from invoice_export.domain.account_settings import AccountSettings, KsefMode, MissingSku, ProviderName
from invoice_export.domain.documents import (
    Document,
    DocumentKind,
    Line,
    PriceBasis,
    VatCalculation,
    VatCode,
    vat_percent,
)
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    ConfigurationError,
    CredentialsRejected,
    ExportError,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.ksef_numbers import KSEF_NUMBER
from invoice_export.domain.money import format_amount, loads_exact
from invoice_export.domain.provider_contract import (
    Capabilities,
    CreatedDocument,
    ExportPlan,
    KsefState,
    KsefStatus,
    ProviderOption,
    ProviderReference,
)
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.readback import ProviderTotals
from invoice_export.providers import pricing
from invoice_export.providers.base import LOOKED_UP_WHEN_SENT, ProviderAdapter
from invoice_export.providers.http import HeaderAuth, ProviderHttp
from invoice_export.providers.ksef_words import ksef_status_from
from invoice_export.providers.pricing import PricedLine, folded_name, priced_line, unit_price_to_send
from invoice_export.providers.texts import TextLimit

# wFirma's documented payment methods (dbojdo/wFirma PaymentMethod.php, integration-tested).
PAYMENT_METHODS = {"transfer": "Przelew", "cash": "Gotówka", "payment_card": "Karta płatnicza",
                   "cod": "Za pobraniem", "compensation": "Kompensata"}
RECEIPT_TYPES = {"non_fiscal": "receipt_normal", "fiscal": "receipt_fiscal_normal"}
FISCAL_RECEIPT_TYPES = frozenset({"receipt_fiscal_normal", "receipt_fiscal_bill"})
# Our VAT codes as wFirma's Polish vat_code codes (dbojdo/wFirma VatRate.php).
VAT_CODE_NAMES = {VatCode.EXEMPT: "ZW", VatCode.NOT_SUBJECT: "NP", VatCode.NOT_SUBJECT_EU: "NPUE",
                  VatCode.REVERSE_CHARGE: "VAT_BUYER"}
# invoices/get's ksef_status words. ASSUMPTION: wFirma documents none of them (W-SDK and W-PY only
# name the read-only field). The one seen in public client code is "sent", next to a
# ksef_reference_number in the KSeF number's form and a ksef_registration_date (python-wfirma's
# tests); the others are our reading of the usual lifecycle. Whatever the word, the document counts
# as accepted only with a number in the KSeF number's form and a registration date (`ksef_state`), and
# a word not listed here is read as pending and logged, so an unknown answer neither crashes the
# poller nor ends it early.
KSEF_STATES = {
    "sent": KsefState.ACCEPTED, "accepted": KsefState.ACCEPTED, "registered": KsefState.ACCEPTED,
    "new": KsefState.PENDING, "queued": KsefState.PENDING, "pending": KsefState.PENDING,
    "processing": KsefState.PENDING,
    "rejected": KsefState.REJECTED, "error": KsefState.REJECTED,
}
# wFirma keeps 32 characters of id_external (reported by a production integration).
ID_EXTERNAL_MAX = 32
FIND_PAGE_SIZE = 100

# Status codes that mean "later": (seconds to wait, our error code, what happened). The waits are
# ours: wFirma sends no Retry-After. Its request limits are counted per 15 s, minute and hour, so a
# minute covers the common case.
TRANSIENT_STATUSES = {
    "TOTAL REQUESTS LIMIT EXCEEDED": (60.0, "provider_rate_limited",
                                      "wFirma's request limit for this API key is reached"),
    "TOTAL EXECUTION TIME LIMIT EXCEEDED": (300.0, "provider_rate_limited",
                                            "wFirma's execution-time limit for this API key is reached"),
    "OUT OF SERVICE": (300.0, "provider_unavailable", "wFirma's API is switched off for maintenance"),
    "SNAPSHOT LOCK": (600.0, "provider_unavailable",
                      "wFirma is restoring this company from a backup; every operation is locked"),
    "AUTH FAILED LIMIT WAIT 5 MINUTES": (300.0, "provider_auth_locked",
                                         "wFirma locked the API key for 5 minutes after failed logins"),
}
# Status codes that mean the connection itself is wrong.
CREDENTIAL_STATUSES = {
    "AUTH": "wFirma refused the API keys",
    "ACCESS DENIED": "wFirma's API key may not do this in the company (its permissions, or another company's id)",
    "DENIED SCOPE REQUESTED": "wFirma's API key lacks the permission for this module",
    "COMPANY ID REQUIRED": "the wFirma key reaches several companies and needs the company id",
}

# Every documented status code (W-DOC "Komunikaty błędów").
KNOWN_STATUSES = frozenset({"OK", "ERROR", "FATAL", "INPUT ERROR", "NOT FOUND", "ACTION NOT FOUND",
                            *TRANSIENT_STATUSES, *CREDENTIAL_STATUSES})

# Where a rejected wFirma field comes from in our message, to say what to fix. Line fields are
# keyed without their index ("invoicecontents.count"); the index is added to our field.
OUR_FIELD = {
    "contractor.name": "document.buyer.name",
    "contractor.nip": "document.buyer.tax_id",
    "contractor.tax_id_type": "document.buyer.tax_id",
    "contractor.street": "document.buyer.address.street",
    "contractor.zip": "document.buyer.address.postal_code",
    "contractor.city": "document.buyer.address.city",
    "contractor.country": "document.buyer.address.country",
    "contractor.email": "document.buyer.email",
    "contractor.phone": "document.buyer.phone",
    "date": "document.issue_date",
    "disposaldate": "document.sale_date",
    "paymentdate": "document.payment.due_date",
    "paymentmethod": "the account's payment-type link",
    "series": "the account's series link (a wFirma series of this document type)",
    "currency": "document.currency",
    "id_external": "document.document_id",
    "description": "document.notes",
    "alreadypaid_initial": "document.payment.paid_date",
    "currency_exchange": "document.exchange_rate.rate",
    "price_currency_exchange": "document.exchange_rate.rate",
    "currency_date": "document.exchange_rate.date",
    "parent_id": "the corrected document (it must be an invoice in this wFirma company)",
    "invoicecontents.name": "document.lines[{index}].name",
    "invoicecontents.unit": "document.lines[{index}].unit",
    "invoicecontents.count": "document.lines[{index}].quantity",
    "invoicecontents.price": "document.lines[{index}].unit_price",
    "invoicecontents.vat_code": "document.lines[{index}].vat",
    "invoicecontents.good": "document.lines[{index}].sku",
    "invoicecontents.parent_id": "document.correction.lines_before",
}


# Field lengths: wFirma documents none (W-DOC, W-SDK and W-PY carry no lengths). ASSUMPTION: the limits
# Fakturownia's KSeF guide gives for the same data (a position name 256 under KSeF, names and streets 255;
# wFirma sends its documents to KSeF too) and KSeF's 3500 for the printed notes (inFakt documents 3500).
_INVOICE = "invoices.*.invoice"
LINE_NAME_LENGTH = 256  # a folded line's name is fitted to it by the mapping, so its figures are never cut
# A folded line (providers.pricing.priced_line) is one piece: the whole line.
FOLDED_UNIT = "szt."
TEXT_LIMITS = {
    f"{_INVOICE}.invoicecontents.*.invoicecontent.name": TextLimit(
        LINE_NAME_LENGTH, "document.lines[].name", "ASSUMPTION: not documented; KSeF's position-name limit (F-KSEF)"),
    f"{_INVOICE}.contractor.name": TextLimit(255, "document.buyer.name", "ASSUMPTION: not documented; 255"),
    f"{_INVOICE}.contractor.street": TextLimit(255, "document.buyer.address.street",
                                               "ASSUMPTION: not documented; 255"),
    f"{_INVOICE}.contractor.city": TextLimit(255, "document.buyer.address.city", "ASSUMPTION: not documented; 255"),
    f"{_INVOICE}.description": TextLimit(
        3500, "document.notes (after a correction's reason and the exemption basis)",
        "ASSUMPTION: not documented; 3500, KSeF's footer limit"),
}


class WfirmaCredentials(BaseModel):
    """The merchant's key pair and company; app_key is our integration's, merged in by the runtime."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    access_key: SecretStr
    secret_key: SecretStr
    app_key: SecretStr
    # Not secret: it goes in the query string. Kept to characters safe there.
    company_id: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


class WfirmaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # non_fiscal: receipt_normal, a receipt wFirma prints as a PDF. fiscal: receipt_fiscal_normal,
    # printed by the merchant's fiscal printer through wFirma, with no PDF.
    receipt_type: Literal["non_fiscal", "fiscal"] = "non_fiscal"


@dataclass(frozen=True)
class Lookups:
    """What a request needs from the account: VAT code ids, good ids by SKU, and for a correction
    the ids of the corrected invoice's lines (in its order)."""

    vat_code_ids: dict[str, str] = field(default_factory=dict)
    good_ids: dict[str, str] = field(default_factory=dict)
    original_line_ids: list[str] | None = None


class WfirmaAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.WFIRMA
    display_name: ClassVar[str] = "wFirma"
    capabilities: ClassVar[Capabilities] = Capabilities(
        receipts=True,
        corrections=True,
        series=True,
        list_series=True,
        own_numbering=False,  # numbers come only from the series template
        payment_types=True,
        list_payment_types=False,  # no endpoint: a documented fixed list
        sku_stock=True,
        ksef_send=False,  # no documented action sends: wFirma submits by its own account settings
        ksef_read_back=True,  # invoices/get: ksef_status, ksef_reference_number (values assumed, see KSEF_STATES)
        lookup_by_reference=True,
        settle_by_listing=False,  # not needed: the look-up by id_external settles an interrupted create
    )
    credentials_model: ClassVar[type[BaseModel]] = WfirmaCredentials
    options_model: ClassVar[type[BaseModel]] = WfirmaOptions
    default_api_url: ClassVar[str] = "https://api2.wfirma.pl"
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=30, window_seconds=15, scope=LimitScope.CREDENTIAL,
        source="community: 30 requests per 15 s per API key, reported by a maintainer in dbojdo/wFirma "
               "PR 29 (also 80 per minute and 2400 per hour); wFirma documents no figures")
    ksef_refusals: ClassVar[dict[KsefMode, tuple[str, str]]] = {KsefMode.SEND_ON_EXPORT: (
        "wFirma sends documents to KSeF by its own settings (USTAWIENIA » FAKTURY » E-FAKTURY); its API has "
        "no action to send one, so we cannot send on export",
        "set ksef to 'provider_sends' (we then read each document's KSeF number back from wFirma, never "
        "sending it ourselves) and let wFirma send by its settings")}
    # wFirma sums line values per rate and computes VAT once per rate (as its fake models it): a
    # document computed line by line goes with both splits recorded (domain.vat_split), its net
    # lines as gross unit prices where only so wFirma's gross is ours (4 decimals, as `price` takes).
    vat_calculation: ClassVar[VatCalculation | None] = VatCalculation.PER_RATE
    exchange_rate_fields: ClassVar[str] = (
        "`currency_exchange`, `price_currency_exchange`, `currency_date` (ASSUMPTION: honoured); "
        "a different rate read back is a warning")
    exemption_basis_fields: ClassVar[str] = "none: the zw basis is printed in `description`"
    text_limits: ClassVar[dict[str, TextLimit]] = TEXT_LIMITS
    gross_unit_price_places: ClassVar[int | None] = 4

    def __init__(self, settings: AccountSettings, credentials: BaseModel, http: ProviderHttp) -> None:
        super().__init__(settings, credentials, http)
        self._vat_code_ids: dict[str, str] | None = None

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        assert isinstance(credentials, WfirmaCredentials)
        return HeaderAuth({"accessKey": credentials.access_key.get_secret_value(),
                           "secretKey": credentials.secret_key.get_secret_value(),
                           "appKey": credentials.app_key.get_secret_value()})

    @classmethod
    def rate_limit_key(cls, settings: AccountSettings, credentials: BaseModel) -> str:
        """wFirma counts per API key (the accessKey), whichever of its companies a call names."""
        assert isinstance(credentials, WfirmaCredentials)
        digest = hashlib.sha256(credentials.access_key.get_secret_value().encode()).hexdigest()[:16]
        return f"{cls.name.value}:credential:{digest}"

    @staticmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        """A 4xx other than 401/403/429 (wFirma itself answers 200): read its body if it has one."""
        try:
            read_answer(response, creates=False)
        except ProviderRejected as rejection:
            return rejection
        except ExportError as error:
            return ProviderRejected(f"wFirma answered HTTP {response.status_code}: {error.message}", fix=error.fix)
        return ProviderRejected(f"wFirma answered HTTP {response.status_code}",
                                fix="correct the document and retry it", code="provider_http_error")

    # ------------------------------------------------------------------ mapping

    def build_request(self, plan: ExportPlan, lookups: Lookups | None = None) -> dict[str, Any]:
        """The invoices/add body. Without `lookups` (a dry run) the ids wFirma assigns per company
        are shown as placeholders; create_document passes the real ones."""
        lookups = lookups or Lookups()
        doc = plan.document
        if plan.provider_payment_type not in PAYMENT_METHODS:
            raise ConfigurationError(
                f"'{plan.provider_payment_type}' is not a wFirma payment method",
                fix=f"link payment method '{doc.payment.method}' to one of: {', '.join(PAYMENT_METHODS)}",
                code="unsupported_payment_type")
        invoice: dict[str, Any] = {
            "type": self._type(doc.kind),
            "date": doc.issue_date.isoformat(),
            "disposaldate": doc.sale_date.isoformat(),
            "disposaldate_format": "date",
            "paymentmethod": plan.provider_payment_type,
            "currency": doc.currency,
            # A net-priced document goes as gross prices where planning says so (send_gross_prices).
            "price_type": "brutto" if doc.price_basis == PriceBasis.GROSS or plan.send_gross_prices else "netto",
            "id_external": external_id(doc.document_id),
            "contractor": _contractor(doc),
        }
        if doc.payment.due_date is not None:
            invoice["paymentdate"] = doc.payment.due_date.isoformat()
        invoice.update(self._paid_fields(doc))
        invoice.update(_own_exchange_rate(doc))
        if plan.provider_series is not None:
            invoice["series"] = {"id": plan.provider_series}
        if description := _description(doc):
            invoice["description"] = description
        if doc.kind == DocumentKind.CORRECTION:
            assert plan.corrected is not None
            invoice["parent_id"] = plan.corrected.provider_document_id
            contents = self._correction_contents(plan, lookups)
        else:
            contents = [self._content(line, lookups, sku_link=plan.send_skus, as_gross=plan.send_gross_prices)
                        for line in doc.lines]
        invoice["invoicecontents"] = numbered(contents, "invoicecontent")
        return {"invoices": numbered([invoice], "invoice")}

    def _type(self, kind: DocumentKind) -> str:
        """The wFirma document type our kind is sent as (a receipt: as the account's option says)."""
        if kind == DocumentKind.RECEIPT:
            return RECEIPT_TYPES[self.options.receipt_type]
        return "correction" if kind == DocumentKind.CORRECTION else "normal"

    @staticmethod
    def _content(line: Line, lookups: Lookups, *, sku_link: bool, quantity: Decimal | None = None,
                 parent_line_id: str | None = None, as_gross: bool = False) -> dict[str, Any]:
        code = vat_code_name(line)
        # A discounted line goes as its discounted unit price (4 places, exact to our line value):
        # wFirma's invoicecontent has discount/discount_percent, but its rounding of a discounted line is
        # not documented, so its own discount arithmetic could change the totals. Where no 4-place price
        # gives the value exactly (a large quantity), the line goes folded: 1 at its value. Net lines sent
        # as gross prices are not folded: planning refuses those without an exact gross price.
        sent = PricedLine(line.quantity if quantity is None else quantity,
                          unit_price_to_send(line, places=4, quantity=quantity, as_gross=True)) \
            if as_gross else _priced(line, quantity)
        folded = sent.folded_because is not None
        content: dict[str, Any] = {
            "name": folded_name(line, LINE_NAME_LENGTH) if folded else line.name,
            "unit": FOLDED_UNIT if folded else line.unit,
            "count": f"{sent.quantity.normalize():f}",
            "price": f"{sent.unit_price.normalize():f}",
            # Always the id, also on lines linked to a good: wFirma ignores `vat` there.
            "vat_code": {"id": lookups.vat_code_ids.get(code, LOOKED_UP_WHEN_SENT.format(f"VAT code {code}"))},
        }
        # A folded line links no good: it would move 1 unit of stock, not the real quantity.
        if sku_link and line.sku and line.sku in lookups.good_ids and not folded:
            content["good"] = {"id": lookups.good_ids[line.sku]}
        if parent_line_id is not None:
            content["parent_id"] = parent_line_id
        return content

    def _correction_contents(self, plan: ExportPlan, lookups: Lookups) -> list[dict[str, Any]]:
        """Lines after the correction, each corrected line pointing at the original's line; a line
        removed by the correction stays with count 0; a new line has no parent.

        The original was created from our lines_before in their order, so the n-th line before is
        the original's n-th line. Lines are in our lines' order (so wFirma's line errors name our
        document.lines[n]), then the removed ones."""
        doc = plan.document
        assert doc.correction is not None
        before = doc.correction.lines_before
        if lookups.original_line_ids is not None and len(lookups.original_line_ids) != len(before):
            raise PermanentError(
                f"the corrected wFirma document has {len(lookups.original_line_ids)} lines, our original had "
                f"{len(before)}: its lines were changed in wFirma, so the correction cannot name them",
                fix="issue this correction in wFirma by hand", code="correction_lines_mismatch")
        position = {line.line_id: index for index, line in enumerate(before)}

        def parent(line_id: str) -> str:
            index = position[line_id]
            if lookups.original_line_ids is None:
                return LOOKED_UP_WHEN_SENT.format(f"line {index + 1} of the corrected invoice")
            return lookups.original_line_ids[index]

        kept = {line.line_id for line in doc.lines}
        as_gross = plan.send_gross_prices
        contents = [self._content(line, lookups, sku_link=False, as_gross=as_gross,
                                  parent_line_id=parent(line.line_id) if line.line_id in position else None)
                    for line in doc.lines]
        contents += [self._content(line, lookups, sku_link=False, quantity=Decimal(0), as_gross=as_gross,
                                   parent_line_id=parent(line.line_id))
                     for line in before if line.line_id not in kept]
        return contents

    # ------------------------------------------------------------------ calls

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        vat_code_ids = self._vat_codes()
        lines = plan.document.lines + (plan.document.correction.lines_before if plan.document.correction else [])
        if missing := sorted({vat_code_name(line) for line in lines} - vat_code_ids.keys()):
            raise ConfigurationError(
                f"this wFirma company has no VAT code {', '.join(missing)} (vat_codes/find)",
                fix="check the company's VAT settings in wFirma (a VAT payer has every Polish code)",
                code="unsupported_vat_code")
        good_ids, sku_warnings = self._good_ids(plan) if plan.send_skus else ({}, [])
        warnings = [*self._fold_warnings(plan), *sku_warnings]
        lookups = Lookups(vat_code_ids=vat_code_ids, good_ids=good_ids,
                          original_line_ids=self._original_line_ids(plan))
        fitted = self.fit_texts(self.build_request(plan, lookups))
        answer = self._send("invoices/add", fitted.body, creates=True)
        invoice = first_record(answer, "invoices", "invoice")
        warnings += fitted.warnings
        warnings += self._exchange_rate_warnings(plan.document, invoice)
        warnings += self._date_the_payment(plan.document, invoice)
        return CreatedDocument(self._reference(invoice), tuple(warnings), readback=self._totals(invoice))

    def _date_the_payment(self, doc: Document, invoice: dict[str, Any]) -> list[str]:
        """Give the initial payment our paid date where it is not the issue date (see the module notes);
        a failure is a warning: the document exists and is paid, only the payment's date is off."""
        paid = doc.payment.paid_date
        if paid is None or paid == doc.issue_date or doc.totals.gross <= 0 or not self._paid_fields(doc):
            return []  # unpaid, paid when issued, nothing paid, or a correction
        try:
            found = self._read("payments/find", {"payments": {"parameters": {"conditions": numbered(
                [{"field": "object_name", "operator": "eq", "value": "invoice"},
                 {"field": "object_id", "operator": "eq", "value": str(invoice["id"])}], "condition"),
                "page": 1, "limit": 2}}})
            initial = [p for p in records(found, "payments", "payment")
                       if str(p.get("object_id")) == str(invoice["id"]) and str(p.get("initial")) == "1"]
            if len(initial) != 1:
                raise ProviderRejected(f"wFirma lists {len(initial)} initial payments of the document",
                                       code="provider_bad_answer", fix="check the document's payments in wFirma")
            self._send(f"payments/edit/{_numeric_id(str(initial[0]['id']))}",
                       {"payments": numbered([{"date": paid.isoformat()}], "payment")}, creates=False)
        except ExportError as problem:
            return [f"wFirma recorded the payment of {invoice.get('alreadypaid')} {doc.currency} on the issue date "
                    f"{doc.issue_date}, not on the paid date {paid} ({problem.message}): correct its date in "
                    "wFirma (Płatności)"]
        return []

    @staticmethod
    def _paid_fields(doc: Document) -> dict[str, str]:
        """Paid in full when issued (a correction's payment is settled against the original)."""
        if doc.payment.paid_date is None or doc.kind == DocumentKind.CORRECTION:
            return {}
        return {"alreadypaid_initial": format_amount(doc.totals.gross)}

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        wanted = external_id(plan.document.document_id)
        answer = self._read("invoices/find", {"invoices": {"parameters": {
            "conditions": numbered([{"field": "id_external", "operator": "eq", "value": wanted}], "condition"),
            "page": 1, "limit": FIND_PAGE_SIZE}}})
        # Compared here too: the match is ours to be sure of, whatever the API's collation does.
        matches = [inv for inv in records(answer, "invoices", "invoice") if inv.get("id_external") == wanted]
        if len(matches) > 1:
            raise AmbiguousAtProvider(
                f"wFirma holds {len(matches)} documents with our reference {plan.document.document_id} "
                f"(id_external {wanted}): {', '.join(str(inv.get('fullnumber')) for inv in matches)}",
                fix="delete the extra documents in wFirma, then resolve this document with the one that stays")
        return self._reference(matches[0]) if matches else None

    def download_pdf(self, provider_document_id: str) -> bytes:
        invoice_id = _numeric_id(provider_document_id)
        body = {"invoices": {"parameters": numbered(
            [{"name": "page", "value": "invoice"}, {"name": "leaflet", "value": "0"},
             {"name": "duplicate", "value": "0"}], "parameter")}}
        response = self._post(f"invoices/download/{invoice_id}", body)
        if response.content.startswith(b"%PDF"):
            return response.content
        try:
            read_answer(response, creates=False)
        except ProviderRejected:
            # The usual reason for no PDF: a fiscal receipt, printed by the fiscal printer instead.
            invoice = first_record(self._read(f"invoices/get/{invoice_id}"), "invoices", "invoice")
            if invoice.get("type") in FISCAL_RECEIPT_TYPES:
                raise ProviderRejected(
                    f"wFirma has no PDF of fiscal receipt {invoice.get('fullnumber')}: a fiscal receipt is "
                    "printed by the merchant's fiscal printer", code="no_pdf_for_fiscal_receipt",
                    fix="hand the customer the printed receipt; for PDF receipts set the account's wFirma "
                        "option receipt_type to non_fiscal") from None
            raise
        raise ProviderRejected("wFirma answered the PDF download with something other than a PDF",
                               fix="retry the PDF later; if it persists, download it in wFirma",
                               code="provider_bad_pdf")

    def ksef_status(self, provider_document_id: str) -> KsefStatus:
        invoice = first_record(self._read(f"invoices/get/{_numeric_id(provider_document_id)}"), "invoices", "invoice")
        return ksef_state(invoice)

    def check_credentials(self) -> None:
        self._read("series/find", {"series": {"parameters": {"page": 1, "limit": 1}}})

    def list_series(self) -> list[ProviderOption]:
        """Each series with the kinds of our documents it can number: a series serves one wFirma
        document type (its `type`, an invoice type in W-SDK Series.php), and invoices/add refuses a
        document of another type in it. A series of a type we never send (proforma...) takes none."""
        kinds_of = {self._type(kind): kind for kind in DocumentKind}
        return [ProviderOption(id=str(series["id"]),
                               name=f"{series.get('name')} ({series.get('template')}, {series.get('type')})",
                               kinds=tuple(kind for type_, kind in kinds_of.items() if type_ == series.get("type")))
                for series in self._all("series", "series")]

    def list_payment_types(self) -> list[ProviderOption]:
        return [ProviderOption(id=value, name=label) for value, label in PAYMENT_METHODS.items()]

    # ------------------------------------------------------------------ look-ups

    def _vat_codes(self) -> dict[str, str]:
        """This company's ids of the Polish VAT codes, once per adapter (they do not change mid-run).

        Foreign (OSS) codes have an empty code and a declaration country other than Poland (id 0)."""
        if self._vat_code_ids is None:
            self._vat_code_ids = {
                str(vat["code"]).upper(): str(vat["id"]) for vat in self._all("vat_codes", "vat_code")
                if vat.get("code") and str((vat.get("declaration_country") or {}).get("id", "0")) == "0"}
        return self._vat_code_ids

    @staticmethod
    def _fold_warnings(plan: ExportPlan) -> list[str]:
        """What folded lines change (providers.pricing.fold_warnings). A correction sends the lines after it
        only (a removed line: count 0, never folded) and links no goods; net lines sent as gross prices are
        never folded."""
        doc = plan.document
        if plan.send_gross_prices:
            return []
        return pricing.fold_warnings(doc.lines, _priced,
                                     provider="wFirma", name_length=LINE_NAME_LENGTH,
                                     sku_links=plan.send_skus and doc.kind != DocumentKind.CORRECTION)

    def _good_ids(self, plan: ExportPlan) -> tuple[dict[str, str], list[str]]:
        """The good of each SKU (goods/find on the exact code): the link that moves stock."""
        found: dict[str, str] = {}
        problems: list[str] = []
        linked = [line for line in plan.document.lines if line.sku and _priced(line).folded_because is None]
        for sku in dict.fromkeys(line.sku for line in linked):
            same_code = self._goods_with_code(sku)
            if len(same_code) == 1:
                found[sku] = str(same_code[0]["id"])
            else:
                problems.append(f"{sku} ({'no good' if not same_code else f'{len(same_code)} goods'} with this code)")
        if problems and plan.missing_sku == MissingSku.FAIL:
            raise PermanentError(
                f"wFirma has no single good for SKU {', '.join(problems)}",
                fix="give the good this code in wFirma (Magazyn > Towary), or set missing SKUs to 'warn'",
                code="sku_not_found")
        return found, [f"SKU {problem}: line sent to wFirma without a stock link" for problem in problems]

    def _goods_with_code(self, sku: str) -> list[dict[str, Any]]:
        """goods/find on the exact code (two at most: a second one already makes the link ambiguous)."""
        goods = self._read("goods/find", {"goods": {"parameters": {
            "conditions": numbered([{"field": "code", "operator": "eq", "value": sku}], "condition"),
            "page": 1, "limit": 2}}})
        return [good for good in records(goods, "goods", "good") if good.get("code") == sku]

    def _original_line_ids(self, plan: ExportPlan) -> list[str] | None:
        if plan.document.kind != DocumentKind.CORRECTION:
            return None
        assert plan.corrected is not None
        original_id = _numeric_id(plan.corrected.provider_document_id)
        original = first_record(self._read(f"invoices/get/{original_id}"), "invoices", "invoice")
        return [str(content["id"]) for content in records(original, "invoicecontents", "invoicecontent")]

    def _all(self, module: str, name: str) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            answer = self._read(f"{module}/find", {module: {"parameters": {"page": page, "limit": FIND_PAGE_SIZE}}})
            yield from records(answer, module, name)
            total = int((answer.get(module) or {}).get("parameters", {}).get("total", 0))
            if page * FIND_PAGE_SIZE >= total:
                return
            page += 1

    # ------------------------------------------------------------------ transport

    def _post(self, action: str, body: dict[str, Any] | None) -> requests.Response:
        params = {"inputFormat": "json", "outputFormat": "json", "company_id": self.credentials.company_id}
        return self.http.request("POST", f"/{action}", params=params, json_body=body, ok=(200,))

    def _send(self, action: str, body: dict[str, Any], *, creates: bool) -> dict[str, Any]:
        return read_answer(self._post(action, body), creates=creates)

    def _read(self, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return self._send(action, body or {}, creates=False)
        except RequestMayHaveSucceeded as error:
            # The shared client treats every POST as a write; a read creates nothing.
            raise TransientError(error.message, code="provider_unavailable",
                                 fix="nothing: the document is retried automatically") from None

    # ------------------------------------------------------------------ answers

    @staticmethod
    def _reference(invoice: dict[str, Any]) -> ProviderReference:
        series = (invoice.get("series") or {}).get("id")
        return ProviderReference(provider_document_id=str(invoice["id"]), number=str(invoice.get("fullnumber") or ""),
                                 series=str(series) if series not in (None, "", "0", 0) else None)

    @staticmethod
    def _totals(invoice: dict[str, Any]) -> ProviderTotals:
        # No VAT in PLN: the invoice returns netto/tax/total in its currency and the rate it chose
        # (currency_exchange, checked in _exchange_rate_warnings), not the PLN VAT it prints.
        parent = invoice.get("parent_id")
        return ProviderTotals(
            net=Decimal(str(invoice["netto"])), vat=Decimal(str(invoice["tax"])),
            gross=Decimal(str(invoice["total"])), currency=str(invoice.get("currency") or "PLN"),
            is_correction=invoice.get("type") == "correction",
            corrects=str(parent) if parent not in (None, "", "0", 0) else None)

    @staticmethod
    def _exchange_rate_warnings(doc: Document, invoice: dict[str, Any]) -> list[str]:
        """wFirma converts at the NBP rate it looks up itself; say so when it differs from ours."""
        if doc.exchange_rate is None or invoice.get("currency_exchange") in (None, ""):
            return []
        theirs = Decimal(str(invoice["currency_exchange"]))
        if theirs == doc.exchange_rate.rate:
            return []
        return [f"wFirma converted {doc.currency} at {theirs:f} PLN (its rate of {invoice.get('currency_date')}); "
                f"our document used {doc.exchange_rate.rate:f} (table {doc.exchange_rate.table_id}), so its VAT in "
                "PLN may differ"]


# --------------------------------------------------------------------------- mapping helpers


def ksef_state(invoice: dict[str, Any]) -> KsefStatus:
    """The KSeF state of an invoice as invoices/get shows it (see KSEF_STATES for what is assumed).

    A reference in the KSeF number's form with a registration date is KSeF's acceptance whatever the
    word (KSeF numbers only what it accepted), unless the word says rejected; a reference of another
    form (a submission's reference, not yet the number) is never recorded as the KSeF number."""
    word = str(invoice.get("ksef_status") or "").strip().lower()
    reference = str(invoice.get("ksef_reference_number") or "").strip()
    number = reference if KSEF_NUMBER.fullmatch(reference) else None
    registered = bool(str(invoice.get("ksef_registration_date") or "").strip())
    if number and registered and KSEF_STATES.get(word) != KsefState.REJECTED:
        return KsefStatus(KsefState.ACCEPTED, ksef_number=number)
    return ksef_status_from(word, KSEF_STATES, ksef_number=number if registered else None,
                            unknown=KsefState.PENDING,
                            fallback=f"wFirma reports the document refused by KSeF (ksef_status '{word}'); "
                                     "its API gives no reason: see it in wFirma (E-FAKTURY)")


def external_id(document_id: str) -> str:
    """Our document id as wFirma's id_external: as is when it fits in 32 characters, otherwise a
    stable digest of it (the same id always gives the same value, so the look-up still finds it)."""
    if len(document_id) <= ID_EXTERNAL_MAX:
        return document_id
    return "sha256:" + hashlib.sha256(document_id.encode()).hexdigest()[:ID_EXTERNAL_MAX - 7]


def _priced(line: Line, quantity: Decimal | None = None) -> PricedLine:
    """The count and unit price wFirma gets for a line (4-place prices, our quantities): as it is, or folded."""
    return priced_line(line, places=4, quantity=quantity)


def vat_code_name(line: Line) -> str:
    """wFirma's code for a line's rate; the percentages it has codes for are 23, 8, 5 and 0
    (and the historic 22, 7, 3)."""
    if isinstance(line.vat, VatCode):
        return VAT_CODE_NAMES[line.vat]
    rate = vat_percent(line.vat)
    if rate not in (23, 8, 5, 0, 22, 7, 3):
        raise ConfigurationError(
            f"wFirma has no Polish VAT code for {rate:f}% (line {line.line_id})",
            fix="use 23, 8, 5 or 0%, or one of the codes zw, np, np-EU, oo", code="unsupported_vat_code")
    return f"{rate.normalize():f}"


def _contractor(doc: Document) -> dict[str, Any]:
    """The buyer inline, exactly as on the order: absent values are left out, not blanked."""
    buyer = doc.buyer
    tax_id_type, tax_id = _tax_id(doc)
    fields = {
        "name": buyer.name,
        "tax_id_type": tax_id_type,
        "nip": tax_id,
        "street": buyer.address.street,
        "zip": buyer.address.postal_code,
        "city": buyer.address.city,
        "country": buyer.address.country,
        "email": buyer.email,
        "phone": buyer.phone,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _tax_id(doc: Document) -> tuple[str, str | None]:
    """wFirma's tax_id_type and number: a Polish NIP as 10 digits, an EU VAT number with its
    country prefix, anything else as a custom identifier, and none for a buyer without one."""
    raw = doc.buyer.tax_id
    if raw is None:
        return "none", None
    compact = "".join(raw.split()).replace("-", "").upper()
    country = doc.buyer.address.country
    if country == "PL":
        return "nip", compact.removeprefix("PL")
    if compact[:2].isalpha():
        return "vat", compact
    return "custom", compact


def _description(doc: Document) -> str:
    """Printed notes. wFirma's API has no field for the legal basis of an exemption or for the
    reason of a correction, and both must be on the document: they lead the notes."""
    parts = []
    if doc.correction is not None:
        parts.append(f"Przyczyna korekty: {doc.correction.reason}")
    lines = doc.lines + (doc.correction.lines_before if doc.correction else [])
    bases = dict.fromkeys(line.vat_exemption_basis for line in lines if line.vat == VatCode.EXEMPT)
    if bases:
        parts.append(f"Podstawa zwolnienia z VAT: {'; '.join(b for b in bases if b)}")
    if doc.notes:
        parts.append(doc.notes)
    return "\n".join(parts)


def _own_exchange_rate(doc: Document) -> dict[str, str]:
    """Our rate and its date in the invoice's rate fields (see the module notes: ASSUMPTION that
    invoices/add honours them). A rate with more than 4 decimals does not fit wFirma's decimal(15,4)
    (a transcription of doc.wfirma.pl's field list) and is not sent: wFirma's own rate then applies,
    and the comparison after the create reports it."""
    rate = doc.exchange_rate
    if doc.currency == "PLN" or rate is None or rate.rate != rate.rate.quantize(Decimal("0.0001")):
        return {}
    text = f"{rate.rate:.4f}"
    return {"currency_exchange": text, "currency_date": rate.date.isoformat(), "price_currency_exchange": text}


def _numeric_id(provider_document_id: str) -> int:
    if not provider_document_id.isdigit():
        raise ProviderRejected(f"'{provider_document_id}' is not a wFirma document id",
                               fix="resolve the document with its wFirma id (a number)", code="provider_not_found")
    return int(provider_document_id)


# --------------------------------------------------------------------------- the numbered JSON form


def numbered(items: list[Any], name: str) -> dict[str, Any]:
    """wFirma's JSON list: {"0": {name: item}, "1": {name: item}} (documented: always numbered)."""
    return {str(index): {name: item} for index, item in enumerate(items)}


def records(answer: dict[str, Any], module: str, name: str) -> list[dict[str, Any]]:
    """The records of a numbered list (also the single unnumbered form some answers use)."""
    branch = answer.get(module)
    if not isinstance(branch, dict):
        return []
    if isinstance(branch.get(name), dict):
        return [branch[name]]
    return [entry[name] for key, entry in sorted(branch.items(), key=lambda item: item[0].zfill(9))
            if key.isdigit() and isinstance(entry, dict) and isinstance(entry.get(name), dict)]


def first_record(answer: dict[str, Any], module: str, name: str) -> dict[str, Any]:
    found = records(answer, module, name)
    if not found:
        raise ProviderRejected(f"wFirma's answer holds no {name}", fix="retry; if it persists, check wFirma",
                               code="provider_bad_answer")
    return found[0]


# --------------------------------------------------------------------------- reading answers


def read_answer(response: requests.Response, *, creates: bool) -> dict[str, Any]:
    """The body of an OK answer; any other status.code raised as our error type.

    wFirma answers HTTP 200 with the outcome in status.code, in the JSON asked for or in its
    default XML (`<api><status><code>AUTH</code></status></api>`), and some auth failures with the
    bare string AUTH: the status is read from each."""
    text = response.content.strip()
    body = _answer_tree(text)
    if isinstance(body, dict) and isinstance(body.get("api"), dict):
        body = body["api"]  # the XML root kept in JSON: a community client allows for it (agente-dev/wfirma-mcp)
    if isinstance(body, dict):
        status = body.get("status")
        code = str(status.get("code", "")).strip() if isinstance(status, dict) else ""
        message = str(status.get("message") or "") if isinstance(status, dict) else ""
    else:
        # Only a known status word counts: a proxy's "Bad Gateway" page is no wFirma answer.
        bare = text.decode("utf-8", "replace").strip()
        code, message, body = (bare if bare in KNOWN_STATUSES else ""), "", {}
    if code == "OK":
        return body
    raise status_error(code, message, body, creates=creates)


def _answer_tree(text: bytes) -> Any:
    """The answer's tree: JSON, or wFirma's XML in the same shape; None when it is neither."""
    if text.startswith(b"<"):
        return _xml_tree(text)
    try:
        return loads_exact(text) if text else None
    except ValueError:
        return None


def _xml_tree(text: bytes) -> dict[str, Any] | None:
    """An XML answer as the JSON form's tree (W-DOC: the same tree without the <api> root, a
    repeated element numbered like a JSON list). Parsed defensively: wFirma sends no DTD, so a
    document declaring one (the door to entity expansion) or anything but an <api> root is no
    wFirma answer."""
    if b"<!DOCTYPE" in text.upper() or b"<!ENTITY" in text.upper():
        return None
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return None
    tree = _xml_branch(root)
    return tree if root.tag == "api" and isinstance(tree, dict) else None


def _xml_branch(element: ElementTree.Element) -> Any:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    repeated = {tag for tag, count in Counter(child.tag for child in children).items() if count > 1}
    branch: dict[str, Any] = {}
    for child in children:
        if child.tag in repeated:
            branch[str(sum(key.isdigit() for key in branch))] = {child.tag: _xml_branch(child)}
        else:
            branch[child.tag] = _xml_branch(child)
    return branch


def status_error(code: str, message: str, body: dict[str, Any], *, creates: bool) -> ExportError:
    if code in TRANSIENT_STATUSES:
        wait, error_code, what = TRANSIENT_STATUSES[code]
        return TransientError(f"{what} (status {code})", retry_after=wait, code=error_code,
                              fix="nothing: the document is retried after the wait")
    if code in CREDENTIAL_STATUSES:
        return CredentialsRejected(
            f"{CREDENTIAL_STATUSES[code]} (status {code})",
            fix="check your wFirma API keys (accessKey and secretKey from Ustawienia > Bezpieczeństwo > "
                "Aplikacje > Klucze API) and the company id of this account, then reconnect it")
    if code == "ERROR":
        return _validation_rejection(body, message)
    if code == "NOT FOUND":
        return ProviderRejected("wFirma has no such document (status NOT FOUND)", code="provider_not_found",
                                fix="check that the document still exists in wFirma (it may have been deleted)")
    if code == "FATAL" or not code:
        # wFirma's internal error, or an answer with no status at all (a proxy page, a cut body):
        # after a create, the document may exist.
        what = f"status {code}" if code else "an answer without a status"
        if creates:
            return RequestMayHaveSucceeded(f"wFirma answered the create with {what}; the document may exist",
                                           fix="nothing: the retry looks the document up at wFirma first")
        return TransientError(f"wFirma answered with {what}", code="provider_unavailable",
                              fix="nothing: the document is retried automatically")
    # INPUT ERROR, ACTION NOT FOUND and anything new: our request is wrong, retrying cannot help.
    return ProviderRejected(f"wFirma refused the request: status {code}{f' ({message})' if message else ''}",
                            code="provider_rejected_request",
                            fix="report this to the integration's maintainers: the request does not fit wFirma's API")


def _validation_rejection(body: dict[str, Any], message: str) -> ProviderRejected:
    """status ERROR: the input comes back with errors > error {field, message} on each failing
    record (the invoice, its contractor, each invoicecontent)."""
    field_errors: dict[str, list[str]] = {}
    fixes: dict[str, None] = {}
    for invoice in records(body, "invoices", "invoice"):
        for path, index, errors in _error_sites(invoice):
            for error in errors:
                name = str(error.get("field") or "")
                ours_key = f"{path}.{name}" if path else name
                shown = f"invoicecontents[{index}].{name}" if index is not None else ours_key
                field_errors.setdefault(shown, []).append(str(error.get("message") or "").strip())
                fixes[OUR_FIELD.get(ours_key, "the document").format(index=index)] = None
    if not field_errors:
        return ProviderRejected(f"wFirma rejected the document{f': {message}' if message else ''} (status ERROR)",
                                fix="correct the document and retry it")
    parts = [f"{name}: {' '.join(messages)}" for name, messages in field_errors.items()]
    return ProviderRejected(f"wFirma rejected {'; '.join(parts)}", field_errors=field_errors,
                            fix=f"correct {', '.join(fixes)} and retry the document")


def _error_sites(invoice: dict[str, Any]) -> Iterator[tuple[str, int | None, list[dict[str, Any]]]]:
    """(record path, line index, errors) of the invoice, its contractor and each line."""
    yield "", None, records(invoice, "errors", "error")
    contractor = invoice.get("contractor")
    if isinstance(contractor, dict):
        yield "contractor", None, records(contractor, "errors", "error")
    for index, content in enumerate(records(invoice, "invoicecontents", "invoicecontent")):
        yield "invoicecontents", index, records(content, "errors", "error")
