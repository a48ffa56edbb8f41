"""Bulk export runs: one header item per run and one item per document the run handled.

    account_id | item                        |
    -----------+-----------------------------+---------------------------------------------
    acc-1      | run#<run_id>                | filters, status, cursor, counters, who, when
    acc-1      | doc#<run_id>#<document_id>  | queued (version), skipped or held (reason)

The per-document item is written with a condition after the document was put on the queue, so
a resumed run (after a crash or a time-out) recognises what it already did, and the counters,
incremented in the same transaction as new items, count every document exactly once. A queued
batch is one transaction: its documents' items and the counter.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from invoice_export.domain.clock import now_iso
from invoice_export.domain.records import Status
from invoice_export.storage.paging import all_items


class BulkFilters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date_from: date | None = Field(default=None, description="Issue date from (inclusive)")
    date_to: date | None = Field(default=None, description="Issue date to (inclusive)")
    series: list[str] | None = Field(default=None, description="Only these of our series")
    only_failed: bool = Field(default=False, description="Only failed documents (after a fix)")
    include_failed: bool = Field(default=False, description="Failed documents too, not only pending ones")

    @model_validator(mode="after")
    def _consistent(self) -> BulkFilters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        if self.only_failed and self.include_failed:
            raise ValueError("choose only_failed or include_failed, not both")
        return self

    def statuses(self) -> tuple[Status, ...]:
        if self.only_failed:
            return (Status.FAILED,)
        return (Status.PENDING, Status.FAILED) if self.include_failed else (Status.PENDING,)


class RunStatus(StrEnum):
    RUNNING = "running"  # documents are still being put on the queue (resume to go on)
    QUEUED = "queued"  # every selected document is on the queue; the export function takes it from here


class QuotaCheck(BaseModel):
    """The provider's periodic quota as read when the run began queuing (once per run)."""

    model_config = ConfigDict(frozen=True)

    remaining: int = Field(description="What the provider had left, in its unit")
    unit: str
    per_document: int = Field(description="What one exported document costs of it")
    allowance: int = Field(description="How many documents this run may queue")
    resets_at: str | None = Field(default=None, description="When the provider's period starts again")


class BulkRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str
    run_id: str
    requested_by: str = Field(description="The IAM principal, 'schedule' or 'operator'")
    filters: BulkFilters
    status: RunStatus = RunStatus.RUNNING
    cursor: str | None = Field(default=None, description="Where a resumed run goes on (opaque)")
    queued: int = 0
    skipped: int = 0
    held: int = Field(default=0, description="Left pending: over the provider's quota (see quota)")
    quota: QuotaCheck | None = Field(default=None, description="The provider's quota, where it has one")
    notes: list[str] = []
    started_at: str
    updated_at: str
    finished_at: str | None = None


class RunDocument(BaseModel):
    model_config = ConfigDict(frozen=True)

    document_id: str
    document_version: int | None = None
    outcome: str  # queued | skipped | held (over the provider's quota; stays pending)
    reason: str | None = None


