"""KSeF status function: reads each exported invoice's KSeF state back until KSeF's answer is final."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.sqs import ksef_batch
from invoice_export.platform.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return ksef_batch(event, context)
