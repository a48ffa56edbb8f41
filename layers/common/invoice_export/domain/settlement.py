"""Settling an interrupted create: does the provider hold the document an attempt may have created?

A create whose answer was lost (a timeout, a reset, a worker killed mid-call) may or may not have
reached the provider. Providers with a field for our document id are asked by it (the adapter's
`find_document`). The others get our reference printed on the document, in a text field they keep
and return on reads (iFirma `Uwagi`, inFakt `notes`, SmartBill `mentions`, read from its PDF): a short
plain line, `ref: <our document id>`, never buyer data. Such a create is settled by listing the
provider's documents of the issue date (SmartBill, which has no list: the numbers its series gave out
since the attempt began, `InterruptedAttempt.numbering_before`),
narrowing them to those of the same kind and gross (what the list shows; a candidate read whole
shows the rest), and reading our reference back. Only the reference decides:

    exactly one candidate carries our reference                      -> FOUND (exported with it)
    several carry it                                                 -> UNDECIDED (a person decides)
    a candidate carries no reference of ours (edited, made by hand)  -> UNDECIDED
    no candidate at all, once the list surely shows the attempt's    -> ABSENT (sent again)
    no candidate yet, the attempt may still be under way at the provider -> NOT_YET
    the list could not be read, or was not read to its end           -> UNDECIDED

A candidate carrying another reference of ours is another of our documents (a repeat order of the
same buyer, day and amount): it is never taken for this one, and never blocks it either. So is a
candidate our records already map to another document: where a provider's list shows no reference
(iFirma), such candidates are not read at all (`InterruptedAttempt.mapped_elsewhere`), so a day of
many identical orders costs reads only of what is not ours already.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from invoice_export.domain.documents import Document, DocumentKind
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.domain.records import DocumentRecord

REFERENCE_PREFIX = "ref: "
# Provider documents to read before our own records are asked which of them are other documents of ours.
READS_BEFORE_OUR_RECORDS = 3
# Our document ids (domain.documents.Identifier), after the prefix, ending at a blank or the text's end.
_REFERENCE = re.compile(r"(?<!\S)ref: ([A-Za-z0-9][A-Za-z0-9._:\-]*)(?=\s|$)")
_REFERENCE_AT_END = re.compile(r"(?:\A|\n)ref: [A-Za-z0-9][A-Za-z0-9._:\-]*\Z")


def our_reference(document_id: str) -> str:
    """The line a create carries where the provider keeps it: printed on the customer's document."""
    return f"{REFERENCE_PREFIX}{document_id}"


def with_our_reference(text: str | None, document_id: str) -> str:
    """`text` (our notes) with our reference as its last line (providers.texts cuts the notes, never it)."""
    return f"{text}\n{our_reference(document_id)}" if text else our_reference(document_id)


def split_our_reference(text: str) -> tuple[str, str]:
    """(the text before it, our reference line) when `text` ends with one; else (text, "")."""
    match = _REFERENCE_AT_END.search(text)
    if match is None:
        return text, ""
    return text[:match.start()], match.group().lstrip("\n")


def references_in(text: str | None) -> list[str]:
    """The document ids of every reference of ours in a text read back from the provider."""
    return _REFERENCE.findall(text or "")


class SettlementOutcome(StrEnum):
    FOUND = "found"  # the provider holds it: record it exported with that document
    ABSENT = "absent"  # the provider surely does not hold it: send it again
    NOT_YET = "not_yet"  # nothing found yet, but the attempt may still be under way at the provider
    UNDECIDED = "undecided"  # a person must decide (the evidence says why)


class SettledBy(StrEnum):
    LOOK_UP = "look_up"  # the provider's look-up by our id (or our number)
    TASK = "task"  # the provider's status of the creation task the attempt started (inFakt)
    LISTING = "listing"  # the provider's documents of the day, our reference read back


