"""The provider's PDF: fetched after export, refreshed when a customer opens a link."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from invoice_export.domain.documents import Identifier
from invoice_export.domain.errors import ExportError, PermanentError
from invoice_export.domain.links import InvalidLink, LinkSigner
from invoice_export.domain.rate_limits import yielding_to_foreground
from invoice_export.domain.records import PdfCopy, Status
from invoice_export.platform.observability import logger
from invoice_export.platform.runtime_settings import RuntimeSettings
from invoice_export.providers.base import AdapterFactory
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import AuditTrail, record_quietly
from invoice_export.storage.documents import DocumentStore
from invoice_export.storage.pdfs import PdfStore


class PdfRequest(BaseModel):
    """Body of a message on the PDF queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    account_id: Identifier
    document_id: Identifier


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


class PdfService:
    def __init__(self, *, settings: RuntimeSettings, accounts: AccountStore, documents: DocumentStore,
                 pdfs: PdfStore, adapter_factory: AdapterFactory,
                 link_signer: Callable[[], LinkSigner], audit: AuditTrail | None = None) -> None:
        self.settings = settings
        self.audit = audit
        self.accounts = accounts
        self.documents = documents
        self.pdfs = pdfs
        self.adapter_factory = adapter_factory
        self.link_signer = link_signer

    def fetch(self, account_id: str, document_id: str, *, copy_only: bool = False) -> PdfCopy:
        """Download the provider's current PDF and store it if it changed.

        `copy_only`: fetched to keep the copy (the PDF queue), not for a customer who opened a link. Of
        an account whose events give customers no link to the provider's document, such a fetch is
        background work: it uses what the provider's limit leaves after the exports (creates come
        first, issue 20) and is refused with YieldedToForeground while they wait for room."""
        record = self.documents.get(account_id, document_id)
        if record is None or record.status != Status.EXPORTED or not record.provider_document_id:
            raise PermanentError(f"document {document_id} is not exported, so it has no provider PDF",
                                 code="not_exported")
        settings = self.accounts.get(account_id)
        if settings is None:
            raise PermanentError(f"account {account_id} is not connected", code="unknown_account")
        adapter = self.adapter_factory(settings, self.accounts.credentials(account_id))
        background = copy_only and not settings.show_provider_document
        with yielding_to_foreground() if background else nullcontext():
            data = adapter.download_pdf(record.provider_document_id)
        copy = self.pdfs.put(account_id, document_id, data, previous=record.pdf)
        self.documents.record_pdf(account_id, document_id, copy)
        changed = record.pdf is not None and copy.sha256 != record.pdf.sha256
        if changed:
            logger.info("provider PDF changed", extra={"sha256": copy.sha256, "previous_sha256": copy.previous_sha256})
        if record.pdf is None or changed:
            # The document as the customer's link shows it from now on (first copy, or edited at the provider).
            record_quietly(self.audit, account_id, document_id, "pdf_changed" if changed else "pdf_stored",
                           "PDF fetch", response={"sha256": copy.sha256, "size": copy.size,
                                                  "previous_sha256": copy.previous_sha256})
        return copy

    def open_link(self, token: str) -> HttpAnswer:
        """A customer opened a link: check it, refresh the PDF if stale, redirect to a short-lived URL."""
        try:
            claims = self.link_signer().verify(token)
        except InvalidLink as problem:
            status = 410 if "expired" in str(problem) else 403
            return _text(status, "This link has expired." if status == 410 else "This link is not valid.")
        record = self.documents.get(claims.account_id, claims.document_id)
        if record is None or record.status != Status.EXPORTED:
            return _text(404, "This document is not available.")
        copy = record.pdf
        if copy is None or _age_seconds(copy.fetched_at) > self.settings.pdf_max_age_seconds:
            try:
                copy = self.fetch(claims.account_id, claims.document_id)
            except ExportError as error:
                # Serve the stored copy while the provider is unreachable; only without one is it an error.
                logger.warning("PDF refresh failed", extra={"error_code": error.code, "has_copy": copy is not None})
                if copy is None:
                    return HttpAnswer(503, {"Retry-After": "60", "Content-Type": "text/plain; charset=utf-8"},
                                      "The document is being prepared. Please try again in a minute.")
        filename = _safe_filename(record.provider_number or record.number or record.document_id)
        return HttpAnswer(302, {"Location": self.pdfs.presigned_url(copy, filename), "Cache-Control": "no-store"})


def _text(status: int, body: str) -> HttpAnswer:
    return HttpAnswer(status, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}, body)


def _age_seconds(iso: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()


def _safe_filename(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", number).strip("_")[:100] + ".pdf"
