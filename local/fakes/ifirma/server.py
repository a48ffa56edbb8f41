"""The iFirma fake's HTTP endpoints: signed auth, rate and daily limits, invoices, reads, KSeF, the
accounting month."""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import threading
from datetime import date
from decimal import Decimal
from typing import Any

from local.fakes.common import (
    FakeServer,
    HttpError,
    RateLimiter,
    Request,
    Response,
    bytes_response,
    format_money,
    json_response,
    route,
)
from local.fakes.ifirma.invoices import (
    _check_quota,
    _check_rules,
    _contractor,
    _pdf,
    _positions,
    _totals,
)
from local.fakes.ifirma.vocabulary import (
    ACCOUNT_SETTINGS,
    AUTH_HEADER,
    BAD_AUTH_HEADER,
    BAD_CONTENT_TYPE,
    BAD_ENCODING,
    BAD_HASH,
    BAD_LOGIN,
    BAD_STRUCTURE,
    CORRECTION_FIELDS,
    DAILY_LIMIT,
    DEFAULT_RATE_LIMIT,
    DOMESTIC,
    EU_SERVICES,
    FIELDS,
    FOREIGN,
    NO_KEY,
    OK,
    RODZAJ,
    TECHNICAL,
    VALIDATION,
    IfirmaAccount,
    _bool,
    _check_fields,
    _date,
    _error,
    _Invalid,
    _one_of,
    envelope,
    read_answer,
)

# --------------------------------------------------------------------------- the fake server


