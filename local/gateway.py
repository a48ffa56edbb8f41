"""A tiny local API Gateway HTTP API: HTTP request -> payload format 2.0 event -> handler -> HTTP.
(REST API routes, `Type: Api`, get payload format 1.0 instead: see local.rest_api.)

One stdlib `ThreadingHTTPServer` on 127.0.0.1 serves every `Type: HttpApi` route of the template.
The event and the response mapping follow API Gateway's payload format 2.0
(docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html):
headers lower-cased and repeated ones comma-joined, the Cookie header moved to `cookies`, repeated
query parameters comma-joined, the path (rawPath, pathParameters) URL-decoded while rawQueryString
stays encoded, and a handler result without `statusCode` taken as a JSON body.
An unmatched route gets API Gateway's own `404 {"message":"Not Found"}`, a failing handler its
`500 {"message":"Internal Server Error"}`.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.esm import ACCOUNT_ID, LocalFunction
from local.rest_api import REST_PAYLOAD_FORMAT, missing_authentication_token, rest_api_event, rest_http_response
from local.template import HttpApiEvent

log = logging.getLogger(__name__)

LOCAL_API_ID = "local"


@dataclass(frozen=True)
class Route:
    event: HttpApiEvent
    function: LocalFunction

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route takes the request, else None."""
        if self.event.method not in ("ANY", method):
            return None
        if self.event.path == "$default":
            return {}
        found = _path_pattern(self.event.path).fullmatch(path)
        return None if found is None else found.groupdict()

    @property
    def specificity(self) -> tuple[bool, bool, int, bool]:
        """Sort key, most specific first, as API Gateway picks among matching routes: an exact
        path before a greedy {proxy+}, fewer path variables first, a named method before ANY."""
        path = self.event.path
        return (path == "$default", "+}" in path, path.count("{"), self.event.method == "ANY")


@functools.cache
def _path_pattern(path: str) -> re.Pattern[str]:
    """/d/{token} -> ^/d/(?P<token>[^/]+)$ ; {proxy+} is greedy and may span slashes."""
    pattern = ""
    for literal, variable in re.findall(r"([^{]*)(?:\{([^}]+)\})?", path):
        pattern += re.escape(literal)
        if variable.endswith("+"):
            pattern += f"(?P<{variable[:-1]}>.+)"
        elif variable:
            pattern += f"(?P<{variable}>[^/]+)"
    return re.compile(pattern)


def http_api_event(
    route: Route,
    path_parameters: dict[str, str],
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends to the function for one request."""
    joined_headers: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        joined_headers[name] = f"{joined_headers[name]},{value}" if name in joined_headers else value
    cookie_header = joined_headers.pop("cookie", None)

    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.event.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookie_header:
        event["cookies"] = [cookie.strip() for cookie in cookie_header.replace(",", ";").split(";")]
    event["headers"] = joined_headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": joined_headers.get("host", ""),
        "domainPrefix": joined_headers.get("host", "").split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined_headers.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route.event.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        try:
            event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["isBase64Encoded"] = False
    return event


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_response(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(
        status, [("Content-Type", "application/json")], json.dumps(payload, separators=(",", ":")).encode()
    )


NOT_FOUND = _json_response(404, {"message": "Not Found"})
INTERNAL_ERROR = _json_response(500, {"message": "Internal Server Error"})


def http_response(result: Any) -> HttpResponse:
    """How API Gateway turns a payload 2.0 handler result into the HTTP response."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # No statusCode: API Gateway assumes 200 and a JSON body made of the whole result.
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("Content-Type", "application/json")], body.encode())
    try:
        headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
        headers += [("Set-Cookie", cookie) for cookie in result.get("cookies") or []]
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return HttpResponse(int(result["statusCode"]), headers, data)
    except (TypeError, ValueError):
        log.warning("malformed handler response; API Gateway answers 500")
        return INTERNAL_ERROR


class HttpApiGateway:
    """Serves the given routes on 127.0.0.1 (a free port unless one is given)."""

    def __init__(self, routes: list[Route], host: str = "127.0.0.1", port: int = 0):
        self.routes = sorted(routes, key=lambda route: route.specificity)
        self._server = ThreadingHTTPServer((host, port), _request_handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            # A short poll interval: stop() waits for the serving loop to notice (0.5 s by default).
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="http-api-gateway",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if (parameters := route.match(method, path)) is not None:
                return route, parameters
        return None

    def respond(self, request: BaseHTTPRequestHandler) -> HttpResponse:
        split = urlsplit(request.path)
        path = unquote(split.path)  # HTTP APIs hand the function the decoded path
        found = self.find_route(request.command, path)
        if found is None:
            return NOT_FOUND
        route, path_parameters = found
        length = int(request.headers.get("Content-Length") or 0)
        rest = route.event.payload_format == REST_PAYLOAD_FORMAT
        event = (rest_api_event if rest else http_api_event)(
            route,
            path_parameters,
            method=request.command,
            raw_path=path,
            raw_query=split.query,
            headers=list(request.headers.items()),
            body=request.rfile.read(length) if length else b"",
            source_ip=request.client_address[0],
        )
        if event is None:  # a REST route with IAM auth, and no caller named
            return missing_authentication_token()
        started = time.monotonic()
        try:
            invocation = route.function.invoke(event)
        except Exception:  # the handler could not even be imported
            log.exception("%s: cannot load %s", route.event.route_key, route.function)
            return INTERNAL_ERROR
        if invocation.failed:
            log.warning(
                "%s (%s) failed: %s",
                route.event.route_key,
                route.function.name,
                "timed out" if invocation.timed_out else type(invocation.error).__name__,
                exc_info=invocation.error,
            )
            return INTERNAL_ERROR
        response = (rest_http_response if rest else http_response)(invocation.response)
        log.debug(
            "%s -> %s: %d in %.0f ms",
            route.event.route_key,
            route.function.name,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response


def _request_handler_for(gateway: HttpApiGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            response = gateway.respond(self)
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() != "content-length":  # computed below, as API Gateway does
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("gateway: " + format, *args)

    return Handler
