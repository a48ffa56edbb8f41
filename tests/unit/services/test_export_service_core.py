"""ExportService's rules, proven in memory (tests/memory_stores.py, tests/scripted_provider.py): exactly
once, in doubt, paused accounts, corrections waiting for their original, the last delivery.

The same service runs end to end through the local stack in tests/stack/ (which proves the wiring:
queues, DynamoDB conditions, the real adapters against their fakes); here each rule takes milliseconds.
"""

from __future__ import annotations

import pytest

from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    CredentialsRejected,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.records import RecordedError, Status
from invoice_export.services.events import Outcome
from memory_core import ACCOUNT, INVOICE, Core
from scripted_provider import LostAnswer, ScriptedProvider, without
from testsupport import load_example

CORRECTION = "KOR-2026-11-0001"


@pytest.fixture
def core() -> Core:
    return Core(ScriptedProvider())


def message(example: str = "01-invoice-company.json", *, trigger: Trigger = Trigger.ISSUED, version: int = 1,
            account_id: str = ACCOUNT) -> ExportMessage:
    body = load_example(example)
    body.update(account_id=account_id, trigger=trigger.value)
    body["document"]["version"] = version
    return ExportMessage.model_validate(body)


# ---------------------------------------------------------------- exactly once


def test_a_document_is_created_once_however_often_it_is_delivered(core) -> None:
    first = core.service.export(message())
    again = core.service.export(message())  # a duplicate delivery: the record is exported, final
    resent = core.service.export(message(trigger=Trigger.RETRY))  # another trigger: the same
    newer = core.service.export(message(version=2))  # a newer version of an exported document: final
    assert core.provider.creates() == 1
    assert (first.outcome, first.provider_document_id) == (Outcome.EXPORTED, "P-1")
    assert {again.outcome, resent.outcome, newer.outcome} == {Outcome.ALREADY_EXPORTED}
    assert again.provider_document_id == "P-1"
    assert core.outcomes() == ["exported", "already_exported", "already_exported", "already_exported"]
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.provider_document_id, record.attempts) == (Status.EXPORTED, "P-1", 1)
    assert core.pdf_requests == [INVOICE]  # from the record's change to exported, once
    assert core.ksef_polls == []  # KSeF is off for the account


def test_an_older_version_arriving_after_a_newer_one_is_superseded(core) -> None:
    core.accounts.put(core.connect(export_mode="bulk"))
    core.service.export(message(version=2))
    assert core.service.export(message(version=1)).outcome == Outcome.SUPERSEDED
    assert core.outcomes() == ["pending", "superseded"]
    assert core.documents.get(ACCOUNT, INVOICE).document_version == 2
    assert core.provider.creates() == 0


def test_a_failure_is_not_remembered_so_the_same_message_runs_again_after_the_fix(core) -> None:
    core.provider.fail_next["create"].append(ProviderRejected("buyer.tax_id: invalid", code="provider_rejected"))
    assert core.service.export(message()).outcome == Outcome.FAILED
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.last_error.code, record.last_error.retryable) == (
        Status.FAILED, "provider_rejected", False)
    assert core.service.export(message()).outcome == Outcome.EXPORTED  # the same message: not answered from cache
    assert core.outcomes() == ["failed", "exported"]
    assert core.provider.creates() == 2 and len(core.provider.documents) == 1


def test_a_transient_error_releases_the_claim_and_the_next_delivery_sends(core) -> None:
    core.provider.fail_next["create"].append(TransientError("503 from the provider", code="provider_unavailable"))
    with pytest.raises(TransientError):
        core.service.export(message())
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.last_error.code, record.last_error.retryable) == (
        Status.PENDING, "provider_unavailable", True)
    assert core.outcomes() == []  # nothing to say yet: it is retried
    assert core.service.export(message()).outcome == Outcome.EXPORTED
    assert core.documents.get(ACCOUNT, INVOICE).attempts == 2


