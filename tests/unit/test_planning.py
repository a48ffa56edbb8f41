"""Each account setting resolved for one document, and the clear refusals."""

from __future__ import annotations

import dataclasses

import pytest

from invoice_export.domain.account_settings import AccountSettings, KsefMode, MissingSku, Numbering, TotalsPolicy
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import Capabilities
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter
from invoice_export.providers.wfirma.adapter import WfirmaAdapter
from testsupport import load_example


def settings(**changes) -> AccountSettings:
    base = {"account_id": "shop-1", "provider": "fakturownia",
            "series_links": {"FV": "7", "PAR": None, "KOR": None},
            "payment_links": {"Przelew": "transfer", "Karta": "card"}}
    return AccountSettings.model_validate({**base, **changes})


def document(name: str = "01-invoice-company.json"):
    return ExportMessage.model_validate(load_example(name)).document


def limited(**caps) -> type[FakturowniaAdapter]:
    """The Fakturownia adapter with some capabilities switched off (a provider that cannot do them)."""
    return type("Limited", (FakturowniaAdapter,), {
        "capabilities": dataclasses.replace(FakturowniaAdapter.capabilities, **caps)})


def test_provider_numbering_passes_no_number() -> None:
    plan = plan_export(document(), settings(), FakturowniaAdapter)
    assert plan.number is None


def test_our_numbering_passes_our_number() -> None:
    plan = plan_export(document(), settings(numbering=Numbering.OURS), FakturowniaAdapter)
    assert plan.number == "FV 1/11/2026"


def test_our_numbering_refused_where_the_provider_cannot_take_it() -> None:
    with pytest.raises(ConfigurationError, match="does not accept our document numbers") as caught:
        plan_export(document(), settings(numbering=Numbering.OURS), limited(own_numbering=False))
    assert caught.value.code == "unsupported_numbering"


def test_series_link_and_do_not_pass() -> None:
    assert plan_export(document(), settings(), FakturowniaAdapter).provider_series == "7"
    receipt = document("02-receipt-person.json")
    assert plan_export(receipt, settings(), FakturowniaAdapter).provider_series is None


def test_missing_series_link_says_which_series_to_link() -> None:
    with pytest.raises(ConfigurationError) as caught:
        plan_export(document("06-series-not-linked.json"), settings(), FakturowniaAdapter)
    assert caught.value.code == "series_not_linked"
    assert "our series 'FV-B2B' is not linked to a Fakturownia series" in caught.value.message
    assert "link series 'FV-B2B'" in caught.value.fix and "do not pass" in caught.value.fix


def test_payment_link_resolved_and_missing_one_refused() -> None:
    assert plan_export(document(), settings(), FakturowniaAdapter).provider_payment_type == "transfer"
    with pytest.raises(ConfigurationError, match="payment method 'Przelew' is not linked") as caught:
        plan_export(document(), settings(payment_links={"Karta": "card"}), FakturowniaAdapter)
    assert caught.value.code == "payment_type_not_linked"


def test_unsupported_kind_refused() -> None:
    with pytest.raises(ConfigurationError, match="cannot take receipts") as caught:
        plan_export(document("02-receipt-person.json"), settings(), limited(receipts=False))
    assert caught.value.code == "unsupported_kind"


def test_sku_settings_pass_through_and_are_refused_without_stock_support() -> None:
    plan = plan_export(document(), settings(send_skus=True, missing_sku=MissingSku.WARN), FakturowniaAdapter)
    assert (plan.send_skus, plan.missing_sku) == (True, MissingSku.WARN)
    with pytest.raises(ConfigurationError, match="cannot decrease stock"):
        plan_export(document(), settings(send_skus=True), limited(sku_stock=False))


def test_capabilities_declare_every_field() -> None:
    assert set(FakturowniaAdapter.capabilities.as_dict()) == {f.name for f in dataclasses.fields(Capabilities)}


def test_ksef_send_on_export_applies_to_invoices_and_corrections_only() -> None:
    account = settings(ksef="send_on_export")
    assert plan_export(document(), account, FakturowniaAdapter).send_to_ksef is True
    assert plan_export(document("02-receipt-person.json"), account, FakturowniaAdapter).send_to_ksef is False


def test_ksef_sent_by_the_provider_is_never_requested_by_us() -> None:
    assert plan_export(document(), settings(ksef="provider_sends"), FakturowniaAdapter).send_to_ksef is False
    assert plan_export(document(), settings(), FakturowniaAdapter).send_to_ksef is False


def test_ksef_refused_where_the_provider_cannot_do_it() -> None:
    with pytest.raises(ConfigurationError, match="cannot send documents to KSeF") as caught:
        plan_export(document(), settings(ksef="send_on_export"), limited(ksef_send=False))
    assert caught.value.code == "unsupported_ksef"
    with pytest.raises(ConfigurationError, match="does not report a document's KSeF status") as caught:
        plan_export(document(), settings(ksef="provider_sends"), limited(ksef_read_back=False))
    assert caught.value.code == "unsupported_ksef" and "set ksef to 'off'" in caught.value.fix
    # Each mode needs only its own capability.
    assert plan_export(document(), settings(ksef="provider_sends"), limited(ksef_send=False)).send_to_ksef is False
    assert plan_export(document(), settings(ksef="send_on_export"), limited(ksef_read_back=False)).send_to_ksef


def test_a_provider_names_its_own_reason_and_alternative_for_a_ksef_mode() -> None:
    wfirma_like = type("OwnWords", (limited(ksef_send=False),), {
        "ksef_refusals": {KsefMode.SEND_ON_EXPORT: ("it sends by its own settings", "choose provider_sends")}})
    with pytest.raises(ConfigurationError, match="it sends by its own settings") as caught:
        plan_export(document(), settings(ksef="send_on_export"), wfirma_like)
    assert caught.value.fix == "choose provider_sends"


def test_a_strict_account_refuses_a_provider_that_computes_vat_another_way_with_the_drift() -> None:
    message = load_example("01-invoice-company.json")
    # Three 0.02 gross lines at 23%: line by line VAT is 3 x 0.00; per rate it is 0.01.
    message["document"].update(
        vat_calculation="per_line", totals={"net": "0.06", "vat": "0.00", "gross": "0.06"},
        lines=[{"line_id": f"l{i}", "name": "Drobiazg", "quantity": "1", "unit_price": "0.02", "vat": "23"}
               for i in range(3)])
    document = ExportMessage.model_validate(message).document
    with pytest.raises(ConfigurationError) as refused:
        plan_export(document, settings(totals_policy=TotalsPolicy.STRICT), WfirmaAdapter)
    assert refused.value.code == "provider_totals_would_differ"
    assert "wFirma computes VAT per rate, which gives this document net 0.05 instead of our 0.06, " \
           "vat 0.01 instead of our 0.00" in refused.value.message
    assert "totals_policy to 'adapt'" in refused.value.fix
    # The same document computed per rate goes through.
    message["document"].update(vat_calculation="per_rate", totals={"net": "0.05", "vat": "0.01", "gross": "0.06"})
    plan = plan_export(ExportMessage.model_validate(message).document, settings(totals_policy="strict"), WfirmaAdapter)
    assert plan.vat_split is None and plan.send_gross_prices is False