class BulkRunStore:
    def __init__(self, table: Any, retention_days: int) -> None:
        self.table = table
        self.retention_seconds = retention_days * 86400

    def create(self, run: BulkRun) -> bool:
        """False when a run with this id exists already (e.g. tonight's scheduled run)."""
        item = {"account_id": run.account_id, "item": _run_key(run.run_id), **self._payload(run),
                "expires_at": self._expiry()}
        try:
            self.table.put_item(Item=item, ConditionExpression=Attr("item").not_exists())
        except ClientError as exc:
            _raise_unless_condition_failed(exc)
            return False
        return True

    def get(self, account_id: str, run_id: str) -> BulkRun | None:
        item = self.table.get_item(Key={"account_id": account_id, "item": _run_key(run_id)},
                                   ConsistentRead=True).get("Item")
        return _run(item) if item else None

    def list_runs(self, account_id: str, limit: int = 20) -> list[BulkRun]:
        response = self.table.query(KeyConditionExpression=Key("account_id").eq(account_id)
                                    & Key("item").begins_with("run#"), ScanIndexForward=False, Limit=limit)
        return [_run(item) for item in response.get("Items", [])]

    def unfinished(self, account_id: str) -> BulkRun | None:
        return next((run for run in self.list_runs(account_id) if run.status == RunStatus.RUNNING), None)

    def record_document(self, account_id: str, run_id: str, document: RunDocument) -> bool:
        """Note what the run did with a document; False if this run handled it already."""
        return bool(self.record_documents(account_id, run_id, [document]))

    def record_documents(self, account_id: str, run_id: str, documents: list[RunDocument]) -> list[RunDocument]:
        """Note what the run did with these documents (at most 99) and count them, in one transaction:
        an item per document, written only if this run has none for it yet, and the run's counters.
        Returns the documents noted now, leaving out those this run had handled already."""
        if not documents:
            return []
        try:
            self._write_counted(account_id, run_id, documents)
            return documents
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            if len(documents) == 1:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return []
                raise
        # Some of them were noted meanwhile (another invocation of the run): one at a time.
        return [d for d in documents if self.record_document(account_id, run_id, d)]

    def _write_counted(self, account_id: str, run_id: str, documents: list[RunDocument]) -> None:
        counts = Counter(d.outcome if d.outcome in ("queued", "held") else "skipped" for d in documents)
        names = {f"#c{i}": counter for i, counter in enumerate(counts)}
        values: dict[str, Any] = {f":c{i}": count for i, count in enumerate(counts.values())} | {":now": now_iso()}
        expires_at = self._expiry()
        puts = [{"Put": {
            "TableName": self.table.name,
            "Item": {"account_id": account_id, "item": _doc_key(run_id, document.document_id),
                     **document.model_dump(exclude_none=True), "expires_at": expires_at},
            "ConditionExpression": "attribute_not_exists(#item)", "ExpressionAttributeNames": {"#item": "item"},
        }} for document in documents]
        count = {"Update": {
            "TableName": self.table.name,
            "Key": {"account_id": account_id, "item": _run_key(run_id)},
            "UpdateExpression": "ADD " + ", ".join(f"{name} :{name[1:]}" for name in names) + " SET updated_at = :now",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
        }}
        # The table's own client: it takes plain values, as the Table does (no Table call for transactions).
        self.table.meta.client.transact_write_items(TransactItems=[*puts, count])

    def set_quota(self, account_id: str, run_id: str, quota: QuotaCheck | None, note: str | None) -> BulkRun:
        """Record the quota check (the first one wins: a resumed run keeps its allowance) and a note."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":now": now_iso()}
        expression = "SET updated_at = :now"
        if quota is not None:
            names["#q"] = "quota"
            expression += ", #q = if_not_exists(#q, :quota)"
            values[":quota"] = quota.model_dump()
        if note is not None:
            names["#n"] = "notes"
            expression += ", #n = list_append(if_not_exists(#n, :empty), :note)"
            values.update({":note": [note], ":empty": []})
        item = self.table.update_item(Key={"account_id": account_id, "item": _run_key(run_id)},
                                      UpdateExpression=expression, ExpressionAttributeValues=values,
                                      ReturnValues="ALL_NEW", **({"ExpressionAttributeNames": names} if names else {}))
        item = item["Attributes"]
        return _run(item)

    def handled(self, account_id: str, run_id: str, document_ids: list[str]) -> set[str]:
        """Which of these documents this run has handled already (one read per 100)."""
        found: set[str] = set()
        for start in range(0, len(document_ids), 100):
            keys = [{"account_id": account_id, "item": _doc_key(run_id, d)}
                    for d in dict.fromkeys(document_ids[start:start + 100])]
            while keys:
                response = self.table.meta.client.batch_get_item(RequestItems={self.table.name: {
                    "Keys": keys, "ConsistentRead": True, "ProjectionExpression": "document_id"}})
                found.update(item["document_id"] for item in response["Responses"].get(self.table.name, []))
                keys = response.get("UnprocessedKeys", {}).get(self.table.name, {}).get("Keys", [])
        return found

    def save_cursor(self, account_id: str, run_id: str, cursor: str | None) -> None:
        values: dict[str, Any] = {":now": now_iso()}
        if cursor is None:
            expression = "SET updated_at = :now, finished_at = :now, #s = :done REMOVE #cur"
            values[":done"] = RunStatus.QUEUED.value
        else:
            expression = "SET updated_at = :now, #cur = :cursor"
            values[":cursor"] = cursor
        names = {"#cur": "cursor"} | ({"#s": "status"} if cursor is None else {})
        self.table.update_item(Key={"account_id": account_id, "item": _run_key(run_id)},
                               UpdateExpression=expression, ExpressionAttributeNames=names,
                               ExpressionAttributeValues=values)

    def documents(self, account_id: str, run_id: str) -> list[RunDocument]:
        items = all_items(self.table.query, KeyConditionExpression=Key("account_id").eq(account_id)
                          & Key("item").begins_with(f"doc#{run_id}#"))
        return [RunDocument.model_validate(_plain(item)) for item in items]

    def delete_account(self, account_id: str) -> int:
        """Every run of an account (tenant data deletion)."""
        return delete_partition(self.table, "account_id", account_id, sort_key="item")

    def _payload(self, run: BulkRun) -> dict[str, Any]:
        data = run.model_dump(mode="json", exclude_none=True)
        data["filters"] = json.dumps(data["filters"])
        return data

    def _expiry(self) -> int:
        return int(time.time()) + self.retention_seconds


def delete_partition(table: Any, partition_name: str, partition_value: str, *, sort_key: str) -> int:
    """Delete every item of one partition; returns how many."""
    deleted = 0
    request: dict[str, Any] = {"KeyConditionExpression": Key(partition_name).eq(partition_value),
                               "ProjectionExpression": "#p, #s",
                               "ExpressionAttributeNames": {"#p": partition_name, "#s": sort_key}}
    with table.batch_writer() as batch:
        while True:
            response = table.query(**request)
            for item in response.get("Items", []):
                batch.delete_item(Key={partition_name: item[partition_name], sort_key: item[sort_key]})
                deleted += 1
            if "LastEvaluatedKey" not in response:
                return deleted
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _run_key(run_id: str) -> str:
    return f"run#{run_id}"


def _doc_key(run_id: str, document_id: str) -> str:
    return f"doc#{run_id}#{document_id}"


def _run(item: dict[str, Any]) -> BulkRun:
    data = _plain(item)
    data["filters"] = json.loads(data["filters"])
    return BulkRun.model_validate(data)


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(item, default=int))


def _raise_unless_condition_failed(exc: ClientError) -> None:
    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        raise exc
