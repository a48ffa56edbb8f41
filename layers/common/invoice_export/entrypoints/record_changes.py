"""What the stream function calls: changes of document records, from DocumentsTable's stream, and - on a
schedule - the replay of the stream batches its mapping gave up on.

The records of a batch come in stream order: per document, in the order its record was written. Each
change is handled alone (services/record_changes.py). At the first one that fails, it and every later
record of the batch are reported failed: Lambda checkpoints at the lowest failed sequence number and
hands the rest over again, so no later change of a document is acted on before an earlier one, and
nothing is done twice that need not be.

What the stream cannot cover is replayed by `replay_record_changes` (the function's schedule): after
its retries the mapping skips a batch and sends only its description (shard, first and last sequence
number) to RecordChangeFailures. While the stream still keeps those records (24 hours), they are read
again by sequence number and handled as the mapping would have; the description is deleted once they
are through. Once the stream no longer has them, the documents of every account changed since the
batch's first record are swept instead: each one's current outcome is published again (the same
event id for the same outcome), its PDF requested if none is stored, its KSeF poll started if its
account asks and no poll chain has it, its last audit entry written (the same item), and one the
settlement released that is still pending queued again (a second message is harmless: the export
claims the record first). What such a
sweep cannot give back is an outcome the record has since left (e.g. `failed` before a later
`exported`): only the document's current state is told.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from invoice_export.domain.errors import TransientError
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.platform.observability import logger, metrics
from invoice_export.platform.runtime import Runtime, get_runtime
from invoice_export.storage.documents import record_from_image

# Left of the invocation when the replay stops taking descriptions (the rest wait for the next run).
TIME_MARGIN_SECONDS = 10.0
# The stream no longer has these records (older than its 24 hours, or the stream was replaced).
STREAM_GONE = ("TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException")
# Statuses whose records may call for something (domain.record_changes), swept when the stream is gone.
SWEPT_STATUSES = (Status.EXPORTED, Status.FAILED, Status.IN_DOUBT, Status.PENDING)
UNIDENTIFIED = "unidentified"  # the account of messages whose account id could not be read
SWEEP_MARGIN = timedelta(minutes=1)  # before the batch's first record: clocks and rounding


def handle_stream_or_schedule(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict:
    """The function's two triggers: its stream mapping (Records) and its replay schedule."""
    if "Records" in event:
        return record_changes_batch(event, context, runtime)
    return replay_record_changes(event, context, runtime)


def warm_up_record_changes() -> None:
    """Before a SnapStart snapshot (platform.snapstart): what the stream function's first record loads
    (a change's event may name its provider's clearance system: the adapters)."""
    get_runtime().warm_up(("dynamodb", "secretsmanager", "sqs", "events"), adapters=True,
                          modules=("invoice_export.services.record_changes", "invoice_export.services.ksef",
                                   "invoice_export.services.operations"))  # a released document's re-send


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
    """One stream record (Lambda's shape, or GetRecords'): the record before and after one write."""
    change = record["dynamodb"]
    keys = {name: next(iter(value.values())) for name, value in change.get("Keys", {}).items()}
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(correlation_id=record.get("eventID"), account_id=keys.get("account_id"),
                                   document_id=keys.get("document_id"))
    old, new = record_from_image(change.get("OldImage")), record_from_image(change.get("NewImage"))
    done = runtime.record_changes.handle(old, new)
    if done.anything:
        logger.info("record change handled", extra={"outcome": done.outcome, "pdf_requested": done.request_pdf,
                                                    "audited": done.audit_note is not None,
                                                    "sent_again": done.send_again})


# ---------------------------------------------------------------------------------------------- replay


class ReplayRequest(BaseModel):
    """The schedule's Input (infra/template.yaml)."""

    model_config = ConfigDict(extra="forbid")
    trigger: Literal["replay_record_changes"]


@dataclass
class Replay:
    """What one replay found and did: the function's answer."""

    batches: int = 0  # descriptions of given-up batches looked at
    replayed: int = 0  # batches read again from the stream and handled (description deleted)
    swept: int = 0  # batches the stream no longer had: their time's documents told again (deleted)
    changes: int = 0  # record changes handled, or documents told again by a sweep
    left_for_next_run: int = 0  # an AWS call failed, or the description could not be read
    stopped_for_time: bool = False


