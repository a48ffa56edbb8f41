"""Every AWS call botocore makes, counted as it happens, and what AWS would bill for it.

`AwsCallCounter` is a botocore event hook installed for every session created while it is
installed (as benchmarks.transport installs moto), so it sees the calls the code really makes,
whichever client, resource or library (Powertools) makes them. Nothing is estimated from a list
of calls we expect: when the export path changes (issue 18 §1), the counts change with it.

Each call is charged to the function whose invocation made it (`attributed_to`), and counted with
the billing units of its service:
- DynamoDB read and write request units, by the sizes of the items read and written, under
  DynamoDB's documented rules (`dynamodb_item_size`, `_DynamoDbUnits`). Item sizes before and
  after a write are read from moto's in-memory backend, so the benchmark must answer AWS in memory
  (benchmarks.transport.InMemoryAws) for the write units to be measured; over HTTP they are not.
- SQS requests, one per 64 KB chunk of payload, FIFO and standard queues apart.
- EventBridge events, one per 64 KB chunk of each entry.
- S3 requests by price class (PUT/COPY/POST/LIST, or GET and the rest).
- Anything else (Secrets Manager, KMS, ...): API calls.

`CallRecorder` keeps the calls themselves (service, operation, parameters as passed to the client)
so that another process can make the same calls with bare boto3 (benchmarks.coldstart's floor).
"""

from __future__ import annotations

import base64
import contextvars
import json
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore import handlers

OUTSIDE = "outside any function"  # set-up, queue emulation, the benchmark itself
KB = 1024
SQS_CHUNK = EVENT_CHUNK = 64 * KB  # SQS and EventBridge bill each 64 KB of payload as one request/event
S3_PUT_CLASS = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "ListBuckets",
                "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "ListObjectVersions"}

_REQUEST, _REQUEST_SIZE = "benchmark-request", "benchmark-request-size"  # keys in botocore's request context
# Refusals DynamoDB still charges for (a condition evaluated, a transaction cancelled); other errors cost nothing.
_CHARGED_REFUSALS = {"ConditionalCheckFailedException", "TransactionCanceledException"}

_caller: contextvars.ContextVar[str] = contextvars.ContextVar("aws-call-caller", default=OUTSIDE)


@contextmanager
def attributed_to(function_name: str) -> Iterator[None]:
    """AWS calls made in the block (and in threads started with a copy of its context) are that function's."""
    token = _caller.set(function_name)
    try:
        yield
    finally:
        _caller.reset(token)


@dataclass
class Usage:
    """What one caller's calls add up to."""

    calls: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> API calls
    read_units: float = 0.0  # DynamoDB read request units
    write_units: float = 0.0  # DynamoDB write request units (tables and their indexes)
    units_by_table: Counter[str] = field(default_factory=Counter)  # "table read"/"table write" -> units
    sqs_requests: Counter[str] = field(default_factory=Counter)  # "fifo" / "standard" -> billed requests
    events: int = 0  # EventBridge events (64 KB chunks)
    s3_requests: Counter[str] = field(default_factory=Counter)  # "put" / "get" -> requests

    def add(self, other: Usage) -> None:
        self.calls.update(other.calls)
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.units_by_table.update(other.units_by_table)
        self.sqs_requests.update(other.sqs_requests)
        self.events += other.events
        self.s3_requests.update(other.s3_requests)

    def total_calls(self) -> int:
        return sum(self.calls.values())

    def by_service(self) -> dict[str, int]:
        services: Counter[str] = Counter()
        for name, count in self.calls.items():
            services[name.split(":", 1)[0]] += count
        return dict(services)

    def as_dict(self) -> dict[str, Any]:
        return {"calls": dict(sorted(self.calls.items())), "read_units": round(self.read_units, 2),
                "write_units": round(self.write_units, 2),
                "units_by_table": {name: round(units, 2) for name, units in sorted(self.units_by_table.items())},
                "sqs_requests": dict(self.sqs_requests),
                "events": self.events, "s3_requests": dict(self.s3_requests)}


