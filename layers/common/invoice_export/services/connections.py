"""Connecting an account and changing its settings, checked against what its provider can do.

Credentials are checked with a real call to the provider before they are stored (Secrets
Manager, never the table) and are never returned, logged or put in an error: errors name the
credential fields only. A change of settings is refused, with the reason and what to choose
instead, when the provider's capabilities (`providers.base.Capabilities`) cannot honour it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, ValidationError

from invoice_export.domain.account_settings import (
    AccountSettings,
    ExportMode,
    KsefMode,
    MissingSku,
    Numbering,
    ProviderName,
    ProviderSeriesId,
    TotalsPolicy,
)
from invoice_export.domain.documents import DocumentKind
from invoice_export.domain.errors import ConfigurationError, CredentialsRejected
from invoice_export.domain.provider_contract import ProviderOption
from invoice_export.providers import adapter_class
from invoice_export.providers.base import ProviderAdapter


class ConnectionRefused(Exception):
    """The connection or setting cannot be made; `code`, message and `fix` say why and what to do."""

    def __init__(self, message: str, *, fix: str, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.code = code
        self.status = status


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderName
    credentials: dict[str, str] = Field(description="What the provider needs (see GET /providers); never returned")
    provider_subdomain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None
    api_url: HttpUrl | None = Field(default=None, description="Only where the deployment allows custom provider URLs")


class SettingsChange(BaseModel):
    """Only the fields given change; each is checked against the provider's capabilities."""

    model_config = ConfigDict(extra="forbid")

    numbering: Numbering | None = None
    export_mode: ExportMode | None = None
    show_provider_document: bool | None = None
    series_links: dict[str, ProviderSeriesId | None] | None = None
    series_link_kinds: dict[str, list[DocumentKind]] | None = None
    payment_links: dict[str, Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = None
    provider_options: dict[str, str | int | bool] | None = None
    ksef: KsefMode | None = None
    send_skus: bool | None = None
    missing_sku: MissingSku | None = None
    totals_policy: TotalsPolicy | None = None


class ProviderInfo(BaseModel):
    provider: ProviderName
    display_name: str
    capabilities: dict[str, bool]
    credential_fields: list[str]
    options: list[str]


AdapterBuilder = Any  # (AccountSettings, dict) -> ProviderAdapter


def provider_info(provider: ProviderName, deployment_fields: set[str]) -> ProviderInfo:
    """`deployment_fields`: credentials the deployment itself holds (wFirma's appKey): not asked for."""
    cls = adapter_class(provider)
    return ProviderInfo(provider=provider, display_name=cls.display_name, capabilities=cls.capabilities.as_dict(),
                        credential_fields=[f for f in cls.credentials_model.model_fields if f not in deployment_fields],
                        options=list(cls.options_model.model_fields))


def connection_settings(account_id: str, tenant_id: str, request: ConnectRequest, existing: AccountSettings | None,
                        *, allow_custom_urls: bool) -> AccountSettings:
    """The settings a (re)connection stores: the existing ones with the new provider address, or defaults."""
    if existing is not None and existing.tenant_id != tenant_id:
        raise ConnectionRefused(f"account id {account_id} is not available", code="account_id_taken", status=409,
                                fix="choose another account id")
    if existing is not None and existing.provider != request.provider:
        raise ConnectionRefused(
            f"account {account_id} is connected to {existing.provider.value}; its documents are mapped there",
            fix=f"reconnect it to {existing.provider.value}, or connect {request.provider.value} as a new account id",
            code="provider_change", status=409)
    if request.api_url is not None and not allow_custom_urls:
        raise ConnectionRefused("this deployment does not accept custom provider API URLs", code="custom_api_url",
                                fix="leave api_url out: the provider's real API is used")
    try:
        cls = adapter_class(request.provider)
    except ConfigurationError as error:
        raise ConnectionRefused(error.message, fix=error.fix, code=error.code) from None
    address = {"api_url": request.api_url, "provider_subdomain": request.provider_subdomain}
    if existing is None:
        return AccountSettings(account_id=account_id, tenant_id=tenant_id, provider=request.provider,
                               home_currency=cls.home_currency, **address)
    return existing.model_copy(update={**address, "status": "active",
                                       "settings_version": existing.settings_version + 1})


def check_credentials(settings: AccountSettings, credentials: dict[str, str], build_adapter: AdapterBuilder,
                      deployment_credentials: dict[str, str]) -> ProviderAdapter:
    """Validate the credentials' shape (with what the deployment adds), then one real call to the provider."""
    cls = adapter_class(settings.provider)
    try:
        cls.credentials_model.model_validate({**deployment_credentials, **credentials})
    except ValidationError as exc:
        # Field names only: the values are secrets.
        fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        expected = ", ".join(f for f in cls.credentials_model.model_fields if f not in deployment_credentials)
        raise ConnectionRefused(f"{cls.display_name} credentials are missing or have unexpected fields: "
                                f"{', '.join(fields)}", fix=f"send exactly: {expected}", code="credentials_invalid",
                                status=422) from None
    try:
        adapter = build_adapter(settings, credentials)
        adapter.check_credentials()
    except CredentialsRejected as error:
        raise ConnectionRefused(f"{cls.display_name} refused these credentials: {error.message}",
                                fix=f"copy the API credentials again from {cls.display_name} and connect again",
                                code="credentials_rejected") from None
    except ConfigurationError as error:
        raise ConnectionRefused(error.message, fix=error.fix, code=error.code) from None
    return adapter


def apply_change(settings: AccountSettings, change: SettingsChange) -> AccountSettings:
    """The settings after the change, or ConnectionRefused naming every option the provider cannot honour."""
    updated = AccountSettings.model_validate({**settings.model_dump(), **change.model_dump(exclude_unset=True),
                                              "settings_version": settings.settings_version + 1})
    problems = refusals(updated)
    if problems:
        raise ConnectionRefused("; ".join(message for message, _ in problems),
                                fix="; ".join(fix for _, fix in problems), code="unsupported_setting")
    return updated


def _capability_refusals(settings: AccountSettings, cls: type[ProviderAdapter]) -> list[tuple[str, str]]:
    caps, name = cls.capabilities, cls.display_name
    linked = sorted(series for series, target in settings.series_links.items() if target is not None)
    checks = [
        (settings.home_currency != cls.home_currency,
         (f"{name} keeps its books in {cls.home_currency}, not {settings.home_currency}",
          f"set home_currency to {cls.home_currency}")),
        (settings.numbering == Numbering.OURS and not caps.own_numbering,
         (f"{name} does not accept our document numbers", "set numbering to 'provider'")),
        (settings.send_skus and not caps.sku_stock,
         (f"{name} cannot link lines to products by SKU", "set send_skus to false")),
        (bool(linked) and not caps.series,
         (f"{name} has no series to choose through its API (linked: {', '.join(linked)})",
          "link every series to null (the provider's default series)")),
        (bool(settings.payment_links) and not caps.payment_types,
         (f"{name} takes no payment type through its API", "remove the payment links")),
    ]
    return [problem for refused, problem in checks if refused]


def refusals(settings: AccountSettings) -> list[tuple[str, str]]:
    """(what cannot be done, what to choose instead) for each option the provider cannot honour."""
    cls = adapter_class(settings.provider)
    name = cls.display_name
    problems = _capability_refusals(settings, cls)
    if refusal := cls.ksef_refusal(settings.ksef):
        problems.append(refusal)
    try:
        cls.options_model.model_validate(settings.provider_options)
    except ValidationError as exc:
        allowed = ", ".join(cls.options_model.model_fields) or "none"
        problems.append((f"invalid {name} options: {exc.errors()[0]['msg']}", f"use only these options: {allowed}"))
    else:
        problems += cls.option_refusals(settings)
    return problems


def series_kind_refusals(settings: AccountSettings, provider_series: list[ProviderOption]) -> list[tuple[str, str]]:
    """(what cannot be done, what to choose instead) for each series link whose provider series cannot number a
    kind our series serves (series_link_kinds); a link that declares no kinds serves every kind and is checked
    at export. A series the provider no longer lists is refused too: nothing could be numbered in it."""
    name = adapter_class(settings.provider).display_name
    by_id = {option.id: option for option in provider_series}
    problems = []
    for ours, target in sorted(settings.series_links.items()):
        served = settings.series_link_kinds.get(ours)
        if target is None or served is None:
            continue
        option = by_id.get(target)
        if option is None:
            problems.append((f"our series '{ours}' is linked to {name} series {target}, which {name} does not list",
                             f"link '{ours}' to one of the series GET /accounts/<id>/provider/series lists"))
            continue
        missing = [kind.value for kind in served if kind not in option.kinds]
        if missing:
            takes = ", ".join(k.value for k in option.kinds) or "none of our kinds"
            problems.append((f"our series '{ours}' serves {', '.join(missing)}, but {name} series '{option.name}' "
                             f"(id {option.id}) takes {takes}",
                             f"link '{ours}' to a {name} series of that type, or change the kinds it serves"))
    return problems


def series_kind_warnings(settings: AccountSettings, provider_series: list[ProviderOption]) -> list[str]:
    """Links that declare no kinds, to a provider series that numbers only some: saved as before (existing
    settings stay valid), with a note on how to have a wrong link refused now rather than at export."""
    name = adapter_class(settings.provider).display_name
    by_id = {option.id: option for option in provider_series}
    warnings = []
    for ours, target in sorted(settings.series_links.items()):
        option = by_id.get(target) if target is not None else None
        if option is None or ours in settings.series_link_kinds or set(option.kinds) == set(DocumentKind):
            continue
        warnings.append(f"{name} series '{option.name}' (id {option.id}), linked to our series '{ours}', takes only "
                        f"{', '.join(k.value for k in option.kinds) or 'none of our kinds'}: say which kinds '{ours}' "
                        "serves (series_link_kinds) so a document it cannot number is refused before sending")
    return warnings
