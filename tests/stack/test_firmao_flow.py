"""Firmao end to end through the local stack: connected through the configuration API (its credentials
checked at Firmao, its series listed for linking), documents exported through the queue with their PDF
stored and the customer link leading to it, a create whose answer was lost settled once, and refused
credentials pausing the account. The provider is the strict fake of Firmao's API."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
import requests

from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.platform.runtime import get_runtime
from invoice_export.services.events import DETAIL_TYPE
from invoice_export.services.pausing import ACCOUNT_DETAIL_TYPE
from local.fakes.firmao import FirmaoFake
from local.rest_api import CALLER_HEADER
from testsupport import load_example

pytestmark = pytest.mark.usefixtures("custom_provider_urls")
LOGIN = "api@herbaciarnia.example"

# A create stalled for 3.5 s and looked up, and a batch paced to Firmao's 60 requests a minute (about one a
# second: a batch of three documents with their read-backs and PDFs takes over 10 s): never delivered again
# while still in flight, as the export queue's 180 s would not.
VISIBILITY_TIMEOUT = 60


@pytest.fixture(scope="module")
def fake():
    """This module's provider (overrides conftest's Fakturownia): the stack talks to Firmao."""
    with FirmaoFake(rate_limit=None) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


class FirmaoShop:
    """One Firmao organisation (series "Sklep", product MUG-300 in stock) and our account for it, connected
    by a tenant through the configuration API."""

    def __init__(self, stack, fake: FirmaoFake) -> None:
        self.stack, self.fake = stack, fake
        self.organisation = f"org-{uuid.uuid4().hex[:8]}"
        self.password = uuid.uuid4().hex
        fake.add_account(self.organisation, LOGIN, self.password)
        fake.add_series(self.organisation, "Sklep", {"invoice": "FV/{n}/{mm}/{yyyy}", "receipt": "PAR/{n}/{mm}/{yyyy}",
                                                     "correction": "KOR/{n}/{mm}/{yyyy}"})
        self.mug = fake.add_product(self.organisation, "MUG-300", "Kubek ceramiczny 300 ml", stock=10)
        fake.faults.clear()
        self.account_id = f"firmao-{uuid.uuid4().hex[:8]}"
        tenant = f"tenant-{uuid.uuid4().hex[:6]}"
        self.principal = f"arn:aws:iam::123456789012:user/{tenant}"
        get_runtime().tenants.map(self.principal, tenant)
        self.events: list[dict[str, Any]] = []

    @property
    def credentials(self) -> dict[str, str]:
        return {"organisation": self.organisation, "login": LOGIN, "password": self.password}

    def api(self, method: str, path: str, body: object = None) -> requests.Response:
        return requests.request(method, f"{self.stack.gateway_url}/v1/accounts/{self.account_id}{path}", json=body,
                                headers={CALLER_HEADER: self.principal}, timeout=30)

    def connect(self, **settings: Any) -> None:
        answer = self.api("PUT", "/connection", {"provider": "firmao", "credentials": self.credentials,
                                                 "api_url": self.fake.base_url})
        assert answer.status_code == 200, answer.text
        series = {option["name"].split(" (")[0]: option["id"] for option in self.api("GET", "/provider/series").json()}
        answer = self.api("PATCH", "/settings", {
            "series_links": dict.fromkeys(("FV", "FV-EXPORT", "PAR", "KOR"), series["Sklep"]),
            "payment_links": {"Przelew": "TRANSFER", "Karta": "CASH"}, **settings})
        assert answer.status_code == 200, answer.text

    def export(self, *examples: str) -> None:
        for example in examples:
            message = load_example(example)
            message["account_id"] = self.account_id
            self.stack.send("ExportQueue", json.dumps(message), group_id=self.account_id, dedup_id=uuid.uuid4().hex)
        self.stack.run_until_idle(timeout=60)
        self.events = [e for e in self.stack.outcome_events() if e["detail"]["account_id"] == self.account_id]

    def outcomes(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for event in self.events:
            if event["detail-type"] == DETAIL_TYPE:
                found.setdefault(event["detail"]["document_id"], []).append(event["detail"]["outcome"])
        return found

    def record(self, document_id: str) -> DocumentRecord:
        record = get_runtime().documents.get(self.account_id, document_id)
        assert record is not None, f"no record of {document_id}"
        return record

    def transactions(self) -> list[dict[str, Any]]:
        return self.fake.transactions(self.organisation)


@pytest.fixture
def firmao(stack, fake) -> FirmaoShop:
    return FirmaoShop(stack, fake)


def test_invoice_receipt_and_correction_reach_firmao_with_pdf_link_stock_and_audit(firmao) -> None:
    firmao.connect(send_skus=True, missing_sku="warn", provider_options={"reference_field": "custom1"})
    assert [option["id"] for option in firmao.api("GET", "/provider/payment-types").json()] == ["TRANSFER", "CASH"]
    firmao.export("01-invoice-company.json", "02-receipt-person.json", "05-correction.json")

    assert firmao.outcomes() == {"INV-2026-11-0001": ["exported"], "PAR-2026-11-0001": ["exported"],
                                 "KOR-2026-11-0001": ["exported"]}
    numbers = {doc_id: firmao.record(doc_id).provider_number for doc_id in firmao.outcomes()}
    assert numbers == {"INV-2026-11-0001": "FV/1/11/2026", "PAR-2026-11-0001": "PAR/1/11/2026",
                       "KOR-2026-11-0001": "KOR/1/11/2026"}
    assert sorted(t["transactionNumber"] for t in firmao.transactions()) == sorted(numbers.values())
    assert all(firmao.record(doc_id).pdf is not None for doc_id in numbers)
    assert firmao.fake.stock(firmao.organisation, firmao.mug) == Decimal(8)  # 2 invoiced; a correction moves none
    [invoice] = [e["detail"] for e in firmao.events if e["detail"].get("document_id") == "INV-2026-11-0001"]
    assert "SKU TEA-100" in " ".join(invoice["warnings"])

    answer = requests.get(invoice["customer_link"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    pdf = requests.get(answer.headers["Location"], timeout=10)
    assert pdf.content.startswith(b"%PDF") and b"FV/1/11/2026" in pdf.content

    [sent] = [entry for entry in firmao.api("GET", "/documents/INV-2026-11-0001/audit").json()
              if entry["action"] == "sent"]
    assert sent["request"]["customFields.custom1"] == "INV-2026-11-0001"
    assert sent["request"]["customerName"] == sent["request"]["nipNumber"] == "<redacted>"  # personal data
    assert firmao.password not in json.dumps(sent)

    report = firmao.api("GET", "/reconciliation?date_from=2026-11-01&date_to=2026-11-30").json()
    assert (report["ours_exported"], report["provider_listed"]) == (3, 3)
    assert report["missing"] == report["extra"] == report["different"] == []


def test_a_create_whose_answer_was_lost_is_found_by_our_number_and_never_sent_twice(firmao) -> None:
    firmao.connect(numbering="ours")
    firmao.fake.faults.stall_after_commit(3.5, method="POST", path=rf"/{firmao.organisation}/svc/v1/transactions")
    firmao.export("01-invoice-company.json")
    assert firmao.outcomes() == {"INV-2026-11-0001": ["exported"]}, firmao.record("INV-2026-11-0001").last_error
    [transaction] = firmao.transactions()
    record = firmao.record("INV-2026-11-0001")
    assert (record.provider_document_id, record.provider_number) == (str(transaction["id"]), "FV 1/11/2026")
    # The retry looked the number up before sending again (Firmao's duplicate refusal would have caught a resend).
    assert firmao.fake.requests.count("POST", rf"/{firmao.organisation}/svc/v1/transactions") == 1


def test_connect_checks_the_credentials_at_firmao_and_refused_ones_pause_the_account(firmao) -> None:
    refused = firmao.api("PUT", "/connection", {"provider": "firmao", "api_url": firmao.fake.base_url,
                                                "credentials": {**firmao.credentials, "password": "wrong-pw-1"}})
    assert refused.status_code == 400 and refused.json()["code"] == "credentials_rejected"
    assert "wrong-pw-1" not in refused.text and get_runtime().accounts.get(firmao.account_id) is None

    firmao.connect()
    firmao.fake.account(firmao.organisation).api_enabled = False  # the merchant turned the API off in Firmao
    firmao.export("01-invoice-company.json")
    assert get_runtime().accounts.get(firmao.account_id).status == "needs_reconnect"
    assert [e["detail"]["account_id"] for e in firmao.events if e["detail-type"] == ACCOUNT_DETAIL_TYPE] == [
        firmao.account_id]
    record = firmao.record("INV-2026-11-0001")
    assert (record.status, record.last_error.code) == (Status.PENDING, "account_paused")
    assert firmao.transactions() == []
