"""In-process stand-in for Lambda's DynamoDB Streams event source mapping, as local.esm is for SQS.

moto's DynamoDB keeps a table's stream (StreamSpecification) and answers DescribeStream,
GetShardIterator and GetRecords - for PutItem, UpdateItem, DeleteItem and the writes of a
transaction alike - but it never invokes a function. This module reads the stream the way Lambda
does and calls the handler in-process (local.esm.LocalFunction), following Lambda's rules
(Lambda DG, "Using AWS Lambda with Amazon DynamoDB" and "Configuring partial batch response with
DynamoDB and Lambda"):

* one poller per shard, so a shard's records reach the function in stream order, one batch at a
  time (ParallelizationFactor 1): per item, changes arrive in the order they were made;
* the batch is the records after the checkpoint, up to BatchSize, gathered for at most
  MaximumBatchingWindowInSeconds; StartingPosition TRIM_HORIZON starts at the oldest record the
  stream keeps, LATEST at the records written after the mapping started;
* success (no response, `{}`, an empty or null `batchItemFailures`) checkpoints after the batch;
* `ReportBatchItemFailures`: the checkpoint moves to the failed record with the lowest sequence
  number, and the records from it on are retried; an empty, null or unknown `itemIdentifier` (or
  a malformed response) fails the whole batch;
* the handler raised or ran past its Timeout: the whole batch failed; with
  BisectBatchOnFunctionError the batch is split in two and its first half retried (the second
  half follows once the first is through), down to a single record;
* every failure of the records at the checkpoint counts as one retry; once a batch has been
  retried MaximumRetryAttempts times (-1: until the records expire), or its first record is older
  than MaximumRecordAgeInSeconds, Lambda skips it and sends a description of it - not its records
  - to the OnFailure destination (an SQS queue here), then goes on with the next records.

moto keeps every stream record (no 24-hour trim) and has one shard per table.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.esm import ACCOUNT_ID, LocalFunction, Pollers, failed_message_ids
from local.template import StreamEvent

log = logging.getLogger(__name__)

EMPTY_POLL_PAUSE_S = 0.1  # between GetRecords calls that found nothing (Lambda polls a shard 4 times a second)
# Between the retries of a failed batch, doubling: pacing of this emulator, short enough for tests.
RETRY_PAUSE_S, RETRY_PAUSE_MAX_S = 0.05, 1.0


@dataclass(frozen=True)
class FailureDestination:
    url: str
    arn: str


@dataclass
class StreamMappingStats:
    invocations: int = 0
    records: int = 0  # records handed to the function, retries included
    retries: int = 0  # invocations that handed over records already handed over before
    skipped_batches: int = 0  # sent to the OnFailure destination
    skipped_records: int = 0


def lambda_dynamodb_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One record as GetRecords returns it (through boto3) in the shape Lambda hands to the function:
    attribute values in DynamoDB JSON, binary as base64, the creation time as epoch seconds."""
    change = record["dynamodb"]
    created = change.get("ApproximateCreationDateTime")
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": int(created.timestamp()) if isinstance(created, datetime) else created,
        "Keys": _wire_item(change["Keys"]),
    }
    for image in ("NewImage", "OldImage"):
        if image in change:
            dynamodb[image] = _wire_item(change[image])
    dynamodb |= {"SequenceNumber": change["SequenceNumber"], "SizeBytes": change["SizeBytes"],
                 "StreamViewType": change["StreamViewType"]}
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,  # moto writes us-east-1 whatever the region
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def _wire_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _wire_value(value) for name, value in item.items()}


def _wire_value(value: dict[str, Any]) -> dict[str, Any]:
    """boto3 hands binary attribute values over as bytes; Lambda's JSON event carries them as base64."""
    ((kind, content),) = value.items()
    if kind == "B":
        return {"B": _base64(content)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in content]}
    if kind == "M":
        return {"M": _wire_item(content)}
    if kind == "L":
        return {"L": [_wire_value(item) for item in content]}
    return {kind: content}


