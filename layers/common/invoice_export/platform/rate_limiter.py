"""Provider rate limits, shared by every Lambda instance of the deployment.

Providers apply their limits per account, per API key or per calling IP (see each adapter's
`rate_limit`). Concurrent functions must together stay under that limit, so the count cannot be
kept in memory: each scope is one DynamoDB item holding the send times of its recent requests
(an exact sliding window), updated with optimistic concurrency on a version number.

A request that would exceed the limit waits if the wait is short; otherwise `RateLimited` (a
TransientError with retry_after) sends the message back to the queue for later, instead of
burning Lambda time or a provider's 429.

Waits are kept short by pacing. A sliding window alone lets its whole limit go in one burst, after
which the next request waits for the burst to leave the window - up to the window itself, a minute
for iFirma: far longer than a request may wait in place, so it went back to the queue and its
account's later documents with it (issue 20: a bulk run at a third of the limit's pace). So each
limit is also kept in a shorter window of the same rate (`pace_window`): a few requests per couple
of seconds. The limit's full rate is still used, and no wait is longer than that short window. The
pace counts requests from when they were sent, not answered: it only spreads them out (the limit's
own window keeps the provider's count), and counting each from its answer would hold every pace
slot a round trip longer - 4 % of iFirma's rate at 100 ms a request.

Background work (`yielding_to_foreground`: a PDF copy nobody is waiting for) uses what the limit
leaves: while a foreground request of its scope had to wait for room within the last
FOREGROUND_HOLD_SECONDS, a background one is refused at once (`YieldedToForeground`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from invoice_export.domain.rate_limits import Done, RateLimit, RateLimited, YieldedToForeground, in_background

_deserializer = TypeDeserializer()


# Requests are stamped before they leave; a provider counts them on arrival, a little later. A request
# answered is known to have arrived by the time its answer came back: it counts until then plus the
# window, exactly. One still unanswered (or never reported, e.g. the caller died) counts until its
# stamp plus this margin plus the window, which keeps the provider's own sliding count under the
# limit as long as a request arrives within this margin of leaving.
ARRIVAL_MARGIN_SECONDS = 0.5
MAX_CONFLICT_RETRIES = 20
# The pace window is at most this share of the longest wait in place (rate_limit_max_wait_seconds): the
# rest is left for waiting behind other requests of the scope.
PACE_SHARE_OF_MAX_WAIT = 0.5
# How long after a foreground request had to wait for room background requests of its scope are refused:
# longer than the gaps between the requests of a run bound by the limit (our AWS work per document).
FOREGROUND_HOLD_SECONDS = 3.0
# How long refused background work stays away: half as long as the foreground requests have been waiting
# for room without a break, from FOREGROUND_HOLD_SECONDS up to two of the limit's windows. Each refusal
# costs a round on the PDF queue, so a long bulk run sends its PDF fetches away for longer (a few rounds
# each); yet they come back within half its length, while their own share of the limit, once the
# creates are done, takes at least that long (iFirma: 1 PDF per create and read-back), so the limit
# never waits for them.
POSTPONEMENT_SHARE_OF_BUSY = 0.5
MAX_POSTPONEMENT_WINDOWS = 2


@dataclass(frozen=True)
class _Entry:
    sent_at: float
    answered_at: float | None  # when its answer came back; None = not known (yet)

    @property
    def arrived_by(self) -> float:
        """The latest time the provider can have received it."""
        return self.answered_at if self.answered_at is not None else self.sent_at + ARRIVAL_MARGIN_SECONDS


_MICROSECOND = Decimal("0.000001")


@dataclass(frozen=True)
class _ForegroundDemand:
    """When foreground requests of a scope last had to wait for room, and since when without a break
    (item attributes `foreground_waited_at` and `foreground_busy_since`)."""

    waited_at: float
    busy_since: float

    @classmethod
    def of(cls, item: dict[str, Any]) -> _ForegroundDemand:
        return cls(float(item.get("foreground_waited_at", 0)), float(item.get("foreground_busy_since", 0)))

    def holds(self, now: float) -> bool:
        return self.waited_at + FOREGROUND_HOLD_SECONDS > now

    def postponement(self, now: float, window: float) -> float:
        busy = now - self.busy_since
        return min(MAX_POSTPONEMENT_WINDOWS * window, max(FOREGROUND_HOLD_SECONDS, busy * POSTPONEMENT_SHARE_OF_BUSY))

    def waited(self, now: float) -> _ForegroundDemand:
        return _ForegroundDemand(now, self.busy_since if self.holds(now) else now)

    def attributes(self) -> dict[str, Decimal]:
        if not self.waited_at:
            return {}
        return {"foreground_waited_at": _stamp(self.waited_at), "foreground_busy_since": _stamp(self.busy_since)}


@dataclass(frozen=True)
class Window:
    count: int
    seconds: float


def pace_window(limit: RateLimit, pace_seconds: float) -> Window | None:
    """A window of the limit's rate at most `pace_seconds` long, which spreads its requests out; None
    where the limit's own window is that short already, or where even one request per `pace_seconds`
    would be faster than the limit (a few requests an hour: nothing to pace)."""
    count = math.floor(limit.limit * pace_seconds / limit.window_seconds)
    if count < 1 or count >= limit.limit:
        return None
    return Window(count, count * limit.window_seconds / limit.limit)


def _yield_to_foreground(scope_key: str, limit: RateLimit, demand: _ForegroundDemand, now: float) -> None:
    """Background work is refused while foreground requests of its scope wait for room (module notes)."""
    if demand.holds(now):
        raise YieldedToForeground(
            f"{scope_key}: left to the requests that wait for room in the limit of {limit.limit} per "
            f"{limit.window_seconds:g} s", retry_after=demand.postponement(now, limit.window_seconds),
            fix="nothing: done when the limit has room to spare")


def _next_stamp(recent: list[_Entry], now: float) -> Decimal:
    """Stamps are unique in an item (a later one by a microsecond at least): each names one request."""
    return max([_stamp(now), *(_stamp(e.sent_at) + _MICROSECOND for e in recent)])


def _wait(recent: list[_Entry], own: Window, pace: Window | None, now: float) -> float:
    """Seconds until both the limit's own window (requests counted until they arrived) and its pace
    window (counted from when they were sent) have room for one more."""
    wait = _wait_for_room(sorted(e.arrived_by for e in recent), own, now)
    if pace is not None:
        wait = max(wait, _wait_for_room(sorted(e.sent_at for e in recent), pace, now))
    return wait


def _wait_for_room(times: list[float], window: Window, now: float) -> float:
    """Seconds until `window` has room for one more request; `times` (the requests') sorted, oldest first."""
    inside = [t for t in times if t > now - window.seconds]
    if len(inside) < window.count:
        return 0.0
    return inside[len(inside) - window.count] + window.seconds - now


def _stamp(t: float) -> Decimal:
    return Decimal(f"{t:.6f}")


def _window_item(scope_key: str, version: int, entries: list[_Entry], window: float) -> dict[str, Any]:
    """The scope's item: each request's stamp and its answer time (0: none yet), in one list each."""
    return {"scope": scope_key, "version": version,
            "sent_at": [_stamp(e.sent_at) for e in entries],
            "answered_at": [_stamp(e.answered_at) if e.answered_at is not None else Decimal(0) for e in entries],
            # Idle scopes disappear by themselves (the table's TTL attribute).
            "expires_at": int(max(e.arrived_by for e in entries) + window) + 60}


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
        # Per scope: held while this process reads and stores the window, so that requests sent side by
        # side in one batch take turns instead of refusing each other's stores (one PutItem a request).
        self._scope_locks: dict[str, threading.Lock] = {}

    def acquire(self, scope_key: str, limit: RateLimit) -> Done:
        """Record one request in `scope_key`'s window, waiting for room if it comes soon enough.

        Returns `done`, to be called once the provider's answer came back (not when no answer came):
        it tells the window when the request had arrived at the latest."""
        window = limit.window_seconds
        own = Window(limit.limit, window)
        pace = pace_window(limit, self.max_wait_seconds * PACE_SHARE_OF_MAX_WAIT)
        background = in_background()
        # The wait in place is bounded in all: where others keep taking the room first (a provider whose
        # window admits one request every few seconds, wanted by several functions), waiting again and
        # again could outlast the invocation; the message goes back to the queue instead.
        waited = 0.0
        conflicts = 0
        found: dict[str, Any] | None = None  # what a refused store (or the last look) found in the table
        while True:
            with self._scope_lock(scope_key):
                item = self._newest(found, scope_key)
                if item is None:
                    item = self.table.get_item(Key={"scope": scope_key}, ConsistentRead=True).get("Item") or {}
                # The clock is read after the item: a store that succeeds (nobody stored since this read)
                # then carries the latest stamp, so stamps grow in store order and pruning by `now` never
                # drops a stamp that a slower, earlier-stamped request still counts on.
                now = self.clock()
                demand = _ForegroundDemand.of(item)
                if background:
                    _yield_to_foreground(scope_key, limit, demand, now)
                recent = [e for e in self._entries(scope_key, item) if e.arrived_by > now - window]
                wait = _wait(recent, own, pace, now)
                if wait <= 0:
                    # A foreground request that had to wait says so: background ones hold back
                    # (FOREGROUND_HOLD_SECONDS).
                    if waited > 0 and not background:
                        demand = demand.waited(now)
                    done, found = self._take_room(scope_key, item, recent, now, window, demand)
                    if done is not None:
                        return done
            if wait > 0:  # waited for outside the scope's lock, with the item as known: a store on a
                found = item  # stale one fails and returns the current one
                waited += self._wait_in_place(scope_key, limit, wait, waited)
                continue
            conflicts += 1
            if conflicts > MAX_CONFLICT_RETRIES:
                raise RateLimited(f"{scope_key}: the rate-limit record is too contended", retry_after=1.0)

    def _take_room(self, scope_key: str, item: dict[str, Any], recent: list[_Entry], now: float, window: float,
                   demand: _ForegroundDemand) -> tuple[Done | None, dict[str, Any] | None]:
        """Store the window with one more request, stamped now: (its `done`, None), or (None, what another
        process stored first - None when it must be read)."""
        stamp = _next_stamp(recent, now)
        stored, found = self._store(scope_key, int(item.get("version", 0)),
                                    [*sorted(recent, key=lambda e: e.sent_at), _Entry(float(stamp), None)],
                                    window, demand)
        if stored:
            return (lambda: self._answer(scope_key, stamp)), None
        with self._lock:  # another process stored since: what this one stored is stale
            self._stored.pop(scope_key, None)
        return None, found

    def _scope_lock(self, scope_key: str) -> threading.Lock:
        with self._lock:
            return self._scope_locks.setdefault(scope_key, threading.Lock())

    def _newest(self, found: dict[str, Any] | None, scope_key: str) -> dict[str, Any] | None:
        """The latest version known here: what this process stored last, or what the table showed since."""
        with self._lock:
            stored = self._stored.get(scope_key)
        known = [item for item in (found, stored) if item is not None]
        return max(known, key=lambda item: int(item.get("version", 0))) if known else None

    def _wait_in_place(self, scope_key: str, limit: RateLimit, wait: float, waited: float) -> float:
        """Sleep for a short wait and say how long; one that would take the waits of this request past
        max_wait_seconds sends the work back to its queue (RateLimited)."""
        if waited + wait > self.max_wait_seconds:
            raise RateLimited(f"{scope_key}: {limit.limit} requests per {limit.window_seconds:g} s reached",
                              retry_after=wait, fix="nothing: the document is sent when the limit allows")
        self.sleep(max(wait, 0.01))
        return max(wait, 0.01)

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

    def _store(self, scope_key: str, version: int, entries: list[_Entry], window: float,
               demand: _ForegroundDemand) -> tuple[bool, dict[str, Any] | None]:
        """(True, the item stored), or (False, the item found instead: None when it must be read)."""
        condition = Attr("version").not_exists() if version == 0 else Attr("version").eq(version)
        item = {**_window_item(scope_key, version + 1, entries, window), **demand.attributes()}
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
