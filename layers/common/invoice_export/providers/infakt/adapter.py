"""inFakt adapter (API v3).

API facts and sources: shared/providers/fakturownia-infakt.md section 2 (infakt/API readme and the
official Postman collection behind docs.infakt.pl). What inFakt makes different, and the choices
made here:

- Every amount is an integer number of grosze. Other integrations sent decimals and got invoices
  100x too low, so amounts are converted in one place (`_grosze`), which refuses anything that is
  not a whole grosz instead of rounding it away.
- Documents are created asynchronously: the POST answers a task reference, and the adapter polls
  the task a few times with short sleeps. A task still running after that budget raises
  RequestMayHaveSucceeded: the document will most likely appear, and the retry looks it up.
- Corrections are their own resource (/async/corrective_invoices.json, /corrective_invoices/...).
  Posting a correction to the invoice endpoint makes inFakt create a plain, unlinked invoice, so
  the resource is chosen from the document kind and a correction's id carries the resource
  (`correction:<uuid>`): a correction's uuid is unknown under /invoices/.
- Status on creation: a paid document is created "paid", any other "printed" (issued, in the
  accounts), because the order system has already issued it. Merchants who review drafts first can
  set the option create_as_draft; the adapter then refuses to download a draft's PDF instead of
  printing it. inFakt's readme also says an invoice is "always created as a draft" (its field table
  says status can be set): a document that comes back a draft we did not ask for is moved on by the
  documented calls, marked paid (POST /async/invoices/{uuid}/paid.json, a task) or booked
  (PUT /invoices/{uuid}/mark_as_accounted.json); where no call exists (corrections) or it fails, the
  create returns a warning saying what to do in inFakt. Such a draft's PDF is downloaded, which
  prints it (documented), as the account wants its documents issued.
- The legal basis of zw lines: inFakt takes an id of its list (GET /vat_exemptions.json). The
  document's basis is matched on its legal provision (art./§, ust., pkt, lit. and the act, written
  any usual way) against the list, read once per account and kept `exemptions_ttl` seconds in this
  process; without a match the account option vat_exemption_reason_id is used, and without one the
  document is refused naming the basis and the list's entries (never left to inFakt's default,
  which may print another basis).
- No external id exists. Every create carries our reference as the last line of `notes` (`ref: <our
  id>`, domain.settlement; the notes are cut to leave it room), which reads return. An interrupted
  create is settled (`settle_interrupted`) by the creation task where its POST answered (the task
  reference travels in RequestMayHaveSucceeded onto the record: 201 found, 422 surely absent); else,
  with our numbering, by the number (passed with check_duplicate_number, so inFakt itself refuses a
  second copy); else by listing the day's invoices (q[invoice_date_*]) and reading our reference back.
- No receipts, series, stock moves or SKUs through the API; the payment method list is closed.
- KSeF (infakt/API ksef.md): with the account's `send_on_export`, the create carries the documented
  top-level `send_to_ksef: true`; the status is the document's `ksef_data` (null: never sent;
  `sent` -> `success` with `ksef_number`, or `error` with `status_description`), read from the
  document itself so it works whichever KSeF namespace (/ksef/ or /ksef2/) the account is on. A
  send of an existing document goes to `POST /{resource}/{uuid}/send_to_ksef.json`, and only when
  ksef_data shows no submission in flight or accepted (the shared guard in `send_to_ksef_once`).
  inFakt's `error` needs the invoice corrected first (its retry advice), so it is final here.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from invoice_export.domain.account_settings import ProviderName
from invoice_export.domain.documents import (
    BuyerKind,
    Document,
    DocumentKind,
    Line,
    PriceBasis,
    VatCalculation,
    VatCode,
)
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    ConfigurationError,
    ExportError,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.money import round_money
from invoice_export.domain.own_numbers import OwnNumberScope
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
from invoice_export.domain.settlement import (
    InterruptedAttempt,
    ListedDocument,
    SettledBy,
    Settlement,
    SettlementOutcome,
    undecided,
    with_our_reference,
)
from invoice_export.providers.base import LOOKED_UP_WHEN_SENT, ProviderAdapter
from invoice_export.providers.http import HeaderAuth
from invoice_export.providers.ksef_words import ksef_status_from
from invoice_export.providers.texts import TextLimit

# The documented, closed list of payment_method values (anything else is refused with a 422).
PAYMENT_METHODS = ("transfer", "cash", "card", "barter", "check", "bill_of_sale", "delivery", "compensation",
                   "accredited", "paypal", "instalment_sale", "payu", "tpay", "przelewy24", "dotpay", "other")

# Where a rejected inFakt field comes from in our message, to say what to fix.
OUR_FIELD = {
    "client_company_name": "document.buyer.name",
    "client_first_name": "document.buyer.first_name",
    "client_last_name": "document.buyer.last_name",
    "client_tax_code": "document.buyer.tax_id",
    "client_street": "document.buyer.address.street",
    "client_city": "document.buyer.address.city",
    "client_post_code": "document.buyer.address.postal_code",
    "client_country": "document.buyer.address.country",
    "number": "document.number (or switch the account to inFakt's numbering)",
    "payment_method": "the account's payment-type link",
    "invoice_date": "document.issue_date",
    "sale_date": "document.sale_date",
    "payment_date": "document.payment.due_date",
    "paid_date": "document.payment.paid_date",
    "currency": "document.currency",
    "vat_exchange_date_kind": "provider option exchange_date_kind",
    "vat_exemption_reason": "document.lines[].vat_exemption_basis (matched in inFakt's /vat_exemptions.json) or "
                            "provider option vat_exemption_reason_id",
    "bank_account": "the bank account in inFakt (add and verify it in the app)",
    "notes": "document.notes",
    "services": "document.lines",
    "services.tax_symbol": "document.lines[].vat",
    "services.quantity": "document.lines[].quantity",
    "services.name": "document.lines[].name",
    "corrected_invoice_uuid": "the corrected document (it no longer exists in inFakt?)",
    "corrected_invoice_number": "the corrected document (it no longer exists in inFakt?)",
    "correction_reason": "provider option correction_reason",
}

# Documented ksef_data.status values (infakt/API ksef.md "Obiekt ksef_data"); null ksef_data: never sent.
KSEF_STATES = {"sent": KsefState.PENDING, "success": KsefState.ACCEPTED, "error": KsefState.REJECTED}

# Our document id of a correction carries its resource: inFakt answers 404 for a correction's
# uuid under /invoices/.
CORRECTION_PREFIX = "correction:"

# Pages of a day's documents read at most when settling an interrupted create (100 each).
LIST_MAX_PAGES = 50
TASK_RECHECK_SECONDS = 30.0  # a creation task still processing is asked about again after this
# Pages of the VAT exemption list read at most (100 entries each): a bound, not an expected size.
EXEMPTION_PAGES = 20
# inFakt's VAT exemption list per account (a digest of its key and API address): (read at, entries).
_exemption_lists: dict[str, tuple[float, list[dict[str, Any]]]] = {}
_exemption_lists_lock = threading.Lock()


# Field lengths (the first key is the resource: invoice or corrective_invoice). I-PM and I-DOC ksef.md
# give two, under KSeF; the client's fields have none documented.
_CLIENT_TEXT = "ASSUMPTION: not documented; 255, as Fakturownia (also Rails) documents for its buyer fields"
TEXT_LIMITS = {
    "*.services.*.name": TextLimit(256, "document.lines[].name", "I-PM 'Services': name max 256 under KSeF"),
    "*.notes": TextLimit(3500, "document.notes (and a correction's reason)", "I-PM; I-DOC ksef.md: notes max 3500",
                         keeps_our_reference=True),
    "*.client_company_name": TextLimit(255, "document.buyer.name", _CLIENT_TEXT),
    "*.client_first_name": TextLimit(255, "document.buyer.first_name", _CLIENT_TEXT),
    "*.client_last_name": TextLimit(255, "document.buyer.last_name", _CLIENT_TEXT),
    "*.client_street": TextLimit(255, "document.buyer.address.street", _CLIENT_TEXT),
    "*.client_city": TextLimit(255, "document.buyer.address.city", _CLIENT_TEXT),
}


class InfaktCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    api_key: SecretStr


class InfaktOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # inFakt takes one exemption basis per document, an id of its list: the document's basis is matched
    # there, and this id is used when nothing matches; None: no fallback (such a document is refused).
    vat_exemption_reason_id: int | None = Field(default=None, ge=1)
    # Which date's NBP rate inFakt applies to a foreign-currency document (required by inFakt).
    exchange_date_kind: Literal["vat", "pit"] = "vat"
    # inFakt's closed vocabulary; our free-text reason goes into the correction's notes.
    correction_reason: Literal["other", "mistake"] = "other"
    # Create unpaid documents as drafts for review in inFakt (their PDF is then not downloaded).
    create_as_draft: bool = False


class InfaktAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.INFAKT
    display_name: ClassVar[str] = "inFakt"
    capabilities: ClassVar[Capabilities] = Capabilities(
        receipts=False,  # no receipt document in the API
        corrections=True,
        series=False,  # no series, department or category for income documents
        list_series=False,
        own_numbering=True,  # `number` + check_duplicate_number
        payment_types=True,
        list_payment_types=False,  # no endpoint: the documented closed list
        sku_stock=False,  # services cannot reference a product in v3; no stock in the API
        ksef_send=True,  # send_to_ksef on create or per document
        ksef_read_back=True,  # ksef_data.status and ksef_data.ksef_number
        lookup_by_reference=True,  # by our number only; with inFakt's numbering find_document cannot decide
        settle_by_listing=True,  # with inFakt's numbering: the day's invoices, our reference in notes
    )
    # Invoices and corrective invoices are numbered per kind (next_number.json?kind=..., their own
    # resources); there is no series for income documents (fakturownia-infakt.md 2.6).
    own_number_scope: ClassVar[OwnNumberScope] = OwnNumberScope(
        per_kind=True, per_series=False, source="inFakt API: numbering per kind (next_number), no series")
    credentials_model: ClassVar[type[BaseModel]] = InfaktCredentials
    options_model: ClassVar[type[BaseModel]] = InfaktOptions
    default_api_url: ClassVar[str] = "https://api.infakt.pl/api/v3"
    # Documented per calling IP, counted apart: 150 POST/PUT/DELETE and 300 GET per 60 s (two windows).
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=150, window_seconds=60, scope=LimitScope.DEPLOYMENT,
        source="documented: 150 POST/PUT/DELETE per 60 s per calling IP (GET counted apart)")
    read_rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=300, window_seconds=60, scope=LimitScope.DEPLOYMENT,
        source="documented: 300 GET per 60 s per calling IP")
    # inFakt rounds VAT per line and adds the lines up (as its fake models it): a document computed
    # per rate is refused before sending when the totals would differ.
    vat_calculation: ClassVar[VatCalculation | None] = VatCalculation.PER_LINE
    text_limits: ClassVar[dict[str, TextLimit]] = TEXT_LIMITS
    # Asynchronous: a task accepted (or a POST whose answer was lost) may be stored later, once inFakt's
    # workers reach it; a settlement by listing (no task reference) waits this long after the attempt.
    listing_complete_after: ClassVar[float] = 900.0
    listing_complete_after_source: ClassVar[str] = (
        "ASSUMPTION: inFakt documents no bound on processing a creation task (they finish within a poll or "
        "two); 15 minutes, the longest back-off of an export message")
    # Sleeps between polls of a creation task (seconds). Tasks usually finish by the first poll;
    # the sum bounds how long a create may take before it is handed to the look-up.
    poll_delays: tuple[float, ...] = (0.2, 0.4, 0.8, 1.6)
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    # How long an account's VAT exemption list is reused in this process (seconds), and its clock.
    exemptions_ttl: ClassVar[float] = 600.0
    clock: Callable[[], float] = staticmethod(time.monotonic)
    exchange_rate_fields: ClassVar[str] = (
        "none: inFakt applies its own NBP rate (`vat_exchange_date_kind` picks the day); a different rate "
        "is a warning")
    exemption_basis_fields: ClassVar[str] = (
        "zw: `vat_exemption_reason`, the id of inFakt's `/vat_exemptions.json` entry with our basis's legal "
        "provision (else option `vat_exemption_reason_id`); np: none")

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        assert isinstance(credentials, InfaktCredentials)
        return HeaderAuth({"X-inFakt-ApiKey": credentials.api_key.get_secret_value()})

    @staticmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        return read_rejection(response)

    # ------------------------------------------------------------------ mapping

    def build_request(self, plan: ExportPlan, exemption_reason_id: int | None = None) -> dict[str, Any]:
        """The create body. Without `exemption_reason_id` (a dry run, no look-up) the exemption basis
        shows where inFakt's id will go; create_document passes the one resolved."""
        doc = plan.document
        options = self._options
        if plan.provider_payment_type not in PAYMENT_METHODS:
            raise ConfigurationError(
                f"'{plan.provider_payment_type}' is not an inFakt payment method (inFakt accepts only its own list)",
                fix=f"link payment method '{doc.payment.method}' to one of: {', '.join(PAYMENT_METHODS)}",
                code="unsupported_payment_type")
        body: dict[str, Any] = {
            "invoice_date": doc.issue_date.isoformat(),
            "sale_date": doc.sale_date.isoformat(),
            "payment_method": plan.provider_payment_type,
            "currency": doc.currency,
            **_buyer(doc),
            **self._payment(doc),
        }
        if doc.currency != "PLN":
            body["vat_exchange_date_kind"] = options.exchange_date_kind
        if plan.number is not None:
            body["number"] = plan.number
            body["check_duplicate_number"] = True  # inFakt refuses a second document with our number
        if _has_exempt_lines(doc):
            basis = _exemption_basis(doc)
            body["vat_exemption_reason"] = exemption_reason_id if exemption_reason_id is not None else \
                LOOKED_UP_WHEN_SENT.format(f"the id of inFakt's VAT exemption '{basis}'")
        if doc.kind == DocumentKind.CORRECTION:
            assert doc.correction is not None and plan.corrected is not None
            if plan.corrected.provider_document_id.startswith(CORRECTION_PREFIX):
                raise ConfigurationError(
                    "inFakt's API corrects invoices only; the corrected document is itself a correction",
                    fix="issue this correction in inFakt by hand, against the original invoice",
                    code="unsupported_correction")
            body.update(
                corrected_invoice_uuid=plan.corrected.provider_document_id,
                corrected_invoice_number=plan.corrected.number,
                correction_reason=options.correction_reason,
                services=_correction_services(doc))
            reason = f"Przyczyna korekty: {doc.correction.reason}"
            body["notes"] = with_our_reference(f"{reason}\n{doc.notes}" if doc.notes else reason, doc.document_id)
            return {"corrective_invoice": body, "send_to_ksef": self._send_to_ksef(plan)}
        body["kind"] = "vat"
        body["services"] = [_service(line, doc.price_basis) for line in doc.lines]
        # Our reference (domain.settlement), read back when an interrupted create is looked for.
        body["notes"] = with_our_reference(doc.notes, doc.document_id)
        return {"invoice": body, "send_to_ksef": self._send_to_ksef(plan)}

    def _send_to_ksef(self, plan: ExportPlan) -> bool:
        if plan.send_to_ksef and self._options.create_as_draft:
            raise ConfigurationError(
                "the inFakt account option create_as_draft keeps documents for review, but KSeF is set to "
                "send_on_export: a document sent to KSeF can no longer be reviewed or changed",
                fix="turn create_as_draft off, or set KSeF to provider_sends/off and send from inFakt after review",
                code="unsupported_ksef")
        return plan.send_to_ksef

    @property
    def _options(self) -> InfaktOptions:
        assert isinstance(self.options, InfaktOptions)
        return self.options

    def _payment(self, doc: Document) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": self._wanted_status(doc)}
        if doc.payment.due_date is not None:
            fields["payment_date"] = doc.payment.due_date.isoformat()
        if doc.payment.paid_date is not None:
            fields["paid_date"] = doc.payment.paid_date.isoformat()
        return fields

    def _wanted_status(self, doc: Document) -> str:
        """"paid", or "printed": into the accounts now, as the order system issued it (a draft would
        flip to printed on its first PDF download); "draft" for accounts that review first."""
        if doc.payment.paid_date is not None:
            return "paid"
        return "draft" if self._options.create_as_draft else "printed"

    # ------------------------------------------------------------------ calls

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        resource = _resource(plan.document.kind)
        fitted = self.fit_texts(self.build_request(plan, self._exemption_reason_id(plan.document)))
        accepted = self.http.request("POST", f"/async/{resource}.json", json_body=fitted.body, ok=(200, 201, 202))
        reference = str(accepted.json()["invoice_task_reference_number"])
        try:
            document_uuid = self._await_task(resource, reference)
        except RequestMayHaveSucceeded as lost:
            lost.task_reference = reference  # the task's status settles the attempt (settle_interrupted)
            raise
        except ProviderRejected as rejection:
            if plan.number is not None and "number" in rejection.field_errors:
                # check_duplicate_number refused our number: an earlier attempt whose answer was
                # lost may have created it. Settle on it if it is ours (same totals).
                existing = self.find_document(plan)
                if existing is not None:
                    return CreatedDocument(existing, fitted.warnings)
            raise
        try:
            document = self._get_document(resource, document_uuid)
        except TransientError:
            lost = self._lost(f"inFakt created the document ({document_uuid}) but could not be read back")
            lost.task_reference = reference
            raise lost from None
        warnings = self._rate_warnings(plan.document, document) + self._issue_draft(resource, plan.document, document)
        return CreatedDocument(_reference(resource, document), fitted.warnings + tuple(warnings),
                               readback=_totals(document))

    def _issue_draft(self, resource: str, doc: Document, document: dict[str, Any]) -> list[str]:
        """Move on a document inFakt kept a draft against the status we sent (see the module notes);
        a warning says what the merchant must do where no documented call exists or it failed."""
        wanted = self._wanted_status(doc)
        if document.get("status") != "draft" or wanted == "draft":
            return []
        what = f"{'correction' if resource == 'corrective_invoices' else 'invoice'} " \
               f"{document.get('number') or document['uuid']}"
        todo = (f"mark it paid on {doc.payment.paid_date} in inFakt" if wanted == "paid"
                else "issue it in inFakt (or download its PDF, which prints it)")
        if resource != "invoices":
            return [f"inFakt created {what} as a draft (not '{wanted}'), and its API documents no call to move a "
                    f"correction on: {todo}"]
        try:
            if wanted == "paid":
                assert doc.payment.paid_date is not None
                accepted = self.http.request("POST", f"/async/invoices/{document['uuid']}/paid.json",
                                             json_body={"paid_date": doc.payment.paid_date.isoformat()},
                                             ok=(200, 201, 202))
                self._await_task("invoices", str(accepted.json()["invoice_task_reference_number"]))
            else:
                self.http.request("PUT", f"/invoices/{document['uuid']}/mark_as_accounted.json",
                                  ok=(200, 201, 202, 204))
        except ExportError as problem:
            return [f"inFakt created {what} as a draft (not '{wanted}') and did not confirm moving it on "
                    f"({problem.message}): {todo}"]
        return []

    def _await_task(self, resource: str, reference: str) -> str:
        """Poll the creation task: its document uuid, or ProviderRejected with inFakt's field errors."""
        for delay in self.poll_delays:
            self.sleep(delay)
            try:
                status = self.http.request("GET", f"/async/{resource}/status/{reference}.json", ok=(200,)).json()
            except TransientError:
                raise self._lost("inFakt accepted the document but its processing status could not be read") from None
            code = int(status.get("processing_code") or 0)
            if code == 201 and status.get("invoice_uuid"):
                return str(status["invoice_uuid"])
            if code == 422:
                errors = status.get("invoice_errors") or {}
                raise _field_rejection(errors if isinstance(errors, dict) else {"invoice": [str(errors)]},
                                       str(status.get("processing_description") or ""))
            if code not in (100, 120, 140):
                raise self._lost(f"inFakt answered an unknown processing code {code}")
        raise self._lost("inFakt is still processing the document")

    @staticmethod
    def _lost(reason: str) -> RequestMayHaveSucceeded:
        return RequestMayHaveSucceeded(f"{reason}; it may exist in inFakt",
                                       fix="nothing: the retry looks the document up in inFakt before sending it again")

    def _get_document(self, resource: str, document_uuid: str) -> dict[str, Any]:
        response = self.http.request("GET", f"/{resource}/{document_uuid}.json", ok=(200,))
        return dict(response.json())

    def settle_interrupted(self, plan: ExportPlan, attempt: InterruptedAttempt) -> Settlement:
        """By the creation task where the attempt's POST answered; else by our number where we pass one;
        else by listing the day's documents (our reference in their notes)."""
        if attempt.task_reference is not None:
            by_task = self._settle_by_task(plan, attempt.task_reference)
            if by_task is not None:
                return by_task
        if plan.number is not None:
            return self.settle_by_look_up(plan)
        return self.settle_by_listing(plan, attempt)

    def _settle_by_task(self, plan: ExportPlan, task_reference: str) -> Settlement | None:
        """The task's processing status; None when inFakt does not know the task (then listed)."""
        resource = _resource(plan.document.kind)
        try:
            status = self.http.request("GET", f"/async/{resource}/status/{task_reference}.json", ok=(200,)).json()
        except ProviderRejected as refusal:
            if refusal.code == "provider_not_found":
                return None
            return undecided(SettledBy.TASK, f"inFakt's creation task could not be read: {refusal.message}")
        code = int(status.get("processing_code") or 0)
        if code == 201 and status.get("invoice_uuid"):
            found = _reference(resource, self._get_document(resource, str(status["invoice_uuid"])))
            return Settlement(SettlementOutcome.FOUND, SettledBy.TASK,
                              f"inFakt's creation task made {found.number or found.provider_document_id}", found=found)
        if code == 422:
            errors = status.get("invoice_errors")
            return Settlement(SettlementOutcome.ABSENT, SettledBy.TASK,
                              f"inFakt's creation task failed ({status.get('processing_description') or 422}: "
                              f"{errors}): nothing was created")
        if code in (100, 120, 140):
            return Settlement(SettlementOutcome.NOT_YET, SettledBy.TASK, "inFakt is still processing the create",
                              retry_after=TASK_RECHECK_SECONDS)
        return undecided(SettledBy.TASK, f"inFakt answered an unknown processing code {code} for the create")

    def list_for_settlement(self, plan: ExportPlan, attempt: InterruptedAttempt) -> list[ListedDocument]:
        """The documents of the issue date (q[invoice_date_gteq] and _lteq, documented filters), paged to
        the end. An unknown filter is ignored by inFakt (an unfiltered page), so dates are compared here."""
        doc = plan.document
        resource = _resource(doc.kind)
        day = doc.issue_date.isoformat()
        listed: list[ListedDocument] = []
        seen = 0
        for page in range(LIST_MAX_PAGES):
            answer = self.http.request("GET", f"/{resource}.json", ok=(200,), params={
                "q[invoice_date_gteq]": day, "q[invoice_date_lteq]": day, "offset": page * 100, "limit": 100}).json()
            entities = [entity for entity in answer.get("entities") or [] if isinstance(entity, dict)]
            seen += len(entities)
            listed += [found for entity in entities if (found := _listed(resource, entity)) is not None]
            total = (answer.get("metainfo") or {}).get("total_count")
            if not entities or (isinstance(total, int) and seen >= total):
                return listed
        raise PermanentError(f"inFakt lists more than {LIST_MAX_PAGES * 100} documents of {day}",
                             code="provider_list_incomplete",
                             fix="look for the document in inFakt and attach it, or release it")

    def read_listed(self, listed: ListedDocument) -> ListedDocument | None:
        resource, document_uuid = _address(listed.reference.provider_document_id)
        return _listed(resource, self._get_document(resource, document_uuid))

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        doc = plan.document
        if plan.number is None:  # never asked so (settle_interrupted lists instead)
            raise PermanentError(
                "inFakt has no field for our document id, and with inFakt's numbering the number is unknown "
                "until the document exists: it is found by listing the day's documents instead",
                fix="look for the document in inFakt and attach it, or release it", code="lookup_not_possible")
        resource = _resource(doc.kind)
        response = self.http.request("GET", f"/{resource}.json",
                                     params={"q[number_eq]": plan.number, "limit": 100}, ok=(200,))
        # An unrecognised filter is ignored by inFakt (an unfiltered page), so compare here.
        matches = [entity for entity in response.json().get("entities", []) if entity.get("number") == plan.number]
        if not matches:
            return None
        if len(matches) > 1:
            raise AmbiguousAtProvider(f"inFakt holds {len(matches)} documents numbered {plan.number}",
                                      fix="keep one of them in inFakt and resolve this document with its id")
        [match] = matches
        theirs = _totals(match)
        if (theirs.gross, theirs.currency) != (doc.totals.gross, doc.currency):
            raise PermanentError(
                f"inFakt has a document numbered {plan.number}, but for {theirs.gross} {theirs.currency}, "
                f"not our {doc.totals.gross} {doc.currency}",
                fix="check which document holds this number in inFakt; renumber ours or resolve it by hand",
                code="number_taken_by_another_document")
        return _reference(resource, match)

    def download_pdf(self, provider_document_id: str) -> bytes:
        resource, document_uuid = _address(provider_document_id)
        document = self._get_document(resource, document_uuid)
        if document.get("status") == "draft" and self._options.create_as_draft:
            # Documented side effect: downloading a draft's PDF marks it printed and books it. Only an
            # account that reviews drafts keeps them; any other draft is one inFakt kept against the
            # status we sent, and printing it is what the account wants.
            raise PermanentError(
                f"inFakt document {document.get('number') or document_uuid} is still a draft; downloading its "
                "PDF would mark it printed and put it into the accounts",
                fix="approve it in inFakt (print or send it) first, then fetch the PDF again",
                code="provider_document_is_draft")
        response = self.http.request("GET", f"/{resource}/{document_uuid}/pdf.json",
                                     params={"document_type": "original", "locale": "pl"},
                                     headers={"Accept": "application/pdf"}, ok=(200,))
        if not response.content.startswith(b"%PDF"):
            raise ProviderRejected("inFakt returned something other than a PDF", code="provider_bad_pdf")
        return response.content

    def ksef_status(self, provider_document_id: str) -> KsefStatus:
        resource, document_uuid = _address(provider_document_id)
        data = self._get_document(resource, document_uuid).get("ksef_data")
        if not isinstance(data, dict):
            return KsefStatus(KsefState.NOT_SENT)  # documented: null when never sent
        return ksef_status_from(data.get("status"), KSEF_STATES, ksef_number=data.get("ksef_number"),
                                message=str(data.get("status_description") or "") or None,
                                fallback="KSeF refused the document (inFakt gave no description)")

    def send_to_ksef(self, provider_document_id: str) -> None:
        resource, document_uuid = _address(provider_document_id)
        # The per-resource endpoint (documented to work like /ksef/documents/{uuid}/send.json, whatever
        # KSeF namespace the account uses). 422 without an active KSeF integration.
        self.http.request("POST", f"/{resource}/{document_uuid}/send_to_ksef.json", ok=(200, 201, 202))

    def check_credentials(self) -> None:
        self.http.request("GET", "/invoices.json", params={"limit": 1}, ok=(200,))

    def list_payment_types(self) -> list[ProviderOption]:
        return [ProviderOption(id=value, name=value) for value in PAYMENT_METHODS]

    # ------------------------------------------------------------------ VAT exemption bases

    def _exemption_reason_id(self, doc: Document) -> int | None:
        """inFakt's id of the document's exemption basis (None without zw lines): the list entry with
        the same legal provision, else the account option, else refused naming both sides. A miss in
        a cached list is read again once, in case the basis was just added in inFakt."""
        if not _has_exempt_lines(doc):
            return None
        basis = _exemption_basis(doc)
        entries = self._exemptions(fresh=False)
        found = _matching_exemption(basis, entries)
        if found is None:
            entries = self._exemptions(fresh=True)
            found = _matching_exemption(basis, entries)
        if found is not None:
            return found
        if self._options.vat_exemption_reason_id is not None:
            return self._options.vat_exemption_reason_id
        listed = "; ".join(f"[{entry.get('id')}] {_entry_text(entry)}" for entry in entries[:15])
        more = f"; and {len(entries) - 15} more" if len(entries) > 15 else ""
        raise ConfigurationError(
            f"inFakt's VAT exemption list has no entry for this document's basis '{basis}' "
            f"(read as {_provision_text(basis)}); its entries: {listed or 'none'}{more}",
            fix="give the zw lines a basis from inFakt's list (document.lines[].vat_exemption_basis), or set the "
                "provider option vat_exemption_reason_id to the id inFakt should print",
            code="vat_exemption_basis_unknown")

    def _exemptions(self, *, fresh: bool) -> list[dict[str, Any]]:
        """The account's GET /vat_exemptions.json (every page), kept `exemptions_ttl` seconds."""
        assert isinstance(self.credentials, InfaktCredentials)
        key = hashlib.sha256(f"{self.api_url(self.settings)} {self.credentials.api_key.get_secret_value()}"
                             .encode()).hexdigest()[:24]
        now = self.clock()
        with _exemption_lists_lock:
            cached = _exemption_lists.get(key)
        if cached is not None and not fresh and now - cached[0] < self.exemptions_ttl:
            return cached[1]
        entries = self._read_exemption_pages()
        with _exemption_lists_lock:
            for stale in [k for k, (read_at, _) in _exemption_lists.items() if now - read_at >= self.exemptions_ttl]:
                del _exemption_lists[stale]
            _exemption_lists[key] = (now, entries)
        return entries

    def _read_exemption_pages(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for page in range(EXEMPTION_PAGES):
            answer = self.http.request("GET", "/vat_exemptions.json", params={"offset": page * 100, "limit": 100},
                                       ok=(200,)).json()
            batch = [entry for entry in answer.get("entities") or [] if isinstance(entry, dict)]
            entries += batch
            if len(batch) < 100 or len(entries) >= int((answer.get("metainfo") or {}).get("total_count") or 0):
                break
        return entries

    @staticmethod
    def _rate_warnings(doc: Document, document: dict[str, Any]) -> list[str]:
        """inFakt applies its own NBP rate (no field for ours): when it differs from ours, both are reported."""
        applied = document.get("exchange_rates_data")
        if not isinstance(applied, dict) or doc.exchange_rate is None:
            return []
        ours = doc.exchange_rate
        if _decimal_or_none(applied.get("exchange_rate")) == ours.rate and applied.get("table_name") == ours.table_id:
            return []  # the NBP rate of the same table: nothing to flag
        return [f"inFakt applied its own exchange rate {applied.get('exchange_rate')} PLN/{doc.currency} "
                f"(table {applied.get('table_name')}, {applied.get('exchange_date')}); our document states "
                f"{ours.rate:f} (table {ours.table_id}, {ours.date.isoformat()})"]


# --------------------------------------------------------------------------- mapping helpers


def _decimal_or_none(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _resource(kind: DocumentKind) -> str:
    return "corrective_invoices" if kind == DocumentKind.CORRECTION else "invoices"


def _address(provider_document_id: str) -> tuple[str, str]:
    """(resource, uuid) of our id for an inFakt document."""
    if provider_document_id.startswith(CORRECTION_PREFIX):
        return "corrective_invoices", provider_document_id.removeprefix(CORRECTION_PREFIX)
    return "invoices", provider_document_id


def _reference(resource: str, document: dict[str, Any]) -> ProviderReference:
    prefix = CORRECTION_PREFIX if resource == "corrective_invoices" else ""
    return ProviderReference(provider_document_id=f"{prefix}{document['uuid']}",
                             number=str(document.get("number") or ""))


def _listed(resource: str, document: dict[str, Any]) -> ListedDocument | None:
    """A listed (or read) document, its notes carrying our reference; None for a kind of invoice we never
    create (proforma, advance...): never ours."""
    if resource == "invoices" and document.get("kind", "vat") != "vat":
        return None
    gross = document.get("gross_price")
    return ListedDocument(
        _reference(resource, document), issue_date=_date_or_none(document.get("invoice_date")),
        kind=DocumentKind.CORRECTION if resource == "corrective_invoices" else DocumentKind.INVOICE,
        gross=_from_grosze(gross) if isinstance(gross, int) and not isinstance(gross, bool) else None,
        currency=str(document.get("currency") or "PLN"),
        reference_text=str(document["notes"] or "") if "notes" in document else None)


def _date_or_none(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _grosze(amount: Decimal) -> int:
    """inFakt's money format: an integer number of grosze. Only whole grosze are accepted."""
    if amount != round_money(amount):
        raise ValueError(f"{amount} is not a whole number of grosze")
    return int(amount.scaleb(2))


def _from_grosze(value: Any) -> Decimal:
    return Decimal(int(value)).scaleb(-2)


def _quantity(quantity: Decimal) -> str:
    """Exact decimal string (decimals allowed); never a float."""
    return f"{quantity.normalize():f}"


def _tax_symbol(line: Line) -> str:
    if line.vat == VatCode.EXEMPT:
        return "zw"
    if line.vat == VatCode.NOT_SUBJECT:
        return "np"
    if isinstance(line.vat, VatCode):
        # No silent fallback to another rate: inFakt documents no symbol for these.
        raise ConfigurationError(
            f"inFakt's API documents no tax symbol for VAT code {line.vat.value} (line '{line.name}')",
            fix="issue this document in inFakt by hand", code="unsupported_vat_code")
    rate: Decimal = line.vat
    return f"{rate.normalize():f}"


def _service(line: Line, basis: PriceBasis) -> dict[str, Any]:
    service: dict[str, Any] = {"name": line.name, "tax_symbol": _tax_symbol(line), "unit": line.unit,
                               "quantity": _quantity(line.quantity)}
    return service | _line_value(line, line.quantity, line.value(), basis)


def _line_value(line: Line, quantity: Decimal, value: Decimal, basis: PriceBasis) -> dict[str, int]:
    """The line's value in our price basis: gross-based lines carry only gross_price (documented:
    any net value makes inFakt compute from net)."""
    if basis == PriceBasis.GROSS:
        return {"gross_price": _grosze(value)}
    fields = {"net_price": _grosze(value)}
    # A discounted line goes as its exact discounted value (net_price/gross_price) without the
    # documented `discount` (%) and `unit_net_price_before_discount`: the docs do not say how inFakt
    # rounds a discounted line or which field wins, so sending them could change the totals; its
    # list price would contradict net_price as unit_net_price, so none is sent.
    if quantity and line.discount_percent is None and line.unit_price == round_money(line.unit_price):
        fields["unit_net_price"] = _grosze(line.unit_price)  # printed unit price, exact in grosze
    return fields


def _correction_services(doc: Document) -> list[dict[str, Any]]:
    """Pairs per group: the line as it was (correction false) and as it is now (true), full states.
    A removed line is 0 after; an added line is 0 before."""
    assert doc.correction is not None
    before = {line.line_id: line for line in doc.correction.lines_before}
    after = {line.line_id: line for line in doc.lines}
    services = []
    for group, line_id in enumerate(list(before) + [i for i in after if i not in before], start=1):
        for is_after, line in ((False, before.get(line_id)), (True, after.get(line_id))):
            template = line or before.get(line_id) or after[line_id]
            quantity, value = (line.quantity, line.value()) if line else (Decimal(0), Decimal("0.00"))
            services.append({"group": str(group), "correction": is_after, "name": template.name,
                             "tax_symbol": _tax_symbol(template), "unit": template.unit,
                             "quantity": _quantity(quantity)}
                            | _line_value(template, quantity, value, doc.price_basis))
    return services


def _buyer(doc: Document) -> dict[str, Any]:
    buyer = doc.buyer
    fields: dict[str, Any] = {
        "client_street": buyer.address.street,  # the whole line as on the order, not re-parsed
        "client_post_code": buyer.address.postal_code,
        "client_city": buyer.address.city,
        "client_country": buyer.address.country,
        "client_tax_code": buyer.tax_id,
    }
    if buyer.kind == BuyerKind.COMPANY:
        fields.update(client_business_activity_kind="other_business", client_company_name=buyer.name)
    else:
        if not (buyer.first_name and buyer.last_name):
            raise PermanentError(
                f"inFakt needs a private buyer's first and last name; buyer '{buyer.name}' has "
                f"{'no first name' if not buyer.first_name else 'no last name'}",
                fix="send document.buyer.first_name and last_name", code="buyer_names_required")
        # A person with a tax id is a sole trader, who needs a name and a company name.
        kind = "self_employed" if buyer.tax_id else "private_person"
        fields.update(client_business_activity_kind=kind, client_first_name=buyer.first_name,
                      client_last_name=buyer.last_name)
        if buyer.tax_id:
            fields["client_company_name"] = buyer.name
    # E-mail and phone are not invoice fields in inFakt (they live on the client card).
    return {key: value for key, value in fields.items() if value is not None}


def _has_exempt_lines(doc: Document) -> bool:
    lines = doc.lines + (doc.correction.lines_before if doc.correction else [])
    return any(line.vat == VatCode.EXEMPT for line in lines)


def _exemption_basis(doc: Document) -> str:
    """The one legal basis of the document's zw lines (inFakt takes one per document)."""
    lines = doc.lines + (doc.correction.lines_before if doc.correction else [])
    bases = {str(line.vat_exemption_basis) for line in lines if line.vat == VatCode.EXEMPT}
    if len(bases) > 1:
        raise ConfigurationError(
            f"inFakt takes one VAT exemption basis per document, this one has {len(bases)}: {sorted(bases)}",
            fix="use one legal basis for all zw lines of the document", code="unsupported_vat_mix")
    return bases.pop()


# One unit of a legal provision and its number(s): "art. 43", "ust.1", "pkt 2 i 3", "lit. c", "§ 3".
_PROVISION_PART = re.compile(r"\s*(art\b\.?|§|ust\b\.?|pkt\b\.?|lit\b\.?)\s*"
                             r"((?:\d+[a-z]*|[a-z]\b)(?:\s*(?:,|\bi\b|\boraz\b)\s*(?:\d+[a-z]*|[a-z]\b))*)")
_ACTS = (("dyrektyw", "dyrektywa"), ("rozporządz", "rozporządzenie"), ("ustaw", "ustawa"))


def legal_provision(text: str) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]] | None:
    """The first legal provision a basis names, as (act, ((unit, numbers), ...)), so that "art. 43
    ust. 1 pkt 2", "Art.43 ust.1 pkt 2 ustawy o VAT" and "art 43 ust. 1 pkt. 2" are equal; None when
    it names none. Without a named act, an article is the VAT act's and a § a regulation's."""
    lowered = " ".join(text.lower().split())
    start = re.search(r"(art\b|§)", lowered)
    if start is None:
        return None
    parts: list[tuple[str, tuple[str, ...]]] = []
    position = start.start()
    while (part := _PROVISION_PART.match(lowered, position)) is not None:
        unit = part.group(1).rstrip(".")
        if parts and unit in ("art", "§"):
            break  # a second provision: only the first counts
        parts.append((unit, tuple(re.split(r"\s*,\s*|\s+(?:i|oraz)\s+", part.group(2)))))
        position = part.end()
    if not parts or parts[0][0] not in ("art", "§"):
        return None
    following = lowered[position:position + 40]
    act = next((name for stem, name in _ACTS if re.match(rf"[\s.,)]*{stem}", following)),
               "ustawa" if parts[0][0] == "art" else "rozporządzenie")
    return act, tuple(parts)


def _provision_text(basis: str) -> str:
    provision = legal_provision(basis)
    if provision is None:
        return "no legal provision"
    act, parts = provision
    shown = {"art": "art.", "ust": "ust.", "pkt": "pkt", "lit": "lit.", "§": "§"}
    return " ".join(f"{shown[unit]} {' i '.join(numbers)}" for unit, numbers in parts) + f" ({act})"


def _entry_text(entry: dict[str, Any]) -> str:
    """An exemption entry's text. ASSUMPTION: its `name` (the docs give no example entity); any other
    text field is read too when matching."""
    return str(entry.get("name") or next((v for v in entry.values() if isinstance(v, str)), ""))


def _matching_exemption(basis: str, entries: list[dict[str, Any]]) -> int | None:
    """The id of the entry naming the basis's legal provision (or, without one, the same words); the
    first such entry, preferring one whose words equal the basis. None when none does."""
    wanted = legal_provision(basis)
    words = " ".join(basis.lower().split())
    matches = []
    for entry in entries:
        entry_id = _entry_id(entry)
        if entry_id is None:
            continue
        texts = [value for name, value in entry.items() if isinstance(value, str) and name != "id"]
        same_words = any(" ".join(text.lower().split()) == words for text in texts)
        if same_words or (wanted is not None and any(legal_provision(text) == wanted for text in texts)):
            matches.append((not same_words, entry_id))
    return min(matches, key=lambda match: match[0])[1] if matches else None


def _entry_id(entry: dict[str, Any]) -> int | None:
    """An exemption entry's id, given as a number or a string of digits; None for anything else."""
    entry_id = entry.get("id")
    if isinstance(entry_id, str) and entry_id.isdigit():
        return int(entry_id)
    return entry_id if isinstance(entry_id, int) and not isinstance(entry_id, bool) else None


def _totals(document: dict[str, Any]) -> ProviderTotals:
    is_correction = document.get("kind") == "correction"
    return ProviderTotals(
        net=_from_grosze(document["net_price"]), vat=_from_grosze(document["tax_price"]),
        gross=_from_grosze(document["gross_price"]), currency=str(document.get("currency") or "PLN"),
        is_correction=is_correction,
        corrects=str(document["corrected_invoice_uuid"]) if is_correction and document.get("corrected_invoice_uuid")
        else None,
        vat_in_pln=_vat_in_pln(document))


def _vat_in_pln(document: dict[str, Any]) -> Decimal | None:
    """The PLN VAT inFakt states on a foreign-currency document, from its read-only `exchange_rates_data`
    (documented by name; ASSUMPTION: `vat_in_pln` in grosze, the shape the fake models). None when it
    is absent, so the read-back check is skipped rather than guessed."""
    applied = document.get("exchange_rates_data")
    figure = applied.get("vat_in_pln") if isinstance(applied, dict) else None
    return _from_grosze(figure) if isinstance(figure, int) and not isinstance(figure, bool) else None


# --------------------------------------------------------------------------- rejections


def _field_rejection(errors: dict[str, Any], description: str = "") -> ProviderRejected:
    field_errors = {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in errors.items()}
    parts = [f"{name}: {'; '.join(messages)}" for name, messages in field_errors.items()]
    fixes = sorted({OUR_FIELD.get(name, OUR_FIELD.get(name.split(".")[0], "the document")) for name in field_errors})
    context = f" ({description})" if description else ""
    return ProviderRejected(f"inFakt rejected {', '.join(parts)}{context}", field_errors=field_errors,
                            fix=f"correct {', '.join(fixes)} and retry the document")


def read_rejection(response: requests.Response) -> ProviderRejected:
    """inFakt's error bodies: {"errors"|"invoice_errors": {field: [messages]}} or {"error": "..."}."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    errors = body.get("errors") or body.get("invoice_errors")
    if isinstance(errors, dict) and errors:
        return _field_rejection(errors)
    status = response.status_code
    text = str(body.get("error") or body.get("message") or f"HTTP {status}")
    if status == 404:
        return ProviderRejected(
            f"inFakt answered Not Found (HTTP 404): {text}; the document no longer exists in this inFakt account",
            fix="check the document in inFakt (it may have been deleted there)", code="provider_not_found")
    if status == 402:
        return ProviderRejected(
            "inFakt refused the request (HTTP 402): the plan's document limit is reached or it has no API access",
            fix="raise the inFakt plan of this account, then retry", code="provider_plan_limit")
    if status == 423:
        return ProviderRejected(f"inFakt says the document is locked (HTTP 423): {text}",
                                fix="unlock it in inFakt (e.g. after closing the month), then retry",
                                code="provider_locked")
    return ProviderRejected(f"inFakt rejected the request (HTTP {status}): {text}",
                            fix="correct the document and retry it")
