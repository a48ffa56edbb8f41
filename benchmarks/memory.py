"""Peak memory of the export function's process after 1,000, 5,000 and 10,000 documents.

The documents go through the local stack's queue emulator (the FIFO export queue, the export
function's event source) with a zero-latency provider answered in memory (benchmarks.transport).
One process runs the handler, as one warm Lambda instance would; its peak resident memory (the
kernel's high-water mark) is read after each count.

In Lambda what AWS stores lives outside the function's memory. So here moto runs in a process of
its own (a moto server, over HTTP), and every `PRUNE_EVERY` documents, with the queue idle, the
fake provider forgets its stored invoices: what stays in this process is the function's own
memory, the queue emulator's and the fake's bounded working set. (With moto in this process the
peak grew with the count: moto keeps every item it stored, and tracks every model object it ever
created, which says nothing about the function.)
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
    moto_in_own_process,
    only_event_source,
    stop_capturing_events,
)
from benchmarks.transport import BackendClock, InMemoryProvider
from invoice_export.platform.runtime import get_runtime, reset_runtime
from local.fakes.fakturownia import FakturowniaFake
from local.stack import LocalStack

IN_MEMORY_URL = "http://fakturownia.in-memory"
# The issue asks for 1,000, 5,000 and 10,000 documents. Here moto answers the ~10 AWS calls of each
# document over HTTP in ~200 ms, so 10,000 take about 40 minutes: `make bench` (10 minutes in all)
# keeps the ratios at a tenth of the counts; BENCH_MEMORY_DOCUMENTS="1000 5000 10000"
# (run.py --memory-documents) runs them.
CHECKPOINTS, QUICK_CHECKPOINTS = (100, 500, 1000), (3, 6, 9)
COUNTS_VARIABLE = "BENCH_MEMORY_DOCUMENTS"
PRUNE_EVERY, QUICK_PRUNE_EVERY = 100, 3
SEND_BATCH = 10  # SendMessageBatch's maximum


def run(quick: bool) -> dict[str, Any]:
    checkpoints, prune_every = (QUICK_CHECKPOINTS, QUICK_PRUNE_EVERY) if quick else (CHECKPOINTS, PRUNE_EVERY)
    if os.environ.get(COUNTS_VARIABLE) and not quick:
        checkpoints = tuple(sorted(int(count) for count in os.environ[COUNTS_VARIABLE].split()))
    clock = BackendClock()
    fake = FakturowniaFake(rate_limit=None)
    provider = InMemoryProvider(fake, clock, IN_MEMORY_URL)
    with fake, moto_in_own_process(), provider.serving(), LocalStack(workers_per_mapping=ONE_GROUP_POLLERS) as stack:
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
                        _prune(fake, account)
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


def _prune(fake: FakturowniaFake, account: BenchAccount) -> None:
    """Forget what the provider would have kept on its side (the queue is idle now)."""
    stored = fake.account(account.api_token)
    stored.invoices.clear()
    stored.sources.clear()
    fake.requests.clear()


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


if __name__ == "__main__":
    benchmark_main(run)
