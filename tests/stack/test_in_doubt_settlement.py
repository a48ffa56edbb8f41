"""Interrupted creates settled through the local stack: a later delivery finds iFirma's document by our
reference; the settlement schedule and an operator's `resolve --auto` (the API's 202, the settlement
queue, its function) settle documents held in doubt - found ones exported and announced, surely absent
ones sent once more (by the record's stream: also when the settlement dies right after its write), an
edited one left in doubt with the candidate shown by the CLI; a correction of a document in doubt held
pending until the settlement finds its original, then sent once by the original's record stream."""

from __future__ import annotations

import io
import json
import uuid

import pytest
import requests
from stack.provider_accounts import Account, ifirma_account

from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.records import RecordedError, Status
from invoice_export.platform.runtime import get_runtime, reset_runtime
from invoice_export.services import operations
from invoice_export.services.operations import resolve_in_doubt
from invoice_export.storage.documents import DocumentStore
from invoice_export_cli.api import LOCAL_CALLER_HEADER
from invoice_export_cli.main import main
from local.fakes.ifirma import IfirmaFake
from testsupport import load_example, plan_for

pytestmark = pytest.mark.stack
# A create stalled past the read timeout outlasts the 2 s visibility timeout: its message comes back
# to a second worker meanwhile (answered "in progress"), and 4 deliveries would be used up by then.
STACK_PARAMETERS = {"ExportMaxReceiveCount": 8}


@pytest.fixture(scope="module")
def ifirma():
    with IfirmaFake(rate_limit=None) as server:
        yield server


@pytest.fixture(autouse=True)
def lists_trusted_at_once(stack, monkeypatch):
    """The provider's list is trusted as soon as an attempt was interrupted (the adapters wait minutes)."""
    monkeypatch.setenv("SETTLE_LISTING_AFTER_SECONDS", "0")
    reset_runtime()
    yield
    reset_runtime()


def message(account: Account, document_id: str) -> ExportMessage:
    body = load_example("01-invoice-company.json")
    body["account_id"] = account.account_id
    body["document"]["document_id"] = document_id
    return ExportMessage.model_validate(body)


def held_in_doubt(account: Account, document_id: str, *, reached_the_provider: bool) -> ExportMessage:
    """A document whose create was interrupted on its message's last delivery: held in doubt (as the
    export function, or the DLQ check, records it). `reached_the_provider`: iFirma stored it."""
    runtime = get_runtime()
    export = message(account, document_id)
    runtime.documents.register(export)
    claimed, _ = runtime.documents.claim(account.account_id, document_id, uuid.uuid4().hex)
    assert claimed
    if reached_the_provider:
        settings = runtime.accounts.get(account.account_id)
        adapter = runtime.build_adapter(settings, runtime.accounts.credentials(account.account_id))
        adapter.create_document(plan_for(adapter, "01-invoice-company.json", document_id=document_id))
    runtime.documents.mark_in_doubt(account.account_id, document_id, RecordedError(
        code="dead_lettered", message="its last delivery stopped mid-create", at=now_iso()))
    return export


def settle_as_scheduled(stack) -> dict:
    invocation = stack.function("SettleInDoubtFunction").invoke({"trigger": "settle_in_doubt"})
    assert invocation.error is None, invocation.error
    stack.run_until_idle(timeout=60)  # the settlement queue, then the export queue (a requeued document)
    return invocation.response


def ours_at_ifirma(ifirma: IfirmaFake, login: str, document_id: str) -> list[dict]:
    return [i for i in ifirma.account(login).invoices.values() if i.get("Uwagi", "").endswith(f"ref: {document_id}")]


