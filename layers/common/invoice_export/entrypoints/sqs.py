"""What the Lambda handlers call: SQS batches in, partial-batch responses out.

Export messages come from a FIFO queue grouped by account. A bad document is recorded as failed
and acknowledged, so it never blocks its account's queue; a transient failure makes the message
visible again after a back-off (and holds back the rest of that account's group to keep order).
Neighbouring documents of an account are handled several at a time (`side_by_side_run`): side by
side where their order cannot matter, their provider calls in issue order where it does.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, TypeAdapter, ValidationError

from invoice_export.domain.account_settings import Numbering
from invoice_export.domain.documents import DocumentKind, ExportMessage, Identifier, describe_validation_error
from invoice_export.domain.errors import PermanentError, TransientError
from invoice_export.domain.money import loads_exact
from invoice_export.domain.own_numbers import normalised_number
from invoice_export.domain.rate_limits import RateLimited
from invoice_export.platform.observability import logger, metrics
from invoice_export.platform.partial_batch import PartialBatchProcessor, SqsRecord, process_partial_response
from invoice_export.platform.runtime import Runtime, get_runtime
from invoice_export.platform.side_by_side import RunMember, RunOf, SideBySideFifoProcessor

MAX_BACKOFF_SECONDS = 900
# Pauses between tries of a last delivery's record (give_up) through a short AWS outage: a message
# whose record is not written goes to the DLQ while its document still says pending, sending or nothing.
LAST_RECORD_RETRY_PAUSES = (0.25, 0.5, 1.0, 2.0)
# Why a message's last delivery was never tried (it goes to the DLQ; the document is failed, retryable).
SKIPPED_BEHIND_FAILURE = TransientError(
    "its last delivery was never tried: an earlier document of the account failed in the same batch",
    code="skipped_behind_failure", fix="retry it once the account's earlier documents are exported")
NOT_STARTED_FOR_TIME = TransientError(
    "its last delivery was never tried: too little time was left in the invocation",
    code="invocation_time_low", fix="retry it; if this recurs, export batches take too long for the function's Timeout")


@dataclass(frozen=True)
class UnreadableMessage:
    account_id: str | None
    document_id: str | None
    problem: str


_identifier = TypeAdapter(Identifier)


def read_export_message(body: str) -> ExportMessage | UnreadableMessage:
    try:
        data = loads_exact(body)
    except ValueError as exc:
        return UnreadableMessage(None, None, f"the body is not JSON ({exc})")
    except RecursionError:  # not a ValueError: deep nesting would otherwise fail the batch on every delivery
        return UnreadableMessage(None, None, "the body is not JSON (nested too deeply)")
    try:
        return ExportMessage.model_validate(data)
    except ValidationError as exc:
        return UnreadableMessage(*_ids_if_any(data), describe_validation_error(exc))


def _ids_if_any(data: Any) -> tuple[str | None, str | None]:
    """The account and document ids of an invalid message, if they at least are valid ids."""

    def valid(value: Any) -> str | None:
        try:
            return _identifier.validate_python(value)
        except ValidationError:
            return None

    if not isinstance(data, dict):
        return None, None
    document = data.get("document")
    return valid(data.get("account_id")), valid(document.get("document_id")) if isinstance(document, dict) else None


def export_batch(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict[str, Any]:
    runtime = runtime or get_runtime()
    remaining_seconds = _remaining_seconds(context)
    handled: set[str] = set()
    not_started: set[str] = set()

    def handle(record: SqsRecord) -> None:
        if remaining_seconds() < runtime.settings.seconds_needed_for_provider_call:
            # Failed untouched, so that it comes back, rather than the Lambda timeout cutting it off
            # and returning the whole batch, the records done before it included.
            not_started.add(record.message_id)
            raise TransientError("not started: too little time left in this invocation", code="invocation_time_low")
        handled.add(record.message_id)
        _export_record(runtime, record, context)

    runtime.prepare_export()
    processor = SideBySideFifoProcessor(side_by_side_run(runtime), runtime.settings.export_documents_in_flight)
    # A batch that failed entirely is reported like any other, not raised: the skipped messages in it
    # are still looked at below, and Lambda returns the same messages either way.
    processor.raise_on_entire_batch_failure = False
    with runtime.accounts.read_once():  # each account's settings read once per batch, not per document
        response = process_partial_response(event=event, record_handler=handle, processor=processor)
    _give_up_on_skipped(runtime, event, response, handled, remaining_seconds, not_started=not_started)
    _bring_back_skipped(runtime, event, response, handled)
    return response


def warm_up_export() -> None:
    """Before a SnapStart snapshot (platform.snapstart): what an export function's first record loads."""
    get_runtime().warm_up(("dynamodb", "secretsmanager", "sqs", "events"), adapters=True, modules=(
        "invoice_export.services.export", "invoice_export.services.pdf", "invoice_export.services.ksef"))


