"""Read-back check: does the accounting system show exactly our document?

After each create the adapter reports what the provider computed (`ProviderTotals`); any
difference from ours (a grosz of drift, another currency, a plain invoice where we sent a
correction) is recorded on the document and reported as a warning in the outcome event, with both
figures. It is not a failure: the document exists at the provider and must not be sent again.
The same gross split otherwise into net and VAT is no drift but the provider's lawful other split
(domain.vat_split): `settle_vat_split` records it as the `vat_split_differs` warning, predicted
before sending or found here.

VAT in PLN (art. 106e ust. 11), for a document in a foreign currency, is checked where the
provider's API returns its figure: inFakt (`exchange_rates_data`). Fakturownia, wFirma and iFirma
return only the amounts in the invoice currency (and the rate, where they pick one), not the PLN
VAT they print, so it cannot be read back there; our figure is recorded on the document instead
(`pln_vat_record`), for the merchant to compare with the provider's printout.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from invoice_export.domain.documents import Document, DocumentKind, VatAtExchangeRate
from invoice_export.domain.vat_split import VatSplit, VatSplitDifference, document_split


@dataclass(frozen=True)
class ProviderTotals:
    # None where the provider's API does not return the figure (Oblio and SmartBill read back the gross
    # total only; SmartBill not even the currency): what is returned is compared, nothing is assumed.
    net: Decimal | None
    vat: Decimal | None
    gross: Decimal
    currency: str | None
    is_correction: bool | None  # None: the API does not say, and the amounts cannot tell (a zero total)
    corrects: str | None = None  # the provider id of the corrected document, for a correction
    # False where the API does not say which document a correction corrects (Oblio, SmartBill storno).
    corrects_readable: bool = True
    # The document's total VAT in PLN as the provider states it; None where its API does not return it.
    vat_in_pln: Decimal | None = None
    # Its total VAT in the home currency of a non-PLN seller (RON), where its API returns one (neither Oblio
    # nor SmartBill does: their reads give the gross total only); a PLN seller's is `vat_in_pln`.
    vat_in_home_currency: Decimal | None = None
    # The exchange rate the provider stored, where we pass ours and it returns it: a different rate
    # means a different VAT in PLN on its printout, even where that VAT cannot be read back.
    exchange_rate: Decimal | None = None


@dataclass(frozen=True)
class Drift:
    field: str
    ours: str
    provider: str

    def describe(self, provider_name: str) -> str:
        return f"{provider_name} shows {self.field} {self.provider}, our document {self.ours}"


def compare(document: Document, provider: ProviderTotals, corrected_provider_id: str | None,
            vat_split: VatSplitDifference | None = None) -> list[Drift]:
    """What the provider shows otherwise than our document. `vat_split` (from `settle_vat_split`):
    the provider's other split of our gross, which is no drift; its VAT in PLN is then checked
    against that split's."""
    return [*_totals_drift(document, provider), *_pln_drift(document, provider, vat_split),
            *_kind_drift(document, provider, corrected_provider_id)]


def _totals_drift(document: Document, provider: ProviderTotals) -> list[Drift]:
    """Net, VAT and gross where the amount due differs (the same gross split otherwise is a split, not
    drift: settle_vat_split), and the currency."""
    drifts = []
    if not _same_gross(document, provider):
        drifts = [Drift(name, f"{ours:f}", f"{theirs:f}")
                  for name, ours, theirs in (("net", document.totals.net, provider.net),
                                             ("VAT", document.totals.vat, provider.vat),
                                             ("gross", document.totals.gross, provider.gross))
                  if theirs is not None and ours != theirs]
    if provider.currency is not None and provider.currency != document.currency:
        drifts.append(Drift("currency", document.currency, provider.currency))
    return drifts


