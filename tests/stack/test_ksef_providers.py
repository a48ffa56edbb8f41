"""KSeF end to end for the other accounting systems, each the way its API allows (test_ksef.py drives
Fakturownia): the document is exported through the queue, the KSeF poller reads its state back until
it is final, and the KSeF number lands on the document's record with an event.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from stack.provider_accounts import Account, ifirma_account, wfirma_account

from invoice_export.domain.account_settings import KsefMode
from invoice_export.domain.records import Status
from invoice_export.platform.runtime import get_runtime
from local.fakes.ifirma import IfirmaFake
from local.fakes.infakt import InfaktFake
from local.fakes.wfirma import WfirmaFake

# wFirma's appKey belongs to the deployment (template parameter WfirmaAppKey), generated per run.
WFIRMA_APP_KEY = secrets.token_hex(16)
STACK_PARAMETERS = {"WfirmaAppKey": WFIRMA_APP_KEY}


@pytest.fixture(scope="module")
def wfirma():
    with WfirmaFake(app_key=WFIRMA_APP_KEY, rate_limit=None) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture(scope="module")
def infakt():
    with InfaktFake() as server:  # its documented per-IP limits, GET and the rest apart
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


@pytest.fixture(scope="module")
def ifirma():
    with IfirmaFake(rate_limit=None) as server:
        yield server


# ---------------------------------------------------------------- inFakt: send_to_ksef on the create


def infakt_account(stack, fake: InfaktFake, **settings: Any) -> tuple[Account, str]:
    key = secrets.token_hex(20)
    fake.add_account(key)
    account = Account(stack, {
        "provider": "infakt", "api_url": f"{fake.base_url}/api/v3",
        "series_links": {"FV": None, "FV-EXPORT": None, "KOR": None},
        "payment_links": {"Przelew": "transfer", "Karta": "card"}, **settings}, {"api_key": key})
    return account, key


def test_infakt_send_on_export_records_the_ksef_number_with_an_event(stack, infakt) -> None:
    account, key = infakt_account(stack, infakt, ksef="send_on_export")
    infakt.account(key).ksef_reads_until_final = 3  # KSeF answers after a few reads: the poller waits
    account.export("01-invoice-company.json", "05-correction.json")
    documents = {"INV-2026-11-0001": infakt.account(key).invoices, "KOR-2026-11-0001": infakt.account(key).corrections}
    for document_id, store in documents.items():
        record = account.record(document_id)
        stored = store[record.provider_document_id.removeprefix("correction:")]
        assert stored["ksef_data"]["status"] == "success"
        assert record.ksef_status == "accepted" and record.ksef_number == stored["ksef_data"]["ksef_number"]
        [event] = account.ksef_events(document_id)
        assert event["outcome"] == "ksef_accepted" and event["ksef_number"] == record.ksef_number
        assert infakt.account(key).ksef_submissions[stored["uuid"]] == 1  # sent once, with the create
        # Never a separate send: the create's send_to_ksef did it.
        assert not [e for e in infakt.requests.entries() if stored["uuid"] in e.path and "send" in e.path]
    audited = [(e.action, e.response) for e in get_runtime().audit.entries(account.account_id, "INV-2026-11-0001")]
    assert ("ksef_accepted", {"ksef_number": account.record("INV-2026-11-0001").ksef_number}) in audited


def test_infakt_ksef_refusal_is_recorded_and_announced_with_infakts_description(stack, infakt) -> None:
    account, key = infakt_account(stack, infakt, ksef="send_on_export")
    infakt.account(key).ksef_rejects = "Błąd weryfikacji semantyki dokumentu faktury"
    account.export("01-invoice-company.json")
    record = account.record("INV-2026-11-0001")
    assert record.status == Status.EXPORTED and record.ksef_status == "rejected" and record.ksef_number is None
    [event] = account.ksef_events("INV-2026-11-0001")
    assert event["outcome"] == "ksef_rejected" and "Błąd weryfikacji" in event["error"]["message"]


def test_infakt_sending_by_itself_is_only_read_back_never_sent_again(stack, infakt) -> None:
    account, key = infakt_account(stack, infakt, ksef="provider_sends")
    infakt.account(key).ksef_auto_send = True  # inFakt's own automation sends every new document
    account.export("01-invoice-company.json")
    record = account.record("INV-2026-11-0001")
    stored = infakt.account(key).invoices[record.provider_document_id]
    assert record.ksef_status == "accepted" and record.ksef_number == stored["ksef_data"]["ksef_number"]
    assert infakt.account(key).ksef_submissions == {stored["uuid"]: 1}  # its own send only


# ---------------------------------------------------------------- wFirma: it sends by its own settings


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


# ---------------------------------------------------------------- iFirma: we ask once, nothing to read back


def ksef_sends(fake: IfirmaFake, login: str) -> list[str]:
    return [e.path for e in fake.requests.entries() if e.key == login and "/ksef/send/" in e.path]


def test_ifirma_is_asked_once_and_the_hand_over_is_recorded_as_final_with_where_to_see_the_number(
        stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma, ksef="send_on_export")
    account.export("01-invoice-company.json", "05-correction.json")
    for document_id in ("INV-2026-11-0001", "KOR-2026-11-0001"):
        record = account.record(document_id)
        assert record.status == Status.EXPORTED and record.ksef_status == "submitted"
        assert record.ksef_number is None and "its API does not report" in record.ksef_message
        [event] = account.ksef_events(document_id)
        assert event["outcome"] == "ksef_submitted" and "error" not in event and "ksef_number" not in event
        assert "check them in iFirma" in event["warnings"][0]
    stored = ifirma.account(login).invoices
    assert sorted(stored[i]["PelnyNumer"] for i in ifirma.account(login).ksef_submissions) == [
        "1/2026/SKLEP", "KOR 1/2026"]
    assert len(ksef_sends(ifirma, login)) == 2  # one per document
    audited = [e.action for e in get_runtime().audit.entries(account.account_id, "INV-2026-11-0001")]
    assert "ksef_submitted" in audited


def test_ifirma_send_that_never_arrived_is_retried_one_that_may_have_arrived_never_is(stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma, ksef="send_on_export")
    ifirma.faults.status(503, method="POST", path=r".*/ksef/send/.*")  # unavailable: nothing was handed over
    account.export("01-invoice-company.json")
    assert account.record("INV-2026-11-0001").ksef_status == "submitted"
    assert len(ifirma.account(login).ksef_submissions) == 1 and len(ksef_sends(ifirma, login)) == 2
    ifirma.faults.status(502, method="POST", path=r".*/ksef/send/.*")  # a gateway error: it may have arrived
    account.export("03-invoice-exempt-person.json")
    record = account.record("INV-2026-11-0002")
    assert record.ksef_status == "unconfirmed" and "not asked again" in record.ksef_message
    [event] = account.ksef_events("INV-2026-11-0002")
    assert event["outcome"] == "ksef_unconfirmed" and "check its KSeF status in iFirma" in event["error"]["message"]
    assert len(ksef_sends(ifirma, login)) == 3  # the uncertain one was not repeated


def test_ifirma_a_duplicate_poll_never_sends_again_nor_one_after_a_poll_that_died(stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma, ksef="send_on_export")
    account.export("01-invoice-company.json")
    stack.send("KsefQueue", {"account_id": account.account_id, "document_id": "INV-2026-11-0001"})  # a duplicate
    account.export()
    assert account.record("INV-2026-11-0001").ksef_status == "submitted" and len(ksef_sends(ifirma, login)) == 1
    # A poll claimed the send and died before recording anything: only iFirma knows whether it went out.
    runtime = get_runtime()
    runtime.accounts.put(runtime.accounts.get(account.account_id).model_copy(update={"ksef": KsefMode.OFF}))
    account.export("03-invoice-exempt-person.json")  # exported without KSeF, then the account switches
    runtime.accounts.put(runtime.accounts.get(account.account_id).model_copy(update={"ksef": KsefMode.SEND_ON_EXPORT}))
    assert runtime.documents.claim_ksef_send(account.account_id, "INV-2026-11-0002")  # the dead poll's claim
    stack.send("KsefQueue", {"account_id": account.account_id, "document_id": "INV-2026-11-0002"})
    account.export()
    record = account.record("INV-2026-11-0002")
    assert record.ksef_status == "unconfirmed" and "saw no answer" in record.ksef_message
    assert [e["outcome"] for e in account.ksef_events("INV-2026-11-0002")] == ["ksef_unconfirmed"]
    assert len(ksef_sends(ifirma, login)) == 1  # never sent again


def test_ifirma_without_a_ksef_connection_gets_a_clear_rejection(stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma, ksef="send_on_export")
    ifirma.account(login).ksef_connected = False
    account.export("01-invoice-company.json")
    record = account.record("INV-2026-11-0001")
    assert record.status == Status.EXPORTED and record.ksef_status == "rejected"
    [event] = account.ksef_events("INV-2026-11-0001")
    assert event["outcome"] == "ksef_rejected"
    assert "iFirma did not send the document to KSeF" in event["error"]["message"]
    assert "nie jest połączone z KSeF" in event["error"]["message"]


def test_ifirma_provider_sends_is_refused_before_anything_is_sent(stack, ifirma) -> None:
    account, login = ifirma_account(stack, ifirma, ksef="provider_sends")
    account.export("01-invoice-company.json")
    [event] = [e for e in account.events if e["document_id"] == "INV-2026-11-0001"]
    assert event["outcome"] == "failed" and event["error"]["code"] == "unsupported_ksef"
    assert ifirma.account(login).invoices == {}
