"""The public customer-link route (HTTP API): GET /d/{token}."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from invoice_export.platform.runtime import get_runtime

app = APIGatewayHttpResolver()


@app.get("/d/<token>")
def open_link(token: str) -> Response:
    answer = get_runtime().pdf_service.open_link(token)
    headers = dict(answer.headers)
    content_type = headers.pop("Content-Type", "text/plain; charset=utf-8")
    return Response(status_code=answer.status, content_type=content_type, body=answer.body, headers=headers)


def warm_up() -> None:
    """Before a SnapStart snapshot (platform.snapstart): what the first link opened loads."""
    get_runtime().warm_up(("dynamodb", "secretsmanager", "s3"), adapters=True, modules=("invoice_export.services.pdf",))
