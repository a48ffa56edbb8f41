"""What the export service and a provider adapter hand each other.

The plan an adapter turns into a request, what the provider created, its KSeF state, its lists and
quota, and what an adapter declares it can do. Plain data, so the rules that decide what to send
(domain.planning) never depend on any adapter's code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from invoice_export.domain.account_settings import MissingSku
from invoice_export.domain.documents import Document, DocumentKind
from invoice_export.domain.ksef_numbers import ksef_number_warnings
from invoice_export.domain.readback import ProviderTotals
from invoice_export.domain.vat_split import VatSplitDifference


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
    # A correction may change single lines; False: the API only reverses a whole document (storno), so
    # only a correction cancelling the whole corrected document can go (Document.is_full_reversal).
    partial_corrections: bool = True
    efactura_send: bool = False  # we can ask the provider to send a document to Romania's e-Factura (SPV)
    efactura_read_back: bool = False  # the provider reports a document's e-Factura state (the poller reads it)
    # An interrupted create can be found in the provider's list of its issue date by our reference, read
    # back from a field the provider keeps (domain.settlement), where no look-up by our id exists.
    settle_by_listing: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def supports_kind(self, kind: DocumentKind) -> bool:
        return {DocumentKind.INVOICE: True, DocumentKind.RECEIPT: self.receipts,
                DocumentKind.CORRECTION: self.corrections}[kind]


class ClearanceSystem(StrEnum):
    """The national e-invoice system an adapter's documents go to; the account's `ksef` setting says who
    sends to it, and the poller (services.ksef) reads the provider's answer back, whichever it is."""

    KSEF = "ksef"  # Poland
    EFACTURA = "efactura"  # Romania: ANAF's e-Factura (SPV)


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
    # Net-priced lines go as gross unit prices (their gross = value + the line's VAT): the one way a
    # provider that computes VAT per rate shows a per-line document's gross (domain.planning).
    send_gross_prices: bool = False
    # The provider will split the same gross into other net/VAT figures than ours (domain.vat_split).
    vat_split: VatSplitDifference | None = None


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

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the KSeF number's form leaves to check; the number itself is kept as the provider gave it."""
        return ksef_number_warnings(self.ksef_number)


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
    net: Decimal | None  # None: the provider lists only the gross total (Oblio)
    gross: Decimal


@dataclass(frozen=True)
class ProviderOption:
    """An entry of a provider list (series, departments, payment types) offered for linking."""

    id: str
    name: str
    # The kinds of our documents the entry can take (a wFirma series numbers one document type);
    # every kind where the provider does not restrict it. Linking a series is checked against it.
    kinds: tuple[DocumentKind, ...] = tuple(DocumentKind)
