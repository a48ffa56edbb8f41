"""KSeF status function: reads each exported invoice's KSeF state back until KSeF's answer is final."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.observability import logger, metrics
from invoice_export.sqs_entrypoints import ksef_batch


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return ksef_batch(event, context)
