"""Carry out what a change of a document record calls for (domain.record_changes), read from the
documents table's change stream (entrypoints/record_changes.py).

The stream hands each change over at least once (a batch is retried from its first failed record,
and a whole batch again after the function died), so every consequence may be carried out twice
and each is safe to repeat:

- the outcome event: its `event_id` is deterministic per (document, version, outcome, attempt) and
  its `occurred_at` is the change's own time, so a change read twice publishes the same event again
  and consumers de-duplicate on `event_id` (schemas/outcome-event.v1.json says so);
- the PDF fetch request: a fetch stores the provider's PDF under the document's own key and records
  it only when it changed (services/pdf.py), so a second request downloads once more, nothing else;
- the first KSeF poll: each request starts a chain of polls with its own id, and the poller keeps
  only the first chain that records a state for the document (services/ksef.py), so a change read
  twice ends in one chain;
- the audit entry: keyed by the note's time and digest (AuditTrail.write_note), so the same note
  written again is the same item;
- the export message of a document the settlement released (surely absent at the provider): its
  de-duplication id is the change's own (services.operations.queue_export, `once_per`), so the same
  change handed over within SQS's 5 minutes is queued once; later, a second message is harmless -
  the export claims the record before it sends, and finds it sending or exported;
- the export messages of the corrections held for a document that became exported (listed on its
  record, `waiting_corrections`): each correction's record is read and queued only while it still
  waits for this document, with the original's change as its de-duplication id; a second message is
  harmless in the same way.

Order per document holds: a shard's changes come in stream order, which is the order of the writes
to each item, and a batch stops at its first failure (entrypoints/record_changes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from invoice_export.domain.account_settings import KsefMode
from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.record_changes import Consequences, consequences, reported_document_id, still_waiting_for
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.services.events import (
    Outcome,
    OutcomeError,
    OutcomeEvent,
    OutcomePublisher,
    document_figures,
    document_identity,
)
from invoice_export.services.ksef import clearance_of
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import AuditTrail
from invoice_export.storage.documents import DocumentStore

LinkMaker = Callable[[str, str], str]
DocumentTask = Callable[[str, str], None]  # (account id, document id)


class ExportQueuer(Protocol):
    """Puts a message on the export queue (services.operations.queue_export, wired by platform.runtime)."""

    def __call__(self, message: ExportMessage, *, once_per: str | None = None) -> None: ...


class RecordChangeService:
    def __init__(self, *, accounts: AccountStore, documents: DocumentStore, publisher: OutcomePublisher,
                 make_link: LinkMaker, request_pdf: DocumentTask, start_ksef_poll: DocumentTask,
                 queue_export: ExportQueuer, audit: AuditTrail | None) -> None:
        self.accounts = accounts
        self.documents = documents  # read only: the corrections held for a document
        self.publisher = publisher
        self.make_link = make_link
        self.request_pdf = request_pdf
        self.start_ksef_poll = start_ksef_poll
        self.queue_export = queue_export
        self.audit = audit

    def handle(self, old: DocumentRecord | None, new: DocumentRecord | None) -> Consequences:
        """Carry out what the change from `old` to `new` calls for; returns what that was."""
        then = consequences(old, new)
        if new is None or not then.anything:
            return then
        self._tell(then, new)
        self._follow_up(then, new)
        return then

    def _tell(self, then: Consequences, new: DocumentRecord) -> None:
        """The change's audit entry and its events (outcome, final KSeF/e-Factura state)."""
        if then.audit_note and self.audit is not None:
            self.audit.write_note(new.account_id, new.document_id, then.audit_note)
        if then.outcome is not None:
            self.publisher.publish(self._event(Outcome(then.outcome), new))
        if then.clearance_state is not None:
            self.publisher.publish(self._clearance_event(then.clearance_state, new))

    def _follow_up(self, then: Consequences, new: DocumentRecord) -> None:
        """The work the change starts: the PDF, the clearance poll, export messages (the document released
        by a settlement, the corrections that waited for it)."""
        if then.request_pdf:
            self.request_pdf(new.account_id, new.document_id)
        if then.start_ksef_poll:
            settings = self.accounts.get(new.account_id)
            if settings is not None and settings.ksef != KsefMode.OFF:
                self.start_ksef_poll(new.account_id, new.document_id)
        if then.send_again and (document := new.parsed_document()) is not None:
            self.queue_export(ExportMessage(account_id=new.account_id, trigger=Trigger.RETRY, document=document),
                              once_per=new.updated_at)  # the change's time: the same change, the same id
        for correction_id in then.send_waiting_corrections:
            self._send_waiting_correction(new, correction_id)

    def _send_waiting_correction(self, original: DocumentRecord, correction_id: str) -> None:
        """Queue a correction held for `original`, now exported, if it still waits for it."""
        correction = self.documents.get(original.account_id, correction_id)
        if not still_waiting_for(correction, original.document_id):
            return  # sent by a later delivery, failed, or a newer version corrects another document
        assert correction is not None and (document := correction.parsed_document()) is not None
        # The original's change: handed over again, it queues the same message once (SQS's 5 minutes).
        self.queue_export(ExportMessage(account_id=original.account_id, trigger=Trigger.RETRY, document=document),
                          once_per=f"{original.document_id} exported {original.updated_at}")

    def _event(self, outcome: Outcome, record: DocumentRecord) -> OutcomeEvent:
        document_id = reported_document_id(record)
        # A message we could not read has no version of a document.
        version = None if record.raw_message is not None else record.document_version
        link = None
        if outcome == Outcome.EXPORTED:
            settings = self.accounts.get(record.account_id)
            if settings is not None and settings.show_provider_document:
                link = self.make_link(record.account_id, record.document_id)
        error = None
        if record.last_error is not None and record.status != Status.EXPORTED:
            e = record.last_error
            error = OutcomeError(code=e.code, message=e.message, fix=e.fix, retryable=e.retryable)
        return OutcomeEvent.build(outcome, record.account_id, document_id, attempt=record.attempts,
                                  document_version=version, customer_link=link, error=error,
                                  occurred_at=record.updated_at, **document_identity(record),
                                  **document_figures(record))

    def _clearance_event(self, state: str, record: DocumentRecord) -> OutcomeEvent:
        """A final KSeF or e-Factura state's event: its number, and its error (refused, or no final
        answer) or its warning (the provider's remark)."""
        clearance = clearance_of(record.provider)
        message = record.ksef_message
        succeeded = state in ("accepted", "submitted")
        error = None if succeeded else OutcomeError(code=f"{clearance.prefix}_{state}", message=message or state,
                                                    fix=clearance.fix, retryable=False)
        return OutcomeEvent.build(clearance.outcome(state), record.account_id, reported_document_id(record),
                                  document_version=record.document_version, error=error,
                                  warnings=[message] if succeeded and message else [],
                                  occurred_at=record.updated_at, **{clearance.number_field: record.ksef_number},
                                  **document_identity(record))

