"""What scheduled functions call: the nightly bulk export."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from invoice_export.platform.observability import logger, metrics
from invoice_export.platform.runtime import Runtime, get_runtime

# Left for recording where the run stopped after the last page.
TIME_MARGIN_SECONDS = 20.0


class NightlyRequest(BaseModel):
    """The schedule's Input (infra/template.yaml); `night` only to redo a given night by hand."""

    model_config = ConfigDict(extra="forbid")
    trigger: Literal["nightly"]
    night: date | None = None


def nightly_bulk_export(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict:
    request = parse(event=event, model=NightlyRequest)
    runtime = runtime or get_runtime()
    # The schedule fires at 02:00 Warsaw time, which is the same calendar day in UTC.
    night = request.night or datetime.now(UTC).date()
    runs = runtime.bulk_exporter.nightly(
        night, time_left=lambda: context.get_remaining_time_in_millis() / 1000 - TIME_MARGIN_SECONDS)
    metrics.add_metric(name="BulkDocumentsQueued", unit=MetricUnit.Count, value=sum(r.queued for r in runs))
    # The gauge behind the "accounts needing reconnect" alarm (infra/template.yaml).
    paused = [a.account_id for a in runtime.accounts.list_accounts() if a.status == "needs_reconnect"]
    metrics.add_metric(name="AccountsNeedingReconnect", unit=MetricUnit.Count, value=len(paused))
    unfinished = [r.account_id for r in runs if r.status.value == "running"]
    if unfinished:
        logger.warning("bulk runs go on next night", extra={"accounts": unfinished})
    fields = {"account_id", "run_id", "status", "queued", "skipped", "held"}
    return {"runs": [r.model_dump(mode="json", include=fields) for r in runs]}
