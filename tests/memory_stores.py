"""In-memory stand-ins for the core's stores, for tests that prove its rules in milliseconds.

Each has the interface of the store it stands for (storage/*, services.events.OutcomePublisher, the
SQS client calls the bulk exporter makes), and nothing else.

`MemoryDocumentStore` is the production `DocumentStore` with its two DynamoDB calls (a conditional
put, a conditional update) and its reads replaced: every write keeps the production code - the steps
of domain.records.TRANSITIONS and their conditions, built as boto3 conditions - and the conditions
are evaluated here on a dict item instead of by DynamoDB (`holds`). tests/unit/storage/
test_document_store_steps.py walks every transition against both stores, so the two cannot drift.
Like the table's stream, it keeps each write's item before and after (`take_changes`), in order.
"""

from __future__ import annotations

import copy
import operator
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from boto3.dynamodb.conditions import ConditionBase

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.clock import now_iso
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.services.events import OutcomeEvent
from invoice_export.storage.bulk_runs import BulkRun, QuotaCheck, RunDocument, RunStatus
from invoice_export.storage.documents import DocumentStore

_COMPARISONS = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
                ">=": operator.ge}


def holds(condition: ConditionBase, item: dict[str, Any]) -> bool:
    """A boto3 condition evaluated as DynamoDB does on `item` (an absent item is an empty one): a
    comparison with a missing attribute is false, and so NOT of it is true."""
    expression = condition.get_expression()
    kind, operands = expression["operator"], expression["values"]
    if kind in ("AND", "OR"):
        results = [holds(operand, item) for operand in operands]
        return all(results) if kind == "AND" else any(results)
    if kind == "NOT":
        return not holds(operands[0], item)
    name = operands[0].name
    if kind in ("attribute_exists", "attribute_not_exists"):
        return (name in item) == (kind == "attribute_exists")
    if name not in item:
        return False
    if kind == "IN":
        return item[name] in operands[1]
    return _COMPARISONS[kind](item[name], operands[1])


