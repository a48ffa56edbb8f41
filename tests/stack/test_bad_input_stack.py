"""Bad input end to end: one account's queue carries a mix of broken and valid messages.

Each broken one must end as a failed record with its specific error and a `failed` event, the
valid ones behind it in the same FIFO group must still be exported, and nothing may reach the DLQ.
"""

from __future__ import annotations

import json
from typing import Any

from logcapture import captured_log_lines
from stack_guards import sqs_as_in_aws  # noqa: F401  (autouse)

from invoice_export.domain.documents import Line, PriceBasis, VatCalculation, compute_totals
from invoice_export.domain.records import Status
from invoice_export.services.operations import retry_document

INVOICE = "01-invoice-company.json"
RECEIPT = "02-receipt-person.json"
CORRECTION = "05-correction.json"


def with_lines(message: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The message with these lines and the totals they give (so only what the test breaks is wrong)."""
    document = message["document"]
    totals = compute_totals([Line.model_validate(line) for line in lines], PriceBasis(document["price_basis"]),
                            VatCalculation(document.get("vat_calculation", "per_rate")))
    document["lines"] = lines
    document["totals"] = {name: str(value) for name, value in totals.model_dump().items()}
    return message


def run(shop) -> list[dict[str, Any]]:
    """Drive the stack until idle; every outcome event, whatever account it names."""
    shop.stack.run_until_idle(timeout=60)
    return [event["detail"] for event in shop.stack.outcome_events()]


def error_of(shop, document_id: str, account_id: str | None = None):
    record = shop.runtime.documents.get(account_id or shop.account_id, document_id)
    assert record is not None, f"{document_id} was not recorded"
    assert record.status == Status.FAILED, f"{document_id} is {record.status}"
    return record.last_error


def failed_event(events: list[dict[str, Any]], document_id: str) -> dict[str, Any]:
    # One outcome, whatever the deliveries: a message redelivered after its 2 s visibility timeout ran out
    # on a loaded machine publishes its outcome again under the same event_id, which consumers de-duplicate.
    [event] = {e["event_id"]: e for e in events if e["document_id"] == document_id}.values()
    assert event["outcome"] == "failed" and event["error"]["fix"]
    return event


def test_a_batch_of_bad_messages_is_recorded_one_by_one_and_blocks_nothing(shop) -> None:
    unknown_account = shop.message(INVOICE, document_id="INV-UNKNOWN-ACCOUNT")
    unknown_account["account_id"] = "shop-never-connected"
    never_exported = shop.message(CORRECTION, document_id="KOR-OF-NOTHING")
    never_exported["document"]["correction"]["corrected_document_id"] = "INV-NEVER-SENT"
    huge_price = shop.message(INVOICE, document_id="INV-HUGE")
    huge_price["document"]["lines"][0]["unit_price"] = "123456789012345678.50"
    line = shop.message(INVOICE)["document"]["lines"][0]
    huge_but_valid = with_lines(shop.message(INVOICE, document_id="INV-HUGE-VALID"),
                                [line | {"quantity": "1000", "unit_price": "99999999.99"}])
    long_name = shop.message(INVOICE, document_id="INV-LONG-NAME")
    long_name["document"]["buyer"]["name"] = "Przedsiębiorstwo Handlowo-Usługowe " * 8
    unicode_names = with_lines(shop.message(INVOICE, document_id="INV-UNICODE"),
                               [line | {"name": "Zażółć gęślą jaźń – 株式会社 Ünïcødé"}])
    unicode_names["document"]["buyer"]["name"] = "Gżegżółka & Syn Sp. z o.o. – Ørsted Øst"
    emoji_notes = shop.message(INVOICE, document_id="INV-EMOJI", notes="Dziękujemy za zakupy 🌷")

    # One FIFO group (the unknown account's message included), so they meet in one batch.
    for body in ("{not json", "[" * 50_000, unknown_account, never_exported, shop.message(CORRECTION),
                 shop.message(INVOICE), huge_price, huge_but_valid, long_name, unicode_names, emoji_notes,
                 shop.message(RECEIPT)):
        shop.send(body)
    events = run(shop)

    unreadable = [r for r in shop.runtime.documents.list_by_status("unidentified", Status.FAILED)
                  if r.raw_message in ("{not json", "[" * 50_000)]
    assert sorted(r.last_error.message.split(": ", 1)[1][:28] for r in unreadable) == [
        "the body is not JSON (Expect", "the body is not JSON (nested"]
    assert error_of(shop, "INV-UNKNOWN-ACCOUNT", "shop-never-connected").code == "unknown_account"
    failed_event(events, "INV-UNKNOWN-ACCOUNT")
    nothing = error_of(shop, "KOR-OF-NOTHING")
    assert nothing.code == "original_not_exported" and "INV-NEVER-SENT was never received" in nothing.message
    # The correction came before its original in the same group: refused, the original still exported.
    early = error_of(shop, "KOR-2026-11-0001")
    assert early.code == "original_not_exported" and "export document INV-2026-11-0001 first" in early.fix
    assert shop.record("INV-2026-11-0001").status == Status.EXPORTED
    huge = error_of(shop, "INV-HUGE")
    assert huge.code == "invalid_message" and "document.lines[0].unit_price: Decimal input should have" in huge.message
    assert shop.record("INV-HUGE-VALID").status == Status.EXPORTED
    [big] = shop.provider_documents("INV-HUGE-VALID")
    assert big["price_gross"] == "99999999990.00"
    # Unusual text is no bad input (issue 13 §5): a long name is cut to Fakturownia's 255 characters, an
    # emoji Fakturownia refuses in the notes removed, each with a warning; never a failed document.
    [long_invoice] = shop.provider_documents("INV-LONG-NAME")
    assert long_invoice["buyer_name"] == long_name["document"]["buyer"]["name"][:255]
    assert shop.record("INV-LONG-NAME").warnings == [
        "text_truncated: document.buyer.name has 280 characters; Fakturownia takes at most 255 in "
        "invoice.buyer_name: cut to 255"]
    assert shop.record("INV-UNICODE").status == Status.EXPORTED
    [unicode_invoice] = shop.provider_documents("INV-UNICODE")
    assert unicode_invoice["buyer_name"] == "Gżegżółka & Syn Sp. z o.o. – Ørsted Øst"
    assert unicode_invoice["positions"][0]["name"] == "Zażółć gęślą jaźń – 株式会社 Ünïcødé"
    [emoji_invoice] = shop.provider_documents("INV-EMOJI")
    assert emoji_invoice["description"] == "Dziękujemy za zakupy"
    [emoji_event] = [e for e in events if e["document_id"] == "INV-EMOJI"]
    assert emoji_event["outcome"] == "exported" and emoji_event["warnings"] == [
        "text_replaced: document.notes carries 1 emoji, which Fakturownia refuses in invoice.description: removed"]
    for document_id in ("KOR-OF-NOTHING", "KOR-2026-11-0001", "INV-HUGE"):
        assert failed_event(events, document_id)["error"]["code"] == error_of(shop, document_id).code
    assert shop.record("PAR-2026-11-0001").status == Status.EXPORTED  # the group was never blocked
    assert shop.stack.dlq_messages("ExportQueue") == []

    # Nothing was lost: the early correction goes through once retried after its original.
    retry_document(shop.runtime, shop.account_id, "KOR-2026-11-0001")
    run(shop)
    assert shop.record("KOR-2026-11-0001").status == Status.EXPORTED
    [correction] = shop.provider_documents("KOR-2026-11-0001")
    assert str(correction["invoice_id"]) == shop.record("INV-2026-11-0001").provider_document_id


def test_a_broken_resend_of_an_exported_document_keeps_its_provider_mapping(shop) -> None:
    shop.send(shop.message(INVOICE))
    run(shop)
    exported = shop.record("INV-2026-11-0001")
    broken = shop.message(INVOICE, version=2)
    broken["document"]["totals"]["gross"] = "1.00"
    shop.send(broken)
    events = run(shop)
    record = shop.record("INV-2026-11-0001")
    assert (record.status, record.provider_document_id, record.provider_number) == (
        Status.EXPORTED, exported.provider_document_id, exported.provider_number)
    assert record.document == exported.document and record.pdf == exported.pdf
    # The broken message is still kept, with its reason, and announced for this document.
    [event] = [e for e in events if e["document_id"] == "INV-2026-11-0001"]
    assert event["outcome"] == "failed" and event["error"]["code"] == "invalid_message"
    kept = [r for r in shop.runtime.documents.list_by_status(shop.account_id, Status.FAILED)
            if r.raw_message and json.loads(r.raw_message)["document"]["version"] == 2]
    assert len(kept) == 1 and "gross 1.00 but the lines give 130.47" in kept[0].last_error.message


def test_a_broken_resend_of_a_pending_document_keeps_the_valid_version(shop) -> None:
    shop.connect(export_mode="bulk")
    shop.send(shop.message(INVOICE))
    broken = shop.message(INVOICE, version=2)
    del broken["document"]["buyer"]
    shop.send(broken)
    run(shop)
    record = shop.record("INV-2026-11-0001")
    assert record.status == Status.PENDING and record.document_version == 1 and record.document


def test_a_rejection_is_never_logged_under_the_previous_documents_ids(shop) -> None:
    # Regression: the logger kept the previous record's account_id/document_id, so an unreadable
    # message later in the same batch was logged as if it were that document.
    shop.send(shop.message(INVOICE))
    shop.send("{not json")
    with captured_log_lines() as log:
        run(shop)
    lines = log.parsed()
    [rejected] = [line for line in lines if line["message"] == "message rejected"]
    assert "document_id" not in rejected and "account_id" not in rejected
    assert any(line.get("document_id") == "INV-2026-11-0001" for line in lines)  # the keys are used otherwise
