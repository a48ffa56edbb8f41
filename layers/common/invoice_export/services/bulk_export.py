"""Bulk export: put an account's pending (or failed) documents back on the export queue, and dry runs.

A run only *queues*: each document goes on the FIFO export queue as an `ExportMessage` with
trigger `bulk` (group = account, so the account's documents go one at a time and its provider's
rate limit is kept by the export function; de-duplication id = document + version + run). The
export service then exports each exactly once - a run repeated, or resumed after a crash, can
queue a document twice but never create it twice at the provider.

A run is resumable: it records where it is (a DynamoDB cursor) after every page and, per
document, that it queued it (`storage.bulk_runs`). It stops when its time budget runs low and
goes on from there when resumed. Its summary is read from the document records themselves.

A provider with a periodic quota (iFirma: documents issued through the API per month) is asked
for what is left before the run queues anything (`ProviderAdapter.remaining_quota`): the run
queues only as many documents as fit, in its order (oldest change first), and records the rest as
*held* - still pending, with the reason and when the quota starts again - for a later run (the
nightly one goes on by itself). A dry run marks the documents over the quota as not ready.

A dry run sends nothing: it checks each document against the account's settings and the
provider's rules (`planning.plan_export`, the adapter's `build_request`, tax ids) and shows
each problem with its fix, or the exact request the document would produce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field

from invoice_export.domain.account_settings import AccountSettings, ExportMode
from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import BuyerKind, Document, DocumentKind, ExportMessage, Trigger
from invoice_export.domain.errors import ExportError, TransientError
from invoice_export.domain.export_decision import original_problem, original_reference, waiting_for
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ProviderQuota, ProviderReference
from invoice_export.domain.records import DocumentRecord, RecordedError, Status
from invoice_export.domain.tax_ids import COMPANY_TAX_ID_CHECKS
from invoice_export.platform.observability import logger
from invoice_export.providers import adapter_class
from invoice_export.providers.base import AdapterFactory, ProviderAdapter
from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import AuditTrail, record_quietly
from invoice_export.storage.bulk_runs import BulkFilters, BulkRun, BulkRunStore, QuotaCheck, RunDocument, RunStatus
from invoice_export.storage.documents import DocumentStore

PAGE_SIZE = 100
SQS_BATCH = 10
# A page (one query, one batch read, up to 10 SendMessageBatch calls) takes well under this.
SECONDS_PER_PAGE = 10.0
NIGHTLY = "schedule"


class BulkExportRefused(Exception):
    """The run cannot start or go on; the message says why and what to do."""


class Problem(BaseModel):
    code: str
    message: str
    fix: str


class DocumentCheck(BaseModel):
    document_id: str
    document_version: int
    kind: str | None = None
    series: str | None = None
    issue_date: date | None = None
    status: Status
    problems: list[Problem] = []
    notes: list[str] = []
    request: dict[str, Any] | None = Field(default=None, description="Exactly what the provider would receive")


class DryRunReport(BaseModel):
    account_id: str
    provider: str
    filters: BulkFilters
    checked: int
    ready: int
    with_problems: int
    notes: list[str] = []
    documents: list[DocumentCheck]
    next_cursor: str | None = Field(default=None, description="Pass it back to check the next documents")


class DocumentOutcome(BaseModel):
    document_id: str
    status: Status
    provider_number: str | None = None
    error: RecordedError | None = None


class BulkSummary(BaseModel):
    run: BulkRun
    settled: bool = Field(description="No queued document waits to be exported any more")
    exported: list[DocumentOutcome] = []
    failed: list[DocumentOutcome] = Field(default=[], description="Each with its reason and fix")
    in_doubt: list[DocumentOutcome] = []
    waiting: list[DocumentOutcome] = Field(default=[], description="Queued, not exported yet")
    skipped: list[RunDocument] = []
    held: list[RunDocument] = Field(default=[], description="Not queued: over the provider's quota (reason "
                                    "says until when); still pending")


class BulkExporter:
    def __init__(self, *, accounts: AccountStore, documents: DocumentStore, runs: BulkRunStore, sqs: Any,
                 queue_url: str, adapter_factory: AdapterFactory, audit: AuditTrail | None = None) -> None:
        self.audit = audit
        self.accounts = accounts
        self.documents = documents
        self.runs = runs
        self.sqs = sqs
        self.queue_url = queue_url
        self.adapter_factory = adapter_factory

    # ---------------------------------------------------------------- runs

    def start(self, account_id: str, filters: BulkFilters, *, requested_by: str,
              run_id: str | None = None) -> BulkRun:
        """Create a run (or find the one with `run_id`: a repeated scheduled start resumes it)."""
        self._sendable_account(account_id)
        now = now_iso()
        run = BulkRun(account_id=account_id, run_id=run_id or new_run_id(), requested_by=requested_by,
                      filters=filters, started_at=now, updated_at=now)
        if not self.runs.create(run):
            existing = self.runs.get(account_id, run.run_id)
            assert existing is not None
            return existing
        logger.info("bulk run started", extra={"account_id": account_id, "run_id": run.run_id})
        return run

    def resume(self, account_id: str, run_id: str, time_left: Callable[[], float]) -> BulkRun:
        """Queue the run's documents from where it stopped, until done or `time_left()` runs low."""
        run = self.get_run(account_id, run_id)
        if run.status == RunStatus.QUEUED:
            return run
        settings = self._sendable_account(account_id)
        if run.quota is None:
            checked = self._check_quota(run, settings)
            if checked is None:
                return self.get_run(account_id, run_id)  # the quota could not be read now: resumed later
            run = checked
        budget = None if run.quota is None else max(run.quota.allowance - run.queued, 0)
        statuses = run.filters.statuses()
        position = _Cursor.decode(run.cursor)
        while position is not None and time_left() > SECONDS_PER_PAGE:
            records, next_key = self.documents.page_by_status(
                account_id, statuses[position.status_index], start_key=position.key, page_size=PAGE_SIZE)
            budget = self._queue_page(run, records, budget)
            position = position.advance(next_key, len(statuses))
            self.runs.save_cursor(account_id, run_id, position.encode() if position else None)
        finished = self.get_run(account_id, run_id)
        logger.info("bulk run progress", extra={"account_id": account_id, "run_id": run_id,
                                                "status": finished.status.value, "queued": finished.queued,
                                                "skipped": finished.skipped})
        return finished

    def get_run(self, account_id: str, run_id: str) -> BulkRun:
        run = self.runs.get(account_id, run_id)
        if run is None:
            raise LookupError(f"bulk run {run_id} of account {account_id} does not exist")
        return run

    def summary(self, account_id: str, run_id: str) -> BulkSummary:
        """What became of each queued document, read from the document records now."""
        run = self.get_run(account_id, run_id)
        handled = self.runs.documents(account_id, run_id)
        queued = [d.document_id for d in handled if d.outcome == "queued"]
        groups: dict[Status, list[DocumentOutcome]] = {status: [] for status in Status}
        for record in self.documents.get_many(account_id, queued):
            groups[record.status].append(DocumentOutcome(
                document_id=record.document_id, status=record.status, provider_number=record.provider_number,
                error=record.last_error if record.status != Status.EXPORTED else None))
        waiting = groups[Status.PENDING] + groups[Status.SENDING]
        return BulkSummary(run=run, settled=run.status == RunStatus.QUEUED and not waiting,
                           exported=groups[Status.EXPORTED], failed=groups[Status.FAILED],
                           in_doubt=groups[Status.IN_DOUBT], waiting=waiting,
                           skipped=[d for d in handled if d.outcome == "skipped"],
                           held=[d for d in handled if d.outcome == "held"])

    def nightly(self, today: date, time_left: Callable[[], float]) -> list[BulkRun]:
        """The scheduled run: every active bulk-mode account, one run per account and night; and any
        account's run left unfinished (out of time: a previous night, an API call, a reconnect) goes on."""
        runs = []
        for account in self.accounts.list_accounts():
            if account.status != "active":
                continue
            if time_left() <= SECONDS_PER_PAGE:
                logger.warning("nightly bulk export out of time", extra={"account_id": account.account_id})
                break
            run = self.runs.unfinished(account.account_id)
            if run is None and account.export_mode == ExportMode.BULK:
                run = self.start(account.account_id, BulkFilters(), requested_by=NIGHTLY,
                                 run_id=f"{today:%Y%m%d}-nightly")
            if run is not None:
                runs.append(self.resume(account.account_id, run.run_id, time_left))
        return runs

    def _sendable_account(self, account_id: str) -> AccountSettings:
        settings = self.accounts.get(account_id)
        if settings is None:
            raise LookupError(f"account {account_id} is not connected")
        if settings.status == "needs_reconnect":
            raise BulkExportRefused(
                f"account {account_id} is paused: {settings.provider.value} refused its credentials; reconnect "
                "it with working credentials (its held documents are queued again then)")
        return settings

    def _check_quota(self, run: BulkRun, settings: AccountSettings) -> BulkRun | None:
        """Read the provider's remaining quota once per run, before anything is queued. None: it could
        not be read now (the run stays running and is resumed later, the nightly run included)."""
        adapter = self.adapter_factory(settings, self.accounts.credentials(run.account_id))
        name = type(adapter).display_name
        try:
            quota = adapter.remaining_quota()
        except TransientError as error:
            note = f"{name}'s API quota could not be read ({error.message}); nothing queued yet: resume the run later"
            if note not in run.notes:
                self.runs.set_quota(run.account_id, run.run_id, None, note)
            return None
        except ExportError as error:
            # E.g. no iFirma 'abonent' key: the run goes on; a document over the quota fails with
            # the provider's own words instead of being held.
            note = f"{name}'s API quota was not checked: {error.message} ({error.fix})"
            return run if note in run.notes else self.runs.set_quota(run.account_id, run.run_id, None, note)
        if quota is None:
            return run
        check = quota_check(quota, type(adapter).quota_cost_per_document)
        note = (f"{name}'s API quota: {quota.remaining} {quota.unit} left of {quota.granted} "
                f"(starts again {check.resets_at or 'at an unknown time'}); this run queues at most "
                f"{check.allowance} document(s), oldest first, and holds the rest")
        logger.info("provider quota checked", extra={"account_id": run.account_id, "run_id": run.run_id,
                                                      "remaining": quota.remaining, "allowance": check.allowance})
        return self.runs.set_quota(run.account_id, run.run_id, check, note)

    def _queue_page(self, run: BulkRun, records: list[DocumentRecord], budget: int | None) -> int | None:
        """Queue the page's documents while `budget` (documents the provider's quota still allows;
        None: no quota) lasts; hold the rest. Returns the budget left."""
        selected = [r for r in records if _matches(run.filters, r)]
        done = self.runs.handled(run.account_id, run.run_id, [r.document_id for r in selected])
        messages: list[tuple[DocumentRecord, Document]] = []
        for record in selected:
            if record.document_id in done:
                continue  # queued before this run was interrupted
            document = record.parsed_document()
            if document is None:
                self.runs.record_document(run.account_id, run.run_id, RunDocument(
                    document_id=record.document_id, outcome="skipped",
                    reason="arrived as an unreadable message: the order system must send it again, corrected"))
                continue
            if budget is not None:
                if budget <= 0:
                    self._hold(run, record)
                    continue
                budget -= 1
            messages.append((record, document))
        for start in range(0, len(messages), SQS_BATCH):
            self._send_batch(run, messages[start:start + SQS_BATCH])
        return budget

    def _hold(self, run: BulkRun, record: DocumentRecord) -> None:
        assert run.quota is not None
        quota = run.quota
        when = f"starts again {quota.resets_at}" if quota.resets_at else "starts again"
        self.runs.record_document(run.account_id, run.run_id, RunDocument(
            document_id=record.document_id, document_version=record.document_version, outcome="held",
            reason=f"held: the provider's API quota had {quota.remaining} {quota.unit} left, enough for "
                   f"{quota.allowance} document(s), which went first; this one stays {record.status.value} "
                   f"until the quota {when} - a bulk run then sends it (the nightly one does by itself)"))

    def _send_batch(self, run: BulkRun, batch: list[tuple[DocumentRecord, Document]]) -> None:
        entries = [{
            "Id": str(index),
            "MessageBody": ExportMessage(account_id=run.account_id, trigger=Trigger.BULK,
                                         document=document).model_dump_json(),
            "MessageGroupId": run.account_id,
            "MessageDeduplicationId": dedup_id(run.account_id, document.document_id, document.version, run.run_id),
        } for index, (_, document) in enumerate(batch)]
        response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        sent = [batch[int(entry["Id"])][1] for entry in response.get("Successful", [])]
        recorded = self.runs.record_documents(run.account_id, run.run_id, [RunDocument(
            document_id=document.document_id, document_version=document.version, outcome="queued")
            for document in sent])
        self._audit_queued(run, [document.document_id for document in recorded])
        if response.get("Failed"):
            codes = sorted({f.get("Code", "unknown") for f in response["Failed"]})
            # What was sent is recorded; a resumed run sends the rest.
            raise TransientError(f"{len(response['Failed'])} document(s) could not be queued ({', '.join(codes)})",
                                 code="queue_unavailable", fix="resume the bulk run")

    def _audit_queued(self, run: BulkRun, document_ids: list[str]) -> None:
        # One PutItem each, best effort: the run goes on. Not BatchWriteItem, which would need a grant
        # that can also delete audit entries (the trail only ever gets new entries).
        for document_id in document_ids:
            record_quietly(self.audit, run.account_id, document_id, "queued",
                           f"bulk run {run.run_id} requested by {run.requested_by}", trigger=Trigger.BULK.value)

    # ---------------------------------------------------------------- dry run

    def dry_run(self, account_id: str, filters: BulkFilters, *, limit: int = PAGE_SIZE,
                cursor: str | None = None) -> DryRunReport:
        """Check up to `limit` selected documents (from `cursor`) without sending anything."""
        settings = self.accounts.get(account_id)
        if settings is None:
            raise LookupError(f"account {account_id} is not connected")
        notes = []
        if settings.status == "needs_reconnect":
            notes.append(f"the account is paused: {settings.provider.value} refused its credentials; a real run "
                         "is refused until it is reconnected")
        adapter_type = adapter_class(settings.provider)
        adapter = self.adapter_factory(settings, self.accounts.credentials(account_id))
        if settings.send_skus:
            notes.append(f"SKUs are matched to {adapter_type.display_name} products when a document is sent (that "
                         "needs provider look-ups): a dry run does not check that each SKU exists there, and a "
                         "product id it would take shows as 'looked up when sent'")
        statuses = filters.statuses()
        position = _Cursor.decode(cursor)
        ready_before = position.ready_before  # documents found ready on earlier pages (quota order)
        checks: list[DocumentCheck] = []
        while position is not None and len(checks) < limit:
            records, next_key = self.documents.page_by_status(
                account_id, statuses[position.status_index], start_key=position.key,
                page_size=min(PAGE_SIZE, limit - len(checks)))
            checks += [self._check(settings, adapter, record) for record in records if _matches(filters, record)]
            position = position.advance(next_key, len(statuses), ready_before)
        ready_before = self._dry_run_quota(adapter, checks, notes, ready_before)
        if position is not None:
            position.ready_before = ready_before
        with_problems = sum(1 for check in checks if check.problems)
        return DryRunReport(account_id=account_id, provider=settings.provider.value, filters=filters,
                            checked=len(checks), ready=len(checks) - with_problems, with_problems=with_problems,
                            notes=notes, documents=checks, next_cursor=position.encode() if position else None)

    @staticmethod
    def _dry_run_quota(adapter: ProviderAdapter, checks: list[DocumentCheck], notes: list[str],
                       ready_before: int) -> int:
        """Mark the ready documents a real run would hold for the provider's quota (in run order).
        Returns how many were ready, earlier pages included."""
        name = type(adapter).display_name
        try:
            quota = adapter.remaining_quota()
        except ExportError as error:
            notes.append(f"{name}'s API quota was not checked: {error.message} ({error.fix})")
            quota = None
        check = None if quota is None else quota_check(quota, type(adapter).quota_cost_per_document)
        for document in checks:
            if document.problems:
                continue
            ready_before += 1
            if check is not None and ready_before > check.allowance:
                document.problems.append(Problem(
                    code="provider_quota_exceeded",
                    message=f"{name}'s API quota has {check.remaining} {check.unit} left this period, enough "
                            f"for {check.allowance} document(s); this is number {ready_before} of the run",
                    fix=f"a run exports the first {check.allowance} and holds this one until the quota starts "
                        f"again {check.resets_at or ''} (or ask {name} for a higher limit)".rstrip()))
        if check is not None:
            notes.append(f"{name}'s API quota: {check.remaining} {check.unit} left (starts again "
                         f"{check.resets_at or 'at an unknown time'}): a run exports at most {check.allowance} "
                         "document(s) and holds the rest")
        return ready_before

    def _check(self, settings: AccountSettings, adapter: Any, record: DocumentRecord) -> DocumentCheck:
        check = DocumentCheck(document_id=record.document_id, document_version=record.document_version,
                              kind=record.kind, series=record.series, status=record.status)
        document = record.parsed_document()
        if document is None:
            check.problems.append(Problem(code="invalid_message", message="the message could not be read",
                                          fix="the order system must send the document again, corrected"))
            return check
        check.issue_date = document.issue_date
        if (problem := tax_id_problem(document)) is not None:
            check.problems.append(problem)
        corrected = None
        if document.kind == DocumentKind.CORRECTION:
            corrected, note = self._corrected(record.account_id, document)
            if corrected is None:
                check.notes.append(note)
        try:
            plan = plan_export(document, settings, type(adapter), corrected=corrected)
            if document.kind != DocumentKind.CORRECTION or corrected is not None:
                check.request = adapter.build_request(plan)
        except ExportError as error:
            problem = Problem(code=error.code, message=error.message, fix=error.fix)
            if problem not in check.problems:  # e.g. a tax id both checks above and the adapter refuse
                check.problems.append(problem)
        return check

    def _corrected(self, account_id: str, document: Document) -> tuple[ProviderReference | None, str]:
        assert document.correction is not None
        original_id = document.correction.corrected_document_id
        original = self.documents.get(account_id, original_id)
        if (problem := original_problem(original)) is None:
            assert original is not None
            return original_reference(original), ""
        if waiting_for(original_id, original) is not None:  # a run holds it, and it follows its original
            return None, (f"the corrected document {original_id} {problem}: the correction is held until it is "
                          "exported (the request needs its provider id), then sent by itself")
        return None, (f"the corrected document {original_id} {problem}: the correction is sent once it is "
                      "exported (the request needs its provider id), so export it first")