def test_a_create_stored_at_ifirma_whose_answer_was_lost_is_held_then_found_by_the_schedule(stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma)
    ifirma.faults.stall_after_commit(3.0, method="POST")  # stored, the answer later than the read timeout
    account.export("01-invoice-company.json")
    # The later delivery does not list (off the account's queue): in doubt, "nothing yet".
    record = account.record("INV-2026-11-0001")
    assert (record.status, record.settlement["outcome"]) == (Status.IN_DOUBT, "not_yet")
    assert record.last_error.fix.startswith("nothing yet")
    settle_as_scheduled(stack)
    record = account.record("INV-2026-11-0001")
    assert (record.status, record.settlement["outcome"], record.settlement["by"]) == (
        Status.EXPORTED, "found", "listing")
    assert len(ours_at_ifirma(ifirma, login, "INV-2026-11-0001")) == 1 == len(ifirma.account(login).invoices)
    account.events += [e["detail"] for e in stack.outcome_events() if e["detail"]["account_id"] == account.account_id]
    assert [e["outcome"] for e in account.events] == ["in_doubt", "exported"]
    # Asking only read: the one POST is the create (nothing sent twice, nothing written by the look-up).
    assert [e.method for e in ifirma.requests.entries() if e.key == login and e.method != "GET"] == ["POST"]


def test_the_schedule_exports_what_ifirma_holds_and_sends_once_more_what_it_surely_lacks(stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma)
    held_in_doubt(account, "STORED-1", reached_the_provider=True)
    held_in_doubt(account, "LOST-1", reached_the_provider=False)
    report = settle_as_scheduled(stack)
    assert report["queued"] >= 2
    for document_id in ("STORED-1", "LOST-1"):
        assert account.record(document_id).status == Status.EXPORTED
        assert len(ours_at_ifirma(ifirma, login, document_id)) == 1  # never twice
    assert account.record("STORED-1").settlement["where"] == "settlement"
    assert account.record("LOST-1").settlement["outcome"] == "absent"  # kept after its new send
    assert account.record("STORED-1").pdf is not None  # fetched as for any exported document
    events = [e for e in stack.outcome_events() if e["detail"]["account_id"] == account.account_id]
    assert sorted(e["detail"]["document_id"] for e in events if e["detail"]["outcome"] == "exported") == [
        "LOST-1", "STORED-1"]


def test_a_document_released_by_a_settlement_that_died_right_after_its_write_is_sent_once(
        stack, ifirma, monkeypatch) -> None:
    account, login = ifirma_account(stack, ifirma)
    held_in_doubt(account, "LOST-2", reached_the_provider=False)
    requeue, deaths, queued = DocumentStore.requeue_in_doubt, [], []

    def write_then_die(store, account_id, document_id, *args, **kwargs):
        requeue(store, account_id, document_id, *args, **kwargs)
        deaths.append(document_id)
        raise SystemExit("the settlement's worker died right after its write")  # nothing after it runs

    queue_export = operations.queue_export

    def counted(sqs, queue_url, message, **kwargs):  # every export message, whoever sends it
        queued.append(message.document.document_id)
        queue_export(sqs, queue_url, message, **kwargs)

    monkeypatch.setattr(DocumentStore, "requeue_in_doubt", write_then_die)
    monkeypatch.setattr(operations, "queue_export", counted)
    settle_as_scheduled(stack)  # its request comes back and finds the document pending: nothing more
    assert deaths == ["LOST-2"]
    assert queued == ["LOST-2"]  # one message, from the record's stream
    record = account.record("LOST-2")
    assert (record.status, record.settlement["outcome"], record.attempts) == (Status.EXPORTED, "absent", 2)
    assert len(ours_at_ifirma(ifirma, login, "LOST-2")) == 1 == len(ifirma.account(login).invoices)
    events = [e["detail"] for e in stack.outcome_events() if e["detail"]["account_id"] == account.account_id]
    assert [e["outcome"] for e in events if e["document_id"] == "LOST-2"] == ["in_doubt", "exported"]