class AwsCallCounter:
    """Counts the AWS calls of every botocore session created while `installed()`, per caller.

    `clock` (benchmarks.transport.BackendClock), if given, is charged with the counter's own CPU
    time, so that a benchmark subtracting the in-memory backends' time subtracts this too.
    `measure_dynamodb=False` counts calls only (no item sizes): for CPU benchmarks.
    """

    def __init__(self, clock: Any = None, measure_dynamodb: bool = True) -> None:
        self.clock = clock
        self.measure_dynamodb = measure_dynamodb
        self._usage: dict[str, Usage] = defaultdict(Usage)
        self._lock = threading.Lock()
        self._pending = threading.local()  # a DynamoDB write's items before it ran, per thread

    @contextmanager
    def installed(self) -> Iterator[AwsCallCounter]:
        entries = [("before-call", self._before_call), ("after-call", self._after_call)]
        handlers.BUILTIN_HANDLERS.extend(entries)
        try:
            yield self
        finally:
            for entry in entries:
                handlers.BUILTIN_HANDLERS.remove(entry)

    def attach(self, client: Any) -> None:
        """Count an already created client's calls too."""
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)

    def usage(self, caller: str | None = None) -> Usage:
        """A copy of what `caller` (every caller if None) used so far."""
        total = Usage()
        with self._lock:
            for name, usage in self._usage.items():
                if caller is None or name == caller:
                    total.add(usage)
        return total

    def callers(self) -> list[str]:
        with self._lock:
            return sorted(self._usage)

    # ---- the hook

    def _before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        with self._charged():
            # Kept for the after-call hook, which botocore hands the parsed response only.
            body = params.get("body")
            context[_REQUEST_SIZE] = len(body) if isinstance(body, (bytes, str)) else 0
            request = context[_REQUEST] = _json_body(body) if model.service_model.protocol == "json" else {}
            if self.measure_dynamodb and model.service_model.service_name == "dynamodb":
                self._pending.items = _DynamoDbUnits.items_before(model.name, request)

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
                    **_: Any) -> None:
        with self._charged():
            service, operation = model.service_model.service_name, model.name
            usage = Usage()
            usage.calls[f"{service}:{operation}"] += 1
            request = context.get(_REQUEST) or {}
            if service == "dynamodb" and self.measure_dynamodb:
                error = (parsed.get("Error") or {}).get("Code")
                if http_response.status_code < 300 or error in _CHARGED_REFUSALS:
                    units = _DynamoDbUnits(operation, request, _response_json(http_response),
                                           getattr(self._pending, "items", {}), ok=error is None)
                    usage.read_units, usage.write_units = units.read, units.write
                    for table in _tables_of(request):
                        usage.units_by_table[f"{table} read"] += units.read / len(_tables_of(request))
                        usage.units_by_table[f"{table} write"] += units.write / len(_tables_of(request))
                self._pending.items = {}
            elif service == "sqs":
                queue = str(request.get("QueueUrl", ""))
                payload = max(context.get(_REQUEST_SIZE, 0), len(http_response.content or b""))
                usage.sqs_requests["fifo" if queue.endswith(".fifo") else "standard"] += max(
                    1, math.ceil(payload / SQS_CHUNK))
            elif service == "events" and operation == "PutEvents":
                usage.events += sum(max(1, math.ceil(len(json.dumps(entry).encode()) / EVENT_CHUNK))
                                    for entry in request.get("Entries", []))
            elif service == "s3":
                usage.s3_requests["put" if operation in S3_PUT_CLASS else "get"] += 1
            with self._lock:
                self._usage[_caller.get()].add(usage)

    @contextmanager
    def _charged(self) -> Iterator[None]:
        if self.clock is None:
            yield
        else:
            with self.clock.answering():
                yield


def _json_body(body: Any) -> dict[str, Any]:
    """The request of a JSON-protocol call (DynamoDB, SQS, EventBridge) from its serialised body."""
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


def _tables_of(request: dict[str, Any]) -> list[str]:
    """The tables a DynamoDB request names (a transaction's units are shared out evenly among them)."""
    if "TableName" in request:
        return [request["TableName"]]
    names = [next(iter(action.values()))["TableName"] for action in request.get("TransactItems", [])]
    return names or list(request.get("RequestItems", {})) or ["?"]


