"""The Oblio fake's HTTP server: OAuth tokens, documents, nomenclatures, SPV, PDFs and introspection."""

from __future__ import annotations

import hmac
import io
import json
import secrets
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count
from typing import Any

from ..common import (
    FakeServer,
    FieldErrors,
    Request,
    Response,
    bytes_response,
    json_response,
    parse_boolish,
    parse_bracket_params,
    parse_date,
    parse_decimal,
    render_pdf,
    route,
)
from .documents import (
    Collect,
    Company,
    Document,
    DocumentBuilder,
    Draft,
    Series,
    check_collect,
    read_json_object,
    text_of,
)
from .limits import DOCUMENT, OTHER, OblioRateLimits
from .vocabulary import (
    API,
    BAD_CLIENT,
    CANCELED_TEXT,
    DELETED_TEXT,
    DOCUMENT_TYPES,
    LIST_CLIENT_FILTERS,
    LIST_MAX_PER_PAGE,
    LIST_ORDER_BY,
    LIST_PARAMS,
    NOMENCLATURE_PAGE,
    NOMENCLATURE_PARAMS,
    RECEIPT_SERIES_TYPE,
    RESTORED_TEXT,
    SERVICE,
    SPV_ACCEPTED,
    SPV_ERRORS,
    SPV_NOT_SENT,
    SPV_PROCESSING,
    SPV_TEXTS,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    county_ok,
    fail,
    fail_fields,
    is_blank,
    is_romanian,
    normalize_cif,
    oblio_error,
    plain,
)

KINDS = "(?P<kind>invoice|proforma|notice)"
TOKEN_LIFETIME = 3600  # docs: "expires_in": "3600"
# docs: the nomenclature example's rates; ASSUMPTION: the 2025 Romanian rates (21 %, 11 %) and the
# 0 % names the official plugin (SDD) and Romanian practice ("Taxare inversa") use.
DEFAULT_VAT_RATES = (("Normala", 21, True), ("Redusa", 11, False), ("SDD", 0, False), ("SFDD", 0, False),
                     ("Taxare inversa", 0, False))


class OblioAccount:
    def __init__(self, email: str, secret: str):
        self.email, self.secret = email, secret
        self.companies: list[str] = []  # normalized CIFs
        self.tokens_issued = 0


class Token:
    def __init__(self, value: str, email: str, issued_at: float):
        self.value, self.email, self.issued_at = value, email, issued_at
        self.revoked = False


def _json_number(value: Decimal) -> int | float:
    """Oblio sends some numbers bare ("percent": 19, collects "value": 428.4): the wire format wants a
    JSON number, so a float here, at 4 decimals at most, only for the answer."""
    return int(value) if value == value.to_integral_value() else float(value)


def _flag(value: bool) -> str:
    return "1" if value else "0"  # docs list sample: "canceled": "0"


