"""The configuration API's errors: one JSON shape, {"code", "message", "fix"}, for every refusal."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from invoice_export.domain.errors import ExportError, TransientError
from invoice_export.services.bulk_export import BulkExportRefused
from invoice_export.services.connections import ConnectionRefused
from invoice_export.services.operations import OperationRefused


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fix = status, code, message, fix


def error_response(status: int, code: str, message: str, fix: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps({"code": code, "message": message, "fix": fix}))


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Each refusal the services raise becomes its status and the JSON error shape."""

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.fix)

    @app.exception_handler(ConnectionRefused)
    def _refused(error: ConnectionRefused) -> Response:
        return error_response(error.status, error.code, error.message, error.fix)

    @app.exception_handler(OperationRefused)
    def _operation_refused(error: OperationRefused) -> Response:
        return error_response(409, "not_applicable", str(error), "check the document's status first")

    @app.exception_handler(BulkExportRefused)
    def _bulk_refused(error: BulkExportRefused) -> Response:
        return error_response(409, "account_paused", str(error), "reconnect the account")

    @app.exception_handler(TransientError)
    def _unavailable(error: TransientError) -> Response:
        return error_response(503, error.code, error.message, "try again in a moment")

    @app.exception_handler(ExportError)
    def _export_error(error: ExportError) -> Response:
        return error_response(400, error.code, error.message, error.fix)