def _base64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


class StreamEventSourceMapping(Pollers):
    """Reads one table's stream for one function, like one Lambda event source mapping.

    `start()`/`stop()` run one poller thread in the background, for every shard in turn; `poll_once()`
    handles the next batch of each shard (with its retries) in the caller's thread; `pending()` says
    whether records wait.
    """

    idle_pause_s = EMPTY_POLL_PAUSE_S
    thread_prefix = "streams"

    def __init__(self, function: LocalFunction, event: StreamEvent, stream_arn: str, streams_client: Any,
                 sqs_client: Any, on_failure: FailureDestination | None = None, region: str = "eu-central-1"):
        if event.on_failure is not None and on_failure is None:
            raise ValueError(f"{event.name}: the template names an OnFailure destination; pass its queue")
        super().__init__(workers=1)  # one batch at a time: a shard's records in order
        self.function = function
        self.event = event
        self.stream_arn = stream_arn
        self.on_failure = on_failure
        self.region = region
        self.stats = StreamMappingStats()
        self._streams = streams_client
        self._sqs = sqs_client
        self._lock = threading.Lock()
        self._positions: dict[str, str] = {}  # shard id -> shard iterator at the checkpoint
        self._start_positions()

    def __repr__(self) -> str:
        return f"<StreamEventSourceMapping {self.event.table} stream -> {self.function.name}>"

    # ---- positions

    def _start_positions(self) -> None:
        """Each shard's starting iterator. LATEST is fixed now: records written from here on are read."""
        for shard in self._shards():
            iterator = self._iterator(shard, self.event.starting_position)
            if self.event.starting_position == "LATEST":
                iterator = self._streams.get_records(ShardIterator=iterator, Limit=1)["NextShardIterator"]
            self._positions[shard] = iterator

    def _shards(self) -> list[str]:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description["Shards"]]

    def _iterator(self, shard: str, kind: str, sequence_number: str | None = None) -> str:
        request = {"StreamArn": self.stream_arn, "ShardId": shard, "ShardIteratorType": kind}
        if sequence_number is not None:
            request["SequenceNumber"] = sequence_number
        return self._streams.get_shard_iterator(**request)["ShardIterator"]

    def pending(self) -> bool:
        """True while a batch is being handled or some shard has records after its checkpoint."""
        if self.busy:
            return True
        with self._lock:
            positions = list(self._positions.values())
        return any(self._streams.get_records(ShardIterator=iterator, Limit=1)["Records"] for iterator in positions)

    # ---- one batch

    def poll_once(self) -> int:
        """Handle the next batch of each shard (until it is through or skipped). Returns the records read."""
        read = 0
        for shard in list(self._positions):
            records = self._next_batch(shard)
            if not records:
                continue
            read += len(records)
            self._set_busy(+1)
            try:
                self._deliver(shard, records)
            finally:
                self._set_busy(-1)
        return read

    def _next_batch(self, shard: str) -> list[dict[str, Any]]:
        records = self._read(shard, self._positions[shard], self.event.batch_size)
        window_ends = time.monotonic() + self.event.batching_window_s
        while records and len(records) < self.event.batch_size and time.monotonic() < window_ends:
            self._stop.wait(min(0.1, max(0.0, window_ends - time.monotonic())))
            records = self._read(shard, self._positions[shard], self.event.batch_size)
        return records

    def _read(self, shard: str, iterator: str, limit: int) -> list[dict[str, Any]]:
        return self._streams.get_records(ShardIterator=iterator, Limit=min(limit, 1000))["Records"]

    def _deliver(self, shard: str, records: list[dict[str, Any]]) -> None:
        """Invoke with `records` until they are through, retrying and bisecting as Lambda does."""
        retries = 0
        batch = records
        while batch:
            if self._too_old(batch[0]):
                self._skip(shard, batch, "RecordAgeExceeded", retries)
                return
            failed_from = self._invoke(batch, retried=retries > 0)
            if failed_from is None:
                self._checkpoint_after(shard, batch[-1])
                return
            if failed_from > 0:  # the records before the first failed one are through
                self._checkpoint_at(shard, batch[failed_from])
                batch, retries = batch[failed_from:], 0
            if self.event.maximum_retry_attempts >= 0 and retries >= self.event.maximum_retry_attempts:
                self._skip(shard, batch, "RetryAttemptsExhausted", retries)
                return
            retries += 1
            if failed_from == -1 and self.event.bisect_batch_on_function_error and len(batch) > 1:
                batch = batch[: len(batch) // 2]  # the second half is read again once the first is through
            # Paced, so that a failing handler does not spin; stopping leaves the records after the
            # checkpoint for the next poll (a stop is not a failure Lambda would count).
            if self._stop.wait(min(RETRY_PAUSE_MAX_S, RETRY_PAUSE_S * 2 ** (retries - 1))):
                return

    def _invoke(self, batch: list[dict[str, Any]], *, retried: bool) -> int | None:
        """None: all through; else the index of the first record to retry (-1: the handler failed)."""
        event = {"Records": [lambda_dynamodb_record(record, self.stream_arn, self.region) for record in batch]}
        invocation = self.function.invoke(event)
        with self._lock:
            self.stats.invocations += 1
            self.stats.records += len(batch)
            self.stats.retries += retried
        if invocation.failed:
            log.warning("%s: invocation failed (%s); the batch of %d is retried", self,
                        "timed out" if invocation.timed_out else type(invocation.error).__name__, len(batch),
                        exc_info=invocation.error)
            return -1
        if not self.event.reports_batch_item_failures:
            return None
        numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        failed = failed_message_ids(invocation.response, numbers)
        if not failed:
            return None
        return min(numbers.index(number) for number in failed)  # the lowest sequence number is the checkpoint

    def _too_old(self, record: dict[str, Any]) -> bool:
        if self.event.maximum_record_age_s < 0:
            return False
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if not isinstance(created, datetime):
            return False
        return (datetime.now(UTC) - created).total_seconds() > self.event.maximum_record_age_s

    def _checkpoint_after(self, shard: str, record: dict[str, Any]) -> None:
        iterator = self._iterator(shard, "AFTER_SEQUENCE_NUMBER", record["dynamodb"]["SequenceNumber"])
        with self._lock:
            self._positions[shard] = iterator

    def _checkpoint_at(self, shard: str, record: dict[str, Any]) -> None:
        iterator = self._iterator(shard, "AT_SEQUENCE_NUMBER", record["dynamodb"]["SequenceNumber"])
        with self._lock:
            self._positions[shard] = iterator

    def _skip(self, shard: str, batch: list[dict[str, Any]], condition: str, retries: int) -> None:
        """Lambda gives up on the batch: its description (never its records) goes to the OnFailure destination."""
        log.warning("%s: %d records skipped (%s)", self, len(batch), condition)
        if self.on_failure is not None:
            self._sqs.send_message(QueueUrl=self.on_failure.url,
                                   MessageBody=json.dumps(self.failure_record(shard, batch, condition, retries)))
        with self._lock:
            self.stats.skipped_batches += 1
            self.stats.skipped_records += len(batch)
        self._checkpoint_after(shard, batch[-1])

    def failure_record(self, shard: str, batch: list[dict[str, Any]], condition: str, retries: int) -> dict[str, Any]:
        """Lambda's invocation record for a stream batch it skipped (Lambda DG, "Retaining discarded
        batches for a DynamoDB event source"): which records, by sequence number, and why."""

        def arrival(record: dict[str, Any]) -> str:
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            moment = created if isinstance(created, datetime) else datetime.now(UTC)
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": self.function.arn,
                               "condition": condition, "approximateInvokeCount": retries + 1},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(batch[0]),
                "approximateArrivalOfLastRecord": arrival(batch[-1]),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }


__all__ = ["ACCOUNT_ID", "FailureDestination", "StreamEventSourceMapping", "lambda_dynamodb_record"]