class OblioFake(FakeServer):
    """Strict fake of the Oblio REST API (www.oblio.eu/api) for several accounts on one local host.

    Switches for what the sources leave open (each an ASSUMPTION, see the module docstrings):
    ``burst_block`` (old docs' 3/s -> 10-minute block), ``windowed_limits`` (docs' 30/100 s for
    documents, 30/10 s for the rest), ``block_scope`` ("account" or "token"), ``rate_limit_status``
    (429), ``require_county`` and ``validate_cui`` (Romanian clients), ``idempotency_mismatch``
    ("replay" the first document or "reject" a different body), ``single_active_token`` (a new token
    revokes the older ones), ``token_numbers`` ("string" as the docs show, or "integer" as the go
    client also met), ``read_extras`` (GET /docs/invoice adds ``total`` and ``einvoice``, fields the
    go client reads but the docs do not show), ``spv_processing`` ("manual": :meth:`process_spv`
    settles submissions; "immediate": accepted at once) and ``stock_by_work_station`` (a line's
    management must be one of the document's workStation, or any management of the company).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, burst_block: bool = True,
                 windowed_limits: bool = True, block_scope: str = "account", rate_limit_status: int = 429,
                 require_county: bool = True, validate_cui: bool = True, idempotency_mismatch: str = "replay",
                 single_active_token: bool = False, token_numbers: str = "string", read_extras: bool = False,
                 spv_processing: str = "manual", stock_by_work_station: bool = True):
        super().__init__(rate_limit=None)
        if block_scope not in ("account", "token") or idempotency_mismatch not in ("replay", "reject") \
                or token_numbers not in ("string", "integer") or spv_processing not in ("manual", "immediate"):
            raise ValueError("unknown option value")
        self.clock = clock
        self.limiter = OblioRateLimits(clock, burst_block=burst_block, windows=windowed_limits)
        self.block_scope, self.rate_limit_status = block_scope, rate_limit_status
        self.require_county, self.validate_cui = require_county, validate_cui
        self.idempotency_mismatch, self.single_active_token = idempotency_mismatch, single_active_token
        self.token_numbers, self.read_extras, self.spv_processing = token_numbers, read_extras, spv_processing
        self.stock_by_work_station = stock_by_work_station
        self._lock = threading.RLock()
        self._accounts: dict[str, OblioAccount] = {}
        self._companies: dict[str, Company] = {}
        self._tokens: dict[str, Token] = {}
        self.token_requests = 0  # every POST /api/authorize/token, granted or not
        # itertools.count: next() is atomic, so ids stay unique across the server's threads
        self._ids = {"document": count(261747), "company": count(91467), "client": count(2960257),
                     "upload": count(4_100_000_001)}

    # ----------------------------------------------------------------- seeding and introspection

    def add_account(self, email: str, secret: str) -> OblioAccount:
        with self._lock:
            if email in self._accounts:
                raise ValueError("an account with this e-mail exists already")
            account = self._accounts[email] = OblioAccount(email, secret)
            return account

    def add_company(self, email: str, cif: str = "RO37311090", name: str = "OBLIO SOFTWARE SRL", *,
                    use_stock: bool = False, standard_series: bool = True, **settings: Any) -> Company:
        """A company of the account, with the default VAT rates, EN/FR languages, a EUR rate and
        (``standard_series``) the series FCT (Factura), PR (Proforma), AVZ (Aviz) and CH (Chitanta)."""
        with self._lock:
            key = normalize_cif(cif)
            if key in self._companies:
                raise ValueError("a company with this CIF exists already")
            company = Company(cif=cif, name=name, company_id=self._next("company"), use_stock=use_stock,
                              languages=[{"code": "EN", "name": "Engleza"}, {"code": "FR", "name": "Franceza"}],
                              exchange_rates={"EUR": Decimal("5.0900")}, **settings)
            self._companies[key] = company
            self._accounts[email].companies.append(key)
            self.set_vat_rates(cif, DEFAULT_VAT_RATES)
            if standard_series:
                for series_type, series_name in (("Factura", "FCT"), ("Proforma", "PR"), ("Aviz", "AVZ"),
                                                 (RECEIPT_SERIES_TYPE, "CH")):
                    self.add_series(cif, series_type, series_name, default=True)
            return company

    def company(self, cif: str) -> Company:
        return self._companies[normalize_cif(cif)]

    def add_series(self, cif: str, series_type: str, name: str, *, start: int = 1, next_number: int | None = None,
                   width: int = 4, default: bool = False) -> Series:
        series = Series(series_type, name, start, next_number or start, width, default)
        self.company(cif).series[(series_type, name)] = series
        return series

    def set_vat_rates(self, cif: str, rates: Iterable[tuple[str, int | str, bool]]) -> None:
        """Replace the company's VAT nomenclature: (name, percent, default) triples."""
        self.company(cif).vat_rates = [{"name": n, "percent": Decimal(str(p)), "default": d} for n, p, d in rates]

    def add_management(self, cif: str, management: str, work_station: str = "Sediu",
                       management_type: str = "Cantitativ Valorica") -> None:
        self.company(cif).managements.append(
            {"management": management, "workStation": work_station, "managementType": management_type})

    def add_product(self, cif: str, name: str, *, code: str = "", price: str = "0", vat_name: str = "Normala",
                    vat_percentage: int = 21, vat_included: bool = True, product_type: str = "Marfa",
                    measuring_unit: str = "buc", stock: dict[str, str | int] | None = None) -> dict[str, Any]:
        product = {"name": name, "code": code, "price": Decimal(price), "vatName": vat_name,
                   "vatPercentage": Decimal(vat_percentage), "vatIncluded": vat_included,
                   "productType": product_type, "measuringUnit": measuring_unit,
                   "stock": {management: Decimal(str(quantity)) for management, quantity in (stock or {}).items()}}
        self.company(cif).products.append(product)
        return product

    def set_exchange_rate(self, cif: str, currency: str, rate: str) -> None:
        """The rate in the company's settings (docs: exchangeRate's default), RON per unit."""
        self.company(cif).exchange_rates[currency] = Decimal(rate)

    def documents(self, cif: str, kind: str = "invoice") -> list[Document]:
        with self._lock:
            return [doc for doc in self.company(cif).documents.values() if doc.kind == kind]

    def document(self, cif: str, series_name: str, number: int, kind: str = "invoice") -> Document | None:
        return self.company(cif).find(kind, series_name, number)

    def stock(self, cif: str, management: str, product_name: str) -> Decimal:
        return self._catalogue_product(self.company(cif), product_name, "")["stock"].get(management, Decimal(0))

    def stock_of_code(self, cif: str, management: str, code: str) -> Decimal:
        """The quantity of the catalogue product with this code in the management."""
        return self._catalogue_product(self.company(cif), "", code)["stock"].get(management, Decimal(0))

    def tokens_issued(self, email: str) -> int:
        return self._accounts[email].tokens_issued

    def peak_rate(self, subject: str) -> int:
        """Most requests within one second by ``subject`` (the account e-mail; the token itself
        with ``block_scope="token"``)."""
        return self.limiter.peak(subject)

    def blocked_until(self, subject: str) -> float | None:
        return self.limiter.blocked_until(subject)

    def process_spv(self, *, accept: bool = True, message: str = "Factura are erori de validare ANAF") -> int:
        """ANAF's answer to every e-Factura in processing (code 0): accepted (1, with an idDownload) or
        refused (2, ``message``). Returns how many were settled."""
        settled = 0
        with self._lock:
            for company in self._companies.values():
                for document in company.documents.values():
                    if document.spv_code == SPV_PROCESSING:
                        self._settle_spv(document, accept, message)
                        settled += 1
        return settled

    def _next(self, kind: str) -> int:
        return next(self._ids[kind])

    def today(self) -> date:
        """ASSUMPTION: "ziua curenta" (issueDate's default) is the UTC date of the fake's clock."""
        return datetime.fromtimestamp(self.clock(), UTC).date()

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        return oblio_error(status, message)

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # ASSUMPTION: neither revision documents the refusal; status (429 unless configured) in
        # Oblio's error shape, without a Retry-After header (none is documented).
        return oblio_error(self.rate_limit_status, "Limita de cereri API a fost depasita")

    def rate_limit_key(self, request: Request) -> tuple[str, str] | None:
        if not request.path.startswith(f"{API}/") or request.path == f"{API}/authorize/token":
            return None
        token = self._tokens.get(self._bearer(request))
        if token is None:
            return None  # answered 401 by the handler, not counted
        creates = request.method == "POST" and request.path.removeprefix(f"{API}/docs/") in DOCUMENT_TYPES
        subject = token.email if self.block_scope == "account" else token.value
        return subject, DOCUMENT if creates else OTHER

    def log_key(self, request: Request) -> str | None:
        token = self._tokens.get(self._bearer(request))
        account = self._accounts.get(token.email) if token else None
        return account.companies[0] if account and account.companies else None

    # ----------------------------------------------------------------- auth and parameters

    @staticmethod
    def _bearer(request: Request) -> str:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""

    def _account(self, request: Request) -> OblioAccount:
        """docs: every call carries "Authorization: Bearer {access_token}"; 401 otherwise."""
        token = self._tokens.get(self._bearer(request))
        if token is None or token.revoked:
            raise fail(TOKEN_INVALID, 401)
        if self.clock() >= token.issued_at + TOKEN_LIFETIME:
            raise fail(TOKEN_EXPIRED, 401)
        return self._accounts[token.email]

    def _company(self, account: OblioAccount, cif: Any) -> Company:
        if is_blank(cif):
            raise fail("cif: este obligatoriu")
        key = normalize_cif(cif)
        if key not in account.companies:  # ASSUMPTION: 400 (docs: errors are 400 or 401)
            raise fail(f"Firma cu CIF-ul {cif} nu este asociata contului")
        return self._companies[key]

    @staticmethod
    def _query(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
        params = parse_bracket_params([(name, value) for name, values in request.query_lists.items()
                                       for value in values])
        _refuse_unknown(params, allowed)
        return params

    @staticmethod
    def _body_params(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
        """Form-urlencoded (docs' curl examples, the plugin) or JSON (PHP client) bodies."""
        if request.is_json:
            if request.json_error is not None or not isinstance(request.json, dict):
                raise fail("Corpul cererii trebuie sa fie un obiect JSON valid")
            params = request.json
        elif request.content_type in ("application/x-www-form-urlencoded", "") or not request.body:
            try:
                params = parse_bracket_params(request.body.decode("utf-8"))
            except UnicodeDecodeError:
                raise fail("Corpul cererii nu este UTF-8") from None
        else:
            raise fail(f"Content-Type nesuportat: {request.content_type}")
        _refuse_unknown(params, allowed)
        return params

    def _addressed(self, request: Request, kind: str, extra: frozenset[str] = frozenset(), *,
                   in_body: bool) -> tuple[Company, Document, dict[str, Any]]:
        """Auth, the parameters naming one document (cif, seriesName, number, plus ``extra``) and the
        document itself. Call it holding the lock."""
        account = self._account(request)
        allowed = frozenset({"cif", "seriesName", "number"}) | extra
        params = self._body_params(request, allowed) if in_body else self._query(request, allowed)
        company = self._company(account, params.get("cif"))
        return company, self._require_document(company, kind, params), params

    def _require_document(self, company: Company, kind: str, params: dict[str, Any]) -> Document:
        errors = FieldErrors()
        series_name = _param_text("seriesName", params.get("seriesName"))
        if not series_name:
            errors.add("seriesName", "este obligatoriu")
        number = _whole(errors, "number", params.get("number"), required=True)
        if errors:
            raise fail_fields(errors)
        document = company.find(kind, series_name, number)  # docs: number=55 finds "0055"
        if document is None:  # ASSUMPTION: 400 (docs: errors are 400 or 401)
            raise fail(f"Documentul {DOCUMENT_TYPES[kind]} {series_name} {number} nu exista")
        return document

    # ----------------------------------------------------------------- OAuth

    @route("POST", rf"{API}/authorize/token")
    def authorize(self, request: Request) -> Response:
        """docs: form fields client_id (login e-mail) and client_secret; the PHP client sends them
        as JSON with grant_type client_credentials. ASSUMPTION: both encodings accepted; grant_type
        other than client_credentials and parameters other than these (and OAuth's scope) refused."""
        with self._lock:
            self.token_requests += 1
        params = self._body_params(request, frozenset({"client_id", "client_secret", "grant_type", "scope"}))
        grant = params.get("grant_type")
        if not is_blank(grant) and grant != "client_credentials":
            raise fail("The grant type was not specified in the request or is unsupported")
        email = _param_text("client_id", params.get("client_id"))
        secret = _param_text("client_secret", params.get("client_secret"))
        account = self._accounts.get(email)
        if account is None or not secret or not hmac.compare_digest(secret, account.secret):
            raise fail(BAD_CLIENT)  # ASSUMPTION: 400, the OAuth library's invalid_client
        now = self.clock()
        with self._lock:
            if self.single_active_token:
                for token in self._tokens.values():
                    token.revoked = token.revoked or token.email == email
            token = Token(secrets.token_hex(20), email, now)
            self._tokens[token.value] = token
            account.tokens_issued += 1
        numbers = (lambda n: str(n)) if self.token_numbers == "string" else (lambda n: n)
        return json_response(200, {"access_token": token.value, "expires_in": numbers(TOKEN_LIFETIME),
                                   "token_type": "Bearer", "scope": "", "request_time": numbers(int(now))})

    # ----------------------------------------------------------------- nomenclatures

    @route("GET", rf"{API}/nomenclature/(?P<nomenclature>[a-z_]+)")
    def nomenclature(self, request: Request) -> Response:
        account = self._account(request)
        nomenclature = request.params["nomenclature"]
        if nomenclature not in NOMENCLATURE_PARAMS:
            raise fail(f"Nomenclator necunoscut: {nomenclature}")
        params = self._query(request, NOMENCLATURE_PARAMS[nomenclature])
        wanted = _param_text("name", params.get("name")).lower()
        with self._lock:
            if nomenclature == "companies":
                data = [self._company_entry(self._companies[key]) for key in account.companies]
                return _success([entry for entry in data if wanted in entry["company"].lower()])
            company = self._company(account, params.get("cif"))
            data = getattr(self, f"_nomenclature_{nomenclature}")(company, params)
        # `name` filters every nomenclature by its name (a warehouse's is "management")
        return _success([entry for entry in data
                         if wanted in str(entry.get("name", entry.get("management", ""))).lower()])

    @staticmethod
    def _company_entry(company: Company) -> dict[str, Any]:
        # docs: cif, company, userTypeAccess; go client testdata and the plugin: useStock.
        return {"cif": company.cif, "company": company.name, "userTypeAccess": company.user_type_access,
                "useStock": int(company.use_stock)}

    @staticmethod
    def _nomenclature_vat_rates(company: Company, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": rate["name"], "percent": _json_number(rate["percent"]), "default": rate["default"]}
                for rate in company.vat_rates]

    @staticmethod
    def _nomenclature_series(company: Company, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"type": series.type, "name": series.name, "start": series.text(series.start),
                 "next": series.text(series.next), "default": series.default} for series in company.series.values()]

    @staticmethod
    def _nomenclature_languages(company: Company, params: dict[str, Any]) -> list[dict[str, str]]:
        return list(company.languages)

    @staticmethod
    def _nomenclature_management(company: Company, params: dict[str, Any]) -> list[dict[str, str]]:
        # docs: "functioneaza doar daca sunt activate stocurile"; ASSUMPTION: an empty list otherwise.
        return list(company.managements) if company.use_stock else []

    def _nomenclature_clients(self, company: Company, params: dict[str, Any]) -> list[dict[str, Any]]:
        wanted_cif = normalize_cif(params["clientCif"]) if not is_blank(params.get("clientCif")) else None
        found = [self._client_entry(client) for client in company.clients
                 if wanted_cif is None or normalize_cif(client["cif"]) == wanted_cif]
        return _page(found, params)

    def _nomenclature_products(self, company: Company, params: dict[str, Any]) -> list[dict[str, Any]]:
        code, management = _param_text("code", params.get("code")), _param_text("management", params.get("management"))
        work_station = _param_text("workStation", params.get("workStation"))
        stations = {entry["management"]: entry["workStation"] for entry in company.managements}
        found = []
        for product in company.products:
            if code and product["code"] != code:
                continue
            common = {"name": product["name"], "code": product["code"], "description": "",
                      "measuringUnit": product["measuringUnit"], "productType": product["productType"]}
            pricing = {"price": f"{product['price']:.2f}", "currency": "RON", "vatName": product["vatName"],
                       "vatPercentage": _json_number(product["vatPercentage"]), "vatIncluded": product["vatIncluded"]}
            stocks = [(name, quantity) for name, quantity in product["stock"].items()
                      if (not management or name == management)
                      and (not work_station or stations.get(name) == work_station)]
            if product["productType"] == SERVICE or not company.use_stock or management:
                # docs: services, and every product when filtered by management, come flat
                if not management or stocks:
                    found.append({**common, **pricing})
            elif stocks:
                found.append({**common, "stock": [{"workStation": stations.get(name, "Sediu"), "management": name,
                                                   "quantity": _json_number(quantity), **pricing}
                                                  for name, quantity in stocks]})
        return _page(found, params)

    # ----------------------------------------------------------------- documents: create

    @route("POST", rf"{API}/docs/{KINDS}")
    def create_document(self, request: Request) -> Response:
        account = self._account(request)
        kind = request.params["kind"]
        body = read_json_object(request.body)
        with self._lock:
            company = self._company(account, body.get("cif"))
            raw_key = body.get("idempotencyKey")
            key = "" if isinstance(raw_key, (dict, list, bool)) else text_of(raw_key)  # a bad type: the builder says
            existing = company.documents.get(company.idempotency.get((kind, key), -1)) if key else None
            if existing is not None:
                # docs: the key is "pentru a evita dublarea". ASSUMPTION: the first document's answer
                # comes back (option "reject": unless the body differs, then 400).
                if self.idempotency_mismatch == "reject" and _canonical(body) != existing.created_body:
                    raise fail("idempotencyKey a fost folosit pentru un alt document")
                return _success(self._created(company, existing))
            draft = DocumentBuilder(company, kind, body, today=self.today(), require_county=self.require_county,
                                    validate_cui=self.validate_cui).build()
            document = self._issue(company, draft)
            document.created_body = _canonical(body)
            return _success(self._created(company, document))

    def _issue(self, company: Company, draft: Draft) -> Document:
        document, series = draft.document, draft.series
        number = draft.manual_number or series.next
        if company.find(document.kind, series.name, number) is not None:
            raise fail(f"Numarul {series.text(number)} exista deja in seria {series.name}")
        source = draft.source
        if source is not None and source.kind != "proforma":
            # ASSUMPTION: a notice already took the goods out; a storno gives back what its invoice took
            document.use_stock = False
        moves = self._stock_moves(company, document) if document.use_stock else []
        self._apply_stock(company, moves, -1)  # all checks passed: from here on nothing fails
        document.stock_taken = moves
        document.id, document.number, document.number_text = self._next("document"), number, series.text(number)
        document.link_token = secrets.token_hex(16)
        series.next = max(series.next, number + 1)
        if draft.collect is not None:
            document.collects.append(self._new_collect(company, document, draft.collect))
        if source is not None and source.kind == "invoice":
            source.reversed_by = document.id
            if draft.refund:  # docs: refund "Sterge incasarea asociata cu factura stornata"
                source.collects.clear()
            if source.stock_taken:  # ASSUMPTION: a storno brings back what the invoice took
                document.stock_taken = [(m, p, -q) for m, p, q in source.stock_taken]
                self._apply_stock(company, source.stock_taken, +1)
        company.documents[document.id] = document
        if document.idempotency_key:
            company.idempotency[(document.kind, document.idempotency_key)] = document.id
        self._remember_client(company, document.client)
        if draft.send_to_spv:
            self._submit_spv(company, document)
        return document

    def _catalogue_product(self, company: Company, name: str, code: str) -> dict[str, Any]:
        """ASSUMPTION (undocumented): a line names its catalogue product by `code` (BT-155) when it has
        one, else by its name; an unknown one is refused with this 400 (the wording is the fake's)."""
        for product in company.products:
            if (code and product["code"] == code) or (not code and product["name"] == name):
                return product
        raise fail(f"Produsul {name!r}{f' cu codul {code!r}' if code else ''} nu exista in gestiune")

    def _stock_moves(self, company: Company, document: Document) -> list[tuple[str, str, Decimal]]:
        """ASSUMPTION: a line with a management (or a product type other than a service) takes its
        quantity out of that management; missing management or stock is refused."""
        needed: dict[tuple[str, str], Decimal] = {}
        # ASSUMPTION (switch stock_by_work_station): a document sells from the managements of its own
        # workStation (docs: workStation "Punct de lucru ... valabil doar dupa activarea stocurilor",
        # each management belongs to one).
        known = {entry["management"] for entry in company.managements
                 if not self.stock_by_work_station or entry["workStation"] == document.texts["workStation"]}
        for position, line in enumerate(document.lines):
            if line.is_discount or line.product_type == SERVICE or not (line.management or line.product_type):
                continue
            if not line.management or line.management not in known:
                raise fail(f"products[{position}].management: gestiune lipsa sau necunoscuta")
            product = self._catalogue_product(company, line.name, line.code)
            key = (line.management, product["name"])
            needed[key] = needed.get(key, Decimal(0)) + line.quantity
        for (management, name), quantity in needed.items():
            available = self._catalogue_product(company, name, "")["stock"].get(management, Decimal(0))
            if quantity > available:
                raise fail(f"Stoc insuficient pentru {name!r} in gestiunea {management!r}: {available}")
        return [(management, name, quantity) for (management, name), quantity in needed.items()]

    def _apply_stock(self, company: Company, moves: list[tuple[str, str, Decimal]], sign: int) -> None:
        for management, name, quantity in moves:
            stock = self._catalogue_product(company, name, "")["stock"]
            stock[management] = stock.get(management, Decimal(0)) + sign * quantity

    def _new_collect(self, company: Company, document: Document, collect: dict[str, Any]) -> Collect:
        kind = text_of(collect["type"])
        if kind == RECEIPT_SERIES_TYPE:  # ASSUMPTION: a receipt's number is "<series> <number>"
            series = company.series[(RECEIPT_SERIES_TYPE, text_of(collect["seriesName"]))]
            number, series.next = f"{series.name} {series.text(series.next)}", series.next + 1
        else:
            number = text_of(collect["documentNumber"])
        value = collect.get("value")  # docs: default "totalul facturii" (here: what is left of it)
        return Collect(type=kind, number=number,
                       value=parse_decimal(value) if not is_blank(value) else document.total - document.collected_value,
                       issue_date=text_of(collect.get("issueDate")) or self.today().isoformat(),
                       mentions=text_of(collect.get("mentions")))

    def _remember_client(self, company: Company, client: dict[str, Any]) -> None:
        """ASSUMPTION: a new client joins the clients nomenclature (matched by CIF, else by name)."""
        for known in company.clients:
            if (client["cif"] and normalize_cif(known["cif"]) == normalize_cif(client["cif"])) \
                    or (not client["cif"] and known["name"] == client["name"]):
                client["clientId"] = known["clientId"]
                return
        client["clientId"] = str(self._next("client"))
        company.clients.append(dict(client))

    # ----------------------------------------------------------------- documents: read and list

    def _link(self, company: Company, document: Document) -> str:
        return f"{self.base_url}/utils/show_file/?ic={company.company_id}&id={document.id}&it={document.link_token}"

    def _created(self, company: Company, document: Document) -> dict[str, Any]:
        return {"seriesName": document.series_name, "number": document.number_text,
                "link": self._link(company, document)}

    def _identity(self, company: Company, document: Document) -> dict[str, Any]:
        return {"documentType": document.type_name, **self._created(company, document)}

    @staticmethod
    def _collects(document: Document) -> list[dict[str, Any]]:
        return [{"issueDate": collect.issue_date, "type": collect.type, "number": collect.number,
                 "value": _json_number(collect.value)} for collect in document.collects]

    @route("GET", rf"{API}/docs/{KINDS}")
    def get_document(self, request: Request) -> Response:
        with self._lock:
            company, document, _ = self._addressed(request, request.params["kind"], in_body=False)
            data = self._identity(company, document)
            if document.kind == "invoice":
                data["collects"] = self._collects(document)
            if self.read_extras:
                data["total"] = f"{document.total:.4f}"
                data["einvoice"] = self._link(company, document) + "&einvoice=1&api=1"
            return _success(data)

    @route("GET", rf"{API}/docs/{KINDS}/list")
    def list_documents(self, request: Request) -> Response:
        account = self._account(request)
        params = self._query(request, LIST_PARAMS)
        errors = FieldErrors()
        series_name = _param_text("seriesName", params.get("seriesName"))
        number, document_id = _whole(errors, "number", params.get("number")), _whole(errors, "id", params.get("id"))
        states = {name: _tristate(errors, name, params.get(name)) for name in ("draft", "canceled", "collected")}
        after, before = _day(errors, "issuedAfter", params.get("issuedAfter")), _day(errors, "issuedBefore",
                                                                                     params.get("issuedBefore"))
        client_filter = params.get("client") if not is_blank(params.get("client")) else {}
        if not isinstance(client_filter, dict) or set(client_filter) - LIST_CLIENT_FILTERS \
                or not all(isinstance(value, str) for value in client_filter.values()):
            errors.add("client", "filtrul accepta doar cif, email, phone, code")
            client_filter = {}
        order_by = _param_text("orderBy", params.get("orderBy")) or "id"
        # ASSUMPTION: newest first by default (the docs name no default order)
        order_dir = (_param_text("orderDir", params.get("orderDir")) or "DESC").upper()
        if order_by not in LIST_ORDER_BY:
            errors.add("orderBy", "trebuie sa fie id, issueDate sau number")
        if order_dir not in ("ASC", "DESC"):
            errors.add("orderDir", "trebuie sa fie ASC sau DESC")
        limit = _whole(errors, "limitPerPage", params.get("limitPerPage"), default=LIST_MAX_PER_PAGE)
        offset = _whole(errors, "offset", params.get("offset"), default=0)
        if limit is not None and not 1 <= limit <= LIST_MAX_PER_PAGE:  # ASSUMPTION: refused, not clamped
            errors.add("limitPerPage", f"maxim {LIST_MAX_PER_PAGE}")
        if offset is not None and offset < 0:
            errors.add("offset", "nu poate fi negativ")
        flags = {name: _flag_param(errors, name, params.get(name))
                 for name in ("withProducts", "withCollects", "withEinvoiceStatus")}
        if errors:
            raise fail_fields(errors)
        with self._lock:
            company = self._company(account, params.get("cif"))
            wanted_state = {"draft": lambda doc: False, "canceled": lambda doc: doc.canceled,
                            "collected": lambda doc: doc.collected}
            found = [
                doc for doc in company.documents.values()
                if doc.kind == request.params["kind"]
                and (not series_name or doc.series_name == series_name)
                and (number is None or doc.number == number) and (document_id is None or doc.id == document_id)
                and all(state in (None, -1) or wanted_state[name](doc) == bool(state) for name, state in states.items())
                and (after is None or doc.issue_date >= after) and (before is None or doc.issue_date <= before)
                and all(_client_matches(doc.client, name, value) for name, value in client_filter.items())
            ]
            sort_key = {"id": lambda doc: doc.id, "number": lambda doc: (doc.series_name, doc.number),
                        "issueDate": lambda doc: (doc.issue_date, doc.id)}[order_by]
            found.sort(key=sort_key, reverse=order_dir == "DESC")
            page = found[offset:offset + limit]
            return _success([self._list_entry(company, doc, **flags) for doc in page])

    def _list_entry(self, company: Company, document: Document, *, withProducts: bool, withCollects: bool,
                    withEinvoiceStatus: bool) -> dict[str, Any]:
        """docs list sample, field by field; "collected" from the go client's testdata."""
        entry: dict[str, Any] = {
            "id": str(document.id), "draft": "0", "canceled": _flag(document.canceled),
            "collected": _flag(document.collected), "seriesName": document.series_name,
            "number": document.number_text, "issueDate": document.issue_date.isoformat(),
            "dueDate": document.due_date.isoformat() if document.due_date else "",
            "precision": str(document.precision), "currency": document.currency,
            "exchangeRate": f"{document.exchange_rate or 0:.6f}", "total": f"{document.total:.4f}",
            **{name: document.texts[name] for name in ("issuerName", "issuerId", "noticeNumber", "deputyName",
                                                        "deputyIdentityCard", "deputyAuto", "mentions")},
            "useStock": _flag(document.use_stock), "indexUpload": document.index_upload,
            "idDownload": document.id_download, "type": document.type_name,
            "link": self._link(company, document) + "&preload=1",
            "einvoice": self._link(company, document) + "&einvoice=1&api=1",
            "client": self._client_entry(document.client),
        }
        if withEinvoiceStatus:
            entry["einvoiceStatus"] = self._spv_status(document)
        if withCollects:
            entry["collects"] = self._collects(document)
        if withProducts:  # ASSUMPTION: the shape is not documented; the create's names, as sent
            entry["products"] = [
                {"name": line.name, "code": line.code, "description": line.description,
                 "price": f"{line.price:.4f}", "quantity": f"{line.quantity:f}", "measuringUnit": line.measuring_unit,
                 "vatName": line.vat_name, "vatPercentage": _json_number(line.vat_percentage),
                 "vatIncluded": line.vat_included, "productType": line.product_type or "",
                 "management": line.management or ""} for line in document.lines]
        return entry

    @staticmethod
    def _client_entry(client: dict[str, Any]) -> dict[str, Any]:
        names = ("cif", "name", "rc", "code", "address", "state", "city", "country", "iban", "bank", "contact",
                 "phone", "email")
        return {"clientId": client.get("clientId", ""), **{name: client.get(name, "") for name in names},
                "vatPayer": _flag(client.get("vatPayer", False))}

    # ----------------------------------------------------------------- documents: change

    @route("PUT", rf"{API}/docs/{KINDS}/(?P<action>cancel|restore)")
    def cancel_or_restore(self, request: Request) -> Response:
        with self._lock:
            company, document, _ = self._addressed(request, request.params["kind"], in_body=True)
            if request.params["action"] == "cancel":
                if document.canceled:
                    raise fail("Documentul este deja anulat")
                self._refuse_after_spv(document, "anulata")
                document.canceled = True
                self._apply_stock(company, document.stock_taken, +1)
                self._release_reference(company, document)
                message = CANCELED_TEXT
            else:
                if not document.canceled:
                    raise fail("Documentul nu este anulat")
                source = self._reversed_source(company, document)
                if source is not None:  # a restored storno reverses its invoice again
                    if source.reversed_by is not None:
                        raise fail("Factura de referinta a fost stornata intre timp")
                    source.reversed_by = document.id
                self._apply_stock(company, document.stock_taken, -1)  # ASSUMPTION: taken again, unchecked
                document.canceled = False
                message = RESTORED_TEXT
            return json_response(200, {"status": 200, "statusMessage": message,
                                       "data": self._identity(company, document)})

    @route("DELETE", rf"{API}/docs/{KINDS}")
    def delete_document(self, request: Request) -> Response:
        kind = request.params["kind"]
        with self._lock:
            company, document, params = self._addressed(request, kind, frozenset({"deleteCollect", "idempotencyKey"}),
                                                        in_body=True)
            last = max(doc.number for doc in company.documents.values()
                       if (doc.kind, doc.series_name) == (kind, document.series_name))
            if document.number != last:  # docs: "doar pentru ultimul document din serie"
                raise fail("Doar ultimul document din serie poate fi sters")
            self._refuse_after_spv(document, "stearsa")
            if document.collects and not _flag_param(FieldErrors(), "deleteCollect", params.get("deleteCollect")):
                raise fail("Documentul are incasari; trimite deleteCollect=1")  # ASSUMPTION
            del company.documents[document.id]
            company.idempotency.pop((kind, document.idempotency_key or ""), None)  # ASSUMPTION: key freed
            self._apply_stock(company, document.stock_taken, +1)
            self._release_reference(company, document)
            series = company.series[(document.type_name, document.series_name)]
            series.next = document.number  # the number is given again (see OblioApi issue #11)
            return json_response(200, {"status": 200, "statusMessage": DELETED_TEXT,
                                       "data": {"documentType": document.type_name,
                                                "seriesName": document.series_name,
                                                "number": document.number_text}})

    @staticmethod
    def _refuse_after_spv(document: Document, what: str) -> None:
        # ASSUMPTION: an e-Factura in or past SPV is reversed with a storno, never canceled or deleted.
        if document.spv_code in (SPV_PROCESSING, SPV_ACCEPTED):
            raise fail(f"Factura a fost trimisa in SPV si nu poate fi {what}; emite o factura de stornare")

    @staticmethod
    def _reversed_source(company: Company, document: Document) -> Document | None:
        """The invoice a storno reverses (None for any other document)."""
        if document.reference is None or document.reference[0] != DOCUMENT_TYPES["invoice"]:
            return None
        return company.find("invoice", document.reference[1], document.reference[2])

    def _release_reference(self, company: Company, document: Document) -> None:
        """A canceled or deleted storno no longer reverses its invoice (ASSUMPTION)."""
        source = self._reversed_source(company, document)
        if source is not None and source.reversed_by == document.id:
            source.reversed_by = None

    @route("PUT", rf"{API}/docs/invoice/collect")
    def collect_invoice(self, request: Request) -> Response:
        with self._lock:
            company, document, params = self._addressed(request, "invoice", frozenset({"collect"}), in_body=True)
            collect = params.get("collect")
            errors = FieldErrors()
            if not isinstance(collect, dict) or not collect:
                errors.add("collect", "este obligatoriu")
            else:
                check_collect(errors, company, collect)
            if errors:
                raise fail_fields(errors)
            if document.canceled:
                raise fail("Factura este anulata")
            if document.collected:  # ASSUMPTION: refused once fully collected
                raise fail("Factura este deja incasata")
            document.collects.append(self._new_collect(company, document, collect))
            # docs: this answer's statusMessage is empty
            return json_response(200, {"status": 200, "statusMessage": "",
                                       "data": {**self._identity(company, document),
                                                "collects": self._collects(document)}})

    # ----------------------------------------------------------------- e-Factura (SPV)

    @staticmethod
    def _spv_status(document: Document) -> dict[str, Any]:
        return {"text": document.spv_text, "sent": document.spv_code in (SPV_PROCESSING, SPV_ACCEPTED),
                "code": document.spv_code}

    def _submit_spv(self, company: Company, document: Document) -> None:
        document.spv_submissions += 1
        if not company.spv_configured:  # docs list sample: "Neconfigurat", code -1
            document.spv_code, document.spv_text = SPV_NOT_SENT, SPV_TEXTS[SPV_NOT_SENT]
            return
        problems = _efactura_problems(document)
        if problems:  # docs: "2 = e-Factura are erori si nu a fost trimisa in SPV"
            document.spv_code, document.spv_text = SPV_ERRORS, "; ".join(problems)
            return
        document.spv_code, document.spv_text = SPV_PROCESSING, SPV_TEXTS[SPV_PROCESSING]
        document.index_upload = str(self._next("upload"))
        if self.spv_processing == "immediate":
            self._settle_spv(document, True, "")

    def _settle_spv(self, document: Document, accept: bool, message: str) -> None:
        if accept:
            document.spv_code, document.spv_text = SPV_ACCEPTED, SPV_TEXTS[SPV_ACCEPTED]
            document.id_download = str(self._next("upload"))
        else:
            document.spv_code, document.spv_text = SPV_ERRORS, message

    @route("POST", rf"{API}/docs/einvoice")
    def send_einvoice(self, request: Request) -> Response:
        with self._lock:
            company, document, _ = self._addressed(request, "invoice", in_body=True)
            if document.canceled:
                raise fail("Factura este anulata")
            if document.spv_code not in (SPV_PROCESSING, SPV_ACCEPTED):  # ASSUMPTION: never uploaded twice
                self._submit_spv(company, document)
            return _success(self._spv_status(document))

    @route("GET", rf"{API}/docs/einvoice")
    def download_einvoice_archive(self, request: Request) -> Response:
        with self._lock:
            company, document, _ = self._addressed(request, "invoice", in_body=False)
            if document.spv_code != SPV_ACCEPTED:  # ASSUMPTION: only an accepted e-Factura has one
                raise fail("Arhiva SPV nu este disponibila")
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as zipped:  # ASSUMPTION: ANAF's zip: the XML and its signature
                zipped.writestr(f"{document.index_upload}.xml", _einvoice_xml(company, document))
                zipped.writestr(f"semnatura_{document.index_upload}.xml", "<Signature/>")
            return bytes_response(200, "application/zip", archive.getvalue())

    # ----------------------------------------------------------------- the document link

    @route("GET", r"/utils/show_file/?")
    def show_file(self, request: Request) -> Response:
        """The `link` of every answer: no Authorization, the `it` token is the secret."""
        query = request.query
        with self._lock:
            for company in self._companies.values():
                document = company.documents.get(int(query["id"])) if query.get("id", "").isdigit() else None
                if document is not None and str(company.company_id) == query.get("ic") \
                        and hmac.compare_digest(document.link_token, query.get("it", "")):
                    if query.get("einvoice") == "1":
                        return bytes_response(200, "application/xml", _einvoice_xml(company, document).encode())
                    return bytes_response(200, "application/pdf", _document_pdf(company, document))
        return bytes_response(404, "text/html; charset=utf-8", b"<html><body>Fisierul nu exista</body></html>")


# --------------------------------------------------------------------------- helpers


def _success(data: Any) -> Response:
    return json_response(200, {"status": 200, "statusMessage": "Success", "data": data})


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, default=str)


