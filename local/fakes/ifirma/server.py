"""Strict local fake of the iFirma API (https://www.ifirma.pl/iapi).

An independent model of the provider, written from its public documentation (api.ifirma.pl,
mirrored at pomoc.ifirma.pl; summarised with sources in /work/shared/providers/wfirma-ifirma.md
section 2). It never imports the production package: it must be able to prove that package wrong,
so the HMAC signature is verified here with its own code.

Public API (for tests and the local demo)::

    fake = IfirmaFake()                        # rate_limit=(100, 60.0), daily_limit=15_000
    base_url = fake.start()                    # the API lives under f"{base_url}/iapi"
    account = fake.add_account("jan@example.pl", invoice_key="EAB0D8ACF3308F3B",
                               subscriber_key="0A1B2C3D4E5F6071", accounting_month=(2026, 11),
                               series=("SKLEP",), quota=1000)
    fake.account("jan@example.pl").invoices    # {id: stored document (request fields + computed)}
    fake.edit_invoice("jan@example.pl", 1, Uwagi="...")   # the merchant edits it in iFirma
    fake.requests                              # RequestLog (logins only, never keys or signatures)
    fake.limiter.peak("jan@example.pl")        # most requests of the login in one minute
    fake.faults.status(503, method="POST")     # see common.FaultPlan; answers in iFirma's envelope
    fake.account("jan@example.pl").ksef_connected = False  # no KSeF connection set up in iFirma
    fake.account("jan@example.pl").ksef_submissions       # {invoice id: DataWysylki} handed to KSeF
    fake.account("jan@example.pl").reads_carry_kod = False  # successful reads answered without Kod

Endpoints (all signed, see `_authenticate`): POST fakturakraj.json, fakturawaluta.json,
fakturaeksportuslugue.json, fakturakraj/korekta/{id or number}.json; GET {type}/{id}.json and
{type}/{id}.pdf; GET faktury.json; GET/PUT abonent/miesiacksiegowy.json; GET abonent/limit.json;
POST {type}/ksef/send/{id}.json (community-documented, see `send_to_ksef`).

Every answer is the documented envelope ``{"response": {"Kod": 0, "Informacja": ...}}``; errors come
with HTTP 200 and ``Kod`` != 0 (api.ifirma.pl FAQ). A user's successful reads can come without ``Kod``
(``reads_carry_kod``, see `IfirmaAccount`). Behaviour the documentation does not define is marked
``ASSUMPTION:``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from local.fakes.common import (
    ISO_3166_ALPHA2,
    FakeServer,
    HttpError,
    RateLimiter,
    Request,
    Response,
    bytes_response,
    format_money,
    json_response,
    parse_date,
    quantize_money,
    render_pdf,
    route,
)

# Documented "Limit zapytań": per user, 100 per minute and 15,000 per day.
DEFAULT_RATE_LIMIT = (100, 60.0)
DAILY_LIMIT = 15_000

# Documented FAQ codes.
OK, TECHNICAL, BAD_ENCODING, BAD_CONTENT_TYPE = 0, 100, 101, 102
BAD_STRUCTURE, VALIDATION, ACCOUNT_SETTINGS = 200, 201, 202
BAD_AUTH_HEADER, BAD_LOGIN, NO_KEY, BAD_HASH, NO_RIGHTS = 400, 401, 402, 403, 500

AUTH_HEADER = re.compile(r"IAPIS user=(?P<user>[^,\s]+), hmac-sha1=(?P<hash>[0-9A-Fa-f]{40})")

PAYMENT_TYPES = frozenset({"GTK", "POB", "PRZ", "KAR", "PZA", "CZK", "KOM", "BAR", "DOT", "PAL", "ALG", "P24",
                           "TPA", "ELE"})
# The fakturawaluta and eksport pages list a shorter set.
FOREIGN_PAYMENT_TYPES = frozenset({"GTK", "PRZ", "KOM", "CZK", "KAR", "PAL", "ALG", "DOT", "ELE"})
SIGNATURE_KINDS = frozenset({"OUP", "UPO", "BPO", "BWO"})
CORRECTION_REASONS = frozenset({"OBOW_RABAT", "ZWR_SPRZ_TOW", "ZWR_NAB_KWOT", "ZWR_NAB_ZAL", "PODW_CENY", "POMYLKI"})
LANGUAGES = frozenset({"en", "de", "bg", "hr", "cs", "da", "nl", "et", "fi", "fr", "el", "es", "lt", "lv", "hu",
                       "it", "pt", "ro", "sk", "sl", "sv"})
# ASSUMPTION: iFirma checks StawkaVat against the rates in force; these are the Polish ones, as fractions.
VAT_FRACTIONS = frozenset({Decimal("0.23"), Decimal("0.08"), Decimal("0.05"), Decimal("0.00")})
GTU = re.compile(r"BRAK|0[1-9]|1[0-3]")

DOMESTIC, FOREIGN, EU_SERVICES = "fakturakraj", "fakturawaluta", "fakturaeksportuslugue"
# ASSUMPTION: the Rodzaj values of faktury.json for the documents this fake issues.
RODZAJ = {DOMESTIC: "prz_faktura_kraj", FOREIGN: "prz_faktura_waluta", EU_SERVICES: "prz_eksport_uslug_ue",
          "korekta": "prz_faktura_kraj_korekta"}

# --------------------------------------------------------------------------- field specifications

Check = Callable[[Any], str | None]  # None when valid, else the problem


def _number(*, minimum: Decimal | None = Decimal(0), places: int = 2, below: Decimal = Decimal(100_000_000)) -> Check:
    """Documented type Number: a JSON number, never a string."""
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            return "wymagana wartość liczbowa"
        number = Decimal(value)
        if minimum is not None and number < minimum:
            return f"wartość musi być >= {minimum}"
        if number >= below:
            return f"wartość musi być < {below}"
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int) or -exponent > places:
            return f"dozwolone najwyżej {places} miejsca po przecinku"
        return None
    return check


def _text(limit: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "wymagany niepusty tekst"
        return f"najwyżej {limit} znaków" if len(value) > limit else None
    return check


def _one_of(allowed: frozenset[str]) -> Check:
    return lambda value: None if value in allowed else f"niedozwolona wartość (dozwolone: {', '.join(sorted(allowed))})"


def _date(value: Any) -> str | None:
    try:
        parse_date(value)
    except ValueError:
        return "wymagany format RRRR-MM-DD"
    return None


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "wymagana wartość true lub false"


def _numer(value: Any) -> str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return None
    return "wymagana liczba całkowita > 0 lub null"


def _currency(value: Any) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        return "wymagany kod waluty ISO 4217"
    # ASSUMPTION: PLN belongs on fakturakraj; fakturawaluta is for a price in a foreign currency.
    return "waluta PLN: użyj faktury krajowej (fakturakraj)" if value == "PLN" else None


def _object(value: Any) -> str | None:
    return None if isinstance(value, dict) else "wymagany obiekt"


def _list(value: Any) -> str | None:
    return None if isinstance(value, list) and value else "wymagana niepusta lista"


# name -> (check, required). Common to the invoice types issued here (fakturakraj page).
COMMON_FIELDS: dict[str, tuple[Check, bool]] = {
    "Zaplacono": (_number(), True),
    "ZaplaconoNaDokumencie": (_number(), False),
    "NumerKontaBankowego": (_text(28), False),
    "SplitPayment": (_bool, False),
    "DataWystawienia": (_date, True),
    "MiejsceWystawienia": (_text(50), False),
    "DataSprzedazy": (_date, True),
    "FormatDatySprzedazy": (_one_of(frozenset({"DZN", "MSC"})), True),
    "TerminPlatnosci": (_date, False),
    "SposobZaplaty": (_one_of(PAYMENT_TYPES), True),
    "NazwaSeriiNumeracji": (_text(100), False),
    "NazwaSzablonu": (_text(100), False),
    "RodzajPodpisuOdbiorcy": (_one_of(SIGNATURE_KINDS), True),
    "PodpisOdbiorcy": (_text(70), False),
    "PodpisWystawcy": (_text(70), False),
    "Uwagi": (_text(1000), False),
    "WidocznyNumerGios": (_bool, True),
    "WidocznyNumerBdo": (_bool, False),
    "Numer": (_numer, False),
    "IdentyfikatorKontrahenta": (_text(15), False),
    "PrefiksUEKontrahenta": (_text(2), False),
    "NIPKontrahenta": (_text(13), False),
    "Kontrahent": (_object, False),
    "Pozycje": (_list, True),
    "ProceduryJpk": (_object, False),
    "DodatkoweUwagi": (lambda value: None if isinstance(value, list) else "wymagana lista", False),
}
FIELDS: dict[str, dict[str, tuple[Check, bool]]] = {
    # The fakturakraj page marks ZaplaconoNaDokumencie required (T); the fakturawaluta page does not (N).
    DOMESTIC: {**COMMON_FIELDS, "LiczOd": (_one_of(frozenset({"NET", "BRT"})), True),
               "ZaplaconoNaDokumencie": (_number(), True)},
    FOREIGN: {**COMMON_FIELDS, "LiczOd": (_one_of(frozenset({"NET", "BRT"})), True),
              "SposobZaplaty": (_one_of(FOREIGN_PAYMENT_TYPES), True),
              "TypSprzedazy": (_one_of(frozenset({"WYSYLKOWA", "KRAJOWA"})), True),
              "Waluta": (_currency, True), "Jezyk": (_one_of(LANGUAGES), False),
              "KursWalutyWidoczny": (_bool, False),
              "KursWalutyZDniaPoprzedzajacegoDzienWystawieniaFaktury": (_number(places=6), False)},
    # ASSUMPTION (I-BUNDLE, no LiczOd): prices of art. 28b services are net (= gross, no Polish VAT).
    EU_SERVICES: {**COMMON_FIELDS, "SposobZaplaty": (_one_of(FOREIGN_PAYMENT_TYPES), True),
                  "NazwaUslugi": (_text(300), True), "DataObowiazkuPodatkowego": (_date, True),
                  "Waluta": (lambda v: None if isinstance(v, str) and re.fullmatch(r"[A-Z]{3}", v)
                             else "wymagany kod waluty ISO 4217", True),
                  "Jezyk": (_one_of(LANGUAGES), True), "KursWalutyWidoczny": (_bool, False),
                  "KursWalutyZDniaPoprzedzajacegoDzienWystawieniaFaktury": (_number(places=6), False)},
}
# api.ifirma.pl "Faktura korygująca fakturę krajową": PowodKorekty, SpelnionoWarunki (Boolean: were the
# correction's conditions met by its issue date) and DataWystawienia required (T); PowodKorektyNaWydruku
# Boolean, optional (N). ASSUMPTION on the page's rest (not read): the invoice's own rules, all optional.
# A community client calls RodzajPodpisuOdbiorcy required here too (found by code search, unnamed).
CORRECTION_FIELDS: dict[str, tuple[Check, bool]] = {
    "PowodKorekty": (_one_of(CORRECTION_REASONS), True),
    "PowodKorektyNaWydruku": (_bool, False),
    "SpelnionoWarunki": (_bool, True),
    "DataWystawienia": (_date, True),
    "MiejsceWystawienia": (_text(50), False),
    "TerminPlatnosci": (_date, False),
    "Zaplacono": (_number(), False),
    "SposobZaplaty": (_one_of(PAYMENT_TYPES), False),
    "NumerKontaBankowego": (_text(28), False),
    "SplitPayment": (_bool, False),
    "NazwaSeriiNumeracji": (_text(100), False),
    "NazwaSzablonu": (_text(100), False),
    "RodzajPodpisuOdbiorcy": (_one_of(SIGNATURE_KINDS), False),
    "PodpisOdbiorcy": (_text(70), False),
    "PodpisWystawcy": (_text(70), False),
    "Uwagi": (_text(1000), False),
    "Pozycje": (_list, True),
}
CONTRACTOR_FIELDS: dict[str, tuple[Check, bool]] = {
    "Nazwa": (_text(150), True), "Nazwa2": (_text(150), False), "Identyfikator": (_text(15), False),
    "PrefiksUE": (lambda v: None if isinstance(v, str) and re.fullmatch(r"[A-Z]{2}", v) else "dwie wielkie litery",
                  False),
    "NIP": (lambda v: None if isinstance(v, str) and re.fullmatch(r"[0-9A-Z]{1,13}", v)
            else "najwyżej 13 znaków, cyfry lub litery, bez kresek", False),
    "Ulica": (_text(65), False), "KodPocztowy": (_text(16), True), "Miejscowosc": (_text(65), True),
    "Kraj": (_text(50), False),
    "KodKraju": (lambda v: None if v in ISO_3166_ALPHA2 else "kod kraju ISO 3166-1 alfa-2", False),
    "Email": (lambda v: None if isinstance(v, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v)
              else "niepoprawny adres e-mail", False),
    # ASSUMPTION: no documented limit; 32 like common phone fields.
    "Telefon": (_text(32), False),
    "OsobaFizyczna": (_bool, False), "JestOdbiorca": (_bool, False), "JestDostawca": (_bool, False),
}
POSITION_FIELDS: dict[str, tuple[Check, bool]] = {
    "NazwaPelna": (_text(300), True),
    "Jednostka": (_text(10), True),
    # ASSUMPTION: the docs give no scale; 4 places for quantity and unit price, like the UI.
    "Ilosc": (_number(places=4), True),
    "CenaJednostkowa": (_number(places=4), True),
    "TypStawkiVat": (_one_of(frozenset({"PRC", "ZW", "NP"})), True),
    "StawkaVat": (_number(places=2), False),
    "PKWiU": (_text(30), False),
    "GTU": (lambda v: None if isinstance(v, str) and GTU.fullmatch(v) else "BRAK lub 01..13", False),
    # Documented: Rabat (%) per line. ASSUMPTION: 0 to 100 with at most 2 decimals.
    "Rabat": (_number(places=2, below=Decimal("100.01")), False),
    # ASSUMPTION: I-BUNDLE caps it at 30 characters [COMMUNITY]; the official limit was not found, and
    # common legal bases ("art. 43 ust. 1 pkt 29 lit. c ustawy o VAT") are longer, so 300 here.
    "PodstawaPrawna": (_text(300), False),
    "StawkaRyczaltu": (_number(), False),
}
FOREIGN_POSITION_FIELDS = {**POSITION_FIELDS, "NazwaPelnaObca": (_text(300), False),
                           "JednostkaObca": (_text(10), False)}


class _Invalid(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def envelope(code: int, information: str, **extra: Any) -> dict[str, Any]:
    return {"response": {"Kod": code, "Informacja": information, **extra}}


def read_answer(account: IfirmaAccount, information: str, **fields: Any) -> Response:
    """A successful read in the envelope, with Kod 0 or, for an account set so, without Kod."""
    body = envelope(OK, information, **fields)
    if not account.reads_carry_kod:
        del body["response"]["Kod"]
    return json_response(200, body)


def _error(code: int, information: str, status: int = 200) -> HttpError:
    """ASSUMPTION: errors keep HTTP 200 (the FAQ puts the code in the body) unless stated."""
    return HttpError(json_response(status, envelope(code, information)))


# --------------------------------------------------------------------------- records


@dataclass(eq=False)
class IfirmaAccount:
    """One iFirma user: a login with its generated keys (hex, by key name) and its company's books."""

    login: str
    keys: dict[str, str]
    accounting_month: tuple[int, int]  # (year, month)
    series: set[str]  # named numbering series configured in iFirma (the default one has no name)
    quota: int  # documents per month through the API (LimitPrzyznany)
    issued_this_month: int = 0
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    contractors: dict[str, dict[str, Any]] = field(default_factory=dict)  # by NIP (or name)
    counters: dict[tuple[str, int], int] = field(default_factory=dict)
    # The documented "issue date >= the previous invoice's in the series" rule.
    last_issue: dict[str, date] = field(default_factory=dict)
    month_moves: list[str] = field(default_factory=list)  # NAST/POPRZ received, in order
    # KSeF as connected in iFirma's app (facts 2.12: a connection is needed before sending).
    ksef_connected: bool = True
    ksef_submissions: dict[int, str | None] = field(default_factory=dict)  # invoice id -> DataWysylki
    # ASSUMPTION (issue 14, two readings): successful reads (a document, the list, the accounting month,
    # the quota) carry Kod 0 (True, the FAQ's envelope), or no Kod at all (False): iFirma's own shop
    # plugin (ifirma/ifirma-api-sklepy, prestashop_1.5 ConnectorAbstract::_checkResponseBeforePopulatingInvoice
    # and Response::constructAccountancyMonthFromResponse) and maciejlewandowskii/iFirmaBundle
    # (iFirmaClient::decodeJsonResponse) both accept a read without Kod. Errors always carry their Kod.
    reads_carry_kod: bool = True


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
                self._check_fields(body, FIELDS[kind], "")
                positions = self._positions(body["Pozycje"], kind)
                self._check_rules(account, body, kind)
                totals = _totals(positions, body.get("LiczOd", "NET"))
                if body["Zaplacono"] > totals["Brutto"]:
                    raise _Invalid(VALIDATION, "Zaplacono: kwota większa niż razem brutto faktury")
                contractor = self._contractor(account, body)
                self._check_quota(account)
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
                self._check_fields(body, CORRECTION_FIELDS, "")
                positions = self._positions(body["Pozycje"], "korekta")
                if len(positions) < len(original["Pozycje"]):
                    # Documented: the full state after the correction; a removed line stays with Ilosc 0.
                    raise _Invalid(VALIDATION, "Pozycje: korekta musi zawierać wszystkie pozycje faktury "
                                               "korygowanej (usunięta pozycja z Ilosc 0)")
                body.setdefault("LiczOd", original["LiczOd"])  # ASSUMPTION: inherited from the original
                self._check_rules(account, body, "korekta")
                after = _totals(positions, body["LiczOd"])
                totals = {name: after[name] - Decimal(original[name]) for name in after}
                self._check_quota(account)
            except _Invalid as problem:
                return json_response(200, envelope(problem.code, problem.message))
            body.setdefault("SposobZaplaty", original["SposobZaplaty"])
            body.setdefault("Zaplacono", Decimal(0))
            stored = self._store(account, body, "korekta", positions, totals, original["Kontrahent"],
                                 corrects=original["FakturaId"])
            return json_response(200, envelope(OK, "Faktura korygująca została wystawiona",
                                               Identyfikator=stored["FakturaId"]))

    def _check_fields(self, body: dict[str, Any], spec: dict[str, tuple[Check, bool]], prefix: str) -> None:
        unknown = sorted(set(body) - set(spec))
        if unknown:
            # ASSUMPTION: an unknown field is a wrong structure (Kod 200), not silently ignored.
            raise _Invalid(BAD_STRUCTURE, "Niepoprawna struktura obiektu domenowego: nieznane pole "
                                          + ", ".join(f"{prefix}{name}" for name in unknown))
        problems = []
        for name, (check, required) in spec.items():
            if name not in body or body[name] is None:
                if required:
                    problems.append(f"{prefix}{name}: pole wymagane")
                continue
            problem = check(body[name])
            if problem:
                problems.append(f"{prefix}{name}: {problem}")
        if problems:
            raise _Invalid(VALIDATION, "Błędy walidacji: " + "; ".join(problems))

    def _positions(self, raw: list[Any], kind: str) -> list[dict[str, Any]]:
        spec = FOREIGN_POSITION_FIELDS if kind in (FOREIGN, EU_SERVICES) else POSITION_FIELDS
        positions = []
        for index, position in enumerate(raw):
            path = f"Pozycje[{index}]."
            if not isinstance(position, dict):
                raise _Invalid(BAD_STRUCTURE, f"Niepoprawna struktura obiektu domenowego: Pozycje[{index}]")
            self._check_fields(position, spec, path)
            problems = []
            if position["Ilosc"] <= 0 and kind != "korekta":
                problems.append(f"{path}Ilosc: wartość musi być > 0")
            rate_type, rate = position["TypStawkiVat"], position.get("StawkaVat")
            if rate_type == "PRC" and (rate is None or Decimal(rate) not in VAT_FRACTIONS):
                # Documented as a fraction (0.23), not a percentage (23).
                problems.append(f"{path}StawkaVat: niedozwolona stawka (podaj ułamek: 0.23, 0.08, 0.05, 0.00)")
            if rate_type != "PRC" and rate is not None:
                problems.append(f"{path}StawkaVat: dla {rate_type} stawki nie podaje się")
            if rate_type == "ZW" and not position.get("PodstawaPrawna"):
                problems.append(f"{path}PodstawaPrawna: pole wymagane dla stawki ZW")
            if kind == EU_SERVICES:
                # ASSUMPTION: art. 28b services are outside Polish VAT; printed in two languages.
                if rate_type != "NP":
                    problems.append(f"{path}TypStawkiVat: usługi art. 28b tylko NP")
                for name in ("NazwaPelnaObca", "JednostkaObca"):
                    if not position.get(name):
                        problems.append(f"{path}{name}: pole wymagane")
            if problems:
                raise _Invalid(VALIDATION, "Błędy walidacji: " + "; ".join(problems))
            rate_value = Decimal(rate) if rate_type == "PRC" else Decimal(0)
            # ASSUMPTION (docs silent on the rounding): a discounted line is quantity x unit price x
            # (1 - Rabat/100), rounded half-up to the grosz once.
            discount = Decimal(position.get("Rabat") or 0)
            value = quantize_money(Decimal(position["Ilosc"]) * Decimal(position["CenaJednostkowa"])
                                   * (100 - discount) / 100)
            positions.append({**position, "_rate": rate_value, "_value": value})
        return positions

    def _check_rules(self, account: IfirmaAccount, body: dict[str, Any], kind: str) -> None:
        issue = date.fromisoformat(body["DataWystawienia"])
        problems = []
        if (issue.year, issue.month) != account.accounting_month:
            # ASSUMPTION on the wording: the message seen in the wild ("Data sprzedaży musi być zgodna z
            # miesiącem i rokiem księgowym") names the sale date; the plugins align the issue month.
            year, month = account.accounting_month
            problems.append(f"Data wystawienia musi być zgodna z miesiącem i rokiem księgowym ({month:02d}/{year})")
        if "DataSprzedazy" in body:
            sale = date.fromisoformat(body["DataSprzedazy"])
            if issue < sale:
                problems.append("DataWystawienia: musi być >= data sprzedaży")
            limit = date(sale.year + (sale.month == 12), sale.month % 12 + 1, 15)
            if issue > limit:
                problems.append("DataWystawienia: najpóźniej 15 dnia miesiąca następującego po miesiącu sprzedaży")
            if body.get("TerminPlatnosci") and date.fromisoformat(body["TerminPlatnosci"]) < sale:
                problems.append("TerminPlatnosci: musi być >= data sprzedaży")
        series = body.get("NazwaSeriiNumeracji")
        if series is not None and series not in account.series:
            problems.append(f"NazwaSeriiNumeracji: nie istnieje seria numeracji o nazwie '{series}'")
        series_key = f"{kind}:{series or ''}"
        previous = account.last_issue.get(series_key)
        if previous is not None and issue < previous:
            problems.append(f"DataWystawienia: musi być >= data wystawienia faktury wcześniejszej ({previous})")
        number = body.get("Numer")
        if number is not None and any(
                inv["_series"] == series_key and inv["Numer"] == number and inv["_year"] == issue.year
                for inv in account.invoices.values()):
            problems.append(f"Numer: faktura o numerze {number} istnieje już w tej serii")
        if problems:
            raise _Invalid(VALIDATION, "Błędy walidacji: " + "; ".join(problems))

    def _contractor(self, account: IfirmaAccount, body: dict[str, Any]) -> dict[str, Any]:
        contractor = body.get("Kontrahent")
        if contractor is None:
            known = account.contractors.get(body.get("NIPKontrahenta") or body.get("IdentyfikatorKontrahenta") or "")
            if known is None:
                raise _Invalid(VALIDATION, "Kontrahent: podaj dane kontrahenta albo identyfikator istniejącego")
            return dict(known)
        self._check_fields(contractor, CONTRACTOR_FIELDS, "Kontrahent.")
        nip = contractor.get("NIP")
        polish = contractor.get("KodKraju", "PL") == "PL" and not contractor.get("PrefiksUE")
        if nip and polish and not _valid_nip(nip):
            raise _Invalid(VALIDATION, "Błędy walidacji: Kontrahent.NIP: niepoprawny numer NIP")
        # Documented pitfall: saving a contractor replaces the whole record (fields not sent are lost).
        account.contractors[nip or contractor["Nazwa"]] = dict(contractor)
        return dict(contractor)

    def _check_quota(self, account: IfirmaAccount) -> None:
        if account.issued_this_month >= account.quota:
            # ASSUMPTION: the documented monthly document limit answers Kod 202 (account settings).
            raise _Invalid(ACCOUNT_SETTINGS, f"Przekroczono miesięczny limit dokumentów API ({account.quota})")

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
                self._check_fields(body, {"DataWysylki": (_date, False)}, "")
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
            self._check_fields(body, spec, "")
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


