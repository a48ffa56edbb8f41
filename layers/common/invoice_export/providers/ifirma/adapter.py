"""iFirma adapter (www.ifirma.pl/iapi).

API facts and sources: shared/providers/wfirma-ifirma.md section 2 (api.ifirma.pl pages, the
official ifirma/ifirma-api-sklepy plugins, community clients). What iFirma makes different, and the
choices made here:

- Every request is signed: `Authentication: IAPIS user=<login>, hmac-sha1=<hex>` over the URL
  without its query + login + key name + the body bytes, with the HEX-DECODED key. The key name
  depends on the resource (`faktura` for invoices, `abonent` for the accounting month and the
  quota), so `IfirmaSigner` signs the prepared request exactly as it leaves.
- One endpoint per document type: a PLN invoice goes to `fakturakraj`, another currency to
  `fakturawaluta` (domestic sale priced in a foreign currency), an invoice made only of np-EU
  services to `fakturaeksportuslugue` (art. 28b). The type travels in our provider document id
  (`fakturawaluta:123`) because reading the document and its PDF need it.
- Amounts are JSON numbers and VAT rates fractions (0.23): the body is serialised here from
  Decimals (`encode_json`), never through float.
- Create answers only an id; the number comes from a follow-up read. A failed read does not fail
  the create (the document exists): the reference is returned without its number, which the export
  service reads again (`read_number`) before it announces the document.
- Errors come as HTTP 200 with `response.Kod` != 0, so every answer is checked (`_checked`). A
  successful answer may come without `Kod` at all [COMMUNITY, issue 14]: iFirma's own shop plugin
  (ifirma/ifirma-api-sklepy, ConnectorAbstract::_checkResponseBeforePopulatingInvoice) fails a read
  only on a `Kod` that is present and not 0, and maciejlewandowskii/iFirmaBundle
  (iFirmaClient::decodeJsonResponse) does so for every answer. So an answer without `Kod` counts
  when it carries what the call is for (the document's PelnyNumer, the month, the quota, a new
  document's Identyfikator); a write whose answer shows neither may have been done (in doubt).
- No receipts, no SKUs, no external id. Every create carries our reference as the last line of
  `Uwagi` (`ref: <our id>`, domain.settlement; the notes are cut to leave it room, never it), which a
  read returns. A create whose answer was lost is settled by listing (`settle_by_listing`):
  `faktury.json` of the issue date, narrowed on `Brutto` and `Rodzaj` (its items carry no currency
  or notes, and a private buyer has no NIP), each remaining candidate read to see our reference.
- iFirma only issues documents in the account's accounting month. Moving that month changes the
  merchant's books, so it is done only with the account option `allow_accounting_month_switch`
  (and the subscriber key); otherwise the rejection says what to do.
- KSeF (facts 2.12) [COMMUNITY]: `POST {type}/ksef/send/{id}.json` with `{"DataWysylki": null}`
  (key faktura) asks iFirma to send a document to KSeF. Two independent clients use it
  (maciejlewandowskii/iFirmaBundle `sendToKsef`, exercised by its integration test against a live
  account; adriandmitroca/ifirma-mcp-server), and api.ifirma.pl lists a page "Wysyłanie faktury do
  KSeF", whose text we could not read. No way to read a document's KSeF state or number back is
  known, and none is invented here: `send_on_export` is offered, the poller sends each invoice once
  (never again, whatever happens: iFirma may have it) and records it as handed over to iFirma,
  with an event saying that the KSeF number can only be seen in iFirma. `provider_sends` is refused:
  there would be nothing to read back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from pydantic import BaseModel, ConfigDict, SecretStr

from invoice_export.domain.account_settings import AccountSettings, KsefMode, ProviderName
from invoice_export.domain.documents import (
    BuyerKind,
    Correction,
    Document,
    DocumentKind,
    Line,
    PriceBasis,
    VatCalculation,
    VatCode,
)
from invoice_export.domain.errors import (
    ConfigurationError,
    CredentialsRejected,
    ExportError,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.money import HUNDRED
from invoice_export.domain.provider_contract import (
    Capabilities,
    CreatedDocument,
    ExportPlan,
    ProviderOption,
    ProviderQuota,
    ProviderReference,
)
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.readback import ProviderTotals
from invoice_export.domain.settlement import InterruptedAttempt, ListedDocument, with_our_reference
from invoice_export.platform.observability import logger
from invoice_export.providers import pricing
from invoice_export.providers.base import ProviderAdapter
from invoice_export.providers.http import encode_json
from invoice_export.providers.pricing import PricedLine, folded_name, priced_line, unit_price_to_send
from invoice_export.providers.texts import TextLimit

DOMESTIC = "fakturakraj"
FOREIGN_CURRENCY = "fakturawaluta"
EU_SERVICES = "fakturaeksportuslugue"
DOCUMENT_TYPES = (DOMESTIC, FOREIGN_CURRENCY, EU_SERVICES)

# The documented SposobZaplaty codes (fakturakraj page); other document types accept a subset.
PAYMENT_TYPES = {
    "GTK": "gotówka", "POB": "za pobraniem", "PRZ": "przelew", "KAR": "karta", "PZA": "polecenie zapłaty",
    "CZK": "czek", "KOM": "kompensata", "BAR": "barter", "DOT": "DotPay", "PAL": "PayPal", "ALG": "PayU",
    "P24": "Przelewy24", "TPA": "tpay.com", "ELE": "płatność elektroniczna",
}
CORRECTION_REASONS = ("OBOW_RABAT", "ZWR_SPRZ_TOW", "ZWR_NAB_KWOT", "ZWR_NAB_ZAL", "PODW_CENY", "POMYLKI")
# Corrections (issue 13 §6): iFirma documents one correction endpoint, fakturakraj/korekta (api.ifirma.pl
# "Faktura korygująca fakturę krajową"; its change log of 2023-01-26 adds only "faktura korygująca
# sprzedaż krajową"). No correction of a fakturawaluta or fakturaeksportuslugue invoice is documented or
# used by a public client. Searched on 2026-11-25: the stored api.ifirma.pl pages; iFirma's own shop
# plugins (ifirma/ifirma-api-sklepy: no corrections at all); maciejlewandowskii/iFirmaBundle (its
# KsefInvoiceType lists fakturakraj/korekta only); adriandmitroca/ifirma-mcp-server (fakturakraj/korekta
# only); public code for "fakturawaluta/korekta" and "korektawaluta" (nothing). So such a correction is
# refused before sending, never sent to a guessed endpoint.
ONLY_DOMESTIC_CORRECTIONS = (
    "iFirma's API corrects domestic invoices only (fakturakraj/korekta, api.ifirma.pl 'Faktura korygująca fakturę "
    "krajową'): it documents no correction of {what}, and no public iFirma client has one")

# Where a field iFirma names comes from in our message, to say what to fix. Longest names first
# when searching a message, so "NIPKontrahenta" is not read as "NIP".
OUR_FIELD = {
    "NazwaSeriiNumeracji": "the account's series link (an iFirma series name, spelt exactly as in iFirma)",
    "SposobZaplaty": "the account's payment-type link",
    "DataWystawienia": "document.issue_date",
    "DataSprzedazy": "document.sale_date",
    "TerminPlatnosci": "document.payment.due_date",
    "Zaplacono": "document.payment.paid_date",
    "Waluta": "document.currency",
    "KursWalutyZDniaPoprzedzajacegoDzienWystawieniaFaktury": "document.exchange_rate.rate",
    "Uwagi": "document.notes",
    "Nazwa": "document.buyer.name",
    "NIP": "document.buyer.tax_id",
    "PrefiksUE": "document.buyer.tax_id (its country prefix)",
    "Ulica": "document.buyer.address.street",
    "KodPocztowy": "document.buyer.address.postal_code",
    "Miejscowosc": "document.buyer.address.city",
    "KodKraju": "document.buyer.address.country",
    "Email": "document.buyer.email",
    "Telefon": "document.buyer.phone",
    "NazwaPelna": "document.lines[].name",
    "Jednostka": "document.lines[].unit",
    "Ilosc": "document.lines[].quantity",
    "CenaJednostkowa": "document.lines[].unit_price",
    "StawkaVat": "document.lines[].vat",
    "TypStawkiVat": "document.lines[].vat",
    "PodstawaPrawna": "document.lines[].vat_exemption_basis",
    "Pozycje": "document.lines",
    "PowodKorekty": "provider option correction_reason",
    "SpelnionoWarunki": "document.correction.conditions_met",
}
_FIELD_PATTERN = re.compile(r"\b(" + "|".join(sorted(OUR_FIELD, key=len, reverse=True)) + r")\b")
# The one accounting-month refusal seen in the wild names the sale date; match the month part only.
_ACCOUNTING_MONTH = re.compile(r"miesi[aą]c\w*\s+i\s+rokiem\s+ksi[eę]gowym|miesi[aą]c\w* ksi[eę]gow", re.IGNORECASE)

AUTH_CODES = {400: "the Authentication header was refused", 401: "the login is unknown",
              402: "no API key has been generated for it", 403: "the signature does not match"}
KEY_FIELDS = {"faktura": "invoice_key", "abonent": "subscriber_key"}

RATE_WINDOW_SECONDS = 60.0
MAX_MONTH_STEPS = 24  # a switch further than two years is surely a wrong date, not a month to move to


# Field lengths: the "<=" of api.ifirma.pl's field tables (shared/providers/wfirma-ifirma.md 2.3; the
# buyer's in "Dodawanie kontrahenta", the same Kontrahent object the invoice carries inline).
# A folded line (providers.pricing.priced_line) is one piece: the whole line; its name is fitted to
# _LINE_NAME by the mapping, so the quantity and price it states are never cut.
FOLDED_UNIT = "szt."
_LINE_NAME = TextLimit(300, "document.lines[].name", "I-PLUG InvoicePosition: NazwaPelna ≤300")
_UNIT = TextLimit(10, "document.lines[].unit", "I-PLUG InvoicePosition: Jednostka ≤10")
TEXT_LIMITS = {
    "Kontrahent.Nazwa": TextLimit(150, "document.buyer.name", "api.ifirma.pl 'Dodawanie kontrahenta': Nazwa ≤150"),
    "Kontrahent.Ulica": TextLimit(65, "document.buyer.address.street",
                                  "api.ifirma.pl 'Dodawanie kontrahenta': Ulica ≤65"),
    "Kontrahent.Miejscowosc": TextLimit(65, "document.buyer.address.city",
                                        "api.ifirma.pl 'Dodawanie kontrahenta': Miejscowosc ≤65"),
    "Kontrahent.Telefon": TextLimit(32, "document.buyer.phone", "ASSUMPTION: not documented; 32",
                                    whole_or_nothing=True),
    "Pozycje.*.NazwaPelna": _LINE_NAME,
    "Pozycje.*.NazwaPelnaObca": _LINE_NAME,
    "Pozycje.*.Jednostka": _UNIT,
    "Pozycje.*.JednostkaObca": _UNIT,
    "Pozycje.*.PodstawaPrawna": TextLimit(
        300, "document.lines[].vat_exemption_basis",
        "ASSUMPTION: no official limit found (a community client caps it at 30, too short for common bases)"),
    "NazwaUslugi": TextLimit(300, "document.lines[].name (all lines of an art. 28b invoice)",
                             "api.ifirma.pl fakturaeksportuslugue: NazwaUslugi ≤300"),
    "Uwagi": TextLimit(1000, "document.notes (and a correction's reason)", "I-DOC: Uwagi ≤1000",
                       keeps_our_reference=True),
}
# faktury.json's Rodzaj -> (the resource its document is read under, our kind). prz_faktura_kraj is
# documented (I-MCP findings); the others are the fake's ASSUMPTION. A Rodzaj not known here narrows
# nothing: the document is read under our create's resource (a 404 there: not ours).
LISTED_KINDS = {"prz_faktura_kraj": (DOMESTIC, DocumentKind.INVOICE),
                "prz_faktura_waluta": (FOREIGN_CURRENCY, DocumentKind.INVOICE),
                "prz_eksport_uslug_ue": (EU_SERVICES, DocumentKind.INVOICE),
                "prz_faktura_kraj_korekta": (DOMESTIC, DocumentKind.CORRECTION)}
LIST_PAGE_SIZE = 100  # ASSUMPTION: iloscNaStronie accepts 100; the list is read to an empty page anyway
LIST_MAX_PAGES = 50  # a day of more than ~5,000 documents is not settled by listing (in doubt)


class IfirmaCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    login: str
    invoice_key: SecretStr  # key "faktura": issuing and reading invoices
    subscriber_key: SecretStr | None = None  # key "abonent": accounting month and API quota


class IfirmaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Moving iFirma's accounting month changes the merchant's books: only when the account says so.
    allow_accounting_month_switch: bool = False
    # iFirma's closed list (PowodKorekty); our free-text reason is printed in Uwagi.
    correction_reason: Literal["OBOW_RABAT", "ZWR_SPRZ_TOW", "ZWR_NAB_KWOT", "ZWR_NAB_ZAL", "PODW_CENY",
                               "POMYLKI"] = "ZWR_SPRZ_TOW"
    # Printout language of EU-service invoices (Jezyk is required there).
    foreign_language: Literal["en", "de", "fr", "cs", "sk", "it", "es", "nl"] = "en"


def quota_resets_at(today: date) -> datetime:
    """iFirma's API document limit is monthly ("1000 dokumentów na miesiąc"): ASSUMPTION, counted per
    calendar month in Polish time, so it starts again at midnight of the next month's first day."""
    first = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return datetime.combine(first, time(0), tzinfo=_warsaw())


