"""local.moto_fixes: moto with the local stack's fixes still behaves as DynamoDB does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_fixes


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-central-1")
        client.create_table(
            TableName="runs", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "account", "KeyType": "HASH"}, {"AttributeName": "item", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "account", "AttributeType": "S"},
                                  {"AttributeName": "item", "AttributeType": "S"}])
        client.create_table(
            TableName="totals", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "account", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "account", "AttributeType": "S"}])
        yield client


def _count(client: Any, table: str, key: dict[str, Any]) -> int | None:
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return None if item is None else int(item["count"]["N"])


RUN = {"account": {"S": "acc"}, "item": {"S": "run"}}
TOTAL = {"account": {"S": "acc"}}


def _add(table: str, key: dict[str, Any]) -> dict[str, Any]:
    return {"Update": {"TableName": table, "Key": key, "UpdateExpression": "ADD #c :one",
                       "ExpressionAttributeNames": {"#c": "count"}, "ExpressionAttributeValues": {":one": {"N": "1"}}}}


def _put_new(table: str, item: str, count: int) -> dict[str, Any]:
    return {"Put": {"TableName": table,
                    "Item": {"account": {"S": "acc"}, "item": {"S": item}, "count": {"N": str(count)}},
                    "ConditionExpression": "attribute_not_exists(#i)", "ExpressionAttributeNames": {"#i": "item"}}}


def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[_put_new("runs", "run", 1), _put_new("runs", "taken", 7),
                                                 _add("totals", TOTAL)])
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[
            _add("runs", RUN), _add("totals", TOTAL), _put_new("runs", "new", 1), _put_new("runs", "taken", 8)])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in refused.value.response["CancellationReasons"]] == [
        "None", "None", "None", "ConditionalCheckFailed"]
    # The updated items (changed in place by moto), the put one and the refused one: all as before.
    assert _count(dynamodb, "runs", RUN) == 1
    assert _count(dynamodb, "totals", TOTAL) == 1
    assert _count(dynamodb, "runs", {"account": {"S": "acc"}, "item": {"S": "new"}}) is None
    assert _count(dynamodb, "runs", {"account": {"S": "acc"}, "item": {"S": "taken"}}) == 7


def test_a_transaction_that_holds_applies_all_of_its_writes(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[_put_new("runs", "run", 1)])
    dynamodb.transact_write_items(TransactItems=[_add("runs", RUN), _add("totals", TOTAL), _put_new("runs", "new", 3)])
    assert _count(dynamodb, "runs", RUN) == 2
    assert _count(dynamodb, "totals", TOTAL) == 1
    assert _count(dynamodb, "runs", {"account": {"S": "acc"}, "item": {"S": "new"}}) == 3