def warm_up_pdf() -> None:
    """Before a SnapStart snapshot (platform.snapstart): what a PDF function's first record loads."""
    get_runtime().warm_up(("dynamodb", "secretsmanager", "s3", "events"), adapters=True,
                          modules=("invoice_export.services.pdf",))


def side_by_side_run(runtime: Runtime) -> RunOf:
    """Which neighbouring export messages may be handled at the same time, and how.

    Of an account that passes our numbers: those of the same kind, series and issue date are sent
    side by side. Their numbers are ours, so the order in which the provider receives them numbers
    nothing, and a provider that checks chronology checks dates. Two carrying one number are not
    side by side: the earlier one claims the number first, the later one is refused naming it. Of an
    account numbered by its provider: any neighbours, but in turn - their provider calls stay one at
    a time in issue order (market.md: one writer per series, numbers in issue order), only our own
    AWS work overlaps.
    Corrections are handled alone (a correction needs its original's record complete, which may be
    its neighbour's), and so is anything unreadable."""

    def run_of(record: dict[str, Any]) -> RunMember | None:
        try:
            data = json.loads(record["body"])
            account_id, document = data["account_id"], data["document"]
            key = (document["kind"], document["series"], document["issue_date"])
            document_id = document["document_id"]
            number = f"number:{normalised_number(document['number'])}"
            if document["kind"] == DocumentKind.CORRECTION.value or not isinstance(document_id, str):
                return None
            settings = runtime.accounts.get(account_id)  # read once per batch anyway (read_once)
        except Exception:  # noqa: BLE001 - anything odd (bad JSON, deep nesting, AWS down) is handled alone, in order
            return None
        if settings is None:
            return None
        group = record.get("attributes", {}).get("MessageGroupId")
        if settings.numbering != Numbering.OURS:
            return RunMember(run=(group, account_id), item=document_id, in_turn=True)
        return RunMember(run=(group, account_id, *key), item=document_id, also_changes=(number,))

    return run_of


def _remaining_seconds(context: LambdaContext) -> Callable[[], float]:
    return lambda: context.get_remaining_time_in_millis() / 1000


def _record_last_delivery(runtime: Runtime, remaining_seconds: Callable[[], float], write: Callable[..., None],
                          *args: Any) -> None:
    """Write a last delivery's record, retried through a short AWS outage while the invocation has time.

    The writes are conditional (a settled document is left as it is; its event follows from the
    record's stream), so a retry is safe. If it still fails, this is logged and
    not raised: the message goes to the DLQ either way, where the DLQ check finishes the job, and
    raising would fail the whole batch, leaving the other last deliveries in it unrecorded too.
    """
    for pause in (*LAST_RECORD_RETRY_PAUSES, None):
        try:
            write(*args)
            return
        except (BotoCoreError, ClientError, TransientError):
            if pause is None or remaining_seconds() - pause < runtime.settings.lambda_time_margin_seconds:
                logger.exception("last delivery not recorded: the message goes to the DLQ unrecorded")
                return
            logger.warning("last delivery not recorded yet; retrying", exc_info=True)
            time.sleep(pause)


