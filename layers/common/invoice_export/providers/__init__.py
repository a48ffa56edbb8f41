"""Provider adapters: one module per accounting system behind `ProviderAdapter`.

Adapters are imported lazily, so a function pays the import cost only of the providers it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from invoice_export.domain.account_settings import AccountSettings, ProviderName
from invoice_export.domain.errors import ConfigurationError, CredentialsRejected
from invoice_export.domain.rate_limits import RateLimit, RequestLimiter
from invoice_export.providers.base import ProviderAdapter
from invoice_export.providers.http import ProviderHttp

_ADAPTERS: dict[ProviderName, str] = {
    ProviderName.FAKTUROWNIA: "invoice_export.providers.fakturownia.adapter:FakturowniaAdapter",
    ProviderName.INFAKT: "invoice_export.providers.infakt.adapter:InfaktAdapter",
    ProviderName.WFIRMA: "invoice_export.providers.wfirma.adapter:WfirmaAdapter",
    ProviderName.IFIRMA: "invoice_export.providers.ifirma.adapter:IfirmaAdapter",
    ProviderName.FIRMAO: "invoice_export.providers.firmao.adapter:FirmaoAdapter",
    ProviderName.OBLIO: "invoice_export.providers.oblio.adapter:OblioAdapter",
    ProviderName.SMARTBILL: "invoice_export.providers.smartbill.adapter:SmartBillAdapter",
}
# Providers whose adapter is not written yet are refused when an account is connected to them.


def supported_providers() -> list[ProviderName]:
    return [p for p in ProviderName if p in _ADAPTERS]


def adapter_class(provider: ProviderName) -> type[ProviderAdapter]:
    if provider not in _ADAPTERS:
        raise ConfigurationError(f"{provider.value} is not supported yet", code="unsupported_provider",
                                 fix="connect the account to a supported accounting system")
    module_name, class_name = _ADAPTERS[provider].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_adapter(settings: AccountSettings, raw_credentials: dict[str, Any], *,
                  connect_timeout: float = 3.05, read_timeout: float = 10.0,
                  limiter: RequestLimiter | None = None,
                  rate_limit_overrides: dict[str, RateLimit] | None = None) -> ProviderAdapter:
    """The account's adapter, with its HTTP client; `limiter` enforces the provider's rate limit."""
    cls = adapter_class(settings.provider)
    try:
        credentials = cls.credentials_model.model_validate(raw_credentials)
    except ValidationError as exc:
        # Only field names are reported: the values are secrets.
        missing = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        raise CredentialsRejected(
            f"the stored {cls.display_name} credentials of account {settings.account_id} are incomplete "
            f"or have unexpected fields: {', '.join(missing)}",
            fix="reconnect the account with the credentials the provider needs", code="credentials_invalid",
        ) from None
    before_request = None
    windows = cls.rate_windows(rate_limit_overrides)
    if limiter is not None and windows:
        scope_key = cls.rate_limit_key(settings, credentials)

        def before_request(method: str, path: str) -> Callable[[], None] | None:
            for suffix, window in windows:
                if window.counts(method, path):
                    return limiter.acquire(scope_key + suffix, window)
            return None

    http = ProviderHttp(
        provider=cls.display_name,
        base_url=cls.api_url(settings),
        auth=cls.http_auth(credentials),
        read_rejection=cls.read_rejection,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        auth_fix=f"check the {cls.display_name} API key of account {settings.account_id} and reconnect it",
        before_request=before_request,
    )
    return cls(settings, credentials, http)


def capabilities_table() -> dict[str, dict[str, bool]]:
    return {p.value: adapter_class(p).capabilities.as_dict() for p in supported_providers()}