def _response_json(http_response: Any) -> dict[str, Any]:
    try:
        return json.loads(http_response.content or b"{}")
    except ValueError:
        return {}


# ---------------------------------------------------------------------------------------- DynamoDB


def dynamodb_item_size(item: dict[str, Any]) -> int:
    """An item's size (wire format: {"name": {"S": "..."}}) as DynamoDB counts it.

    Per "DynamoDB item sizes and formats" (docs.aws.amazon.com/amazondynamodb/latest/developerguide/
    CapacityUnitCalculations.html, read 2026-11-25): attribute name bytes + value; strings their
    UTF-8 bytes; numbers 1 byte per two significant digits + 1; binary its raw bytes; null and
    boolean 1 byte; a list or map 3 bytes + its elements + 1 byte per element; sets their elements.
    """
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, content), = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return len(base64.b64decode(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(text.encode()) for text in content)
    if kind == "NS":
        return sum(_number_size(number) for number in content)
    if kind == "BS":
        return sum(len(base64.b64decode(blob)) for blob in content)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in content.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def _number_size(text: str) -> int:
    digits = Decimal(text).as_tuple().digits
    significant = len("".join(map(str, digits)).strip("0")) or 1
    return math.ceil(significant / 2) + 1


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def _read_blocks(size: int) -> int:
    return max(1, math.ceil(size / (4 * KB)))


class _DynamoDbUnits:
    """Request units of one DynamoDB call, by DynamoDB's rules ("DynamoDB read and write operations",
    docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
    - a read: the item size rounded up to 4 KB, one unit per 4 KB (half if eventually consistent,
      two if transactional); a query: the items read together, rounded up once;
    - a write: the larger of the item before and after, rounded up to 1 KB, one unit per KB (two in a
      transaction); a write refused by its condition: the item as it stands (at least one unit);
    - each global secondary index the write changes: an index entry written (1 KB units), two if
      the entry's key changed (the old entry deleted, the new one put).
    Items before and after a write come from moto's in-memory backend (the same tables the call used).
    """

    WRITES = {"PutItem", "UpdateItem", "DeleteItem"}

    def __init__(self, operation: str, request: dict[str, Any], response: dict[str, Any],
                 before: dict[tuple[str, str], dict[str, Any] | None], ok: bool) -> None:
        self.read = 0.0
        self.write = 0.0
        if operation == "GetItem":
            self.read = self._reads([response.get("Item") or {}], request.get("ConsistentRead", False))
        elif operation == "BatchGetItem":
            self.read = sum(self._reads([item], False) for items in response.get("Responses", {}).values()
                            for item in items)
        elif operation in ("Query", "Scan"):
            size = sum(dynamodb_item_size(item) for item in response.get("Items", []))
            self.read = _read_blocks(size) * (1.0 if request.get("ConsistentRead") else 0.5)
        elif operation == "TransactGetItems":
            self.read = sum(2 * _read_blocks(dynamodb_item_size(item.get("Item") or {}))
                            for item in response.get("Responses", []))
        elif operation in self.WRITES or operation in ("TransactWriteItems", "BatchWriteItem"):
            factor = 2 if operation == "TransactWriteItems" else 1
            for key, old in before.items():
                new = _stored_item(*key) if ok else old
                self.write += factor * (_write_units(max(_size(old), _size(new))) if ok
                                        else _write_units(_size(old)))
                if ok:
                    self.write += factor * _index_writes(key[0], old, new)

    @staticmethod
    def _reads(items: list[dict[str, Any]], consistent: bool) -> float:
        return sum(_read_blocks(dynamodb_item_size(item)) for item in items) * (1.0 if consistent else 0.5)

    @classmethod
    def items_before(cls, operation: str, request: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any] | None]:
        """The stored items a write is about to change, by (table, key), as they are now."""
        keys: list[tuple[str, dict[str, Any]]] = []
        if operation in cls.WRITES:
            keys.append((request["TableName"], request.get("Key") or _key_of(request["TableName"], request["Item"])))
        elif operation == "TransactWriteItems":
            for action in request.get("TransactItems", []):
                (kind, body), = action.items()
                keys.append((body["TableName"], body.get("Key") or _key_of(body["TableName"], body["Item"])))
        elif operation == "BatchWriteItem":
            for table, writes in request.get("RequestItems", {}).items():
                for write in writes:
                    body = write.get("PutRequest") or write.get("DeleteRequest") or {}
                    keys.append((table, body.get("Key") or _key_of(table, body["Item"])))
        return {(table, json.dumps(key, sort_keys=True)): _stored_item(table, json.dumps(key, sort_keys=True))
                for table, key in keys}


