"""Documents held in doubt settled by asking the provider again (services.settlement), proven in memory:
found -> exported and announced, surely absent -> released (its record's stream queues it to be sent once
more), undecided -> evidence kept, not yet -> nothing written; the schedule queues what is still in doubt,
within its limits.

End to end (the queue, the function, the real adapters against their fakes): tests/stack/test_in_doubt_settlement.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.errors import PermanentError, RequestMayHaveSucceeded, TransientError
from invoice_export.domain.records import Status
from invoice_export.domain.settlement import SettlementOutcome
from invoice_export.services.events import Outcome
from invoice_export.services.settlement import MAX_AUTOMATIC_TRIES, SettleRequest
from memory_core import ACCOUNT, INVOICE, Core
from scripted_provider import LostAnswer, ScriptedProvider, without
from testsupport import load_example


def message(document_id: str = INVOICE, trigger: Trigger = Trigger.ISSUED) -> ExportMessage:
    body = load_example("01-invoice-company.json")
    body.update(account_id=ACCOUNT, trigger=trigger.value)
    body["document"].update(document_id=document_id)
    return ExportMessage.model_validate(body)


def held_in_doubt(core: Core, create_failure: Exception, document_id: str = INVOICE) -> None:
    """An interrupted create whose last delivery found the provider unable to tell yet (as the export
    function's last delivery, or the DLQ check, leaves it)."""
    core.provider.fail_next["create"].append(create_failure)
    with pytest.raises(RequestMayHaveSucceeded) as interrupted:
        core.service.export(message(document_id))
    assert core.service.give_up(message(document_id), interrupted.value) == Outcome.IN_DOUBT
    assert core.status(document_id) == Status.IN_DOUBT


@pytest.fixture
def core() -> Core:
    return Core(ScriptedProvider(without("lookup_by_reference"), name="Lists"))


def export_queue(core: Core) -> list[dict]:
    return [json.loads(body) for body in core.queue.bodies("export-queue")]


def test_a_document_in_doubt_that_the_provider_holds_is_exported_announced_and_its_pdf_fetched(core) -> None:
    held_in_doubt(core, LostAnswer())
    settlement = core.settlement.settle(ACCOUNT, INVOICE)
    assert settlement.outcome == SettlementOutcome.FOUND
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.provider_document_id, record.provider_number) == (
        Status.EXPORTED, "P-1", "FV 1/2026")
    assert record.last_error is None and record.settlement["where"] == "settlement"
    assert core.outcomes() == ["in_doubt", "exported"] and core.pdf_requests == [INVOICE]
    assert core.provider.creates() == 1 and export_queue(core) == []
    # A second settlement of it (the schedule and an operator at once) finds it settled: nothing more.
    assert core.settlement.settle(ACCOUNT, INVOICE) is None
    assert core.outcomes() == ["in_doubt", "exported"]


def test_a_document_found_without_its_number_is_settled_with_the_number_read_and_announced_once(core) -> None:
    held_in_doubt(core, LostAnswer())
    listed = core.provider.listed["P-1"]  # a list that shows no numbers (iFirma numbers in a read)
    core.provider.listed["P-1"] = replace(listed, reference=replace(listed.reference, number=""))
    assert core.settlement.settle(ACCOUNT, INVOICE).outcome == SettlementOutcome.FOUND
    assert ("read_number", "P-1") in core.provider.calls
    assert core.documents.get(ACCOUNT, INVOICE).provider_number == "FV 1/2026"
    # The record's stream announces it, once, with the number (the settlement publishes nothing itself).
    assert core.outcomes() == ["in_doubt", "exported"]
    assert core.publisher.published[-1].provider_number == "FV 1/2026"


def test_a_document_in_doubt_that_the_provider_surely_lacks_is_queued_to_be_sent_once_more(core) -> None:
    held_in_doubt(core, RequestMayHaveSucceeded("read timeout"))  # nothing stored
    core.settle()  # the stream has handled everything so far
    # The settlement only writes the record: its worker could die right after the write and lose nothing.
    unwrapped = core.settlement._service
    assert unwrapped.settle(ACCOUNT, INVOICE).outcome == SettlementOutcome.ABSENT
    record = core.documents.get(ACCOUNT, INVOICE)
    assert (record.status, record.last_error.code, record.settlement["outcome"]) == (
        Status.PENDING, "requeued_after_settlement", "absent")
    assert export_queue(core) == []
    core.settle()  # the record's stream queues its export message, once
    [queued] = export_queue(core)
    assert (queued["trigger"], queued["document"]["document_id"]) == ("retry", INVOICE)
    assert core.provider.calls[-1] == ("list", INVOICE)  # the settlement itself only listed
    assert core.settlement.settle(ACCOUNT, INVOICE) is None  # pending now: not the settlement's any more
    assert len(export_queue(core)) == 1
    assert core.service.export(ExportMessage.model_validate(queued)).outcome == Outcome.EXPORTED
    assert core.provider.creates() == 2 and len(core.provider.listed) == 1


