"""Documents held in doubt, settled by asking the provider again, later, with reads only.

A document is in doubt when an attempt to create it may have reached the provider and asking it then
could not decide (domain.settlement): the attempt might still have been under way there, a candidate
carried no reference of ours, a list could not be read, or the provider was never asked (the
message's last delivery). Asked again later, most of them decide:

    found      -> exported with the provider's document and its number (step settle_in_doubt); the
                  record's stream publishes `exported`, asks for its PDF and starts KSeF's polls - as
                  for a create that answered
    absent     -> pending (step requeue_in_doubt, error requeued_after_settlement); the record's stream
                  queues its export message (trigger `retry`), so the write alone sends it again
    undecided  -> left in doubt, with the new evidence on the record (`settlement`) and one more try
                  counted: the schedule stops after MAX_AUTOMATIC_TRIES, an operator can always ask
    not yet    -> nothing written: asked again by the next run

Who asks: the schedule (`queue_in_doubt`, every few minutes, puts each document still in doubt on
the settlement queue) and an operator (`invoice-export resolve --auto`: the configuration API puts
one there and answers 202). The queue's function settles them one by one (`settle`), each provider
call through the shared rate limiter (reads: inFakt's read window), never creating anything; the
steps are conditional, so two settlements of one document never both act on it. A settlement only
writes the record (each write carrying its audit entry); what follows from the change - the event,
the PDF request, the audit entry, the export message of a released document - comes from the record's
stream (services.record_changes), at least once: a worker dying right after a write loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import DocumentKind
from invoice_export.domain.errors import PermanentError
from invoice_export.domain.export_decision import REQUEUED_CODE, original_problem, original_reference, settling_step
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ExportPlan, ProviderReference
from invoice_export.domain.records import DocumentRecord, RecordedError, Status, Step
from invoice_export.domain.settlement import SettledBy, Settlement, SettlementOutcome, undecided
from invoice_export.platform.observability import logger
from invoice_export.providers.base import AdapterFactory, ProviderAdapter
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import audit_note
from invoice_export.storage.documents import DocumentStore

if TYPE_CHECKING:  # the configuration API queues requests without loading the export service
    from invoice_export.services.export import ExportService

# Settlements of one document the schedule tries that leave it in doubt; then only an operator asks.
MAX_AUTOMATIC_TRIES = 5
SQS_BATCH = 10  # SendMessageBatch's limit


class SettleRequest(BaseModel):
    """One document to settle, on the settlement queue."""

    model_config = ConfigDict(extra="forbid")
    account_id: str
    document_id: str
    requested_by: str = "schedule"  # or the operator's IAM principal (the audit trail's actor)


@dataclass
class QueuedForSettlement:
    """What one scheduled run put on the settlement queue: the function's answer."""

    queued: int = 0
    skipped_paused: int = 0  # documents of accounts whose credentials the provider refused
    left_to_operator: int = 0  # tried MAX_AUTOMATIC_TRIES times already
    stopped_for_time: bool = False
    accounts: list[str] = field(default_factory=list)


