"""What a FIFO account group does around a failure: order kept, and nothing dead-lettered unrecorded."""

from __future__ import annotations

import json

from stack_guards import sqs_as_in_aws  # noqa: F401  (autouse)

from invoice_export.domain.records import Status
from invoice_export.platform.runtime import reset_runtime

INVOICE = "01-invoice-company.json"


def test_documents_behind_a_failure_are_exported_in_their_order(shop) -> None:
    # The first create fails once; the two behind it are skipped and come back by their visibility
    # timeout. (moto handed out the last one first; see reliability.faults.sqs_like_aws.)
    shop.fake.faults.status(503, method="POST", path=r"/invoices\.json")
    for document_id in ("INV-A", "INV-B", "INV-C"):
        shop.send(shop.message(INVOICE, document_id=document_id))
    shop.run()
    exported = sorted(shop.provider_documents(), key=lambda invoice: invoice["id"])
    assert [invoice["oid"] for invoice in exported] == ["INV-A", "INV-B", "INV-C"]


def test_a_document_skipped_on_every_delivery_is_recorded_before_the_dlq(shop) -> None:
    # Regression: INV-B sat behind INV-A, which failed on every delivery; INV-B was skipped each
    # time, used up its deliveries untried and went to the DLQ with no record and no event.
    shop.fake.faults.status(503, method="POST", path=r"/invoices\.json", times=50)
    shop.send(shop.message(INVOICE, document_id="INV-A"))
    shop.send(shop.message(INVOICE, document_id="INV-B"))
    shop.run(timeout=90)
    shop.fake.faults.clear()
    a, b = shop.record("INV-A"), shop.record("INV-B")
    assert (a.status, a.last_error.code) == (Status.FAILED, "provider_unavailable")
    assert (b.status, b.last_error.code) == (Status.FAILED, "skipped_behind_failure")
    assert b.last_error.retryable and b.document  # an operator can retry it as stored
    assert shop.outcomes("INV-B") == ["failed"]
    dead = [json.loads(m["Body"])["document"]["document_id"] for m in shop.stack.dlq_messages("ExportQueue")
            if json.loads(m["Body"])["account_id"] == shop.account_id]
    assert sorted(dead) == ["INV-A", "INV-B"]


def test_a_create_never_started_for_lack_of_time_ends_failed_not_in_doubt(shop, monkeypatch) -> None:
    # Regression: the time check came after the claim, so a document never sent stayed `sending`: each
    # delivery looked it up at the provider, and the last one held it in doubt.
    monkeypatch.setenv("LAMBDA_TIME_MARGIN_SECONDS", "100000")  # no invocation ever has the time
    reset_runtime()
    try:
        shop.send(shop.message(INVOICE))
        shop.run(timeout=90)
    finally:
        monkeypatch.delenv("LAMBDA_TIME_MARGIN_SECONDS")
        reset_runtime()
    record = shop.record("INV-2026-11-0001")
    assert (record.status, record.last_error.code, record.last_error.retryable) == (
        Status.FAILED, "invocation_time_low", True)
    assert shop.outcomes("INV-2026-11-0001") == ["failed"]
    mine = [r for r in shop.fake.requests if r.key == shop.account_id]
    assert mine == []  # neither sent nor looked up
