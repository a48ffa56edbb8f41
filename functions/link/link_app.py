"""Link function: a customer's signed link -> a fresh short-lived URL of the document's PDF."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.link_api import app
from invoice_export.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
