"""Deleting a tenant's data on request, with the operator CLI against the local stack."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from botocore.exceptions import ClientError

from invoice_export.storage.bulk_runs import BulkFilters
from invoice_export_cli.main import main


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


def test_a_tenants_accounts_documents_audit_pdfs_secrets_and_mappings_are_deleted_and_nothing_else(shop):
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    principal = f"arn:aws:iam::123456789012:user/{tenant}"
    rt = shop.runtime
    shop.connect(tenant_id=tenant, export_mode="bulk", numbering="ours")  # its number is kept in use too
    rt.tenants.map(principal, tenant)
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    run = rt.bulk_exporter.start(shop.account_id, BulkFilters(), requested_by=principal)
    rt.bulk_exporter.resume(shop.account_id, run.run_id, lambda: 100.0)
    shop.run()
    assert shop.record("INV-2026-11-0001").pdf is not None
    bystander = shop.account_id + "-other"  # another tenant's account stays
    mine = rt.accounts.get(shop.account_id)
    rt.accounts.put(mine.model_copy(update={"account_id": bystander, "tenant_id": "someone-else"}))

    code, _, err = run_cli("tenant-data", "delete", tenant)
    assert code == 1 and "--dry-run" in err and "--yes" in err

    code, out, _ = run_cli("--json", "tenant-data", "delete", tenant, "--dry-run")
    counted = json.loads(out)
    assert counted["accounts"] == [shop.account_id] and counted["documents"] == 1
    assert counted["audit_entries"] == 3 and counted["pdf_versions"] == 1  # queued, sent, pdf_stored
    assert counted["principals"] == [principal]
    assert rt.accounts.get(shop.account_id) is not None  # a dry run deletes nothing

    code, out, err = run_cli("tenant-data", "delete", tenant, "--yes")
    assert code == 0, err
    assert f"tenant {tenant}: deleted 1 account(s) ({shop.account_id}), 1 document record(s)" in out

    assert rt.accounts.get(shop.account_id) is None
    assert rt.documents.account_documents(shop.account_id) == []
    assert "1 number(s) in use" in out and rt.documents.numbers.account_numbers(shop.account_id) == []
    assert rt.audit.entries(shop.account_id, "INV-2026-11-0001") == []
    assert rt.bulk_runs.list_runs(shop.account_id) == []
    assert rt.tenants.tenant_of(principal) is None
    s3 = shop.stack.client("s3")
    listed = s3.list_object_versions(Bucket=shop.stack.ref("PdfBucket"), Prefix=f"pdf/{shop.account_id}/")
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        shop.stack.client("secretsmanager").get_secret_value(SecretId=rt.accounts.secret_name(shop.account_id))
    assert rt.accounts.get(bystander).tenant_id == "someone-else"
    assert shop.provider_documents("INV-2026-11-0001")  # the merchant's accounting is not ours to delete
