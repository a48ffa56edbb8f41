"""Hypothesis strategies for export messages, shared by the property tests of every provider.

`export_messages()` draws producer messages as plain JSON-ready dicts (what goes on the queue):
mixed VAT rates including zw (with its legal basis), np, np-EU, oo and 0 %, shipping lines,
fractional quantities, net and gross pricing, PLN and foreign currencies with an exchange rate,
invoices, receipts and corrections. Their totals are computed with the documented rules
(`invoice_export.documents.compute_totals`, after minus before for a correction), so every drawn
message is valid; `bad_messages()` then breaks one thing at a time and says which field the
error must name.

`to_body()` writes a message the way a producer may: money as JSON strings or as JSON numbers.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from invoice_export.domain.documents import LONG_TEXT_MAX_LENGTH, Line, PriceBasis, VatCalculation, compute_totals

# Seeded and bounded: the same examples on every run, and each module stays within seconds.
PROPERTY_SETTINGS = settings(derandomize=True, max_examples=40, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SERIES = ("FV", "PAR", "KOR")
PAYMENT_METHODS = ("Przelew", "Karta")
EXEMPTION_BASES = ("art. 43 ust. 1 pkt 29 ustawy o VAT", "art. 113 ust. 1 ustawy o VAT")
# Rates every provider's API takes; oo (domestic reverse charge) and np-EU (art. 28b services) are
# not, so they only join the mixes that a provider may refuse as a configuration problem.
DOMESTIC_RATES = ("23", "8", "5", "0", "zw", "np")

# Letters a shop's customers and products really have: Polish, other European, CJK, and symbols;
# no control characters and no lone surrogates (not valid text, and SQS refuses them).
_NAME_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))


def names(max_size: int = 256) -> st.SearchStrategy[str]:
    """Non-blank text up to the schema's limit, unicode included."""
    return st.text(_NAME_ALPHABET, min_size=1, max_size=max_size).filter(lambda s: s.strip() != "")


def _money(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places,
                       allow_nan=False, allow_infinity=False)


@st.composite
def _line(draw: st.DrawFn, line_id: str, rate: str, *, shipping: bool = False) -> dict[str, Any]:
    line: dict[str, Any] = {
        "line_id": line_id,
        "name": "Wysyłka kurierem" if shipping else draw(names(80)),
        "quantity": Decimal(1) if shipping else draw(st.one_of(
            st.integers(1, 50).map(Decimal), _money("0.0001", "999.9999", 4))),
        "unit": "usł." if shipping else draw(st.sampled_from(("szt.", "kg", "m", "godz."))),
        "unit_price": draw(st.one_of(_money("0", "5000", 2), _money("0", "500", 4))),
        "vat": rate,
    }
    if draw(st.booleans()) and not shipping:
        line["sku"] = draw(st.from_regex(r"[A-Z]{2,5}-[0-9]{1,4}", fullmatch=True))
    if shipping:
        line["is_shipping"] = True
    elif draw(st.integers(0, 9)) < 3:  # a discount on about 30 % of the other lines
        line["discount_percent"] = draw(st.one_of(
            st.sampled_from((Decimal(5), Decimal(10), Decimal("12.5"), Decimal("33.33"))), _money("0.01", "99.99", 2)))
    return line


@st.composite
def _vat_rates(draw: st.DrawFn, count: int, provider_mappable: bool) -> list[str]:
    """Rates for `count` lines. Provider-mappable mixes are what every adapter takes on one document;
    otherwise oo and np-EU join in, alone or mixed, which some providers refuse as a configuration problem."""
    if provider_mappable:
        return draw(st.lists(st.sampled_from(DOMESTIC_RATES), min_size=count, max_size=count))
    if draw(st.integers(0, 4)) == 0:
        return [draw(st.sampled_from(("np-EU", "oo")))] * count
    return draw(st.lists(st.sampled_from((*DOMESTIC_RATES, "oo", "np-EU")), min_size=count, max_size=count))


@st.composite
def _lines(draw: st.DrawFn, prefix: str = "l", provider_mappable: bool = True) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 6))
    rates = draw(_vat_rates(count, provider_mappable))
    lines = [draw(_line(f"{prefix}{i}", rate)) for i, rate in enumerate(rates, start=1)]
    if draw(st.booleans()):  # shipping is a line, at the document's main rate
        lines.append(draw(_line("ship", rates[0], shipping=True)))
    basis = draw(st.sampled_from(EXEMPTION_BASES))  # one legal basis per document
    for line in lines:
        if line["vat"] == "zw":
            line["vat_exemption_basis"] = basis
    return lines


