"""SQS partial batch responses: each record handled alone, the failed ones reported back to Lambda.

What Powertools' batch utility (BatchProcessor, SqsFifoPartialProcessor with skip_group_on_error,
process_partial_response) does for SQS, and the way it does it, without importing it: that
utility imports asyncio and every event data class of Powertools, about 80 ms of a cold start
(README, Performance) that no record of ours needs. The names and the response follow it:
- `PartialBatchProcessor`: a record whose handler raises is reported in `batchItemFailures`; if every
  record of the batch failed, `BatchProcessingError` is raised instead (unless
  `raise_on_entire_batch_failure` is False), and Lambda returns the whole batch to the queue;
- `FifoPartialBatchProcessor`: as above, and once a record failed, the later records of its message
  group are reported failed without being handled (Powertools' skip_group_on_error=True);
- the record handler gets an `SqsRecord` (the attributes our handlers read of Powertools' SQSRecord).
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

ExceptionInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
Outcome = tuple[str, Any, Any]  # ("success", result, record) or ("fail", "Type:message", record)


class SqsAttributes:
    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def approximate_receive_count(self) -> str | None:
        return self._raw.get("ApproximateReceiveCount")

    @property
    def message_group_id(self) -> str | None:
        return self._raw.get("MessageGroupId")


class SqsRecord:
    """One record of Lambda's SQS event."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw_event = raw

    @property
    def message_id(self) -> str:
        return self.raw_event["messageId"]

    @property
    def receipt_handle(self) -> str:
        return self.raw_event["receiptHandle"]

    @property
    def body(self) -> str:
        return self.raw_event["body"]

    @property
    def attributes(self) -> SqsAttributes:
        return SqsAttributes(self.raw_event.get("attributes") or {})


class BatchProcessingError(Exception):
    """Every record of the batch failed; the message holds each record's traceback."""

    def __init__(self, msg: str, child_exceptions: list[ExceptionInfo]) -> None:
        super().__init__(msg)
        self.msg = msg
        self.child_exceptions = child_exceptions

    def __str__(self) -> str:
        return "\n".join([f"{self.msg}\n", *("".join(traceback.format_exception(kind, error, trace))
                                             for kind, error, trace in self.child_exceptions)])


class MessageGroupSkipped(Exception):
    """A record not handled because an earlier record of its FIFO message group failed."""


class PartialBatchProcessor:
    def __init__(self, raise_on_entire_batch_failure: bool = True) -> None:
        self.raise_on_entire_batch_failure = raise_on_entire_batch_failure
        self.records: list[dict[str, Any]] = []
        self.handler: Callable[..., Any] = lambda record: None
        self.success_messages: list[SqsRecord] = []
        self.fail_messages: list[SqsRecord] = []
        self.exceptions: list[ExceptionInfo] = []
        self.batch_response: dict[str, list[dict[str, str]]] = {"batchItemFailures": []}

    def __call__(self, records: list[dict[str, Any]], handler: Callable[..., Any]) -> Self:
        self.records, self.handler = records, handler
        return self

    def __enter__(self) -> Self:
        self.success_messages, self.fail_messages, self.exceptions = [], [], []
        self.batch_response = {"batchItemFailures": []}
        return self

    def __exit__(self, *_: object) -> None:
        if not self.fail_messages:
            return
        if len(self.exceptions) == len(self.records) and self.raise_on_entire_batch_failure:
            raise BatchProcessingError(f"All records failed processing. {len(self.exceptions)} individual errors "
                                       "logged separately below.", list(self.exceptions))
        self.batch_response = {"batchItemFailures": [{"itemIdentifier": record.message_id}
                                                     for record in self.fail_messages]}

    def process(self) -> list[Outcome]:
        return [self._process_record(record) for record in self.records]

    def _process_record(self, record: dict[str, Any]) -> Outcome:
        data = SqsRecord(record)
        try:
            result = self.handler(record=data)
        except Exception:  # noqa: BLE001 - any failure of a record is that record's, reported back
            return self.failure_handler(data, sys.exc_info())
        return self.success_handler(data, result)

    def success_handler(self, record: SqsRecord, result: Any) -> Outcome:
        self.success_messages.append(record)
        return "success", result, record

    def failure_handler(self, record: SqsRecord, exception: ExceptionInfo) -> Outcome:
        self.exceptions.append(exception)
        self.fail_messages.append(record)
        return "fail", f"{exception[0]}:{exception[1]}", record

    def response(self) -> dict[str, list[dict[str, str]]]:
        return self.batch_response


class FifoPartialBatchProcessor(PartialBatchProcessor):
    """Once a record failed, the later records of its message group are failed untried."""

    def __init__(self, raise_on_entire_batch_failure: bool = True) -> None:
        super().__init__(raise_on_entire_batch_failure)
        self._failed_groups: set[str] = set()
        self._groups_lock = threading.Lock()  # records of a batch may be handled side by side (side_by_side)

    def __enter__(self) -> Self:
        self._failed_groups = set()
        return super().__enter__()

    def _process_record(self, record: dict[str, Any]) -> Outcome:
        group = SqsRecord(record).attributes.message_group_id
        with self._groups_lock:
            skipped = group is not None and group in self._failed_groups
        if skipped:
            error = MessageGroupSkipped("A previous record from this message group failed processing")
            return self.failure_handler(SqsRecord(record), (MessageGroupSkipped, error, None))
        return super()._process_record(record)

    def failure_handler(self, record: SqsRecord, exception: ExceptionInfo) -> Outcome:
        # The group is marked before the failure is: whoever sees the failure recorded sees its group stopped.
        group = record.attributes.message_group_id
        if group is not None:
            with self._groups_lock:
                self._failed_groups.add(group)
        return super().failure_handler(record, exception)


def process_partial_response(event: dict[str, Any], record_handler: Callable[..., Any],
                             processor: PartialBatchProcessor) -> dict[str, list[dict[str, str]]]:
    """Handle an SQS event's records with `processor`; Lambda's partial batch response."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise ValueError("Invalid event format: an SQS event has a list of Records")
    with processor(records, record_handler):
        processor.process()
    return processor.response()