@dataclass(frozen=True)
class ListedDocument:
    """A provider document as its list shows it (or, once read whole, its read). None: not shown, so it
    does not narrow (the document may be ours)."""

    reference: ProviderReference
    issue_date: date | None = None
    kind: DocumentKind | None = None
    gross: Decimal | None = None  # in the document's currency
    currency: str | None = None
    # The text of the field that carries our reference; None: the list does not show it.
    reference_text: str | None = None

    def may_be(self, document: Document) -> bool:
        """Whether nothing shown rules it out as `document`'s create (same issue date, kind, gross)."""
        return all(shown is None or shown == ours for shown, ours in (
            (self.issue_date, document.issue_date), (self.kind, document.kind),
            (self.gross, document.totals.gross), (self.currency, document.currency)))

    def evidence(self, document_id: str) -> dict[str, str]:
        """What it shows an operator: the provider's id and number and which reference it carries -
        never the text read back (a merchant's notes may hold buyer data)."""
        found = references_in(self.reference_text)
        carries = ("ours" if document_id in found else f"another of ours: {', '.join(found)}" if found
                   else "no reference of ours")
        return {"provider_document_id": self.reference.provider_document_id, "number": self.reference.number,
                "reference": carries}


@dataclass(frozen=True)
class InterruptedAttempt:
    """What the service knows of the attempt being settled."""

    # The provider's reference of the creation task the attempt started (inFakt), if its POST answered.
    task_reference: str | None = None
    # Each series' next number at the provider just before the attempt's create (SmartBill): whatever it
    # created took a number from there on. None: not kept (another provider, or an older record).
    numbering_before: Mapping[str, str] | None = None
    # Seconds until the provider's list surely shows whatever the attempt created (0: it does now).
    listing_complete_in: float = 0.0
    # The provider document ids our records map to other documents of the account (exported ones of
    # about the issue date), asked only when a list leaves several documents to read; None: not known.
    mapped_elsewhere: Callable[[], frozenset[str]] | None = None
    # False on a message's later delivery: a day's list (pages, a read per candidate) is left to the
    # settlement, which has the time and the patience for the provider's rate limit; only what answers
    # in a request or two (a look-up by our id or number, a creation task) is asked there.
    may_list: bool = True

    def ours_elsewhere(self, reads: int) -> frozenset[str]:
        """The provider ids of `mapped_elsewhere`, asked only when `reads` provider reads would otherwise
        follow (more than READS_BEFORE_OUR_RECORDS: many look alike, e.g. repeat orders); else none."""
        if reads <= READS_BEFORE_OUR_RECORDS or self.mapped_elsewhere is None:
            return frozenset()
        return self.mapped_elsewhere()


def attempt_of(record: DocumentRecord, listing_complete_after: float, now: datetime,
               mapped_elsewhere: Callable[[], frozenset[str]] | None = None, *,
               may_list: bool = True) -> InterruptedAttempt:
    """The interrupted attempt `record` last held the claim for, as the provider is asked about it:
    its creation task if recorded, and how long until the provider's list surely shows what it created
    (`listing_complete_after` seconds after it began; a record claimed before the start was kept counts
    from its last change, later than the attempt began: the safe side)."""
    started = datetime.fromisoformat(record.attempt_started_at or record.updated_at)
    elapsed = (now - started).total_seconds()
    return InterruptedAttempt(task_reference=record.task_of_attempt, numbering_before=record.numbering_before_attempt,
                              listing_complete_in=max(listing_complete_after - elapsed, 0.0),
                              # a query of our records: asked once however often the adapter needs it
                              mapped_elsewhere=functools.cache(mapped_elsewhere) if mapped_elsewhere else None,
                              may_list=may_list)


