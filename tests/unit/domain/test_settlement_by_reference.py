"""Our reference on a provider's document and the decision over the provider's documents of a day
(domain.settlement): only our reference read back decides, and nothing proves absence too early."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from invoice_export.domain.documents import Document, DocumentKind
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.domain.settlement import (
    READS_BEFORE_OUR_RECORDS,
    ListedDocument,
    SettlementOutcome,
    attempt_of,
    our_reference,
    references_in,
    settle_by_reference,
    split_our_reference,
    with_our_reference,
)
from testsupport import load_example

DOCUMENT = Document.model_validate(load_example("01-invoice-company.json")["document"])  # 130.47 PLN, 2026-11-20
OURS = DOCUMENT.document_id


def listed(number: int, text: str | None, **shown: object) -> ListedDocument:
    same = {"issue_date": DOCUMENT.issue_date, "kind": DocumentKind.INVOICE, "gross": DOCUMENT.totals.gross,
            "currency": "PLN"}
    return ListedDocument(ProviderReference(f"P-{number}", f"FV {number}/2026"), reference_text=text,
                          **{**same, **shown})


def test_our_reference_is_a_short_plain_last_line_and_is_read_back_whole() -> None:
    assert our_reference("INV-7") == "ref: INV-7"
    assert with_our_reference(None, "INV-7") == "ref: INV-7"
    assert with_our_reference("Zamówienie 12", "INV-7") == "Zamówienie 12\nref: INV-7"
    assert split_our_reference("Zamówienie 12\nref: INV-7") == ("Zamówienie 12", "ref: INV-7")
    assert split_our_reference("ref: INV-7 (stare)") == ("ref: INV-7 (stare)", "")  # not at the end: not split
    # Read back from whatever the provider returns: line breaks rewritten, several references, none.
    assert references_in("Zamówienie 12\r\nref: INV-7") == ["INV-7"]
    assert references_in("ref: INV-1 ref: INV-10") == ["INV-1", "INV-10"]
    assert references_in("pref: INV-7 ref:INV-8") == [] and references_in(None) == []
    assert OURS not in references_in(f"ref: {OURS}-2")  # a longer id is another document


@pytest.mark.parametrize(("candidates", "outcome", "found"), [
    ([listed(1, f"ref: {OURS}")], SettlementOutcome.FOUND, "P-1"),
    # A repeat order (another reference of ours) beside ours: ours is found, the other never taken.
    ([listed(1, "ref: ORDER-2"), listed(2, f"Uwagi\nref: {OURS}")], SettlementOutcome.FOUND, "P-2"),
    ([listed(1, "ref: ORDER-2")], SettlementOutcome.ABSENT, None),
    ([], SettlementOutcome.ABSENT, None),
    # Another day, kind, amount or currency: never a candidate, whatever it carries.
    ([listed(1, None, gross=Decimal("130.48")), listed(2, "", issue_date=date(2026, 11, 21)),
      listed(3, "", kind=DocumentKind.CORRECTION), listed(4, "", currency="EUR")], SettlementOutcome.ABSENT, None),
    ([listed(1, f"ref: {OURS}"), listed(2, f"ref: {OURS}")], SettlementOutcome.UNDECIDED, None),
    ([listed(1, "edited by the merchant")], SettlementOutcome.UNDECIDED, None),
    ([listed(1, "")], SettlementOutcome.UNDECIDED, None),  # made by hand, same day, kind and amount
])
def test_only_our_reference_read_back_decides(candidates, outcome, found) -> None:
    settlement = settle_by_reference(DOCUMENT, candidates, provider="P", listing_complete_in=0)
    assert settlement.outcome == outcome
    assert (settlement.found.provider_document_id if settlement.found else None) == found


def test_nothing_found_is_absence_only_once_the_list_surely_shows_the_attempts_document() -> None:
    early = settle_by_reference(DOCUMENT, [listed(1, "ref: ORDER-2")], provider="P", listing_complete_in=120.0)
    assert (early.outcome, early.retry_after) == (SettlementOutcome.NOT_YET, 120.0)
    # Found is found at any time; a candidate without our reference is doubtful at any time.
    assert settle_by_reference(DOCUMENT, [listed(1, f"ref: {OURS}")], provider="P",
                               listing_complete_in=120.0).outcome == SettlementOutcome.FOUND
    assert settle_by_reference(DOCUMENT, [listed(1, "")], provider="P",
                               listing_complete_in=120.0).outcome == SettlementOutcome.UNDECIDED


def test_the_evidence_names_the_candidates_and_what_they_carry_never_the_text_read_back() -> None:
    settlement = settle_by_reference(DOCUMENT, [listed(1, "Jan Kowalski, tel. 600 100 200"),
                                                listed(2, "ref: ORDER-2")], provider="iFirma", listing_complete_in=0)
    assert settlement.candidates == ({"provider_document_id": "P-1", "number": "FV 1/2026",
                                      "reference": "no reference of ours"},)
    record = settlement.as_record("2026-11-20T10:00:00+00:00", where="settlement")
    assert "Kowalski" not in str(record) and record["outcome"] == "undecided"
    assert "iFirma holds 1 document(s) of 2026-11-20, invoice, 130.47 PLN without our reference" in record["reason"]


def test_the_attempt_is_trusted_to_be_listed_a_fixed_time_after_it_began() -> None:
    began = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    record = DocumentRecord(account_id="a", document_id=OURS, status=Status.IN_DOUBT, send_attempt_id="x",
                            attempt_started_at=began.isoformat(), provider_task={"attempt_id": "x", "reference": "T"},
                            received_at=began.isoformat(), updated_at=(began + timedelta(minutes=9)).isoformat())
    assert attempt_of(record, 300, began + timedelta(seconds=100)).listing_complete_in == 200
    assert attempt_of(record, 300, began + timedelta(seconds=400)).listing_complete_in == 0
    assert attempt_of(record, 300, began).task_reference == "T"
    # A task of an earlier attempt says nothing about this one; a record without the start counts from its
    # last change (later than the attempt began: the safe side).
    older = record.model_copy(update={"send_attempt_id": "y", "attempt_started_at": None})
    assert older.task_of_attempt is None
    assert attempt_of(older, 300, began + timedelta(minutes=10)).listing_complete_in == 240


def test_our_other_documents_are_asked_for_only_when_many_would_be_read_and_then_once() -> None:
    began = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).isoformat()
    record = DocumentRecord(account_id="a", document_id=OURS, status=Status.IN_DOUBT, send_attempt_id="x",
                            attempt_started_at=began, received_at=began, updated_at=began)
    asked = []

    def mapped_elsewhere() -> frozenset[str]:
        asked.append(1)  # a query of our records
        return frozenset({"P-1"})

    attempt = attempt_of(record, 0, datetime.fromisoformat(began), mapped_elsewhere)
    assert attempt.ours_elsewhere(READS_BEFORE_OUR_RECORDS) == frozenset() and asked == []
    assert attempt.ours_elsewhere(READS_BEFORE_OUR_RECORDS + 1) == {"P-1"}
    assert attempt.ours_elsewhere(50) == {"P-1"} and asked == [1]  # the list, then its reads: one query
    assert attempt_of(record, 0, datetime.fromisoformat(began)).ours_elsewhere(50) == frozenset()  # not known


def test_a_listed_document_narrows_only_on_what_its_list_shows() -> None:
    unknown = ListedDocument(ProviderReference("P-1", ""))
    assert unknown.may_be(DOCUMENT)  # shows nothing: it may be ours (it is read whole)
    assert not replace(unknown, gross=Decimal("1.00")).may_be(DOCUMENT)
