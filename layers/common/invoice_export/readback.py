"""Read-back check: does the accounting system show exactly our document?

After each create the adapter reports what the provider computed (`ProviderTotals`); any
difference from ours (a grosz of drift, another currency, a plain invoice where we sent a
correction) is recorded on the document and reported as a warning in the outcome event, with both
figures. It is not a failure: the document exists at the provider and must not be sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from invoice_export.documents import Document, DocumentKind


@dataclass(frozen=True)
class ProviderTotals:
    net: Decimal
    vat: Decimal
    gross: Decimal
    currency: str
    is_correction: bool
    corrects: str | None = None  # the provider id of the corrected document, for a correction


@dataclass(frozen=True)
class Drift:
    field: str
    ours: str
    provider: str

    def describe(self, provider_name: str) -> str:
        return f"{provider_name} shows {self.field} {self.provider}, our document {self.ours}"


def compare(document: Document, provider: ProviderTotals, corrected_provider_id: str | None) -> list[Drift]:
    drifts = [Drift(name, f"{ours:f}", f"{theirs:f}")
              for name, ours, theirs in (("net", document.totals.net, provider.net),
                                         ("VAT", document.totals.vat, provider.vat),
                                         ("gross", document.totals.gross, provider.gross))
              if ours != theirs]
    if provider.currency != document.currency:
        drifts.append(Drift("currency", document.currency, provider.currency))
    is_correction = document.kind == DocumentKind.CORRECTION
    if provider.is_correction != is_correction:
        provider_kind = "a correction" if provider.is_correction else "not a correction"
        drifts.append(Drift("kind", document.kind.value, provider_kind))
    elif is_correction and corrected_provider_id and provider.corrects != corrected_provider_id:
        drifts.append(Drift("corrected document", corrected_provider_id, provider.corrects or "none"))
    return drifts
