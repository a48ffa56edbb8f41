"""What follows from a record's change, end to end: the export function only writes the record; the
outcome event, the PDF fetch, the first KSeF poll and the audit entry come from the documents table's
stream, through the stream emulator (local/streams.py) and the stream function of the template."""

from __future__ import annotations

from botocore.awsrequest import AWSResponse
from stack_guards import sqs_as_in_aws  # noqa: F401  (autouse)

from invoice_export.domain.errors import TransientError
from invoice_export.domain.records import Status
from invoice_export.services.events import OutcomePublisher
from invoice_export.services.record_changes import RecordChangeService

INVOICE = "01-invoice-company.json"


def test_an_export_is_announced_fetched_polled_and_audited_from_the_records_stream(shop) -> None:
    shop.connect(ksef="send_on_export")
    shop.send(shop.message(INVOICE))
    shop.run()
    record = shop.record("INV-2026-11-0001")
    assert record.status == Status.EXPORTED and record.pdf is not None and record.ksef_status == "accepted"
    assert shop.outcomes("INV-2026-11-0001") == ["exported", "ksef_accepted"]
    [exported] = [e for e in shop.events if e["outcome"] == "exported"]
    assert (exported["provider_document_id"], exported["occurred_at"]) == (
        record.provider_document_id, record.exported_at)  # the change's time, not the publish's
    audit = [(e.action, e.actor) for e in shop.runtime.audit.entries(shop.account_id, "INV-2026-11-0001")]
    # The PDF fetch and the KSeF poll run side by side, after the export.
    assert audit[0] == ("sent", "order system")
    assert sorted(audit[1:]) == [("ksef_accepted", "KSeF poller"), ("pdf_stored", "PDF fetch")]
    stream = shop.stack.stream_source("DocumentsTable").stats
    assert stream.invocations > 0 and stream.skipped_batches == 0


def test_an_event_the_bus_refused_is_published_when_the_stream_hands_the_change_over_again(shop, monkeypatch):
    # The document's last delivery records it failed while EventBridge refuses the event for a while.
    shop.fake.faults.status(503, method="POST", path=r"/invoices\.json", times=50)
    publish, refusals = OutcomePublisher.publish, []

    def bus_down_for_a_while(publisher, event):
        if event.outcome.value == "failed" and len(refusals) < 3:
            refusals.append(event.event_id)
            raise TransientError("the outcome event could not be published (InternalFailure)",
                                 code="event_bus_unavailable")
        publish(publisher, event)

    with monkeypatch.context() as patch:
        patch.setattr(OutcomePublisher, "publish", bus_down_for_a_while)
        shop.send(shop.message(INVOICE, document_id="INV-A"))
        shop.run(timeout=90)
    shop.fake.faults.clear()
    record = shop.record("INV-A")
    [event] = [e for e in shop.events if e["document_id"] == "INV-A"]
    assert (record.status, event["outcome"], event["error"]["code"]) == (Status.FAILED, "failed",
                                                                         record.last_error.code)
    assert len(refusals) == 3 and set(refusals) == {event["event_id"]}  # the same event, tried again


def test_a_stream_function_killed_mid_batch_repeats_nothing_a_consumer_would_see_twice(shop, monkeypatch):
    handle, deaths = RecordChangeService.handle, []

    def die_once_after_the_export(service, old, new):
        done = handle(service, old, new)
        if done.outcome == "exported" and not deaths:
            deaths.append(new.document_id)
            raise SystemExit("the stream function's runtime died")  # nothing after it runs
        return done

    with monkeypatch.context() as patch:
        patch.setattr(RecordChangeService, "handle", die_once_after_the_export)
        shop.send(shop.message(INVOICE))
        shop.run()
    assert deaths == ["INV-2026-11-0001"]
    exported = [e for e in shop.events if e["outcome"] == "exported"]
    assert len(exported) == 2 and exported[0]["event_id"] == exported[1]["event_id"]  # handed over again
    assert shop.distinct_outcomes("INV-2026-11-0001") == ["exported"]
    audit = [e.action for e in shop.runtime.audit.entries(shop.account_id, "INV-2026-11-0001")]
    assert audit.count("sent") == 1  # the same audit item, written twice
    assert shop.record("INV-2026-11-0001").pdf is not None


def _refuse_failed_events(patch) -> list[str]:
    """EventBridge refuses every `failed` event while the patch holds; returns their ids."""
    publish, refused = OutcomePublisher.publish, []

    def bus_down(publisher, event):
        if event.outcome.value == "failed":
            refused.append(event.event_id)
            raise TransientError("the outcome event could not be published (InternalFailure)",
                                 code="event_bus_unavailable")
        publish(publisher, event)

    patch.setattr(OutcomePublisher, "publish", bus_down)
    return refused


def _given_up(shop) -> int:
    attributes = shop.stack.client("sqs").get_queue_attributes(
        QueueUrl=shop.stack.queue_url("RecordChangeFailures"), AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _replay(shop) -> dict:
    """One run of the replay, as its schedule starts it."""
    invocation = shop.stack.function("RecordChangesFunction").invoke({"trigger": "replay_record_changes"})
    assert invocation.error is None, invocation.error
    return invocation.response


def test_a_change_given_up_after_the_streams_retries_is_replayed_from_the_stream(shop, monkeypatch) -> None:
    with monkeypatch.context() as patch:
        refused = _refuse_failed_events(patch)
        shop.send(shop.message("06-series-not-linked.json"))  # fails at once, for its settings
        shop.run(timeout=90)
    document = shop.message("06-series-not-linked.json")["document"]["document_id"]
    assert shop.record(document).status == Status.FAILED and shop.outcomes(document) == []
    assert len(refused) == 11 and _given_up(shop) == 1  # tried, retried 10 times, then described

    report = _replay(shop)
    assert (report["batches"], report["replayed"], report["swept"], report["left_for_next_run"]) == (1, 1, 0, 0)
    shop.run()
    [event] = [e for e in shop.events if e["document_id"] == document]
    assert (event["outcome"], event["event_id"]) == ("failed", refused[0])
    assert _given_up(shop) == 0
    assert _replay(shop)["batches"] == 0


def test_a_change_the_stream_no_longer_keeps_is_told_again_from_the_documents_changed_since(shop, monkeypatch):
    with monkeypatch.context() as patch:
        _refuse_failed_events(patch)
        shop.send(shop.message("06-series-not-linked.json"))
        shop.run(timeout=90)
    document = shop.message("06-series-not-linked.json")["document"]["document_id"]
    assert _given_up(shop) == 1

    def trimmed(**_kwargs):  # the batch is older than the stream's 24 hours
        error = {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"},
                 "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}}}
        return AWSResponse(url="", status_code=400, headers={}, raw=None), error

    streams = shop.runtime.client("dynamodbstreams")
    streams.meta.events.register("before-call.dynamodb-streams.GetShardIterator", trimmed)
    try:
        report = _replay(shop)
    finally:
        streams.meta.events.unregister("before-call.dynamodb-streams.GetShardIterator", trimmed)
    assert (report["replayed"], report["swept"]) == (0, 1) and report["changes"] >= 1
    shop.run()
    assert shop.distinct_outcomes(document) == ["failed"]
    assert _given_up(shop) == 0
