"""Document records in DynamoDB: one item per document, every status change a conditional write.

The states and what each means are in domain.records; this module only stores them, so two workers
can never both send a document and an exported record can never map to a second provider document.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, NamedTuple

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.records import SENDABLE, DocumentRecord, PdfCopy, RecordedError, Status
from invoice_export.storage.paging import all_items


class RejectedMessage(NamedTuple):
    document_key: str  # the document id, or `<document id>#rejected:<message id>` beside another record
    event_sent: bool  # its failed event went out already (the message was rejected before)


class Registration(StrEnum):
    NEW = "new"
    REPLACED = "replaced"  # a newer version replaced a pending or failed one
    SAME = "same"  # this version is already stored
    STALE = "stale"  # an older version than the stored one
    LOCKED = "locked"  # sending, exported or in doubt: the stored version is final


class DocumentStore:
    def __init__(self, table: Any) -> None:
        self.table = table  # boto3 DynamoDB Table resource

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

    # ---------------------------------------------------------------- writes

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
        try:
            item = {**_key(message.account_id, doc.document_id), **_status_fields(message.account_id, Status.PENDING),
                    **fields, "attempts": 0, "received_at": now, "updated_at": now}
            # A refused put returns the stored item (read consistently, at the check): no second read.
            self.table.put_item(Item={k: v for k, v in item.items() if v is not None},
                                ConditionExpression=Attr("document_id").not_exists(),
                                ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return Registration.NEW, DocumentRecord.model_validate(item)
        except ClientError as exc:
            _raise_unless_condition_failed(exc)
            stored = exc.response.get("Item")
        current = (DocumentRecord.model_validate(_plain(_from_wire(stored))) if stored
                   else self.get(message.account_id, doc.document_id))
        assert current is not None
        if current.status not in SENDABLE:
            return Registration.LOCKED, current
        if doc.version < current.document_version:
            return Registration.STALE, current
        if doc.version == current.document_version and current.document is not None:
            return Registration.SAME, current
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

    def claim(self, account_id: str, document_id: str, attempt_id: str) -> tuple[bool, DocumentRecord]:
        """Move pending/failed -> sending. Returns (claimed, record); not claimed shows what holds it."""
        record = self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.SENDING), "send_attempt_id": attempt_id, "updated_at": now_iso()},
            condition=Attr("status").is_in([s.value for s in SENDABLE]),
            add={"attempts": 1},
        )
        if record is not None:
            return True, record
        current = self.get(account_id, document_id)
        assert current is not None
        return False, current

    def continue_interrupted(self, account_id: str, document_id: str, attempt_id: str) -> DocumentRecord | None:
        """Take over a `sending` record left by an interrupted attempt (after the provider look-up)."""
        return self._update(
            account_id, document_id, {"send_attempt_id": attempt_id, "updated_at": now_iso()},
            condition=Attr("status").eq(Status.SENDING.value), add={"attempts": 1})

    def release_claim(self, account_id: str, document_id: str, attempt_id: str,
                      error: RecordedError) -> DocumentRecord | None:
        """sending -> pending: the provider surely created nothing (e.g. it answered 503 or 429)."""
        return self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.PENDING), "last_error": error.model_dump(), "updated_at": now_iso()},
            condition=Attr("status").eq(Status.SENDING.value) & Attr("send_attempt_id").eq(attempt_id))

    def mark_exported(self, account_id: str, document_id: str, *, provider: str, provider_document_id: str,
                      provider_number: str, provider_series: str | None,
                      warnings: list[str], drift: list[dict[str, str]],
                      vat_in_pln: dict[str, str] | None = None) -> DocumentRecord | None:
        """sending -> exported. Refuses (None) if the record already maps to a provider document."""
        now = now_iso()
        return self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.EXPORTED), "provider": provider,
             "provider_document_id": provider_document_id, "provider_number": provider_number,
             **({"provider_series": provider_series} if provider_series is not None else {}),
             "warnings": warnings, "readback_drift": drift, "exported_at": now, "updated_at": now,
             **({"vat_in_pln": vat_in_pln} if vat_in_pln is not None else {})},
            condition=Attr("status").eq(Status.SENDING.value) & Attr("provider_document_id").not_exists(),
            remove=("last_error",),
        )

    def set_provider_number(self, account_id: str, document_id: str, provider_number: str) -> DocumentRecord | None:
        """The number of an exported document created without it (read after the create); a number
        once recorded is never replaced (None then)."""
        return self._update(account_id, document_id, {"provider_number": provider_number, "updated_at": now_iso()},
                            condition=Attr("status").eq(Status.EXPORTED.value)
                            & (Attr("provider_number").not_exists() | Attr("provider_number").eq("")))

    def hold(self, account_id: str, document_id: str, error: RecordedError) -> DocumentRecord | None:
        """pending/failed -> pending with the reason it waits (its account is paused until reconnected)."""
        return self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.PENDING), "last_error": error.model_dump(), "updated_at": now_iso()},
            condition=Attr("status").is_in([s.value for s in SENDABLE]))

    def mark_failed(self, account_id: str, document_id: str, error: RecordedError, *,
                    only_from: tuple[Status, ...] = (Status.PENDING, Status.SENDING, Status.FAILED),
                    event_pending: bool = False) -> DocumentRecord | None:
        """-> failed, from any status in `only_from`; None when the record is in none of them.
        `event_pending`: its outcome event is published after this write (see outcome_event_pending)."""
        return self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.FAILED), "last_error": error.model_dump(), "updated_at": now_iso(),
             **_event_pending(event_pending)},
            condition=Attr("status").is_in([s.value for s in only_from]),
            remove=() if event_pending else ("outcome_event_pending",),
        )

    def mark_in_doubt(self, account_id: str, document_id: str, error: RecordedError, *,
                      event_pending: bool = False) -> DocumentRecord | None:
        return self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.IN_DOUBT), "last_error": error.model_dump(),
             "updated_at": now_iso(), **_event_pending(event_pending)},
            condition=Attr("status").eq(Status.SENDING.value),
            remove=() if event_pending else ("outcome_event_pending",),
        )

    def set_outcome_event_sent(self, account_id: str, document_id: str) -> None:
        self._update(account_id, document_id, {"updated_at": now_iso()}, condition=Attr("document_id").exists(),
                     remove=("outcome_event_pending",), read_back=False)

    def settle_in_doubt(self, account_id: str, document_id: str, *, provider: str | None,
                        provider_document_id: str, provider_number: str) -> DocumentRecord | None:
        """in_doubt -> exported, with the provider document an operator found."""
        now = now_iso()
        return self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.EXPORTED), "provider_document_id": provider_document_id,
             "provider_number": provider_number, "exported_at": now, "updated_at": now,
             **({"provider": provider} if provider else {})},
            condition=Attr("status").eq(Status.IN_DOUBT.value) & Attr("provider_document_id").not_exists(),
            remove=("last_error",))

    def release_in_doubt(self, account_id: str, document_id: str, error: RecordedError) -> DocumentRecord | None:
        """in_doubt -> failed: an operator confirmed the provider does not have it, so it may be sent."""
        return self._update(
            account_id, document_id,
            {**_status_fields(account_id, Status.FAILED), "last_error": error.model_dump(), "updated_at": now_iso()},
            condition=Attr("status").eq(Status.IN_DOUBT.value), remove=("outcome_event_pending",))

    def record_rejected_message(self, account_id: str, document_id: str, raw_message: str,
                                error: RecordedError, *, message_id: str) -> RejectedMessage:
        """Keep a message we could not read, so nothing is lost and an operator can see why.

        It takes the document's own key only if nothing else is stored there: a broken re-send must
        never replace a record that maps an exported document or holds a valid version. Otherwise it
        is kept beside that record, under `<document_id>#rejected:<message_id>`.

        Once per message: the same message again (a redelivery, or the DLQ check finding it) changes
        nothing, and the answer says whether its failed event went out already.
        """
        now = now_iso()
        item = {**_status_fields(account_id, Status.FAILED), "raw_message": raw_message,
                "last_error": error.model_dump(), "attempts": 0, "received_at": now, "updated_at": now,
                "rejected_message_id": message_id}
        beside = f"{document_id}#rejected:{message_id}"
        tries = (
            # Another message with the same broken body may take over its record (it gets its own event).
            (document_id, Attr("document_id").not_exists()
             | (Attr("raw_message").eq(raw_message) & ~Attr("rejected_message_id").eq(message_id))),
            (beside, Attr("document_id").not_exists()),
        )
        for key, condition in tries:
            try:
                self.table.put_item(Item={**_key(account_id, key), **item}, ConditionExpression=condition,
                                    ReturnValuesOnConditionCheckFailure="ALL_OLD")
                return RejectedMessage(document_key=key, event_sent=False)
            except ClientError as exc:
                _raise_unless_condition_failed(exc)
                stored = _from_wire(exc.response.get("Item") or {})
            # The key beside is this message's own: whatever is stored there is its earlier record.
            if key == beside or stored.get("rejected_message_id") == message_id:
                return RejectedMessage(document_key=key, event_sent=bool(stored.get("rejection_event_sent")))
        raise AssertionError("unreachable: the key beside is either free or this message's")

    def set_rejection_event_sent(self, account_id: str, document_key: str) -> None:
        self._update(account_id, document_key, {"rejection_event_sent": True},
                     condition=Attr("document_id").exists(), read_back=False)

    def set_exported_event_sent(self, account_id: str, document_id: str) -> None:
        self._update(account_id, document_id, {"exported_event_sent": True}, condition=Attr("document_id").exists(),
                     read_back=False)

    def record_ksef(self, account_id: str, document_id: str, status: str, *, ksef_number: str | None = None,
                    message: str | None = None, also_final: tuple[str, ...] = ()) -> DocumentRecord | None:
        """The KSeF state read back from the provider; a final state (or one of `also_final`) is never
        overwritten."""
        values: dict[str, Any] = {"ksef_status": status, "updated_at": now_iso()}
        if ksef_number:
            values["ksef_number"] = ksef_number
        if message:
            values["ksef_message"] = message
        final = ["accepted", "rejected", "not_applicable", "submitted", *also_final]
        return self._update(account_id, document_id, values,
                            condition=Attr("status").eq(Status.EXPORTED.value)
                            & (Attr("ksef_status").not_exists() | ~Attr("ksef_status").is_in(final)))

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

    def _update(self, account_id: str, document_id: str, values: dict[str, Any], *, condition: Any,
                add: dict[str, int] | None = None, remove: tuple[str, ...] = (),
                read_back: bool = True) -> DocumentRecord | None:
        """One conditional UpdateItem; None when the condition did not hold. Without `read_back` the
        stored item is not returned (nor parsed): None either way."""
        names: dict[str, str] = {}
        vals: dict[str, Any] = {}
        sets = []
        for i, (name, value) in enumerate(values.items()):
            names[f"#s{i}"] = name
            vals[f":s{i}"] = value
            sets.append(f"#s{i} = :s{i}")
        expression = "SET " + ", ".join(sets)
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


def _key(account_id: str, document_id: str) -> dict[str, str]:
    return {"account_id": account_id, "document_id": document_id}


def _event_pending(pending: bool) -> dict[str, Any]:
    return {"outcome_event_pending": True} if pending else {}


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
    """DynamoDB returns numbers as Decimal; our records only keep integers as numbers."""
    return json.loads(json.dumps(item, default=lambda v: int(v)))