def test_an_operator_asks_with_resolve_auto_and_an_edited_reference_stays_in_doubt_with_its_candidate(
        stack, ifirma, custom_provider_urls) -> None:
    account, login = ifirma_account(stack, ifirma)
    principal = f"arn:aws:iam::123456789012:user/operator-{uuid.uuid4().hex[:6]}"
    runtime = get_runtime()
    runtime.tenants.map(principal, "tenant-settle")
    runtime.accounts.put(runtime.accounts.get(account.account_id).model_copy(update={"tenant_id": "tenant-settle"}))
    held_in_doubt(account, "EDITED-1", reached_the_provider=True)
    [(invoice_id, _)] = ifirma.account(login).invoices.items()
    ifirma.edit_invoice(login, invoice_id, Uwagi="Dziękujemy za zakupy")  # the merchant rewrote it

    def cli(*args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--api-url", f"{stack.gateway_url}/v1", "--local-caller", principal, *args], out=out, err=err)
        return code, out.getvalue() + err.getvalue()

    code, out = cli("--json", "resolve", account.account_id, "EDITED-1", "--auto")
    assert code == 0, out
    assert json.loads(out) == {"document_id": "EDITED-1", "queued": True}
    stack.run_until_idle(timeout=60)
    code, out = cli("status", account.account_id, "EDITED-1")
    assert code == 0 and "in_doubt" in out
    assert f"candidate fakturakraj:{invoice_id}" in out and "no reference of ours" in out
    assert "Dziękujemy" not in out
    assert len(ifirma.account(login).invoices) == 1  # nothing sent again
    record = account.record("EDITED-1")
    assert (record.status, record.settlement_tries, record.settlement["outcome"]) == (Status.IN_DOUBT, 1, "undecided")
    code, out = cli("resolve", account.account_id, "NOT-THERE", "--auto")
    assert code != 0 and "not found" in out
    # The API itself: 202 while it is in doubt (the work is queued), 409 once it is not.
    settle = f"{stack.gateway_url}/v1/accounts/{account.account_id}/documents/EDITED-1/settle"
    assert requests.post(settle, headers={LOCAL_CALLER_HEADER: principal}, timeout=10).status_code == 202
    resolve_in_doubt(runtime, account.account_id, "EDITED-1", provider_document_id=f"fakturakraj:{invoice_id}")
    refused = requests.post(settle, headers={LOCAL_CALLER_HEADER: principal}, timeout=10)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_in_doubt")


def test_a_correction_of_a_document_in_doubt_waits_and_is_sent_once_the_settlement_finds_it(stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma)
    held_in_doubt(account, "INV-2026-11-0001", reached_the_provider=True)  # the invoice 05-correction.json corrects
    account.export("05-correction.json")
    # Held pending with the reason, not failed; the original's record lists it.
    correction = account.record("KOR-2026-11-0001")
    assert (correction.status, correction.last_error.code) == (Status.PENDING, "waiting_for_original")
    assert "INV-2026-11-0001 is in_doubt" in correction.last_error.message
    assert correction.last_error.fix.startswith("nothing")
    assert account.record("INV-2026-11-0001").waiting_corrections == ["KOR-2026-11-0001"]
    assert len(ifirma.account(login).invoices) == 1  # only the original
    settle_as_scheduled(stack)  # finds the original; its record's stream queues the correction, sent then
    original, correction = account.record("INV-2026-11-0001"), account.record("KOR-2026-11-0001")
    assert original.status == correction.status == Status.EXPORTED
    stored = ifirma.account(login).invoices
    assert len(stored) == 2 and len(ours_at_ifirma(ifirma, login, "KOR-2026-11-0001")) == 1  # sent once
    account.events += [e["detail"] for e in stack.outcome_events() if e["detail"]["account_id"] == account.account_id]
    events = [e for e in account.events if e["document_id"] == "KOR-2026-11-0001"]
    assert [e["outcome"] for e in events] == ["pending", "exported"]
    assert events[0]["error"]["code"] == "waiting_for_original"
    assert events[1]["provider_number"] == correction.provider_number
