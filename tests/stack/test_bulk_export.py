"""Bulk export end to end: dry run, a run, a resumed run, a repeated run, the nightly function."""

from __future__ import annotations

import math
from datetime import date

import pytest

from invoice_export.domain.records import Status
from invoice_export.services import bulk_export
from invoice_export.services.bulk_export import BulkExportRefused
from invoice_export.storage.bulk_runs import BulkFilters, RunDocument, RunStatus

INVOICES = ["01-invoice-company.json", "03-invoice-exempt-person.json", "04-invoice-eur.json"]
IDS = ["INV-2026-11-0001", "INV-2026-11-0002", "INV-2026-11-0003"]


def no_deadline() -> float:
    return math.inf


@pytest.fixture
def bulk_shop(shop):
    """A bulk-mode account with three invoices issued and held as pending."""
    shop.connect(export_mode="bulk")
    for name in INVOICES:
        shop.send(shop.message(name))
    shop.run()
    assert [shop.record(i).status for i in IDS] == [Status.PENDING] * 3
    return shop


def creates(shop) -> int:
    return len([r for r in shop.fake.requests.entries("POST", "/invoices.json") if r.key == shop.account_id])


def test_dry_run_reports_each_problem_with_its_fix_and_the_exact_request_and_sends_nothing(bulk_shop):
    shop = bulk_shop
    shop.send(shop.message("06-series-not-linked.json"))  # series FV-B2B has no link
    shop.send(shop.message("01-invoice-company.json", document_id="INV-BAD-NIP", buyer={
        **shop.message("01-invoice-company.json")["document"]["buyer"], "tax_id": "5260250275"}))
    shop.run()

    report = shop.runtime.bulk_exporter.dry_run(shop.account_id, BulkFilters())

    checks = {check.document_id: check for check in report.documents}
    assert set(checks) == {*IDS, "INV-2026-11-0004", "INV-BAD-NIP"}
    assert (report.checked, report.ready, report.with_problems) == (5, 3, 2)
    [series] = checks["INV-2026-11-0004"].problems
    assert series.code == "series_not_linked" and "FV-B2B" in series.message and "link series" in series.fix
    [nip] = checks["INV-BAD-NIP"].problems
    assert nip.code == "bad_tax_id" and "check digit" in nip.message and "buyer.tax_id" in nip.fix
    invoice = checks["INV-2026-11-0001"].request["invoice"]
    assert invoice["oid"] == "INV-2026-11-0001" and invoice["department_id"] == shop.department
    assert invoice["payment_type"] == "transfer"
    assert creates(shop) == 0
    assert all(shop.record(i).status == Status.PENDING for i in IDS)


def test_dry_run_pages_with_a_cursor(bulk_shop):
    exporter = bulk_shop.runtime.bulk_exporter
    first = exporter.dry_run(bulk_shop.account_id, BulkFilters(), limit=2)
    assert first.checked == 2 and first.next_cursor
    rest = exporter.dry_run(bulk_shop.account_id, BulkFilters(), limit=2, cursor=first.next_cursor)
    assert {c.document_id for c in first.documents + rest.documents} == set(IDS)


def test_bulk_run_exports_every_pending_document_once_and_summarises(bulk_shop):
    shop = bulk_shop
    exporter = shop.runtime.bulk_exporter
    run = exporter.start(shop.account_id, BulkFilters(), requested_by="test")
    run = exporter.resume(shop.account_id, run.run_id, no_deadline)
    assert (run.status, run.queued, run.skipped) == (RunStatus.QUEUED, 3, 0)
    assert not exporter.summary(shop.account_id, run.run_id).settled  # queued, not exported yet

    shop.run()

    summary = exporter.summary(shop.account_id, run.run_id)
    assert summary.settled
    assert sorted(o.document_id for o in summary.exported) == IDS
    assert all(o.provider_number for o in summary.exported)
    assert summary.failed == summary.in_doubt == summary.waiting == []
    for document_id in IDS:
        assert len(shop.provider_documents(document_id)) == 1
        assert shop.outcomes_once(document_id)[-1] == "exported"


def test_interrupted_run_resumes_where_it_stopped_and_a_repeated_run_creates_nothing_twice(bulk_shop, monkeypatch):
    shop = bulk_shop
    exporter = shop.runtime.bulk_exporter
    monkeypatch.setattr(bulk_export, "PAGE_SIZE", 2)
    pages_allowed = iter([100.0, 0.0])  # time for one page, then the Lambda is out of time
    run = exporter.start(shop.account_id, BulkFilters(), requested_by="test")
    run = exporter.resume(shop.account_id, run.run_id, lambda: next(pages_allowed))
    assert (run.status, run.queued) == (RunStatus.RUNNING, 2) and run.cursor

    # A crash after sending the next batch but before noting it: the resumed run sends it again.
    record_documents = exporter.runs.record_documents

    def crash_once(*args, **kwargs):
        monkeypatch.setattr(exporter.runs, "record_documents", record_documents)
        raise ConnectionError("Lambda stopped here")

    monkeypatch.setattr(exporter.runs, "record_documents", crash_once)
    with pytest.raises(ConnectionError):
        exporter.resume(shop.account_id, run.run_id, no_deadline)
    run = exporter.resume(shop.account_id, run.run_id, no_deadline)
    assert (run.status, run.queued) == (RunStatus.QUEUED, 3)  # each document counted once

    shop.run()
    again = exporter.start(shop.account_id, BulkFilters(include_failed=True), requested_by="test")
    again = exporter.resume(shop.account_id, again.run_id, no_deadline)
    assert again.queued == 0  # nothing pending or failed any more
    shop.run()

    assert creates(shop) == 3
    for document_id in IDS:
        assert len(shop.provider_documents(document_id)) == 1
        assert shop.record(document_id).status == Status.EXPORTED