def _give_up_on_skipped(runtime: Runtime, event: dict[str, Any], response: dict[str, Any], handled: set[str],
                        remaining_seconds: Callable[[], float], *, not_started: set[str] | None = None) -> None:
    """Messages skipped behind a failure in their account's group (or not started for lack of time) still
    use up a delivery each; on its last one such a message goes to the DLQ without ever being tried, so
    it is recorded here."""
    not_started = not_started or set()
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    for raw in event.get("Records", []):
        record = SqsRecord(raw)
        last = int(record.attributes.approximate_receive_count or 1) >= runtime.settings.export_max_receive_count
        if record.message_id not in failed or record.message_id in handled or not last:
            continue
        _start_record(record)
        message = read_export_message(record.body)
        if isinstance(message, UnreadableMessage):
            _record_last_delivery(runtime, remaining_seconds, runtime.export_service.reject_unreadable,
                                  record.message_id, record.body, message.account_id, message.document_id,
                                  message.problem)
            continue
        logger.thread_safe_append_keys(account_id=message.account_id, document_id=message.document.document_id)
        logger.warning("skipped on its last delivery: dead-lettered untried")
        error = NOT_STARTED_FOR_TIME if record.message_id in not_started else SKIPPED_BEHIND_FAILURE
        _record_last_delivery(runtime, remaining_seconds, runtime.export_service.give_up, message, error)


def _bring_back_skipped(runtime: Runtime, event: dict[str, Any], response: dict[str, Any],
                        handled: set[str]) -> None:
    """Messages never tried in this batch (skipped behind a failure of their account, or not started for
    lack of time) are made visible again at once. Left alone, each would wait out the queue's visibility
    timeout (3 minutes) and hold its account's message group that long (issue 20: a bulk run stalled
    for minutes behind each refusal of the rate limiter). Their order is kept: the group stays locked
    while its failed message waits for its own retry, and comes back in order with it."""
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    entries = []
    for raw in event.get("Records", []):
        record = SqsRecord(raw)
        last = int(record.attributes.approximate_receive_count or 1) >= runtime.settings.export_max_receive_count
        if record.message_id in failed and record.message_id not in handled and not last:
            entries.append({"Id": str(len(entries)), "ReceiptHandle": record.receipt_handle, "VisibilityTimeout": 0})
    for start in range(0, len(entries), 10):  # ChangeMessageVisibilityBatch takes 10 at most
        try:
            runtime.client("sqs").change_message_visibility_batch(
                QueueUrl=runtime.settings.export_queue_url, Entries=entries[start:start + 10])
        except (BotoCoreError, ClientError):  # the visibility timeout still brings them back, later
            logger.exception("could not bring skipped messages back early")


def _start_record(record: SqsRecord) -> None:
    """Log under this record's message id, and never under the previous record's document. Thread-safe
    keys: records handled side by side each log their own (a fresh dict, never the caller's)."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(correlation_id=record.message_id)


def _export_record(runtime: Runtime, record: SqsRecord, context: LambdaContext) -> None:
    _start_record(record)
    message = read_export_message(record.body)
    service = runtime.export_service
    if isinstance(message, UnreadableMessage):
        # None (not a valid id) is not logged.
        logger.thread_safe_append_keys(account_id=message.account_id, document_id=message.document_id)
        service.reject_unreadable(record.message_id, record.body, message.account_id, message.document_id,
                                  message.problem)
        return
    logger.thread_safe_append_keys(account_id=message.account_id, document_id=message.document.document_id)
    receive_count = int(record.attributes.approximate_receive_count or 1)
    try:
        result = service.export(message, remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000)
    except TransientError as error:
        _after_transient(runtime, record, message, error, receive_count, _remaining_seconds(context))
        raise
    except PermanentError:
        raise  # settled inside the service; anything reaching here is a bug worth a retry
    except Exception as unexpected:  # AWS throttling, bugs: retried like a transient failure
        error = TransientError(f"internal error ({type(unexpected).__name__})", code="internal_error")
        _after_transient(runtime, record, message, error, receive_count, _remaining_seconds(context))
        raise
    logger.info("export finished", extra={"outcome": result.outcome.value})


def _after_transient(runtime: Runtime, record: SqsRecord, message: ExportMessage, error: TransientError,
                     receive_count: int, remaining_seconds: Callable[[], float]) -> None:
    logger.warning("export will be retried", extra={"error_code": error.code, "receive_count": receive_count})
    if receive_count >= runtime.settings.export_max_receive_count:
        _record_last_delivery(runtime, remaining_seconds, runtime.export_service.give_up, message, error)
        return
    delay = backoff_seconds(receive_count, error.retry_after, runtime.settings.retry_base_delay_seconds)
    try:
        runtime.client("sqs").change_message_visibility(
            QueueUrl=runtime.settings.export_queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay)
    except (BotoCoreError, ClientError):  # the queue's own visibility timeout still brings it back
        logger.exception("could not delay the retry")


def postponement_seconds(retry_after: float | None) -> int:
    """An SQS DelaySeconds for work postponed by the rate limiter: its wait, rounded up, 1 s to 15 min."""
    return int(min(MAX_BACKOFF_SECONDS, max(1, math.ceil(retry_after or 1))))


def backoff_seconds(receive_count: int, retry_after: float | None, base: float) -> int:
    """Honour the provider's Retry-After; otherwise exponential back-off with jitter, capped."""
    if retry_after is not None:
        delay = retry_after
    else:
        delay = base * 2 ** max(0, receive_count - 1)
        delay += random.uniform(0, delay / 10)
    return int(min(MAX_BACKOFF_SECONDS, max(0, round(delay))))


