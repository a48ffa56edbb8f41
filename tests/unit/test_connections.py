"""Connecting: credentials checked with what the deployment adds; settings refused where the provider cannot."""

from __future__ import annotations

import pytest

from invoice_export.domain.account_settings import AccountSettings, ProviderName
from invoice_export.services.connections import (
    ConnectionRefused,
    SettingsChange,
    apply_change,
    check_credentials,
    provider_info,
)

WFIRMA = AccountSettings(account_id="acc-w", provider="wfirma")


class CheckedAdapter:
    """Stands in for the provider: accepts whatever reaches it."""

    def __init__(self, settings: AccountSettings, credentials: dict) -> None:
        self.credentials = credentials

    def check_credentials(self) -> None:
        pass


def test_the_deployments_app_key_is_not_asked_from_the_merchant_and_completes_the_credentials() -> None:
    info = provider_info(ProviderName.WFIRMA, {"app_key"})
    assert "app_key" not in info.credential_fields and "access_key" in info.credential_fields
    merchant = {f: f"value-{f}" for f in info.credential_fields}
    check_credentials(WFIRMA, merchant, CheckedAdapter, {"app_key": "deployment-key"})
    with pytest.raises(ConnectionRefused) as refused:
        check_credentials(WFIRMA, merchant, CheckedAdapter, {})  # a deployment without the appKey secret
    assert refused.value.code == "credentials_invalid" and "app_key" in refused.value.message
    assert "deployment-key" not in str(refused.value.message) + refused.value.fix


def test_options_the_provider_cannot_honour_are_refused_together_with_what_to_choose() -> None:
    settings = AccountSettings(account_id="acc-f", provider="fakturownia")
    with pytest.raises(ConnectionRefused) as refused:
        apply_change(settings, SettingsChange(provider_options={"unknown": True}))
    assert refused.value.code == "unsupported_setting" and "use only these options" in refused.value.fix
    changed = apply_change(settings, SettingsChange(numbering="ours", send_skus=True))
    assert (changed.numbering.value, changed.send_skus, changed.settings_version) == ("ours", True, 2)


def test_a_ksef_mode_the_provider_cannot_honour_is_refused_in_its_own_words() -> None:
    with pytest.raises(ConnectionRefused) as refused:
        apply_change(WFIRMA, SettingsChange(ksef="send_on_export"))
    assert refused.value.code == "unsupported_setting"
    assert "wFirma sends documents to KSeF by its own settings (USTAWIENIA » FAKTURY » E-FAKTURY)" \
        in refused.value.message
    assert "set ksef to 'provider_sends'" in refused.value.fix
    assert apply_change(WFIRMA, SettingsChange(ksef="provider_sends")).ksef.value == "provider_sends"
