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

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from invoice_export.errors import TransientError


class LimitScope(StrEnum):
    ACCOUNT = "account"  # one provider account (our connected account)
    CREDENTIAL = "credential"  # one API key, whichever accounts use it
    DEPLOYMENT = "deployment"  # the provider counts per calling IP: all our functions share it


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window_seconds: float
    scope: LimitScope
    source: str  # where the figure comes from (documented, community, assumption)


class RateLimited(TransientError):
    code = "rate_limit_wait"


# Requests are stamped before they leave; a provider counts them on arrival, a little later.
# Widening our window by this much keeps the provider's own sliding count under the limit.
ARRIVAL_MARGIN_SECONDS = 0.5
MAX_CONFLICT_RETRIES = 20


class SlidingWindowLimiter:
    def __init__(self, table: Any, *, max_wait_seconds: float = 5.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.table = table
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock
        self.sleep = sleep

    def acquire(self, scope_key: str, limit: RateLimit) -> None:
        """Record one request in `scope_key`'s window, waiting for room if it comes soon enough."""
        window = limit.window_seconds + ARRIVAL_MARGIN_SECONDS
        conflicts = 0
        while True:
            item = self.table.get_item(Key={"scope": scope_key}, ConsistentRead=True).get("Item") or {}
            # The clock is read after the item: a store that succeeds (nobody stored since this read)
            # then carries the latest stamp, so stamps grow in store order and pruning by `now` never
            # drops a stamp that a slower, earlier-stamped request still counts on.
            now = self.clock()
            version = int(item.get("version", 0))
            recent = sorted(float(t) for t in item.get("sent_at", []) if float(t) > now - window)
            if len(recent) >= limit.limit:
                wait = recent[len(recent) - limit.limit] + window - now
                if wait > self.max_wait_seconds:
                    raise RateLimited(
                        f"{scope_key}: {limit.limit} requests per {limit.window_seconds:g} s reached",
                        retry_after=wait, fix="nothing: the document is sent when the limit allows")
                self.sleep(max(wait, 0.01))
                continue
            if self._store(scope_key, version, recent + [now], window):
                return
            conflicts += 1
            if conflicts > MAX_CONFLICT_RETRIES:
                raise RateLimited(f"{scope_key}: the rate-limit record is too contended", retry_after=1.0)

    def _store(self, scope_key: str, version: int, sent_at: list[float], window: float) -> bool:
        condition = Attr("version").not_exists() if version == 0 else Attr("version").eq(version)
        try:
            self.table.put_item(
                Item={"scope": scope_key, "version": version + 1,
                      "sent_at": [Decimal(f"{t:.6f}") for t in sent_at],
                      # Idle scopes disappear by themselves (the table's TTL attribute).
                      "expires_at": int(sent_at[-1] + window) + 60},
                ConditionExpression=condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False  # another request got in first: read again
            raise
        return True
