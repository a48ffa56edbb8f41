"""Dead-letter check: every few minutes, each export message in the DLQ gets its document recorded."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.dead_letters import dead_letter_check
from invoice_export.platform.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return dead_letter_check(event, context)
