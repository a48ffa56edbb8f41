"""The stream function's service (services/record_changes.py): a change handed over twice - as the stream
does after a failed batch or a dead worker - publishes the same event, asks for the PDF again (a fetch is
idempotent), starts a second KSeF chain that stops at its first poll, and writes the same audit item."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.provider_contract import ClearanceSystem, KsefState, KsefStatus
from invoice_export.domain.records import DocumentRecord, RecordedError, Status
from invoice_export.services.ksef import KsefPollRequest, KsefService
from invoice_export.services.operations import queue_export
from invoice_export.services.record_changes import RecordChangeService
from invoice_export.storage.audit import AuditTrail, audit_note
from memory_stores import MemoryAccountStore, MemoryDocumentStore, RecordingPublisher, RecordingQueue
from testsupport import load_example

AT = "2026-11-24T10:00:00.000+00:00"
LATER = "2026-11-24T10:00:01.000+00:00"


class AuditTable:
    """The audit table's put_item, by key."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, Item: dict[str, Any]) -> None:  # boto3's argument name
        self.items[(Item["document_key"], Item["entry"])] = Item


def settings(**changes: Any) -> AccountSettings:
    return AccountSettings.model_validate({"account_id": "shop-1", "provider": "fakturownia",
                                           "provider_subdomain": "shop", **changes})


def wired(queue: RecordingQueue | None = None, documents: MemoryDocumentStore | None = None,
          **account: Any) -> tuple[RecordChangeService, RecordingPublisher, list[str], list[str], AuditTable]:
    accounts, publisher, pdfs, polls, table = MemoryAccountStore(), RecordingPublisher(), [], [], AuditTable()
    accounts.put(settings(**account))
    queue = queue or RecordingQueue()
    service = RecordChangeService(accounts=accounts, documents=documents or MemoryDocumentStore(),
                                  publisher=publisher, make_link=lambda a, d: f"https://l/{d}",
                                  request_pdf=lambda a, d: pdfs.append(d), start_ksef_poll=lambda a, d: polls.append(d),
                                  queue_export=lambda message, once_per=None: queue_export(
                                      queue, "export-queue", message, once_per=once_per),
                                  audit=AuditTrail(table, retention_days=1))
    return service, publisher, pdfs, polls, table


SENDING = DocumentRecord(account_id="shop-1", document_id="INV-1", status=Status.SENDING, kind="invoice",
                         document_version=2, attempts=1, number="FV 1/2026", received_at=AT, updated_at=AT)
EXPORTED = SENDING.model_copy(update={
    "status": Status.EXPORTED, "provider": "fakturownia", "provider_document_id": "P-1",
    "provider_number": "FV 1/2026", "warnings": ["text_truncated: buyer.name"], "updated_at": LATER,
    "audit_note": audit_note("sent", "order system", outcome="created", request={"buyer_name": "Jan"})})


def test_an_export_handed_over_twice_publishes_the_same_event_and_writes_the_same_audit_item() -> None:
    service, publisher, pdfs, polls, table = wired(ksef="provider_sends", show_provider_document=True)
    service.handle(SENDING, EXPORTED)
    service.handle(SENDING, EXPORTED)
    first, second = publisher.published
    assert first == second  # the same event id and content: consumers de-duplicate on event_id
    assert (first.outcome.value, first.occurred_at, first.document_version) == ("exported", LATER, 2)
    assert (first.provider_document_id, first.customer_link, first.warnings) == (
        "P-1", "https://l/INV-1", ["text_truncated: buyer.name"])
    assert first.error is None
    assert pdfs == ["INV-1", "INV-1"]  # a second fetch stores the same PDF under the same key
    assert polls == ["INV-1", "INV-1"]  # the second chain stops at its first poll (below)
    [(key, entry)] = table.items
    assert key == "shop-1#INV-1" and entry.startswith(json.loads(EXPORTED.audit_note)["at"] + "#")
    assert '"buyer_name":"<redacted>"' in table.items[(key, entry)]["body"]


def test_no_ksef_poll_for_an_account_without_ksef_and_no_link_unless_the_account_shows_it() -> None:
    service, publisher, _, polls, _ = wired(ksef="off", show_provider_document=False)
    service.handle(SENDING, EXPORTED)
    assert polls == [] and publisher.published[0].customer_link is None


