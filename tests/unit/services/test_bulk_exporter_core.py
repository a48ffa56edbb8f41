"""BulkExporter's rules, proven in memory: every selected document queued once, a run resumed where it
stopped (out of time, or the queue refusing part of a batch), the provider's quota, paused accounts.

A run only queues; the queued messages are then exported here by the export service over the same
in-memory stores, so the run's summary is read from what really became of each document. The local
stack proves the same end to end (tests/stack/test_bulk_export.py, test_bulk_quota.py)."""

from __future__ import annotations

import json
import math
import time
from datetime import date

import pytest

from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.provider_contract import ProviderQuota
from invoice_export.domain.records import RecordedError, Status
from invoice_export.services import bulk_export
from invoice_export.services.bulk_export import BulkExporter, BulkExportRefused
from invoice_export.storage.bulk_runs import BulkFilters, RunStatus
from memory_core import ACCOUNT, Core
from memory_stores import MemoryBulkRunStore, RecordingQueue
from scripted_provider import ScriptedProvider
from testsupport import load_example

IDS = [f"INV-2026-11-{n:04d}" for n in range(1, 6)]


@pytest.fixture
def core() -> Core:
    """A bulk-mode account with five invoices issued, each held as pending."""
    core = Core(ScriptedProvider())
    core.connect(export_mode="bulk")
    for number, document_id in enumerate(IDS, start=1):
        core.service.export(invoice(document_id, day=number))
    assert [core.status(d) for d in IDS] == [Status.PENDING] * 5
    return core


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def exporter(core, queue) -> BulkExporter:
    return BulkExporter(accounts=core.accounts, documents=core.documents, runs=MemoryBulkRunStore(), sqs=queue,
                        queue_url="export-queue", adapter_factory=core.provider.adapter_factory)


def invoice(document_id: str, *, day: int = 1, trigger: Trigger = Trigger.ISSUED) -> ExportMessage:
    body = load_example("01-invoice-company.json")
    body.update(account_id=ACCOUNT, trigger=trigger.value)
    body["document"].update(document_id=document_id, number=document_id, issue_date=f"2026-11-{day:02d}")
    return ExportMessage.model_validate(body)


def queued_ids(queue: RecordingQueue) -> list[str]:
    return [json.loads(m["MessageBody"])["document"]["document_id"] for m in queue.messages]


def deliver(core: Core, queue: RecordingQueue) -> None:
    """The export function takes every queued message, in order."""
    for entry in queue.messages:
        core.service.export(ExportMessage.model_validate_json(entry["MessageBody"]))


def no_deadline() -> float:
    return math.inf


def test_a_run_queues_every_pending_document_once_and_its_summary_says_what_became_of_each(core, queue,
                                                                                          exporter) -> None:
    run = exporter.start(ACCOUNT, BulkFilters(), requested_by="operator")
    finished = exporter.resume(ACCOUNT, run.run_id, no_deadline)
    assert (finished.status, finished.queued, finished.skipped, finished.held) == (RunStatus.QUEUED, 5, 0, 0)
    assert sorted(queued_ids(queue)) == IDS
    assert {m["MessageGroupId"] for m in queue.messages} == {ACCOUNT}  # one group: the account's order
    assert all(json.loads(m["MessageBody"])["trigger"] == "bulk" for m in queue.messages)
    assert not exporter.summary(ACCOUNT, run.run_id).settled  # queued, not exported yet

    deliver(core, queue)
    summary = exporter.summary(ACCOUNT, run.run_id)
    assert summary.settled and sorted(d.document_id for d in summary.exported) == IDS
    assert core.provider.creates() == 5
    # Resumed or started again, a finished run queues nothing more.
    assert exporter.resume(ACCOUNT, run.run_id, no_deadline).queued == 5
    assert exporter.start(ACCOUNT, BulkFilters(), requested_by="schedule", run_id=run.run_id).run_id == run.run_id
    assert len(queue.messages) == 5


def test_a_run_out_of_time_goes_on_where_it_stopped_and_queues_nothing_twice(core, queue, exporter,
                                                                            monkeypatch) -> None:
    monkeypatch.setattr(bulk_export, "PAGE_SIZE", 2)
    pages = iter([100.0, 0.0])  # time for one page, then none
    run = exporter.start(ACCOUNT, BulkFilters(), requested_by="operator")
    stopped = exporter.resume(ACCOUNT, run.run_id, lambda: next(pages, 0.0))
    assert (stopped.status, stopped.queued) == (RunStatus.RUNNING, 2) and stopped.cursor
    assert exporter.resume(ACCOUNT, run.run_id, no_deadline).status == RunStatus.QUEUED
    assert sorted(queued_ids(queue)) == IDS  # each once
    deliver(core, queue)
    assert exporter.summary(ACCOUNT, run.run_id).settled and core.provider.creates() == 5


def test_a_batch_the_queue_refused_in_part_is_finished_by_the_resumed_run(core, queue, exporter) -> None:
    queue.refuse_after = 3
    run = exporter.start(ACCOUNT, BulkFilters(), requested_by="operator")
    with pytest.raises(bulk_export.TransientError) as raised:
        exporter.resume(ACCOUNT, run.run_id, no_deadline)
    assert raised.value.code == "queue_unavailable"
    assert exporter.get_run(ACCOUNT, run.run_id).queued == 3  # what went on the queue is recorded
    queue.refuse_after = None
    finished = exporter.resume(ACCOUNT, run.run_id, no_deadline)
    assert (finished.status, finished.queued) == (RunStatus.QUEUED, 5)
    assert sorted(queued_ids(queue)) == IDS