class MemoryDocumentStore(DocumentStore):
    def __init__(self) -> None:
        super().__init__(table=None)
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()  # one write at a time, as DynamoDB applies each to its item
        self._changes: list[tuple[DocumentRecord | None, DocumentRecord]] = []

    def take_changes(self) -> list[tuple[DocumentRecord | None, DocumentRecord]]:
        """The records before and after each write since the last call, in write order (the stream)."""
        with self._lock:
            changes, self._changes = self._changes, []
        return changes

    def _changed(self, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        self._changes.append((DocumentRecord.model_validate(copy.deepcopy(before)) if before else None,
                              DocumentRecord.model_validate(copy.deepcopy(after))))

    # ---------------------------------------------------------------- reads

    def get(self, account_id: str, document_id: str) -> DocumentRecord | None:
        item = self.items.get((account_id, document_id))
        return DocumentRecord.model_validate(copy.deepcopy(item)) if item else None

    def list_by_status(self, account_id: str, status: Status, limit: int = 100) -> list[DocumentRecord]:
        return self._in_status(account_id, status)[:limit]

    def page_by_status(self, account_id: str, status: Status, *, start_key: dict[str, Any] | None = None,
                       page_size: int = 100) -> tuple[list[DocumentRecord], dict[str, Any] | None]:
        """In the index's order (last change, then id); the key is the last one returned, as DynamoDB's."""
        records = self._in_status(account_id, status)
        if start_key:
            after = (start_key["updated_at"], start_key["document_id"])
            records = [r for r in records if (r.updated_at, r.document_id) > after]
        page = records[:page_size]
        last = page[-1] if len(records) > page_size else None
        return page, {"updated_at": last.updated_at, "document_id": last.document_id} if last else None

    def changed_since(self, account_id: str, status: Status, since: str) -> list[DocumentRecord]:
        return [record for record in self._in_status(account_id, status) if record.updated_at >= since]

    def account_documents(self, account_id: str) -> list[DocumentRecord]:
        return [DocumentRecord.model_validate(copy.deepcopy(item))
                for (account, _), item in sorted(self.items.items()) if account == account_id]

    def get_many(self, account_id: str, document_ids: list[str]) -> list[DocumentRecord]:
        return [record for document_id in document_ids if (record := self.get(account_id, document_id))]

    def _in_status(self, account_id: str, status: Status) -> list[DocumentRecord]:
        records = [DocumentRecord.model_validate(copy.deepcopy(item)) for (account, _), item in self.items.items()
                   if account == account_id and item["status"] == status.value]
        return sorted(records, key=lambda r: (r.updated_at, r.document_id))

    # ---------------------------------------------------------------- the two writes

    def _put(self, item: dict[str, Any], *, condition: Any) -> tuple[bool, dict[str, Any] | None]:
        key = (item["account_id"], item["document_id"])
        with self._lock:
            stored = self.items.get(key)
            if not holds(condition, stored or {}):
                return False, copy.deepcopy(stored)
            self.items[key] = {k: copy.deepcopy(v) for k, v in item.items() if v is not None}
            self._changed(stored, self.items[key])
        return True, None

    def _update(self, account_id: str, document_id: str, values: dict[str, Any], *, condition: Any,
                add: dict[str, Any] | None = None, remove: tuple[str, ...] = (),
                read_back: bool = True) -> DocumentRecord | None:
        key = (account_id, document_id)
        with self._lock:
            # As UpdateItem: the condition is checked on the stored item (an empty one when absent).
            before = self.items.get(key)
            item = copy.deepcopy(before or {})
            if not holds(condition, item):
                return None
            item.update({"account_id": account_id, "document_id": document_id, **copy.deepcopy(values)})
            for name, amount in (add or {}).items():  # a counter, or a string set (as DynamoDB's ADD)
                # A set is kept as the DynamoDB store reads it back: a sorted list (storage.documents._plain).
                item[name] = (sorted(set(item.get(name, [])) | amount) if isinstance(amount, set)
                              else item.get(name, 0) + amount)
            for name in remove:
                item.pop(name, None)
            self.items[key] = item
            self._changed(before, item)
        return DocumentRecord.model_validate(copy.deepcopy(item)) if read_back else None


class MemoryAccountStore:
    """storage.accounts.AccountStore's interface: settings and credentials in dicts."""

    def __init__(self) -> None:
        self.settings: dict[str, AccountSettings] = {}
        self.secrets: dict[str, dict[str, Any]] = {}
        self.fresh_credential_reads = 0  # credentials(refresh=True): the second opinion after a refusal

    @contextmanager
    def read_once(self) -> Iterator[None]:
        yield

    def get(self, account_id: str) -> AccountSettings | None:
        return self.settings.get(account_id)

    def put(self, settings: AccountSettings) -> None:
        self.settings[settings.account_id] = settings

    def pause(self, account_id: str) -> bool:
        settings = self.settings.get(account_id)
        if settings is None or settings.status == "needs_reconnect":
            return False
        self.settings[account_id] = settings.model_copy(update={"status": "needs_reconnect"})
        return True

    def list_accounts(self) -> list[AccountSettings]:
        return list(self.settings.values())

    def secret_name(self, account_id: str) -> str:
        return f"memory/{account_id}"

    def credentials(self, account_id: str, *, refresh: bool = False) -> dict[str, Any]:
        self.fresh_credential_reads += refresh
        return dict(self.secrets.get(account_id, {}))

    def save_credentials(self, account_id: str, credentials: dict[str, Any]) -> None:
        self.secrets[account_id] = dict(credentials)


class MemoryBulkRunStore:
    """storage.bulk_runs.BulkRunStore's interface: runs and what each did per document, in dicts."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], BulkRun] = {}
        self.handled_documents: dict[tuple[str, str], dict[str, RunDocument]] = defaultdict(dict)

    def create(self, run: BulkRun) -> bool:
        if (run.account_id, run.run_id) in self.runs:
            return False
        self.runs[(run.account_id, run.run_id)] = run
        return True

    def get(self, account_id: str, run_id: str) -> BulkRun | None:
        return self.runs.get((account_id, run_id))

    def list_runs(self, account_id: str, limit: int = 20) -> list[BulkRun]:
        runs = sorted((run for (account, _), run in self.runs.items() if account == account_id),
                      key=lambda run: run.run_id, reverse=True)
        return runs[:limit]

    def unfinished(self, account_id: str) -> BulkRun | None:
        return next((run for run in self.list_runs(account_id) if run.status == RunStatus.RUNNING), None)

    def record_document(self, account_id: str, run_id: str, document: RunDocument) -> bool:
        return bool(self.record_documents(account_id, run_id, [document]))

    def record_documents(self, account_id: str, run_id: str, documents: list[RunDocument]) -> list[RunDocument]:
        noted = self.handled_documents[(account_id, run_id)]
        new = [d for d in documents if d.document_id not in noted]
        for document in new:
            noted[document.document_id] = document
        counts = {"queued": 0, "held": 0, "skipped": 0}
        for document in new:
            counts[document.outcome if document.outcome in ("queued", "held") else "skipped"] += 1
        run = self.runs[(account_id, run_id)]
        self.runs[(account_id, run_id)] = run.model_copy(update={
            "queued": run.queued + counts["queued"], "held": run.held + counts["held"],
            "skipped": run.skipped + counts["skipped"], "updated_at": now_iso()})
        return new

    def set_quota(self, account_id: str, run_id: str, quota: QuotaCheck | None, note: str | None) -> BulkRun:
        run = self.runs[(account_id, run_id)]
        run = run.model_copy(update={"quota": run.quota or quota, "notes": [*run.notes, *([note] if note else [])],
                                     "updated_at": now_iso()})
        self.runs[(account_id, run_id)] = run
        return run

    def handled(self, account_id: str, run_id: str, document_ids: list[str]) -> set[str]:
        return set(document_ids) & set(self.handled_documents[(account_id, run_id)])

    def save_cursor(self, account_id: str, run_id: str, cursor: str | None) -> None:
        run, now = self.runs[(account_id, run_id)], now_iso()
        done = {"status": RunStatus.QUEUED, "finished_at": now} if cursor is None else {}
        self.runs[(account_id, run_id)] = run.model_copy(update={"cursor": cursor, "updated_at": now, **done})

    def documents(self, account_id: str, run_id: str) -> list[RunDocument]:
        return [d for _, d in sorted(self.handled_documents[(account_id, run_id)].items())]

    def delete_account(self, account_id: str) -> int:
        keys = [key for key in self.runs if key[0] == account_id]
        deleted = sum(1 + len(self.handled_documents.pop(key, {})) for key in keys)
        for key in keys:
            del self.runs[key]
        return deleted


class RecordingEvents:
    """The EventBridge client calls publish_account_paused makes."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # boto3's argument names
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(len(self.entries))}]}


