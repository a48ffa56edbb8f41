"""How the reliability driver counts a correction held for its original (reliability/driver.py
`_classify`): exported once sent, held (not lost) while its original is not exported, lost when its
original is exported and nothing queued it."""

from __future__ import annotations

from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.records import RecordedError, Status
from memory_stores import MemoryDocumentStore
from reliability.driver import Figures, Scenario, _classify
from testsupport import load_example

ACCOUNT = "shop-1"
ORIGINAL, CORRECTION = "INV-2026-11-0001", "KOR-2026-11-0001"


def held_correction(store: MemoryDocumentStore, original_status: Status) -> None:
    for example in ("01-invoice-company.json", "05-correction.json"):
        body = load_example(example)
        body["account_id"] = ACCOUNT
        store.register(ExportMessage.model_validate(body))
    store.hold_for_original(ACCOUNT, CORRECTION, RecordedError(code="waiting_for_original", message="waits",
                                                               retryable=True, at="2026-11-24T10:00:00+00:00"))
    if original_status == Status.FAILED:
        store.mark_failed(ACCOUNT, ORIGINAL, RecordedError(code="x", message="refused", at="2026-11-24T10:00:00+00:00"))
    elif original_status == Status.EXPORTED:
        store.claim(ACCOUNT, ORIGINAL, "attempt-1")
        store.mark_exported(ACCOUNT, ORIGINAL, provider="ifirma", provider_document_id="P-1", provider_number="1",
                            provider_series=None, warnings=[], drift=[])


def classify(original_status: Status) -> tuple[str | None, Figures]:
    store, figures = MemoryDocumentStore(), Figures(Scenario())
    held_correction(store, original_status)
    return _classify(figures, store.get(ACCOUNT, CORRECTION), [], store.get), figures


def test_a_correction_held_for_an_original_not_exported_is_counted_held_not_lost() -> None:
    for status in (Status.FAILED, Status.PENDING):
        state, figures = classify(status)
        assert (state, figures.waiting_for_original, figures.lost) == ("pending", 1, []), status
        assert figures.not_exported == [f"{CORRECTION} (pending): waiting_for_original: waits"]


def test_a_correction_still_held_once_its_original_is_exported_is_lost() -> None:
    state, figures = classify(Status.EXPORTED)
    assert (state, figures.waiting_for_original) == (None, 0)
