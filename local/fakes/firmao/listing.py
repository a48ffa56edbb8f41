"""GET lists: README §4 paging (start, limit, totalSize), sorting (sort, dir) and `field(op)=value` filters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .model import FirmaoError, invalid

FILTER_KEY = re.compile(r"(?P<field>[A-Za-z][\w.]*)\((?P<op>[A-Za-z]+)\)")
ORDERING_OPS = {  # README: "tylko dla pól liczbowych i dat"
    "gt": lambda a, b: a > b, "ngt": lambda a, b: not a > b, "ge": lambda a, b: a >= b,
    "nge": lambda a, b: not a >= b, "lt": lambda a, b: a < b, "nlt": lambda a, b: not a < b,
    "le": lambda a, b: a <= b, "nle": lambda a, b: not a <= b,
}
OPERATORS = frozenset({"contains", "notContains", "eq", "ne", "in", "notin", *ORDERING_OPS})
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Filters the README shows (id, customer, name, transaction) and those the generic mechanism implies for
# dates and enums (README: ordering operators "only for numbers and dates"). Every other field - the
# number, a custom field, a product code - is UNDOCUMENTED and obeys FirmaoFake(undocumented_filters=...).
DOCUMENTED_FILTERS = frozenset({"id", "customer", "name", "transaction", "type", "mode", "transactionDate",
                                "invoiceDate", "paymentDate"})
# ASSUMPTION: the default page size is 50 and a limit above the maximum is cut down to it (source: README
# §4 examples all send limit=50; the maximum "depends on the licence": FirmaoFake(max_limit=...)).
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class ListRules:
    honour_undocumented: bool
    max_limit: int
    total_size_unknown: bool  # README: totalSize -1 means "at least `limit` results"


def list_answer(rows: list[dict[str, Any]], query: dict[str, str], rules: ListRules,
                default_sort: tuple[str, str]) -> dict[str, Any]:
    """The README's list envelope {"data", "dir", "sort", "totalSize"} for the matching rows."""
    start, limit = _paging(query, rules.max_limit)
    selected = [row for row in rows if all(test(row) for test in _filters(query, rows, rules))]
    sort = query.get("sort", default_sort[0])
    direction = query.get("dir", "ASC" if "sort" in query else default_sort[1])
    if direction not in ("ASC", "DESC"):
        raise invalid("dir", direction, "ASC or DESC")
    if selected and sort not in selected[0]:
        raise invalid("sort", sort, "a field of the listed objects")
    present = [row for row in selected if _sort_value(row.get(sort)) is not None]
    absent = [row for row in selected if _sort_value(row.get(sort)) is None]
    present.sort(key=lambda row: (_sort_value(row[sort]), row["id"]), reverse=direction == "DESC")
    ordered = present + absent  # ASSUMPTION: empty values last in either direction (source: none)
    page = ordered[start:start + limit]
    total = -1 if rules.total_size_unknown and len(ordered) >= start + limit else len(ordered)
    return {"data": page, "dir": direction, "sort": sort, "totalSize": total}


def _paging(query: dict[str, str], max_limit: int) -> tuple[int, int]:
    values = {}
    for name, default, lowest in (("start", 0, 0), ("limit", DEFAULT_LIMIT, 1)):
        raw = query.get(name, str(default))
        if not re.fullmatch(r"\d+", raw) or int(raw) < lowest:
            raise invalid(name, raw, f"an integer >= {lowest}")
        values[name] = int(raw)
    return values["start"], min(values["limit"], max_limit)


def _filters(query: dict[str, str], rows: list[dict[str, Any]],
             rules: ListRules) -> list[Callable[[dict[str, Any]], bool]]:
    """ASSUMPTIONS: a parameter that is not of the form field(op) and not a paging/sort one is ignored; an
    unknown operator is refused (400); with undocumented filters honoured, a field that none of the
    objects has is refused (400 invalidFilter), ignored otherwise (source: README §4 "nie wszystkie pola
    każdego obiektu obsługują wszystkie typy filtrowania" says no more)."""
    tests = []
    for key, value in query.items():
        match = FILTER_KEY.fullmatch(key)
        if match is None:
            continue
        name, op = match["field"], match["op"]
        if op not in OPERATORS:
            raise FirmaoError(400, "invalidFilter", field=key, rejected=value, info={"operators": sorted(OPERATORS)})
        if name not in DOCUMENTED_FILTERS and not rules.honour_undocumented:
            continue
        if rows and all(_field(row, name) is _MISSING for row in rows):
            raise FirmaoError(400, "invalidFilter", field=key, rejected=value)
        tests.append(_test(key, name, op, value))
    return tests


_MISSING = object()


def _field(row: dict[str, Any], name: str) -> Any:
    """A dotted field ("customFields.custom5"); a reference object ({"id": 50, "label": ...}) as its id."""
    value: Any = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None if value is None else _MISSING
        value = value[part]
    return value["id"] if isinstance(value, dict) and "id" in value else value


def _test(key: str, name: str, op: str, wanted: str) -> Callable[[dict[str, Any]], bool]:
    def matches(row: dict[str, Any]) -> bool:
        actual = _field(row, name)
        if actual is None or actual is _MISSING:
            return op in ("ne", "notin", "notContains")
        if isinstance(actual, bool):
            actual = str(actual).lower()
        if op in ("contains", "notContains"):  # README: name(contains)=przy finds "Przykładowy"
            found = any(part.lower() in str(actual).lower() for part in wanted.split(";"))
            return found if op == "contains" else not found
        if op in ("in", "notin"):
            found = any(_equal(actual, part, key) for part in wanted.split(";"))
            return found if op == "in" else not found
        if op in ("eq", "ne"):
            return _equal(actual, wanted, key) == (op == "eq")
        if isinstance(actual, (int, Decimal)):
            return ORDERING_OPS[op](Decimal(actual), _number(wanted, key))
        if isinstance(actual, str) and DATE.fullmatch(actual) and DATE.fullmatch(wanted):
            return ORDERING_OPS[op](actual, wanted)
        raise invalid(key, wanted, "ordering operators only on numbers and dates")
    return matches


def _equal(actual: Any, wanted: str, key: str) -> bool:
    if isinstance(actual, (int, Decimal)):
        return Decimal(actual) == _number(wanted, key)
    return str(actual) == wanted


def _number(text: str, key: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise invalid(key, text, "a number") from None


def _sort_value(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("id")
    return str(value) if isinstance(value, bool) else value
