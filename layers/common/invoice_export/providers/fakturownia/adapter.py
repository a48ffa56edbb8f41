"""Fakturownia (also InvoiceOcean) adapter.

API facts and sources: shared/providers/fakturownia-infakt.md section 1 (official README of
fakturownia/API). Choices made here where the docs leave room:
- The token goes in an `Authorization: Bearer` header (used throughout Fakturownia's e-receipt
  docs against /invoices.json) instead of the documented `api_token` query parameter, which would
  put the secret into every logged URL.
- Our document id is the invoice's `oid` with `oid_unique: "yes"`: the provider itself refuses a
  second document with it, and a timed-out create is settled by looking it up.
- Lines are sent as line totals in the document's price basis with a pinned
  `calculating_strategy`, so Fakturownia recomputes the same totals we carry.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import requests
from pydantic import BaseModel, ConfigDict, SecretStr

from invoice_export.domain.account_settings import MissingSku, ProviderName
from invoice_export.domain.documents import (
    BuyerKind,
    Document,
    DocumentKind,
    Line,
    PriceBasis,
    VatCalculation,
    VatCode,
)
from invoice_export.domain.errors import (
    AmbiguousAtProvider,
    ConfigurationError,
    PermanentError,
    ProviderRejected,
)
from invoice_export.domain.money import format_amount
from invoice_export.domain.own_numbers import OwnNumberScope
from invoice_export.domain.provider_contract import (
    Capabilities,
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
from invoice_export.providers.http import HeaderAuth
from invoice_export.providers.ksef_words import ksef_status_from
from invoice_export.providers.pricing import net_first_split
from invoice_export.providers.texts import TextLimit

KINDS = {DocumentKind.INVOICE: "vat", DocumentKind.RECEIPT: "receipt", DocumentKind.CORRECTION: "correction"}
# Documented gov_status values (F-KSEF). server_error is the one Fakturownia does not retry itself
# and its guide calls safe to send again; not_connected: the account has no KSeF link at all.
GOV_STATES = {"ok": KsefState.ACCEPTED, "processing": KsefState.PENDING, "server_error": KsefState.RETRYABLE,
              "send_error": KsefState.REJECTED, "not_connected": KsefState.REJECTED,
              "not_applicable": KsefState.NOT_APPLICABLE}
GOV_MESSAGES = {"server_error": "KSeF server error",
                "not_connected": "this Fakturownia account is not connected to KSeF (Ustawienia > KSeF)"}

# np_tax_kind is one value per document; which one each of our "not subject" codes needs.
NP_TAX_KIND = {VatCode.NOT_SUBJECT: "not_specified", VatCode.NOT_SUBJECT_EU: "export_service_eu"}

# The documented payment_type values (free text is accepted too).
PAYMENT_TYPES = ("transfer", "card", "cash", "barter", "cheque", "bill_of_exchange", "cash_on_delivery",
                 "compensation", "letter_of_credit", "payu", "paypal", "off")

# Where a rejected Fakturownia field comes from in our message, to say what to fix.
OUR_FIELD = {
    "buyer_name": "document.buyer.name",
    "buyer_tax_no": "document.buyer.tax_id",
    "buyer_email": "document.buyer.email",
    "buyer_phone": "document.buyer.phone",
    "buyer_post_code": "document.buyer.address.postal_code",
    "buyer_country": "document.buyer.address.country",
    "number": "document.number (or switch the account to the provider's numbering)",
    "department_id": "the account's series link",
    "payment_type": "the account's payment-type link",
    "exempt_tax_kind": "document.lines[].vat_exemption_basis",
    "positions": "document.lines",
}


# Field lengths: fakturownia/API KSeF.md "Ograniczenia długości pól" (F-KSEF). Those marked "under KSeF"
# hold where the account's KSeF integration is on; the adapter cannot see Fakturownia's setting and
# KSeF is mandatory from 2026, so they always apply.
_KSEF_LIMITS = "F-KSEF 'Ograniczenia długości pól' (under KSeF)"
_LINE_NAME = TextLimit(256, "document.lines[].name", f"{_KSEF_LIMITS}: positions[].name 256")
_NAME_OF_PERSON = TextLimit(255, "document.buyer.first_name / last_name",
                            "ASSUMPTION: not documented; 255 like buyer_name, which Fakturownia composes from them")
TEXT_LIMITS = {
    "invoice.positions.*.name": _LINE_NAME,
    "invoice.positions.*.correction_before_attributes.name": _LINE_NAME,
    "invoice.positions.*.correction_after_attributes.name": _LINE_NAME,
    "invoice.buyer_name": TextLimit(255, "document.buyer.name", "F-KSEF: buyer_name 255 (Fakturownia's own limit)"),
    "invoice.buyer_first_name": _NAME_OF_PERSON,
    "invoice.buyer_last_name": _NAME_OF_PERSON,
    "invoice.buyer_street": TextLimit(255, "document.buyer.address.street",
                                      "F-KSEF: buyer_street 255 (Fakturownia's own limit)"),
    "invoice.buyer_city": TextLimit(255, "document.buyer.address.city",
                                    "ASSUMPTION: not documented; 255 like buyer_street"),
    # A cut phone number would reach the wrong person: left out instead.
    "invoice.buyer_phone": TextLimit(16, "document.buyer.phone", f"{_KSEF_LIMITS}: buyer_phone 16",
                                     whole_or_nothing=True),
    # F-DOC "Uwagi na fakturze": emoji in a description are a validation error. F-KSEF: the legacy
    # `description` becomes one `descriptions` entry, of at most 256 characters, when sent to KSeF.
    "invoice.description": TextLimit(256, "document.notes", f"{_KSEF_LIMITS}: descriptions[].content 256; "
                                     "F-DOC: no emoji", emoji=False),
    "invoice.correction_reason": TextLimit(256, "document.correction.reason",
                                           f"{_KSEF_LIMITS}: correction_reason 256"),
    "invoice.exempt_tax_kind": TextLimit(256, "document.lines[].vat_exemption_basis",
                                         "ASSUMPTION: not documented; KSeF's P_19A (the exemption basis) is a "
                                         "256-character text"),
}


class FakturowniaCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    api_token: SecretStr


class FakturowniaAdapter(ProviderAdapter):
    name: ClassVar[ProviderName] = ProviderName.FAKTUROWNIA
    display_name: ClassVar[str] = "Fakturownia"
    capabilities: ClassVar[Capabilities] = Capabilities(
        receipts=True,
        corrections=True,
        series=True,  # a series links to a department (the seller unit whose numbering is used)
        list_series=True,
        own_numbering=True,
        payment_types=True,
        list_payment_types=False,  # no endpoint: a documented fixed list plus free text
        sku_stock=True,
        ksef_send=True,  # gov_save_and_send on create, send_to_ksef=yes later
        ksef_read_back=True,  # gov_status and gov_id
        lookup_by_reference=True,
        settle_by_listing=False,  # not needed: the look-up by oid settles an interrupted create
    )
    # ASSUMPTION: each kind has its own number format and sequence, set in the app (fakturownia-infakt.md
    # 1.7: formats live in the account settings, not the API). Whether a department numbers apart is
    # [UNCERTAIN] there, so all departments share one sequence here: the safe side (a number repeated in
    # another department is refused, never a duplicate let through).
    own_number_scope: ClassVar[OwnNumberScope] = OwnNumberScope(
        per_kind=True, per_series=False,
        source="assumption: one sequence per kind (the app's number formats); departments not apart [UNCERTAIN]")
    credentials_model: ClassVar[type[BaseModel]] = FakturowniaCredentials
    default_api_url: ClassVar[str] = "https://{subdomain}.fakturownia.pl"
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        limit=600, window_seconds=60, scope=LimitScope.CREDENTIAL,
        source="assumption: Fakturownia documents no limit; per API token, as the local fake models it")
    exchange_rate_fields: ClassVar[str] = (
        "`exchange_kind: own`, `exchange_currency_rate`, `exchange_note` (date, table)")
    exemption_basis_fields: ClassVar[str] = "zw: `exempt_tax_kind` (our basis); np: `np_tax_kind` (a kind, no basis)"
    text_limits: ClassVar[dict[str, TextLimit]] = TEXT_LIMITS

    @classmethod
    def http_auth(cls, credentials: BaseModel) -> requests.auth.AuthBase:
        assert isinstance(credentials, FakturowniaCredentials)
        return HeaderAuth({"Authorization": f"Bearer {credentials.api_token.get_secret_value()}"})

    @staticmethod
    def read_rejection(response: requests.Response) -> ProviderRejected:
        return read_rejection(response)

    # ------------------------------------------------------------------ mapping

    def build_request(self, plan: ExportPlan, product_ids: dict[str, int] | None = None) -> dict[str, Any]:
        doc = plan.document
        invoice: dict[str, Any] = {
            "kind": KINDS[doc.kind],
            "number": plan.number,
            "issue_date": doc.issue_date.isoformat(),
            "sell_date": doc.sale_date.isoformat(),
            "payment_type": plan.provider_payment_type,
            "currency": doc.currency,
            "oid": doc.document_id,
            "oid_unique": "yes",
            "calculating_strategy": self._calculating_strategy(doc),
            **self._buyer(doc),
            **self._payment(doc),
            **self._exchange(doc),
            **self._vat_notes(doc),
        }
        if plan.provider_series is not None:
            invoice["department_id"] = int(plan.provider_series)
        if doc.notes:
            invoice["description"] = doc.notes
        if doc.kind == DocumentKind.CORRECTION:
            invoice.update(self._correction(plan))
        else:
            invoice["positions"] = [self._position(line, doc, product_ids if plan.send_skus else None)
                                    for line in doc.lines]
        return {"invoice": invoice}

    @classmethod
    def provider_split(cls, values: list[tuple[Decimal, Decimal]], basis: PriceBasis,
                       method: VatCalculation) -> VatSplit | None:
        """Fakturownia keeps a gross amount and derives its net (net = gross / (1 + rate), rounded),
        leaving VAT as the rest; our documents take VAT from the gross (gross x rate / (100 + rate)).
        The two differ by a grosz where that VAT falls on a half grosz; the gross is the same. It
        follows our method (calculating_strategy): line by line, or per rate from the summed gross.
        Net prices go through as they are. ASSUMPTION: as the local fake models keep_gross."""
        if basis != PriceBasis.GROSS:
            return None
        return net_first_split(values, method)

    @staticmethod
    def _calculating_strategy(doc: Document) -> dict[str, str]:
        """Make Fakturownia compute totals exactly the way our document did.

        position: a gross-priced line keeps its gross (net is derived); a net-priced line its net.
        sum: "sum" adds the lines' own VAT (our per-line method); keep_gross/keep_net compute VAT
        once per rate from the summed gross/net values (our per-rate method).
        """
        gross = doc.price_basis == PriceBasis.GROSS
        per_rate = "keep_gross" if gross else "keep_net"
        return {
            "position": "keep_gross" if gross else "default",
            "sum": per_rate if doc.vat_calculation == VatCalculation.PER_RATE else "sum",
            "invoice_form_price_kind": doc.price_basis.value,
        }

    @staticmethod
    def _buyer(doc: Document) -> dict[str, Any]:
        buyer = doc.buyer
        fields: dict[str, Any] = {
            "buyer_company": buyer.kind == BuyerKind.COMPANY,
            "buyer_name": buyer.name,
            "buyer_street": buyer.address.street,
            "buyer_post_code": buyer.address.postal_code,
            "buyer_city": buyer.address.city,
            "buyer_country": buyer.address.country,
            "buyer_tax_no": buyer.tax_id,
            "buyer_email": buyer.email,
            "buyer_phone": buyer.phone,
        }
        if buyer.kind == BuyerKind.PERSON:
            fields["buyer_first_name"] = buyer.first_name
            fields["buyer_last_name"] = buyer.last_name
        # Customer data go exactly as on the order: absent values are left out, not blanked.
        return {key: value for key, value in fields.items() if value is not None}

    @staticmethod
    def _payment(doc: Document) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if doc.payment.due_date is not None:
            fields.update(payment_to_kind="other_date", payment_to=doc.payment.due_date.isoformat())
        if doc.payment.paid_date is not None:
            fields.update(status="paid", paid_date=doc.payment.paid_date.isoformat(),
                          paid=format_amount(doc.totals.gross))
        return fields

    @staticmethod
    def _exchange(doc: Document) -> dict[str, Any]:
        if doc.exchange_rate is None:
            return {}
        rate = doc.exchange_rate
        return {
            "exchange_currency": "PLN",
            "exchange_kind": "own",
            "exchange_currency_rate": f"{rate.rate:f}",
            "exchange_note": f"Kurs {rate.rate:f} PLN z dnia {rate.date.isoformat()}, tabela {rate.table_id}",
        }

    @staticmethod
    def _vat_notes(doc: Document) -> dict[str, Any]:
        """Document-level VAT fields: one exemption basis and one np kind per document."""
        lines = doc.lines + (doc.correction.lines_before if doc.correction else [])
        return {**_exemption_basis(lines), **_not_subject_kind(lines)}

    @staticmethod
    def _tax(line: Line) -> int | str:
        if isinstance(line.vat, VatCode):
            return {VatCode.EXEMPT: "zw", VatCode.NOT_SUBJECT: "np", VatCode.NOT_SUBJECT_EU: "np",
                    VatCode.REVERSE_CHARGE: "oo"}[line.vat]
        rate: Decimal = line.vat
        return int(rate) if rate == rate.to_integral_value() else f"{rate.normalize():f}"

    @staticmethod
    def _price_field(doc: Document) -> str:
        return "total_price_gross" if doc.price_basis == PriceBasis.GROSS else "total_price_net"

    def _position(self, line: Line, doc: Document, product_ids: dict[str, int] | None) -> dict[str, Any]:
        position: dict[str, Any] = {
            "name": line.name,
            "quantity": f"{line.quantity.normalize():f}",
            "quantity_unit": line.unit,
            "tax": self._tax(line),
            # The line total, after any discount (Line.value()): Fakturownia's discount_percent works
            # only with show_discount and the account's discount mode, and the docs do not say how it
            # combines with a total price, so the exact discounted total goes instead.
            self._price_field(doc): format_amount(line.value()),
        }
        if product_ids is not None and line.sku:
            position["code"] = line.sku
            if line.sku in product_ids:
                position["product_id"] = product_ids[line.sku]
        return position

    def _correction(self, plan: ExportPlan) -> dict[str, Any]:
        doc = plan.document
        assert doc.correction is not None and plan.corrected is not None
        price_field = self._price_field(doc)
        before = {line.line_id: line for line in doc.correction.lines_before}
        after = {line.line_id: line for line in doc.lines}
        positions = [self._correction_position(before.get(line_id), after.get(line_id), price_field)
                     for line_id in list(before) + [i for i in after if i not in before]]
        corrected_department = {}
        if plan.corrected.series is not None:
            # Under KSeF a correction may not change the department of the corrected invoice, so it
            # follows the original whatever the correction series is linked to.
            corrected_department = {"department_id": int(plan.corrected.series)}
        return {
            **corrected_department,
            "invoice_id": int(plan.corrected.provider_document_id),
            "from_invoice_id": int(plan.corrected.provider_document_id),
            "correction_reason": doc.correction.reason,
            "positions": positions,
        }

    def _correction_position(self, old: Line | None, new: Line | None, price_field: str) -> dict[str, Any]:
        """One corrected line: the difference, with the line before and after (a line added or removed
        counts as 0 on the other side)."""
        template = new or old
        assert template is not None
        old_quantity, old_value = (old.quantity, old.value()) if old else (Decimal(0), Decimal("0.00"))
        new_quantity, new_value = (new.quantity, new.value()) if new else (Decimal(0), Decimal("0.00"))

        def side(line: Line, quantity: Decimal, value: Decimal, kind: str) -> dict[str, Any]:
            return {"name": line.name, "kind": kind, "tax": self._tax(line),
                    "quantity": f"{quantity.normalize():f}", "quantity_unit": line.unit,
                    price_field: format_amount(value)}

        return {
            "name": template.name,
            "kind": "correction",
            "tax": self._tax(template),
            "quantity": f"{(new_quantity - old_quantity).normalize():f}",
            "quantity_unit": template.unit,
            price_field: format_amount(new_value - old_value),
            "correction_before_attributes": side(old or template, old_quantity, old_value, "correction_before"),
            "correction_after_attributes": side(new or template, new_quantity, new_value, "correction_after"),
        }

    # ------------------------------------------------------------------ calls

    def create_document(self, plan: ExportPlan) -> CreatedDocument:
        product_ids, warnings = self._product_ids(plan) if plan.send_skus else ({}, [])
        fitted = self.fit_texts(self.build_request(plan, product_ids))
        body, warnings = fitted.body, warnings + list(fitted.warnings)
        if plan.send_to_ksef:
            body["gov_save_and_send"] = True  # documented top-level switch: create, then send to KSeF
        try:
            response = self.http.request("POST", "/invoices.json", json_body=body, ok=(200, 201))
        except ProviderRejected as rejection:
            if "oid" in rejection.field_errors:
                # oid_unique refused a second document: ours already exists there (an earlier
                # attempt whose answer was lost). Settle on it instead of failing.
                existing = self.find_document(plan)
                if existing is not None:
                    return CreatedDocument(existing, tuple(warnings))
            raise
        invoice = response.json()
        return CreatedDocument(self._reference(invoice), tuple(warnings), readback=self._totals(invoice))

    def _product_ids(self, plan: ExportPlan) -> tuple[dict[str, int], list[str]]:
        """Resolve each SKU to a catalogue product: Fakturownia moves stock only through product_id."""
        found: dict[str, int] = {}
        missing: list[str] = []
        for sku in dict.fromkeys(line.sku for line in plan.document.lines if line.sku):
            response = self.http.request("GET", "/products.json", params={"search": sku, "per_page": 100})
            # The search is a substring match: only an exact code counts.
            exact = [p for p in response.json() if p.get("code") == sku]
            if len(exact) == 1:
                found[sku] = int(exact[0]["id"])
            else:
                missing.append(sku)
        if missing and plan.missing_sku == MissingSku.FAIL:
            raise PermanentError(
                f"Fakturownia has no single product with code {', '.join(missing)}",
                fix="add the product with this code in Fakturownia (Produkty), or set missing SKUs to 'warn'",
                code="sku_not_found")
        return found, [f"SKU {sku} not found in Fakturownia: line sent without stock link" for sku in missing]

    def find_document(self, plan: ExportPlan) -> ProviderReference | None:
        doc = plan.document
        # The oid filter is not exact and the default period hides old documents: ask for all
        # periods and compare exactly here.
        response = self.http.request(
            "GET", "/invoices.json",
            params={"oid": doc.document_id, "period": "all", "kind": KINDS[doc.kind], "per_page": 100})
        matches = [inv for inv in response.json() if str(inv.get("oid")) == doc.document_id]
        if not matches:
            return None
        if len(matches) > 1:
            raise AmbiguousAtProvider(
                f"Fakturownia holds {len(matches)} documents with our reference {doc.document_id}",
                fix="keep one of them in Fakturownia and resolve this document with its id")
        return self._reference(matches[0])

    def download_pdf(self, provider_document_id: str) -> bytes:
        response = self.http.request("GET", f"/invoices/{int(provider_document_id)}.pdf",
                                     headers={"Accept": "application/pdf"}, ok=(200,))
        if not response.content.startswith(b"%PDF"):
            raise ProviderRejected("Fakturownia returned something other than a PDF", code="provider_bad_pdf")
        return response.content

    def ksef_status(self, provider_document_id: str) -> KsefStatus:
        response = self.http.request("GET", f"/invoices/{int(provider_document_id)}.json", ok=(200,))
        invoice = response.json()
        # Documented gov_status values, DEMO mode ("demo_ok"...) read like the production ones.
        status = str(invoice.get("gov_status") or "").removeprefix("demo_")
        errors = "; ".join(str(e) for e in invoice.get("gov_error_messages") or []) or None
        return ksef_status_from(status, GOV_STATES, ksef_number=invoice.get("gov_id"),
                                message=None if status == "not_connected" else errors,
                                fallback=GOV_MESSAGES.get(status, "KSeF refused the document"))

    def send_to_ksef(self, provider_document_id: str) -> None:
        self.http.request("GET", f"/invoices/{int(provider_document_id)}.json", params={"send_to_ksef": "yes"},
                          ok=(200,))

    def check_credentials(self) -> None:
        self.http.request("GET", "/departments.json", ok=(200,))

    def list_series(self) -> list[ProviderOption]:
        response = self.http.request("GET", "/departments.json", ok=(200,))
        return [ProviderOption(id=str(d["id"]), name=str(d.get("name") or d.get("shortcut") or d["id"]))
                for d in response.json()]

    def list_payment_types(self) -> list[ProviderOption]:
        return [ProviderOption(id=value, name=value) for value in PAYMENT_TYPES]

    def list_documents(self, date_from: date, date_to: date) -> list[ProviderListedDocument]:
        """Documented: period=more with date_from/date_to (issue dates), 100 per page at most."""
        our_kinds = {value: kind.value for kind, value in KINDS.items()}
        listed: list[ProviderListedDocument] = []
        page = 1
        while True:
            invoices = self.http.request("GET", "/invoices.json", params={
                "period": "more", "date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
                "page": page, "per_page": 100}).json()
            listed += [ProviderListedDocument(
                provider_document_id=str(inv["id"]), number=str(inv.get("number") or ""),
                kind=our_kinds.get(inv.get("kind")), our_document_id=str(inv["oid"]) if inv.get("oid") else None,
                issue_date=date.fromisoformat(inv["issue_date"]), currency=str(inv.get("currency") or "PLN"),
                net=Decimal(str(inv.get("price_net") or "0")), gross=Decimal(str(inv.get("price_gross") or "0")),
            ) for inv in invoices]
            if len(invoices) < 100:
                return listed
            page += 1

    @staticmethod
    def _totals(invoice: dict[str, Any]) -> ProviderTotals:
        # No VAT in PLN: Fakturownia converts the sum and the tax to `exchange_currency` on its
        # printout, but its invoice JSON returns only the rate (exchange_currency_rate), not the PLN
        # VAT, so that figure cannot be read back (vat_in_pln stays None; ours is recorded). The
        # rate it stored is compared with ours instead: a different rate would change that VAT.
        corrected = invoice.get("invoice_id") or invoice.get("from_invoice_id")
        return ProviderTotals(
            net=Decimal(str(invoice["price_net"])), vat=Decimal(str(invoice["price_tax"])),
            gross=Decimal(str(invoice["price_gross"])), currency=str(invoice.get("currency") or "PLN"),
            is_correction=invoice.get("kind") == "correction",
            corrects=str(corrected) if corrected not in (None, "") else None,
            exchange_rate=Decimal(str(rate)) if (rate := invoice.get("exchange_currency_rate")) else None)

    @staticmethod
    def _reference(invoice: dict[str, Any]) -> ProviderReference:
        department = invoice.get("department_id")
        return ProviderReference(provider_document_id=str(invoice["id"]), number=str(invoice.get("number") or ""),
                                 series=str(department) if department not in (None, "") else None)


def read_rejection(response: requests.Response) -> ProviderRejected:
    """Turn Fakturownia's error body ({"code":"error","message":{field: [msgs]}}) into a specific error."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    if response.status_code == 404:
        return ProviderRejected(
            "Fakturownia answered Not Found (HTTP 404): the department linked to this series, or the corrected "
            "document, does not exist in this Fakturownia account",
            fix="check the series link (department id) and that the original document still exists in Fakturownia",
            code="provider_not_found")
    if isinstance(message, dict):
        field_errors = {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in message.items()}
        parts = [f"{field}: {' '.join(msgs).strip()}" for field, msgs in field_errors.items()]
        fixes = sorted({OUR_FIELD.get(field.split("[")[0].split(".")[0], "the document") for field in field_errors})
        return ProviderRejected(f"Fakturownia rejected {'; '.join(parts)}", field_errors=field_errors,
                                fix=f"correct {', '.join(fixes)} and retry the document")
    text = message if isinstance(message, str) else f"HTTP {response.status_code}"
    return ProviderRejected(f"Fakturownia rejected the request: {text}", fix="correct the document and retry it")


