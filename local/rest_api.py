"""The REST API (payload format 1.0) half of the local gateway, for `Type: Api` routes with IAM auth.

API Gateway verifies a SigV4 signature and puts the caller's ARN into
`requestContext.identity.userArn`. Locally nothing can verify a signature, so the caller is
named by a header instead - LOCAL ONLY, never honoured by API Gateway:

    X-Local-Caller-Arn: arn:aws:iam::123456789012:user/merchant

A request without it gets API Gateway's answer to an unsigned request (403, "Missing
Authentication Token"). Routes live under /<StageName>, as in the deployed URL
(https://<api>.execute-api.<region>.amazonaws.com/<stage>/...), and the function sees the path
without the stage, as API Gateway sends it.
Format: docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from local.esm import ACCOUNT_ID

if TYPE_CHECKING:
    from local.gateway import HttpResponse, Route

CALLER_HEADER = "X-Local-Caller-Arn"
REST_PAYLOAD_FORMAT = "1.0"
LOCAL_REST_API_ID = "localrest"


def rest_api_event(
    route: Route,
    path_parameters: dict[str, str],
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
) -> dict[str, Any] | None:
    """The payload 1.0 event for one request, or None when the request names no caller."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    caller = None
    for name, value in headers:
        if name.lower() == CALLER_HEADER.lower():
            caller = value
            continue
        single[name] = value  # payload 1.0 keeps the last value of a repeated header here
        multi.setdefault(name, []).append(value)
    if not caller:
        return None
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query_single[name] = value
        query_multi.setdefault(name, []).append(value)
    stage = route.event.stage or ""
    path = raw_path.removeprefix(f"/{stage}") or "/"
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "resource": route.event.resource,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": LOCAL_REST_API_ID,
            "resourcePath": route.event.resource,
            "httpMethod": method,
            "path": raw_path,
            "stage": stage,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "domainName": single.get("Host", ""),
            "identity": {
                "userArn": caller,
                "caller": caller.rsplit("/", 1)[-1],
                "user": caller.rsplit("/", 1)[-1],
                "accountId": ACCOUNT_ID,
                "accessKey": "LOCALACCESSKEY",
                "sourceIp": source_ip,
                "userAgent": single.get("User-Agent", ""),
            },
        },
        "body": None,
        "isBase64Encoded": False,
    }
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def rest_http_response(result: Any) -> HttpResponse:
    """A payload 1.0 proxy result -> HTTP; anything without statusCode is API Gateway's 502."""
    from local.gateway import HttpResponse

    if not (isinstance(result, dict) and "statusCode" in result):
        return HttpResponse(502, [("Content-Type", "application/json")], b'{"message": "Internal server error"}')
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(name, str(value)) for value in values]
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpResponse(int(result["statusCode"]), headers, data)


def missing_authentication_token() -> HttpResponse:
    from local.gateway import HttpResponse

    body = json.dumps({"message": "Missing Authentication Token"}).encode()
    return HttpResponse(403, [("Content-Type", "application/json")], body)