class _Cursor:
    """Which status of the run's list and where in it (DynamoDB's LastEvaluatedKey)."""

    def __init__(self, status_index: int, key: dict[str, Any] | None, ready_before: int = 0) -> None:
        self.status_index = status_index
        self.key = key
        self.ready_before = ready_before  # dry runs: documents found ready before this position

    @classmethod
    def decode(cls, text: str | None) -> _Cursor:
        if not text:
            return cls(0, None)
        try:
            data = json.loads(base64.urlsafe_b64decode(text.encode()))
            return cls(int(data["s"]), data.get("k"), int(data.get("r", 0)))
        except (ValueError, KeyError, TypeError):
            raise ValueError("the cursor is not one this service gave out; start again without it") from None

    def encode(self) -> str:
        data = {"s": self.status_index, "k": self.key} | ({"r": self.ready_before} if self.ready_before else {})
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()

    def advance(self, next_key: dict[str, Any] | None, statuses: int, ready_before: int = 0) -> _Cursor | None:
        if next_key:
            return _Cursor(self.status_index, next_key, ready_before)
        return _Cursor(self.status_index + 1, None, ready_before) if self.status_index + 1 < statuses else None


def _matches(filters: BulkFilters, record: DocumentRecord) -> bool:
    if filters.series is not None and record.series not in filters.series:
        return False
    if filters.date_from is None and filters.date_to is None:
        return True
    document = record.parsed_document()
    if document is None:
        return False  # no issue date to filter on
    return ((filters.date_from is None or document.issue_date >= filters.date_from)
            and (filters.date_to is None or document.issue_date <= filters.date_to))