class InDoubtSettlement:
    def __init__(self, *, accounts: AccountStore, documents: DocumentStore, adapter_factory: AdapterFactory,
                 export: ExportService, sqs: Any, settle_queue_url: str | None) -> None:
        self.accounts = accounts
        self.documents = documents
        self.adapter_factory = adapter_factory
        self.export = export
        self.sqs = sqs
        self.settle_queue_url = settle_queue_url

    # ---------------------------------------------------------------- one document

    def settle(self, account_id: str, document_id: str, *, requested_by: str = "schedule") -> Settlement | None:
        """Ask the provider about a document held in doubt and act on the answer; None when it is not in
        doubt any more (settled meanwhile) or cannot be asked (account gone, a message never readable).
        A transient failure (rate limit, 5xx, AWS) propagates: the request is retried by its queue."""
        record = self.documents.get(account_id, document_id)
        settings = self.accounts.get(account_id)
        document = record.parsed_document() if record is not None else None
        if record is None or record.status != Status.IN_DOUBT or settings is None or document is None:
            return None
        adapter = self.adapter_factory(settings, self.accounts.credentials(account_id))
        try:
            plan = plan_export(document, settings, type(adapter), corrected=self._corrected(record, document.kind))
        except PermanentError as error:  # the account's settings changed since: the request cannot be rebuilt
            settlement = undecided(SettledBy.LOOK_UP, f"the document cannot be prepared for {adapter.display_name} "
                                                      f"any more ({error.message})")
        else:
            settlement = self._ask(adapter, plan, record)
        self._act(record, settlement, settings.provider.value, requested_by)
        return settlement

    def _ask(self, adapter: ProviderAdapter, plan: ExportPlan, record: DocumentRecord) -> Settlement:
        settlement = adapter.settle_interrupted(plan, self.export.interrupted_attempt(record, adapter))
        logger.info("document in doubt asked about", extra={"settlement": settlement.outcome.value,
                                                            "settled_by": settlement.by.value})
        found = settlement.found
        if found is not None and not found.number:
            # Its `exported` event carries the provider's number (issue 20): read before the record is
            # settled (a transient failure retries the request; none to read: recorded without it).
            number = adapter.read_number(found.provider_document_id)
            if number:
                settlement = replace(settlement, found=replace(found, number=number))
        return settlement

    def _act(self, record: DocumentRecord, settlement: Settlement, provider: str, actor: str) -> None:
        account_id, document_id = record.account_id, record.document_id
        evidence = settlement.as_record(now_iso(), where="settlement")
        step = settling_step(settlement)
        details: dict[str, Any] = {"outcome": settlement.outcome.value,
                                   "response": {"reason": settlement.reason, "candidates": evidence["candidates"]}}
        if step == Step.SETTLE_IN_DOUBT:
            assert settlement.found is not None
            found = settlement.found
            self.documents.settle_in_doubt(
                account_id, document_id, provider=provider, provider_document_id=found.provider_document_id,
                provider_number=found.number, provider_series=found.series, settlement=evidence,
                audit=audit_note("settled_found", actor, **details))
            # Refused when settled meanwhile (another settlement, an operator): that change is announced instead.
        elif step == Step.REQUEUE_IN_DOUBT:
            reason = RecordedError(code=REQUEUED_CODE, message=settlement.reason, retryable=True, at=now_iso(),
                                   fix="nothing: it is sent again")
            # Its export message comes from the record's stream (domain.record_changes: send_again).
            self.documents.requeue_in_doubt(account_id, document_id, reason, evidence,
                                            audit=audit_note("settled_requeued", actor, **details))
        elif settlement.outcome == SettlementOutcome.UNDECIDED:
            self.documents.record_settlement(account_id, document_id, evidence,
                                             audit=audit_note("settle_undecided", actor, **details))

    def _corrected(self, record: DocumentRecord, kind: DocumentKind) -> ProviderReference | None:
        if kind != DocumentKind.CORRECTION:
            return None
        document = record.parsed_document()
        assert document is not None and document.correction is not None
        original = self.documents.get(record.account_id, document.correction.corrected_document_id)
        if (problem := original_problem(original)) is not None:
            raise PermanentError(f"its corrected document {problem}")
        assert original is not None
        return original_reference(original)

    # ---------------------------------------------------------------- the schedule and the operator

    def queue_in_doubt(self, time_left: Callable[[], float]) -> QueuedForSettlement:
        """The schedule's run: every document still in doubt of every connected account, on the queue -
        except those of paused accounts (their provider refuses the credentials) and those tried often."""
        report = QueuedForSettlement()
        for settings in self.accounts.list_accounts():
            if time_left() <= 0:
                report.stopped_for_time = True
                break
            start_key: dict[str, Any] | None = None
            queued_before = report.queued
            while True:
                records, start_key = self.documents.page_by_status(settings.account_id, Status.IN_DOUBT,
                                                                   start_key=start_key)
                if settings.status == "needs_reconnect":
                    report.skipped_paused += len(records)
                else:
                    wanted = [r for r in records if r.settlement_tries < MAX_AUTOMATIC_TRIES]
                    report.left_to_operator += len(records) - len(wanted)
                    queue_settlement(self.sqs, self.settle_queue_url, [
                        SettleRequest(account_id=r.account_id, document_id=r.document_id) for r in wanted])
                    report.queued += len(wanted)
                if not start_key:
                    break
            if report.queued > queued_before:
                report.accounts.append(settings.account_id)
        return report


def queue_settlement(sqs: Any, queue_url: str | None, requests: list[SettleRequest]) -> None:
    """Put settlement requests on the settlement queue (its function settles them one by one)."""
    if queue_url is None:
        raise RuntimeError("SETTLE_QUEUE_URL is not set for this function (see infra/template.yaml)")
    for start in range(0, len(requests), SQS_BATCH):
        batch = requests[start:start + SQS_BATCH]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(index), "MessageBody": request.model_dump_json()} for index, request in enumerate(batch)])
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} settlement request(s) not queued: "
                               f"{answer['Failed'][0].get('Message') or answer['Failed'][0].get('Code')}")
