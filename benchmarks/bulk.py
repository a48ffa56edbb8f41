"""Bulk export of 2,000 documents against a provider with 50 ms latency and 20 requests/s per account.

The whole flow of a bulk-mode account, through the local stack's queue emulator: the documents
are issued first (recorded as pending, not timed), then the nightly bulk-export function queues
them and the export function's event source drains the FIFO queue (one group: the account).
Timed from invoking the bulk-export function until the export queue is empty.

The provider is the Fakturownia fake over HTTP on 127.0.0.1 with its latency and rate limit; the
service's own limiter is configured to the same 20 requests per second, as a deployment with
that contract would set PROVIDER_RATE_LIMITS. AWS is answered in memory by the local stack's moto
backends (benchmarks.transport): over moto's HTTP server every AWS call costs ~8 ms here,
which would measure moto rather than the export. PDF fetches are not run meanwhile (they would
share the provider's limit: one more call per document); the PDF benchmark measures them. Their
requests are taken off the PDF queue as they come (benchmarks.support.discarding).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from benchmarks.support import (
    ONE_GROUP_POLLERS,
    BenchAccount,
    benchmark_main,
    billed,
    connect_account,
    discarding,
    document_body,
    only_event_source,
    recording,
    stop_capturing_events,
)
from benchmarks.transport import BackendClock, InMemoryAws
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.records import Status
from invoice_export.platform.runtime import Runtime, get_runtime, reset_runtime
from local.fakes.fakturownia import FakturowniaFake
from local.stack import LocalStack

DOCUMENTS, QUICK_DOCUMENTS = 2000, 3
# The account passes our numbers, so its same-day documents are sent side by side. With
# `BENCH_BULK_NUMBERING=provider` (the accounts' default) the provider calls go one at a time in issue
# order, only our AWS work overlapping them; that takes about twice as long here, so it is measured on
# its own (`make bench ARGS="--only bulk"`), not in the whole run.
NUMBERING = os.environ.get("BENCH_BULK_NUMBERING", "ours")
LATENCY_SECONDS = 0.05
LIMIT_PER_SECOND = 20


def run(quick: bool) -> dict[str, Any]:
    count = QUICK_DOCUMENTS if quick else DOCUMENTS
    fake = FakturowniaFake(rate_limit=(LIMIT_PER_SECOND, 1.0))
    aws_clock = BackendClock()
    with fake, InMemoryAws(aws_clock).installed(), \
            LocalStack(workers_per_mapping=ONE_GROUP_POLLERS) as stack:
        os.environ["PROVIDER_RATE_LIMITS"] = json.dumps({"fakturownia": {
            "limit": LIMIT_PER_SECOND, "window_seconds": 1, "scope": "credential", "source": "the account's contract"}})
        reset_runtime()
        runtime = get_runtime()
        account = connect_account(fake, runtime, fake.base_url, account_id="bench-bulk", export_mode="bulk",
                                  numbering=NUMBERING)
        _issue(runtime, account, count)
        stop_capturing_events(stack)
        fake.latency_seconds = LATENCY_SECONDS
        export = stack.function("ExportFunction")
        with recording(export) as invocations, only_event_source(stack, "ExportQueue") as handled, \
                discarding(stack, "PdfQueue"):
            aws_before = aws_clock.total_seconds()
            started = time.perf_counter()
            queued = stack.function("BulkExportFunction").invoke({"trigger": "nightly"})
            if queued.failed:
                raise RuntimeError(f"the bulk-export function failed: {queued.error!r}")
            handled(count, timeout=max(600.0, count))
            wall = time.perf_counter() - started
            emulated_aws_cpu = aws_clock.total_seconds() - aws_before
        records = runtime.documents.get_many(account.account_id, _document_ids(count))
        calls = fake.requests.entries()
    exported = [r for r in records if r.status == Status.EXPORTED]
    if len(exported) != count:
        others = [(r.document_id, r.status.value, r.last_error.code if r.last_error else None)
                  for r in records if r.status != Status.EXPORTED]
        raise RuntimeError(f"{len(exported)} of {count} documents exported; the others: {others[:5]}")
    accepted = [c for c in calls if c.status is not None and c.status != 429]
    floor = len(accepted) / LIMIT_PER_SECOND
    return {
        "documents": count, "numbering": NUMBERING, "wall_s": round(wall, 1), "provider_calls": len(calls),
        "accepted_calls": len(accepted), "http_429": sum(c.status == 429 for c in calls),
        "floor_s": round(floor, 1), "ratio": round(wall / floor, 2),
        "latency_only_s": round(len(accepted) * LATENCY_SECONDS, 1),
        "export_invocations": billed(invocations), "memory_mb": export.memory_mb,
        "bulk_function_s": round(queued.duration_s, 2),
        # moto answering the AWS calls, in this process and on its CPU (both functions' calls): in AWS
        # these calls cost network latency instead, and no CPU of the function's.
        "emulated_aws_cpu_s": round(emulated_aws_cpu, 1),
    }


def _document_ids(count: int) -> list[str]:
    return [f"BENCH-{index:06d}" for index in range(count)]


def _issue(runtime: Runtime, account: BenchAccount, count: int) -> None:
    """The order system issued the documents: recorded as pending, as the export function records
    them for a bulk-mode account (its events and idempotency records are left out: not timed)."""
    for index in range(count):
        registration, record = runtime.documents.register(
            ExportMessage.model_validate_json(document_body(account.account_id, index)))
        if record.status != Status.PENDING:
            raise RuntimeError(f"document {record.document_id} is {record.status.value} ({registration.value})")


if __name__ == "__main__":
    benchmark_main(run)
