"""What the benchmarks share: the benchmark account and documents, Lambda events, statistics, and
the protocol between `benchmarks.run` and each benchmark module (one child process each)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.platform.runtime import Runtime
from local.esm import Invocation, LocalFunction, lambda_sqs_record
from local.fakes.fakturownia import FakturowniaFake
from local.stack import EXTERNAL_MOTO_VARIABLE, OUTCOME_CAPTURE_QUEUE, LocalStack
from local.streams import lambda_dynamodb_record

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "documents" / "01-invoice-company.json"  # 3 lines, company buyer, PLN
# One account is one FIFO message group, handled one batch at a time: a second poller would only
# spin on an empty receive, taking this process's CPU from the handler.
ONE_GROUP_POLLERS = 1


@dataclass(frozen=True)
class BenchAccount:
    account_id: str
    api_token: str  # generated per run, only ever held in memory and in the local Secrets Manager
    department: int


def connect_account(fake: FakturowniaFake, runtime: Runtime, api_url: str, account_id: str = "bench-shop",
                    **settings: Any) -> BenchAccount:
    """An account at the fake provider, connected here the way the configuration API does it."""
    token = secrets.token_hex(16)
    fake.add_account(token, prefix=account_id)
    department = fake.add_department(token, "Sklep internetowy", "5252445767")
    runtime.accounts.save_credentials(account_id, {"api_token": token})
    runtime.accounts.put(AccountSettings.model_validate({
        "account_id": account_id, "provider": "fakturownia", "api_url": api_url,
        "series_links": {"FV": str(department)}, "payment_links": {"Przelew": "transfer"}, **settings}))
    return BenchAccount(account_id, token, department)


def document_body(account_id: str, index: int, prefix: str = "BENCH") -> str:
    """The example invoice as a new document: its own id and number, everything else the same."""
    message = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    message["account_id"] = account_id
    message["document"].update(document_id=f"{prefix}-{index:06d}", number=f"FV {index}/11/2026")
    return json.dumps(message)


def sqs_event(stack: LocalStack, queue: str, bodies: Sequence[str], group_id: str | None = None) -> dict[str, Any]:
    """The SQS event Lambda would hand a function for these message bodies on `queue` (a logical id)."""
    fifo = {"MessageGroupId": group_id, "MessageDeduplicationId": uuid.uuid4().hex} if group_id else {}
    messages = [{
        "MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": body,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # SQS's checksum of the body
        "Attributes": {"ApproximateReceiveCount": "1", **fifo},
    } for body in bodies]
    return {"Records": [lambda_sqs_record(m, stack.arn(queue), stack.region) for m in messages]}


class RecordStream:
    """The documents table's stream, read as its event source mapping reads it (from TRIM_HORIZON, one
    shard, a batch of up to BatchSize records at a time): each `next_event()` is the event Lambda hands
    the record-changes function for the records after the checkpoint (None: none yet), which it moves
    past them. Made with a client of its own, created when this is: under a benchmark's call counter,
    its calls are counted (AWS does not bill a stream's reads by its Lambda trigger)."""

    def __init__(self, stack: LocalStack) -> None:
        import boto3

        mapping = stack.stream_source("DocumentsTable")
        self.function = mapping.function
        self.region, self.arn, self.batch_size = stack.region, mapping.stream_arn, mapping.event.batch_size
        self.client = boto3.session.Session().client("dynamodbstreams")
        [shard] = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self.position = self.client.get_shard_iterator(StreamArn=self.arn, ShardId=shard["ShardId"],
                                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def next_event(self) -> dict[str, Any] | None:
        page = self.client.get_records(ShardIterator=self.position, Limit=self.batch_size)
        self.position = page["NextShardIterator"]
        if not page["Records"]:
            return None
        return {"Records": [lambda_dynamodb_record(record, self.arn, self.region) for record in page["Records"]]}


def failed_changes(response: Any) -> list[Any]:
    """The records a record-changes invocation reported failed (its partial batch response)."""
    return list((response or {}).get("batchItemFailures") or [])


@dataclass(frozen=True)
class Spread:
    """Median and 99th percentile of a sample, in milliseconds."""

    median_ms: float
    p99_ms: float
    count: int

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> Spread:
        if not samples:
            raise ValueError("no samples")
        p99 = statistics.quantiles(samples, n=100, method="inclusive")[98] if len(samples) > 1 else samples[0]
        return cls(round(statistics.median(samples) * 1000, 3), round(p99 * 1000, 3), len(samples))

    def as_dict(self) -> dict[str, float]:
        return {"median_ms": self.median_ms, "p99_ms": self.p99_ms, "count": self.count}


def ratio(ours: float, reference: float) -> float:
    return round(ours / reference, 2) if reference > 0 else float("inf")


@contextmanager
def recording(function: LocalFunction) -> Iterator[list[Invocation]]:
    """The function's invocations while the block runs (what Lambda would bill)."""
    invocations: list[Invocation] = []
    invoke = function.invoke

    def recorded(event: dict[str, Any]) -> Invocation:
        invocation = invoke(event)
        invocations.append(invocation)
        return invocation

    function.invoke = recorded  # type: ignore[method-assign]
    try:
        yield invocations
    finally:
        function.invoke = invoke  # type: ignore[method-assign]


@contextmanager
def only_event_source(stack: LocalStack, queue: str) -> Iterator[Callable[..., None]]:
    """Only `queue`'s event source runs in the block, as Lambda's would: from before anything is sent.

    Yields `handled(count, timeout, fail_on_retry=False)`, which waits until `count` messages in all
    were handled successfully (deleted), reading the mapping's own counters: polling SQS for its
    backlog would compete with the handler for this process's CPU. With `fail_on_retry` a message
    returned to the queue stops the benchmark at once (where nothing should fail, a retry means
    the figure would not measure the path it claims to).
    """
    mapping = stack.event_source(queue)

    def handled(count: int, timeout: float, fail_on_retry: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while mapping.stats.deleted < count:
            if fail_on_retry and mapping.stats.returned:
                raise RuntimeError(f"{mapping.stats.returned} message(s) of {queue} failed and went back to the queue")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{queue}: {mapping.stats.deleted} of {count} messages handled after {timeout} s")
            time.sleep(0.05)

    mapping.start()
    try:
        yield handled
    finally:
        mapping.stop()


@contextmanager
def discarding(stack: LocalStack, queue: str) -> Iterator[None]:
    """`queue`'s messages are taken and deleted while the block runs, as its consumer would take them,
    without running the consumer. moto scans a queue's every message on each SendMessage (its
    retention check computes the queue's attributes), so a queue nobody drains makes each send
    slower than the last: a cost of the emulator, growing with the benchmark's size, not of SQS."""
    sqs, url = stack.client("sqs"), stack.queue_url(queue)
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", [])
            if messages:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            if len(messages) < 10:
                # Let messages gather, as Lambda's batching window does: a receive per message would
                # charge the benchmark's CPU for moto answering it (the bulk run's AWS is in process).
                stop.wait(0.5)

    worker = threading.Thread(target=drain, name=f"discard-{queue}", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=10)


def billed(invocations: list[Invocation]) -> dict[str, Any]:
    """What Lambda bills: each invocation's duration rounded up to the millisecond."""
    return {"invocations": len(invocations), "failed": sum(i.failed for i in invocations),
            "billed_ms": sum(math.ceil(i.duration_s * 1000) for i in invocations)}


@contextmanager
def moto_in_own_process(ready_timeout: float = 60.0) -> Iterator[str]:
    """A moto server in a child process, used by the local stacks started in the block.

    What AWS stores then stays out of this process: its memory is the function's own (plus the
    queue emulator's and the fake's), as a Lambda instance's would be.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    previous = os.environ.get(EXTERNAL_MOTO_VARIABLE)
    try:
        _wait_until_answering(url, server, ready_timeout)
        os.environ[EXTERNAL_MOTO_VARIABLE] = url
        yield url
    finally:
        if previous is None:
            os.environ.pop(EXTERNAL_MOTO_VARIABLE, None)
        else:
            os.environ[EXTERNAL_MOTO_VARIABLE] = previous
        server.terminate()
        server.wait(timeout=10)


def _wait_until_answering(url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the moto server exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise TimeoutError(f"the moto server at {url} did not answer within {timeout} s")


def stop_capturing_events(stack: LocalStack) -> None:
    """Remove the local stack's all-events capture rule: moto delivers each event to its queue inside
    PutEvents, which real EventBridge does after answering. For runs that do not read the events."""
    events = stack.client("events")
    for bus in stack.template.resources_of_type("AWS::Events::EventBus"):
        events.remove_targets(Rule=OUTCOME_CAPTURE_QUEUE, EventBusName=stack.ref(bus), Ids=[OUTCOME_CAPTURE_QUEUE])


def benchmark_main(run: Callable[[bool], dict[str, Any]]) -> None:
    """Entry point of a benchmark module: `python -m benchmarks.<name> --out FILE [--quick]`.

    The results go to FILE as JSON (stdout carries the handlers' logs, as CloudWatch would).
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--quick", action="store_true", help="minimal sizes: proves the script works")
    args = parser.parse_args()
    results = run(args.quick)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    sys.exit(0)