def test_a_document_in_doubt_the_provider_cannot_decide_about_keeps_the_evidence_and_counts_the_try(core) -> None:
    held_in_doubt(core, LostAnswer())
    core.provider.edit_reference(INVOICE, "poprawione przez księgową")
    for tries in (1, 2):
        assert core.settlement.settle(ACCOUNT, INVOICE).outcome == SettlementOutcome.UNDECIDED
        record = core.documents.get(ACCOUNT, INVOICE)
        assert (record.status, record.settlement_tries) == (Status.IN_DOUBT, tries)
    assert record.settlement["candidates"] == [{"provider_document_id": "P-1", "number": "FV 1/2026",
                                                "reference": "no reference of ours"}]
    assert "without our reference" in record.settlement["reason"]
    assert export_queue(core) == [] and core.provider.creates() == 1 and core.outcomes() == ["in_doubt"]


def test_a_document_in_doubt_asked_about_too_early_is_left_as_it_is() -> None:
    core = Core(ScriptedProvider(without("lookup_by_reference"), name="Lists"), settle_listing_after_seconds=300)
    held_in_doubt(core, RequestMayHaveSucceeded("read timeout"))
    before = core.documents.get(ACCOUNT, INVOICE)
    assert core.settlement.settle(ACCOUNT, INVOICE).outcome == SettlementOutcome.NOT_YET
    assert core.documents.get(ACCOUNT, INVOICE) == before and export_queue(core) == []


def test_a_provider_with_a_look_up_by_our_id_settles_its_documents_in_doubt_by_it() -> None:
    core = Core(ScriptedProvider())
    held_in_doubt(core, LostAnswer(), "A")
    held_in_doubt(core, RequestMayHaveSucceeded("502 from the provider"), "B")
    assert core.settlement.settle(ACCOUNT, "A").outcome == SettlementOutcome.FOUND
    assert core.settlement.settle(ACCOUNT, "B").outcome == SettlementOutcome.ABSENT
    assert ("list", "A") not in core.provider.calls and ("find", "B") in core.provider.calls
    assert (core.status("A"), core.status("B")) == (Status.EXPORTED, Status.PENDING)


def test_a_transient_failure_of_the_provider_leaves_the_document_for_the_queue_to_retry(core) -> None:
    held_in_doubt(core, LostAnswer())
    core.provider.fail_next["list"].append(TransientError("429", code="provider_rate_limited", retry_after=5))
    with pytest.raises(TransientError):
        core.settlement.settle(ACCOUNT, INVOICE)
    assert core.status() == Status.IN_DOUBT and core.documents.get(ACCOUNT, INVOICE).settlement_tries == 0


def test_a_settings_change_that_makes_the_document_unsendable_leaves_it_in_doubt_saying_why(core) -> None:
    held_in_doubt(core, LostAnswer())
    core.connect(payment_links={})  # its payment method is not linked any more
    assert core.settlement.settle(ACCOUNT, INVOICE).outcome == SettlementOutcome.UNDECIDED
    assert "cannot be prepared" in core.documents.get(ACCOUNT, INVOICE).settlement["reason"]
    assert ("list", INVOICE) not in core.provider.calls


