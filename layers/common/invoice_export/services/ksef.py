"""KSeF read-back: after export, poll the provider until KSeF's answer is final.

KSeF (the national e-invoice system) numbers an invoice asynchronously, seconds to hours after it
was sent. Whoever sent it (we, on export, or the accounting system by itself), we read the state
through the provider, record the KSeF number on the document and announce it with an event.
Guard against double submission: we ask the provider to send again only in `send_on_export` mode,
only after the failure its documentation calls retryable, and at most `MAX_RESENDS` times.

A provider that can send but not report KSeF's answer (iFirma: capability ksef_read_back False) is
asked once, here, in `send_on_export` mode: the send is claimed on the document's record first, so
at most one poll ever sends, and it is never repeated once it may have reached the provider. The
document is then recorded as `submitted`, a final state, with an event saying where to see the
KSeF number.

Each export starts one chain of polls (from the record's change stream, services/record_changes.py,
which may hand a change over twice): the chain's first poll claims the document for itself
(`claim_ksef_polling`), and a second chain started for the same export stops there. A final state
is recorded with its audit entry; its event follows from the record's stream.

The same poller reads Romania's e-Factura (ANAF's SPV) back for a Romanian provider (its adapter's
`clearance_system`; the account's `ksef` setting says who sends there): the same states, recorded on
the same record fields, announced (from the record's stream) with the `efactura_*` events instead of
the `ksef_*` ones. Oblio sends through a call of its own after the create, so in `send_on_export`
mode a document e-Factura has not seen yet is sent by the poll (read just before, at most
MAX_RESENDS times).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from invoice_export.domain.account_settings import AccountSettings, KsefMode
from invoice_export.domain.documents import Identifier
from invoice_export.domain.errors import ExportError, RequestMayHaveSucceeded, TransientError
from invoice_export.domain.provider_contract import ClearanceSystem, KsefState, KsefStatus
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.platform.observability import logger
from invoice_export.platform.runtime_settings import RuntimeSettings
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.providers.base import AdapterFactory, ProviderAdapter
from invoice_export.services.events import Outcome
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import audit_note
from invoice_export.storage.documents import DocumentStore

MAX_POLLS = 12  # with the doubling delay capped at 15 min: about 2.5 hours of waiting
MAX_RESENDS = 3  # Fakturownia's KSeF guide: up to 3 retries with growing delays
FINAL_STATES = ("accepted", "rejected", "not_applicable", "submitted")


class KsefPollRequest(BaseModel):
    """Body of a message on the KSeF queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    account_id: Identifier
    document_id: Identifier
    attempt: int = 0
    # The chain of polls this one belongs to (set when the first is requested); None: a request from
    # before chains were kept, polled as it is.
    chain: str | None = None


PollScheduler = Callable[[KsefPollRequest, int], None]  # (request, delay seconds)


@dataclass(frozen=True)
class Clearance:
    """How the poller speaks of one national e-invoice system: its events, audit actions and number."""

    name: str
    accepted: Outcome
    rejected: Outcome
    unconfirmed: Outcome
    submitted: Outcome
    prefix: str  # of audit actions and error codes: ksef_accepted, efactura_rejected...
    number_field: str  # the outcome event's field for the number it gives
    sent_by_poller: bool  # send_on_export: the poll sends what the system has not seen (the create did not)

    def outcome(self, state: str) -> Outcome:
        """The event of a final state (accepted, rejected, unconfirmed, submitted)."""
        outcome: Outcome = getattr(self, state)
        return outcome

    @property
    def fix(self) -> str:
        return (f"correct the document in the accounting system and send it to {self.name} from there "
                f"(a correction, if {self.name} accepted it already)")


CLEARANCES = {
    ClearanceSystem.KSEF: Clearance("KSeF", Outcome.KSEF_ACCEPTED, Outcome.KSEF_REJECTED, Outcome.KSEF_UNCONFIRMED,
                                    Outcome.KSEF_SUBMITTED, "ksef", "ksef_number", sent_by_poller=False),
    ClearanceSystem.EFACTURA: Clearance("e-Factura", Outcome.EFACTURA_ACCEPTED, Outcome.EFACTURA_REJECTED,
                                        Outcome.EFACTURA_UNCONFIRMED, Outcome.EFACTURA_SUBMITTED, "efactura",
                                        "efactura_index", sent_by_poller=True),
}


