"""SideBySideFifoProcessor: runs of neighbouring records side by side, Powertools' FIFO behaviour elsewhere."""

from __future__ import annotations

import contextvars
import threading
import uuid
from typing import Any

import pytest

from invoice_export.platform.partial_batch import process_partial_response
from invoice_export.platform.side_by_side import (
    Run,
    RunMember,
    SideBySideFifoProcessor,
    consecutive_runs,
    provider_call_in_turn,
)


def _record(body: str, group: str = "shop-1") -> dict[str, Any]:
    return {"messageId": f"{body}-{uuid.uuid4().hex[:6]}", "receiptHandle": "r", "body": body,
            "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:export.fifo", "awsRegion": "eu-central-1"}


def _run_of(record: dict[str, Any]) -> RunMember | None:
    """Bodies like "day1:A": records of one day form a run, A names the document; "alone:X" is never in one."""
    day, document = record["body"].split(":")
    return None if day == "alone" else RunMember(run=(record["attributes"]["MessageGroupId"], day), item=document)


def _bodies(runs: list[Run]) -> list[list[str]]:
    return [[record["body"] for record in run.records] for run in runs]


def test_runs_are_neighbours_with_the_same_key_and_never_hold_a_document_twice() -> None:
    records = [_record(b) for b in ["d1:A", "d1:B", "d2:C", "alone:D", "d2:E", "d2:F", "d2:E", "d1:G"]]
    assert _bodies(consecutive_runs(records, _run_of)) == [
        ["d1:A", "d1:B"], ["d2:C"], ["alone:D"], ["d2:E", "d2:F"], ["d2:E"], ["d1:G"]]


def test_a_run_never_holds_an_item_twice_whichever_the_record_changes_it_as() -> None:
    def numbered(record: dict[str, Any]) -> RunMember:
        document, number = record["body"].split(":")  # "A:n1": document A, claiming number n1
        return RunMember(run="day", item=document, also_changes=(f"number:{number}",))

    records = [_record(b) for b in ["A:n1", "B:n2", "C:n1", "D:n3", "D:n4"]]
    assert _bodies(consecutive_runs(records, numbered)) == [["A:n1", "B:n2"], ["C:n1", "D:n3"], ["D:n4"]]


def test_records_of_other_groups_never_share_a_run() -> None:
    records = [_record("d1:A", group="shop-1"), _record("d1:B", group="shop-2")]
    assert _bodies(consecutive_runs(records, _run_of)) == [["d1:A"], ["d1:B"]]


class _ObservedProcessor(SideBySideFifoProcessor):
    """Tells the test when a failure has been recorded (records starting later must see it)."""

    failure_recorded = threading.Event()

    def failure_handler(self, record: Any, exception: Any) -> Any:
        response = super().failure_handler(record, exception)
        self.failure_recorded.set()
        return response


def _process(records: list[dict[str, Any]], handler: Any, in_flight: int) -> dict[str, Any]:
    processor = _ObservedProcessor(_run_of, in_flight)
    _ObservedProcessor.failure_recorded.clear()
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(event={"Records": records}, record_handler=handler, processor=processor)


