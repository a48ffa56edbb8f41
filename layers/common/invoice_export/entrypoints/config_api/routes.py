"""The configuration API (API Gateway REST API, IAM auth): accounts, settings, documents, bulk exports.

The caller is the IAM principal API Gateway verified (requestContext.identity.userArn); the
tenants table maps it to a tenant. Every account route first checks that the account belongs to
the caller's tenant and answers 404 otherwise, as for an account that does not exist, so the
API never reveals other tenants' accounts. Errors are JSON: {"code", "message", "fix"}.
The OpenAPI document is committed as schemas/config-api.openapi.json (`make schemas`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.provider_contract import ProviderOption
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.entrypoints.config_api.errors import ApiError, register_error_handlers
from invoice_export.entrypoints.config_api.views import (
    AccountView,
    BulkExportAnswer,
    BulkExportRequest,
    CustomerLink,
    DocumentPage,
    DocumentView,
    MeView,
    Queued,
    ResolveRequest,
)
from invoice_export.platform.observability import logger
from invoice_export.platform.runtime import Runtime, get_runtime
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.providers.base import ProviderAdapter
from invoice_export.services.bulk_export import BulkSummary
from invoice_export.services.connections import (
    ConnectionRefused,
    ConnectRequest,
    ProviderInfo,
    SettingsChange,
    apply_change,
    check_credentials,
    connection_settings,
    provider_info,
    series_kind_refusals,
    series_kind_warnings,
)
from invoice_export.services.operations import resolve_in_doubt, retry_document
from invoice_export.services.reconciliation import ReconciliationReport, reconcile
from invoice_export.services.settlement import SettleRequest, queue_settlement
from invoice_export.storage.audit import AuditEntry
from invoice_export.storage.bulk_runs import BulkFilters, BulkRun

TITLE = "invoice-export configuration API"
API_VERSION = "1"
# An API Gateway integration ends after 29 s: a bulk run stops queueing this long before.
RESPONSE_MARGIN_SECONDS = 8.0

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)


def runtime() -> Runtime:
    return get_runtime()


def warm_up() -> None:
    """Before a SnapStart snapshot (platform.snapstart): what the API's first request loads."""
    get_runtime().warm_up(("dynamodb", "secretsmanager", "sqs"), adapters=True)


def caller() -> tuple[str, str]:
    """(principal ARN, tenant id) of the caller; 403 when the operator has not mapped it."""
    principal = app.current_event.request_context.identity.user_arn
    if not principal:
        raise ApiError(403, "not_authenticated", "the request carries no IAM identity",
                       fix="sign the request with SigV4 (IAM auth)")
    tenant = runtime().tenants.tenant_of(principal)
    if tenant is None:
        raise ApiError(403, "not_mapped", f"{principal} is not mapped to a tenant",
                       fix=f"ask the operator to run: invoice-export tenants map {principal} <tenant id>")
    return principal, tenant


def owned_account(account_id: str) -> AccountSettings:
    _, tenant = caller()
    settings = runtime().accounts.get(account_id)
    if settings is None or settings.tenant_id != tenant:
        # The same answer whether it does not exist or belongs to another tenant.
        raise ApiError(404, "account_not_found", f"account {account_id} not found",
                       fix="check the account id (GET /me lists yours)")
    return settings


def owned_document(account_id: str, document_id: str) -> DocumentRecord:
    owned_account(account_id)
    record = runtime().documents.get(account_id, document_id)
    if record is None:
        raise ApiError(404, "document_not_found", f"document {document_id} of account {account_id} not found",
                       fix="check the document id, or that the order system sent it")
    return record


def time_left() -> float:
    return app.lambda_context.get_remaining_time_in_millis() / 1000 - RESPONSE_MARGIN_SECONDS


def account_view(settings: AccountSettings) -> AccountView:
    return AccountView(settings=settings, capabilities=adapter_class(settings.provider).capabilities.as_dict())


# ---------------------------------------------------------------- tenant, providers


