"""Plumbing shared by the local fakes of accounting-provider HTTP APIs.

Each provider fake (Fakturownia, inFakt, wFirma, iFirma) subclasses :class:`FakeServer`,
declares its endpoints with :func:`route`, and overrides a few hooks to speak its own
provider's error shapes. Everything here is provider-neutral and standard library only,
so the fakes run anywhere and never depend on the production package they test.

What a subclass gets:

* a real HTTP server on 127.0.0.1 (free port) in a background thread;
* :class:`FaultPlan` (``fake.faults``): failures injected by tests, rendered by hooks;
* :class:`RateLimiter` (``fake.limiter``): sliding-window limits plus a per-key peak;
* :class:`RequestLog` (``fake.requests``): what was called and how it was answered;
* helpers for field validation (:class:`FieldErrors`, money, dates, countries, emoji);
* :func:`render_pdf`: a tiny but valid PDF so tests can search the bytes.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import socket
import struct
import threading
import time
import traceback
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

__all__ = [
    "FakeServer",
    "FaultPlan",
    "Fault",
    "FieldErrors",
    "Headers",
    "HttpError",
    "ISO_3166_ALPHA2",
    "LoggedRequest",
    "ManualClock",
    "RateLimiter",
    "Request",
    "RequestLog",
    "Response",
    "bytes_response",
    "contains_emoji",
    "format_money",
    "json_response",
    "ksef_number",
    "parse_bracket_params",
    "parse_boolish",
    "parse_date",
    "parse_decimal",
    "quantize_money",
    "render_pdf",
    "route",
]


# --------------------------------------------------------------------------- requests and responses


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive view of HTTP headers (HTTP header names are case-insensitive)."""

    def __init__(self, pairs: Mapping[str, str] | list[tuple[str, str]] = ()):
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        self._values = {name.lower(): value for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


@dataclass
class Request:
    """One parsed HTTP request as the fake's handlers see it."""

    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, str]  # first value of each parameter
    query_lists: dict[str, list[str]]  # all values, for `kinds[]=a&kinds[]=b`
    headers: Headers
    body: bytes
    client_ip: str = "127.0.0.1"
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route
    # JSON bodies are parsed with Decimal floats, so 59.98 stays exactly 59.98.
    json: Any = None
    json_error: str | None = None

    @property
    def content_type(self) -> str:
        """Media type without parameters, lower-case ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def is_json(self) -> bool:
        media = self.content_type
        return media == "application/json" or media.endswith("+json")

    @classmethod
    def build(cls, method: str, target: str, headers: Headers, body: bytes, client_ip: str) -> Request:
        parts = urlsplit(target)
        query_lists = parse_qs(parts.query, keep_blank_values=True)
        request = cls(
            method=method.upper(),
            path=unquote(parts.path),
            query={name: values[0] for name, values in query_lists.items()},
            query_lists=query_lists,
            headers=headers,
            body=body,
            client_ip=client_ip,
        )
        # Parse only what is declared as JSON: real servers ignore a JSON-looking body sent as
        # form data, so a client that forgets the content type must not get lucky here.
        if request.is_json and body:
            try:
                request.json = json.loads(body.decode("utf-8"), parse_float=Decimal)
            except (UnicodeDecodeError, ValueError) as exc:
                request.json_error = str(exc)
        return request


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class _JsonEncoder(json.JSONEncoder):
    def default(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        return super().default(value)


def json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(obj, cls=_JsonEncoder, ensure_ascii=False).encode("utf-8")
    return Response(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body)


def bytes_response(
    status: int, content_type: str, data: bytes, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, {"Content-Type": content_type, **(headers or {})}, data)


class HttpError(Exception):
    """Raise from a handler (or a helper it calls) to answer with ``response`` at once."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def route(method: str, pattern: str) -> Callable[[Callable], Callable]:
    """Mark a FakeServer method as the handler of ``method`` + ``pattern`` (re.fullmatch on the path).

    Named groups of the pattern end up in ``request.params``.
    """

    def mark(handler: Callable) -> Callable:
        handler.__dict__.setdefault("_fake_routes", []).append((method.upper(), re.compile(pattern)))
        return handler

    return mark