def test_a_failure_is_announced_with_the_recorded_error() -> None:
    service, publisher, pdfs, _, table = wired()
    failed = SENDING.model_copy(update={"status": Status.FAILED, "last_error": RecordedError(
        code="dead_lettered", message="the worker died", fix="replay it", retryable=True, at=LATER)})
    service.handle(SENDING, failed)
    [event] = publisher.published
    assert (event.outcome.value, event.error.code, event.error.fix, event.error.retryable) == (
        "failed", "dead_lettered", "replay it", True)
    assert pdfs == [] and table.items == {}  # no note on that write: nothing to audit


def test_a_final_clearance_state_is_announced_in_the_providers_clearance_system() -> None:
    service, publisher, _, _, _ = wired()
    pending = EXPORTED.model_copy(update={"ksef_status": "pending"})
    service.handle(pending, pending.model_copy(update={"ksef_status": "accepted", "ksef_number": "KSEF-1"}))
    romanian = pending.model_copy(update={"provider": "oblio", "provider_document_id": "FCT 1"})
    service.handle(romanian, romanian.model_copy(update={"ksef_status": "accepted", "ksef_number": "5012345"}))
    service.handle(romanian, romanian.model_copy(update={"ksef_status": "rejected", "ksef_message": "CUI invalid"}))
    ksef, efactura, refused = publisher.published
    assert (ksef.outcome.value, ksef.ksef_number, ksef.efactura_index) == ("ksef_accepted", "KSEF-1", None)
    assert (efactura.outcome.value, efactura.efactura_index, efactura.ksef_number) == (
        "efactura_accepted", "5012345", None)
    assert (refused.outcome.value, refused.error.code, refused.error.message) == (
        "efactura_rejected", "efactura_rejected", "CUI invalid")
    assert "e-Factura" in refused.error.fix


def test_a_second_chain_of_ksef_polls_stops_at_its_first_poll() -> None:
    documents = MemoryDocumentStore()
    documents.items[("shop-1", "INV-1")] = {**EXPORTED.model_dump(exclude_none=True), "status": "exported"}
    scheduled: list[KsefPollRequest] = []
    reads: list[str] = []
    adapter = SimpleNamespace(capabilities=SimpleNamespace(ksef_read_back=True), clearance_system=ClearanceSystem.KSEF,
                              clearance=lambda: ("KSeF", True, True),
                              ksef_status=lambda reference: reads.append(reference) or KsefStatus(KsefState.PENDING))
    accounts = MemoryAccountStore()
    accounts.put(settings(ksef="provider_sends"))
    service = KsefService(settings=SimpleNamespace(ksef_poll_base_delay_seconds=0), accounts=accounts,
                          documents=documents, adapter_factory=lambda s, c: adapter,
                          schedule=lambda request, delay: scheduled.append(request))
    service.start("shop-1", "INV-1")
    service.start("shop-1", "INV-1")  # the same change handed over twice
    first, second = scheduled
    assert first.chain != second.chain
    service.poll(first)
    service.poll(second)  # refused: the document has its chain
    service.poll(first)  # a redelivery of the first chain's message is that chain
    assert reads == ["P-1", "P-1"]
    assert [r.chain for r in scheduled[2:]] == [first.chain, first.chain]  # only the first chain goes on
    assert documents.get("shop-1", "INV-1").ksef_poll_chain == first.chain