def _warsaw() -> tzinfo:
    try:
        return ZoneInfo("Europe/Warsaw")
    except ZoneInfoNotFoundError:  # no time zone database in the runtime: winter time, off by 1 h at most
        return timezone(timedelta(hours=1))


def key_name_for(url: str) -> str:
    """The iFirma key a resource is signed with: `abonent/...` by the subscriber key, the rest by `faktura`."""
    path = urlsplit(url).path
    resource = path.split("/iapi/", 1)[1] if "/iapi/" in path else path.lstrip("/")
    return "abonent" if resource.split("/", 1)[0] == "abonent" else "faktura"


def signature(key_hex: str, message: bytes) -> str:
    """HMAC-SHA1 of the message with the hex-decoded key, as lowercase hex (api.ifirma.pl FAQ)."""
    return hmac.new(bytes.fromhex(key_hex), message, hashlib.sha1).hexdigest()


class IfirmaSigner(requests.auth.AuthBase):
    """Signs each prepared request exactly as it is sent: URL without query + login + key name + body."""

    def __init__(self, credentials: IfirmaCredentials) -> None:
        self._login = credentials.login
        self._keys = {"faktura": credentials.invoice_key, "abonent": credentials.subscriber_key}

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.url is not None
        key_name = key_name_for(request.url)
        key = self._keys[key_name]
        if key is None:
            raise ConfigurationError(
                f"iFirma needs the subscriber ('abonent') key for {urlsplit(request.url).path}",
                fix="add the iFirma 'abonent' API key to the account connection", code="missing_subscriber_key")
        secret = key.get_secret_value()
        if len(secret) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", secret):
            # The value is never echoed: the message names the key and the rule only.
            raise CredentialsRejected(
                f"the iFirma '{key_name}' key of this account is not the hexadecimal key iFirma shows",
                fix=f"check your API key: copy the '{key_name}' key ({KEY_FIELDS[key_name]}) from iFirma "
                    "(Konfiguracja » Rozszerzenia i integracje » API), e.g. 16 characters 0-9, A-F",
                code="provider_auth_failed")
        parts = urlsplit(request.url)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        message = (url + self._login + key_name).encode("utf-8") + body
        digest = signature(secret, message)
        request.headers["Authentication"] = f"IAPIS user={self._login}, hmac-sha1={digest}"
        return request

    def __repr__(self) -> str:
        return f"IfirmaSigner(user={self._login!r}, keys: <redacted>)"