# --------------------------------------------------------------------------- faults


FAULT_KINDS = ("status", "rate_limited", "reset", "slow", "stall_after_commit")


@dataclass
class Fault:
    """One injected failure. Matches a request by method and path (re.fullmatch, no query)."""

    kind: str
    method: str | None = None
    path: re.Pattern[str] | None = None
    remaining: int = 1
    status: int | None = None  # kind "status"
    body: bytes | None = None  # kind "status": raw body instead of the provider's error shape
    content_type: str | None = None  # with `body`
    retry_after: int | None = None  # kind "rate_limited"
    seconds: float = 0.0  # kinds "slow" and "stall_after_commit"
    after_commit: bool = False  # kind "reset": handle the request first, then drop the connection

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.fullmatch(path) is not None


class FaultPlan:
    """Thread-safe queue of faults that tests push; each applies to the next matching request(s).

    Kinds:
      * ``status``: answer with an HTTP status (e.g. 500/502/503) in the provider's error shape,
        or with a raw ``body`` (e.g. an HTML page from a proxy);
      * ``rate_limited``: the provider's own rate-limit answer;
      * ``reset``: close the socket with a TCP reset and no response; with ``after_commit=True``
        the request is handled (and stored) first, so the client fails although the write happened;
      * ``slow``: sleep ``seconds`` before handling normally (a client timeout may fire, but the
        request is then still handled, as a real server would);
      * ``stall_after_commit``: handle normally, then sleep ``seconds`` before answering, so the
        client's read timeout fires although the document exists.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired: list[Fault] = []

    def add(self, kind: str, *, method: str | None = None, path: str | None = None, times: int = 1,
            **options: Any) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if times < 1:
            raise ValueError("times must be >= 1")
        fault = Fault(
            kind=kind,
            method=method.upper() if method else None,
            path=re.compile(path) if path else None,
            remaining=times,
            **options,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    # Readable shorthands, one per kind.
    def status(self, status: int, *, body: bytes | None = None, content_type: str | None = None,
               **match: Any) -> Fault:
        return self.add("status", status=status, body=body, content_type=content_type, **match)

    def rate_limited(self, retry_after: int | None = None, **match: Any) -> Fault:
        return self.add("rate_limited", retry_after=retry_after, **match)

    def reset(self, *, after_commit: bool = False, **match: Any) -> Fault:
        return self.add("reset", after_commit=after_commit, **match)

    def slow(self, seconds: float, **match: Any) -> Fault:
        return self.add("slow", seconds=seconds, **match)

    def stall_after_commit(self, seconds: float, **match: Any) -> Fault:
        return self.add("stall_after_commit", seconds=seconds, **match)

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one application of the first pending fault matching this request."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    self.fired.append(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.fired.clear()


# --------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """Sliding-window limiter keyed by anything (token, IP...).

    ``limit=None`` never refuses but still tracks :meth:`peak`, so tests can assert that a
    client stayed under a provider's documented limit even where the fake does not enforce it.
    Refused requests still count towards the peak (the peak measures what the client sent);
    only accepted requests occupy the window, so a client that backs off recovers.
    """

    def __init__(self, limit: int | None, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        if limit is not None and limit < 1:
            raise ValueError("limit must be >= 1 or None")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._accepted: dict[Any, deque[float]] = {}
        self._seen: dict[Any, deque[float]] = {}
        self._peaks: dict[Any, int] = {}

    def hit(self, key: Any) -> float | None:
        """Record one request; return None if allowed, else the seconds until a slot frees up."""
        now = self._clock()
        horizon = now - self.window_seconds
        with self._lock:
            seen = self._window(self._seen, key, horizon)
            seen.append(now)
            self._peaks[key] = max(self._peaks.get(key, 0), len(seen))
            accepted = self._window(self._accepted, key, horizon)
            if self.limit is not None and len(accepted) >= self.limit:
                return max(accepted[0] + self.window_seconds - now, 0.001)
            accepted.append(now)
            return None

    @staticmethod
    def _window(windows: dict[Any, deque[float]], key: Any, horizon: float) -> deque[float]:
        stamps = windows.setdefault(key, deque())
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        return stamps

    def peak(self, key: Any) -> int:
        """Most requests (accepted or refused) seen for ``key`` within any one window."""
        with self._lock:
            return self._peaks.get(key, 0)

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()
            self._seen.clear()
            self._peaks.clear()


class ManualClock:
    """A clock that moves only when a test says so: pass it where a fake takes ``clock=``.

    Callable like ``time.time``; ``advance`` jumps forward, so an hour-long token expiry or a
    ten-minute block is tested in milliseconds.
    """

    def __init__(self, start: float = 1_767_225_600.0):  # 2026-01-01 00:00 UTC
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds
            return self._now


# --------------------------------------------------------------------------- request log


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]  # secret parameters are redacted
    status: int | None  # None when the connection was reset without an answer
    key: str | None  # a non-secret label of the caller (e.g. the account prefix)
    fault: str | None  # kind of the injected fault that applied, if any
    at: float  # time.monotonic()


class RequestLog:
    """Every request the fake answered (or dropped), recorded thread-safely.

    Never holds credentials: the fake passes only non-secret keys and redacted query strings.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Recorded requests, optionally filtered by method and path regex (re.fullmatch)."""
        pattern = re.compile(path) if path else None
        with self._lock:
            snapshot = list(self._entries)
        return [
            entry for entry in snapshot
            if (method is None or entry.method == method.upper())
            and (pattern is None or pattern.fullmatch(entry.path))
        ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.entries(method, path))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.entries())


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # parallel clients in tests must not see refused connections


class FakeServer:
    """Base of every provider fake: a threaded HTTP server with routing, faults, limits and a log.

    Subclasses declare handlers with :func:`route` and may override the hooks
    :meth:`error_response`, :meth:`rate_limited_response`, :meth:`rate_limit_key`,
    :meth:`log_key`, :meth:`extra_headers` and :attr:`secret_query_params`.
    """

    #: Query parameters whose values never reach the request log (credentials).
    secret_query_params: frozenset[str] = frozenset()

    def __init__(self, *, rate_limit: tuple[int, float] | None = None, peak_window_seconds: float = 60.0):
        """``rate_limit=(limit, window_seconds)``; None = unlimited (the peak is still tracked)."""
        limit, window = rate_limit if rate_limit else (None, peak_window_seconds)
        self.limiter = RateLimiter(limit, window)
        self.faults = FaultPlan()
        self.requests = RequestLog()
        #: Tracebacks of exceptions raised by handlers (answered as 500): a bug in the fake.
        self.server_errors: list[str] = []
        #: Added to every request before it is handled: a real API's network and processing time.
        self.latency_seconds = 0.0
        # Requests being handled now and the most at the same time, per method and path (peak_in_flight).
        self._in_flight: dict[tuple[str, str], int] = {}
        self._in_flight_peaks: dict[tuple[str, str], int] = {}
        self._in_flight_lock = threading.Lock()
        self._routes = self._collect_routes()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__}-http", daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ----------------------------------------------------------------- hooks

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Generic error (unknown route, injected status fault, crash) in the provider's shape."""
        return json_response(status, {"error": message})

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        return json_response(429, {"error": "Too Many Requests"}, {"Retry-After": str(retry_after)})

    def peak_in_flight(self, method: str, path: str) -> int:
        """The most `method path` requests the fake was handling at the same time (clients sending side by side)."""
        with self._in_flight_lock:
            return self._in_flight_peaks.get((method, path), 0)

    def reset_in_flight_peaks(self) -> None:
        with self._in_flight_lock:
            self._in_flight_peaks.clear()

    def rate_limit_key(self, request: Request) -> Any:
        """What the provider limits by; the client IP unless the provider says otherwise."""
        return f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        """A NON-secret label of the caller for the request log."""
        return None

    def extra_headers(self, request: Request) -> Mapping[str, str]:
        """Headers the provider adds to every answer (e.g. its rate-limit counters); none by default.

        Called after the request was handled, so counters include it; the handler's own headers win.
        """
        return {}

    # ----------------------------------------------------------------- routing

    @classmethod
    def _collect_routes(cls) -> list[tuple[str, re.Pattern[str], str]]:
        routes = []
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                for method, pattern in getattr(member, "_fake_routes", ()):
                    routes.append((method, pattern, name))
        return routes

    def _dispatch(self, request: Request) -> Response:
        for method, pattern, handler_name in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                return getattr(self, handler_name)(request)
        return self.error_response(request, 404, "Not Found")

    # ----------------------------------------------------------------- request pipeline

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs behind a proxy
            # Headers and body go out as separate writes; with Nagle on, each answer waits ~40 ms
            # for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # tests stay quiet; the RequestLog is the record

            def _serve(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        request = Request.build(
            handler.command, handler.path, Headers(list(handler.headers.items())),
            _read_body(handler), handler.client_address[0],
        )
        fault = self.faults.take(request.method, request.path)
        recorded = False
        route = (request.method, request.path)
        with self._in_flight_lock:
            self._in_flight[route] = self._in_flight.get(route, 0) + 1
            self._in_flight_peaks[route] = max(self._in_flight_peaks.get(route, 0), self._in_flight[route])

        def record(status: int | None) -> None:
            nonlocal recorded
            recorded = True
            self.requests.record(LoggedRequest(
                method=request.method,
                path=request.path,
                query={name: ("***" if name in self.secret_query_params else value)
                       for name, value in request.query.items()},
                status=status,
                key=self._safe_log_key(request),
                fault=fault.kind if fault else None,
                at=time.monotonic(),
            ))

        try:
            if self.latency_seconds:
                time.sleep(self.latency_seconds)
            arrival: tuple[float | None] | None = None
            if fault and fault.kind == "slow":
                # The request has arrived: a provider's limit counts it now, however long it then takes.
                arrival = (self.limiter.hit(self.rate_limit_key(request)),)
                time.sleep(fault.seconds)
            if fault and fault.kind == "reset" and not fault.after_commit:
                _reset_connection(handler)
                return
            response = self._respond(request, fault, arrival)
            response.headers = {**self._safe_extra_headers(request), **response.headers}
            if fault and fault.kind == "reset":  # after_commit: the work is done, the answer is lost
                _reset_connection(handler)
                return
            if fault and fault.kind == "stall_after_commit":
                time.sleep(fault.seconds)
            # Logged before the answer leaves: a client that has its answer finds the call in the log.
            record(response.status)
            _write_response(handler, response)
        finally:
            with self._in_flight_lock:
                self._in_flight[route] -= 1
            if not recorded:  # no answer given (reset, or the fake itself failed)
                record(None)

    def _respond(self, request: Request, fault: Fault | None,
                 arrival: tuple[float | None] | None = None) -> Response:
        """The answer; `arrival` holds the limiter's verdict when the request was counted on arrival."""
        try:
            if fault and fault.kind == "status":
                if fault.body is not None:
                    return bytes_response(fault.status, fault.content_type or "text/plain", fault.body)
                return self.error_response(request, fault.status, HTTPStatus(fault.status).phrase)
            if fault and fault.kind == "rate_limited":
                retry_after = fault.retry_after if fault.retry_after is not None else 1
                return self.rate_limited_response(request, retry_after)
            wait = arrival[0] if arrival is not None else self.limiter.hit(self.rate_limit_key(request))
            if wait is not None:
                return self.rate_limited_response(request, max(1, math.ceil(wait)))
            return self._dispatch(request)
        except HttpError as error:
            return error.response
        except Exception:  # noqa: BLE001 - a bug in the fake: answer like a crashed server, keep the evidence
            self.server_errors.append(traceback.format_exc())
            return self.error_response(request, 500, "Internal Server Error")

    def _safe_extra_headers(self, request: Request) -> Mapping[str, str]:
        try:
            return self.extra_headers(request)
        except Exception:  # noqa: BLE001 - a header hook must never turn a request into an error
            self.server_errors.append(traceback.format_exc())
            return {}

    def _safe_log_key(self, request: Request) -> str | None:
        try:
            return self.log_key(request)
        except Exception:  # noqa: BLE001 - logging must never turn a request into an error
            return None


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip optional trailers up to the blank line that ends the message.
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()  # CRLF after each chunk
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def _write_response(handler: BaseHTTPRequestHandler, response: Response) -> None:
    try:
        handler.send_response(response.status)
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.end_headers()
        handler.wfile.write(response.body)
    except (BrokenPipeError, ConnectionResetError):
        # The client gave up (e.g. its read timeout fired during a stall); nothing to tell it.
        handler.close_connection = True


def _reset_connection(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0) instead of an orderly close."""
    handler.close_connection = True
    sock = handler.connection
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


# --------------------------------------------------------------------------- validation helpers


class FieldErrors:
    """Field-level validation errors, collected so a fake can report all of them at once."""

    def __init__(self) -> None:
        self._messages: dict[str, list[str]] = {}

    def add(self, field_name: str, message: str) -> None:
        messages = self._messages.setdefault(field_name, [])
        if message not in messages:
            messages.append(message)

    def merge(self, other: FieldErrors) -> None:
        for field_name, messages in other._messages.items():
            for message in messages:
                self.add(field_name, message)

    def as_dict(self) -> dict[str, list[str]]:
        return {name: list(messages) for name, messages in self._messages.items()}

    def __contains__(self, field_name: object) -> bool:
        return field_name in self._messages

    def __bool__(self) -> bool:
        return bool(self._messages)

    def __repr__(self) -> str:
        return f"FieldErrors({self._messages!r})"


MONEY_QUANTUM = Decimal("0.01")


def parse_decimal(value: Any) -> Decimal:
    """A JSON number or a numeric string ('12.30', '12,30', ' 5 ') as an exact Decimal.

    Floats go through ``str()`` so 0.1 stays 0.1. Booleans, NaN and infinities are refused.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, (int, float)):
        number = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip().replace(",", ".")
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            raise ValueError(f"not a number: {value!r}")
        number = Decimal(text)
    else:
        raise ValueError(f"not a number: {value!r}")
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def quantize_money(value: Decimal) -> Decimal:
    """Round half-up to 0.01, the way accounting systems round money."""
    try:
        return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # absurdly large values
        raise ValueError(f"amount out of range: {value!r}") from exc


