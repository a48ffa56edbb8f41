"""What follows from a change of a document record: a pure decision, no I/O.

The document record is the single source (domain.records): the export function claims, calls the
provider and settles the record; everything a settled record calls for is read from the table's
change stream (DynamoDB Streams, entrypoints/record_changes.py) as the record before and after one
write, and decided here:

    the record became exported                 -> `exported` event, the PDF fetch (none stored yet),
                                                  the first KSeF poll (if the account's mode asks);
                                                  created without its number (`number_unread`), the
                                                  event waits until the number is recorded
    it became failed, or failed again          -> `failed` event (the recorded error)
      with another error
    it became in doubt                         -> `in_doubt` event
    it was held for its paused account         -> `pending` event (error account_paused)
    a correction was held for its original     -> `pending` event (error waiting_for_original)
      (on its way: pending, sending, in doubt)
    it became exported with corrections held   -> each one's export message (trigger `retry`), if it
      for it (`waiting_corrections`)              still waits for this document (`still_waiting_for`)
    the settlement released it (in doubt ->    -> its export message again (trigger `retry`), so the
      pending, error requeued_after_settlement)   write alone sends it: a settlement dying right after
                                                  it loses nothing
    its KSeF state became final                -> `ksef_accepted` / `ksef_rejected` /
                                                  `ksef_unconfirmed` / `ksef_submitted` event (for a
                                                  provider reporting Romania's e-Factura instead, the
                                                  `efactura_*` one: services/ksef.py, Clearance)
    the write carried an audit note            -> that audit entry

Anything else (a document received, claimed, released after a 503 - its message is still on the
queue -, its PDF stored, a KSeF poll still pending, a record deleted) calls for nothing. A change is
read at least once: each consequence is idempotent where it is carried out
(services/record_changes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from invoice_export.domain.export_decision import PAUSED_CODE, REQUEUED_CODE, WAITING_CODE
from invoice_export.domain.records import DocumentRecord, Status

KSEF_KINDS = ("invoice", "correction")  # receipts never go to KSeF
# The KSeF (or e-Factura) states recorded as final that are announced (services/ksef.py); not_applicable is not.
ANNOUNCED_CLEARANCE_STATES = ("accepted", "rejected", "unconfirmed", "submitted")
STATUS_OUTCOMES = {Status.EXPORTED: "exported", Status.FAILED: "failed", Status.IN_DOUBT: "in_doubt"}
# Why a document is held pending, each announced in a `pending` event.
HELD_CODES = (PAUSED_CODE, WAITING_CODE)
# A record of a message we could not read, kept beside another record of its document.
REJECTED_SUFFIX = "#rejected:"


@dataclass(frozen=True)
class Consequences:
    # The outcome event's `outcome` (services.events.Outcome's value), None: no event.
    outcome: str | None = None
    # The KSeF / e-Factura state that became final: its event (the provider's clearance system names it).
    clearance_state: str | None = None
    request_pdf: bool = False
    # The document may go to KSeF: its first poll is started if its account's KSeF mode is not off.
    start_ksef_poll: bool = False
    audit_note: str | None = None  # the audit entry the write carried (storage.audit: JSON text)
    # Released by the settlement to be sent again: its export message is queued (no message was left).
    send_again: bool = False
    # Exported with corrections held for it: theirs are queued (each only if it still waits for it).
    send_waiting_corrections: tuple[str, ...] = ()

    @property
    def anything(self) -> bool:
        return bool(self.outcome or self.clearance_state or self.request_pdf or self.start_ksef_poll
                    or self.audit_note or self.send_again or self.send_waiting_corrections)


def consequences(old: DocumentRecord | None, new: DocumentRecord | None) -> Consequences:
    """What the change from `old` to `new` calls for (None: no record before / after)."""
    if new is None:  # deleted (tenant data deletion): nothing to say about it
        return Consequences()
    note = new.audit_note if new.audit_note and new.audit_note != (old.audit_note if old else None) else None
    became_exported = new.status == Status.EXPORTED and (old is None or old.status != Status.EXPORTED)
    return Consequences(
        outcome=_outcome(old, new),
        clearance_state=_clearance_state(old, new),
        request_pdf=became_exported and new.pdf is None,
        start_ksef_poll=became_exported and new.kind in KSEF_KINDS,
        audit_note=note,
        send_again=_released_to_send_again(old, new),
        # Told by the change to exported (a replay's sweep tells it again: a second message is harmless).
        send_waiting_corrections=tuple(sorted(new.waiting_corrections)) if became_exported else (),
    )


def _outcome(old: DocumentRecord | None, new: DocumentRecord) -> str | None:
    """The outcome event the change calls for: a status with an outcome reached (or reached anew), or a
    document held pending for a new reason; None for any other change."""
    if new.status in STATUS_OUTCOMES and not new.number_unread and _reached_anew(old, new):
        return STATUS_OUTCOMES[new.status]
    held = new.status == Status.PENDING and new.last_error is not None and new.last_error.code in HELD_CODES
    if held and (old is None or old.last_error != new.last_error):
        return "pending"
    return None


def _reached_anew(old: DocumentRecord | None, new: DocumentRecord) -> bool:
    """Whether `new`'s status is news: changed, failed again after a retry (a new attempt with its own
    error, e.g. fixed data refused anew), or exported with the number read only now (the event waited)."""
    if old is None or old.status != new.status:
        return True
    failed_again = new.status == Status.FAILED and old.last_error != new.last_error
    return failed_again or old.number_unread


def _released_to_send_again(old: DocumentRecord | None, new: DocumentRecord) -> bool:
    """The settlement's requeue_in_doubt (the one step from in doubt to pending), told by the reason it
    records rather than by the record before: a record told again as it is (the replay's sweep, no record
    before) is sent again too - a second message is harmless, the export claims the record first."""
    released = new.status == Status.PENDING and new.last_error is not None and new.last_error.code == REQUEUED_CODE
    return released and (old is None or old.status != Status.PENDING)


def still_waiting_for(correction: DocumentRecord | None, original_id: str) -> bool:
    """Whether a correction listed on `original_id`'s record still waits for it: pending, held for its
    original, and still correcting that one (a newer version may correct another). Anything else - sent
    meanwhile by a later delivery, failed, gone - is left as it is."""
    if correction is None or correction.status != Status.PENDING or correction.last_error is None:
        return False
    document = correction.parsed_document() if correction.last_error.code == WAITING_CODE else None
    return document is not None and document.correction is not None and (
        document.correction.corrected_document_id == original_id)


def _clearance_state(old: DocumentRecord | None, new: DocumentRecord) -> str | None:
    final = new.status == Status.EXPORTED and new.ksef_status in ANNOUNCED_CLEARANCE_STATES
    return new.ksef_status if final and (old is None or old.ksef_status != new.ksef_status) else None


def reported_document_id(record: DocumentRecord) -> str:
    """The document id an event names: a rejected message kept beside its document's record is the
    document's (`<document id>#rejected:<message id>` -> `<document id>`)."""
    return record.document_id.split(REJECTED_SUFFIX, 1)[0]
