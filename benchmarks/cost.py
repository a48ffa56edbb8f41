"""What AWS bills per document, measured on the document's whole way through the deployment.

Each document goes the way a real one goes, every step through the handlers as deployed:
the order system sends it to the export queue; the export queue's event source hands it to the
export function, which sends it to the provider (the Fakturownia fake over HTTP, with latency)
and records it; the documents table's stream hands those record changes to the record-changes
function, which publishes the outcome event, writes the audit entry and asks for the PDF; the PDF
queue's event source hands that request to the PDF function, which stores the PDF in S3 (a change
the stream hands over too); the customer opens the e-mailed link once (the link function
redirects to S3, and the customer downloads the PDF from there).

AWS is answered in memory by moto (benchmarks.transport), which lets the counter
(benchmarks.aws_calls) read item sizes before and after each DynamoDB write. Every AWS call is
counted where it is made and charged to who made it: a function (during its invocation), the
event source mappings (their ReceiveMessage and DeleteMessageBatch, made here the way the local
queue emulator makes them, and the stream mapping's GetRecords, which AWS does not bill to a
stream's Lambda trigger), or the order system (its SendMessage). Each function's log output is
measured in bytes as it writes it (stdout, as CloudWatch Logs receives it).

Two shapes of traffic. A trickle: one document per batch (every document its own invocation, the
worst case for what is paid per batch) from a few merchants whose settings and credentials the
process has cached. A busy deployment: batches of ten documents of ten different merchants, each
merchant new to the process (at 10,000 merchants a process seldom sees one twice within the
5 minutes it caches credentials). The cost table (benchmarks.cost_model) prices both.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import boto3

from benchmarks.aws_calls import AwsCallCounter, Usage, attributed_to, dynamodb_item_size
from benchmarks.support import (
    BenchAccount,
    RecordStream,
    benchmark_main,
    connect_account,
    document_body,
    failed_changes,
    stop_capturing_events,
)
from benchmarks.transport import BackendClock, InMemoryAws
from invoice_export.platform.runtime import Runtime, get_runtime, reset_runtime
from local.esm import Invocation, LocalFunction, lambda_sqs_record
from local.fakes.fakturownia import FakturowniaFake
from local.gateway import Route, http_api_event
from local.stack import LocalStack

DOCUMENTS, QUICK_DOCUMENTS = 40, 2  # per shape of traffic
MERCHANTS = 10
PROVIDER_LATENCY_SECONDS = 0.05  # as in the bulk benchmark: a fast provider; real ones answer slower
PRODUCER, EVENT_SOURCES = "order system (SendMessage)", "event source mappings (receive, delete)"
EXPORT, RECORDS, PDF, LINK = "ExportFunction", "RecordChangesFunction", "FetchPdfFunction", "LinkFunction"
FUNCTIONS = (EXPORT, RECORDS, PDF, LINK)


def run(quick: bool) -> dict[str, Any]:
    count = QUICK_DOCUMENTS if quick else DOCUMENTS
    clock = BackendClock()
    counter = AwsCallCounter(clock)
    fake = FakturowniaFake(rate_limit=None)
    with fake, LocalStack() as stack, InMemoryAws(clock).installed(), counter.installed(), \
            _LogMeter() as logs:
        reset_runtime()
        runtime = get_runtime()
        regulars = [connect_account(fake, runtime, fake.base_url, account_id=f"bench-cost-{n}")
                    for n in range(MERCHANTS)]
        newcomers = [connect_account(fake, runtime, fake.base_url, account_id=f"bench-cost-new-{n}")
                     for n in range(count)]
        stop_capturing_events(stack)
        fake.latency_seconds = PROVIDER_LATENCY_SECONDS
        journey = _Journey(stack, runtime, counter, clock, logs)
        # First a batch that is not counted: a process's first invocations create its AWS clients and
        # fill its caches (a cold start's business, which benchmarks.coldstart measures).
        journey.travel(regulars, MERCHANTS, MERCHANTS, first_index=0)
        shapes = {"trickle": journey.travel(regulars, count, 1, first_index=MERCHANTS),
                  "busy": journey.travel(newcomers, count, MERCHANTS, first_index=MERCHANTS + count)}
        at_rest = journey.at_rest()
        snapstart = {name: stack.function(name).memory_mb for name, resource in stack.template.resources.items()
                     if (resource.get("Properties") or {}).get("SnapStart")}
    return {"documents": count, "provider_latency_ms": PROVIDER_LATENCY_SECONDS * 1000, "shapes": shapes,
            "memory_mb": {name: stack.function(name).memory_mb for name in FUNCTIONS}, "at_rest": at_rest,
            "snapstart_functions": snapstart}


class _Journey:
    def __init__(self, stack: LocalStack, runtime: Runtime, counter: AwsCallCounter, clock: BackendClock,
                 logs: _LogMeter) -> None:
        self.stack, self.runtime, self.counter, self.clock, self.logs = stack, runtime, counter, clock, logs
        self.sqs = boto3.session.Session().client("sqs")  # created under the counter: its calls are counted
        self.exported: list[tuple[str, str]] = []
        with attributed_to(EVENT_SOURCES):
            self.stream = RecordStream(stack)

    def travel(self, accounts: list[BenchAccount], count: int, batch_size: int, first_index: int) -> dict[str, Any]:
        """`count` documents of `accounts` in turn, `batch_size` at a time, from the order system to the
        customer's download."""
        before = {caller: self.counter.usage(caller) for caller in (PRODUCER, EVENT_SOURCES, *FUNCTIONS)}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in FUNCTIONS}
        for start in range(first_index, first_index + count, batch_size):
            batch = [(accounts[(index - first_index) % len(accounts)], index)
                     for index in range(start, min(start + batch_size, first_index + count))]
            with attributed_to(PRODUCER):
                for account, index in batch:
                    self.sqs.send_message(QueueUrl=self.stack.queue_url("ExportQueue"),
                                          MessageBody=document_body(account.account_id, index, prefix="COST"),
                                          MessageGroupId=account.account_id, MessageDeduplicationId=uuid.uuid4().hex)
            runs[EXPORT].append(self._deliver("ExportQueue", EXPORT, len(batch)))
            runs[RECORDS] += self._deliver_changes()  # registered, claimed, exported: the event, the PDF request
            runs[PDF].append(self._deliver("PdfQueue", PDF, len(batch)))
            runs[RECORDS] += self._deliver_changes()  # the PDF stored: nothing follows, but Lambda is invoked
            for account, index in batch:
                runs[LINK].append(self._open_link(account, f"COST-{index:06d}"))
        usage = {caller: _minus(self.counter.usage(caller), previous) for caller, previous in before.items()}
        return {
            "batch_size": batch_size,
            "functions": {name: {**_sum(invocations), "aws": usage[name].as_dict()}
                          for name, invocations in runs.items()},
            PRODUCER: usage[PRODUCER].as_dict(), EVENT_SOURCES: usage[EVENT_SOURCES].as_dict(),
            # Not AWS calls of ours, but billed to the deployment: the link's request through the HTTP API,
            # and the customer's download of the PDF from S3 with the presigned URL (one GET each).
            "http_api_requests": count, "customer_s3_gets": count,
        }

    def _deliver(self, queue: str, function_name: str, expected: int) -> dict[str, float]:
        """What the queue's event source mapping does: receive a batch, invoke, delete what succeeded."""
        url = self.stack.queue_url(queue)
        with attributed_to(EVENT_SOURCES):
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                                MessageAttributeNames=["All"]).get("Messages", [])
        if len(messages) != expected:
            raise RuntimeError(f"{queue}: {len(messages)} messages received, {expected} expected")
        event = {"Records": [lambda_sqs_record(m, self.stack.arn(queue), self.stack.region) for m in messages]}
        invocation, measured = self._invoke(self.stack.function(function_name), event)
        failed = {item["itemIdentifier"] for item in (invocation.response or {}).get("batchItemFailures", [])}
        if invocation.failed or failed:
            raise RuntimeError(f"{function_name} failed: {invocation.error!r} {failed}")
        with attributed_to(EVENT_SOURCES):
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
        return measured

    def _deliver_changes(self) -> list[dict[str, float]]:
        """What the documents table's stream mapping does: hand the records after its checkpoint to the
        record-changes function, a batch at a time, and move the checkpoint past them. (The functions'
        writes of a batch come within the mapping's 1 s batching window: one invocation, as in AWS.)"""
        runs = []
        while True:
            with attributed_to(EVENT_SOURCES):
                event = self.stream.next_event()
            if event is None:
                break
            invocation, measured = self._invoke(self.stack.function(RECORDS), event)
            if invocation.failed or failed_changes(invocation.response):
                raise RuntimeError(f"{RECORDS} failed: {invocation.error!r} {invocation.response}")
            runs.append(measured)
        if not runs:
            raise RuntimeError("no change of a document record came through the stream")
        return runs

    def _open_link(self, account: BenchAccount, document_id: str) -> dict[str, float]:
        function = self.stack.function(LINK)
        [event] = self.stack.template.functions()[LINK].http_events
        token = self.runtime.make_link(account.account_id, document_id).rsplit("/", 1)[-1]
        request = http_api_event(Route(event, function), {"token": token}, method="GET", raw_path=f"/d/{token}",
                                 raw_query="", headers=[("host", "links.local")], body=b"", source_ip="127.0.0.1")
        invocation, measured = self._invoke(function, request)
        if invocation.failed or (invocation.response or {}).get("statusCode") != 302:
            raise RuntimeError(f"the link did not redirect: {invocation.response} {invocation.error!r}")
        self.exported.append((account.account_id, document_id))
        return measured

    def _invoke(self, function: LocalFunction, event: dict[str, Any]) -> tuple[Invocation, dict[str, float]]:
        function.load()  # importing the handler is a cold start's business, not the invocation's
        aws_before = self.clock.seconds()
        with attributed_to(function.name), self.logs.counting() as logged:
            invocation = function.invoke(event)
        return invocation, {"invocations": 1, "billed_ms": _billed_ms(invocation),
                            "in_memory_aws_ms": (self.clock.seconds() - aws_before) * 1000,
                            "log_bytes": logged.bytes, "platform_log_bytes": _platform_log_bytes(invocation)}

    def at_rest(self) -> dict[str, Any]:
        """What each document leaves stored: its record, its audit entries, its PDF (sizes as stored)."""
        records = [self.runtime.documents.get(account_id, document_id) for account_id, document_id in self.exported]
        pdf_bytes = [record.pdf.size for record in records if record is not None and record.pdf is not None]
        client = boto3.session.Session().client("dynamodb")  # outside any invocation: not a function's call
        sizes: dict[str, list[int]] = {}
        for table in ("DocumentsTable", "AuditTable"):
            name = self.stack.ref(table)
            items = client.scan(TableName=name)["Items"]  # small tables: one page
            sizes[table] = [dynamodb_item_size(item) for item in items]
        documents = len(self.exported)
        return {"pdf_bytes_per_document": sum(pdf_bytes) / max(1, len(pdf_bytes)),
                "record_bytes_per_document": sum(sizes["DocumentsTable"]) / max(1, len(sizes["DocumentsTable"])),
                "audit_bytes_per_document": sum(sizes["AuditTable"]) / max(1, documents)}