def _totals(lines: list[dict[str, Any]], basis: str, method: str) -> dict[str, Decimal]:
    totals = compute_totals([Line.model_validate(line) for line in lines], PriceBasis(basis), VatCalculation(method))
    return {"net": totals.net, "vat": totals.vat, "gross": totals.gross}


@st.composite
def _corrected_lines(draw: st.DrawFn, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines after a correction: quantities or prices changed, a line dropped, maybe one added."""
    after = []
    for line in before:
        change = draw(st.sampled_from(("keep", "quantity", "price", "drop")))
        if change == "drop" and (after or line is not before[-1]):  # at least one line stays
            continue
        changed = dict(line)
        if change == "quantity":
            changed["quantity"] = draw(_money("0.0001", "999.9999", 4))
        elif change == "price":
            changed["unit_price"] = draw(_money("0", "5000", 2))
        after.append(changed)
    if draw(st.booleans()):
        after.append(draw(_line("added", before[0]["vat"])) | (
            {"vat_exemption_basis": before[0]["vat_exemption_basis"]} if before[0]["vat"] == "zw" else {}))
    return after


@st.composite
def documents(draw: st.DrawFn, *, kinds: tuple[str, ...] = ("invoice", "receipt", "correction"),
              provider_mappable: bool = True) -> dict[str, Any]:
    kind = draw(st.sampled_from(kinds))
    basis = draw(st.sampled_from(("net", "gross")))
    method = draw(st.sampled_from(("per_rate", "per_line")))
    issue = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
    currency = draw(st.sampled_from(("PLN", "PLN", "EUR", "USD")))
    number = draw(st.integers(1, 10**6))
    document: dict[str, Any] = {
        "document_id": f"{kind[:3].upper()}-{number}",
        "version": draw(st.integers(1, 3)),
        "kind": kind,
        "number": f"{kind[:3].upper()} {number}/2026",
        "series": {"invoice": "FV", "receipt": "PAR", "correction": "KOR"}[kind],
        "issue_date": issue.isoformat(),
        "sale_date": (issue - timedelta(days=draw(st.integers(0, 20)))).isoformat(),
        "currency": currency,
        "price_basis": basis,
        "vat_calculation": method,
        "buyer": draw(buyers()),
        "payment": {"method": draw(st.sampled_from(PAYMENT_METHODS)),
                    **({"due_date": (issue + timedelta(days=14)).isoformat()} if draw(st.booleans()) else {})},
    }
    if currency != "PLN":
        document["exchange_rate"] = {"rate": draw(_money("0.000001", "10", 6).filter(lambda r: r > 0)),
                                     "date": (issue - timedelta(days=1)).isoformat(),
                                     "table_id": f"{draw(st.integers(1, 250))}/A/NBP/{issue.year}"}
    lines = draw(_lines(provider_mappable=provider_mappable))
    if kind == "correction":
        after = draw(_corrected_lines(lines))
        before_totals, after_totals = _totals(lines, basis, method), _totals(after, basis, method)
        document["lines"] = after
        document["correction"] = {"corrected_document_id": f"FV-{number}", "reason": draw(names(120)),
                                  "lines_before": lines}
        document["totals"] = {k: after_totals[k] - before_totals[k] for k in after_totals}
    else:
        document["lines"] = lines
        document["totals"] = _totals(lines, basis, method)
    if draw(st.booleans()):
        document["notes"] = draw(names(200))
    return document


@st.composite
def buyers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(("company", "person")))
    buyer: dict[str, Any] = {
        "kind": kind,
        "name": draw(names()),
        "address": {"street": draw(names(60)), "postal_code": "02-001", "city": draw(names(40)),
                    "country": draw(st.sampled_from(("PL", "DE", "CZ", "FR")))},
    }
    if kind == "company":
        buyer["tax_id"] = draw(st.from_regex(r"[1-9][0-9]{9}", fullmatch=True))
    else:
        buyer["first_name"], buyer["last_name"] = draw(names(40)), draw(names(40))
    if draw(st.booleans()):
        buyer["email"] = draw(st.from_regex(r"[a-z0-9._]{1,20}@[a-z0-9]{1,12}\.(pl|com|eu)", fullmatch=True))
    return buyer


# ---------------------------------------------------------------------------------------- Romania

ROMANIAN_RATES = {"23": "21", "8": "11", "5": "11", "np": "np-EU"}  # np has no Romanian rate: 0 % either way
ROMANIAN_CUI = "RO18547290"
ROMANIAN_ADDRESS = {"country": "RO", "region": "Cluj", "city": "Cluj-Napoca"}


def as_romanian(document: dict[str, Any]) -> dict[str, Any]:
    """A drawn (Polish) document as a Romanian shop issues it, for the Romanian providers: RON for PLN
    (EUR and USD keep their rate, now to RON), 23 % as 21 %, 8 and 5 % as 11 %, np as np-EU, a Romanian
    buyer (a valid CUI, a county), and a correction as the full reversal of its lines before (the only
    correction Oblio and SmartBill take); totals recomputed the way the document says."""
    def romanian(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**line, "vat": ROMANIAN_RATES.get(str(line["vat"]), line["vat"])} for line in lines]

    def totals(lines: list[dict[str, Any]], sign: int = 1) -> dict[str, Decimal]:
        return {name: sign * amount for name, amount in _totals(
            lines, document["price_basis"], document["vat_calculation"]).items()}

    buyer = {**document["buyer"], "address": {**document["buyer"]["address"], **ROMANIAN_ADDRESS}}
    if buyer.get("tax_id"):
        buyer["tax_id"] = ROMANIAN_CUI
    romanian_document = {**document, "home_currency": "RON", "buyer": buyer,
                         "currency": "RON" if document["currency"] == "PLN" else document["currency"]}
    if romanian_document["currency"] == "RON":
        romanian_document.pop("exchange_rate", None)
    if document.get("correction"):
        before = romanian(document["correction"]["lines_before"])
        romanian_document.update(lines=[], correction={**document["correction"], "lines_before": before},
                                 totals=totals(before, -1))
    else:
        romanian_document.update(lines=romanian(document["lines"]), totals=totals(romanian(document["lines"])))
    return romanian_document


@st.composite
def export_messages(draw: st.DrawFn, **document_options: Any) -> dict[str, Any]:
    return {"schema_version": "1", "account_id": draw(st.from_regex(r"shop-[a-z0-9]{1,12}", fullmatch=True)),
            "document": draw(documents(**document_options))}


# ---------------------------------------------------------------------------------------- writing


_NUMBER = re.compile(r'"\\u0000num:([-0-9.E+]+)"')


def to_body(message: dict[str, Any], *, numbers: bool = False) -> str:
    """The message as a producer writes it: Decimals as JSON strings, or (`numbers`) as JSON numbers
    written digit for digit (never through float)."""

    def encode(value: Any) -> str:
        if isinstance(value, Decimal):
            return f"\0num:{value}" if numbers else str(value)
        raise TypeError(f"cannot encode {type(value).__name__}")

    text = json.dumps(message, default=encode, ensure_ascii=False)
    return _NUMBER.sub(r"\1", text) if numbers else text


# ---------------------------------------------------------------------------------------- breaking


@dataclass(frozen=True)
class BadMessage:
    """A body that must be refused, and what the refusal must say (a field path or the reason)."""

    body: str
    must_mention: str
    what: str  # the mistake, for failure reports


def _path_text(path: tuple[str | int, ...]) -> str:
    """`("document", "lines", 1, "vat")` -> `document.lines[1].vat`, as describe_validation_error writes it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _at(message: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    node: Any = message
    for part in path:
        node = node[part]
    return node


# Required fields of the message, by path (a sample from every level of the schema).
REQUIRED = (("account_id",), ("document",), ("document", "document_id"), ("document", "version"),
            ("document", "kind"), ("document", "issue_date"), ("document", "price_basis"),
            ("document", "buyer"), ("document", "buyer", "name"), ("document", "buyer", "address"),
            ("document", "buyer", "address", "country"), ("document", "payment", "method"),
            ("document", "lines"), ("document", "lines", 0, "quantity"), ("document", "lines", 0, "unit_price"),
            ("document", "lines", 0, "vat"), ("document", "totals"), ("document", "totals", "gross"))
# Objects that refuse unknown fields.
OBJECTS = (("document",), ("document", "buyer"), ("document", "buyer", "address"), ("document", "payment"),
           ("document", "lines", 0), ("document", "totals"))
# (path, a value of the wrong type).
WRONG_TYPES = ((("document", "version"), "first"), (("document", "lines"), {"l1": 1}),
               (("document", "lines", 0, "quantity"), [1]), (("document", "lines", 0, "unit_price"), True),
               (("document", "totals", "net"), {"value": 1}), (("document", "issue_date"), "20.11.2026"),
               (("document", "buyer", "address", "country"), "Polska"), (("document", "kind"), "faktura"),
               (("document", "price_basis"), 1), (("document", "buyer", "email"), "not an address"),
               (("document", "currency"), "zł"), (("account_id", ), "shop 1/../other"))


MISTAKES = ("not_json", "missing", "extra", "wrong_type", "negative", "huge", "totals", "vat_code", "zw_basis",
            "long_name", "correction_without_data")


@st.composite
def bad_messages(draw: st.DrawFn, mistake: str) -> BadMessage:
    """One valid message with exactly one mistake of the kind named (one of MISTAKES)."""
    message = draw(export_messages(kinds=("invoice", "receipt")))
    broken = copy.deepcopy(message)
    document = broken["document"]
    if mistake == "not_json":
        body = to_body(message)
        cut = draw(st.integers(1, len(body) - 1))
        return BadMessage(draw(st.sampled_from((body[:cut], body.replace(":", "=", 1), "<xml/>"))),
                          "the body is not JSON", mistake)
    if mistake == "missing":
        path = draw(st.sampled_from(REQUIRED))
        del _at(broken, path[:-1])[path[-1]]
        return BadMessage(to_body(broken), f"{_path_text(path)}: Field required", mistake)
    if mistake == "extra":
        path = draw(st.sampled_from(OBJECTS))
        name = draw(st.from_regex(r"[a-z]{1,8}_x", fullmatch=True))
        _at(broken, path)[name] = draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
        return BadMessage(to_body(broken), f"{_path_text((*path, name))}: Extra inputs are not permitted", mistake)
    if mistake == "wrong_type":
        path, value = draw(st.sampled_from(WRONG_TYPES))
        _at(broken, path[:-1])[path[-1]] = value
        return BadMessage(to_body(broken), f"{_path_text(path)}", mistake)
    if mistake == "negative":
        index = draw(st.integers(0, len(document["lines"]) - 1))
        field = draw(st.sampled_from(("quantity", "unit_price")))
        document["lines"][index][field] = -draw(_money("0.01", "1000", 2))
        return BadMessage(to_body(broken, numbers=draw(st.booleans())),
                          f"document.lines[{index}].{field}: Input should be greater", mistake)
    if mistake == "huge":
        index = draw(st.integers(0, len(document["lines"]) - 1))
        document["lines"][index]["unit_price"] = draw(st.sampled_from(
            (Decimal("1E+20"), Decimal("123456789012345678.5"), Decimal("9" * 40))))
        return BadMessage(to_body(broken, numbers=draw(st.booleans())),
                          f"document.lines[{index}].unit_price: Decimal input should have no more than", mistake)
    if mistake == "totals":
        field = draw(st.sampled_from(("net", "vat", "gross")))
        delta = draw(_money("0.01", "100", 2)) * draw(st.sampled_from((1, -1)))
        document["totals"][field] += delta
        return BadMessage(to_body(broken), f"{field} {document['totals'][field]} but the lines give", mistake)
    if mistake == "vat_code":
        index = draw(st.integers(0, len(document["lines"]) - 1))
        document["lines"][index]["vat"] = draw(st.sampled_from(("ZW", "23%", "np-eu", "exempt", "-5", "101")))
        return BadMessage(to_body(broken), f"document.lines[{index}].vat", mistake)
    if mistake == "zw_basis":
        index = draw(st.integers(0, len(document["lines"]) - 1))
        document["lines"][index] |= {"vat": "zw", "vat_exemption_basis": EXEMPTION_BASES[0]}
        document["totals"] = _totals(document["lines"], document["price_basis"], document["vat_calculation"])
        del document["lines"][index]["vat_exemption_basis"]  # only the basis is wrong, the totals add up
        return BadMessage(to_body(broken), f"document.lines[{index}]: a zw (VAT-exempt) line needs "
                          "vat_exemption_basis", mistake)
    if mistake == "long_name":
        where = draw(st.sampled_from((("document", "buyer", "name"), ("document", "lines", 0, "name"))))
        _at(broken, where[:-1])[where[-1]] = draw(names(40)) + "ż" * LONG_TEXT_MAX_LENGTH
        return BadMessage(to_body(broken),
                          f"{_path_text(where)}: String should have at most {LONG_TEXT_MAX_LENGTH} characters", mistake)
    assert mistake == "correction_without_data"
    document["kind"] = "correction"
    return BadMessage(to_body(broken), "a correction (kind 'correction') must carry 'correction'", mistake)
