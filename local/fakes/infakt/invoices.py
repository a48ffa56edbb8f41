"""Building an inFakt document: validation, the fake's own totals in grosze, edits, and the PDF."""

from __future__ import annotations

import copy
import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from local.fakes.common import FieldErrors, render_pdf
from local.fakes.infakt.vocabulary import (
    BANK_NOT_VERIFIED,
    BEFORE_NOT_ORIGINAL,
    BLANK,
    CLIENT_TEXT_FIELDS,
    CLIENT_TEXT_LIMIT,
    CORRECTED_MISMATCH,
    CORRECTION_FIELDS,
    CORRECTION_REASONS,
    CORRECTION_SERVICE_FIELDS,
    DATE_AND_SERVICES,
    HEADER_CHECKS,
    INCONSISTENT_NET,
    INVALID,
    INVOICE_FIELDS,
    KSEF_NOTES_LIMIT,
    MISSING_RECORD,
    NEGATIVE,
    NOT_MODELLED,
    NOT_MODELLED_SERVICE_FIELDS,
    NOT_ON_LIST,
    NOT_POSITIVE,
    PAID_BEFORE_ISSUE,
    PAIR_REQUIRED,
    READ_ONLY,
    READ_ONLY_FIELDS,
    SERVICE_FIELDS,
    SERVICE_NAME_LIMIT,
    TAKEN,
    TAX_SYMBOLS,
    TOO_LONG,
    UNKNOWN_FIELD,
    InfaktAccount,
    _grosze,
    _Invalid,
    _quantity,
    _text,
)

if TYPE_CHECKING:
    from local.fakes.infakt.server import InfaktFake

# --------------------------------------------------------------------------- money in grosze

GROSZ = Decimal(1)


def _round_grosze(value: Decimal) -> int:
    return int(value.quantize(GROSZ, rounding=ROUND_HALF_UP))


def _vat_in_pln(services: list[dict[str, Any]], rate: Decimal) -> int:
    """VAT in PLN grosze (art. 106e ust. 11) the way invoicing programs print it: per VAT rate, the
    VAT in the currency times the rate, rounded half-up to the grosz, then summed. A correction's
    "before" services (correction: false) count negative, as in its totals.
    ASSUMPTION: inFakt's own rule and field are not documented."""
    by_symbol: dict[str, int] = {}
    for service in services:
        sign = -1 if service.get("correction") is False else 1
        by_symbol[service["tax_symbol"]] = by_symbol.get(service["tax_symbol"], 0) + sign * service["tax_price"]
    return sum(_round_grosze(Decimal(tax) * rate) for tax in by_symbol.values())


