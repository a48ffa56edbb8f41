"""Export function: FIFO queue of issued documents -> the account's accounting system."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.sqs import export_batch, warm_up_export
from invoice_export.platform import snapstart
from invoice_export.platform.observability import logger, metrics

snapstart.prepare(warm_up_export)  # SnapStart (infra/template.yaml): imports and service models in the snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return export_batch(event, context)
