"""Settings: the deployment's (environment variables) and each connected account's (DynamoDB)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from invoice_export.domain.documents import CurrencyCode, DocumentKind, Identifier


class ProviderName(StrEnum):
    FAKTUROWNIA = "fakturownia"
    INFAKT = "infakt"
    WFIRMA = "wfirma"
    IFIRMA = "ifirma"
    FIRMAO = "firmao"
    OBLIO = "oblio"  # Romania
    SMARTBILL = "smartbill"  # Romania


class Numbering(StrEnum):
    PROVIDER = "provider"  # the accounting system gives the next number in its series
    OURS = "ours"  # our number is passed


class ExportMode(StrEnum):
    AUTOMATIC = "automatic"  # sent as soon as the document is issued
    BULK = "bulk"  # recorded as pending; sent by a manual or scheduled bulk export


class KsefMode(StrEnum):
    """Who sends the account's invoices to KSeF (the national e-invoice system)."""

    OFF = "off"  # nobody here: the merchant does it elsewhere, or is not obliged yet
    SEND_ON_EXPORT = "send_on_export"  # we ask the accounting system to send each invoice as it is created
    PROVIDER_SENDS = "provider_sends"  # the accounting system sends by itself: we never ask, only read back


class MissingSku(StrEnum):
    FAIL = "fail"
    WARN = "warn"  # send the line without a product link and report a warning


class TotalsPolicy(StrEnum):
    """What to do with a document whose net/VAT split the accounting system computes otherwise."""

    # Send it: the gross (amount due) is ours, the provider's split (per rate or per line, both lawful) is
    # recorded beside ours as a warning (vat_split_differs). A different gross is still refused.
    ADAPT = "adapt"
    STRICT = "strict"  # refuse before sending unless the provider shows exactly our net, VAT and gross


ProviderSeriesId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AccountSettings(BaseModel):
    """One connected account: one connection to one provider account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: Identifier
    tenant_id: Identifier | None = None
    provider: ProviderName
    home_currency: CurrencyCode = Field(
        default="PLN", description="The currency the account keeps its books and VAT in: PLN, or RON for a Romanian "
        "account (set from the provider on connection); documents must state the same home_currency")
    api_url: HttpUrl | None = Field(
        default=None,
        description="Provider API base URL; empty means the provider's real one (override for sandboxes and fakes)",
    )
    provider_subdomain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = Field(
        default=None, description="Account prefix where the provider's host is per account (Fakturownia)"
    )
    numbering: Numbering = Numbering.PROVIDER
    export_mode: ExportMode = ExportMode.AUTOMATIC
    show_provider_document: bool = True
    series_links: dict[str, ProviderSeriesId | None] = Field(
        default_factory=dict,
        description="Our series -> provider series id; null = do not pass (the provider's default series)",
    )
    series_link_kinds: dict[str, list[DocumentKind]] = Field(
        default_factory=dict,
        description="Our series -> the kinds of documents it serves (absent: every kind). A link to a provider "
        "series that cannot number one of them is refused when saved, and a document of another kind in the "
        "series is refused before sending",
    )
    payment_links: dict[str, Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=dict, description="Our payment name -> provider payment type"
    )
    provider_options: dict[str, str | int | bool] = Field(
        default_factory=dict, description="Provider-specific options, validated by the adapter's options_model"
    )
    ksef: KsefMode = Field(
        default=KsefMode.OFF,
        description="The national e-invoice system of the provider's country: KSeF for a Polish provider, "
        "e-Factura (ANAF's SPV) for a Romanian one. send_on_export: we ask the provider to send each document; "
        "provider_sends: it does so by itself (we only read its answer back, never send: no double submission)")
    send_skus: bool = False
    missing_sku: MissingSku = MissingSku.FAIL
    totals_policy: TotalsPolicy = Field(
        default=TotalsPolicy.ADAPT,
        description="adapt: a document whose net/VAT the provider splits another way (VAT per rate or per line) is "
        "sent with both splits recorded as a warning (vat_split_differs), only a different gross is refused "
        "(provider_gross_differs); strict: any difference from our net, VAT or gross is refused before sending "
        "(provider_totals_would_differ)")
    settings_version: int = 1
    status: Literal["active", "needs_reconnect"] = "active"
