"""The service's wiring: AWS clients, stores and services, built lazily from RuntimeSettings.

Handlers call `get_runtime()`; tests and the local stack call `reset_runtime()` after changing
the environment, so nothing reads the environment or opens a client at import time. Clients are
created once per process, on first use.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.platform.observability import metrics
from invoice_export.platform.rate_limiter import SlidingWindowLimiter
from invoice_export.platform.runtime_settings import RuntimeSettings

if TYPE_CHECKING:
    from invoice_export.domain.documents import ExportMessage
    from invoice_export.domain.links import LinkSigner
    from invoice_export.providers.base import ProviderAdapter
    from invoice_export.services.bulk_export import BulkExporter
    from invoice_export.services.events import OutcomePublisher
    from invoice_export.services.export import ExportService
    from invoice_export.services.ksef import KsefPollRequest, KsefService
    from invoice_export.services.pdf import PdfService
    from invoice_export.services.record_changes import RecordChangeService
    from invoice_export.services.settlement import InDoubtSettlement
    from invoice_export.storage.accounts import AccountStore
    from invoice_export.storage.audit import AuditTrail
    from invoice_export.storage.bulk_runs import BulkRunStore
    from invoice_export.storage.documents import DocumentStore
    from invoice_export.storage.pdfs import PdfStore
    from invoice_export.storage.tenants import TenantStore

# Cold starts: each function imports only the services it uses, when it first uses them (the export
# function never loads the bulk exporter, the PDF function never loads the export service), so the
# imports below are inside the properties that build each service.

# How long the settlement of a document in doubt waits in place for room in a provider's rate limit
# (its function has 120 s and no queue behind it): a day's list and its reads can fill a window.
SETTLEMENT_RATE_LIMIT_WAIT_SECONDS = 60.0
LINK_KEYS_CACHE_SECONDS = 300


class Runtime:
    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        self.settings = settings or RuntimeSettings.from_environment()
        self._session = boto3.session.Session()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                config = Config(retries={"mode": "standard", "max_attempts": 4})
                if service == "s3":
                    # Regional virtual-host URLs in AWS (no redirect on new buckets); path style for a
                    # local endpoint such as moto, which has no per-bucket host names.
                    style = "path" if self.settings.aws_endpoint_url else "virtual"
                    config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": style}))
                self._clients[service] = self._session.client(service, config=config)
            return self._clients[service]

    def warm_up(self, services: Iterable[str], modules: Iterable[str] = (), *, adapters: bool = False) -> None:
        """Before a SnapStart snapshot (platform.snapstart): import `modules` (and every provider adapter)
        and parse the service models of `services` (and the DynamoDB resource's) into this runtime's
        session, where its clients will find them. The clients made for that are thrown away, made with
        placeholder keys so that no credentials are looked up; nothing is sent to AWS."""
        for module in modules:
            importlib.import_module(module)
        if adapters:
            from invoice_export.providers import adapter_class, supported_providers

            for provider in supported_providers():
                adapter_class(provider)
        placeholder = {"aws_access_key_id": "before-snapshot", "aws_secret_access_key": "before-snapshot"}
        for service in services:
            self._session.client(service, **placeholder)
            if service == "dynamodb":
                self._session.resource("dynamodb", **placeholder)

    @cached_property
    def _dynamodb(self) -> Any:
        return self._session.resource("dynamodb")

    @cached_property
    def accounts(self) -> AccountStore:
        from invoice_export.storage.accounts import AccountStore

        return AccountStore(self._dynamodb.Table(self.settings.accounts_table), self.client("secretsmanager"),
                            self.settings.credentials_secret_prefix)

    @cached_property
    def documents(self) -> DocumentStore:
        from invoice_export.storage.documents import DocumentStore
        from invoice_export.storage.own_numbers import OwnNumberStore

        # Only the export function has the numbers table: it alone claims documents for sending.
        numbers_table = self.settings.numbers_table
        numbers = OwnNumberStore(self._dynamodb.Table(numbers_table)) if numbers_table else None
        return DocumentStore(self._dynamodb.Table(self.settings.documents_table), numbers)

    @cached_property
    def publisher(self) -> OutcomePublisher:
        from invoice_export.services.events import OutcomePublisher

        return OutcomePublisher(self.client("events"), self.settings.event_bus_name)

    @cached_property
    def pdfs(self) -> PdfStore:
        from invoice_export.storage.pdfs import PdfStore

        return PdfStore(self.client("s3"), _required(self.settings.pdf_bucket, "PDF_BUCKET"))

    @cached_property
    def limiter(self) -> SlidingWindowLimiter | None:
        if not self.settings.rate_limits_table:
            return None
        return SlidingWindowLimiter(self._dynamodb.Table(self.settings.rate_limits_table),
                                    max_wait_seconds=self.settings.rate_limit_max_wait_seconds)

    @cached_property
    def patient_limiter(self) -> SlidingWindowLimiter | None:
        """The shared limiter as the settlement uses it: waiting longer in place for room."""
        if not self.settings.rate_limits_table:
            return None
        return SlidingWindowLimiter(self._dynamodb.Table(self.settings.rate_limits_table), max_wait_seconds=max(
            self.settings.rate_limit_max_wait_seconds, SETTLEMENT_RATE_LIMIT_WAIT_SECONDS))

    @cached_property
    def _secrets(self) -> parameters.SecretsProvider:
        """One provider per process: its cache is what keeps a secret from being read per document."""
        return parameters.SecretsProvider(boto3_client=self.client("secretsmanager"))

    def deployment_credentials(self, provider: str) -> dict[str, Any]:
        """Credentials of this deployment for `provider` (e.g. wFirma's appKey); {} where it has none."""
        secret_id = self.settings.provider_app_secrets.get(provider)
        if not secret_id:
            return {}
        value = self._secrets.get(secret_id, transform="json", max_age=LINK_KEYS_CACHE_SECONDS)
        assert isinstance(value, dict)
        return {name: text for name, text in value.items() if text}  # an unset parameter stays absent

    def build_adapter(self, account: AccountSettings, credentials: dict[str, Any], *,
                      patient: bool = False) -> ProviderAdapter:
        """The account's adapter; `patient`: its requests wait longer for room in the rate limit."""
        from invoice_export.providers import build_adapter

        # The merchant's own credentials win: a deployment secret only fills what they lack.
        credentials = {**self.deployment_credentials(account.provider.value), **credentials}
        overrides = {name: RateLimit(limit=o.limit, window_seconds=o.window_seconds, scope=LimitScope(o.scope),
                                     source=o.source)
                     for name, o in self.settings.provider_rate_limits.items()}
        return build_adapter(account, credentials, connect_timeout=self.settings.provider_connect_timeout,
                             read_timeout=self.settings.provider_read_timeout,
                             limiter=self.patient_limiter if patient else self.limiter,
                             rate_limit_overrides=overrides)

    def link_signer(self) -> LinkSigner:
        from invoice_export.domain.links import LinkSigner

        secret_id = _required(self.settings.link_signing_secret_id, "LINK_SIGNING_SECRET_ID")
        secret = self._secrets.get(secret_id, max_age=LINK_KEYS_CACHE_SECONDS)
        return LinkSigner.from_secret(json.loads(secret) if isinstance(secret, str) else secret)

    def make_link(self, account_id: str, document_id: str) -> str:
        base = _required(self.settings.link_base_url, "LINK_BASE_URL").rstrip("/")
        token = self.link_signer().sign(account_id, document_id, self.settings.link_ttl_days * 86400)
        return f"{base}/d/{token}"

    def request_pdf(self, account_id: str, document_id: str, delay_seconds: int = 0) -> None:
        from invoice_export.services.pdf import PdfRequest

        body = PdfRequest(account_id=account_id, document_id=document_id).model_dump_json()
        self.client("sqs").send_message(QueueUrl=_required(self.settings.pdf_queue_url, "PDF_QUEUE_URL"),
                                        MessageBody=body, DelaySeconds=delay_seconds)

    def queue_export(self, message: ExportMessage, *, once_per: str | None = None) -> None:
        """Put an export message on the export queue (services.operations.queue_export)."""
        from invoice_export.services.operations import queue_export

        queue_export(self.client("sqs"), _required(self.settings.export_queue_url, "EXPORT_QUEUE_URL"), message,
                     once_per=once_per)

    def schedule_ksef_poll(self, request: KsefPollRequest, delay_seconds: int) -> None:
        self.client("sqs").send_message(QueueUrl=_required(self.settings.ksef_queue_url, "KSEF_QUEUE_URL"),
                                        MessageBody=request.model_dump_json(), DelaySeconds=delay_seconds)

    @cached_property
    def ksef_service(self) -> KsefService:
        from invoice_export.services.ksef import KsefService

        return KsefService(settings=self.settings, accounts=self.accounts, documents=self.documents,
                           adapter_factory=self.build_adapter, schedule=self.schedule_ksef_poll)

    def prepare_export(self) -> ExportService:
        """Build everything exporting a document uses, before a batch exports documents side by side:
        these are built on first use, and two threads building one would race (a boto3 session is not
        thread-safe; two rate limiters would each keep their own copy of the window)."""
        self.limiter, self._secrets  # noqa: B018
        return self.export_service

    @cached_property
    def export_service(self) -> ExportService:
        from invoice_export.services.export import ExportService

        return ExportService(
            settings=self.settings, accounts=self.accounts, documents=self.documents, publisher=self.publisher,
            adapter_factory=self.build_adapter, make_link=self.make_link, metrics=metrics)

    @cached_property
    def record_changes(self) -> RecordChangeService:
        """What follows from a change of a document record (the stream function's service)."""
        from invoice_export.services.record_changes import RecordChangeService

        return RecordChangeService(accounts=self.accounts, documents=self.documents, publisher=self.publisher,
                                   make_link=self.make_link, request_pdf=self.request_pdf,
                                   start_ksef_poll=lambda a, d: self.ksef_service.start(a, d),
                                   queue_export=self.queue_export, audit=self.audit)

    @cached_property
    def settlement(self) -> InDoubtSettlement:
        from invoice_export.services.settlement import InDoubtSettlement

        return InDoubtSettlement(
            accounts=self.accounts, documents=self.documents,
            adapter_factory=lambda account, credentials: self.build_adapter(account, credentials, patient=True),
            export=self.export_service, sqs=self.client("sqs"), settle_queue_url=self.settings.settle_queue_url)

    @cached_property
    def audit(self) -> AuditTrail | None:
        """None where a function has no AUDIT_TABLE: nothing to record there."""
        if not self.settings.audit_table:
            return None
        from invoice_export.storage.audit import AuditTrail

        return AuditTrail(self._dynamodb.Table(self.settings.audit_table), self.settings.data_retention_days)

    @cached_property
    def bulk_runs(self) -> BulkRunStore:
        from invoice_export.storage.bulk_runs import BulkRunStore

        table = _required(self.settings.bulk_runs_table, "BULK_RUNS_TABLE")
        return BulkRunStore(self._dynamodb.Table(table), self.settings.data_retention_days)

    @cached_property
    def tenants(self) -> TenantStore:
        from invoice_export.storage.tenants import TenantStore

        return TenantStore(self._dynamodb.Table(_required(self.settings.tenants_table, "TENANTS_TABLE")))

    @cached_property
    def bulk_exporter(self) -> BulkExporter:
        from invoice_export.services.bulk_export import BulkExporter

        return BulkExporter(accounts=self.accounts, documents=self.documents, runs=self.bulk_runs,
                            sqs=self.client("sqs"),
                            queue_url=_required(self.settings.export_queue_url, "EXPORT_QUEUE_URL"),
                            adapter_factory=self.build_adapter, audit=self.audit)

    @cached_property
    def pdf_service(self) -> PdfService:
        from invoice_export.services.pdf import PdfService

        return PdfService(settings=self.settings, accounts=self.accounts, documents=self.documents,
                          pdfs=self.pdfs, adapter_factory=self.build_adapter,
                          link_signer=self.link_signer, audit=self.audit)


def _required(value: str | None, variable: str) -> str:
    if not value:
        raise RuntimeError(f"{variable} is not set for this function (see infra/template.yaml)")
    return value


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime()
        return _runtime


def reset_runtime() -> None:
    """Forget clients and settings (the environment changed: a test or the local stack)."""
    global _runtime
    with _runtime_lock:
        _runtime = None
    parameters.clear_caches()
