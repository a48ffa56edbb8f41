"""Reading a provider's KSeF status words, the same way for every adapter (the number's form: domain.ksef_numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invoice_export.domain.provider_contract import KsefState, KsefStatus
from invoice_export.platform.observability import logger


def ksef_status_from(word: str | None, states: Mapping[str, KsefState], *, ksef_number: Any = None,
                     message: str | None = None, fallback: str = "KSeF refused the document",
                     unknown: KsefState = KsefState.NOT_SENT) -> KsefStatus:
    """A provider's KSeF status word read through its table (`states`).

    Shared by the adapters so every provider's answer is judged the same way: an empty word means
    nobody sent the document (the service keeps polling, never sends by itself), a word outside the
    table is read as `unknown` and logged (never a crash), and "accepted" without a KSeF number is
    still pending - the number is what the poller records.
    """
    text = str(word or "")
    if text and text not in states:
        logger.warning("unknown KSeF status word from the provider", extra={"ksef_word": text[:40],
                                                                            "read_as": unknown.value})
    state = states.get(text, KsefState.NOT_SENT if not text else unknown)
    if state == KsefState.ACCEPTED:
        return KsefStatus(state, ksef_number=str(ksef_number)) if ksef_number else KsefStatus(KsefState.PENDING)
    if state in (KsefState.REJECTED, KsefState.RETRYABLE):
        return KsefStatus(state, message=message or fallback)
    return KsefStatus(state)
