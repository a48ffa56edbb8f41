"""Where moto's SQS differs from SQS in ways the local stack would notice, patched once per process.

Applied when the process starts its moto server (local.stack) or answers AWS calls from moto's
backends in memory (benchmarks.transport). A moto server run as a process of its own
(LOCAL_STACK_MOTO_URL) is not patched.

* Order: SQS hands out none of a FIFO group's messages while any of them is in flight, and in
  order once they are visible again. moto forgets a timed-out in-flight message only when its
  receive loop reaches it, after it has already skipped the group's earlier messages as "in
  flight": with messages 2, 4, 5 and 6 of a group all visible again, it delivers 6 first.
* Atomicity: DynamoDB applies each request to an item atomically; moto's DynamoDB does not when
  requests come from several threads (a conditional update was refused with its condition true
  while other items of the table were written). Its requests are handled one at a time.
* Cost: on every message it takes in or hands out, moto computes all of the queue's attributes,
  message counts included (a scan of the whole queue), to read one of them. A backlog of n
  messages then costs n^2: a cost of the emulator that SQS does not have. Likewise, before each
  DynamoDB transaction moto deep-copies every table it writes to, to roll back a cancelled one:
  a transaction cost as much as its tables' size. The backup now copies only what the
  transaction can change in place (the items it updates); the other items are shared.
* Streams: a cancelled transaction restores its tables from the backup, but the stream records its
  writes added before the cancellation stayed (with the backup sharing the stream) or the whole
  stream was replaced by a copy (moto's own deep copy), leaving every open shard iterator reading a
  stream that no longer grows. DynamoDB writes nothing of a cancelled transaction to the stream: the
  stream is now kept, and cut back to where it was before the transaction.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import defaultdict
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.core.utils import unix_time
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Queue, SQSBackend

_APPLIED = "invoice_export_local_fix"


def apply() -> None:
    if getattr(SQSBackend.receive_message, _APPLIED, False):
        return
    _patch(SQSBackend, "receive_message", _receive_in_group_order)
    _patch(SQSBackend, "is_message_valid_based_on_retention_period", _retention_check_in_constant_time)
    _patch(SQSBackend, "send_message", _send_reading_one_attribute)
    _patch(SQSBackend, "send_message_batch", _send_reading_one_attribute)
    _patch(DynamoHandler, "call_action", _one_dynamodb_request_at_a_time)
    _patch(DynamoDBBackend, "transact_write_items", _transaction_backing_up_what_it_changes)
    dynamodb_models.copy = _CopyForTransactions()  # type: ignore[assignment]
    all_attributes = Queue.attributes.fget
    Queue.attributes = property(lambda queue: _attributes(all_attributes, queue))  # type: ignore[method-assign,assignment]


def _patch(cls: type, name: str, replacement: Any) -> None:
    original = getattr(cls, name)

    def patched(*args: Any, **kwargs: Any) -> Any:
        return replacement(original, *args, **kwargs)

    setattr(patched, _APPLIED, True)
    setattr(cls, name, patched)


_dynamodb_lock = threading.Lock()


def _one_dynamodb_request_at_a_time(call_action: Any, *args: Any, **kwargs: Any) -> Any:
    with _dynamodb_lock:
        return call_action(*args, **kwargs)


_transaction = threading.local()


def _transaction_backing_up_what_it_changes(transact: Any, backend: DynamoDBBackend,
                                            transact_items: list[dict[str, Any]]) -> Any:
    _transaction.backend = backend
    _transaction.updates = [op for entry in transact_items for kind, op in entry.items() if kind == "Update"]
    names = {op.get("TableName") for entry in transact_items for op in entry.values()}
    streams = [table.stream_shard for name, table in backend.tables.items()
               if (name in names or table.table_arn in names) and table.stream_shard is not None]
    lengths = [len(stream.items) for stream in streams]
    try:
        return transact(backend, transact_items)
    except Exception:
        for stream, length in zip(streams, lengths, strict=True):
            del stream.items[length:]  # nothing of a cancelled transaction reaches the stream
        raise
    finally:
        _transaction.updates = None


class _CopyForTransactions:
    """The `copy` module as moto's DynamoDB models see it: a transaction's backup of a table is
    `_backup`; everything else is copied as before."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        updates = getattr(_transaction, "updates", None)
        if updates is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        return _backup(value, [op["Key"] for op in updates if op["TableName"] in (value.name, value.table_arn)])


def _backup(table: Table, updated_keys: list[dict[str, Any]]) -> Table:
    """The table as it is: its own item index, sharing the items, except copies of those an update
    changes in place. (A put or delete replaces or drops an item in the index: the backup keeps it.)"""
    backup = copy.copy(table)  # shares the stream: the transaction's wrapper cuts it back on a rollback
    backup.items = defaultdict(dict)
    for hash_key, stored in table.items.items():
        backup.items[hash_key] = dict(stored) if table.has_range_key else stored
    for key in updated_keys:
        hash_key, range_key = _transaction.backend.get_keys_value(table, key)
        if table.has_range_key:
            if range_key in table.items.get(hash_key, {}):
                backup.items[hash_key][range_key] = copy.deepcopy(table.items[hash_key][range_key])
        elif hash_key in table.items:
            backup.items[hash_key] = copy.deepcopy(table.items[hash_key])
    return backup


def _receive_in_group_order(receive: Any, backend: SQSBackend, queue_name: str, count: int,
                            wait_seconds_timeout: int, *args: Any, **kwargs: Any) -> Any:
    """Forget every timed-out in-flight message before the receive loop; a FIFO long poll is made of
    short receives for the same reason (moto's own wait loop would skip again)."""
    queue = backend.get_queue(queue_name)
    deadline = time.monotonic() + (wait_seconds_timeout if queue.fifo_queue else 0)
    while True:
        for message in [m for m in queue.pending_messages if m.visible]:
            queue.pending_messages.discard(message)
        messages = receive(backend, queue_name, count, 0 if queue.fifo_queue else wait_seconds_timeout,
                           *args, **kwargs)
        if messages or time.monotonic() >= deadline:
            return messages
        time.sleep(0.05)


def _retention_check_in_constant_time(_original: Any, backend: SQSBackend, queue_name: str, message: Any) -> bool:
    """moto's check, reading the one attribute it needs instead of computing all of the queue's."""
    retention_seconds = int(backend.get_queue(queue_name).message_retention_period)
    return retention_seconds + message.sent_timestamp / 1000 > unix_time()


_sending = threading.local()


def _send_reading_one_attribute(send: Any, *args: Any, **kwargs: Any) -> Any:
    """While a message is taken in, the only queue attribute moto reads is ContentBasedDeduplication."""
    _sending.active = True
    try:
        return send(*args, **kwargs)
    finally:
        _sending.active = False


def _attributes(all_attributes: Any, queue: Queue) -> dict[str, Any]:
    if not getattr(_sending, "active", False):
        return all_attributes(queue)
    value = queue.content_based_deduplication
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}
