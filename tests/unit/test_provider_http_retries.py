"""Reads repeated by the HTTP plumbing take their places in the provider's rate limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from invoice_export.domain.errors import ProviderRejected, TransientError
from invoice_export.domain.rate_limits import RateLimited
from invoice_export.providers.http import ProviderHttp


class _FlakyGateway(BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` requests, then 200."""

    failures = 0
    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        failing = len(self.seen) <= self.failures
        body = b'{"ok": true}'
        self.send_response(503 if failing else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[type[_FlakyGateway]]:
    handler = type("Handler", (_FlakyGateway,), {"seen": [], "failures": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    yield handler
    server.shutdown()
    server.server_close()


def _client(base_url: str, asked: list[tuple[str, str]], refuse_after: int | None = None) -> ProviderHttp:
    def before_request(method: str, path: str) -> None:
        if refuse_after is not None and len(asked) >= refuse_after:
            raise RateLimited("no room in the window", retry_after=1.0)
        asked.append((method, path))

    def read_rejection(response):
        return ProviderRejected(f"refused {response.status_code}", fix="-", code="test")

    return ProviderHttp(provider="Test", base_url=base_url, auth=None, read_rejection=read_rejection,
                        read_timeout=2, before_request=before_request)


def test_each_repeat_of_a_read_asks_the_rate_limiter_like_the_first_request(gateway) -> None:
    gateway.failures = 2
    asked: list[tuple[str, str]] = []
    response = _client(gateway.base_url, asked).request("GET", "/documents", params={"page": 2})
    assert response.status_code == 200
    assert len(gateway.seen) == 3  # two gateway errors repeated by urllib3, then the answer
    assert asked == [("GET", "/documents")] * 3  # relative to the base URL, as the windows know paths


def test_a_repeat_the_limiter_has_no_room_for_is_not_sent(gateway) -> None:
    gateway.failures = 5
    asked: list[tuple[str, str]] = []
    with pytest.raises(RateLimited):
        _client(gateway.base_url, asked, refuse_after=1).request("GET", "/documents")
    assert len(gateway.seen) == 1 and len(asked) == 1


def test_a_create_is_never_repeated_by_the_plumbing(gateway) -> None:
    gateway.failures = 1
    asked: list[tuple[str, str]] = []
    with pytest.raises(TransientError):
        _client(gateway.base_url, asked).request("POST", "/documents", json_body={"a": 1})
    assert len(gateway.seen) == 1 and asked == [("POST", "/documents")]
