"""The one interface every accounting-system adapter implements.

An adapter only translates: an `ExportPlan` (our document with the account's links already
resolved) into the provider's request, and the provider's answers back. Deciding *whether* to
send, exactly-once, retries and storage live in the export service, once for all providers.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from invoice_export.documents import Document, DocumentKind, Line, Totals, VatCalculation
from invoice_export.errors import ConfigurationError, ProviderRejected
from invoice_export.money import round_money
from invoice_export.observability import logger
from invoice_export.providers.http import ProviderHttp
from invoice_export.ratelimit import LimitScope, RateLimit
from invoice_export.readback import ProviderTotals
from invoice_export.settings import AccountSettings, KsefMode, MissingSku, ProviderName


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API can do; the export refuses anything else with a clear error."""

    receipts: bool
    corrections: bool
    series: bool  # a document can be put in a chosen provider series
    list_series: bool  # the API lists the series, for linking
    own_numbering: bool  # the API accepts our number
    payment_types: bool
    list_payment_types: bool
    sku_stock: bool  # a line can be linked to a product by SKU, decreasing stock
    ksef_send: bool  # we can ask the provider to send a document to KSeF (account mode send_on_export)
    ksef_read_back: bool  # the provider reports a document's KSeF state and number (the poller reads it)
    lookup_by_reference: bool  # a document can be found by our id (settles a timed-out create)

    def as_dict(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def supports_kind(self, kind: DocumentKind) -> bool:
        return {DocumentKind.INVOICE: True, DocumentKind.RECEIPT: self.receipts,
                DocumentKind.CORRECTION: self.corrections}[kind]


@dataclass(frozen=True)
class ProviderReference:
    """A document as the provider knows it."""

    provider_document_id: str
    number: str
    series: str | None = None  # the provider series (department...) it went to; corrections may need it


@dataclass(frozen=True)
class ExportPlan:
    """Our document plus everything the account's settings decided for it."""

    document: Document
    number: str | None  # None: the provider numbers the document
    provider_series: str | None  # None: do not pass (the provider's default series)
    provider_payment_type: str
    send_skus: bool
    missing_sku: MissingSku
    corrected: ProviderReference | None = None  # for a correction: the original at the provider
    send_to_ksef: bool = False  # ask the provider to send the document to KSeF when it is created


@dataclass(frozen=True)
class CreatedDocument:
    reference: ProviderReference
    warnings: tuple[str, ...] = ()
    # What the provider computed and stored, for the read-back check; None where it cannot be read.
    readback: ProviderTotals | None = None


class KsefState(StrEnum):
    PENDING = "pending"  # sent, KSeF has not answered yet
    ACCEPTED = "accepted"  # KSeF gave the document its number
    REJECTED = "rejected"  # KSeF (or the provider's KSeF link) refused it
    RETRYABLE = "retryable"  # the provider's KSeF link failed; sending again is documented as safe
    NOT_SENT = "not_sent"  # nobody sent it (yet)
    NOT_APPLICABLE = "not_applicable"  # this kind of document does not go to KSeF


@dataclass(frozen=True)
class KsefStatus:
    state: KsefState
    ksef_number: str | None = None
    message: str | None = None  # the provider's words on a rejection


# The methods a provider's read window counts (ProviderAdapter.read_rate_limit).
READ_METHODS = frozenset({"GET"})

# The KSeF number's documented form: the seller's NIP, the date, 12 hex digits and 2 check characters.
KSEF_NUMBER = re.compile(r"\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}", re.IGNORECASE)


def ksef_status_from(word: str | None, states: Mapping[str, KsefState], *, ksef_number: Any = None,
                     message: str | None = None, fallback: str = "KSeF refused the document",
                     unknown: KsefState = KsefState.NOT_SENT) -> KsefStatus:
    """A provider's KSeF status word read through its table (`states`).

    Shared by the adapters so every provider's answer is judged the same way: an empty word means
    nobody sent the document (the service keeps polling, never sends by itself), a word outside the
    table is read as `unknown` and logged (never a crash), and "accepted" without a KSeF number is
    still pending - the number is what the poller records.
    """
    text = str(word or "")
    if text and text not in states:
        logger.warning("unknown KSeF status word from the provider", extra={"ksef_word": text[:40],
                                                                            "read_as": unknown.value})
    state = states.get(text, KsefState.NOT_SENT if not text else unknown)
    if state == KsefState.ACCEPTED:
        return KsefStatus(state, ksef_number=str(ksef_number)) if ksef_number else KsefStatus(KsefState.PENDING)
    if state in (KsefState.REJECTED, KsefState.RETRYABLE):
        return KsefStatus(state, message=message or fallback)
    return KsefStatus(state)


@dataclass(frozen=True)
class ProviderQuota:
    """A provider's allowance for a period (iFirma: documents issued through the API per month)."""

    used: int
    granted: int
    resets_at: datetime | None = None  # when the period starts again (None: unknown)
    unit: str = "documents"

    @property
    def remaining(self) -> int:
        return max(self.granted - self.used, 0)


@dataclass(frozen=True)
class ProviderListedDocument:
    """A document as the provider lists it, for reconciliation with our records."""

    provider_document_id: str
    number: str
    kind: str | None  # our kind (invoice, receipt, correction); None: a kind we never send
    our_document_id: str | None  # the reference we gave it (Fakturownia: oid); None: made by hand
    issue_date: date
    currency: str
    net: Decimal
    gross: Decimal


@dataclass(frozen=True)
class ProviderOption:
    """An entry of a provider list (series, departments, payment types) offered for linking."""

    id: str
    name: str
    # The kinds of our documents the entry can take (a wFirma series numbers one document type);
    # every kind where the provider does not restrict it. For checks on our side: kept out of the
    # config API's answers (excluded when serialised) until a change decides to show it.
    kinds: Annotated[tuple[DocumentKind, ...], Field(exclude=True)] = tuple(DocumentKind)


class ProviderAdapter(ABC):
    name: ClassVar[ProviderName]
    display_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    credentials_model: ClassVar[type[BaseModel]]
    # Real API base URL; "{subdomain}" is filled from the account settings where the host is per account.
    default_api_url: ClassVar[str]
    # Provider-specific account options (AccountSettings.provider_options), validated on construction.
    options_model: ClassVar[type[BaseModel]] = NoOptions
    # The provider's request limit and what it counts per; None: no known limit.
    rate_limit: ClassVar[RateLimit | None] = None
    # A separate window for reads (GET), for a provider that counts them apart from its other requests
    # (inFakt); None: reads count in `rate_limit` like every request.
    read_rate_limit: ClassVar[RateLimit | None] = None
    # How the provider always computes VAT; None: it can be told to compute it our document's way.
    vat_calculation: ClassVar[VatCalculation | None] = None
    # What exporting one document consumes of the provider's periodic quota (`remaining_quota`), in
    # the quota's own unit; only read for providers that have one.
    quota_cost_per_document: ClassVar[int] = 1
    # The provider's own words for a KSeF mode it cannot honour: mode -> (what, what to choose
    # instead). A mode missing here gets the general refusal of `ksef_refusal`.
    ksef_refusals: ClassVar[Mapping[KsefMode, tuple[str, str]]] = {}
    # For the README's provider table (tools/provider_table.py): the request fields that carry our
    # document's exchange rate, and the legal basis of its zw/np lines; "" when none does.
    exchange_rate_fields: ClassVar[str] = ""
    exemption_basis_fields: ClassVar[str] = ""

    def __init__(self, settings: AccountSettings, credentials: BaseModel, http: ProviderHttp) -> None:
        self.settings = settings
        self.credentials = credentials
        self.http = http
        try:
            self.options = self.options_model.model_validate(settings.provider_options)
        except ValidationError as exc:
            raise ConfigurationError(
                f"invalid {self.display_name} options on account {settings.account_id}: {exc.errors()[0]['msg']}",
                fix=f"correct provider_options ({', '.join(self.options_model.model_fields) or 'none expected'})",
                code="invalid_provider_options") from None

    @classmethod
    def api_url(cls, settings: AccountSettings) -> str:
        if settings.api_url is not None:
            return str(settings.api_url).rstrip("/")
        if "{subdomain}" in cls.default_api_url:
            if not settings.provider_subdomain:
                raise ConfigurationError(
                    f"{cls.display_name} needs the account's subdomain to know its API address",
                    fix=f"set provider_subdomain (the 'myshop' in https://myshop.{cls.name}.pl) on account "
                    f"{settings.account_id}",
                    code="missing_provider_subdomain",
                )
            return cls.default_api_url.format(subdomain=settings.provider_subdomain)
        return cls.default_api_url

    @classmethod
    def ksef_refusal(cls, mode: KsefMode) -> tuple[str, str] | None:
        """(why the account's KSeF mode cannot work with this provider, what to choose instead);
        None when it can. Checked when the setting is changed and again before each export."""
        caps, name = cls.capabilities, cls.display_name
        if mode == KsefMode.SEND_ON_EXPORT and not caps.ksef_send:
            general = (f"{name} cannot send documents to KSeF through its API",
                       "set ksef to 'off' and send the documents to KSeF from the accounting system")
        elif mode == KsefMode.PROVIDER_SENDS and not caps.ksef_read_back:
            general = (f"{name} does not report a document's KSeF status or number through its API, so there "
                       "is nothing for us to read back", "set ksef to 'off'")
        else:
            return None
        return cls.ksef_refusals.get(mode, general)

    @classmethod
    def rate_windows(cls, overrides: Mapping[str, RateLimit] | None = None) -> list[tuple[str, RateLimit]]:
        """(scope key suffix, limit) of each window the provider's requests count in, the read window
        (methods GET) first; a request counts in the first window whose methods name it, else in the
        one that names none.

        `overrides` are the deployment's PROVIDER_RATE_LIMITS: `<provider>` replaces `rate_limit` and
        `<provider>:reads` the read window. `<provider>` alone keeps meaning what it always did, one
        window for every request."""
        overrides = overrides or {}
        name = cls.name.value
        main = overrides.get(name, cls.rate_limit)
        reads = overrides.get(f"{name}:reads", None if name in overrides else cls.read_rate_limit)
        windows = [(":reads", replace(reads, methods=READ_METHODS))] if reads is not None else []
        return windows + ([("", replace(main, methods=None))] if main is not None else [])

    @classmethod
    def rate_limit_key(cls, settings: AccountSettings, credentials: BaseModel) -> str:
        """What the provider counts requests per, as a key that reveals no secret."""
        assert cls.rate_limit is not None
        scope = cls.rate_limit.scope
        if scope == LimitScope.ACCOUNT:
            return f"{cls.name.value}:account:{settings.account_id}"
        if scope == LimitScope.CREDENTIAL:
            # A truncated hash tells keys apart without storing them.
            identity = json.dumps(_revealed(credentials), sort_keys=True).encode()
            return f"{cls.name.value}:credential:{hashlib.sha256(identity).hexdigest()[:16]}"
        return f"{cls.name.value}:deployment"

    @classmethod
    @abstractmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        """How requests carry the credentials (always headers or a signature, never the URL)."""

    @staticmethod
    @abstractmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        """The provider's error body turned into a specific message naming the field."""

    @abstractmethod
    def build_request(self, plan: ExportPlan) -> dict[str, Any]:
        """The exact request body a create would send (pure: no I/O; used for dry runs and tests)."""

    @abstractmethod
    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        """Create the document at the provider. Raises errors from `invoice_export.errors`."""

    @abstractmethod
    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        """Look the document up by our reference; None when the provider surely has none."""

    @abstractmethod
    def download_pdf(self, provider_document_id: str) -> bytes:
        """The PDF the provider generates for the document, as it is now."""

    @abstractmethod
    def check_credentials(self) -> None:
        """One cheap authenticated call; raises CredentialsRejected when the provider refuses."""

    @classmethod
    def predicted_totals(cls, document: Document) -> Totals | None:
        """The totals the provider will compute from our request, where its arithmetic can differ from
        our document's; None when it reproduces ours whatever the amounts."""
        return None

    def ksef_status(self, provider_document_id: str) -> KsefStatus:
        """The document's KSeF state as the provider knows it."""
        raise ConfigurationError(f"{self.display_name} does not report KSeF status through its API",
                                 code="not_supported")

    def send_to_ksef(self, provider_document_id: str) -> None:
        """Ask the provider to send an existing document to KSeF (again, after a retryable failure)."""
        raise ConfigurationError(f"{self.display_name} cannot send documents to KSeF through its API",
                                 code="not_supported")

    def send_to_ksef_once(self, provider_document_id: str) -> bool:
        """Send to KSeF only when the provider holds no submission of the document in flight or
        accepted - the guard against a second submission, read at the provider just before sending
        (it may have sent by itself meanwhile). Returns whether it asked the provider to send."""
        if self.ksef_status(provider_document_id).state not in (KsefState.NOT_SENT, KsefState.RETRYABLE):
            return False
        self.send_to_ksef(provider_document_id)
        return True

    def remaining_quota(self) -> ProviderQuota | None:
        """The provider's periodic quota as it stands now, checked before a bulk run; None: the provider
        has none. Raises ConfigurationError when it has one but the account's credentials cannot read it."""
        return None

    def list_series(self) -> list[ProviderOption]:
        raise ConfigurationError(f"{self.display_name} cannot list its series through its API",
                                 code="not_supported")

    def list_payment_types(self) -> list[ProviderOption]:
        raise ConfigurationError(f"{self.display_name} cannot list its payment types through its API",
                                 code="not_supported")

    def list_documents(self, date_from: date, date_to: date) -> list[ProviderListedDocument]:
        """Every document the provider holds issued in the period (for reconciliation)."""
        raise ConfigurationError(f"{self.display_name} cannot list its documents through its API",
                                 fix="reconcile by hand in the provider's application", code="not_supported")


def discounted_unit_price(line: Line, *, places: int, quantity: Decimal | None = None) -> Decimal:
    """The unit price to send for a line, for a provider that values a line as quantity x unit price
    rounded half-up to the grosz (and whose documented discount arithmetic cannot be relied on).

    A line without a discount sends its own unit price. A discounted line sends a price with at most
    `places` decimals whose quantity x price rounds to exactly our line value (quantity x list price x
    (1 - d/100), rounded once): the nearest one to the discounted price. None exists when the quantity
    is so large that one step of the price moves the value by more than a grosz and no step lands in
    it; the document is then refused before sending (code "discount_not_exact"), never sent with
    other totals. `quantity` is the quantity sent, when it is not the line's (a removed line: 0)."""
    if line.discount_percent is None:
        return line.unit_price
    count = line.quantity if quantity is None else quantity
    if not count:
        return line.unit_price  # a zeroed line is worth 0 at any price
    value = line.value()
    step = Decimal(1).scaleb(-places)
    target = value / count
    nearest = target.quantize(step, rounding=ROUND_HALF_UP)
    # Prices whose value rounds to ours lie within half a grosz / quantity of the target: if any
    # price on the grid does, the nearest one or a neighbour does.
    for offset in (0, -1, 1, -2, 2):
        price = nearest + offset * step
        if price >= 0 and round_money(count * price) == value:
            return price
    raise ConfigurationError(
        f"line {line.line_id}: no unit price with at most {places} decimals gives quantity {count.normalize():f} "
        f"a value of exactly {value} after the {line.discount_percent.normalize():f}% discount, and the "
        "provider's own discount rounding is not documented",
        fix="issue the line with a quantity up to 100, or with the discount already in its unit price",
        code="discount_not_exact")


def _revealed(credentials: BaseModel) -> dict[str, Any]:
    return {name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in credentials}


# Builds an account's adapter from its settings and stored credentials (the runtime wires the limiter).
AdapterFactory = Callable[[AccountSettings, dict[str, Any]], ProviderAdapter]
