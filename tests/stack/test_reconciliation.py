"""Reconciliation against the fake Fakturownia, through the configuration API and the CLI."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from invoice_export_cli.main import main

pytestmark = pytest.mark.usefixtures("custom_provider_urls")


def test_reconciliation_finds_a_missing_a_changed_and_an_extra_document(shop):
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    principal = f"arn:aws:iam::123456789012:user/{tenant}"
    shop.connect(tenant_id=tenant)
    shop.runtime.tenants.map(principal, tenant)
    for example in ("01-invoice-company.json", "03-invoice-exempt-person.json", "04-invoice-eur.json"):
        shop.send(shop.message(example))
    shop.run()
    provider = shop.fake.account(shop.token)
    # In Fakturownia, the merchant deletes one invoice, edits another, and issues one by hand.
    provider.delete_invoice(int(shop.record("INV-2026-11-0002").provider_document_id))
    number = shop.record("INV-2026-11-0001").provider_number
    [edited] = shop.provider_documents("INV-2026-11-0001")
    edited["number"], edited["price_gross"] = "FV 99/11/2026", "1.00"
    provider.invoices.append({**edited, "id": 999001, "oid": None, "number": "FV R/1/2026"})

    out, err = io.StringIO(), io.StringIO()
    common = ["--api-url", f"{shop.stack.gateway_url}/v1", "--local-caller", principal]
    period = ["--from", "2026-11-01", "--to", "2026-11-30"]
    assert main([*common, "reconcile", shop.account_id, *period], out=out, err=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "3 exported here, 3 listed there, 1 matching" in text
    assert "MISSING at the provider: INV-2026-11-0002" in text
    assert "EXTRA at the provider: FV R/1/2026" in text and "not made by this service" in text
    assert (f"DIFFERENT: INV-2026-11-0001: number ours {number}, provider FV 99/11/2026; gross ours 130.47, "
            "provider 1.00") in text

    out = io.StringIO()
    assert main([*common, "--json", "reconcile", shop.account_id, *period], out=out, err=err) == 0
    report = json.loads(out.getvalue())
    assert [d["document_id"] for d in report["missing"]] == ["INV-2026-11-0002"]
    assert [e["provider_document_id"] for e in report["extra"]] == ["999001"]
    assert {d["field"] for d in report["different"][0]["differences"]} == {"number", "gross"}

    out = io.StringIO()
    assert main([*common, "reconcile", shop.account_id, "--from", "2026-12-01", "--to", "2026-12-31"],
                out=out, err=err) == 0
    assert "everything matches" in out.getvalue()