# --------------------------------------------------------------------------- module helpers


def _valid_nip(nip: str) -> bool:
    """Polish NIP: 10 digits with the mod-11 check digit."""
    if not re.fullmatch(r"\d{10}", nip):
        return False
    check = sum(int(digit) * weight for digit, weight in zip(nip[:9], (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=True)) % 11
    return check == int(nip[9])


def _totals(positions: list[dict[str, Any]], basis: str) -> dict[str, Decimal]:
    """ASSUMPTION (the VAT summary of the printout): VAT per rate from the summed line values, gross
    values for LiczOd BRT, net for NET; each line value is quantity x unit price rounded half-up."""
    by_rate: dict[Decimal, Decimal] = {}
    for position in positions:
        by_rate[position["_rate"]] = by_rate.get(position["_rate"], Decimal(0)) + position["_value"]
    net = vat = Decimal("0.00")
    for rate, value in by_rate.items():
        if basis == "BRT":
            tax = (value * rate / (1 + rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            net, vat = net + value - tax, vat + tax
        else:
            tax = (value * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            net, vat = net + value, vat + tax
    return {"Netto": net, "Vat": vat, "Brutto": net + vat}


def _pdf(invoice: dict[str, Any], duplicate: bool) -> bytes:
    currency = invoice["Waluta"]
    buyer = invoice["Kontrahent"]
    lines = [
        "DUPLIKAT" if duplicate else "ORYGINAL",
        f"Numer: {invoice['PelnyNumer']}",
        f"Data wystawienia: {invoice['DataWystawienia']}   Data sprzedazy: {invoice.get('DataSprzedazy', '-')}",
        f"Nabywca: {buyer.get('Nazwa')} NIP {buyer.get('PrefiksUE', '')}{buyer.get('NIP', '-')}",
        f"Sposob zaplaty: {invoice.get('SposobZaplaty')}   Termin: {invoice.get('TerminPlatnosci') or '-'}",
        "",
    ]
    for index, position in enumerate(invoice["Pozycje"], start=1):
        rate = f"{position['StawkaVat']}" if position["TypStawkiVat"] == "PRC" else position["TypStawkiVat"]
        lines.append(f"{index}. {position['NazwaPelna']} | {position['Ilosc']} {position['Jednostka']} x "
                     f"{position['CenaJednostkowa']} | VAT {rate}")
    lines += ["", f"Razem netto: {invoice['Netto']} {currency}", f"VAT: {invoice['Vat']} {currency}",
              f"Razem brutto: {invoice['Brutto']} {currency}"]
    if invoice.get("Uwagi"):
        lines.append(f"Uwagi: {invoice['Uwagi']}")
    return render_pdf(f"Faktura {invoice['PelnyNumer']}", lines)
