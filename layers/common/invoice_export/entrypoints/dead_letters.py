"""The export DLQ, checked on a schedule: the document of every message there says why it is there.

A message's last delivery records its document before the message goes to the DLQ
(`sqs_entrypoints`: give_up, reject_unreadable) - unless the worker dies during that delivery.
Then nothing runs, and the records skipped behind it in its FIFO batch reach the DLQ while their
document still says pending, sending, or nothing at all (reliability run, issue 5). This check,
run every few minutes, records each message it finds there:

- unreadable: rejected with its problem, as on a delivery (once per message);
- readable: given up with code `dead_lettered` (ExportService.give_up): pending or never recorded
  -> failed (retryable), sending -> in doubt; exported, in doubt or failed -> left as it is.

Every record is conditional, so checking a message again changes nothing; what a record it changes
calls for (its outcome event, its audit entry) follows from the record's stream.
The messages stay in the DLQ for `invoice-export dlq replay`: the check never deletes one, it makes
each visible again when it is done.

FIFO: SQS hands out no message of a group while another of the group is in flight, so the check
keeps what it received hidden until it is done (until the invocation ends at the latest): each round
brings other groups. Then it releases each group alone and receives again: SQS hands a group out
from its first message, so this brings the messages behind the ones seen. Without deletes that
reaches a group's first 10 messages; any behind them are checked once those are replayed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.errors import TransientError
from invoice_export.domain.export_decision import claim_lease_seconds
from invoice_export.entrypoints.sqs import UnreadableMessage, read_export_message
from invoice_export.platform.observability import logger, metrics
from invoice_export.platform.runtime import Runtime, get_runtime

ACTOR = "export DLQ check"  # as the audit trail names it
DEAD_LETTERED = TransientError(
    "its message reached the export DLQ without a record of why (the worker stopped during its last delivery)",
    code="dead_lettered", fix="find the cause in the logs, then replay it from the DLQ with the operator CLI "
                              "(invoice-export dlq replay) once the cause is fixed")
# Left of the invocation when the check stops taking messages: for releasing the ones it holds.
TIME_MARGIN_SECONDS = 10.0
RECEIVE_AT_MOST = 10  # SQS's limit per ReceiveMessage (and per ChangeMessageVisibilityBatch)


class DeadLetterCheckRequest(BaseModel):
    """The schedule's Input (infra/template.yaml)."""

    model_config = ConfigDict(extra="forbid")
    trigger: Literal["dead_letter_check"]


@dataclass
class DeadLetterCheck:
    """What one check found and did: the function's answer."""

    messages: int = 0  # distinct messages looked at
    recorded: int = 0  # documents this check recorded (failed, in doubt, or an unreadable message rejected)
    already_recorded: int = 0  # their document said why already: nothing done
    left_for_next_check: int = 0  # an AWS call failed, or a send of the document may still be running
    stopped_for_time: bool = False