def _billed_ms(invocation: Invocation) -> int:
    return -(-int(invocation.duration_s * 1_000_000) // 1000)  # rounded up to the millisecond, as Lambda bills


def _platform_log_bytes(invocation: Invocation) -> int:
    """Lambda's own START, END and REPORT lines for the invocation, in its text log format."""
    request_id = str(uuid.uuid4())
    duration = invocation.duration_s * 1000
    lines = [f"START RequestId: {request_id} Version: $LATEST\n", f"END RequestId: {request_id}\n",
             f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: "
             f"{_billed_ms(invocation)} ms\tMemory Size: 512 MB\tMax Memory Used: 120 MB\t\n"]
    return sum(len(line.encode()) for line in lines)


def _sum(invocations: list[dict[str, float]]) -> dict[str, float]:
    keys = ("invocations", "billed_ms", "in_memory_aws_ms", "log_bytes", "platform_log_bytes")
    return {key: round(sum(i[key] for i in invocations), 1) for key in keys}


def _minus(after: Usage, before: Usage) -> Usage:
    usage = Usage()
    usage.calls = after.calls - before.calls
    usage.read_units = after.read_units - before.read_units
    usage.write_units = after.write_units - before.write_units
    usage.units_by_table = after.units_by_table - before.units_by_table
    usage.sqs_requests = after.sqs_requests - before.sqs_requests
    usage.events = after.events - before.events
    usage.s3_requests = after.s3_requests - before.s3_requests
    return usage


class _LogMeter:
    """Bytes written to stdout (file descriptor 1), where the handlers log as CloudWatch Logs receives it.

    The descriptor is pointed at a temporary file for the run; `counting()` measures what one
    invocation added (invocations run one at a time here, so each byte is the invocation's).
    """

    def __enter__(self) -> _LogMeter:
        sys.stdout.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(1)
        os.dup2(self._file.fileno(), 1)
        return self

    def __exit__(self, *_: object) -> None:
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
        self._file.close()

    @contextlib.contextmanager
    def counting(self) -> Iterator[_Logged]:
        logged = _Logged()
        sys.stdout.flush()
        start = os.fstat(1).st_size
        try:
            yield logged
        finally:
            sys.stdout.flush()
            logged.bytes = os.fstat(1).st_size - start


class _Logged:
    bytes = 0


if __name__ == "__main__":
    benchmark_main(run)
