"""platform.partial_batch answers as Powertools' batch utility does: the same batches through both,
the same records handled, the same responses, the same whole-batch failures."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch import process_partial_response as powertools_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError as PowertoolsBatchError

from invoice_export.platform.partial_batch import (
    BatchProcessingError,
    FifoPartialBatchProcessor,
    PartialBatchProcessor,
    process_partial_response,
)


def _record(body: str, group: str | None = None) -> dict[str, Any]:
    attributes = {"ApproximateReceiveCount": "2", **({"MessageGroupId": group} if group else {})}
    return {"messageId": str(uuid.uuid4()), "receiptHandle": f"handle-{body}", "body": body, "attributes": attributes,
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "eu-central-1",
            "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:queue"}


def _through_both(records: list[dict[str, Any]], failing: set[str], ours: Any, theirs: Any) -> tuple[Any, Any]:
    """(handled bodies, response or the error raised) of our processor and of Powertools'."""
    outcomes = []
    for processor, respond in ((ours, process_partial_response), (theirs, powertools_response)):
        handled: list[str] = []

        def handler(record: Any, handled: list[str] = handled) -> None:
            handled.append(record.body)
            assert record.message_id and record.receipt_handle == f"handle-{record.body}"
            assert record.attributes.approximate_receive_count == "2"
            if record.body in failing:
                raise RuntimeError(f"{record.body} refused")

        try:
            response: Any = respond(event={"Records": records}, record_handler=handler, processor=processor)
        except (BatchProcessingError, PowertoolsBatchError) as error:
            response = ("all failed", str(error).count("RuntimeError"))
        outcomes.append((handled, response))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("failing", [set(), {"b"}, {"a", "c"}, {"a", "b", "c"}])
@pytest.mark.parametrize("raise_on_entire_batch_failure", [True, False])
def test_a_standard_batch_is_answered_as_powertools_answers_it(failing: set[str],
                                                               raise_on_entire_batch_failure: bool) -> None:
    records = [_record(body) for body in "abc"]
    theirs_processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=raise_on_entire_batch_failure)
    ours, theirs = _through_both(records, failing, PartialBatchProcessor(raise_on_entire_batch_failure),
                                 theirs_processor)
    assert ours == theirs
    assert ours[0] == ["a", "b", "c"]


@pytest.mark.parametrize("failing", [set(), {"a1"}, {"a2", "b1"}, {"b2"}, {"a1", "b1"}])
def test_a_fifo_batch_skips_the_rest_of_a_failed_group_as_powertools_does(failing: set[str]) -> None:
    records = [_record("a1", "shop-a"), _record("b1", "shop-b"), _record("a2", "shop-a"), _record("b2", "shop-b"),
               _record("a3", "shop-a")]
    theirs_processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    theirs_processor.raise_on_entire_batch_failure = False  # as the export function sets it
    ours, theirs = _through_both(records, failing, FifoPartialBatchProcessor(raise_on_entire_batch_failure=False),
                                 theirs_processor)
    assert ours == theirs
    skipped = {r["body"] for r in records} - set(ours[0])
    assert all(any(f[0] == body[0] and f < body for f in failing) for body in skipped)


def test_a_fifo_batch_that_failed_entirely_fails_the_invocation_unless_told_not_to() -> None:
    records = [_record("a1", "shop-a"), _record("a2", "shop-a")]
    with pytest.raises(BatchProcessingError, match="All records failed processing"):
        process_partial_response(event={"Records": records}, record_handler=_refuse,
                                 processor=FifoPartialBatchProcessor())
    response = process_partial_response(event={"Records": records}, record_handler=_refuse,
                                        processor=FifoPartialBatchProcessor(raise_on_entire_batch_failure=False))
    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}


def _refuse(record: Any) -> None:
    raise RuntimeError("refused")


def test_a_processor_used_again_starts_afresh() -> None:
    processor = FifoPartialBatchProcessor(raise_on_entire_batch_failure=False)
    failed = [_record("a1", "shop-a")]
    process_partial_response(event={"Records": failed}, record_handler=_refuse, processor=processor)
    later = [_record("a2", "shop-a")]
    assert process_partial_response(event={"Records": later}, record_handler=lambda record: None,
                                    processor=processor) == {"batchItemFailures": []}


@pytest.mark.parametrize("event", [{}, {"Records": None}, {"Records": "x"}, []])
def test_an_event_without_records_is_refused(event: Any) -> None:
    with pytest.raises(ValueError, match="Invalid event format"):
        process_partial_response(event=event, record_handler=lambda record: None, processor=PartialBatchProcessor())
