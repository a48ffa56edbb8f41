"""Issue 13 §1 end to end: a document whose net/VAT the accounting system splits another way is
exported through the queue, with both splits on its record and in its `exported` event; an account
with totals_policy strict still refuses it before anything is sent."""

from __future__ import annotations

import secrets

import pytest
from stack.provider_accounts import wfirma_account

from invoice_export.domain.records import Status
from local.fakes.wfirma import WfirmaFake
from testsupport import GROSS_PER_LINE_EXAMPLE, load_example

# wFirma's appKey belongs to the deployment (template parameter WfirmaAppKey), generated per run.
WFIRMA_APP_KEY = secrets.token_hex(16)
STACK_PARAMETERS = {"WfirmaAppKey": WFIRMA_APP_KEY}
DOCUMENT_ID = load_example(GROSS_PER_LINE_EXAMPLE)["document"]["document_id"]


@pytest.fixture(scope="module")
def wfirma():
    with WfirmaFake(app_key=WFIRMA_APP_KEY, rate_limit=None) as server:
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


def test_a_gross_priced_multi_line_wfirma_invoice_is_exported_with_its_split_warning(stack, wfirma) -> None:
    account, company_id = wfirma_account(stack, wfirma)
    account.export(GROSS_PER_LINE_EXAMPLE)  # VAT per line; wFirma computes it per rate
    [event] = [e for e in account.events if e["document_id"] == DOCUMENT_ID]
    assert event["outcome"] == "exported", event
    invoice = wfirma.company(company_id).invoices[int(event["provider_document_id"])]
    split = event["vat_split"]
    # Both figures: wFirma's, as it stored them (read back), and ours; the amount due is the same.
    assert split["code"] == "vat_split_differs" and split["read_back"] is True
    assert split["gross"] == invoice["total"] == load_example(GROSS_PER_LINE_EXAMPLE)["document"]["totals"]["gross"]
    assert (split["theirs"]["net"], split["theirs"]["vat"]) == (invoice["netto"], invoice["tax"])
    assert (split["ours"]["net"], split["ours"]["vat"]) == ("150.25", "25.03")
    assert split["ours"]["by_rate"]["23"] == {"net": "97.39", "vat": "22.39"}
    assert split["theirs"]["by_rate"]["23"] == {"net": "97.38", "vat": "22.40"}
    [warning] = [w for w in event["warnings"] if w.startswith("vat_split_differs: wFirma")]
    assert invoice["netto"] in warning and "150.25" in warning
    record = account.record(DOCUMENT_ID)
    assert record.status == Status.EXPORTED and record.vat_split == split
    assert record.readback_drift == []  # a split is no drift


def test_a_strict_account_refuses_it_before_sending_with_the_figures(stack, wfirma) -> None:
    account, company_id = wfirma_account(stack, wfirma, totals_policy="strict")
    account.export(GROSS_PER_LINE_EXAMPLE)
    [event] = [e for e in account.events if e["document_id"] == DOCUMENT_ID]
    assert event["outcome"] == "failed" and event["error"]["code"] == "provider_totals_would_differ"
    assert "net 150.24 instead of our 150.25" in event["error"]["message"]
    assert wfirma.company(company_id).invoices == {}  # nothing was sent
