"""Provider rate limits, shared by every Lambda instance of the deployment.

Providers apply their limits per account, per API key or per calling IP (see each adapter's
`rate_limit`). Concurrent functions must together stay under that limit, so the count cannot be
kept in memory: each scope is one DynamoDB item holding the send times of its recent requests
(an exact sliding window), updated with optimistic concurrency on a version number.

A request that would exceed the limit waits if the wait is short; otherwise `RateLimited` (a
TransientError with retry_after) sends the message back to the queue for later, instead of
burning Lambda time or a provider's 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from invoice_export.domain.rate_limits import Done, RateLimit, RateLimited

_deserializer = TypeDeserializer()


# Requests are stamped before they leave; a provider counts them on arrival, a little later. A request
# answered is known to have arrived by the time its answer came back: it counts until then plus the
# window, exactly. One still unanswered (or never reported, e.g. the caller died) counts until its
# stamp plus this margin plus the window, which keeps the provider's own sliding count under the
# limit as long as a request arrives within this margin of leaving.
ARRIVAL_MARGIN_SECONDS = 0.5
MAX_CONFLICT_RETRIES = 20



@dataclass(frozen=True)
class _Entry:
    sent_at: float
    answered_at: float | None  # when its answer came back; None = not known (yet)

    @property
    def arrived_by(self) -> float:
        """The latest time the provider can have received it."""
        return self.answered_at if self.answered_at is not None else self.sent_at + ARRIVAL_MARGIN_SECONDS


_MICROSECOND = Decimal("0.000001")


def _stamp(t: float) -> Decimal:
    return Decimal(f"{t:.6f}")


class SlidingWindowLimiter:
    def __init__(self, table: Any, *, max_wait_seconds: float = 5.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.table = table
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        # Per scope: the item this process stored last. While nobody else stores, it is the table's
        # item, so the next acquire writes without reading first (the version condition proves it).
        self._stored: dict[str, dict[str, Any]] = {}
        # Per scope: answer times of this process's requests, by stamp, not yet written to the item.
        self._answered: dict[str, dict[Decimal, float]] = {}

    def acquire(self, scope_key: str, limit: RateLimit) -> Done:
        """Record one request in `scope_key`'s window, waiting for room if it comes soon enough.

        Returns `done`, to be called once the provider's answer came back (not when no answer came):
        it tells the window when the request had arrived at the latest."""
        window = limit.window_seconds
        conflicts = 0
        with self._lock:
            item = self._stored.get(scope_key)
        # The wait in place is bounded in all: where others keep taking the room first (a provider whose
        # window admits one request every few seconds, wanted by several functions), waiting again and
        # again could outlast the invocation; the message goes back to the queue instead.
        waited = 0.0
        while True:
            if item is None:
                item = self.table.get_item(Key={"scope": scope_key}, ConsistentRead=True).get("Item") or {}
            # The clock is read after the item: a store that succeeds (nobody stored since this read)
            # then carries the latest stamp, so stamps grow in store order and pruning by `now` never
            # drops a stamp that a slower, earlier-stamped request still counts on.
            now = self.clock()
            version = int(item.get("version", 0))
            recent = [e for e in self._entries(scope_key, item) if e.arrived_by > now - window]
            if len(recent) >= limit.limit:
                bounds = sorted(e.arrived_by for e in recent)
                wait = bounds[len(bounds) - limit.limit] + window - now
                if waited + wait > self.max_wait_seconds:
                    raise RateLimited(
                        f"{scope_key}: {limit.limit} requests per {limit.window_seconds:g} s reached",
                        retry_after=wait, fix="nothing: the document is sent when the limit allows")
                self.sleep(max(wait, 0.01))
                waited += max(wait, 0.01)
                continue  # with the item as known: a store on a stale one fails and returns the current one
            # Stamps are unique in an item (a later one by a microsecond at least): each names one request.
            stamp = max([_stamp(now), *(_stamp(e.sent_at) + _MICROSECOND for e in recent)])
            stored, item = self._store(scope_key, version, [*sorted(recent, key=lambda e: e.sent_at),
                                                              _Entry(float(stamp), None)], window)
            if stored:
                return lambda: self._answer(scope_key, stamp)
            conflicts += 1
            if conflicts > MAX_CONFLICT_RETRIES:
                raise RateLimited(f"{scope_key}: the rate-limit record is too contended", retry_after=1.0)

    def _answer(self, scope_key: str, stamp: Decimal) -> None:
        answered = self.clock()
        with self._lock:
            self._answered.setdefault(scope_key, {})[stamp] = answered

    def _entries(self, scope_key: str, item: dict[str, Any]) -> list[_Entry]:
        sent = [Decimal(t) for t in item.get("sent_at", [])]
        answered = [Decimal(t) for t in item.get("answered_at", [])]
        if len(answered) != len(sent):  # an item written before answer times were kept
            answered = [Decimal(0)] * len(sent)
        with self._lock:
            ours = dict(self._answered.get(scope_key, {}))
        return [_Entry(float(s), float(a) if a > 0 else ours.get(s)) for s, a in zip(sent, answered, strict=True)]

    def _store(self, scope_key: str, version: int, entries: list[_Entry],
               window: float) -> tuple[bool, dict[str, Any] | None]:
        """(True, the item stored), or (False, the item found instead: None when it must be read)."""
        condition = Attr("version").not_exists() if version == 0 else Attr("version").eq(version)
        item = {"scope": scope_key, "version": version + 1,
                "sent_at": [_stamp(e.sent_at) for e in entries],
                "answered_at": [_stamp(e.answered_at) if e.answered_at is not None else Decimal(0) for e in entries],
                # Idle scopes disappear by themselves (the table's TTL attribute).
                "expires_at": int(max(e.arrived_by for e in entries) + window) + 60}
        try:
            self.table.put_item(Item=item, ConditionExpression=condition, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                # Another request got in first: go on with what it stored.
                current = exc.response.get("Item")
                return False, ({name: _deserializer.deserialize(value) for name, value in current.items()}
                               if current else None)
            with self._lock:
                self._stored.pop(scope_key, None)
            raise
        with self._lock:
            self._stored[scope_key] = item
            # Answer times now in the item are not needed here any more.
            written = {s for s, a in zip(item["sent_at"], item["answered_at"], strict=True) if a > 0}
            kept = set(item["sent_at"])
            pending = self._answered.get(scope_key, {})
            self._answered[scope_key] = {s: t for s, t in pending.items() if s in kept and s not in written}
        return True, item
