"""Operator actions on documents: retry after a fix, resolve a document held in doubt."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Protocol

from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.records import RecordedError, Status
from invoice_export.platform.runtime_settings import RuntimeSettings
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.documents import DocumentStore


class OperatorContext(Protocol):
    """What an operator action uses of the deployment (platform.runtime.Runtime has it)."""

    settings: RuntimeSettings
    documents: DocumentStore
    accounts: AccountStore

    def client(self, service: str) -> Any: ...


class OperationRefused(Exception):
    """The action does not apply to the document as it is now; the message says why."""


def retry_document(runtime: OperatorContext, account_id: str, document_id: str) -> None:
    """Queue a failed document again, as stored, after its cause was fixed (settings, provider data)."""
    record = runtime.documents.get(account_id, document_id)
    if record is None:
        raise OperationRefused(f"document {document_id} of account {account_id} is unknown")
    if record.status != Status.FAILED:
        raise OperationRefused(f"document {document_id} is {record.status.value}; only failed documents are retried")
    document = record.parsed_document()
    if document is None:
        raise OperationRefused(f"document {document_id} arrived as an unreadable message; the order system must "
                               "send it again, corrected")
    message = ExportMessage(account_id=account_id, trigger=Trigger.RETRY, document=document)
    assert runtime.settings.export_queue_url is not None
    queue_export(runtime.client("sqs"), runtime.settings.export_queue_url, message)


def queue_export(sqs: Any, queue_url: str, message: ExportMessage, *, once_per: str | None = None) -> None:
    """Put `message` on the export queue, in its account's group.

    `once_per`: what this send follows from, when it may be repeated (the record change the stream hands
    over again): the same value within SQS's 5-minute FIFO de-duplication window is queued once. None:
    every send is queued - de-duplication must not swallow an operator's second retry within 5 minutes."""
    document = message.document
    unique = hashlib.sha256(once_per.encode()).hexdigest()[:12] if once_per is not None else uuid.uuid4().hex[:12]
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=message.model_dump_json(), MessageGroupId=message.account_id,
        MessageDeduplicationId=f"{document.document_id}-v{document.version}-{message.trigger.value}-{unique}")


def resolve_in_doubt(runtime: OperatorContext, account_id: str, document_id: str, *,
                     provider_document_id: str | None = None, provider_number: str | None = None) -> None:
    """An operator checked the provider: attach the document found there, or release it for a new send.
    What follows (the `exported` event, the PDF fetch, the first KSeF poll; or the `failed` event) is
    read from the record's change stream."""
    record = runtime.documents.get(account_id, document_id)
    if record is None or record.status != Status.IN_DOUBT:
        raise OperationRefused(f"document {document_id} is not in doubt")
    store = runtime.documents
    if provider_document_id:
        settings = runtime.accounts.get(account_id)
        store.settle_in_doubt(account_id, document_id, provider=settings.provider.value if settings else None,
                              provider_document_id=provider_document_id, provider_number=provider_number or "")
    else:
        store.release_in_doubt(account_id, document_id, RecordedError(
            code="released_by_operator", message="an operator checked the provider: the document is not there",
            fix="retry the document", retryable=True, at=now_iso()))
