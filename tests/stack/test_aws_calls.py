"""AWS calls the export function makes per exported document (issue 18), counted as botocore makes them
(a `before-call` hook on the function's session: every client, resource and library call is seen), not
estimated. Steady state: clients open, settings read once per batch (a batch of 10, as the template's
BatchSize), credentials cached. The outcome event, the PDF request, the KSeF poll and the audit entry
are the stream function's work, not the export function's.

`make bench` (benchmarks/, issue 18 §2) prints the same count in its cost table; this test keeps the
export path at the target: at most 3 calls per document plus one rate-limit window per provider request.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from benchmarks.support import sqs_event
from invoice_export.platform.runtime import get_runtime, reset_runtime

BATCH = 10
CALLS_PER_DOCUMENT = 3  # register (PutItem), claim (UpdateItem or its transaction), settle (UpdateItem)


class AwsCalls:
    """Counts every AWS call of the clients created from one boto3 session after `install`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self, session) -> None:
        # Once per API call (retries inside botocore are not counted again), with the call's parameters.
        session.events.register("before-parameter-build", self._count)

    def _count(self, params, model, **_kwargs) -> None:
        name = f"{model.service_model.service_name}:{model.name}"
        if "TableName" in params:
            name += f" {params['TableName']}"
        with self._lock:
            self.calls[name] += 1

    def on_table(self, table: str) -> int:
        return sum(count for name, count in self.calls.items() if name.endswith(f" {table}"))


def _batch(shop, start: int, **document) -> dict:
    bodies = []
    for index in range(start, start + BATCH):
        message = shop.message("01-invoice-company.json", document_id=f"CALLS-{index:03d}",
                               number=f"FV {index}/2026", **document)
        bodies.append(json.dumps(message))
    return sqs_event(shop.stack, "ExportQueue", bodies, shop.account_id)


@pytest.mark.parametrize("numbering", ["provider", "ours"])
def test_the_export_function_makes_at_most_three_aws_calls_per_document_and_one_per_provider_request(
        shop, numbering) -> None:
    shop.connect(numbering=numbering)
    reset_runtime()
    counter = AwsCalls()
    counter.install(get_runtime()._session)  # before any client of this runtime exists
    function = shop.stack.function("ExportFunction")
    handler = function.load()
    assert handler(_batch(shop, 0), function.new_context())["batchItemFailures"] == []  # warm: clients, caches
    counter.calls.clear()
    creates_before = shop.fake.requests.count(path=r"/invoices\.json")
    for start in (BATCH, 2 * BATCH):
        assert handler(_batch(shop, start), function.new_context())["batchItemFailures"] == []
    documents = 2 * BATCH
    provider_requests = shop.fake.requests.count(path=r"/invoices\.json") - creates_before
    calls = dict(counter.calls)
    windows = counter.on_table(shop.stack.ref("RateLimitsTable"))
    per_document = sum(calls.values()) / documents
    print(f"\nAWS calls per exported document ({numbering} numbering): {per_document:.2f} - "
          + ", ".join(f"{name} {count / documents:g}" for name, count in sorted(calls.items()))
          + f"; provider requests per document: {provider_requests / documents:g}")
    assert provider_requests == documents  # one-request creates
    assert windows <= provider_requests  # one rate-limit window per provider request, at most
    # The target: 3 per document + one rate-limit window per provider request (settings once per batch).
    assert per_document <= CALLS_PER_DOCUMENT + provider_requests / documents + 1 / BATCH, calls
    # Nothing of what follows from the record is done here any more.
    assert not {name for name in calls if name.split(":")[0] in ("events", "sqs")}, calls
    assert len(shop.provider_documents()) == 3 * BATCH
    reset_runtime()
