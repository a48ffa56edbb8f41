"""What the configuration API answers and accepts, beyond the services' own models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.records import DocumentRecord, RecordedError, Status
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.services.bulk_export import DryRunReport
from invoice_export.services.events import VatSplitWarning
from invoice_export.storage.bulk_runs import BulkFilters, BulkRun


class AccountView(BaseModel):
    settings: AccountSettings = Field(description="Credentials are never returned")
    capabilities: dict[str, bool]
    resumed_run: BulkRun | None = Field(
        default=None, description="Reconnecting a paused account: the run queueing its held documents again")
    warnings: list[str] = Field(default_factory=list, description="What the change leaves to check (nothing refused)")


class MeView(BaseModel):
    principal: str
    tenant_id: str
    accounts: list[str]


class SettlementCandidate(BaseModel):
    provider_document_id: str
    number: str
    reference: str = Field(description="ours / another of ours: <id> / no reference of ours")


class SettlementView(BaseModel):
    """domain.settlement.Settlement.as_record, as the record keeps it."""

    outcome: Literal["found", "absent", "not_yet", "undecided"]
    by: Literal["look_up", "task", "listing"] = Field(description="How the provider was asked")
    where: Literal["export", "settlement"] = Field(description="On a later delivery, or by the settlement")
    at: str
    reason: str
    found: str | None = Field(default=None, description="The provider document found")
    candidates: list[SettlementCandidate] = []


class DocumentView(BaseModel):
    account_id: str
    document_id: str
    status: Status
    document_version: int
    kind: str | None = None
    our_number: str | None = None
    series: str | None = None
    provider: str | None = None
    provider_document_id: str | None = None
    provider_number: str | None = None
    ksef_number: str | None = Field(default=None, description="The KSeF number; for a Romanian provider "
                                    "(Oblio) e-Factura's upload index")
    ksef_status: str | None = Field(default=None, description="In KSeF, or e-Factura for a Romanian provider")
    clearance_system: str | None = Field(default=None, description="What ksef_number and ksef_status are about: "
                                         "'ksef', or 'efactura' for a Romanian provider")
    error: RecordedError | None = Field(default=None, description="Why it failed or is in doubt, and the fix")
    settlement: SettlementView | None = Field(
        default=None, description="The last time the provider was asked about an interrupted create of it: "
                                  "the answer, and the provider documents that might be it (the evidence of a "
                                  "document in doubt)")
    warnings: list[str] = []
    vat_in_pln: dict[str, str] | None = Field(
        default=None, description="A foreign-currency document's VAT in PLN as we compute it (see the outcome event)")
    vat_in_home_currency: dict[str, str] | None = Field(
        default=None, description="A foreign-currency document's VAT in the seller's home currency (PLN, RON) with "
        "that currency (see the outcome event)")
    vat_split: VatSplitWarning | None = Field(
        default=None, description="The provider split our gross into other net/VAT figures (see the outcome event)")
    attempts: int
    received_at: str
    updated_at: str
    exported_at: str | None = None

    @classmethod
    def of(cls, record: DocumentRecord) -> DocumentView:
        return cls(account_id=record.account_id, document_id=record.document_id, status=record.status,
                   document_version=record.document_version, kind=record.kind, our_number=record.number,
                   series=record.series, provider=record.provider, provider_document_id=record.provider_document_id,
                   provider_number=record.provider_number, ksef_number=record.ksef_number,
                   ksef_status=record.ksef_status, clearance_system=_clearance_of(record.provider),
                   error=record.last_error,
                   settlement=SettlementView.model_validate(record.settlement) if record.settlement else None,
                   warnings=record.warnings, vat_in_pln=record.vat_in_pln, vat_split=record.vat_split,
                   vat_in_home_currency=record.vat_in_home_currency, attempts=record.attempts,
                   received_at=record.received_at, updated_at=record.updated_at, exported_at=record.exported_at)


class DocumentPage(BaseModel):
    documents: list[DocumentView]
    next_cursor: str | None = Field(default=None, description="Pass it back as `cursor` for the next page")


class Queued(BaseModel):
    document_id: str
    queued: bool = True


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["attach", "release"] = Field(
        description="attach: the provider has it (give its id and number); release: it does not, send it again")
    provider_document_id: str | None = None
    provider_number: str | None = None


class CustomerLink(BaseModel):
    document_id: str
    url: str
    valid_days: int


class BulkExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filters: BulkFilters = BulkFilters()
    dry_run: bool = Field(default=False, description="Check and show the requests; send nothing")
    limit: int = Field(default=100, ge=1, le=500, description="Dry run: documents per page")
    cursor: str | None = Field(default=None, description="Dry run: next_cursor of the previous page")


class BulkExportAnswer(BaseModel):
    run: BulkRun | None = Field(default=None, description="The run (status running: resume it to go on)")
    dry_run: DryRunReport | None = None


# ---------------------------------------------------------------- who is calling


def _clearance_of(provider: str | None) -> str | None:
    """The national e-invoice system a document's provider reports on (None: unknown provider)."""
    supported = {p.value: p for p in supported_providers()}
    return adapter_class(supported[provider]).clearance_system.value if provider in supported else None
