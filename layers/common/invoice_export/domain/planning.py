"""Resolve an account's settings for one document: numbering, series and payment links, SKUs,
and how the provider's own VAT arithmetic meets ours (domain.vat_split).

Checked once here for every provider, before any request is built, so a missing link or an
option the provider cannot honour is a clear error instead of a request the provider rejects.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from invoice_export.domain.account_settings import AccountSettings, KsefMode, Numbering, TotalsPolicy
from invoice_export.domain.documents import Document, DocumentKind, Line, PriceBasis, VatCalculation
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import exact_unit_price
from invoice_export.domain.provider_contract import Capabilities, ExportPlan, ProviderReference
from invoice_export.domain.vat_split import VatSplit, VatSplitDifference, document_split, line_values


class ProviderTraits(Protocol):
    """What planning reads of a provider: an adapter class (providers.base.ProviderAdapter) has it all."""

    display_name: str
    capabilities: Capabilities
    vat_calculation: VatCalculation | None
    gross_unit_price_places: int | None
    home_currency: str

    def ksef_refusal(self, mode: KsefMode) -> tuple[str, str] | None: ...

    def provider_split(self, values: list[tuple[Decimal, Decimal]], basis: PriceBasis,
                       method: VatCalculation) -> VatSplit | None: ...


def plan_export(document: Document, settings: AccountSettings, adapter: ProviderTraits,
                corrected: ProviderReference | None = None) -> ExportPlan:
    """The plan for one document, or ConfigurationError naming the setting (or capability) in the way."""
    caps = adapter.capabilities
    if not caps.supports_kind(document.kind):
        raise ConfigurationError(
            f"{adapter.display_name} cannot take {document.kind.value}s through its API",
            fix=f"issue this document in {adapter.display_name} by hand, or do not send {document.kind.value}s "
            "to this account", code="unsupported_kind")
    _refuse_partial_correction(document, adapter)
    _refuse_other_home_currency(document, settings, adapter)
    number = _number(document, settings, adapter)
    provider_series = _provider_series(document, settings, adapter)
    payment_type = _payment_type(document, settings, adapter)
    if settings.send_skus and not caps.sku_stock:
        raise ConfigurationError(
            f"{adapter.display_name} cannot decrease stock through its API",
            fix="turn off 'send SKUs' for this account", code="unsupported_sku")
    if refusal := adapter.ksef_refusal(settings.ksef):
        raise ConfigurationError(refusal[0], fix=refusal[1], code="unsupported_ksef")
    send_gross_prices, vat_split = _meet_the_providers_vat_arithmetic(document, settings.totals_policy, adapter)
    return ExportPlan(document=document, number=number, provider_series=provider_series,
                      provider_payment_type=payment_type, send_skus=settings.send_skus,
                      missing_sku=settings.missing_sku, corrected=corrected,
                      send_to_ksef=settings.ksef == KsefMode.SEND_ON_EXPORT and goes_to_ksef(document),
                      send_gross_prices=send_gross_prices, vat_split=vat_split)


def _refuse_partial_correction(document: Document, adapter: ProviderTraits) -> None:
    """A provider that only reverses whole documents (storno) takes no correction of single lines."""
    if document.kind == DocumentKind.CORRECTION and not adapter.capabilities.partial_corrections \
            and not document.is_full_reversal:
        name = adapter.display_name
        raise ConfigurationError(
            f"{name} can only reverse a whole document (storno) through its API, and this correction changes "
            "single lines", code="unsupported_partial_correction",
            fix=f"issue this correction in {name} by hand; or send a correction cancelling the whole document "
                "(no lines after the change) and then a new invoice with the right lines")


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


def _number(document: Document, settings: AccountSettings, adapter: ProviderTraits) -> str | None:
    """Our number where the account passes it; None: the provider numbers the document."""
    if settings.numbering != Numbering.OURS:
        return None
    if not adapter.capabilities.own_numbering:
        raise ConfigurationError(
            f"{adapter.display_name} does not accept our document numbers",
            fix=f"switch account {settings.account_id} to {adapter.display_name}'s numbering",
            code="unsupported_numbering")
    return document.number


def _provider_series(document: Document, settings: AccountSettings, adapter: ProviderTraits) -> str | None:
    """The provider series our series is linked to (None: do not pass), for a document of a kind it serves."""
    name, series = adapter.display_name, document.series
    if series not in settings.series_links:
        raise ConfigurationError(
            f"our series '{series}' is not linked to a {name} series",
            fix=f"link series '{series}' to a {name} series, or set it to 'do not pass' to use {name}'s default "
            "series", code="series_not_linked")
    served = settings.series_link_kinds.get(series)
    if served is not None and document.kind not in served:
        raise ConfigurationError(
            f"our series '{series}' is linked for {', '.join(k.value + 's' for k in served)} only, but this "
            f"document is a {document.kind.value}",
            fix=f"issue {document.kind.value}s in a series of theirs, or add '{document.kind.value}' to the kinds "
            f"series '{series}' serves (series_link_kinds) after checking its {name} series takes them",
            code="series_kind_not_linked")
    provider_series = settings.series_links[series]
    if provider_series is not None and not adapter.capabilities.series:
        raise ConfigurationError(
            f"{name} has no series to choose through its API, but series '{series}' is linked to one",
            fix=f"set series '{series}' to 'do not pass'", code="unsupported_series")
    return provider_series


def _payment_type(document: Document, settings: AccountSettings, adapter: ProviderTraits) -> str:
    method = document.payment.method
    payment_type = settings.payment_links.get(method)
    if payment_type is None:
        raise ConfigurationError(
            f"our payment method '{method}' is not linked to a {adapter.display_name} payment type",
            fix=f"link payment method '{method}' to a {adapter.display_name} payment type",
            code="payment_type_not_linked")
    return payment_type


def _meet_the_providers_vat_arithmetic(document: Document, policy: TotalsPolicy,
                                       adapter: ProviderTraits) -> tuple[bool, VatSplitDifference | None]:
    """(send net-priced lines as gross unit prices, the provider's other split of our gross to record).

    A provider that computes VAT its own way shows the same gross (amount due) split otherwise into
    net and VAT - lawful, and sent with both splits recorded - or, for net prices, another gross: that
    is refused before sending, unless the lines can go as gross unit prices that give exactly our line
    gross. `strict` refuses any difference, with the figures, as before that option existed."""
    ours = document_split(document)
    if policy == TotalsPolicy.STRICT:
        theirs = _provider_split(document, adapter, send_gross_prices=False)
        if theirs is not None:
            _refuse_any_difference(ours, theirs, adapter, document)
        return False, None
    send_gross_prices = _gross_prices_needed(document, adapter)
    if send_gross_prices and (inexact := _line_without_exact_gross_price(document, adapter)) is not None:
        as_net = _provider_split(document, adapter, send_gross_prices=False)
        assert as_net is not None
        _refuse_gross_difference(ours, as_net, adapter, document, inexact=inexact)
    theirs = _provider_split(document, adapter, send_gross_prices=send_gross_prices)
    if theirs is None or theirs.same_as(ours):
        return send_gross_prices, None
    if theirs.gross != ours.gross:
        _refuse_gross_difference(ours, theirs, adapter, document)
    return send_gross_prices, VatSplitDifference(ours=ours, theirs=theirs)


def _provider_split(document: Document, adapter: ProviderTraits, *, send_gross_prices: bool) -> VatSplit | None:
    """How the provider will split the lines we send; None where it reproduces our document's split."""
    basis = PriceBasis.GROSS if send_gross_prices else document.price_basis

    def split(lines: list[Line]) -> VatSplit | None:
        return adapter.provider_split(line_values(lines, gross_from_net=send_gross_prices), basis,
                                      document.vat_calculation)

    after = split(document.lines)
    if after is None or document.correction is None:
        return after
    before = split(document.correction.lines_before)
    assert before is not None
    return after.minus(before)


def _gross_prices_needed(document: Document, adapter: ProviderTraits) -> bool:
    """Whether a net-priced, per-line document goes to a per-rate provider as gross unit prices: where
    its VAT per rate on our net would change the gross. Decided on a correction's lines before, that is
    on the original's lines: a correction must go in its original's price basis (iFirma inherits LiczOd,
    wFirma values the original's lines in the correction's price_type)."""
    if adapter.gross_unit_price_places is None or document.price_basis != PriceBasis.NET \
            or adapter.vat_calculation in (None, document.vat_calculation):
        return False
    lines = document.correction.lines_before if document.correction is not None else document.lines
    theirs = adapter.provider_split(line_values(lines), PriceBasis.NET, document.vat_calculation)
    ours = sum((line.gross_from_net() for line in lines), Decimal("0.00"))
    return theirs is not None and theirs.gross != ours


def _refuse_gross_difference(ours: VatSplit, theirs: VatSplit, adapter: ProviderTraits, document: Document, *,
                             inexact: Line | None = None) -> None:
    name, method = adapter.display_name, adapter.vat_calculation
    how = f"computes VAT {_words(method)}" if method is not None else "splits gross amounts its own way"
    if inexact is None:
        message = (f"{name} {how}, which gives this document an amount due (gross) of {theirs.gross} instead of "
                   f"our {ours.gross} (net {theirs.net}, VAT {theirs.vat}; ours net {ours.net}, VAT {ours.vat})")
    else:
        message = (f"{name} {how}: to show our amount due {ours.gross}, this document's net lines must go to it as "
                   f"gross unit prices, but no unit price with at most {adapter.gross_unit_price_places} decimals "
                   f"gives line {inexact.line_id} (quantity {inexact.quantity.normalize():f}) its gross "
                   f"{inexact.gross_from_net()} exactly")
        if theirs.gross != ours.gross:
            message += f" (as net prices the amount due there would be {theirs.gross})"
    if method is None:
        fix = f"issue this document with {'net' if document.price_basis == PriceBasis.GROSS else 'gross'} prices"
    elif inexact is not None:
        fix = (f"issue this document with VAT computed {_words(method)} (vat_calculation '{method.value}'), as "
               f"{name} does, or give line {inexact.line_id} a quantity up to 100")
    else:
        fix = (f"issue this account's documents with VAT computed {_words(method)} (vat_calculation "
               f"'{method.value}'), as {name} does, or with gross prices (price_basis 'gross'): the amount due is "
               f"then the same at {name}")
    raise ConfigurationError(message, fix=fix, code="provider_gross_differs")


def _line_without_exact_gross_price(document: Document, adapter: ProviderTraits) -> Line | None:
    """The first line no gross unit price at the provider's decimals gives its gross exactly."""
    places = adapter.gross_unit_price_places
    assert places is not None
    lines = document.lines + (document.correction.lines_before if document.correction else [])
    return next((line for line in lines
                 if exact_unit_price(line.gross_from_net(), line.quantity, places) is None), None)


def _refuse_any_difference(ours: VatSplit, theirs: VatSplit, adapter: ProviderTraits, document: Document) -> None:
    """totals_policy strict: the provider must show exactly our net, VAT and gross."""
    drift = [f"{name} {getattr(theirs, name)} instead of our {getattr(ours, name)}"
             for name in ("net", "vat", "gross") if getattr(theirs, name) != getattr(ours, name)]
    if not drift:
        return
    method = adapter.vat_calculation
    if method is not None and method != document.vat_calculation:
        why = f"{adapter.display_name} computes VAT {_words(method)}"
        fix = (f"issue documents for this account with VAT computed {_words(method)} "
               f"(vat_calculation '{method.value}'), so both show the same totals")
    else:
        why = f"{adapter.display_name} splits gross amounts into net and VAT its own way"
        fix = "issue this document with net prices (price_basis 'net'), which it takes as they are"
    if theirs.gross == ours.gross:  # only the split moves: adapt would send it
        fix += "; or set the account's totals_policy to 'adapt' to send it with both splits recorded"
    raise ConfigurationError(f"{why}, which gives this document " + ", ".join(drift), fix=fix,
                             code="provider_totals_would_differ")


def _words(method: VatCalculation) -> str:
    return method.value.replace("_", " ")


def goes_to_ksef(document: Document) -> bool:
    """Invoices and corrections go to KSeF; receipts (paragony) do not."""
    return document.kind in (DocumentKind.INVOICE, DocumentKind.CORRECTION)