def format_money(value: Decimal) -> str:
    """'12.30': always two decimals, dot separator."""
    return f"{quantize_money(value):.2f}"


def parse_date(value: Any) -> date:
    """A strict ``YYYY-MM-DD`` calendar date."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"not a YYYY-MM-DD date: {value!r}")
    return date.fromisoformat(value)


_BRACKETS = re.compile(r"([^\[\]]*)((?:\[[^\[\]]*\])*)$")


def parse_bracket_params(source: str | list[tuple[str, str]]) -> dict[str, Any]:
    """PHP-style form or query parameters as nested data: ``collect[type]=Card&tags[]=a`` ->
    ``{"collect": {"type": "Card"}, "tags": ["a"]}`` (what PHP's ``http_build_query`` writes).

    ``source`` is an encoded string or decoded (name, value) pairs. A name whose brackets do not
    parse stays a flat key; a later plain value replaces an earlier one, as in PHP.
    """
    pairs = parse_qsl(source, keep_blank_values=True) if isinstance(source, str) else source
    result: dict[str, Any] = {}
    for name, value in pairs:
        match = _BRACKETS.fullmatch(name)
        keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [name]
        target: Any = result
        for position, key in enumerate(keys):
            last = position == len(keys) - 1
            if isinstance(target, list):  # only `[]` makes lists: append a new element
                if last:
                    target.append(value)
                    break
                target.append({})
                target = target[-1]
                continue
            if last:
                target[key] = value
            else:
                child = target.get(key)
                if not isinstance(child, (dict, list)):
                    child = [] if keys[position + 1] == "" else {}
                    target[key] = child
                target = child
    return result


_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def parse_boolish(value: Any) -> bool:
    """true/false, 1/0, "1"/"0", "true"/"false" (the forms these APIs document)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"not a boolean: {value!r}")