def replay_record_changes(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict:
    parse(event=event, model=ReplayRequest)
    report = replay_given_up_batches(runtime or get_runtime(),
                                     remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="RecordChangeBatchesReplayed", unit=MetricUnit.Count, value=report.replayed + report.swept)
    logger.info("given-up record changes replayed", extra=asdict(report))
    return asdict(report)


def replay_given_up_batches(runtime: Runtime, remaining_seconds: Callable[[], float]) -> Replay:
    url = runtime.settings.record_change_failures_url
    if not url:
        raise RuntimeError("RECORD_CHANGE_FAILURES_URL is not set for this function (see infra/template.yaml)")
    sqs, report = runtime.client("sqs"), Replay()

    def time_is_up() -> bool:
        report.stopped_for_time = remaining_seconds() < TIME_MARGIN_SECONDS
        return report.stopped_for_time

    with runtime.accounts.read_once():
        while not time_is_up():
            # Kept hidden until this invocation ends: a description not done here is seen by the next run.
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           VisibilityTimeout=math.ceil(remaining_seconds())).get("Messages", [])
            if not messages:
                break
            for message in messages:
                if time_is_up():
                    break
                report.batches += 1
                if _replay_one(runtime, message["Body"], report):
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return report


def _replay_one(runtime: Runtime, body: str, report: Replay) -> bool:
    """Replay one given-up batch; True when it is through (its description can go)."""
    try:
        info = json.loads(body)["DDBStreamBatchInfo"]
        if _replay_from_stream(runtime, info, report):
            report.replayed += 1
        else:
            logger.warning("given-up record changes no longer in the stream: sweeping their documents",
                           extra={"since": info["approximateArrivalOfFirstRecord"]})
            _sweep(runtime, info["approximateArrivalOfFirstRecord"], report)
            report.swept += 1
        return True
    except (BotoCoreError, ClientError, TransientError):
        logger.exception("given-up record changes not replayed; the next run tries again")
    except (ValueError, KeyError, TypeError):
        logger.exception("a RecordChangeFailures message is not Lambda's description of a stream batch; left there")
    report.left_for_next_run += 1
    return False


def _replay_from_stream(runtime: Runtime, info: dict[str, Any], report: Replay) -> bool:
    """Handle the batch's records again, read by sequence number; False when the stream no longer has them."""
    streams = runtime.client("dynamodbstreams")
    first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(StreamArn=info["streamArn"], ShardId=info["shardId"],
                                              ShardIteratorType="AT_SEQUENCE_NUMBER",
                                              SequenceNumber=info["startSequenceNumber"])["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                number = int(record["dynamodb"]["SequenceNumber"])
                if number > last:
                    return True
                if number >= first:
                    handle_change(runtime, record)
                    report.changes += 1
                    if number == last:
                        return True
            if not page["Records"]:
                raise TransientError("the stream ended before the batch's last record", code="stream_incomplete")
            iterator = page.get("NextShardIterator")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in STREAM_GONE:
            return False
        raise
    return True


def _sweep(runtime: Runtime, first_arrival: str, report: Replay) -> None:
    """Tell again what the documents changed since `first_arrival` call for, as they are now."""
    since = (datetime.fromisoformat(first_arrival.replace("Z", "+00:00")) - SWEEP_MARGIN).astimezone(UTC)
    accounts = [account.account_id for account in runtime.accounts.list_accounts()] + [UNIDENTIFIED]
    for account_id in accounts:
        for status in SWEPT_STATUSES:
            for record in runtime.documents.changed_since(account_id, status, since.isoformat(timespec="milliseconds")):
                _tell_again(runtime, record)
                report.changes += 1


def _tell_again(runtime: Runtime, record: DocumentRecord) -> None:
    """What the record calls for as if it had just been written (deterministic event ids: consumers see
    a repeat once), its KSeF (e-Factura) answer's event included if it has a final one."""
    runtime.record_changes.handle(None, record)
