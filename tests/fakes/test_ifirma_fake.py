"""The iFirma fake against iFirma's documentation: signed requests, the Kod envelope, formats, limits, faults.

Requests are signed here with the test's own few lines (not the adapter's), so the fake's signature
check is proven against the documented recipe independently of the code it tests.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
from decimal import Decimal

import pytest
import requests

from local.fakes.ifirma import IfirmaFake

KEY = "EAB0D8ACF3308F3B"
SUBSCRIBER_KEY = "1122334455667788"

# The facts file's example body for fakturakraj.json (§2.3), built from the documented fields.
DOC_EXAMPLE = {
    "Zaplacono": Decimal("110.70"), "ZaplaconoNaDokumencie": Decimal("110.70"), "LiczOd": "BRT",
    "DataWystawienia": "2026-11-24", "DataSprzedazy": "2026-11-24", "FormatDatySprzedazy": "DZN",
    "TerminPlatnosci": "2026-12-01", "SposobZaplaty": "P24", "NazwaSeriiNumeracji": "SKLEP",
    "RodzajPodpisuOdbiorcy": "BPO", "WidocznyNumerGios": False, "Numer": None, "Uwagi": "Zamówienie 998877",
    "Kontrahent": {"Nazwa": "ACME Sp. z o.o.", "NIP": "5261040828", "Ulica": "Prosta 1", "KodPocztowy": "00-001",
                   "Miejscowosc": "Warszawa", "Kraj": "Polska", "Email": "f@acme.pl", "OsobaFizyczna": False},
    "Pozycje": [
        {"NazwaPelna": "Kubek [SKU K-1]", "Jednostka": "szt.", "Ilosc": 2, "CenaJednostkowa": Decimal("49.20"),
         "TypStawkiVat": "PRC", "StawkaVat": Decimal("0.23"), "GTU": "BRAK"},
        {"NazwaPelna": "Książka", "Jednostka": "szt.", "Ilosc": 1, "CenaJednostkowa": Decimal("12.30"),
         "TypStawkiVat": "ZW", "PodstawaPrawna": "art. 43 ust. 1 pkt 1"}],
}


def dumps(value) -> bytes:
    """JSON with Decimals as exact numbers, as a client must send them."""
    text = json.dumps(value, ensure_ascii=False, default=lambda d: f"@@{d}@@")
    return text.replace('"@@', "").replace('@@"', "").encode("utf-8")


class Client:
    """A minimal signed iFirma client: HMAC-SHA1(hex-decoded key, url + login + key name + body)."""

    def __init__(self, fake: IfirmaFake, login: str, keys: dict[str, str]):
        self.fake, self.login, self.keys = fake, login, keys

    def call(self, method: str, resource: str, body=None, *, key_name: str | None = None, params=None,
             accept: str = "application/json", content_type: str = "application/json; charset=UTF-8",
             raw: bytes | None = None, sign_with: str | None = None, timeout: float = 5) -> requests.Response:
        url = f"{self.fake.base_url}/iapi/{resource}"
        key_name = key_name or ("abonent" if resource.startswith("abonent/") else "faktura")
        data = raw if raw is not None else (dumps(body) if body is not None else b"")
        key = sign_with or self.keys[key_name]
        digest = hmac.new(bytes.fromhex(key), f"{url}{self.login}{key_name}".encode() + data,
                          hashlib.sha1).hexdigest()
        headers = {"Accept": accept, "Authentication": f"IAPIS user={self.login}, hmac-sha1={digest}"}
        if data:
            headers["Content-Type"] = content_type
        return requests.request(method, url, data=data or None, params=params, headers=headers, timeout=timeout)

    def ok(self, method: str, resource: str, body=None, **options) -> dict:
        response = self.call(method, resource, body, **options)
        assert response.status_code == 200, response.text
        payload = response.json()["response"]
        assert payload["Kod"] == 0, payload
        return payload

    def refused(self, method: str, resource: str, body=None, **options) -> tuple[int, str]:
        response = self.call(method, resource, body, **options)
        payload = response.json()["response"]
        assert payload["Kod"] != 0
        return payload["Kod"], payload["Informacja"]


@pytest.fixture(scope="module")
def fake():
    with IfirmaFake() as server:
        yield server


@pytest.fixture
def client(fake) -> Client:
    login = f"jan-{secrets.token_hex(4)}@example.pl"
    fake.add_account(login, invoice_key=KEY, subscriber_key=SUBSCRIBER_KEY, accounting_month=(2026, 11),
                     series=("SKLEP",))
    return Client(fake, login, {"faktura": KEY, "abonent": SUBSCRIBER_KEY})


def test_the_documented_example_is_accepted_and_numbered_by_a_follow_up_read(client) -> None:
    created = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)
    assert set(created) == {"Kod", "Informacja", "Identyfikator"}  # create answers only the id
    invoice = client.ok("GET", f"fakturakraj/{created['Identyfikator']}.json")
    assert invoice["PelnyNumer"] == "1/2026/SKLEP"
    # Computed by the fake: VAT per rate from the gross sums (BRT).
    assert (invoice["Netto"], invoice["Vat"], invoice["Brutto"]) == ("92.30", "18.40", "110.70")


def test_numbering_is_consecutive_per_series_and_an_explicit_number_must_be_free(client) -> None:
    body = copy.deepcopy(DOC_EXAMPLE)
    numbers = []
    for series in ("SKLEP", "SKLEP", None):
        body["NazwaSeriiNumeracji"] = series
        identifier = client.ok("POST", "fakturakraj.json", body)["Identyfikator"]
        numbers.append(client.ok("GET", f"fakturakraj/{identifier}.json")["PelnyNumer"])
    assert numbers == ["1/2026/SKLEP", "2/2026/SKLEP", "1/2026"]
    code, info = client.refused("POST", "fakturakraj.json", {**DOC_EXAMPLE, "Numer": 2})
    assert code == 201 and "Numer" in info


@pytest.mark.parametrize("header, code", [
    (None, 400), ("Bearer abc", 400), ("IAPIS user=nobody@example.pl, hmac-sha1=" + "0" * 40, 401)])
def test_bad_authentication_headers_get_the_documented_codes(fake, client, header, code) -> None:
    headers = {"Accept": "application/json"} | ({"Authentication": header} if header else {})
    response = requests.get(f"{fake.base_url}/iapi/faktury.json", params={"dataOd": "2026-11-01"},
                            headers=headers, timeout=5)
    assert response.status_code == 200 and response.json()["response"]["Kod"] == code


def test_a_wrong_key_or_the_wrong_key_name_is_a_bad_hash(client) -> None:
    assert client.refused("GET", "faktury.json", params={"dataOd": "2026-11-01"},
                          sign_with="00112233445566FF")[0] == 403
    # abonent resources are signed with the abonent key and name; the invoice key does not do.
    assert client.refused("GET", "abonent/limit.json", key_name="faktura")[0] == 403
    assert client.refused("GET", "abonent/limit.json", sign_with=KEY)[0] == 403


def test_a_key_never_generated_is_kod_402(fake) -> None:
    fake.add_account("bez-abonenta@example.pl", invoice_key=KEY)
    only_invoice = Client(fake, "bez-abonenta@example.pl", {"faktura": KEY, "abonent": SUBSCRIBER_KEY})
    assert only_invoice.refused("GET", "abonent/limit.json")[0] == 402


@pytest.mark.parametrize("content_type, raw, code", [
    ("text/plain", None, 102),
    ("application/json; charset=ISO-8859-2", None, 101),
    ("application/json", "{\"Zaplacono\": 1, \"Uwagi\": \"Z\xf3\"}".encode("latin-1"), 101),
    ("application/json; charset=UTF-8", b"{not json", 200),
])
def test_content_type_encoding_and_structure_are_checked(client, content_type, raw, code) -> None:
    assert client.refused("POST", "fakturakraj.json", DOC_EXAMPLE, content_type=content_type, raw=raw)[0] == code


def test_unknown_fields_are_a_structure_error_naming_them(client) -> None:
    code, info = client.refused("POST", "fakturakraj.json", {**DOC_EXAMPLE, "Waluta": "EUR"})
    assert code == 200 and "Waluta" in info


@pytest.mark.parametrize("change, field", [
    ({"Zaplacono": "110.70"}, "Zaplacono"),  # a Number, not a string
    ({"LiczOd": "GROSS"}, "LiczOd"),
    ({"SposobZaplaty": "transfer"}, "SposobZaplaty"),
    ({"DataWystawienia": "24.11.2026"}, "DataWystawienia"),
    ({"NazwaSeriiNumeracji": "NIEMA"}, "NazwaSeriiNumeracji"),
    ({"Zaplacono": Decimal("200.00")}, "Zaplacono"),
    ({"TerminPlatnosci": "2026-11-01"}, "TerminPlatnosci"),
    ({"DataSprzedazy": "2026-11-25"}, "DataWystawienia"),
])
def test_header_values_are_validated_with_kod_201_naming_the_field(client, change, field) -> None:
    code, info = client.refused("POST", "fakturakraj.json", {**DOC_EXAMPLE, **change})
    assert code == 201 and field in info


@pytest.mark.parametrize("change, field", [
    ({"StawkaVat": 23}, "StawkaVat"),  # a percentage instead of the documented fraction
    ({"TypStawkiVat": "VAT23"}, "TypStawkiVat"),
    ({"Ilosc": "2"}, "Ilosc"),
    ({"CenaJednostkowa": Decimal("49.20001")}, "CenaJednostkowa"),
    ({"Rabat": Decimal("100.5")}, "Rabat"),  # a percentage, at most 100
    ({"Rabat": Decimal("-1")}, "Rabat"),
    ({"Rabat": Decimal("12.345")}, "Rabat"),
    ({"Rabat": "10"}, "Rabat"),  # a number, not a string
])
def test_position_values_are_validated(client, change, field) -> None:
    body = copy.deepcopy(DOC_EXAMPLE)
    body["Pozycje"][0].update(change)
    code, info = client.refused("POST", "fakturakraj.json", body)
    assert code == 201 and f"Pozycje[0].{field}" in info


def test_exempt_lines_need_their_legal_basis_and_no_rate(client) -> None:
    body = copy.deepcopy(DOC_EXAMPLE)
    del body["Pozycje"][1]["PodstawaPrawna"]
    body["Pozycje"][1]["StawkaVat"] = Decimal("0.00")
    code, info = client.refused("POST", "fakturakraj.json", body)
    assert "Pozycje[1].PodstawaPrawna" in info and "Pozycje[1].StawkaVat" in info


def test_contractor_is_validated_and_replaced_whole(client, fake) -> None:
    body = copy.deepcopy(DOC_EXAMPLE)
    body["Kontrahent"]["NIP"] = "5261040829"
    assert "Kontrahent.NIP" in client.refused("POST", "fakturakraj.json", body)[1]
    del body["Kontrahent"]["KodPocztowy"]
    body["Kontrahent"]["NIP"] = "5261040828"
    assert "Kontrahent.KodPocztowy: pole wymagane" in client.refused("POST", "fakturakraj.json", body)[1]
    client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)
    partial = {**DOC_EXAMPLE, "Kontrahent": {"Nazwa": "ACME", "NIP": "5261040828", "KodPocztowy": "00-001",
                                             "Miejscowosc": "Warszawa"}}
    client.ok("POST", "fakturakraj.json", partial)
    assert "Email" not in fake.account(client.login).contractors["5261040828"]  # unsent fields are gone


def test_issue_date_must_be_in_the_accounting_month_which_moves_one_step_per_put(client, fake) -> None:
    fake.account(client.login).accounting_month = (2026, 10)
    code, info = client.refused("POST", "fakturakraj.json", DOC_EXAMPLE)
    assert code == 201 and "miesiącem i rokiem księgowym (10/2026)" in info
    assert client.ok("GET", "abonent/miesiacksiegowy.json")["MiesiacKsiegowy"] == 10
    moved = client.ok("PUT", "abonent/miesiacksiegowy.json",
                      {"MiesiacKsiegowy": "NAST", "PrzeniesDaneZPoprzedniegoRoku": True})
    assert (moved["RokKsiegowy"], moved["MiesiacKsiegowy"]) == (2026, 11)
    client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)
    assert client.refused("PUT", "abonent/miesiacksiegowy.json", {"MiesiacKsiegowy": "NEXT"})[0] == 201


def test_limit_json_has_the_documented_shape_and_counts_documents(client, fake) -> None:
    client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)
    limit = client.ok("GET", "abonent/limit.json")
    assert limit == {"Kod": 0, "Informacja": "Informacja o limitach API", "LimitWykorzystany": 1,
                     "LimitPrzyznany": 1000}
    fake.account(client.login).quota = 1
    code, info = client.refused("POST", "fakturakraj.json", DOC_EXAMPLE)
    assert code == 202 and "limit" in info


def test_currency_and_eu_service_invoices_have_their_own_fields(client) -> None:
    foreign = {**DOC_EXAMPLE, "TypSprzedazy": "KRAJOWA", "Waluta": "EUR", "SposobZaplaty": "PRZ",
               "KursWalutyZDniaPoprzedzajacegoDzienWystawieniaFaktury": Decimal("4.2351")}
    identifier = client.ok("POST", "fakturawaluta.json", foreign)["Identyfikator"]
    assert client.ok("GET", f"fakturawaluta/{identifier}.json")["Waluta"] == "EUR"
    assert client.refused("GET", f"fakturakraj/{identifier}.json")[0] != 0  # read under its own type
    assert "SposobZaplaty" in client.refused("POST", "fakturawaluta.json", {**foreign, "SposobZaplaty": "P24"})[1]
    assert "Waluta" in client.refused("POST", "fakturawaluta.json", {**foreign, "Waluta": "PLN"})[1]
    service = {key: value for key, value in foreign.items() if key not in ("LiczOd", "TypSprzedazy")}
    service |= {"NazwaUslugi": "Consulting", "DataObowiazkuPodatkowego": "2026-11-24", "Jezyk": "en",
                "Zaplacono": Decimal(0), "ZaplaconoNaDokumencie": Decimal(0),
                "Pozycje": [{"NazwaPelna": "Doradztwo", "NazwaPelnaObca": "Consulting", "Jednostka": "godz.",
                             "JednostkaObca": "h", "Ilosc": 2, "CenaJednostkowa": Decimal("100.00"),
                             "TypStawkiVat": "NP"}]}
    identifier = client.ok("POST", "fakturaeksportuslugue.json", service)["Identyfikator"]
    assert client.ok("GET", f"fakturaeksportuslugue/{identifier}.json")["Brutto"] == "200.00"
    service["Pozycje"][0]["TypStawkiVat"] = "PRC"
    service["Pozycje"][0]["StawkaVat"] = Decimal("0.23")
    assert "TypStawkiVat" in client.refused("POST", "fakturaeksportuslugue.json", service)[1]


def test_correction_by_number_in_the_path_carries_the_full_state_after(client) -> None:
    original = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Identyfikator"]
    positions = copy.deepcopy(DOC_EXAMPLE["Pozycje"])
    positions[0]["Ilosc"] = 1
    correction = {"PowodKorekty": "ZWR_SPRZ_TOW", "SpelnionoWarunki": True, "DataWystawienia": "2026-11-25",
                  "Pozycje": positions}
    identifier = client.ok("POST", "fakturakraj/korekta/1_2026_SKLEP.json", correction)["Identyfikator"]
    stored = client.ok("GET", f"fakturakraj/{identifier}.json")
    assert stored["IdentyfikatorFakturyKorygowanej"] == original and stored["Brutto"] == "-49.20"
    code, info = client.refused("POST", f"fakturakraj/korekta/{original}.json",
                                {**correction, "Pozycje": positions[:1]})
    assert code == 201 and "Pozycje" in info
    assert client.refused("POST", f"fakturakraj/korekta/{original}.json",
                          {**correction, "IdentyfikatorFaktury": original})[0] == 200  # the id is not a body field
    assert client.refused("POST", "fakturakraj/korekta/999.json", correction)[0] == 201


def test_a_correction_needs_spelniono_warunki_and_takes_its_flags_as_booleans(client) -> None:
    """api.ifirma.pl "Faktura korygująca fakturę krajową": SpelnionoWarunki Boolean, required (T);
    PowodKorektyNaWydruku Boolean, optional (N)."""
    original = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Identyfikator"]
    correction = {"PowodKorekty": "POMYLKI", "SpelnionoWarunki": False, "PowodKorektyNaWydruku": True,
                  "DataWystawienia": "2026-11-25", "Pozycje": copy.deepcopy(DOC_EXAMPLE["Pozycje"])}
    without = {key: value for key, value in correction.items() if key != "SpelnionoWarunki"}
    code, info = client.refused("POST", f"fakturakraj/korekta/{original}.json", without)
    assert code == 201 and "SpelnionoWarunki: pole wymagane" in info
    for name in ("SpelnionoWarunki", "PowodKorektyNaWydruku"):
        code, info = client.refused("POST", f"fakturakraj/korekta/{original}.json", {**correction, name: "true"})
        assert code == 201 and name in info
    identifier = client.ok("POST", f"fakturakraj/korekta/{original}.json", correction)["Identyfikator"]
    assert client.ok("GET", f"fakturakraj/{identifier}.json")["SpelnionoWarunki"] is False


def test_zaplacono_na_dokumencie_is_required_on_the_domestic_invoice_only(client) -> None:
    """The fakturakraj page marks it T, the fakturawaluta page N."""
    domestic = {key: value for key, value in DOC_EXAMPLE.items() if key != "ZaplaconoNaDokumencie"}
    code, info = client.refused("POST", "fakturakraj.json", domestic)
    assert code == 201 and "ZaplaconoNaDokumencie: pole wymagane" in info
    foreign = {**domestic, "TypSprzedazy": "KRAJOWA", "Waluta": "EUR", "SposobZaplaty": "PRZ"}
    client.ok("POST", "fakturawaluta.json", foreign)


def test_reads_can_come_without_kod_while_errors_keep_theirs(client, fake) -> None:
    """ASSUMPTION switch reads_carry_kod (two clients accept a read without Kod): the same reads, both shapes."""
    identifier = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Identyfikator"]
    reads = (f"fakturakraj/{identifier}.json", "abonent/miesiacksiegowy.json", "abonent/limit.json")
    with_kod = [client.ok("GET", resource) for resource in reads]
    fake.account(client.login).reads_carry_kod = False
    without_kod = [client.call("GET", resource).json()["response"] for resource in reads]
    listed = client.call("GET", "faktury.json", params={"dataOd": "2026-11-01"}).json()["response"]
    assert [{k: v for k, v in read.items() if k != "Kod"} for read in with_kod] == without_kod
    assert "Kod" not in listed and [item["FakturaId"] for item in listed["Wynik"]] == [identifier]
    assert without_kod[0]["PelnyNumer"] == "1/2026/SKLEP"
    assert client.refused("GET", "fakturakraj/999.json")[0] == 201  # a failed read still says its Kod
    assert client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Kod"] == 0  # writes answer as before


def test_pdf_needs_its_accept_header_and_shows_number_and_totals_changing_after_an_edit(client, fake) -> None:
    identifier = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Identyfikator"]
    assert client.call("GET", f"fakturakraj/{identifier}.pdf").json()["response"]["Kod"] == 102
    pdf = client.call("GET", f"fakturakraj/{identifier}.pdf", accept="application/pdf")
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert b"1/2026/SKLEP" in pdf.content and b"110.70" in pdf.content
    duplicate = client.call("GET", f"fakturakraj/{identifier}.pdf", accept="application/pdf", params={"typ": "dup"})
    assert b"DUPLIKAT" in duplicate.content
    fake.edit_invoice(client.login, identifier, Uwagi="Poprawiono adres")
    assert client.call("GET", f"fakturakraj/{identifier}.pdf", accept="application/pdf").content != pdf.content


def test_another_users_document_is_not_found(client, fake) -> None:
    identifier = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Identyfikator"]
    fake.add_account("inny@example.pl", invoice_key=KEY, accounting_month=(2026, 11))
    other = Client(fake, "inny@example.pl", {"faktura": KEY})
    assert other.call("GET", f"fakturakraj/{identifier}.json").status_code == 404


def test_list_requires_date_from(client) -> None:
    client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)
    assert client.refused("GET", "faktury.json")[0] == 201
    [item] = client.ok("GET", "faktury.json", params={"dataOd": "2026-11-01"})["Wynik"]
    assert (item["PelnyNumer"], item["Brutto"], item["Rodzaj"]) == ("1/2026/SKLEP", "110.70", "prz_faktura_kraj")


def test_minute_limit_per_user_answers_429_in_the_envelope() -> None:
    with IfirmaFake(rate_limit=(2, 60.0)) as limited:
        for login in ("a@example.pl", "b@example.pl"):
            limited.add_account(login, invoice_key=KEY)
        first, second = (Client(limited, login, {"faktura": KEY}) for login in ("a@example.pl", "b@example.pl"))
        for _ in range(2):
            first.ok("GET", "faktury.json", params={"dataOd": "2026-11-01"})
        refused = first.call("GET", "faktury.json", params={"dataOd": "2026-11-01"})
        assert refused.status_code == 429 and "limit" in refused.json()["response"]["Informacja"]
        second.ok("GET", "faktury.json", params={"dataOd": "2026-11-01"})  # counted per user
        assert limited.limiter.peak("a@example.pl") == 3


def test_daily_limit_per_user() -> None:
    with IfirmaFake(rate_limit=None, daily_limit=1) as limited:
        limited.add_account("a@example.pl", invoice_key=KEY)
        user = Client(limited, "a@example.pl", {"faktura": KEY})
        user.ok("GET", "faktury.json", params={"dataOd": "2026-11-01"})
        assert user.call("GET", "faktury.json", params={"dataOd": "2026-11-01"}).status_code == 429


def test_faults_answer_in_ifirmas_shape(client, fake) -> None:
    fake.faults.status(503, method="POST")
    response = client.call("POST", "fakturakraj.json", DOC_EXAMPLE)
    assert response.status_code == 503 and response.json()["response"]["Kod"] == 100
    fake.faults.status(502, method="GET", body=b"<html>Bad Gateway</html>", content_type="text/html")
    assert client.call("GET", "faktury.json", params={"dataOd": "2026-11-01"}).text.startswith("<html>")
    fake.faults.rate_limited(method="GET")
    assert client.call("GET", "faktury.json", params={"dataOd": "2026-11-01"}).status_code == 429
    fake.faults.reset(method="GET")
    with pytest.raises(requests.ConnectionError):
        client.call("GET", "faktury.json", params={"dataOd": "2026-11-01"})
    fake.faults.reset(after_commit=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        client.call("POST", "fakturakraj.json", DOC_EXAMPLE)
    assert len(fake.account(client.login).invoices) == 1  # stored although the answer was lost
    fake.faults.stall_after_commit(0.6, method="POST")
    with pytest.raises(requests.ReadTimeout):
        client.call("POST", "fakturakraj.json", DOC_EXAMPLE, timeout=0.2)
    assert len(fake.account(client.login).invoices) == 2
    fake.faults.slow(0.2, method="GET")
    client.ok("GET", "faktury.json", params={"dataOd": "2026-11-01"})
    assert [fault.kind for fault in fake.faults.fired] == [
        "status", "status", "rate_limited", "reset", "reset", "stall_after_commit", "slow"]
    fake.faults.clear()


def test_request_log_holds_logins_never_signatures(client, fake) -> None:
    client.ok("GET", "faktury.json", params={"dataOd": "2026-11-01"})
    entry = fake.requests.entries("GET", r"/iapi/faktury\.json")[-1]
    assert entry.key == client.login and "hmac" not in repr(entry) and KEY not in repr(entry)


def test_rabat_lowers_the_line_rounded_once(client) -> None:
    body = copy.deepcopy(DOC_EXAMPLE)
    # Gross (BRT): 2 x 49.20 x (1 - 12.5/100) = 86.10 and 12.30 x 0.6667 = 8.20041 -> 8.20; 94.30 in all.
    body["Pozycje"][0]["Rabat"] = Decimal("12.5")
    body["Pozycje"][1]["Rabat"] = Decimal("33.33")
    body["Zaplacono"] = body["ZaplaconoNaDokumencie"] = Decimal("94.30")
    created = client.ok("POST", "fakturakraj.json", body)
    invoice = client.ok("GET", f"fakturakraj/{created['Identyfikator']}.json")
    assert invoice["Brutto"] == "94.30"


# --------------------------------------------------------------------------- KSeF (facts 2.12, community-documented)


def test_ksef_send_hands_an_invoice_over_once_and_needs_a_ksef_connection(client, fake) -> None:
    identifier = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Identyfikator"]
    sent = client.ok("POST", f"fakturakraj/ksef/send/{identifier}.json", {"DataWysylki": None})
    assert set(sent) == {"Kod", "Informacja"}  # nothing about KSeF's answer or number
    assert fake.account(client.login).ksef_submissions == {identifier: None}
    assert client.refused("POST", f"fakturakraj/ksef/send/{identifier}.json", {"DataWysylki": None})[0] == 201
    # No read shows the KSeF state (none is known): the document read is unchanged.
    assert not any("ksef" in name.lower() for name in client.ok("GET", f"fakturakraj/{identifier}.json"))
    other = client.ok("POST", "fakturakraj.json", DOC_EXAMPLE)["Identyfikator"]
    assert client.refused("POST", f"fakturakraj/ksef/send/{other}.json", {})[0] == 200  # DataWysylki must be there
    assert client.refused("POST", f"fakturakraj/ksef/send/{other}.json", {"DataWysylki": "jutro"})[0] == 201
    assert client.refused("POST", f"fakturawaluta/ksef/send/{other}.json", {"DataWysylki": None})[0] == 201
    fake.account(client.login).ksef_connected = False
    code, info = client.refused("POST", f"fakturakraj/ksef/send/{other}.json", {"DataWysylki": None})
    assert code == 202 and "KSeF" in info
    assert client.call("POST", f"fakturakraj/ksef/send/{other}.json", {"DataWysylki": None},
                       sign_with="00112233445566FF").json()["response"]["Kod"] == 403
