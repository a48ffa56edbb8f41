"""The Fakturownia fake's HTTP endpoints: auth, rate limit, invoices, lists, PDFs."""

from __future__ import annotations

import copy
import html
import re
import secrets
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from local.fakes.common import (
    FakeServer,
    FieldErrors,
    HttpError,
    Request,
    Response,
    bytes_response,
    format_money,
    json_response,
    ksef_number,
    parse_boolish,
    parse_date,
    parse_decimal,
    quantize_money,
    render_pdf,
    route,
)
from local.fakes.fakturownia.invoices import (
    FakturowniaAccount,
    _format_quantity,
    _InvoiceBuilder,
    _parse_tax,
    _rate,
    _Rejected,
)
from local.fakes.fakturownia.vocabulary import (
    BLANK,
    BUYER_FIELDS,
    CORRECTION_SIDE_FIELDS,
    CREATE_TOP_LEVEL_KEYS,
    DEFAULT_RATE_LIMIT,
    INVALID,
    INVOICE_FIELDS,
    KSEF_KINDS,
    MISSING_RECORD,
    NOT_FOUND,
    NUMBER_PREFIXES,
    PDF_TITLES,
    PERIODS,
    POSITION_FIELDS,
    POSITION_UPDATE_FIELDS,
    PRINT_OPTIONS,
    STOCK_MOVING_KINDS,
    UNAUTHORIZED,
    UNKNOWN_FIELD,
    UPDATE_TOP_LEVEL_KEYS,
    _is_blank,
)

# --------------------------------------------------------------------------- the fake server


