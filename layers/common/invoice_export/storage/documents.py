"""Document records in DynamoDB: one item per document, every status change a conditional write.

The states and the one table of allowed changes are in domain.records; `DocumentStore.transition`
is the only write that sets `status`, and its condition comes from that table (the step's source
states and guard), so two workers can never both send a document and an exported record can never
map to a second provider document. The named methods (claim, mark_exported, ...) are that write
with the fields each step records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.errors import TransientError
from invoice_export.domain.own_numbers import DuplicateNumber, NumberClaim
from invoice_export.domain.records import (
    ON_ITS_WAY,
    SENDABLE,
    STEPS,
    DocumentRecord,
    Guard,
    PdfCopy,
    RecordedError,
    Registration,
    Status,
    Step,
    registration_of,
)
from invoice_export.storage.own_numbers import OwnNumberStore, holder_in
from invoice_export.storage.paging import all_items
from invoice_export.storage.transactions import CONDITION_FAILED, CONFLICT, cancellation_reasons, condition_parts

# The key (own_numbers.NumberClaim.key) of the number of ours the record was last claimed with; absent
# on records never claimed with one (the provider's numbering, or claimed before numbers were kept).
CLAIMED_NUMBER = "claimed_number_key"


class RejectedMessage(NamedTuple):
    document_key: str  # the document id, or `<document id>#rejected:<message id>` beside another record
    new: bool  # recorded now; False: the message was rejected before (its record is there already)


class DocumentStore:
    def __init__(self, table: Any, numbers: OwnNumberStore | None = None) -> None:
        self.table = table  # boto3 DynamoDB Table resource
        self.numbers = numbers  # our numbers in use (own_numbers.py); None where a function claims none

    # ---------------------------------------------------------------- reads

    def get(self, account_id: str, document_id: str) -> DocumentRecord | None:
        item = self.table.get_item(Key=_key(account_id, document_id), ConsistentRead=True).get("Item")
        return DocumentRecord.model_validate(_plain(item)) if item else None

    def list_by_status(self, account_id: str, status: Status, limit: int = 100) -> list[DocumentRecord]:
        response = self.table.query(
            IndexName="by_account_status",
            KeyConditionExpression=Key("account_status").eq(f"{account_id}#{status.value}"),
            Limit=limit,
        )
        records = (self.get(account_id, item["document_id"]) for item in response.get("Items", []))
        return [r for r in records if r is not None and r.status == status]

    def page_by_status(self, account_id: str, status: Status, *, start_key: dict[str, Any] | None = None,
                       page_size: int = 100) -> tuple[list[DocumentRecord], dict[str, Any] | None]:
        """One page of an account's documents in `status`, oldest change first, and the key to go on from.

        The key is DynamoDB's own (not an offset): records leaving the status meanwhile skip nothing.
        """
        request: dict[str, Any] = {
            "IndexName": "by_account_status",
            "KeyConditionExpression": Key("account_status").eq(f"{account_id}#{status.value}"),
            "Limit": page_size,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = self.table.query(**request)
        records = self.get_many(account_id, [item["document_id"] for item in response.get("Items", [])])
        return [r for r in records if r.status == status], response.get("LastEvaluatedKey")

    def changed_since(self, account_id: str, status: Status, since: str) -> list[DocumentRecord]:
        """An account's documents in `status` whose record last changed at `since` or later (the index's
        range key), read consistently from the table."""
        items = all_items(self.table.query, IndexName="by_account_status",
                          KeyConditionExpression=Key("account_status").eq(f"{account_id}#{status.value}")
                          & Key("updated_at").gte(since))
        records = self.get_many(account_id, [item["document_id"] for item in items])
        return [record for record in records if record.status == status]

    def exported_since(self, account_id: str, since: str) -> list[DocumentRecord]:
        """The account's exported records last changed at or after `since` (ISO time), every page."""
        return self.changed_since(account_id, Status.EXPORTED, since)

    def account_documents(self, account_id: str) -> list[DocumentRecord]:
        """Every record of one account (reconciliation, tenant data deletion), page by page."""
        items = all_items(self.table.query, KeyConditionExpression=Key("account_id").eq(account_id),
                          ConsistentRead=True)
        return [DocumentRecord.model_validate(_plain(item)) for item in items]

    def get_many(self, account_id: str, document_ids: list[str]) -> list[DocumentRecord]:
        """Several records of one account in one round trip per 100 (consistent reads), in the given order."""
        found: dict[str, DocumentRecord] = {}
        for start in range(0, len(document_ids), 100):
            keys = [_key(account_id, d) for d in dict.fromkeys(document_ids[start:start + 100])]
            while keys:
                response = self.table.meta.client.batch_get_item(
                    RequestItems={self.table.name: {"Keys": keys, "ConsistentRead": True}})
                for item in response["Responses"].get(self.table.name, []):
                    record = DocumentRecord.model_validate(_plain(item))
                    found[record.document_id] = record
                keys = response.get("UnprocessedKeys", {}).get(self.table.name, {}).get("Keys", [])
        return [found[d] for d in document_ids if d in found]

    # ---------------------------------------------------------------- status changes (domain.records.TRANSITIONS)

    def transition(self, account_id: str, document_id: str, step: Step, *, values: Mapping[str, Any] | None = None,
                   add: Mapping[str, int] | None = None, remove: tuple[str, ...] = (),
                   attempt_id: str | None = None, number: NumberClaim | None = None,
                   known: DocumentRecord | None = None) -> DocumentRecord | None:
        """Take one step of the lifecycle table in one conditional write, with the fields it records.

        Refused (None) unless the record is in one of the step's source states and passes its guard
        (`attempt_id` for Guard.SAME_ATTEMPT). A step that creates the record (RECEIVE, REJECT) writes
        `values` as the whole record, under the same condition. `known`: the record as the caller last
        read it, for a step claiming our number (a transaction returns no item): the answer is then that
        record with this step's fields, instead of a second read."""
        if values and {"status", "account_status"} & set(values):
            raise ValueError("the status is the step's target (domain.records.TRANSITIONS), never a plain value")
        if STEPS[step].creates:
            written, _ = self._create(account_id, document_id, step, dict(values or {}))
            return written
        fields = {**_status_fields(account_id, STEPS[step].target), **(values or {})}
        condition = _step_condition(step, values or {}, attempt_id)
        if number is not None:  # claiming our number for the document in the same write (CLAIM, TAKE_OVER)
            return self._update_claiming_number(account_id, document_id, fields, condition, number, add=add,
                                                known=known)
        return self._update(account_id, document_id, fields, condition=condition, add=add, remove=remove)

    def register(self, message: ExportMessage) -> tuple[Registration, DocumentRecord]:
        """Store a received document version: new, replacing a pending/failed one, or leave it."""
        doc = message.document
        fields = {
            "document_version": doc.version,
            "kind": doc.kind.value,
            "number": doc.number,
            "series": doc.series,
            "order_id": doc.order_id,
            "document": doc.model_dump_json(),
        }
        now = now_iso()
        created, stored = self._create(message.account_id, doc.document_id, Step.RECEIVE,
                                       {**fields, "attempts": 0, "received_at": now, "updated_at": now})
        if created is not None:
            return Registration.NEW, created
        # A refused create returns the stored item (read consistently, at the check): no second read.
        current = (DocumentRecord.model_validate(_plain(stored)) if stored
                   else self.get(message.account_id, doc.document_id))
        assert current is not None
        registration = registration_of(current, doc.version)
        if registration != Registration.REPLACED:
            return registration, current
        # Not a status change: the newer version's fields, while the record is still sendable.
        updated = self._update(
            message.account_id, doc.document_id,
            {**fields, "updated_at": now},
            condition=Attr("status").is_in([s.value for s in SENDABLE])
            & (Attr("document_version").lt(doc.version) | Attr("document").not_exists()),
        )
        if updated is None:  # changed meanwhile: report what is stored now
            current = self.get(message.account_id, doc.document_id)
            assert current is not None
            return Registration.LOCKED, current
        return Registration.REPLACED, updated

    def claim(self, account_id: str, document_id: str, attempt_id: str, number: NumberClaim | None = None,
              known: DocumentRecord | None = None, *,
              numbering: dict[str, str] | None = None) -> tuple[bool, DocumentRecord]:
        """Move pending/failed -> sending. Returns (claimed, record); not claimed shows what holds it.

        `number`: our number the document goes out with, claimed for it in the same write; raises
        DuplicateNumber (nothing written) while another document holds it. `known`: see `transition`.
        `numbering`: the provider's next numbers just before the create (DocumentRecord.numbering_before)."""
        now = now_iso()
        record = self.transition(account_id, document_id, Step.CLAIM,
                                 values={"send_attempt_id": attempt_id, "attempt_started_at": now, "updated_at": now,
                                         **_numbering(attempt_id, numbering)},
                                 add={"attempts": 1}, number=number, known=known)
        if record is not None:
            return True, record
        current = self.get(account_id, document_id)
        assert current is not None
        return False, current

    def continue_interrupted(self, account_id: str, document_id: str, attempt_id: str,
                             number: NumberClaim | None = None, *, settlement: dict[str, Any] | None = None,
                             numbering: dict[str, str] | None = None) -> DocumentRecord | None:
        """Take over a `sending` record left by an interrupted attempt (after the provider was asked: its
        answer is `settlement`). `number`, `numbering`: as for `claim`."""
        now = now_iso()
        return self.transition(account_id, document_id, Step.TAKE_OVER,
                               values={"send_attempt_id": attempt_id, "attempt_started_at": now, "updated_at": now,
                                       **_settlement(settlement), **_numbering(attempt_id, numbering)},
                               add={"attempts": 1}, number=number)

    def release_claim(self, account_id: str, document_id: str, attempt_id: str,
                      error: RecordedError) -> DocumentRecord | None:
        """sending -> pending: the provider surely created nothing (e.g. it answered 503 or 429)."""
        return self.transition(account_id, document_id, Step.RELEASE, attempt_id=attempt_id,
                               values={"last_error": error.model_dump(), "updated_at": now_iso()})

    # `audit`: the audit entry of the change (storage.audit.audit_note), carried by the write itself; the
    # record's change stream writes it to the trail (domain.record_changes).

    def mark_exported(self, account_id: str, document_id: str, *, provider: str, provider_document_id: str,
                      provider_number: str, provider_series: str | None,
                      warnings: list[str], drift: list[dict[str, str]],
                      vat_in_pln: dict[str, str] | None = None,
                      vat_split: dict[str, Any] | None = None, number_unread: bool = False,
                      audit: str | None = None, settlement: dict[str, Any] | None = None,
                      vat_in_home_currency: dict[str, str] | None = None) -> DocumentRecord | None:
        """sending -> exported. Refuses (None) if the record already maps to a provider document.
        `number_unread`: created without its number, which is read next (set_provider_number).
        `settlement`: the provider's answer that found it, when an interrupted attempt's document."""
        now = now_iso()
        return self.transition(
            account_id, document_id, Step.EXPORT,
            values={"provider": provider, "provider_document_id": provider_document_id,
                    "provider_number": provider_number,
                    **({"provider_series": provider_series} if provider_series is not None else {}),
                    "warnings": warnings, "readback_drift": drift, "exported_at": now, "updated_at": now,
                    **({"vat_in_pln": vat_in_pln} if vat_in_pln is not None else {}),
                    **({"vat_in_home_currency": vat_in_home_currency} if vat_in_home_currency is not None else {}),
                    **({"vat_split": vat_split} if vat_split is not None else {}),
                    **({"number_unread": True} if number_unread else {}), **_note(audit), **_settlement(settlement)},
            remove=("last_error",))

    def set_provider_number(self, account_id: str, document_id: str, provider_number: str, *,
                            warnings: list[str] | None = None) -> DocumentRecord | None:
        """The number of an exported document created without it (`number_unread`: read after the
        create), or none ("": nothing to read, or it could not be read - `warnings` then say so). Its
        `exported` event waited for this write (domain.record_changes). Done once: None after that."""
        values: dict[str, Any] = {"provider_number": provider_number, "updated_at": now_iso()}
        if warnings is not None:
            values["warnings"] = warnings
        return self._update(account_id, document_id, values,
                            condition=Attr("status").eq(Status.EXPORTED.value) & Attr("number_unread").eq(True),
                            remove=("number_unread",))

    def hold(self, account_id: str, document_id: str, error: RecordedError,
             audit: str | None = None) -> DocumentRecord | None:
        """pending/failed -> pending with the reason it waits (its account is paused until reconnected)."""
        return self.transition(account_id, document_id, Step.HOLD_PAUSED,
                               values={"last_error": error.model_dump(), "updated_at": now_iso(), **_note(audit)})

    def hold_for_original(self, account_id: str, document_id: str, error: RecordedError,
                          audit: str | None = None) -> DocumentRecord | None:
        """pending/failed -> pending with the reason a correction waits: its original is on its way
        (the original's record then lists it: `add_waiting_correction`)."""
        return self.transition(account_id, document_id, Step.HOLD_FOR_ORIGINAL,
                               values={"last_error": error.model_dump(), "updated_at": now_iso(), **_note(audit)})

    def mark_failed(self, account_id: str, document_id: str, error: RecordedError,
                    audit: str | None = None) -> DocumentRecord | None:
        """pending/sending/failed -> failed: a permanent error; None when the record is in none of them."""
        return self._to_outcome(account_id, document_id, Step.FAIL, error, audit)

    def mark_given_up(self, account_id: str, document_id: str, error: RecordedError,
                      audit: str | None = None) -> DocumentRecord | None:
        """pending -> failed on its last delivery (or by the DLQ check)."""
        return self._to_outcome(account_id, document_id, Step.GIVE_UP, error, audit)

    def mark_in_doubt(self, account_id: str, document_id: str, error: RecordedError,
                      audit: str | None = None, settlement: dict[str, Any] | None = None) -> DocumentRecord | None:
        """sending -> in_doubt. `settlement`: the provider's answer that could not decide (the evidence)."""
        return self._to_outcome(account_id, document_id, Step.HOLD_IN_DOUBT, error, audit,
                                values=_settlement(settlement))

    def settle_in_doubt(self, account_id: str, document_id: str, *, provider: str | None,
                        provider_document_id: str, provider_number: str, provider_series: str | None = None,
                        settlement: dict[str, Any] | None = None, audit: str | None = None) -> DocumentRecord | None:
        """in_doubt -> exported, with the provider document an operator or the settlement found. Its
        `exported` event, PDF fetch and first KSeF poll follow from the record's stream."""
        now = now_iso()
        return self.transition(
            account_id, document_id, Step.SETTLE_IN_DOUBT,
            values={"provider_document_id": provider_document_id, "provider_number": provider_number,
                    "exported_at": now, "updated_at": now, **({"provider": provider} if provider else {}),
                    **({"provider_series": provider_series} if provider_series is not None else {}),
                    **_settlement(settlement), **_note(audit)},
            remove=("last_error",))

    def requeue_in_doubt(self, account_id: str, document_id: str, error: RecordedError,
                         settlement: dict[str, Any], audit: str | None = None) -> DocumentRecord | None:
        """in_doubt -> pending: the settlement found it surely absent at the provider; the record's stream
        queues it to be sent again (domain.record_changes, by `error`'s code requeued_after_settlement)."""
        return self.transition(account_id, document_id, Step.REQUEUE_IN_DOUBT,
                               values={"last_error": error.model_dump(), "updated_at": now_iso(),
                                       **_settlement(settlement), **_note(audit)})

    def release_in_doubt(self, account_id: str, document_id: str, error: RecordedError) -> DocumentRecord | None:
        """in_doubt -> failed: an operator confirmed the provider does not have it, so it may be sent."""
        return self.transition(account_id, document_id, Step.RELEASE_IN_DOUBT,
                               values={"last_error": error.model_dump(), "updated_at": now_iso()})

    def record_rejected_message(self, account_id: str, document_id: str, raw_message: str,
                                error: RecordedError, *, message_id: str) -> RejectedMessage:
        """Keep a message we could not read, so nothing is lost and an operator can see why.

        It takes the document's own key only if nothing else is stored there: a broken re-send must
        never replace a record that maps an exported document or holds a valid version. Otherwise it
        is kept beside that record, under `<document_id>#rejected:<message_id>`.

        Once per message: the same message again (a redelivery, or the DLQ check finding it) changes
        nothing, and the answer says so. Its `failed` event follows from the record's stream.
        """
        now = now_iso()
        item = {"raw_message": raw_message, "last_error": error.model_dump(), "attempts": 0, "received_at": now,
                "updated_at": now, "rejected_message_id": message_id}
        beside = f"{document_id}#rejected:{message_id}"
        # Another message with the same broken body may take over its record (it gets its own event):
        # Guard.SAME_UNREADABLE_BODY. The key beside is this message's own.
        for key in (document_id, beside):
            created, stored = self._create(account_id, key, Step.REJECT, item)
            if created is not None:
                return RejectedMessage(document_key=key, new=True)
            # Whatever is stored beside is this message's earlier record.
            if key == beside or (stored or {}).get("rejected_message_id") == message_id:
                return RejectedMessage(document_key=key, new=False)
        raise AssertionError("unreachable: the key beside is either free or this message's")

    def _to_outcome(self, account_id: str, document_id: str, step: Step, error: RecordedError,
                    audit: str | None, values: dict[str, Any] | None = None) -> DocumentRecord | None:
        """A step to failed or in doubt, with its error (and the change's audit entry)."""
        return self.transition(account_id, document_id, step,
                               values={"last_error": error.model_dump(), "updated_at": now_iso(), **_note(audit),
                                       **(values or {})})

    def _create(self, account_id: str, document_id: str, step: Step,
                values: dict[str, Any]) -> tuple[DocumentRecord | None, dict[str, Any] | None]:
        """A step that writes the whole record: (the record, None), or (None, what is stored) when refused."""
        item = {**_key(account_id, document_id), **_status_fields(account_id, STEPS[step].target), **values}
        written, stored = self._put(item, condition=_step_condition(step, values, None))
        return (DocumentRecord.model_validate(item) if written else None), stored

    # ---------------------------------------------------------------- field writes (the status stays)

    def record_provider_task(self, account_id: str, document_id: str, attempt_id: str, task_reference: str) -> None:
        """The creation task an attempt's create started at the provider, kept while the attempt holds the
        claim (its answer was lost after the task was accepted): the task's status settles the attempt."""
        task = {"attempt_id": attempt_id, "reference": task_reference}
        self._update(account_id, document_id, {"provider_task": task},
                     condition=Attr("status").eq(Status.SENDING.value) & Attr("send_attempt_id").eq(attempt_id),
                     read_back=False)

    def add_waiting_correction(self, account_id: str, original_id: str, correction_id: str) -> bool:
        """List a held correction on its original's record (a string set), so the original's change to
        exported queues it (domain.record_changes). Only while the original is still on its way: False
        when it is not any more (exported, failed or gone since it was read), and its change to exported
        may have been read already - the correction is then handled again (services/export.py). Neither
        the status nor `updated_at` changes: a `sending` original's claim keeps its time."""
        return self._update(account_id, original_id, {}, add={"waiting_corrections": {correction_id}},
                            condition=Attr("status").is_in([s.value for s in ON_ITS_WAY])) is not None

    def record_settlement(self, account_id: str, document_id: str, settlement: dict[str, Any], *,
                          audit: str | None = None) -> DocumentRecord | None:
        """A settlement that left the document in doubt: its evidence, and one more try counted."""
        return self._update(account_id, document_id, {"settlement": settlement, "updated_at": now_iso(),
                                                      **_note(audit)},
                            condition=Attr("status").eq(Status.IN_DOUBT.value), add={"settlement_tries": 1})

    def record_ksef(self, account_id: str, document_id: str, status: str, *, ksef_number: str | None = None,
                    message: str | None = None, also_final: tuple[str, ...] = (),
                    audit: str | None = None) -> DocumentRecord | None:
        """The KSeF state read back from the provider; a final state (or one of `also_final`) is never
        overwritten. A final state's event follows from the record's stream (domain.record_changes)."""
        values: dict[str, Any] = {"ksef_status": status, "updated_at": now_iso(), **_note(audit)}
        if ksef_number:
            values["ksef_number"] = ksef_number
        if message:
            values["ksef_message"] = message
        final = ["accepted", "rejected", "not_applicable", "submitted", *also_final]
        return self._update(account_id, document_id, values,
                            condition=Attr("status").eq(Status.EXPORTED.value)
                            & (Attr("ksef_status").not_exists() | ~Attr("ksef_status").is_in(final)))

    def claim_ksef_polling(self, account_id: str, document_id: str, chain: str) -> bool:
        """Make `chain` the document's one chain of KSeF polls; False when another chain has it already
        (its first poll was requested twice: a record change read twice from the stream)."""
        return self._update(account_id, document_id, {"ksef_poll_chain": chain},
                            condition=Attr("status").eq(Status.EXPORTED.value)
                            & (Attr("ksef_poll_chain").not_exists() | Attr("ksef_poll_chain").eq(chain))) is not None

    def count_ksef_resend(self, account_id: str, document_id: str, limit: int) -> bool:
        """Take one of the `limit` KSeF resends allowed for the document; False when none is left."""
        return self._update(account_id, document_id, {"updated_at": now_iso()},
                            condition=Attr("ksef_resends").not_exists() | Attr("ksef_resends").lt(limit),
                            add={"ksef_resends": 1}) is not None

    def claim_ksef_send(self, account_id: str, document_id: str) -> bool:
        """Take the document's one KSeF send, for a provider that cannot report KSeF's answer (so a
        send that may have reached it is never repeated); False when it was taken already."""
        return self._update(account_id, document_id, {"ksef_send_claimed_at": now_iso(), "updated_at": now_iso()},
                            condition=Attr("status").eq(Status.EXPORTED.value)
                            & Attr("ksef_send_claimed_at").not_exists()) is not None

    def release_ksef_send(self, account_id: str, document_id: str) -> None:
        """Give the send back after a failure that never reached the provider, so a later poll sends."""
        self._update(account_id, document_id, {"updated_at": now_iso()},
                     condition=Attr("ksef_send_claimed_at").exists(), remove=("ksef_send_claimed_at",),
                     read_back=False)

    def record_pdf(self, account_id: str, document_id: str, pdf: PdfCopy) -> None:
        self._update(account_id, document_id, {"pdf": pdf.model_dump(exclude_none=True)},
                     condition=Attr("status").eq(Status.EXPORTED.value))

    # ---------------------------------------------------------------- plumbing

    def _update_claiming_number(self, account_id: str, document_id: str, values: dict[str, Any], condition: Any,
                                number: NumberClaim, *, add: Mapping[str, int] | None,
                                known: DocumentRecord | None = None) -> DocumentRecord | None:
        """`_update` (adding an attempt) and the document's claim of `number` in one transaction: None
        when the record's condition did not hold, DuplicateNumber while another document holds the
        number. A holder that let the number go (`_holder_let_go`) has it taken over in the same way."""
        if self.numbers is None:
            raise RuntimeError("no numbers table (NUMBERS_TABLE): our numbers cannot be checked before sending")
        expression, names, vals = _update_expression({**values, CLAIMED_NUMBER: number.key}, dict(add or {}), ())
        update = {"Update": {"TableName": self.table.name, "Key": _key(account_id, document_id),
                             "UpdateExpression": expression, **condition_parts(condition, names, vals)}}
        holder: str | None = None
        for _ in range(4):  # each further round: the number changed hands (or a write collided) meanwhile
            parts = [update, self.numbers.claim_put(account_id, number, document_id, taking_over_from=holder)]
            if holder is not None:
                parts.append(self._holder_let_go(account_id, holder, number))
            try:
                self.table.meta.client.transact_write_items(TransactItems=parts)
                return _applied(known, values, add) if known is not None else self.get(account_id, document_id)
            except ClientError as exc:
                refused = _refused_claim(exc, holder)
            if refused.record_changed:
                return None
            if refused.holder_kept_it:
                raise DuplicateNumber(number.number, document_id, holder or "")
            holder = refused.holder or holder
        raise TransientError(f"number '{number.number}' kept changing hands while this document claimed it",
                             code="concurrent_change")

    def _holder_let_go(self, account_id: str, holder: str, number: NumberClaim) -> dict[str, Any]:
        """The transaction part that checks `holder` let `number` go, so the provider cannot hold a
        document of it with the number:
        - its record is gone, or failed (a failed document is sent anew on retry: nothing of it exists);
        - it was claimed with another number of ours since (a record is claimed again only after its
          attempt created nothing);
        - it is pending and was never claimed with a number (it holds one only by the backfill's record
          of a document sent before: never pending).
        A pending record whose claim of this number was released keeps it: it is retried, first in line.
        A record claimed before numbers were kept, or with the provider's numbering, keeps the number it
        was registered with (the safe side, should the provider's number match)."""
        claimed = Attr(CLAIMED_NUMBER)
        let_go = (Attr("document_id").not_exists() | Attr("status").eq(Status.FAILED.value)
                  | (claimed.exists() & claimed.ne(number.key))
                  | (Attr("status").eq(Status.PENDING.value) & claimed.not_exists()))
        return {"ConditionCheck": {"TableName": self.table.name, "Key": _key(account_id, holder),
                                   **condition_parts(let_go)}}

    def _put(self, item: dict[str, Any], *, condition: Any) -> tuple[bool, dict[str, Any] | None]:
        """One conditional PutItem (absent values left out): (True, None), or (False, the item stored at
        the check, as DynamoDB returns it with the refusal)."""
        try:
            self.table.put_item(Item={k: v for k, v in item.items() if v is not None}, ConditionExpression=condition,
                                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            _raise_unless_condition_failed(exc)
            stored = exc.response.get("Item")
            return False, _from_wire(stored) if stored else None
        return True, None

    def _update(self, account_id: str, document_id: str, values: dict[str, Any], *, condition: Any,
                add: Mapping[str, int | set[str]] | None = None, remove: tuple[str, ...] = (),
                read_back: bool = True) -> DocumentRecord | None:
        """One conditional UpdateItem; None when the condition did not hold. Without `read_back` the
        stored item is not returned (nor parsed): None either way. `add`: a number added to a counter,
        or strings added to a string set."""
        expression, names, vals = _update_expression(values, add, remove)
        try:
            response = self.table.update_item(
                Key=_key(account_id, document_id), UpdateExpression=expression, ConditionExpression=condition,
                ExpressionAttributeNames=names, ExpressionAttributeValues=vals,
                ReturnValues="ALL_NEW" if read_back else "NONE")
        except ClientError as exc:
            _raise_unless_condition_failed(exc)
            return None
        if not read_back:
            return None
        return DocumentRecord.model_validate(_plain(response["Attributes"]))


class _RefusedClaim(NamedTuple):
    record_changed: bool = False  # the document's own condition failed: not claimed, nothing else to say
    holder_kept_it: bool = False  # the holder checked did not let the number go
    holder: str | None = None  # the document the numbers table says holds it (try to take it over)


def _refused_claim(exc: ClientError, holder: str | None) -> _RefusedClaim:
    """Why the claim's transaction was cancelled (its parts: the record, the number, the holder's check);
    re-raised when it is none of these nor a write conflict (which the caller's next round retries)."""
    reasons = cancellation_reasons(exc)
    codes = [reason.get("Code") for reason in reasons]
    if codes[0] == CONDITION_FAILED:
        return _RefusedClaim(record_changed=True)
    if holder is not None and codes[2:] == [CONDITION_FAILED]:
        return _RefusedClaim(holder_kept_it=True)
    if codes[1] == CONDITION_FAILED:
        return _RefusedClaim(holder=holder_in(reasons[1].get("Item") or {}))
    if CONFLICT not in codes:
        raise exc
    return _RefusedClaim()


def _update_expression(values: dict[str, Any], add: Mapping[str, int | set[str]] | None,
                       remove: tuple[str, ...]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """SET `values`, ADD `add`, REMOVE `remove`: the expression, its names and its values."""
    names: dict[str, str] = {}
    vals: dict[str, Any] = {}
    sets = []
    for i, (name, value) in enumerate(values.items()):
        names[f"#s{i}"] = name
        vals[f":s{i}"] = value
        sets.append(f"#s{i} = :s{i}")
    expression = "SET " + ", ".join(sets) if sets else ""
    if add:
        adds = []
        for i, (name, amount) in enumerate(add.items()):
            names[f"#a{i}"] = name
            vals[f":a{i}"] = amount
            adds.append(f"#a{i} :a{i}")
        expression += " ADD " + ", ".join(adds)
    if remove:
        for i, name in enumerate(remove):
            names[f"#r{i}"] = name
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    return expression.strip(), names, vals


def _step_condition(step: Step, values: Mapping[str, Any], attempt_id: str | None) -> Any:
    """The table's condition for `step`: the record is in one of its source states (or absent, for a
    step that creates it) and passes the step's guard."""
    transition = STEPS[step]
    absent = Attr("document_id").not_exists()
    states = [s.value for s in transition.sources if s is not None]
    if not states:
        return absent
    condition = Attr("status").is_in(states)
    if transition.guard is not None:
        condition &= _guard(transition.guard, values, attempt_id)
    return absent | condition if transition.creates else condition


def _guard(guard: Guard, values: Mapping[str, Any], attempt_id: str | None) -> Any:
    if guard == Guard.SAME_ATTEMPT:
        if attempt_id is None:
            raise ValueError("this step is taken only by the attempt holding the claim: name its attempt_id")
        return Attr("send_attempt_id").eq(attempt_id)
    if guard == Guard.NOT_MAPPED:
        return Attr("provider_document_id").not_exists()
    # Guard.SAME_UNREADABLE_BODY
    return Attr("raw_message").eq(values["raw_message"]) & ~Attr("rejected_message_id").eq(
        values["rejected_message_id"])


def _applied(record: DocumentRecord, values: Mapping[str, Any], add: Mapping[str, int] | None) -> DocumentRecord:
    """`record` with an update's fields set and counters added, as the table now holds it."""
    fields = {name: value for name, value in values.items() if name in DocumentRecord.model_fields}
    fields |= {name: getattr(record, name) + amount for name, amount in (add or {}).items()}
    return DocumentRecord.model_validate({**record.model_dump(), **fields})


def record_from_image(image: dict[str, Any] | None) -> DocumentRecord | None:
    """A record as a change-stream image carries it (DynamoDB JSON), None for no image."""
    return DocumentRecord.model_validate(_plain(_from_wire(image))) if image else None


def _key(account_id: str, document_id: str) -> dict[str, str]:
    return {"account_id": account_id, "document_id": document_id}


def _note(audit: str | None) -> dict[str, str]:
    return {"audit_note": audit} if audit else {}


def _numbering(attempt_id: str, numbering: dict[str, str] | None) -> dict[str, Any]:
    """The claim's record of the provider's numbering before its create (none where it keeps none)."""
    return {"numbering_before": {"attempt_id": attempt_id, "next_numbers": numbering}} if numbering else {}


def _settlement(settlement: dict[str, Any] | None) -> dict[str, Any]:
    return {"settlement": settlement} if settlement is not None else {}


def _status_fields(account_id: str, status: Status) -> dict[str, str]:
    return {"status": status.value, "account_status": f"{account_id}#{status.value}"}


def _raise_unless_condition_failed(exc: ClientError) -> None:
    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        raise exc


_deserializer = TypeDeserializer()


def _from_wire(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's wire format (as an error response carries it, untouched by the resource)."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB returns numbers as Decimal; our records only keep integers as numbers (and a string set
    as a sorted list)."""
    return json.loads(json.dumps(item, default=lambda v: sorted(v) if isinstance(v, set) else int(v)))
