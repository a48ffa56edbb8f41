"""What the Oblio API documents as names, field sets and fixed lists, plus the fake's own wording.

Sources (read 2026; cited by short name in the comments of this package):

* "docs": Oblio's API page https://www.oblio.eu/api, newer revision (rate limits per 100 s / 10 s,
  idempotencyKey, SPV endpoints), as snapshotted in horatiuvlad/oblio-mcp-server
  docs/oblio-api.snapshot.md (a generated copy of the page; ``*`` marks required parameters);
* "old docs": the earlier revision of the same page ("more than 3 requests per second block the
  token for 10 minutes");
* "PHP client": OblioSoftware/OblioApi src/Api.php and README.md (official);
* "plugin": OblioSoftware/oblio-woocommerce woocommerce-oblio.php and src/Api.php (official);
* "go client": vcraescu/go-oblio-api types/*.go and testdata (third party).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ..common import FieldErrors, HttpError, Response, json_response

API = "/api"

# Document kinds of the URL and the type names the API uses for them in bodies and nomenclatures.
# docs: documentType "Factura"; referenceDocument.type "Factura, Proforma sau Aviz".
DOCUMENT_TYPES = {"invoice": "Factura", "proforma": "Proforma", "notice": "Aviz"}
RECEIPT_SERIES_TYPE = "Chitanta"  # ASSUMPTION: series type of receipts (collect type "Chitanta")

# docs "Parametri document" (proforma), plus the invoice's extra parameters. ASSUMPTION: a proforma
# or notice body may carry the invoice-only parameters and they are ignored: the plugin sends one
# and the same body (collect, referenceDocument, useStock...) to /docs/invoice and /docs/proforma.
# "value" is not in the docs but the PHP client's README sends `'value' => 0`: accepted, ignored.
DOCUMENT_FIELDS = frozenset({
    "cif", "client", "clientLocation", "issueDate", "dueDate", "seriesName", "disableAutoSeries", "number",
    "language", "precision", "currency", "exchangeRate", "products", "issuerName", "issuerId", "noticeNumber",
    "internalNote", "deputyName", "deputyIdentityCard", "deputyAuto", "selesAgent", "mentions", "workStation",
    "sendEmail", "orderNumber", "contractNumber", "contractNumberDate", "receptionNotice", "projectNumber",
    "buyerIdentifier", "clientAccountReference", "idempotencyKey",
    "deliveryDate", "collectDate", "referenceDocument", "collect", "useStock", "spvExtern", "value",
})
# Free texts the fake keeps and shows on the list (go client testdata, docs list sample).
HEADER_TEXTS = ("issuerName", "issuerId", "noticeNumber", "deputyName", "deputyIdentityCard", "deputyAuto",
                "mentions", "internalNote", "selesAgent", "orderNumber", "contractNumber", "receptionNotice",
                "projectNumber", "buyerIdentifier", "clientAccountReference", "workStation")
CLIENT_FIELDS = frozenset({"cif", "name", "rc", "code", "address", "state", "city", "country", "iban", "bank",
                           "email", "phone", "contact", "vatPayer", "save", "autocomplete"})
CLIENT_LOCATION_FIELDS = frozenset({"name", "identity", "country", "state", "city", "address", "postalCode"})
CLIENT_LOCATION_REQUIRED = ("name", "identity", "country", "state", "city", "address")
PRODUCT_FIELDS = frozenset({"name", "code", "codeClient", "codeEAN", "description", "price", "measuringUnit",
                            "currency", "exchangeRate", "vatName", "vatPercentage", "vatIncluded", "quantity",
                            "management", "productType", "nameTranslation", "measuringUnitTranslation", "save"})
DISCOUNT_FIELDS = frozenset({"name", "discountType", "discount", "discountAllAbove"})
COLLECT_FIELDS = frozenset({"type", "seriesName", "documentNumber", "value", "issueDate", "mentions"})
REFERENCE_FIELDS = frozenset({"type", "seriesName", "number", "refund"})

PRODUCT_TYPES = frozenset({"Marfa", "Materii prime", "Materiale consumabile", "Semifabricate", "Produs finit",
                           "Produs rezidual", "Produse agricole", "Animale si pasari", "Ambalaje",
                           "Obiecte de inventar", "Serviciu"})
SERVICE = "Serviciu"
DISCOUNT_TYPES = frozenset({"procentual", "valoric"})
COLLECT_TYPES = frozenset({"Chitanta", "Bon fiscal", "Bon fiscal card", "Alta incasare numerar", "Ordin de plata",
                           "Mandat postal", "Card", "CEC", "Bilet ordin", "Alta incasare banca", "Ramburs"})

LIST_PARAMS = frozenset({"cif", "seriesName", "number", "id", "client", "draft", "canceled", "collected",
                         "issuedAfter", "issuedBefore", "withProducts", "withCollects", "withEinvoiceStatus",
                         "orderBy", "orderDir", "limitPerPage", "offset"})
LIST_CLIENT_FILTERS = frozenset({"cif", "email", "phone", "code"})
LIST_ORDER_BY = frozenset({"id", "issueDate", "number"})
LIST_MAX_PER_PAGE = 100  # docs: "Maxim 100"
NOMENCLATURE_PAGE = 250  # docs: "maxim 250 de rezultate" (clients, products)
# Query parameters per nomenclature (docs). `name` goes with every one: the PHP client always
# sends `cif` and `name` (empty for companies). limitPerPage is the PHP README's, not the docs'.
NOMENCLATURE_PARAMS = {
    "companies": frozenset({"cif", "name"}),
    "vat_rates": frozenset({"cif", "name"}),
    "clients": frozenset({"cif", "name", "clientCif", "offset", "limitPerPage"}),
    "products": frozenset({"cif", "name", "code", "management", "workStation", "includeUnsalable", "offset",
                           "limitPerPage"}),
    "series": frozenset({"cif", "name"}),
    "languages": frozenset({"cif", "name"}),
    "management": frozenset({"cif", "name"}),
}

# e-Factura (SPV) status codes (docs, "Trimite factura in SPV").
SPV_NOT_SENT, SPV_PROCESSING, SPV_ACCEPTED, SPV_ERRORS = -1, 0, 1, 2
SPV_TEXTS = {
    SPV_NOT_SENT: "Neconfigurat",  # docs list sample for an account without SPV
    SPV_PROCESSING: "e-Factura trimisa cu succes in SPV.",  # docs POST sample (code 0)
    SPV_ACCEPTED: "e-Factura trimisa cu succes in SPV.",  # ASSUMPTION: same text once validated
}
SPV_NOT_SENT_TEXT = "e-Factura netrimisa in SPV."  # docs: "-1 = e-Factura netrimisa in SPV."

# Romanian counties ("Judet"), compared without diacritics, case, spaces or hyphens.
COUNTIES = frozenset({
    "ALBA", "ARAD", "ARGES", "BACAU", "BIHOR", "BISTRITANASAUD", "BOTOSANI", "BRAILA", "BRASOV", "BUZAU",
    "CALARASI", "CARASSEVERIN", "CLUJ", "CONSTANTA", "COVASNA", "DAMBOVITA", "DOLJ", "GALATI", "GIURGIU",
    "GORJ", "HARGHITA", "HUNEDOARA", "IALOMITA", "IASI", "ILFOV", "MARAMURES", "MEHEDINTI", "MURES", "NEAMT",
    "OLT", "PRAHOVA", "SALAJ", "SATUMARE", "SIBIU", "SUCEAVA", "TELEORMAN", "TIMIS", "TULCEA", "VALCEA",
    "VASLUI", "VRANCEA", "BUCURESTI",
})
ROMANIA_NAMES = frozenset({"", "RO", "ROU", "ROMANIA"})

# --------------------------------------------------------------------------- messages
# ASSUMPTION: only the success texts are documented; errors come as {"status", "statusMessage"}
# (docs: "cod de status 400 sau 401 cu un mesaj de eroare"). The wording below is the fake's own,
# Romanian without diacritics like the documented texts, except the OAuth messages.

# plugin: compares statusMessage with this exact text to drop its cached token.
TOKEN_INVALID = "The access token provided is invalid"
# ASSUMPTION: the wording of the OAuth library whose "invalid" text Oblio returns (bshaffer).
TOKEN_EXPIRED = "The access token provided has expired"
BAD_CLIENT = "The client credentials are invalid"
CANCELED_TEXT = "Documentul a fost anulat."  # docs
RESTORED_TEXT = "Documentul a fost restaurat."  # docs
DELETED_TEXT = "Documentul a fost sters."  # docs


def oblio_error(status: int, message: str) -> Response:
    return json_response(status, {"status": status, "statusMessage": message})


def fail(message: str, status: int = 400) -> HttpError:
    return HttpError(oblio_error(status, message))


def fail_fields(errors: FieldErrors) -> HttpError:
    """ASSUMPTION: every problem in one statusMessage, "field: message" joined by "; "."""
    parts = [f"{name}: {message}" for name, messages in errors.as_dict().items() for message in messages]
    return fail("; ".join(parts))


# --------------------------------------------------------------------------- small readers


def is_blank(value: Any) -> bool:
    """The PHP clients send '' for "not given" and json_encode([]) for an empty collect: [] / {}."""
    return value is None or value == "" or value == [] or value == {}


def plain(text: str) -> str:
    """Upper case without diacritics, spaces or hyphens: 'Bistrița-Năsăud' -> 'BISTRITANASAUD'."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\s\-.]", "", letters).upper()


