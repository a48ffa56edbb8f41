"""Bulk runs against a provider with a monthly API quota (iFirma, strict fake): checked before a run
queues anything; only what fits is exported (oldest first), the rest held with the reason and when
the quota starts again; a dry run marks the documents over the quota."""

from __future__ import annotations

import json
import math
import secrets
import uuid

import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.records import Status
from invoice_export.platform.runtime import get_runtime
from invoice_export.storage.bulk_runs import BulkFilters, RunStatus
from local.fakes.ifirma import IfirmaFake
from testsupport import load_example

INVOICE_KEY = "EAB0D8ACF3308F3B"
SUBSCRIBER_KEY = "0A1B2C3D4E5F6071"
IDS = ["INV-Q-1", "INV-Q-2", "INV-Q-3"]


@pytest.fixture(scope="module")
def ifirma():
    with IfirmaFake(rate_limit=None) as server:
        yield server


@pytest.fixture
def merchant(stack, ifirma):
    """A bulk-mode iFirma account (booking November 2026, the examples' month) with three pending invoices."""
    login = f"shop-{secrets.token_hex(4)}@example.pl"
    account = ifirma.add_account(login, invoice_key=INVOICE_KEY, subscriber_key=SUBSCRIBER_KEY,
                                 accounting_month=(2026, 11), series=("SKLEP",))
    account_id = f"ifirma-{uuid.uuid4().hex[:10]}"
    runtime = stack_runtime()
    runtime.accounts.save_credentials(account_id, {"login": login, "invoice_key": INVOICE_KEY,
                                                   "subscriber_key": SUBSCRIBER_KEY})
    runtime.accounts.put(AccountSettings.model_validate({
        "account_id": account_id, "provider": "ifirma", "api_url": f"{ifirma.base_url}/iapi",
        "export_mode": "bulk", "series_links": {"FV": "SKLEP"}, "payment_links": {"Przelew": "PRZ", "Karta": "KAR"}}))
    for document_id in IDS:
        message = load_example("01-invoice-company.json")
        message["account_id"] = account_id
        message["document"]["document_id"] = document_id
        stack.send("ExportQueue", message_json(message), group_id=account_id, dedup_id=uuid.uuid4().hex)
    stack.run_until_idle(timeout=60)
    assert [status(account_id, d) for d in IDS] == [Status.PENDING] * 3
    return {"account_id": account_id, "login": login, "ifirma": account}


def stack_runtime():
    return get_runtime()


def message_json(message) -> str:
    return json.dumps(message)


def status(account_id: str, document_id: str) -> Status:
    record = stack_runtime().documents.get(account_id, document_id)
    assert record is not None
    return record.status


def test_a_run_exports_only_what_the_quota_allows_oldest_first_and_holds_the_rest(stack, merchant):
    merchant["ifirma"].quota, merchant["ifirma"].issued_this_month = 1000, 998  # 2 documents left this month
    exporter = stack_runtime().bulk_exporter
    run = exporter.start(merchant["account_id"], BulkFilters(), requested_by="test")
    run = exporter.resume(merchant["account_id"], run.run_id, lambda: math.inf)
    assert (run.status, run.queued, run.held) == (RunStatus.QUEUED, 2, 1)
    assert run.quota is not None and (run.quota.remaining, run.quota.allowance) == (2, 2)
    assert run.quota.resets_at and run.quota.resets_at.startswith(("2026-", "2027-"))
    assert any("2 documents left of 1000" in note for note in run.notes)
    stack.run_until_idle(timeout=60)

    summary = exporter.summary(merchant["account_id"], run.run_id)
    assert summary.settled and len(summary.exported) == 2 and summary.failed == []
    [held] = summary.held
    assert held.document_id not in {o.document_id for o in summary.exported}
    assert "quota" in held.reason and "starts again" in held.reason and run.quota.resets_at in held.reason
    assert status(merchant["account_id"], held.document_id) == Status.PENDING  # waits for a later run
    assert merchant["ifirma"].issued_this_month == 1000  # never refused by iFirma


def test_dry_run_marks_the_documents_over_the_quota_and_sends_nothing(stack, merchant):
    merchant["ifirma"].quota, merchant["ifirma"].issued_this_month = 1000, 999
    exporter = stack_runtime().bulk_exporter
    first = exporter.dry_run(merchant["account_id"], BulkFilters(), limit=2)
    rest = exporter.dry_run(merchant["account_id"], BulkFilters(), limit=2, cursor=first.next_cursor)
    checks = first.documents + rest.documents
    over = [c for c in checks if any(p.code == "provider_quota_exceeded" for p in c.problems)]
    assert len(checks) == 3 and len(over) == 2  # one fits, counted across the pages
    assert "1 documents left" in over[0].problems[0].message and "starts again" in over[0].problems[0].fix
    assert any("quota" in note for note in first.notes)
    assert merchant["ifirma"].issued_this_month == 999


def test_the_nightly_run_with_the_quota_used_up_holds_everything(stack, merchant):
    merchant["ifirma"].quota, merchant["ifirma"].issued_this_month = 1000, 1000
    function = stack.function("BulkExportFunction")
    result = function.invoke({"trigger": "nightly", "night": "2026-11-22"})
    assert not result.failed, result.error
    [mine] = [r for r in result.response["runs"] if r["account_id"] == merchant["account_id"]]
    assert (mine["status"], mine["queued"], mine["held"]) == ("queued", 0, 3)
    stack.run_until_idle(timeout=60)
    assert [status(merchant["account_id"], d) for d in IDS] == [Status.PENDING] * 3


def test_without_the_subscriber_key_the_run_goes_on_and_says_the_quota_was_not_checked(stack, merchant):
    stack_runtime().accounts.save_credentials(merchant["account_id"], {"login": merchant["login"],
                                                                       "invoice_key": INVOICE_KEY})
    exporter = stack_runtime().bulk_exporter
    run = exporter.start(merchant["account_id"], BulkFilters(), requested_by="test")
    run = exporter.resume(merchant["account_id"], run.run_id, lambda: math.inf)
    assert (run.queued, run.held, run.quota) == (3, 0, None)
    assert any("not checked" in note and "abonent" in note for note in run.notes)
