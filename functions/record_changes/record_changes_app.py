"""Record-changes function: DocumentsTable's stream -> outcome events, PDF and KSeF requests, audit entries."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.record_changes import record_changes_batch
from invoice_export.platform.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return record_changes_batch(event, context)
