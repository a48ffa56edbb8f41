"""Export one document to its account's accounting system, exactly once.

Guards keep a second document from ever appearing at the provider, all of them on the document's
record (no separate idempotency record: ARCHITECTURE.md, "Exactly once without an idempotency record"):
1. Conditional writes of the document record: only one worker can move it to `sending`, and an
   exported record can never be mapped to a second provider document; an exported one is final.
2. A `sending` record claimed less than the export function's Timeout ago may belong to a live
   attempt (a duplicate delivery running beside it): the delivery that finds it waits on the queue
   (`in_flight`) and nothing is sent or looked up meanwhile.
3. A `sending` record older than that means an earlier attempt was interrupted after the request
   may have reached the provider: the provider is asked (by our document id, the creation task, or
   its list of the day and our reference: domain.settlement) before anything is sent again. Where
   it cannot answer, the document is held "in doubt" (services.settlement asks again later).

What to do with a message is decided by a pure function (domain.export_decision: the record's
state, the message, the account's settings, the provider's capabilities -> one action); this module
gathers those facts and performs the action: the writes (each a step of the lifecycle table in
domain.records) and the provider calls.

What follows from a record it settles - the outcome event, the PDF fetch, the first KSeF poll, the
audit entry (which the write carries as `audit_note`) - is not done here: it is read from the
table's change stream (domain.record_changes, services/record_changes.py), so it cannot be lost
between the write and the step after it. Only an answer that changes no record is published here:
superseded, already exported, still in doubt, pending for a bulk run; the message is acknowledged
only once that is published.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import Document, DocumentKind, ExportMessage, Trigger
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    CredentialsRejected,
    ExportError,
    PermanentError,
    RequestMayHaveSucceeded,
    TransientError,
    WaitingForOriginal,
)
from invoice_export.domain.export_decision import (
    PAUSED_CODE,
    Act,
    Action,
    ExportFacts,
    ProviderFacts,
    after_look_up,
    claim_lease_seconds,
    concurrent_change,
    decide,
    in_doubt,
    original_problem,
    original_reference,
    waiting_for,
    while_paused,
)
from invoice_export.domain.own_numbers import NumberClaim
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import CreatedDocument, ExportPlan, ProviderReference
from invoice_export.domain.readback import compare, home_vat_record, pln_vat_record, settle_vat_split
from invoice_export.domain.records import DocumentRecord, RecordedError, Status
from invoice_export.domain.settlement import InterruptedAttempt, attempt_of
from invoice_export.platform.observability import logger
from invoice_export.platform.runtime_settings import RuntimeSettings
from invoice_export.platform.side_by_side import provider_call_in_turn
from invoice_export.providers import adapter_class
from invoice_export.providers.base import AdapterFactory, ProviderAdapter
from invoice_export.services.events import (
    Outcome,
    OutcomeError,
    OutcomeEvent,
    OutcomePublisher,
    document_figures,
    document_identity,
)
from invoice_export.services.pausing import publish_account_paused
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import audit_note
from invoice_export.storage.documents import DocumentStore


class ExportResult(BaseModel):
    outcome: Outcome
    provider_document_id: str | None = None
    provider_number: str | None = None


LinkMaker = Callable[[str, str], str]


class ExportService:
    def __init__(self, *, settings: RuntimeSettings, accounts: AccountStore, documents: DocumentStore,
                 publisher: OutcomePublisher, adapter_factory: AdapterFactory, make_link: LinkMaker,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.accounts = accounts
        self.documents = documents
        self.publisher = publisher
        self.adapter_factory = adapter_factory
        self.make_link = make_link
        self.metrics = metrics
        # Powertools Metrics is not thread-safe; a batch may export documents side by side (side_by_side.py).
        self._metrics_lock = threading.Lock()

    # ---------------------------------------------------------------- entry points

    def export(self, message: ExportMessage, *, remaining_seconds: Callable[[], float] | None = None) -> ExportResult:
        """Handle one message. Transient errors propagate (the message is retried); all else returns."""
        result = self._handle(message, remaining_seconds or (lambda: math.inf))
        self._count(f"Outcome_{result.outcome.value}")
        return result

    def _count(self, metric: str) -> None:
        if self.metrics:
            with self._metrics_lock:
                self.metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)

    def give_up(self, message: ExportMessage, error: TransientError, *, actor: str | None = None) -> Outcome | None:
        """The message's last delivery failed transiently, or it sits in the DLQ unrecorded: say so on the record.

        An exported, in-doubt or failed document is left as it is, and so is a newer version than the
        message's. The write is conditional, so a repeat changes nothing; the change's event and audit
        entry follow from the record's stream. Returns the outcome recorded, None when nothing changed.
        """
        doc = message.document
        record = self.documents.get(message.account_id, doc.document_id)
        if record is None:  # never tried (skipped behind an earlier failure of its account on every delivery)
            record = self.documents.register(message)[1]
        if record.document_version > doc.version:
            return None
        if record.status == Status.EXPORTED and record.number_unread:
            # No delivery could read the number of a document created without it: its `exported`
            # event, which waited for it, goes out without it, saying so.
            self.documents.set_provider_number(message.account_id, doc.document_id, "", warnings=[
                *record.warnings, _number_unread_warning(error.message)])
            return None
        if record.status in (Status.EXPORTED, Status.IN_DOUBT, Status.FAILED):
            return None
        recorded = _recorded(error, retryable=True)
        if record.status == Status.SENDING:
            # The last attempt may have reached the provider: never mark such a document plainly failed.
            outcome, action, write = Outcome.IN_DOUBT, "held_in_doubt", self.documents.mark_in_doubt
        else:
            outcome, action, write = Outcome.FAILED, "failed", self.documents.mark_given_up
        note = self._note(message, action, actor=actor, outcome=outcome.value, error_code=error.code,
                          response={"message": error.message, "fix": error.fix})
        if write(message.account_id, doc.document_id, recorded, audit=note) is None:
            return None  # changed meanwhile (a worker, another check): that change has its own outcome
        return outcome

    def reject_unreadable(self, message_id: str, body: str, account_id: str | None, document_id: str | None,
                          problem: str) -> bool:
        """A message that is not a valid document: keep it (with its body) and say why, once per message
        (its `failed` event follows from the record's stream).

        Returns False when this message was rejected before (its record exists: nothing done)."""
        error = PermanentError(f"the message is not a valid export message: {problem}",
                               fix="correct the producer's message and send it again", code="invalid_message")
        account = account_id or "unidentified"
        document = document_id or f"message-{message_id}"
        rejected = self.documents.record_rejected_message(account, document, body, _recorded(error, retryable=False),
                                                          message_id=message_id)
        if rejected.new:
            logger.warning("message rejected", extra={"error_code": error.code, "problem": problem})
        return rejected.new

    # ---------------------------------------------------------------- one message

    def _handle(self, message: ExportMessage, remaining_seconds: Callable[[], float]) -> ExportResult:
        """Gather the facts, let the pure decision (domain.export_decision) name the action, perform it."""
        registration, record = self.documents.register(message)
        logger.info("document received", extra={"registration": registration.value, "status": record.status.value,
                                                 "document_version": message.document.version})
        settings = self.accounts.get(message.account_id)
        job = _Job(ExportFacts(message, registration, record.status, settings), record, remaining_seconds)
        try:
            return self._perform(decide(job.facts), job)
        except AmbiguousAtProvider as error:
            return self._hold_in_doubt(job, Action(Act.HOLD_IN_DOUBT, in_doubt(error.message)))
        except CredentialsRejected as error:
            return self._pause_unless_renewed(job, error)
        except WaitingForOriginal as waiting:
            return self._hold_for_original(job, waiting)
        except PermanentError as error:
            return self._fail(job, Action(Act.FAIL, error))

    def _perform(self, action: Action, job: _Job) -> ExportResult:
        perform = {
            Act.SUPERSEDE: self._supersede,
            Act.REPORT_EXPORTED: self._conclude_exported,
            Act.REPORT_IN_DOUBT: self._report_in_doubt,
            Act.FAIL: self._fail,
            Act.WAIT_FOR_BULK: self._wait_for_bulk,
            Act.HOLD_PAUSED: self._hold_paused,
            Act.RETRY_LATER: _retry_later,
            Act.SEND: self._send,
            Act.HOLD_IN_DOUBT: self._hold_in_doubt,
        }[action.act]  # LOOK_UP is a step of sending (_after_refused_claim), never decided first
        return perform(job, action)

    # ---------------------------------------------------------------- sending

    def _send(self, job: _Job, action: Action) -> ExportResult:
        settings = job.settings
        assert settings is not None  # decided SEND only for a connected account
        adapter = self.adapter_factory(settings, self.accounts.credentials(job.account_id))
        plan = plan_export(job.document, settings, type(adapter), corrected=self._corrected_original(job.message))
        # Our number goes out claimed for this document in the same write as its claim: one document per number.
        number = NumberClaim.for_plan(adapter.own_number_scope, plan)
        # Where the provider numbers the documents, this one is claimed and sent only in its turn, after
        # the account's documents before it in the batch (side_by_side.py): one that waits unclaimed and
        # dies with its worker is simply sent later, never settled by a look-up.
        with provider_call_in_turn(_earlier_document_failed):
            attempt_id = uuid.uuid4().hex
            # Read before the claim so that it is kept in the claim's own write (SmartBill only; else None).
            numbering = adapter.numbering_before_create(plan)
            claimed, record = self.documents.claim(job.account_id, job.document_id, attempt_id, number,
                                                   known=job.record, numbering=numbering)
            if not claimed:
                settled = self._after_refused_claim(job, adapter, plan, record, attempt_id, number, numbering)
                if settled is not None:
                    return settled
            created = self._create(job, adapter, plan, attempt_id)
        return self._record_created(job, adapter, plan, record, created)

    def _after_refused_claim(self, job: _Job, adapter: ProviderAdapter, plan: ExportPlan, record: DocumentRecord,
                             attempt_id: str, number: NumberClaim | None,
                             numbering: dict[str, str] | None) -> ExportResult | None:
        """The record was not pending or failed any more. None: it was `sending`, left by an interrupted
        attempt the provider does not have, and this attempt took it over to send it again."""
        job = dataclasses.replace(job, record=record)
        provider = ProviderFacts(adapter.display_name, adapter.capabilities)
        lease = claim_lease_seconds(record, datetime.now(UTC), self.settings.export_timeout_seconds)
        action = decide(dataclasses.replace(job.facts, status=record.status, refused_claim_by=provider,
                                            claim_lease_seconds=lease))
        if action.act != Act.LOOK_UP:
            return self._perform(action, job)
        # An earlier attempt stopped mid-call: does the provider have the document already?
        settlement = adapter.settle_interrupted(plan, self.interrupted_attempt(record, adapter, may_list=False))
        logger.info("interrupted attempt asked about", extra={"settlement": settlement.outcome.value,
                                                               "settled_by": settlement.by.value})
        evidence = settlement.as_record(now_iso(), where="export")
        action = after_look_up(settlement, adapter.display_name)
        if action.act == Act.EXPORT_FOUND:
            assert settlement.found is not None
            split = plan.vat_split  # as predicted: nothing is read back here
            return self._exported(job, settlement.found,
                                  warnings=[split.warning(adapter.display_name)] if split else [],
                                  vat_in_pln=pln_vat_record(job.document, None),
                                  vat_in_home_currency=home_vat_record(job.document, None),
                                  vat_split=split.as_record(job.document) if split else None, settlement=evidence)
        if action.act == Act.HOLD_IN_DOUBT:
            return self._hold_in_doubt(job, action, settlement=evidence)
        if action.act != Act.SEND:
            return self._perform(action, job)  # asked again later (RETRY_LATER)
        if self.documents.continue_interrupted(job.account_id, job.document_id, attempt_id, number,
                                               settlement=evidence, numbering=numbering) is None:
            raise concurrent_change("document changed while settling an interrupted attempt")
        return None

    def interrupted_attempt(self, record: DocumentRecord, adapter: ProviderAdapter, *,
                            may_list: bool = True) -> InterruptedAttempt:
        """The interrupted attempt of `record` as its provider is asked about it (domain.settlement), with
        the provider documents our records map to the account's other documents exported since the day
        before its issue date (read only if the provider's list leaves many to read). A later delivery
        does not list (`may_list`): that is the settlement's (services.settlement), off the account's queue."""
        wait = self.settings.settle_listing_after_seconds
        document = record.parsed_document()

        def mapped_elsewhere() -> frozenset[str]:
            assert document is not None
            since = (document.issue_date - timedelta(days=1)).isoformat()
            return frozenset(other.provider_document_id for other in self.documents.exported_since(
                record.account_id, since) if other.document_id != record.document_id and other.provider_document_id)

        return attempt_of(record, adapter.listing_complete_after if wait is None else wait, datetime.now(UTC),
                          mapped_elsewhere if document is not None else None, may_list=may_list)

    def _create(self, job: _Job, adapter: ProviderAdapter, plan: ExportPlan, attempt_id: str) -> CreatedDocument:
        try:
            # Inside: a create not started for lack of time sent nothing, so the claim is released too
            # (left `sending`, it would be looked up at the provider, or held in doubt on a last delivery).
            self._require_time_for_call(job.remaining_seconds)
            return adapter.create_document(plan)
        except CredentialsRejected:
            # Refused at the door: nothing was created, so the document is not in flight any more.
            self.documents.release_claim(job.account_id, job.document_id, attempt_id, RecordedError(
                code=CredentialsRejected.code, message="credentials refused", at=now_iso()))
            raise
        except RequestMayHaveSucceeded as error:
            if error.task_reference is not None:  # only now: no write on the way of a create that answers
                self.documents.record_provider_task(job.account_id, job.document_id, attempt_id,
                                                    error.task_reference)
            raise
        except TransientError as error:
            # Nothing was created: the next delivery may claim and send it as usual.
            self.documents.release_claim(job.account_id, job.document_id, attempt_id,
                                         _recorded(error, retryable=True))
            raise

    def _record_created(self, job: _Job, adapter: ProviderAdapter, plan: ExportPlan, record: DocumentRecord,
                        created: CreatedDocument) -> ExportResult:
        assert job.settings is not None
        warnings = list(created.warnings)
        note = self._note(job.message, "sent", settings_version=job.settings.settings_version, outcome="created",
                          request=adapter.build_request(plan),
                          response={**dataclasses.asdict(created.reference), "warnings": warnings})
        drift = []
        split = settle_vat_split(job.document, plan.vat_split, created.readback)
        if created.readback is not None:
            drift = compare(job.document, created.readback,
                            plan.corrected.provider_document_id if plan.corrected else None, split)
            warnings += [d.describe(adapter.display_name) for d in drift]
            if drift:
                logger.warning("provider totals differ from ours", extra={"drift": [d.field for d in drift]})
        if split is not None:
            warnings.append(split.warning(adapter.display_name))
        return self._exported(dataclasses.replace(job, record=record), created.reference, warnings=warnings,
                              drift=[{"field": d.field, "ours": d.ours, "provider": d.provider} for d in drift],
                              vat_in_pln=pln_vat_record(job.document, created.readback),
                              vat_in_home_currency=home_vat_record(job.document, created.readback),
                              vat_split=split.as_record(job.document) if split else None, audit=note)

    # ---------------------------------------------------------------- paused accounts (pausing.py)

    def _pause_unless_renewed(self, job: _Job, refusal: CredentialsRejected) -> ExportResult:
        """Second opinion with the credentials read fresh: retry if they work, else pause the account."""
        account_id, settings = job.account_id, job.settings
        assert settings is not None
        try:
            self.adapter_factory(settings, self.accounts.credentials(account_id, refresh=True)).check_credentials()
        except CredentialsRejected:
            if self.accounts.pause(account_id):
                logger.warning("account paused: credentials refused twice", extra={"error_code": refusal.code})
                publish_account_paused(self.publisher.events, self.publisher.bus_name, account_id,
                                       settings.provider.value, refusal.message)
                self._count("AccountPaused")
            record = self.documents.get(account_id, job.document_id)
            assert record is not None
            return self._perform(while_paused(account_id, record.status), dataclasses.replace(job, record=record))
        raise TransientError("the provider refused the cached credentials but accepts the stored ones",
                             code="credentials_renewed", retry_after=0)

    def _hold_paused(self, job: _Job, action: Action) -> ExportResult:
        """Keep the document pending with the reason and acknowledge it: nothing is lost, no retry burns.
        Its `pending` event (error account_paused) follows from the record's stream."""
        error = _error_of(action)
        self.documents.hold(job.account_id, job.document_id, _recorded(error, retryable=True),
                            audit=self._note(job.message, "held", outcome="pending", error_code=PAUSED_CODE))
        return ExportResult(outcome=Outcome.PENDING)

    def _hold_for_original(self, job: _Job, waiting: WaitingForOriginal) -> ExportResult:
        """A correction whose original is on its way: held pending with the reason, acknowledged, and
        listed on the original's record, whose change to exported queues it (domain.record_changes). Held
        first, listed second: when the original's change is read, the correction is held already. Its
        `pending` event (error waiting_for_original) follows from the record's stream."""
        held = self.documents.hold_for_original(
            job.account_id, job.document_id, _recorded(waiting, retryable=True),
            audit=self._note(job.message, "held", outcome="pending", error_code=waiting.code,
                             response={"message": waiting.message, "fix": waiting.fix}))
        if held is None:  # not pending or failed any more: another delivery took it
            raise concurrent_change("the correction changed while it was held for its original")
        if not self.documents.add_waiting_correction(job.account_id, waiting.original_id, job.document_id):
            # Exported (or failed) since it was read: its change may have gone by without this correction.
            # Retried, the correction reads it again: sent against it, or failed.
            raise concurrent_change(f"the corrected document {waiting.original_id} changed while this correction "
                                    "was held for it")
        return ExportResult(outcome=Outcome.PENDING)

    def _note(self, message: ExportMessage, action: str, *, actor: str | None = None, **details: Any) -> str:
        """The audit entry a write carries to the trail (through the record's stream). The actor is what
        sent the message, unless named (e.g. the DLQ check)."""
        actor = actor or {Trigger.ISSUED: "order system", Trigger.BULK: "bulk export",
                          Trigger.RETRY: "retry"}[message.trigger]
        return audit_note(action, actor, trigger=message.trigger.value, **details)

    def _corrected_original(self, message: ExportMessage) -> ProviderReference | None:
        doc = message.document
        if doc.kind != DocumentKind.CORRECTION:
            return None
        assert doc.correction is not None
        original_id = doc.correction.corrected_document_id
        original = self.documents.get(message.account_id, original_id)
        if (problem := original_problem(original)) is not None:
            if (waiting := waiting_for(original_id, original)) is not None:
                raise waiting  # held, not failed (_hold_for_original)
            raise PermanentError(
                f"the corrected document {original_id} {problem}, so the provider has nothing to correct",
                fix=f"export document {original_id} first, then retry this correction",
                code="original_not_exported")
        assert original is not None
        return original_reference(original)

    def _require_time_for_call(self, remaining_seconds: Callable[[], float]) -> None:
        if remaining_seconds() < self.settings.seconds_needed_for_provider_call:
            # Starting now could be cut off mid-call by the Lambda timeout; retry with a fresh budget.
            raise TransientError("not enough time left in this invocation for a provider call",
                                 code="invocation_time_low", retry_after=0)

    # ---------------------------------------------------------------- outcomes

    def _supersede(self, job: _Job, action: Action) -> ExportResult:
        self._publish(Outcome.SUPERSEDED, job.account_id, job.record, document_version=job.document.version)
        return ExportResult(outcome=Outcome.SUPERSEDED)

    def _wait_for_bulk(self, job: _Job, action: Action) -> ExportResult:
        self._publish(Outcome.PENDING, job.account_id, job.record)
        return ExportResult(outcome=Outcome.PENDING)

    def _report_in_doubt(self, job: _Job, action: Action) -> ExportResult:
        self._publish(Outcome.IN_DOUBT, job.account_id, job.record, error=_error_from_record(job.record))
        return ExportResult(outcome=Outcome.IN_DOUBT)

    def _hold_in_doubt(self, job: _Job, action: Action, settlement: dict[str, Any] | None = None) -> ExportResult:
        """Its `in_doubt` event follows from the record's stream (from this write, or from the change
        that moved the record first). `settlement`: the provider's answer that could not decide."""
        error = _error_of(action)
        self.documents.mark_in_doubt(job.account_id, job.document_id, _recorded(error, retryable=False),
                                     settlement=settlement)
        return ExportResult(outcome=Outcome.IN_DOUBT)

    def _exported(self, job: _Job, reference: ProviderReference, warnings: list[str],
                  drift: list[dict[str, str]] | None = None, vat_in_pln: dict[str, str] | None = None,
                  vat_split: dict[str, Any] | None = None, audit: str | None = None,
                  settlement: dict[str, Any] | None = None,
                  vat_in_home_currency: dict[str, str] | None = None) -> ExportResult:
        """Record the provider's document. Its `exported` event, PDF fetch and first KSeF poll follow
        from the record's stream."""
        assert job.settings is not None
        updated = self.documents.mark_exported(
            job.account_id, job.document_id, provider=job.settings.provider.value,
            provider_document_id=reference.provider_document_id, provider_number=reference.number,
            provider_series=reference.series, warnings=warnings, drift=drift or [], vat_in_pln=vat_in_pln,
            vat_split=vat_split, number_unread=not reference.number, audit=audit,
            settlement=settlement, vat_in_home_currency=vat_in_home_currency)
        if updated is not None:
            if updated.number_unread:  # its `exported` event waits for the number: read it now
                updated = self._read_number(job.account_id, job.settings, updated) or updated
            return ExportResult(outcome=Outcome.EXPORTED, provider_document_id=updated.provider_document_id,
                                provider_number=updated.provider_number)
        current = self.documents.get(job.account_id, job.document_id)
        assert current is not None
        if current.status != Status.EXPORTED:
            # Changed by someone else while we created it (an operator, the DLQ check): the retry
            # finds the record and settles it (a `sending` one by the look-up), never acked unrecorded.
            raise concurrent_change(f"the document record changed to {current.status.value} while the "
                                    f"document was being created at the provider")
        logger.error("exported record refused a second provider document",
                     extra={"provider_document_id": reference.provider_document_id,
                            "recorded": current.provider_document_id})
        return self._conclude_exported(dataclasses.replace(job, record=current), None)

    def _conclude_exported(self, job: _Job, action: Action | None) -> ExportResult:
        """The record was exported before this message (nothing is sent): say so. One exception: a
        record still waiting for its number (created without it) whose number this delivery reads - the
        record's `exported` event, which waited for the number, is then this delivery's answer."""
        record, settings = job.record, job.settings or self.accounts.get(job.account_id)
        if record.number_unread:
            numbered = self._read_number(job.account_id, settings, record)
            if numbered is not None:
                return ExportResult(outcome=Outcome.EXPORTED, provider_document_id=numbered.provider_document_id,
                                    provider_number=numbered.provider_number)
            record = self.documents.get(job.account_id, job.document_id) or record  # read by another delivery
        link = (self.make_link(job.account_id, record.document_id)
                if settings is not None and settings.show_provider_document else None)
        self._publish(Outcome.ALREADY_EXPORTED, job.account_id, record, customer_link=link)
        return ExportResult(outcome=Outcome.ALREADY_EXPORTED, provider_document_id=record.provider_document_id,
                            provider_number=record.provider_number)

    def _read_number(self, account_id: str, settings: AccountSettings | None,
                     record: DocumentRecord) -> DocumentRecord | None:
        """The number of a document created without it (a provider numbering it in a read after the
        create, whose read failed - e.g. our own rate limiter had no room: issue 20), read and recorded.
        The record's `exported` event waits for this write (domain.record_changes): the number is what
        the customer sees. A transient failure propagates: the message is retried, and the retry reads
        it. Nothing to read (the provider's create answers carry the number) or refused for good (the
        document deleted at the provider): recorded without it, saying so. Returns the record written,
        None when another delivery recorded the number first."""
        assert record.provider_document_id is not None
        try:
            if settings is None:
                raise PermanentError("the account is not connected any more", code="account_not_found")
            adapter = self.adapter_factory(settings, self.accounts.credentials(account_id))
            number = adapter.read_number(record.provider_document_id) or ""
        except TransientError:
            logger.warning("the provider's number of the exported document is read on the retry")
            raise
        except PermanentError as error:
            logger.error("the provider's number of the exported document cannot be read",
                         extra={"error_code": error.code})
            return self.documents.set_provider_number(account_id, record.document_id, "", warnings=[
                *record.warnings, _number_unread_warning(error.message)])
        return self.documents.set_provider_number(account_id, record.document_id, number)

    def _fail(self, job: _Job, action: Action) -> ExportResult:
        """Its `failed` event and audit entry follow from the record's stream."""
        error = _error_of(action)
        logger.warning("document failed", extra={"error_code": error.code})
        note = self._note(job.message, "failed", outcome="failed", error_code=error.code,
                          response={"message": error.message, "fix": error.fix})
        self.documents.mark_failed(job.account_id, job.document_id, _recorded(error, retryable=False), audit=note)
        return ExportResult(outcome=Outcome.FAILED)

    def _publish(self, outcome: Outcome, account_id: str, record: DocumentRecord, *,
                 error: OutcomeError | None = None, document_version: int | None = None,
                 customer_link: str | None = None) -> None:
        """An answer to a message that changes no record (a change's own event comes from the stream)."""
        self.publisher.publish(OutcomeEvent.build(
            outcome, account_id, record.document_id, attempt=record.attempts,
            document_version=document_version or record.document_version, customer_link=customer_link,
            error=error, **document_identity(record), **document_figures(record)))


@dataclasses.dataclass(frozen=True)
class _Job:
    """One message being exported: the decision's facts, the record the actions work on, the time left."""

    facts: ExportFacts
    record: DocumentRecord
    remaining_seconds: Callable[[], float]

    @property
    def message(self) -> ExportMessage:
        return self.facts.message

    @property
    def document(self) -> Document:
        return self.facts.message.document

    @property
    def account_id(self) -> str:
        return self.facts.message.account_id

    @property
    def document_id(self) -> str:
        return self.facts.message.document.document_id

    @property
    def settings(self) -> AccountSettings | None:
        return self.facts.settings


def _retry_later(job: _Job, action: Action) -> ExportResult:
    raise _error_of(action)


def _error_of(action: Action) -> Any:
    assert action.error is not None, f"{action.act} carries its error"
    return action.error


def _earlier_document_failed() -> TransientError:
    # An account's documents reach its provider in order (side_by_side.py): never after an earlier one failed.
    return TransientError("not sent: an earlier document of the account failed in the same batch, and the "
                          "account's documents reach its provider in order", code="skipped_behind_failure",
                          retry_after=0)


def _number_unread_warning(reason: str) -> str:
    return f"the provider created the document but its number could not be read ({reason})"


def _recorded(error: ExportError, *, retryable: bool) -> RecordedError:
    return RecordedError(code=error.code, message=error.message, fix=error.fix, retryable=retryable, at=now_iso())


def _error_from_record(record: DocumentRecord) -> OutcomeError | None:
    if record.last_error is None:
        return None
    e = record.last_error
    return OutcomeError(code=e.code, message=e.message, fix=e.fix, retryable=e.retryable)


__all__ = ["ExportResult", "ExportService", "adapter_class"]