class IfirmaFake(FakeServer):
    """Strict fake of the iFirma API for several users on one local host."""

    def __init__(self, *, rate_limit: tuple[int, float] | None = DEFAULT_RATE_LIMIT,
                 daily_limit: int | None = DAILY_LIMIT):
        super().__init__(rate_limit=rate_limit)
        self.daily_limiter = RateLimiter(daily_limit, 86_400.0)
        self._lock = threading.RLock()
        self._accounts: dict[str, IfirmaAccount] = {}
        self._next_id = 100001  # ids are unique across users, like database ids

    # ----------------------------------------------------------------- seeding (tests, demo)

    def add_account(self, login: str, *, invoice_key: str, subscriber_key: str | None = None,
                    accounting_month: tuple[int, int] = (2026, 11), series: tuple[str, ...] = (),
                    quota: int = 1000) -> IfirmaAccount:
        keys = {"faktura": invoice_key}
        if subscriber_key is not None:
            keys["abonent"] = subscriber_key
        for value in keys.values():
            bytes.fromhex(value)  # the panel shows keys in hex
        with self._lock:
            account = IfirmaAccount(login=login, keys=keys, accounting_month=accounting_month,
                                    series=set(series), quota=quota)
            self._accounts[login] = account
            return account

    def account(self, login: str) -> IfirmaAccount:
        return self._accounts[login]

    def edit_invoice(self, login: str, invoice_id: int, **changes: Any) -> None:
        """The merchant edits the document in iFirma's app (the API has no edit)."""
        with self._lock:
            self.account(login).invoices[invoice_id].update(changes)

    # ----------------------------------------------------------------- hooks of the base server

    def error_response(self, request: Request, status: int, message: str) -> Response:
        # ASSUMPTION: gateway errors and unknown paths carry the envelope with Kod 100 (technical).
        return json_response(status, envelope(TECHNICAL, f"{message}: {request.path}"))

    def rate_limited_response(self, request: Request, retry_after: int) -> Response:
        # ASSUMPTION: the limit answer is undocumented: HTTP 429 (what community clients handle) with
        # the envelope, and no Retry-After (nothing promises one).
        return json_response(429, envelope(TECHNICAL, "Przekroczono limit zapytań API (100 na minutę, "
                                                      "15 000 na dzień)"))

    def rate_limit_key(self, request: Request) -> Any:
        """Documented: the limits apply per user (the login of the Authentication header)."""
        match = AUTH_HEADER.fullmatch(request.headers.get("authentication", "").strip())
        return match.group("user") if match else f"ip:{request.client_ip}"

    def log_key(self, request: Request) -> str | None:
        match = AUTH_HEADER.fullmatch(request.headers.get("authentication", "").strip())
        return match.group("user") if match else None

    # ----------------------------------------------------------------- auth and envelope

    def _authenticate(self, request: Request, key_name: str) -> IfirmaAccount:
        """Verify `IAPIS user=..., hmac-sha1=...` over url + login + key name + body (FAQ, "Nagłówek autoryzacji")."""
        match = AUTH_HEADER.fullmatch(request.headers.get("authentication", "").strip())
        if match is None:
            raise _error(BAD_AUTH_HEADER, "Niepoprawny nagłówek autoryzacji")
        account = self._accounts.get(match.group("user"))
        if account is None:
            raise _error(BAD_LOGIN, "Niepoprawny login użytkownika")
        key = account.keys.get(key_name)
        if key is None:
            raise _error(NO_KEY, f"Brak wygenerowanego klucza autoryzacji '{key_name}'")
        # The URL as this server is addressed, without the query string (documented).
        message = f"{self.base_url}{request.path}{account.login}{key_name}".encode() + request.body
        expected = hmac.new(bytes.fromhex(key), message, hashlib.sha1).hexdigest()
        # ASSUMPTION: hex digits compared case-insensitively.
        if not hmac.compare_digest(expected, match.group("hash").lower()):
            raise _error(BAD_HASH, "Niepoprawny hash bądź kod wiadomości")
        if self.daily_limiter.hit(account.login) is not None:
            raise HttpError(self.rate_limited_response(request, 3600))
        return account

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        media = request.headers.get("content-type", "")
        if request.content_type != "application/json":
            raise _error(BAD_CONTENT_TYPE, "Brak lub niepoprawnie określony typ zawartości żądania")
        charset = re.search(r"charset=([\w-]+)", media, re.IGNORECASE)
        if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
            raise _error(BAD_ENCODING, "Niepoprawne kodowanie znaków (wymagane UTF-8)")
        try:
            request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise _error(BAD_ENCODING, "Niepoprawne kodowanie znaków (wymagane UTF-8)") from None
        if request.json_error is not None or not isinstance(request.json, dict):
            raise _error(BAD_STRUCTURE, "Niepoprawna struktura obiektu domenowego")
        return request.json

    @staticmethod
    def _accepts(request: Request, media: str) -> None:
        accept = request.headers.get("accept", "")
        # ASSUMPTION: the documented Accept header is required (a missing one is refused like a wrong one).
        if media not in accept and "*/*" not in accept:
            raise _error(BAD_CONTENT_TYPE, f"Brak lub niepoprawny nagłówek Accept (oczekiwano {media})")

    # ----------------------------------------------------------------- invoices

    @route("POST", r"/iapi/fakturakraj\.json")
    def create_domestic(self, request: Request) -> Response:
        return self._create(request, DOMESTIC)

    @route("POST", r"/iapi/fakturawaluta\.json")
    def create_foreign(self, request: Request) -> Response:
        return self._create(request, FOREIGN)

    @route("POST", r"/iapi/fakturaeksportuslugue\.json")
    def create_eu_services(self, request: Request) -> Response:
        return self._create(request, EU_SERVICES)

    def _create(self, request: Request, kind: str) -> Response:
        account = self._authenticate(request, "faktura")
        self._accepts(request, "application/json")
        body = copy.deepcopy(self._json_body(request))
        with self._lock:
            try:
                _check_fields(body, FIELDS[kind], "")
                positions = _positions(body["Pozycje"], kind)
                _check_rules(account, body, kind)
                totals = _totals(positions, body.get("LiczOd", "NET"))
                if body["Zaplacono"] > totals["Brutto"]:
                    raise _Invalid(VALIDATION, "Zaplacono: kwota większa niż razem brutto faktury")
                contractor = _contractor(account, body)
                _check_quota(account)
            except _Invalid as problem:
                return json_response(200, envelope(problem.code, problem.message))
            stored = self._store(account, body, kind, positions, totals, contractor)
            return json_response(200, envelope(OK, "Faktura została wystawiona", Identyfikator=stored["FakturaId"]))

    @route("POST", r"/iapi/fakturakraj/korekta/(?P<ref>[^/]+)\.json")
    def create_correction(self, request: Request) -> Response:
        account = self._authenticate(request, "faktura")
        self._accepts(request, "application/json")
        body = copy.deepcopy(self._json_body(request))
        with self._lock:
            original = self._find(account, request.params["ref"])
            try:
                if original is None or original["Rodzaj"] != RODZAJ[DOMESTIC]:
                    raise _Invalid(VALIDATION, f"Nie znaleziono faktury krajowej '{request.params['ref']}' do korekty")
                _check_fields(body, CORRECTION_FIELDS, "")
                positions = _positions(body["Pozycje"], "korekta")
                if len(positions) < len(original["Pozycje"]):
                    # Documented: the full state after the correction; a removed line stays with Ilosc 0.
                    raise _Invalid(VALIDATION, "Pozycje: korekta musi zawierać wszystkie pozycje faktury "
                                               "korygowanej (usunięta pozycja z Ilosc 0)")
                body.setdefault("LiczOd", original["LiczOd"])  # ASSUMPTION: inherited from the original
                _check_rules(account, body, "korekta")
                after = _totals(positions, body["LiczOd"])
                totals = {name: after[name] - Decimal(original[name]) for name in after}
                _check_quota(account)
            except _Invalid as problem:
                return json_response(200, envelope(problem.code, problem.message))
            body.setdefault("SposobZaplaty", original["SposobZaplaty"])
            body.setdefault("Zaplacono", Decimal(0))
            stored = self._store(account, body, "korekta", positions, totals, original["Kontrahent"],
                                 corrects=original["FakturaId"])
            return json_response(200, envelope(OK, "Faktura korygująca została wystawiona",
                                               Identyfikator=stored["FakturaId"]))

    def _store(self, account: IfirmaAccount, body: dict[str, Any], kind: str, positions: list[dict[str, Any]],
               totals: dict[str, Decimal], contractor: dict[str, Any], corrects: int | None = None) -> dict[str, Any]:
        issue = date.fromisoformat(body["DataWystawienia"])
        series = body.get("NazwaSeriiNumeracji")
        series_key = f"{kind}:{series or ''}"
        number = body.get("Numer")
        if number is None:
            counter_key = (series_key, issue.year)
            number = account.counters.get(counter_key, 0) + 1
            account.counters[counter_key] = number
        # ASSUMPTION: series templates are configured in the app and not exposed; "n/yyyy[/SERIES]",
        # corrections prefixed "KOR", numbering restarting yearly.
        full = f"{'KOR ' if kind == 'korekta' else ''}{number}/{issue.year}{'/' + series if series else ''}"
        invoice_id = self._next_id
        self._next_id += 1
        stored = {
            **{key: value for key, value in body.items() if key not in ("Pozycje", "Kontrahent")},
            "FakturaId": invoice_id, "Numer": number, "PelnyNumer": full, "Rodzaj": RODZAJ[kind],
            "Kontrahent": contractor,
            "Pozycje": [{key: value for key, value in p.items() if not key.startswith("_")} for p in positions],
            "Netto": format_money(totals["Netto"]), "Vat": format_money(totals["Vat"]),
            "Brutto": format_money(totals["Brutto"]), "Waluta": body.get("Waluta", "PLN"),
            "_series": series_key, "_year": issue.year, "_type": DOMESTIC if kind == "korekta" else kind,
        }
        if corrects is not None:
            stored["IdentyfikatorFakturyKorygowanej"] = corrects
        account.invoices[invoice_id] = stored
        account.last_issue[series_key] = max(issue, account.last_issue.get(series_key, issue))
        account.issued_this_month += 1
        return stored

    @staticmethod
    def _find(account: IfirmaAccount, reference: str) -> dict[str, Any] | None:
        """Documented: the path holds the id or the number with '/' written as '_'."""
        if reference.isdigit() and int(reference) in account.invoices:
            return account.invoices[int(reference)]
        number = reference.replace("_", "/")
        return next((inv for inv in account.invoices.values() if inv["PelnyNumer"] == number), None)

    # ----------------------------------------------------------------- reads and PDF

    @route("GET", r"/iapi/(?P<kind>fakturakraj|fakturawaluta|fakturaeksportuslugue)/(?P<id>\d+)\.json")
    def get_invoice(self, request: Request) -> Response:
        account = self._authenticate(request, "faktura")
        self._accepts(request, "application/json")
        with self._lock:
            invoice = self._document(account, request)
            public = {key: value for key, value in invoice.items() if not key.startswith("_")}
            return read_answer(account, "Pobrano fakturę", **copy.deepcopy(public))

    @route("GET", r"/iapi/(?P<kind>fakturakraj|fakturawaluta|fakturaeksportuslugue)/(?P<id>\d+)\.pdf")
    def get_pdf(self, request: Request) -> Response:
        account = self._authenticate(request, "faktura")
        self._accepts(request, "application/pdf")
        with self._lock:
            invoice = self._document(account, request)
            duplicate = request.query.get("typ") == "dup"  # documented; the query is not signed
            return bytes_response(200, "application/pdf", _pdf(invoice, duplicate))

    def _document(self, account: IfirmaAccount, request: Request) -> dict[str, Any]:
        invoice = account.invoices.get(int(request.params["id"]))
        if invoice is None or invoice["_type"] != request.params["kind"]:
            # ASSUMPTION: another user's or another type's document is simply not found.
            raise _error(VALIDATION, f"Nie znaleziono dokumentu {request.params['id']}", status=404)
        return invoice

    @route("POST", r"/iapi/(?P<kind>fakturakraj|fakturawaluta|fakturaeksportuslugue)/ksef/send/(?P<id>\d+)\.json")
    def send_to_ksef(self, request: Request) -> Response:
        """[COMMUNITY] facts 2.12: ask iFirma to send the document to KSeF, body {"DataWysylki": null or a
        date}, key faktura. ASSUMPTION (no official text read): DataWysylki must be present (null: now);
        the answer is the envelope, Kod 0 when handed over; without a KSeF connection Kod 202 (account
        settings); a document handed over before, Kod 201. No read shows a document's KSeF state or
        number (none is known), so the fake exposes none either."""
        account = self._authenticate(request, "faktura")
        self._accepts(request, "application/json")
        body = self._json_body(request)
        with self._lock:
            invoice = self._document(account, request)
            try:
                if "DataWysylki" not in body:
                    raise _Invalid(BAD_STRUCTURE, "Niepoprawna struktura obiektu domenowego: brak pola DataWysylki")
                _check_fields(body, {"DataWysylki": (_date, False)}, "")
                if not account.ksef_connected:
                    raise _Invalid(ACCOUNT_SETTINGS, "Konto nie jest połączone z KSeF: skonfiguruj połączenie z KSeF")
                if invoice["FakturaId"] in account.ksef_submissions:
                    raise _Invalid(VALIDATION, "Faktura została już przekazana do wysyłki do KSeF")
            except _Invalid as problem:
                return json_response(200, envelope(problem.code, problem.message))
            account.ksef_submissions[invoice["FakturaId"]] = body["DataWysylki"]
        return json_response(200, envelope(OK, "Faktura została przekazana do wysyłki do KSeF"))

    @route("GET", r"/iapi/faktury\.json")
    def list_invoices(self, request: Request) -> Response:
        account = self._authenticate(request, "faktura")
        self._accepts(request, "application/json")
        if _date(request.query.get("dataOd")) is not None:
            raise _error(VALIDATION, "Błędy walidacji: dataOd: pole wymagane (RRRR-MM-DD)")
        start = request.query["dataOd"]
        end = request.query.get("dataDo", "9999-12-31")
        page = int(request.query.get("strona") or 1)
        per_page = int(request.query.get("iloscNaStronie") or 20)
        with self._lock:
            found = [inv for inv in account.invoices.values() if start <= inv["DataWystawienia"] <= end]
            items = [{"FakturaId": inv["FakturaId"], "PelnyNumer": inv["PelnyNumer"], "Brutto": inv["Brutto"],
                      "Zaplacono": inv.get("Zaplacono"), "Rodzaj": inv["Rodzaj"], "DataWystawienia":
                      inv["DataWystawienia"]} for inv in found][(page - 1) * per_page: page * per_page]
        return read_answer(account, "Lista faktur", Wynik=items)

    # ----------------------------------------------------------------- subscriber (key "abonent")

    @route("GET", r"/iapi/abonent/miesiacksiegowy\.json")
    def get_accounting_month(self, request: Request) -> Response:
        account = self._authenticate(request, "abonent")
        self._accepts(request, "application/json")
        year, month = account.accounting_month
        return read_answer(account, "Miesiąc księgowy", MiesiacKsiegowy=month, RokKsiegowy=year)

    @route("PUT", r"/iapi/abonent/miesiacksiegowy\.json")
    def move_accounting_month(self, request: Request) -> Response:
        account = self._authenticate(request, "abonent")
        body = self._json_body(request)
        spec = {"MiesiacKsiegowy": (_one_of(frozenset({"NAST", "POPRZ"})), True),
                "PrzeniesDaneZPoprzedniegoRoku": (_bool, False)}
        try:
            _check_fields(body, spec, "")
        except _Invalid as problem:
            return json_response(200, envelope(problem.code, problem.message))
        with self._lock:
            year, month = account.accounting_month
            step = 1 if body["MiesiacKsiegowy"] == "NAST" else -1
            index = year * 12 + (month - 1) + step  # one month per request, as the plugins loop
            account.accounting_month = (index // 12, index % 12 + 1)
            account.month_moves.append(body["MiesiacKsiegowy"])
            year, month = account.accounting_month
        return json_response(200, envelope(OK, "Zmieniono miesiąc księgowy", MiesiacKsiegowy=month, RokKsiegowy=year))

    @route("GET", r"/iapi/abonent/limit\.json")
    def get_limit(self, request: Request) -> Response:
        account = self._authenticate(request, "abonent")
        self._accepts(request, "application/json")
        return read_answer(account, "Informacja o limitach API", LimitWykorzystany=account.issued_this_month,
                           LimitPrzyznany=account.quota)
