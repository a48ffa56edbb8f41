"""Oblio's two published rate-limit rules, enforced together (the stricter wins at every moment).

* old docs: "Daca sunt mai mult de 3 cereri pe secunda token-ul de acces va fi blocat timp de
  10 minute": the 4th request within one second is refused and so is everything for 10 minutes;
* docs: "30 de cereri la 100 de secunde pentru cererile care genereaza documente" and "30 de
  cereri la 10 secunde pentru orice tip de cerere care nu presupune generarea unui document":
  sliding windows, no block mentioned.

ASSUMPTIONS: the token endpoint and the PDF links are not counted (no token yet / not under /api);
requests refused during a block do not prolong it; the block covers the whole account (a fresh
token does not escape it) unless the fake is built with ``block_scope="token"``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..common import RateLimiter

BURST = (3, 1.0)  # old docs: more than 3 per second ...
BLOCK_SECONDS = 600.0  # ... blocks for 10 minutes
DOCUMENT_WINDOW = (30, 100.0)
OTHER_WINDOW = (30, 10.0)

DOCUMENT, OTHER = "document", "other"


class OblioRateLimits:
    """Stands in for the base server's limiter: ``hit(key)`` with key ``(subject, DOCUMENT | OTHER)``
    or None (not limited); answers None or the seconds to wait."""

    def __init__(self, clock: Callable[[], float], *, burst_block: bool = True,
                 windows: bool = True, block_seconds: float = BLOCK_SECONDS):
        self._clock = clock
        # The 1-second limiter always runs: with the block off it only measures the peak rate.
        self.burst = RateLimiter(BURST[0] if burst_block else None, BURST[1], clock)
        self.windows = {
            DOCUMENT: RateLimiter(DOCUMENT_WINDOW[0] if windows else None, DOCUMENT_WINDOW[1], clock),
            OTHER: RateLimiter(OTHER_WINDOW[0] if windows else None, OTHER_WINDOW[1], clock),
        }
        self.block_seconds = block_seconds
        self._lock = threading.Lock()
        self._blocked_until: dict[Any, float] = {}
        self.blocks_started = 0

    def hit(self, key: tuple[Any, str] | None) -> float | None:
        if key is None:
            return None
        subject, kind = key
        now = self._clock()
        with self._lock:
            until = self._blocked_until.get(subject, 0.0)
            if now < until:
                self.burst.hit(subject)  # still counted: the peak measures what the client sent
                return until - now
            if self.burst.hit(subject) is not None:
                self._blocked_until[subject] = now + self.block_seconds
                self.blocks_started += 1
                return self.block_seconds
        return self.windows[kind].hit(subject)

    def blocked_until(self, subject: Any) -> float | None:
        with self._lock:
            until = self._blocked_until.get(subject)
        return until if until is not None and until > self._clock() else None

    def peak(self, subject: Any) -> int:
        """Most requests of ``subject`` within any one second (the old docs' measure)."""
        return self.burst.peak(subject)

    def window_peak(self, subject: Any, kind: str) -> int:
        return self.windows[kind].peak(subject)

    def reset(self) -> None:
        with self._lock:
            self._blocked_until.clear()
            self.blocks_started = 0
        self.burst.reset()
        for limiter in self.windows.values():
            limiter.reset()