def test_a_create_not_started_for_lack_of_time_sends_nothing_and_releases_the_claim(core) -> None:
    with pytest.raises(TransientError) as raised:
        core.service.export(message(), remaining_seconds=lambda: 0.5)
    assert raised.value.code == "invocation_time_low"
    assert core.provider.creates() == 0 and core.status() == Status.PENDING


def test_a_record_changed_while_the_provider_created_it_is_never_acknowledged_as_exported(core) -> None:
    error = RecordedError(code="dead_lettered", message="held by the DLQ check", at="2026-01-01T00:00:00Z")
    core.provider.while_creating = lambda plan: core.documents.mark_in_doubt(ACCOUNT, INVOICE, error)
    with pytest.raises(TransientError) as raised:
        core.service.export(message())
    assert raised.value.code == "concurrent_change"
    # Only the change that held it in doubt is announced (from the record's stream).
    assert core.status() == Status.IN_DOUBT and core.outcomes() == ["in_doubt"]


# ---------------------------------------------------------------- interrupted attempts, in doubt


def test_an_interrupted_create_that_reached_the_provider_is_found_there_not_sent_again(core) -> None:
    core.provider.fail_next["create"].append(LostAnswer())
    with pytest.raises(RequestMayHaveSucceeded):
        core.service.export(message())
    assert core.status() == Status.SENDING  # may be at the provider: not released
    result = core.service.export(message())
    assert (result.outcome, result.provider_document_id) == (Outcome.EXPORTED, "P-1")
    assert core.provider.calls == [("create", INVOICE), ("find", INVOICE)]
    assert core.documents.get(ACCOUNT, INVOICE).vat_in_pln is None  # a PLN document


def test_a_duplicate_delivery_waits_while_the_attempt_holding_the_claim_may_still_run() -> None:
    # The first delivery is creating the document (claimed just now, its invocation may run 30 s): a
    # second delivery of the same document - the same message or another - must neither look it up (the
    # create may still be on its way) nor send it, nor hold it in doubt: it comes back later.
    core = Core(ScriptedProvider(without("lookup_by_reference"), name="NoLookUp"), export_timeout_seconds=30)
    first = message()
    core.documents.register(first)
    assert core.documents.claim(ACCOUNT, INVOICE, "attempt-running")[0]
    for duplicate in (first, message(trigger=Trigger.RETRY)):
        with pytest.raises(TransientError) as raised:
            core.service.export(duplicate)
        assert raised.value.code == "in_flight" and 0 < raised.value.retry_after <= 30
    assert core.provider.calls == [] and core.status() == Status.SENDING and core.outcomes() == []


def test_an_interrupted_create_the_provider_does_not_have_is_taken_over_and_sent(core) -> None:
    core.provider.fail_next["create"].append(RequestMayHaveSucceeded("read timeout"))
    with pytest.raises(RequestMayHaveSucceeded):
        core.service.export(message())
    assert core.service.export(message()).outcome == Outcome.EXPORTED
    assert core.provider.calls == [("create", INVOICE), ("find", INVOICE), ("create", INVOICE)]
    assert len(core.provider.documents) == 1
    assert core.documents.get(ACCOUNT, INVOICE).attempts == 2


def test_an_interrupted_create_at_a_provider_that_cannot_be_asked_is_held_in_doubt_until_an_operator_acts() -> None:
    core = Core(ScriptedProvider(without("lookup_by_reference", "settle_by_listing"), name="NoLookUp"))
    core.provider.fail_next["create"].append(LostAnswer())
    with pytest.raises(RequestMayHaveSucceeded):
        core.service.export(message())
    assert core.service.export(message()).outcome == Outcome.IN_DOUBT
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.last_error.code) == (Status.IN_DOUBT, "in_doubt")
    assert "NoLookUp cannot be asked" in record.last_error.message
    # Delivered again: said again, never sent.
    assert core.service.export(message(trigger=Trigger.RETRY)).outcome == Outcome.IN_DOUBT
    assert core.outcomes() == ["in_doubt", "in_doubt"]
    assert core.provider.creates() == 1 and ("find", INVOICE) not in core.provider.calls
    core.documents.settle_in_doubt(ACCOUNT, INVOICE, provider="fakturownia", provider_document_id="P-1",
                                   provider_number="FV 1/2026")
    assert core.outcomes() == ["in_doubt", "in_doubt", "exported"]  # the operator's change, announced
    assert core.pdf_requests == [INVOICE]
    assert core.service.export(message(trigger=Trigger.BULK)).outcome == Outcome.ALREADY_EXPORTED
    assert core.provider.creates() == 1


