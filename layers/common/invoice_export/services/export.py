"""Export one document to its account's accounting system, exactly once.

Three guards keep a second document from ever appearing at the provider:
1. A powertools idempotency record per (account, document, version, trigger) with a fixed key
   prefix: duplicate deliveries while the first is running wait, and later ones get the stored
   result without doing anything.
2. Conditional writes of the document record: only one worker can move it to `sending`, and an
   exported record can never be mapped to a second provider document.
3. A `sending` record found by a later delivery means an earlier attempt was interrupted after
   the request may have reached the provider: the provider is asked (by our document id) before
   anything is sent again. Where it cannot answer, the document is held "in doubt".

Only successful outcomes are cached by the idempotency record; failures raise out of the unit
(`_Settled`) so that a retry after the fix runs again.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from pydantic import BaseModel

from invoice_export.domain.account_settings import AccountSettings, ExportMode, KsefMode
from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import DocumentKind, ExportMessage, Trigger
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    CredentialsRejected,
    ExportError,
    PermanentError,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.domain.readback import compare, pln_vat_record
from invoice_export.domain.records import DocumentRecord, RecordedError, Status
from invoice_export.platform.observability import logger
from invoice_export.platform.runtime_settings import RuntimeSettings
from invoice_export.platform.side_by_side import provider_call_in_turn
from invoice_export.providers import adapter_class
from invoice_export.providers.base import AdapterFactory, ProviderAdapter
from invoice_export.services.events import Outcome, OutcomeError, OutcomeEvent, OutcomePublisher
from invoice_export.services.pausing import PAUSED_CODE, publish_account_paused
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import AuditTrail, record_quietly
from invoice_export.storage.documents import DocumentStore, Registration

KSEF_KINDS = (DocumentKind.INVOICE.value, DocumentKind.CORRECTION.value)  # receipts never go to KSeF
IDEMPOTENCY_KEY_PREFIX = "invoice-export.export.v1"  # fixed: renaming code must not reset idempotency
IDEMPOTENCY_KEY = "[account_id, document.document_id, document.version, trigger]"


class ExportResult(BaseModel):
    outcome: Outcome
    provider_document_id: str | None = None
    provider_number: str | None = None


class _Settled(Exception):
    """A non-success outcome already recorded and published; raised only to skip idempotency caching."""

    def __init__(self, result: ExportResult) -> None:
        super().__init__(result.outcome.value)
        self.result = result


LinkMaker = Callable[[str, str], str]
PdfRequester = Callable[[str, str], None]
KsefPoller = Callable[[str, str], None]


class ExportService:
    def __init__(self, *, settings: RuntimeSettings, accounts: AccountStore, documents: DocumentStore,
                 publisher: OutcomePublisher, adapter_factory: AdapterFactory, make_link: LinkMaker,
                 request_pdf: PdfRequester, start_ksef_poll: KsefPoller, persistence_store: BasePersistenceLayer,
                 idempotency_config: IdempotencyConfig, metrics: Metrics | None = None,
                 audit: AuditTrail | None = None) -> None:
        self.settings = settings
        self.audit = audit
        self.accounts = accounts
        self.documents = documents
        self.publisher = publisher
        self.adapter_factory = adapter_factory
        self.make_link = make_link
        self.request_pdf = request_pdf
        self.start_ksef_poll = start_ksef_poll
        self.metrics = metrics
        # Powertools Metrics is not thread-safe; a batch may export documents side by side (side_by_side.py).
        self._metrics_lock = threading.Lock()
        self.idempotency_config = idempotency_config
        # Configured once here rather than by the first call: documents exported side by side would race
        # on it (a half-configured store hashes the whole message instead of the key's fields).
        persistence_store.configure(idempotency_config, key_prefix=IDEMPOTENCY_KEY_PREFIX)
        self._process_once = idempotent_function(
            data_keyword_argument="message",
            persistence_store=persistence_store,
            config=idempotency_config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
            output_serializer=PydanticSerializer(model=ExportResult),
        )(self._process)

    # ---------------------------------------------------------------- entry points

    def export(self, message: ExportMessage, *, remaining_seconds: Callable[[], float] | None = None) -> ExportResult:
        """Handle one message. Transient errors propagate (the message is retried); all else returns."""
        processed: list[bool] = []  # stays empty when the idempotency record answered instead of _process
        try:
            # Only `message` makes the idempotency key; the time budget is passed alongside.
            result = self._process_once(message=message, remaining_seconds=remaining_seconds or (lambda: math.inf),
                                        processed=processed)
        except _Settled as settled:
            result = settled.result
        if not processed:
            result = self._report_duplicate(message, result)
        self._count(f"Outcome_{result.outcome.value}")
        return result

    def _report_duplicate(self, message: ExportMessage, first: ExportResult) -> ExportResult:
        """A duplicate delivery, answered from its first delivery's idempotency record: nothing is sent
        again, and it gets an outcome event of its own - automation waits for one per message (issue 20).
        An exported document's says `already_exported`; any other says what the document is now."""
        record = self.documents.get(message.account_id, message.document.document_id)
        if record is None:
            return first
        if first.outcome == Outcome.SUPERSEDED:
            self._publish(Outcome.SUPERSEDED, message.account_id, record, document_version=message.document.version)
            return first
        if record.status == Status.EXPORTED:
            return self._report_exported(message.account_id, record)
        outcome = _DUPLICATE_OUTCOME[record.status]
        self._publish(outcome, message.account_id, record, error=_error_from_record(record))
        return ExportResult(outcome=outcome)

    def _count(self, metric: str) -> None:
        if self.metrics:
            with self._metrics_lock:
                self.metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)

    def give_up(self, message: ExportMessage, error: TransientError, *, actor: str | None = None) -> Outcome | None:
        """The message's last delivery failed transiently, or it sits in the DLQ unrecorded: say so on the record.

        An exported, in-doubt or failed document is left as it is, and so is a newer version than the
        message's. Only the call whose conditional write moved the record publishes (and audits) the
        outcome, so a repeat changes nothing - except that an outcome recorded here earlier whose event
        may not have gone out (the publish failed, the worker died) is published now. Returns the
        outcome recorded or published, None when nothing changed.
        """
        doc = message.document
        record = self.documents.get(message.account_id, doc.document_id)
        if record is None:  # never tried (skipped behind an earlier failure of its account on every delivery)
            record = self.documents.register(message)[1]
        if record.document_version > doc.version:
            return None
        if record.status in (Status.IN_DOUBT, Status.FAILED) and record.outcome_event_pending:
            outcome = Outcome.IN_DOUBT if record.status == Status.IN_DOUBT else Outcome.FAILED
            self._publish(outcome, message.account_id, record, error=_error_from_record(record))
            self.documents.set_outcome_event_sent(message.account_id, doc.document_id)
            return outcome
        if record.status in (Status.EXPORTED, Status.IN_DOUBT, Status.FAILED):
            return None
        recorded = _recorded(error, retryable=True)
        if record.status == Status.SENDING:
            # The last attempt may have reached the provider: never mark such a document plainly failed.
            updated = self.documents.mark_in_doubt(message.account_id, doc.document_id, recorded, event_pending=True)
            outcome, action = Outcome.IN_DOUBT, "held_in_doubt"
        else:
            updated = self.documents.mark_failed(message.account_id, doc.document_id, recorded,
                                                 only_from=(Status.PENDING,), event_pending=True)
            outcome, action = Outcome.FAILED, "failed"
        if updated is None:  # changed meanwhile (a worker, another check): that change has its own outcome
            return None
        self._audit(message, action, actor=actor, outcome=outcome.value, error_code=error.code,
                    response={"message": error.message, "fix": error.fix})
        self._publish(outcome, message.account_id, updated, error=error, retryable=True)
        self.documents.set_outcome_event_sent(message.account_id, doc.document_id)
        return outcome

    def reject_unreadable(self, message_id: str, body: str, account_id: str | None, document_id: str | None,
                          problem: str) -> bool:
        """A message that is not a valid document: keep it (with its body) and say why, once per message.

        Returns False when this message was rejected before (its record and event exist: nothing done)."""
        error = PermanentError(f"the message is not a valid export message: {problem}",
                               fix="correct the producer's message and send it again", code="invalid_message")
        account = account_id or "unidentified"
        document = document_id or f"message-{message_id}"
        rejected = self.documents.record_rejected_message(account, document, body, _recorded(error, retryable=False),
                                                          message_id=message_id)
        if rejected.event_sent:
            return False
        self.publisher.publish(OutcomeEvent.build(
            Outcome.FAILED, account, document, attempt=0,
            error=OutcomeError(code=error.code, message=error.message, fix=error.fix, retryable=False)))
        # After the event: if this write fails, a redelivery publishes again rather than never.
        self.documents.set_rejection_event_sent(account, rejected.document_key)
        logger.warning("message rejected", extra={"error_code": error.code, "problem": problem})
        return True

    # ---------------------------------------------------------------- the idempotent unit

    def _process(self, message: ExportMessage, remaining_seconds: Callable[[], float],
                 processed: list[bool]) -> ExportResult:
        processed.append(True)
        registration, record = self.documents.register(message)
        logger.info("document received", extra={"registration": registration.value, "status": record.status.value,
                                                 "document_version": message.document.version})
        try:
            return self._decide(message, registration, record, remaining_seconds)
        except AmbiguousAtProvider as error:
            self._hold(message.document, record, error.message)
            raise AssertionError("unreachable") from None
        except CredentialsRejected as error:
            self._pause_unless_renewed(message, error)
            raise AssertionError("unreachable") from None
        except PermanentError as error:
            self._fail(message, error)
            raise AssertionError("unreachable") from None

    def _decide(self, message: ExportMessage, registration: Registration, record: DocumentRecord,
                remaining_seconds: Callable[[], float]) -> ExportResult:
        account_id, doc = message.account_id, message.document
        if registration == Registration.STALE:
            self._publish(Outcome.SUPERSEDED, account_id, record, document_version=doc.version)
            return ExportResult(outcome=Outcome.SUPERSEDED)
        if record.status == Status.EXPORTED:
            return self._report_exported(account_id, record)
        if record.status == Status.IN_DOUBT:
            self._publish(Outcome.IN_DOUBT, account_id, record, error=_error_from_record(record))
            raise _Settled(ExportResult(outcome=Outcome.IN_DOUBT))

        settings = self.accounts.get(account_id)
        if settings is None:
            raise PermanentError(f"account {account_id} is not connected",
                                 fix="connect the account, or correct account_id in the message; then retry",
                                 code="unknown_account")
        if settings.export_mode == ExportMode.BULK and message.trigger == Trigger.ISSUED:
            self._publish(Outcome.PENDING, account_id, record)
            return ExportResult(outcome=Outcome.PENDING)
        if settings.status == "needs_reconnect":
            self._hold_while_paused(message, record)

        adapter = self.adapter_factory(settings, self.accounts.credentials(account_id))
        plan = plan_export(doc, settings, type(adapter), corrected=self._corrected_original(message))
        # Where the provider numbers the documents, this one is claimed and sent only in its turn, after
        # the account's documents before it in the batch (side_by_side.py): one that waits unclaimed and
        # dies with its worker is simply sent later, never settled by a look-up.
        with provider_call_in_turn(_earlier_document_failed):
            attempt_id = uuid.uuid4().hex
            claimed, record = self.documents.claim(account_id, doc.document_id, attempt_id)
            if not claimed:
                if record.status == Status.EXPORTED:
                    return self._report_exported(account_id, record)
                if record.status != Status.SENDING:
                    raise TransientError(f"document is {record.status.value}; another worker changed it",
                                         code="concurrent_change")
                found = self._settle_interrupted(adapter, plan, record)
                if found is not None:
                    return self._exported(account_id, settings, record, found, warnings=[],
                                          vat_in_pln=pln_vat_record(doc, None))
                if self.documents.continue_interrupted(account_id, doc.document_id, attempt_id) is None:
                    raise TransientError("document changed while settling an interrupted attempt",
                                         code="concurrent_change")

            try:
                # Inside: a create not started for lack of time sent nothing, so the claim is released too
                # (left `sending`, it would be looked up at the provider, or held in doubt on a last delivery).
                self._require_time_for_call(remaining_seconds)
                created = adapter.create_document(plan)
            except CredentialsRejected:
                # Refused at the door: nothing was created, so the document is not in flight any more.
                self.documents.release_claim(account_id, doc.document_id, attempt_id, RecordedError(
                    code=CredentialsRejected.code, message="credentials refused", at=now_iso()))
                raise
            except TransientError as error:
                if not isinstance(error, RequestMayHaveSucceeded):
                    # Nothing was created: the next delivery may claim and send it as usual.
                    self.documents.release_claim(account_id, doc.document_id, attempt_id,
                                                 _recorded(error, retryable=True))
                raise
        warnings = list(created.warnings)
        self._audit(message, "sent", settings_version=settings.settings_version, outcome="created",
                    request=adapter.build_request(plan),
                    response={**dataclasses.asdict(created.reference), "warnings": warnings})
        drift = []
        if created.readback is not None:
            drift = compare(doc, created.readback, plan.corrected.provider_document_id if plan.corrected else None)
            warnings += [d.describe(adapter.display_name) for d in drift]
            if drift:
                logger.warning("provider totals differ from ours", extra={"drift": [d.field for d in drift]})
        return self._exported(account_id, settings, record, created.reference, warnings=warnings,
                              drift=[{"field": d.field, "ours": d.ours, "provider": d.provider} for d in drift],
                              vat_in_pln=pln_vat_record(doc, created.readback))

    def _settle_interrupted(self, adapter: ProviderAdapter, plan: Any,
                            record: DocumentRecord) -> ProviderReference | None:
        """An earlier attempt stopped mid-call: does the provider have the document already?"""
        name = adapter.display_name
        if not adapter.capabilities.lookup_by_reference:
            self._hold(plan.document, record, f"{name} cannot be asked whether an interrupted create arrived")
        try:
            found = adapter.find_document(plan)
        except PermanentError as error:
            self._hold(plan.document, record, f"the look-up at {name} could not decide: {error.message}")
        logger.info("interrupted attempt settled", extra={"found_at_provider": found is not None})
        return found

    def _hold(self, document: Any, record: DocumentRecord, reason: str) -> None:
        error = PermanentError(
            reason, code="in_doubt",
            fix="check the provider for this document, then resolve it: attach the provider document or release "
                "it for a new send")
        self.documents.mark_in_doubt(record.account_id, document.document_id, _recorded(error, retryable=False))
        self._publish(Outcome.IN_DOUBT, record.account_id, record, error=error)
        raise _Settled(ExportResult(outcome=Outcome.IN_DOUBT))

    # ---------------------------------------------------------------- paused accounts (pausing.py)

    def _pause_unless_renewed(self, message: ExportMessage, refusal: CredentialsRejected) -> None:
        """Second opinion with the credentials read fresh: retry if they work, else pause the account."""
        account_id = message.account_id
        settings = self.accounts.get(account_id)
        assert settings is not None
        try:
            self.adapter_factory(settings, self.accounts.credentials(account_id, refresh=True)).check_credentials()
        except CredentialsRejected:
            if self.accounts.pause(account_id):
                logger.warning("account paused: credentials refused twice", extra={"error_code": refusal.code})
                publish_account_paused(self.publisher.events, self.publisher.bus_name, account_id,
                                       settings.provider.value, refusal.message)
                self._count("AccountPaused")
            record = self.documents.get(account_id, message.document.document_id)
            assert record is not None
            self._hold_while_paused(message, record)
        raise TransientError("the provider refused the cached credentials but accepts the stored ones",
                             code="credentials_renewed", retry_after=0)

    def _hold_while_paused(self, message: ExportMessage, record: DocumentRecord) -> None:
        """Keep the document pending with the reason and acknowledge it: nothing is lost, no retry burns."""
        if record.status == Status.SENDING:
            # An interrupted attempt must be settled by a look-up, which needs working credentials:
            # it waits on the queue (max back-off) instead of being held as pending.
            raise TransientError("the account is paused until it is reconnected", code=PAUSED_CODE,
                                 retry_after=900)
        error = PermanentError(f"account {message.account_id} is paused: its provider refused its credentials",
                               fix="reconnect the account; its held documents are sent then", code=PAUSED_CODE)
        self.documents.hold(message.account_id, message.document.document_id, _recorded(error, retryable=True))
        self._audit(message, "held", outcome="pending", error_code=PAUSED_CODE)
        self._publish(Outcome.PENDING, message.account_id, record, error=error)
        raise _Settled(ExportResult(outcome=Outcome.PENDING))

    def _audit(self, message: ExportMessage, action: str, *, actor: str | None = None, **details: Any) -> None:
        """Best effort: an export is never held back by its audit entry (a failure is logged).
        The actor is what sent the message, unless named (e.g. the DLQ check)."""
        actor = actor or {Trigger.ISSUED: "order system", Trigger.BULK: "bulk export",
                          Trigger.RETRY: "retry"}[message.trigger]
        record_quietly(self.audit, message.account_id, message.document.document_id, action, actor,
                       trigger=message.trigger.value, **details)

    def _corrected_original(self, message: ExportMessage) -> ProviderReference | None:
        doc = message.document
        if doc.kind != DocumentKind.CORRECTION:
            return None
        assert doc.correction is not None
        original_id = doc.correction.corrected_document_id
        original = self.documents.get(message.account_id, original_id)
        if original is None or original.status != Status.EXPORTED or not original.provider_document_id:
            state = "was never received" if original is None else f"is {original.status.value}"
            raise PermanentError(
                f"the corrected document {original_id} {state}, so the provider has nothing to correct",
                fix=f"export document {original_id} first, then retry this correction",
                code="original_not_exported")
        return ProviderReference(original.provider_document_id, original.provider_number or "",
                                 original.provider_series)

    def _require_time_for_call(self, remaining_seconds: Callable[[], float]) -> None:
        if remaining_seconds() < self.settings.seconds_needed_for_provider_call:
            # Starting now could be cut off mid-call by the Lambda timeout; retry with a fresh budget.
            raise TransientError("not enough time left in this invocation for a provider call",
                                 code="invocation_time_low", retry_after=0)

    # ---------------------------------------------------------------- outcomes

    def _exported(self, account_id: str, settings: AccountSettings, record: DocumentRecord,
                  reference: ProviderReference, warnings: list[str],
                  drift: list[dict[str, str]] | None = None,
                  vat_in_pln: dict[str, str] | None = None) -> ExportResult:
        updated = self.documents.mark_exported(
            account_id, record.document_id, provider=settings.provider.value,
            provider_document_id=reference.provider_document_id, provider_number=reference.number,
            provider_series=reference.series, warnings=warnings, drift=drift or [], vat_in_pln=vat_in_pln)
        if updated is None:
            current = self.documents.get(account_id, record.document_id)
            assert current is not None
            if current.status != Status.EXPORTED:
                # Changed by someone else while we created it (an operator, the DLQ check): the retry
                # finds the record and settles it (a `sending` one by the look-up), never acked unrecorded.
                raise TransientError(f"the document record changed to {current.status.value} while the "
                                     f"document was being created at the provider", code="concurrent_change")
            logger.error("exported record refused a second provider document",
                         extra={"provider_document_id": reference.provider_document_id,
                                "recorded": current.provider_document_id})
            return self._report_exported(account_id, current)
        return self._report_exported(account_id, updated, settings=settings)

    def _report_exported(self, account_id: str, record: DocumentRecord,
                         settings: AccountSettings | None = None) -> ExportResult:
        """Exported now, or a re-send of an exported document (nothing is sent)."""
        settings = settings or self.accounts.get(account_id)
        if not record.provider_number and settings is not None:
            record = self._read_number(account_id, settings, record)
        if record.pdf is None:
            self.request_pdf(account_id, record.document_id)
        outcome = Outcome.EXPORTED if not record.exported_event_sent else Outcome.ALREADY_EXPORTED
        link = (self.make_link(account_id, record.document_id)
                if settings is not None and settings.show_provider_document else None)
        self._publish(outcome, account_id, record, customer_link=link)
        if outcome == Outcome.EXPORTED:
            if settings is not None and settings.ksef != KsefMode.OFF and record.kind in KSEF_KINDS:
                self.start_ksef_poll(account_id, record.document_id)
            self.documents.set_exported_event_sent(account_id, record.document_id)
        return ExportResult(outcome=outcome, provider_document_id=record.provider_document_id,
                            provider_number=record.provider_number)

    def _read_number(self, account_id: str, settings: AccountSettings, record: DocumentRecord) -> DocumentRecord:
        """The number of a document created without it (the provider's read after the create failed, e.g.
        our own rate limiter had no room: issue 20), read before its event announces it - the number is
        what the customer sees. A transient failure propagates: the message is retried, and the retry
        reads it. Refused for good (the document deleted at the provider): announced without it, saying so."""
        assert record.provider_document_id is not None
        try:
            adapter = self.adapter_factory(settings, self.accounts.credentials(account_id))
            number = adapter.read_number(record.provider_document_id)
        except TransientError:
            logger.warning("the provider's number of the exported document is read on the retry")
            raise
        except PermanentError as error:
            logger.error("the provider's number of the exported document cannot be read",
                         extra={"error_code": error.code})
            return record.model_copy(update={"warnings": [
                *record.warnings, f"the provider created the document but its number could not be read "
                                  f"({error.message})"]})
        if not number:  # the provider's create answers carry the number: nothing to read
            return record
        # None: recorded meanwhile by another delivery; its number is the one stored.
        return (self.documents.set_provider_number(account_id, record.document_id, number)
                or self.documents.get(account_id, record.document_id) or record)

    def _fail(self, message: ExportMessage, error: PermanentError) -> None:
        account_id, doc = message.account_id, message.document
        updated = self.documents.mark_failed(account_id, doc.document_id, _recorded(error, retryable=False))
        record = updated or self.documents.get(account_id, doc.document_id)
        assert record is not None
        logger.warning("document failed", extra={"error_code": error.code})
        self._audit(message, "failed", outcome="failed", error_code=error.code,
                    response={"message": error.message, "fix": error.fix})
        self._publish(Outcome.FAILED, account_id, record, error=error)
        raise _Settled(ExportResult(outcome=Outcome.FAILED))

    def _publish(self, outcome: Outcome, account_id: str, record: DocumentRecord, *,
                 error: ExportError | OutcomeError | None = None, retryable: bool = False,
                 document_version: int | None = None, customer_link: str | None = None) -> None:
        if isinstance(error, ExportError):
            error = OutcomeError(code=error.code, message=error.message, fix=error.fix, retryable=retryable)
        self.publisher.publish(OutcomeEvent.build(
            outcome, account_id, record.document_id, attempt=record.attempts,
            document_version=document_version or record.document_version, kind=record.kind,
            our_number=record.number, order_id=record.order_id, provider=record.provider,
            provider_document_id=record.provider_document_id, provider_number=record.provider_number,
            customer_link=customer_link, error=error, warnings=record.warnings, vat_in_pln=record.vat_in_pln))


# A duplicate of a message whose first delivery left the document not exported: what it is now. (Only
# successful outcomes are cached, so the first delivery found it pending: a bulk-mode account's document,
# which its run may be sending, or may have failed or held in doubt since.)
_DUPLICATE_OUTCOME = {Status.PENDING: Outcome.PENDING, Status.SENDING: Outcome.PENDING,
                      Status.FAILED: Outcome.FAILED, Status.IN_DOUBT: Outcome.IN_DOUBT}


def _earlier_document_failed() -> TransientError:
    # An account's documents reach its provider in order (side_by_side.py): never after an earlier one failed.
    return TransientError("not sent: an earlier document of the account failed in the same batch, and the "
                          "account's documents reach its provider in order", code="skipped_behind_failure",
                          retry_after=0)


def _recorded(error: ExportError, *, retryable: bool) -> RecordedError:
    return RecordedError(code=error.code, message=error.message, fix=error.fix, retryable=retryable, at=now_iso())


def _error_from_record(record: DocumentRecord) -> OutcomeError | None:
    if record.last_error is None:
        return None
    e = record.last_error
    return OutcomeError(code=e.code, message=e.message, fix=e.fix, retryable=e.retryable)


__all__ = ["ExportResult", "ExportService", "adapter_class"]
