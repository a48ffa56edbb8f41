"""Oblio (Romania) adapter.

API facts and sources: shared/providers/next-providers.md section 3 (Oblio's API page, its official
PHP client OblioSoftware/OblioApi and WooCommerce plugin), and the strict fake local/fakes/oblio.
What shapes this adapter:
- OAuth client credentials: POST /api/authorize/token (client_id = the login e-mail, client_secret =
  the API secret) gives a Bearer token for 3600 s. Tokens are kept per credentials in the process
  (`TOKENS`), renewed before they expire, and a 401 with a token we thought valid (revoked, or expired
  by Oblio's clock) renews it once. Neither the secret nor the token is ever logged.
- Every call names the company by `cif` (a credential field: the company the login may use).
- The create answers only {seriesName, number, link}; the document's id is in the link. Totals,
  currency and the e-Factura state are read back from GET /api/docs/invoice/list (filtered by id),
  which returns the gross `total` only: the read-back compares gross, currency and exchange rate.
- `idempotencyKey` ("to avoid double invoicing") is our document id and version: a create repeated
  with it answers the first document instead of making a second one. That is the guard that settles
  a timed-out create (`find_document` repeats the create).
- Corrections: Oblio reverses a whole invoice (storno: `referenceDocument` {type "Factura", seriesName,
  number}); it has no correction of single lines, so only a full reversal goes (planning refuses the
  rest). No receipts endpoint.
- e-Factura (ANAF's SPV): the list's `einvoiceStatus` {code -1 not sent, 0 in SPV processing, 1 sent
  and validated, 2 errors} is read back by the poller, and POST /api/docs/einvoice sends a document.
- Stock (account setting send_skus): `useStock` 1 on the invoice, and on each line with a SKU the
  product's `code` (BT-155) and the `management` (gestiune) it is taken out of - the account's
  provider option `management`, with its `workStation` (option `work_station`, Oblio's default "Sediu").
  Docs: useStock "Descarcare pe gestiune (in cazul in care este activat stocul)", management "Numele
  gestiunii din care face parte produsul ... pentru produse stocabile (nu este valabil pentru servicii)".
  Each SKU is looked up first in that management (GET /api/nomenclature/products?code=&management=),
  so a code Oblio does not know is refused (missing SKUs 'fail') or sent without a stock link ('warn').
  A folded line (romania.priced: quantity 1 at its value) goes without code and management, so it moves
  no stock (it would take 1 unit, not its quantity), with the missing-SKU style warning.
  ASSUMPTION (undocumented, as the fake models it): a line with a management is matched to the catalogue
  product by its code and takes its quantity out; a line without one (shipping, a SKU not found) moves no
  stock; a storno gives back what its invoice took. The list's `useStock` is read back: "0" after we
  sent 1 means stock is not activated for the company, reported as a warning.
- Rate limits, both published rules at once: more than 3 requests per second block the token for 10
  minutes (older page), 30 document-creating requests per 100 s and 30 others per 10 s (newer page).
  Creates (the POSTs that make a document) are spaced 1 per 3.4 s and the rest (the token and
  e-Factura sends included) kept to 2 per second, so together they never reach 3 in a second, 30
  creates in 100 s or 30 others in 10 s.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, SecretStr, StringConstraints

from invoice_export.domain.account_settings import AccountSettings, MissingSku, ProviderName
from invoice_export.domain.documents import Document, DocumentKind, Line, PriceBasis, VatCalculation
from invoice_export.domain.errors import (
    ConfigurationError,
    CredentialsRejected,
    ExportError,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
    TransientError,
)
from invoice_export.domain.money import GROSZ
from invoice_export.domain.provider_contract import (
    Capabilities,
    ClearanceSystem,
    CreatedDocument,
    ExportPlan,
    KsefState,
    KsefStatus,
    ProviderListedDocument,
    ProviderOption,
    ProviderReference,
)
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.readback import ProviderTotals
from invoice_export.domain.vat_split import VatSplit
from invoice_export.providers.base import ProviderAdapter
from invoice_export.providers.ksef_words import ksef_status_from
from invoice_export.providers.pricing import net_first_split
from invoice_export.providers.romania import (
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

API = "/api"
TOKEN_PATH = f"{API}/authorize/token"
TOKEN_LIFETIME_SECONDS = 3600.0  # docs: "expires_in": "3600" (a string there, a number elsewhere)
RENEW_BEFORE_EXPIRY_SECONDS = 300.0
BLOCK_SECONDS = 600.0  # older docs: a token over the limit is blocked for 10 minutes
LIST_PAGE = 100  # docs: limitPerPage "Maxim 100"
STORNO_TYPE = "Factura"  # docs: referenceDocument.type "Factura, Proforma sau Aviz"
RECEIPT_COLLECT = "Chitanta"  # a collect of this type needs a receipt series: not offered
# docs "Parametri incasare document": the fixed list of `collect.type` values (no endpoint lists them).
COLLECT_TYPES = ("Bon fiscal", "Bon fiscal card", "Alta incasare numerar", "Ordin de plata", "Mandat postal",
                 "Card", "CEC", "Bilet ordin", "Alta incasare banca", "Ramburs")
# docs "Trimite factura in SPV": einvoiceStatus.code.
SPV_STATES = {"-1": KsefState.NOT_SENT, "0": KsefState.PENDING, "1": KsefState.ACCEPTED, "2": KsefState.REJECTED}
POST_ONLY = frozenset({"POST"})
CREATE_PATHS = rf"{API}/docs/(invoice|proforma|notice)"  # the requests that create a document

# Where a field Oblio names in its refusal comes from in our message, to say what to fix.
OUR_FIELD = {
    "client.cif": "document.buyer.tax_id",
    "client.state": "document.buyer.address.region",
    "client.city": "document.buyer.address.city",
    "client.address": "document.buyer.address.street",
    "client.country": "document.buyer.address.country",
    "client.email": "document.buyer.email",
    "client": "document.buyer",
    "products": "document.lines",
    "seriesName": "the account's series link",
    "collect": "the account's payment-type link",
    "currency": "document.currency",
    "exchangeRate": "document.exchange_rate",
    "dueDate": "document.payment.due_date",
    "referenceDocument": "the corrected document at Oblio (it may be cancelled or reversed already)",
    "cif": "the Oblio company CIF of the account's connection",
    "workStation": "the provider option work_station (the gestiune's punct de lucru)",
}


class OblioCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    client_id: Annotated[str, StringConstraints(min_length=3)]  # the Oblio login e-mail
    client_secret: SecretStr  # Setari > Date Cont > API secret
    cif: Annotated[str, StringConstraints(min_length=2, max_length=16)]  # the company's CIF (RO12345678)


class OblioOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # The gestiune sold goods are taken out of when the account sends SKUs (its name as GET
    # /api/nomenclature/management lists it); required then (option_refusals).
    management: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    # The work station (punct de lucru) of that gestiune; absent: Oblio's default, "Sediu".
    work_station: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class TokenCache:
    """Bearer tokens per credentials, shared by the process's adapters, renewed before they expire."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # key -> (token, expires at)

    def valid(self, key: str) -> str | None:
        with self._lock:
            token, expires_at = self._tokens.get(key, ("", 0.0))
        return token if token and self.clock() < expires_at - RENEW_BEFORE_EXPIRY_SECONDS else None

    def store(self, key: str, token: str, lifetime: float) -> None:
        with self._lock:
            self._tokens[key] = (token, self.clock() + lifetime)

    def drop(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


TOKENS = TokenCache()


def token_key(credentials: OblioCredentials) -> str:
    """Which cached token the credentials use; a hash, so the cache's keys reveal nothing."""
    secret = f"{credentials.client_id}\0{credentials.client_secret.get_secret_value()}"
    return hashlib.sha256(secret.encode()).hexdigest()


class OblioTokenAuth(requests.auth.AuthBase):
    """Puts the credentials' current token on every API request; the adapter fetches it first."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = TOKENS.valid(self._key)
        if token and not (request.path_url or "").startswith(TOKEN_PATH):
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    def __repr__(self) -> str:
        return "OblioTokenAuth(<redacted>)"


class OblioAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.OBLIO
    display_name: ClassVar[str] = "Oblio"
    capabilities: ClassVar[Capabilities] = Capabilities(
        receipts=False,  # no receipt endpoint (a "Chitanta" is a collection of an invoice)
        corrections=True,
        partial_corrections=False,  # storno of the whole invoice only (referenceDocument)
        series=True,
        list_series=True,  # GET /api/nomenclature/series
        own_numbering=False,  # a number within Oblio's series (disableAutoSeries), not our text number
        payment_types=True,  # collect.type on a paid invoice
        list_payment_types=False,  # a fixed documented list, no endpoint
        sku_stock=True,  # useStock, each line's code and the account's gestiune (option `management`)
        ksef_send=False,
        ksef_read_back=False,
        efactura_send=True,  # POST /api/docs/einvoice, by the poller
        efactura_read_back=True,  # einvoiceStatus in the list
        lookup_by_reference=True,  # by repeating the create with its idempotencyKey
    )
    credentials_model: ClassVar[type[BaseModel]] = OblioCredentials
    options_model: ClassVar[type[BaseModel]] = OblioOptions
    default_api_url: ClassVar[str] = "https://www.oblio.eu"
    home_currency: ClassVar[str] = "RON"
    clearance_system: ClassVar[ClearanceSystem] = ClearanceSystem.EFACTURA
    # ASSUMPTION (the local fake's model, which follows the docs' example): VAT per line, a gross price's
    # net derived from it and VAT the rest (see provider_split).
    vat_calculation: ClassVar[VatCalculation | None] = VatCalculation.PER_LINE
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=2, window_seconds=1.0, scope=LimitScope.CREDENTIAL,
        source="documented: more than 3 requests per second block the token for 10 minutes (older API page), "
               "30 requests per 10 s that create no document (newer page); 2 per second here, the creates "
               "spaced apart in their own window, so together never 3 in a second")
    create_rate_limit: ClassVar[RateLimit] = RateLimit(
        limit=1, window_seconds=3.4, scope=LimitScope.CREDENTIAL, methods=POST_ONLY, paths=CREATE_PATHS,
        source="documented: 30 document-creating requests per 100 s (newer API page); evenly spaced")
    rate_limit_per: ClassVar[str | None] = "client_id"  # Oblio blocks the login's token, whichever company
    exchange_rate_fields: ClassVar[str] = "`exchangeRate` (RON per unit)"
    exemption_basis_fields: ClassVar[str] = "zw: `vatName` SFDD, the basis printed in `mentions`; np: refused"
    text_limits: ClassVar[dict[str | tuple[str, ...], TextLimit]] = ROMANIAN_TEXT_LIMITS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.credentials, OblioCredentials)
        self._token_key = token_key(self.credentials)

    @classmethod
    def rate_windows(cls, overrides: Mapping[str, RateLimit] | None = None) -> list[tuple[str, RateLimit]]:
        """The creates' window (the POSTs that make a document) first, then the one for the rest.
        `oblio:creates` replaces the first; `oblio` alone, as for every provider, one window for every
        request."""
        overrides = overrides or {}
        name = cls.name.value
        creates = overrides.get(f"{name}:creates", None if name in overrides else cls.create_rate_limit)
        main = overrides.get(name, cls.rate_limit)
        assert main is not None
        windows = [(":creates", replace(creates, methods=POST_ONLY, paths=CREATE_PATHS))] if creates is not None else []
        return [*windows, ("", replace(main, methods=None))]

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        assert isinstance(credentials, OblioCredentials)
        return OblioTokenAuth(token_key(credentials))

    @staticmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        return read_rejection(response)

    @classmethod
    def provider_split(cls, values: list[tuple[Decimal, Decimal]], basis: PriceBasis,
                       method: VatCalculation) -> VatSplit | None:
        """Gross prices: Oblio derives each line's net from its gross (net = gross / (1 + rate), rounded) and
        leaves VAT as the rest, which can differ from our VAT by a grosz; net prices: VAT per line.
        ASSUMPTION: as the local fake models Oblio's documented example."""
        if basis == PriceBasis.GROSS:
            return net_first_split(values, VatCalculation.PER_LINE)
        return super().provider_split(values, basis, method)

    @classmethod
    def option_refusals(cls, settings: AccountSettings) -> list[tuple[str, str]]:
        return gestiune_refusals(settings, OblioOptions, "management", cls.display_name,
                                 "Nomenclatoare > Gestiuni; with work_station where it is not in 'Sediu'")

    # ------------------------------------------------------------------ mapping

    def build_request(self, plan: ExportPlan, unlinked_skus: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The create body. With send_skus, every line with a SKU goes with its stock link except those in
        `unlinked_skus` (not found in the gestiune, missing SKUs 'warn'; create_document looks them up)."""
        doc = plan.document
        assert isinstance(self.credentials, OblioCredentials)
        if plan.provider_series is None:
            raise ConfigurationError(
                f"Oblio needs a series for every document, and our series '{doc.series}' is set to 'do not pass'",
                fix=f"link series '{doc.series}' to one of Oblio's invoice series", code="series_required")
        body: dict[str, Any] = {
            "cif": self.credentials.cif,
            "seriesName": plan.provider_series,
            "issueDate": doc.issue_date.isoformat(),
            "idempotencyKey": idempotency_key(doc),
        }
        if doc.kind == DocumentKind.CORRECTION:
            assert plan.corrected is not None  # planning allows full reversals only
            series, number = series_and_number(plan.corrected)
            return {**body, "referenceDocument": {"type": STORNO_TYPE, "seriesName": series, "number": number}}
        body.update(client=self._client(doc), currency=doc.currency,
                    products=[self._product(line, doc) for line in doc.lines])
        if plan.send_skus:
            body.update(self._stock_links(body["products"], doc, unlinked_skus))
        if doc.exchange_rate is not None:
            body["exchangeRate"] = f"{doc.exchange_rate.rate:f}"  # RON per unit, like ours
        body.update(delivery_and_due_dates(doc))
        if doc.order_id:
            body["orderNumber"] = doc.order_id
        if printed := mentions(doc):
            body["mentions"] = printed
        if doc.payment.paid_date is not None:
            body["collect"] = self._collect(plan)
        return body

    def _client(self, doc: Document) -> dict[str, Any]:
        buyer = doc.buyer
        client = {"name": buyer.name, "cif": buyer.tax_id, "address": buyer.address.street,
                  "city": buyer.address.city, "state": romanian_buyer_county(buyer, self.display_name),
                  "country": buyer.address.country, "email": buyer.email, "phone": buyer.phone,
                  "vatPayer": is_vat_payer(buyer)}
        return {key: value for key, value in client.items() if value is not None}

    def _product(self, line: Line, doc: Document) -> dict[str, Any]:
        vat_name, percent = vat_name_and_percent(line, self.display_name)
        # A discounted line sends the unit price whose value is exactly ours (romania.priced): Oblio rounds
        # price x quantity to the document's 2 decimals, as we round the line once; a line no 4-place price
        # states exactly goes folded, 1 at its value.
        sent, name, unit = product_figures(line)
        product = {
            "name": name,
            "price": f"{sent.unit_price:f}",
            "quantity": f"{sent.quantity.normalize():f}",
            "measuringUnit": unit,
            "vatPercentage": f"{percent:f}",
            "vatIncluded": doc.price_basis == PriceBasis.GROSS,
        }
        if vat_name is not None:
            product["vatName"] = vat_name
        return product

    def _stock_links(self, products: list[dict[str, Any]], doc: Document,
                     unlinked_skus: frozenset[str]) -> dict[str, Any]:
        """Each line with a SKU gets its code and the gestiune it is taken out of (in place); the header's
        useStock and workStation. Shipping moves no stock (a service: no management)."""
        self.refuse_missing_options()
        options = self.options
        assert isinstance(options, OblioOptions) and options.management is not None
        for line, product in zip(doc.lines, products, strict=True):
            # A folded line links no product: it would take 1 unit out of stock, not the real quantity.
            if line.sku and not line.is_shipping and line.sku not in unlinked_skus and not is_folded(line):
                product.update(code=line.sku, management=options.management)
        header: dict[str, Any] = {"useStock": 1}
        if options.work_station is not None:
            header["workStation"] = options.work_station
        return header

    def _collect(self, plan: ExportPlan) -> dict[str, Any]:
        doc = plan.document
        refuse_receipt_payment(doc, plan.provider_payment_type, self.display_name, RECEIPT_COLLECT,
                               "'Card', 'Ordin de plata'")
        # docs: documentNumber is the payment document's number; the value defaults to the invoice total.
        assert doc.payment.paid_date is not None
        return {"type": plan.provider_payment_type, "documentNumber": doc.order_id or doc.number,
                "issueDate": doc.payment.paid_date.isoformat()}

    # ------------------------------------------------------------------ calls

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        unlinked, sku_warnings = self._skus_not_in_stock(plan)
        fitted = self.fit_texts(self.build_request(plan, unlinked))
        reference = self._reference(self._call("POST", f"{API}/docs/invoice", json_body=fitted.body))
        readback, warnings = self._read_back(reference, stock_sent="useStock" in fitted.body)
        folded = fold_warnings(plan.document, self.display_name, stock_links=plan.send_skus)
        return CreatedDocument(reference, (*fitted.warnings, *folded, *sku_warnings, *warnings), readback=readback)

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        """Oblio has no search by our reference; its idempotencyKey is the guard. The create is repeated
        with the same key: Oblio answers the document the interrupted attempt made, or makes it now -
        once either way. ASSUMPTION: Oblio keeps a key at least as long as our retries last (a day)."""
        unlinked, _ = self._skus_not_in_stock(plan)
        return self._reference(self._call("POST", f"{API}/docs/invoice",
                                          json_body=self.fit_texts(self.build_request(plan, unlinked)).body))

    def _skus_not_in_stock(self, plan: ExportPlan) -> tuple[frozenset[str], tuple[str, ...]]:
        """The SKUs the account's gestiune has no product with (exact code): refused (missing SKUs 'fail')
        or, with a warning each, sent without a stock link ('warn')."""
        doc = plan.document
        skus = _stock_skus(doc)
        if not plan.send_skus or doc.kind == DocumentKind.CORRECTION or not skus:
            return frozenset(), ()
        self.refuse_missing_options()
        assert isinstance(self.credentials, OblioCredentials) and isinstance(self.options, OblioOptions)
        management = self.options.management
        missing = [sku for sku in skus if not self._has_product(sku, management)]
        if missing and plan.missing_sku == MissingSku.FAIL:
            raise PermanentError(
                f"Oblio's gestiune '{management}' has no product with code {', '.join(missing)}",
                fix=f"give the product this code in Oblio (Nomenclatoare > Produse) with stock in '{management}', "
                    "or set missing SKUs to 'warn'", code="sku_not_found")
        return frozenset(missing), tuple(f"SKU {sku} not found in Oblio's gestiune '{management}': line sent "
                                         "without a stock link" for sku in missing)

    def _has_product(self, sku: str, management: str) -> bool:
        """Whether the gestiune has a product with exactly this code. docs: with `management` the products
        come flat (without their stock); the filter may match more than the exact code (ASSUMPTION)."""
        assert isinstance(self.credentials, OblioCredentials)
        listed = self._call("GET", f"{API}/nomenclature/products",
                            params={"cif": self.credentials.cif, "name": "", "code": sku, "management": management})
        return any(str(product.get("code")) == sku for product in listed or [])

    def download_pdf(self, provider_document_id: str) -> bytes:
        """The document's `link` (no Authorization: its `it` parameter is the secret), asked for with its
        query as parameters, so the logged path carries none of it. ASSUMPTION: the link is on the API's
        host, as the docs' examples show."""
        link = urlsplit(str(self._listed_one(provider_document_id)["link"]))
        response = self.http.request("GET", link.path, params=dict(parse_qsl(link.query)),
                                     headers={"Accept": "application/pdf"}, ok=(200,))
        if not response.content.startswith(b"%PDF"):
            raise ProviderRejected("Oblio returned something other than a PDF", code="provider_bad_pdf")
        return response.content

    def ksef_status(self, provider_document_id: str) -> KsefStatus:
        """The document's e-Factura (SPV) state: this provider's clearance system."""
        entry = self._listed_one(provider_document_id)
        status = entry.get("einvoiceStatus") or {}
        return ksef_status_from(str(status.get("code", "")), SPV_STATES, ksef_number=entry.get("indexUpload"),
                                message=str(status.get("text") or "") or None,
                                fallback="e-Factura (ANAF) refused the document")

    def send_to_ksef(self, provider_document_id: str) -> None:
        """Ask Oblio to send the document to e-Factura (SPV)."""
        assert isinstance(self.credentials, OblioCredentials)
        entry = self._listed_one(provider_document_id)
        self._call("POST", f"{API}/docs/einvoice", json_body={
            "cif": self.credentials.cif, "seriesName": entry["seriesName"], "number": entry["number"]})

    def check_credentials(self) -> None:
        """A fresh token and the companies the login may use: the connection's CIF must be one of them."""
        assert isinstance(self.credentials, OblioCredentials)
        companies = self._call("GET", f"{API}/nomenclature/companies", params={"cif": "", "name": ""})
        wanted = plain_cif(self.credentials.cif)
        if not any(plain_cif(str(company.get("cif", ""))) == wanted for company in companies or []):
            raise ConfigurationError(
                f"the Oblio login has no company with CIF {self.credentials.cif}", code="unknown_company",
                fix="connect with the CIF of a company this Oblio login manages (Oblio: Setari > Date Firma)")

    def list_series(self) -> list[ProviderOption]:
        assert isinstance(self.credentials, OblioCredentials)
        series = self._call("GET", f"{API}/nomenclature/series", params={"cif": self.credentials.cif, "name": ""})
        return [ProviderOption(id=str(s["name"]), name=f"{s['name']} (next {s.get('next', '?')})")
                for s in series or [] if s.get("type") == STORNO_TYPE]

    def list_payment_types(self) -> list[ProviderOption]:
        return [ProviderOption(id=value, name=value) for value in COLLECT_TYPES]

    def list_documents(self, date_from: date, date_to: date) -> list[ProviderListedDocument]:
        """Invoices issued in the period, not cancelled (docs: issuedAfter/issuedBefore, 100 per page).
        A storno is an invoice with negative amounts: listed as a correction. Oblio returns the gross
        total only (net None) and not our reference (matched by its id)."""
        listed: list[ProviderListedDocument] = []
        offset = 0
        while True:
            page = self._list(issuedAfter=date_from.isoformat(), issuedBefore=date_to.isoformat(), canceled=0,
                              orderBy="id", orderDir="ASC", limitPerPage=LIST_PAGE, offset=offset)
            for entry in page:
                gross = _amount(entry["total"])
                listed.append(ProviderListedDocument(
                    provider_document_id=str(entry["id"]), number=f"{entry['seriesName']} {entry['number']}",
                    kind=(DocumentKind.CORRECTION if gross < 0 else DocumentKind.INVOICE).value,
                    our_document_id=None, issue_date=date.fromisoformat(entry["issueDate"]),
                    currency=str(entry.get("currency") or "RON"), net=None, gross=gross))
            if len(page) < LIST_PAGE:
                return listed
            offset += LIST_PAGE

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call with a valid token; a 401 with a token we thought valid renews it once. Returns
        the answer's `data`."""
        fetched = self._ensure_token()
        try:
            response = self._send(method, path, **kwargs)
        except CredentialsRejected:
            if fetched:
                raise
            TOKENS.drop(self._token_key)  # expired or revoked by Oblio before our clock said so
            self._ensure_token()
            response = self._send(method, path, **kwargs)
        body = response.json()
        if not isinstance(body, dict) or str(body.get("status", 200)) != "200":
            raise read_rejection(response)  # ASSUMPTION: an error in a 200 answer, read the same way
        return body.get("data")

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, path, ok=(200,), **kwargs)
        except TransientError as error:
            if error.code == "provider_rate_limited" and error.retry_after is None:
                error.retry_after = BLOCK_SECONDS  # no Retry-After: wait out the documented block
            raise

    def _ensure_token(self) -> bool:
        """A valid token in the cache; True when it had to be fetched now."""
        if TOKENS.valid(self._token_key):
            return False
        assert isinstance(self.credentials, OblioCredentials)
        form = urlencode({"client_id": self.credentials.client_id,
                          "client_secret": self.credentials.client_secret.get_secret_value()}).encode()
        try:
            response = self.http.request("POST", TOKEN_PATH, data=form, ok=(200,),
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        except ProviderRejected:  # docs: 400 with a message for a wrong client id or secret
            raise CredentialsRejected("Oblio refused the login e-mail and API secret",
                                      fix="copy the API secret again from Oblio (Setari > Date Cont) and "
                                          "reconnect the account") from None
        except RequestMayHaveSucceeded:  # a lost token answer created nothing
            raise TransientError("Oblio's token endpoint did not answer", code="provider_unavailable",
                                 fix="nothing: the document is retried automatically") from None
        answer = response.json()
        TOKENS.store(self._token_key, str(answer["access_token"]),
                     float(str(answer.get("expires_in") or TOKEN_LIFETIME_SECONDS)))  # "3600" or 3600
        return True

    def _list(self, **filters: Any) -> list[dict[str, Any]]:
        assert isinstance(self.credentials, OblioCredentials)
        return list(self._call("GET", f"{API}/docs/invoice/list",
                               params={"cif": self.credentials.cif, **filters}) or [])

    def _listed_one(self, provider_document_id: str) -> dict[str, Any]:
        found = self._list(id=provider_document_id, withEinvoiceStatus=1)
        if len(found) != 1:
            raise ProviderRejected(f"Oblio lists no document with id {provider_document_id}", code="provider_not_found",
                                   fix="check in Oblio whether the document was deleted")
        return found[0]

    def _reference(self, created: dict[str, Any]) -> ProviderReference:
        """The document the create answered; its id is in the link (ASSUMPTION, the docs' links carry it as
        `id`), else found by series and number."""
        series, number = str(created["seriesName"]), str(created["number"])
        document_id = dict(parse_qsl(urlsplit(str(created.get("link") or "")).query)).get("id")
        if not document_id:
            found = self._list(seriesName=series, number=number)
            if len(found) != 1:
                raise ProviderRejected(f"Oblio created {series} {number} but does not list it",
                                       code="provider_not_found", fix="check the document in Oblio")
            document_id = str(found[0]["id"])
        return ProviderReference(provider_document_id=document_id, number=f"{series} {number}", series=series)

    def _read_back(self, reference: ProviderReference, *, stock_sent: bool = False) -> tuple[ProviderTotals | None,
                                                                                             tuple[str, ...]]:
        """What Oblio stored: gross total, currency and rate, and whether it took the goods out of stock.
        The document exists whatever happens here, so a failed read is a warning, never an error."""
        try:
            entry = self._listed_one(reference.provider_document_id)
        except ExportError as error:
            return None, (f"Oblio's totals could not be read back ({error.message}): check {reference.number} "
                          "in Oblio",)
        gross = _amount(entry["total"])
        rate = Decimal(str(entry.get("exchangeRate") or 0))
        warnings = ()
        if stock_sent and str(entry.get("useStock", "1")) == "0":  # absent from the list: nothing to tell
            warnings = (f"Oblio did not take {reference.number}'s goods out of stock (useStock 0: stock is not "
                        "activated for the company in Oblio); decrease the stock there by hand",)
        return ProviderTotals(net=None, vat=None, gross=gross, currency=str(entry.get("currency") or "") or None,
                              is_correction=storno_by_total(gross), corrects_readable=False,
                              exchange_rate=rate if rate > 0 else None), warnings


def idempotency_key(document: Document) -> str:
    """Our document and its version: the same create always carries the same key."""
    return f"{document.document_id}:v{document.version}"


def plain_cif(cif: str) -> str:
    """A CIF without its RO prefix and spaces: Oblio names a company either way."""
    return cif.replace(" ", "").upper().removeprefix("RO")


def _amount(text: Any) -> Decimal:
    """Oblio's amounts come with 4 decimals ("193.4700"): shown with 2 where that is exact."""
    amount = Decimal(str(text))
    return amount.quantize(GROSZ) if amount == amount.quantize(GROSZ) else amount


def read_rejection(response: requests.Response) -> ProviderRejected:
    """Oblio's error body {"status": 400, "statusMessage": "..."}; the fake (and Oblio's validation)
    name fields as "field: message", several joined by "; " (ASSUMPTION: the wording is undocumented)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = str(body.get("statusMessage") or f"HTTP {response.status_code}") if isinstance(body, dict) \
        else f"HTTP {response.status_code}"
    field_errors: dict[str, list[str]] = {}
    for part in message.split("; "):
        field, separator, text = part.partition(": ")
        if separator and " " not in field:
            field_errors.setdefault(field, []).append(text)
    fixes = sorted({_our_field(field) for field in field_errors}) or ["the document"]
    return ProviderRejected(f"Oblio rejected the request: {message}", field_errors=field_errors,
                            fix=f"correct {', '.join(fixes)} and retry the document")


def _our_field(field: str) -> str:
    if field.startswith("products[") and field.endswith("].management"):
        return "the provider options management and work_station (the gestiune and its punct de lucru)"
    for name in sorted(OUR_FIELD, key=len, reverse=True):
        if field == name or field.startswith((f"{name}.", f"{name}[")):
            if name == "products":
                return field.replace("products", "document.lines", 1).split("].")[0] + "]"
            return OUR_FIELD[name]
    return "the document"


def _stock_skus(doc: Document) -> list[str]:
    """The SKUs whose lines take stock, once each. A folded line goes without its stock link
    (romania.fold_warnings says so): its SKU is not looked up."""
    return list(dict.fromkeys(line.sku for line in doc.lines
                              if line.sku and not line.is_shipping and not is_folded(line)))