def test_a_look_up_that_cannot_decide_holds_the_document_in_doubt(core) -> None:
    core.provider.fail_next["create"].append(RequestMayHaveSucceeded("read timeout"))
    core.provider.fail_next["find"].append(PermanentError("the search answered 500 twice"))
    with pytest.raises(RequestMayHaveSucceeded):
        core.service.export(message())
    assert core.service.export(message()).outcome == Outcome.IN_DOUBT
    assert "could not decide: the search answered 500 twice" in core.documents.get(ACCOUNT, INVOICE).last_error.message


def test_several_documents_with_our_reference_at_the_provider_hold_it_in_doubt(core) -> None:
    core.provider.fail_next["create"].append(AmbiguousAtProvider("2 documents carry our reference"))
    assert core.service.export(message()).outcome == Outcome.IN_DOUBT
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.last_error.message) == (Status.IN_DOUBT, "2 documents carry our reference")


# ---------------------------------------------------------------- interrupted creates found by listing


@pytest.fixture
def listing() -> Core:
    """A provider without a look-up by our id: an interrupted create is found in its list of the day by the
    reference the create carried (domain.settlement)."""
    return Core(ScriptedProvider(without("lookup_by_reference"), name="Lists"))


def order(document_id: str, *, trigger: Trigger = Trigger.ISSUED) -> ExportMessage:
    """A repeat order: the same buyer, day, lines and amount as 01-invoice-company.json, another document."""
    body = message(trigger=trigger).model_dump(mode="json")
    body["document"].update(document_id=document_id, number=f"FV {document_id}")
    return ExportMessage.model_validate(body)


def test_a_later_delivery_never_lists_it_holds_the_document_for_the_settlement_never_sending_it_twice(
        listing) -> None:
    listing.provider.fail_next["create"].append(LostAnswer())  # stored, its answer lost
    with pytest.raises(RequestMayHaveSucceeded):
        listing.service.export(message())
    # A day's list is the settlement's (services.settlement): off the account's queue, with time to read.
    assert listing.service.export(message()).outcome == Outcome.IN_DOUBT
    assert listing.provider.calls == [("create", INVOICE)]
    record = listing.documents.get(ACCOUNT, INVOICE)
    assert (record.settlement["outcome"], record.settlement["where"]) == ("not_yet", "export")
    assert record.last_error.fix.startswith("nothing yet: the settlement asks Lists again")
    assert listing.settlement.settle(ACCOUNT, INVOICE).outcome.value == "found"
    assert listing.status() == Status.EXPORTED and listing.provider.creates() == 1
    assert listing.outcomes() == ["in_doubt", "exported"]


def test_a_creation_task_accepted_before_the_answer_was_lost_is_kept_for_the_next_delivery(listing) -> None:
    listing.provider.fail_next["create"].append(RequestMayHaveSucceeded("still processing", task_reference="T-7"))
    with pytest.raises(RequestMayHaveSucceeded):
        listing.service.export(message())
    record = listing.documents.get(ACCOUNT, INVOICE)
    assert record.task_of_attempt == "T-7" and record.provider_task["attempt_id"] == record.send_attempt_id
    listing.service.export(message())  # the scripted provider knows no task: the settlement lists later
    asked = listing.provider.attempts_asked[0]
    assert (asked.task_reference, asked.may_list) == ("T-7", False)  # the adapter asks the task's status
    listing.settlement.settle(ACCOUNT, INVOICE)  # found absent (nothing was stored): sent again
    assert listing.provider.attempts_asked[1].task_reference == "T-7"
    listing.service.export(ExportMessage.model_validate_json(listing.queue.bodies("export-queue")[0]))
    record = listing.documents.get(ACCOUNT, INVOICE)
    assert record.status == Status.EXPORTED and record.task_of_attempt is None  # the new attempt started none


