"""The inFakt fake's HTTP endpoints: auth, per-method rate limits, async tasks, lists, KSeF, PDFs."""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.fakes.common import (
    FakeServer,
    FieldErrors,
    HttpError,
    RateLimiter,
    Request,
    Response,
    bytes_response,
    json_response,
    ksef_number,
    route,
)
from local.fakes.infakt.invoices import (
    _Builder,
    _document_pdf,
    _editable_source,
    _make_unpaid_draft,
    _vat_in_pln,
)
from local.fakes.infakt.vocabulary import (
    ALREADY_PAID,
    API,
    CREATE_STATUS_READINGS,
    KSEF_ALREADY_SENT,
    KSEF_DONE,
    KSEF_NOT_FOUND,
    KSEF_NOT_INTEGRATED,
    KSEF_SENT,
    NOT_A_DRAFT,
    NOT_FOUND,
    NOT_MODELLED,
    PAID_BEFORE_ISSUE,
    PDF_DOCUMENT_TYPES,
    PDF_LOCALES,
    PROCESSING,
    READ_LIMIT,
    SCOPE_READ,
    SCOPE_WRITE,
    UNAUTHORIZED,
    UUID,
    WRITE_LIMIT,
    InfaktAccount,
    Task,
    _date,
    _Invalid,
)


class _MethodLimiter(RateLimiter):
    """The documented pair of per-IP limits: GET and the other methods have separate windows.

    Keys are ("read" | "write", ip), so tests can read each peak on its own.
    """

    def __init__(self, read: tuple[int, float] | None, write: tuple[int, float] | None):
        super().__init__(None, 60.0)
        self._limiters = {"read": RateLimiter(*(read or (None, 60.0))),
                          "write": RateLimiter(*(write or (None, 60.0)))}

    def hit(self, key: Any) -> float | None:
        return self._limiters[key[0]].hit(key)

    def peak(self, key: Any) -> int:
        return self._limiters[key[0]].peak(key)

    def reset(self) -> None:
        for limiter in self._limiters.values():
            limiter.reset()


# --------------------------------------------------------------------------- the fake server


