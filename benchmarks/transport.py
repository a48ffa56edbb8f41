"""The network replaced in memory, everything above it real.

* `InMemoryAws` is a botocore `before-send` handler (moto's own mechanism): each AWS request is
  answered by moto's in-process backends - the same ones that serve the local stack's moto
  server - instead of going over HTTP. botocore still serialises, signs and parses every call.
* `InMemoryProvider` is a requests transport adapter: a provider call is answered by a local
  provider fake's own request pipeline, without a socket; requests still prepares the request
  and builds the response.

Both charge the CPU time they spend answering to a `BackendClock`, which a benchmark subtracts
from the time of the whole path: what is left is ours (our code and the libraries it uses).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import requests
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.handlers import BUILTIN_HANDLERS
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

from invoice_export.platform.runtime import Runtime
from local import moto_fixes
from local.fakes.common import FakeServer, Headers, Request

# SigV4 names the region and the signing service, which is the AWS host name's first label for
# every service on the export path (dynamodb, sqs, events, secretsmanager, s3).
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


class BackendClock:
    """CPU seconds spent answering requests in memory, per thread (a benchmark measures one thread)
    and in all threads together."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._total = 0.0

    def seconds(self) -> float:
        return getattr(self._local, "seconds", 0.0)

    def total_seconds(self) -> float:
        with self._lock:
            return self._total

    @contextmanager
    def answering(self) -> Iterator[None]:
        started = time.thread_time()
        try:
            yield
        finally:
            spent = time.thread_time() - started
            self._local.seconds = self.seconds() + spent
            with self._lock:
                self._total += spent


class InMemoryAws:
    def __init__(self, clock: BackendClock) -> None:
        self.clock = clock
        self._moto = BotocoreStubber()

    @contextmanager
    def installed(self) -> Iterator[InMemoryAws]:
        """Answer every botocore session created inside the block (attach() existing clients), from
        moto's backends with the local stack's fixes (local.moto_fixes)."""
        moto_fixes.apply()
        entry = ("before-send", self)
        BUILTIN_HANDLERS.append(entry)
        try:
            yield self
        finally:
            BUILTIN_HANDLERS.remove(entry)

    def attach(self, client: Any) -> None:
        """Answer an already created client too (e.g. the local stack's own SQS client)."""
        client.meta.events.register("before-send", self)

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        with self.clock.answering():
            authorization = request.headers.get("Authorization", b"")
            if isinstance(authorization, bytes):
                authorization = authorization.decode()
            scope = _CREDENTIAL_SCOPE.search(authorization)
            if scope is None:
                raise RuntimeError(f"unsigned AWS request to {urlsplit(request.url).path}: cannot tell the service")
            # moto recognises services by their AWS host names; the local stack points boto3 at its server.
            # DynamoDB Streams signs as "dynamodb": its own host is told by the operation it names.
            target = request.headers.get("X-Amz-Target", b"")
            streams = (target.decode() if isinstance(target, bytes) else target).startswith("DynamoDBStreams_")
            host = f"streams.dynamodb.{scope['region']}" if streams else f"{scope['service']}.{scope['region']}"
            parts = urlsplit(request.url)
            request.url = f"https://{host}.amazonaws.com{parts.path}" + (f"?{parts.query}" if parts.query else "")
            answer = self._moto.process_request(request)
            if answer is None:
                raise RuntimeError(f"moto has no backend for {scope['service']}")
            status, headers, body = answer
            return AWSResponse(request.url, status, headers, MockRawResponse(body))


class InMemoryProvider(HTTPAdapter):
    """A requests transport adapter answering from a provider fake's request pipeline, in memory."""

    def __init__(self, fake: FakeServer, clock: BackendClock, base_url: str) -> None:
        super().__init__()
        self.fake = fake
        self.clock = clock
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        with self.clock.answering():
            body = request.body or b""
            incoming = Request.build(request.method or "GET", request.path_url, Headers(list(request.headers.items())),
                                     body.encode() if isinstance(body, str) else body, "127.0.0.1")
            # The fake's pipeline without its socket: injected faults, its rate limit, then its route.
            answer = self.fake._respond(incoming, self.fake.faults.take(incoming.method, incoming.path))
        raw = HTTPResponse(body=BytesIO(answer.body), headers=answer.headers, status=answer.status,
                           preload_content=False, decode_content=False)
        return self.build_response(request, raw)

    def mount_on(self, session: requests.Session) -> None:
        session.mount(self.base_url, self)

    @contextmanager
    def serving(self) -> Iterator[InMemoryProvider]:
        """Every provider adapter the service builds in the block sends through this transport."""
        build_adapter = Runtime.build_adapter

        def build_in_memory(runtime: Runtime, *args: Any, **kwargs: Any) -> Any:
            adapter = build_adapter(runtime, *args, **kwargs)
            self.mount_on(adapter.http.session)
            return adapter

        with mock.patch.object(Runtime, "build_adapter", build_in_memory):
            yield self
