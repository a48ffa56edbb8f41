"""What the export service does with a message: a pure decision, no I/O.

The service (services/export.py) gathers the facts - how the message's version compares with the
stored record, the record's status, the account's settings, and, once a claim was refused, what the
provider can do - asks `decide` for one action, and performs it. Everything that decides whether a
document is sent, reported, failed or held lives here, so it is tested in milliseconds
(tests/unit/domain/test_export_decision.py) without any store or provider.

    registration stale               -> SUPERSEDE        (an older version: say so, nothing else)
    record exported                  -> REPORT_EXPORTED  (already_exported, nothing sent)
    claim refused, record not sending -> RETRY_LATER     (another worker changed it)
    claim refused, record sending,   -> RETRY_LATER      (the attempt holding the claim may still be
      claimed within the Timeout                          creating it: a concurrent duplicate waits)
    claim refused, record sending     -> LOOK_UP, or HOLD_IN_DOUBT where the provider cannot be asked
      then, by the provider's answer (after_look_up): found -> EXPORT_FOUND, absent -> SEND,
      not yet decidable or undecided -> HOLD_IN_DOUBT (services.settlement asks again later)
    record in doubt                  -> REPORT_IN_DOUBT  (held for an operator)
    account unknown                  -> FAIL             (unknown_account)
    bulk-mode account, issued        -> WAIT_FOR_BULK    (pending until a bulk run)
    account paused                   -> HOLD_PAUSED, or RETRY_LATER for an interrupted `sending` one
    otherwise                        -> SEND             (claim, then create)

A correction is sent only against its exported original (`original_problem`): one whose original is
on its way (pending, sending, in doubt) is held pending (`waiting_for`; queued again from the
original's record stream once it is exported), one whose original was never received or failed fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from invoice_export.domain.account_settings import AccountSettings, ExportMode
from invoice_export.domain.documents import ExportMessage, Trigger
from invoice_export.domain.errors import ExportError, PermanentError, TransientError, WaitingForOriginal
from invoice_export.domain.provider_contract import Capabilities, ProviderReference
from invoice_export.domain.records import ON_ITS_WAY, DocumentRecord, Registration, Status, Step
from invoice_export.domain.settlement import Settlement, SettlementOutcome

PAUSED_CODE = "account_paused"
# The reason a document released by the settlement records (surely absent at the provider): the record's
# stream sends it again on seeing it (domain.record_changes).
REQUEUED_CODE = "requeued_after_settlement"
# The reason a correction is held pending while its original is on its way (WaitingForOriginal.code):
# the original's record stream queues it once the original is exported (domain.record_changes).
WAITING_CODE = WaitingForOriginal.code
PAUSED_RETRY_SECONDS = 900  # an interrupted attempt of a paused account waits on the queue, at the longest back-off


class Act(StrEnum):
    SUPERSEDE = "supersede"
    REPORT_EXPORTED = "report_exported"
    REPORT_IN_DOUBT = "report_in_doubt"
    FAIL = "fail"
    WAIT_FOR_BULK = "wait_for_bulk"
    HOLD_PAUSED = "hold_paused"
    RETRY_LATER = "retry_later"
    SEND = "send"
    LOOK_UP = "look_up"
    EXPORT_FOUND = "export_found"
    HOLD_IN_DOUBT = "hold_in_doubt"


@dataclass(frozen=True)
class Action:
    act: Act
    # FAIL, HOLD_PAUSED, HOLD_IN_DOUBT: what is recorded and published; RETRY_LATER: what is raised.
    error: ExportError | None = None


@dataclass(frozen=True)
class ProviderFacts:
    """What the decision needs of the account's provider (its adapter class)."""

    display_name: str
    capabilities: Capabilities


@dataclass(frozen=True)
class ExportFacts:
    message: ExportMessage
    registration: Registration
    status: Status  # the record's, as last read (after a refused claim: as the claim found it)
    settings: AccountSettings | None  # None: the account is not connected
    # Set once a claim was refused: the record was not pending or failed any more when the claim came.
    refused_claim_by: ProviderFacts | None = None
    # After a refused claim of a `sending` record: how long the attempt holding it may still run
    # (`claim_lease_seconds`); 0 once it has surely ended.
    claim_lease_seconds: float = 0.0


def decide(facts: ExportFacts) -> Action:
    if facts.registration == Registration.STALE:
        return Action(Act.SUPERSEDE)
    if facts.status == Status.EXPORTED:
        return Action(Act.REPORT_EXPORTED)
    if facts.refused_claim_by is not None:
        return _after_refused_claim(facts)
    if facts.status == Status.IN_DOUBT:
        return Action(Act.REPORT_IN_DOUBT)
    return _by_account(facts)


def while_paused(account_id: str, status: Status) -> Action:
    """A paused account's document: held as pending with the reason, its message acknowledged (nothing
    is lost, no retry burns). An interrupted attempt must be settled by a look-up, which needs working
    credentials: it waits on the queue instead."""
    if status == Status.SENDING:
        return Action(Act.RETRY_LATER, TransientError("the account is paused until it is reconnected",
                                                       code=PAUSED_CODE, retry_after=PAUSED_RETRY_SECONDS))
    return Action(Act.HOLD_PAUSED, PermanentError(
        f"account {account_id} is paused: its provider refused its credentials",
        fix="reconnect the account; its held documents are sent then", code=PAUSED_CODE))