def quota_check(quota: ProviderQuota, per_document: int) -> QuotaCheck:
    cost = max(per_document, 1)
    return QuotaCheck(remaining=quota.remaining, unit=quota.unit, per_document=cost,
                      allowance=quota.remaining // cost,
                      resets_at=quota.resets_at.isoformat(timespec="minutes") if quota.resets_at else None)


def new_run_id() -> str:
    """Sortable by start time, unique."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def dedup_id(account_id: str, document_id: str, version: int, run_id: str) -> str:
    """One per account, document, version and run: FIFO de-duplication spans the whole queue, whose
    accounts may use the same document ids. SQS allows 128 characters; a longer id is hashed."""
    plain = f"{account_id}-{document_id}-v{version}-bulk-{run_id}"
    return plain if len(plain) <= 128 else hashlib.sha256(plain.encode()).hexdigest()


def tax_id_problem(document: Document) -> Problem | None:
    """A Polish company buyer's NIP, or a Romanian one's CUI, must have a valid check digit."""
    buyer = document.buyer
    check = COMPANY_TAX_ID_CHECKS.get(buyer.address.country)
    if buyer.kind != BuyerKind.COMPANY or not buyer.tax_id or check is None:
        return None
    label, problem_of = check
    if (reason := problem_of(buyer.tax_id)) is None:
        return None
    return Problem(code="bad_tax_id", message=f"the buyer's {label} {buyer.tax_id} {reason}",
                   fix="correct document.buyer.tax_id in the order system and send the document again")
