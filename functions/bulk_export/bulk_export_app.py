"""Bulk export function: the nightly schedule -> every bulk-mode account's pending documents on the queue."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.schedules import nightly_bulk_export
from invoice_export.platform.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return nightly_bulk_export(event, context)