def _pln_drift(document: Document, provider: ProviderTotals, vat_split: VatSplitDifference | None) -> list[Drift]:
    """The VAT in PLN (of the provider's split, where it splits otherwise) and the exchange rate, where
    the provider returns its own."""
    drifts = []
    ours_in_pln = document.vat_in_pln()
    if ours_in_pln is not None and provider.vat_in_pln is not None:
        expected = _expected_home_vat(ours_in_pln, vat_split)
        if provider.vat_in_pln != expected:
            drifts.append(Drift("VAT in PLN", f"{expected:f}", f"{provider.vat_in_pln:f}"))
    ours_in_home = document.vat_in_home_currency() if document.home_currency != "PLN" else None
    if ours_in_home is not None and provider.vat_in_home_currency is not None:
        expected = _expected_home_vat(ours_in_home, vat_split)
        if provider.vat_in_home_currency != expected:
            drifts.append(Drift(f"VAT in {ours_in_home.currency}", f"{expected:f}",
                                f"{provider.vat_in_home_currency:f}"))
    if document.exchange_rate is not None and provider.exchange_rate is not None \
            and provider.exchange_rate != document.exchange_rate.rate:
        drifts.append(Drift("exchange rate", f"{document.exchange_rate.rate:f}", f"{provider.exchange_rate:f}"))
    return drifts


def _expected_home_vat(ours: VatAtExchangeRate, vat_split: VatSplitDifference | None) -> Decimal:
    """The VAT in the home currency the provider should show: its own split's where it splits otherwise."""
    theirs = vat_split.theirs.vat_in_pln(ours.exchange_rate) if vat_split is not None else None
    return theirs if theirs is not None else ours.total


def _kind_drift(document: Document, provider: ProviderTotals, corrected_provider_id: str | None) -> list[Drift]:
    """A correction stored as a plain document (or the reverse), or one correcting another document."""
    is_correction = document.kind == DocumentKind.CORRECTION
    if provider.is_correction is not None and provider.is_correction != is_correction:
        provider_kind = "a correction" if provider.is_correction else "not a correction"
        return [Drift("kind", document.kind.value, provider_kind)]
    if is_correction and corrected_provider_id and provider.corrects_readable \
            and provider.corrects != corrected_provider_id:
        return [Drift("corrected document", corrected_provider_id, provider.corrects or "none")]
    return []


def settle_vat_split(document: Document, predicted: VatSplitDifference | None,
                     provider: ProviderTotals | None) -> VatSplitDifference | None:
    """The provider's other split of our gross to record: as predicted before sending (planning) when
    nothing was read back; else as read back - the prediction confirmed where it gives the provider's
    net and VAT (with its figures per rate, which the provider does not return), the provider's totals
    where only they are known, none where it shows exactly ours or another gross (that is drift)."""
    if provider is None:
        return predicted
    if not _same_gross(document, provider):
        return None
    if provider.net is None or provider.vat is None:  # the gross only read back: the split as predicted
        return predicted
    stored = VatSplit(net=provider.net, vat=provider.vat)
    if predicted is not None and stored.same_as(predicted.theirs):
        return VatSplitDifference(ours=predicted.ours, theirs=predicted.theirs, read_back=True)
    ours = predicted.ours if predicted is not None else document_split(document)
    if stored.same_as(ours):
        return None
    return VatSplitDifference(ours=ours, theirs=stored, read_back=True)


def _same_gross(document: Document, provider: ProviderTotals) -> bool:
    return provider.gross == document.totals.gross and provider.currency in (None, document.currency)


def home_vat_record(document: Document, provider: ProviderTotals | None) -> dict[str, str] | None:
    """Our VAT in the home currency (PLN, RON) of a document in another currency, with that currency, for
    its record and outcome, and whether the provider's figure was compared ("checked"); None for a
    document in the home currency. The additive, any-currency companion of `pln_vat_record`."""
    ours = document.vat_in_home_currency()
    if ours is None:
        return None
    theirs = None if provider is None else provider.vat_in_pln if ours.currency == "PLN" \
        else provider.vat_in_home_currency
    return {**ours.as_record(), "checked": "yes" if theirs is not None else "no"}


def pln_vat_record(document: Document, provider: ProviderTotals | None) -> dict[str, str] | None:
    """Our VAT in PLN for the document's record and outcome, and whether the provider's figure was
    compared with it ("checked": "yes") or could not be read back ("no"); None for a PLN document."""
    ours = document.vat_in_pln()
    if ours is None:
        return None
    checked = provider is not None and provider.vat_in_pln is not None
    return {**ours.as_record(), "checked": "yes" if checked else "no"}
