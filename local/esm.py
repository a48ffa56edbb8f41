"""In-process stand-ins for the Lambda runtime and for Lambda's SQS event source mapping (ESM).

No Docker here, so neither `sam local` nor moto's Lambda can run our handlers (moto's Lambda
needs Docker or returns canned output). This module does what the Lambda service does, closely
enough that handler code cannot tell the difference:

* `LocalFunction` imports `module.func` from the function's CodeUri and calls it with a
  `FakeLambdaContext` whose remaining time counts down from the function's Timeout.
* `SqsEventSourceMapping` long-polls the queue, builds the exact Lambda SQS event, invokes the
  function and then deletes what succeeded, following Lambda's rules:
  - the handler raised (or ran past its Timeout): delete nothing, the whole batch comes back;
  - `ReportBatchItemFailures`: delete every record not listed in `batchItemFailures`; a malformed
    response (unknown or empty `itemIdentifier`, not a dict, ...) fails the whole batch;
  - otherwise a normal return deletes the whole batch.
  Redrive to the DLQ is left to moto (it moves a message once maxReceiveCount is used up).

moto's SQS is not atomic under concurrent ReceiveMessage calls (two requests can take the same
message, or two messages of one FIFO group), so the workers of one mapping take turns to receive;
moto's own FIFO bookkeeping then keeps a message group with one worker at a time, as SQS does.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.template import SqsEvent

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"  # moto's default account; ARNs built here must match moto's

# moto busy-waits through a long poll when a FIFO queue has visible messages whose group is in
# flight (a full CPU for WaitTimeSeconds). FIFO queues are therefore short-polled, with this pause
# on the client side when nothing could be received.
FIFO_EMPTY_POLL_PAUSE_S = 0.2
# Lambda runs at least 2 pollers; locally 2 are enough to show concurrency without flooding moto.
DEFAULT_WORKERS_PER_MAPPING = 2


# ---------------------------------------------------------------------------------------- runtime


@dataclass
class FakeLambdaContext:
    """What Lambda's Python runtime passes as `context` (typed by Powertools' `LambdaContext`)."""

    function_name: str
    # The real runtime passes this straight from AWS_LAMBDA_FUNCTION_MEMORY_SIZE: a string.
    memory_limit_in_mb: str
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_s: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """The outcome of one handler call, as Lambda would judge it."""

    response: Any
    error: BaseException | None
    duration_s: float
    timed_out: bool

    @property
    def failed(self) -> bool:
        return self.error is not None or self.timed_out


class LocalFunction:
    """One Lambda function run in this process. `handler` is "module.function", imported on first
    use from `search_path` (the CodeUri and layer folders), or already a callable."""

    def __init__(
        self,
        name: str,
        handler: str | Callable[[dict[str, Any], FakeLambdaContext], Any],
        *,
        search_path: Sequence[Path] = (),
        timeout_s: float = 3,
        memory_mb: int = 128,
        region: str = "eu-central-1",
    ):
        self.name = name
        self.handler = handler
        self.search_path = tuple(search_path)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.region = region
        self._callable = None if isinstance(handler, str) else handler
        self._load_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<LocalFunction {self.name} ({self.handler})>"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"

    def load(self) -> Callable[[dict[str, Any], FakeLambdaContext], Any]:
        with self._load_lock:  # two pollers may ask at once; import the module once
            if self._callable is None:
                self._callable = load_handler(str(self.handler), self.search_path)
            return self._callable

    def new_context(self) -> FakeLambdaContext:
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        return FakeLambdaContext(
            function_name=self.name,
            memory_limit_in_mb=str(self.memory_mb),
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{self.name}",
            log_stream_name=f"{today}/[$LATEST]{uuid.uuid4().hex}",
            timeout_s=self.timeout_s,
        )

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Call the handler. Lambda cannot stop a thread, so a handler that overruns its Timeout is
        let finish and then judged as Lambda would: a failed (timed-out) invocation."""
        handler = self.load()  # an import error is not the handler's failure: let it propagate
        started = time.monotonic()
        try:
            response = handler(event, self.new_context())
            # The runtime serialises the return value; an unserialisable one fails the invocation.
            response = json.loads(json.dumps(response))
            error = None
        # Any handler error is an invocation error; so is a runtime that exits (sys.exit, a killed worker).
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            response, error = None, exc
        duration = time.monotonic() - started
        return Invocation(response, error, duration, timed_out=duration > self.timeout_s)