@app.get("/me")
def me() -> MeView:
    principal, tenant = caller()
    accounts = sorted(a.account_id for a in runtime().accounts.list_accounts() if a.tenant_id == tenant)
    return MeView(principal=principal, tenant_id=tenant, accounts=accounts)


@app.get("/providers")
def providers() -> list[ProviderInfo]:
    caller()
    rt = runtime()
    return [provider_info(p, set(rt.deployment_credentials(p.value))) for p in supported_providers()]


# ---------------------------------------------------------------- accounts


@app.put("/accounts/<account_id>/connection")
def connect(account_id: str, request: ConnectRequest) -> AccountView:
    """Connect (or reconnect after a key change): the credentials are checked at the provider, then stored."""
    principal, tenant = caller()
    rt = runtime()
    existing = rt.accounts.get(account_id)
    settings = connection_settings(account_id, tenant, request, existing,
                                   allow_custom_urls=rt.settings.allow_custom_provider_urls)
    check_credentials(settings, request.credentials, rt.build_adapter,
                      rt.deployment_credentials(settings.provider.value))
    rt.accounts.save_credentials(account_id, request.credentials)
    rt.accounts.put(settings)
    logger.info("account connected", extra={"account_id": account_id, "provider": settings.provider.value,
                                             "reconnect": existing is not None})
    view = account_view(settings)
    if existing is not None and existing.status == "needs_reconnect":
        view.resumed_run = resume_after_reconnect(rt, account_id, principal)
    return view


def resume_after_reconnect(rt: Runtime, account_id: str, principal: str) -> BulkRun:
    """Queue again what the pause held back (pending) or failed on the refused credentials."""
    run = rt.bulk_exporter.start(account_id, BulkFilters(include_failed=True), requested_by=principal)
    return rt.bulk_exporter.resume(account_id, run.run_id, time_left)


@app.get("/accounts/<account_id>")
def get_account(account_id: str) -> AccountView:
    return account_view(owned_account(account_id))


@app.patch("/accounts/<account_id>/settings")
def change_settings(account_id: str, change: SettingsChange) -> AccountView:
    updated = apply_change(owned_account(account_id), change)
    warnings = []
    if {"series_links", "series_link_kinds"} & change.model_fields_set and updated.series_links:
        warnings = check_series_kinds(updated)
    runtime().accounts.put(updated)
    view = account_view(updated)
    view.warnings = warnings
    return view


def check_series_kinds(settings: AccountSettings) -> list[str]:
    """Links checked against the series the provider lists with their types (wFirma: a series numbers one
    document type); refused with the series' type, or saved with warnings. A provider whose list says
    nothing of kinds (Fakturownia departments) passes every link."""
    if not adapter_class(settings.provider).capabilities.list_series:
        return []
    series = adapter(settings).list_series()
    if problems := series_kind_refusals(settings, series):
        raise ConnectionRefused("; ".join(message for message, _ in problems),
                                fix="; ".join(fix for _, fix in problems), code="series_kind_mismatch")
    return series_kind_warnings(settings, series)


@app.get("/accounts/<account_id>/provider/series")
def provider_series(account_id: str) -> list[ProviderOption]:
    """The provider's series (Fakturownia: departments) to link ours to."""
    settings = owned_account(account_id)
    return adapter(settings).list_series()


@app.get("/accounts/<account_id>/provider/payment-types")
def provider_payment_types(account_id: str) -> list[ProviderOption]:
    settings = owned_account(account_id)
    return adapter(settings).list_payment_types()


def adapter(settings: AccountSettings) -> ProviderAdapter:
    rt = runtime()
    return rt.build_adapter(settings, rt.accounts.credentials(settings.account_id))


# ---------------------------------------------------------------- documents


