"""End-to-end fixtures: one local stack and one fake Fakturownia per test module, a fresh shop per test.

Everything goes through the same path as production: messages on the FIFO export queue, the
handlers run by the SQS event-source emulator, AWS in moto, the provider a strict fake on 127.0.0.1.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.records import DocumentRecord
from invoice_export.platform.runtime import Runtime, get_runtime, reset_runtime
from invoice_export.services.events import DETAIL_TYPE
from local.fakes.fakturownia import FakturowniaFake
from local.stack import LocalStack
from testsupport import load_example

# Short timings so retries happen within seconds: provider read timeout 2 s (injected stalls last
# longer), back-off from 0.2 s, failed messages visible again after 2 s, dead-lettered on the 4th receive.
FAST = {"PROVIDER_READ_TIMEOUT": "2", "RETRY_BASE_DELAY_SECONDS": "0.2", "LAMBDA_TIME_MARGIN_SECONDS": "0",
        "KSEF_POLL_BASE_DELAY_SECONDS": "0"}


@pytest.fixture(scope="module")
def fake():
    with FakturowniaFake(rate_limit=None) as server:
        yield server


@pytest.fixture(scope="module")
def stack(fake, request):
    """The module's stack; a module's STACK_PARAMETERS add template parameters (e.g. WfirmaAppKey), its
    VISIBILITY_TIMEOUT outlasts its slowest export (a provider whose limit spaces calls seconds apart)."""
    patch = pytest.MonkeyPatch()
    parameters = {"ExportMaxReceiveCount": 4, **getattr(request.module, "STACK_PARAMETERS", {})}
    # A module whose provider calls may outlast 2 s on a loaded machine (a stalled answer, read back with
    # timeouts) sets a longer VISIBILITY_TIMEOUT, so its message is not delivered again while in flight.
    visibility = getattr(request.module, "VISIBILITY_TIMEOUT", 2)
    with LocalStack(visibility_timeout_override=visibility, parameter_overrides=parameters) as local:
        for name, value in FAST.items():
            patch.setenv(name, value)
        reset_runtime()
        yield local
        patch.undo()
    reset_runtime()


@dataclass
class Shop:
    """One connected account at the fake Fakturownia, and helpers to drive documents through the stack."""

    stack: LocalStack
    fake: FakturowniaFake
    account_id: str
    token: str
    department: int
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return get_runtime()

    def connect(self, **changes: Any) -> AccountSettings:
        settings = AccountSettings.model_validate({
            "account_id": self.account_id, "provider": "fakturownia", "api_url": self.fake.base_url,
            "series_links": {"FV": str(self.department), "FV-EXPORT": str(self.department), "PAR": None,
                             "KOR": None},
            "payment_links": {"Przelew": "transfer", "Karta": "card"}, **changes})
        self.runtime.accounts.put(settings)
        return settings

    def message(self, example: str, **document_changes: Any) -> dict[str, Any]:
        message = load_example(example)
        message["account_id"] = self.account_id
        message["document"].update(document_changes)
        return message

    def send(self, message: dict[str, Any] | str, dedup_id: str | None = None) -> None:
        body = message if isinstance(message, str) else json.dumps(message)
        self.stack.send("ExportQueue", body, group_id=self.account_id, dedup_id=dedup_id or uuid.uuid4().hex)

    def run(self, timeout: float = 60) -> list[dict[str, Any]]:
        """Drive the handlers until idle; return (and keep) this shop's outcome events."""
        self.stack.run_until_idle(timeout=timeout)
        mine = [e["detail"] for e in self.stack.outcome_events()
                if e["detail"]["account_id"] == self.account_id and e["detail-type"] == DETAIL_TYPE]
        self.events.extend(mine)
        return mine

    def outcomes(self, document_id: str) -> list[str]:
        return [e["outcome"] for e in self.events if e["document_id"] == document_id]

    def distinct_outcomes(self, document_id: str) -> list[str]:
        """The outcomes as a consumer sees them: an event published twice (the same `event_id`) once."""
        distinct = {e["event_id"]: e for e in self.events if e["document_id"] == document_id}
        return [e["outcome"] for e in distinct.values()]

    def outcomes_once(self, document_id: str) -> list[str]:
        """Its outcomes as a consumer sees them (`distinct_outcomes`), without the `already_exported`
        answers to deliveries the local stack repeated.

        Every delivery gets its event (issue 20), and this stack's queues make a message visible again
        after 2 s: one still being worked on by a slow invocation (a stalled provider, a loaded machine)
        is delivered once more and answered `already_exported` once the first delivery exported it. In
        AWS a queue's visibility timeout is at least its function's timeout, so only a delivery repeated
        after an invocation failed does that. The `exported` event comes from the record's stream, so
        such an answer may arrive before it. For tests of documents sent once; `outcomes` for re-sends."""
        outcomes = self.distinct_outcomes(document_id)
        return [o for o in outcomes if o != "already_exported" or "exported" not in outcomes]

    def record(self, document_id: str) -> DocumentRecord:
        record = self.runtime.documents.get(self.account_id, document_id)
        assert record is not None, f"no record of {document_id}"
        return record

    def provider_documents(self, oid: str | None = None) -> list[dict[str, Any]]:
        invoices = self.fake.account(self.token).invoices
        return [i for i in invoices if oid is None or i.get("oid") == oid]


@pytest.fixture
def shop(stack, fake) -> Shop:
    token = secrets.token_hex(16)
    account_id = f"shop-{uuid.uuid4().hex[:10]}"
    fake.add_account(token, prefix=account_id.replace("_", "-"))
    department = fake.add_department(token, "Sklep internetowy", "5252445767")
    fake.faults.clear()
    new_shop = Shop(stack, fake, account_id, token, department)
    new_shop.runtime.accounts.save_credentials(account_id, {"api_token": token})
    new_shop.connect()
    return new_shop


@pytest.fixture(scope="module")
def custom_provider_urls(stack):
    """Let accounts connected through the configuration API use the fake's http://127.0.0.1 address
    (the template's AllowCustomProviderUrls, off by default)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ALLOW_CUSTOM_PROVIDER_URLS", "true")
    reset_runtime()
    yield
    patch.undo()
    reset_runtime()
