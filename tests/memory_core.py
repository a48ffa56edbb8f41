"""The export service over the in-memory stores (memory_stores.py) and a scripted provider
(scripted_provider.py): the core of the service, wired as platform/runtime.py wires it, without AWS.

What follows from a record's change is carried out as the stream function does it
(services/record_changes.py), over the changes the memory store kept, whenever a test looks at the
events, PDF requests or KSeF polls (`settle`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.records import Status
from invoice_export.platform.runtime_settings import RuntimeSettings
from invoice_export.services.export import ExportService
from invoice_export.services.operations import queue_export
from invoice_export.services.record_changes import RecordChangeService
from invoice_export.services.settlement import InDoubtSettlement
from memory_stores import MemoryAccountStore, MemoryDocumentStore, RecordingPublisher, RecordingQueue
from scripted_provider import ScriptedProvider

ACCOUNT = "shop-1"
INVOICE = "INV-2026-11-0001"  # examples/documents/01-invoice-company.json


@dataclass
class Core:
    """The export service over in-memory stores and a scripted provider."""

    provider: ScriptedProvider
    accounts: MemoryAccountStore = field(default_factory=MemoryAccountStore)
    documents: MemoryDocumentStore = field(default_factory=MemoryDocumentStore)
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    requested_pdfs: list[str] = field(default_factory=list)
    started_ksef_polls: list[str] = field(default_factory=list)
    queue: RecordingQueue = field(default_factory=RecordingQueue)  # the export and settlement queues
    # How long a `sending` record may belong to a live attempt (the export function's Timeout). 0: an
    # attempt that left a record `sending` has ended by the next call, as if its invocation timed out.
    export_timeout_seconds: float = 0.0
    # How long a provider's list is not trusted to show an interrupted create (None: the adapter's own).
    settle_listing_after_seconds: float | None = 0.0

    def __post_init__(self) -> None:
        self.service = _Settling(self, ExportService(
            settings=RuntimeSettings(accounts_table="accounts", documents_table="documents", event_bus_name="bus",
                                     export_timeout_seconds=self.export_timeout_seconds,
                                     settle_listing_after_seconds=self.settle_listing_after_seconds),
            accounts=self.accounts, documents=self.documents, publisher=self.publisher,
            adapter_factory=self.provider.adapter_factory, make_link=lambda a, d: f"https://link/{d}"))
        self.record_changes = RecordChangeService(
            accounts=self.accounts, documents=self.documents, publisher=self.publisher, make_link=lambda a, d: f"https://link/{d}",
            request_pdf=lambda a, d: self.requested_pdfs.append(d),
            start_ksef_poll=lambda a, d: self.started_ksef_polls.append(d),
            queue_export=lambda message, once_per=None: queue_export(self.queue, "export-queue", message,
                                                                     once_per=once_per), audit=None)
        # Its writes' consequences (event, PDF, KSeF poll, export message) are carried out the same way.
        self.settlement = _Settling(self, InDoubtSettlement(
            accounts=self.accounts, documents=self.documents, adapter_factory=self.provider.adapter_factory,
            export=self.service, sqs=self.queue, settle_queue_url="settle-queue"))
        self.connect()

    def settle(self) -> None:
        """Carry out what the records' changes so far call for, in order (the stream function's work)."""
        for old, new in self.documents.take_changes():
            self.record_changes.handle(old, new)

    @property
    def pdf_requests(self) -> list[str]:
        self.settle()
        return self.requested_pdfs

    @property
    def ksef_polls(self) -> list[str]:
        self.settle()
        return self.started_ksef_polls

    def connect(self, **changes) -> AccountSettings:
        settings = AccountSettings.model_validate({
            "account_id": ACCOUNT, "provider": "fakturownia",
            "series_links": {"FV": "7", "KOR": None, "PAR": None},
            "payment_links": {"Przelew": "transfer", "Karta": "card"}, **changes})
        self.accounts.put(settings)
        return settings

    def status(self, document_id: str = INVOICE) -> Status:
        return self.documents.get(ACCOUNT, document_id).status

    def outcomes(self, document_id: str = INVOICE) -> list[str]:
        self.settle()
        return self.publisher.outcomes(document_id)


class _Settling:
    """The export service, with what its writes call for carried out after each call (the stream
    function runs right after the export function here; in AWS, within about a second)."""

    def __init__(self, core: Core, service: ExportService) -> None:
        self._core, self._service = core, service

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._service, name)
        if not callable(attribute):
            return attribute

        def settling(*args: object, **kwargs: object) -> object:
            try:
                return attribute(*args, **kwargs)
            finally:
                self._core.settle()

        return settling
