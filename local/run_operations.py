"""`make run`, operations part: a bulk-mode account driven with the operator CLI through the local stack.

    problems = demo_operations(stack, fake)   # with a started LocalStack and FakturowniaFake

1. maps a demo principal to a tenant and connects `demo-bulk` with the CLI (its credentials are
   checked at the fake provider through the configuration API), in bulk mode;
2. the order system issues four documents: held as pending, nothing sent;
3. `invoice-export bulk demo-bulk --dry-run`: each document checked, one with a problem and its fix;
4. `invoice-export bulk demo-bulk`: queued, exported (progress bar), summary;
5. `invoice-export reconcile demo-bulk`: our records against the provider's list.

Returns what did not go as expected (empty when all did), like local/run.py's checks.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

from local.fakes.fakturownia import FakturowniaFake
from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "demo-bulk"
TENANT = "demo-tenant"
PRINCIPAL = "arn:aws:iam::123456789012:user/demo-operator"
EXAMPLES = ["01-invoice-company.json", "03-invoice-exempt-person.json", "04-invoice-eur.json",
            "06-series-not-linked.json"]
PERIOD = ["--from", "2026-11-01", "--to", "2026-11-30"]


def demo_operations(stack: LocalStack, fake: FakturowniaFake) -> list[str]:
    from invoice_export.platform.runtime import reset_runtime
    from invoice_export_cli.main import main

    # The fake provider lives at http://127.0.0.1: allowed here as the account's own API URL
    # (the template's AllowCustomProviderUrls, off for real deployments).
    previous = os.environ.get("ALLOW_CUSTOM_PROVIDER_URLS")
    os.environ["ALLOW_CUSTOM_PROVIDER_URLS"] = "true"
    reset_runtime()
    common = ["--api-url", f"{stack.gateway_url}/v1", "--local-caller", PRINCIPAL]
    problems: list[str] = []

    def cli(*args: str, show: bool = True) -> tuple[int, str]:
        out = io.StringIO()
        code = main([*common, *args], out=out)
        if show:
            print(f"\n$ invoice-export {' '.join(args)}\n{out.getvalue().rstrip()}")
        if code != 0:
            problems.append(f"`invoice-export {' '.join(args)}` exited {code}")
        return code, out.getvalue()

    try:
        token = secrets.token_hex(20)
        fake.add_account(token, prefix=ACCOUNT)
        department = fake.add_department(token, "Sklep hurtowy", "5252445767")
        print(f"\n=== operations: account {ACCOUNT} in bulk mode, driven by the operator CLI ===")
        cli("tenants", "map", PRINCIPAL, TENANT)
        with tempfile.TemporaryDirectory() as folder:
            key_file = Path(folder) / "key.json"
            key_file.write_text(json.dumps({"api_token": token}), encoding="utf-8")
            cli("connect", ACCOUNT, "--provider", "fakturownia", "--credentials-file", str(key_file),
                "--provider-api-url", fake.base_url)
        cli("settings", ACCOUNT, "--export-mode", "bulk", "--series-link", f"FV={department}",
            "--series-link", f"FV-EXPORT={department}", "--payment-link", "Przelew=transfer",
            "--payment-link", "Karta=card")

        for name in EXAMPLES:
            message = json.loads((ROOT / "examples" / "documents" / name).read_text(encoding="utf-8"))
            message["account_id"] = ACCOUNT
            stack.send("ExportQueue", json.dumps(message), group_id=ACCOUNT)
        stack.run_until_idle(timeout=60)
        stack.outcome_events()  # the pending events; this part reports through the CLI
        print(f"\nthe order system issued {len(EXAMPLES)} documents: held as pending (bulk mode), "
              f"{len(fake.account(token).invoices)} at the provider")

        _, dry_run = cli("bulk", ACCOUNT, "--dry-run")
        if "4 document(s), 3 ready, 1 with problems" not in dry_run:
            problems.append("the dry run did not find 3 ready documents and 1 with a problem")

        stack.start_pollers()  # the export function works while the CLI waits for the run to settle
        try:
            _, summary = cli("bulk", ACCOUNT, "--timeout", "120")
        finally:
            stack.stop_pollers()
        if "3 exported, 1 failed, 0 in doubt, 0 waiting" not in summary:
            problems.append("the bulk export did not end with 3 exported and 1 failed (series not linked)")

        _, report = cli("reconcile", ACCOUNT, *PERIOD)
        if "3 exported here, 3 listed there, 3 matching" not in report:
            problems.append("the reconciliation did not find the 3 exported documents at the provider")
        stack.outcome_events()
    finally:
        if previous is None:
            os.environ.pop("ALLOW_CUSTOM_PROVIDER_URLS", None)
        else:
            os.environ["ALLOW_CUSTOM_PROVIDER_URLS"] = previous
        reset_runtime()
    return problems


if __name__ == "__main__":  # on its own: python -m local.run_operations
    import logging

    logging.basicConfig(level=logging.WARNING)
    with FakturowniaFake() as demo_fake, LocalStack() as demo_stack:
        logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"]).setLevel(logging.WARNING)  # the CLI speaks
        failed = demo_operations(demo_stack, demo_fake)
    print("\nFAILED:\n  " + "\n  ".join(failed) if failed else "\nOK: operations went as expected.")
    sys.exit(1 if failed else 0)
