"""Reconciliation: our records of an account against the provider's own list, for a period.

- missing at the provider: we exported it (we hold its provider id), the provider no longer lists it
  (deleted there, or moved out of the period);
- extra at the provider: listed there, but not a document we exported - made by hand, or ours while
  our record says otherwise (e.g. held in doubt: attach it);
- different: matched, but the number, kind or totals differ (edited at the provider).
Documents are matched by the provider's id we recorded, else by our reference (Fakturownia: oid).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from invoice_export.domain.provider_contract import ProviderListedDocument
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.providers.base import ProviderAdapter
from invoice_export.storage.documents import DocumentStore


class Difference(BaseModel):
    field: str
    ours: str
    provider: str


class Different(BaseModel):
    document_id: str
    provider_document_id: str
    differences: list[Difference]


class MissingAtProvider(BaseModel):
    document_id: str
    provider_document_id: str | None
    provider_number: str | None
    fix: str


class ExtraAtProvider(BaseModel):
    provider_document_id: str
    number: str
    kind: str | None
    our_document_id: str | None
    issue_date: date
    gross: Decimal
    currency: str
    reason: str


class ReconciliationReport(BaseModel):
    account_id: str
    provider: str
    date_from: date
    date_to: date
    ours_exported: int
    provider_listed: int
    matching: int
    missing: list[MissingAtProvider]
    extra: list[ExtraAtProvider]
    different: list[Different]


def reconcile(account_id: str, adapter: ProviderAdapter, documents: DocumentStore, date_from: date,
              date_to: date) -> ReconciliationReport:
    listed = adapter.list_documents(date_from, date_to)
    records = [r for r in documents.account_documents(account_id) if _issued_in(r, date_from, date_to)]
    exported = [r for r in records if r.status == Status.EXPORTED]
    missing, different, matched = _compare_exported(exported, listed, adapter.display_name)
    ours = {r.document_id: r for r in records}
    extra = [_extra(d, ours.get(d.our_document_id or "")) for d in listed if d.provider_document_id not in matched]
    return ReconciliationReport(
        account_id=account_id, provider=adapter.display_name, date_from=date_from, date_to=date_to,
        ours_exported=len(exported), provider_listed=len(listed),
        matching=len(exported) - len(missing) - len(different),
        missing=missing, extra=extra, different=different)


def _compare_exported(exported: list[DocumentRecord], listed: list[ProviderListedDocument],
                      provider_name: str) -> tuple[list[MissingAtProvider], list[Different], set[str]]:
    """Our exported documents against the provider's list: (missing there, different there, the provider
    ids matched)."""
    by_id = {d.provider_document_id: d for d in listed}
    by_reference = {d.our_document_id: d for d in listed if d.our_document_id}
    missing, different, matched = [], [], set()
    for record in exported:
        found = by_id.get(record.provider_document_id or "") or by_reference.get(record.document_id)
        if found is None:
            missing.append(_missing(record, provider_name))
            continue
        matched.add(found.provider_document_id)
        if differences := _differences(record, found):
            different.append(Different(document_id=record.document_id,
                                       provider_document_id=found.provider_document_id, differences=differences))
    return missing, different, matched


def _missing(record: DocumentRecord, provider_name: str) -> MissingAtProvider:
    return MissingAtProvider(
        document_id=record.document_id, provider_document_id=record.provider_document_id,
        provider_number=record.provider_number,
        fix=f"check {provider_name} for {record.provider_number or record.document_id}: if it was "
            "deleted by mistake, issue it there again (or correct it in the order system)")


def _issued_in(record: DocumentRecord, date_from: date, date_to: date) -> bool:
    document = record.parsed_document()
    return document is not None and date_from <= document.issue_date <= date_to


def _differences(record: DocumentRecord, listed: ProviderListedDocument) -> list[Difference]:
    document = record.parsed_document()
    assert document is not None
    pairs = [
        ("number", record.provider_number or "", listed.number),
        ("kind", record.kind or "", listed.kind or "(a kind we never send)"),
        ("currency", document.currency, listed.currency),
        ("gross", f"{document.totals.gross:f}", f"{listed.gross:.2f}"),
    ]
    if listed.net is not None:  # Oblio lists the gross total only
        pairs.insert(3, ("net", f"{document.totals.net:f}", f"{listed.net:.2f}"))
    different = []
    for field, ours, theirs in pairs:
        same = Decimal(ours) == Decimal(theirs) if field in ("net", "gross") else ours == theirs
        if not same:
            different.append(Difference(field=field, ours=ours, provider=theirs))
    return different


def _extra(listed: ProviderListedDocument, ours: DocumentRecord | None) -> ExtraAtProvider:
    if ours is None:
        reason = "not made by this service (issued by hand, or by another integration)"
    else:
        reason = (f"our document {ours.document_id} is {ours.status.value} here: if this is it, resolve it by "
                  "attaching this provider document")
    return ExtraAtProvider(provider_document_id=listed.provider_document_id, number=listed.number, kind=listed.kind,
                           our_document_id=listed.our_document_id, issue_date=listed.issue_date, gross=listed.gross,
                           currency=listed.currency, reason=reason)
