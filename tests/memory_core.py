"""The export service over the in-memory stores (memory_stores.py) and a scripted provider
(scripted_provider.py): the core of the service, wired as platform/runtime.py wires it, without AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.records import Status
from invoice_export.platform.runtime_settings import RuntimeSettings
from invoice_export.services.export import ExportService
from invoice_export.services.settlement import InDoubtSettlement
from memory_stores import (
    MemoryAccountStore,
    MemoryDocumentStore,
    MemoryIdempotency,
    RecordingPublisher,
    RecordingQueue,
)
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
    pdf_requests: list[str] = field(default_factory=list)
    ksef_polls: list[str] = field(default_factory=list)
    queue: RecordingQueue = field(default_factory=RecordingQueue)  # the export and settlement queues
    # How long a provider's list is not trusted to show an interrupted create (None: the adapter's own).
    settle_listing_after_seconds: float | None = 0.0

    def __post_init__(self) -> None:
        idempotency = IdempotencyConfig(event_key_jmespath="[account_id, document.document_id, document.version, "
                                                            "trigger]", raise_on_no_idempotency_key=True)
        idempotency.register_lambda_context(SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000))
        self.service = ExportService(
            settings=RuntimeSettings(accounts_table="accounts", documents_table="documents", event_bus_name="bus",
                                     settle_listing_after_seconds=self.settle_listing_after_seconds),
            accounts=self.accounts, documents=self.documents, publisher=self.publisher,
            adapter_factory=self.provider.adapter_factory, make_link=lambda a, d: f"https://link/{d}",
            request_pdf=lambda a, d: self.pdf_requests.append(d),
            start_ksef_poll=lambda a, d: self.ksef_polls.append(d), persistence_store=MemoryIdempotency(),
            idempotency_config=idempotency)
        self.settlement = InDoubtSettlement(
            accounts=self.accounts, documents=self.documents, adapter_factory=self.provider.adapter_factory,
            export=self.service, sqs=self.queue, export_queue_url="export-queue", settle_queue_url="settle-queue")
        self.connect()

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
        return self.publisher.outcomes(document_id)
