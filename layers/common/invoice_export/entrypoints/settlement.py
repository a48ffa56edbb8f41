"""What the settlement function calls (services.settlement): its schedule, and its queue's requests.

The schedule puts every document still in doubt on the settlement queue; an operator's `invoice-export
resolve --auto` puts one there (the configuration API answers 202). Each message is one document,
settled by asking its provider again with reads only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from invoice_export.entrypoints.sqs import _document_task_batch
from invoice_export.platform.observability import logger, metrics
from invoice_export.platform.runtime import Runtime, get_runtime
from invoice_export.services.settlement import SettleRequest

# Left of the scheduled run when it stops queueing (the rest is queued by the next run).
TIME_MARGIN_SECONDS = 10.0


class SettleInDoubtRequest(BaseModel):
    """The settlement schedule's Input (infra/template.yaml)."""

    model_config = ConfigDict(extra="forbid")
    trigger: Literal["settle_in_doubt"]


def queue_documents_in_doubt(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict:
    """Every document still in doubt on the settlement queue (the same function settles them from there)."""
    parse(event=event, model=SettleInDoubtRequest)
    runtime = runtime or get_runtime()
    report = runtime.settlement.queue_in_doubt(
        time_left=lambda: context.get_remaining_time_in_millis() / 1000 - TIME_MARGIN_SECONDS)
    metrics.add_metric(name="InDoubtQueuedForSettlement", unit=MetricUnit.Count, value=report.queued)
    # The gauge behind the "left in doubt for a person" alarm (infra/template.yaml).
    metrics.add_metric(name="InDoubtLeftToOperator", unit=MetricUnit.Count, value=report.left_to_operator)
    logger.info("documents in doubt queued for settlement", extra=asdict(report))
    return asdict(report)


def settle_batch(event: dict[str, Any], context: LambdaContext, runtime: Runtime | None = None) -> dict[str, Any]:
    """Settlement requests, one document each: a transient failure (the provider's rate limit, 5xx, AWS)
    retries the message; a permanent one (credentials refused) is logged, and the document stays in
    doubt for the next run or an operator."""
    runtime = runtime or get_runtime()

    def settle(request: SettleRequest) -> None:
        settlement = runtime.settlement.settle(request.account_id, request.document_id,
                                               requested_by=request.requested_by)
        outcome = settlement.outcome.value if settlement is not None else "nothing_to_settle"
        metrics.add_metric(name=f"InDoubtSettled_{outcome}", unit=MetricUnit.Count, value=1)
        logger.info("document in doubt asked about", extra={"settlement": outcome})

    return _document_task_batch(event, context, SettleRequest, settle, "settlement")