def test_a_create_that_answers_writes_no_task_and_no_settlement(listing) -> None:
    listing.service.export(message())
    record = listing.documents.get(ACCOUNT, INVOICE)
    assert (record.provider_task, record.settlement, record.status) == (None, None, Status.EXPORTED)
    assert record.attempt_started_at is not None


# ---------------------------------------------------------------- accounts


def test_an_unknown_account_fails_and_its_document_is_sent_once_connected(core) -> None:
    core.accounts.settings.clear()
    assert core.service.export(message()).outcome == Outcome.FAILED
    assert core.documents.get(ACCOUNT, INVOICE).last_error.code == "unknown_account"
    core.connect()
    assert core.service.export(message(trigger=Trigger.RETRY)).outcome == Outcome.EXPORTED


def test_a_bulk_mode_account_keeps_issued_documents_pending_for_its_bulk_run(core) -> None:
    core.connect(export_mode="bulk")
    assert core.service.export(message()).outcome == Outcome.PENDING
    assert core.provider.creates() == 0 and core.status() == Status.PENDING
    assert core.service.export(message(trigger=Trigger.BULK)).outcome == Outcome.EXPORTED


def test_credentials_refused_twice_pause_the_account_and_hold_its_documents_as_pending(core) -> None:
    core.provider.accepts_credentials = False
    core.provider.fail_next["create"].append(CredentialsRejected("401"))
    assert core.service.export(message()).outcome == Outcome.PENDING
    assert core.accounts.get(ACCOUNT).status == "needs_reconnect"
    assert [e["DetailType"] for e in core.publisher.events.entries] == ["Account needs reconnect"]
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.last_error.code, record.last_error.retryable) == (
        Status.PENDING, "account_paused", True)
    # The next document of the paused account is held without a call to the provider.
    calls = list(core.provider.calls)
    assert core.service.export(message("02-receipt-person.json")).outcome == Outcome.PENDING
    assert core.provider.calls == calls
    assert core.outcomes("PAR-2026-11-0001") == ["pending"]
    # Held, not remembered: once reconnected the same message sends it.
    core.connect()
    core.provider.accepts_credentials = True
    assert core.service.export(message()).outcome == Outcome.EXPORTED


def test_credentials_refused_with_a_stale_cache_but_accepted_fresh_are_simply_retried(core) -> None:
    core.provider.fail_next["create"].append(CredentialsRejected("401 with the cached key"))
    with pytest.raises(TransientError) as raised:
        core.service.export(message())
    assert (raised.value.code, raised.value.retry_after) == ("credentials_renewed", 0)
    assert core.accounts.fresh_credential_reads == 1
    assert core.accounts.get(ACCOUNT).status == "active" and core.status() == Status.PENDING


def test_a_paused_accounts_interrupted_attempt_waits_on_the_queue_for_the_reconnect(core) -> None:
    core.provider.fail_next["create"].append(LostAnswer())
    with pytest.raises(RequestMayHaveSucceeded):
        core.service.export(message())
    core.accounts.pause(ACCOUNT)
    with pytest.raises(TransientError) as raised:
        core.service.export(message())
    assert (raised.value.code, raised.value.retry_after) == ("account_paused", 900)
    assert core.status() == Status.SENDING and ("find", INVOICE) not in core.provider.calls


# ---------------------------------------------------------------- corrections


