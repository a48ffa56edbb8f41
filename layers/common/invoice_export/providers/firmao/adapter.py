"""Firmao adapter (https://system.firmao.pl/{organisation}/svc/v1/), JSON over HTTP Basic.

API facts and sources: /work/shared/providers/next-providers.md section 1, from the vendor's README
(github.com/FirmaoCRM/API, commit c3ed124). The README documents by example only; the request is
built in `mapping`, Firmao's error answers are read in `errors`. Choices made here where it leaves room:
- Credentials are the organisation id (the path segment after system.firmao.pl/), the API login and
  the generated password; Basic auth travels in a header only.
- Our number goes in `transactionNumber`: Firmao itself refuses a second sale with it (documented
  `400 transactionNumberAlreadyExists`, nothing created), which settles a create whose answer was lost:
  the adapter then finds the holder of the number and keeps it only if it is ours.
- With Firmao's numbering our document id can go in an additional field of transactions (provider
  option `reference_field`, e.g. "custom1"); a timed-out create is then found by listing
  `GET /transactions` on it. Without the option only our number can find a document, and a create
  numbered by Firmao whose answer was lost is held in doubt.
- Filtering a list on the number, a custom field or a product code is undocumented (ASSUMPTION): the
  adapter always compares the rows it gets itself, so a Firmao that ignores such a filter (answers
  every row) finds the same documents, only more slowly. Lists are narrowed with the filters the README
  shows or the generic `field(op)=value` form implies (id, transaction, invoiceDate, type, mode).
- The create answers only a changelog; the number is inside `objectLabel` ("number - customer"), so the
  transaction is read back (`GET /transactions?id(eq)=`, the documented filter; a GET by id is not
  documented) for its number, series and totals. A failure of that read means the document exists:
  it is raised as "may have succeeded", never as nothing sent.
- KSeF: the README (2023) has no KSeF field or endpoint: neither sending nor read-back is offered.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from invoice_export.domain.account_settings import AccountSettings, MissingSku, ProviderName
from invoice_export.domain.documents import DocumentKind, PriceBasis, VatCalculation
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    CredentialsRejected,
    ExportError,
    PermanentError,
    ProviderRejected,
    RequestMayHaveSucceeded,
)
from invoice_export.domain.money import loads_exact
from invoice_export.domain.own_numbers import OwnNumberScope
from invoice_export.domain.provider_contract import (
    Capabilities,
    CreatedDocument,
    ExportPlan,
    ProviderListedDocument,
    ProviderOption,
    ProviderReference,
)
from invoice_export.domain.rate_limits import LimitScope, RateLimit
from invoice_export.domain.readback import ProviderTotals
from invoice_export.platform.observability import logger
from invoice_export.providers.base import ProviderAdapter
from invoice_export.providers.firmao import mapping
from invoice_export.providers.firmao.errors import DUPLICATE_NUMBER, ORGANISATION_NOT_FOUND, read_rejection
from invoice_export.providers.http import HeaderAuth, ProviderHttp
from invoice_export.providers.texts import TextLimit

# README section 4: paging by start/limit (the maximum depends on the licence; its examples ask 50).
PAGE_SIZE = 50
# The documented payment types: CASH (the POST example) and TRANSFER (GET output); the full list is not
# documented and no endpoint lists it.
PAYMENT_TYPES = {"TRANSFER": "Przelew (TRANSFER)", "CASH": "Gotówka (CASH)"}
# README section 7a: the template "Faktura" in the PDF URL; a transaction names its own template in
# lastSelectedInvoiceReport (the correction example: "Faktura_korygujaca2"), used when present.
DEFAULT_PDF_TEMPLATE = "Faktura"


class FirmaoCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Not secret: it is the path of every URL ("widoczny w urlu po zalogowaniu"). Kept to URL-safe characters.
    organisation: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    login: SecretStr
    password: SecretStr


class FirmaoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # An additional field of transactions in Firmao (Ustawienia > Pola dodatkowe: "custom1"...) that keeps
    # our document id, so a create numbered by Firmao whose answer was lost can be found by it.
    reference_field: Annotated[str, StringConstraints(pattern=r"^custom[1-9][0-9]{0,2}$")] | None = None
    # The warehouse a sale with linked SKUs takes its stock from (Firmao's default warehouse when absent).
    warehouse_id: Annotated[int, Field(ge=1)] | None = None


# Field lengths: Firmao's README documents none. ASSUMPTION: the limits KSeF sets for the same data (a
# position name 256; names and streets 255 as Fakturownia's KSeF guide gives them; 3500 for the printed
# notes), since an invoice Firmao sends on to KSeF must fit them. The address keys hold a dot themselves.
_ASSUMED = "ASSUMPTION: not documented by Firmao; KSeF's limit for the same data"
TEXT_LIMITS: dict[str | tuple[str, ...], TextLimit] = {
    "transactionEntries.*.product": TextLimit(mapping.LINE_NAME_LENGTH, "document.lines[].name", _ASSUMED),
    "customerName": TextLimit(255, "document.buyer.name", _ASSUMED),
    ("customerAddress.street",): TextLimit(255, "document.buyer.address.street", _ASSUMED),
    ("customerAddress.city",): TextLimit(255, "document.buyer.address.city", _ASSUMED),
    "invoiceAnnotations": TextLimit(3500, "document.notes (with the exchange rate's table)", _ASSUMED),
}


class FirmaoAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.FIRMAO
    display_name: ClassVar[str] = "Firmao"
    capabilities: ClassVar[Capabilities] = Capabilities(
        receipts=True,  # ASSUMPTION: type RECEIPT (the numbering dictionary's "receipt", Paragon)
        corrections=True,  # type CORRECTION with before/after line pairs (README's example)
        series=True,  # invoicePatternId
        list_series=True,  # GET /invoicenumbers
        own_numbering=True,  # transactionNumber, unique among sales (Firmao refuses a second one)
        payment_types=True,
        list_payment_types=False,  # no endpoint: the documented CASH and TRANSFER
        sku_stock=True,  # lines linked by productCode -> product id; the stock move is an ASSUMPTION
        ksef_send=False,  # nothing about KSeF in the API's documentation
        ksef_read_back=False,
        lookup_by_reference=True,  # by our number, or by reference_field with Firmao's numbering
    )
    credentials_model: ClassVar[type[BaseModel]] = FirmaoCredentials
    options_model: ClassVar[type[BaseModel]] = FirmaoOptions
    # The organisation goes in each path (it is part of the credentials), so the base is the host.
    default_api_url: ClassVar[str] = "https://system.firmao.pl"
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=60, window_seconds=60, scope=LimitScope.CREDENTIAL,
        source="assumption: Firmao documents no limit; a third-party client (Techtor\\Firmao, a Magento module) "
               "keeps one request per second and reports 429 on faster requests, so 60 per 60 s per API user")
    # ASSUMPTION: Firmao sums the lines' VAT (its entries carry VAT per line; the header rule is not
    # documented). Declared, a document computed per rate is refused before sending where the sums differ;
    # the totals sent make a Firmao that computes otherwise refuse them by name (or the read-back report it).
    vat_calculation: ClassVar[VatCalculation | None] = VatCalculation.PER_LINE
    # ASSUMPTION (the fake's reading): every sale shares one sequence of transactionNumber, whatever its
    # type or pattern - Firmao refuses a number another sale holds (transactionNumberAlreadyExists).
    own_number_scope: ClassVar[OwnNumberScope] = OwnNumberScope(
        per_kind=False, per_series=False,
        source="assumption: transactionNumber is unique among all sales (README: a second sale with it is refused)")
    exchange_rate_fields: ClassVar[str] = "`exchangeRate`, `exchangeRateDate` (the NBP table in the notes)"
    exemption_basis_fields: ClassVar[str] = "none: no documented form for zw/np (refused: `unsupported_vat_code`)"
    text_limits: ClassVar[dict[str | tuple[str, ...], TextLimit]] = TEXT_LIMITS

    def __init__(self, settings: AccountSettings, credentials: BaseModel, http: ProviderHttp) -> None:
        super().__init__(settings, credentials, http)
        assert isinstance(credentials, FirmaoCredentials)
        self.base_path = f"/{credentials.organisation}/svc/v1"
        self.gross_price_field = mapping.GROSS_PRICE_FIELDS[0]
        self._catalogue: dict[str, list[int]] | None = None  # every product by code, once a filter was ignored

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        assert isinstance(credentials, FirmaoCredentials)
        pair = f"{credentials.login.get_secret_value()}:{credentials.password.get_secret_value()}"
        return HeaderAuth({"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"})

    @staticmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        return read_rejection(response)

    # ------------------------------------------------------------------ mapping

    def build_request(self, plan: ExportPlan, lookups: mapping.Lookups | None = None) -> dict[str, Any]:
        """The POST /transactions body. Without `lookups` (a dry run) the ids Firmao holds (products, the
        corrected lines) are shown as placeholders; create_document passes the real ones."""
        options = self.options
        assert isinstance(options, FirmaoOptions)
        return mapping.transaction(plan, lookups or mapping.Lookups(gross_price_field=self.gross_price_field),
                                   reference_field=options.reference_field, warehouse_id=options.warehouse_id)

    # ------------------------------------------------------------------ calls

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        # A correction's lines keep the products of the lines they correct (read with the original).
        linking = plan.send_skus and plan.document.kind != DocumentKind.CORRECTION
        product_ids, sku_warnings = self._product_ids(plan) if linking else ({}, [])
        warnings = [*mapping.fold_warnings(plan), *sku_warnings]
        original = self._original(plan)
        try:
            answer = self._create(plan, product_ids, original, warnings)
        except ProviderRejected as rejection:
            if rejection.code != DUPLICATE_NUMBER or plan.number is None:
                raise
            # Our number is taken: by this document (an earlier attempt whose answer was lost) or another.
            transaction = self._find_numbered(plan, anywhere=True)
            if transaction is None:
                raise
            return CreatedDocument(_reference(transaction), tuple(warnings),
                                   readback=_totals(transaction, plan))
        transaction_id = _created_id(answer)
        try:
            transaction = self._transaction(transaction_id)
        except ExportError as error:
            raise RequestMayHaveSucceeded(
                f"Firmao created transaction {transaction_id} but reading it back failed: {error.message}",
                fix="nothing: the retry looks the document up at Firmao first") from None
        warnings += self._reference_warnings(plan, transaction)
        return CreatedDocument(_reference(transaction), tuple(warnings), readback=_totals(transaction, plan))

    def _create(self, plan: ExportPlan, product_ids: dict[str, int], original: mapping.OriginalDocument | None,
                warnings: list[str]) -> dict[str, Any]:
        """POST /transactions; the texts cut to Firmao's limits add their warnings to `warnings`."""
        def send() -> dict[str, Any]:
            lookups = mapping.Lookups(product_ids=product_ids, original=original,
                                      gross_price_field=self.gross_price_field)
            fitted = self.fit_texts(self.build_request(plan, lookups))
            answer = self._json("POST", "/transactions", json_body=fitted.body, ok=(201, 200))
            warnings.extend(fitted.warnings)
            return answer

        try:
            return send()
        except ProviderRejected as rejection:
            if not (plan.document.price_basis == PriceBasis.GROSS and _names_gross_price_field(rejection)):
                raise
        # The other reading of calculateFromGross (see mapping.GROSS_PRICE_FIELDS): the refused request
        # created nothing, so it is sent once more with the gross unit price in unitNettoPrice.
        logger.warning("Firmao refused unitBruttoPrice with calculateFromGross; sending the gross price in "
                       "unitNettoPrice")
        self.gross_price_field = mapping.GROSS_PRICE_FIELDS[1]
        return send()

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        if plan.number is not None:
            found = self._find_numbered(plan, anywhere=False)
            return _reference(found) if found is not None else None
        reference_field = self._reference_field()
        if reference_field is None:
            raise PermanentError(
                "with Firmao's numbering the number is unknown until the document exists, and this account keeps "
                "no reference of ours at Firmao: a create whose answer was lost cannot be matched safely",
                fix="look for the document in Firmao; set the provider option reference_field (an additional field "
                    "of transactions, e.g. custom1) or switch the account to our numbering",
                code="lookup_not_possible")
        doc = plan.document
        rows = [row for row in self._rows("/transactions", {
            f"customFields.{reference_field}(eq)": doc.document_id, "invoiceDate(eq)": doc.issue_date.isoformat(),
            "type(eq)": mapping.TYPES[doc.kind], "mode(eq)": "SALE"})
            if _custom_field(row, reference_field) == doc.document_id and row.get("mode") == "SALE"]
        if len(rows) > 1:
            raise AmbiguousAtProvider(
                f"Firmao holds {len(rows)} documents with our reference {doc.document_id}: "
                f"{', '.join(str(row.get('transactionNumber')) for row in rows)}",
                fix="delete the extra documents in Firmao, then resolve this document with the one that stays")
        return _reference(rows[0]) if rows else None

    def _find_numbered(self, plan: ExportPlan, *, anywhere: bool) -> dict[str, Any] | None:
        """The sale transaction holding our number, if it is ours; None when none holds it (on the issue
        date, or `anywhere`); PermanentError when another document holds it."""
        doc, number = plan.document, plan.number
        assert number is not None
        narrowing = {} if anywhere else {"invoiceDate(eq)": doc.issue_date.isoformat()}
        rows = [row for row in self._rows("/transactions", {"transactionNumber(eq)": number, "mode(eq)": "SALE",
                                                            **narrowing})
                if row.get("transactionNumber") == number and row.get("mode") == "SALE"]
        if not rows:
            return None
        row = rows[0]  # Firmao keeps sale numbers unique (documented)
        if self._is_ours(row, plan):
            return row
        raise PermanentError(
            f"Firmao has a document numbered {number} (id {row.get('id')}, {row.get('type')} of "
            f"{row.get('invoiceDate')}, {row.get('transactionBruttoPrice')} {row.get('currency')}) that is not ours "
            f"({mapping.TYPES[doc.kind]} of {doc.issue_date}, {mapping.firmao_totals(doc).gross} {doc.currency})",
            fix="check which document holds this number in Firmao; renumber ours or resolve it by hand",
            code="number_taken_by_another_document")

    def _is_ours(self, row: dict[str, Any], plan: ExportPlan) -> bool:
        """Our reference decides where the account keeps one and Firmao shows it; otherwise what we sent."""
        doc = plan.document
        reference_field = self._reference_field()
        if reference_field is not None and (theirs := _custom_field(row, reference_field)):
            return theirs == doc.document_id
        return (row.get("type"), row.get("invoiceDate"), row.get("currency"), _amount(row, "transactionBruttoPrice")) \
            == (mapping.TYPES[doc.kind], doc.issue_date.isoformat(), doc.currency, mapping.firmao_totals(doc).gross)

    def download_pdf(self, provider_document_id: str) -> bytes:
        transaction_id = _numeric_id(provider_document_id)
        template = str(self._transaction(transaction_id).get("lastSelectedInvoiceReport") or DEFAULT_PDF_TEMPLATE)
        response = self._request("GET", f"/reports/invoices/transaction/{quote(template, safe='')}/"
                                        f"dokument-{transaction_id}.pdf",
                                 params={"original": "true", "id": transaction_id},
                                 headers={"Accept": "application/pdf"}, ok=(200,))
        if not response.content.startswith(b"%PDF"):
            raise ProviderRejected("Firmao answered the PDF download with something other than a PDF",
                                   fix="retry the PDF later; if it persists, download it in Firmao",
                                   code="provider_bad_pdf")
        return response.content

    def check_credentials(self) -> None:
        try:
            self._json("GET", "/invoicenumbers", params={"start": 0, "limit": 1, "dataFormat": "MEDIUM"})
        except ProviderRejected as rejection:
            if rejection.code in (ORGANISATION_NOT_FOUND, "provider_not_found"):
                raise CredentialsRejected(f"{rejection.message}: the organisation id is wrong",
                                          fix=rejection.fix) from None
            raise

    def list_series(self) -> list[ProviderOption]:
        return [ProviderOption(id=str(row["id"]), name=_series_name(row)) for row in self._rows("/invoicenumbers", {})]

    def list_payment_types(self) -> list[ProviderOption]:
        return [ProviderOption(id=value, name=label) for value, label in PAYMENT_TYPES.items()]

    def list_documents(self, date_from: date, date_to: date) -> list[ProviderListedDocument]:
        reference_field = self._reference_field()
        rows = self._rows("/transactions", {"invoiceDate(ge)": date_from.isoformat(),
                                            "invoiceDate(le)": date_to.isoformat(), "mode(eq)": "SALE"})
        return [ProviderListedDocument(
            provider_document_id=str(row["id"]), number=str(row.get("transactionNumber") or ""),
            kind=mapping.OUR_KINDS.get(str(row.get("type"))),
            our_document_id=(_custom_field(row, reference_field) or None) if reference_field else None,
            issue_date=date.fromisoformat(str(row["invoiceDate"])), currency=str(row.get("currency") or "PLN"),
            net=_amount(row, "transactionNettoPrice"), gross=_amount(row, "transactionBruttoPrice"))
            # Compared here too: a date filter Firmao would ignore must not widen the period.
            for row in rows if row.get("mode") == "SALE" and row.get("invoiceDate")
            and date_from.isoformat() <= str(row["invoiceDate"]) <= date_to.isoformat()]

    # ------------------------------------------------------------------ look-ups

    def _product_ids(self, plan: ExportPlan) -> tuple[dict[str, int], list[str]]:
        """The product of each SKU (productCode, exact): the link that moves stock. A folded line is sent
        unlinked (mapping.fold_warnings says so), so its SKU is not looked up."""
        found: dict[str, int] = {}
        problems: list[str] = []
        linked = [line for line in plan.document.lines if line.sku and mapping.priced(line).folded_because is None]
        for sku in dict.fromkeys(line.sku for line in linked):
            ids = self._products_coded(sku)
            if len(ids) == 1:
                found[sku] = ids[0]
            else:
                problems.append(f"{sku} ({'no product' if not ids else f'{len(ids)} products'} with this code)")
        if problems and plan.missing_sku == MissingSku.FAIL:
            raise PermanentError(f"Firmao has no single product for SKU {', '.join(problems)}",
                                 fix="give the product this code in Firmao (Produkty), or set missing SKUs to 'warn'",
                                 code="sku_not_found")
        return found, [f"SKU {problem}: line sent to Firmao without a stock link" for problem in problems]

    def _products_coded(self, sku: str) -> list[int]:
        if self._catalogue is None:
            rows = list(self._rows("/products", {"productCode(eq)": sku}))
            if all(row.get("productCode") == sku for row in rows):
                return [int(row["id"]) for row in rows]
            # The filter was ignored (undocumented): the rows are the whole catalogue; keep it for the next SKU.
            self._catalogue = {}
            for row in rows:
                self._catalogue.setdefault(str(row.get("productCode")), []).append(int(row["id"]))
        return self._catalogue.get(sku, [])

    def _original(self, plan: ExportPlan) -> mapping.OriginalDocument | None:
        """The corrected transaction: its number, date and lines (README: GET /transactionentries?transaction(eq)=)."""
        if plan.document.kind != DocumentKind.CORRECTION:
            return None
        assert plan.corrected is not None
        original_id = _numeric_id(plan.corrected.provider_document_id)
        transaction = self._transaction(original_id)
        entries = sorted((row for row in self._rows("/transactionentries", {"transaction(eq)": original_id})
                          if (row.get("transaction") or {}).get("id") == original_id and row.get("type") == "ACTUAL"),
                         key=lambda row: int(row["id"]))
        lines = [mapping.OriginalLine(entry_id=int(row["id"]),
                                      product=int(row["product"]["id"]) if row.get("product") else str(row.get("name")))
                 for row in entries]
        return mapping.OriginalDocument(number=str(transaction["transactionNumber"]),
                                        issue_date=str(transaction["invoiceDate"]), lines=lines)

    def _transaction(self, transaction_id: int) -> dict[str, Any]:
        rows = [row for row in self._page("/transactions", {"id(eq)": transaction_id}, start=0)[0]
                if row.get("id") == transaction_id]
        if not rows:
            raise ProviderRejected(f"Firmao has no transaction {transaction_id}", code="provider_not_found",
                                   fix="check that the document still exists in Firmao (it may have been deleted)")
        return rows[0]

    def _reference_field(self) -> str | None:
        options = self.options
        assert isinstance(options, FirmaoOptions)
        return options.reference_field

    def _reference_warnings(self, plan: ExportPlan, transaction: dict[str, Any]) -> list[str]:
        field = self._reference_field()
        if field is None or _custom_field(transaction, field) == plan.document.document_id:
            return []
        return [f"Firmao did not keep our reference in customFields.{field}: a create interrupted later cannot be "
                f"found by it; define the additional field {field} for transactions in Firmao (Pola dodatkowe)"]

    # ------------------------------------------------------------------ transport

    def _rows(self, path: str, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every row of a list, page by page in id order (README: start/limit; totalSize -1 means "at least
        this many", so the next page is asked for until one comes back empty)."""
        start, seen = 0, set()
        while True:
            rows, total = self._page(path, filters, start=start)
            new = [row for row in rows if row.get("id") not in seen]
            if not new:  # an empty page, or a server that ignored `start` and repeats itself
                return
            seen.update(row.get("id") for row in new)
            yield from new
            start += len(rows)
            if 0 <= total <= start:
                return

    def _page(self, path: str, filters: dict[str, Any], *, start: int) -> tuple[list[dict[str, Any]], int]:
        answer = self._json("GET", path, params={**filters, "start": start, "limit": PAGE_SIZE, "sort": "id",
                                                 "dir": "ASC", "dataFormat": "MEDIUM"})
        rows = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            raise ProviderRejected(f"Firmao's list {path} holds no data", code="provider_bad_answer",
                                   fix="retry; if it persists, check Firmao")
        return [row for row in rows if isinstance(row, dict)], int(answer.get("totalSize", -1))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        # Amounts come as JSON numbers ("transactionNettoPrice":818.85): read exactly, never as floats.
        response = self._request(method, path, **kwargs)
        try:
            return loads_exact(response.content)
        except ValueError:
            raise ProviderRejected(f"Firmao answered {method} {path} with something other than JSON",
                                   code="provider_bad_answer", fix="retry; if it persists, check Firmao") from None

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, f"{self.base_path}{path}", **kwargs)
        except ProviderRejected as rejection:
            if rejection.code == ORGANISATION_NOT_FOUND:
                raise CredentialsRejected(rejection.message, fix=rejection.fix) from None
            raise


# --------------------------------------------------------------------------- answers


def _created_id(answer: Any) -> int:
    """README: the new id is the objectId of the changelog's CREATE row of class transaction (a number
    in the examples, "50007" in the prose: both read)."""
    changelog = answer.get("changelog") if isinstance(answer, dict) else None
    for row in changelog if isinstance(changelog, list) else []:
        if isinstance(row, dict) and row.get("modification") == "CREATE" and row.get("objectClass") == "transaction" \
                and str(row.get("objectId", "")).isdigit():
            return int(row["objectId"])
    raise RequestMayHaveSucceeded("Firmao answered the create without the new transaction's id",
                                  fix="nothing: the retry looks the document up at Firmao first")


def _reference(transaction: dict[str, Any]) -> ProviderReference:
    series = transaction.get("invoicePatternId")
    number = transaction.get("transactionNumber") or transaction.get("documentNumber") or ""
    return ProviderReference(provider_document_id=str(transaction["id"]), number=str(number),
                             series=str(series) if series not in (None, "") else None)


def _totals(transaction: dict[str, Any], plan: ExportPlan) -> ProviderTotals:
    """What Firmao stored, for the read-back check. A correction names its original by number only
    (connectedDocNumber), so it is matched to the corrected document's number we hold. No VAT in PLN:
    the base* amounts' meaning is undocumented."""
    corrects = None
    if transaction.get("type") == "CORRECTION":
        number = transaction.get("connectedDocNumber")
        corrected = plan.corrected
        corrects = corrected.provider_document_id if corrected and number == corrected.number else str(number or "")
    rate = transaction.get("exchangeRate")
    return ProviderTotals(
        net=_amount(transaction, "transactionNettoPrice"), vat=_amount(transaction, "transactionVatPrice"),
        gross=_amount(transaction, "transactionBruttoPrice"), currency=str(transaction.get("currency") or "PLN"),
        is_correction=transaction.get("type") == "CORRECTION", corrects=corrects,
        exchange_rate=Decimal(str(rate)) if rate not in (None, "") else None)


def _amount(row: dict[str, Any], name: str) -> Decimal:
    return Decimal(str(row.get(name) or 0)).quantize(Decimal("0.01"))


def _custom_field(row: dict[str, Any], name: str) -> str:
    fields = row.get("customFields")
    return str(fields.get(name) or "") if isinstance(fields, dict) else ""


def _series_name(row: dict[str, Any]) -> str:
    """A series' name and, where the answer has them, its templates per document type (the shape of the
    answer is not documented: README 4o says it holds ids, names and templates)."""
    name = str(row.get("name") or row["id"])
    patterns = row.get("patterns")
    if isinstance(patterns, dict) and patterns:
        return f"{name} ({', '.join(f'{kind}: {pattern}' for kind, pattern in patterns.items())})"
    return name


def _names_gross_price_field(rejection: ProviderRejected) -> bool:
    """Firmao refused how a gross unit price was sent: unitBruttoPrice named, or unitNettoPrice required."""
    return any(name.endswith(".unitBruttoPrice") or (name.endswith(".unitNettoPrice") and "fieldRequired" in " ".join(
        messages)) for name, messages in rejection.field_errors.items())


def _numeric_id(provider_document_id: str) -> int:
    if not provider_document_id.isdigit():
        raise ProviderRejected(f"'{provider_document_id}' is not a Firmao transaction id",
                               fix="resolve the document with its Firmao id (a number)", code="provider_not_found")
    return int(provider_document_id)