def is_romanian(country: Any) -> bool:
    return plain(str(country or "")) in ROMANIA_NAMES


def county_ok(state: str) -> bool:
    name = plain(state)
    for prefix in ("JUDETUL", "JUD", "MUNICIPIUL"):
        if name.startswith(prefix) and name[len(prefix):] in COUNTIES:
            return True
    return name in COUNTIES


def normalize_cif(cif: Any) -> str:
    """CIF as the fake compares it: 'ro 37311090' and 37311090 both -> '37311090'.

    ASSUMPTION: the API finds the company with or without the RO prefix (docs send "RO37311090",
    the docs' webhook example sends 37311090).
    """
    text = re.sub(r"\s", "", str(cif)).upper()
    return text[2:] if text.startswith("RO") else text


CUI_KEY = (7, 5, 3, 2, 1, 7, 5, 3, 2)


def cui_is_valid(cui: str) -> bool:
    """Control digit of a Romanian CUI (key 753217532); true for the docs' RO37311090 and 19."""
    if not re.fullmatch(r"\d{2,10}", cui):
        return False
    body, control = cui[:-1].rjust(9, "0"), int(cui[-1])
    weighted = sum(int(digit) * weight for digit, weight in zip(body, CUI_KEY, strict=True))
    remainder = weighted * 10 % 11
    return (0 if remainder == 10 else remainder) == control
