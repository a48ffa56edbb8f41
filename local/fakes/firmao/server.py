"""FirmaoFake: the HTTP server, its seeding and introspection helpers (see the package docstring)."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from ..common import FakeServer, Request, Response, bytes_response, quantize_money, render_pdf, route
from .listing import ListRules, list_answer
from .model import (
    DEFAULT_SERIES_PATTERNS,
    DEFAULT_TEMPLATES,
    JSON_CONTENT_TYPE,
    NUMBERING_TYPES,
    PAYMENT_TYPES,
    PDF_TEMPLATES,
    QUANTITY_STEP,
    RATE_STEP,
    RATES_WITHOUT_VAT_WARNING,
    FirmaoAccount,
    FirmaoError,
    change_entry,
    check_keys,
    checked,
    create_entry,
    decimal_number,
    digits,
    firmao_json,
    invalid,
    json_list,
    non_empty_text,
    not_found,
    not_modelled,
    string_list,
    tax_number,
    text,
    timestamp,
)
from .transactions import CUSTOM_FIELD, Draft, Line, Settings, TransactionBuilder

# ASSUMPTION: Firmao documents no rate limit (source: a third-party Magento client, Techtor\Firmao FirmaoClient,
# paces one request per second and notes that fast requests get 429); 60 per 60 s per organisation is
# that pace, with room for a short burst. Configurable: FirmaoFake(rate_limit=(n, seconds) or None).
DEFAULT_RATE_LIMIT = (60, 60.0)
ORG = r"/(?P<org>[^/]+)/svc/v1"
ORG_IN_PATH = re.compile(r"/([^/]+)/svc/v1(?:/|$)")
# README §2d: the customer example's keys (customFields.customN aside).
CUSTOMER_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": non_empty_text, "label": non_empty_text, "nipNumber": tax_number, "emails": string_list,
    "phones": string_list, "customerGroups": json_list, "tags": json_list, "employeesNumber": decimal_number(0),
    **{f"{address}.{part}": text for address in ("officeAddress", "correspondenceAddress")
       for part in ("city", "country", "county", "postCode", "street")},
    **dict.fromkeys(("bankAccountNumber", "customerType", "description", "faxNumber", "ownership", "status",
                     "voivodeship", "website"), text),
}
PDF_TITLES = {"INVOICE": "Faktura VAT", "RECEIPT": "Paragon", "CORRECTION": "Faktura korygujaca"}
SWITCHES = {"totals": ("refuse", "recompute"), "vat_totals": ("per_line", "per_rate"),
            "gross_price_field": ("unitBruttoPrice", "unitNettoPrice"), "correction_lines": ("all", "changed"),
            "undocumented_filters": ("honour", "ignore")}


class FirmaoFake(FakeServer):
    """Strict fake of the Firmao API at /{organisation}/svc/v1/..., one account per organisation."""

    def __init__(self, *, rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT, totals: str = "refuse",
                 vat_totals: str = "per_line", gross_price_field: str = "unitBruttoPrice",
                 correction_lines: str = "all", undocumented_filters: str = "honour",
                 single_transaction_get: bool = True, total_size_unknown: bool = False,
                 string_object_ids: bool = False, max_limit: int = 100,
                 payment_types: frozenset[str] = PAYMENT_TYPES, today: Callable[[], date] = date.today):
        super().__init__(rate_limit=rate_limit)
        chosen = {"totals": totals, "vat_totals": vat_totals, "gross_price_field": gross_price_field,
                  "correction_lines": correction_lines, "undocumented_filters": undocumented_filters}
        for name, value in chosen.items():
            if value not in SWITCHES[name]:
                raise ValueError(f"{name} must be one of {SWITCHES[name]}, not {value!r}")
        self.settings = Settings(totals, vat_totals, gross_price_field, correction_lines, frozenset(payment_types))
        self.list_rules = ListRules(undocumented_filters == "honour", max_limit, total_size_unknown)
        # ASSUMPTION: GET /transactions/{id} exists (source: none; README §3-4 show only `id(eq)=` and
        # PUT /{xxx}/{id}). False answers 404 there, so an adapter can be tested reading by `id(eq)=` instead.
        self.single_transaction_get = single_transaction_get
        # README §2 prose shows "objectId":"50007" (a string), every example a number: both readings.
        self.string_object_ids = string_object_ids
        self.today = today
        self._lock = threading.RLock()
        self._accounts: dict[str, FirmaoAccount] = {}
        self._next_ids = {"transaction": 50001, "entry": 50101, "customer": 101, "product": 1001}

    # ----------------------------------------------------------------- seeding

    def add_account(self, organisation: str, login: str, password: str, *, company: dict[str, str] | None = None,
                    api_enabled: bool = True, direct_stock_modification: bool = False) -> FirmaoAccount:
        """An organisation with its API user, numbering series 1, warehouse 1 and bank account 1 (the ids the
        README's examples use)."""
        with self._lock:
            if organisation in self._accounts:
                raise ValueError(f"organisation {organisation!r} exists already")
            account = FirmaoAccount(organisation, login, password, company or {
                "name": "Sklep Herbaciany Sp. z o.o.", "nip": "5252445767"},
                api_enabled=api_enabled, direct_stock_modification=direct_stock_modification)
            self._accounts[organisation] = account
            self.add_series(organisation, "Domyślna")
            self.add_warehouse(organisation, "Magazyn 1")
            account.bank_accounts[1] = "Konto główne"
            return account

    def account(self, organisation: str) -> FirmaoAccount:
        return self._accounts[organisation]

    def add_series(self, organisation: str, name: str, patterns: dict[str, str] | None = None) -> int:
        """A numbering series; `patterns` by numbering type ("invoice", "receipt", "correction", ...)."""
        account = self.account(organisation)
        with self._lock:
            series_id = len(account.series) + 1
            account.series[series_id] = {"id": series_id, "name": name,
                                         "patterns": dict(patterns or DEFAULT_SERIES_PATTERNS)}
            return series_id

    def add_warehouse(self, organisation: str, name: str) -> int:
        account = self.account(organisation)
        with self._lock:
            warehouse_id = len(account.warehouses) + 1
            account.warehouses[warehouse_id] = name
            return warehouse_id

    def add_product(self, organisation: str, code: str, name: str, *, net_price: str = "10.00", vat: int = 23,
                    unit: str = "szt.", stock: Any = None, warehouse: int = 1, product_id: int | None = None) -> int:
        account = self.account(organisation)
        with self._lock:
            product_id = self._new_id("product", account.products, product_id)
            net = Decimal(net_price)
            account.products[product_id] = {
                "id": product_id, "productCode": code, "name": name, "unit": unit, "vat": Decimal(vat),
                "netPrice": net, "grossPrice": quantize_money(net * (100 + vat) / 100), "saleable": True,
                "customFields": None, "creationDate": timestamp()}
            if stock is not None:
                account.stock[(product_id, warehouse)] = Decimal(stock)
            return product_id

    def add_customer(self, organisation: str, name: str, *, nip: str | None = None, label: str | None = None,
                     customer_id: int | None = None) -> int:
        account = self.account(organisation)
        with self._lock:
            return self._store_customer(account, {"name": name, "label": label or name, "nipNumber": nip},
                                        customer_id)["id"]

    # ----------------------------------------------------------------- introspection

    def transactions(self, organisation: str) -> list[dict[str, Any]]:
        """Stored documents (API representation) in creation order."""
        return list(self.account(organisation).transactions.values())

    def transaction_by_number(self, organisation: str, number: str) -> dict[str, Any] | None:
        return self.account(organisation).transaction_by_number(number)

    def entries(self, organisation: str, transaction_id: int) -> list[dict[str, Any]]:
        return self.account(organisation).entries_of(transaction_id)

    def stock(self, organisation: str, product_id: int, warehouse: int | None = None) -> Decimal:
        """A product's stock level: in one warehouse, or its currentStoreState (all warehouses)."""
        account = self.account(organisation)
        if warehouse is None:
            return account.stock_level(product_id)
        return account.stock.get((product_id, warehouse), Decimal(0))

    def _new_id(self, kind: str, taken: dict[int, Any], wanted: int | None = None) -> int:
        if wanted is not None:
            if wanted in taken:
                raise ValueError(f"{kind} id {wanted} is taken")
            return wanted
        while self._next_ids[kind] in taken:
            self._next_ids[kind] += 1
        self._next_ids[kind] += 1
        return self._next_ids[kind] - 1

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """ASSUMPTION: errors without a documented body (unknown path, injected faults) keep the README's
        shape with an errorCode made of the status phrase ("Service Unavailable" -> "serviceUnavailable")
        (source: README §8 gives the shape and the statuses, not these bodies)."""
        words = re.findall(r"[A-Za-z]+", message) or ["error"]
        code = words[0].lower() + "".join(word.capitalize() for word in words[1:])
        return firmao_json(status, {"errorCode": code})

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # ASSUMPTION: status 429 (seen by a third-party client), body and Retry-After header undocumented.
        return firmao_json(429, {"errorCode": "tooManyRequests"}, {"Retry-After": str(retry_after)})

    def rate_limit_key(self, request: Request) -> Any:
        """ASSUMPTION: per organisation (source: README §1, the API login belongs to the organisation)."""
        match = ORG_IN_PATH.match(request.path)
        return match[1] if match else f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        match = ORG_IN_PATH.match(request.path)
        return match[1] if match and match[1] in self._accounts else None

    # ----------------------------------------------------------------- auth and bodies

    def _account(self, request: Request) -> FirmaoAccount:
        """README §1: HTTP Basic with the API login and generated password of the organisation in the URL.
        ASSUMPTIONS (undocumented answers): an unknown organisation 404 {"errorCode":"organizationNotFound"};
        missing or wrong credentials 401 {"errorCode":"unauthorized"} with WWW-Authenticate; the API turned
        off in the organisation's settings 403 {"errorCode":"accessDenied"} (source: README §1 requires Basic
        auth, §8 lists 401 "wymaga autoryzacji", 403 "brak uprawnień", 404; the bodies are not shown)."""
        account = self._accounts.get(request.params["org"])
        if account is None:
            raise FirmaoError(404, "organizationNotFound")
        login, password = _basic_credentials(request.headers.get("authorization", ""))
        if not (hmac.compare_digest(login.encode(), account.login.encode())
                and hmac.compare_digest(password.encode(), account.password.encode())):
            raise FirmaoError(401, "unauthorized", headers={"WWW-Authenticate": 'Basic realm="Firmao"'})
        if not account.api_enabled:
            raise FirmaoError(403, "accessDenied")
        return account

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        """README §2: application/json; charset=UTF-8 (its PHP example writes "charset=UTF8").
        ASSUMPTION: another media type or charset 415 unsupportedMediaType, a body that is not a JSON
        object 400 invalidJson (source: README §2 names only the JSON type)."""
        charset = re.search(r";\s*charset=\"?([^\";]+)", request.headers.get("content-type", ""), re.IGNORECASE)
        if request.content_type != "application/json" or (charset and charset[1].lower() not in ("utf-8", "utf8")):
            raise FirmaoError(415, "unsupportedMediaType", info={"expected": JSON_CONTENT_TYPE})
        if request.json_error is not None or not isinstance(request.json, dict):
            raise FirmaoError(400, "invalidJson")
        return request.json

    def _list(self, request: Request, rows: list[dict[str, Any]], default_sort: tuple[str, str]) -> Response:
        # ASSUMPTION: MEDIUM or nothing (source: README §4, the only value its examples send).
        if request.query.get("dataFormat", "MEDIUM") != "MEDIUM":
            raise invalid("dataFormat", request.query["dataFormat"], "MEDIUM")
        return firmao_json(200, list_answer(rows, request.query, self.list_rules, default_sort))

    # ----------------------------------------------------------------- transactions

    @route("POST", ORG + r"/transactions")
    def create_transaction(self, request: Request) -> Response:
        account = self._account(request)
        body = self._json_body(request)
        with self._lock:
            draft = TransactionBuilder(account, body, self.settings, self.today()).build()
            changelog = self._store(account, draft)
        warning = any(line.rate not in RATES_WITHOUT_VAT_WARNING for line in draft.lines)
        if self.string_object_ids:
            changelog = [{**row, "objectId": str(row["objectId"])} for row in changelog]
        return firmao_json(201, {"changelog": changelog, "showCustomVatWarning": str(warning).lower()})

    def _store(self, account: FirmaoAccount, draft: Draft) -> list[dict[str, Any]]:
        """Store a validated draft; the changelog rows of the answer (README: the CREATE row of the
        transaction first, objectLabel "<number> - <customer>", then what else changed)."""
        values, now = draft.values, timestamp()
        changelog: list[dict[str, Any]] = []
        customer = draft.customer
        if draft.new_customer is not None:
            customer = self._store_customer(account, {**draft.new_customer, "label": draft.new_customer["name"]})
            changelog.append(create_entry("customer", customer["id"], customer["label"]))
        number = values.get("transactionNumber") or account.next_number(
            draft.series_id, NUMBERING_TYPES[draft.kind], date.fromisoformat(values["invoiceDate"]), take=True)
        transaction_id = self._new_id("transaction", account.transactions)
        buyer = customer["label"] if customer else values.get("customerName")
        # ASSUMPTION: the number alone without a buyer (source: README §2e shows "<number> - <customer>" only).
        label = f"{number} - {buyer}" if buyer else number
        changelog.insert(0, create_entry("transaction", transaction_id, label))
        document = _transaction_json(account, draft, transaction_id, number, customer, now)
        account.transactions[transaction_id] = document
        self._store_entries(account, draft, document)
        if customer is not None:  # README: the customer's transactionsCount changes with each transaction
            count = sum(1 for doc in account.transactions.values()
                        if (doc["customer"] or {}).get("id") == customer["id"])
            changelog.append(change_entry("customer", customer["id"], customer["label"], "transactionsCount",
                                          count - 1, count, "long"))
        for name, sent, computed in draft.recomputed:
            changelog.append(change_entry("transaction", transaction_id, label, name, sent, f"{computed:.2f}", "float"))
        changelog += self._move_stock(account, draft)
        return changelog

    def _store_entries(self, account: FirmaoAccount, draft: Draft, document: dict[str, Any]) -> None:
        ids = [self._new_id("entry", account.entries) for _ in draft.lines]
        before_ids = {line.values["recordId"]: entry_id for line, entry_id in zip(draft.lines, ids, strict=True)
                      if line.role == "before"}
        for line, entry_id in zip(draft.lines, ids, strict=True):
            invalidated = before_ids.get(line.values.get("invalidRecordId")) if line.role == "after" else None
            account.entries[entry_id] = _entry_json(line, entry_id, document, invalidated)
            state = {"product": line.product["id"] if line.product else line.text, "quantity": line.quantity,
                     "vatPercent": line.rate, "unitPrice": line.unit_price}
            if line.role == "plain":
                account.line_states[entry_id] = state
            elif line.role == "after":  # the corrected line's new state, for the next correction's "before"
                before = next(b for b in draft.lines if b.role == "before"
                              and b.values["recordId"] == line.values["invalidRecordId"])
                account.line_states[before.values["baseEntryId"]] = state

    def _move_stock(self, account: FirmaoAccount, draft: Draft) -> list[dict[str, Any]]:
        """ASSUMPTION (source: none, stock moves by transactions are undocumented): a sale invoice or receipt
        with storageStateUpdate AUTO_UPDATE takes each linked line's quantity off its product's stock in
        `warehouse` (default: warehouse 1), reported as the README's PUT reports a stock change; NO_UPDATE
        (the default in GET output) and corrections move nothing."""
        if draft.kind == "CORRECTION" or draft.values.get("storageStateUpdate", "NO_UPDATE") != "AUTO_UPDATE":
            return []
        warehouse = draft.values.get("warehouse", min(account.warehouses))
        rows = []
        for line in draft.lines:
            if line.product is None:
                continue
            key = (line.product["id"], warehouse)
            old = account.stock.get(key, Decimal(0))
            account.stock[key] = old - line.quantity
            rows.append(_stock_change(account, line.product, warehouse, old, account.stock[key]))
        return rows

    @route("GET", ORG + r"/transactions")
    def list_transactions(self, request: Request) -> Response:
        account = self._account(request)
        with self._lock:
            # README f): the answer without sort parameters says "sort":"transactionDate","dir":"DESC".
            return self._list(request, list(account.transactions.values()), ("transactionDate", "DESC"))

    @route("GET", ORG + r"/transactions/(?P<id>\d+)")
    def show_transaction(self, request: Request) -> Response:
        if not self.single_transaction_get:
            return self.error_response(request, 404, "Not Found")
        account = self._account(request)
        document = account.transactions.get(int(request.params["id"]))
        if document is None:
            raise not_found("id", request.params["id"], "transaction", status=404)
        return firmao_json(200, document)

    @route("GET", ORG + r"/transactionentries")
    def list_entries(self, request: Request) -> Response:
        account = self._account(request)
        with self._lock:
            return self._list(request, list(account.entries.values()), ("transaction", "ASC"))

    # ----------------------------------------------------------------- products and customers

    @route("GET", ORG + r"/products")
    def list_products(self, request: Request) -> Response:
        account = self._account(request)
        with self._lock:
            rows = [{**product, "currentStoreState": account.stock_level(product["id"])}
                    for product in account.products.values()]
            # ASSUMPTION: default order (source: none; the README's product example sends sort=name).
            return self._list(request, rows, ("id", "ASC"))

    @route("PUT", ORG + r"/products/(?P<id>\d+)")
    def update_product(self, request: Request) -> Response:
        """Documented (README §3a, §3c) edits only: `name`, and `currentStoreState` when the organisation
        allows direct stock changes. ASSUMPTIONS: without that setting 403; any other field is refused as
        not modelled; the level set is warehouse 1's (source: README §3c, its answer names subId 1)."""
        account = self._account(request)
        body = self._json_body(request)
        with self._lock:
            product = account.products.get(int(request.params["id"]))
            if product is None:
                raise not_found("id", request.params["id"], "product", status=404)
            for name in body:
                if name not in ("name", "currentStoreState"):
                    raise not_modelled(name, body[name])
            if not body:
                raise invalid("body", body, "the field to change")
            changelog = []
            if "name" in body:
                old, product["name"] = product["name"], checked("name", body["name"], non_empty_text)
                changelog.append(change_entry("product", product["id"], product["name"], "name", old,
                                              product["name"], "string"))
            if "currentStoreState" in body:
                if not account.direct_stock_modification:
                    raise FirmaoError(403, "directStoreStateModificationDisabled", field="currentStoreState")
                level = checked("currentStoreState", body["currentStoreState"], decimal_number(3))
                warehouse = min(account.warehouses)
                old = account.stock.get((product["id"], warehouse), Decimal(0))
                account.stock[(product["id"], warehouse)] = level
                changelog.append(_stock_change(account, product, warehouse, old, level))
        return firmao_json(200, {"changelog": changelog})

    @route("GET", ORG + r"/customers")
    def list_customers(self, request: Request) -> Response:
        account = self._account(request)
        with self._lock:
            # README d): the answer shows "sort":"id","dir":"DESC".
            return self._list(request, list(account.customers.values()), ("id", "DESC"))

    @route("POST", ORG + r"/customers")
    def create_customer(self, request: Request) -> Response:
        """README §2d. Documented: a repeated nipNumber (or "identyfikator", ASSUMPTION: the label) answers
        409 duplicateValueFoundException. ASSUMPTION: `name` is required, `label` defaults to it (source:
        README §2d example sends both; required fields are not listed)."""
        account = self._account(request)
        body = self._json_body(request)
        check_keys(body, lambda name: name in CUSTOMER_CHECKS or CUSTOM_FIELD.fullmatch(name) is not None,
                   frozenset({"id", "permission", "permissions"}), "")
        values = {name: checked(name, raw, CUSTOMER_CHECKS.get(name, text))
                  for name, raw in body.items() if raw is not None}
        if "name" not in values:
            raise FirmaoError(400, "fieldRequired", field="name")
        values.setdefault("label", values["name"])
        with self._lock:
            for name, same in (("nipNumber", lambda c: values.get("nipNumber") and digits(c["nipNumber"])
                                == digits(values["nipNumber"])), ("label", lambda c: c["label"] == values["label"])):
                clash = next((c for c in account.customers.values() if same(c)), None)
                if clash is not None:
                    return firmao_json(409, {"errorCode": "duplicateValueFoundException", "objectName": "customer",
                                             "fieldName": name, "duplicateValues": [
                                                 {"lineNumber": -1, "objectId": clash["id"], "value": values[name]}]})
            customer = self._store_customer(account, values)
        return firmao_json(201, {"changelog": [create_entry("customer", customer["id"], customer["label"])]})

    def _store_customer(self, account: FirmaoAccount, values: dict[str, Any], customer_id: int | None = None) -> dict:
        customer_id = self._new_id("customer", account.customers, customer_id)
        customer = {"id": customer_id, "name": values["name"], "label": values["label"],
                    "nipNumber": values.get("nipNumber"), "emails": values.get("emails", []),
                    "phones": values.get("phones", []), "customerType": values.get("customerType"),
                    "officeAddress": _nested(values, "officeAddress"),
                    "correspondenceAddress": _nested(values, "correspondenceAddress"),
                    "customFields": _custom_fields(values), "creationDate": timestamp()}
        account.customers[customer_id] = customer
        return customer

    # ----------------------------------------------------------------- numbering series

    @route("GET", ORG + r"/invoicenumbers")
    def list_series(self, request: Request) -> Response:
        """README §4o: ids, names and number templates per document type. ASSUMPTION: the shape
        {"id", "name", "patterns": {numbering type: template}} (source: none, the README shows no answer)."""
        account = self._account(request)
        return self._list(request, [dict(series) for series in account.series.values()], ("id", "ASC"))

    @route("GET", ORG + r"/invoicenumbers/next")
    def next_number(self, request: Request) -> Response:
        """README §4o: ?objectClass=transaction&type=invoice|receipt|correction|...&mode=SALE&id={series}.
        ASSUMPTIONS: answered {"number": "..."} for today; nothing is used up; other object classes and
        PURCHASE are not modelled (source: README §4o shows the request only)."""
        account = self._account(request)
        query = request.query
        for name in ("objectClass", "type", "mode", "id"):
            if name not in query:
                raise FirmaoError(400, "fieldRequired", field=name)
        if query["objectClass"] != "transaction" or query["mode"] != "SALE":
            raise not_modelled("objectClass" if query["objectClass"] != "transaction" else "mode",
                               f"{query['objectClass']}/{query['mode']}")
        series = account.series.get(int(query["id"])) if query["id"].isdigit() else None
        if series is None:
            raise not_found("id", query["id"], "invoicenumber")
        if query["type"] not in series["patterns"]:
            raise invalid("type", query["type"], f"one of {sorted(series['patterns'])}")
        with self._lock:
            number = account.next_number(series["id"], query["type"], self.today(), take=False)
        return firmao_json(200, {"number": number})

    # ----------------------------------------------------------------- PDF

    @route("GET", ORG + r"/reports/invoices/transaction/(?P<template>[^/]+)/(?P<file>[^/]+)\.pdf")
    def transaction_pdf(self, request: Request) -> Response:
        """README §7a: .../reports/invoices/transaction/{template}/{file name}.pdf?original=true&id=1.
        ASSUMPTIONS: an unknown template 404 reportNotFound; a missing/unknown id 400/404; original=false
        prints a copy; the file name becomes the Content-Disposition name (source: README §7a shows the URL
        and says the file name is the generated file's name)."""
        account = self._account(request)
        if request.params["template"] not in PDF_TEMPLATES:
            raise FirmaoError(404, "reportNotFound", field="template", rejected=request.params["template"])
        if request.query.get("original", "true") not in ("true", "false"):
            raise invalid("original", request.query["original"], "true or false")
        raw_id = request.query.get("id", "")
        if not raw_id.isdigit():
            raise invalid("id", raw_id, "a transaction id")
        document = account.transactions.get(int(raw_id))
        if document is None:
            raise not_found("id", raw_id, "transaction", status=404)
        pdf = _document_pdf(account, document, request.query.get("original") == "true")
        filename = re.sub(r"[^\w.-]", "_", request.params["file"], flags=re.ASCII) + ".pdf"
        return bytes_response(200, "application/pdf", pdf,
                              {"Content-Disposition": f'attachment; filename="{filename}"'})


# --------------------------------------------------------------------------- representations


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        login, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return login, password


def _nested(values: dict[str, Any], prefix: str, parts: tuple[str, ...] = ("city", "country", "county", "postCode",
                                                                           "street")) -> dict[str, Any] | None:
    """README GET output shows the dotted POST keys ("customerAddress.city") as one object."""
    if not any(f"{prefix}.{part}" in values for part in parts):
        return None
    return {part: values.get(f"{prefix}.{part}") for part in parts}


def _custom_fields(values: dict[str, Any]) -> dict[str, str] | None:
    found = {name.removeprefix("customFields."): value
             for name, value in values.items() if CUSTOM_FIELD.fullmatch(name)}
    return found or None  # README GET output: "customFields":null when there are none


def _stock_change(account: FirmaoAccount, product: dict[str, Any], warehouse: int, old: Decimal,
                  new: Decimal) -> dict[str, Any]:
    """The README's (§3c) changelog row of a stock change, naming the warehouse."""
    return {**change_entry("product", product["id"], product["name"], "currentStoreState", old, new, "float"),
            "subClass": "warehouse", "subId": warehouse, "subLabel": account.warehouses[warehouse]}


def _transaction_json(account: FirmaoAccount, draft: Draft, transaction_id: int, number: str,
                      customer: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The README GET representation (section f) of the fields this fake models."""
    values, totals = draft.values, draft.totals
    rate, factor = values.get("exchangeRate", Decimal(1)), values.get("factor", 1)
    gross, paid_value = totals["transactionBruttoPrice"], draft.paid_value
    # ASSUMPTION: PAID / PARTIALLY_PAID (source: README §4f shows only NOT_PAID).
    status = "PAID" if gross and paid_value == gross else "PARTIALLY_PAID" if paid_value else "NOT_PAID"
    warehouse = values.get("warehouse", min(account.warehouses))
    document = {
        "id": transaction_id, "type": draft.kind, "mode": "SALE", "transactionNumber": number,
        "documentNumber": number, "invoicePatternId": draft.series_id, "invoiceDate": values["invoiceDate"],
        "documentDate": values["invoiceDate"], "transactionDate": values["transactionDate"],
        "invoiceReceptionDate": values.get("invoiceReceptionDate"), "paymentDate": values["paymentDate"],
        "paymentType": values["paymentType"], "paid": status == "PAID", "paidValue": quantize_money(paid_value),
        "restOfPaidValue": quantize_money(totals["restOfPaidValue"]), "paymentStatus": status,
        "currency": values["currency"], "exchangeRate": values.get("exchangeRate"),
        "exchangeRateDate": values.get("exchangeRateDate"), "dateForExchangeRate": values.get("exchangeRateDate"),
        "factor": factor, "calculateFromGross": values["calculateFromGross"],
        "splitPayment": values.get("splitPayment", False),
        **{name: quantize_money(totals[name]) for name in ("transactionNettoPrice", "transactionVatPrice",
                                                           "transactionBruttoPrice")},
        # ASSUMPTION: base* are the totals in PLN, each total x exchangeRate / factor, rounded (source: README
        # §4f lists baseNettoPrice etc. without saying what they are).
        **{f"base{part}Price": quantize_money(totals[f"transaction{part}Price"] * rate / factor)
           for part in ("Netto", "Vat", "Brutto")},
        "customer": ({"id": customer["id"], "label": customer["label"], "emails": customer["emails"]}
                     if customer else None),
        "customerName": values.get("customerName") or (customer["name"] if customer else None),
        "customerAddress": _nested(values, "customerAddress"),
        "nipNumber": values.get("nipNumber"), "issuingPerson": values.get("issuingPerson"),
        "invoiceAnnotations": values.get("invoiceAnnotations"),
        "bankAccount": ({"id": values["bankAccount"], "label": account.bank_accounts[values["bankAccount"]]}
                        if "bankAccount" in values else None),
        "connectedDocNumber": values.get("connectedDocNumber"), "connectedDocDate": values.get("connectedDocDate"),
        "connectedDocType": draft.original["type"] if draft.original else None,
        "correctionCause": values.get("correctionCause"), "recipientPhoneNumber": values.get("recipientPhoneNumber"),
        "lastSelectedInvoiceReport": values.get("lastSelectedInvoiceReport", DEFAULT_TEMPLATES[draft.kind]),
        "storageStateUpdate": values.get("storageStateUpdate", "NO_UPDATE"),
        "warehouse": {"id": warehouse, "name": account.warehouses[warehouse]},
        "customFields": _custom_fields(values), "creationDate": now, "lastUpdateDate": now,
    }
    return document


def _entry_json(line: Line, entry_id: int, document: dict[str, Any], invalidated: int | None) -> dict[str, Any]:
    """README section g (GET /transactionentries). ASSUMPTIONS: an unlinked line's text is `name`; a
    correction's "before" line has type INVALID, its "after" line points at it in invalidEntry (source:
    README §4g shows "name":null, "type":"ACTUAL", "invalidEntry":null on a plain linked line)."""
    gross = document["calculateFromGross"]
    factor = (100 + line.rate) / 100
    unit_net = quantize_money(line.unit_price / factor) if gross else line.unit_price
    unit_gross = line.unit_price if gross else quantize_money(line.unit_price * factor)
    values = line.values
    return {
        "id": entry_id, "transaction": {"id": document["id"], "transactionNumber": document["transactionNumber"],
                                        "customerName": document["customerName"], "name": None},
        "product": {"id": line.product["id"], "name": line.product["name"]} if line.product else None,
        "name": line.text, "productCode": values.get("productCode") or (line.product or {}).get("productCode"),
        "classificationNumber": values.get("classificationNumber"),
        "quantity": line.quantity.quantize(QUANTITY_STEP), "unit": values.get("unit"),
        "vatPercent": line.rate.quantize(RATE_STEP), "unitNettoPrice": quantize_money(unit_net),
        "unitBruttoPrice": quantize_money(unit_gross), "nettoPrice": line.net, "vatPrice": line.vat,
        "bruttoPrice": line.gross, "calculateFromGross": gross, "discount": None, "mode": "SALE",
        "type": "INVALID" if line.role == "before" else "ACTUAL", "baseEntryId": values.get("baseEntryId"),
        "recordId": values.get("recordId"), "invalidEntry": {"id": invalidated} if invalidated else None,
        "entryDate": document["transactionDate"],
    }


def _document_pdf(account: FirmaoAccount, document: dict[str, Any], original: bool) -> bytes:
    currency = document["currency"]
    lines = [
        "ORYGINAL" if original else "KOPIA",
        f"Numer: {document['transactionNumber']}",
        f"Data wystawienia: {document['invoiceDate']}   Data sprzedazy: {document['transactionDate']}",
        f"Sprzedawca: {account.company['name']} NIP {account.company['nip']}",
        f"Nabywca: {document['customerName'] or '-'} NIP {document['nipNumber'] or '-'}",
    ]
    if document["type"] == "CORRECTION":
        lines.append(f"Korekta do: {document['connectedDocNumber']} z dnia {document['connectedDocDate']}; "
                     f"przyczyna: {document['correctionCause'] or '-'}")
    lines.append("")
    for index, entry in enumerate(account.entries_of(document["id"]), start=1):
        side = {"INVALID": " (przed korekta)"}.get(entry["type"], " (po korekcie)" if entry["invalidEntry"] else "")
        name = entry["product"]["name"] if entry["product"] else entry["name"]
        lines.append(f"{index}. {name}{side} | {entry['quantity']} {entry['unit'] or ''} | VAT {entry['vatPercent']}% "
                     f"| netto {entry['nettoPrice']} | brutto {entry['bruttoPrice']} {currency}")
    lines += ["", f"Razem netto: {document['transactionNettoPrice']} {currency}",
              f"VAT: {document['transactionVatPrice']} {currency}",
              f"Razem brutto: {document['transactionBruttoPrice']} {currency}",
              f"Platnosc: {document['paymentType']}, termin {document['paymentDate']}, "
              f"zaplacono {document['paidValue']} {currency}"]
    if document["exchangeRate"] is not None:
        lines.append(f"Kurs {document['exchangeRate']} PLN/{currency} z dnia {document['exchangeRateDate']}")
    return render_pdf(f"{PDF_TITLES[document['type']]} {document['transactionNumber']}", lines)
