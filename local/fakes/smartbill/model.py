"""What a SmartBill Cloud account holds, its vocabularies and the API's documented messages.

Sources, cited below by these short names:

* SPEC: SmartBill's own OpenAPI 2.0 document behind api.smartbill.ro ("SmartBill REST API",
  contact api@smartbill.ro), stored copy: dnutiu/SmartBill-Ruby-SDK docs/openapi.json @ d3ed562.
* POSTMAN: SmartBill's own Postman collection ("The SmartBIll REST API", linked from the SPEC),
  stored copy: florin-szilagyi/smartbill-ts-sdk tests/SmartBill_API_Postman.postman_collection.json.
* PLUGIN: SmartBill's own Magento integration (Intelligent IT SRL), SmartBillCloudRestClient.php.
* Third-party clients, weaker: bogdanripa/smartbill-mcp (README "Behaviour worth knowing"),
  dnutiu/SmartBill-Ruby-SDK (transport.rb).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# --------------------------------------------------------------------------- documented limits

# SPEC, "Prezentare generala": "Accesul este limitat la 30 de apeluri in 10 de secunde. In caz de
# abatere, se blocheaza accesul timp de 10 minute." Status 403 = "Utilizatorul a fost blocat".
CALLS_PER_WINDOW = 30
WINDOW_SECONDS = 10.0
BLOCK_SECONDS = 600.0
MAX_ENTRIES = 400  # SPEC: "Numarul maxim acceptat de 400 intrari pe document a fost depasit."
MAX_DESCRIPTION_CHARS, MAX_DESCRIPTION_LINES = 2000, 30  # SPEC, "Folosirea descrierii de produs"

# --------------------------------------------------------------------------- request fields (SPEC)

INVOICE_FIELDS = frozenset({
    "companyVatCode", "client", "isDraft", "issueDate", "seriesName", "currency", "exchangeRate",
    "language", "precision", "issuerCnp", "issuerName", "aviz", "dueDate", "mentions", "observations",
    "delegateName", "delegateIdentityCard", "delegateAuto", "deliveryDate", "paymentDate", "useStock",
    "useEstimateDetails", "usePaymentTax", "paymentBase", "colectedTax", "paymentTotal", "paymentUrl",
    "estimate", "products", "payment", "useIntraCif", "sendEmail", "email", "showExchangeRate",
    # PLUGIN sends it on every create (platform and plugin version); SmartBill's own client, so known.
    "ecommercePluginInfo",
})
CLIENT_FIELDS = frozenset({"name", "vatCode", "code", "address", "regCom", "isTaxPayer", "contact", "phone",
                           "city", "county", "country", "email", "bank", "iban", "saveToDb"})
PRODUCT_FIELDS = frozenset({"name", "code", "productDescription", "translatedName", "translatedMeasuringUnit",
                            "isDiscount", "measuringUnitName", "currency", "quantity", "price", "isTaxIncluded",
                            "taxName", "taxPercentage", "exchangeRate", "saveToDb", "warehouseName", "isService",
                            "numberOfItems", "discountType", "discountPercentage", "discountValue"})
PAYMENT_FIELDS = frozenset({"value", "paymentSeries", "type", "isCash"})
EMAIL_FIELDS = frozenset({"to", "cc", "bcc"})
ESTIMATE_FIELDS = frozenset({"seriesName", "number", "useStock", "paymentUrl"})
STORNO_FIELDS = frozenset({"companyVatCode", "seriesName", "number", "issueDate"})
# ASSUMPTION: the Java class names in the "unrecognized field" answer (see UNKNOWN_FIELD).
NESTED_OBJECTS = {"client": ("Client", CLIENT_FIELDS), "payment": ("Payment", PAYMENT_FIELDS),
                  "email": ("Email", EMAIL_FIELDS), "estimate": ("Estimate", ESTIMATE_FIELDS)}

STRING_FIELDS = frozenset({
    "companyVatCode", "issueDate", "seriesName", "currency", "language", "issuerCnp", "issuerName", "aviz",
    "dueDate", "mentions", "observations", "delegateName", "delegateIdentityCard", "delegateAuto",
    "deliveryDate", "paymentDate", "paymentUrl", "name", "vatCode", "code", "address", "regCom", "contact",
    "phone", "city", "county", "country", "email", "bank", "iban", "productDescription", "translatedName",
    "translatedMeasuringUnit", "measuringUnitName", "taxName", "warehouseName", "paymentSeries", "type",
    "to", "cc", "bcc", "number",
})
BOOLEAN_FIELDS = frozenset({"isDraft", "useStock", "useEstimateDetails", "usePaymentTax", "useIntraCif", "sendEmail",
                            "showExchangeRate", "isTaxPayer", "saveToDb", "isDiscount", "isTaxIncluded", "isService",
                            "isCash"})
NUMBER_FIELDS = frozenset({"exchangeRate", "paymentBase", "colectedTax", "paymentTotal", "quantity", "price",
                           "taxPercentage", "discountPercentage", "discountValue", "value"})
INTEGER_FIELDS = frozenset({"precision", "numberOfItems", "discountType"})

# --------------------------------------------------------------------------- vocabularies

# SPEC "Date incasare": the payment types, spelled as SmartBill spells them.
PAYMENT_TYPES = frozenset({"Chitanta", "Bon", "Card", "CEC", "Bilet ordin", "Ordin plata", "Mandat postal",
                           "Alta incasare"})
SERIES_TYPES = {"f": "factura", "p": "proforma", "c": "chitanta"}  # SPEC GET /series
DISCOUNT_BY_VALUE, DISCOUNT_BY_PERCENT = 1, 2  # SPEC "Date discount"
# ASSUMPTION: the languages predefined in SmartBill Cloud (the SPEC names RO as the default and says
# "o limba de circulatie internationala, predefinita"; it does not list them). More: Company.languages.
PREDEFINED_LANGUAGES = frozenset({"RO", "EN", "FR", "DE", "IT", "ES", "HU"})
# ASSUMPTION: a subset of ISO 4217 ("Monedele suportate sunt in conformitate cu standardul
# international", SPEC); extend Company.currencies in a test if one is missing.
KNOWN_CURRENCIES = frozenset({"RON", "EUR", "USD", "GBP", "CHF", "HUF", "PLN", "CZK", "BGN", "SEK", "NOK", "DKK",
                              "JPY", "CAD", "AUD", "MDL", "TRY", "CNY", "UAH", "RSD"})
# SPEC GET /tax lists, for the account its example comes from: Normala 20, Redusa 9, Redusa locuinte 5,
# Taxare inversa 0, TVA Inclus 0, SDD 0, SFDD 0 (SDD/SFDD: "scutit cu/fara drept de deducere", the
# exempt rates; no "Scutita" appears anywhere in the SPEC or POSTMAN).
# ASSUMPTION: Romania's rates from 1 August 2025 (standard 21 %, one reduced rate 11 %, Legea 141/2025);
# an account's own table is whatever add_account/add_tax seeds, and GET /tax serves exactly that.
DEFAULT_TAXES = (("Normala", "21"), ("Redusa", "11"), ("Taxare inversa", "0"), ("TVA Inclus", "0"),
                 ("SDD", "0"), ("SFDD", "0"))
# SPEC "Folosirea cotelor TVA": a 0 % line without taxName is taken as "0% TVA Inclus".
ZERO_RATE_DEFAULT_TAX = "TVA Inclus"

# SPEC POST /invoice: "Judetul sa fie denumirea reala a unui judet din Romania; pentru clientii din
# Bucuresti, la Localitate sa fie ales un sector, iar la Judet Bucuresti." Compared without accents,
# case, spaces or hyphens.
ROMANIAN_COUNTIES = frozenset({
    "Alba", "Arad", "Arges", "Bacau", "Bihor", "Bistrita-Nasaud", "Botosani", "Braila", "Brasov", "Buzau",
    "Calarasi", "Caras-Severin", "Cluj", "Constanta", "Covasna", "Dambovita", "Dolj", "Galati", "Giurgiu", "Gorj",
    "Harghita", "Hunedoara", "Ialomita", "Iasi", "Ilfov", "Maramures", "Mehedinti", "Mures", "Neamt", "Olt",
    "Prahova", "Salaj", "Satu Mare", "Sibiu", "Suceava", "Teleorman", "Timis", "Tulcea", "Valcea", "Vaslui",
    "Vrancea", "Bucuresti",
})
BUCHAREST_SECTOR = re.compile(r"sector(ul)?\s*[1-6]", re.IGNORECASE)
ROMANIA_NAMES = frozenset({"", "romania", "ro"})  # ASSUMPTION: no country = Romania (the account's own)

# --------------------------------------------------------------------------- messages
# Quoted from the SPEC's "Mesaje de eroare 400" tables unless marked ASSUMPTION.

COMPANY_REQUIRED = "CIF-ul firmei ('companyVatCode') trebuie specificat"
COMPANY_GONE = "Firma la care incercati sa va conectati nu mai este disponibila in Cloud. Verificati ciful companiei."
COMPANY_GONE_REVERSE = "Firma la care incercati sa va conectati nu mai este disponibila in Cloud."
COMPANY_NOT_YOURS = "Firma la care incercati sa va conectati nu este disponibila pentru acest utilizator."
SERIES_NOT_FOUND = "Seria nu a fost gasita! Folositi o serie creata in contul de cloud."
BAD_DATE = "Data documentului trebuie sa fie de forma yyyy-MM-dd."
CLIENT_REQUIRED = "client trebuie specificat"
CLIENT_INVALID = "Client invalid!"
NO_PRODUCTS = "Factura nu contine produse!"
TOO_MANY_ENTRIES = "Numarul maxim acceptat de 400 intrari pe document a fost depasit."
ONLY_DISCOUNTS = ("Nu poti sa emiti un document care contine doar un discount. Trebuie sa ai si produse / servicii "
                  "adaugate.")
PRODUCT_FIELD_REQUIRED = "{field} trebuie specificat pentru fiecare produs"
DISCOUNT_FIELD_REQUIRED = "{field} trebuie specificat pentru fiecare produs de tip discount"
PRODUCT_CODE_REQUIRED = "Produsul {name} nu are codul specificat."
TAX_REQUIRED = "Trebuie sa setezi o cota tva pentru produsul {name}."
TAX_NOT_FOUND = "Cota tva a produsului {name} nu a fost gasita pe server!"
DISCOUNT_TAX_REQUIRED = ("La aplicarea unui discount pentru produse cu cote tva diferite, trebuie sa specifici si "
                         "cota tva a discountului.")
CURRENCY_NOT_FOUND = "Moneda nu a fost gasita pe server!"
LANGUAGE_NOT_FOUND = "Limba nu a fost gasita pe server!"
FOREIGN_INVOICE_MIXED = "Nu puteti emite documente in {invoice} cu moneda de referinta a produselor in {product} !"
FOREIGN_PRICES_OFF = "Aveti produse care au pretul in alta moneda decat cea a facturii."
PAYMENT_FIELD_REQUIRED = "{field} trebuie specificat pentru incasare"
PAYMENT_TYPE_NOT_FOUND = "Tipul incasarii nu a fost gasit!"
RECEIPT_SERIES_NOT_FOUND = "Seria incasarii nu a fost gasita pe server."
PAYMENT_TAX_NOT_VAT_PAYER = "O firma neplatitoare de tva nu poate folosi tva la incasare!"
STOCK_MODULE_OFF = "Modulul stoc nu este activ!"
WAREHOUSE_NOT_SET = "Gestiunea predatoare nu este setata pentru produsul {name}."
WAREHOUSE_NOT_FOUND = "Gestiunea predatoare {warehouse} a produsului {name} nu a fost gasita."
NEVER_PURCHASED = ("Nu ai facut nicio achizitie pentru produsul {name}. Incarca mai intai stoc pentru produs sau "
                   "emite documentul fara descarcare de gestiune.")
UNIT_WITHOUT_CONVERSION = "Unitatea de masura {unit} a produsului {name} nu are factor de conversie setat."
STOCK_SHORT_ON_ISSUE = ("Cantitate stoc insuficienta la <b>Factura {document}</b> din data <b>{day}</b> pentru "
                        "produsul <b> {name} </b> de la pozitia {position}")
STOCK_SHORT = "Cantitate stoc insuficienta pentru produsul {name}."
INVOICE_NOT_FOUND = "Factura cu seria si numarul {document} nu a fost gasita!"
PAYMENT_STATUS_NOT_FOUND = "Factura nu a fost gasita!"
NOT_LAST_IN_SERIES = "Documentul cu seria si numarul {document} nu este ultimul din serie!"
ALREADY_REVERSED = "Factura este deja stornata."
IS_A_STORNO = "Factura {document} este de tip storno. Nu se poate storna."
STORNO_BEFORE_ORIGINAL = "Data emiterii facturii storno nu poate fi anterioara datei emiterii facturii stornate."
STORNO_SERIES_REQUIRED = "Seria facturii trebuie specificata in parametrul 'seriesName'!"
STORNO_NUMBER_REQUIRED = "Numarul facturii trebuie specificat in parametrul 'number'!"
CANCEL_STORNO_FIRST = ("Pentru factura {document} exista deja stornari care incarca stocul. Trebuie sa anulati "
                       "intai facturile storno ({stornos}).")
RESTORE_ORIGINAL_FIRST = ("Eroare restaurare factura storno {document}. Trebuie initial sa restaurezi facturile "
                          "stornate de aceasta ({original}).")
SERIES_TYPE_INVALID = ("Tipul documentului nu poate fi {type}! Parametrul type poate lua valorile: 'f' pentru "
                       "factura, 'p' pentru proforma si 'c' pentru chitanta.")
# GET /invoice/pdf (and, ASSUMPTION, every other GET keyed by cif + series + number).
CIF_REQUIRED = "Ciful firmei trebuie specificat!"
SERIES_REQUIRED = "Seria facturii trebuie specificata!"
NUMBER_REQUIRED = "Numarul facturii trebuie specificat!"
# DELETE /invoice (and, ASSUMPTION, PUT cancel/restore, which document no such messages).
DELETE_CIF_REQUIRED, DELETE_SERIES_REQUIRED, DELETE_NUMBER_REQUIRED = (
    "Cif trebuie specificat.", "Seriesname trebuie specificat.", "Number trebuie specificat.")
# Success messages: SPEC successResponseDelete/Cancel/Restore ("...numarul FCT0040 a fost ...").
DELETED = "Factura cu seria si numarul {series}{number} a fost stearsa cu succes."
CANCELLED = "Factura cu seria si numarul {series}{number} a fost anulata cu succes."
RESTORED = "Factura cu seria si numarul {series}{number} a fost restaurata cu succes."
# SPEC status table, 403: "Utilizatorul a fost blocat pentru ca s-a depasit limita maxima de apeluri
# permise." ASSUMPTION: that sentence is the errorText of the 403 answer (the body is undocumented).
BLOCKED = "Utilizatorul a fost blocat pentru ca s-a depasit limita maxima de apeluri permise."

# ASSUMPTION (all below): SmartBill documents no wording for these cases.
# The server is Java (its 401 is a Tomcat page, SPEC errorResponseVizualizarePdfFactura), so an
# unknown JSON field is answered the way Jackson words it.
UNKNOWN_FIELD = 'Unrecognized field "{field}" (class {cls}), not marked as ignorable'
WRONG_TYPE = "Cannot deserialize value of type `{type}` from {value} (field \"{field}\")"
NOT_JSON = "Continutul apelului nu este un JSON valid: {detail}"
ALREADY_CANCELLED = "Factura {document} este deja anulata."
NOT_CANCELLED = "Factura {document} nu este anulata."
CANCELLED_NOT_REVERSIBLE = "Factura {document} este anulata. Nu se poate storna."
DISCOUNT_VALUE_NOT_NEGATIVE = "discountValue trebuie sa fie negativ pentru fiecare produs de tip discount"
DISCOUNT_ITEMS_INVALID = "numberOfItems depaseste numarul de produse anterioare discountului {name}."
DESCRIPTION_TOO_LONG = "Descrierea produsului {name} poate avea maxim 2000 de caractere pe maxim 30 de linii."
NO_EXCHANGE_RATE = "Cursul valutar pentru {currency} nu a fost gasit!"
EXCHANGE_RATE_INVALID = "Cursul valutar trebuie sa fie mai mare decat 0."
DATE_REQUIRED = "Data trebuie specificata!"
# ANAF conditions the SPEC lists for POST /invoice ("Pentru ca facturile sa fie acceptate de ANAF").
ANAF_ADDRESS = "Adresa si localitatea clientului trebuie completate (se accepta semnul minus)."
ANAF_COUNTY = "Judetul clientului ({county}) nu este un judet din Romania."
ANAF_SECTOR = "Pentru clientii din Bucuresti localitatea trebuie sa fie un sector (Sector 1 - Sector 6)."
ANAF_VAT_CODE = "CIF-ul/CNP-ul clientului ({code}) nu este valid."
ANAF_VAT_CODE_MISSING = "CIF-ul/CNP-ul clientului trebuie completat (pentru persoane fizice se accepta \"-\" sau 0)."
NOT_MODELLED = "{what} is not modelled by the local SmartBill fake"


# --------------------------------------------------------------------------- the account


@dataclass
class Series:
    name: str
    type: str  # f, p or c
    next_number: int = 1
    default: bool = False

    def take_number(self) -> str:
        number = format_number(self.next_number)
        self.next_number += 1
        return number


@dataclass
class Tax:
    name: str
    percentage: Decimal


@dataclass
class StockItem:
    warehouse: str
    name: str
    code: str
    unit: str
    quantity: Decimal


@dataclass
class Company:
    """One firm in SmartBill Cloud (keyed by its CIF) with the settings the API depends on.

    ``invoices`` holds every numbered invoice by (series, number), in the order issued, including
    cancelled ones and storno invoices; ``drafts`` the isDraft ones, which get no number.
    """

    cif: str
    name: str
    vat_payer: bool = True
    uses_product_codes: bool = False  # "Foloseste cod produs" (SPEC): code required on every product
    foreign_reference_prices: bool = False  # "Am preturi cu moneda de referinta in valuta" (SPEC)
    stock_module: bool = False  # the "gestiune" module (SPEC: "Modulul stoc nu este activ!")
    taxes: list[Tax] = field(default_factory=list)
    series: dict[str, Series] = field(default_factory=dict)
    warehouses: dict[str, str] = field(default_factory=dict)  # name -> "en detail" / "en gros"
    stock: dict[tuple[str, str, str], StockItem] = field(default_factory=dict)
    languages: set[str] = field(default_factory=lambda: set(PREDEFINED_LANGUAGES))
    currencies: set[str] = field(default_factory=lambda: set(KNOWN_CURRENCIES))
    invoices: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    drafts: list[dict[str, Any]] = field(default_factory=list)

    def invoice(self, series: str, number: str) -> dict[str, Any]:
        return self.invoices[(series, number)]

    def default_series(self, series_type: str) -> Series | None:
        return next((s for s in self.series.values() if s.type == series_type and s.default), None)

    def tax_named(self, name: str) -> Tax | None:
        return next((tax for tax in self.taxes if tax.name == name), None)

    def stock_of(self, warehouse: str, name: str, code: str = "") -> Decimal:
        item = self.stock.get((warehouse, name, code))
        return item.quantity if item else Decimal(0)

    def stock_of_code(self, warehouse: str, code: str) -> Decimal:
        """The quantity in the warehouse of the products with this code (a firm that uses product codes)."""
        return sum((item.quantity for item in self.stock.values() if item.warehouse == warehouse and item.code == code),
                   Decimal(0))


@dataclass
class User:
    """A SmartBill login: the e-mail, the API token and the firms it may use."""

    email: str
    token: str
    label: str  # non-secret name for the request log
    cifs: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- small helpers


def format_number(number: int) -> str:
    """ASSUMPTION: numbers are zero-padded to 4 digits, as in every SPEC example ("0001", "0117")."""
    return f"{number:04d}"


def normalize_cif(value: str) -> str:
    """ASSUMPTION: "RO12345678", "ro 12345678" and "12345678" name the same firm (clients send both:
    the SPEC examples use RO12345678, POSTMAN and integrators' guides the bare number)."""
    text = re.sub(r"\s", "", value).upper()
    return text[2:] if text.startswith("RO") else text


def plain(text: str) -> str:
    """Lower case without accents, spaces or hyphens: how place names are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\s\-]", "", letters).lower()


_COUNTIES = {plain(county) for county in ROMANIAN_COUNTIES}


def is_romanian_county(county: str) -> bool:
    return plain(county) in _COUNTIES


def is_valid_cui(value: str) -> bool:
    """Romanian CUI/CIF check digit (key 753217532), with or without the RO prefix."""
    digits = normalize_cif(value)
    if not re.fullmatch(r"\d{2,10}", digits):
        return False
    body, check = digits[:-1].rjust(9, "0"), int(digits[-1])
    total = sum(int(d) * int(k) for d, k in zip(body, "753217532", strict=True))
    return total * 10 % 11 % 10 == check


def is_valid_cnp(value: str) -> bool:
    """Romanian personal number check digit (key 279146358279)."""
    if not re.fullmatch(r"[1-9]\d{12}", value):
        return False
    remainder = sum(int(d) * int(k) for d, k in zip(value[:12], "279146358279", strict=True)) % 11
    return (1 if remainder == 10 else remainder) == int(value[12])


def is_acceptable_client_code(value: str) -> bool:
    """SPEC (ANAF conditions): a company's valid CIF; for a person a valid CNP, "-", or 0 / a string of
    up to 13 zeros."""
    code = value.strip()
    return (code == "-" or re.fullmatch(r"0{1,13}", code) is not None or is_valid_cnp(code)
            or is_valid_cui(code))
