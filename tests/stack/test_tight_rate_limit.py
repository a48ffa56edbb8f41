"""A provider with a tight rate limit (issue 20), end to end: iFirma numbers a document only in a read
after the create, and that read may find our own limiter's window full. The document is never
announced without its number, and a PDF fetch the limit holds back waits on its queue."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
from stack.conftest import FAST

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.records import Status
from invoice_export.platform.runtime import get_runtime, reset_runtime
from invoice_export.services.events import DETAIL_TYPE
from local.fakes.ifirma import IfirmaFake
from local.stack import LocalStack
from testsupport import load_example

INVOICE_KEY = "EAB0D8ACF3308F3B"
# One request per 8 s, at the fake and in our limiter: the create takes the window's one place, so its
# read-back finds the window full for longer than a request waits in place (5 s, the default).
ONE_PER_8_S = (1, 8.0)


@pytest.fixture(scope="module")
def stack(fake):
    """A stack of this module's own: the shared one makes failed messages visible again after 2 s, while
    a PDF fetch here may wait longer than that in place - its message would be handled twice at once."""
    patch = pytest.MonkeyPatch()
    with LocalStack(visibility_timeout_override=60, parameter_overrides={"ExportMaxReceiveCount": 4}) as local:
        for name, value in FAST.items():
            patch.setenv(name, value)
        reset_runtime()
        yield local
        patch.undo()
    reset_runtime()


@pytest.fixture(scope="module")
def ifirma():
    with IfirmaFake(rate_limit=ONE_PER_8_S) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture
def tight_limit(stack):
    patch = pytest.MonkeyPatch()
    limit, window = ONE_PER_8_S
    patch.setenv("PROVIDER_RATE_LIMITS", json.dumps({"ifirma": {
        "limit": limit, "window_seconds": window, "scope": "credential", "source": "test"}}))
    reset_runtime()
    yield
    patch.undo()
    reset_runtime()


def test_a_create_whose_read_back_meets_a_full_window_is_announced_with_its_number(stack, ifirma, tight_limit):
    login = f"shop-{secrets.token_hex(4)}@example.pl"
    ifirma.add_account(login, invoice_key=INVOICE_KEY, accounting_month=(2026, 11), series=("SKLEP",))
    account_id = f"ifirma-{uuid.uuid4().hex[:10]}"
    runtime = get_runtime()
    runtime.accounts.save_credentials(account_id, {"login": login, "invoice_key": INVOICE_KEY})
    runtime.accounts.put(AccountSettings.model_validate({
        "account_id": account_id, "provider": "ifirma", "api_url": f"{ifirma.base_url}/iapi",
        "show_provider_document": False, "series_links": {"FV": "SKLEP"}, "payment_links": {"Przelew": "PRZ"}}))
    message = load_example("01-invoice-company.json")
    message["account_id"] = account_id
    stack.send("ExportQueue", message, group_id=account_id, dedup_id=uuid.uuid4().hex)
    stack.run_until_idle(timeout=90)

    [invoice] = ifirma.account(login).invoices.values()
    record = runtime.documents.get(account_id, "INV-2026-11-0001")
    assert record is not None and record.status == Status.EXPORTED
    assert record.provider_number == invoice["PelnyNumer"] == "1/2026/SKLEP"
    events = [e["detail"] for e in stack.outcome_events()
              if e["detail-type"] == DETAIL_TYPE and e["detail"]["account_id"] == account_id]
    # One event, sent once the number was read (on the message's retry): it carries the number.
    assert [(e["outcome"], e["provider_number"]) for e in events] == [("exported", "1/2026/SKLEP")]
    assert not any("number" in warning for warning in events[0].get("warnings", []))
    calls = [(c.method, c.path, c.status) for c in ifirma.requests.entries() if c.key == login]
    assert [c for c in calls if c[0] == "POST"] == [("POST", "/iapi/fakturakraj.json", 200)]  # created once
    assert all(status == 200 for _, _, status in calls)  # our limiter held every request: iFirma refused none
    # The PDF fetch met the full window too: postponed on its queue, fetched later, never dead-lettered.
    assert record.pdf is not None and record.pdf.size > 0
    assert stack.dlq_messages("PdfQueue") == []
