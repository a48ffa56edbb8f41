"""Deleting a tenant's data on request, run by the operator with the operator's own credentials
(`invoice-export tenant-data delete <tenant>`): no function of the stack may delete any of it.

For every account of the tenant: its document records (our documents and their provider mappings),
the numbers they hold (storage.own_numbers), their audit trails, its bulk runs, every version of its
PDFs, its credentials secret (without a recovery window), the account itself; then the tenant's
principal mappings. The provider's own documents are not touched: they belong to the merchant's
accounting.

What expires by itself, after the deployment's retention (DataRetentionDays): audit entries and
bulk runs (DynamoDB TTL), PDFs (the bucket's lifecycle rule; a customer link past that re-fetches
the PDF from the provider). Document records are kept while the account is: they are what keeps
a late re-send from creating a second document at the provider.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from invoice_export.storage.accounts import AccountStore
from invoice_export.storage.audit import AuditTrail
from invoice_export.storage.bulk_runs import BulkRunStore, delete_partition
from invoice_export.storage.documents import DocumentStore
from invoice_export.storage.pdfs import PdfStore
from invoice_export.storage.tenants import TenantStore


class TenantDeletion(BaseModel):
    tenant_id: str
    dry_run: bool
    accounts: list[str]
    documents: int = 0
    numbers: int = 0
    audit_entries: int = 0
    bulk_run_items: int = 0
    pdf_versions: int = 0
    secrets: int = 0
    principals: list[str] = []


def delete_tenant_data(tenant_id: str, *, accounts: AccountStore, documents: DocumentStore, audit: AuditTrail,
                       runs: BulkRunStore, tenants: TenantStore, s3: Any, bucket: str,
                       dry_run: bool) -> TenantDeletion:
    owned = [a.account_id for a in accounts.list_accounts() if a.tenant_id == tenant_id]
    report = TenantDeletion(tenant_id=tenant_id, dry_run=dry_run, accounts=owned,
                            principals=[m.principal_arn for m in tenants.mappings(tenant_id)])
    for account_id in owned:
        records = documents.account_documents(account_id)
        report.documents += len(records)
        versions = _pdf_versions(s3, bucket, account_id)
        report.pdf_versions += len(versions)
        if dry_run:
            report.audit_entries += sum(len(audit.entries(account_id, r.document_id)) for r in records)
            continue
        for record in records:
            report.audit_entries += audit.delete_document(account_id, record.document_id)
        report.bulk_run_items += runs.delete_account(account_id)
        for start in range(0, len(versions), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[start:start + 1000], "Quiet": True})
        report.secrets += _delete_secret(accounts, account_id)
        if documents.numbers is not None:
            report.numbers += documents.numbers.delete_account(account_id)
        delete_partition(documents.table, "account_id", account_id, sort_key="document_id")
        accounts.table.delete_item(Key={"account_id": account_id})
    if not dry_run:
        for principal in report.principals:
            tenants.unmap(principal)
    return report


def _pdf_versions(s3: Any, bucket: str, account_id: str) -> list[dict[str, str]]:
    prefix = PdfStore.key(account_id, "x").rsplit("/", 1)[0] + "/"
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.append({"Key": item["Key"], "VersionId": item["VersionId"]})
    return found


def _delete_secret(accounts: AccountStore, account_id: str) -> int:
    try:
        accounts.secrets.delete_secret(SecretId=accounts.secret_name(account_id), ForceDeleteWithoutRecovery=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return 0
    return 1