def _exemption_basis(lines: list[Line]) -> dict[str, Any]:
    """`exempt_tax_kind`: Fakturownia takes one legal basis of zw lines per document."""
    bases = {line.vat_exemption_basis for line in lines if line.vat == VatCode.EXEMPT}
    if len(bases) > 1:
        raise ConfigurationError(
            f"Fakturownia takes one VAT exemption basis per document, this one has {len(bases)}: {sorted(bases)}",
            fix="use one legal basis for all zw lines of the document", code="unsupported_vat_mix")
    return {"exempt_tax_kind": bases.pop()} if bases else {}


def _not_subject_kind(lines: list[Line]) -> dict[str, Any]:
    """`np_tax_kind` (one per document), and `reverse_charge` for np-EU, which applies to every line."""
    np_kinds = {NP_TAX_KIND[line.vat] for line in lines if line.vat in NP_TAX_KIND}
    if len(np_kinds) > 1:
        raise ConfigurationError(
            "Fakturownia takes one 'not subject' kind per document: np and np-EU lines cannot be mixed",
            fix="issue the np-EU lines on a separate document", code="unsupported_vat_mix")
    if not np_kinds:
        return {}
    kind = np_kinds.pop()
    if kind != "export_service_eu":
        return {"np_tax_kind": kind}
    if any(line.vat != VatCode.NOT_SUBJECT_EU for line in lines):
        raise ConfigurationError(
            "Fakturownia marks np-EU (art. 28b) with reverse_charge, which applies to every line: "
            "np-EU cannot share a document with other rates",
            fix="issue the np-EU lines on a separate document", code="unsupported_vat_mix")
    return {"np_tax_kind": kind, "reverse_charge": True}