def _size(item: dict[str, Any] | None) -> int:
    return dynamodb_item_size(item) if item else 0


def _backend_table(table: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    for backend in list(dynamodb_backends[DEFAULT_ACCOUNT_ID].values()):
        if table in backend.tables:
            return backend.tables[table]
    raise LookupError(f"table {table} is not in moto's in-memory backend: is AWS answered in memory?")


def _key_of(table: str, item: dict[str, Any]) -> dict[str, Any]:
    stored = _backend_table(table)
    return {name: item[name] for name in (stored.hash_key_attr, stored.range_key_attr) if name}


def _stored_item(table: str, key_json: str) -> dict[str, Any] | None:
    stored = _backend_table(table)
    key = json.loads(key_json)
    from moto.dynamodb.models.dynamo_type import DynamoType

    range_name = stored.range_key_attr
    item = stored.get_item(DynamoType(key[stored.hash_key_attr]),
                           DynamoType(key[range_name]) if range_name else None)
    return item.to_json()["Attributes"] if item is not None else None


def _index_writes(table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
    """Write units of the table's global secondary indexes for an item going from `old` to `new`."""
    stored = _backend_table(table)
    units = 0
    for index in stored.global_indexes:
        keys = [part["AttributeName"] for part in index.schema]
        projected = _projected_names(index, stored)
        before, after = _index_entry(old, keys, projected), _index_entry(new, keys, projected)
        if before == after:
            continue
        if before is not None and after is not None and all(before[k] == after[k] for k in keys):
            units += _write_units(dynamodb_item_size(after))  # projected attributes changed: one write
        else:
            units += sum(_write_units(dynamodb_item_size(entry)) for entry in (before, after) if entry is not None)
    return units


def _projected_names(index: Any, table: Any) -> set[str] | None:
    """None: every attribute (ALL)."""
    projection = index.projection or {}
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return None
    names = {part["AttributeName"] for part in index.schema} | {table.hash_key_attr, table.range_key_attr} - {None}
    if kind == "INCLUDE":
        names |= set(projection.get("NonKeyAttributes", []))
    return names


def _index_entry(item: dict[str, Any] | None, keys: list[str], projected: set[str] | None) -> dict[str, Any] | None:
    if item is None or any(key not in item for key in keys):
        return None  # a sparse index holds no entry for this item
    return dict(item) if projected is None else {name: value for name, value in item.items() if name in projected}


# ---------------------------------------------------------------------------------------- recording


class CallRecorder:
    """The AWS calls made while installed, as a client was asked for them (service, operation,
    parameters after the DynamoDB resource's type conversion), and the provider requests reported to
    `record_http`, in the order made: to be made again elsewhere with bare clients
    (benchmarks.cold_process's floor)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # Registered last: the DynamoDB resource turns Python values into typed ones on this event first.
        self._entry = ("before-parameter-build", self._record, handlers.REGISTER_LAST)

    def install(self) -> None:
        """For every botocore session created from now on."""
        handlers.BUILTIN_HANDLERS.append(self._entry)

    def uninstall(self) -> None:
        handlers.BUILTIN_HANDLERS.remove(self._entry)

    def record_http(self, method: str, url: str, headers: dict[str, str], body: str | None) -> None:
        with self._lock:
            self.calls.append({"kind": "http", "method": method, "url": url, "headers": headers, "body": body})

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.append({"kind": "aws", "service": model.service_model.service_name, "operation": model.name,
                               "params": _jsonable(params)})


def _jsonable(value: Any) -> Any:
    """JSON for the parameters: bytes as {"__bytes__": base64} (benchmarks.cold_process turns them back)."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # Decimal and the like: the API takes their text