def test_a_correction_waits_for_its_original_and_is_sent_against_it_once_exported(core) -> None:
    assert core.service.export(message("05-correction.json")).outcome == Outcome.FAILED
    record = core.documents.get(ACCOUNT, CORRECTION)
    assert record.last_error.code == "original_not_exported"
    assert f"{INVOICE} was never received" in record.last_error.message
    core.connect(export_mode="bulk")
    core.service.export(message())  # the original arrives, pending for a bulk run
    # On its way now: the correction is held pending, not failed, and the original's record lists it.
    assert core.service.export(message("05-correction.json", trigger=Trigger.RETRY)).outcome == Outcome.PENDING
    record = core.documents.get(ACCOUNT, CORRECTION)
    assert (record.status, record.last_error.code, record.last_error.retryable) == (
        Status.PENDING, "waiting_for_original", True)
    assert f"{INVOICE} is pending" in record.last_error.message and record.last_error.fix.startswith("nothing")
    assert core.documents.get(ACCOUNT, INVOICE).waiting_corrections == [CORRECTION]
    assert core.outcomes(CORRECTION) == ["failed", "pending"]
    assert core.publisher.published[-1].error.code == "waiting_for_original"
    assert core.queue.bodies("export-queue") == [] and core.provider.creates() == 0
    core.service.export(message(trigger=Trigger.BULK))  # the original is exported: its stream queues the correction
    [queued] = core.queue.bodies("export-queue")
    retry = ExportMessage.model_validate_json(queued)
    assert (retry.trigger, retry.document.document_id) == (Trigger.RETRY, CORRECTION)
    assert core.service.export(retry).outcome == Outcome.EXPORTED
    assert core.documents.get(ACCOUNT, CORRECTION).readback_drift == []  # it names the original: P-1
    assert core.outcomes(CORRECTION) == ["failed", "pending", "exported"]
    assert core.provider.creates() == 2


def test_a_correction_of_a_failed_original_fails_as_before_and_is_not_listed_on_it(core) -> None:
    core.provider.fail_next["create"].append(ProviderRejected("buyer.tax_id: invalid", code="provider_rejected"))
    assert core.service.export(message()).outcome == Outcome.FAILED
    assert core.service.export(message("05-correction.json")).outcome == Outcome.FAILED
    record = core.documents.get(ACCOUNT, CORRECTION)
    assert (record.status, record.last_error.code) == (Status.FAILED, "original_not_exported")
    assert f"{INVOICE} is failed" in record.last_error.message
    assert core.documents.get(ACCOUNT, INVOICE).waiting_corrections == []


def test_a_correction_whose_original_is_exported_while_it_is_held_is_retried_and_sent(core, monkeypatch) -> None:
    core.connect(export_mode="bulk")
    core.service.export(message())  # pending for a bulk run
    hold = core.documents.hold_for_original

    def original_exported_meanwhile(*args, **kwargs):
        held = hold(*args, **kwargs)
        core.service.export(message(trigger=Trigger.BULK))  # its change is read before the correction is listed
        return held

    monkeypatch.setattr(core.documents, "hold_for_original", original_exported_meanwhile)
    with pytest.raises(TransientError) as raised:  # not listed: exported already - the message is retried
        core.service.export(message("05-correction.json", trigger=Trigger.RETRY))
    assert raised.value.code == "concurrent_change"
    assert core.documents.get(ACCOUNT, INVOICE).waiting_corrections == []
    assert core.queue.bodies("export-queue") == []
    monkeypatch.undo()
    assert core.service.export(message("05-correction.json", trigger=Trigger.RETRY)).outcome == Outcome.EXPORTED
    assert core.outcomes(CORRECTION) == ["pending", "exported"] and core.provider.creates() == 2


# ---------------------------------------------------------------- a number read after the create (issue 20)

NO_ROOM = TransientError("our rate limiter had no room for the read", code="rate_limited")


