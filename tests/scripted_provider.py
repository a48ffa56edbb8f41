"""An accounting system in memory, for the core's unit tests: it keeps the documents created at it by our
document id, answers look-ups from them, lists them by issue date with the reference a create carries
(domain.settlement), and fails a call the way a test scripts it.

Not a fake of any real provider (those are in local/fakes/, over HTTP): the core's rules - exactly
once, in doubt, paused accounts - do not depend on which provider it is, only on what its adapter
declares (capabilities) and raises (domain.errors).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import BaseModel

from invoice_export.domain.account_settings import AccountSettings, ProviderName
from invoice_export.domain.errors import CredentialsRejected, RequestMayHaveSucceeded
from invoice_export.domain.provider_contract import (
    Capabilities,
    CreatedDocument,
    ExportPlan,
    ProviderQuota,
    ProviderReference,
)
from invoice_export.domain.readback import ProviderTotals
from invoice_export.domain.settlement import InterruptedAttempt, ListedDocument, Settlement, our_reference
from invoice_export.providers.base import ProviderAdapter

EVERYTHING = Capabilities(**dict.fromkeys(Capabilities.__dataclass_fields__, True))


class LostAnswer(RequestMayHaveSucceeded):
    """Scripted for a create: the provider creates the document, but its answer never arrives."""

    def __init__(self) -> None:
        super().__init__("the connection dropped before the provider answered")


class ScriptedProvider:
    def __init__(self, capabilities: Capabilities = EVERYTHING, name: str = "Scripted", *,
                 list_shows_references: bool = True) -> None:
        # False: its list shows no text carrying our reference (iFirma's): each listed document is read.
        self.list_shows_references = list_shows_references
        self.documents: dict[str, ProviderReference] = {}  # our document id -> what the provider made
        # Everything it holds, as its list of documents shows them: ours (with our reference) and any
        # added by hand (`add_by_hand`), by provider document id.
        self.listed: dict[str, ListedDocument] = {}
        # "create"/"find"/"list"/"check": raised in turn
        self.fail_next: dict[str, list[Exception]] = defaultdict(list)
        self.attempts_asked: list[InterruptedAttempt] = []  # what settle_interrupted was told, in order
        self.accepts_credentials = True
        self.quota: ProviderQuota | None = None
        self.calls: list[tuple[str, str]] = []  # (call, our document id), in order
        self.while_creating: Callable[[ExportPlan], None] | None = None  # runs inside the next create
        # The next creates answer without the document's number, as iFirma's when the read after its
        # create failed; read_number ("read_number" in fail_next) reads it.
        self.unnumbered_creates = 0
        self._numbers = itertools.count(1)
        self.adapter_class: type[ScriptedAdapter] = type(
            f"{name}Adapter", (ScriptedAdapter,), {"display_name": name, "capabilities": capabilities})

    def adapter_factory(self, settings: AccountSettings, credentials: dict[str, Any]) -> ScriptedAdapter:
        return self.adapter_class(settings, self)

    def creates(self, document_id: str | None = None) -> int:
        return sum(1 for call, doc in self.calls if call == "create" and document_id in (None, doc))

    def _failure(self, call: str) -> Exception | None:
        return self.fail_next[call].pop(0) if self.fail_next[call] else None

    def create(self, plan: ExportPlan) -> CreatedDocument:
        document = plan.document
        self.calls.append(("create", document.document_id))
        if self.while_creating is not None:
            self.while_creating, meanwhile = None, self.while_creating
            meanwhile(plan)
        failure = self._failure("create")
        if failure is not None and not isinstance(failure, LostAnswer):
            raise failure
        number = plan.number or f"FV {next(self._numbers)}/2026"
        reference = ProviderReference(f"P-{len(self.listed) + 1}", number, plan.provider_series)
        self.documents[document.document_id] = reference
        self.listed[reference.provider_document_id] = ListedDocument(
            reference, issue_date=document.issue_date, kind=document.kind, gross=document.totals.gross,
            currency=document.currency, reference_text=f"{document.notes or ''}\n{our_reference(document.document_id)}")
        if failure is not None:
            raise failure
        if self.unnumbered_creates:
            self.unnumbered_creates -= 1
            return CreatedDocument(replace(reference, number=""))
        totals = document.totals
        return CreatedDocument(reference, readback=ProviderTotals(
            net=totals.net, vat=totals.vat, gross=totals.gross, currency=document.currency,
            is_correction=plan.corrected is not None,
            corrects=plan.corrected.provider_document_id if plan.corrected else None))

    def find(self, plan: ExportPlan) -> ProviderReference | None:
        self.calls.append(("find", plan.document.document_id))
        if (failure := self._failure("find")) is not None:
            raise failure
        return self.documents.get(plan.document.document_id)

    def read_number(self, provider_document_id: str) -> str:
        self.calls.append(("read_number", provider_document_id))
        if (failure := self._failure("read_number")) is not None:
            raise failure
        created = [r for r in self.documents.values() if r.provider_document_id == provider_document_id]
        return (created[0] if created else self.listed[provider_document_id].reference).number

    def add_by_hand(self, like: ListedDocument, *, reference_text: str = "") -> ProviderReference:
        """A document the merchant made in the provider's application, of the same day, kind and gross."""
        reference = ProviderReference(f"P-{len(self.listed) + 1}", f"RECZNA {len(self.listed) + 1}/2026")
        self.listed[reference.provider_document_id] = replace(like, reference=reference, reference_text=reference_text)
        return reference

    def edit_reference(self, document_id: str, text: str) -> None:
        """The merchant rewrites the field that carries our reference on our document."""
        provider_id = self.documents[document_id].provider_document_id
        self.listed[provider_id] = replace(self.listed[provider_id], reference_text=text)

    def list_day(self, plan: ExportPlan) -> list[ListedDocument]:
        self.calls.append(("list", plan.document.document_id))
        if (failure := self._failure("list")) is not None:
            raise failure
        day = [listed for listed in self.listed.values() if listed.issue_date == plan.document.issue_date]
        return day if self.list_shows_references else [replace(listed, reference_text=None) for listed in day]

    def read(self, listed: ListedDocument) -> ListedDocument:
        self.calls.append(("read", listed.reference.provider_document_id))
        return self.listed[listed.reference.provider_document_id]

    def check_credentials(self) -> None:
        self.calls.append(("check", ""))
        if not self.accepts_credentials:
            raise CredentialsRejected("the provider refused the credentials (401)")


