"""Peak memory of the export function's process after 1,000, 5,000 and 10,000 documents.

The documents go through the local stack's queue emulator (the FIFO export queue, the export
function's event source) with AWS and a zero-latency provider answered in memory
(benchmarks.transport). One process does it all, as one warm Lambda instance would; its peak
resident memory (the kernel's high-water mark) is read after each count.

In Lambda the stored state lives in AWS and at the provider, outside the function's memory; here
moto and the fake keep it in this process. So every `PRUNE_EVERY` documents, with the queue idle,
the benchmark empties the tables the export writes, the queues the export feeds and the
fake's stored invoices: what stays is the function's own memory plus a bounded backlog.
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

from benchmarks.support import (
    ONE_GROUP_POLLERS,
    BenchAccount,
    benchmark_main,
    connect_account,
    document_body,
    only_event_source,
    stop_capturing_events,
)
from benchmarks.transport import BackendClock, InMemoryAws, InMemoryProvider
from invoice_export.runtime import get_runtime, reset_runtime
from local.fakes.fakturownia import FakturowniaFake
from local.stack import LocalStack

IN_MEMORY_URL = "http://fakturownia.in-memory"
# The issue asks for 1,000, 5,000 and 10,000 documents. Here moto answers the ~12 AWS calls of each
# document with ~50 ms of CPU, so 10,000 take about 20 minutes: `make bench` keeps the ratios at a
# fifth of the counts; BENCH_MEMORY_DOCUMENTS="1000 5000 10000" (run.py --memory-documents) runs them.
CHECKPOINTS, QUICK_CHECKPOINTS = (200, 1000, 2000), (3, 6, 9)
COUNTS_VARIABLE = "BENCH_MEMORY_DOCUMENTS"
PRUNE_EVERY, QUICK_PRUNE_EVERY = 100, 3
SEND_BATCH = 10  # SendMessageBatch's maximum
# Every table the export writes per document (the audit trail and the limiter's window included:
# in AWS they live outside the function, and expire by TTL, which moto does not apply).
STATE_TABLES = ("DocumentsTable", "IdempotencyTable", "AuditTable", "RateLimitsTable")
FED_QUEUES = ("PdfQueue", "KsefQueue")


def run(quick: bool) -> dict[str, Any]:
    checkpoints, prune_every = (QUICK_CHECKPOINTS, QUICK_PRUNE_EVERY) if quick else (CHECKPOINTS, PRUNE_EVERY)
    if os.environ.get(COUNTS_VARIABLE) and not quick:
        checkpoints = tuple(sorted(int(count) for count in os.environ[COUNTS_VARIABLE].split()))
    clock = BackendClock()
    fake = FakturowniaFake(rate_limit=None)
    provider = InMemoryProvider(fake, clock, IN_MEMORY_URL)
    with fake, InMemoryAws(clock).installed(), provider.serving(), \
            LocalStack(workers_per_mapping=ONE_GROUP_POLLERS) as stack:
        # The zero-latency fake has no limit; the service's limiter still runs, with room to spare.
        os.environ["PROVIDER_RATE_LIMITS"] = json.dumps({"fakturownia": {
            "limit": 1000, "window_seconds": 1, "scope": "credential", "source": "benchmark: no provider limit"}})
        reset_runtime()
        account = connect_account(fake, get_runtime(), IN_MEMORY_URL, account_id="bench-memory")
        stop_capturing_events(stack)
        peaks = []
        started = time.perf_counter()
        sent = 0
        with only_event_source(stack, "ExportQueue") as handled:
            for checkpoint in checkpoints:
                while sent < checkpoint:
                    chunk = min(prune_every - sent % prune_every, checkpoint - sent)
                    _send(stack, account, range(sent, sent + chunk))
                    handled(sent + chunk, timeout=600, fail_on_retry=True)
                    sent += chunk
                    if sent % prune_every == 0:
                        _prune(stack, fake, account)
                peaks.append({"documents": checkpoint, "peak_rss_mb": _peak_rss_mb()})
        seconds = time.perf_counter() - started
        exported = stack.event_source("ExportQueue").stats.deleted
    if exported != checkpoints[-1]:
        raise RuntimeError(f"{exported} of {checkpoints[-1]} messages handled")
    growth = peaks[-1]["peak_rss_mb"] - peaks[0]["peak_rss_mb"]
    return {"peaks": peaks, "growth_mb": round(growth, 1), "seconds": round(seconds, 1),
            "documents_per_second": round(checkpoints[-1] / seconds, 1), "prune_every": prune_every}


def _send(stack: LocalStack, account: BenchAccount, indexes: range) -> None:
    sqs, url = stack.client("sqs"), stack.queue_url("ExportQueue")
    for start in range(indexes.start, indexes.stop, SEND_BATCH):
        entries = [{"Id": str(index), "MessageBody": document_body(account.account_id, index),
                    "MessageGroupId": account.account_id, "MessageDeduplicationId": f"memory-{index}"}
                   for index in range(start, min(indexes.stop, start + SEND_BATCH))]
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"could not queue documents: {failed}")


def _prune(stack: LocalStack, fake: FakturowniaFake, account: BenchAccount) -> None:
    """Forget what Lambda would have left in AWS and at the provider (the queues are idle now)."""
    dynamodb = stack.client("dynamodb")
    for table in STATE_TABLES:
        schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        # Placeholders: a key may be a reserved word (the rate limits' "scope").
        names = {f"#k{index}": attribute["AttributeName"] for index, attribute in enumerate(schema)}
        for page in dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression=", ".join(names),
                                                             ExpressionAttributeNames=names):
            for start in range(0, len(page["Items"]), 25):  # BatchWriteItem's maximum
                dynamodb.batch_write_item(RequestItems={table: [
                    {"DeleteRequest": {"Key": item}} for item in page["Items"][start:start + 25]]})
    sqs = stack.client("sqs")
    for queue in FED_QUEUES:  # PurgeQueue is allowed once a minute: receive and delete instead
        url = stack.queue_url(queue)
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(messages)])
    stored = fake.account(account.api_token)
    stored.invoices.clear()
    stored.sources.clear()
    fake.requests.clear()


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


if __name__ == "__main__":
    benchmark_main(run)
