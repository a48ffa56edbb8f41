"""PDF function: PDF queue -> the provider's PDF stored in the private bucket."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.sqs import pdf_batch, warm_up_pdf
from invoice_export.platform import snapstart
from invoice_export.platform.observability import logger, metrics

snapstart.prepare(warm_up_pdf)  # SnapStart (infra/template.yaml): imports and service models in the snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return pdf_batch(event, context)
