"""Settlement function: documents held in doubt, asked about again at their provider (reads only).

Two triggers: its schedule (`{"trigger": "settle_in_doubt"}`) puts every document still in doubt on
the settlement queue; that queue's messages (one document each, from the schedule or an operator's
`resolve --auto`) are settled one by one."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.settlement import queue_documents_in_doubt, settle_batch
from invoice_export.platform.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    if "Records" in event:
        return settle_batch(event, context)
    return queue_documents_in_doubt(event, context)
