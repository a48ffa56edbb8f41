"""The export path end to end: SQS FIFO -> export handler -> Fakturownia fake -> DynamoDB + events."""

from __future__ import annotations

import json
from decimal import Decimal

from invoice_export.domain.records import Status
from invoice_export.services.operations import resolve_in_doubt, retry_document
from testsupport import load_example

INVOICE = "01-invoice-company.json"


def test_examples_are_exported_once_with_mapping_and_events(shop) -> None:
    names = ["01-invoice-company.json", "02-receipt-person.json", "03-invoice-exempt-person.json",
             "04-invoice-eur.json", "05-correction.json"]
    for name in names:
        shop.send(shop.message(name))
    shop.run()
    for name in names:
        document_id = shop.message(name)["document"]["document_id"]
        record = shop.record(document_id)
        [invoice] = shop.provider_documents(document_id)
        assert record.status == Status.EXPORTED
        assert (record.provider, record.provider_document_id, record.provider_number) == (
            "fakturownia", str(invoice["id"]), invoice["number"])
        assert record.attempts == 1 and record.exported_at
        assert shop.outcomes_once(document_id) == ["exported"]
        event = next(e for e in shop.events if e["document_id"] == document_id)
        assert event["provider_number"] == invoice["number"] and event["customer_link"].startswith("http")
        assert record.pdf is not None and record.pdf.size > 0 and len(record.pdf.sha256) == 64
        if name == "04-invoice-eur.json":
            # Fakturownia does not return its PLN VAT: ours is recorded and published, marked unchecked.
            expected = {"23": "409.11", "total": "409.11", "exchange_rate": "4.2351", "table_id": "224/A/NBP/2026",
                        "checked": "no"}
            assert record.vat_in_pln == expected and event["vat_in_pln"] == expected
        else:
            assert record.vat_in_pln is None and "vat_in_pln" not in event
    correction = shop.provider_documents("KOR-2026-11-0001")[0]
    assert str(correction["invoice_id"]) == shop.record("INV-2026-11-0001").provider_document_id


def test_duplicate_deliveries_create_one_provider_document_and_each_gets_its_outcome(shop) -> None:
    message = shop.message(INVOICE)
    for copy in ("first", "second", "third"):  # producer retries that SQS de-duplication does not catch
        shop.send(message, dedup_id=copy)
    shop.run()
    [invoice] = shop.provider_documents("INV-2026-11-0001")
    # The copies found the record exported: nothing sent again, and an event each (issue 20). The export's
    # own event comes from the record's stream, so the answers may arrive before it.
    assert sorted(shop.outcomes("INV-2026-11-0001")) == ["already_exported", "already_exported", "exported"]
    copies = [e for e in shop.events if e["document_id"] == "INV-2026-11-0001"]
    assert {e["provider_number"] for e in copies} == {invoice["number"]}
    assert all(e["customer_link"].startswith("http") for e in copies)
    shop.send(message, dedup_id="fourth")  # a later copy still gets its own
    shop.run()
    assert sorted(shop.outcomes("INV-2026-11-0001")) == ["already_exported"] * 3 + ["exported"]
    assert len(shop.provider_documents("INV-2026-11-0001")) == 1


def test_resend_of_an_exported_document_changes_nothing_and_is_reported(shop) -> None:
    shop.send(shop.message(INVOICE))
    shop.run()
    shop.send(shop.message(INVOICE, version=2))
    shop.run()
    assert len(shop.provider_documents("INV-2026-11-0001")) == 1
    assert shop.outcomes("INV-2026-11-0001") == ["exported", "already_exported"]
    assert shop.record("INV-2026-11-0001").document_version == 1


