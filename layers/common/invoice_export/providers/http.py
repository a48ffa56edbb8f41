"""HTTP plumbing shared by every provider adapter, written once.

It owns the session, timeouts, safe retries of reads, the classification of failures into our
error types, and logging that never contains credentials (auth travels in headers set by an
`AuthBase`, and only the method, path and status are logged, never query strings or bodies).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from invoice_export.domain.errors import (
    CredentialsRejected,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.platform.observability import logger

# Reads are retried in-process a couple of times on gateway errors; creates never are (a retry of a
# create goes through the export service, which looks the document up first).
_READ_RETRY_SETTINGS = {
    "total": 2,
    "connect": 2,
    "read": 1,
    "status": 2,
    "backoff_factor": 0.3,
    "status_forcelist": (502, 503, 504),
    "allowed_methods": frozenset({"GET", "HEAD"}),
    "respect_retry_after_header": False,
    "raise_on_status": False,
}


class _RetryInTheRateLimit(Retry):
    """urllib3's retry of a read, each repeat taking its place in the provider's rate limit as the first
    request did: a repeat the limiter did not count could cross a limit whose penalty is a block (Oblio,
    SmartBill: 10 minutes). The limiter is asked after the back-off sleep, right before the repeat; when
    it has no room it raises RateLimited, which ends the request like any rate-limit wait."""

    def __init__(self, *args: Any, before_repeat: Callable[[str, str], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_repeat = before_repeat
        self.repeating: tuple[str, str] | None = None  # (method, url) of the request about to be repeated

    def new(self, **kw: Any) -> _RetryInTheRateLimit:
        retry = super().new(**kw)
        retry.before_repeat = self.before_repeat
        return retry

    def increment(self, method: str | None = None, url: str | None = None, *args: Any,
                  **kwargs: Any) -> _RetryInTheRateLimit:
        retry = super().increment(method, url, *args, **kwargs)  # raises once the repeats are used up
        retry.repeating = (method or "GET", url or "/")
        return retry

    def sleep(self, response: Any = None) -> None:
        super().sleep(response)
        if self.before_repeat is not None and self.repeating is not None:
            self.before_repeat(*self.repeating)


_NON_IDEMPOTENT = frozenset({"POST", "PATCH"})

RejectionReader = Callable[[requests.Response], ProviderRejected]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class ProviderHttp:
    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        auth: requests.auth.AuthBase | None,
        read_rejection: RejectionReader,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        auth_fix: str = "check the API key in the account connection",
        session: requests.Session | None = None,
        before_request: Callable[[str, str], Callable[[], None] | None] | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self._read_rejection = read_rejection
        self._auth_fix = auth_fix
        # Called with the method and path before every request: the shared rate limiter waits here (or
        # raises RateLimited) in the window that counts that request.
        self._before_request = before_request
        self.session = session or requests.Session()
        self.session.auth = auth
        retry = _RetryInTheRateLimit(**_READ_RETRY_SETTINGS, before_repeat=self._before_repeat)
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.mount("http://", HTTPAdapter(max_retries=retry))

    def _before_repeat(self, method: str, url: str) -> None:
        """The rate limiter's place for urllib3's repeat of a read: `url` is the request line's path, the
        limiter's windows know paths relative to the base URL (as `request` passes them)."""
        if self._before_request is None:
            return
        path = urlsplit(url).path
        base_path = urlsplit(self.base_url).path
        if base_path and path.startswith(base_path):
            path = path[len(base_path):] or "/"
        self._before_request(method.upper(), path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
    ) -> requests.Response:
        """Send one request; return the response for a status in `ok`, otherwise raise a typed error."""
        url = f"{self.base_url}{path}"
        # The rate limiter may hand back `done`: told when the answer came, it counts the request
        # from when it had arrived at the latest, instead of from an assumed arrival margin.
        done = self._before_request(method.upper(), path) if self._before_request is not None else None
        started = time.perf_counter()
        may_have_arrived = method.upper() in _NON_IDEMPOTENT
        try:
            response = self.session.request(method, url, params=params, json=json_body, data=data,
                                            headers=headers, timeout=self.timeout)
        except requests.ConnectTimeout as exc:
            raise self._unavailable(f"could not connect to {self.provider}", exc) from None
        except (requests.ReadTimeout, requests.ConnectionError) as exc:
            self._log(method, path, "no response", started)
            if may_have_arrived and not isinstance(exc, requests.ConnectTimeout):
                raise RequestMayHaveSucceeded(
                    f"{self.provider} did not answer in time; the document may have been created",
                    fix="nothing: the retry looks the document up at the provider before sending it again",
                ) from None
            raise self._unavailable(f"{self.provider} did not answer", exc) from None
        if done is not None:
            done()
        self._log(method, path, response.status_code, started)
        if response.status_code in ok:
            return response
        raise self._classify(response, may_have_arrived)

    def _classify(self, response: requests.Response, may_have_arrived: bool) -> Exception:
        status = response.status_code
        if status == 429:
            return TransientError(
                f"{self.provider} rate limit reached (HTTP 429)",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                code="provider_rate_limited",
                fix="nothing: the document is retried after the wait the provider asked for",
            )
        if status in (401, 403):
            return CredentialsRejected(
                f"{self.provider} refused our credentials (HTTP {status})", fix=self._auth_fix
            )
        if status >= 500:
            if may_have_arrived and status in (500, 502, 504):
                # A gateway error after the provider got the request may hide a created document.
                return RequestMayHaveSucceeded(
                    f"{self.provider} answered HTTP {status} to a create; the document may exist",
                    fix="nothing: the retry looks the document up at the provider first",
                )
            return TransientError(
                f"{self.provider} is unavailable (HTTP {status})",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                code="provider_unavailable",
                fix="nothing: the document is retried automatically",
            )
        return self._read_rejection(response)

    def _unavailable(self, message: str, exc: Exception) -> TransientError:
        # The exception text may contain the URL; only its class name is kept.
        return TransientError(f"{message} ({type(exc).__name__})", code="provider_unavailable",
                              fix="nothing: the document is retried automatically")

    def _log(self, method: str, path: str, status: int | str, started: float) -> None:
        logger.info(
            "provider call",
            extra={"provider": self.provider, "method": method, "path": path, "status": status,
                   "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
        )


class HeaderAuth(requests.auth.AuthBase):
    """Puts credentials into request headers only, so they never appear in URLs or logs."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        return request

    def __repr__(self) -> str:
        return f"HeaderAuth({', '.join(self._headers)}: <redacted>)"


def encode_json(value: Any) -> bytes:
    """JSON with every Decimal written as the exact number it is, for providers that want numbers, not
    strings (iFirma, SmartBill): never through float."""
    def encode(item: Any) -> str:
        if isinstance(item, Decimal):
            return format(item, "f")
        if isinstance(item, dict):
            members = (f"{json.dumps(str(key), ensure_ascii=False)}:{encode(member)}" for key, member in item.items())
            return "{" + ",".join(members) + "}"
        if isinstance(item, (list, tuple)):
            return "[" + ",".join(encode(v) for v in item) + "]"
        return json.dumps(item, ensure_ascii=False)
    return encode(value).encode("utf-8")
