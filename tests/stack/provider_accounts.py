"""Accounts at the other accounting systems' fakes, driven through the local stack (the stack
fixtures in conftest.py connect Fakturownia shops)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.records import DocumentRecord
from invoice_export.platform.runtime import get_runtime
from invoice_export.services.events import DETAIL_TYPE
from local.fakes.ifirma import IfirmaFake
from local.fakes.wfirma import WfirmaFake
from testsupport import load_example


class Account:
    """One connected account at some provider's fake, driven through the stack."""

    def __init__(self, stack, settings: dict[str, Any], credentials: dict[str, str]) -> None:
        self.stack = stack
        self.account_id = f"acct-{uuid.uuid4().hex[:10]}"
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


def wfirma_account(stack, fake: WfirmaFake, **settings: Any) -> tuple[Account, int]:
    access_key, secret_key = secrets.token_hex(16), secrets.token_hex(16)
    company_id = fake.add_company(access_key, secret_key, name="Herbaciarnia Sp. z o.o.", nip="5252445767")
    account = Account(stack, {
        "provider": "wfirma", "api_url": fake.base_url,
        "series_links": {"FV": None, "FV-EXPORT": None, "PAR": None, "KOR": None},
        "payment_links": {"Przelew": "transfer", "Karta": "payment_card"}, **settings},
        {"access_key": access_key, "secret_key": secret_key, "company_id": str(company_id)})
    return account, company_id


def ifirma_account(stack, fake: IfirmaFake, **settings: Any) -> tuple[Account, str]:
    login, invoice_key = f"shop-{secrets.token_hex(4)}@example.com", secrets.token_hex(8)
    fake.add_account(login, invoice_key=invoice_key, accounting_month=(2026, 11), series=("SKLEP",))
    account = Account(stack, {
        "provider": "ifirma", "api_url": f"{fake.base_url}/iapi",
        "series_links": {"FV": "SKLEP", "FV-EXPORT": None, "KOR": None},
        "payment_links": {"Przelew": "PRZ", "Karta": "KAR"}, **settings},
        {"login": login, "invoice_key": invoice_key})
    return account, login
