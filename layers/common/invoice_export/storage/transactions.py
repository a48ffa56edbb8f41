"""Plumbing for DynamoDB transactions (TransactWriteItems) written with boto3's condition objects.

A table resource's client serialises the items and values of a transaction, but not its condition
objects (it would put their placeholders at the request's top level): each part gets its own
expression, names and values here.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from botocore.exceptions import ClientError

# How DynamoDB says why it cancelled a transaction, per part (CancellationReasons[].Code).
CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"  # another transaction or write touched one of its items at the same time


def condition_parts(condition: ConditionBase, names: dict[str, str] | None = None,
                    values: dict[str, Any] | None = None) -> dict[str, Any]:
    """ConditionExpression with its placeholders, merged with the part's own `names` and `values`."""
    built = ConditionExpressionBuilder().build_expression(condition)
    names = {**(names or {}), **built.attribute_name_placeholders}
    values = {**(values or {}), **built.attribute_value_placeholders}
    return {"ConditionExpression": built.condition_expression,
            **({"ExpressionAttributeNames": names} if names else {}),
            **({"ExpressionAttributeValues": values} if values else {})}


def cancellation_reasons(exc: ClientError) -> list[dict[str, Any]]:
    """Why each part of a cancelled transaction was refused ("None" for a part that was not); any
    other error is raised again."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise exc
    return list(exc.response.get("CancellationReasons") or [])