def test_a_queued_document_delivered_twice_is_still_created_once(core, queue, exporter) -> None:
    run = exporter.start(ACCOUNT, BulkFilters(), requested_by="operator")
    exporter.resume(ACCOUNT, run.run_id, no_deadline)
    second = exporter.start(ACCOUNT, BulkFilters(only_failed=False, include_failed=True), requested_by="operator")
    deliver(core, queue)
    exporter.resume(ACCOUNT, second.run_id, no_deadline)  # the documents are exported now: nothing selected
    deliver(core, queue)  # the first run's messages again (an SQS redelivery)
    assert core.provider.creates() == 5 and len(queue.messages) == 5


def test_the_providers_quota_lets_the_oldest_documents_go_and_holds_the_rest_pending(core, queue,
                                                                                    exporter) -> None:
    core.provider.quota = ProviderQuota(used=98, granted=100)
    run = exporter.start(ACCOUNT, BulkFilters(), requested_by="operator")
    finished = exporter.resume(ACCOUNT, run.run_id, no_deadline)
    assert (finished.queued, finished.held, finished.quota.allowance) == (2, 3, 2)
    assert queued_ids(queue) == IDS[:2]  # oldest change first
    summary = exporter.summary(ACCOUNT, run.run_id)
    assert sorted(d.document_id for d in summary.held) == IDS[2:]
    assert all("quota" in d.reason for d in summary.held)
    assert [core.status(d) for d in IDS[2:]] == [Status.PENDING] * 3


def test_filters_select_by_series_date_and_status(core, queue, exporter) -> None:
    core.documents.mark_failed(ACCOUNT, IDS[0], RecordedError(code="rejected", message="a reason", at="now"))
    dated = BulkFilters(date_from=date(2026, 11, 2), date_to=date(2026, 11, 3))
    run = exporter.start(ACCOUNT, dated, requested_by="operator")
    exporter.resume(ACCOUNT, run.run_id, no_deadline)
    assert queued_ids(queue) == IDS[1:3]
    failed_only = exporter.start(ACCOUNT, BulkFilters(only_failed=True), requested_by="operator")
    exporter.resume(ACCOUNT, failed_only.run_id, no_deadline)
    assert queued_ids(queue)[2:] == [IDS[0]]
    other_series = exporter.start(ACCOUNT, BulkFilters(series=["PAR"]), requested_by="operator")
    assert exporter.resume(ACCOUNT, other_series.run_id, no_deadline).queued == 0


def test_a_paused_account_refuses_a_run_with_what_to_do(core, exporter) -> None:
    core.accounts.pause(ACCOUNT)
    with pytest.raises(BulkExportRefused, match="reconnect"):
        exporter.start(ACCOUNT, BulkFilters(), requested_by="operator")


def test_the_nightly_run_starts_once_per_night_and_finishes_an_unfinished_one(core, queue, exporter,
                                                                              monkeypatch) -> None:
    monkeypatch.setattr(bulk_export, "PAGE_SIZE", 2)
    pages = iter([100.0, 100.0, 0.0])
    [tonight] = exporter.nightly(date(2026, 11, 30), lambda: next(pages, 0.0))
    assert (tonight.run_id, tonight.status, tonight.queued) == ("20261130-nightly", RunStatus.RUNNING, 2)
    [again] = exporter.nightly(date(2026, 11, 30), no_deadline)
    assert (again.run_id, again.status, again.queued) == ("20261130-nightly", RunStatus.QUEUED, 5)
    assert sorted(queued_ids(queue)) == IDS


def test_a_correction_queued_before_its_original_waits_for_it_and_follows_it(core, exporter, queue) -> None:
    body = load_example("05-correction.json")
    body["account_id"] = ACCOUNT
    core.service.export(ExportMessage.model_validate(body))  # pending for a run
    time.sleep(0.002)  # the records' times are in milliseconds
    core.service.export(invoice(IDS[0], day=1).model_copy(update={"document": invoice(IDS[0]).document.model_copy(
        update={"version": 2})}))  # a newer version of its original: changed last, queued last
    correction = body["document"]["document_id"]
    [check] = [d for d in exporter.dry_run(ACCOUNT, BulkFilters()).documents if d.document_id == correction]
    assert any("held until it is exported" in note and "then sent by itself" in note for note in check.notes)
    run = exporter.start(ACCOUNT, BulkFilters(), requested_by="test")
    exporter.resume(ACCOUNT, run.run_id, no_deadline)
    assert queued_ids(queue).index(correction) < queued_ids(queue).index(IDS[0])
    deliver(core, queue)  # the correction is held, its original exported after it
    [follow_up] = core.queue.bodies("export-queue")  # queued by its original's record stream
    assert core.service.export(ExportMessage.model_validate_json(follow_up)).outcome.value == "exported"
    summary = exporter.summary(ACCOUNT, run.run_id)
    assert correction in [d.document_id for d in summary.exported] and summary.settled
    assert core.provider.creates() == 6 and core.outcomes(correction) == ["pending", "pending", "exported"]