def test_timeout_after_the_provider_created_the_document_gives_one_document(shop) -> None:
    # The fake stores the invoice, then stalls past our 1 s read timeout: the answer is lost.
    shop.fake.faults.stall_after_commit(3.5, method="POST", path="/invoices.json")
    shop.send(shop.message(INVOICE))
    shop.run()
    [invoice] = shop.provider_documents("INV-2026-11-0001")
    record = shop.record("INV-2026-11-0001")
    assert record.status == Status.EXPORTED and record.provider_document_id == str(invoice["id"])
    assert shop.outcomes_once("INV-2026-11-0001") == ["exported"]
    # The retry found the document by our id instead of creating it again.
    posts = [r for r in shop.fake.requests.entries("POST", "/invoices.json") if r.key == shop.account_id]
    assert len(posts) == 1
    assert any(r.query.get("oid") == "INV-2026-11-0001" for r in shop.fake.requests.entries("GET", "/invoices.json"))


def test_transient_provider_errors_are_retried_until_exported(shop) -> None:
    shop.fake.faults.status(503, method="POST", path="/invoices.json")
    shop.fake.faults.rate_limited(retry_after=1, method="POST", path="/invoices.json")
    shop.send(shop.message(INVOICE))
    shop.run()
    assert shop.record("INV-2026-11-0001").status == Status.EXPORTED
    assert len(shop.provider_documents()) == 1
    assert shop.outcomes_once("INV-2026-11-0001") == ["exported"]


def test_lasting_outage_ends_in_the_dlq_with_a_failed_event(shop) -> None:
    shop.fake.faults.status(503, method="POST", path="/invoices.json", times=20)
    shop.send(shop.message(INVOICE))
    shop.run(timeout=90)
    record = shop.record("INV-2026-11-0001")
    assert record.status == Status.FAILED and record.last_error.retryable
    assert record.last_error.code == "provider_unavailable"
    [event] = [e for e in shop.events if e["document_id"] == "INV-2026-11-0001"]
    assert event["outcome"] == "failed" and event["error"]["retryable"] is True
    in_dlq = [m for m in shop.stack.dlq_messages("ExportQueue")
              if json.loads(m["Body"])["account_id"] == shop.account_id]
    assert len(in_dlq) == 1
    shop.fake.faults.clear()


def test_bad_messages_are_kept_with_a_clear_error_and_do_not_block_the_account(shop) -> None:
    shop.send("{not json")
    broken = shop.message(INVOICE, document_id="INV-BROKEN")
    broken["document"]["totals"]["gross"] = "999.99"
    shop.send(broken)
    shop.send(shop.message("02-receipt-person.json"))  # after the bad ones, same account group
    shop.run()
    record = shop.record("INV-BROKEN")
    assert record.status == Status.FAILED and record.last_error.code == "invalid_message"
    assert "totals do not match the lines" in record.last_error.message
    assert "gross 999.99 but the lines give 130.47" in record.last_error.message
    assert json.loads(record.raw_message)["document"]["document_id"] == "INV-BROKEN"
    kept = [r for r in shop.runtime.documents.list_by_status("unidentified", Status.FAILED)
            if r.raw_message == "{not json"]
    assert kept and "the body is not JSON" in kept[0].last_error.message
    assert sum(e.get("error", {}).get("code") == "invalid_message" for e in shop.events) == 1  # INV-BROKEN's
    assert shop.record("PAR-2026-11-0001").status == Status.EXPORTED  # the account's queue was not blocked
    mine = [m for m in shop.stack.dlq_messages("ExportQueue") if shop.account_id in m["Body"]]
    assert mine == []  # kept as failed records, not dead-lettered


def test_unknown_account_is_recorded_and_retried_after_connecting(shop) -> None:
    message = shop.message(INVOICE)
    message["account_id"] = shop.account_id + "-new"
    shop.stack.send("ExportQueue", json.dumps(message), group_id=message["account_id"], dedup_id="x1")
    shop.run()
    record = shop.runtime.documents.get(message["account_id"], "INV-2026-11-0001")
    assert record.status == Status.FAILED and record.last_error.code == "unknown_account"
    assert "connect the account" in record.last_error.fix


