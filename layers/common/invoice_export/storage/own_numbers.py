"""Our numbers in use at each account's provider: one item per (account, numbering bucket, normalised
number) in the numbers table, naming the document that holds it.

The export writes an item only together with the claim of its holder's document record, in one
DynamoDB transaction (DocumentStore.claim): never read first, so of two documents claiming one
number - in one batch or in two workers - exactly one passes. The transaction's Put is built here;
when a holder has let its number go is a matter of its document record (documents.py).

No function of the stack deletes an item: a number its holder let go is taken over by the next
document, conditionally on the holder's record. Only a tenant's data deletion removes them.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from invoice_export.domain.clock import now_iso
from invoice_export.domain.own_numbers import NumberClaim
from invoice_export.storage.bulk_runs import delete_partition
from invoice_export.storage.paging import all_items
from invoice_export.storage.transactions import condition_parts

NUMBER_KEY = "number_key"
HOLDER = "holder_document_id"


class OwnNumberStore:
    def __init__(self, table: Any) -> None:
        self.table = table  # boto3 DynamoDB Table resource

    def claim_put(self, account_id: str, claim: NumberClaim, document_id: str, *,
                  taking_over_from: str | None) -> dict[str, Any]:
        """The transaction part that gives the number to `document_id`: if it is free or already the
        document's (a new version, a retry), or, `taking_over_from`, if it is still that document's
        (the transaction then also checks that document let it go)."""
        if taking_over_from is None:
            condition = Attr(NUMBER_KEY).not_exists() | Attr(HOLDER).eq(document_id)
        else:
            condition = Attr(HOLDER).eq(taking_over_from)
        return {"Put": {"TableName": self.table.name, "Item": _item(account_id, claim, document_id),
                        **condition_parts(condition), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}

    def register_existing(self, account_id: str, claim: NumberClaim, document_id: str) -> str | None:
        """Record a number a document already holds at the provider (the one-off registration of
        documents exported before numbers were kept). Idempotent; returns the other document holding
        the number, if one does (the item is then left as it is)."""
        try:
            self.table.put_item(Item=_item(account_id, claim, document_id),
                                ConditionExpression=Attr(NUMBER_KEY).not_exists() | Attr(HOLDER).eq(document_id),
                                ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return holder_in(exc.response.get("Item") or {}) or self.holder(account_id, claim.key)

    def holder(self, account_id: str, key: str) -> str | None:
        item = self.table.get_item(Key={"account_id": account_id, NUMBER_KEY: key}, ConsistentRead=True).get("Item")
        return str(item[HOLDER]) if item else None

    def account_numbers(self, account_id: str) -> list[dict[str, Any]]:
        """Every number item of an account (operators, tests)."""
        return all_items(self.table.query, KeyConditionExpression=Key("account_id").eq(account_id),
                         ConsistentRead=True)

    def delete_account(self, account_id: str) -> int:
        """With a tenant's data only (services.retention)."""
        return delete_partition(self.table, "account_id", account_id, sort_key=NUMBER_KEY)


def holder_in(wire_item: dict[str, Any]) -> str | None:
    """The holder named by a number item as a refused write returns it (DynamoDB's wire format)."""
    value = wire_item.get(HOLDER)
    return value.get("S") if isinstance(value, dict) else None


def _item(account_id: str, claim: NumberClaim, document_id: str) -> dict[str, Any]:
    return {"account_id": account_id, NUMBER_KEY: claim.key, HOLDER: document_id, "number": claim.number,
            "claimed_at": now_iso()}
