"""Following DynamoDB's pages (LastEvaluatedKey) for the few reads that need every item."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def all_items(operation: Callable[..., dict[str, Any]], **request: Any) -> list[dict[str, Any]]:
    """Every item a Table.query or Table.scan returns for `request`, page after page."""
    items: list[dict[str, Any]] = []
    while True:
        response = operation(**request)
        items += response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
