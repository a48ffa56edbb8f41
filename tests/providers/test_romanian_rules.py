"""What both Romanian adapters (Oblio, SmartBill) ask of a document before any request: providers/romania.py.

Only request building here (pure, no HTTP); each adapter's own tests send to its fake.
"""

from __future__ import annotations

import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.providers import build_adapter
from testsupport import load_example, plan_for

INVOICE, EXEMPT, STORNO = "ro/01-invoice-company.json", "ro/04-invoice-exempt-and-zero.json", "ro/05-storno.json"
CREDENTIALS = {"oblio": {"client_id": "shop@example.ro", "client_secret": "s", "cif": "RO37311090"},
               "smartbill": {"username": "shop@example.ro", "token": "t", "cif": "RO37311090"}}
VAT_FIELDS = {"oblio": ("vatName", "vatPercentage"), "smartbill": ("taxName", "taxPercentage")}


@pytest.fixture(params=sorted(CREDENTIALS))
def adapter(request):
    settings = AccountSettings.model_validate({
        "account_id": "shop-ro", "provider": request.param, "home_currency": "RON", "api_url": "http://127.0.0.1:9",
        "series_links": {"FV": "FCT", "ST": "FCT"}, "payment_links": {"Transfer bancar": "Ordin plata"}})
    return build_adapter(settings, CREDENTIALS[request.param])


def test_romanian_rates_go_by_the_providers_names(adapter) -> None:
    name, percent = VAT_FIELDS[adapter.name.value]
    invoice, exempt = (adapter.build_request(plan_for(adapter, example)) for example in (INVOICE, EXEMPT))
    assert [(p.get(name), str(p[percent])) for p in invoice["products"]] == [
        ("Normala", "21"), ("Redusa", "11"), ("Normala", "21")]
    assert [(p.get(name), str(p[percent])) for p in exempt["products"]] == [("SFDD", "0"), ("SDD", "0")]
    basis = "Scutit de TVA: art. 292 alin. (2) lit. a) pct. 4 din Codul fiscal"
    # SmartBill's mentions also carry our reference, its only text read back (its interrupted creates).
    assert exempt["mentions"] == (basis if adapter.name.value == "oblio" else f"{basis}\nref: RO-FV-2026-11-0004")
    nineteen = {"line_id": "l1", "name": "Ceai", "quantity": "1", "unit": "buc", "unit_price": "10", "vat": "19"}
    older = adapter.build_request(plan_for(adapter, INVOICE, lines=[nineteen],
                                           totals={"net": "8.40", "vat": "1.60", "gross": "10.00"}))
    assert name not in older["products"][0] and str(older["products"][0][percent]) == "19"  # the account's own


def test_reverse_charge_and_eu_services_are_taxare_inversa_and_np_has_no_romanian_name(adapter) -> None:
    name, _ = VAT_FIELDS[adapter.name.value]
    line = {"line_id": "l1", "name": "Serviciu", "quantity": "1", "unit": "buc", "unit_price": "10"}
    zero = {"totals": {"net": "10", "vat": "0", "gross": "10"}}
    for code in ("oo", "np-EU"):
        body = adapter.build_request(plan_for(adapter, INVOICE, lines=[{**line, "vat": code}], **zero))
        assert body["products"][0][name] == "Taxare inversa"
    with pytest.raises(ConfigurationError, match="no VAT rate for 'np'") as caught:
        adapter.build_request(plan_for(adapter, INVOICE, lines=[{**line, "vat": "np"}], **zero))
    assert caught.value.code == "unsupported_vat_rate"


@pytest.mark.parametrize("change, code", [
    ({"region": None}, "missing_region"),
    ({"tax_id": "RO18547291"}, "bad_tax_id"),
])
def test_a_romanian_buyer_needs_a_county_and_a_valid_cui_before_anything_is_sent(adapter, change, code) -> None:
    buyer = load_example(INVOICE)["document"]["buyer"]
    changed = {**buyer, "tax_id": change.get("tax_id", buyer["tax_id"]),
               "address": {**buyer["address"], **{k: v for k, v in change.items() if k == "region"}}}
    with pytest.raises(ConfigurationError) as caught:
        adapter.build_request(plan_for(adapter, INVOICE, buyer=changed))
    assert caught.value.code == code and "document.buyer" in caught.value.fix
    foreign = {**buyer, "tax_id": "DE123456789", "address": {**buyer["address"], "country": "DE", "region": None}}
    assert adapter.build_request(plan_for(adapter, INVOICE, buyer=foreign))  # neither is asked of others


def test_only_a_full_reversal_is_a_correction_they_take(adapter) -> None:
    original = ProviderReference("FCT:0001", "FCT 0001", "FCT")
    assert plan_export(ExportMessage.model_validate(load_example(STORNO)).document, adapter.settings, type(adapter),
                       corrected=original).document.is_full_reversal
    partial = load_example(STORNO)
    partial["document"]["lines"] = partial["document"]["correction"]["lines_before"][2:]
    partial["document"]["totals"] = {"net": "-148.85", "vat": "-24.63", "gross": "-173.48"}
    with pytest.raises(ConfigurationError, match="can only reverse a whole document") as caught:
        plan_export(ExportMessage.model_validate(partial).document, adapter.settings, type(adapter),
                    corrected=original)
    assert caught.value.code == "unsupported_partial_correction"