class _NoCredentials(BaseModel):
    pass


class ScriptedAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.FAKTUROWNIA  # only what settings name; never an HTTP call
    display_name: ClassVar[str] = "Scripted"
    capabilities: ClassVar[Capabilities] = EVERYTHING
    credentials_model: ClassVar[type[BaseModel]] = _NoCredentials
    default_api_url: ClassVar[str] = "https://provider.invalid"

    def __init__(self, settings: AccountSettings, provider: ScriptedProvider) -> None:
        super().__init__(settings, _NoCredentials(), http=None)  # type: ignore[arg-type]
        self.provider = provider

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> Any:
        raise NotImplementedError("no HTTP here")

    @staticmethod
    def read_rejection(response: Any) -> Any:
        raise NotImplementedError("no HTTP here")

    def build_request(self, plan: ExportPlan) -> dict[str, Any]:
        return {"our_id": plan.document.document_id, "number": plan.number, "series": plan.provider_series,
                "gross": str(plan.document.totals.gross)}

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        return self.provider.create(plan)

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        return self.provider.find(plan)

    def read_number(self, provider_document_id: str) -> str | None:
        return self.provider.read_number(provider_document_id)

    def settle_interrupted(self, plan: ExportPlan, attempt: InterruptedAttempt) -> Settlement:
        self.provider.attempts_asked.append(attempt)
        return super().settle_interrupted(plan, attempt)

    def list_for_settlement(self, plan: ExportPlan, attempt: InterruptedAttempt) -> list[ListedDocument]:
        return self.provider.list_day(plan)

    def read_listed(self, listed: ListedDocument) -> ListedDocument:
        return self.provider.read(listed)

    def download_pdf(self, provider_document_id: str) -> bytes:
        return b"%PDF-1.4 " + provider_document_id.encode()

    def check_credentials(self) -> None:
        self.provider.check_credentials()

    def remaining_quota(self) -> ProviderQuota | None:
        return self.provider.quota


def without(*capabilities: str) -> Capabilities:
    return replace(EVERYTHING, **dict.fromkeys(capabilities, False))
