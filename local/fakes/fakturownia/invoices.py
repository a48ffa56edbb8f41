"""Fakturownia accounts and the invoice builder: validation and the fake's own totals."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from local.fakes.common import (
    FieldErrors,
    HttpError,
    contains_emoji,
    format_money,
    json_response,
    parse_decimal,
    quantize_money,
)
from local.fakes.fakturownia.vocabulary import (
    BLANK,
    BUYER_TAX_NO_KINDS,
    CHANGED_ON_CORRECTION,
    DESCRIPTION_FIELDS,
    DISCOUNT_KIND_NOT_MODELLED,
    DISCOUNT_NEEDS_SHOW,
    EMAIL,
    EU_VAT_PREFIXES,
    FIXED_ON_CORRECTION,
    GTU_CODE,
    HAS_EMOJI,
    INCONSISTENT_AMOUNT,
    INVALID,
    INVOICE_FIELDS,
    INVOICE_KEYS,
    INVOICE_VALIDATORS,
    KSEF_KINDS,
    KSEF_TEXT_LIMITS,
    MISSING_RECORD,
    NEGATIVE,
    NOT_A_DIFFERENCE,
    NOT_FOUND,
    NOT_MODELLED,
    NOT_MODELLED_POSITION_FIELDS,
    NOT_POSITIVE,
    NP_TAX_SPELLINGS,
    NUMBER_TAKEN,
    OID_TAKEN,
    PRICE_FIELDS,
    TAX_CODES,
    TAX_NO_PATTERNS,
    TEXT_LIMITS,
    TOO_LONG,
    _Invalid,
    _is_blank,
    _money,
    _record_id,
    _text,
)

# --------------------------------------------------------------------------- records


@dataclass(eq=False)  # an account is an identity, not a value
class FakturowniaAccount:
    """One Fakturownia account (``https://{prefix}.fakturownia.pl``), resolved from its API token."""

    api_token: str
    prefix: str
    validate_for_ksef: bool
    company: dict[str, str]  # the account's default seller data
    invoices: list[dict[str, Any]] = field(default_factory=list)
    departments: dict[int, dict[str, Any]] = field(default_factory=dict)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    clients: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    warehouses: dict[int, dict[str, Any]] = field(default_factory=dict)
    # The normalised request fields each invoice was built from, so a PUT can rebuild it.
    sources: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    number_counters: dict[tuple, int] = field(default_factory=dict, repr=False)
    # ASSUMPTION (two readings): the documented API has no duplicate-number check or flag (F-DOC field
    # list: a given `number` is used as it is; fakturownia-infakt.md 1.1), and issue 13 saw a server
    # written from the docs create a second invoice with an own number already used: False (default)
    # creates it. True refuses it (422, {"number": ["- jest już zajęty"]}, same kind), as the app's
    # form warns, in case the API shares that check.
    refuses_duplicate_numbers: bool = False
    # KSeF. ASSUMPTION: KSeF itself is not documented by Fakturownia beyond gov_status; the fake
    # settles a sent document after `ksef_reads_until_final` reads of it (the real one takes
    # seconds to minutes), accepted with a KSeF number unless `ksef_rejects` is set.
    ksef_connected: bool = True
    ksef_auto_send: bool = False  # documented account setting gov_auto_send_mode: sends every new invoice
    ksef_reads_until_final: int = 1
    ksef_rejects: bool = False
    # ASSUMPTION (two readings, issue 14): gov_id as KSeF numbers it, with its 2 check characters (True,
    # 35 characters), or as Fakturownia's KSeF guide shows it (False: fakturownia/API KSeF.md, "Numer
    # KSeF (gov_id)", format {NIP_SPRZEDAWCY}-{DATA}-{IDENTYFIKATOR}, e.g. 5252445767-20260201-ABC123DEF456,
    # 32 characters, no check characters).
    ksef_number_with_check: bool = True
    ksef_reads: dict[int, int] = field(default_factory=dict, repr=False)
    ksef_submissions: dict[int, int] = field(default_factory=dict)  # sends per invoice id: 2+ is a double

    def invoice(self, invoice_id: int) -> dict[str, Any] | None:
        return next((inv for inv in self.invoices if inv["id"] == invoice_id), None)

    def delete_invoice(self, invoice_id: int) -> None:
        """Test helper: the merchant deleted the document in the app."""
        self.invoices[:] = [inv for inv in self.invoices if inv["id"] != invoice_id]
        self.sources.pop(invoice_id, None)


@dataclass
class _Line:
    """Computed money of one position (or one side of a corrected position)."""

    quantity: Decimal
    tax: str  # "23", "8", "zw", "np", "oo", "disabled"
    net: Decimal
    vat: Decimal
    gross: Decimal
    given: dict[str, Decimal]  # price fields exactly as sent

    def declared(self, price_field: str) -> Decimal:
        """What the client said, else what was computed."""
        computed = {"total_price_net": self.net, "total_price_gross": self.gross}
        return self.given.get(price_field, computed.get(price_field))

    def unit(self, price_field: str, total: Decimal) -> Decimal:
        """The unit price as sent, else derived from the total."""
        return self.given.get(price_field, _per_unit(total, self.quantity))


def _per_unit(total: Decimal, quantity: Decimal) -> Decimal:
    return quantize_money(total / quantity) if quantity else Decimal("0.00")


def _rate(tax: str) -> Decimal:
    """VAT rate as a fraction; zw/np/oo/disabled are 0% for the totals."""
    return Decimal(tax) / 100 if tax[0].isdigit() else Decimal(0)


def _parse_tax(value: Any) -> str:
    if isinstance(value, str):
        spelled = value.strip().lower()
        if spelled in NP_TAX_SPELLINGS:
            return "np"
        if spelled in TAX_CODES:
            return spelled
        if not re.fullmatch(r"\d+([.,]\d+)?", spelled):
            raise _Invalid(INVALID)
    try:
        rate = parse_decimal(value)
    except ValueError:
        raise _Invalid(INVALID) from None
    if not 0 <= rate <= 100 or rate != quantize_money(rate):
        raise _Invalid(INVALID)
    return format(rate.normalize(), "f")


def _line_amounts(quantity: Decimal, rate: Decimal, given: dict[str, Decimal],
                  keep_gross: bool) -> tuple[Decimal, Decimal, Decimal]:
    """(net, vat, gross) of a line from whichever prices were given.

    ASSUMPTION (documented names, inferred arithmetic): "default" works from net, so a gross-only
    price is first converted to net and the gross recomputed from it — which can move the gross
    by a grosz (the known complaint); "keep_gross" fixes the gross and derives net and VAT from it.
    """
    net = given.get("total_price_net")
    if net is None and "price_net" in given:
        net = quantize_money(given["price_net"] * quantity)
    gross = given.get("total_price_gross")
    if gross is None and "price_gross" in given:
        gross = quantize_money(given["price_gross"] * quantity)
    if keep_gross and gross is not None:
        net = quantize_money(gross / (1 + rate))
        return net, gross - net, gross
    if net is None:
        net = quantize_money(gross / (1 + rate))
    vat = quantize_money(net * rate)
    return net, vat, net + vat


def _summary(positions: list[dict[str, Any]], mode: str) -> tuple[Decimal, Decimal]:
    """(net, gross) of positions under the invoice's "sum" strategy."""
    net_by_rate: dict[str, Decimal] = {}
    gross_by_rate: dict[str, Decimal] = {}
    for position in positions:
        tax = position["tax"]
        net_by_rate[tax] = net_by_rate.get(tax, Decimal(0)) + Decimal(position["total_price_net"])
        gross_by_rate[tax] = gross_by_rate.get(tax, Decimal(0)) + Decimal(position["total_price_gross"])
    net_total = gross_total = Decimal(0)
    for tax, net in net_by_rate.items():
        gross = gross_by_rate[tax]
        if mode == "keep_gross":
            net = quantize_money(gross / (1 + _rate(tax)))
        elif mode == "keep_net":
            gross = net + quantize_money(net * _rate(tax))
        net_total += net
        gross_total += gross
    return net_total, gross_total


def _format_quantity(quantity: Decimal) -> str:
    """Like the real API: "2.0", "0.5", "-1.0"."""
    if quantity == quantity.to_integral_value():
        return f"{quantity:.1f}"
    return format(quantity.normalize(), "f")


# --------------------------------------------------------------------------- the invoice builder


class _Rejected(Exception):
    def __init__(self, errors: FieldErrors):
        super().__init__(errors)
        self.errors = errors


class _InvoiceBuilder:
    """Validates one invoice source (the request's ``invoice`` object after merging) and computes
    the stored invoice. Collects all field errors; unknown referenced records raise 404 at once.

    ASSUMPTION: a missing department/client/category/warehouse answers 404 before any 422, as a
    record look-up failing ahead of model validation would (users see exactly this 404 for a wrong
    department id).
    """

    def __init__(self, account: FakturowniaAccount, source: dict[str, Any], *, today: date,
                 existing: dict[str, Any] | None, errors: FieldErrors, client_card_wins: bool):
        self.today = today
        self.account = account
        self.source = source
        self.existing = existing
        self.errors = errors
        # Only a client_id sent in this request applies the client card; an edit of a stored
        # invoice keeps its (possibly edited) buyer data.
        self.client_card_wins = client_card_wins
        # KSeF rules apply to the kinds sent to KSeF; their breaches block the save only when the
        # account says so (validate_for_ksef), else they land in gov_error_messages.
        self.ksef = False
        self.ksef_errors = FieldErrors()

    # ----------------------------------------------------------------- entry point

    def build(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Return (invoice without id/number/token, resolved position sources)."""
        values = self._validated_header()
        self._resolve_records(values)
        kind = values.setdefault("kind", "vat")
        self.ksef = kind in KSEF_KINDS
        invoice = dict.fromkeys(INVOICE_KEYS)
        invoice.update(values)
        invoice["currency"] = values.get("currency", "PLN")
        invoice["lang"] = values.get("lang", "pl")
        invoice["status"] = values.get("status", "issued")
        self._fill_dates(invoice)
        self._fill_seller(invoice)
        self._fill_buyer(invoice)
        original = self._related_invoices(invoice)
        positions, resolved_sources = self._positions(invoice)
        invoice["positions"] = positions
        self._fill_totals(invoice, positions)
        self._check_rules(invoice, original)
        self._check_unique(invoice)
        if self.account.validate_for_ksef:
            self.errors.merge(self.ksef_errors)
        else:  # documented: saved anyway, the problems listed in gov_error_messages
            invoice["gov_error_messages"] = [
                f"{name} {message}" for name, messages in self.ksef_errors.as_dict().items()
                for message in messages
            ] or None
        if self.errors:
            raise _Rejected(self.errors)
        return invoice, resolved_sources

    # ----------------------------------------------------------------- header

    def _validated_header(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, raw in self.source.items():
            if name == "positions" or name not in INVOICE_FIELDS:
                continue  # positions are handled on their own; unknown names were reported
            if _is_blank(raw):
                continue
            validator = INVOICE_VALIDATORS.get(name, _text)
            try:
                values[name] = validator(raw)
            except _Invalid as problem:
                self.errors.add(name, problem.args[0])
        return values

    def _resolve_records(self, values: dict[str, Any]) -> None:
        lookups = {"department_id": self.account.departments, "category_id": self.account.categories,
                   "warehouse_id": self.account.warehouses, "client_id": self.account.clients}
        for name, records in lookups.items():
            record_id = values.get(name)
            if record_id is not None and record_id != -1 and record_id not in records:
                raise HttpError(json_response(404, NOT_FOUND))

    def _fill_dates(self, invoice: dict[str, Any]) -> None:
        issue = invoice.get("issue_date") or self.today.isoformat()
        invoice["issue_date"] = issue
        invoice["sell_date"] = invoice.get("sell_date") or issue
        term = invoice.get("payment_to_kind")
        if term == "other_date" and not invoice.get("payment_to"):
            self.errors.add("payment_to", BLANK)
        elif term == "off":
            invoice["payment_to"] = None
        elif isinstance(term, int):
            invoice["payment_to"] = (date.fromisoformat(issue) + timedelta(days=term)).isoformat()
        elif invoice.get("payment_to"):
            invoice["payment_to_kind"] = "other_date"
        else:
            # ASSUMPTION: the account's default term; the docs' minimal example gets 5 days.
            invoice["payment_to_kind"] = 5
            invoice["payment_to"] = (date.fromisoformat(issue) + timedelta(days=5)).isoformat()
        if invoice["status"] == "paid":
            # ASSUMPTION: a document created as paid is paid in full on its issue date.
            invoice["paid_date"] = invoice.get("paid_date") or issue
        if invoice.get("exchange_kind") == "own" and invoice.get("exchange_currency_rate") is None:
            self.errors.add("exchange_currency_rate", BLANK)

    def _fill_seller(self, invoice: dict[str, Any]) -> None:
        department = self.account.departments.get(invoice.get("department_id"))
        if department is not None:  # documented: the department's data win over seller_*
            seller = {f"seller_{key}": department[key] for key in
                      ("name", "tax_no", "street", "post_code", "city", "country", "bank_account")}
            invoice.update(seller)
        elif not invoice.get("seller_name"):  # documented: the account's own company data
            for key, value in self.account.company.items():
                invoice[f"seller_{key}"] = invoice.get(f"seller_{key}") or value

    def _fill_buyer(self, invoice: dict[str, Any]) -> None:
        client = self.account.clients.get(invoice.get("client_id")) if self.client_card_wins else None
        if client is not None:
            # Documented: the card's data override buyer_*; with buyer_override the buyer_* sent
            # override the card instead (and update it, see FakturowniaFake._link_client).
            for key, value in client.items():
                if key != "id" and (not invoice.get("buyer_override") or invoice.get(f"buyer_{key}") is None):
                    invoice[f"buyer_{key}"] = value
        company = invoice.get("buyer_company")
        if company is None:
            company = invoice["buyer_company"] = True  # ASSUMPTION: like clients, a company by default
        first, last = invoice.get("buyer_first_name"), invoice.get("buyer_last_name")
        if not company:
            if not invoice.get("buyer_name") and first and last:
                invoice["buyer_name"] = f"{first} {last}"  # documented
            if self.ksef:
                for name in ("buyer_first_name", "buyer_last_name"):
                    if not invoice.get(name):
                        self.ksef_errors.add(name, BLANK)
        if not invoice.get("buyer_name"):
            self.errors.add("buyer_name", BLANK)
        if "buyer_person" not in self.source and first and last:
            invoice["buyer_person"] = f"{first} {last}"  # documented default signature
        if invoice.get("buyer_tax_no") and not invoice.get("buyer_tax_no_kind"):
            invoice["buyer_tax_no_kind"] = _tax_no_kind_from_prefix(invoice["buyer_tax_no"])

    def _related_invoices(self, invoice: dict[str, Any]) -> dict[str, Any] | None:
        """Check invoice_id / from_invoice_id point at documents of this account."""
        for name in ("invoice_id", "from_invoice_id"):
            related = invoice.get(name)
            if related is not None and self.account.invoice(related) is None:
                self.errors.add(name, MISSING_RECORD)
        if invoice["kind"] != "correction":
            return None
        original_id = invoice.get("invoice_id") or invoice.get("from_invoice_id")
        if original_id is None:
            self.errors.add("invoice_id", BLANK)
        if not invoice.get("correction_reason"):
            self.errors.add("correction_reason", BLANK)
        return self.account.invoice(original_id) if original_id else None

    # ----------------------------------------------------------------- positions

    def _positions(self, invoice: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        raw_positions = self.source.get("positions")
        if not isinstance(raw_positions, list) or not raw_positions:
            self.errors.add("positions", BLANK)
            return [], []
        strategy = invoice.get("calculating_strategy") or {}
        keep_gross = strategy.get("position") == "keep_gross"
        if invoice.get("reverse_charge"):
            # Documented: reverse charge forces "oo" for a Polish buyer and "np" for the others.
            forced_tax = "oo" if invoice.get("buyer_country") in (None, "PL") else "np"
        else:
            forced_tax = None
        positions, sources = [], []
        for index, raw in enumerate(raw_positions):
            path = f"positions[{index}]"
            if not isinstance(raw, dict):
                self.errors.add(path, INVALID)
                continue
            raw = self._with_product_defaults(raw, path)
            if forced_tax:
                raw = {**raw, "tax": forced_tax}
            sources.append(raw)
            if invoice["kind"] == "correction":
                line, extra = self._corrected_line(raw, path, keep_gross)
            else:
                line, extra = self._plain_line(raw, path, keep_gross)
            if line is not None:
                positions.append(self._position_json(raw, line, extra))
        return positions, sources

    def _with_product_defaults(self, raw: dict[str, Any], path: str) -> dict[str, Any]:
        """Documented: a line linked by product_id takes name, price, tax and GTU from the product.

        ASSUMPTION: values sent on the line win over the product's.
        """
        if _is_blank(raw.get("product_id")):
            return raw
        try:
            product_id = _record_id(raw["product_id"])
        except _Invalid as problem:
            self.errors.add(f"{path}.product_id", problem.args[0])
            return raw
        product = self.account.products.get(product_id)
        if product is None:
            self.errors.add(f"{path}.product_id", MISSING_RECORD)
            return raw
        resolved = {**raw, "product_id": product_id}
        resolved.setdefault("name", product["name"])
        resolved.setdefault("code", product["code"])
        resolved.setdefault("tax", product["tax"])
        resolved.setdefault("quantity_unit", product["quantity_unit"])
        if product["gtu_codes"]:
            resolved.setdefault("gtu_code", product["gtu_codes"][0])
        if not any(name in raw for name in PRICE_FIELDS):
            resolved["price_gross"] = product["price_gross"]
        return resolved

    def _plain_line(self, raw: dict[str, Any], path: str, keep_gross: bool) -> tuple[_Line | None, dict]:
        kind = raw.get("kind")
        if kind not in (None, "normal") or "correction_before_attributes" in raw \
                or "correction_after_attributes" in raw:
            self.errors.add(f"{path}.kind", INVALID)  # correction parts only on kind "correction"
        self._check_position_text(raw, path)
        return self._line(raw, path, keep_gross, quantity_rule="positive"), {}

    def _corrected_line(self, raw: dict[str, Any], path: str, keep_gross: bool) -> tuple[_Line | None, dict]:
        """Documented: the line carries the difference, plus the full before and after states.

        ASSUMPTION: a line whose quantity or totals are not after − before is refused (422).
        """
        if raw.get("kind") != "correction":
            self.errors.add(f"{path}.kind", INVALID)
        self._check_position_text(raw, path)
        sides: dict[str, _Line | None] = {}
        for side in ("before", "after"):
            side_path = f"{path}.correction_{side}_attributes"
            side_raw = raw.get(f"correction_{side}_attributes")
            if not isinstance(side_raw, dict):
                self.errors.add(side_path, BLANK)
                sides[side] = None
                continue
            if side_raw.get("kind") != f"correction_{side}":
                self.errors.add(f"{side_path}.kind", INVALID)
            self._check_position_text(side_raw, side_path)
            sides[side] = self._line(side_raw, side_path, keep_gross, quantity_rule="non_negative")
        before, after = sides["before"], sides["after"]
        delta_inputs = self._line_inputs(raw, path, quantity_rule="any")
        if before is None or after is None or delta_inputs is None:
            return None, {}
        delta_quantity, _, delta_given = delta_inputs
        if not _is_blank(raw.get("quantity")) and delta_quantity != after.quantity - before.quantity:
            self.errors.add(f"{path}.quantity", NOT_A_DIFFERENCE)
        for price_field in ("total_price_net", "total_price_gross"):
            if price_field in delta_given and \
                    delta_given[price_field] != after.declared(price_field) - before.declared(price_field):
                self.errors.add(f"{path}.{price_field}", NOT_A_DIFFERENCE)
        # The stored line is exactly after − before, so document totals add up.
        line = _Line(quantity=after.quantity - before.quantity, tax=after.tax, net=after.net - before.net,
                     vat=after.vat - before.vat, gross=after.gross - before.gross,
                     given={name: value for name, value in after.given.items() if name.startswith("price_")})
        extra = {f"correction_{side}_attributes": self._position_json(raw[f"correction_{side}_attributes"],
                                                                     sides[side], {})
                 for side in ("before", "after")}
        return line, extra

    def _check_position_text(self, raw: dict[str, Any], path: str) -> None:
        name = raw.get("name")
        if _is_blank(name):
            self.errors.add(f"{path}.name", BLANK)
        elif not isinstance(name, str):
            self.errors.add(f"{path}.name", INVALID)
        elif len(name) > 256 and self.ksef:
            self.ksef_errors.add(f"{path}.name", TOO_LONG.format(limit=256))
        gtu = raw.get("gtu_code")
        if not _is_blank(gtu) and (not isinstance(gtu, str) or not GTU_CODE.fullmatch(gtu)):
            self.errors.add(f"{path}.gtu_code", INVALID)
        for name in NOT_MODELLED_POSITION_FIELDS:
            if not _is_blank(raw.get(name)):
                self.errors.add(f"{path}.{name}", NOT_MODELLED)
        if not _is_blank(raw.get("discount_percent")):
            if self.source.get("show_discount") not in (True, "1", 1, "true"):
                self.errors.add(f"{path}.discount_percent", DISCOUNT_NEEDS_SHOW)
            elif self.source.get("discount_kind", "percent_unit") != "percent_unit":
                self.errors.add(f"{path}.discount_percent", DISCOUNT_KIND_NOT_MODELLED)
        info = raw.get("additional_info")
        if isinstance(info, str) and len(info) > 50 and self.ksef:
            self.ksef_errors.add(f"{path}.additional_info", TOO_LONG.format(limit=50))

    def _line(self, raw: dict[str, Any], path: str, keep_gross: bool, *, quantity_rule: str) -> _Line | None:
        inputs = self._line_inputs(raw, path, quantity_rule=quantity_rule)
        if inputs is None:
            return None
        quantity, tax, given = inputs
        if not given:
            self.errors.add(f"{path}.price_net", BLANK)
            return None
        discount = self._discount(raw, path)
        if discount is None:
            return None
        if discount:
            if given.keys() & {"total_price_net", "total_price_gross"}:
                # ASSUMPTION: the docs do not say whether a total price is before or after the
                # discount, so the fake refuses the mix instead of guessing.
                self.errors.add(f"{path}.discount_percent", NOT_MODELLED)
                return None
            # ASSUMPTION (percent_unit): the unit price is the list price, the line total is
            # quantity x price x (1 - discount/100) rounded half-up to the grosz once.
            given = {name: price * (100 - discount) / 100 for name, price in given.items()}
        net, vat, gross = _line_amounts(quantity, _rate(tax), given, keep_gross)
        # ASSUMPTION: several prices on one line must agree within a grosz (rounding); otherwise
        # the client mixed up unit and total prices, which the fake refuses instead of guessing.
        computed = {"total_price_net": net, "total_price_gross": gross}
        if quantity:
            computed |= {"price_net": _per_unit(net, quantity), "price_gross": _per_unit(gross, quantity)}
        for price_field, value in given.items():
            if price_field in computed and abs(value - computed[price_field]) > Decimal("0.01"):
                self.errors.add(f"{path}.{price_field}", INCONSISTENT_AMOUNT)
        return _Line(quantity=quantity, tax=tax, net=net, vat=vat, gross=gross, given=given)

    def _discount(self, raw: dict[str, Any], path: str) -> Decimal | None:
        """A position's discount_percent (0 without one); None after reporting an invalid one.
        ASSUMPTION: a percentage from 0 to 100 with at most 2 decimals, as the UI takes it."""
        if _is_blank(raw.get("discount_percent")):
            return Decimal(0)
        try:
            discount = parse_decimal(raw["discount_percent"])
        except ValueError:
            self.errors.add(f"{path}.discount_percent", INVALID)
            return None
        if not 0 <= discount <= 100 or discount != discount.quantize(Decimal("0.01")):
            self.errors.add(f"{path}.discount_percent", INVALID)
            return None
        return discount

    def _line_inputs(self, raw: dict[str, Any], path: str, *,
                     quantity_rule: str) -> tuple[Decimal, str, dict[str, Decimal]] | None:
        """(quantity, tax, prices as sent) of a position, or None after reporting its errors."""
        ok = True
        quantity = Decimal(1)  # ASSUMPTION: a line without quantity counts one unit
        if not _is_blank(raw.get("quantity")):
            try:
                quantity = parse_decimal(raw["quantity"])
            except ValueError:
                self.errors.add(f"{path}.quantity", INVALID)
                ok = False
        if ok and quantity_rule == "positive" and quantity <= 0:
            self.errors.add(f"{path}.quantity", NOT_POSITIVE)
            ok = False
        elif ok and quantity_rule == "non_negative" and quantity < 0:
            self.errors.add(f"{path}.quantity", NEGATIVE)
            ok = False
        tax = "23"  # ASSUMPTION: the account's default rate (the docs' own example omits tax)
        if not _is_blank(raw.get("tax")):
            try:
                tax = _parse_tax(raw["tax"])
            except _Invalid as problem:
                self.errors.add(f"{path}.tax", problem.args[0])
                ok = False
        given = {}
        for price_field in PRICE_FIELDS:
            if not _is_blank(raw.get(price_field)):
                try:
                    given[price_field] = _money(raw[price_field])
                except _Invalid as problem:
                    self.errors.add(f"{path}.{price_field}", problem.args[0])
                    ok = False
        return (quantity, tax, given) if ok else None

    @staticmethod
    def _position_json(raw: dict[str, Any], line: _Line, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": raw.get("id"),
            "name": raw.get("name"),
            "kind": raw.get("kind"),
            "product_id": raw.get("product_id"),
            "code": raw.get("code"),
            "gtu_code": raw.get("gtu_code"),
            "additional_info": raw.get("additional_info"),
            "description": raw.get("description"),
            "quantity": _format_quantity(line.quantity),
            "quantity_unit": raw.get("quantity_unit") or "szt",
            "tax": line.tax,
            "price_net": format_money(line.unit("price_net", line.net)),
            "price_gross": format_money(line.unit("price_gross", line.gross)),
            "total_price_net": format_money(line.net),
            "total_price_gross": format_money(line.gross),
            **extra,
        }

    # ----------------------------------------------------------------- totals and rules

    def _fill_totals(self, invoice: dict[str, Any], positions: list[dict[str, Any]]) -> None:
        """ASSUMPTION on "sum": "sum" adds the lines; "keep_gross"/"keep_net" add the gross/net per
        VAT rate and derive the rest per rate, as a VAT summary table does. A correction's totals are
        its "after" summary minus its "before" summary (the tables its PDF prints), each side at its
        own rates, not a summary of the difference lines."""
        mode = (invoice.get("calculating_strategy") or {}).get("sum", "sum")
        if invoice["kind"] == "correction" and positions:
            after_net, after_gross = _summary(
                [position["correction_after_attributes"] for position in positions], mode)
            before_net, before_gross = _summary(
                [position["correction_before_attributes"] for position in positions], mode)
            net_total, gross_total = after_net - before_net, after_gross - before_gross
        else:
            net_total, gross_total = _summary(positions, mode)
        invoice["price_net"] = format_money(net_total)
        invoice["price_tax"] = format_money(gross_total - net_total)
        invoice["price_gross"] = format_money(gross_total)
        paid = invoice.get("paid")
        if paid is None:  # ASSUMPTION: see _fill_dates
            paid = gross_total if invoice["status"] == "paid" else Decimal(0)
        invoice["paid"] = format_money(paid)

    def _check_rules(self, invoice: dict[str, Any], original: dict[str, Any] | None) -> None:
        for name in DESCRIPTION_FIELDS:
            if isinstance(invoice.get(name), str) and contains_emoji(invoice[name]):
                self.errors.add(name, HAS_EMOJI)  # documented: emoji are a validation error
        for index, item in enumerate(invoice.get("descriptions") or []):
            for key, text in item.items():
                if contains_emoji(text):
                    self.errors.add(f"descriptions[{index}].{key}", HAS_EMOJI)
                if len(text) > 256 and self.ksef:
                    self.ksef_errors.add(f"descriptions[{index}].{key}", TOO_LONG.format(limit=256))
        for name, limit in TEXT_LIMITS.items():
            if isinstance(invoice.get(name), str) and len(invoice[name]) > limit:
                self.errors.add(name, TOO_LONG.format(limit=limit))
        if not self.ksef:
            return
        taxes = {position["tax"] for position in invoice["positions"]}
        if "zw" in taxes and not invoice.get("exempt_tax_kind"):
            self.ksef_errors.add("exempt_tax_kind", BLANK)
        if "np" in taxes and not invoice.get("np_tax_kind"):
            self.ksef_errors.add("np_tax_kind", BLANK)
        if invoice.get("np_tax_kind") == "export_service_eu" and not invoice.get("reverse_charge"):
            self.ksef_errors.add("reverse_charge", INVALID)  # documented pairing
        for name in ("seller_name", "seller_tax_no", "seller_street", "seller_post_code", "seller_city"):
            if not invoice.get(name):
                self.ksef_errors.add(name, BLANK)
        self._check_buyer_tax_no(invoice)
        for name, limit in KSEF_TEXT_LIMITS.items():
            if isinstance(invoice.get(name), str) and len(invoice[name]) > limit:
                self.ksef_errors.add(name, TOO_LONG.format(limit=limit))
        for name in ("buyer_email", "seller_email"):
            if invoice.get(name) and not EMAIL.fullmatch(invoice[name]):
                self.ksef_errors.add(name, INVALID)
        if original is not None:
            for name in FIXED_ON_CORRECTION:
                if (invoice.get(name) or None) != (original.get(name) or None):
                    self.ksef_errors.add(name, CHANGED_ON_CORRECTION)

    def _check_buyer_tax_no(self, invoice: dict[str, Any]) -> None:
        kind = invoice.get("buyer_tax_no_kind") or ""
        if kind not in BUYER_TAX_NO_KINDS:
            self.ksef_errors.add("buyer_tax_no_kind", INVALID)
            return
        tax_no = invoice.get("buyer_tax_no") or ""
        if kind == "empty":
            if tax_no:
                self.ksef_errors.add("buyer_tax_no", INVALID)
        elif not tax_no:
            if invoice["buyer_company"]:
                self.ksef_errors.add("buyer_tax_no", BLANK)
        else:
            # ASSUMPTION: dashes and spaces (documented "525-244-57-67") are ignored for a NIP.
            compact = re.sub(r"[\s-]", "", tax_no) if kind == "" else tax_no
            if not TAX_NO_PATTERNS[kind].fullmatch(compact):
                self.ksef_errors.add("buyer_tax_no", INVALID)

    def _check_unique(self, invoice: dict[str, Any]) -> None:
        own_id = self.existing["id"] if self.existing else None
        others = [inv for inv in self.account.invoices if inv["id"] != own_id]
        number = invoice.get("number")
        if (self.account.refuses_duplicate_numbers and number
                and any(inv["number"] == number and inv["kind"] == invoice["kind"] for inv in others)):
            self.errors.add("number", NUMBER_TAKEN)
        # ASSUMPTION: oid_unique is checked against every document of the account, whatever its kind.
        oid = invoice.get("oid")
        if oid and invoice.get("oid_unique") == "yes" and any(inv["oid"] == oid for inv in others):
            self.errors.add("oid", OID_TAKEN)


def _tax_no_kind_from_prefix(tax_no: str) -> str:
    """Documented: an EU country prefix other than PL means nip_ue, another prefix means other."""
    prefix = tax_no[:2].upper()
    if not re.fullmatch(r"[A-Z]{2}", prefix) or prefix == "PL":
        return ""
    return "nip_ue" if prefix in EU_VAT_PREFIXES else "other"


