"""The operator CLI, run in-process against the local stack (API through the local gateway, AWS in moto)."""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest

from invoice_export.domain.records import Status
from invoice_export_cli.main import main
from testsupport import computed_totals

pytestmark = pytest.mark.usefixtures("custom_provider_urls")


class Cli:
    def __init__(self, shop, principal: str) -> None:
        self.shop = shop
        self.principal = principal
        self.common = ["--api-url", f"{shop.stack.gateway_url}/v1", "--local-caller", principal]

    def __call__(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main([*self.common, *args], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def json(self, *args: str) -> object:
        code, out, err = self("--json", *args)
        assert code == 0, err or out
        return json.loads(out)


@pytest.fixture
def cli(shop, tmp_path, monkeypatch):
    """A merchant mapped to a tenant with the CLI, and account `<shop>-cli` connected with it."""
    monkeypatch.setenv("EXPORT_DLQ_URL", shop.stack.queue_url("ExportDLQ"))
    run = Cli(shop, f"arn:aws:iam::123456789012:user/merchant-{uuid.uuid4().hex[:6]}")
    run.account = f"{shop.account_id}-cli"
    code, out, _ = run("tenants", "map", run.principal, f"tenant-{uuid.uuid4().hex[:6]}")
    assert code == 0 and "now acts for tenant" in out
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({"api_token": shop.token}))
    code, out, err = run("connect", run.account, "--provider", "fakturownia", "--credentials-file", str(key_file),
                         "--provider-api-url", shop.fake.base_url)
    assert code == 0, err
    assert "the provider accepted the credentials" in out and shop.token not in out
    code, _, err = run("settings", run.account, "--series-link", f"FV={shop.department}", "--series-link", "PAR=-",
                       "--series-link", f"FV-EXPORT={shop.department}", "--payment-link", "Przelew=transfer")
    assert code == 0, err
    return run


def issue(shop, account_id: str, example: str, **changes) -> str:
    message = shop.message(example, **changes)
    message["account_id"] = account_id
    shop.stack.send("ExportQueue", json.dumps(message), group_id=account_id)
    return message["document"]["document_id"]


def test_tenant_mapping_and_who_am_i(cli):
    code, out, _ = cli("me")
    assert code == 0 and cli.account in out and "acts for tenant" in out
    mappings = cli.json("tenants", "list")
    assert [m["tenant_id"] for m in mappings if m["principal_arn"] == cli.principal] == [
        cli.json("me")["tenant_id"]]
    assert cli("tenants", "unmap", cli.principal)[0] == 0
    code, _, err = cli("me")
    assert code == 1 and "is not mapped to a tenant" in err and f"tenants map {cli.principal}" in err


def test_settings_are_shown_and_a_refused_change_says_what_to_do(cli):
    code, out, _ = cli("settings", cli.account)
    assert code == 0 and f"FV -> {cli.shop.department}" in out and "PAR -> provider default" in out
    code, _, err = cli("settings", cli.account, "--series-link", "broken")
    assert code == 1 and "OURS=THEIRS" in err
    series = cli.json("series", cli.account)
    every_kind = ["invoice", "receipt", "correction"]  # a Fakturownia department takes every kind
    assert {"id": str(cli.shop.department), "name": "Sklep internetowy", "kinds": every_kind} in series


def test_bulk_dry_run_then_bulk_export_with_progress_and_summary(cli):
    shop = cli.shop
    assert cli("settings", cli.account, "--export-mode", "bulk")[0] == 0
    issue(shop, cli.account, "01-invoice-company.json")
    issue(shop, cli.account, "04-invoice-eur.json")
    issue(shop, cli.account, "06-series-not-linked.json")
    shop.run()

    code, out, _ = cli("bulk", cli.account, "--dry-run", "--show-requests")
    assert code == 0
    assert "3 document(s), 2 ready, 1 with problems; nothing was sent" in out
    assert "series_not_linked" in out and "fix: link series 'FV-B2B'" in out
    assert '"oid": "INV-2026-11-0001"' in out
    assert shop.provider_documents() == []

    shop.stack.start_pollers()
    try:
        code, out, err = cli("bulk", cli.account, "--timeout", "60")
    finally:
        shop.stack.stop_pollers()
    assert code == 0, err
    assert "2 exported, 1 failed, 0 in doubt, 0 waiting, 0 skipped" in out
    assert "INV-2026-11-0004" in out and "fix:" in out
    assert "exported [" in err  # the progress bar
    assert len(shop.provider_documents("INV-2026-11-0001")) == 1

    failed = cli.json("list", cli.account, "--status", "failed")
    assert [d["document_id"] for d in failed] == ["INV-2026-11-0004"]
    code, out, _ = cli("status", cli.account, "INV-2026-11-0004")
    assert "failed" in out and "fix:" in out
    code, out, _ = cli("link", cli.account, "INV-2026-11-0001")
    assert code == 0 and "/d/" in out


def test_retry_after_a_fix(cli):
    shop = cli.shop
    document_id = issue(shop, cli.account, "06-series-not-linked.json")
    shop.run()
    code, out, _ = cli("retry", cli.account, document_id)  # before the fix: queued, and fails again
    assert code == 0 and f"{document_id} is queued again" in out
    shop.run()
    assert shop.runtime.documents.get(cli.account, document_id).status == Status.FAILED
    cli("settings", cli.account, "--series-link", f"FV-B2B={shop.department}")
    code, out, _ = cli("retry", cli.account, "--all-failed")
    assert code == 0 and "queued 1 failed document(s) again" in out
    shop.run()
    assert shop.runtime.documents.get(cli.account, document_id).status == Status.EXPORTED
    code, _, err = cli("retry", cli.account, document_id)
    assert code == 1 and "only failed documents are retried" in err


def test_totals_policy_strict_refuses_a_split_and_back_on_adapt_the_retry_sends_it_with_both(cli):
    shop = cli.shop
    # At 20 % a gross of 0.03 holds VAT 0.005: 0.01 by our arithmetic, 0.00 once Fakturownia rounds the
    # net it derives from the gross (0.025 -> 0.03). The same amount due, split otherwise.
    lines = [{"line_id": "l1", "name": "Próbka herbaty", "quantity": "1", "unit_price": "0.03", "vat": "20"}]
    code, out, err = cli("settings", cli.account, "--totals-policy", "strict")
    assert code == 0 and re.search(r"totals_policy\s+strict", out), err or out
    document_id = issue(shop, cli.account, "01-invoice-company.json", lines=lines,
                        totals=computed_totals(lines, "gross", "per_rate"))
    shop.run()
    code, out, _ = cli("status", cli.account, document_id)
    assert "failed" in out and "provider_totals_would_differ" in out and "totals_policy to 'adapt'" in out
    assert re.search(r"totals_policy\s+adapt", cli("settings", cli.account, "--totals-policy", "adapt")[1])
    assert cli("retry", cli.account, document_id)[0] == 0
    shop.run()
    code, out, _ = cli("status", cli.account, document_id)
    assert "exported" in out and "warning: vat_split_differs: Fakturownia" in out
    split = cli.json("status", cli.account, document_id)["vat_split"]
    assert (split["gross"], split["ours"]["vat"], split["theirs"]["vat"], split["read_back"]) == (
        "0.03", "0.01", "0.00", True)


def test_dlq_replay_lists_then_moves_messages_back_and_they_are_exported(cli):
    shop = cli.shop
    message = shop.message("01-invoice-company.json")
    message["account_id"] = cli.account
    shop.stack.send("ExportDLQ", json.dumps(message), group_id=cli.account)

    listed = cli.json("dlq", "replay", "--dry-run")
    assert [(m["account_id"], m["document_id"]) for m in listed["messages"]] == [(cli.account, "INV-2026-11-0001")]
    assert len(shop.stack.dlq_messages("ExportQueue")) == 1  # a dry run moves nothing

    code, out, _ = cli("dlq", "replay")
    assert code == 0 and "replayed 1 message(s)" in out and f"{cli.account}/INV-2026-11-0001" in out
    assert shop.stack.dlq_messages("ExportQueue") == []
    shop.run()
    assert shop.runtime.documents.get(cli.account, "INV-2026-11-0001").status == Status.EXPORTED


def test_an_account_connected_before_tenants_is_given_one_by_the_operator(cli):
    shop = cli.shop  # its own account was connected directly, without a tenant
    code, _, err = cli("settings", shop.account_id)
    assert code == 1 and "not found" in err
    tenant = cli.json("me")["tenant_id"]
    code, out, _ = cli("account-tenant", shop.account_id, tenant)
    assert code == 0 and f"now belongs to tenant {tenant}" in out
    assert cli("settings", shop.account_id)[0] == 0
