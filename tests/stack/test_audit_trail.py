"""A document's audit trail: who or what acted, with which settings version, no personal data stored."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from invoice_export.storage.bulk_runs import BulkFilters
from invoice_export_cli.main import main

pytestmark = pytest.mark.usefixtures("custom_provider_urls")


def test_each_action_is_audited_with_actor_settings_version_and_redacted_request(shop):
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    principal = f"arn:aws:iam::123456789012:user/{tenant}"
    shop.connect(tenant_id=tenant, export_mode="bulk", settings_version=7)
    shop.runtime.tenants.map(principal, tenant)
    failing = shop.message("06-series-not-linked.json")
    shop.send(shop.message("01-invoice-company.json"))
    shop.send(failing)
    shop.run()
    exporter = shop.runtime.bulk_exporter
    run = exporter.start(shop.account_id, BulkFilters(include_failed=True), requested_by=principal)
    exporter.resume(shop.account_id, run.run_id, lambda: 100.0)
    shop.run()

    common = ["--api-url", f"{shop.stack.gateway_url}/v1", "--local-caller", principal]
    assert main([*common, "retry", shop.account_id, "INV-2026-11-0004"], out=io.StringIO()) == 0
    shop.run()

    out = io.StringIO()
    assert main([*common, "--json", "audit", shop.account_id, "INV-2026-11-0001"], out=out) == 0
    sent = json.loads(out.getvalue())
    assert [(e["action"], e["actor"]) for e in sent] == [
        ("queued", f"bulk run {run.run_id} requested by {principal}"), ("sent", "bulk export"),
        ("pdf_stored", "PDF fetch")]
    assert sent[1]["settings_version"] == 7 and sent[1]["trigger"] == "bulk"
    assert sent[1]["request"]["invoice"]["oid"] == "INV-2026-11-0001"
    assert sent[1]["request"]["invoice"]["buyer_name"] == "<redacted>"
    assert sent[1]["response"]["provider_document_id"] == shop.record("INV-2026-11-0001").provider_document_id
    assert sent[2]["response"]["sha256"] == shop.record("INV-2026-11-0001").pdf.sha256

    out = io.StringIO()
    assert main([*common, "audit", shop.account_id, "INV-2026-11-0004"], out=out) == 0
    text = out.getvalue()
    assert "failed" in text and "retry_requested  by " + principal in text and "[series_not_linked]" in text

    # Nothing of the buyer is stored in the audit table.
    stored = shop.stack.client("dynamodb").scan(TableName=shop.stack.ref("AuditTable"))["Items"]
    buyer = failing["document"]["buyer"]
    assert stored and not any(buyer["name"] in json.dumps(item, ensure_ascii=False) for item in stored)