def test_the_schedule_queues_what_is_still_in_doubt_but_not_paused_accounts_nor_documents_tried_often(core) -> None:
    held_in_doubt(core, LostAnswer(), "A")
    held_in_doubt(core, LostAnswer(), "B")
    core.documents.items[(ACCOUNT, "B")]["settlement_tries"] = MAX_AUTOMATIC_TRIES
    core.service.export(message("C"))  # exported: not the settlement's
    report = core.settlement.queue_in_doubt(lambda: 60.0)
    assert (report.queued, report.left_to_operator, report.accounts) == (1, 1, [ACCOUNT])
    [queued] = [SettleRequest.model_validate_json(body) for body in core.queue.bodies("settle-queue")]
    assert queued == SettleRequest(account_id=ACCOUNT, document_id="A", requested_by="schedule")
    core.accounts.pause(ACCOUNT)
    paused = core.settlement.queue_in_doubt(lambda: 60.0)
    assert (paused.queued, paused.skipped_paused) == (0, 2)
    assert core.settlement.queue_in_doubt(lambda: 0.0).stopped_for_time


def test_a_correction_in_doubt_is_asked_about_against_its_exported_original(core) -> None:
    core.service.export(message())  # the original
    body = load_example("05-correction.json")
    body.update(account_id=ACCOUNT)
    correction = ExportMessage.model_validate(body)
    core.provider.fail_next["create"].append(LostAnswer())
    with pytest.raises(RequestMayHaveSucceeded) as interrupted:
        core.service.export(correction)
    core.service.give_up(correction, interrupted.value)
    document_id = correction.document.document_id
    assert core.settlement.settle(ACCOUNT, document_id).outcome == SettlementOutcome.FOUND
    assert core.status(document_id) == Status.EXPORTED


def test_only_a_document_in_doubt_of_a_connected_account_is_asked_about(core) -> None:
    core.service.export(message())
    held_in_doubt(core, LostAnswer(), "B")
    assert core.settlement.settle(ACCOUNT, "NEVER-RECEIVED") is None
    assert core.settlement.settle(ACCOUNT, INVOICE) is None  # exported
    core.accounts.settings.clear()  # the account was disconnected meanwhile
    assert core.settlement.settle(ACCOUNT, "B") is None
    assert "list" not in [call for call, _ in core.provider.calls] and core.status("B") == Status.IN_DOUBT


def test_a_repeat_order_of_the_same_buyer_day_and_amount_is_never_taken_for_the_interrupted_one(core) -> None:
    assert core.service.export(message("ORDER-1")).outcome == Outcome.EXPORTED  # same buyer, day and amount
    held_in_doubt(core, RequestMayHaveSucceeded("read timeout"), "ORDER-2")  # the repeat: never stored
    settled = core.settlement.settle(ACCOUNT, "ORDER-2")
    # ORDER-1's document carries ORDER-1's reference: not ours, and no reason for doubt. Sent once more.
    assert (settled.outcome, settled.candidates) == (SettlementOutcome.ABSENT, ())
    held_in_doubt(core, LostAnswer(), "ORDER-3")  # stored: found as itself, not as ORDER-1
    found = core.settlement.settle(ACCOUNT, "ORDER-3").found
    assert found == core.provider.documents["ORDER-3"] != core.provider.documents["ORDER-1"]


def test_two_documents_with_our_reference_or_an_unreadable_list_leave_it_in_doubt(core) -> None:
    held_in_doubt(core, LostAnswer())
    core.provider.add_by_hand(core.provider.listed["P-1"], reference_text=f"kopia\nref: {INVOICE}")
    assert "2 documents with our reference" in core.settlement.settle(ACCOUNT, INVOICE).reason
    held_in_doubt(core, RequestMayHaveSucceeded("read timeout"), "ORDER-9")
    core.provider.fail_next["list"].append(PermanentError("the list answered 500 twice"))
    settled = core.settlement.settle(ACCOUNT, "ORDER-9")
    assert settled.outcome == SettlementOutcome.UNDECIDED and "the list answered 500 twice" in settled.reason
    assert core.status("ORDER-9") == Status.IN_DOUBT and core.provider.creates() == 2


def test_many_look_alike_documents_our_records_map_already_are_not_read_one_by_one() -> None:
    """A day of repeat orders at a provider whose list shows no reference (iFirma): only what our records
    do not map to another document is read whole."""
    core = Core(ScriptedProvider(without("lookup_by_reference"), name="Lists", list_shows_references=False))
    for n in range(6):
        assert core.service.export(message(f"ORDER-{n}")).outcome == Outcome.EXPORTED
    held_in_doubt(core, LostAnswer(), "ORDER-7")
    assert core.settlement.settle(ACCOUNT, "ORDER-7").found.provider_document_id == "P-7"
    assert [doc for call, doc in core.provider.calls if call == "read"] == ["P-7"]
