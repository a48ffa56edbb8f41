"""The scheduled export DLQ check: a document whose message was dead-lettered unrecorded (its worker died
during the last delivery) is recorded once, and its message stays in the DLQ for replay."""

from __future__ import annotations

import io
import json

import pytest
from stack_guards import sqs_as_in_aws  # noqa: F401  (autouse)

from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.records import Status
from invoice_export.platform.runtime import reset_runtime
from invoice_export.services.export import ExportService
from invoice_export_cli.main import main

INVOICE = "01-invoice-company.json"


@pytest.fixture(autouse=True)
def empty_dlq(stack):
    """Each test sees only its own dead letters (the module's stack is shared; PurgeQueue: once a minute)."""
    sqs, url = stack.client("sqs"), stack.queue_url("ExportDLQ")
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def check_dlq(shop) -> dict:
    """One run of the function, as its schedule starts it."""
    invocation = shop.stack.function("DeadLetterCheckFunction").invoke({"trigger": "dead_letter_check"})
    assert invocation.error is None, invocation.error
    return invocation.response


def dead_letters(shop) -> list[str]:
    return sorted(json.loads(m["Body"])["document"]["document_id"] for m in shop.stack.dlq_messages("ExportQueue"))


def die_on_last_delivery(*_args, **_kwargs) -> None:
    raise RuntimeError("the worker died during the last delivery")  # nothing after it runs: no record


def test_documents_dead_lettered_by_a_dead_worker_are_recorded_and_replayable(shop, monkeypatch) -> None:
    # INV-A fails on every delivery and INV-B is skipped behind it; the worker dies where the last
    # delivery would record them, so both reach the DLQ still pending / never recorded.
    shop.fake.faults.status(503, method="POST", path=r"/invoices\.json", times=50)
    with monkeypatch.context() as patch:
        patch.setattr(ExportService, "give_up", die_on_last_delivery)
        shop.send(shop.message(INVOICE, document_id="INV-A"))
        shop.send(shop.message(INVOICE, document_id="INV-B"))
        shop.run(timeout=90)
    shop.fake.faults.clear()
    assert dead_letters(shop) == ["INV-A", "INV-B"]
    assert shop.record("INV-A").status == Status.PENDING
    # INV-B never reached the provider; handled in turn beside INV-A, it may have been registered (pending)
    # before its provider call was refused behind INV-A's failure, but never claimed.
    skipped = shop.runtime.documents.get(shop.account_id, "INV-B")
    assert skipped is None or skipped.status == Status.PENDING
    assert shop.outcomes("INV-A") == shop.outcomes("INV-B") == []

    assert check_dlq(shop) == {"messages": 2, "recorded": 2, "already_recorded": 0, "left_for_next_check": 0,
                               "stopped_for_time": False}
    shop.run()
    for document_id in ("INV-A", "INV-B"):
        record = shop.record(document_id)
        assert (record.status, record.last_error.code, record.last_error.retryable) == (
            Status.FAILED, "dead_lettered", True)
        assert "dlq replay" in record.last_error.fix
        assert shop.outcomes(document_id) == ["failed"]
        audit = shop.runtime.audit.entries(shop.account_id, document_id)
        assert [(e.action, e.actor, e.error_code) for e in audit] == [("failed", "export DLQ check", "dead_lettered")]
    assert dead_letters(shop) == ["INV-A", "INV-B"]  # still there, for replay

    out = io.StringIO()
    assert main(["dlq", "replay"], out=out, err=io.StringIO()) == 0, out.getvalue()
    assert "replayed 2 message(s)" in out.getvalue()
    shop.run()
    assert [shop.record(d).status for d in ("INV-A", "INV-B")] == [Status.EXPORTED, Status.EXPORTED]
    assert sorted(invoice["oid"] for invoice in shop.provider_documents()) == ["INV-A", "INV-B"]
    assert dead_letters(shop) == []


def test_a_second_check_changes_and_publishes_nothing(shop) -> None:
    shop.stack.send("ExportDLQ", json.dumps(shop.message(INVOICE, document_id="INV-A")), group_id=shop.account_id)
    assert check_dlq(shop)["recorded"] == 1
    shop.run()
    first = shop.record("INV-A")

    assert check_dlq(shop) == {"messages": 1, "recorded": 0, "already_recorded": 1, "left_for_next_check": 0,
                               "stopped_for_time": False}
    shop.run()
    assert shop.record("INV-A") == first
    assert shop.outcomes("INV-A") == ["failed"]
    assert len(shop.runtime.audit.entries(shop.account_id, "INV-A")) == 1


def test_messages_behind_the_first_ones_of_a_group_are_checked_too(shop) -> None:
    # One receive takes 10 messages: A-1 and the 9 of group B. A-2 stays behind A-1, in a group in flight.
    def dead_letter(document_id: str, group: str) -> None:
        shop.stack.send("ExportDLQ", json.dumps(shop.message(INVOICE, document_id=document_id)), group_id=group)

    dead_letter("A-1", "group-a")
    for index in range(1, 10):
        dead_letter(f"B-{index}", "group-b")
    dead_letter("A-2", "group-a")
    assert check_dlq(shop)["recorded"] == 11
    assert shop.record("A-2").last_error.code == "dead_lettered"


def test_an_unreadable_dead_letter_is_rejected_once(shop) -> None:
    message_id = shop.stack.send("ExportDLQ", "{not json", group_id=shop.account_id)
    assert check_dlq(shop)["recorded"] == 1
    assert check_dlq(shop)["already_recorded"] == 1
    record = shop.runtime.documents.get("unidentified", f"message-{message_id}")
    assert (record.status, record.last_error.code) == (Status.FAILED, "invalid_message")
    assert record.raw_message == "{not json"
    shop.stack.run_until_idle()  # its event follows from the record's stream
    events = [e["detail"] for e in shop.stack.outcome_events() if e["detail"]["document_id"] == f"message-{message_id}"]
    assert [e["outcome"] for e in events] == ["failed"]
    assert len(shop.stack.dlq_messages("ExportQueue")) == 1


def test_a_document_left_sending_is_held_in_doubt_once_no_attempt_can_still_be_running(shop, monkeypatch) -> None:
    message = shop.message(INVOICE, document_id="INV-A")
    shop.runtime.documents.register(ExportMessage.model_validate(message))
    assert shop.runtime.documents.claim(shop.account_id, "INV-A", "attempt-killed")[0]
    shop.stack.send("ExportDLQ", json.dumps(message), group_id=shop.account_id)

    # Just claimed: a live attempt (of another message of the document) may still be sending it.
    assert check_dlq(shop)["left_for_next_check"] == 1
    assert shop.record("INV-A").status == Status.SENDING

    with monkeypatch.context() as patch:
        patch.setenv("EXPORT_TIMEOUT_SECONDS", "0")  # any attempt has ended by now
        reset_runtime()
        assert check_dlq(shop)["recorded"] == 1
    reset_runtime()
    shop.run()
    record = shop.record("INV-A")
    assert (record.status, record.last_error.code) == (Status.IN_DOUBT, "dead_lettered")
    assert shop.outcomes("INV-A") == ["in_doubt"]
    assert shop.provider_documents() == []  # nothing was sent, and nothing will be until it is resolved