def dead_letter_check(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict:
    parse(event=event, model=DeadLetterCheckRequest)
    report = check_export_dlq(runtime or get_runtime(),
                              remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="DeadLettersRecorded", unit=MetricUnit.Count, value=report.recorded)
    logger.info("export DLQ checked", extra=asdict(report))
    return asdict(report)


def check_export_dlq(runtime: Runtime, remaining_seconds: Callable[[], float]) -> DeadLetterCheck:
    """Record the document of each message in the export DLQ that does not say why yet; keep the messages."""
    if not runtime.settings.export_dlq_url:
        raise RuntimeError("EXPORT_DLQ_URL is not set for this function (see infra/template.yaml)")
    report = DeadLetterCheck()
    held = _HeldMessages(runtime.client("sqs"), runtime.settings.export_dlq_url, remaining_seconds)
    seen: set[str] = set()

    def time_is_up() -> bool:
        report.stopped_for_time = remaining_seconds() < TIME_MARGIN_SECONDS
        return report.stopped_for_time

    def check_new(messages: list[dict[str, Any]]) -> int:
        """Check the messages not checked yet, while time is left (the rest stay for the next check)."""
        new = [message for message in messages if message["MessageId"] not in seen]
        for message in new:
            if time_is_up():
                break
            seen.add(message["MessageId"])
            _check(runtime, message, report)
        return len(new)

    try:
        # Each round brings the first messages of groups not held yet, until there is nothing new.
        while not time_is_up() and check_new(held.receive()):
            pass
        # A group released alone is handed out again from its first message, with those behind the ones
        # seen so far (up to SQS's 10 a receive).
        for group in held.groups_with_fewer_than(RECEIVE_AT_MOST):
            if time_is_up():
                break
            held.release(group)
            check_new(held.receive())
    finally:
        held.release_all()
    report.messages = len(seen)
    return report


class _HeldMessages:
    """The DLQ messages this check received, hidden from other readers until released (or until the
    invocation ends, if it dies first), by message group so that a group can be released alone."""

    def __init__(self, sqs: Any, queue_url: str, remaining_seconds: Callable[[], float]) -> None:
        self.sqs, self.queue_url, self.remaining_seconds = sqs, queue_url, remaining_seconds
        self.by_group: dict[str, dict[str, str]] = {}  # group -> message id -> its latest receipt handle

    def receive(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=RECEIVE_AT_MOST, WaitTimeSeconds=1,
            VisibilityTimeout=math.ceil(self.remaining_seconds()), AttributeNames=["MessageGroupId"],
        ).get("Messages", [])
        for message in messages:
            group = message.get("Attributes", {}).get("MessageGroupId", "")
            self.by_group.setdefault(group, {})[message["MessageId"]] = message["ReceiptHandle"]
        return messages

    def groups_with_fewer_than(self, count: int) -> list[str]:
        return [group for group, messages in self.by_group.items() if len(messages) < count]

    def release(self, group: str) -> None:
        """Make the group's messages visible again: they stay in the DLQ for replay. Best effort: one not
        released comes back when its visibility timeout ends (this invocation's end)."""
        handles = list(self.by_group.pop(group, {}).values())
        for start in range(0, len(handles), RECEIVE_AT_MOST):
            entries = [{"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                       for index, handle in enumerate(handles[start:start + RECEIVE_AT_MOST])]
            try:
                answer = self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError):
                logger.exception("dead letters not released; they come back when this invocation ends")
                continue
            if answer.get("Failed"):
                logger.warning("dead letters not released; they come back when this invocation ends",
                               extra={"failed": [failure.get("Code") for failure in answer["Failed"]]})

    def release_all(self) -> None:
        for group in list(self.by_group):
            self.release(group)


def _check(runtime: Runtime, message: dict[str, Any], report: DeadLetterCheck) -> None:
    logger.set_correlation_id(message["MessageId"])
    logger.remove_keys(["account_id", "document_id"])  # never log under the previous message's document
    body = read_export_message(message["Body"])
    service = runtime.export_service
    try:
        if isinstance(body, UnreadableMessage):
            logger.append_keys(account_id=body.account_id, document_id=body.document_id)
            recorded = service.reject_unreadable(message["MessageId"], message["Body"], body.account_id,
                                                 body.document_id, body.problem)
        else:
            logger.append_keys(account_id=body.account_id, document_id=body.document.document_id)
            if _may_still_be_sending(runtime, body):
                logger.info("dead letter's document is being sent; left for the next check")
                report.left_for_next_check += 1
                return
            recorded = service.give_up(body, DEAD_LETTERED, actor=ACTOR) is not None
    except (BotoCoreError, ClientError):
        logger.exception("dead letter not recorded; the next check tries again")
        report.left_for_next_check += 1
        return
    if recorded:
        logger.warning("dead letter recorded: its document did not say why it is in the DLQ")
        report.recorded += 1
    else:
        report.already_recorded += 1


def _may_still_be_sending(runtime: Runtime, message: ExportMessage) -> bool:
    """A document `sending` for less than the export function's Timeout may be in a live attempt (of
    another message of it): holding it in doubt now would cut across that attempt's own outcome."""
    record = runtime.documents.get(message.account_id, message.document.document_id)
    if record is None:
        return False
    return claim_lease_seconds(record, datetime.now(UTC), runtime.settings.export_timeout_seconds) > 0