def clearance_of(provider: str | None) -> Clearance:
    """The national e-invoice system a document's provider reports on (KSeF for an unknown one)."""
    supported = {p.value: p for p in supported_providers()}
    system = adapter_class(supported[provider]).clearance_system if provider in supported else ClearanceSystem.KSEF
    return CLEARANCES[system]


def poll_delay(attempt: int, base_seconds: float) -> int:
    return int(min(900, base_seconds * 2 ** attempt))


class KsefService:
    def __init__(self, *, settings: RuntimeSettings, accounts: AccountStore, documents: DocumentStore,
                 adapter_factory: AdapterFactory, schedule: PollScheduler) -> None:
        self.settings = settings
        self.accounts = accounts
        self.documents = documents
        self.adapter_factory = adapter_factory
        self.schedule = schedule

    def start(self, account_id: str, document_id: str) -> None:
        """First poll of a new chain after an export, once KSeF had a moment."""
        self.schedule(KsefPollRequest(account_id=account_id, document_id=document_id, chain=uuid.uuid4().hex),
                      poll_delay(0, self.settings.ksef_poll_base_delay_seconds))

    def poll(self, request: KsefPollRequest) -> None:
        pollable = self._pollable(request)
        if pollable is None:
            return
        record, settings = pollable
        if not self._in_the_documents_chain(request, record):
            logger.info("a second chain of KSeF polls for the document: stopped", extra={"attempt": request.attempt})
            return
        adapter = self.adapter_factory(settings, self.accounts.credentials(request.account_id))
        clearance = CLEARANCES[adapter.clearance_system]
        if not adapter.clearance()[2]:  # the provider does not report the system's answer
            if settings.ksef == KsefMode.SEND_ON_EXPORT:
                self._send_once_unread(clearance, adapter, request, record)
            return  # nothing to read: provider_sends is refused for such a provider
        status = adapter.ksef_status(record.provider_document_id or "")
        logger.info("clearance status read", extra={"system": clearance.prefix, "ksef_state": status.state.value,
                                                    "attempt": request.attempt})
        self._record_status(clearance, request, adapter, settings, record, status)

    def _pollable(self, request: KsefPollRequest) -> tuple[DocumentRecord, AccountSettings] | None:
        """The exported document and its account's settings, while a poll has something to do."""
        record = self.documents.get(request.account_id, request.document_id)
        settings = self.accounts.get(request.account_id)
        if record is None or record.status != Status.EXPORTED or settings is None or settings.ksef == KsefMode.OFF:
            return None
        if record.ksef_status in FINAL_STATES:
            return None  # already final: a duplicate poll message
        return record, settings

    def _in_the_documents_chain(self, request: KsefPollRequest, record: DocumentRecord) -> bool:
        """The chain's first poll claims the document; the later ones belong to the chain that did."""
        if request.chain is None:
            return True
        if request.attempt == 0:
            return self.documents.claim_ksef_polling(request.account_id, request.document_id, request.chain)
        return record.ksef_poll_chain in (None, request.chain)

    def _record_status(self, clearance: Clearance, request: KsefPollRequest, adapter: ProviderAdapter,
                       settings: AccountSettings, record: DocumentRecord, status: KsefStatus) -> None:
        if status.state == KsefState.ACCEPTED:
            # A KSeF number of a doubtful form is kept as given; its warning goes on the record and the event.
            warnings = status.warnings if adapter.clearance_system == ClearanceSystem.KSEF else ()
            self._final(clearance, record, "accepted", number=status.ksef_number, message="; ".join(warnings) or None)
        elif status.state == KsefState.REJECTED:
            self._final(clearance, record, "rejected", message=status.message)
        elif status.state == KsefState.NOT_APPLICABLE:
            self.documents.record_ksef(record.account_id, record.document_id, "not_applicable")
        else:
            if status.state == KsefState.RETRYABLE or (status.state == KsefState.NOT_SENT
                                                       and clearance.sent_by_poller):
                self._send_again(clearance, adapter, settings, record, status.message)
            self._again(clearance, request, record)

    def _send_again(self, clearance: Clearance, adapter: ProviderAdapter, settings: AccountSettings,
                    record: DocumentRecord, message: str | None) -> None:
        if settings.ksef != KsefMode.SEND_ON_EXPORT:
            return  # the accounting system sends by itself: it also retries, not us
        if not self.documents.count_ksef_resend(record.account_id, record.document_id, MAX_RESENDS):
            self._final(clearance, record, "rejected",
                        message=f"{clearance.name} kept failing after {MAX_RESENDS} sends: {message}")
            return
        adapter.send_to_ksef_once(record.provider_document_id or "")

    def _send_once_unread(self, clearance: Clearance, adapter: ProviderAdapter, request: KsefPollRequest,
                          record: DocumentRecord) -> None:
        """Ask a provider that cannot report the system's answer to send the document: once, ever."""
        name, system = adapter.display_name, clearance.name
        if record.ksef_status == "unconfirmed":
            return  # already told: only the provider knows whether it was sent
        if not self.documents.claim_ksef_send(record.account_id, record.document_id):
            # Another poll (a duplicate message) holds the send and reports it. Look once more later:
            # if nothing was recorded by then, that poll died and only the provider knows.
            if request.attempt == 0:
                self.schedule(request.model_copy(update={"attempt": 1}),
                              poll_delay(1, self.settings.ksef_poll_base_delay_seconds))
            else:
                self._final(clearance, record, "unconfirmed", also_final=("unconfirmed",),
                            message=f"we asked {name} to send the document to {system} but saw no answer; check "
                                    f"its {system} status in {name} and send it from there only if it was not sent")
            return
        try:
            adapter.send_to_ksef(record.provider_document_id or "")
        except RequestMayHaveSucceeded as error:
            self._final(clearance, record, "unconfirmed", also_final=("unconfirmed",),
                        message=f"{name} may have taken the document for {system} ({error.message}); it is not "
                                f"asked again: check its {system} status in {name} and send it from there only if "
                                "it was not sent")
        except TransientError:
            # It never reached the provider (a limit, no connection): give the send back, retry the poll.
            self.documents.release_ksef_send(record.account_id, record.document_id)
            raise
        except ExportError as error:
            self._final(clearance, record, "rejected",
                        message=f"{name} did not send the document to {system}: {error.message}")
        else:
            self._final(clearance, record, "submitted",
                        message=f"{name} took the document for sending to {system}; its API does not report "
                                f"{system}'s answer or number: check them in {name}")

    def _again(self, clearance: Clearance, request: KsefPollRequest, record: DocumentRecord) -> None:
        attempt = request.attempt + 1
        if attempt >= MAX_POLLS:
            self._final(clearance, record, "unconfirmed",
                        message=f"no final answer from {clearance.name} yet; check the document in the accounting "
                                "system")
            return
        self.documents.record_ksef(record.account_id, record.document_id, "pending")
        self.schedule(request.model_copy(update={"attempt": attempt}),
                      poll_delay(attempt, self.settings.ksef_poll_base_delay_seconds))

    def _final(self, clearance: Clearance, record: DocumentRecord, state: str, *, number: str | None = None,
               message: str | None = None, also_final: tuple[str, ...] = ()) -> None:
        """Record a final state (accepted, rejected, unconfirmed, submitted; refused if another poll
        recorded one first) with its audit entry; its event (`ksef_<state>` or `efactura_<state>`)
        follows from the record's stream (domain.record_changes, services/record_changes.py)."""
        note = audit_note(f"{clearance.prefix}_{state}", f"{clearance.name} poller", outcome=state,
                          response={clearance.number_field: number} if number else None)
        self.documents.record_ksef(record.account_id, record.document_id, state, ksef_number=number,
                                   message=message, also_final=also_final, audit=note)