def _param_text(name: str, value: Any) -> str:
    try:
        return text_of(value)
    except ValueError:
        raise fail(f"{name}: trebuie sa fie text") from None


def _refuse_unknown(params: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:  # ASSUMPTION: refused, like unknown document fields
        raise fail(f"Parametri necunoscuti: {', '.join(unknown)}")


def _page(entries: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    errors = FieldErrors()
    offset = _whole(errors, "offset", params.get("offset"), default=0)
    limit = _whole(errors, "limitPerPage", params.get("limitPerPage"), default=NOMENCLATURE_PAGE)
    if errors or offset < 0 or not 1 <= limit <= NOMENCLATURE_PAGE:
        raise fail(f"offset/limitPerPage invalide (maxim {NOMENCLATURE_PAGE})")
    return entries[offset:offset + limit]


def _whole(errors: FieldErrors, name: str, value: Any, *, default: int | None = None,
           required: bool = False) -> int | None:
    if is_blank(value):
        if required:
            errors.add(name, "este obligatoriu")
        return default
    try:
        number = parse_decimal(value)
        if number != number.to_integral_value():
            raise ValueError
        return int(number)
    except (ValueError, TypeError):
        errors.add(name, "trebuie sa fie numar intreg")
        return default


def _tristate(errors: FieldErrors, name: str, value: Any) -> int | None:
    """docs: -1 ignored, 0 no, 1 yes."""
    number = _whole(errors, name, value)
    if number not in (None, -1, 0, 1):
        errors.add(name, "poate fi -1, 0 sau 1")
        return None
    return number


def _flag_param(errors: FieldErrors, name: str, value: Any) -> bool:
    if is_blank(value):
        return False
    try:
        return parse_boolish(value)
    except ValueError:
        errors.add(name, "poate fi 0 sau 1")
        return False


def _day(errors: FieldErrors, name: str, value: Any) -> date | None:
    if is_blank(value):
        return None
    try:
        return parse_date(value)
    except ValueError:
        errors.add(name, "format AAAA-LL-ZZ")
        return None


def _client_matches(client: dict[str, Any], name: str, wanted: str) -> bool:
    if name == "cif":
        return normalize_cif(client.get("cif", "")) == normalize_cif(wanted)
    return client.get(name, "") == wanted


def _efactura_problems(document: Document) -> list[str]:
    """Some of the checks ANAF's RO_CIUS validation makes of a buyer address. ASSUMPTION: the fake
    reports them as code 2 instead of Oblio's own, unknown, wording."""
    client, problems = document.client, []
    if is_romanian(client.get("country")):
        if not client.get("state") or not county_ok(client["state"]):
            problems.append("Judetul cumparatorului lipseste sau nu este valid")
        if not client.get("city"):
            problems.append("Localitatea cumparatorului lipseste")
        elif plain(client.get("state", "")).endswith("BUCURESTI") and not plain(client["city"]).startswith("SECTOR"):
            # RO_CIUS: in Bucharest the city is SECTOR1..SECTOR6 (the plugin rewrites "S 1" this way)
            problems.append("Pentru Bucuresti localitatea trebuie sa fie SECTOR1-SECTOR6")
        if not client.get("address"):
            problems.append("Adresa cumparatorului lipseste")
    return problems


def _einvoice_xml(company: Company, document: Document) -> str:
    """ASSUMPTION: a minimal UBL invoice: enough for a test to find the number and the total."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:'
            f'xsd:Invoice-2"><ID>{document.series_name}{document.number_text}</ID>'
            f"<IssueDate>{document.issue_date.isoformat()}</IssueDate>"
            f"<DocumentCurrencyCode>{document.currency}</DocumentCurrencyCode>"
            f"<SupplierCIF>{company.cif}</SupplierCIF>"
            f'<PayableAmount currencyID="{document.currency}">{document.total:.2f}</PayableAmount></Invoice>')


def _document_pdf(company: Company, document: Document) -> bytes:
    decimals = document.precision
    lines = [f"Furnizor: {company.name} CIF {company.cif}",
             f"Client: {document.client.get('name', '')} CIF {document.client.get('cif', '')}",
             f"Data emiterii: {document.issue_date.isoformat()}  Moneda: {document.currency}"]
    if document.reference:
        lines.append("Document de referinta: {} {} {}".format(*document.reference))
    if document.canceled:
        lines.append("ANULATA")
    for line in document.lines:
        lines.append(f"{line.name}: {line.quantity:f} x {line.price:.{decimals}f} = {line.gross:.{decimals}f} "
                     f"(TVA {line.vat_name} {line.vat_percentage:f}%)")
    lines += [f"Total fara TVA: {document.net_total:.{decimals}f}", f"TVA: {document.vat_total:.{decimals}f}",
              f"Total: {document.total:.{decimals}f} {document.currency}"]
    return render_pdf(f"{document.type_name} {document.series_name} {document.number_text}", lines)
