"""SmartBill Cloud (Romania) adapter.

API facts and sources: shared/providers/next-providers.md section 3, and the strict fake
local/fakes/smartbill, written from SmartBill's own OpenAPI document (api.smartbill.ro), its Postman
collection and its Magento plugin. What shapes this adapter:
- HTTP Basic with the login e-mail and the API token; every call names the firm by its CIF
  (`companyVatCode` in bodies, `cif` in queries), a credential field here.
- POST /invoice answers {errorText, message, number, series, url}; an error is HTTP 400 with a single
  Romanian `errorText` (one problem at a time, no field name). A third-party client reports errors
  as HTTP 200 with a non-empty errorText: read the same way (ASSUMPTION, tolerated).
- Amounts are JSON numbers (the spec's doubles): written from Decimals digit for digit, never floats.
- No idempotency key, no list and no search. A create whose answer was lost is found among the numbers
  given out since: before each create, GET /series gives each invoice series' next number (kept with the
  claim); the settlement reads it again, takes the gross of each number given out meanwhile (GET
  /invoice/paymentstatus) and reads the PDF of those with our gross for our reference, which every
  invoice carries as the last line of `mentions` (printed on it; a storno copies its invoice's
  mentions, so it is known by that invoice's reference: an invoice is reversed once). Decided as for
  the providers with a list (domain.settlement.settle_by_reference).
- Read-back: GET /invoice/paymentstatus gives the invoice's gross total and what is paid, nothing
  else (no currency, net or VAT): that is what the read-back compares.
- Corrections: POST /invoice/reverse makes a storno of the whole invoice, once; there is no credit
  note with lines of its own, so only a full reversal goes (planning refuses the rest).
- No e-Factura state in the API: SmartBill submits to ANAF by the account's own settings.
- Stock (account setting send_skus), SPEC "Emitere factura cu descarcarea gestiunii": `useStock` true on
  the invoice and on each product its `warehouseName` (case sensitive: the account's provider option
  `warehouse`) - with `code` = our SKU, which a firm that uses product codes ("Foloseste cod produs")
  needs on every product. Every product line (not services) is then taken out of stock, and one not in
  stock refuses the whole invoice, so each SKU is looked up first (GET /stocks?productCode=, in its
  unit: the SPEC refuses another unit). A line without a SKU, or one SmartBill's warehouse does not
  have, refuses the document (missing SKUs 'fail') or sends the whole invoice with useStock false and a
  warning ('warn'; the SPEC's own answer for goods not in stock: discharge it later in SmartBill's
  report "Documente fara descarcare gestiune"). ASSUMPTION (the fake's default reading): with product
  codes, the code alone names the product in stock. A folded line (romania.priced: quantity 1 at its
  value) with a SKU would take 1 unit out, not its quantity, and no product can be marked to take no
  stock (isService would book goods as a service): such an invoice goes with useStock false too, warned.
- 30 calls per 10 s per user; the 31st blocks the user for 10 minutes, answered 403: the shared
  limiter keeps to 30 per 10 s per login e-mail, and a 403 is that block (retried after 10 minutes),
  never a credentials problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import requests
from pydantic import BaseModel, ConfigDict, SecretStr, StringConstraints

from invoice_export.domain.account_settings import AccountSettings, KsefMode, MissingSku, ProviderName
from invoice_export.domain.documents import Document, DocumentKind, Line, PriceBasis, VatCalculation
from invoice_export.domain.errors import (
    ConfigurationError,
    ExportError,
    PermanentError,
    ProviderRejected,
    TransientError,
)
from invoice_export.domain.money import GROSZ
from invoice_export.domain.provider_contract import (
    Capabilities,
    ClearanceSystem,
    CreatedDocument,
    ExportPlan,
    ProviderOption,
    ProviderReference,
)
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.readback import ProviderTotals
from invoice_export.domain.settlement import InterruptedAttempt, ListedDocument, with_our_reference
from invoice_export.providers.base import ProviderAdapter
from invoice_export.providers.http import encode_json
from invoice_export.providers.pdf_text import pdf_text
from invoice_export.providers.romania import (
    ROMANIA,
    ROMANIAN_TEXT_LIMITS,
    delivery_and_due_dates,
    fold_warnings,
    gestiune_refusals,
    is_folded,
    is_vat_payer,
    mentions,
    product_figures,
    refuse_receipt_payment,
    romanian_buyer_county,
    series_and_number,
    storno_by_total,
    vat_name_and_percent,
)
from invoice_export.providers.texts import TextLimit

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"  # SPEC GET /invoice/pdf: the Accept header the PDF needs
BLOCK_SECONDS = 600.0  # SPEC: over the limit, access is blocked for 10 minutes
BLOCKED_STATUS = 403  # SPEC status table: "Utilizatorul a fost blocat ... limita maxima de apeluri"
# Numbers given out since an interrupted attempt (and not mapped to our other documents) that a settlement
# reads, a paymentstatus each: 120 take 40 s of SmartBill's 30 calls per 10 s, within the settlement
# function's 120 s with the exports sharing the limit. More is left to a person rather than read for minutes.
MAX_NUMBERS_READ = 120
INVOICE_SERIES = "f"  # SPEC GET /series type: f factura, p proforma, c chitanta
RECEIPT_PAYMENT = "Chitanta"  # a payment of this type needs a receipt series: not offered
# SPEC "Date incasare": the payment types (no endpoint lists them).
PAYMENT_TYPES = ("Bon", "Card", "CEC", "Bilet ordin", "Ordin plata", "Mandat postal", "Alta incasare")
PERSON_WITHOUT_CODE = "-"  # SPEC (ANAF conditions): a person without a CNP is sent as "-"

# Words of SmartBill's (Romanian) errorText -> the field of our message to fix; the first match wins.
OUR_FIELD = (
    ("Gestiunea predatoare", "the provider option warehouse (a SmartBill gestiune, spelt exactly)"),
    ("stoc insuficienta", "the stock in SmartBill of document.lines[].sku"),
    ("achizitie pentru produsul", "the stock in SmartBill of document.lines[].sku"),
    ("factor de conversie", "document.lines[].unit (the unit SmartBill keeps the stock in)"),
    ("nu are codul specificat", "document.lines[].sku (the firm uses product codes: every product needs one)"),
    ("CIF-ul/CNP-ul clientului", "document.buyer.tax_id"),
    ("Judetul clientului", "document.buyer.address.region"),
    ("Bucuresti", "document.buyer.address.city (the sector, e.g. 'Sector 3')"),
    ("Adresa si localitatea", "document.buyer.address street and city"),
    ("Cota tva", "the lines' VAT rates (SmartBill: Configurare > Cote TVA)"),
    ("Seria", "the account's series link"),
    ("Tipul incasarii", "the account's payment-type link"),
    ("Moneda", "document.currency"),
    ("Cursul valutar", "document.exchange_rate"),
    ("stornata", "the corrected document at SmartBill (it may be reversed or cancelled already)"),
    ("Firma", "the SmartBill company CIF of the account's connection"),
    ("CIF-ul firmei", "the SmartBill company CIF of the account's connection"),
)


class SmartBillCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    username: Annotated[str, StringConstraints(min_length=3)]  # the SmartBill login e-mail
    token: SecretStr  # Contul meu > Integrari > API token
    cif: Annotated[str, StringConstraints(min_length=2, max_length=16)]  # the firm's CIF (RO12345678)


class SmartBillOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # The warehouse (gestiune) sold goods are taken out of when the account sends SKUs: its name exactly as
    # in SmartBill (Nomenclatoare > Gestiuni; SPEC: warehouseName is case sensitive). Required then.
    warehouse: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class SmartBillAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.SMARTBILL
    display_name: ClassVar[str] = "SmartBill"
    capabilities: ClassVar[Capabilities] = Capabilities(
        receipts=False,  # a receipt (chitanta) is a payment of an invoice in SmartBill, not a document here
        corrections=True,
        partial_corrections=False,  # POST /invoice/reverse: the whole invoice, once
        series=True,
        list_series=True,  # GET /series?type=f
        own_numbering=False,  # SmartBill numbers in its series
        payment_types=True,
        list_payment_types=False,  # a fixed documented list, no endpoint
        sku_stock=True,  # useStock, each product's code and warehouseName (the account's option `warehouse`)
        ksef_send=False,
        ksef_read_back=False,
        efactura_send=False,  # SmartBill sends to e-Factura by the account's settings; no API action
        efactura_read_back=False,  # no e-Factura state anywhere in the API
        lookup_by_reference=False,  # no search, no field for our id
        settle_by_listing=True,  # the numbers given out since the attempt, our reference read from the PDF
    )
    credentials_model: ClassVar[type[BaseModel]] = SmartBillCredentials
    options_model: ClassVar[type[BaseModel]] = SmartBillOptions
    default_api_url: ClassVar[str] = "https://ws.smartbill.ro/SBORO/api"
    home_currency: ClassVar[str] = "RON"
    clearance_system: ClassVar[ClearanceSystem] = ClearanceSystem.EFACTURA
    # SPEC "Folosirea cotelor TVA": VAT per product, extracted from or added to each price; as the fake
    # computes it, the same arithmetic as our per-line VAT, for net and gross prices alike.
    vat_calculation: ClassVar[VatCalculation | None] = VatCalculation.PER_LINE
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=30, window_seconds=10, scope=LimitScope.CREDENTIAL,
        source="documented: 30 calls per 10 s, then the user is blocked for 10 minutes (SmartBill API spec)")
    rate_limit_per: ClassVar[str | None] = "username"  # SPEC: the user (login) is blocked
    exchange_rate_fields: ClassVar[str] = "`exchangeRate` (RON per unit)"
    exemption_basis_fields: ClassVar[str] = "zw: `taxName` SFDD, the basis printed in `mentions`; np: refused"
    text_limits: ClassVar[dict[str | tuple[str, ...], TextLimit]] = {
        **ROMANIAN_TEXT_LIMITS,
        "mentions": dataclasses.replace(ROMANIAN_TEXT_LIMITS["mentions"], keeps_our_reference=True)}
    # SmartBill creates synchronously: once its server has finished the POST, the series' next number
    # has moved past the invoice. Our client gives up after its read timeout, the server may go on.
    listing_complete_after: ClassVar[float] = 300.0
    listing_complete_after_source: ClassVar[str] = (
        "ASSUMPTION: SmartBill documents no server timeout; as for iFirma, 5 minutes after the attempt "
        "began nothing it sent is still being numbered")
    ksef_refusals: ClassVar[dict[KsefMode, tuple[str, str]]] = {
        KsefMode.SEND_ON_EXPORT: (
            "SmartBill's API has no call that sends a document to e-Factura",
            "set ksef to 'off': SmartBill sends to e-Factura by the account's own settings (SmartBill: "
            "Configurare > e-Factura)"),
        KsefMode.PROVIDER_SENDS: (
            "SmartBill's API reports no e-Factura state, so there is nothing for us to read back",
            "set ksef to 'off' and follow e-Factura in SmartBill")}

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        assert isinstance(credentials, SmartBillCredentials)
        return requests.auth.HTTPBasicAuth(credentials.username, credentials.token.get_secret_value())

    @staticmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        return read_rejection(response)

    @classmethod
    def option_refusals(cls, settings: AccountSettings) -> list[tuple[str, str]]:
        return gestiune_refusals(settings, SmartBillOptions, "warehouse", cls.display_name,
                                 "Nomenclatoare > Gestiuni; spelt exactly: the name is case sensitive")

    @property
    def _cif(self) -> str:
        assert isinstance(self.credentials, SmartBillCredentials)
        return self.credentials.cif

    # ------------------------------------------------------------------ mapping

    def build_request(self, plan: ExportPlan, stock: bool = True) -> dict[str, Any]:
        """The create body. With send_skus, `stock` False sends it without taking anything out of stock
        (a SKU the warehouse does not have, missing SKUs 'warn'; create_document looks them up)."""
        doc = plan.document
        if doc.kind == DocumentKind.CORRECTION:
            assert plan.corrected is not None  # planning allows full reversals only
            series, number = series_and_number(plan.corrected)
            return {"companyVatCode": self._cif, "seriesName": series, "number": number,
                    "issueDate": doc.issue_date.isoformat()}
        products = [self._product(line, doc) for line in doc.lines]
        body: dict[str, Any] = {
            "companyVatCode": self._cif,
            "client": self._client(doc),
            "issueDate": doc.issue_date.isoformat(),
            "currency": doc.currency,
            "precision": max(2, *(_decimals(product["price"]) for product in products)),
            "products": products,
        }
        if plan.provider_series is not None:
            body["seriesName"] = plan.provider_series  # else the account's default invoice series
        if plan.send_skus:
            # A folded line's goods cannot leave stock (see _not_in_stock): so a dry run shows it too.
            body.update(self._stock_links(products, stock and not folded_goods(doc)))
        if doc.exchange_rate is not None:
            body["exchangeRate"] = doc.exchange_rate.rate  # RON per unit, like ours
        body.update(delivery_and_due_dates(doc))
        # Our reference (domain.settlement) last, read back from the PDF when an interrupted create is looked for.
        body["mentions"] = with_our_reference(mentions(doc), doc.document_id)
        if doc.payment.paid_date is not None:
            body["payment"] = self._payment(plan)
        return body

    def _client(self, doc: Document) -> dict[str, Any]:
        buyer = doc.buyer
        client = {"name": buyer.name, "vatCode": buyer.tax_id or PERSON_WITHOUT_CODE,
                  "isTaxPayer": is_vat_payer(buyer), "address": buyer.address.street, "city": buyer.address.city,
                  "county": romanian_buyer_county(buyer, self.display_name),
                  # SPEC examples name the country ("Romania"); ASSUMPTION: other countries by ISO code.
                  "country": "Romania" if buyer.address.country == ROMANIA else buyer.address.country,
                  "email": buyer.email, "phone": buyer.phone, "saveToDb": False}
        return {key: value for key, value in client.items() if value is not None}

    def _product(self, line: Line, doc: Document) -> dict[str, Any]:
        tax_name, percent = vat_name_and_percent(line, self.display_name)
        # A discounted line sends the unit price whose value is exactly ours (romania.priced); a line no
        # 4-place price states exactly goes folded, 1 at its value.
        sent, name, unit = product_figures(line)
        product: dict[str, Any] = {
            "name": name,
            "measuringUnitName": unit,
            "currency": doc.currency,
            "quantity": sent.quantity.normalize(),
            "price": sent.unit_price.normalize(),
            "isTaxIncluded": doc.price_basis == PriceBasis.GROSS,
            "taxPercentage": percent,
            "isService": line.is_shipping,
        }
        if tax_name is not None:
            product["taxName"] = tax_name  # else SmartBill's one rate with the percentage
        if line.sku and self.settings.send_skus:
            # A firm that uses product codes needs one on every product, services too (SPEC: "Produsul ... nu
            # are codul specificat"), with or without stock: shipping goes with its SKU where it has one.
            product["code"] = line.sku
        return product

    def _stock_links(self, products: list[dict[str, Any]], stock: bool) -> dict[str, Any]:
        """useStock, and each product (not a service) its warehouse (in place)."""
        self.refuse_missing_options()
        if not stock:
            return {"useStock": False}
        assert isinstance(self.options, SmartBillOptions) and self.options.warehouse is not None
        for product in products:
            if not product["isService"]:
                product["warehouseName"] = self.options.warehouse
        return {"useStock": True}

    def _payment(self, plan: ExportPlan) -> dict[str, Any]:
        doc = plan.document
        refuse_receipt_payment(doc, plan.provider_payment_type, self.display_name, RECEIPT_PAYMENT,
                               "'Card', 'Ordin plata'")
        return {"type": plan.provider_payment_type, "value": doc.totals.gross}

    # ------------------------------------------------------------------ calls

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        path = "/invoice/reverse" if plan.document.kind == DocumentKind.CORRECTION else "/invoice"
        stock_problems = self._not_in_stock(plan)
        fitted = self.fit_texts(self.build_request(plan, stock=not stock_problems))
        answer = self._answer(self._call("POST", path, body=fitted.body))
        # ASSUMPTION (as the fake reads the spec's ambiguous storno example): the answer of a storno names
        # the storno itself, numbered next in the original's series.
        series, number = str(answer["series"]), str(answer["number"])
        reference = ProviderReference(provider_document_id=f"{series}:{number}", number=f"{series} {number}",
                                      series=series)
        readback, warnings = self._read_back(reference, plan.document)
        warnings = (*fold_warnings(plan.document, self.display_name, stock_links=plan.send_skus), *warnings)
        if stock_problems:
            warnings = (f"sent without taking anything out of SmartBill's stock (useStock false): "
                        f"{'; '.join(stock_problems)}; discharge {reference.number} in SmartBill (Rapoarte > Documente "
                        "fara descarcare gestiune) once the goods are there", *warnings)
        return CreatedDocument(reference, fitted.warnings + tuple(warnings), readback=readback)

    def _not_in_stock(self, plan: ExportPlan) -> list[str]:
        """Why the invoice cannot take its goods out of the account's warehouse: lines without a SKU, SKUs
        the warehouse does not have (in the line's unit). Refused with missing SKUs 'fail'; else the
        reasons for the warning of an invoice sent with useStock false (a folded line's among them)."""
        doc = plan.document
        if not plan.send_skus or doc.kind == DocumentKind.CORRECTION:
            return []
        self.refuse_missing_options()
        assert isinstance(self.options, SmartBillOptions) and self.options.warehouse is not None
        warehouse = self.options.warehouse
        problems = self._stock_problems(doc, warehouse)
        if problems and plan.missing_sku == MissingSku.FAIL:
            raise PermanentError(f"SmartBill cannot take this invoice's goods out of warehouse '{warehouse}': "
                                 f"{'; '.join(problems)}", code="sku_not_found",
                                 fix=f"give the products these codes (and units) in SmartBill with stock in "
                                     f"'{warehouse}', or set missing SKUs to 'warn' (the invoice then goes without a "
                                     "stock discharge)")
        # A folded line (quantity 1 at its value) would take 1 unit of its product out, not its quantity, and
        # SmartBill has no per-product "take no stock" but isService, which would book goods as a service:
        # the whole invoice goes without a discharge, with the warning, whatever missing SKUs says.
        return problems + [f"line {line.line_id} (SKU {line.sku}) goes folded, as quantity 1"
                           for line in folded_goods(doc)]

    def _stock_problems(self, doc: Document, warehouse: str) -> list[str]:
        """Goods lines without a SKU, and SKUs the warehouse does not keep in the line's unit (folded lines
        are not looked up: they take no stock)."""
        goods = [line for line in doc.lines if not line.is_shipping]
        problems = [f"line {line.line_id} has no SKU" for line in goods if not line.sku]
        units: dict[str, set[str]] = {}
        for line in (line for line in goods if line.sku and not is_folded(line)):
            if line.sku not in units:
                units[line.sku] = self._stock_units(line.sku, warehouse, doc.issue_date)
            if not units[line.sku]:
                problems.append(f"SKU {line.sku} is not in warehouse '{warehouse}'")
            elif line.unit not in units[line.sku]:
                problems.append(f"SKU {line.sku} is kept in '{'/'.join(sorted(units[line.sku]))}', line {line.line_id} "
                                f"is in '{line.unit}'")
        return list(dict.fromkeys(problems))

    def _stock_units(self, sku: str, warehouse: str, day: date) -> set[str]:
        """The units the warehouse keeps the product with this code in (none: not in stock), by GET /stocks
        (SPEC: cif, date, warehouseName, productCode); only an exact code counts."""
        answer = self._answer(self._call("GET", "/stocks", params={
            "cif": self._cif, "date": day.isoformat(), "warehouseName": warehouse, "productCode": sku}))
        return {str(product.get("measuringUnit")) for listed in answer.get("list") or []
                if (listed.get("warehouse") or {}).get("warehouseName") == warehouse
                for product in listed.get("products") or [] if product.get("productCode") == sku}

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        # Never called while lookup_by_reference is False; a None here would wrongly mean "surely absent".
        raise ConfigurationError("SmartBill cannot be searched for a document of ours", code="not_supported")

    # ------------------------------------------------------------------ settling an interrupted create

    def numbering_before_create(self, plan: ExportPlan) -> dict[str, str]:
        """Every invoice series' next number (a storno takes its invoice's series, a series link may name
        any, and the account's default series is not named at all): one GET /series for all of them."""
        return self._next_numbers()

    def _next_numbers(self) -> dict[str, str]:
        return {str(series["name"]): str(series["nextNumber"]) for series in self._invoice_series()}

    def list_for_settlement(self, plan: ExportPlan, attempt: InterruptedAttempt) -> list[ListedDocument]:
        """The invoices numbered since the attempt began, each with its gross (GET /invoice/paymentstatus);
        our reference is read from the PDF of those that may be ours (read_listed). Numbers our records map
        to other documents are not read."""
        before = attempt.numbering_before
        if before is None:
            raise PermanentError("where SmartBill's numbering stood before the attempt was not kept (an attempt "
                                 "begun before it was)", code="settlement_not_possible",
                                 fix="look for the document in SmartBill and attach it, or release it")
        numbers = numbers_given_since(before, self._next_numbers())
        elsewhere = attempt.ours_elsewhere(len(numbers))
        to_read = [(series, number) for series, number in numbers if f"{series}:{number}" not in elsewhere]
        if len(to_read) > MAX_NUMBERS_READ:
            raise PermanentError(f"SmartBill gave out {len(to_read)} numbers not ours since the attempt began; "
                                 f"reading more than {MAX_NUMBERS_READ} is left to a person",
                                 code="settlement_not_possible",
                                 fix="look for the document in SmartBill and attach it, or release it")
        return [self._numbered(series, number) for series, number in to_read]

    def _numbered(self, series: str, number: str) -> ListedDocument:
        gross = _amount(self._payment_status(series, number)["invoiceTotalAmount"])
        kind = DocumentKind.CORRECTION if storno_by_total(gross) else DocumentKind.INVOICE
        return ListedDocument(ProviderReference(f"{series}:{number}", f"{series} {number}", series=series),
                              gross=gross, kind=kind)

    def read_listed(self, listed: ListedDocument) -> ListedDocument:
        """Its PDF's text, where SmartBill prints the mentions (ASSUMPTION: as the invoices its application
        shows; a PDF whose text cannot be read shows no reference, and the document stays in doubt)."""
        return dataclasses.replace(listed, reference_text=pdf_text(self.download_pdf(
            listed.reference.provider_document_id)))

    def reference_carried(self, plan: ExportPlan) -> str | None:
        correction = plan.document.correction
        return correction.corrected_document_id if correction is not None else None

    def download_pdf(self, provider_document_id: str) -> bytes:
        series, number = split_reference(provider_document_id)
        response = self._call("GET", "/invoice/pdf", params={"cif": self._cif, "seriesname": series, "number": number},
                              accept=OCTET_STREAM)
        if not response.content.startswith(b"%PDF"):
            raise ProviderRejected("SmartBill returned something other than a PDF", code="provider_bad_pdf")
        return response.content

    def check_credentials(self) -> None:
        """GET /tax of the connection's firm: the login, its token and the CIF at once."""
        try:
            self._answer(self._call("GET", "/tax", params={"cif": self._cif}))
        except ProviderRejected as error:
            raise ConfigurationError(f"SmartBill does not know the firm {self._cif}: {error.message}",
                                     code="unknown_company",
                                     fix="connect with the CIF of a firm this SmartBill login manages") from None

    def list_series(self) -> list[ProviderOption]:
        return [ProviderOption(id=str(s["name"]), name=f"{s['name']} (next {s.get('nextNumber', '?')})")
                for s in self._invoice_series()]

    def _invoice_series(self) -> list[dict[str, Any]]:
        answer = self._answer(self._call("GET", "/series", params={"cif": self._cif, "type": INVOICE_SERIES}))
        return list(answer.get("list") or [])

    def list_payment_types(self) -> list[ProviderOption]:
        return [ProviderOption(id=value, name=value) for value in PAYMENT_TYPES]

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
              body: dict[str, Any] | None = None, accept: str = JSON) -> requests.Response:
        headers = {"Accept": accept, **({"Content-Type": JSON} if body is not None else {})}
        response = self.http.request(method, path, params=params, headers=headers, ok=(200, BLOCKED_STATUS),
                                     data=encode_json(body) if body is not None else None)
        if response.status_code == BLOCKED_STATUS:
            # The spec's only 403: the user went over the call limit. Nothing was done; never a credentials
            # problem (which would pause the account).
            raise TransientError("SmartBill blocked the login for 10 minutes: too many calls (HTTP 403)",
                                 retry_after=BLOCK_SECONDS, code="provider_rate_limited",
                                 fix="nothing: the document is retried after the block")
        return response

    @staticmethod
    def _answer(response: requests.Response) -> dict[str, Any]:
        body = response.json(parse_float=Decimal)
        if not isinstance(body, dict) or body.get("errorText"):
            raise read_rejection(response)  # ASSUMPTION: a 200 with an errorText is an error too
        return body

    def _read_back(self, reference: ProviderReference, document: Document) -> tuple[ProviderTotals | None,
                                                                                     tuple[str, ...]]:
        """The gross total and what is paid, all SmartBill returns. The document exists whatever happens
        here, so a failed read is a warning, never an error."""
        try:
            status = self._payment_status(*split_reference(reference.provider_document_id))
        except ExportError as error:
            return None, (f"SmartBill's total could not be read back ({error.message}): check {reference.number} in "
                          "SmartBill",)
        gross = _amount(status["invoiceTotalAmount"])
        warnings = ()
        paid = _amount(status.get("paidAmount", 0))
        if document.payment.paid_date is not None and document.kind != DocumentKind.CORRECTION and paid != gross:
            warnings = (f"SmartBill shows {paid:f} of {gross:f} paid on {reference.number}, our document is paid",)
        return ProviderTotals(net=None, vat=None, gross=gross, currency=None,  # the answer names no currency
                              is_correction=storno_by_total(gross), corrects_readable=False), warnings


    def _payment_status(self, series: str, number: str) -> dict[str, Any]:
        return self._answer(self._call("GET", "/invoice/paymentstatus",
                                       params={"cif": self._cif, "seriesname": series, "number": number}))


def numbers_given_since(before: Mapping[str, str], now: Mapping[str, str]) -> list[tuple[str, str]]:
    """(series, number) of each number a series may have given the attempt's create: those it gave out
    between two readings of its next number, and the one before the first reading - SmartBill deletes
    only a series' last invoice and gives its number out again (SPEC DELETE /invoice), so a deletion
    just after the reading hands the create that number. Written as the series writes them (ASSUMPTION:
    with the zero padding its next number shows, "0042"). A series gone, or whose next number went back
    further (reset in SmartBill), cannot say: a PermanentError."""
    given = []
    for series, first in before.items():
        if series not in now or int(now[series]) < int(first) - 1:
            raise PermanentError(f"SmartBill's series {series} was {'reset' if series in now else 'removed'} "
                                 "since the attempt began", code="settlement_not_possible",
                                 fix="look for the document in SmartBill and attach it, or release it")
        given += [(series, str(number).zfill(len(first)))
                  for number in range(max(int(first) - 1, 1), int(now[series]))]
    return given


def folded_goods(doc: Document) -> list[Line]:
    """The goods lines with a SKU that go folded (romania.priced): none of them may take stock."""
    return [line for line in doc.lines if line.sku and not line.is_shipping and is_folded(line)]


def split_reference(provider_document_id: str) -> tuple[str, str]:
    """`FCT:0001` -> ("FCT", "0001"): SmartBill names an invoice by series and number only."""
    series, _, number = provider_document_id.rpartition(":")
    if not series or not number:
        raise ConfigurationError(f"'{provider_document_id}' is not a SmartBill document reference",
                                 fix="use the form <series>:<number>, e.g. FCT:0001",
                                 code="invalid_provider_reference")
    return series, number


def _decimals(amount: Decimal) -> int:
    return max(0, -int(amount.as_tuple().exponent))


def _amount(value: Any) -> Decimal:
    """A JSON number read as an exact Decimal, shown with 2 decimals where that is exact."""
    amount = Decimal(str(value))
    return amount.quantize(GROSZ) if amount == amount.quantize(GROSZ) else amount


def read_rejection(response: requests.Response) -> ProviderRejected:
    """SmartBill's error body {"errorText": "...", ...}: one Romanian message, no field name; what to fix
    is found by its words. An HTML page (Tomcat) carries only its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = str(body.get("errorText") or "") if isinstance(body, dict) else ""
    if not text:
        return ProviderRejected(f"SmartBill rejected the request (HTTP {response.status_code})",
                                fix="check the document and the account connection, then retry")
    fix = next((field for words, field in OUR_FIELD if words.lower() in text.lower()), "the document")
    return ProviderRejected(f"SmartBill rejected the request: {text}", fix=f"correct {fix} and retry the document")
