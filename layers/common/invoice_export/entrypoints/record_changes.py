"""What the stream function calls: a batch of changes of document records, from DocumentsTable's stream.

The records come in stream order: per document, in the order its record was written. Each change is
handled alone (services/record_changes.py). At the first one that fails, it and every later record of
the batch are reported failed: Lambda checkpoints at the lowest failed sequence number and hands the
rest over again, so no later change of a document is acted on before an earlier one, and nothing is
done twice that need not be.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.platform.observability import logger
from invoice_export.platform.runtime import Runtime, get_runtime
from invoice_export.storage.documents import record_from_image


def record_changes_batch(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict:
    runtime = runtime or get_runtime()
    records = event.get("Records", [])
    with runtime.accounts.read_once():  # each account's settings read once per batch
        for index, record in enumerate(records):
            try:
                handle_change(runtime, record)
            except Exception:  # noqa: BLE001 - any failure: this change and the later ones are retried
                logger.exception("record change not handled; it is handed over again with those after it")
                return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                                              for r in records[index:]]}
    return {"batchItemFailures": []}


def handle_change(runtime: Runtime, record: dict[str, Any]) -> None:
    """One stream record (Lambda's shape): the record before and after one write."""
    change = record["dynamodb"]
    keys = {name: next(iter(value.values())) for name, value in change.get("Keys", {}).items()}
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(correlation_id=record.get("eventID"), account_id=keys.get("account_id"),
                                   document_id=keys.get("document_id"))
    old, new = record_from_image(change.get("OldImage")), record_from_image(change.get("NewImage"))
    done = runtime.record_changes.handle(old, new)
    if done.anything:
        logger.info("record change handled", extra={"outcome": done.outcome, "pdf_requested": done.request_pdf,
                                                    "audited": done.audit_note is not None})