def _format_grosze(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def _rate(symbol: str) -> Decimal:
    """VAT percentage of a tax symbol; zw and np carry no VAT."""
    return Decimal(symbol) if symbol.isdigit() else Decimal(0)


# --------------------------------------------------------------------------- the document builder


class _Builder:
    """Validates one create (or edit) body and computes the stored document; collects all errors."""

    def __init__(self, fake: InfaktFake, account: InfaktAccount, source: dict[str, Any], *, correction: bool):
        self.fake = fake
        self.account = account
        self.source = source
        self.correction = correction
        self.errors = FieldErrors()

    def build(self) -> dict[str, Any] | None:
        allowed = CORRECTION_FIELDS if self.correction else INVOICE_FIELDS
        values: dict[str, Any] = {}
        for name, raw in self.source.items():
            if name in READ_ONLY_FIELDS:
                self.errors.add(name, READ_ONLY)
            elif name not in allowed:
                # ASSUMPTION: the real API ignores unknown keys (a sandbox run saw client_uuid
                # silently dropped); the fake refuses them so a wrong field name cannot pass.
                self.errors.add(name, UNKNOWN_FIELD)
            elif name == "services" or raw is None:
                continue
            elif name in HEADER_CHECKS:
                try:
                    values[name] = HEADER_CHECKS[name](raw)
                except _Invalid as problem:
                    self.errors.add(name, problem.args[0])
            else:
                try:
                    values[name] = _text(raw)
                except _Invalid as problem:
                    self.errors.add(name, problem.args[0])
        document = self._header(values)
        original = self._corrected_original(values) if self.correction else None
        services = self._services(document, original)
        self._check_rules(document, services)
        self._check_text_lengths(document, services)
        if self.errors:
            return None
        document["services"] = services
        self._totals(document, original)
        return document

    # ----------------------------------------------------------------- header

    def _header(self, values: dict[str, Any]) -> dict[str, Any]:
        today = self.fake.today()
        document: dict[str, Any] = {
            "kind": "correction" if self.correction else values.get("kind", "vat"),
            "number": values.get("number"),
            "currency": values.get("currency", "PLN"),
            "payment_method": values.get("payment_method", "transfer"),  # ASSUMPTION: default method
            "invoice_date": values.get("invoice_date", today.isoformat()),
            "status": values.get("status", "draft"),  # documented default
            "notes": values.get("notes"),
            "split_payment": values.get("split_payment", False),
            "split_payment_type": values.get("split_payment_type"),
            "invoice_date_kind": values.get("invoice_date_kind", "sale_date"),
            "sale_type": values.get("sale_type"),
            "transaction_terms": values.get("transaction_terms"),
            "vat_exchange_date_kind": values.get("vat_exchange_date_kind"),
            "vat_exemption_reason": values.get("vat_exemption_reason"),
            "bank_account": values.get("bank_account"),
            "bank_name": values.get("bank_name"),
            "swift": values.get("swift"),
            "check_duplicate_number": values.get("check_duplicate_number", False),
        }
        document["sale_date"] = values.get("sale_date", document["invoice_date"])
        # ASSUMPTION: without payment_date the client's default term applies; the fake uses 7 days.
        document["payment_date"] = values.get("payment_date") or (
            date.fromisoformat(document["invoice_date"]) + timedelta(days=7)).isoformat()
        document["paid_date"] = values.get("paid_date")
        if document["status"] == "paid" and document["paid_date"] is None:
            document["paid_date"] = document["invoice_date"]  # ASSUMPTION: paid on the issue date
        if document["paid_date"] and document["paid_date"] < document["invoice_date"]:
            self.errors.add("paid_date", PAID_BEFORE_ISSUE)
        self._client(values, document)
        if document["currency"] != "PLN" and document["vat_exchange_date_kind"] is None:
            self.errors.add("vat_exchange_date_kind", BLANK)  # documented: required for a foreign currency
        if document["split_payment"] and document["split_payment_type"] is None:
            self.errors.add("split_payment_type", BLANK)
        if document["bank_account"] is not None:
            bank = self.account.bank_accounts.get(document["bank_account"])
            if bank is None or not bank["verified"]:  # documented: added and verified in the app first
                self.errors.add("bank_account", BANK_NOT_VERIFIED)
        reason = document["vat_exemption_reason"]
        if reason is not None and reason not in self.account.vat_exemptions:
            self.errors.add("vat_exemption_reason", MISSING_RECORD)
        if self.correction:
            document["correction_reason_symbol"] = values.get("correction_reason")
            if document["correction_reason_symbol"] is None:
                self.errors.add("correction_reason", BLANK)
            document["correction_reason"] = CORRECTION_REASONS.get(values.get("correction_reason") or "")
            if "sale_date_before_correction" in values and self.source.get("services"):
                self.errors.add("sale_date_before_correction", DATE_AND_SERVICES)  # documented rule
        return document

    def _client(self, values: dict[str, Any], document: dict[str, Any]) -> None:
        client_fields = ("client_company_name", "client_first_name", "client_last_name",
                         "client_business_activity_kind", "client_tax_code", "client_street",
                         "client_street_number", "client_flat_number", "client_city", "client_post_code",
                         "client_country")
        client_id = values.get("client_id")
        if client_id is not None:
            client = self.account.clients.get(client_id)
            if client is None:
                self.errors.add("client_id", MISSING_RECORD)
                client = {}
            # ASSUMPTION: the client card supplies what the request leaves out.
            for name in client_fields:
                document[name] = values.get(name, client.get(name.removeprefix("client_")))
        else:
            for name in client_fields:
                document[name] = values.get(name)
        document["client_id"] = client_id
        document["client_country"] = document["client_country"] or "PL"  # ASSUMPTION: default PL
        kind = document["client_business_activity_kind"] or "other_business"  # ASSUMPTION: default
        document["client_business_activity_kind"] = kind
        # Documented: company name for businesses; first and last name for persons and sole traders.
        if kind != "private_person" and not document["client_company_name"]:
            self.errors.add("client_company_name", BLANK)
        if kind != "other_business":
            for name in ("client_first_name", "client_last_name"):
                if not document[name]:
                    self.errors.add(name, BLANK)
        tax_code = document["client_tax_code"]
        if tax_code and document["client_country"] == "PL" and \
                not re.fullmatch(r"(PL)?\d{10}", re.sub(r"[\s-]", "", tax_code)):
            self.errors.add("client_tax_code", INVALID)

    def _corrected_original(self, values: dict[str, Any]) -> dict[str, Any] | None:
        by_uuid = values.get("corrected_invoice_uuid")
        by_number = values.get("corrected_invoice_number")
        if by_uuid is None and by_number is None:
            self.errors.add("corrected_invoice_number", BLANK)
            return None
        original = None
        if by_uuid is not None:
            original = self.account.invoices.get(by_uuid)  # a correction's uuid is not an invoice
        elif by_number is not None:
            original = next((inv for inv in self.account.invoices.values() if inv["number"] == by_number), None)
        if original is None:
            self.errors.add("corrected_invoice_uuid" if by_uuid else "corrected_invoice_number", MISSING_RECORD)
            return None
        if by_number is not None and by_number != original["number"]:
            self.errors.add("corrected_invoice_number", CORRECTED_MISMATCH)
        given_date = values.get("corrected_invoice_date")
        if given_date is not None and given_date != original["invoice_date"]:
            self.errors.add("corrected_invoice_date", CORRECTED_MISMATCH)
        if original["currency"] != (values.get("currency") or "PLN"):
            self.errors.add("currency", CORRECTED_MISMATCH)  # ASSUMPTION: a correction keeps the currency
        return original

    # ----------------------------------------------------------------- services

    def _services(self, document: dict[str, Any], original: dict[str, Any] | None) -> list[dict[str, Any]]:
        raw_services = self.source.get("services")
        if not isinstance(raw_services, list) or not raw_services:
            self.errors.add("services", BLANK)
            return []
        allowed = CORRECTION_SERVICE_FIELDS if self.correction else SERVICE_FIELDS
        services = []
        for raw in raw_services:
            if not isinstance(raw, dict):
                self.errors.add("services", INVALID)
                continue
            for name in sorted(raw.keys() - allowed):
                message = NOT_MODELLED if name in NOT_MODELLED_SERVICE_FIELDS else (
                    READ_ONLY if name in ("id", "tax_price") else UNKNOWN_FIELD)
                # ASSUMPTION: nested errors are keyed "services.<field>" without the index, as a
                # sandbox run reported ("services.gross"); the index is not given.
                self.errors.add(f"services.{name}", message)
            service = self._service(raw)
            if service is not None:
                services.append(service)
        if self.correction:
            self._check_pairs(services, original)
        return services

    def _service(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        ok = True
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.errors.add("services.name", BLANK)
            ok = False
        symbol = raw.get("tax_symbol")
        if symbol is None or symbol == "":
            self.errors.add("services.tax_symbol", BLANK)
            ok = False
        elif not isinstance(symbol, str) or symbol not in TAX_SYMBOLS:
            self.errors.add("services.tax_symbol", NOT_ON_LIST)
            ok = False
        quantity = Decimal(1)  # ASSUMPTION: one unit when quantity is omitted
        if raw.get("quantity") is not None:
            try:
                quantity = _quantity(raw["quantity"])
            except _Invalid as problem:
                self.errors.add("services.quantity", problem.args[0])
                ok = False
        if ok and quantity < 0:
            self.errors.add("services.quantity", NEGATIVE)
            ok = False
        elif ok and quantity == 0 and not self.correction:
            self.errors.add("services.quantity", NOT_POSITIVE)  # only a correction may zero a line
            ok = False
        prices: dict[str, int] = {}
        for price_field in ("unit_net_price", "net_price", "gross_price"):
            if raw.get(price_field) is not None:
                try:
                    prices[price_field] = _grosze(raw[price_field])
                except _Invalid as problem:
                    self.errors.add(f"services.{price_field}", problem.args[0])
                    ok = False
        discount = self._discount(raw)
        if discount is None:
            ok = False
        elif raw.get("unit_net_price_before_discount") is not None:
            try:
                before = _grosze(raw["unit_net_price_before_discount"])
            except _Invalid as problem:
                self.errors.add("services.unit_net_price_before_discount", problem.args[0])
                ok = False
            else:
                # ASSUMPTION (docs name the fields, not the arithmetic): the net value is the price
                # before the discount x quantity x (1 - discount/100), rounded half-up once; a net
                # value sent with it must agree (else refused, as for unit_net_price).
                from_before = _round_grosze(Decimal(before) * quantity * (100 - discount) / 100)
                if prices.setdefault("net_price", from_before) != from_before:
                    self.errors.add("services.net_price", INCONSISTENT_NET)
                    ok = False
        if ok and not prices:
            self.errors.add("services.unit_net_price", BLANK)
            ok = False
        if not ok:
            return None
        net, vat, gross, unit_net = self._amounts(quantity, symbol, prices)
        if net is None:
            return None
        service = {
            "id": self.fake.new_id("service"),
            "name": name, "tax_symbol": symbol, "unit": raw.get("unit") or "szt.",
            "quantity": f"{quantity.normalize():f}" if quantity else "0",
            "unit_net_price": unit_net, "net_price": net, "tax_price": vat, "gross_price": gross,
            "pkwiu": raw.get("pkwiu"), "gtu_id": raw.get("gtu_id"),
        }
        if self.correction:
            service["group"] = str(raw.get("group")) if raw.get("group") not in (None, "") else None
            service["correction"] = raw.get("correction")
        return service

    def _discount(self, raw: dict[str, Any]) -> Decimal | None:
        """Documented: `discount` (%) on a service. ASSUMPTION: a number from 0 to 100 with at most 2
        decimals; it names the discount already in unit_net_price/net_price/gross_price, and is applied
        only to unit_net_price_before_discount. None after reporting an invalid one."""
        value = raw.get("discount")
        if value is None:
            return Decimal(0)
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            self.errors.add("services.discount", INVALID)
            return None
        try:
            discount = Decimal(str(value))
        except ArithmeticError:
            self.errors.add("services.discount", INVALID)
            return None
        if not discount.is_finite() or not 0 <= discount <= 100 or discount != discount.quantize(Decimal("0.01")):
            self.errors.add("services.discount", INVALID)
            return None
        return discount

    def _amounts(self, quantity: Decimal, symbol: str,
                 prices: dict[str, int]) -> tuple[int | None, int, int, int]:
        """(net, VAT, gross, unit net) of one line, in grosze, computed line by line.

        Documented: with only gross_price the invoice is gross-based and net is derived; any net
        value makes everything computed from net. ASSUMPTION on the arithmetic: VAT is rounded
        half-up per line, document totals are the sums of the lines.
        """
        rate = _rate(symbol)
        if "unit_net_price" not in prices and "net_price" not in prices:
            gross = prices["gross_price"]
            vat = _round_grosze(Decimal(gross) * rate / (100 + rate))
            net = gross - vat
        else:
            from_unit = None
            if "unit_net_price" in prices:
                from_unit = _round_grosze(Decimal(prices["unit_net_price"]) * quantity)
            net = prices.get("net_price", from_unit)
            if from_unit is not None and net != from_unit:
                # ASSUMPTION: a line whose net value contradicts unit price x quantity is refused
                # instead of one of them being silently preferred.
                self.errors.add("services.net_price", INCONSISTENT_NET)
                return None, 0, 0, 0
            vat = _round_grosze(Decimal(net) * rate / 100)
            gross = net + vat
            if "gross_price" in prices and prices["gross_price"] != gross:
                self.errors.add("services.gross_price", INCONSISTENT_NET)
                return None, 0, 0, 0
        unit_net = prices.get("unit_net_price", _round_grosze(Decimal(net) / quantity) if quantity else 0)
        return net, vat, gross, unit_net

    def _check_pairs(self, services: list[dict[str, Any]], original: dict[str, Any] | None) -> None:
        """Documented: pairs per group, correction false = as it was, true = as it should be."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for service in services:
            if service["group"] is None:
                self.errors.add("services.group", BLANK)
                continue
            if not isinstance(service["correction"], bool):
                self.errors.add("services.correction", BLANK)
                continue
            groups.setdefault(service["group"], []).append(service)
        for pair in groups.values():
            if sorted(s["correction"] for s in pair) != [False, True]:
                self.errors.add("services.group", PAIR_REQUIRED)
        if original is None:
            return
        # ASSUMPTION: the "before" row must reproduce a line of the corrected invoice (a new line
        # has a before row with quantity 0), as the document shows both states side by side.
        remaining = list(original["services"])
        for service in services:
            if service["correction"] is not False or service["quantity"] == "0":
                continue
            match = next((line for line in remaining if all(
                line[key] == service[key] for key in ("name", "tax_symbol", "quantity", "net_price", "gross_price"))),
                None)
            if match is None:
                self.errors.add("services.correction", BEFORE_NOT_ORIGINAL)
            else:
                remaining.remove(match)

    # ----------------------------------------------------------------- rules and totals

    def _check_rules(self, document: dict[str, Any], services: list[dict[str, Any]]) -> None:
        if any(s["tax_symbol"] == "zw" for s in services) and document["vat_exemption_reason"] is None:
            if self.account.default_vat_exemption is None:  # documented: required unless a default
                # Wording as inFakt answered it (reported in the project's issue 13 section 3).
                self.errors.add("vat_exemption_reason", BLANK)
            else:
                document["vat_exemption_reason"] = self.account.default_vat_exemption
        number = document["number"]
        if number and document["check_duplicate_number"]:
            # ASSUMPTION (open question 5): the duplicate refusal arrives in invoice_errors.number.
            same_kind = self.account.corrections if self.correction else self.account.invoices
            if any(doc["number"] == number for doc in same_kind.values()):
                self.errors.add("number", TAKEN)

    def _check_text_lengths(self, document: dict[str, Any], services: list[dict[str, Any]]) -> None:
        limits = dict.fromkeys(CLIENT_TEXT_FIELDS, CLIENT_TEXT_LIMIT)
        if self.account.ksef_connected:
            limits["notes"] = KSEF_NOTES_LIMIT
            if any(len(service["name"]) > SERVICE_NAME_LIMIT for service in services):
                self.errors.add("services.name", TOO_LONG.format(limit=SERVICE_NAME_LIMIT))
        for name, limit in limits.items():
            if isinstance(document.get(name), str) and len(document[name]) > limit:
                self.errors.add(name, TOO_LONG.format(limit=limit))

    def _totals(self, document: dict[str, Any], original: dict[str, Any] | None) -> None:
        """Totals in grosze of the document's currency. A correction's totals are the difference
        after − before (ASSUMPTION: what the correction shows as its value)."""
        signs = [(-1 if s.get("correction") is False else 1) for s in document["services"]]
        for name in ("net_price", "tax_price", "gross_price"):
            document[name] = sum(sign * s[name] for sign, s in zip(signs, document["services"], strict=True))
        paid = document["gross_price"] if document["status"] == "paid" else 0
        document["paid_price"] = paid
        document["left_to_pay"] = document["gross_price"] - paid
        if original is not None:
            document["corrected_invoice_uuid"] = original["uuid"]
            document["corrected_invoice_number"] = original["number"]
            document["corrected_invoice_date"] = original["invoice_date"]
            document["corrected_invoice_gross_price"] = original["gross_price"]
        document["exchange_rates_data"] = self.fake.exchange_rates_data(document)



# --------------------------------------------------------------------------- edits and the PDF


def _make_unpaid_draft(document: dict[str, Any]) -> None:
    """A created document as the "always_draft" reading has it: status and paid date ignored."""
    document.update(status="draft", paid_date=None, paid_price=0, left_to_pay=document["gross_price"])


def _editable_source(document: dict[str, Any]) -> dict[str, Any]:
    """A stored document turned back into a request body, for an edit to be rebuilt from."""
    correction = document["kind"] == "correction"
    allowed = CORRECTION_FIELDS if correction else INVOICE_FIELDS
    source = {name: copy.deepcopy(value) for name, value in document.items()
              if name in allowed and name not in ("services", "check_duplicate_number") and value is not None}
    if correction:
        source["correction_reason"] = document["correction_reason_symbol"]
        for name in ("corrected_invoice_number", "corrected_invoice_date"):
            source.pop(name, None)
    source["services"] = [
        {key: service[key] for key in ("name", "tax_symbol", "unit", "quantity", "net_price")
         if service.get(key) is not None}
        | ({"group": service["group"], "correction": service["correction"]} if correction else {})
        for service in document["services"]
    ]
    return source


def _document_pdf(account: InfaktAccount, document: dict[str, Any], document_type: str) -> bytes:
    currency = document["currency"]
    title = "Faktura korygujaca" if document["kind"] == "correction" else "Faktura VAT"
    client = document["client_company_name"] or f"{document['client_first_name']} {document['client_last_name']}"
    lines = [
        document_type.upper(),
        f"Numer: {document['number']}",
        f"Data wystawienia: {document['invoice_date']}   Data sprzedazy: {document['sale_date']}",
        f"Sprzedawca: {account.company['name']} NIP {account.company['nip']}",
        f"Nabywca: {client} NIP {document.get('client_tax_code') or '-'}",
    ]
    if document["kind"] == "correction":
        lines.append(f"Korekta do: {document['corrected_invoice_number']}; przyczyna: {document['correction_reason']}")
    lines.append("")
    for index, service in enumerate(document["services"], start=1):
        side = {False: " (przed korekta)", True: " (po korekcie)"}.get(service.get("correction"), "")
        lines.append(f"{index}. {service['name']}{side} | {service['quantity']} {service['unit']} | VAT "
                     f"{service['tax_symbol']} | netto {_format_grosze(service['net_price'])}"
                     f" | brutto {_format_grosze(service['gross_price'])} {currency}")
    lines += [
        "",
        f"Razem netto: {_format_grosze(document['net_price'])} {currency}",
        f"VAT: {_format_grosze(document['tax_price'])} {currency}",
        f"Razem brutto: {_format_grosze(document['gross_price'])} {currency}",
    ]
    if document.get("exchange_rates_data"):
        rates = document["exchange_rates_data"]
        lines.append(f"Kurs {rates['exchange_rate']} PLN/{currency}, tabela {rates['table_name']}")
    lines.append(f"Status: {document['status']}   Termin platnosci: {document['payment_date']}")
    return render_pdf(f"{title} {document['number']}", lines)