def ksef_number(seller_nip: str, issued: date) -> str:
    """A fresh number in the KSeF number's documented form: the seller's NIP, the date, 12 hex
    digits and 2 check characters (the fakes do not compute KSeF's real check characters)."""
    nip = re.sub(r"\D", "", seller_nip)[:10]
    random = secrets.token_hex(7).upper()
    return f"{nip}-{issued:%Y%m%d}-{random[:12]}-{random[12:14]}"


# Officially assigned ISO 3166-1 alpha-2 codes.
ISO_3166_ALPHA2 = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())

_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # pictographs, emoticons, transport, flags, supplemental symbols
    (0x2600, 0x27BF),  # miscellaneous symbols and dingbats
    (0x2B00, 0x2BFF),  # arrows and stars often rendered as emoji
    (0xFE0F, 0xFE0F),  # emoji presentation selector
    (0x200D, 0x200D),  # zero-width joiner of emoji sequences
)


def contains_emoji(text: str) -> bool:
    return any(low <= ord(char) <= high for char in text for low, high in _EMOJI_RANGES)


# --------------------------------------------------------------------------- PDF


# Letters NFKD cannot strip to ASCII, and typographic punctuation.
_PDF_TRANSLITERATION = str.maketrans({
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ß": "ss",
    "–": "-", "—": "-", "„": '"', "”": '"', "“": '"', "’": "'",
})
_PDF_PAGE_LINES = 52  # lines of 10 pt text that fit on an A4 page below the title