class FakturowniaFake(FakeServer):
    """Strict fake of the Fakturownia API for one or more accounts on one local host."""

    secret_query_params = frozenset({"api_token"})

    def __init__(self, *, rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT,
                 today: Callable[[], date] = date.today):
        super().__init__(rate_limit=rate_limit)
        self.today = today
        self._lock = threading.RLock()  # one writer at a time: numbering and uniqueness are atomic
        self._accounts: dict[str, FakturowniaAccount] = {}
        # Separate id ranges per record type, so a product id passed as an invoice id is caught.
        self._next_ids = {"invoice": 100001, "position": 500001, "department": 1001, "product": 20001,
                          "client": 30001, "category": 40001, "warehouse": 50001}
        self._last_stamp: datetime | None = None

    # ----------------------------------------------------------------- seeding (tests, demo)

    def add_account(self, api_token: str, prefix: str = "demo", validate_for_ksef: bool = True,
                    *, company: dict[str, str] | None = None) -> FakturowniaAccount:
        """``validate_for_ksef``: the documented default "block documents that break KSeF rules"."""
        with self._lock:
            if api_token in self._accounts:
                raise ValueError("an account with this API token exists already")
            account = FakturowniaAccount(
                api_token=api_token, prefix=prefix, validate_for_ksef=validate_for_ksef,
                company=company or {"name": "Demo Sklep Sp. z o.o.", "tax_no": "5252445767",
                                    "street": "ul. Przykładowa 10", "post_code": "00-001",
                                    "city": "Warszawa", "country": "PL", "bank_account": None},
            )
            self._accounts[api_token] = account
            return account

    def account(self, api_token: str) -> FakturowniaAccount:
        return self._accounts[api_token]

    def add_department(self, api_token: str, name: str, tax_no: str, *, shortcut: str | None = None,
                       street: str = "ul. Handlowa 1", post_code: str = "00-002", city: str = "Warszawa",
                       country: str = "PL", bank_account: str | None = None) -> int:
        with self._lock:
            department_id = self._new_id("department")
            self.account(api_token).departments[department_id] = {
                "id": department_id, "name": name, "shortcut": shortcut or f"D{department_id}",
                "tax_no": tax_no, "street": street, "post_code": post_code, "city": city,
                "country": country, "bank_account": bank_account,
            }
            return department_id

    def add_product(self, api_token: str, name: str, code: str | None, price_gross: Any, tax: Any = 23,
                    *, stock_level: Any = None, quantity_unit: str = "szt", ean_code: str | None = None,
                    gtu_code: str | None = None) -> int:
        """Documented: a product's net price is derived from its gross price and tax."""
        tax_label = _parse_tax(tax)
        gross = quantize_money(parse_decimal(price_gross))
        with self._lock:
            product_id = self._new_id("product")
            self.account(api_token).products[product_id] = {
                "id": product_id, "name": name, "code": code, "ean_code": ean_code, "tax": tax_label,
                "price_gross": format_money(gross),
                "price_net": format_money(gross / (1 + _rate(tax_label))),
                "currency": "PLN", "quantity_unit": quantity_unit,
                "gtu_codes": [gtu_code] if gtu_code else [],
                "limited": stock_level is not None,
                "stock_level": None if stock_level is None else _format_quantity(parse_decimal(stock_level)),
                "created_at": self._stamp(), "updated_at": self._stamp(),
            }
            return product_id

    def add_client(self, api_token: str, name: str, *, tax_no: str = "", company: bool = True,
                   first_name: str | None = None, last_name: str | None = None,
                   street: str | None = None, post_code: str | None = None, city: str | None = None,
                   country: str | None = "PL", email: str | None = None, phone: str | None = None) -> int:
        with self._lock:
            return self._store_client(self.account(api_token), {
                "name": name, "tax_no": tax_no, "company": company, "first_name": first_name,
                "last_name": last_name, "street": street, "post_code": post_code, "city": city,
                "country": country, "email": email, "phone": phone})

    def add_category(self, api_token: str, name: str) -> int:
        return self._add_named("category", self.account(api_token).categories, name)

    def add_warehouse(self, api_token: str, name: str) -> int:
        return self._add_named("warehouse", self.account(api_token).warehouses, name)

    def _add_named(self, record_type: str, records: dict[int, dict[str, Any]], name: str) -> int:
        with self._lock:
            record_id = self._new_id(record_type)
            records[record_id] = {"id": record_id, "name": name, "description": None}
            return record_id

    def _store_client(self, account: FakturowniaAccount, data: dict[str, Any]) -> int:
        client_id = self._new_id("client")
        account.clients[client_id] = {"id": client_id, **data}
        return client_id

    def _new_id(self, record_type: str) -> int:
        with self._lock:
            record_id = self._next_ids[record_type]
            self._next_ids[record_type] += 1
            return record_id

    def _stamp(self) -> str:
        """Local time with offset and milliseconds, strictly increasing (updated_at must move)."""
        with self._lock:
            now = datetime.now().astimezone()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(milliseconds=1)
            self._last_stamp = now
            return now.isoformat(timespec="milliseconds")

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        return json_response(status, {"code": "error", "message": message})

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # ASSUMPTION: the real API documents no limit; HTTP 429 with Retry-After in seconds.
        return json_response(429, {"code": "error", "message": "Rate limit exceeded"},
                             {"Retry-After": str(retry_after)})

    def rate_limit_key(self, request: Request) -> Any:
        """ASSUMPTION: limited per API token (requests without one: per client IP)."""
        tokens = self._token_candidates(request)
        return tokens[0] if tokens else f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        account = self._authenticate(request)
        return account.prefix if account else None

    # ----------------------------------------------------------------- auth

    @staticmethod
    def _token_candidates(request: Request) -> list[str]:
        """Documented forms: Bearer header, ?api_token=, or "api_token" next to "invoice" in a
        JSON body of POST/PUT. A malformed header counts as a wrong token."""
        tokens = []
        header = request.headers.get("authorization")
        if header is not None:
            match = re.fullmatch(r"Bearer +(\S+)", header.strip())
            tokens.append(match.group(1) if match else "")
        if "api_token" in request.query:
            tokens.append(request.query["api_token"])
        body = request.json if request.method in ("POST", "PUT") else None
        if isinstance(body, dict) and "api_token" in body:
            token = body["api_token"]
            tokens.append(token if isinstance(token, str) else "")
        return tokens

    def _authenticate(self, request: Request) -> FakturowniaAccount | None:
        # ASSUMPTION: when several forms are sent, all must name the same account.
        accounts = {self._accounts.get(token) for token in self._token_candidates(request)}
        if len(accounts) != 1 or None in accounts:
            return None
        return accounts.pop()

    def _require_account(self, request: Request) -> FakturowniaAccount:
        account = self._authenticate(request)
        if account is None:
            raise HttpError(json_response(401, UNAUTHORIZED))
        return account

    @staticmethod
    def _invoice_body(request: Request, allowed_keys: frozenset[str]) -> tuple[dict[str, Any], FieldErrors]:
        """The body of POST/PUT, ``{"invoice": {...}}`` sent as application/json, and the errors of
        its top-level keys (reported together with the invoice's own errors)."""
        if not request.is_json:
            # ASSUMPTION: the docs require Content-Type: application/json but do not say what a
            # wrong one gets; 415 with an error body in the usual shape.
            raise HttpError(json_response(415, {
                "code": "error", "message": "Unsupported Media Type: send Content-Type: application/json"}))
        if request.json_error is not None or not isinstance(request.json, dict):
            # ASSUMPTION: unparsable JSON (or not an object) is a 400 in the usual shape.
            raise HttpError(json_response(400, {"code": "error",
                                                "message": "Bad Request: invalid JSON body"}))
        errors = FieldErrors()
        for key in sorted(request.json.keys() - allowed_keys):
            errors.add(key, UNKNOWN_FIELD)
        if not isinstance(request.json.get("invoice"), dict):
            errors.add("invoice", BLANK if request.json.get("invoice") is None else INVALID)
        for key in ("gov_save_and_send", "identify_oss", "fill_default_descriptions"):
            if key in request.json:
                try:
                    parse_boolish(request.json[key])
                except ValueError:
                    errors.add(key, INVALID)
        if "invoice" in errors:
            raise HttpError(_unprocessable(errors))  # nothing to validate further
        return request.json, errors

    # ----------------------------------------------------------------- invoices: create and edit

    @route("POST", r"/invoices\.json")
    def create_invoice(self, request: Request) -> Response:
        account = self._require_account(request)
        body, errors = self._invoice_body(request, CREATE_TOP_LEVEL_KEYS)
        source = copy.deepcopy(body["invoice"])
        errors.merge(_field_name_errors(source, POSITION_FIELDS))
        with self._lock:
            builder = _InvoiceBuilder(account, source, today=self.today(), existing=None, errors=errors,
                                      client_card_wins="client_id" in source)
            try:
                invoice, positions_source = builder.build()
            except _Rejected as rejected:
                return _unprocessable(rejected.errors)
            invoice["id"] = self._new_id("invoice")
            self._apply_top_level_flags(request, invoice)
            invoice["number"] = invoice.get("number") or self._next_number(account, invoice)
            invoice["token"] = secrets.token_hex(10)
            invoice["view_url"] = f"{self.base_url}/invoice/{invoice['token']}"
            invoice["created_at"] = invoice["updated_at"] = self._stamp()
            self._store(account, invoice, source, positions_source)
            self._move_stock(account, invoice)
            # ASSUMPTION: 201 Created (the docs only show the body; clients should accept any 2xx).
            return json_response(201, _render_invoice(invoice, full_corrections=True))

    @route("PUT", r"/invoices/(?P<id>\d+)\.json")
    def update_invoice(self, request: Request) -> Response:
        """Documented edit: header fields replace; positions with "id" are edited (or removed with
        "_destroy": 1), positions without "id" are appended. Totals are recomputed."""
        account = self._require_account(request)
        body, errors = self._invoice_body(request, UPDATE_TOP_LEVEL_KEYS)
        patch = body["invoice"]
        errors.merge(_field_name_errors(patch, POSITION_UPDATE_FIELDS))
        with self._lock:
            existing = self._require_invoice(account, int(request.params["id"]))
            source = copy.deepcopy(account.sources[existing["id"]])
            for name, value in patch.items():
                if name == "positions":
                    source["positions"] = _merge_positions(source["positions"], value, errors)
                elif name == "number" and _is_blank(value):
                    continue  # ASSUMPTION: a null number on edit keeps the number it has
                else:
                    source[name] = copy.deepcopy(value)
            builder = _InvoiceBuilder(account, source, today=self.today(), existing=existing, errors=errors,
                                      client_card_wins="client_id" in patch)
            try:
                invoice, positions_source = builder.build()
            except _Rejected as rejected:
                return _unprocessable(rejected.errors)
            for name in ("id", "token", "view_url", "created_at"):
                invoice[name] = existing[name]
            self._apply_top_level_flags(request, invoice)
            invoice["number"] = invoice.get("number") or existing["number"]
            invoice["updated_at"] = self._stamp()
            # ASSUMPTION: editing an invoice does not move stock again.
            self._store(account, invoice, source, positions_source, replacing=existing)
            return json_response(200, _render_invoice(existing, full_corrections=True))

    def _store(self, account: FakturowniaAccount, invoice: dict[str, Any], source: dict[str, Any],
               positions_source: list[dict[str, Any]], *, replacing: dict[str, Any] | None = None) -> None:
        """Save a built invoice, and the source a later PUT rebuilds it from. Defaults chosen now
        (number, dates, the buyer taken from a client card) are frozen into that source."""
        self._link_client(account, invoice)
        for position, position_source in zip(invoice["positions"], positions_source, strict=True):
            position["id"] = position_source["id"] = position_source.get("id") or self._new_id("position")
        frozen = {**source, "positions": positions_source}
        for name in ("number", "kind", "issue_date", "sell_date", "client_id", *BUYER_FIELDS):
            if invoice.get(name) is not None:
                frozen[name] = invoice[name]
        account.sources[invoice["id"]] = frozen
        if replacing is None:
            account.invoices.append(invoice)
        else:
            replacing.clear()
            replacing.update(invoice)  # the same dict object: tests holding it see the edit

    def _apply_top_level_flags(self, request: Request, invoice: dict[str, Any]) -> None:
        body = request.json
        if _flag(body.get("identify_oss")) and invoice.get("use_oss") \
                and (invoice.get("buyer_country") or "PL") == (invoice.get("seller_country") or "PL"):
            invoice["use_oss"] = False  # documented: not marked OSS when the conditions fail
        account = self._require_account(request)
        auto = account.ksef_auto_send and invoice["id"] not in account.ksef_submissions
        if auto or _flag(body.get("gov_save_and_send")) or _flag(request.query.get("gov_save_and_send")):
            self._send_to_ksef(account, invoice)

    @staticmethod
    def _send_to_ksef(account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """Queue the document for KSeF, as right after a real send (documented statuses)."""
        if invoice["kind"] not in KSEF_KINDS:
            invoice["gov_status"] = "not_applicable"
        elif not account.ksef_connected:
            invoice["gov_status"] = "not_connected"
        else:
            invoice["gov_status"] = "processing"
            account.ksef_reads[invoice["id"]] = 0
            account.ksef_submissions[invoice["id"]] = account.ksef_submissions.get(invoice["id"], 0) + 1

    def _settle_ksef(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """A read of a document KSeF is processing: after enough reads, KSeF has answered."""
        if invoice.get("gov_status") != "processing":
            return
        reads = account.ksef_reads[invoice["id"]] = account.ksef_reads.get(invoice["id"], 0) + 1
        if reads < account.ksef_reads_until_final:
            return
        if account.ksef_rejects:
            invoice["gov_status"] = "send_error"
            invoice["gov_error_messages"] = ["Błąd weryfikacji semantyki dokumentu faktury"]  # ASSUMPTION: text
        else:
            number = ksef_number(str(invoice.get("seller_tax_no") or "5252445767"),
                                 date.fromisoformat(invoice["issue_date"]))
            invoice["gov_id"] = number if account.ksef_number_with_check else number.rsplit("-", 1)[0]
            invoice["gov_status"] = "ok"
            invoice["gov_send_date"] = invoice["issue_date"]

    def _next_number(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> str:
        issue = date.fromisoformat(invoice["issue_date"])
        department = account.departments.get(invoice.get("department_id"))
        key = (invoice["kind"], invoice.get("department_id"), issue.year, issue.month)
        taken = {inv["number"] for inv in account.invoices if inv["kind"] == invoice["kind"]}
        prefix = NUMBER_PREFIXES.get(invoice["kind"], invoice["kind"].upper())
        suffix = f"/{department['shortcut']}" if department else ""
        while True:  # skip numbers already taken by documents with an own number
            account.number_counters[key] = account.number_counters.get(key, 0) + 1
            number = f"{prefix} {account.number_counters[key]}/{issue.month:02d}/{issue.year}{suffix}"
            if number not in taken:
                return number

    def _link_client(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """Documented: without client_id the buyer is matched to a client card or a new one is made;
        client_id -1 always makes one; buyer_override updates the card."""
        card = {name.removeprefix("buyer_"): invoice.get(name)
                for name in BUYER_FIELDS if name != "buyer_tax_no_kind"}
        client_id = invoice.get("client_id")
        if client_id in account.clients:
            if invoice.get("buyer_override"):
                account.clients[client_id].update(card)
            return
        if client_id is None:
            # ASSUMPTION on the matching rule: same NIP, else same name and e-mail. (-1 never
            # matches: it always makes a new card.)
            client_id = next((client["id"] for client in account.clients.values()
                              if (card["tax_no"] and client["tax_no"] == card["tax_no"])
                              or (client["name"], client["email"]) == (card["name"], card["email"])), None)
        if client_id in (None, -1):
            client_id = self._store_client(account, card)
        invoice["client_id"] = client_id

    def _move_stock(self, account: FakturowniaAccount, invoice: dict[str, Any]) -> None:
        """ASSUMPTION: a stock-moving document takes its linked products' quantities off stock."""
        if invoice["kind"] not in STOCK_MOVING_KINDS or invoice.get("exclude_from_stock_level"):
            return
        for position in invoice["positions"]:
            product = account.products.get(position["product_id"])
            if product is not None and product["stock_level"] is not None:
                level = Decimal(product["stock_level"]) - Decimal(position["quantity"])
                product["stock_level"] = _format_quantity(level)
                product["updated_at"] = self._stamp()

    # ----------------------------------------------------------------- invoices: read

    @route("GET", r"/invoices/(?P<id>\d+)\.json")
    def get_invoice(self, request: Request) -> Response:
        account = self._require_account(request)
        with self._lock:
            invoice = self._require_invoice(account, int(request.params["id"]))
            if _flag(request.query.get("send_to_ksef")):  # documented: send an existing invoice
                self._send_to_ksef(account, invoice)
            else:
                self._settle_ksef(account, invoice)
            full = request.query.get("correction_positions") == "full"
            return json_response(200, _render_invoice(invoice, full_corrections=full))

    @route("GET", r"/invoices\.json")
    def list_invoices(self, request: Request) -> Response:
        account = self._require_account(request)
        query = request.query
        errors = FieldErrors()
        in_period = self._period_filter(query, errors)
        page, per_page = _pagination(query, errors)
        if errors:
            return _unprocessable(errors)
        kinds = set(request.query_lists.get("kinds[]", []))  # documented: kinds[]=vat&kinds[]=proforma
        if query.get("kind"):
            kinds.add(query["kind"])
        ids = {int(part) for part in query.get("invoice_ids", "").split(",") if part.strip().isdigit()}
        with self._lock:
            selected = [
                inv for inv in account.invoices
                if in_period(inv)
                # ASSUMPTION (community reports): ?oid= is not an exact match; a substring match
                # here makes clients compare the oid exactly themselves.
                and (not query.get("oid") or query["oid"] in (inv["oid"] or ""))
                and (not kinds or inv["kind"] in kinds)
                and (not query.get("number") or inv["number"] == query["number"])
                and (not ids or inv["id"] in ids)
                and (not query.get("client_id") or str(inv["client_id"]) == query["client_id"])
                and (not query.get("department_id") or str(inv["department_id"]) == query["department_id"])
            ]
            selected = _ordered(selected, query.get("order"))
            page_items = selected[(page - 1) * per_page: page * per_page]
            with_positions = query.get("include_positions") == "true"
            return json_response(200, [_render_invoice(inv, include_positions=with_positions)
                                       for inv in page_items])

    def _period_filter(self, query: dict[str, str], errors: FieldErrors) -> Callable[[dict], bool]:
        """Documented periods; the default is this_month. ASSUMPTION: judged on issue_date unless
        search_date_type says otherwise (documented default), relative to today."""
        period = query.get("period", "this_month")
        date_field = {"issue_date": "issue_date", "paid_date": "paid_date",
                      "transaction_date": "sell_date"}.get(query.get("search_date_type", "issue_date"))
        if period not in PERIODS:
            errors.add("period", INVALID)  # ASSUMPTION: unknown values refused, not ignored
        if date_field is None:
            errors.add("search_date_type", INVALID)
        if period == "all" or errors:
            return lambda invoice: True
        today = self.today()
        month_start = today.replace(day=1)
        last_month_end = month_start - timedelta(days=1)
        next_month_start = (month_start + timedelta(days=32)).replace(day=1)
        if period == "more":
            try:
                start, end = parse_date(query.get("date_from")), parse_date(query.get("date_to"))
            except ValueError:
                errors.add("date_from", INVALID)
                return lambda invoice: True
        else:
            start, end = {
                "this_month": (month_start, next_month_start - timedelta(days=1)),
                "last_month": (last_month_end.replace(day=1), last_month_end),
                "last_30_days": (today - timedelta(days=30), today),
                "last_12_months": (today - timedelta(days=365), today),
                "this_year": (date(today.year, 1, 1), date(today.year, 12, 31)),
                "last_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
            }[period]

        def in_period(invoice: dict[str, Any]) -> bool:
            value = invoice.get(date_field)
            if not value:
                return False
            day = date.fromisoformat(value if len(value) == 10 else f"{value}-01")
            return start <= day <= end

        return in_period

    # ----------------------------------------------------------------- PDF

    @route("GET", r"/invoices/(?P<id>\d+)\.pdf")
    def invoice_pdf(self, request: Request) -> Response:
        account = self._require_account(request)
        option = request.query.get("print_option", "original")
        if option not in PRINT_OPTIONS:
            # ASSUMPTION: an unknown print_option is refused rather than silently printed.
            return _unprocessable_field("print_option", INVALID)
        with self._lock:
            invoice = self._require_invoice(account, int(request.params["id"]))
            return self._pdf_response(account, invoice, option, inline=False)

    @route("GET", r"/invoice/(?P<token>[0-9A-Za-z_-]+)\.pdf")
    def public_invoice_pdf(self, request: Request) -> Response:
        """Documented public link: no credentials, so whoever has the token can read it."""
        with self._lock:
            account, invoice = self._invoice_by_token(request.params["token"])
            inline = request.query.get("inline") == "yes"
            return self._pdf_response(account, invoice, "original", inline=inline)

    @route("GET", r"/invoice/(?P<token>[0-9A-Za-z_-]+)")
    def public_invoice_view(self, request: Request) -> Response:
        with self._lock:
            _, invoice = self._invoice_by_token(request.params["token"])
            number, buyer = html.escape(invoice["number"]), html.escape(invoice["buyer_name"])
            page = (f"<!doctype html><title>{number}</title><h1>{number}</h1><p>{buyer}</p>"
                    f"<p>{invoice['price_gross']} {invoice['currency']}</p>"
                    f"<a href=\"/invoice/{invoice['token']}.pdf\">PDF</a>")
            return bytes_response(200, "text/html; charset=utf-8", page.encode("utf-8"))

    def _invoice_by_token(self, token: str) -> tuple[FakturowniaAccount, dict[str, Any]]:
        for account in self._accounts.values():
            for invoice in account.invoices:
                if secrets.compare_digest(invoice["token"], token):
                    return account, invoice
        raise HttpError(json_response(404, NOT_FOUND))

    def _pdf_response(self, account: FakturowniaAccount, invoice: dict[str, Any], option: str,
                      *, inline: bool) -> Response:
        filename = re.sub(r"[^0-9A-Za-z]+", "_", invoice["number"]).strip("_") + ".pdf"
        disposition = "inline" if inline else "attachment"
        return bytes_response(200, "application/pdf", _invoice_pdf(account, invoice, option),
                              {"Content-Disposition": f'{disposition}; filename="{filename}"'})

    # ----------------------------------------------------------------- catalogue

    @route("GET", r"/departments\.json")
    def list_departments(self, request: Request) -> Response:
        return self._list_records(request, "departments")

    @route("GET", r"/departments/(?P<id>\d+)\.json")
    def get_department(self, request: Request) -> Response:
        return self._get_record(request, "departments")

    @route("GET", r"/categories\.json")
    def list_categories(self, request: Request) -> Response:
        return self._list_records(request, "categories")

    @route("GET", r"/warehouses\.json")
    def list_warehouses(self, request: Request) -> Response:
        return self._list_records(request, "warehouses")

    @route("GET", r"/products\.json")
    def list_products(self, request: Request) -> Response:
        """Community clients look products up with ?search=<code> and pick the exact code themselves;
        ASSUMPTION: search is a case-insensitive substring of name, code or EAN."""
        search = request.query.get("search", "").lower()
        date_from = request.query.get("date_from")

        def wanted(product: dict[str, Any]) -> bool:
            haystack = " ".join(str(product[key] or "") for key in ("name", "code", "ean_code")).lower()
            return search in haystack and (not date_from or product["updated_at"][:10] >= date_from)

        return self._list_records(request, "products", wanted)

    @route("GET", r"/products/(?P<id>\d+)\.json")
    def get_product(self, request: Request) -> Response:
        return self._get_record(request, "products")

    def _list_records(self, request: Request, collection: str,
                      wanted: Callable[[dict[str, Any]], bool] = lambda record: True) -> Response:
        account = self._require_account(request)
        errors = FieldErrors()
        page, per_page = _pagination(request.query, errors)
        if errors:
            return _unprocessable(errors)
        with self._lock:
            records = [copy.deepcopy(record) for record in getattr(account, collection).values()
                       if wanted(record)]
        return json_response(200, records[(page - 1) * per_page: page * per_page])

    def _get_record(self, request: Request, collection: str) -> Response:
        account = self._require_account(request)
        with self._lock:
            record = getattr(account, collection).get(int(request.params["id"]))
            if record is None:
                return json_response(404, NOT_FOUND)
            return json_response(200, copy.deepcopy(record))

    @staticmethod
    def _require_invoice(account: FakturowniaAccount, invoice_id: int) -> dict[str, Any]:
        invoice = account.invoice(invoice_id)
        if invoice is None:  # documented 404, also for another account's invoice
            raise HttpError(json_response(404, NOT_FOUND))
        return invoice


# --------------------------------------------------------------------------- module helpers


def _flag(value: Any) -> bool:
    """A top-level switch such as gov_save_and_send: blank or unparsable means off."""
    try:
        return not _is_blank(value) and parse_boolish(value)
    except ValueError:
        return False


def _unprocessable(errors: FieldErrors) -> Response:
    """Documented 422 shape. ASSUMPTION: nested fields are keyed like "positions[0].tax"."""
    return json_response(422, {"code": "error", "message": errors.as_dict()})


def _unprocessable_field(name: str, message: str) -> Response:
    errors = FieldErrors()
    errors.add(name, message)
    return _unprocessable(errors)


def _field_name_errors(invoice: dict[str, Any], position_fields: frozenset[str]) -> FieldErrors:
    """Unknown keys of the invoice, its positions and their correction halves."""
    errors = FieldErrors()
    for name in sorted(invoice.keys() - INVOICE_FIELDS):
        errors.add(name, UNKNOWN_FIELD)
    positions = invoice.get("positions")
    if positions is not None and not isinstance(positions, list):
        errors.add("positions", INVALID)
        return errors
    for index, position in enumerate(positions or []):
        if not isinstance(position, dict):
            continue
        for name in sorted(position.keys() - position_fields):
            errors.add(f"positions[{index}].{name}", UNKNOWN_FIELD)
        for side in ("correction_before_attributes", "correction_after_attributes"):
            if isinstance(position.get(side), dict):
                for name in sorted(position[side].keys() - CORRECTION_SIDE_FIELDS):
                    errors.add(f"positions[{index}].{side}.{name}", UNKNOWN_FIELD)
    return errors


def _merge_positions(current: list[dict[str, Any]], changes: Any,
                     errors: FieldErrors) -> list[dict[str, Any]]:
    if not isinstance(changes, list):
        errors.add("positions", INVALID)
        return current
    merged = [dict(position) for position in current]
    for index, change in enumerate(changes):
        if not isinstance(change, dict):
            errors.add(f"positions[{index}]", INVALID)
            continue
        if "id" not in change:
            if "_destroy" in change:
                errors.add(f"positions[{index}].id", BLANK)
            merged.append(dict(change))
            continue
        target = next((position for position in merged if str(position.get("id")) == str(change["id"])), None)
        if target is None:
            errors.add(f"positions[{index}].id", MISSING_RECORD)
        elif change.get("_destroy") in (1, "1", True, "true"):
            merged.remove(target)
        else:
            target.update({key: value for key, value in change.items() if key not in ("id", "_destroy")})
    return merged


def _pagination(query: dict[str, str], errors: FieldErrors) -> tuple[int, int]:
    """Documented page (from 1) and per_page (max 100).

    ASSUMPTION: default per_page 25; above 100 is capped at 100; non-numbers are refused."""
    numbers = {}
    for name, default in (("page", 1), ("per_page", 25)):
        raw = query.get(name, str(default))
        if not raw.isdigit() or int(raw) < 1:
            errors.add(name, INVALID)
            numbers[name] = default
        else:
            numbers[name] = int(raw)
    return numbers["page"], min(numbers["per_page"], 100)


ORDER_FIELDS = frozenset({"number", "updated_at", "price_net", "price_gross", "price_tax", "issue_date",
                          "payment_to", "paid_date", "transaction_date", "buyer_name", "buyer_tax_no",
                          "seller_name", "oid"})


def _ordered(invoices: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
    """Documented order= values (append .desc). ASSUMPTION: default newest id first; unknown
    values fall back to the default."""
    name, _, direction = (order or "").partition(".")
    if name not in ORDER_FIELDS:
        return sorted(invoices, key=lambda inv: inv["id"], reverse=True)
    name = "sell_date" if name == "transaction_date" else name
    money = name.startswith("price_")

    def key(invoice: dict[str, Any]) -> tuple:
        value = invoice.get(name)
        if money:
            value = Decimal(value)
        return (value is None, value if value is not None else "", invoice["id"])

    return sorted(invoices, key=key, reverse=direction == "desc")


def _render_invoice(invoice: dict[str, Any], *, include_positions: bool = True,
                    full_corrections: bool = False) -> dict[str, Any]:
    """The JSON the API returns. Correction halves only with ?correction_positions=full (documented)."""
    rendered = copy.deepcopy(invoice)
    if not include_positions:
        rendered.pop("positions", None)
    elif not full_corrections:
        for position in rendered["positions"]:
            position.pop("correction_before_attributes", None)
            position.pop("correction_after_attributes", None)
    return rendered


def _invoice_pdf(account: FakturowniaAccount, invoice: dict[str, Any], print_option: str) -> bytes:
    currency = invoice["currency"]
    lines = [
        {"original": "ORYGINAL", "copy": "KOPIA", "original_and_copy": "ORYGINAL / KOPIA",
         "duplicate": "DUPLIKAT"}[print_option],
        f"Numer: {invoice['number']}",
        f"Data wystawienia: {invoice['issue_date']}   Data sprzedazy: {invoice['sell_date']}",
        f"Sprzedawca: {invoice.get('seller_name') or ''} NIP {invoice.get('seller_tax_no') or ''}",
        f"Nabywca: {invoice['buyer_name']} NIP {invoice.get('buyer_tax_no') or '-'}",
    ]
    if invoice["kind"] == "correction":
        original = account.invoice(invoice.get("invoice_id") or invoice.get("from_invoice_id"))
        lines.append(f"Korekta do: {original['number'] if original else '?'}; "
                     f"przyczyna: {invoice['correction_reason']}")
    lines.append("")
    for index, position in enumerate(invoice["positions"], start=1):
        lines.append(f"{index}. {position['name']} | {position['quantity']} {position['quantity_unit']}"
                     f" x {position['price_gross']} | VAT {position['tax']}"
                     f" | netto {position['total_price_net']}"
                     f" | brutto {position['total_price_gross']} {currency}")
    lines += [
        "",
        f"Razem netto: {invoice['price_net']} {currency}",
        f"VAT: {invoice['price_tax']} {currency}",
        f"Razem brutto: {invoice['price_gross']} {currency}",
        f"Status: {invoice['status']}   Termin platnosci: {invoice.get('payment_to') or '-'}",
    ]
    return render_pdf(f"{PDF_TITLES.get(invoice['kind'], 'Dokument')} {invoice['number']}", lines)