def test_a_queued_batch_is_noted_and_counted_in_one_write_and_each_document_only_once(bulk_shop, monkeypatch):
    shop = bulk_shop
    runs = shop.runtime.bulk_exporter.runs
    run = shop.runtime.bulk_exporter.start(shop.account_id, BulkFilters(), requested_by="test")
    queued = [RunDocument(document_id=f"D{i}", document_version=1, outcome="queued") for i in range(3)]
    transactions = []
    write = runs.table.meta.client.transact_write_items
    monkeypatch.setattr(runs.table.meta.client, "transact_write_items",
                        lambda **kwargs: transactions.append(kwargs) or write(**kwargs))

    assert runs.record_documents(shop.account_id, run.run_id, queued[:2]) == queued[:2]
    assert len(transactions) == 1
    # The batch again with one more (another invocation of the run noted two of them): only the new one counts.
    assert runs.record_documents(shop.account_id, run.run_id, queued) == queued[2:]
    assert runs.record_documents(shop.account_id, run.run_id, queued[:1]) == []
    assert runs.record_document(shop.account_id, run.run_id, RunDocument(
        document_id="D9", outcome="skipped", reason="unreadable"))

    stored = runs.get(shop.account_id, run.run_id)
    assert (stored.queued, stored.skipped, stored.held) == (3, 1, 0)
    assert runs.handled(shop.account_id, run.run_id, ["D0", "D1", "D2", "D9", "D8"]) == {"D0", "D1", "D2", "D9"}


def test_a_bulk_run_writes_one_audit_entry_per_queued_document(bulk_shop):
    shop = bulk_shop
    exporter = shop.runtime.bulk_exporter
    run = exporter.start(shop.account_id, BulkFilters(), requested_by="test")
    exporter.resume(shop.account_id, run.run_id, no_deadline)
    for document_id in IDS:
        queued = [e for e in shop.runtime.audit.entries(shop.account_id, document_id) if e.action == "queued"]
        assert [(e.actor, e.trigger) for e in queued] == [(f"bulk run {run.run_id} requested by test", "bulk")]


def test_filters_select_by_series_date_and_failed(bulk_shop):
    shop = bulk_shop
    exporter = shop.runtime.bulk_exporter
    shop.send(shop.message("06-series-not-linked.json"))
    shop.run()
    by_series = exporter.dry_run(shop.account_id, BulkFilters(series=["FV-EXPORT"]))
    assert [c.document_id for c in by_series.documents] == ["INV-2026-11-0003"]
    outside = exporter.dry_run(shop.account_id, BulkFilters(date_from=date(2026, 11, 21)))
    assert outside.documents == []

    run = exporter.start(shop.account_id, BulkFilters(series=["FV-B2B"]), requested_by="test")
    exporter.resume(shop.account_id, run.run_id, no_deadline)
    shop.run()
    summary = exporter.summary(shop.account_id, run.run_id)
    [failed] = summary.failed
    assert failed.document_id == "INV-2026-11-0004" and failed.error.code == "series_not_linked"
    assert "link series" in failed.error.fix

    only_failed = exporter.dry_run(shop.account_id, BulkFilters(only_failed=True))
    assert [c.document_id for c in only_failed.documents] == ["INV-2026-11-0004"]


def test_paused_account_refuses_a_run_with_what_to_do(bulk_shop):
    bulk_shop.connect(export_mode="bulk", status="needs_reconnect")
    with pytest.raises(BulkExportRefused, match="reconnect"):
        bulk_shop.runtime.bulk_exporter.start(bulk_shop.account_id, BulkFilters(), requested_by="test")


def test_nightly_function_exports_bulk_accounts_once_per_night(bulk_shop):
    shop = bulk_shop
    function = shop.stack.function("BulkExportFunction")
    first = function.invoke({"trigger": "nightly", "night": "2026-11-21"})
    assert not first.failed, first.error
    mine = [r for r in first.response["runs"] if r["account_id"] == shop.account_id]
    assert mine == [{"account_id": shop.account_id, "run_id": "20261121-nightly", "status": "queued",
                     "queued": 3, "skipped": 0, "held": 0}]
    retried = function.invoke({"trigger": "nightly", "night": "2026-11-21"})  # the scheduler's retry
    assert [r for r in retried.response["runs"] if r["account_id"] == shop.account_id][0]["queued"] == 3
    shop.run()
    assert creates(shop) == 3
    bad = function.invoke({"trigger": "weekly"})
    assert bad.failed


def test_nightly_function_finishes_any_accounts_unfinished_run(bulk_shop, monkeypatch):
    shop = bulk_shop
    exporter = shop.runtime.bulk_exporter
    monkeypatch.setattr(bulk_export, "PAGE_SIZE", 2)
    pages_allowed = iter([100.0, 0.0])
    run = exporter.start(shop.account_id, BulkFilters(), requested_by="test")
    exporter.resume(shop.account_id, run.run_id, lambda: next(pages_allowed))
    shop.connect(export_mode="automatic")  # e.g. the run that queued a reconnected account's documents
    answer = shop.stack.function("BulkExportFunction").invoke({"trigger": "nightly", "night": "2026-11-22"})
    mine = [r for r in answer.response["runs"] if r["account_id"] == shop.account_id]
    assert mine == [{"account_id": shop.account_id, "run_id": run.run_id, "status": "queued", "queued": 3,
                     "skipped": 0, "held": 0}]
    shop.run()
    assert creates(shop) == 3