def test_a_document_the_settlement_released_is_queued_once_per_change_from_its_record_alone() -> None:
    queue = RecordingQueue()
    service, publisher, pdfs, polls, table = wired(queue)
    body = load_example("01-invoice-company.json")
    body["document"]["document_id"] = "INV-1"
    in_doubt = SENDING.model_copy(update={"status": Status.IN_DOUBT, "document": json.dumps(body["document"]),
                                          "last_error": RecordedError(code="in_doubt", message="?", at=AT)})
    released = in_doubt.model_copy(update={
        "status": Status.PENDING, "updated_at": LATER,
        "last_error": RecordedError(code="requeued_after_settlement", message="absent", retryable=True, at=LATER),
        "audit_note": audit_note("settled_requeued", "schedule", outcome="absent")})
    assert service.handle(in_doubt, released).send_again
    [sent] = queue.messages
    message = ExportMessage.model_validate_json(sent["MessageBody"])
    assert message == ExportMessage(account_id="shop-1", trigger=Trigger.RETRY, document=released.parsed_document())
    assert (sent["QueueUrl"], sent["MessageGroupId"]) == ("export-queue", "shop-1")
    assert publisher.published == [] and pdfs == [] and polls == [] and len(table.items) == 1  # its audit entry
    # Handed over again (a failed batch, a dead stream function): the same change, the same
    # de-duplication id - SQS's FIFO queue keeps one of them (a later one is harmless: the export claims).
    service.handle(in_doubt, released)
    first, again = queue.messages
    assert again["MessageDeduplicationId"] == first["MessageDeduplicationId"]
    # A later requeue of the same version (in doubt again, released again) is another message.
    service.handle(in_doubt, released.model_copy(update={"updated_at": "2026-11-24T10:20:00.000+00:00"}))
    assert queue.messages[2]["MessageDeduplicationId"] != first["MessageDeduplicationId"]
    # Released after a 503 (its own message still on the queue), or by an operator (to failed): nothing queued.
    claimed = released.model_copy(update={"status": Status.SENDING})
    service.handle(claimed, claimed.model_copy(update={"status": Status.PENDING, "last_error": RecordedError(
        code="provider_unavailable", message="503", retryable=True, at=LATER)}))
    service.handle(in_doubt, in_doubt.model_copy(update={"status": Status.FAILED, "last_error": RecordedError(
        code="released_by_operator", message="not there", at=LATER)}))
    assert len(queue.messages) == 3
    # Told again as it is now (the replay's sweep, once the stream no longer has the change): queued again.
    service.handle(None, released)
    assert len(queue.messages) == 4 and queue.messages[3]["MessageBody"] == first["MessageBody"]


def test_the_corrections_held_for_a_document_are_queued_once_it_is_exported_if_they_still_wait() -> None:
    queue, documents = RecordingQueue(), MemoryDocumentStore()
    service, publisher, pdfs, polls, table = wired(queue, documents)
    for correction_id, corrects in (("KOR-1", "INV-1"), ("KOR-2", "INV-1"), ("KOR-3", "INV-9")):
        body = load_example("05-correction.json")
        body["account_id"] = "shop-1"
        body["document"].update(document_id=correction_id)
        body["document"]["correction"]["corrected_document_id"] = corrects
        documents.register(ExportMessage.model_validate(body))
        documents.hold_for_original("shop-1", correction_id, RecordedError(
            code="waiting_for_original", message="waits", retryable=True, at=AT))
    documents.claim("shop-1", "KOR-2", "attempt-1")  # sent meanwhile by a later delivery of its own
    # KOR-3 waits for another document (listed here by mistake); KOR-4 is gone (tenant data deletion)
    listed = ["KOR-1", "KOR-2", "KOR-3", "KOR-4"]
    in_doubt = SENDING.model_copy(update={"status": Status.IN_DOUBT, "waiting_corrections": listed})
    settled = in_doubt.model_copy(update={"status": Status.EXPORTED, "provider_document_id": "P-1",
                                          "updated_at": LATER})
    assert service.handle(in_doubt, in_doubt.model_copy(update={"updated_at": LATER})).send_waiting_corrections == ()
    assert queue.messages == []
    assert service.handle(in_doubt, settled).send_waiting_corrections == tuple(listed)
    [sent] = queue.messages
    message = ExportMessage.model_validate_json(sent["MessageBody"])
    assert (message.trigger, message.account_id, message.document) == (
        Trigger.RETRY, "shop-1", documents.get("shop-1", "KOR-1").parsed_document())
    assert (sent["QueueUrl"], sent["MessageGroupId"]) == ("export-queue", "shop-1")
    # Handed over again: the same de-duplication id (SQS keeps one); a later second message is harmless.
    service.handle(in_doubt, settled)
    assert queue.messages[1]["MessageDeduplicationId"] == sent["MessageDeduplicationId"]
    # Once it is sent, the original told again as it is (the replay's sweep) queues nothing more.
    documents.claim("shop-1", "KOR-1", "attempt-2")
    service.handle(None, settled)
    assert len(queue.messages) == 2
