"""Configuration API function: IAM-authenticated REST API for accounts, settings, documents and bulk exports."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.config_api import app, warm_up
from invoice_export.platform import snapstart
from invoice_export.platform.observability import logger

snapstart.prepare(warm_up)  # SnapStart (infra/template.yaml): imports and service models in the snapshot


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
