"""A document's record: our document, its export status and its mapping to the provider's document.

Every status change is a conditional write (storage.documents), so two workers can never both send a
document and a second provider document can never be recorded for one of ours:

    (new) -> pending -> sending -> exported
                ^          |  \\-> in_doubt   (a look-up could not decide; held for an operator)
                |          v
                +------ failed             (retried after the fix)

`sending` is held only while a create is in flight. Finding it on a later delivery means that
attempt was interrupted (timeout, crash), so the provider is asked before anything is re-sent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from invoice_export.domain.documents import Document


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    EXPORTED = "exported"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"


SENDABLE = (Status.PENDING, Status.FAILED)


class RecordedError(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    message: str
    fix: str = ""
    retryable: bool = False
    at: str


class PdfCopy(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    version_id: str | None = None
    size: int
    sha256: str
    fetched_at: str
    previous_sha256: str | None = None
    changed_at: str | None = None


class DocumentRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str
    document_id: str
    status: Status
    document_version: int = 0
    kind: str | None = None
    number: str | None = None
    series: str | None = None
    order_id: str | None = None
    document: str | None = None  # the document as received (JSON), for retries and audits
    raw_message: str | None = None  # only for a message we could not read
    attempts: int = 0
    send_attempt_id: str | None = None
    last_error: RecordedError | None = None
    provider: str | None = None
    provider_document_id: str | None = None
    provider_number: str | None = None
    provider_series: str | None = None
    warnings: list[str] = []
    readback_drift: list[dict[str, str]] = []  # where the provider's totals differ from ours
    # A foreign-currency document's VAT in PLN as we compute it, per rate and total (readback.pln_vat_record).
    vat_in_pln: dict[str, str] | None = None
    # The provider split our gross into other net/VAT figures (VatSplitDifference.as_record): both, per rate.
    vat_split: dict[str, Any] | None = None
    ksef_status: str | None = None  # pending, accepted, rejected, not_applicable, unconfirmed, submitted
    ksef_number: str | None = None
    ksef_message: str | None = None
    ksef_resends: int = 0
    exported_event_sent: bool = False
    # Failed or in doubt by a last delivery or the DLQ check (give_up), its event not yet known to be
    # published: the next check publishes it (ExportService.give_up).
    outcome_event_pending: bool = False
    pdf: PdfCopy | None = None
    received_at: str
    updated_at: str
    exported_at: str | None = None

    def parsed_document(self) -> Document | None:
        return Document.model_validate_json(self.document) if self.document else None
