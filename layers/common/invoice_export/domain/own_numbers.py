"""Our document numbers at a provider that takes them: one document per number, per numbering bucket.

With the account's numbering set to ours, the number on our document is what the provider prints,
and some providers (Fakturownia) create a second document with a number already used without a word.
Two invoices with one number are unlawful (VAT act art. 106e(1)(2): the number identifies the
invoice within its series), so the export claims each number for its document before sending, in the
same DynamoDB write as the document's claim (storage.documents, storage.own_numbers).

A number is claimed within the provider's numbering bucket: where the provider numbers kinds (or
series) separately, the same number in another kind (or series) is another number. Each adapter
declares its bucket (`ProviderAdapter.own_number_scope`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

from invoice_export.domain.errors import PermanentError
from invoice_export.domain.provider_contract import ExportPlan

# Every dash a keyboard, a word processor or a shop's template produces reads as "-" on paper.
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]")


@dataclass(frozen=True)
class OwnNumberScope:
    """Which documents share one sequence of numbers at a provider (its numbering bucket)."""

    per_kind: bool  # invoices, receipts and corrections are numbered apart
    per_series: bool  # each provider series (department, series template) is numbered apart
    source: str  # why we believe so


# A provider we know nothing about: one number once per account, whatever the kind or series. The
# safe side: it may refuse a number the provider would allow, never let a duplicate through.
ONE_SEQUENCE_PER_ACCOUNT = OwnNumberScope(per_kind=False, per_series=False,
                                          source="not declared: one sequence per account, the safe side")


def normalised_number(number: str) -> str:
    """The number as a person reads it on paper, so numbers differing only in how they were typed match.

    - Unicode NFKC: full-width and compatibility characters become their plain forms
      ("ＦＶ１" -> "FV1"), a no-break space becomes a space;
    - every dash ("‐", "–", "—", "−", ...) becomes "-";
    - all whitespace and invisible format characters (zero-width space, BOM) are removed, not only at
      the ends: "FV 1/11/2026", " FV  1/11/2026 " and "FV1/11/2026" read as one number;
    - case is folded: "fv/1/2026" is "FV/1/2026".

    Anything else stays as it is: leading zeros ("FV/01/2026" is not "FV/1/2026"), separators ("/" vs
    "-" vs "."), and letters that only look alike in other scripts (Cyrillic "В" is not Latin "B").
    """
    text = _DASHES.sub("-", unicodedata.normalize("NFKC", number))
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf").casefold()


@dataclass(frozen=True)
class NumberClaim:
    """One number of ours a document is about to be sent with, and the key that makes it unique."""

    number: str  # as sent
    key: str  # bucket and normalised number; unique within the account

    @classmethod
    def for_plan(cls, scope: OwnNumberScope, plan: ExportPlan) -> NumberClaim | None:
        """The number a plan sends; None when the provider numbers the document."""
        if plan.number is None:
            return None
        return cls.of(scope, plan.number, plan.document.kind.value, plan.provider_series)

    @classmethod
    def of(cls, scope: OwnNumberScope, number: str, kind: str, provider_series: str | None) -> NumberClaim:
        """`kind`: our document kind; `provider_series`: the provider series it goes to (None: its default)."""
        bucket_kind = kind if scope.per_kind else "*"
        bucket_series = (provider_series or "default") if scope.per_series else "*"
        # A JSON list: unambiguous whatever characters a series or a number holds, and readable.
        key = json.dumps([bucket_kind, bucket_series, normalised_number(number)], ensure_ascii=False)
        return cls(number=number, key=key)


class DuplicateNumber(PermanentError):
    """Another document of the account already holds this number at the provider."""

    code = "duplicate_number"

    def __init__(self, number: str, document_id: str, holder_document_id: str) -> None:
        super().__init__(
            f"number '{number}' is already used by document {holder_document_id} of this account: sending "
            f"document {document_id} with it would give two documents one number",
            fix=f"give document {document_id} its own number and send it again as a new version (if it is "
                f"the same sale as {holder_document_id}, send it as a new version of {holder_document_id} "
                f"instead)")
        self.number = number
        self.holder_document_id = holder_document_id
