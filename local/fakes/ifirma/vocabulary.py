"""The iFirma fake's vocabulary: documented codes and values, the field specifications and their
checks, the answer envelope, and the account record."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from local.fakes.common import ISO_3166_ALPHA2, HttpError, Response, json_response, parse_date

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


def _check_fields(body: dict[str, Any], spec: dict[str, tuple[Check, bool]], prefix: str) -> None:
    """`body` against a field specification (name -> (check, required)), `prefix` naming where it sits:
    an unknown field is a wrong structure, the other problems are reported together."""
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
