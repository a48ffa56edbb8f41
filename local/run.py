"""`make run`: the whole export flow on this machine, end to end, then a check of what came out.

1. starts the strict fake Fakturownia and the local stack (moto + every template resource);
2. connects the sample account `demo-shop` the way the configuration API will: credentials into
   Secrets Manager, settings into the accounts table, series links chosen from the provider's list;
3. puts every document of examples/documents/ on the FIFO export queue, as a producer would;
4. runs the Lambda handlers against the queues like Lambda's event source (batches, partial
   failures, visibility timeouts, DLQ) until everything settled;
5. prints each document's status, provider number and customer link (or error and fix), opens
   one link and checks the PDF it leads to carries the provider's number.

Exits 1 if any document did not end as `EXPECTED` says, or the link check failed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
for folder in ("layers/common", "functions/export", "functions/fetch_pdf"):
    sys.path.insert(0, str(ROOT / folder))

from local.fakes.fakturownia import FakturowniaFake  # noqa: E402
from local.stack import LocalStack  # noqa: E402

ACCOUNT_FILE = ROOT / "examples" / "account-demo-shop.json"
DOCUMENTS = ROOT / "examples" / "documents"

# How each sample ends: the unlinked series is there to show a clear, fixable failure.
EXPECTED = {
    "INV-2026-11-0004": ("failed", "series_not_linked"),
}
DEFAULT_EXPECTATION = ("exported", None)


def connect_sample_account(fake: FakturowniaFake) -> dict[str, Any]:
    """Create the account at the fake provider and connect it here; returns the settings stored."""
    from invoice_export.providers import build_adapter
    from invoice_export.runtime import get_runtime
    from invoice_export.settings import AccountSettings

    token = secrets.token_hex(20)  # generated per run: no credential is ever committed
    fake.add_account(token, prefix="demo-shop")
    fake.add_department(token, "Sklep internetowy", "5252445767")
    fake.add_product(token, "Kubek ceramiczny 300 ml", "MUG-300", "29.99", 23, stock_level=100)

    settings = json.loads(ACCOUNT_FILE.read_text(encoding="utf-8"))
    settings["api_url"] = fake.base_url
    # Series are linked to provider departments by name here, the way a merchant picks them from
    # the provider's list in the configuration screen.
    draft = AccountSettings.model_validate({**settings, "series_links": {}})
    adapter = build_adapter(draft, {"api_token": token})
    adapter.check_credentials()
    departments = {option.name: option.id for option in adapter.list_series()}
    settings["series_links"] = {
        series: departments[link.removeprefix("department:")] if link else None
        for series, link in settings["series_links"].items()
    }
    runtime = get_runtime()
    runtime.accounts.save_credentials(draft.account_id, {"api_token": token})
    runtime.accounts.put(AccountSettings.model_validate(settings))
    return settings


def send_examples(stack: LocalStack) -> list[dict[str, Any]]:
    messages = []
    for path in sorted(DOCUMENTS.glob("*.json")):
        message = json.loads(path.read_text(encoding="utf-8"))
        document = message["document"]
        stack.send("ExportQueue", path.read_text(encoding="utf-8"), group_id=message["account_id"],
                   dedup_id=f"{document['document_id']}-v{document['version']}")
        messages.append(message)
    return messages


def report(messages: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[str]:
    """Print one line per document; return what did not go as expected."""
    outcomes = {e["detail"]["document_id"]: e["detail"] for e in events
                if not e["detail"]["outcome"].startswith("ksef_")}
    ksef = {e["detail"]["document_id"]: e["detail"].get("ksef_number") or e["detail"]["outcome"] for e in events
            if e["detail"]["outcome"].startswith("ksef_")}
    problems = []
    print(f"\n{'document':<20} {'kind':<11} {'outcome':<10} {'provider number':<22} {'KSeF number':<36} link / error")
    print("-" * 150)
    for message in messages:
        document_id = message["document"]["document_id"]
        outcome = outcomes.get(document_id, {})
        status = outcome.get("outcome", "NO EVENT")
        detail = outcome.get("customer_link") or ""
        if outcome.get("error"):
            detail = f"{outcome['error']['code']}: {outcome['error']['message']} -> fix: {outcome['error']['fix']}"
        print(f"{document_id:<20} {message['document']['kind']:<11} {status:<10} "
              f"{outcome.get('provider_number') or '-':<22} {ksef.get(document_id) or '-':<36} {detail}")
        expected_status, expected_code = EXPECTED.get(document_id, DEFAULT_EXPECTATION)
        code = (outcome.get("error") or {}).get("code")
        if status != expected_status or code != expected_code:
            problems.append(f"{document_id}: expected {expected_status} {expected_code or ''}, "
                            f"got {status} {code or ''}")
    return problems


def check_link(events: list[dict[str, Any]]) -> list[str]:
    """Open one customer link like a mail client would and check the PDF behind it."""
    exported = [e["detail"] for e in events
                if e["detail"]["outcome"] == "exported" and e["detail"].get("customer_link")]
    if not exported:
        return ["no exported document carried a customer link"]
    detail = exported[0]
    answer = requests.get(detail["customer_link"], allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        return [f"the link answered {answer.status_code} instead of a redirect"]
    pdf = requests.get(answer.headers["Location"], timeout=10)
    number = detail["provider_number"]
    ok = pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and number.encode() in pdf.content
    print(f"\nopened the link of {detail['document_id']}: HTTP 302 -> PDF of {len(pdf.content)} bytes, "
          f"{'carries' if ok else 'does NOT carry'} number {number}")
    return [] if ok else [f"the PDF behind the link of {detail['document_id']} does not show {number}"]


def main() -> int:
    verbose = "--verbose" in sys.argv  # the handlers' JSON logs, as CloudWatch would get them
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with FakturowniaFake() as fake, LocalStack() as stack:
        from invoice_export.runtime import reset_runtime

        # The stack applies the template's POWERTOOLS_LOG_LEVEL (INFO); the demo shows a table instead.
        os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if verbose else "WARNING"
        for name in list(logging.root.manager.loggerDict):
            if name.startswith(os.environ.get("POWERTOOLS_SERVICE_NAME", "invoice-export")):
                logging.getLogger(name).setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "false" if verbose else "true"
        os.environ["KSEF_POLL_BASE_DELAY_SECONDS"] = "1"  # the fake's KSeF answers at once: no need to wait 20 s
        reset_runtime()
        print(f"moto at {stack.endpoint_url}, fake Fakturownia at {fake.base_url}, links at {stack.gateway_url}")
        settings = connect_sample_account(fake)
        print(f"connected account {settings['account_id']} (series links: {settings['series_links']})")
        messages = send_examples(stack)
        print(f"sent {len(messages)} documents to ExportQueue; running the handlers...")
        stack.run_until_idle(timeout=120)
        events = stack.outcome_events()
        problems = report(messages, events)
        problems += check_link(events)
        dead_letters = stack.dlq_messages("ExportQueue")
        if dead_letters:
            problems.append(f"{len(dead_letters)} message(s) in the export DLQ")
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems))
        return 1
    print("\nOK: every document ended as expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
