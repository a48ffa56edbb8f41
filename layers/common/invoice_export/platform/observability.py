"""One Logger and one Metrics for the service.

Names come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (set by the template), with
the same defaults here, so code imported before its environment is set (tests, the local stack)
still logs and measures under the right names. Logs carry ids and outcomes only: never
credentials, never buyer data (documents are not logged).
"""

import os

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME") or "invoice-export"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE") or "InvoiceExport", service=SERVICE)