def test_missing_series_link_fails_then_retry_after_the_fix_exports(shop) -> None:
    shop.send(shop.message("06-series-not-linked.json"))
    shop.run()
    record = shop.record("INV-2026-11-0004")
    assert record.status == Status.FAILED and record.last_error.code == "series_not_linked"
    assert shop.provider_documents() == []
    shop.connect(series_links={"FV": str(shop.department), "FV-B2B": None})  # the merchant links it
    retry_document(shop.runtime, shop.account_id, "INV-2026-11-0004")
    shop.run()
    assert shop.record("INV-2026-11-0004").status == Status.EXPORTED
    assert shop.outcomes_once("INV-2026-11-0004") == ["failed", "exported"]


def test_provider_rejection_is_recorded_with_the_providers_words(shop) -> None:
    message = shop.message(INVOICE)
    message["document"]["buyer"]["tax_id"] = "987-65-43"  # not a NIP: refused under KSeF
    shop.send(message)
    shop.run()
    error = shop.record("INV-2026-11-0001").last_error
    assert error.code == "provider_rejected"
    assert "Fakturownia rejected buyer_tax_no" in error.message and "document.buyer.tax_id" in error.fix


def test_correction_before_its_original_is_refused_clearly(shop) -> None:
    shop.send(shop.message("05-correction.json"))
    shop.run()
    error = shop.record("KOR-2026-11-0001").last_error
    assert error.code == "original_not_exported"
    assert "export document INV-2026-11-0001 first" in error.fix


def test_bulk_mode_records_pending_and_a_resend_replaces_the_version(shop) -> None:
    shop.connect(export_mode="bulk")
    shop.send(shop.message(INVOICE))
    shop.send(shop.message(INVOICE, version=2, notes="poprawiony adres"))
    shop.run()
    record = shop.record("INV-2026-11-0001")
    assert record.status == Status.PENDING and record.document_version == 2
    assert "poprawiony adres" in record.document
    assert shop.outcomes("INV-2026-11-0001") == ["pending", "pending"]
    assert shop.provider_documents() == []


def test_our_numbering_and_provider_numbering(shop) -> None:
    shop.connect(numbering="ours")
    shop.send(shop.message(INVOICE))
    shop.run()
    assert shop.record("INV-2026-11-0001").provider_number == "FV 1/11/2026"
    shop.connect(numbering="provider")
    shop.send(shop.message("03-invoice-exempt-person.json"))
    shop.run()
    assert shop.record("INV-2026-11-0002").provider_number != "FV 2/11/2026"


def test_undecidable_look_up_holds_the_document_in_doubt_until_resolved(shop) -> None:
    # The create's answer is lost, and every look-up fails until the last delivery: nobody can say
    # whether the provider has the document, so it is held, never sent a second time.
    shop.fake.faults.stall_after_commit(3.5, method="POST", path="/invoices.json")
    shop.fake.faults.status(503, method="GET", path="/invoices.json", times=20)
    shop.send(shop.message(INVOICE))
    shop.run(timeout=90)
    shop.fake.faults.clear()
    record = shop.record("INV-2026-11-0001")
    assert record.status == Status.IN_DOUBT
    assert shop.outcomes("INV-2026-11-0001") == ["in_doubt"]
    [invoice] = shop.provider_documents("INV-2026-11-0001")
    # The operator checks Fakturownia and attaches the document found there.
    resolve_in_doubt(shop.runtime, shop.account_id, "INV-2026-11-0001",
                     provider_document_id=str(invoice["id"]), provider_number=invoice["number"])
    record = shop.record("INV-2026-11-0001")
    assert (record.status, record.provider_document_id) == (Status.EXPORTED, str(invoice["id"]))
    shop.run()
    assert shop.record("INV-2026-11-0001").pdf is not None  # its PDF is fetched after resolving