def load_handler(handler: str, search_path: Iterable[Path]) -> Callable[..., Any]:
    """Import `module.function` the way Lambda does: with the code (and layer) folders on sys.path."""
    for folder in reversed(list(search_path)):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    module_name, function_name = handler.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), function_name)


# ---------------------------------------------------------------------------------------- SQS event


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message (as ReceiveMessage returns it) in the shape Lambda hands to the function."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        # Passed through as SQS returned them: ApproximateReceiveCount, SentTimestamp, SenderId,
        # ApproximateFirstReceiveTimestamp and, for FIFO, MessageGroupId, MessageDeduplicationId,
        # SequenceNumber.
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record |= {
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API shape (StringValue, BinaryValue as bytes) -> Lambda's (camelCase, binary as base64)."""
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [_base64(item) for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def _base64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def failed_message_ids(response: Any, batch_ids: Sequence[str]) -> set[str]:
    """Lambda's reading of a ReportBatchItemFailures response: which records go back to the queue.

    No response, `{}` and an empty or null `batchItemFailures` mean complete success. Anything
    malformed - not an object, a non-list, an item without `itemIdentifier`, an empty or unknown
    identifier - makes Lambda treat the whole batch as failed.
    """
    everything = set(batch_ids)
    if response is None:
        return set()
    if not isinstance(response, dict):
        log.warning("batch response is not an object; Lambda fails the whole batch")
        return everything
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        log.warning("batchItemFailures is not a list; Lambda fails the whole batch")
        return everything
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in everything:
            log.warning("batchItemFailures names no record of this batch; Lambda fails the whole batch")
            return everything
        failed.add(identifier)
    return failed


# ---------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class SourceQueue:
    url: str
    arn: str
    fifo: bool

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]


@dataclass
class MappingStats:
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    returned: int = 0  # left on the queue to be received again (or redriven)


class Pollers:
    """The background side of an event source mapping: `workers` threads calling `poll_once()` until
    stopped (after a poll that found nothing, they pause `idle_pause_s`). `busy` counts the batches
    in hand and not yet settled (`_set_busy`)."""

    idle_pause_s = 0.0
    thread_prefix = "poller"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def poll_once(self) -> int:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    @property
    def busy(self) -> bool:
        """True while some batch has been received and not yet invoked and settled."""
        return self._busy > 0

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._work, name=f"{self.thread_prefix}-{self.function.name}-{index}",
                             daemon=True)
            for index in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def request_stop(self) -> None:
        """Ask the workers to end after their current batch or poll, without waiting for them."""
        self._stop.set()

    def stop(self, timeout_s: float = 30) -> None:
        """Let each worker finish its current batch (a handler is never interrupted), then end."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s: worker %s still busy after %s s; left running", self, thread.name, timeout_s)
        self._threads = []

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once():
                    self._stop.wait(self.idle_pause_s)
            except Exception:  # a poller must survive e.g. moto hiccups
                log.exception("%s: polling failed; retrying", self)
                self._stop.wait(1)

    def _set_busy(self, delta: int) -> None:
        with self._busy_lock:
            self._busy += delta


class SqsEventSourceMapping(Pollers):
    """Polls one queue for one function, like one Lambda event source mapping.

    `start()`/`stop()` run `workers` poller threads in the background; `poll_once()` processes a
    single batch in the caller's thread (handy for step-by-step tests).
    """

    thread_prefix = "esm"  # an empty poll waited in its long poll already: no idle pause

    def __init__(
        self,
        function: LocalFunction,
        event: SqsEvent,
        queue: SourceQueue,
        sqs_client: Any,
        workers: int = DEFAULT_WORKERS_PER_MAPPING,
    ):
        super().__init__(max(1, min(workers, event.maximum_concurrency or workers)))
        self.function = function
        self.event = event
        self.queue = queue
        self.stats = MappingStats()
        self._sqs = sqs_client
        self._receive_lock = threading.Lock()  # see the module docstring: moto's receive is not atomic
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SqsEventSourceMapping {self.queue.name} -> {self.function.name}>"

    # ---- one batch

    def poll_once(self) -> int:
        """Receive one batch, invoke the function, settle. Returns the number of records handled."""
        messages = self._receive_batch()
        if not messages:
            return 0
        # Counted as busy only once messages are in hand: an idle poller long-polls forever. Until
        # then the received messages show up in the queue's not-visible count instead.
        self._set_busy(+1)
        try:
            self._process(messages)
        finally:
            self._set_busy(-1)
        return len(messages)

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch = self._receive(self.event.batch_size, long_poll=True)
        # MaximumBatchingWindowInSeconds: keep gathering until the batch is full or the window ends.
        window_ends = time.monotonic() + self.event.batching_window_s
        while batch and len(batch) < self.event.batch_size and time.monotonic() < window_ends:
            more = self._receive(self.event.batch_size - len(batch), long_poll=False)
            batch += more
            if not more:
                self._stop.wait(min(0.1, max(0.0, window_ends - time.monotonic())))
        return batch

    def _receive(self, wanted: int, long_poll: bool) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "QueueUrl": self.queue.url,
            "MaxNumberOfMessages": min(10, wanted),  # SQS's per-request maximum
            "WaitTimeSeconds": 1 if long_poll and not self.queue.fifo else 0,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self.queue.fifo:
            request["MessageSystemAttributeNames"] = ["All"]
        with self._receive_lock:
            messages = self._sqs.receive_message(**request).get("Messages", [])
        if not messages and long_poll and self.queue.fifo:
            self._stop.wait(FIFO_EMPTY_POLL_PAUSE_S)
        return messages

    def _process(self, messages: list[dict[str, Any]]) -> None:
        event = {
            "Records": [
                lambda_sqs_record(message, self.queue.arn, self.function.region) for message in messages
            ]
        }
        invocation = self.function.invoke(event)
        batch_ids = [message["MessageId"] for message in messages]
        if invocation.timed_out:
            log.warning(
                "%s: invocation ran %.1f s, past the function's Timeout of %s s: Lambda would have "
                "stopped it; the whole batch returns to the queue",
                self,
                invocation.duration_s,
                self.function.timeout_s,
            )
            failed = set(batch_ids)
        elif invocation.error is not None:
            log.warning(
                "%s: handler raised %s; the whole batch of %d returns to the queue",
                self,
                type(invocation.error).__name__,
                len(messages),
                exc_info=invocation.error,
            )
            failed = set(batch_ids)
        elif self.event.reports_batch_item_failures:
            failed = failed_message_ids(invocation.response, batch_ids)
        else:
            failed = set()

        succeeded = [message for message in messages if message["MessageId"] not in failed]
        self._delete(succeeded)
        with self._stats_lock:
            self.stats.invocations += 1
            self.stats.records += len(messages)
            self.stats.deleted += len(succeeded)
            self.stats.returned += len(failed)
        # Counts only: message bodies may hold customer data.
        log.debug(
            "%s: %d records in %.0f ms: %d deleted, %d returned",
            self,
            len(messages),
            invocation.duration_s * 1000,
            len(succeeded),
            len(failed),
        )

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):  # DeleteMessageBatch takes at most 10 entries
            chunk = messages[start : start + 10]
            result = self._sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(chunk)
                ],
            )
            for failure in result.get("Failed", []):
                log.warning(
                    "%s: delete failed (%s); the message will be received again", self, failure["Code"]
                )