def split_reference(provider_document_id: str) -> tuple[str, int]:
    """`fakturawaluta:123` -> ("fakturawaluta", 123); a bare id (attached by hand) is a domestic invoice."""
    kind, _, number = provider_document_id.rpartition(":")
    kind = kind or DOMESTIC
    if kind not in DOCUMENT_TYPES or not number.isdigit():
        raise ConfigurationError(f"'{provider_document_id}' is not an iFirma document reference",
                                 fix="use the form fakturakraj:<id> (or fakturawaluta:<id>, "
                                     "fakturaeksportuslugue:<id>)", code="invalid_provider_reference")
    return kind, int(number)


class IfirmaAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.IFIRMA
    display_name: ClassVar[str] = "iFirma"
    capabilities: ClassVar[Capabilities] = Capabilities(
        receipts=False,  # no receipt endpoint: fiscal receipts come from a cash register
        corrections=True,  # of domestic (PLN) invoices only: the one documented endpoint (ONLY_DOMESTIC_CORRECTIONS)
        series=True,  # NazwaSeriiNumeracji, by name
        list_series=False,  # no endpoint lists series
        own_numbering=False,  # Numer is only a sequence number inside iFirma's own series template
        payment_types=True,
        list_payment_types=True,  # the documented fixed list, no endpoint
        sku_stock=False,  # no product or stock field on lines
        ksef_send=True,  # ksef/send, community-documented (see the module's notes)
        ksef_read_back=False,  # no known way to read the KSeF state or number back
        lookup_by_reference=False,  # no external id field
        settle_by_listing=True,  # faktury.json of the day, our reference read back from Uwagi
    )
    credentials_model: ClassVar[type[BaseModel]] = IfirmaCredentials
    options_model: ClassVar[type[BaseModel]] = IfirmaOptions
    default_api_url: ClassVar[str] = "https://www.ifirma.pl/iapi"
    # Documented per user: 100 per minute, 15,000 per day (the minute one binds a queue first).
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=100, window_seconds=60, scope=LimitScope.CREDENTIAL,
        source="documented: api.ifirma.pl 'Limit zapytań', 100/min and 15,000/day per user")
    ksef_refusals: ClassVar[dict[KsefMode, tuple[str, str]]] = {KsefMode.PROVIDER_SENDS: (
        "iFirma's API does not report a document's KSeF status or number, so there is nothing for us to read "
        "back when iFirma sends by itself",
        "set ksef to 'off' and follow KSeF in iFirma; or, if iFirma does not send to KSeF by itself, to "
        "'send_on_export': we then ask iFirma once per invoice to send it and report that it was handed over "
        "(the KSeF number stays visible in iFirma only)")}
    # iFirma computes VAT per rate from the summed gross (BRT) or net (NET) line values, as its fake
    # models it: a document computed line by line goes with both splits recorded (domain.vat_split),
    # its net lines as gross unit prices (LiczOd BRT) where only so iFirma's gross is ours.
    vat_calculation: ClassVar[VatCalculation | None] = VatCalculation.PER_RATE
    exchange_rate_fields: ClassVar[str] = (
        "`KursWalutyZDniaPoprzedzajacegoDzienWystawieniaFaktury` (the rate only; foreign-currency endpoints)")
    exemption_basis_fields: ClassVar[str] = "zw: `PodstawaPrawna` on each line (our basis); np: none"
    text_limits: ClassVar[dict[str, TextLimit]] = TEXT_LIMITS
    gross_unit_price_places: ClassVar[int | None] = 4
    # iFirma creates synchronously: once its server has finished a request, the document is listed.
    # Our client gives up after its read timeout (10 s), but the server may still finish the request.
    listing_complete_after: ClassVar[float] = 300.0
    listing_complete_after_source: ClassVar[str] = (
        "ASSUMPTION: iFirma documents no server timeout; web front ends cut a request after 60-120 s, so 5 "
        "minutes after the attempt began nothing it sent is still being stored")

    @classmethod
    def rate_limit_key(cls, settings: AccountSettings, credentials: BaseModel) -> str:
        # iFirma counts per user (login), whichever keys sign: a hash tells logins apart unseen.
        assert isinstance(credentials, IfirmaCredentials)
        return f"ifirma:credential:{hashlib.sha256(credentials.login.encode()).hexdigest()[:16]}"

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        assert isinstance(credentials, IfirmaCredentials)
        return IfirmaSigner(credentials)

    @staticmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        if response.status_code == 404:
            return ProviderRejected(
                "iFirma answered Not Found (HTTP 404): no such document of this login, or no such endpoint",
                fix="check that the document still exists in iFirma (the reference is <type>:<id>)",
                code="provider_not_found")
        payload = _envelope(response)
        if payload is None:
            return ProviderRejected(f"iFirma answered HTTP {response.status_code} without its usual body",
                                    fix="retry later; if it persists, contact iFirma", code="provider_error")
        error = _error_from(payload, response, may_have_arrived=False)
        if isinstance(error, ProviderRejected):
            return error
        return ProviderRejected(error.message, fix=error.fix, code=error.code)

    # ------------------------------------------------------------------ mapping

    def endpoint(self, doc: Document) -> str:
        """The iFirma resource this document is created under."""
        rates = {line.vat for line in doc.lines + (doc.correction.lines_before if doc.correction else [])}
        if VatCode.REVERSE_CHARGE in rates:
            raise ConfigurationError(
                "iFirma's invoice API has no reverse-charge (oo) rate type (only PRC, ZW and NP)",
                fix="issue this document in iFirma by hand", code="unsupported_vat_code")
        if doc.kind == DocumentKind.CORRECTION:
            if VatCode.NOT_SUBJECT_EU in rates:
                raise ConfigurationError(
                    ONLY_DOMESTIC_CORRECTIONS.format(what="an np-EU (art. 28b) invoice (fakturaeksportuslugue)"),
                    fix="issue this correction in iFirma by hand", code="unsupported_vat_code")
            if doc.currency != "PLN":
                raise ConfigurationError(
                    ONLY_DOMESTIC_CORRECTIONS.format(what=f"a {doc.currency} invoice (fakturawaluta)"),
                    fix="issue this correction in iFirma by hand", code="unsupported_correction")
            return f"{DOMESTIC}/korekta"
        if VatCode.NOT_SUBJECT_EU in rates:
            if rates != {VatCode.NOT_SUBJECT_EU}:
                raise ConfigurationError(
                    "iFirma issues art. 28b EU services on their own document type: np-EU lines cannot share "
                    "an invoice with other rates", fix="issue the np-EU lines on a separate document",
                    code="unsupported_vat_mix")
            return EU_SERVICES
        return DOMESTIC if doc.currency == "PLN" else FOREIGN_CURRENCY

    def build_request(self, plan: ExportPlan) -> dict[str, Any]:
        doc = plan.document
        endpoint = self.endpoint(doc)
        if endpoint == f"{DOMESTIC}/korekta":
            return self._correction(plan)
        paid = doc.totals.gross if doc.payment.paid_date is not None else Decimal("0.00")
        body: dict[str, Any] = {
            "Zaplacono": paid,
            "ZaplaconoNaDokumencie": paid,
            "DataWystawienia": doc.issue_date.isoformat(),
            "DataSprzedazy": doc.sale_date.isoformat(),
            "FormatDatySprzedazy": "DZN",
            "SposobZaplaty": plan.provider_payment_type,
            "RodzajPodpisuOdbiorcy": "BPO",  # a shop invoice carries no recipient signature
            "WidocznyNumerGios": False,
            "Numer": None,  # iFirma gives the next number of the series
            "Kontrahent": self._buyer(doc),
            "Pozycje": [self._position(line, endpoint, as_gross=plan.send_gross_prices) for line in doc.lines],
        }
        if endpoint != EU_SERVICES:
            # A net-priced document goes as gross prices where planning says so (send_gross_prices).
            body["LiczOd"] = "BRT" if doc.price_basis == PriceBasis.GROSS or plan.send_gross_prices else "NET"
        body.update(_due_date_and_series(plan))
        # Our reference (domain.settlement), read back when an interrupted create is looked for.
        body["Uwagi"] = with_our_reference(doc.notes, doc.document_id)
        body.update(_currency_fields(doc, endpoint))
        if endpoint == EU_SERVICES:
            body.update(self._eu_service_fields(doc))
        return body

    def _eu_service_fields(self, doc: Document) -> dict[str, Any]:
        """What only fakturaeksportuslugue asks for: the services' name, the art. 28b tax date, the
        language of the bilingual print."""
        assert isinstance(self.options, IfirmaOptions)
        return {
            "NazwaUslugi": "; ".join(line.name for line in doc.lines),
            "DataObowiazkuPodatkowego": doc.sale_date.isoformat(),  # art. 28b: when the service is done
            "Jezyk": self.options.foreign_language,
        }

    @staticmethod
    def _buyer(doc: Document) -> dict[str, Any]:
        buyer = doc.buyer
        fields: dict[str, Any] = {
            "Nazwa": buyer.name,
            "Ulica": buyer.address.street,
            "KodPocztowy": buyer.address.postal_code,
            "Miejscowosc": buyer.address.city,
            "KodKraju": buyer.address.country,
            "Email": buyer.email,
            "Telefon": buyer.phone,
            "OsobaFizyczna": buyer.kind == BuyerKind.PERSON,
        }
        if buyer.tax_id:
            compact = re.sub(r"[\s-]", "", buyer.tax_id)
            prefix = compact[:2] if re.fullmatch(r"[A-Z]{2}", compact[:2]) else None
            if prefix is not None and prefix != "PL":
                fields.update(PrefiksUE=prefix, NIP=compact[2:])  # iFirma keeps the EU prefix apart
            else:
                fields["NIP"] = compact.removeprefix("PL")
        # The order's customer data go as they are: absent values are left out, not blanked.
        return {key: value for key, value in fields.items() if value is not None}

    @staticmethod
    def _vat_fields(line: Line) -> dict[str, Any]:
        if line.vat == VatCode.EXEMPT:
            return {"TypStawkiVat": "ZW", "PodstawaPrawna": line.vat_exemption_basis}
        if isinstance(line.vat, VatCode):  # np and np-EU: not subject; oo was refused by endpoint()
            return {"TypStawkiVat": "NP"}
        # A fraction, not a percentage: 23 % is 0.23.
        return {"TypStawkiVat": "PRC", "StawkaVat": (line.vat / HUNDRED).quantize(Decimal("0.01"))}

    def _position(self, line: Line, endpoint: str, quantity: Decimal | None = None,
                  as_gross: bool = False) -> dict[str, Any]:
        # A discounted line goes as its discounted unit price (4 places, exact to our line value): iFirma
        # documents Rabat (%) but not how it rounds a discounted line, so it is not sent. Where no 4-place
        # price gives the value exactly (a large quantity), the line goes folded: 1 at its value. Net lines
        # sent as gross prices are not folded: planning refuses those without an exact gross price.
        sent = PricedLine(line.quantity if quantity is None else quantity,
                          unit_price_to_send(line, places=4, quantity=quantity, as_gross=True)) \
            if as_gross else _priced(line, quantity)
        folded = sent.folded_because is not None
        name = folded_name(line, _LINE_NAME.max_length) if folded else line.name
        unit = FOLDED_UNIT if folded else line.unit
        position: dict[str, Any] = {
            "NazwaPelna": name,
            "Jednostka": unit,
            "Ilosc": sent.quantity.normalize(),
            "CenaJednostkowa": sent.unit_price.normalize(),
            **self._vat_fields(line),
        }
        if endpoint == EU_SERVICES:
            # Printed in two languages there; the order carries one name, used for both.
            position.update(NazwaPelnaObca=name, JednostkaObca=unit)
        return position

    def _correction(self, plan: ExportPlan) -> dict[str, Any]:
        doc = plan.document
        assert doc.correction is not None and isinstance(self.options, IfirmaOptions)
        if plan.corrected is None:
            raise ConfigurationError("the corrected document is not known at iFirma", code="missing_original",
                                     fix="export the original invoice first, or attach it (fakturakraj:<id>)")
        kind, _ = split_reference(plan.corrected.provider_document_id)
        if kind != DOMESTIC:
            raise ConfigurationError(
                ONLY_DOMESTIC_CORRECTIONS.format(what=f"the original's document type ({kind})"),
                fix="issue this correction in iFirma by hand", code="unsupported_correction")
        body: dict[str, Any] = {
            "PowodKorekty": self.options.correction_reason,
            "PowodKorektyNaWydruku": True,
            # Required by the correction page (T): met by the issue date unless the message says otherwise.
            "SpelnionoWarunki": doc.correction.conditions_met,
            "DataWystawienia": doc.issue_date.isoformat(),
            "SposobZaplaty": plan.provider_payment_type,
            "RodzajPodpisuOdbiorcy": "BPO",  # as on the invoice; a community client reads it as required here
            "Uwagi": with_our_reference(f"{doc.correction.reason}\n{doc.notes}" if doc.notes else doc.correction.reason,
                                        doc.document_id),
            # In the original's basis (LiczOd is inherited): planning decides send_gross_prices on its lines.
            "Pozycje": self._correction_positions(doc, doc.correction, as_gross=plan.send_gross_prices),
        }
        body.update(_due_date_and_series(plan))
        return body

    def _correction_positions(self, doc: Document, correction: Correction, *, as_gross: bool) -> list[dict[str, Any]]:
        """Pozycje is the full state after the correction, in the original's order; a removed line
        stays with quantity 0 and new lines follow."""
        after = {line.line_id: line for line in doc.lines}
        positions = [self._position(after.get(old.line_id, old), DOMESTIC,
                                    None if old.line_id in after else Decimal(0), as_gross=as_gross)
                     for old in correction.lines_before]
        before_ids = {line.line_id for line in correction.lines_before}
        positions += [self._position(line, DOMESTIC, as_gross=as_gross)
                      for line in doc.lines if line.line_id not in before_ids]
        return positions

    # ------------------------------------------------------------------ calls

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        doc = plan.document
        endpoint = self.endpoint(doc)
        fitted = self.fit_texts(self.build_request(plan))
        if plan.provider_payment_type not in PAYMENT_TYPES:
            # Checked before anything is sent (build_request stays a pure mapping of the link).
            raise ConfigurationError(
                f"'{plan.provider_payment_type}' is not an iFirma payment code (SposobZaplaty)",
                fix=f"link payment method '{doc.payment.method}' to one of {', '.join(PAYMENT_TYPES)}",
                code="invalid_payment_type")
        warnings = [*_fold_warnings(plan), *fitted.warnings, *self._align_accounting_month(doc)]
        path = f"/{endpoint}.json"
        if endpoint == f"{DOMESTIC}/korekta":
            assert plan.corrected is not None
            path = f"/{DOMESTIC}/korekta/{split_reference(plan.corrected.provider_document_id)[1]}.json"
        response = self._request("POST", path, data=encode_json(fitted.body), headers=_JSON_HEADERS, ok=(200, 201))
        payload = self._checked(response, may_have_arrived=True, doc=doc, proof=("Identyfikator",))
        document_type = DOMESTIC if endpoint.endswith("/korekta") else endpoint
        reference_id = f"{document_type}:{int(payload['Identyfikator'])}"
        try:
            # Create answers only the id: the number (and what iFirma computed) come from a read.
            stored = self._read(reference_id)
        except ExportError as problem:
            # The document exists: failing now would send it again. Its id is kept, and the export service
            # reads the number later (read_number) - our rate limiter may just have had no room for the read.
            logger.warning("iFirma created the document; reading its number failed",
                           extra={"error_code": problem.code})
            return CreatedDocument(ProviderReference(reference_id, "", plan.provider_series), tuple(warnings))
        reference = ProviderReference(reference_id, str(stored.get("PelnyNumer") or ""), plan.provider_series)
        return CreatedDocument(reference, tuple(warnings), readback=_totals(stored, doc.currency))

    def read_number(self, provider_document_id: str) -> str:
        return str(self._read(provider_document_id).get("PelnyNumer") or "")

    def _read(self, provider_document_id: str) -> dict[str, Any]:
        kind, number = split_reference(provider_document_id)
        response = self._request("GET", f"/{kind}/{number}.json", headers={"Accept": "application/json"},
                                     ok=(200,))
        return self._checked(response, may_have_arrived=False, proof=("PelnyNumer",))

    def _align_accounting_month(self, doc: Document) -> list[str]:
        """Move iFirma's accounting month to the issue month, when the account allows it."""
        assert isinstance(self.options, IfirmaOptions) and isinstance(self.credentials, IfirmaCredentials)
        if not self.options.allow_accounting_month_switch:
            return []  # iFirma refuses a document outside its month; the rejection says what to do
        if self.credentials.subscriber_key is None:
            raise ConfigurationError(
                "allow_accounting_month_switch is set, but the account has no iFirma subscriber ('abonent') key",
                fix="add the 'abonent' API key to the account connection, or turn the option off",
                code="missing_subscriber_key")
        target = (doc.issue_date.year, doc.issue_date.month)
        start = current = self.accounting_month()
        for _ in range(MAX_MONTH_STEPS):
            if current == target:
                break
            step = "NAST" if current < target else "POPRZ"
            response = self._request(
                "PUT", "/abonent/miesiacksiegowy.json", headers=_JSON_HEADERS,
                data=encode_json({"MiesiacKsiegowy": step, "PrzeniesDaneZPoprzedniegoRoku": True}), ok=(200,))
            self._checked(response, may_have_arrived=False, proof=())  # the month is read again just below
            current = self.accounting_month()  # re-read: a step is never assumed to have happened
        else:
            raise ConfigurationError(
                f"iFirma's accounting month {start[1]:02d}/{start[0]} is more than {MAX_MONTH_STEPS} months from "
                f"the issue date {doc.issue_date}", fix="check the document's issue date", code="accounting_month")
        if start == current:
            return []
        return [f"iFirma accounting month moved from {start[1]:02d}/{start[0]} to {current[1]:02d}/{current[0]}"]

    def accounting_month(self) -> tuple[int, int]:
        """(year, month) iFirma currently books in (key abonent)."""
        response = self._request("GET", "/abonent/miesiacksiegowy.json", headers={"Accept": "application/json"},
                                     ok=(200,))
        payload = self._checked(response, may_have_arrived=False, proof=("MiesiacKsiegowy", "RokKsiegowy"))
        return int(payload["RokKsiegowy"]), int(payload["MiesiacKsiegowy"])

    def remaining_quota(self) -> ProviderQuota:
        """The monthly API quota (abonent/limit.json, key abonent): LimitWykorzystany of LimitPrzyznany.
        pomoc.ifirma.pl "Informacje ogólne o API": the limit counts documents issued through the API
        (1000 a month by default), so one exported document costs one (quota_cost_per_document)."""
        assert isinstance(self.credentials, IfirmaCredentials)
        if self.credentials.subscriber_key is None:
            raise ConfigurationError("reading iFirma's API quota needs the subscriber ('abonent') key",
                                     fix="add the 'abonent' API key to the account connection",
                                     code="missing_subscriber_key")
        response = self._request("GET", "/abonent/limit.json", headers={"Accept": "application/json"}, ok=(200,))
        payload = self._checked(response, may_have_arrived=False, proof=("LimitWykorzystany", "LimitPrzyznany"))
        return ProviderQuota(used=int(payload["LimitWykorzystany"]), granted=int(payload["LimitPrzyznany"]),
                             resets_at=quota_resets_at(datetime.now(_warsaw()).date()), unit="documents")

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        # Never called while lookup_by_reference is False; a None here would wrongly mean "surely absent".
        raise PermanentError(
            "iFirma has no look-up by our id: an interrupted create is settled by listing (settle_by_listing)",
            fix="look for the document in iFirma and attach it (fakturakraj:<id>), or release it for a new send",
            code="lookup_not_possible")

    def list_for_settlement(self, plan: ExportPlan, attempt: InterruptedAttempt) -> list[ListedDocument]:
        """faktury.json around the issue date, to an empty page. ASSUMPTION: dataOd/dataDo filter on
        the issue date, inclusive; the sale date (from) and the next day (to) are asked too, in case it is
        the sale date or an exclusive end - a wider list costs reads, a narrower one a duplicate."""
        doc = plan.document
        params = {"dataOd": min(doc.sale_date, doc.issue_date).isoformat(),
                  "dataDo": (doc.issue_date + timedelta(days=1)).isoformat(), "iloscNaStronie": LIST_PAGE_SIZE}
        own_type = DOMESTIC if self.endpoint(doc).endswith("/korekta") else self.endpoint(doc)
        listed: dict[str, ListedDocument | None] = {}
        for page in range(1, LIST_MAX_PAGES + 1):
            response = self._request("GET", "/faktury.json", params={**params, "strona": page},
                                     headers={"Accept": "application/json"}, ok=(200,))
            items = [item for item in self._checked(response, may_have_arrived=False, proof=("Wynik",)
                                                    ).get("Wynik") or [] if isinstance(item, dict)]
            if not items:
                # None: a document of another resource than our create's, so not ours.
                return [entry for entry in listed.values() if entry is not None]
            fresh = dict(_listed(item, own_type) for item in items)
            if not fresh.keys() - listed.keys():
                break  # the same page again: iFirma ignored `strona`, so what follows is unknown
            listed.update(fresh)
        else:
            raise PermanentError(f"iFirma lists more than {LIST_MAX_PAGES} pages of documents around "
                                 f"{doc.issue_date}", code="provider_list_incomplete",
                                 fix="look for the document in iFirma and attach it, or release it")
        raise PermanentError(f"iFirma answered the same page of its list of {doc.issue_date} twice: it cannot be "
                             "read to its end", code="provider_list_incomplete",
                             fix="look for the document in iFirma and attach it, or release it")

    def read_listed(self, listed: ListedDocument) -> ListedDocument | None:
        try:
            stored = self._read(listed.reference.provider_document_id)
        except ProviderRejected as refusal:
            if refusal.code == "provider_not_found":
                return None  # not under our create's resource: not ours
            raise
        kind, number = split_reference(listed.reference.provider_document_id)
        corrects = stored.get("IdentyfikatorFakturyKorygowanej") is not None
        return ListedDocument(
            ProviderReference(f"{kind}:{number}", str(stored.get("PelnyNumer") or listed.reference.number)),
            issue_date=_date_or_none(stored.get("DataWystawienia")),
            kind=DocumentKind.CORRECTION if corrects else DocumentKind.INVOICE,
            gross=_decimal_or_none(stored.get("Brutto")), currency=str(stored.get("Waluta") or "PLN"),
            reference_text=str(stored.get("Uwagi") or ""))

    def download_pdf(self, provider_document_id: str) -> bytes:
        kind, number = split_reference(provider_document_id)
        response = self._request("GET", f"/{kind}/{number}.pdf", headers={"Accept": "application/pdf"}, ok=(200,))
        if not response.content.startswith(b"%PDF"):
            # An error comes as the JSON envelope with HTTP 200.
            self._checked(response, may_have_arrived=False)
            raise ProviderRejected("iFirma returned something other than a PDF", code="provider_bad_pdf")
        return response.content

    def send_to_ksef(self, provider_document_id: str) -> None:
        """Ask iFirma to send the document to KSeF now ([COMMUNITY]: path and body as two clients send them;
        a correction of a domestic invoice lives under fakturakraj, as its reads do)."""
        kind, number = split_reference(provider_document_id)
        response = self._request("POST", f"/{kind}/ksef/send/{number}.json", data=encode_json({"DataWysylki": None}),
                                 headers=_JSON_HEADERS, ok=(200, 201))
        self._checked(response, may_have_arrived=True)

    def check_credentials(self) -> None:
        """A cheap signed read per key: the invoice key always, the subscriber key when given."""
        assert isinstance(self.credentials, IfirmaCredentials)
        response = self._request("GET", "/faktury.json", params={"dataOd": "2000-01-01", "iloscNaStronie": 1},
                                     headers={"Accept": "application/json"}, ok=(200,))
        self._checked(response, may_have_arrived=False, proof=())  # refused keys come with their Kod
        if self.credentials.subscriber_key is not None:
            self.remaining_quota()

    def list_payment_types(self) -> list[ProviderOption]:
        return [ProviderOption(id=code, name=f"{code}: {label}") for code, label in PAYMENT_TYPES.items()]

    def _request(self, method: str, path: str, **options: Any) -> requests.Response:
        try:
            return self.http.request(method, path, **options)
        except TransientError as error:
            if error.code == "provider_rate_limited" and error.retry_after is None:
                # iFirma sends no Retry-After; its tightest documented limit is per minute.
                error.retry_after = RATE_WINDOW_SECONDS
            raise

    def _checked(self, response: requests.Response, *, may_have_arrived: bool, doc: Document | None = None,
                 proof: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The answer's envelope when it reports success, else the matching error. `proof`: the fields
        that make an answer without `Kod` a success (see the module's notes); None: only `Kod` 0 does."""
        payload = _envelope(response)
        if payload is None:
            raise ProviderRejected("iFirma answered without its response envelope", code="provider_error",
                                   fix="retry later; if it persists, contact iFirma")
        if payload.get("Kod") == 0:
            return payload
        if payload.get("Kod") is None:
            return _proven_without_kod(payload, proof, may_have_arrived=may_have_arrived)
        error = _error_from(payload, response, may_have_arrived=may_have_arrived)
        if doc is not None and isinstance(error, ProviderRejected) and _ACCOUNTING_MONTH.search(
                str(payload.get("Informacja") or "")):
            raise _accounting_month_error(payload, doc)
        raise error


def _priced(line: Line, quantity: Decimal | None = None) -> PricedLine:
    """The quantity and unit price iFirma gets for a line (4-place prices, our quantities): as it is, or folded."""
    return priced_line(line, places=4, quantity=quantity)


def _fold_warnings(plan: ExportPlan) -> list[str]:
    """What folded lines change (providers.pricing.fold_warnings; iFirma links no stock). A correction
    sends the state after it only (a removed line: quantity 0, never folded); net lines sent as gross
    prices are never folded."""
    doc = plan.document
    if plan.send_gross_prices:
        return []
    return pricing.fold_warnings(doc.lines, _priced,
                                 provider="iFirma", name_length=_LINE_NAME.max_length, sku_links=False)


def _due_date_and_series(plan: ExportPlan) -> dict[str, Any]:
    """The optional fields an invoice and a correction share: the due date and the numbering series."""
    fields: dict[str, Any] = {}
    if plan.document.payment.due_date is not None:
        fields["TerminPlatnosci"] = plan.document.payment.due_date.isoformat()
    if plan.provider_series is not None:
        fields["NazwaSeriiNumeracji"] = plan.provider_series
    return fields


def _currency_fields(doc: Document, endpoint: str) -> dict[str, Any]:
    """fakturawaluta and fakturaeksportuslugue name their currency and take the order's exchange rate
    (of the day before issue) when it has one; fakturakraj is in PLN and has neither."""
    fields: dict[str, Any] = {}
    if endpoint == FOREIGN_CURRENCY:
        fields["TypSprzedazy"] = "KRAJOWA"
    if endpoint in (FOREIGN_CURRENCY, EU_SERVICES):
        fields["Waluta"] = doc.currency
        if doc.exchange_rate is not None:
            fields["KursWalutyZDniaPoprzedzajacegoDzienWystawieniaFaktury"] = doc.exchange_rate.rate
    return fields


def _proven_without_kod(payload: dict[str, Any], proof: tuple[str, ...] | None, *,
                        may_have_arrived: bool) -> dict[str, Any]:
    """An envelope without `Kod` (some users' successful reads come so): a success only when it carries
    every `proof` field; otherwise the write may have arrived, or the read failed."""
    if proof is not None and all(payload.get(name) not in (None, "") for name in proof):
        return payload
    shown = f" ({payload.get('Informacja')})" if payload.get("Informacja") else ""
    missing = " or ".join(proof or ()) or "a result"
    if may_have_arrived:
        raise RequestMayHaveSucceeded(f"iFirma answered without Kod and without {missing}{shown}",
                                      fix="nothing: the document is checked before it is sent again")
    raise ProviderRejected(f"iFirma answered without Kod and without {missing}{shown}",
                           code="provider_error", fix="retry later; if it persists, contact iFirma")


def _accounting_month_error(payload: dict[str, Any], doc: Document) -> ConfigurationError:
    """A refusal because the document's month is not iFirma's accounting month: the merchant (or the
    allow_accounting_month_switch option) can fix that, so it is a configuration error, not a rejection."""
    month = f"{doc.issue_date.month:02d}/{doc.issue_date.year}"
    return ConfigurationError(
        f"iFirma refused the document: its issue month {month} is "
        f"not iFirma's accounting month ({payload.get('Informacja')})",
        fix=f"switch the accounting month in iFirma to {month}, or "
            f"let the export do it: set provider option allow_accounting_month_switch and add the "
            f"'abonent' key", code="accounting_month")


_JSON_HEADERS = {"Content-Type": "application/json; charset=UTF-8", "Accept": "application/json"}


def _envelope(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        return None
    payload = body.get("response") if isinstance(body, dict) else None
    return payload if isinstance(payload, dict) else None


def _error_from(payload: dict[str, Any], response: requests.Response, *, may_have_arrived: bool) -> ExportError:
    """iFirma's `Kod` and `Informacja` as one of our errors (FAQ: "Jakich komunikatów błędów...")."""
    code = payload.get("Kod")
    info = str(payload.get("Informacja") or "")
    if code in AUTH_CODES:
        return _key_refused(code, response)
    if code == 499:
        return CredentialsRejected("iFirma blocks the API until its terms of service are accepted (Kod 499)",
                                   fix="log in to ifirma.pl and accept the terms", code="provider_terms_not_accepted")
    if code == 500:
        return CredentialsRejected(f"iFirma: this login may not use the resource (Kod 500: {info})",
                                   fix="use a login with 'super konto' rights in iFirma", code="provider_no_rights")
    if code == 100:
        return _technical_problem(info, may_have_arrived=may_have_arrived)
    if code == 201:
        return _fields_rejected(info)
    if code == 202:
        return ProviderRejected(f"iFirma refused it because of the account's settings in iFirma (Kod 202: {info})",
                                fix="check the iFirma settings named in the message", code="provider_settings")
    # 101, 102, 200: the request itself is malformed, which is our bug, not the merchant's.
    return ProviderRejected(f"iFirma could not read our request (Kod {code}: {info})",
                            fix="report this to the integration's maintainers", code="provider_request_invalid")


def _key_refused(code: int, response: requests.Response) -> CredentialsRejected:
    """An auth `Kod`: the merchant is told which of the login's keys (by the signed URL) to check."""
    key_name = key_name_for(response.request.url or "") if response.request is not None else "faktura"
    field = KEY_FIELDS[key_name]
    return CredentialsRejected(
        f"iFirma refused the '{key_name}' API key of this login: {AUTH_CODES[code]} (Kod {code})",
        fix=f"check your API key: the login and the iFirma '{key_name}' key ({field}), as generated in iFirma "
            "(Konfiguracja » Rozszerzenia i integracje » API), then reconnect", code="provider_auth_failed")


def _technical_problem(info: str, *, may_have_arrived: bool) -> ExportError:
    """Kod 100: a write may have been stored despite it (checked before sending again); a read is retried."""
    if may_have_arrived:
        return RequestMayHaveSucceeded(f"iFirma reported a technical problem (Kod 100: {info})",
                                       fix="nothing: the document is checked before it is sent again")
    return TransientError(f"iFirma reported a technical problem (Kod 100: {info})",
                          code="provider_unavailable", fix="nothing: retried automatically")


def _fields_rejected(info: str) -> ProviderRejected:
    """Kod 201, a validation error: the iFirma fields named in the message, with our fields to correct."""
    fields = list(dict.fromkeys(_FIELD_PATTERN.findall(info)))
    ours = sorted({OUR_FIELD[name] for name in fields}) or ["the document"]
    return ProviderRejected(f"iFirma rejected {', '.join(fields) or 'the document'}: {info}",
                            field_errors={name: [info] for name in fields},
                            fix=f"correct {', '.join(ours)} and retry the document")


def _totals(stored: dict[str, Any], currency: str) -> ProviderTotals | None:
    """What iFirma computed, from the read of the document (ASSUMPTION in the fake: Netto/Vat/Brutto).
    No VAT in PLN: no field for it is documented on fakturawaluta, so it cannot be read back."""
    if not all(name in stored for name in ("Netto", "Vat", "Brutto")):
        return None
    corrected = stored.get("IdentyfikatorFakturyKorygowanej")
    return ProviderTotals(
        net=Decimal(str(stored["Netto"])), vat=Decimal(str(stored["Vat"])), gross=Decimal(str(stored["Brutto"])),
        currency=str(stored.get("Waluta") or currency),
        is_correction=corrected is not None,
        corrects=f"{DOMESTIC}:{corrected}" if corrected is not None else None)


def _listed(item: dict[str, Any], own_type: str) -> tuple[str, ListedDocument | None]:
    """(FakturaId, the item as a ListedDocument, None when it is of another resource than our create's).
    Items carry FakturaId, PelnyNumer, Brutto, Rodzaj (and DataWystawienia where shown). ASSUMPTION:
    Brutto is in the document's currency, as a read's Brutto is."""
    identifier = str(item.get("FakturaId") or "")
    if not identifier.isdigit():
        raise PermanentError("iFirma listed a document without its FakturaId", code="provider_list_unreadable",
                             fix="look for the document in iFirma and attach it, or release it")
    resource, kind = LISTED_KINDS.get(str(item.get("Rodzaj")), (own_type, None))
    if resource != own_type:
        return identifier, None
    return identifier, ListedDocument(ProviderReference(f"{resource}:{identifier}", str(item.get("PelnyNumer") or "")),
                                      issue_date=_date_or_none(item.get("DataWystawienia")), kind=kind,
                                      gross=_decimal_or_none(item.get("Brutto")))


def _date_or_none(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _decimal_or_none(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None