def test_a_document_created_without_its_number_is_announced_once_the_number_is_read(core) -> None:
    core.provider.unnumbered_creates = 1
    core.provider.fail_next["read_number"].append(NO_ROOM)
    with pytest.raises(TransientError):
        core.service.export(message())
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.provider_document_id, record.provider_number, record.number_unread) == (
        Status.EXPORTED, "P-1", "", True)
    assert core.outcomes() == []  # never announced without its number
    assert core.pdf_requests == [INVOICE]  # its PDF does not wait for it
    retried = core.service.export(message())  # the message's retry reads it: the record's event goes out
    assert (retried.outcome, retried.provider_number) == (Outcome.EXPORTED, "FV 1/2026")
    assert core.outcomes() == ["exported"]
    assert (core.publisher.published[0].provider_number, core.publisher.published[0].warnings) == ("FV 1/2026", [])
    assert core.service.export(message()).outcome == Outcome.ALREADY_EXPORTED  # a later copy: its own answer
    assert core.outcomes() == ["exported", "already_exported"]
    assert core.provider.creates() == 1 and not core.documents.get(ACCOUNT, INVOICE).number_unread


def test_the_number_read_by_a_duplicate_delivery_releases_the_event_and_the_first_is_answered(core) -> None:
    core.provider.unnumbered_creates = 1
    core.provider.fail_next["read_number"].append(NO_ROOM)
    with pytest.raises(TransientError):
        core.service.export(message())
    assert core.service.export(message()).outcome == Outcome.EXPORTED  # a copy read it: the event is its answer
    assert core.service.export(message()).outcome == Outcome.ALREADY_EXPORTED  # the first message's retry
    assert core.outcomes() == ["exported", "already_exported"]
    assert {e.provider_number for e in core.publisher.published} == {"FV 1/2026"}


def test_a_number_that_cannot_be_read_is_announced_without_it_saying_why(core) -> None:
    core.provider.unnumbered_creates = 2
    core.provider.fail_next["read_number"].append(PermanentError("the document is gone", code="not_found"))
    assert core.service.export(message()).outcome == Outcome.EXPORTED
    # No delivery left to read the other one: the last delivery lets its event out.
    core.provider.fail_next["read_number"].append(NO_ROOM)
    with pytest.raises(TransientError):
        core.service.export(message("02-receipt-person.json"))
    assert core.service.give_up(message("02-receipt-person.json"), NO_ROOM) is None
    assert core.outcomes() == ["exported"] and core.outcomes("PAR-2026-11-0001") == ["exported"]
    gone, unread = core.publisher.published
    assert gone.provider_number == "" and gone.warnings == [
        "the provider created the document but its number could not be read (the document is gone)"]
    assert unread.warnings == [
        "the provider created the document but its number could not be read (our rate limiter had no room for "
        "the read)"]
    assert core.provider.creates() == 2


# ---------------------------------------------------------------- last deliveries and unreadable messages


DEAD = TransientError("the provider answered 503 on every delivery", code="provider_unavailable")


def test_a_pending_document_given_up_fails_once_and_a_sending_one_goes_in_doubt(core) -> None:
    core.service.documents.register(message())
    assert core.service.give_up(message(), DEAD) == Outcome.FAILED
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.last_error.code, record.last_error.retryable) == (
        Status.FAILED, "provider_unavailable", True)
    assert core.service.give_up(message(), DEAD) is None  # again: nothing changes, nothing is published
    assert core.outcomes() == ["failed"]

    core.provider.fail_next["create"].append(LostAnswer())
    with pytest.raises(RequestMayHaveSucceeded):
        core.service.export(message("02-receipt-person.json"))
    assert core.service.give_up(message("02-receipt-person.json"), DEAD) == Outcome.IN_DOUBT
    assert core.status("PAR-2026-11-0001") == Status.IN_DOUBT


def test_an_unreadable_message_is_kept_and_announced_once(core) -> None:
    assert core.service.reject_unreadable("m-1", "{not json", ACCOUNT, INVOICE, "the body is not JSON")
    assert not core.service.reject_unreadable("m-1", "{not json", ACCOUNT, INVOICE, "the body is not JSON")
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.raw_message, record.last_error.code) == (Status.FAILED, "{not json",
                                                                           "invalid_message")
    assert core.outcomes() == ["failed"]