def test_a_record_changed_during_the_create_is_never_acknowledged_as_exported(shop, monkeypatch) -> None:
    # While the create is in flight, something else settles the record (here: held in doubt, as the
    # DLQ check does for a stale attempt). The export must not report `exported` over it and ack the
    # message: it is retried, finds the record in doubt and says so; the provider has one document.
    from invoice_export.domain.clock import now_iso
    from invoice_export.domain.records import RecordedError
    from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter

    create = FakturowniaAdapter.create_document

    def create_then_someone_settles(adapter, plan):
        created = create(adapter, plan)
        shop.runtime.documents.mark_in_doubt(shop.account_id, plan.document.document_id, RecordedError(
            code="dead_lettered", message="held by the test", at=now_iso()))
        return created

    monkeypatch.setattr(FakturowniaAdapter, "create_document", create_then_someone_settles)
    shop.send(shop.message(INVOICE))
    shop.run()
    assert shop.record("INV-2026-11-0001").status == Status.IN_DOUBT
    # The change to in doubt is announced from the record's stream; the retry that found it in doubt says
    # so again under the same event id.
    assert shop.distinct_outcomes("INV-2026-11-0001") == ["in_doubt"]
    assert len(shop.provider_documents("INV-2026-11-0001")) == 1


def test_totals_the_provider_computed_match_ours(shop) -> None:
    shop.send(shop.message(INVOICE))
    shop.run()
    [invoice] = shop.provider_documents()
    assert Decimal(invoice["price_gross"]) == Decimal("130.47")


def test_provider_totals_are_read_back_and_drift_is_reported(shop, monkeypatch) -> None:
    from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter

    exact = FakturowniaAdapter.build_request

    def without_pinned_strategy(self, plan, product_ids=None):
        body = exact(self, plan, product_ids)
        # As a naive integration would: Fakturownia then derives net from each gross line and
        # rebuilds the gross, which moves a grosz on this document.
        del body["invoice"]["calculating_strategy"]
        return body

    shop.send(shop.message(INVOICE))
    shop.run()
    assert shop.record("INV-2026-11-0001").readback_drift == []  # as we send it: exact
    monkeypatch.setattr(FakturowniaAdapter, "build_request", without_pinned_strategy)
    shop.send(shop.message("03-invoice-exempt-person.json", document_id="INV-DRIFT", price_basis="gross",
                           lines=load_example(INVOICE)["document"]["lines"],
                           totals=load_example(INVOICE)["document"]["totals"]))
    shop.run()
    record = shop.record("INV-DRIFT")
    assert record.status == Status.EXPORTED  # it exists at the provider: reported, never re-sent
    assert record.readback_drift and any(d["field"] == "gross" for d in record.readback_drift)
    [event] = [e for e in shop.events if e["document_id"] == "INV-DRIFT"]
    assert any(w.startswith("Fakturownia shows gross") and "our document 130.47" in w for w in event["warnings"])


def test_a_delivery_finding_a_live_attempts_claim_waits_then_settles_it_by_a_look_up(shop, monkeypatch) -> None:
    # Another delivery of the document has just claimed it and may still be creating it (no idempotency
    # table: the claim on the record is the lock, for the export function's Timeout - 3 s here).
    import time

    from invoice_export.domain.documents import ExportMessage
    from invoice_export.platform.runtime import reset_runtime

    message = shop.message(INVOICE)
    with monkeypatch.context() as patch:
        patch.setenv("EXPORT_TIMEOUT_SECONDS", "3")
        reset_runtime()
        shop.runtime.documents.register(ExportMessage.model_validate(message))
        assert shop.runtime.documents.claim(shop.account_id, "INV-2026-11-0001", "a-live-attempt")[0]
        claimed = time.monotonic()
        shop.send(message)
        shop.run()
    reset_runtime()
    requests = [r for r in shop.fake.requests.entries(path=r"/invoices\.json") if r.key == shop.account_id]
    # Nothing was asked or sent while the claim was young; then the look-up found nothing and it was sent.
    assert [r.method for r in requests] == ["GET", "POST"] and requests[0].at - claimed >= 3
    record = shop.record("INV-2026-11-0001")
    assert (record.status, record.attempts) == (Status.EXPORTED, 2)
    assert len(shop.provider_documents("INV-2026-11-0001")) == 1
    assert shop.outcomes("INV-2026-11-0001") == ["exported"]
