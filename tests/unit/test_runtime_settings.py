"""RuntimeSettings.from_environment reads a function's environment as pydantic-settings did: each setting
from its variable in any case, text validated by the field, mappings as JSON, defaults otherwise."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from invoice_export.platform.runtime_settings import RateLimitOverride, RuntimeSettings

REQUIRED = {"ACCOUNTS_TABLE": "accounts", "DOCUMENTS_TABLE": "documents", "EVENT_BUS_NAME": "bus"}


def test_settings_come_from_their_variables_typed_by_their_fields() -> None:
    settings = RuntimeSettings.from_environment({
        **REQUIRED, "EXPORT_MAX_RECEIVE_COUNT": "5", "EXPORT_TIMEOUT_SECONDS": "29.5",
        "ALLOW_CUSTOM_PROVIDER_URLS": "true", "export_documents_in_flight": "2",  # any case, as before
        "PROVIDER_APP_SECRETS": '{"wfirma": "arn:aws:secretsmanager:eu-central-1:1:secret:app"}',
        "PROVIDER_RATE_LIMITS": '{"fakturownia": {"limit": 300, "window_seconds": 60, "scope": "credential"}}',
        "PATH": "/usr/bin", "AWS_REGION": "eu-central-1",  # the rest of the environment is not ours: ignored
    })
    assert (settings.accounts_table, settings.documents_table, settings.event_bus_name) == ("accounts", "documents",
                                                                                           "bus")
    assert settings.export_max_receive_count == 5 and settings.export_timeout_seconds == 29.5
    assert settings.allow_custom_provider_urls is True and settings.export_documents_in_flight == 2
    assert settings.provider_app_secrets == {"wfirma": "arn:aws:secretsmanager:eu-central-1:1:secret:app"}
    assert settings.provider_rate_limits == {"fakturownia": RateLimitOverride(limit=300, window_seconds=60,
                                                                              scope="credential")}


def test_unset_settings_keep_their_defaults() -> None:
    settings = RuntimeSettings.from_environment(REQUIRED)
    assert settings.record_change_failures_url is None and settings.export_max_receive_count == 8
    assert settings.provider_app_secrets == {} and settings.provider_rate_limits == {}
    assert settings.credentials_secret_prefix == "invoice-export/accounts/"


def test_the_process_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LINK_TTL_DAYS", "30")
    assert RuntimeSettings.from_environment().link_ttl_days == 30


@pytest.mark.parametrize(("variable", "value", "problem"), [
    ("PROVIDER_RATE_LIMITS", "{not json", "PROVIDER_RATE_LIMITS is not JSON"),
    ("PROVIDER_RATE_LIMITS", '{"fakturownia": {"limit": 0, "window_seconds": 1, "scope": "account"}}', "limit"),
    ("EXPORT_DOCUMENTS_IN_FLIGHT", "11", "export_documents_in_flight"),
    ("EXPORT_MAX_RECEIVE_COUNT", "eight", "export_max_receive_count"),
])
def test_a_wrong_setting_is_refused_naming_it(variable: str, value: str, problem: str) -> None:
    with pytest.raises((ValueError, ValidationError), match=problem):
        RuntimeSettings.from_environment({**REQUIRED, variable: value})


def test_a_missing_required_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="event_bus_name"):
        RuntimeSettings.from_environment({"ACCOUNTS_TABLE": "a", "DOCUMENTS_TABLE": "d"})


def test_settings_are_frozen() -> None:
    settings = RuntimeSettings.from_environment(REQUIRED)
    with pytest.raises(ValidationError):
        settings.accounts_table = "other"  # type: ignore[misc]
