"""Seeded random faults for the reliability runs (and one fix to moto they need).

`RandomProviderFaults` replaces a provider fake's `FaultPlan`: besides faults a test pushes, each
request to a targeted endpoint draws from a seeded generator whether it fails, and how. The
sequence of draws is fixed by the seed; which document meets which fault depends on how the
workers' requests interleave, as it would in production.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from moto.sqs.models import Queue as SqsQueue
from moto.sqs.models import SQSBackend

from local.fakes.common import Fault, FaultPlan

# Kinds of provider fault, as the figures name them.
SERVER_ERROR = "5xx"
RATE_LIMITED = "429 with Retry-After"
RESET = "connection reset"
RESET_AFTER_COMMIT = "reset after commit"
SLOW = "slow past the timeout"
STALL_AFTER_COMMIT = "stored, then stalled"

# The AWS services whose outages the runs inject ("S3, DynamoDB or Secrets Manager failing for a while").
AWS_SERVICES = ("dynamodb", "s3", "secretsmanager")

CREATE_FAULTS = (SERVER_ERROR, RATE_LIMITED, RESET, RESET_AFTER_COMMIT, SLOW, STALL_AFTER_COMMIT)
READ_FAULTS = (SERVER_ERROR, RATE_LIMITED, RESET, SLOW)


@dataclass(frozen=True)
class FaultTarget:
    """Requests that may fail (method, path regex) and the kinds of fault they may meet."""

    method: str
    path: str
    kinds: tuple[str, ...]

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


class RandomProviderFaults(FaultPlan):
    def __init__(self, *, seed: int, rate: float, targets: tuple[FaultTarget, ...], read_timeout: float) -> None:
        super().__init__()
        self.rate = rate
        self.targets = targets
        # Past the client's read timeout, so the fault is one (the server still finishes the request).
        self.stall_seconds = read_timeout + 0.5
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)

    def take(self, method: str, path: str) -> Fault | None:
        pushed = super().take(method, path)
        if pushed is not None:
            return pushed
        target = next((t for t in self.targets if t.matches(method, path)), None)
        if target is None:
            return None
        with self._lock:  # requests arrive on many threads; the draws stay one seeded sequence
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(target.kinds)
            fault = self._fault(kind)
            self.injected[kind] += 1
            self.fired.append(fault)
        return fault

    def _fault(self, kind: str) -> Fault:
        if kind == SERVER_ERROR:
            return Fault("status", status=self._random.choice((500, 502, 503)))
        if kind == RATE_LIMITED:
            return Fault("rate_limited", retry_after=1)
        if kind in (RESET, RESET_AFTER_COMMIT):
            return Fault("reset", after_commit=kind == RESET_AFTER_COMMIT)
        if kind == SLOW:
            return Fault("slow", seconds=self.stall_seconds)
        assert kind == STALL_AFTER_COMMIT, kind
        return Fault("stall_after_commit", seconds=self.stall_seconds)


# ---------------------------------------------------------------------------------------- moto


@contextmanager
def sqs_like_aws() -> Iterator[None]:
    """Correct two behaviours of moto's SQS that real SQS does not have, while the block runs.

    1. `Queue.delete_message` rebuilds the message list without the lock `add_message` takes, so a
       message sent (or deleted) at the same moment can vanish or come back. A vanished message a
       worker had received keeps its FIFO group "in flight" forever: every later message of the
       account is stuck (seen in 1,000-document runs: 3 of 8 groups blocked).
    2. A FIFO group stays "in flight" until each of its returned messages is looked at again, so
       when several messages of a group come back by their visibility timeout (skipped behind a
       failure, or a whole failed batch), the first receive skips them and hands out the next
       ones: a correction was exported before its invoice. Real SQS hands the group out again
       from its first message; here the messages whose visibility ended are released first.
    """
    delete, receive = SqsQueue.delete_message, SQSBackend.receive_message

    def delete_message(queue: SqsQueue, receipt_handle: str) -> None:
        with queue._messages_lock:
            delete(queue, receipt_handle)

    def receive_message(backend: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = backend.get_queue(queue_name)
        with queue._messages_lock:
            for message in [m for m in queue.pending_messages if m.visible]:
                queue.pending_messages.discard(message)
        return receive(backend, queue_name, *args, **kwargs)

    SqsQueue.delete_message, SQSBackend.receive_message = delete_message, receive_message
    try:
        yield
    finally:
        SqsQueue.delete_message, SQSBackend.receive_message = delete, receive


# ---------------------------------------------------------------------------------------- AWS


class AwsOutages:
    """Seeded outages of AWS services, as the functions' own boto3 clients see them.

    Each call may start an outage of its service (probability `rate`); for the next
    `seconds` every call of that service fails with HTTP 503 ServiceUnavailable. The failure is
    returned from botocore's `before-call` hook, i.e. after the SDK's own retries would have given
    up: an outage longer than the retry budget, as a real regional incident looks to a function.
    """

    def __init__(self, *, seed: int, rate: float, services: tuple[str, ...] = AWS_SERVICES,
                 seconds: tuple[float, float] = (0.5, 2.0)) -> None:
        self.rate = rate
        self.services = services
        self.seconds = seconds
        self.outages: Counter[str] = Counter()
        self.failed_calls: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def install(self, clients: Iterable[Any]) -> None:
        for client in {id(c): c for c in clients}.values():  # the stores share their DynamoDB client
            client.meta.events.register("before-call", self._before_call)

    def _before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        service = model.service_model.service_name
        if service not in self.services:
            return None
        now = time.monotonic()
        with self._lock:
            if now >= self._down_until.get(service, 0.0):
                if self._random.random() >= self.rate:
                    return None
                self._down_until[service] = now + self._random.uniform(*self.seconds)
                self.outages[service] += 1
            self.failed_calls[service] += 1
        error = {"Error": {"Code": "ServiceUnavailable", "Message": f"injected {service} outage"},
                 "ResponseMetadata": {"HTTPStatusCode": 503, "HTTPHeaders": {}}}
        return AWSResponse(url="", status_code=503, headers={}, raw=None), error


# ---------------------------------------------------------------------------------------- crashes


class WorkerKilled(BaseException):
    """The function's process dies here. A BaseException, so that nothing on the way up handles it -
    no batch processor, no idempotency clean-up - as nothing runs after a real kill."""


# Where a worker is killed.
KILLED_MID_CALL = "killed mid-call (provider had it)"
KILLED_BETWEEN_RECORDS = "crashed mid-batch"
KILLED_STREAM_MID_BATCH = "stream consumer killed mid-batch"


class WorkerCrashes:
    """Seeded deaths of the functions: of the export function during a create (after the provider stored
    the document, before we recorded it: the document stays `sending`) or after a record, mid-batch (the
    whole batch comes back, done records included); of the stream function after it carried out a
    change (its events published, its requests sent), mid-batch: the stream hands the whole batch over
    again (bisected), the changes already carried out included."""

    def __init__(self, *, seed: int, rate: float) -> None:
        self.rate = rate
        self.crashes: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def _dies(self, where: str) -> bool:
        with self._lock:
            if self._random.random() >= self.rate:
                return False
            self.crashes[where] += 1
            return True

    @contextmanager
    def installed(self, stack: Any, runtime: Any) -> Iterator[None]:
        mappings = [stack.event_source("ExportQueue"), stack.stream_source("DocumentsTable")]
        functions = [mapping.function for mapping in mappings]
        for mapping, function in zip(mappings, functions, strict=True):
            mapping.function = _mortal(function)
        try:
            with self._deaths_during_creates(), self._deaths_between_records(runtime):
                yield
        finally:
            for mapping, function in zip(mappings, functions, strict=True):
                mapping.function = function

    @contextmanager
    def _deaths_during_creates(self) -> Iterator[None]:
        """Killed after a create's own POST came back (some providers read, download or poll with POSTs too)."""
        from invoice_export.providers import adapter_class, supported_providers
        from invoice_export.providers.http import ProviderHttp

        request = ProviderHttp.request
        creates = {cls: cls.__dict__["create_document"] for cls in map(adapter_class, supported_providers())}
        creating = threading.local()

        def marked(create: Any) -> Any:
            def create_document(adapter: Any, plan: Any) -> Any:
                creating.active = True
                try:
                    return create(adapter, plan)
                finally:
                    creating.active = False
            return create_document

        def request_then_die(http: ProviderHttp, method: str, path: str, **kwargs: Any) -> Any:
            response = request(http, method, path, **kwargs)
            if method == "POST" and getattr(creating, "active", False) and self._dies(KILLED_MID_CALL):
                raise WorkerKilled(KILLED_MID_CALL)
            return response

        ProviderHttp.request = request_then_die
        for cls, create in creates.items():
            setattr(cls, "create_document", marked(create))  # noqa: B010
        try:
            yield
        finally:
            ProviderHttp.request = request
            for cls, create in creates.items():
                setattr(cls, "create_document", create)  # noqa: B010

    @contextmanager
    def _deaths_between_records(self, runtime: Any) -> Iterator[None]:
        """Killed after the export function handled a record, or the stream function carried out a change."""
        export = runtime.export_service.export
        handle_change = runtime.record_changes.handle

        def export_then_die(*args: Any, **kwargs: Any) -> Any:
            result = export(*args, **kwargs)
            if self._dies(KILLED_BETWEEN_RECORDS):
                raise WorkerKilled(KILLED_BETWEEN_RECORDS)
            return result

        def handle_change_then_die(*args: Any, **kwargs: Any) -> Any:
            done = handle_change(*args, **kwargs)
            if done.anything and self._dies(KILLED_STREAM_MID_BATCH):
                raise WorkerKilled(KILLED_STREAM_MID_BATCH)
            return done

        runtime.export_service.export = export_then_die
        runtime.record_changes.handle = handle_change_then_die
        try:
            yield
        finally:
            del runtime.export_service.export
            del runtime.record_changes.handle


def _mortal(function: Any) -> Any:
    """The local function, whose worker's death fails the invocation as Lambda reports a dead runtime."""
    from local.esm import LocalFunction

    handler = function.load()

    def mortal_handler(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        except WorkerKilled as death:
            raise RuntimeError(f"the worker died: {death}") from None

    return LocalFunction(function.name, mortal_handler, timeout_s=function.timeout_s,
                         memory_mb=function.memory_mb, region=function.region)
