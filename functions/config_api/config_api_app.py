"""Configuration API function: IAM-authenticated REST API for accounts, settings, documents and bulk exports."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.config_api import app
from invoice_export.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