class InfaktFake(FakeServer):
    """Strict fake of inFakt API v3 for several accounts (API keys) on one local host."""

    def __init__(self, *, read_limit: tuple[int, float] | None = READ_LIMIT,
                 write_limit: tuple[int, float] | None = WRITE_LIMIT,
                 processing_polls: int = 1, processing_seconds: float = 0.5,
                 today: Callable[[], date] = date.today, create_status: str = "honoured"):
        """``processing_polls``: status reads answered "in progress" before a task is processed;
        ``processing_seconds``: after this long the background worker has processed it anyway;
        ``create_status``: "honoured" or "always_draft", the two readings of the docs (CREATE_STATUS_READINGS)."""
        super().__init__(rate_limit=None)
        if create_status not in CREATE_STATUS_READINGS:
            raise ValueError(f"create_status is one of {sorted(CREATE_STATUS_READINGS)}")
        self.create_status = create_status
        self.limiter = _MethodLimiter(read_limit, write_limit)
        self.processing_polls = processing_polls
        self.processing_seconds = processing_seconds
        self.today = today
        self._lock = threading.RLock()
        self._accounts: dict[str, InfaktAccount] = {}
        self._next_ids = {"invoice": 9001, "service": 70001, "exemption": 11, "client": 501}
        # ASSUMPTION: inFakt applies its own NBP rate; tests set what it "picks".
        self._exchange_rates: dict[str, tuple[Decimal, str]] = {"EUR": (Decimal("4.2400"), "223/A/NBP/2026")}

    # ----------------------------------------------------------------- seeding

    def add_account(self, api_key: str, *, scopes: frozenset[str] = frozenset({SCOPE_READ, SCOPE_WRITE}),
                    company: dict[str, str] | None = None) -> InfaktAccount:
        with self._lock:
            if api_key in self._accounts:
                raise ValueError("an account with this API key exists already")
            account = InfaktAccount(api_key=api_key, scopes=frozenset(scopes), company=company or {
                "name": "Sklep Herbaciany Sp. z o.o.", "nip": "5252445767", "street": "ul. Przykładowa 10",
                "postal_code": "00-001", "city": "Warszawa"})
            self._accounts[api_key] = account
            return account

    def account(self, api_key: str) -> InfaktAccount:
        return self._accounts[api_key]

    def add_vat_exemption(self, api_key: str, text: str, *, default: bool = False) -> int:
        with self._lock:
            exemption_id = self.new_id("exemption")
            account = self.account(api_key)
            account.vat_exemptions[exemption_id] = text
            if default:
                account.default_vat_exemption = exemption_id
            return exemption_id

    def add_bank_account(self, api_key: str, number: str, *, verified: bool = True, bank_name: str = "Bank") -> None:
        self.account(api_key).bank_accounts[number] = {"account_number": number, "bank_name": bank_name,
                                                       "verified": verified}

    def add_client(self, api_key: str, **client: Any) -> int:
        with self._lock:
            client_id = self.new_id("client")
            self.account(api_key).clients[client_id] = {"id": client_id, **client}
            return client_id

    def set_exchange_rate(self, currency: str, rate: str, table: str) -> None:
        self._exchange_rates[currency] = (Decimal(rate), table)

    def new_id(self, kind: str) -> int:
        with self._lock:
            value = self._next_ids[kind]
            self._next_ids[kind] += 1
            return value

    def exchange_rates_data(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """ASSUMPTION: the read-only block inFakt reports its own rate in (name seen in the docs on
        final invoices; shape not documented)."""
        if document["currency"] == "PLN":
            return None
        rate, table = self._exchange_rates.get(document["currency"], (Decimal("1.0000"), "?"))
        # VAT date rule: the last working day before the chosen date; the fake takes the day before.
        basis = document["invoice_date"] if document.get("vat_exchange_date_kind") == "pit" else document["sale_date"]
        return {"currency": document["currency"], "exchange_rate": f"{rate:f}",
                "exchange_date": (date.fromisoformat(basis) - timedelta(days=1)).isoformat(), "table_name": table,
                "vat_in_pln": _vat_in_pln(document["services"], rate)}

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        return json_response(status, {"error": message})

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # Documented status 429; ASSUMPTION: the body shape and a Retry-After header in seconds.
        return json_response(429, {"error": "Too Many Requests"}, {"Retry-After": str(retry_after)})

    def rate_limit_key(self, request: Request) -> Any:
        # Documented: per calling IP, GET counted apart from POST/PUT/DELETE.
        return ("read" if request.method == "GET" else "write", request.client_ip)

    def log_key(self, request: Request) -> str | None:
        account = self._accounts.get(request.headers.get("x-infakt-apikey", ""))
        return account.company["nip"] if account else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        handler = super()._handler_class()
        # Headers and body leave in separate writes; with Nagle's algorithm the body waits for the
        # client's delayed ACK (~40 ms per request), which made the tests slow, not more faithful.
        handler.disable_nagle_algorithm = True
        return handler

    # ----------------------------------------------------------------- auth and bodies

    def _require_account(self, request: Request, scope: str) -> InfaktAccount:
        """Documented: the key travels only in X-inFakt-ApiKey; 401 without auth or without the scope."""
        account = self._accounts.get(request.headers.get("x-infakt-apikey", ""))
        if account is None or scope not in account.scopes:
            raise HttpError(json_response(401, UNAUTHORIZED))
        return account

    @staticmethod
    def _body(request: Request, root: str) -> dict[str, Any]:
        """The JSON body's root object. Documented: JSON with Content-Type: application/json.

        ASSUMPTION: without it (or with an unparsable body or no root key) the answer is 400, the
        documented code for a bad parameter, as a Rails `params.require(root)` gives.
        """
        if not request.is_json or request.json_error is not None or not isinstance(request.json, dict):
            raise HttpError(json_response(400, {"error": f"param is missing or the value is empty: {root}"}))
        if not isinstance(request.json.get(root), dict):
            raise HttpError(json_response(400, {"error": f"param is missing or the value is empty: {root}"}))
        unknown = sorted(request.json.keys() - {root, "send_to_ksef"})
        if unknown:  # ASSUMPTION: refused rather than ignored, see UNKNOWN_FIELD
            raise HttpError(json_response(400, {"error": f"unknown parameter: {', '.join(unknown)}"}))
        if not isinstance(request.json.get("send_to_ksef", False), bool):  # ASSUMPTION: a boolean, else 400
            raise HttpError(json_response(400, {"error": "send_to_ksef must be true or false"}))
        return request.json

    # ----------------------------------------------------------------- async creation

    @route("POST", rf"{API}/async/invoices\.json")
    def create_invoice(self, request: Request) -> Response:
        return self._accept_task(request, "invoices", "invoice", correction=False)

    @route("POST", rf"{API}/async/corrective_invoices\.json")
    def create_corrective_invoice(self, request: Request) -> Response:
        return self._accept_task(request, "corrective_invoices", "corrective_invoice", correction=True)

    def _accept_task(self, request: Request, resource: str, root: str, *, correction: bool) -> Response:
        account = self._require_account(request, SCOPE_WRITE)
        body = self._body(request, root)
        with self._lock:
            builder = _Builder(self, account, copy.deepcopy(body[root]), correction=correction)
            document = builder.build()
            if document is not None and self.create_status == "always_draft":
                _make_unpaid_draft(document)
            task = self._new_task(account, resource, document=document,
                                  errors=None if document else builder.errors.as_dict())
            task.send_to_ksef = body.get("send_to_ksef") is True
        # I-DOC shows 202, I-PM examples 201: ASSUMPTION 201, clients must accept both.
        return json_response(201, self._task_json(task, 100))

    def _new_task(self, account: InfaktAccount, resource: str, **details: Any) -> Task:
        task = Task(reference=str(uuid.uuid4()), resource=resource, created_at=self._timestamp(),
                    ready_at=time.monotonic() + self.processing_seconds, polls_left=self.processing_polls,
                    **{"document": None, "errors": None, **details})
        account.tasks[task.reference] = task
        return task

    @route("POST", rf"{API}/async/invoices/(?P<uuid>{UUID})/paid\.json")
    def mark_invoice_paid(self, request: Request) -> Response:
        """Documented (readme "Oznaczenie jako zapłacona"): asynchronous, 201 = the task is accepted,
        not the invoice paid; optional `paid_date` (not before the issue date) and `allow_correction`,
        top-level (the collection does not wrap them: orafal-dev/infakt-sdk resources.generated.ts).
        The task reports `action: mark_as_paid` on the status endpoint. ASSUMPTION: paid_date defaults to
        today; marking a paid invoice again is refused; marking makes it "paid" with nothing left to pay.
        No such call is listed for corrective invoices."""
        account = self._require_account(request, SCOPE_WRITE)
        params = request.json if request.body.strip() else {}
        if request.body.strip() and (not request.is_json or not isinstance(params, dict)
                                     or set(params) - {"paid_date", "allow_correction"}):
            return json_response(400, {"error": "the parameters are paid_date and allow_correction"})
        with self._lock:
            self._settle_due(account)
            document = account.invoices.get(request.params["uuid"])
            if document is None:
                return json_response(404, NOT_FOUND)
            errors = FieldErrors()
            try:
                paid_date = _date(params.get("paid_date", self.today().isoformat()))
            except _Invalid as problem:
                errors.add("paid_date", problem.args[0])
                paid_date = None
            if paid_date is not None and paid_date < document["invoice_date"]:
                errors.add("paid_date", PAID_BEFORE_ISSUE)
            if document["status"] == "paid":
                errors.add("status", ALREADY_PAID)
            task = self._new_task(account, "invoices", action="mark_as_paid", invoice_uuid=document["uuid"],
                                  paid_date=paid_date, errors=errors.as_dict() if errors else None)
        return json_response(201, self._task_json(task, 100))

    @route("PUT", rf"{API}/invoices/(?P<uuid>{UUID})/mark_as_accounted\.json")
    def mark_as_accounted(self, request: Request) -> Response:
        """Documented (readme "Oznaczenie jako zaksięgowana"): "Uwzględnia fakturę w szkicu w
        księgowości", puts a draft into the accounts. ASSUMPTION: the document stays a draft (the
        words say a draft is accounted, not that it changes), the call answers 200 with the document,
        and a document that is no draft is refused with 422 (`account.accounted` records the drafts)."""
        account = self._require_account(request, SCOPE_WRITE)
        with self._lock:
            self._settle_due(account)
            document = account.invoices.get(request.params["uuid"])
            if document is None:
                return json_response(404, NOT_FOUND)
            if document["status"] != "draft":
                return json_response(422, {"errors": {"status": [NOT_A_DRAFT]}})
            account.accounted.add(document["uuid"])
            return json_response(200, copy.deepcopy(document))

    def _process(self, account: InfaktAccount, task: Task) -> None:
        """The background worker: store the document (numbering happens here, in task order), or mark
        an invoice paid."""
        if task.done:
            return
        task.done = True
        if task.errors is not None:
            return
        if task.action == "mark_as_paid":
            paid = account.invoices[str(task.invoice_uuid)]
            paid.update(status="paid", paid_date=task.paid_date, paid_price=paid["gross_price"], left_to_pay=0)
            return
        assert task.document is not None
        document = task.document
        store = account.corrections if task.resource == "corrective_invoices" else account.invoices
        document["id"] = self.new_id("invoice")
        document["uuid"] = task.invoice_uuid = str(uuid.uuid4())
        document["number"] = document["number"] or self._next_number(account, document)
        document["created_at"] = self._timestamp()
        document["ksef_data"] = None  # documented: null until the document is sent
        document.pop("check_duplicate_number", None)
        store[document["uuid"]] = document
        # ASSUMPTION: each trigger (the create's switch, the app's automation) is its own submission;
        # the docs do not say inFakt merges them, so a double submission shows in ksef_submissions.
        for _ in range(int(task.send_to_ksef) + int(account.ksef_auto_send)):
            if account.ksef_connected:
                self._submit_ksef(account, document)
            else:
                # ASSUMPTION: the create succeeds and the send fails the way the send endpoint says.
                document["ksef_data"] = self._ksef_data(None, "error", KSEF_NOT_INTEGRATED["error"], finished=True)

    def settle_tasks(self) -> None:
        """Test helper: the background worker catches up with every pending task."""
        with self._lock:
            for account in self._accounts.values():
                for task in account.tasks.values():
                    self._process(account, task)

    def _settle_due(self, account: InfaktAccount) -> None:
        now = time.monotonic()
        for task in account.tasks.values():
            if not task.done and now >= task.ready_at:
                self._process(account, task)

    @route("GET", rf"{API}/async/(?P<resource>invoices|corrective_invoices)/status/(?P<ref>[0-9a-f-]+)\.json")
    def task_status(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        with self._lock:
            self._settle_due(account)
            task = account.tasks.get(request.params["ref"])
            if task is None or task.resource != request.params["resource"]:
                return json_response(404, NOT_FOUND)  # a correction's task is unknown to invoices/...
            if not task.done:
                if task.polls_left > 0:
                    task.polls_left -= 1
                    return json_response(200, self._task_json(task, 120 if task.polls_left else 140))
                self._process(account, task)
            return json_response(200, self._task_json(task, 422 if task.errors is not None else 201))

    @staticmethod
    def _task_json(task: Task, code: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "invoice_task_reference_number": task.reference, "processing_code": code,
            "processing_description": PROCESSING[code], "timestamps": {"task_created_at": task.created_at},
        }
        if code in (201, 422):
            # Seen live for corrections: action + invoice_kind "corrective_invoice". ASSUMPTION:
            # "invoice" for a plain invoice; "mark_as_paid" is the facts file's reading of I-PM.
            body["action"] = task.action
            body["invoice_kind"] = "corrective_invoice" if task.resource == "corrective_invoices" else "invoice"
        if code == 201:
            body["invoice_uuid"] = task.invoice_uuid
        if code == 422:
            body["invoice_errors"] = task.errors
        return body

    def _next_number(self, account: InfaktAccount, document: dict[str, Any]) -> str:
        """Formats seen: 16/03/2023 (VAT), 3/KOR/07/2026 (correction); counted per kind and month."""
        issued = date.fromisoformat(document["invoice_date"])
        kind = document["kind"]
        key = (kind, issued.year, issued.month)
        store = account.corrections if kind == "correction" else account.invoices
        taken = {doc["number"] for doc in store.values()}
        infix = {"correction": "KOR/", "proforma": "PRO/"}.get(kind, "")
        while True:
            account.number_counters[key] = account.number_counters.get(key, 0) + 1
            number = f"{account.number_counters[key]}/{infix}{issued.month:02d}/{issued.year}"
            if number not in taken:
                return number

    @route("GET", rf"{API}/invoices/next_number\.json")
    def next_number(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        kind = request.query.get("kind", "vat")
        day = request.query.get("date", self.today().isoformat())
        with self._lock:
            probe = {"kind": kind, "invoice_date": day}
            counters = dict(account.number_counters)
            number = self._next_number(account, probe)
            account.number_counters = counters  # a preview takes no number
        return json_response(200, {"invoice_date": day, "invoice_kind": kind, "next_number": number})

    # ----------------------------------------------------------------- reading

    @route("GET", rf"{API}/(?P<resource>invoices|corrective_invoices)\.json")
    def list_documents(self, request: Request) -> Response:
        """Documented filters q[field_eq|_cont|...], offset/limit (max 100), list envelope."""
        account = self._require_account(request, SCOPE_READ)
        filters = {key[2:-1]: value for key, value in request.query.items()
                   if key.startswith("q[") and key.endswith("]")}
        offset, limit = _page(request)
        with self._lock:
            self._settle_due(account)
            store = account.corrections if request.params["resource"] == "corrective_invoices" else account.invoices
            selected = [doc for doc in store.values() if all(_matches(doc, name, value)
                                                             for name, value in filters.items())]
            # Documented default order: invoice_date descending.
            selected.sort(key=lambda doc: (doc["invoice_date"], doc["id"]), reverse=True)
            for doc in selected[offset:offset + limit]:
                self._ksef_progress(account, doc)
            page = [copy.deepcopy(doc) for doc in selected[offset:offset + limit]]
        return json_response(200, {"metainfo": {"count": len(page), "total_count": len(selected),
                                                "next": None, "previous": None}, "entities": page})

    @route("GET", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})\.json")
    def show_document(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        with self._lock:
            self._settle_due(account)
            document = self._require_document(account, request)
            self._ksef_progress(account, document)
            return json_response(200, copy.deepcopy(document))

    def _require_document(self, account: InfaktAccount, request: Request) -> dict[str, Any]:
        store = account.corrections if request.params["resource"] == "corrective_invoices" else account.invoices
        document = store.get(request.params["uuid"])
        if document is None:  # also a correction's uuid under invoices/ (seen live: 404)
            raise HttpError(json_response(404, NOT_FOUND))
        return document

    # ----------------------------------------------------------------- editing

    @route("PUT", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})\.json")
    def update_document(self, request: Request) -> Response:
        """Documented: header fields replace; sending `services` DELETES every line and writes the
        new ones (no per-line edit). ASSUMPTION: answered synchronously, 200 with the document, and
        refused with 422 {"errors": {...}} (the sync error shape is not documented)."""
        account = self._require_account(request, SCOPE_WRITE)
        correction = request.params["resource"] == "corrective_invoices"
        root = "corrective_invoice" if correction else "invoice"
        patch = self._body(request, root)[root]
        with self._lock:
            existing = self._require_document(account, request)
            source = _editable_source(existing)
            source.update(copy.deepcopy(patch))
            if correction:
                source.setdefault("corrected_invoice_uuid", existing["corrected_invoice_uuid"])
            builder = _Builder(self, account, source, correction=correction)
            document = builder.build()
            if document is None:
                return json_response(422, {"errors": builder.errors.as_dict()})
            for name in ("id", "uuid", "created_at", "ksef_data"):
                document[name] = existing.get(name)
            document["number"] = document["number"] or existing["number"]
            document.pop("check_duplicate_number", None)
            existing.clear()
            existing.update(document)
            return json_response(200, copy.deepcopy(existing))

    # ----------------------------------------------------------------- KSeF

    @route("GET", rf"{API}/(?P<ns>ksef|ksef2)/integration\.json")
    def ksef_integration(self, request: Request) -> Response:
        """Documented: /ksef2/ needs api:invoices:read. ASSUMPTION: the same scope for the legacy /ksef/ read."""
        account = self._require_account(request, SCOPE_READ)
        return json_response(200, {"active": account.ksef_connected, "incomes_last_fetched_at": None,
                                   "costs_last_fetched_at": None})

    @route("POST", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})/send_to_ksef\.json")
    def send_document_to_ksef(self, request: Request) -> Response:
        """Documented per-resource send; an optional body {"inform_via_email": {...}} (not modelled: refused)."""
        account = self._require_account(request, SCOPE_WRITE)
        if request.body and (not request.is_json or not isinstance(request.json, dict)
                             or set(request.json) - {"inform_via_email"}):
            return json_response(400, {"error": "the only parameter is inform_via_email"})
        if request.body and request.json:
            return json_response(400, {"error": f"inform_via_email: {NOT_MODELLED}"})
        with self._lock:
            store = account.corrections if request.params["resource"] == "corrective_invoices" else account.invoices
            return self._send_ksef(account, store.get(request.params["uuid"]))

    @route("POST", rf"{API}/(?P<ns>ksef|ksef2)/documents/(?P<uuid>{UUID})/send\.json")
    def send_to_ksef_any(self, request: Request) -> Response:
        """Documented universal send: any income document by its uuid."""
        account = self._require_account(request, SCOPE_WRITE)
        with self._lock:
            return self._send_ksef(account, account.document(request.params["uuid"]))

    @route("GET", rf"{API}/(?P<ns>ksef|ksef2)/documents/(?P<uuid>{UUID})/status\.json")
    def ksef_document_status(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        with self._lock:
            self._settle_due(account)
            document = account.document(request.params["uuid"])
            if document is None or document.get("ksef_data") is None:
                return json_response(404, KSEF_NOT_FOUND)  # ASSUMPTION: never sent answers like unknown
            self._ksef_progress(account, document)
            return json_response(200, self._ksef_answer(document))

    def _send_ksef(self, account: InfaktAccount, document: dict[str, Any] | None) -> Response:
        if document is None:
            return json_response(404, KSEF_NOT_FOUND)
        if not account.ksef_connected:
            return json_response(422, KSEF_NOT_INTEGRATED)
        if (document.get("ksef_data") or {}).get("status") in ("sent", "success"):
            return json_response(422, KSEF_ALREADY_SENT)
        self._submit_ksef(account, document)
        return json_response(200, self._ksef_answer(document))

    def _submit_ksef(self, account: InfaktAccount, document: dict[str, Any]) -> None:
        account.ksef_submissions[document["uuid"]] = account.ksef_submissions.get(document["uuid"], 0) + 1
        account.ksef_reads_left[document["uuid"]] = account.ksef_reads_until_final
        document["ksef_data"] = self._ksef_data(str(uuid.uuid4()), "sent", KSEF_SENT)

    def _ksef_progress(self, account: InfaktAccount, document: dict[str, Any]) -> None:
        """KSeF answers asynchronously: a submission stays "sent" for the account's number of reads."""
        data = document.get("ksef_data")
        if not data or data["status"] != "sent":
            return
        left = account.ksef_reads_left.get(document["uuid"], 0)
        if left > 0:
            account.ksef_reads_left[document["uuid"]] = left - 1
            return
        if account.ksef_rejects:
            document["ksef_data"] = self._ksef_data(data["request_uuid"], "error", account.ksef_rejects,
                                                    finished=True, created=data["timestamps"]["request_created_at"])
            return
        number = ksef_number(account.company["nip"], date.fromisoformat(document["invoice_date"]))
        document["ksef_data"] = self._ksef_data(data["request_uuid"], "success", KSEF_DONE, ksef_number=number,
                                                finished=True, created=data["timestamps"]["request_created_at"])

    def _ksef_data(self, request_uuid: str | None, status: str, description: str, *, ksef_number: str | None = None,
                   finished: bool = False, created: str | None = None) -> dict[str, Any]:
        now = self._timestamp()
        return {"request_uuid": request_uuid, "ksef_number": ksef_number, "status": status,
                "status_description": description,
                "timestamps": {"request_created_at": created or now, "request_finished_at": now if finished else None}}

    @staticmethod
    def _ksef_answer(document: dict[str, Any]) -> dict[str, Any]:
        """The send and status endpoints: ksef_data plus invoice_uuid and invoice_kind (documented)."""
        kind = "corrective_invoice" if document.get("kind") == "correction" else "vat"
        return {"invoice_uuid": document["uuid"], "invoice_kind": kind, **copy.deepcopy(document["ksef_data"])}

    # ----------------------------------------------------------------- PDF

    @route("GET", rf"{API}/(?P<resource>invoices|corrective_invoices)/(?P<uuid>{UUID})/pdf\.json")
    def document_pdf(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        document_type = request.query.get("document_type")
        locale = request.query.get("locale", "pl")
        if document_type not in PDF_DOCUMENT_TYPES or locale not in PDF_LOCALES:
            # document_type is documented as required; ASSUMPTION: 400, the documented bad-parameter code.
            return json_response(400, {"error": "document_type is missing or invalid"})
        with self._lock:
            self._settle_due(account)
            document = self._require_document(account, request)
            if document["status"] == "draft":
                document["status"] = "printed"  # documented side effect: the draft enters the accounts
            pdf = _document_pdf(account, document, document_type)
        filename = re.sub(r"[^0-9A-Za-z]+", "_", document["number"]).strip("_") + ".pdf"
        return bytes_response(200, "application/pdf", pdf,
                              {"Content-Disposition": f'attachment; filename="{filename}"'})

    # ----------------------------------------------------------------- reference data

    @route("GET", rf"{API}/vat_exemptions\.json")
    def list_vat_exemptions(self, request: Request) -> Response:
        """Documented list (readme "Dane referencyjne"), paged like every list (offset, limit up to 100;
        a community client follows metainfo.next). ASSUMPTION: entity fields id, name (the legal basis
        text) and default; the docs give no example entity."""
        account = self._require_account(request, SCOPE_READ)
        offset, limit = _page(request)
        entities = [{"id": key, "name": text, "default": key == account.default_vat_exemption}
                    for key, text in sorted(account.vat_exemptions.items())]
        page = entities[offset:offset + limit]
        following = f"{API}/vat_exemptions.json?offset={offset + limit}&limit={limit}"
        return json_response(200, {"metainfo": {"count": len(page), "total_count": len(entities),
                                                "next": following if offset + limit < len(entities) else None,
                                                "previous": None}, "entities": page})

    @route("GET", rf"{API}/account/details\.json")
    def account_details(self, request: Request) -> Response:
        account = self._require_account(request, SCOPE_READ)
        return json_response(200, {"company_name": account.company["name"], "nip": account.company["nip"]})

    def _timestamp(self) -> str:
        return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")  # the docs' format


# --------------------------------------------------------------------------- module helpers


def _page(request: Request) -> tuple[int, int]:
    """The documented paging parameters (offset, limit up to 100). ASSUMPTION: a default page of 10."""
    try:
        offset = int(request.query.get("offset", "0"))
        limit = min(int(request.query.get("limit", "10")), 100)
    except ValueError:
        raise HttpError(json_response(400, {"error": "offset and limit must be numbers"})) from None
    return offset, limit


def _matches(document: dict[str, Any], condition: str, value: str) -> bool:
    """Documented ransack-style conditions (_eq, _cont, _gteq, _lteq) on a few fields.

    A condition on an unknown field is IGNORED, i.e. matches everything: a sandbox integration saw
    inFakt answer an unfiltered page for an unrecognised q[] key (openlinker #1926), so clients
    must compare the results themselves.
    """
    for suffix, test in (("_eq", lambda a, b: a == b), ("_cont", lambda a, b: b in a),
                         ("_gteq", lambda a, b: a >= b), ("_lteq", lambda a, b: a <= b)):
        if condition.endswith(suffix):
            name = condition.removesuffix(suffix)
            if name == "clean_client_nip":
                actual = re.sub(r"\D", "", str(document.get("client_tax_code") or ""))
            elif name in ("number", "invoice_date", "sale_date", "paid_date", "status", "currency"):
                actual = str(document.get(name) or "")
            else:
                return True
            return test(actual, value)
    return True
