"""Provider request limits as the adapters declare them, and what enforces them.

The declarations are domain facts (a provider allows so many requests per window, counted per
account, per API key or per calling IP); the shared sliding window that enforces them across every
Lambda instance lives in platform.rate_limiter, behind `RequestLimiter`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from invoice_export.domain.errors import TransientError


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
    # The HTTP methods this window counts, for a provider that counts some requests apart (inFakt:
    # GET); None: every request no other window of the provider counts. Each window is its own scope
    # item, so a provider with a read window and a write window has two.
    methods: frozenset[str] | None = None
    # With `methods`: the request paths (a regular expression, matched in full) this window counts, for a
    # provider that counts some requests of a method apart (Oblio: the POSTs that create a document);
    # None: every path.
    paths: str | None = None


    def counts(self, method: str, path: str) -> bool:
        """Whether a request counts in this window (a window naming no methods counts every request no
        other window counts: the caller asks the windows in order)."""
        return self.methods is None or (method in self.methods
                                        and (self.paths is None or re.fullmatch(self.paths, path) is not None))


class RateLimited(TransientError):
    code = "rate_limit_wait"


class YieldedToForeground(RateLimited):
    """Background work refused at once: foreground requests of its scope are waiting for the window."""

    code = "rate_limit_yield"


_background: ContextVar[bool] = ContextVar("requests-yield-to-foreground", default=False)


@contextmanager
def yielding_to_foreground() -> Iterator[None]:
    """Provider requests made in the block are background work (a PDF copy nobody is waiting for): they
    use what the limit leaves, and are refused at once (`YieldedToForeground`, to be retried a couple
    of windows later) while foreground requests of their scope - creates and their read-backs - wait
    for room."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


def in_background() -> bool:
    """Whether requests made now are background work (`yielding_to_foreground`)."""
    return _background.get()


# Called once the request has been answered (or has surely failed), so the window knows it arrived.
Done = Callable[[], None]


class RequestLimiter(Protocol):
    """Waits for (or refuses with RateLimited) a place in `limit`'s window for one request of `scope_key`."""

    def acquire(self, scope_key: str, limit: RateLimit) -> Done: ...