class RecordingPublisher:
    """services.events.OutcomePublisher's interface: the outcome events, in order."""

    def __init__(self) -> None:
        self.events = RecordingEvents()
        self.bus_name = "memory-bus"
        self.published: list[OutcomeEvent] = []

    def publish(self, event: OutcomeEvent) -> None:
        self.published.append(event)

    def outcomes(self, document_id: str) -> list[str]:
        return [event.outcome.value for event in self.published if event.document_id == document_id]


class RecordingQueue:
    """The SQS client calls the bulk exporter, the settlement and the stream function's export messages
    make (send_message_batch, send_message), keeping the messages (each with its QueueUrl)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refuse_after: int | None = None  # refuse every message once this many were accepted

    def send_message(self, QueueUrl: str, **message: Any) -> dict[str, Any]:  # boto3's argument names
        self.messages.append({"QueueUrl": QueueUrl, **message})
        return {"MessageId": str(len(self.messages))}

    def bodies(self, queue_url: str) -> list[str]:
        return [m["MessageBody"] for m in self.messages if m.get("QueueUrl") == queue_url]

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        accepted, refused = [], []
        for entry in Entries:
            full = self.refuse_after is not None and len(self.messages) >= self.refuse_after
            (refused if full else accepted).append(entry)
            if not full:
                self.messages.append({"QueueUrl": QueueUrl, **entry})
        return {"Successful": [{"Id": e["Id"]} for e in accepted],
                "Failed": [{"Id": e["Id"], "Code": "ServiceUnavailable"} for e in refused]}
