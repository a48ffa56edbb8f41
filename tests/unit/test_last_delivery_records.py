"""A last delivery's record (give_up) survives a short AWS outage, and one that cannot be written does not
leave the other last deliveries of its batch unrecorded (reliability run: issue 5)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from invoice_export.entrypoints import sqs as sqs_entrypoints
from invoice_export.entrypoints.sqs import _give_up_on_skipped, _record_last_delivery
from testsupport import load_example

OUTAGE = ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "outage"}}, "GetItem")


class FlakyService:
    """give_up fails while `down` (a count of calls, or document ids that always fail)."""

    def __init__(self, down: int = 0, always: tuple[str, ...] = ()) -> None:
        self.down, self.always, self.recorded, self.calls = down, always, [], 0

    def give_up(self, message, error) -> None:
        self.calls += 1
        if self.down > 0 or message.document.document_id in self.always:
            self.down -= 1
            raise OUTAGE
        self.recorded.append((message.document.document_id, error.code))


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(sqs_entrypoints.time, "sleep", lambda seconds: None)


def runtime(service: FlakyService) -> SimpleNamespace:
    return SimpleNamespace(export_service=service,
                           settings=SimpleNamespace(lambda_time_margin_seconds=1.0, export_max_receive_count=8))


def message(document_id: str):
    body = load_example("01-invoice-company.json")
    body["document"]["document_id"] = document_id
    return sqs_entrypoints.read_export_message(json.dumps(body)), json.dumps(body)


def test_retried_through_a_short_outage() -> None:
    service = FlakyService(down=2)
    _record_last_delivery(runtime(service), lambda: 10.0, service.give_up, message("INV-A")[0],
                          sqs_entrypoints.TransientError("x", code="internal_error"))
    assert service.recorded == [("INV-A", "internal_error")]


def test_not_raised_when_out_of_time() -> None:
    service = FlakyService(always=("INV-A",))
    _record_last_delivery(runtime(service), lambda: 1.1, service.give_up, message("INV-A")[0],
                          sqs_entrypoints.TransientError("x", code="internal_error"))
    assert (service.recorded, service.calls) == ([], 1)  # no time for a pause: tried once, logged


def test_one_unwritable_skipped_record_leaves_the_others_recorded() -> None:
    service = FlakyService(always=("INV-A",))
    records = []
    for index, document_id in enumerate(("INV-A", "INV-B")):
        records.append({"messageId": f"m{index}", "receiptHandle": "r", "body": message(document_id)[1],
                        "attributes": {"ApproximateReceiveCount": "8"}})
    response = {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    _give_up_on_skipped(runtime(service), {"Records": records}, response, set(), lambda: 10.0)
    assert service.recorded == [("INV-B", "skipped_behind_failure")]


def test_a_record_not_started_for_lack_of_time_is_recorded_as_such_on_its_last_delivery() -> None:
    service = FlakyService()
    records = [{"messageId": "m0", "receiptHandle": "r", "body": message("INV-A")[1],
                "attributes": {"ApproximateReceiveCount": "8"}}]
    response = {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    _give_up_on_skipped(runtime(service), {"Records": records}, response, set(), lambda: 10.0, not_started={"m0"})
    assert service.recorded == [("INV-A", "invocation_time_low")]


class RecordingSqs:
    def __init__(self) -> None:
        self.batches: list[list[dict]] = []

    def change_message_visibility_batch(self, QueueUrl, Entries):  # boto3's parameter names
        self.batches.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_messages_skipped_behind_a_failure_come_back_at_once_not_after_the_visibility_timeout() -> None:
    """Issue 20: a bulk run stalled 3 minutes (the queue's visibility timeout) behind each message the
    rate limiter sent back, because the account's later messages in the batch waited that long."""
    sqs = RecordingSqs()
    context = SimpleNamespace(settings=SimpleNamespace(export_max_receive_count=8, export_queue_url="q"),
                              client=lambda service: sqs)
    records = [{"messageId": f"m{index}", "receiptHandle": f"r{index}", "body": message(f"INV-{index}")[1],
                "attributes": {"ApproximateReceiveCount": "8" if index == 3 else "1"}} for index in range(4)]
    response = {"batchItemFailures": [{"itemIdentifier": f"m{index}"} for index in (1, 2, 3)]}
    # m0 succeeded; m1 failed when tried (its own retry delay was set then); m2 was skipped behind it; m3 too,
    # on its last delivery (it goes to the DLQ and is recorded by _give_up_on_skipped).
    sqs_entrypoints._bring_back_skipped(context, {"Records": records}, response, handled={"m0", "m1"})
    assert sqs.batches == [[{"Id": "0", "ReceiptHandle": "r2", "VisibilityTimeout": 0}]]
