"""The one interface every accounting-system adapter implements.

An adapter only translates: an `ExportPlan` (our document with the account's links already
resolved) into the provider's request, and the provider's answers back. Deciding *whether* to
send, exactly-once, retries and storage live in the export service, once for all providers.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from invoice_export.domain.account_settings import AccountSettings, KsefMode, ProviderName
from invoice_export.domain.documents import PriceBasis, VatCalculation
from invoice_export.domain.errors import ConfigurationError, CredentialsRejected, PermanentError, ProviderRejected
from invoice_export.domain.own_numbers import ONE_SEQUENCE_PER_ACCOUNT, OwnNumberScope
from invoice_export.domain.provider_contract import (
    Capabilities,
    ClearanceSystem,
    CreatedDocument,
    ExportPlan,
    KsefState,
    KsefStatus,
    ProviderListedDocument,
    ProviderOption,
    ProviderQuota,
    ProviderReference,
)
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.settlement import (
    InterruptedAttempt,
    ListedDocument,
    SettledBy,
    Settlement,
    SettlementOutcome,
    left_to_listing,
    settle_by_reference,
    undecided,
)
from invoice_export.domain.vat_split import VatSplit, split_of
from invoice_export.providers.texts import FittedRequest, TextLimit, fit_texts

if TYPE_CHECKING:  # the interface names the HTTP types; only the adapters and providers.http import them
    import requests

    from invoice_export.providers.http import ProviderHttp


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The methods a provider's read window counts (ProviderAdapter.read_rate_limit).
READ_METHODS = frozenset({"GET"})
# A dry run (build_request without the account's look-ups) shows where a provider's id will go.
LOOKED_UP_WHEN_SENT = "looked up when sent: {}"

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
    # Which documents share one sequence of numbers (the numbering bucket a number of ours is unique
    # in), for a provider that takes our number (capabilities.own_numbering): each such adapter declares it.
    own_number_scope: ClassVar[OwnNumberScope] = ONE_SEQUENCE_PER_ACCOUNT
    # How the provider always computes VAT; None: it can be told to compute it our document's way.
    vat_calculation: ClassVar[VatCalculation | None] = None
    # Decimals of a unit price, where a net-priced document's lines can go as gross unit prices instead
    # (ExportPlan.send_gross_prices: the provider computes VAT per rate, a per-line document's gross
    # needs them); None: the adapter never sends them so.
    gross_unit_price_places: ClassVar[int | None] = None
    # The credential field a CREDENTIAL-scoped limit counts per, where the provider counts per login
    # rather than per key (Oblio, SmartBill: the e-mail); None: the credentials as a whole.
    rate_limit_per: ClassVar[str | None] = None
    # The currency its accounts keep their books and VAT in (AccountSettings.home_currency).
    home_currency: ClassVar[str] = "PLN"
    # The national e-invoice system its documents go to (KSeF, e-Factura): the account's `ksef` setting
    # and the poller's events are about this one; the capabilities say what the API does about it.
    clearance_system: ClassVar[ClearanceSystem] = ClearanceSystem.KSEF
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
    # The provider's limits on the texts of its request: path pattern in the body -> TextLimit, each
    # with its source or an ASSUMPTION label (providers/texts.py). `fit_texts` cuts to them, or removes
    # the characters a field refuses, with a warning: never a refused document for a long name.
    text_limits: ClassVar[Mapping[str | tuple[str, ...], TextLimit]] = {}
    # A provider without a field for our id (capabilities.settle_by_listing) keeps our reference in a
    # text field it returns on reads: build_request puts it there (domain.settlement.with_our_reference)
    # and that field's TextLimit says keeps_our_reference. An interrupted create is then settled by
    # listing (`settle_by_listing`): the adapter lists the day's documents (`list_for_settlement`) and
    # reads one whole (`read_listed`); the decision is shared (domain.settlement.settle_by_reference).
    # How long after an interrupted create began the provider's list surely shows what it created (a
    # request still being processed there, an accepted task still queued): nothing listed before then
    # proves nothing. Each adapter says why its figure; RuntimeSettings.settle_listing_after_seconds
    # overrides it (the reliability run's scaled-down timings).
    listing_complete_after: ClassVar[float] = 300.0
    listing_complete_after_source: ClassVar[str] = ""

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
    def clearance(cls) -> tuple[str, bool, bool]:
        """(the name of its national e-invoice system, whether we can ask the provider to send to it,
        whether the provider reports a document's state there) from its capabilities."""
        caps = cls.capabilities
        if cls.clearance_system == ClearanceSystem.EFACTURA:
            return "e-Factura", caps.efactura_send, caps.efactura_read_back
        return "KSeF", caps.ksef_send, caps.ksef_read_back

    @classmethod
    def ksef_refusal(cls, mode: KsefMode) -> tuple[str, str] | None:
        """(why the account's KSeF (e-Factura for a Romanian provider) mode cannot work with this
        provider, what to choose instead); None when it can. Checked when the setting is changed and
        again before each export."""
        name = cls.display_name
        system, sends, reads_back = cls.clearance()
        if mode == KsefMode.SEND_ON_EXPORT and not sends:
            general = (f"{name} cannot send documents to {system} through its API",
                       f"set ksef to 'off' and send the documents to {system} from the accounting system")
        elif mode == KsefMode.PROVIDER_SENDS and not reads_back:
            general = (f"{name} does not report a document's {system} status through its API, so there "
                       "is nothing for us to read back", "set ksef to 'off'")
        else:
            return None
        return cls.ksef_refusals.get(mode, general)

    @classmethod
    def option_refusals(cls, settings: AccountSettings) -> list[tuple[str, str]]:
        """(what is missing, what to set) for each provider option the account's other settings need (a
        warehouse where SKUs are sent); none by default. Checked when the settings are changed
        (services.connections) and again before a document is sent (`refuse_missing_options`)."""
        return []

    def refuse_missing_options(self) -> None:
        if problems := self.option_refusals(self.settings):
            raise ConfigurationError("; ".join(what for what, _ in problems), fix="; ".join(fix for _, fix in problems),
                                     code="missing_provider_option")

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
            revealed = _revealed(credentials)
            if cls.rate_limit_per is not None:
                revealed = {cls.rate_limit_per: revealed[cls.rate_limit_per]}
            identity = json.dumps(revealed, sort_keys=True).encode()
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
        """The request body a create would send, before `fit_texts` (pure: no I/O; used for dry runs and
        tests)."""

    def fit_texts(self, body: dict[str, Any]) -> FittedRequest:
        """`body` with its texts fitted to `text_limits`, and a warning per changed text for the
        CreatedDocument: what `create_document` sends."""
        return fit_texts(body, self.text_limits, self.display_name)

    @abstractmethod
    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        """Create the document at the provider. Raises errors from `invoice_export.errors`."""

    @abstractmethod
    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        """Look the document up by our reference; None when the provider surely has none."""

    def numbering_before_create(self, plan: ExportPlan) -> dict[str, str] | None:
        """Where the provider's numbering stands just before the plan's create - each series' next number
        - for a provider whose interrupted create can only be found among the numbers given out since
        (SmartBill: no list, no look-up); None (no request) for the others. The export service keeps it
        in the same write as the claim, so an attempt that dies mid-call leaves it too."""
        return None

    def read_number(self, provider_document_id: str) -> str | None:
        """The number the provider gave a document it created, read again; None where the create's own
        answer carries it (nothing to read). A provider that numbers a document in a read after the
        create (iFirma) returns a created reference without the number when that read failed: the
        export service reads it here before it announces the document."""
        return None

    def settle_interrupted(self, plan: ExportPlan, attempt: InterruptedAttempt) -> Settlement:
        """What became of an interrupted create of `plan`, asked with reads only (nothing is created): by
        the look-up by our id where there is one, else by listing; an adapter with another way (inFakt's
        creation task) overrides this. A provider that cannot decide answers UNDECIDED with its reason; a
        transient failure (rate limit, 5xx) propagates, to ask again later, and so do refused credentials
        (the account is paused)."""
        if self.capabilities.lookup_by_reference:
            return self.settle_by_look_up(plan)
        if self.capabilities.settle_by_listing:
            return self.settle_by_listing(plan, attempt)
        return undecided(SettledBy.LOOK_UP, f"{self.display_name} cannot be asked whether an interrupted create "
                                            "arrived")

    def settle_by_look_up(self, plan: ExportPlan) -> Settlement:
        name = self.display_name
        try:
            found = self.find_document(plan)
        except CredentialsRejected:
            raise
        except PermanentError as error:  # e.g. AmbiguousAtProvider: several documents with our id
            return undecided(SettledBy.LOOK_UP, f"the look-up at {name} could not decide: {error.message}")
        if found is None:
            return Settlement(SettlementOutcome.ABSENT, SettledBy.LOOK_UP, f"{name} has no document with our id")
        return Settlement(SettlementOutcome.FOUND, SettledBy.LOOK_UP,
                          f"{name} holds {found.number or found.provider_document_id} with our id", found=found)

    def settle_by_listing(self, plan: ExportPlan, attempt: InterruptedAttempt) -> Settlement:
        """The shared settlement by the provider's list of the issue date and our reference read back."""
        document = plan.document
        if not attempt.may_list:
            return left_to_listing(document, self.display_name, attempt)
        try:
            candidates = self._listed_candidates(plan, attempt)
        except CredentialsRejected:
            raise
        except PermanentError as error:
            return undecided(SettledBy.LISTING, f"{self.display_name}'s documents of {document.issue_date} could "
                                                f"not be read: {error.message}")
        return settle_by_reference(document, candidates, provider=self.display_name,
                                   listing_complete_in=attempt.listing_complete_in,
                                   carried_id=self.reference_carried(plan))

    def reference_carried(self, plan: ExportPlan) -> str | None:
        """The document id in the reference the plan's document carries at the provider, where it is not
        the document's own (see domain.settlement.settle_by_reference); None: its own."""
        return None

    def _listed_candidates(self, plan: ExportPlan, attempt: InterruptedAttempt) -> list[ListedDocument]:
        """The listed documents that may be the plan's, each complete for settle_by_reference: one the
        list shows only in part is read whole (read_listed; None when the read shows it is not ours)."""
        document = plan.document
        possible = [listed for listed in self.list_for_settlement(plan, attempt) if listed.may_be(document)]
        to_read = [listed for listed in possible if _listed_in_part(listed)]
        # Many look alike (repeat orders): those our records map to other documents are not ours.
        elsewhere = attempt.ours_elsewhere(len(to_read))
        possible = [listed for listed in possible if listed.reference.provider_document_id not in elsewhere]
        return self._read_whole(possible, unread={listed.reference.provider_document_id for listed in to_read})

    def _read_whole(self, possible: list[ListedDocument], unread: set[str]) -> list[ListedDocument]:
        """`possible` with each document of `unread` (by provider id) replaced by its read, in the list's
        order; one whose read shows it is not ours is left out."""
        candidates = []
        for listed in possible:
            read = self.read_listed(listed) if listed.reference.provider_document_id in unread else listed
            if read is not None:
                candidates.append(read)
        return candidates

    def list_for_settlement(self, plan: ExportPlan, attempt: InterruptedAttempt) -> list[ListedDocument]:
        """Every document the provider lists for the plan's issue date and kind of resource (or, where it
        has no such list, every one it created since `attempt` began), paged to the list's end (reads only).
        Raises a PermanentError when the list cannot be read to its end: a document missing from it would
        be sent a second time."""
        raise ConfigurationError(f"{self.display_name} cannot list its documents through its API",
                                 code="not_supported")

    def read_listed(self, listed: ListedDocument) -> ListedDocument | None:
        """`listed` read whole: its issue date, kind, gross, currency and the text carrying our reference;
        None when the read shows it cannot be ours (e.g. the provider does not find it as our kind)."""
        raise ConfigurationError(f"{self.display_name} cannot read a listed document", code="not_supported")

    @abstractmethod
    def download_pdf(self, provider_document_id: str) -> bytes:
        """The PDF the provider generates for the document, as it is now."""

    @abstractmethod
    def check_credentials(self) -> None:
        """One cheap authenticated call; raises CredentialsRejected when the provider refuses."""

    @classmethod
    def provider_split(cls, values: list[tuple[Decimal, Decimal]], basis: PriceBasis,
                       method: VatCalculation) -> VatSplit | None:
        """How the provider splits the lines we send - (VAT percentage, line value in `basis`) - into
        net and VAT per rate, for a document that computes VAT by `method`; None where it computes
        exactly as our document does (it is told to, or follows the lines as they are)."""
        if cls.vat_calculation is None:
            return None
        return split_of(values, basis, cls.vat_calculation)

    def ksef_status(self, provider_document_id: str) -> KsefStatus:
        """The document's KSeF state as the provider knows it (its e-Factura state, for a provider whose
        clearance_system is e-Factura: the same states, read by the same poller)."""
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


def _listed_in_part(listed: ListedDocument) -> bool:
    """Whether the list left out something settle_by_reference compares (then the document is read)."""
    return None in (listed.reference_text, listed.issue_date, listed.kind, listed.gross, listed.currency)


def _revealed(credentials: BaseModel) -> dict[str, Any]:
    return {name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in credentials}


# Builds an account's adapter from its settings and stored credentials (the runtime wires the limiter).
AdapterFactory = Callable[[AccountSettings, dict[str, Any]], ProviderAdapter]