class _Gauge:
    """Records handled now and at most at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.started: list[str] = []

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


def test_a_run_is_handled_side_by_side_up_to_in_flight_records() -> None:
    gauge, all_in = _Gauge(), threading.Barrier(3, timeout=10)

    def handler(record: Any) -> None:
        with gauge:
            all_in.wait()  # breaks (and fails the record) unless three records are in flight together

    response = _process([_record(f"d1:{name}") for name in "ABCDEF"], handler, in_flight=3)
    assert response == {"batchItemFailures": []}
    assert gauge.peak == 3


_batch_value: contextvars.ContextVar[str | None] = contextvars.ContextVar("batch-value", default=None)


def test_records_side_by_side_see_the_callers_context_and_keep_their_changes_to_themselves() -> None:
    seen: dict[str, str | None] = {}

    def handler(record: Any) -> None:
        seen[record.body] = _batch_value.get()
        _batch_value.set(record.body)  # in the record's own copy: neither the caller nor its neighbours see it

    token = _batch_value.set("set by the batch")
    try:
        response = _process([_record(f"d1:{name}") for name in "ABCD"], handler, in_flight=2)
        assert _batch_value.get() == "set by the batch"
    finally:
        _batch_value.reset(token)
    assert response == {"batchItemFailures": []}
    assert seen == {f"d1:{name}": "set by the batch" for name in "ABCD"}


def test_one_in_flight_handles_every_record_alone_in_order() -> None:
    gauge, order = _Gauge(), []

    def handler(record: Any) -> None:
        with gauge:
            order.append(record.body)

    bodies = ["d1:A", "d1:B", "d1:C", "d2:D"]
    assert _process([_record(b) for b in bodies], handler, in_flight=1) == {"batchItemFailures": []}
    assert order == bodies and gauge.peak == 1


def test_a_failure_in_a_run_stops_the_rest_of_its_group_untried() -> None:
    started: list[str] = []
    lock, both_started = threading.Lock(), threading.Barrier(2, timeout=10)

    def handler(record: Any) -> None:
        with lock:
            started.append(record.body)
        if record.body in ("d1:A", "d1:B"):
            both_started.wait()
        if record.body == "d1:A":
            raise RuntimeError("the provider is down")
        if record.body == "d1:B":  # B frees its slot only once A's failure is recorded
            assert _ObservedProcessor.failure_recorded.wait(timeout=10)

    records = [_record(b) for b in ["d1:A", "d1:B", "d1:C", "d2:D", "d2:E"]]
    records.append(_record("d2:F", group="shop-2"))  # another account's group goes on
    response = _process(records, handler, in_flight=2)
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    # A and B start together; C starts once a slot is free and A's failure recorded: skipped; day 2 never starts.
    assert sorted(started) == ["d1:A", "d1:B", "d2:F"]
    assert failed == {r["messageId"] for r in records if r["body"] in ("d1:A", "d1:C", "d2:D", "d2:E")}


@pytest.mark.parametrize("in_flight", [1, 4])
def test_records_outside_runs_keep_powertools_fifo_behaviour(in_flight: int) -> None:
    started: list[str] = []

    def handler(record: Any) -> None:
        started.append(record.body)
        if record.body == "alone:B":
            raise RuntimeError("refused")

    records = [_record(b) for b in ["alone:A", "alone:B", "alone:C"]]
    response = _process(records, handler, in_flight=in_flight)
    assert started == ["alone:A", "alone:B"]
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == [r["messageId"] for r in records[1:]]


def _in_turn_run_of(record: dict[str, Any]) -> RunMember | None:
    return RunMember(run=record["attributes"]["MessageGroupId"], item=record["body"], in_turn=True)


class _Refused(Exception):
    pass


def test_an_in_turn_run_makes_its_provider_calls_in_order_and_overlaps_the_rest() -> None:
    events: list[str] = []
    lock = threading.Lock()
    second_prepared = threading.Event()

    def handler(record: Any) -> None:
        with lock:
            events.append(f"prepare {record.body}")
        if record.body == "B":
            second_prepared.set()
        with provider_call_in_turn(_Refused):
            if record.body == "A":  # A's call lasts until B has done its own work before its call
                assert second_prepared.wait(timeout=10)
            with lock:
                events.append(f"call {record.body}")

    processor = SideBySideFifoProcessor(_in_turn_run_of, in_flight=3)
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(event={"Records": [_record(b) for b in "ABC"]}, record_handler=handler,
                                        processor=processor)
    assert response == {"batchItemFailures": []}
    assert [e for e in events if e.startswith("call")] == ["call A", "call B", "call C"]
    assert events.index("prepare B") < events.index("call A")  # B's own work ran during A's call


def test_in_an_in_turn_run_no_provider_call_follows_a_failure() -> None:
    calls: list[str] = []

    def handler(record: Any) -> None:
        with provider_call_in_turn(lambda: _Refused(f"{record.body}: an earlier record failed")):
            calls.append(record.body)
            if record.body == "B":
                raise RuntimeError("the provider is down")

    records = [_record(b) for b in "ABCD"]
    processor = SideBySideFifoProcessor(_in_turn_run_of, in_flight=4)
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(event={"Records": records}, record_handler=handler, processor=processor)
    assert calls == ["A", "B"]
    assert {item["itemIdentifier"] for item in response["batchItemFailures"]} == {r["messageId"] for r in records[1:]}


def test_in_an_in_turn_run_a_later_failure_does_not_stop_an_earlier_call() -> None:
    calls: list[str] = []
    lock, c_failed = threading.Lock(), threading.Event()

    def handler(record: Any) -> None:
        if record.body == "C":  # fails before its provider call, while A and B are still to make theirs
            c_failed.set()
            raise RuntimeError("AWS is down")
        if record.body == "A":
            assert c_failed.wait(timeout=10)
        with provider_call_in_turn(_Refused):
            with lock:
                calls.append(record.body)

    records = [_record(b) for b in "ABC"]
    processor = SideBySideFifoProcessor(_in_turn_run_of, in_flight=3)
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(event={"Records": records}, record_handler=handler, processor=processor)
    assert calls == ["A", "B"]
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == [records[2]["messageId"]]
