"""Resolve an account's settings for one document: numbering, series and payment links, SKUs.

Checked once here for every provider, before any request is built, so a missing link or an
option the provider cannot honour is a clear error instead of a request the provider rejects.
"""

from __future__ import annotations

from typing import Protocol

from invoice_export.domain.account_settings import AccountSettings, KsefMode, Numbering
from invoice_export.domain.documents import Document, DocumentKind, Totals, VatCalculation, compute_totals
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.provider_contract import Capabilities, ExportPlan, ProviderReference


class ProviderTraits(Protocol):
    """What planning reads of a provider: an adapter class (providers.base.ProviderAdapter) has it all."""

    display_name: str
    capabilities: Capabilities
    vat_calculation: VatCalculation | None
    home_currency: str

    def ksef_refusal(self, mode: KsefMode) -> tuple[str, str] | None: ...

    def predicted_totals(self, document: Document) -> Totals | None: ...


def plan_export(document: Document, settings: AccountSettings, adapter: ProviderTraits,
                corrected: ProviderReference | None = None) -> ExportPlan:
    name = adapter.display_name
    caps = adapter.capabilities
    if not caps.supports_kind(document.kind):
        raise ConfigurationError(
            f"{name} cannot take {document.kind.value}s through its API",
            fix=f"issue this document in {name} by hand, or do not send {document.kind.value}s to this account",
            code="unsupported_kind")
    if document.kind == DocumentKind.CORRECTION and not caps.partial_corrections and not document.is_full_reversal:
        raise ConfigurationError(
            f"{name} can only reverse a whole document (storno) through its API, and this correction changes "
            "single lines", code="unsupported_partial_correction",
            fix=f"issue this correction in {name} by hand; or send a correction cancelling the whole document "
                "(no lines after the change) and then a new invoice with the right lines")
    _refuse_other_home_currency(document, settings, adapter)

    number = None
    if settings.numbering == Numbering.OURS:
        if not caps.own_numbering:
            raise ConfigurationError(
                f"{name} does not accept our document numbers",
                fix=f"switch account {settings.account_id} to {name}'s numbering", code="unsupported_numbering")
        number = document.number

    if document.series not in settings.series_links:
        raise ConfigurationError(
            f"our series '{document.series}' is not linked to a {name} series",
            fix=f"link series '{document.series}' to a {name} series, or set it to 'do not pass' to use "
            f"{name}'s default series", code="series_not_linked")
    provider_series = settings.series_links[document.series]
    if provider_series is not None and not caps.series:
        raise ConfigurationError(
            f"{name} has no series to choose through its API, but series '{document.series}' is linked to one",
            fix=f"set series '{document.series}' to 'do not pass'", code="unsupported_series")

    payment_type = settings.payment_links.get(document.payment.method)
    if payment_type is None:
        raise ConfigurationError(
            f"our payment method '{document.payment.method}' is not linked to a {name} payment type",
            fix=f"link payment method '{document.payment.method}' to a {name} payment type",
            code="payment_type_not_linked")

    if settings.send_skus and not caps.sku_stock:
        raise ConfigurationError(
            f"{name} cannot decrease stock through its API", fix="turn off 'send SKUs' for this account",
            code="unsupported_sku")

    if refusal := adapter.ksef_refusal(settings.ksef):
        raise ConfigurationError(refusal[0], fix=refusal[1], code="unsupported_ksef")

    _refuse_totals_the_provider_would_compute_differently(document, adapter)

    return ExportPlan(document=document, number=number, provider_series=provider_series,
                      provider_payment_type=payment_type, send_skus=settings.send_skus,
                      missing_sku=settings.missing_sku, corrected=corrected,
                      send_to_ksef=settings.ksef == KsefMode.SEND_ON_EXPORT and goes_to_ksef(document))


def _refuse_other_home_currency(document: Document, settings: AccountSettings, adapter: ProviderTraits) -> None:
    """A document, its account and its provider must account VAT in the same currency: the exchange rate
    converts to it, and the provider keeps its books in it."""
    if settings.home_currency != adapter.home_currency:
        raise ConfigurationError(
            f"{adapter.display_name} keeps its books in {adapter.home_currency}, but account {settings.account_id} "
            f"is set to {settings.home_currency}", code="home_currency_mismatch",
            fix=f"set the account's home_currency to {adapter.home_currency} (reconnect it)")
    if document.home_currency != settings.home_currency:
        raise ConfigurationError(
            f"the document accounts VAT in {document.home_currency}, but account {settings.account_id} keeps its "
            f"books in {settings.home_currency}", code="home_currency_mismatch",
            fix=f"issue this account's documents with home_currency '{settings.home_currency}' (and an exchange "
                f"rate to {settings.home_currency} for other currencies)")


def _refuse_totals_the_provider_would_compute_differently(document: Document, adapter: ProviderTraits) -> None:
    """A provider that always computes VAT one way would show other totals than a document computed the
    other way; say so with the exact figures before anything is sent."""
    method = adapter.vat_calculation
    if method is not None and method != document.vat_calculation:
        theirs = compute_totals(document.lines, document.price_basis, method)
        if document.correction is not None:
            before = compute_totals(document.correction.lines_before, document.price_basis, method)
            theirs = Totals(net=theirs.net - before.net, vat=theirs.vat - before.vat,
                            gross=theirs.gross - before.gross)
        _refuse_drift(document, theirs, adapter,
                      f"{adapter.display_name} computes VAT {method.value.replace('_', ' ')}",
                      f"issue documents for this account with VAT computed {method.value.replace('_', ' ')} "
                      f"(vat_calculation '{method.value}'), so both show the same totals")
    predicted = adapter.predicted_totals(document)
    if predicted is not None:
        _refuse_drift(document, predicted, adapter,
                      f"{adapter.display_name} splits gross amounts into net and VAT its own way",
                      "issue this document with net prices (price_basis 'net'), which it takes as they are")


def _refuse_drift(document: Document, theirs: Totals, adapter: ProviderTraits, why: str, fix: str) -> None:
    drift = [f"{name} {getattr(theirs, name)} instead of our {getattr(document.totals, name)}"
             for name in ("net", "vat", "gross") if getattr(theirs, name) != getattr(document.totals, name)]
    if drift:
        raise ConfigurationError(f"{why}, which gives this document " + ", ".join(drift), fix=fix,
                                 code="provider_totals_would_differ")


def goes_to_ksef(document: Document) -> bool:
    """Invoices and corrections go to KSeF; receipts (paragony) do not."""
    return document.kind in (DocumentKind.INVOICE, DocumentKind.CORRECTION)
