"""The export decision (domain.export_decision.decide), over every combination of its facts.

Each rule is stated here as the product describes it (README: How it works; ARCHITECTURE.md: A
document's life), in the order the rules win, and every combination of registration, record
status, trigger, account state and claim outcome is checked against it, in milliseconds."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from invoice_export.domain.account_settings import AccountSettings, ExportMode
from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.errors import PermanentError, TransientError
from invoice_export.domain.export_decision import (
    Act,
    ExportFacts,
    ProviderFacts,
    after_look_up,
    claim_lease_seconds,
    decide,
    original_problem,
    original_reference,
    settling_step,
    waiting_for,
)
from invoice_export.domain.provider_contract import Capabilities, ProviderReference
from invoice_export.domain.records import DocumentRecord, Registration, Status, Step
from invoice_export.domain.settlement import SettledBy, Settlement, SettlementOutcome
from testsupport import load_example

ALL_CAPABILITIES = Capabilities(**dict.fromkeys(Capabilities.__dataclass_fields__, True))
CAN_LOOK_UP = ProviderFacts("Provider A", ALL_CAPABILITIES)
CANNOT_LOOK_UP = ProviderFacts("Provider B", replace(ALL_CAPABILITIES, lookup_by_reference=False,
                                                     settle_by_listing=False))
ONLY_LISTS = ProviderFacts("Provider C", replace(ALL_CAPABILITIES, lookup_by_reference=False))


def settings(mode: ExportMode, status: str) -> AccountSettings:
    return AccountSettings(account_id="shop-1", provider="fakturownia", export_mode=mode, status=status)


ACCOUNTS = {
    "not connected": None,
    "automatic": settings(ExportMode.AUTOMATIC, "active"),
    "bulk": settings(ExportMode.BULK, "active"),
    "automatic, paused": settings(ExportMode.AUTOMATIC, "needs_reconnect"),
    "bulk, paused": settings(ExportMode.BULK, "needs_reconnect"),
}
CLAIMS = {"not tried": None, "refused, provider can look up": CAN_LOOK_UP,
          "refused, provider can only list": ONLY_LISTS, "refused, provider cannot be asked": CANNOT_LOOK_UP}
# After a refused claim of a `sending` record: the attempt holding it may still run for so long.
LEASES = (0.0, 12.5)


def message(trigger: Trigger) -> ExportMessage:
    body = load_example("01-invoice-company.json")
    body.update(account_id="shop-1", trigger=trigger.value)
    return ExportMessage.model_validate(body)


MESSAGES = {trigger: message(trigger) for trigger in Trigger}


def every_combination() -> list[ExportFacts]:
    return [ExportFacts(MESSAGES[trigger], registration, status, account, claim, lease)
            for registration, status, trigger, account, claim, lease in itertools.product(
                Registration, Status, Trigger, ACCOUNTS.values(), CLAIMS.values(), LEASES)]


def expected(facts: ExportFacts) -> Act:
    """The rules, first match wins."""
    account, claim = facts.settings, facts.refused_claim_by
    rules = [
        (facts.registration == Registration.STALE, Act.SUPERSEDE),  # an older version never changes anything
        (facts.status == Status.EXPORTED, Act.REPORT_EXPORTED),  # never sent twice
        (claim is not None and facts.status != Status.SENDING, Act.RETRY_LATER),  # another worker has it
        # An attempt holding the claim may still be creating it: neither look it up nor send, wait.
        (claim is not None and facts.claim_lease_seconds > 0, Act.RETRY_LATER),
        (claim is not None and not (claim.capabilities.lookup_by_reference or claim.capabilities.settle_by_listing),
         Act.HOLD_IN_DOUBT),
        (claim is not None, Act.LOOK_UP),  # an interrupted attempt: ask the provider before sending again
        (facts.status == Status.IN_DOUBT, Act.REPORT_IN_DOUBT),  # only an operator resolves it
        (account is None, Act.FAIL),
        (account is not None and account.export_mode == ExportMode.BULK and facts.message.trigger == Trigger.ISSUED,
         Act.WAIT_FOR_BULK),
        (account is not None and account.status == "needs_reconnect" and facts.status == Status.SENDING,
         Act.RETRY_LATER),
        (account is not None and account.status == "needs_reconnect", Act.HOLD_PAUSED),
    ]
    return next((act for applies, act in rules if applies), Act.SEND)


def test_every_combination_follows_the_rules() -> None:
    combinations = every_combination()
    assert len(combinations) == 5 * 5 * 3 * 5 * 4 * 2
    wrong = [(facts.registration, facts.status, facts.message.trigger, facts.settings, facts.refused_claim_by,
              decide(facts).act, expected(facts))
             for facts in combinations if decide(facts).act != expected(facts)]
    assert wrong == []
    # Every action is reachable: no rule is shadowed by another (EXPORT_FOUND follows a look-up: after_look_up).
    assert {expected(facts) for facts in combinations} == set(Act) - {Act.EXPORT_FOUND}


def test_nothing_is_sent_for_a_stale_exported_or_in_doubt_record_nor_for_an_account_that_cannot_send() -> None:
    for facts in every_combination():
        act = decide(facts).act
        if act in (Act.SEND, Act.LOOK_UP):
            assert facts.registration != Registration.STALE
            assert facts.status not in (Status.EXPORTED, Status.IN_DOUBT)
        if act == Act.SEND:
            assert facts.refused_claim_by is None
            assert facts.settings is not None and facts.settings.status == "active"
            assert not (facts.settings.export_mode == ExportMode.BULK and facts.message.trigger == Trigger.ISSUED)
        if act == Act.LOOK_UP:  # a refused claim, of an interrupted attempt, at a provider that can be asked
            assert facts.status == Status.SENDING and facts.claim_lease_seconds == 0
            capabilities = facts.refused_claim_by.capabilities if facts.refused_claim_by else None
            assert capabilities is not None and (capabilities.lookup_by_reference or capabilities.settle_by_listing)


def test_every_recorded_or_raised_action_carries_its_error_and_no_other_does() -> None:
    for facts in every_combination():
        action = decide(facts)
        if action.act in (Act.FAIL, Act.HOLD_PAUSED, Act.HOLD_IN_DOUBT):
            assert isinstance(action.error, PermanentError) and action.error.fix, action
        elif action.act == Act.RETRY_LATER:
            assert isinstance(action.error, TransientError), action
        else:
            assert action.error is None, action


@pytest.mark.parametrize(("status", "act", "code", "retry_after"), [
    (Status.PENDING, Act.HOLD_PAUSED, "account_paused", None),
    (Status.FAILED, Act.HOLD_PAUSED, "account_paused", None),
    # An interrupted attempt needs a look-up, which needs working credentials: it waits on the queue.
    (Status.SENDING, Act.RETRY_LATER, "account_paused", 900),
])
def test_a_paused_accounts_document_is_held_or_waits(status, act, code, retry_after) -> None:
    action = decide(ExportFacts(MESSAGES[Trigger.ISSUED], Registration.LOCKED if status == Status.SENDING
                                else Registration.SAME, status, ACCOUNTS["automatic, paused"]))
    assert (action.act, action.error.code, getattr(action.error, "retry_after", None)) == (act, code, retry_after)
    assert "reconnect" in action.error.message + action.error.fix


def test_an_unknown_account_fails_with_what_to_do() -> None:
    action = decide(ExportFacts(MESSAGES[Trigger.ISSUED], Registration.NEW, Status.PENDING, None))
    assert (action.act, action.error.code) == (Act.FAIL, "unknown_account")
    assert "shop-1" in action.error.message and "connect the account" in action.error.fix


def test_an_interrupted_attempt_at_a_provider_that_cannot_be_asked_is_held_in_doubt_naming_it() -> None:
    facts = ExportFacts(MESSAGES[Trigger.RETRY], Registration.LOCKED, Status.SENDING, ACCOUNTS["automatic"],
                        refused_claim_by=CANNOT_LOOK_UP)
    action = decide(facts)
    assert (action.act, action.error.code) == (Act.HOLD_IN_DOUBT, "in_doubt")
    assert "Provider B cannot be asked" in action.error.message
    assert decide(replace(facts, refused_claim_by=CAN_LOOK_UP)).act == Act.LOOK_UP
    assert decide(replace(facts, refused_claim_by=ONLY_LISTS)).act == Act.LOOK_UP  # by its list of the day


FOUND = ProviderReference("P-1", "FV 1/2026")


@pytest.mark.parametrize(("settlement", "act", "step"), [
    (Settlement(SettlementOutcome.FOUND, SettledBy.LISTING, "one with our reference", found=FOUND),
     Act.EXPORT_FOUND, Step.SETTLE_IN_DOUBT),
    (Settlement(SettlementOutcome.ABSENT, SettledBy.TASK, "the task failed"), Act.SEND, Step.REQUEUE_IN_DOUBT),
    # Held, not retried: a message waiting minutes would hold back its account's queue; the settlement asks.
    (Settlement(SettlementOutcome.NOT_YET, SettledBy.LISTING, "nothing listed yet", retry_after=42.0),
     Act.HOLD_IN_DOUBT, None),
    (Settlement(SettlementOutcome.UNDECIDED, SettledBy.LISTING, "a candidate without our reference"),
     Act.HOLD_IN_DOUBT, None),
])
def test_the_providers_answer_about_an_interrupted_create_decides_what_follows(settlement, act, step) -> None:
    action = after_look_up(settlement, "Provider C")
    assert action.act == act
    assert settling_step(settlement) == step  # the same answer about a document held in doubt
    if act == Act.HOLD_IN_DOUBT:
        assert action.error.code == "in_doubt" and settlement.reason in action.error.message
        if settlement.outcome == SettlementOutcome.NOT_YET:  # nobody needs to act yet, and it says when
            assert action.error.fix.startswith("nothing yet") and "in 42 s" in action.error.fix
    else:
        assert action.error is None


def test_a_claim_refused_because_another_worker_changed_the_record_is_retried() -> None:
    for status in (Status.PENDING, Status.FAILED, Status.IN_DOUBT):
        action = decide(ExportFacts(MESSAGES[Trigger.ISSUED], Registration.SAME, status, ACCOUNTS["automatic"],
                                    refused_claim_by=CAN_LOOK_UP))
        assert (action.act, action.error.code) == (Act.RETRY_LATER, "concurrent_change"), status


def record(status: Status, provider_document_id: str | None = None) -> DocumentRecord:
    return DocumentRecord(account_id="shop-1", document_id="INV-1", status=status,
                          provider_document_id=provider_document_id, provider_number="FV 1/2026",
                          received_at="2026-01-01T00:00:00.000+00:00", updated_at="2026-01-01T00:00:00.000+00:00")


def test_a_correction_waits_for_its_original_to_be_exported() -> None:
    assert original_problem(None) == "was never received"
    for status in (Status.PENDING, Status.SENDING, Status.FAILED, Status.IN_DOUBT):
        assert original_problem(record(status)) == f"is {status.value}"
    assert original_problem(record(Status.EXPORTED, "P-7")) is None
    assert original_reference(record(Status.EXPORTED, "P-7")).provider_document_id == "P-7"


def test_a_correction_is_held_for_an_original_on_its_way_and_fails_for_any_other() -> None:
    for status in (Status.PENDING, Status.SENDING, Status.IN_DOUBT):
        waiting = waiting_for("INV-1", record(status))
        assert (waiting.code, waiting.original_id) == ("waiting_for_original", "INV-1"), status
        assert f"INV-1 is {status.value}" in waiting.message
        # nothing to do, and what happens should the original never be exported (it stays held)
        assert waiting.fix.startswith("nothing") and "stays held until INV-1" in waiting.fix
    for original in (None, record(Status.FAILED), record(Status.EXPORTED, "P-7")):
        assert waiting_for("INV-1", original) is None


def test_the_claim_of_a_sending_record_may_be_live_for_the_export_functions_timeout() -> None:
    from datetime import UTC, datetime, timedelta

    claimed = record(Status.SENDING)
    at = datetime.fromisoformat(claimed.updated_at)
    assert claim_lease_seconds(claimed, at + timedelta(seconds=10), timeout_seconds=30) == 20
    assert claim_lease_seconds(claimed, at + timedelta(seconds=31), timeout_seconds=30) == 0
    assert claim_lease_seconds(record(Status.PENDING), at, timeout_seconds=30) == 0  # nobody holds it
    assert at.tzinfo == UTC or at.utcoffset() == timedelta(0)
    action = decide(ExportFacts(MESSAGES[Trigger.ISSUED], Registration.LOCKED, Status.SENDING, ACCOUNTS["automatic"],
                                refused_claim_by=CAN_LOOK_UP, claim_lease_seconds=19.2))
    assert (action.act, action.error.code, action.error.retry_after) == (Act.RETRY_LATER, "in_flight", 20)
