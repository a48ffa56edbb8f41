"""Helpers shared by tests (importable: `tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "documents"


def load_example(name: str) -> dict[str, Any]:
    """An example message as a plain dict (a fresh copy each time)."""
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.json"))


def with_changes(message: dict[str, Any], **document_changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(message)
    changed["document"].update(document_changes)
    return changed



def plan_for(adapter: Any, name: str, corrected: Any = None, **document_changes: Any) -> Any:
    """Example `name`, with `document_changes`, planned for the adapter's account (provider tests)."""
    from invoice_export.domain.documents import ExportMessage
    from invoice_export.domain.planning import plan_export

    document = ExportMessage.model_validate(with_changes(load_example(name), **document_changes)).document
    return plan_export(document, adapter.settings, type(adapter), corrected=corrected)


# A discounted invoice's lines for the adapter tests: 3 x 10.99 less 12.5 % = 28.84875 -> 28.85
# (rounded once, not 3 x 9.62 = 28.86); 7 x 1.43 less 5 % = 9.5095 -> 9.51; shipping undiscounted.
DISCOUNTED_LINES = [
    {"line_id": "l1", "name": "Kubek", "quantity": "3", "unit_price": "10.99", "vat": "23", "discount_percent": "12.5"},
    {"line_id": "l2", "name": "Podkładka", "quantity": "7", "unit_price": "1.43", "vat": "23", "discount_percent": "5"},
    {"line_id": "l3", "name": "Wysyłka", "quantity": "1", "unit_price": "15.00", "vat": "23", "is_shipping": True},
]


def discounted_plan(adapter: Any, vat_calculation: str | None = None) -> Any:
    """The example company invoice with DISCOUNTED_LINES and the totals they give, planned for the adapter."""
    name = "01-invoice-company.json"
    changes = {"vat_calculation": vat_calculation} if vat_calculation else {}
    return plan_for(adapter, name, lines=DISCOUNTED_LINES, totals=discounted_totals(name, vat_calculation), **changes)


def discounted_totals(name: str, vat_calculation: str | None = None) -> dict[str, str]:
    """The totals of example `name` with DISCOUNTED_LINES, computed by our own model."""
    from invoice_export.domain.documents import Line, PriceBasis, VatCalculation, compute_totals
    document = load_example(name)["document"]
    method = VatCalculation(vat_calculation or document.get("vat_calculation", "per_rate"))
    lines = [Line.model_validate(line) for line in DISCOUNTED_LINES]
    totals = compute_totals(lines, PriceBasis(document["price_basis"]), method)
    return {"net": str(totals.net), "vat": str(totals.vat), "gross": str(totals.gross)}


# Net prices at 23 % whose VAT depends on the method (issue 13 §1): line by line 5.06 + 0.94 + 1.69 = 7.69
# (gross 41.07), per rate 23 % of 33.38 = 7.68 (gross 41.06).
NET_LINES_VAT_BY_METHOD = [
    {"line_id": "l1", "name": "Filiżanka", "quantity": "2", "unit_price": "10.99", "vat": "23"},
    {"line_id": "l2", "name": "Spodek", "quantity": "1", "unit_price": "4.07", "vat": "23"},
    {"line_id": "l3", "name": "Łyżeczka", "quantity": "1", "unit_price": "7.33", "vat": "23"},
]
# The example of a gross-priced invoice with VAT computed line by line, which wFirma and iFirma compute
# per rate: the same gross 175.28, net 150.24 and VAT 25.04 there instead of our 150.25 and 25.03.
GROSS_PER_LINE_EXAMPLE = "07-invoice-gross-vat-per-line.json"


def computed_totals(lines: list[dict[str, Any]], basis: str, method: str) -> dict[str, str]:
    """The totals these lines give by our own model."""
    from invoice_export.domain.documents import Line, PriceBasis, VatCalculation, compute_totals
    totals = compute_totals([Line.model_validate(line) for line in lines], PriceBasis(basis), VatCalculation(method))
    return {"net": str(totals.net), "vat": str(totals.vat), "gross": str(totals.gross)}


def valid_cui() -> str:
    """A fresh valid Romanian CUI: 8 random digits and their check digit (key 753217532)."""
    import secrets

    body = f"{secrets.randbelow(9_000_000) + 1_000_000:08d}"
    total = sum(int(d) * w for d, w in zip(body.rjust(9, "0"), (7, 5, 3, 2, 1, 7, 5, 3, 2), strict=True))
    return body + str(total * 10 % 11 % 10)


class SharedTime:
    """One clock for a provider fake and our rate limiter, moved only by the limiter's waits."""

    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def rate_limits_table() -> Any:
    """The shared limiter's DynamoDB table, in moto (inside the `aws_in_process` fixture)."""
    import boto3

    return boto3.resource("dynamodb").create_table(
        TableName="RateLimits", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "scope", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "scope", "KeyType": "HASH"}])


# A Romanian invoice's lines one of which no 4-place unit price states exactly: 1234.5 x 1.23 less 12.5 %
# = 1328.63 (one step of a 4-place price moves 1234.5 of them by 0.12): Oblio and SmartBill get it folded.
ROMANIAN_FOLDED_LINES = [
    {"line_id": "l1", "name": "Cană ceramică 300 ml", "sku": "MUG-300", "quantity": "1234.5", "unit": "buc",
     "unit_price": "1.23", "vat": "21", "discount_percent": "12.5"},
    {"line_id": "l2", "name": "Ceai verde 100 g", "sku": "TEA-100", "quantity": "3", "unit": "buc",
     "unit_price": "24.50", "vat": "11"},
    {"line_id": "ship", "name": "Livrare prin curier", "quantity": "1", "unit": "buc", "unit_price": "19.99",
     "vat": "21", "is_shipping": True},
]


def invoice_and_storno_changes(lines: list[dict[str, Any]], basis: str = "gross",
                               method: str = "per_line") -> tuple[dict[str, Any], dict[str, Any]]:
    """The document changes of an invoice with these lines, and of the full reversal of it (ro/05-storno)."""
    totals = computed_totals(lines, basis, method)
    negated = {name: str(-Decimal(value)) for name, value in totals.items()}
    storno = load_example("ro/05-storno.json")["document"]["correction"]
    return ({"lines": lines, "totals": totals},
            {"correction": {**storno, "lines_before": lines}, "totals": negated})
