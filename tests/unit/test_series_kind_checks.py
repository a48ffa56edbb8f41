"""Series links checked against the kinds each provider series takes (services.connections)."""

from __future__ import annotations

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import DocumentKind
from invoice_export.domain.provider_contract import ProviderOption
from invoice_export.services.connections import series_kind_refusals, series_kind_warnings

SERIES = [ProviderOption(id="1", name="Faktury (normal)", kinds=(DocumentKind.INVOICE,)),
          ProviderOption(id="2", name="Korekty (correction)", kinds=(DocumentKind.CORRECTION,)),
          ProviderOption(id="3", name="Proformy (proforma)", kinds=())]


def settings(links: dict, kinds: dict | None = None) -> AccountSettings:
    return AccountSettings(account_id="acc", provider="wfirma", series_links=links, series_link_kinds=kinds or {})


def test_declared_kinds_a_series_cannot_number_are_refused_naming_what_it_takes():
    [(message, fix)] = series_kind_refusals(settings({"KOR": "1"}, {"KOR": ["correction"]}), SERIES)
    assert "'KOR' serves correction" in message and "'Faktury (normal)' (id 1) takes invoice" in message
    [(message, _)] = series_kind_refusals(settings({"X": "3"}, {"X": ["invoice"]}), SERIES)
    assert "takes none of our kinds" in message


def test_a_link_to_a_series_the_provider_does_not_list_is_refused_when_its_kinds_are_declared():
    [(message, fix)] = series_kind_refusals(settings({"FV": "99"}, {"FV": ["invoice"]}), SERIES)
    assert "series 99, which wFirma does not list" in message and "provider/series" in fix


def test_matching_links_undeclared_links_and_do_not_pass_are_not_refused():
    ok = settings({"FV": "1", "KOR": "2", "PAR": None, "OLD": "1"}, {"FV": ["invoice"], "KOR": ["correction"]})
    assert series_kind_refusals(ok, SERIES) == []
    [warning] = series_kind_warnings(ok, SERIES)  # OLD declares nothing and its series takes invoices only
    assert "our series 'OLD'" in warning and "takes only invoice" in warning


def test_settings_stored_before_kinds_existed_still_load():
    stored = {"account_id": "acc", "provider": "wfirma", "series_links": {"FV": "1"}}
    assert AccountSettings.model_validate(stored).series_link_kinds == {}