@dataclass(frozen=True)
class Settlement:
    outcome: SettlementOutcome
    by: SettledBy
    reason: str  # in a person's words: what the provider showed
    found: ProviderReference | None = None
    candidates: tuple[dict[str, str], ...] = ()  # the evidence (ListedDocument.evidence)
    retry_after: float | None = None  # NOT_YET: when asking again can decide

    def as_record(self, at: str, where: str) -> dict[str, object]:
        """As kept on the document's record (`settlement`), shown by the API and the CLI."""
        record: dict[str, object] = {"outcome": self.outcome.value, "by": self.by.value, "where": where, "at": at,
                                     "reason": self.reason, "candidates": [dict(c) for c in self.candidates]}
        if self.found is not None:
            record["found"] = self.found.provider_document_id
        return record


def settle_by_reference(document: Document, candidates: list[ListedDocument], *, provider: str,
                        listing_complete_in: float, carried_id: str | None = None) -> Settlement:
    """The decision over the provider's documents of `document`'s issue date (each read far enough to
    show our reference), as the module's table says. `carried_id`: the document id in the reference the
    provider's document carries, where it is not `document`'s own (a SmartBill storno is a copy of the
    invoice it reverses, with that invoice's reference; one invoice is reversed once)."""
    document_id = carried_id or document.document_id
    possible = [c for c in candidates if c.may_be(document)]
    ours, unmarked = _ours_and_unmarked(possible, document_id)
    evidence = tuple(c.evidence(document_id) for c in ours + unmarked)
    what = f"{document.issue_date}, {document.kind.value}, {document.totals.gross} {document.currency}"
    if len(ours) == 1:
        [found] = ours
        return Settlement(SettlementOutcome.FOUND, SettledBy.LISTING,
                          f"{provider} holds {found.reference.number or found.reference.provider_document_id} "
                          f"with our reference", found=found.reference, candidates=evidence)
    if ours:
        return Settlement(SettlementOutcome.UNDECIDED, SettledBy.LISTING,
                          f"{provider} holds {len(ours)} documents with our reference ({what})",
                          candidates=evidence)
    if unmarked:
        return Settlement(SettlementOutcome.UNDECIDED, SettledBy.LISTING,
                          f"{provider} holds {len(unmarked)} document(s) of {what} without our reference (edited "
                          f"or made by hand?): one may be ours", candidates=evidence)
    return _none_of_ours(provider, what, others=len(possible), listing_complete_in=listing_complete_in)


def _ours_and_unmarked(possible: list[ListedDocument],
                       document_id: str) -> tuple[list[ListedDocument], list[ListedDocument]]:
    """(those carrying our reference, those carrying no reference of ours at all); the rest carry another
    document's of ours."""
    ours = [c for c in possible if document_id in references_in(c.reference_text)]
    return ours, [c for c in possible if not references_in(c.reference_text)]


def _none_of_ours(provider: str, what: str, *, others: int, listing_complete_in: float) -> Settlement:
    """No listed document of the day carries our reference, and none that could be ours lacks one: absent
    once the list surely shows what the interrupted create sent, not yet before."""
    if listing_complete_in > 0:
        return Settlement(SettlementOutcome.NOT_YET, SettledBy.LISTING,
                          f"{provider} lists no document of {what} yet, but the interrupted create may still be "
                          f"under way there", retry_after=listing_complete_in)
    return Settlement(SettlementOutcome.ABSENT, SettledBy.LISTING,
                      f"{provider} lists no document of {what} with our reference"
                      + (f" ({others} of another document of ours)" if others else ""))


def left_to_listing(document: Document, provider: str, attempt: InterruptedAttempt) -> Settlement:
    """Not asked here (`may_list` False): the settlement lists the provider's documents of the day."""
    return Settlement(SettlementOutcome.NOT_YET, SettledBy.LISTING,
                      f"{provider}'s documents of {document.issue_date} are to be listed to find it",
                      retry_after=attempt.listing_complete_in)


def undecided(by: SettledBy, reason: str) -> Settlement:
    return Settlement(SettlementOutcome.UNDECIDED, by, reason)