def in_doubt(reason: str) -> PermanentError:
    """Why a document is held in doubt, with what an operator does about it."""
    return PermanentError(
        reason, code="in_doubt",
        fix="check the provider for this document, then resolve it: attach the provider document or release "
            "it for a new send")


def original_problem(original: DocumentRecord | None) -> str | None:
    """Why a correction cannot be sent yet, as "the corrected document X <problem>": its original must be
    exported first (the provider's correction names the provider's document). None: it can be sent.
    Whether it then waits or fails: `waiting_for`."""
    if original is None:
        return "was never received"
    if original.status != Status.EXPORTED or not original.provider_document_id:
        return f"is {original.status.value}"
    return None


def waiting_for(original_id: str, original: DocumentRecord | None) -> WaitingForOriginal | None:
    """A correction whose original is not exported yet but on its way (pending, sending, in doubt): why
    it is held pending instead of failed - it is sent by itself once the original is exported. None:
    the original is exported, or will not be without a person (never received, failed): it fails
    (`original_not_exported`)."""
    if original is None or original.status not in ON_ITS_WAY:
        return None
    return WaitingForOriginal(
        f"the corrected document {original_id} is {original.status.value}, not exported yet: this correction "
        "waits for it (the provider's correction names the provider's document)", original_id=original_id,
        fix=f"nothing: it is sent by itself once document {original_id} is exported; should {original_id} end "
            f"failed or in doubt instead, this correction stays held until {original_id} is resolved and exported")


def original_reference(original: DocumentRecord) -> ProviderReference:
    """The exported original of a correction, as the provider knows it."""
    assert original.provider_document_id is not None
    return ProviderReference(original.provider_document_id, original.provider_number or "", original.provider_series)


def concurrent_change(what: str) -> TransientError:
    return TransientError(what, code="concurrent_change")


def _by_account(facts: ExportFacts) -> Action:
    account_id, settings = facts.message.account_id, facts.settings
    if settings is None:
        return Action(Act.FAIL, PermanentError(
            f"account {account_id} is not connected",
            fix="connect the account, or correct account_id in the message; then retry", code="unknown_account"))
    if settings.export_mode == ExportMode.BULK and facts.message.trigger == Trigger.ISSUED:
        return Action(Act.WAIT_FOR_BULK)
    if settings.status == "needs_reconnect":
        return while_paused(account_id, facts.status)
    return Action(Act.SEND)


def claim_lease_seconds(record: DocumentRecord, now: datetime, timeout_seconds: float) -> float:
    """How long the attempt that claimed a `sending` record may still run: Lambda ends an invocation at
    its Timeout, and the claim was written within that invocation (`updated_at`: no write keeps a record
    `sending` but a claim). Until then a look-up could miss a create still on its way, and a second send
    would duplicate it; after it, the attempt has surely ended."""
    if record.status != Status.SENDING:
        return 0.0
    claimed = datetime.fromisoformat(record.updated_at)
    return max(0.0, timeout_seconds - (now - claimed).total_seconds())


def _after_refused_claim(facts: ExportFacts) -> Action:
    status, provider = facts.status, facts.refused_claim_by
    assert provider is not None
    if status != Status.SENDING:
        return Action(Act.RETRY_LATER, concurrent_change(f"document is {status.value}; another worker changed it"))
    if facts.claim_lease_seconds > 0:
        return Action(Act.RETRY_LATER, TransientError(
            "another attempt may still be creating this document (a duplicate delivery): retried once it ended",
            code="in_flight", retry_after=math.ceil(facts.claim_lease_seconds)))
    capabilities = provider.capabilities
    if not (capabilities.lookup_by_reference or capabilities.settle_by_listing):
        return Action(Act.HOLD_IN_DOUBT,
                      in_doubt(f"{provider.display_name} cannot be asked whether an interrupted create arrived"))
    return Action(Act.LOOK_UP)


def after_look_up(settlement: Settlement, provider: str) -> Action:
    """What a later delivery does once the provider was asked about the interrupted create (LOOK_UP)."""
    outcome = settlement.outcome
    if outcome == SettlementOutcome.FOUND:
        return Action(Act.EXPORT_FOUND)
    if outcome == SettlementOutcome.ABSENT:
        return Action(Act.SEND)  # taking the interrupted attempt over
    if outcome == SettlementOutcome.NOT_YET:
        # Held rather than retried: a message waiting minutes would hold back its account's whole queue.
        wait = f" (in {settlement.retry_after:.0f} s)" if settlement.retry_after else ""
        return Action(Act.HOLD_IN_DOUBT, PermanentError(
            f"asked about an interrupted create: {settlement.reason}", code="in_doubt",
            fix=f"nothing yet: the settlement asks {provider} again once its list surely shows it{wait}, and "
                "exports the document found there or sends it again; only one still in doubt then needs a person"))
    return Action(Act.HOLD_IN_DOUBT, in_doubt(f"asked about an interrupted create: {settlement.reason}"))


def settling_step(settlement: Settlement) -> Step | None:
    """The step a settlement of a document held in doubt takes (the schedule's, or an operator's
    `resolve --auto`): found -> exported with the provider's document, surely absent -> pending and
    queued again; None: it stays in doubt (undecided: with the new evidence; not yet: asked later)."""
    return {SettlementOutcome.FOUND: Step.SETTLE_IN_DOUBT,
            SettlementOutcome.ABSENT: Step.REQUEUE_IN_DOUBT}.get(settlement.outcome)
