"""The SmartBill Cloud REST API over HTTP: auth, content negotiation, rate limit and the invoice endpoints.

Sources and the short names used in comments (SPEC, POSTMAN, PLUGIN): see model.py.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from ..common import (
    FakeServer,
    HttpError,
    RateLimiter,
    Request,
    Response,
    bytes_response,
    format_money,
    json_response,
    parse_decimal,
    render_pdf,
    route,
)
from .invoices import ApiError, InvoiceBuilder, check_shape, date_of, not_modelled, text_of
from .model import (
    ALREADY_CANCELLED,
    ALREADY_REVERSED,
    BLOCK_SECONDS,
    BLOCKED,
    CALLS_PER_WINDOW,
    CANCEL_STORNO_FIRST,
    CANCELLED,
    CANCELLED_NOT_REVERSIBLE,
    CIF_REQUIRED,
    COMPANY_GONE,
    COMPANY_GONE_REVERSE,
    COMPANY_NOT_YOURS,
    COMPANY_REQUIRED,
    DATE_REQUIRED,
    DEFAULT_TAXES,
    DELETE_CIF_REQUIRED,
    DELETE_NUMBER_REQUIRED,
    DELETE_SERIES_REQUIRED,
    DELETED,
    INVOICE_FIELDS,
    INVOICE_NOT_FOUND,
    IS_A_STORNO,
    NOT_CANCELLED,
    NOT_JSON,
    NOT_LAST_IN_SERIES,
    NUMBER_REQUIRED,
    PAYMENT_STATUS_NOT_FOUND,
    RESTORE_ORIGINAL_FIRST,
    RESTORED,
    SERIES_REQUIRED,
    SERIES_TYPE_INVALID,
    SERIES_TYPES,
    STOCK_SHORT,
    STORNO_BEFORE_ORIGINAL,
    STORNO_FIELDS,
    STORNO_NUMBER_REQUIRED,
    STORNO_SERIES_REQUIRED,
    WINDOW_SECONDS,
    Company,
    Series,
    StockItem,
    Tax,
    User,
    normalize_cif,
)

API = "/SBORO/api"  # SPEC: base URL https://ws.smartbill.ro/SBORO/api/
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"  # SPEC GET /invoice/pdf: the Accept header the PDF needs
# SPEC successResponse* (create, delete, cancel, restore): these fields; errors fill errorText.
ANSWER_FIELDS = ("errorText", "message", "number", "series", "url")
# SPEC successResponseSerii / successResponseTax / successResponseInterogareFactura2: no url.
READ_FIELDS = ("errorText", "message", "number", "series")
# SPEC POST /invoice/reverse, "Exemplu raspuns cu eroare": the storno answer has three more fields.
DOCUMENT_LINK_FIELDS = ("documentUrl", "documentId", "documentViewUrl")
# ASSUMPTION: the BNR rates the fake applies when a request sends no exchangeRate (any values do).
DEFAULT_EXCHANGE_RATES = {"EUR": "5.0900", "USD": "4.3500", "GBP": "5.8800", "CHF": "5.4300", "HUF": "0.0131"}


def wire_number(amount: Decimal) -> float:
    """SPEC types amounts as doubles: the fake computes in Decimal and converts only at the wire
    (a 2-decimal amount survives the float round trip exactly in its shortest repr)."""
    return float(amount)


# --------------------------------------------------------------------------- the rate limit


class BlockingRateLimiter:
    """SPEC: 30 calls in a 10 s window; going over blocks the user for 10 minutes (answered 403).

    The SPEC's X-RateLimit-Reset is "unix time cand se incepe noua fereastra de 10 secunde", so the
    window is fixed: it starts with the first call after the previous one ended.
    ASSUMPTION: counted per user e-mail (the 403 reads "Utilizatorul a fost blocat"); the call over the
    limit starts the block and calls during the block are refused without extending it.
    ``peak`` is the most calls seen in any sliding 10 s, so a test can assert the client stayed <= 30.
    """

    def __init__(self, limit: int | None, window_seconds: float, block_seconds: float,
                 clock: Callable[[], float]):
        self.limit = limit
        self.window_seconds = window_seconds
        self.block_seconds = block_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[Any, tuple[float, int]] = {}  # key -> (window start, calls in it)
        self._blocked_until: dict[Any, float] = {}
        self._seen = RateLimiter(None, window_seconds, clock)

    def hit(self, key: Any) -> float | None:
        """Record one call; None if allowed, else the seconds until the block ends."""
        self._seen.hit(key)
        now = self._clock()
        with self._lock:
            blocked_until = self._blocked_until.get(key, 0.0)
            if blocked_until > now:
                return blocked_until - now
            start, calls = self._windows.get(key, (now, 0))
            if now >= start + self.window_seconds:
                start, calls = now, 0
            calls += 1
            self._windows[key] = (start, calls)
            if self.limit is not None and calls > self.limit:
                self._blocked_until[key] = now + self.block_seconds
                return self.block_seconds
            return None

    def headers(self, key: Any) -> dict[str, str]:
        """SPEC: X-RateLimit-Limit (30), -Remaining (calls left in the window), -Reset (unix time the
        next window starts)."""
        now = self._clock()
        with self._lock:
            start, calls = self._windows.get(key, (now, 0))
        if now >= start + self.window_seconds:
            start, calls = now, 0
        limit = self.limit if self.limit is not None else CALLS_PER_WINDOW
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(limit - calls, 0)),
                "X-RateLimit-Reset": str(math.ceil(start + self.window_seconds))}

    def blocked_until(self, key: Any) -> float | None:
        with self._lock:
            until = self._blocked_until.get(key)
        return until if until is not None and until > self._clock() else None

    def peak(self, key: Any) -> int:
        return self._seen.peak(key)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._blocked_until.clear()
        self._seen.reset()


# --------------------------------------------------------------------------- the fake


class SmartBillFake(FakeServer):
    """See the package docstring for the public API."""

    def __init__(self, *, rate_limit: tuple[int, float, float] | None = (CALLS_PER_WINDOW, WINDOW_SECONDS,
                                                                           BLOCK_SECONDS),
                 clock: Callable[[], float] = time.time, today: date | None = None,
                 refuse_unknown_fields: bool = True, anaf_checks: bool = True, error_status: int = 400,
                 stock_by_code: bool = True, pdf_mentions: bool = True):
        """``rate_limit=(calls, window_s, block_s)``, None = not enforced (the peak is still tracked);
        ``clock`` drives the limit (unix seconds; tests pass a hand-moved one);
        ``refuse_unknown_fields`` / ``anaf_checks`` / ``error_status`` / ``stock_by_code`` /
        ``pdf_mentions``: the two readings of an undocumented behaviour, see the ASSUMPTIONs where they
        are used."""
        super().__init__(rate_limit=None, peak_window_seconds=WINDOW_SECONDS)
        limit, window, block = rate_limit if rate_limit else (None, WINDOW_SECONDS, BLOCK_SECONDS)
        self.limiter = BlockingRateLimiter(limit, window, block, clock)
        self.refuse_unknown_fields = refuse_unknown_fields
        self.anaf_checks = anaf_checks
        self.stock_by_code = stock_by_code
        self.pdf_mentions = pdf_mentions
        # SPEC: business errors are 400 with errorText. A third-party client (bogdanripa/smartbill-mcp
        # README) reports HTTP 200 with a non-empty errorText; error_status=200 models that reading.
        self.error_status = error_status
        self.exchange_rates = {currency: Decimal(rate) for currency, rate in DEFAULT_EXCHANGE_RATES.items()}
        self._users: dict[str, User] = {}
        self._companies: dict[str, Company] = {}
        self._lock = threading.RLock()
        self._next_document_id = 274118  # SPEC exempluRaspunsFacturaStorno: documentId "274119"
        self._today = today

    @property
    def api_url(self) -> str:
        """What the adapter uses instead of https://ws.smartbill.ro/SBORO/api."""
        return self.base_url + API

    def today(self) -> date:
        return self._today or date.today()

    # ----------------------------------------------------------------- setup and introspection

    def add_account(self, email: str, token: str, cif: str = "RO14399840", *, label: str | None = None,
                    **company_settings: Any) -> Company:
        """A SmartBill login with one firm, seeded like a new account: the VAT rates of DEFAULT_TAXES
        and the series FCT (invoices, default), CHT (receipts) and PFCT (proformas).
        ASSUMPTION: those series names, taken from the SPEC's examples."""
        with self._lock:
            if email in self._users:
                raise ValueError(f"{email} exists already; use add_company for its other firms")
            self._users[email] = User(email, token, label or normalize_cif(cif))
            return self.add_company(email, cif, **company_settings)

    def regenerate_token(self, email: str, token: str) -> None:
        """The user generates a new API token in SmartBill (Contul meu > Integrari): the old one is refused."""
        with self._lock:
            self._users[email].token = token

    def add_company(self, email: str, cif: str, *, name: str = "Magazin Demo SRL",
                    taxes: tuple[tuple[str, Any], ...] = DEFAULT_TAXES, **settings: Any) -> Company:
        """Another firm reachable with this login (``settings``: the Company flags, e.g. vat_payer)."""
        with self._lock:
            key = normalize_cif(cif)
            if key in self._companies:
                raise ValueError(f"the firm {cif} exists already")
            company = Company(key, name, taxes=[Tax(n, parse_decimal(p)) for n, p in taxes], **settings)
            for series_name, series_type in (("FCT", "f"), ("CHT", "c"), ("PFCT", "p")):
                company.series[series_name] = Series(series_name, series_type, default=True)
            self._companies[key] = company
            self._users[email].cifs.append(key)
            return company

    def company(self, cif: str) -> Company:
        return self._companies[normalize_cif(cif)]

    def add_series(self, cif: str, name: str, series_type: str = "f", *, next_number: int = 1,
                   default: bool = False) -> Series:
        if series_type not in SERIES_TYPES:
            raise ValueError("series_type is f (factura), p (proforma) or c (chitanta)")
        with self._lock:
            company = self.company(cif)
            if default:
                for other in company.series.values():
                    other.default = other.default and other.type != series_type
            company.series[name] = Series(name, series_type, next_number, default)
            return company.series[name]

    def add_tax(self, cif: str, name: str, percentage: Any) -> None:
        with self._lock:
            self.company(cif).taxes.append(Tax(name, parse_decimal(percentage)))

    def add_warehouse(self, cif: str, name: str, warehouse_type: str = "en detail") -> None:
        with self._lock:
            company = self.company(cif)
            company.stock_module = True
            company.warehouses[name] = warehouse_type

    def add_stock(self, cif: str, warehouse: str, product_name: str, quantity: Any, *, code: str = "",
                  unit: str = "buc") -> None:
        """Stock loaded in the app (a purchase); ``code`` counts only where the firm uses product codes."""
        with self._lock:
            company = self.company(cif)
            if warehouse not in company.warehouses:
                raise ValueError(f"no warehouse {warehouse!r}; add_warehouse first")
            key = (warehouse, product_name, code if company.uses_product_codes else "")
            item = company.stock.setdefault(key, StockItem(warehouse, product_name, key[2], unit, Decimal(0)))
            item.quantity += parse_decimal(quantity)

    def set_exchange_rate(self, currency: str, rate: Any) -> None:
        self.exchange_rates[currency] = parse_decimal(rate)

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """Errors outside the API's own checks (unknown path, wrong method, injected 5xx) come from the
        servlet container. SPEC errorResponseVizualizarePdfFactura shows its 401: an HTML page with
        <h1>HTTP Status 401 - Unauthorized</h1><hr/><p/>. ASSUMPTION: every such status looks alike."""
        page = (f"<html><head><title>Apache Tomcat - Error report</title></head><body>"
                f"<h1>HTTP Status {status} - {message}</h1><hr/><p></p></body></html>")
        return bytes_response(status, "text/html;charset=utf-8", page.encode())

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # SPEC status table: 403 = blocked for exceeding the call limit. ASSUMPTION: the usual JSON answer
        # with that sentence, and no Retry-After (none is documented; the block is 10 minutes).
        return self._answer_error(ApiError(BLOCKED, 403))

    def rate_limit_key(self, request: Request) -> Any:
        email, _ = _basic_credentials(request)
        return email if email is not None else f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        user = self._user(request)
        return user.label if user else None

    def extra_headers(self, request: Request) -> Mapping[str, str]:
        return self.limiter.headers(self.rate_limit_key(request))

    def _dispatch(self, request: Request) -> Response:
        """SPEC status table: 405 for a method the path does not allow (404 only for unknown paths)."""
        known_path = any(pattern.fullmatch(request.path) for _, pattern, _ in self._routes)
        if known_path and not any(method == request.method and pattern.fullmatch(request.path)
                                  for method, pattern, _ in self._routes):
            return self.error_response(request, 405, "Method Not Allowed")
        return super()._dispatch(request)

    # ----------------------------------------------------------------- the request pipeline

    def _user(self, request: Request) -> User | None:
        email, token = _basic_credentials(request)
        user = self._users.get(email) if email is not None else None
        return user if user is not None and token == user.token else None

    def _api_call(self, request: Request, work: Callable[[User, Any], dict[str, Any] | Response], *,
                  json_body: bool = False, produces: str = JSON, fields: tuple[str, ...] = ANSWER_FIELDS,
                  error_fields: tuple[str, ...] = ()) -> Response:
        """Auth, then negotiation, then the work under the lock; ApiError becomes SmartBill's error answer."""
        user = self._user(request)
        if user is None:  # SPEC: 401 when the e-mail / token pair is wrong (or missing)
            return self.error_response(request, 401, "Unauthorized")
        try:
            self._negotiate(request, produces)
            body = self._json_body(request) if json_body else None
            with self._lock:
                answer = work(user, body)
        except ApiError as error:
            return self._answer_error(error, fields + error_fields)
        if isinstance(answer, Response):
            return answer
        return json_response(200, {**dict.fromkeys(fields, ""), **answer})

    def _negotiate(self, request: Request, produces: str) -> None:
        """SPEC headers table: Accept and Content-Type are application/json or application/xml;
        Accept: application/octet-stream for the PDF. This fake speaks JSON only.
        ASSUMPTION: no Accept (or */*) means JSON, the first type the SPEC's operations produce."""
        accepted = [part.split(";", 1)[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
        accepted = [media for media in accepted if media]
        if produces == OCTET_STREAM:
            ok = OCTET_STREAM in accepted  # SPEC: "este necesara adaugarea header-ului Accept:application/octet-stream"
        else:
            ok = not accepted or any(media in (JSON, "application/*", "*/*") for media in accepted)
            if not ok and "application/xml" in accepted:
                raise not_modelled("XML (Accept: application/xml)")
        if not ok:  # ASSUMPTION: the container's 406 (what a JAX-RS server answers; undocumented)
            raise HttpError(self.error_response(request, 406, "Not Acceptable"))

    def _json_body(self, request: Request) -> Any:
        if request.content_type == "application/xml":
            raise not_modelled("XML (Content-Type: application/xml)")
        if not request.is_json:  # SPEC status table: 415 when the content is not the declared format
            raise HttpError(self.error_response(request, 415, "Unsupported Media Type"))
        if request.json_error is not None or not request.body.strip():
            raise ApiError(NOT_JSON.format(detail=request.json_error or "empty body"))
        return request.json

    def _answer_error(self, error: ApiError, fields: tuple[str, ...] = ANSWER_FIELDS) -> Response:
        """ASSUMPTION: an error carries the fields of the endpoint's answer (SPEC's storno error example
        does so, with documentId -1); its status is 400 unless the case says otherwise."""
        status = self.error_status if error.status == 400 else error.status
        body = {name: (-1 if name == "documentId" else "") for name in fields}
        return json_response(status, {**body, "errorText": error.text})

    def _company(self, user: User, cif: str, *, missing: str, gone: str = COMPANY_GONE) -> Company:
        """SPEC: 401 "daca folositi datele de autentificare de la o alta firma decat cea pentru care
        incercati sa faceti apelul"; the wording is GET /tax's ("nu este disponibila pentru acest
        utilizator"), which lists it as a 400. ASSUMPTION: 401 with that errorText for another login's
        firm; 400 "nu mai este disponibila in Cloud" for a CIF no account has."""
        if not cif.strip():
            raise ApiError(missing)
        key = normalize_cif(cif)
        if key in user.cifs:
            return self._companies[key]
        if key in self._companies:
            raise ApiError(COMPANY_NOT_YOURS, 401)
        raise ApiError(gone)

    def _document(self, user: User, request: Request, messages: tuple[str, str, str], *,
                  not_found: str | None = None) -> tuple[Company, dict[str, Any]]:
        """The invoice named by ?cif=&seriesName=&number=.

        The SPEC spells the series parameter seriesName (delete, cancel, restore) and seriesname (pdf,
        paymentstatus); POSTMAN and PLUGIN send seriesname everywhere, third-party SDKs seriesName.
        ASSUMPTION: both spellings are accepted on every endpoint."""
        cif_missing, series_missing, number_missing = messages
        company = self._company(user, request.query.get("cif", ""), missing=cif_missing)
        series = (request.query.get("seriesName") or request.query.get("seriesname") or "").strip()
        number = request.query.get("number", "").strip()
        if not series:
            raise ApiError(series_missing)
        if not number:
            raise ApiError(number_missing)
        return company, self._find(company, series, number, not_found)

    @staticmethod
    def _find(company: Company, series: str, number: str, not_found: str | None = None) -> dict[str, Any]:
        """ASSUMPTION: the number is matched as the exact string SmartBill gave ("0001", not "1")."""
        document = company.invoices.get((series, number))
        if document is None:
            raise ApiError(not_found or INVOICE_NOT_FOUND.format(document=f"{series} {number}"))
        return document

    # ----------------------------------------------------------------- POST /invoice

    @route("POST", rf"{API}/invoice")
    def create_invoice(self, request: Request) -> Response:
        return self._api_call(request, lambda user, body: self._create(user, body, links=False), json_body=True)

    @route("POST", rf"{API}/invoice/v2")
    def create_invoice_with_links(self, request: Request) -> Response:
        """PLUGIN: /invoice/v2 issues like /invoice and also returns the document's address in SmartBill
        Cloud. ASSUMPTION: the address comes in the fields of the SPEC's storno answer."""
        return self._api_call(request, lambda user, body: self._create(user, body, links=True), json_body=True)

    def _create(self, user: User, body: Any, *, links: bool) -> dict[str, Any]:
        check_shape(body, INVOICE_FIELDS, "Invoice", refuse_unknown=self.refuse_unknown_fields)
        company = self._company(user, text_of(body, "companyVatCode"), missing=COMPANY_REQUIRED)
        builder = InvoiceBuilder(company, body, today=self.today(), exchange_rates=self.exchange_rates,
                                 anaf_checks=self.anaf_checks, stock_by_code=self.stock_by_code)
        document = builder.build()
        if document["isDraft"]:
            # SPEC "Emiterea unei facturi Ciorna": the draft is not issued and gets no number in the series;
            # it is finished in the app. ASSUMPTION: the answer names the series with an empty number,
            # and a draft moves no stock and records no payment.
            document["stockMoves"], document["payments"], document["paid"] = [], [], Decimal("0.00")
            company.drafts.append(document)
            return {"series": document["series"]}
        self._issue(company, company.series[document["series"]], document)
        if builder.receipt_series is not None:
            receipt = builder.receipt_series
            document["payments"][0]["receipt"] = f"{receipt.name} {receipt.take_number()}"
        # SPEC successResponse. ASSUMPTION: url stays "" (it carries a generated card-payment link only for
        # firms with a Netopia / EuPlatesc integration, which the fake does not model).
        return {"number": document["number"], "series": document["series"],
                **(self._links(document) if links else {})}

    def _issue(self, company: Company, series: Series, document: dict[str, Any]) -> None:
        self._move_stock(company, document["stockMoves"], sign=1)  # first: it is the step that can fail
        document["number"] = series.take_number()
        self._next_document_id += 1
        document["documentId"] = self._next_document_id
        company.invoices[(series.name, document["number"])] = document

    @staticmethod
    def _links(document: dict[str, Any]) -> dict[str, str]:
        """SPEC exempluRaspunsFacturaStorno: documentUrl, documentId (a string there) and documentViewUrl."""
        document_id = document["documentId"]
        return {"documentUrl": f"https://cloud.smartbill.ro/documente/editare/factura/{document_id}/",
                "documentId": str(document_id),
                "documentViewUrl": f"https://cloud.smartbill.ro/documente/extern/pf/factura/fake{document_id}"}

    @staticmethod
    def _move_stock(company: Company, moves: list[tuple[tuple[str, str, str], Decimal]], *, sign: int) -> None:
        """Apply (sign 1) or undo (sign -1) an invoice's stock moves; taking out more than is there is
        refused before anything changes (SPEC: "Cantitate stoc insuficienta pentru produsul x.")."""
        for key, quantity in moves:
            if sign * quantity < 0 and company.stock_of(*key) < -sign * quantity:
                raise ApiError(STOCK_SHORT.format(name=key[1]))
        for key, quantity in moves:
            company.stock[key].quantity += sign * quantity

    # ----------------------------------------------------------------- storno, cancel, restore, delete

    @route("POST", rf"{API}/invoice/reverse")
    def reverse_invoice(self, request: Request) -> Response:
        return self._api_call(request, self._reverse, json_body=True, error_fields=DOCUMENT_LINK_FIELDS)

    def _reverse(self, user: User, body: Any) -> dict[str, Any]:
        """SPEC POST /invoice/reverse: a storno invoice for the whole of an existing invoice, once. It is
        the only credit document the API has: no lines of one's own, no partial reversal.
        ASSUMPTION: the storno is the next number of the original's series, its lines are the original's
        with negated quantities and amounts, and it gives back the stock the original took out; the
        answer's number/series are the storno's (the SPEC example is ambiguous)."""
        check_shape(body, STORNO_FIELDS, "Storno", refuse_unknown=self.refuse_unknown_fields)
        company = self._company(user, text_of(body, "companyVatCode"), missing=COMPANY_GONE_REVERSE,
                                gone=COMPANY_GONE_REVERSE)
        series_name, number = text_of(body, "seriesName"), text_of(body, "number")
        if not series_name:
            raise ApiError(STORNO_SERIES_REQUIRED)
        if not number:
            raise ApiError(STORNO_NUMBER_REQUIRED)
        original = self._find(company, series_name, number)
        name = _name(original)
        if original["storno"]:
            raise ApiError(IS_A_STORNO.format(document=name))
        if original["status"] == "anulata":
            raise ApiError(CANCELLED_NOT_REVERSIBLE.format(document=name))
        if self._active_stornos(company, original):
            raise ApiError(ALREADY_REVERSED)
        issue_date = date_of(body, "issueDate") or self.today()
        if issue_date < original["issueDate"]:
            raise ApiError(STORNO_BEFORE_ORIGINAL)
        storno = _negated(original, issue_date, body)
        self._issue(company, company.series[series_name], storno)
        original["reversedBy"].append((series_name, storno["number"]))
        return {"number": storno["number"], "series": series_name, **self._links(storno)}

    @staticmethod
    def _active_stornos(company: Company, original: dict[str, Any]) -> list[tuple[str, str]]:
        return [key for key in original["reversedBy"]
                if key in company.invoices and company.invoices[key]["status"] == "emisa"]

    @route("PUT", rf"{API}/invoice/cancel")
    def cancel_invoice(self, request: Request) -> Response:
        return self._api_call(request, lambda user, _: self._cancel(user, request))

    def _cancel(self, user: User, request: Request) -> dict[str, Any]:
        """SPEC PUT /invoice/cancel: the invoice stays (with its number) but no longer counts; cancelling
        gives its stock back. ASSUMPTION: cancelling a cancelled invoice is refused."""
        company, document = self._document(user, request, _KEYED_WRITE)
        name = _name(document)
        if document["status"] == "anulata":
            raise ApiError(ALREADY_CANCELLED.format(document=name))
        stornos = self._active_stornos(company, document)
        if stornos and document["stockMoves"]:
            raise ApiError(CANCEL_STORNO_FIRST.format(document=name, stornos=", ".join(" ".join(k) for k in stornos)))
        return self._change_status(company, document, "anulata", CANCELLED)

    @route("PUT", rf"{API}/invoice/restore")
    def restore_invoice(self, request: Request) -> Response:
        return self._api_call(request, lambda user, _: self._restore(user, request))

    def _restore(self, user: User, request: Request) -> dict[str, Any]:
        """SPEC PUT /invoice/restore: a cancelled invoice counts again (and takes its stock out again)."""
        company, document = self._document(user, request, _KEYED_WRITE)
        name = _name(document)
        if document["status"] != "anulata":
            raise ApiError(NOT_CANCELLED.format(document=name))  # ASSUMPTION: only a cancelled one
        if document["reverses"] and company.invoices[document["reverses"]]["status"] == "anulata":
            raise ApiError(RESTORE_ORIGINAL_FIRST.format(document=name, original=" ".join(document["reverses"])))
        return self._change_status(company, document, "emisa", RESTORED)

    def _change_status(self, company: Company, document: dict[str, Any], status: str, message: str) -> dict[str, Any]:
        """Cancelling gives the invoice's stock back; restoring takes it out again."""
        self._move_stock(company, document["stockMoves"], sign=-1 if status == "anulata" else 1)
        document["status"] = status
        return {"message": message.format(series=document["series"], number=document["number"])}

    @route("DELETE", rf"{API}/invoice")
    def delete_invoice(self, request: Request) -> Response:
        return self._api_call(request, lambda user, _: self._delete(user, request))

    def _delete(self, user: User, request: Request) -> dict[str, Any]:
        """SPEC DELETE /invoice: only the last invoice of a series can be deleted (others are cancelled).
        ASSUMPTION: its number is given out again (the series' next number steps back), a deleted storno
        lets its original be reversed again, and a deleted invoice's stock comes back."""
        company, document = self._document(user, request, _KEYED_WRITE)
        series = company.series[document["series"]]
        last = max(int(number) for (name, number) in company.invoices if name == series.name)
        if int(document["number"]) != last:
            raise ApiError(NOT_LAST_IN_SERIES.format(document=_name(document)))
        if document["status"] == "emisa":
            self._move_stock(company, document["stockMoves"], sign=-1)
        if document["reverses"]:
            company.invoices[document["reverses"]]["reversedBy"].remove((series.name, document["number"]))
        del company.invoices[(series.name, document["number"])]
        series.next_number = last
        return {"message": DELETED.format(series=series.name, number=document["number"])}

    # ----------------------------------------------------------------- read-back: payment status and PDF

    @route("GET", rf"{API}/invoice/paymentstatus")
    def payment_status(self, request: Request) -> Response:
        return self._api_call(request, lambda user, _: self._payment_status(user, request), fields=READ_FIELDS)

    def _payment_status(self, user: User, request: Request) -> dict[str, Any]:
        """SPEC GET /invoice/paymentstatus: invoiceTotalAmount, paidAmount, unpaidAmount (doubles, in the
        invoice's own currency, which the answer does not name) and `paid` (SPEC
        successResponseInterogareFactura1). This and the PDF are all the API reads back of an invoice."""
        _, document = self._document(user, request, _KEYED_READ, not_found=PAYMENT_STATUS_NOT_FOUND)
        unpaid = document["total"] - document["paid"]
        return {"invoiceTotalAmount": wire_number(document["total"]), "paidAmount": wire_number(document["paid"]),
                "unpaidAmount": wire_number(unpaid), "paid": unpaid <= 0}

    @route("GET", rf"{API}/invoice/pdf")
    def invoice_pdf(self, request: Request) -> Response:
        return self._api_call(request, lambda user, _: self._pdf(user, request), produces=OCTET_STREAM)

    def _pdf(self, user: User, request: Request) -> Response:
        """SPEC GET /invoice/pdf: the PDF's bytes, asked for with Accept: application/octet-stream.
        ASSUMPTION: answered as application/octet-stream (the only binary type the SPEC lists), also for
        a cancelled invoice (marked ANULATA)."""
        company, document = self._document(user, request, _KEYED_READ)
        return bytes_response(200, OCTET_STREAM, _render(company, document, mentions=self.pdf_mentions))

    # ----------------------------------------------------------------- configuration: taxes, series, stock

    @route("GET", rf"{API}/tax")
    def taxes(self, request: Request) -> Response:
        def work(user: User, _: Any) -> dict[str, Any]:
            company = self._company(user, request.query.get("cif", ""), missing=CIF_REQUIRED)
            return {"taxes": [{"name": tax.name, "percentage": wire_number(tax.percentage)}
                              for tax in company.taxes]}
        return self._api_call(request, work, fields=READ_FIELDS)

    @route("GET", rf"{API}/series")
    def series_list(self, request: Request) -> Response:
        """SPEC GET /series?cif=&type=: each series with the number it gives out next; type f/p/c or none."""
        def work(user: User, _: Any) -> dict[str, Any]:
            company = self._company(user, request.query.get("cif", ""), missing=CIF_REQUIRED)
            wanted = request.query.get("type", "")
            if wanted and wanted not in SERIES_TYPES:
                raise ApiError(SERIES_TYPE_INVALID.format(type=wanted))
            return {"list": [{"name": s.name, "nextNumber": f"{s.next_number:04d}", "type": s.type}
                             for s in company.series.values() if not wanted or s.type == wanted]}
        return self._api_call(request, work, fields=READ_FIELDS)

    @route("GET", rf"{API}/stocks")
    def stocks(self, request: Request) -> Response:
        """SPEC GET /stocks?cif=&date=&warehouseName=&productName=&productCode=: per warehouse, its
        products and quantities. ASSUMPTION: the fake keeps no history, so `date` is required but the
        stock is today's; quantities are numbers (the SPEC's example shows both "100" and 100)."""
        def work(user: User, _: Any) -> dict[str, Any]:
            company = self._company(user, request.query.get("cif", ""), missing=CIF_REQUIRED)
            if not request.query.get("date"):
                raise ApiError(DATE_REQUIRED)
            filters = {name: request.query.get(name, "") for name in ("warehouseName", "productName", "productCode")}
            listed = []
            for warehouse, warehouse_type in company.warehouses.items():
                if filters["warehouseName"] and filters["warehouseName"] != warehouse:
                    continue
                products = [{"measuringUnit": item.unit, "productCode": item.code, "productName": item.name,
                             "quantity": wire_number(item.quantity)}
                            for item in company.stock.values() if item.warehouse == warehouse
                            and filters["productName"] in ("", item.name) and filters["productCode"] in ("", item.code)]
                if products:
                    listed.append({"products": products,
                                   "warehouse": {"warehouseName": warehouse, "warehouseType": warehouse_type}})
            return {"list": listed}
        return self._api_call(request, work, fields=READ_FIELDS)

    # ----------------------------------------------------------------- documented, not modelled

    @route("POST", rf"{API}/(estimate|payment|document/send)(/.*)?")
    @route("GET", rf"{API}/(estimate|payment)/.+")
    @route("PUT", rf"{API}/estimate/.+")
    @route("DELETE", rf"{API}/(estimate|payment)(/.*)?")
    def not_modelled_endpoint(self, request: Request) -> Response:
        """Proformas (/estimate), payments and receipts (/payment) and e-mail (/document/send) exist in the
        SPEC; the fake refuses them loudly rather than pretending."""
        return self._api_call(request, lambda user, body: self._refuse(request))

    @staticmethod
    def _refuse(request: Request) -> dict[str, Any]:
        raise not_modelled(f"{request.method} {request.path.removeprefix(API)}")


# Missing-parameter messages of the cif + series + number endpoints (see model.py).
_KEYED_READ = (CIF_REQUIRED, SERIES_REQUIRED, NUMBER_REQUIRED)
_KEYED_WRITE = (DELETE_CIF_REQUIRED, DELETE_SERIES_REQUIRED, DELETE_NUMBER_REQUIRED)


def _name(document: dict[str, Any]) -> str:
    """How SmartBill's messages name a document: series, a space, number ("FCT 0001")."""
    return f"{document['series']} {document['number']}"


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    """SPEC "Autentificare": preemptive Basic auth, base64("e-mail:token")."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    email, separator, token = decoded.partition(":")
    return (email, token) if separator else (None, None)


def _negated(original: dict[str, Any], issue_date: date, request: dict[str, Any]) -> dict[str, Any]:
    storno = copy.deepcopy(original)
    for line in storno["lines"]:
        for part in ("quantity", "net", "vat", "gross"):
            line[part] = -line[part]
    for part in ("net", "vat", "total", "totalRon"):
        storno[part] = -storno[part]
    storno.update(issueDate=issue_date, dueDate=None, deliveryDate=None, paymentDate=None, status="emisa",
                  payments=[], paid=Decimal("0.00"), storno=True,
                  reverses=(original["series"], original["number"]), reversedBy=[],
                  stockMoves=[(key, -quantity) for key, quantity in original["stockMoves"]],
                  request=copy.deepcopy(request))
    return storno


def _render(company: Company, document: dict[str, Any], *, mentions: bool) -> bytes:
    """A small PDF carrying what the real one shows first: series and number, parties, lines, totals, and
    the mentions. ASSUMPTION: the printed invoice shows `mentions` ("Mentiuni"), line by line, as text a
    PDF reader extracts (mentions are the printed remarks of a Romanian invoice; no source here shows a
    SmartBill PDF); a storno, a copy of its invoice, shows the invoice's. mentions=False: a template that
    leaves them out (the adapter then finds no reference and leaves the document in doubt)."""
    client = document["client"]
    kind = "Factura storno" if document["storno"] else "Factura"
    currency = document["currency"]
    lines = [f"Furnizor: {company.name} CIF {company.cif}",
             f"Client: {client.get('name')} CIF {client.get('vatCode') or '-'}",
             f"Seria {document['series']} nr. {document['number']} din {document['issueDate']:%d.%m.%Y}"]
    if document["storno"]:
        lines.append(f"Storneaza factura {' '.join(document['reverses'])}")
    if document["status"] == "anulata":
        lines.append("ANULATA")
    for line in document["lines"]:
        tax = f" TVA {line['taxName']} {line['taxPercentage']}%" if line["taxName"] else ""
        lines.append(f"{line['position']}. {line['name']} {line['quantity']} {line['measuringUnitName']} x "
                     f"{line['price']} = {format_money(line['gross'])} {currency}{tax}")
    lines += [f"Total fara TVA: {format_money(document['net'])} {currency}",
              f"TVA: {format_money(document['vat'])} {currency}",
              f"Total de plata: {format_money(document['total'])} {currency}"]
    if currency != "RON":
        lines.append(f"Curs {document['exchangeRate']} - Total RON: {format_money(document['totalRon'])}")
    if mentions and document.get("mentions"):
        lines += ["Mentiuni:", *str(document["mentions"]).splitlines()]
    return render_pdf(f"{kind} {document['series']} {document['number']}", lines)
