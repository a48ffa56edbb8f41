"""KSeF end to end: sent on export (or by the accounting system), read back until final, never twice."""

from __future__ import annotations

from invoice_export.domain.records import Status


def ksef_events(shop, document_id: str) -> list[dict]:
    return [e for e in shop.events if e["document_id"] == document_id and e["outcome"].startswith("ksef_")]


def test_send_on_export_records_the_ksef_number_with_an_event(shop) -> None:
    shop.connect(ksef="send_on_export")
    shop.send(shop.message("01-invoice-company.json"))
    shop.send(shop.message("02-receipt-person.json"))
    shop.run()
    record = shop.record("INV-2026-11-0001")
    [invoice] = shop.provider_documents("INV-2026-11-0001")
    assert record.ksef_status == "accepted" and record.ksef_number == invoice["gov_id"]
    [event] = ksef_events(shop, "INV-2026-11-0001")
    assert event["outcome"] == "ksef_accepted" and event["ksef_number"] == invoice["gov_id"]
    assert shop.fake.account(shop.token).ksef_submissions == {invoice["id"]: 1}
    audited = [(e.action, e.actor, e.response) for e in shop.runtime.audit.entries(shop.account_id, "INV-2026-11-0001")]
    assert ("ksef_accepted", "KSeF poller", {"ksef_number": invoice["gov_id"]}) in audited
    assert shop.record("PAR-2026-11-0001").ksef_status is None  # receipts do not go to KSeF
    assert ksef_events(shop, "PAR-2026-11-0001") == []


def test_the_number_is_read_only_once_ksef_answered(shop) -> None:
    shop.connect(ksef="send_on_export")
    shop.fake.account(shop.token).ksef_reads_until_final = 3  # KSeF takes a while
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    assert shop.record("INV-2026-11-0001").ksef_status == "accepted"
    assert [e["outcome"] for e in ksef_events(shop, "INV-2026-11-0001")] == ["ksef_accepted"]


def test_a_rejection_is_recorded_and_announced(shop) -> None:
    shop.connect(ksef="send_on_export")
    shop.fake.account(shop.token).ksef_rejects = True
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    record = shop.record("INV-2026-11-0001")
    assert record.status == Status.EXPORTED and record.ksef_status == "rejected"
    [event] = ksef_events(shop, "INV-2026-11-0001")
    assert event["outcome"] == "ksef_rejected" and event["error"]["code"] == "ksef_rejected"
    assert "Błąd weryfikacji" in event["error"]["message"]


def test_when_the_accounting_system_sends_we_never_send_but_read_the_number(shop) -> None:
    shop.connect(ksef="provider_sends")
    shop.fake.account(shop.token).ksef_auto_send = True
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    [invoice] = shop.provider_documents("INV-2026-11-0001")
    assert shop.fake.account(shop.token).ksef_submissions == {invoice["id"]: 1}  # its own send only
    assert shop.record("INV-2026-11-0001").ksef_number == invoice["gov_id"]


def test_an_account_not_connected_to_ksef_gets_a_clear_rejection(shop) -> None:
    shop.connect(ksef="send_on_export")
    shop.fake.account(shop.token).ksef_connected = False
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    record = shop.record("INV-2026-11-0001")
    assert record.ksef_status == "rejected" and "not connected to KSeF" in record.ksef_message


def test_no_ksef_polling_when_ksef_is_off(shop) -> None:
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    assert shop.record("INV-2026-11-0001").ksef_status is None
    assert shop.fake.account(shop.token).ksef_submissions == {}
