"""KSeF end to end for the other accounting systems, each the way its API allows (test_ksef.py drives
Fakturownia): the document is exported through the queue, the KSeF poller reads its state back until
it is final, and the KSeF number lands on the document's record with an event.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from invoice_export.events import DETAIL_TYPE
from invoice_export.runtime import get_runtime
from invoice_export.settings import AccountSettings
from invoice_export.storage.documents import DocumentRecord, Status
from local.fakes.wfirma import WfirmaFake
from testsupport import load_example

# wFirma's appKey belongs to the deployment (template parameter WfirmaAppKey), generated per run.
WFIRMA_APP_KEY = secrets.token_hex(16)
STACK_PARAMETERS = {"WfirmaAppKey": WFIRMA_APP_KEY}


@pytest.fixture(scope="module")
def wfirma():
    with WfirmaFake(app_key=WFIRMA_APP_KEY, rate_limit=None) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


class Account:
    """One connected account at some provider's fake, driven through the stack."""

    def __init__(self, stack, settings: dict[str, Any], credentials: dict[str, str]) -> None:
        self.stack = stack
        self.account_id = f"ksef-{uuid.uuid4().hex[:10]}"
        runtime = get_runtime()
        runtime.accounts.save_credentials(self.account_id, credentials)
        runtime.accounts.put(AccountSettings.model_validate({"account_id": self.account_id, **settings}))
        self.events: list[dict[str, Any]] = []

    def export(self, *examples: str) -> None:
        for example in examples:
            message = load_example(example)
            message["account_id"] = self.account_id
            self.stack.send("ExportQueue", message, group_id=self.account_id, dedup_id=uuid.uuid4().hex)
        self.stack.run_until_idle(timeout=60)
        self.events += [e["detail"] for e in self.stack.outcome_events()
                        if e["detail-type"] == DETAIL_TYPE and e["detail"]["account_id"] == self.account_id]

    def record(self, document_id: str) -> DocumentRecord:
        record = get_runtime().documents.get(self.account_id, document_id)
        assert record is not None, f"no record of {document_id}"
        return record

    def ksef_events(self, document_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["document_id"] == document_id and e["outcome"].startswith("ksef_")]


# ---------------------------------------------------------------- wFirma: it sends by its own settings


def wfirma_account(stack, fake: WfirmaFake, **settings: Any) -> tuple[Account, int]:
    access_key, secret_key = secrets.token_hex(16), secrets.token_hex(16)
    company_id = fake.add_company(access_key, secret_key, name="Herbaciarnia Sp. z o.o.", nip="5252445767")
    account = Account(stack, {
        "provider": "wfirma", "api_url": fake.base_url,
        "series_links": {"FV": None, "FV-EXPORT": None, "PAR": None, "KOR": None},
        "payment_links": {"Przelew": "transfer", "Karta": "payment_card"}, **settings},
        {"access_key": access_key, "secret_key": secret_key, "company_id": str(company_id)})
    return account, company_id


def test_wfirma_sends_by_its_settings_and_we_only_read_the_number_back(stack, wfirma) -> None:
    account, company_id = wfirma_account(stack, wfirma, ksef="provider_sends")
    company = wfirma.company(company_id)
    company.ksef_auto_send, company.ksef_reads_until_final = True, 3  # KSeF takes a while
    account.export("01-invoice-company.json", "02-receipt-person.json")
    record = account.record("INV-2026-11-0001")
    invoice = company.invoices[int(record.provider_document_id)]
    assert record.status == Status.EXPORTED and record.ksef_status == "accepted"
    assert record.ksef_number == invoice["ksef_reference_number"]
    [event] = account.ksef_events("INV-2026-11-0001")
    assert event["outcome"] == "ksef_accepted" and event["ksef_number"] == record.ksef_number
    assert company.ksef_submissions == {int(record.provider_document_id): 1}  # wFirma's own send only
    assert account.record("PAR-2026-11-0001").ksef_status is None  # receipts do not go to KSeF
    paths = {entry.path for entry in wfirma.requests.entries()}
    assert not any("ksef" in path or "/send" in path for path in paths)  # nothing ever asked to send


def test_wfirma_send_on_export_is_refused_with_what_to_choose(stack, wfirma) -> None:
    account, company_id = wfirma_account(stack, wfirma, ksef="send_on_export")
    account.export("01-invoice-company.json")
    [event] = [e for e in account.events if e["document_id"] == "INV-2026-11-0001"]
    assert event["outcome"] == "failed" and event["error"]["code"] == "unsupported_ksef"
    assert "E-FAKTURY" in event["error"]["message"] and "provider_sends" in event["error"]["fix"]
    assert wfirma.company(company_id).invoices == {}  # refused before anything was sent
