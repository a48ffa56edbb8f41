"""Audit entries keep what was sent, without the buyer's personal data or anything secret."""

from __future__ import annotations

import json

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.planning import plan_export
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter, FakturowniaCredentials
from invoice_export.providers.http import ProviderHttp
from invoice_export.storage.audit import REDACTED, redact
from testsupport import load_example


def fakturownia_request(example: str) -> dict:
    message = ExportMessage.model_validate(load_example(example))
    settings = AccountSettings(account_id="acc-1", provider="fakturownia", provider_subdomain="shop",
                               series_links={"FV": "1001", "PAR": None}, payment_links={"Przelew": "transfer",
                                                                                        "Karta": "card"})
    adapter = FakturowniaAdapter(settings, FakturowniaCredentials(api_token="t"),
                                 ProviderHttp(provider="Fakturownia", base_url="https://shop.fakturownia.pl",
                                              auth=None, read_rejection=FakturowniaAdapter.read_rejection))
    return adapter.build_request(plan_export(message.document, settings, FakturowniaAdapter))


def test_buyer_data_is_removed_and_the_rest_of_the_request_kept() -> None:
    request = fakturownia_request("02-receipt-person.json")
    buyer = load_example("02-receipt-person.json")["document"]["buyer"]
    redacted = redact(request)
    text = json.dumps(redacted, ensure_ascii=False)
    for value in (buyer["name"], buyer.get("email"), buyer["address"].get("street"), buyer["address"].get("city")):
        if value:
            assert value not in text, f"{value!r} survived redaction"
    invoice = redacted["invoice"]
    assert invoice["buyer_name"] == REDACTED
    assert invoice["positions"] == request["invoice"]["positions"]  # lines, amounts and VAT stay
    assert invoice["oid"] == request["invoice"]["oid"] and invoice["issue_date"] == request["invoice"]["issue_date"]


def test_nested_parties_and_secrets_are_removed_whole() -> None:
    redacted = redact({"contractor": {"name": "Jan Kowalski", "nip": "123"}, "Kontrahent": [{"Nazwa": "X"}],
                       "api_token": "secret", "lines": [{"name": "Kubek", "price": "10.00"}]})
    assert redacted == {"contractor": REDACTED, "Kontrahent": REDACTED, "api_token": REDACTED,
                        "lines": [{"name": "Kubek", "price": "10.00"}]}
