"""Record-changes function: DocumentsTable's stream -> outcome events, PDF and KSeF requests, audit entries;
on a schedule, the stream batches its mapping gave up on, replayed."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_export.entrypoints.record_changes import handle_stream_or_schedule, warm_up_record_changes
from invoice_export.platform import snapstart
from invoice_export.platform.observability import logger, metrics

snapstart.prepare(warm_up_record_changes)  # SnapStart (infra/template.yaml): imports and service models in the snapshot


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return handle_stream_or_schedule(event, context)