def _pdf_text(text: str) -> str:
    """ASCII-only PDF string literal content: Polish letters lose their accents, not the letter."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_PDF_TRANSLITERATION))
    ascii_text = "".join(
        char if ord(char) < 128 else "?" for char in decomposed if not unicodedata.combining(char)
    )
    ascii_text = "".join(char if char.isprintable() else " " for char in ascii_text)
    return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def render_pdf(title: str, lines: list[str]) -> bytes:
    """A minimal valid single-page PDF 1.4 (Helvetica, uncompressed), searchable as bytes.

    Lines beyond one page are cut with a final '...' line.
    """
    if len(lines) > _PDF_PAGE_LINES:
        lines = [*lines[: _PDF_PAGE_LINES - 1], "..."]
    text_ops = "".join(f"({_pdf_text(line)}) Tj T*\n" for line in lines)
    content = (
        f"BT /F1 16 Tf 50 800 Td ({_pdf_text(title)}) Tj ET\n"
        f"BT /F1 10 Tf 14 TL 50 770 Td\n{text_ops}ET\n"
    ).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Title (%s) /Producer (invoice-export local fake) >>" % _pdf_text(title).encode("ascii"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")  # binary marker comment, as the spec advises
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_offset = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF" % (
        len(objects) + 1, len(objects), xref_offset)
    return bytes(out)