@app.get("/accounts/<account_id>/documents")
def list_documents(
    account_id: str,
    status: Annotated[Status, Query(description="Documents in this status")],
    date_from: Annotated[date | None, Query(description="Issue date from (inclusive)")] = None,
    date_to: Annotated[date | None, Query(description="Issue date to (inclusive)")] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> DocumentPage:
    owned_account(account_id)
    start_key = _decode_key(cursor, account_id)
    records, next_key = runtime().documents.page_by_status(account_id, status, start_key=start_key,
                                                           page_size=limit)
    chosen = [r for r in records if _issued_between(r, date_from, date_to)]
    return DocumentPage(documents=[DocumentView.of(r) for r in chosen], next_cursor=_encode_key(next_key))


@app.get("/accounts/<account_id>/documents/<document_id>")
def get_document(account_id: str, document_id: str) -> DocumentView:
    return DocumentView.of(owned_document(account_id, document_id))


@app.post("/accounts/<account_id>/documents/<document_id>/retry")
def retry(account_id: str, document_id: str) -> Queued:
    """Queue a failed document again after its cause was fixed."""
    principal, _ = caller()
    owned_document(account_id, document_id)
    retry_document(runtime(), account_id, document_id)
    audit(account_id, document_id, "retry_requested", principal)
    return Queued(document_id=document_id)


@app.post("/accounts/<account_id>/failed/retry")
def retry_all_failed(account_id: str) -> BulkRun:
    """Every failed document of the account, as a bulk run (resume it while its status is running)."""
    principal, _ = caller()
    owned_account(account_id)
    exporter = runtime().bulk_exporter
    run = exporter.start(account_id, BulkFilters(only_failed=True), requested_by=principal)
    return exporter.resume(account_id, run.run_id, time_left)


@app.post("/accounts/<account_id>/documents/<document_id>/resolve")
def resolve(account_id: str, document_id: str, request: ResolveRequest) -> DocumentView:
    """Settle a document held in doubt: attach the provider document found, or release it for a new send."""
    owned_document(account_id, document_id)
    if request.action == "attach" and not request.provider_document_id:
        raise ApiError(422, "missing_provider_document", "attach needs provider_document_id",
                       fix="give the provider's id of the document (and its number)")
    if request.action == "attach" and not (request.provider_number or "").strip():
        # The `exported` event and the customer's link carry the number: never announce a document without it.
        raise ApiError(422, "missing_provider_number", "attach needs provider_number",
                       fix="give the number the provider shows on the document (CLI: --number)")
    resolve_in_doubt(runtime(), account_id, document_id,
                     provider_document_id=request.provider_document_id if request.action == "attach" else None,
                     provider_number=request.provider_number)
    audit(account_id, document_id, f"resolved_{request.action}", caller()[0],
          response=request.model_dump(exclude_none=True))
    return DocumentView.of(owned_document(account_id, document_id))


@app.post("/accounts/<account_id>/documents/<document_id>/settle", responses={
    202: {"description": "The settlement is queued", "content": {"application/json": {"model": Queued}}}})
def settle(account_id: str, document_id: str) -> Response[Queued]:
    """Ask the provider again about a document held in doubt (queued: 202). Its settlement, by reads only:
    found there -> exported; surely absent -> sent again; otherwise still in doubt, with the evidence
    (GET the document to see it)."""
    principal, _ = caller()
    record = owned_document(account_id, document_id)
    if record.status != Status.IN_DOUBT:
        raise ApiError(409, "not_in_doubt", f"document {document_id} is {record.status.value}, not in doubt",
                       fix="only a document held in doubt is settled")
    rt = runtime()
    queue_settlement(rt.client("sqs"), rt.settings.settle_queue_url,
                     [SettleRequest(account_id=account_id, document_id=document_id, requested_by=principal)])
    audit(account_id, document_id, "settle_requested", principal)
    return Response(status_code=202, content_type="application/json", body=Queued(document_id=document_id))


@app.get("/accounts/<account_id>/documents/<document_id>/audit")
def document_audit(account_id: str, document_id: str) -> list[AuditEntry]:
    """Who or what did what to the document, with which settings version, requests without personal data."""
    owned_document(account_id, document_id)
    trail = runtime().audit
    return trail.entries(account_id, document_id) if trail else []


def audit(account_id: str, document_id: str, action: str, actor: str, **details: object) -> None:
    trail = runtime().audit
    if trail is not None:
        trail.record(account_id, document_id, action, actor, **details)


@app.get("/accounts/<account_id>/documents/<document_id>/link")
def customer_link(account_id: str, document_id: str) -> CustomerLink:
    record = owned_document(account_id, document_id)
    if record.status != Status.EXPORTED:
        raise ApiError(409, "not_exported", f"document {document_id} is {record.status.value}",
                       fix="a link exists once the document is exported")
    rt = runtime()
    return CustomerLink(document_id=document_id, url=rt.make_link(account_id, document_id),
                        valid_days=rt.settings.link_ttl_days)


# ---------------------------------------------------------------- bulk export


@app.post("/accounts/<account_id>/bulk-exports")
def bulk_export(account_id: str, request: BulkExportRequest) -> BulkExportAnswer:
    principal, _ = caller()
    owned_account(account_id)
    exporter = runtime().bulk_exporter
    if request.dry_run:
        try:
            report = exporter.dry_run(account_id, request.filters, limit=request.limit, cursor=request.cursor)
        except ValueError as exc:
            raise ApiError(400, "bad_cursor", str(exc), fix="leave cursor out") from None
        return BulkExportAnswer(dry_run=report)
    run = exporter.start(account_id, request.filters, requested_by=principal)
    return BulkExportAnswer(run=exporter.resume(account_id, run.run_id, time_left))


@app.get("/accounts/<account_id>/bulk-exports")
def list_bulk_exports(account_id: str) -> list[BulkRun]:
    owned_account(account_id)
    return runtime().bulk_runs.list_runs(account_id)


@app.post("/accounts/<account_id>/bulk-exports/<run_id>/resume")
def resume_bulk_export(account_id: str, run_id: str) -> BulkRun:
    owned_account(account_id)
    return _known_run(lambda: runtime().bulk_exporter.resume(account_id, run_id, time_left))


@app.get("/accounts/<account_id>/bulk-exports/<run_id>")
def bulk_export_summary(account_id: str, run_id: str) -> BulkSummary:
    """Progress, and what became of each document: exported, failed (reason, fix), in doubt, waiting, skipped."""
    owned_account(account_id)
    return _known_run(lambda: runtime().bulk_exporter.summary(account_id, run_id))


T = TypeVar("T")


def _known_run(action: Callable[[], T]) -> T:
    try:
        return action()
    except LookupError as exc:
        raise ApiError(404, "run_not_found", str(exc), fix="GET .../bulk-exports lists the account's runs") from None


# ---------------------------------------------------------------- reconciliation


@app.get("/accounts/<account_id>/reconciliation")
def reconciliation(
    account_id: str,
    date_from: Annotated[date, Query(description="Issue date from (inclusive)")],
    date_to: Annotated[date, Query(description="Issue date to (inclusive)")],
) -> ReconciliationReport:
    """Our documents against the provider's list: missing there, extra there, different (number, totals, kind)."""
    if date_from > date_to:
        raise ApiError(400, "bad_period", f"date_from {date_from} is after date_to {date_to}", fix="swap them")
    settings = owned_account(account_id)
    return reconcile(account_id, adapter(settings), runtime().documents, date_from, date_to)


# ---------------------------------------------------------------- helpers


def _issued_between(record: DocumentRecord, date_from: date | None, date_to: date | None) -> bool:
    if date_from is None and date_to is None:
        return True
    document = record.parsed_document()
    if document is None:
        return False
    issued = document.issue_date
    return (date_from is None or issued >= date_from) and (date_to is None or issued <= date_to)


def _encode_key(key: dict | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_key(cursor: str | None, account_id: str) -> dict | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        key = None
    if not isinstance(key, dict) or key.get("account_id") != account_id:
        raise ApiError(400, "bad_cursor", "the cursor is not one this API gave out", fix="leave cursor out")
    return key


def openapi_json() -> str:
    return app.get_openapi_json_schema(title=TITLE, version=API_VERSION,
                                       description=__doc__.split("\n\n")[0] if __doc__ else None)
