"""The deployment's settings, read from each function's environment (see infra/template.yaml)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal, get_origin

from pydantic import BaseModel, ConfigDict, Field


class RateLimitOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(gt=0)
    window_seconds: float = Field(gt=0)
    scope: Literal["account", "credential", "deployment"]
    source: str = "deployment setting"


class RuntimeSettings(BaseModel):
    """Names and limits of the deployment, read from the function's environment (see infra/template.yaml)
    by `from_environment`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    accounts_table: str
    documents_table: str
    event_bus_name: str
    credentials_secret_prefix: str = "invoice-export/accounts/"
    # Our numbers in use per account (storage.own_numbers); the export function's only.
    numbers_table: str | None = None
    export_queue_url: str | None = None
    export_max_receive_count: int = 8
    # Checked on a schedule (invoice_export.dead_letters). The export function's Timeout: how long a
    # document may be `sending` for a live attempt (export_decision.claim_lease_seconds), for the export
    # function itself (a duplicate delivery waits that long) and for the DLQ check.
    export_dlq_url: str | None = None
    export_timeout_seconds: float = 30.0
    # Documents of one account handled at the same time (sqs_entrypoints.side_by_side_run): provider
    # calls in issue order where the provider numbers them, side by side where the account passes our
    # numbers (same kind, series and issue date). 1 keeps every account strictly one document at a time.
    export_documents_in_flight: int = Field(default=4, ge=1, le=10)
    # Stream batches the record-changes mapping gave up on (Lambda's descriptions), replayed on a schedule.
    record_change_failures_url: str | None = None
    pdf_queue_url: str | None = None
    ksef_queue_url: str | None = None
    ksef_poll_base_delay_seconds: float = 20.0
    pdf_bucket: str | None = None
    link_signing_secret_id: str | None = None
    link_base_url: str | None = None
    link_ttl_days: int = 90
    pdf_max_age_seconds: int = 900
    aws_endpoint_url: str | None = None  # set only locally (moto); boto3 reads it by itself
    # Provider HTTP timeouts: connect short, read long enough for a slow create.
    provider_connect_timeout: float = 3.05
    provider_read_timeout: float = 10.0
    # A provider call (and an export record) is not started with less Lambda time left than read timeout + this margin.
    lambda_time_margin_seconds: float = 3.0
    # Provider -> Secrets Manager id of credentials that belong to this deployment, not to a merchant
    # (wFirma's appKey, issued once per integration): merged into each account's credentials.
    provider_app_secrets: dict[str, str] = Field(default_factory=dict)
    # Shared provider rate limits (invoice_export.ratelimit); unset: no client-side limiting.
    rate_limits_table: str | None = None
    rate_limit_max_wait_seconds: float = 5.0
    # Per-provider overrides of the adapters' default limits, e.g. {"fakturownia": {"limit": 300,
    # "window_seconds": 60, "scope": "credential", "source": "our contract"}} (JSON in the environment);
    # "<provider>:reads" overrides a provider's separate read window (ProviderAdapter.rate_windows).
    provider_rate_limits: dict[str, RateLimitOverride] = Field(default_factory=dict)
    # How long after an interrupted create began a provider's list is trusted to show what it created
    # (ProviderAdapter.listing_complete_after); None: each adapter's own figure. Set only to scale a
    # test run's timings down (the reliability run).
    settle_listing_after_seconds: float | None = None
    # In-doubt documents handed to the settlement (services.settlement): the settlement queue, where the
    # configuration API and the schedule put the work.
    settle_queue_url: str | None = None
    # First back-off of a transiently failed export message; doubles per delivery (capped at 15 min).
    retry_base_delay_seconds: float = 15.0
    # Operations (issue 4): bulk runs, the IAM principal -> tenant mapping, per-document audit trail.
    bulk_runs_table: str | None = None
    tenants_table: str | None = None
    audit_table: str | None = None
    # Bulk-run and audit records (and their TTL) are kept this long.
    data_retention_days: int = 400
    # The configuration API accepts an account's own api_url (sandboxes, local fakes) only when allowed:
    # otherwise a caller could make our functions call any address.
    allow_custom_provider_urls: bool = False

    @property
    def seconds_needed_for_provider_call(self) -> float:
        return self.provider_read_timeout + self.lambda_time_margin_seconds

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] | None = None) -> RuntimeSettings:
        """Each setting from the variable of its name (ACCOUNTS_TABLE -> accounts_table; any case), as
        pydantic-settings read them: the text as it is, validated by its field, and JSON for a mapping.
        (Plain parsing: pydantic-settings cost about 65 ms of each cold start.)"""
        by_name = {name.lower(): text for name, text in (os.environ if environment is None else environment).items()}
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            if name not in by_name:
                continue
            text = by_name[name]
            if get_origin(field.annotation) is dict:
                try:
                    values[name] = json.loads(text)
                except ValueError as error:
                    raise ValueError(f"{name.upper()} is not JSON: {error}") from None
            else:
                values[name] = text
        return cls.model_validate(values)
