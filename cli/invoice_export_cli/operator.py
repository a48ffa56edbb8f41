"""Operator-only actions, done with the operator's own AWS credentials (never through the API):
the principal -> tenant mapping, replaying the export DLQ, and registering the numbers documents
sent before the duplicate-number guard hold.

Where the stack's resources are: `--stack NAME` reads the CloudFormation outputs; otherwise the
environment (TENANTS_TABLE, EXPORT_QUEUE_URL, EXPORT_DLQ_URL, ...), as the local stack sets it.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

# Stack output -> environment variable of the same resource.
OUTPUTS = {
    "ConfigApiUrl": "INVOICE_EXPORT_API_URL",
    "TenantsTableName": "TENANTS_TABLE",
    "ExportQueueUrl": "EXPORT_QUEUE_URL",
    "ExportDLQUrl": "EXPORT_DLQ_URL",
    "AccountsTableName": "ACCOUNTS_TABLE",
    "DocumentsTableName": "DOCUMENTS_TABLE",
    "OwnNumbersTableName": "NUMBERS_TABLE",
    "BulkRunsTableName": "BULK_RUNS_TABLE",
    "AuditTableName": "AUDIT_TABLE",
    "PdfBucketName": "PDF_BUCKET",
}


class MissingResource(Exception):
    pass


@dataclass
class StackResources:
    values: dict[str, str]

    @classmethod
    def find(cls, session: boto3.session.Session, stack: str | None) -> StackResources:
        values = {name: os.environ[name] for name in OUTPUTS.values() if os.environ.get(name)}
        if stack:
            described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
            for output in described.get("Outputs", []):
                if output["OutputKey"] in OUTPUTS:
                    values[OUTPUTS[output["OutputKey"]]] = output["OutputValue"]
        return cls(values)

    def get(self, name: str) -> str:
        if name not in self.values:
            raise MissingResource(f"{name} is unknown: pass --stack <stack name> or set {name}")
        return self.values[name]


# ---------------------------------------------------------------- tenants


def map_principal(session: boto3.session.Session, table: str, principal_arn: str, tenant_id: str) -> dict[str, str]:
    item = {"principal_arn": principal_arn, "tenant_id": tenant_id,
            "mapped_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
    session.resource("dynamodb").Table(table).put_item(Item=item)
    return item


def unmap_principal(session: boto3.session.Session, table: str, principal_arn: str) -> bool:
    answer = session.resource("dynamodb").Table(table).delete_item(Key={"principal_arn": principal_arn},
                                                                 ReturnValues="ALL_OLD")
    return "Attributes" in answer


def list_mappings(session: boto3.session.Session, table: str, tenant_id: str | None) -> list[dict[str, str]]:
    paginator = session.client("dynamodb").get_paginator("scan")
    items = [
        {key: value["S"] for key, value in item.items()}
        for page in paginator.paginate(TableName=table) for item in page.get("Items", [])
    ]
    return sorted((i for i in items if tenant_id is None or i["tenant_id"] == tenant_id),
                  key=lambda i: (i["tenant_id"], i["principal_arn"]))


# ---------------------------------------------------------------- accounts


def assign_tenant(session: boto3.session.Session, resources: StackResources, account_id: str,
                  tenant_id: str) -> Any:
    """Give an account connected before tenants existed (or moved between tenants) its tenant."""
    from invoice_export.storage.accounts import AccountStore

    prefix = os.environ.get("CREDENTIALS_SECRET_PREFIX", "invoice-export/accounts/")
    accounts = AccountStore(session.resource("dynamodb").Table(resources.get("ACCOUNTS_TABLE")),
                            session.client("secretsmanager"), prefix)
    settings = accounts.get(account_id)
    if settings is None:
        raise MissingResource(f"account {account_id} is not connected")
    updated = settings.model_copy(update={"tenant_id": tenant_id})
    accounts.put(updated)
    return updated


# ---------------------------------------------------------------- tenant data


def delete_tenant_data(session: boto3.session.Session, resources: StackResources, tenant_id: str,
                       dry_run: bool) -> Any:
    """The layer's deletion (invoice_export.retention), on the stack's tables, bucket and secrets."""
    from invoice_export.services.retention import delete_tenant_data as delete
    from invoice_export.storage.accounts import AccountStore
    from invoice_export.storage.audit import AuditTrail
    from invoice_export.storage.bulk_runs import BulkRunStore
    from invoice_export.storage.documents import DocumentStore
    from invoice_export.storage.own_numbers import OwnNumberStore
    from invoice_export.storage.tenants import TenantStore

    dynamodb = session.resource("dynamodb")

    def table(name: str) -> Any:
        return dynamodb.Table(resources.get(name))

    prefix = os.environ.get("CREDENTIALS_SECRET_PREFIX", "invoice-export/accounts/")
    # A stack deployed before the numbers table has none to delete from.
    numbers = OwnNumberStore(table("NUMBERS_TABLE")) if "NUMBERS_TABLE" in resources.values else None
    return delete(tenant_id, accounts=AccountStore(table("ACCOUNTS_TABLE"), session.client("secretsmanager"), prefix),
                  documents=DocumentStore(table("DOCUMENTS_TABLE"), numbers), audit=AuditTrail(table("AUDIT_TABLE"), 1),
                  runs=BulkRunStore(table("BULK_RUNS_TABLE"), 1), tenants=TenantStore(table("TENANTS_TABLE")),
                  s3=session.client("s3"), bucket=resources.get("PDF_BUCKET"), dry_run=dry_run)


# ---------------------------------------------------------------- numbers in use


def backfill_numbers(session: boto3.session.Session, resources: StackResources, account_id: str | None,
                     dry_run: bool) -> Any:
    """The layer's one-off registration (invoice_export.services.own_numbers), on the stack's tables."""
    from invoice_export.services.own_numbers import register_used_numbers
    from invoice_export.storage.accounts import AccountStore
    from invoice_export.storage.documents import DocumentStore
    from invoice_export.storage.own_numbers import OwnNumberStore

    dynamodb = session.resource("dynamodb")
    prefix = os.environ.get("CREDENTIALS_SECRET_PREFIX", "invoice-export/accounts/")
    accounts = AccountStore(dynamodb.Table(resources.get("ACCOUNTS_TABLE")), session.client("secretsmanager"), prefix)
    documents = DocumentStore(dynamodb.Table(resources.get("DOCUMENTS_TABLE")),
                              OwnNumberStore(dynamodb.Table(resources.get("NUMBERS_TABLE"))))
    try:
        return register_used_numbers(accounts=accounts, documents=documents, account_id=account_id, dry_run=dry_run)
    except LookupError as missing:
        raise MissingResource(str(missing)) from None


# ---------------------------------------------------------------- DLQ replay


@dataclass
class Replay:
    replayed: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)


def replay_dlq(sqs: Any, dlq_url: str, queue_url: str, *, limit: int, dry_run: bool) -> Replay:
    """Move messages from the export DLQ back to the export queue, each with its group and a new
    de-duplication id (FIFO would drop a re-send under the old one within 5 minutes).

    SQS's own redrive (StartMessageMoveTask) moves messages blindly; this names each document it
    moves, and sends before it deletes, so a failure leaves the message in the DLQ, never lost.
    The export service makes a replayed message safe: an exported document is not sent again.
    """
    result = Replay()
    seen: set[str] = set()
    peeked: list[str] = []  # receipt handles of a dry run's messages, released at the end
    while len(result.replayed) + len(result.kept) < limit:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=min(10, limit), WaitTimeSeconds=1,
                                       VisibilityTimeout=60, AttributeNames=["All"]).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            entry = describe(message)
            if dry_run:
                result.kept.append(entry)
                peeked.append(message["ReceiptHandle"])
                continue
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"],
                             MessageGroupId=message["Attributes"].get("MessageGroupId", entry["account_id"] or "dlq"),
                             MessageDeduplicationId=f"replay-{uuid.uuid4().hex}")
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            result.replayed.append(entry)
    for handle in peeked:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return result


def describe(message: dict[str, Any]) -> dict[str, Any]:
    """Which account and document a message is about (ids only: bodies hold buyer data)."""
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = {}
    document = body.get("document") if isinstance(body, dict) else None
    return {
        "message_id": message["MessageId"],
        "account_id": body.get("account_id") if isinstance(body, dict) else None,
        "document_id": document.get("document_id") if isinstance(document, dict) else None,
        "receive_count": int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
    }
