"""One Logger and one Metrics for the service (names from POWERTOOLS_* environment variables).

Logs carry ids and outcomes only: never credentials, never buyer data (documents are not logged).
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
