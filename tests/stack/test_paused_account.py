"""An account whose credentials stop working is paused, holds its documents, and resumes on reconnect."""

from __future__ import annotations

import uuid

import pytest
import requests

from invoice_export.domain.records import Status
from invoice_export.services.pausing import ACCOUNT_DETAIL_TYPE
from local.rest_api import CALLER_HEADER

pytestmark = pytest.mark.usefixtures("custom_provider_urls")
IDS = ["INV-2026-11-0001", "INV-2026-11-0002"]


def test_refused_credentials_pause_the_account_and_reconnect_exports_everything_held_once(shop):
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    shop.connect(tenant_id=tenant)
    # The merchant revoked the API key in Fakturownia: ours now gets 401, also when read fresh.
    shop.runtime.accounts.save_credentials(shop.account_id, {"api_token": "revoked-key"})
    shop.send(shop.message("01-invoice-company.json"))
    shop.stack.run_until_idle()
    events = shop.stack.outcome_events()

    assert shop.runtime.accounts.get(shop.account_id).status == "needs_reconnect"
    paused_events = [e for e in events if e["detail-type"] == ACCOUNT_DETAIL_TYPE]
    assert [e["detail"]["account_id"] for e in paused_events] == [shop.account_id]
    assert "revoked" not in str(paused_events)  # the key never travels in an event
    held = [e["detail"] for e in events if e["detail-type"] != ACCOUNT_DETAIL_TYPE
            and e["detail"]["account_id"] == shop.account_id]
    assert [(e["outcome"], e["error"]["code"]) for e in held] == [("pending", "account_paused")]

    # Meanwhile more documents arrive: held without calling the provider, nothing dead-lettered.
    calls_before = len(shop.fake.requests.entries())
    shop.send(shop.message("03-invoice-exempt-person.json"))
    shop.run()
    assert len(shop.fake.requests.entries()) == calls_before
    for document_id in IDS:
        record = shop.record(document_id)
        assert record.status == Status.PENDING and record.last_error.code == "account_paused"
        assert "reconnect" in record.last_error.fix
    assert shop.outcomes("INV-2026-11-0002") == ["pending"]
    assert shop.stack.dlq_messages("ExportQueue") == []
    assert shop.provider_documents() == []

    # Reconnect with the right key through the configuration API: the held documents go out, once each.
    principal = f"arn:aws:iam::123456789012:user/{tenant}"
    shop.runtime.tenants.map(principal, tenant)
    answer = requests.put(f"{shop.stack.gateway_url}/v1/accounts/{shop.account_id}/connection",
                          json={"provider": "fakturownia", "credentials": {"api_token": shop.token},
                                "api_url": shop.fake.base_url},
                          headers={CALLER_HEADER: principal}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["settings"]["status"] == "active"
    assert (answer.json()["resumed_run"]["status"], answer.json()["resumed_run"]["queued"]) == ("queued", 2)
    shop.run()
    for document_id in IDS:
        assert shop.record(document_id).status == Status.EXPORTED
        assert len(shop.provider_documents(document_id)) == 1


def test_a_paused_account_holds_new_documents_and_is_paused_once(shop):
    shop.runtime.accounts.pause(shop.account_id)
    assert shop.runtime.accounts.pause(shop.account_id) is False  # already paused: no second event
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    assert shop.record("INV-2026-11-0001").status == Status.PENDING
    assert shop.provider_documents() == []
