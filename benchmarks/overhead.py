"""Our overhead per document on the export path.

Transport level: the export function's handler runs for one document (one SQS record) at a time,
with AWS and the provider answered in memory (benchmarks.transport). Our cost is the handler's
CPU time minus the CPU time the in-memory backends spent answering. Reference: building and
sending the same provider request with a bare requests session through the same transport.

End to end: the same handler against the local stack over HTTP (moto server, the Fakturownia fake
on 127.0.0.1), wall time per document. Reference: the bare HTTP call of the same request.

Each document is measured right after a reference call, so drift on a noisy machine hits both.

What follows from the document's record (its outcome event, PDF request, audit entry) is the
record-changes function's work, off the export path: at transport level each document's changes
are handed to it from the documents table's stream right after the export, and its CPU time and AWS
calls per document are measured beside the export's.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import requests

from benchmarks.aws_calls import AwsCallCounter, attributed_to
from benchmarks.support import (
    BenchAccount,
    RecordStream,
    Spread,
    benchmark_main,
    connect_account,
    document_body,
    failed_changes,
    ratio,
    sqs_event,
)
from benchmarks.transport import BackendClock, InMemoryAws, InMemoryProvider
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.planning import plan_export
from invoice_export.platform.runtime import Runtime, get_runtime, reset_runtime
from local.esm import LocalFunction
from local.fakes.fakturownia import FakturowniaFake
from local.stack import LocalStack

IN_MEMORY_URL = "http://fakturownia.in-memory"


@dataclass(frozen=True)
class Sizes:
    warmup: int  # first calls load service models, open clients and fill caches: a cold start's business
    transport: int
    end_to_end: int
    profiled: int


# Enough for a p99, and few enough that the provider's default rate limit (600 a minute) never waits.
FULL, QUICK = Sizes(warmup=20, transport=300, end_to_end=100, profiled=50), Sizes(1, 2, 2, 1)
# Where CPU time goes, by the file a function lives in; the in-memory backends are left out.
AREAS = (
    ("our code (layer and handlers)", ("/invoice_export/", "/functions/")),
    ("boto3 / botocore", ("/botocore/", "/boto3/")),
    ("Powertools", ("/aws_lambda_powertools/",)),
    ("pydantic", ("/pydantic/", "/pydantic_core/", "/pydantic_settings/")),
    ("requests / urllib3", ("/requests/", "/urllib3/")),
)
BACKENDS = ("/moto/", "/werkzeug/", "/flask/", "/local/fakes/", "/benchmarks/")
BACKEND, OTHER = "in-memory backends and this benchmark", "not attributable"
MEASURED, WARMUP = "export function, measured documents", "export function, warm-up"  # who made an AWS call
CHANGES_MEASURED, CHANGES_WARMUP = "record-changes function, measured documents", "record-changes function, warm-up"
BATCH_MEASURED = "export function, one batch of BATCH_SIZE"
# The template's BatchSize of the export queue's event: in steady state the account's settings are read
# once per batch, which a one-record invocation (the CPU figures') pays on every document.
BATCH_SIZE = 10


def run(quick: bool) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    with FakturowniaFake(rate_limit=None) as fake, LocalStack() as stack:
        transport = _transport_level(stack, fake, sizes)
        end_to_end = _end_to_end(stack, fake, sizes)
    return {"transport": transport, "end_to_end": end_to_end}


def _transport_level(stack: LocalStack, fake: FakturowniaFake, sizes: Sizes) -> dict[str, Any]:
    clock = BackendClock()
    aws, provider = InMemoryAws(clock), InMemoryProvider(fake, clock, IN_MEMORY_URL)
    # Counts the handler's AWS calls as they are made; its own CPU time is charged to the backends' clock.
    calls = AwsCallCounter(clock, measure_dynamodb=False)
    with aws.installed(), provider.serving(), calls.installed():
        reset_runtime()  # its boto3 session and provider adapters must come from inside the block
        runtime = get_runtime()
        account = connect_account(fake, runtime, IN_MEMORY_URL, account_id="bench-in-memory")
        bare = requests.Session()
        provider.mount_on(bare)
        changes = _Changes(RecordStream(stack), lambda call: _cpu_without_backends(clock, call))
        export, reference = _paired_runs(stack, runtime, account, bare, IN_MEMORY_URL, sizes.warmup,
                                         sizes.transport, lambda call: _cpu_without_backends(clock, call), changes)
        measured = sizes.warmup + sizes.transport
        per_document = calls.usage(MEASURED)
        changes_per_document = calls.usage(CHANGES_MEASURED)
        shares = _cpu_shares(stack, account, first_index=measured, count=sizes.profiled)
        batch_first = measured + sizes.profiled
        _export_one_batch(stack, account, first_index=batch_first)
        per_document_in_batch = calls.usage(BATCH_MEASURED)
    _expect_exported(fake, account, batch_first + BATCH_SIZE)
    reset_runtime()
    return {"ours": export.as_dict(), "bare_requests": reference.as_dict(),
            "ratio_median": ratio(export.median_ms, reference.median_ms), "cpu_shares": shares,
            "aws_calls_per_document": {name: round(count / sizes.transport, 2)
                                       for name, count in sorted(per_document.calls.items())},
            "aws_calls_per_document_in_batch": {name: round(count / BATCH_SIZE, 2)
                                                for name, count in sorted(per_document_in_batch.calls.items())},
            "batch_size": BATCH_SIZE,
            "record_changes": {"cpu": Spread.of_seconds(changes.measured[sizes.warmup:]).as_dict(),
                               "aws_calls_per_document": {name: round(count / sizes.transport, 2) for name, count
                                                          in sorted(changes_per_document.calls.items())}}}


def _end_to_end(stack: LocalStack, fake: FakturowniaFake, sizes: Sizes) -> dict[str, Any]:
    reset_runtime()
    runtime = get_runtime()
    account = connect_account(fake, runtime, fake.base_url, account_id="bench-http")
    export, reference = _paired_runs(stack, runtime, account, requests.Session(), fake.base_url, sizes.warmup,
                                     sizes.end_to_end, _wall_seconds)
    _expect_exported(fake, account, sizes.warmup + sizes.end_to_end)
    return {"ours": export.as_dict(), "bare_http": reference.as_dict(),
            "ratio_median": ratio(export.median_ms, reference.median_ms)}


def _paired_runs(stack: LocalStack, runtime: Runtime, account: BenchAccount, bare: requests.Session,
                 base_url: str, warmup: int, count: int, measure: Callable[[Callable[[], Any]], float],
                 changes: _Changes | None = None) -> tuple[Spread, Spread]:
    """Alternately: export one document through the handler, send one bare create of the same shape (and
    hand the document's record changes to the record-changes function, measured apart)."""
    function = stack.function("ExportFunction")
    handler = function.load()
    settings = runtime.accounts.get(account.account_id)
    adapter = runtime.build_adapter(settings, runtime.accounts.credentials(account.account_id))
    headers = {"Authorization": f"Bearer {account.api_token}"}
    ours: list[float] = []
    reference: list[float] = []
    for index in range(warmup + count):
        event = sqs_event(stack, "ExportQueue", [document_body(account.account_id, index)], account.account_id)
        # The reference creates a document of its own (the provider refuses a second one of ours).
        other = ExportMessage.model_validate_json(document_body(account.account_id, index, prefix="BARE"))
        payload = adapter.build_request(plan_export(other.document, settings, type(adapter)))
        reference_seconds = measure(partial(_send_bare, bare, f"{base_url}/invoices.json", payload, headers))
        with attributed_to(MEASURED if index >= warmup else WARMUP):
            ours_seconds = measure(partial(_invoke, function, handler, event))
        if changes is not None:
            with attributed_to(CHANGES_MEASURED if index >= warmup else CHANGES_WARMUP):
                changes.hand_over()
        if index >= warmup:
            ours.append(ours_seconds)
            reference.append(reference_seconds)
    return Spread.of_seconds(ours), Spread.of_seconds(reference)


class _Changes:
    """The documents table's stream mapping: hands a document's record changes to the record-changes
    function and measures the invocation (its reads of the stream are not measured: Lambda's)."""

    def __init__(self, stream: RecordStream, measure: Callable[[Callable[[], Any]], float]) -> None:
        self.stream, self.measure = stream, measure
        self.handler = stream.function.load()
        self.measured: list[float] = []  # seconds per document, one invocation each

    def hand_over(self) -> None:
        with attributed_to("event source mappings"):
            event = self.stream.next_event()
        if event is None:
            raise RuntimeError("the export changed no document record")
        self.measured.append(self.measure(partial(self._invoke, event)))

    def _invoke(self, event: dict[str, Any]) -> None:
        response = self.handler(event, self.stream.function.new_context())
        if failed_changes(response):
            raise RuntimeError(f"the record-changes handler failed a record: {response}")


def _export_one_batch(stack: LocalStack, account: BenchAccount, first_index: int) -> None:
    """BATCH_SIZE documents of the account in one invocation, as the queue's event source hands them in
    steady state; its AWS calls are counted apart (BATCH_MEASURED)."""
    function = stack.function("ExportFunction")
    bodies = [document_body(account.account_id, index) for index in range(first_index, first_index + BATCH_SIZE)]
    with attributed_to(BATCH_MEASURED):
        _invoke(function, function.load(), sqs_event(stack, "ExportQueue", bodies, account.account_id))


def _send_bare(session: requests.Session, url: str, payload: dict[str, Any], headers: dict[str, str]) -> None:
    response = session.post(url, json=payload, headers=headers, timeout=(3.05, 10))
    response.raise_for_status()
    response.json()


def _invoke(function: LocalFunction, handler: Callable[..., Any], event: dict[str, Any]) -> None:
    response = handler(event, function.new_context())
    if response.get("batchItemFailures"):
        raise RuntimeError(f"the export handler failed a record: {response}")


def _cpu_without_backends(clock: BackendClock, call: Callable[[], Any]) -> float:
    cpu, backends = time.thread_time(), clock.seconds()
    call()
    return (time.thread_time() - cpu) - (clock.seconds() - backends)


def _wall_seconds(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _cpu_shares(stack: LocalStack, account: BenchAccount, first_index: int, count: int) -> dict[str, float]:
    """Share of our CPU time per area: cProfile's own time per function, by the package it lives in.

    Built-ins and standard-library functions are charged to the areas of their callers (json.dumps
    called by botocore is botocore's cost); the in-memory backends are left out.
    """
    function = stack.function("ExportFunction")
    handler = function.load()
    profile = cProfile.Profile()
    for index in range(first_index, first_index + count):
        event = sqs_event(stack, "ExportQueue", [document_body(account.account_id, index)], account.account_id)
        profile.runcall(_invoke, function, handler, event)
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    shares: dict[Any, dict[str, float]] = {}

    def areas_of(func: Any, visiting: frozenset[Any] = frozenset()) -> dict[str, float]:
        if func in shares:
            return shares[func]
        filename = func[0]
        if any(marker in filename for marker in BACKENDS):
            return {BACKEND: 1.0}
        area = next((name for name, markers in AREAS if any(m in filename for m in markers)), None)
        if area is not None:
            return {area: 1.0}
        callers = {caller: edge[2] for caller, edge in stats.get(func, (0, 0, 0, 0, {}))[4].items()
                   if caller not in visiting and caller != func}
        weight = sum(callers.values())
        if weight <= 0:
            return {OTHER: 1.0}
        mixed: dict[str, float] = {}
        for caller, seconds in callers.items():
            for name, part in areas_of(caller, visiting | {func}).items():
                mixed[name] = mixed.get(name, 0.0) + part * seconds / weight
        if not visiting:
            shares[func] = mixed
        return mixed

    totals: dict[str, float] = {}
    for func, (_calls, _primitive, own_seconds, _cumulative, _callers) in stats.items():
        for name, part in areas_of(func).items():
            totals[name] = totals.get(name, 0.0) + own_seconds * part
    totals.pop(BACKEND, None)
    overall = sum(totals.values())
    return {name: round(100 * seconds / overall, 1) for name, seconds in sorted(totals.items(), key=lambda a: -a[1])}


def _expect_exported(fake: FakturowniaFake, account: BenchAccount, count: int) -> None:
    """A benchmark of a path that silently failed would measure nothing: check the documents arrived."""
    ours = [invoice for invoice in fake.account(account.api_token).invoices
            if str(invoice.get("oid", "")).startswith("BENCH-")]
    if len(ours) != count:
        raise RuntimeError(f"expected {count} documents exported for {account.account_id}, "
                           f"the provider has {len(ours)}")


if __name__ == "__main__":
    benchmark_main(run)
