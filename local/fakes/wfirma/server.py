"""The wFirma fake's HTTP endpoints: auth, rate limit, invoices, series, goods, PDFs."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from local.fakes.common import (
    FakeServer,
    HttpError,
    Request,
    Response,
    bytes_response,
    format_money,
    json_response,
    ksef_number,
    parse_date,
    parse_decimal,
    quantize_money,
    route,
)
from local.fakes.wfirma.invoices import _invoice_pdf, _InvoiceBuilder
from local.fakes.wfirma.vocabulary import (
    AUTH_FAILURES_BEFORE_LOCK,
    AUTH_LOCK_SECONDS,
    BAD_DATE,
    DEFAULT_APP_KEY,
    DEFAULT_RATE_LIMIT,
    DOWNLOAD_PARAMETERS,
    FIND_OPERATORS,
    FISCAL_TYPES,
    INVALID,
    KSEF_ACCEPTED,
    KSEF_FIELDS,
    KSEF_REFUSED,
    KSEF_SUBMITTED,
    KSEF_TYPES,
    NO_PDF_FOR_FISCAL,
    NUMBER_TAKEN,
    OK,
    OSS_VAT_CODES,
    OWN_RATE_READINGS,
    PAYMENT_METHODS,
    POLISH_VAT_CODES,
    READ_ONLY,
    SERIES_RESETS,
    STOCK_MOVING_TYPES,
    UNKNOWN,
    WfirmaCompany,
    _ApiKey,
    _positive_int,
    _Rejected,
    _StatusAnswer,
    numbered,
    unnumbered,
)

# --------------------------------------------------------------------------- the fake


class WfirmaFake(FakeServer):
    secret_query_params = frozenset()  # the keys travel in headers only

    def __init__(self, *, app_key: str = DEFAULT_APP_KEY,
                 rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT, today: date | None = None,
                 own_rate_fields: str = "honoured", errors_as_xml: bool = False):
        """``own_rate_fields``: how invoices/add treats a rate sent in OWN_RATE_FIELDS (see there).
        ``errors_as_xml``: every non-OK status answer comes in wFirma's default format, XML
        (``<api><status><code>AUTH</code></status></api>``), whatever outputFormat asked for. ASSUMPTION:
        an answer given before the request's format parameters are read (an auth failure) is in the
        documented default format, XML (W-DOC "Format wejściowy / wyjściowy"; XML answer shape as in
        W-SDK's test resources, e.g. series.add.response.error.xml); seen on the live API per the
        project's issue 14. Off: status answers follow outputFormat."""
        super().__init__(rate_limit=rate_limit, peak_window_seconds=15.0)
        if own_rate_fields not in OWN_RATE_READINGS:
            raise ValueError(f"own_rate_fields is one of {sorted(OWN_RATE_READINGS)}")
        self.own_rate_fields = own_rate_fields
        self.errors_as_xml = errors_as_xml
        self.app_keys = {app_key}
        self._keys: dict[str, _ApiKey] = {}
        self._companies: dict[int, WfirmaCompany] = {}
        self._lock = threading.RLock()
        self._next_id = 1000
        # The NBP rate wFirma looks up itself when no rate of ours is taken (own_rate_fields): the fake
        # applies the rate a test seeds per currency.
        self.exchange_rates: dict[str, Decimal] = {"EUR": Decimal("4.2351"), "USD": Decimal("3.9876")}
        self._today = today

    def today(self) -> date:
        return self._today or date.today()

    # ----------------------------------------------------------------- setup

    def add_app_key(self, app_key: str) -> None:
        self.app_keys.add(app_key)

    def add_company(self, access_key: str, secret_key: str, *, name: str = "Sklep Demo Sp. z o.o.",
                    nip: str = "5252445767") -> int:
        """A company reachable with this key pair (created on first use), seeded like a new
        wFirma account: the VAT code table (ids of its own), and a default series per type."""
        with self._lock:
            key = self._keys.setdefault(access_key, _ApiKey(access_key, secret_key))
            if key.secret_key != secret_key:
                raise ValueError("this accessKey exists with another secretKey")
            company = WfirmaCompany(self._new_id(), name, nip)
            for code, rate in POLISH_VAT_CODES:
                vat_id = self._new_id()
                company.vat_codes[vat_id] = {"id": vat_id, "code": code, "rate": rate, "country": "PL"}
            for country, rate in OSS_VAT_CODES:
                vat_id = self._new_id()
                company.vat_codes[vat_id] = {"id": vat_id, "code": "", "rate": rate, "country": country}
            self._companies[company.company_id] = company
            key.company_ids.append(company.company_id)
            # ASSUMPTION: default series names and templates of a fresh account.
            for invoice_type, template in (("normal", "FV [numer]/[miesiac]/[rok]"),
                                           ("receipt_normal", "PAR [numer]/[miesiac]/[rok]"),
                                           ("receipt_fiscal_normal", "PF [numer]/[miesiac]/[rok]"),
                                           ("correction", "KOR [numer]/[miesiac]/[rok]")):
                self._add_series(company, f"Domyślna ({invoice_type})", template, invoice_type,
                                 reset="monthly", default=True)
            return company.company_id

    def company(self, company_id: int) -> WfirmaCompany:
        return self._companies[company_id]

    def add_series(self, company_id: int, name: str, template: str, *, invoice_type: str = "normal",
                   reset: str = "yearly") -> int:
        if "[numer]" not in template or reset not in SERIES_RESETS:
            raise ValueError("a series template needs [numer]; reset is yearly, monthly or daily")
        with self._lock:
            return self._add_series(self.company(company_id), name, template, invoice_type, reset=reset,
                                    default=False)

    def _add_series(self, company: WfirmaCompany, name: str, template: str, invoice_type: str, *,
                    reset: str, default: bool) -> int:
        series_id = self._new_id()
        company.series[series_id] = {"id": series_id, "name": name, "template": template,
                                     "type": invoice_type, "reset": reset, "default": default}
        return series_id

    def add_good(self, company_id: int, name: str, code: str, *, netto: Any, vat: str = "23",
                 count: Any = 0, unit: str = "szt.") -> int:
        """A good in the catalogue (warehouse "simple"). Its VAT code is one of the company's."""
        with self._lock:
            company = self.company(company_id)
            vat_id = company.vat_code_id(vat)
            rate = Decimal(company.vat_codes[vat_id]["rate"])
            net = quantize_money(parse_decimal(netto))
            good_id = self._new_id()
            company.goods[good_id] = {
                "id": str(good_id), "name": name, "code": code, "unit": unit, "type": "good",
                "netto": format_money(net), "brutto": format_money(net + quantize_money(net * rate / 100)),
                "vat_code": {"id": str(vat_id)}, "count": f"{parse_decimal(count):.4f}", "warehouse_type": "simple",
            }
            return good_id

    def set_exchange_rate(self, currency: str, rate: Any) -> None:
        self.exchange_rates[currency] = parse_decimal(rate)

    def answer_status(self, code: str, *, method: str | None = None, path: str | None = None,
                      times: int = 1) -> None:
        """Queue a wFirma status answer (HTTP 200, e.g. SNAPSHOT LOCK, OUT OF SERVICE, FATAL)."""
        body = json.dumps({"status": {"code": code}}).encode()
        self.faults.add("status", method=method, path=path, times=times, status=200, body=body,
                        content_type="application/json; charset=utf-8")

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        if status == 404:  # documented: an unknown module/action is a status, not an HTTP error
            return self._status(request, "ACTION NOT FOUND")
        # ASSUMPTION: HTTP errors come from the front proxy as an HTML page, not as an API body.
        page = f"<html><head><title>{status} {message}</title></head><body><h1>{message}</h1></body></html>"
        return bytes_response(status, "text/html; charset=utf-8", page.encode())

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # Documented status code; ASSUMPTION: HTTP 200 like every other status, no Retry-After.
        return self._status(request, "TOTAL REQUESTS LIMIT EXCEEDED")

    def rate_limit_key(self, request: Request) -> Any:
        """Per API key (the accessKey); requests without one: per client IP."""
        return request.headers.get("accesskey") or f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        company_id = request.query.get("company_id")
        return f"company:{company_id}" if company_id and company_id.isdigit() else None

    # ----------------------------------------------------------------- the request pipeline

    @staticmethod
    def _output_format(request: Request) -> str:
        """Documented: xml by default; outputFormat defaults to inputFormat."""
        return request.query.get("outputFormat") or request.query.get("inputFormat") or "xml"

    def _status(self, request: Request, code: str, branch: dict[str, Any] | None = None) -> Response:
        tree = {**(branch or {}), "status": {"code": code}}
        if self._output_format(request) != "json" or (self.errors_as_xml and code != OK):
            return _xml_response(tree)
        return json_response(200, tree)

    def _in_answer_format(self, response: Response) -> Response:
        """A JSON status answer other than OK, in XML when the fake is set to answer errors so."""
        if not self.errors_as_xml or not response.headers.get("Content-Type", "").startswith("application/json"):
            return response
        tree = json.loads(response.body, parse_float=Decimal)
        if not isinstance(tree, dict) or (tree.get("status") or {}).get("code") == OK:
            return response
        return _xml_response(tree)

    def _serve_api(self, request: Request, handler: Callable[[WfirmaCompany, Any], Response],
                   *, module: str, reads: bool = False) -> Response:
        """Auth, formats and company, in that order, then the action with the parsed body."""
        if request.method not in (("GET", "POST") if reads else ("POST",)):
            return self._status(request, "ACTION NOT FOUND")  # ASSUMPTION
        with self._lock:
            try:
                company = self._authenticate(request)
                body = self._parsed_body(request, module)
                return self._in_answer_format(handler(company, body))
            except HttpError as refusal:
                return self._in_answer_format(refusal.response)
            except _StatusAnswer as answer:
                if answer.code == "AUTH" and not self._sent_any_key(request):
                    # A community client met the bare string AUTH (no XML/JSON) on auth failures.
                    # ASSUMPTION: it is the answer to a request that carries no keys at all.
                    return bytes_response(200, "text/plain; charset=utf-8", b"AUTH")
                return self._status(request, answer.code)

    @staticmethod
    def _sent_any_key(request: Request) -> bool:
        return any(name in request.headers for name in ("accesskey", "secretkey", "appkey"))

    def _authenticate(self, request: Request) -> WfirmaCompany:
        access = request.headers.get("accesskey", "")
        secret = request.headers.get("secretkey", "")
        app = request.headers.get("appkey", "")
        key = self._keys.get(access)
        now = time.monotonic()
        if key is not None and key.locked_until > now:
            raise _StatusAnswer("AUTH FAILED LIMIT WAIT 5 MINUTES")
        if key is None or key.secret_key != secret or app not in self.app_keys:
            if key is not None:
                self._count_failure(key, now)
            raise _StatusAnswer("AUTH")
        company_id = request.query.get("company_id")
        if company_id is None:
            if len(key.company_ids) > 1:
                raise _StatusAnswer("COMPANY ID REQUIRED")
            return self._companies[key.company_ids[0]]
        if not company_id.isdigit() or int(company_id) not in key.company_ids:
            raise _StatusAnswer("ACCESS DENIED")  # ASSUMPTION: another company's id
        return self._companies[int(company_id)]

    @staticmethod
    def _count_failure(key: _ApiKey, now: float) -> None:
        key.failures.append(now)
        while key.failures and key.failures[0] < now - AUTH_LOCK_SECONDS:
            key.failures.popleft()
        if len(key.failures) >= AUTH_FAILURES_BEFORE_LOCK:
            key.locked_until = now + AUTH_LOCK_SECONDS
            key.failures.clear()

    @staticmethod
    def _parsed_body(request: Request, module: str) -> dict[str, Any]:
        """The body's module branch (``{"invoices": {...}}`` -> ``{...}``); {} when empty.

        The format is chosen by the documented query parameter, not by Content-Type (which the
        docs never mention). ASSUMPTION: this fake speaks JSON only, so XML input, the documented
        default, is INPUT ERROR here; so is a body that is not the JSON it claims to be."""
        if request.query.get("inputFormat") != "json" or request.query.get("outputFormat", "json") != "json":
            raise _StatusAnswer("INPUT ERROR")
        if not request.body.strip():
            return {}
        try:
            parsed = json.loads(request.body.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            raise _StatusAnswer("INPUT ERROR") from None
        if not isinstance(parsed, dict) or set(parsed) - {module} or not isinstance(parsed.get(module, {}), dict):
            raise _StatusAnswer("INPUT ERROR")
        return parsed.get(module, {})

    # ----------------------------------------------------------------- invoices

    @route("POST", r"/invoices/add")
    def add_invoice(self, request: Request) -> Response:
        return self._serve_api(request, self._add, module="invoices")

    def _add(self, company: WfirmaCompany, body: dict[str, Any]) -> Response:
        [source] = self._single_record(body)
        try:
            invoice = _InvoiceBuilder(self, company, source, editing=None).build()
        except _Rejected as rejected:
            return self._echo_errors(source, rejected)
        invoice_id = self._new_id()
        invoice["id"] = str(invoice_id)  # ids travel as strings, like every value in the docs' JSON
        self._number(company, invoice, source.get("number"))
        company.invoices[invoice_id] = invoice
        company.sources[invoice_id] = copy.deepcopy(source)
        self._move_stock(company, invoice)
        invoice.update(dict.fromkeys(KSEF_FIELDS, ""))
        if company.ksef_auto_send and invoice["type"] in KSEF_TYPES:
            _submit_to_ksef(company, invoice_id)
        if Decimal(invoice["alreadypaid_initial"]) > 0:
            payment_id = self._new_id()
            company.payments[payment_id] = {
                "id": str(payment_id), "object_name": "invoice", "object_id": invoice["id"],
                "value": invoice["alreadypaid_initial"], "date": invoice["date"],
                "payment_method": invoice["paymentmethod"], "initial": "1"}
        return _invoice_answer(invoice)

    @route("POST", r"/invoices/edit/(?P<id>\d+)")
    def edit_invoice(self, request: Request) -> Response:
        invoice_id = int(request.params["id"])

        def edit(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            current = _stored_invoice(company, invoice_id)
            [changes] = self._single_record(body)
            if "type" in changes and changes["type"] != current["type"]:
                raise _StatusAnswer("INPUT ERROR")  # ASSUMPTION: a document keeps its type
            source = {**company.sources[invoice_id], **changes}
            try:
                invoice = _InvoiceBuilder(self, company, source, editing=current).build()
            except _Rejected as rejected:
                return self._echo_errors(changes, rejected)
            # ASSUMPTION: an edit keeps the id, number and KSeF state; stock is not moved again.
            invoice.update({key: current[key] for key in ("id", "number", "fullnumber", *KSEF_FIELDS)})
            company.invoices[invoice_id] = invoice
            company.sources[invoice_id] = source
            return _invoice_answer(invoice)

        return self._serve_api(request, edit, module="invoices")

    @staticmethod
    def _single_record(body: dict[str, Any], name: str = "invoice") -> list[dict[str, Any]]:
        """The one record of an add or edit (`name`: invoice, payment)."""
        records = unnumbered({k: v for k, v in body.items() if k != "parameters"}, name)
        if len(records) != 1 or not isinstance(records[0], dict):
            raise _StatusAnswer("INPUT ERROR")  # ASSUMPTION: one record per add or edit
        return records

    @route("GET", r"/invoices/get/(?P<id>\d+)")
    @route("POST", r"/invoices/get/(?P<id>\d+)")
    def get_invoice(self, request: Request) -> Response:
        invoice_id = int(request.params["id"])

        def get(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            invoice = _stored_invoice(company, invoice_id)
            _ksef_progress(company, invoice_id)
            return _invoice_answer(invoice)

        return self._serve_api(request, get, module="invoices", reads=True)

    @route("GET", r"/invoices/find")
    @route("POST", r"/invoices/find")
    def find_invoices(self, request: Request) -> Response:
        return self._serve_api(request, lambda company, body: self._find(
            company.invoices.values(), body, "invoices", "invoice", INVOICE_FIND_FIELDS),
            module="invoices", reads=True)

    @route("POST", r"/invoices/download/(?P<id>\d+)")
    def download_invoice(self, request: Request) -> Response:
        invoice_id = int(request.params["id"])

        def download(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            invoice = _stored_invoice(company, invoice_id)
            options = _download_options(body)
            if invoice["type"] in FISCAL_TYPES:
                # ASSUMPTION: the shape of this refusal (the fact itself: no PDF of a fiscal receipt).
                return json_response(200, {"status": {"code": "ERROR", "message": NO_PDF_FOR_FISCAL}})
            return bytes_response(200, "application/pdf", _invoice_pdf(company, invoice, options),
                                  {"Content-Disposition": f'attachment; filename="{invoice["id"]}.pdf"'})

        return self._serve_api(request, download, module="invoices")

    # ----------------------------------------------------------------- dictionaries

    @route("GET", r"/vat_codes/find")
    @route("POST", r"/vat_codes/find")
    def find_vat_codes(self, request: Request) -> Response:
        def rendered(company: WfirmaCompany) -> list[dict[str, Any]]:
            countries = {code: index for index, code in enumerate(("PL", *dict(OSS_VAT_CODES)))}
            return [{"id": str(v["id"]), "code": v["code"], "rate": v["rate"],
                     "declaration_country": {"id": str(countries[v["country"]]), "code": v["country"]}}
                    for v in company.vat_codes.values()]
        return self._serve_api(request, lambda company, body: self._find(
            rendered(company), body, "vat_codes", "vat_code", {"id", "code", "rate"}),
            module="vat_codes", reads=True)

    @route("GET", r"/series/find")
    @route("POST", r"/series/find")
    def find_series(self, request: Request) -> Response:
        def rendered(company: WfirmaCompany) -> list[dict[str, Any]]:
            return [{key: str(value) if key == "id" else value for key, value in s.items() if key != "default"}
                    for s in company.series.values()]
        return self._serve_api(request, lambda company, body: self._find(
            rendered(company), body, "series", "series", {"id", "name", "type", "template"}),
            module="series", reads=True)

    @route("GET", r"/goods/find")
    @route("POST", r"/goods/find")
    def find_goods(self, request: Request) -> Response:
        return self._serve_api(request, lambda company, body: self._find(
            company.goods.values(), body, "goods", "good", {"id", "code", "name", "Good.code", "Good.name"}),
            module="goods", reads=True)

    # ----------------------------------------------------------------- find

    def _find(self, records: Any, body: dict[str, Any], module: str, name: str,
              searchable: set[str] | frozenset[str]) -> Response:
        """Documented find: parameters {conditions, page (from 1), limit}; the answer's own
        parameters {limit, page, total} sit inside the module branch.

        ASSUMPTION: default limit 20 (the docs' example answer), at most 100; a condition on a
        field the fake does not know is INPUT ERROR."""
        parameters = body.get("parameters", {})
        if not isinstance(parameters, dict):
            raise _StatusAnswer("INPUT ERROR")
        limit, page = _positive_int(parameters.get("limit", 20)), _positive_int(parameters.get("page", 1))
        if limit is None or page is None:
            raise _StatusAnswer("INPUT ERROR")
        limit = min(limit, 100)
        matches = _conditions_filter(parameters.get("conditions"), searchable)
        selected = [copy.deepcopy(r) for r in records if matches(r)]
        branch = numbered(selected[(page - 1) * limit: page * limit], name)
        branch["parameters"] = {"limit": str(limit), "page": str(page), "total": str(len(selected))}
        return json_response(200, {module: branch, "status": {"code": OK}})

    # ----------------------------------------------------------------- payments

    @route("GET", r"/payments/find")
    @route("POST", r"/payments/find")
    def find_payments(self, request: Request) -> Response:
        return self._serve_api(request, lambda company, body: self._find(
            company.payments.values(), body, "payments", "payment", PAYMENT_FIND_FIELDS),
            module="payments", reads=True)

    @route("POST", r"/payments/edit/(?P<id>\d+)")
    def edit_payment(self, request: Request) -> Response:
        payment_id = int(request.params["id"])

        def edit(company: WfirmaCompany, body: dict[str, Any]) -> Response:
            payment = company.payments.get(payment_id)
            if payment is None:
                raise _StatusAnswer("NOT FOUND")
            [changes] = self._single_record(body, "payment")
            errors = _payment_errors(payment, changes)
            if errors:
                echoed = {**changes, "errors": numbered([{"field": f, "message": m} for f, m in errors], "error")}
                return json_response(200, {"payments": numbered([echoed], "payment"), "status": {"code": "ERROR"}})
            payment.update(changes)
            return json_response(200, {"payments": numbered([payment], "payment"), "status": {"code": OK}})

        return self._serve_api(request, edit, module="payments")

    # ----------------------------------------------------------------- numbering and stock

    def _number(self, company: WfirmaCompany, invoice: dict[str, Any], requested: Any) -> None:
        """The next number in the series for the document's period, formatted by the template.

        ASSUMPTION: [miesiac] is the two-digit month of the issue date, [rok] its year; a number
        that was sent is accepted only if it is still free in the series and period."""
        series = company.series[int(invoice["series"]["id"])]
        issued = date.fromisoformat(invoice["date"])
        period = {"yearly": (issued.year,), "monthly": (issued.year, issued.month),
                  "daily": (issued.year, issued.month, issued.day)}[series["reset"]]
        counter_key = (series["id"], period)
        taken = {int(inv["number"]) for inv in company.invoices.values()
                 if inv["series"]["id"] == str(series["id"]) and _period_of(inv, series["reset"]) == period}
        number = int(requested) if requested not in (None, "") else company.last_numbers.get(counter_key, 0) + 1
        if number in taken:
            rejected = _Rejected()
            rejected.add((), "number", NUMBER_TAKEN)
            raise HttpError(self._echo_errors({"number": requested}, rejected))
        company.last_numbers[counter_key] = max(number, company.last_numbers.get(counter_key, 0))
        invoice["number"] = str(number)
        invoice["fullnumber"] = (series["template"].replace("[numer]", str(number))
                                 .replace("[miesiac]", f"{issued.month:02d}").replace("[rok]", str(issued.year)))

    @staticmethod
    def _move_stock(company: WfirmaCompany, invoice: dict[str, Any]) -> None:
        """ASSUMPTION: with the simple warehouse a sale linked to a good decreases its count."""
        if invoice["type"] not in STOCK_MOVING_TYPES:
            return
        for entry in invoice["invoicecontents"].values():
            content = entry["invoicecontent"]
            good = company.goods.get(int(content["good"]["id"]))
            if good is not None:
                good["count"] = f"{Decimal(good['count']) - Decimal(content['count']):.4f}"

    # ----------------------------------------------------------------- errors

    def _echo_errors(self, source: dict[str, Any], rejected: _Rejected) -> Response:
        """Documented: the input is echoed with errors > error {field, message, method} attached
        to the failing record or sub-record, and status ERROR."""
        echoed = copy.deepcopy(source)

        def attach(target: dict[str, Any], errors: list[tuple[str, str]]) -> None:
            target["errors"] = numbered([{"field": name, "message": message,
                                          "method": {"name": "validation", "parameters": ""}}
                                         for name, message in errors], "error")

        for record, errors in rejected.by_record.items():
            if record == ():
                attach(echoed, errors)
            elif record == ("contractor",):
                if not isinstance(echoed.get("contractor"), dict):
                    echoed["contractor"] = {}
                attach(echoed["contractor"], errors)
            else:
                contents = echoed.get("invoicecontents")
                index = record[1]
                target = None
                if isinstance(contents, dict) and isinstance(contents.get(str(index)), dict):
                    target = contents[str(index)].get("invoicecontent")
                elif isinstance(contents, dict) and index == 0:  # the single unnumbered form
                    target = contents.get("invoicecontent")
                if isinstance(target, dict):
                    attach(target, errors)
                    continue
                attach(echoed, [(f"invoicecontents.{index}.{name}", message) for name, message in errors])
        return json_response(200, {"invoices": numbered([echoed], "invoice"), "status": {"code": "ERROR"}})


def _payment_errors(payment: dict[str, Any], changes: dict[str, Any]) -> list[tuple[str, str]]:
    """A payment edit's problems (field, message). ASSUMPTION on each rule: what it pays stays, and an
    initial payment's value follows its invoice's alreadypaid_initial; the date is a YYYY-MM-DD date."""
    errors = []
    fixed = {"object_name", "object_id", *(("value", "value_pln") if payment["initial"] == "1" else ())}
    for name in changes:
        if name in PAYMENT_READ_ONLY_FIELDS or name in fixed:
            errors.append((name, READ_ONLY))
        elif name not in PAYMENT_REQUEST_FIELDS:
            errors.append((name, UNKNOWN))
    if "date" in changes:
        try:
            parse_date(changes["date"])
        except ValueError:
            errors.append(("date", BAD_DATE))
    if "payment_method" in changes and changes["payment_method"] not in PAYMENT_METHODS:
        errors.append(("payment_method", INVALID))
    return errors


def _stored_invoice(company: WfirmaCompany, invoice_id: int) -> dict[str, Any]:
    invoice = company.invoices.get(invoice_id)
    if invoice is None:
        raise _StatusAnswer("NOT FOUND")
    return invoice


def _submit_to_ksef(company: WfirmaCompany, invoice_id: int) -> None:
    """wFirma submits the document to KSeF by the company's settings."""
    company.invoices[invoice_id]["ksef_status"] = KSEF_SUBMITTED
    company.ksef_reads[invoice_id] = 0
    company.ksef_submissions[invoice_id] = company.ksef_submissions.get(invoice_id, 0) + 1


def _ksef_progress(company: WfirmaCompany, invoice_id: int) -> None:
    """A read of a submitted document: after enough reads, KSeF has answered."""
    invoice = company.invoices[invoice_id]
    if invoice["ksef_status"] != KSEF_SUBMITTED:
        return
    company.ksef_reads[invoice_id] += 1
    if company.ksef_reads[invoice_id] < company.ksef_reads_until_final:
        return
    if company.ksef_rejects:
        invoice["ksef_status"] = KSEF_REFUSED
        return
    issued = date.fromisoformat(invoice["date"])
    invoice.update(ksef_status=KSEF_ACCEPTED, ksef_reference_number=ksef_number(company.nip, issued),
                   ksef_registration_date=f"{issued.isoformat()} 10:15:00")


def _invoice_answer(invoice: dict[str, Any]) -> Response:
    return json_response(200, {"invoices": numbered([invoice], "invoice"), "status": {"code": OK}})


def _xml_response(tree: dict[str, Any]) -> Response:
    """An answer tree in the documented XML form: the JSON tree under an <api> root, with each
    numbered list ({"0": {"error": {...}}, "1": ...}) as repeated elements (<error>...</error>...)."""

    def element(name: str, value: Any) -> str:
        if isinstance(value, dict):
            return f"<{name}>{children(value)}</{name}>"
        text = "" if value is None else str(int(value) if isinstance(value, bool) else value)
        return f"<{name}>{xml_escape(text)}</{name}>"

    def children(branch: dict[str, Any]) -> str:
        return "".join("".join(element(inner, item) for inner, item in value.items())
                       if key.isdigit() and isinstance(value, dict) else element(key, value)
                       for key, value in branch.items())

    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n{element("api", tree)}'
    return bytes_response(200, "text/xml; charset=utf-8", xml.encode())


# Payment fields (W-SDK Payments/Payment.php: groups "request" and "response").
PAYMENT_REQUEST_FIELDS = frozenset({"object_name", "object_id", "value", "date", "payment_method", "payment_type",
                                    "account", "value_pln", "tags"})
PAYMENT_READ_ONLY_FIELDS = frozenset({"id", "initial", "type", "social", "health", "labor_fund",
                                      "transitional_retiring_fund", "currency_exchange", "currency_label",
                                      "currency_date", "notes", "invoice", "expense", "series", "payment_cashbox",
                                      "contractor"})
PAYMENT_FIND_FIELDS = frozenset({"id", "object_name", "object_id", "date", "initial"})
INVOICE_FIND_FIELDS = frozenset({"id", "id_external", "fullnumber", "number", "type", "date", "parent_id",
                                 "Invoice.id", "Invoice.id_external", "Invoice.fullnumber", "Invoice.type",
                                 "Invoice.date", "Invoice.remaining", "ContractorDetail.nip"})


def _period_of(invoice: dict[str, Any], reset: str) -> tuple:
    issued = date.fromisoformat(invoice["date"])
    return {"yearly": (issued.year,), "monthly": (issued.year, issued.month),
            "daily": (issued.year, issued.month, issued.day)}[reset]


def _download_options(body: dict[str, Any]) -> dict[str, str]:
    """Documented body: invoices > parameters > parameter[] {name, value}."""
    parameters = body.get("parameters")
    if parameters is None:
        return {}
    options = {}
    for parameter in unnumbered(parameters, "parameter"):
        if not isinstance(parameter, dict) or set(parameter) != {"name", "value"}:
            raise _StatusAnswer("INPUT ERROR")
        name, value = parameter["name"], str(parameter["value"])
        if name not in DOWNLOAD_PARAMETERS or value not in DOWNLOAD_PARAMETERS[name]:
            raise _StatusAnswer("INPUT ERROR")  # ASSUMPTION: unknown options are not ignored
        options[name] = value
    return options


def _conditions_filter(conditions: Any, searchable: set[str] | frozenset[str]) -> Callable[[dict], bool]:
    """Documented conditions: condition {field, operator, value} entries (AND by default) and
    and/or/not groups; in JSON the repeated branches are numbered."""
    if conditions is None:
        return lambda record: True
    if not isinstance(conditions, dict):
        raise _StatusAnswer("INPUT ERROR")
    tests: list[Callable[[dict], bool]] = []
    for key, branch in conditions.items():
        if key == "condition":
            tests.append(_condition(branch, searchable))
        elif key in ("and", "or", "not"):
            inner = _conditions_filter(branch, searchable) if key != "or" else _any_of(branch, searchable)
            tests.append((lambda test: lambda r: not test(r))(inner) if key == "not" else inner)
        elif key.isdigit() and isinstance(branch, dict):
            tests.append(_conditions_filter(branch, searchable))
        else:
            raise _StatusAnswer("INPUT ERROR")
    return lambda record: all(test(record) for test in tests)


def _any_of(branch: Any, searchable: set[str] | frozenset[str]) -> Callable[[dict], bool]:
    if not isinstance(branch, dict):
        raise _StatusAnswer("INPUT ERROR")
    tests = [_conditions_filter({key: value}, searchable) if not key.isdigit()
             else _conditions_filter(value, searchable) for key, value in branch.items()]
    return lambda record: any(test(record) for test in tests)


def _condition(condition: Any, searchable: set[str] | frozenset[str]) -> Callable[[dict], bool]:
    if not isinstance(condition, dict) or not {"field", "operator"} <= set(condition) <= {"field", "operator", "value"}:
        raise _StatusAnswer("INPUT ERROR")
    name, operator, wanted = condition["field"], condition["operator"], condition.get("value")
    if name not in searchable or operator not in FIND_OPERATORS:
        raise _StatusAnswer("INPUT ERROR")
    plain = name.split(".", 1)[1] if name.startswith(("Invoice.", "Good.")) else name

    def value_of(record: dict[str, Any]) -> str | None:
        if plain == "ContractorDetail.nip":
            return (record.get("contractor_detail") or {}).get("nip")
        value = record.get(plain)
        return str(value) if value not in (None, "") else None

    def like(value: str, pattern: str) -> bool:
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
        return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None

    def compare(record: dict[str, Any]) -> bool:
        value = value_of(record)
        if operator in ("is null", "is not null"):
            return (value is None) == (operator == "is null")
        if value is None:
            return False
        target = str(wanted)
        if operator == "in":
            return value in target.split(",")
        if operator in ("like", "not like"):
            return like(value, target) == (operator == "like")
        if operator in ("eq", "ne"):
            return (value == target) == (operator == "eq")
        ordered = (Decimal(value), Decimal(target)) if _is_number(value) and _is_number(target) else (value, target)
        return {"gt": ordered[0] > ordered[1], "lt": ordered[0] < ordered[1],
                "ge": ordered[0] >= ordered[1], "le": ordered[0] <= ordered[1]}[operator]

    return compare


def _is_number(text: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", text) is not None