class _DocumentTask(Protocol):
    account_id: str
    document_id: str


def _document_task_batch(event: dict[str, Any], context: LambdaContext, model: type[BaseModel],
                         work: Callable[[Any], None], what: str) -> dict[str, Any]:
    """A standard-queue batch of follow-up work on one exported document per message (PDF, KSeF).

    An unreadable message or a permanent failure is logged and dropped: the work is a refresh that
    is asked for again later (a link opened, the next poll). Anything else fails the record, so it
    is retried and finally dead-lettered.
    """

    def handle(record: SqsRecord) -> None:
        _start_record(record)
        try:
            task: _DocumentTask = model.model_validate_json(record.body)
        except ValidationError as exc:
            logger.error(f"{what} request unreadable", extra={"problem": describe_validation_error(exc)})
            return
        logger.thread_safe_append_keys(account_id=task.account_id, document_id=task.document_id)
        try:
            work(task)
        except PermanentError as error:
            logger.warning(f"{what} not done", extra={"error_code": error.code, "reason": error.message})

    return process_partial_response(event=event, record_handler=handle, processor=PartialBatchProcessor())


def ksef_batch(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict[str, Any]:
    from invoice_export.services.ksef import KsefPollRequest  # the KSeF function's only: not the export's

    runtime = runtime or get_runtime()
    return _document_task_batch(event, context, KsefPollRequest, runtime.ksef_service.poll, "KSeF status")


def pdf_batch(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict[str, Any]:
    from invoice_export.services.pdf import PdfRequest  # the PDF function's only: not the export's

    runtime = runtime or get_runtime()

    def fetch(request: PdfRequest) -> None:
        try:
            if context.get_remaining_time_in_millis() / 1000 < runtime.settings.seconds_needed_for_provider_call:
                # Fetches wait in place for the provider's limit: the last ones of a batch may find no time left.
                raise RateLimited("not started: too little time left in this invocation", retry_after=1)
            copy = runtime.pdf_service.fetch(request.account_id, request.document_id, copy_only=True)
        except RateLimited as limited:
            # Asked again later in a new message, this one acknowledged: waiting for the provider's limit
            # (a bulk run's exports come first) must not use up the PDF queue's deliveries (maxReceiveCount).
            delay = postponement_seconds(limited.retry_after)
            runtime.request_pdf(request.account_id, request.document_id, delay_seconds=delay)
            metrics.add_metric(name="PdfPostponed", unit=MetricUnit.Count, value=1)
            logger.info("PDF postponed", extra={"error_code": limited.code, "delay_seconds": delay})
            return
        metrics.add_metric(name="PdfStored", unit=MetricUnit.Count, value=1)
        logger.info("PDF stored", extra={"size": copy.size, "sha256": copy.sha256})

    return _document_task_batch(event, context, PdfRequest, fetch, "PDF")
