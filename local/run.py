"""`make run`: the whole export flow on this machine, end to end, then a check of what came out.

1. starts a strict fake of every accounting system and the local stack (moto + every template
   resource);
2. connects one sample shop per accounting system, the way the configuration API does:
   credentials into Secrets Manager, settings into the accounts table, series links chosen from
   the provider's own list where it has one;
3. puts the documents of examples/documents/ that each system can take on the FIFO export queue,
   as the order system would;
4. runs the Lambda handlers against the queues like Lambda's event source (batches, partial
   failures, visibility timeouts, DLQ) until everything settled;
5. prints each document's outcome, provider number, KSeF number (e-Factura index for the Romanian
   shops: Oblio and SmartBill, RON documents with Romanian buyers) and customer link (or error and
   fix) and its warnings (e.g. vat_split_differs: the accounting system split our gross into net and
   VAT another way), opens one link per shop and checks the PDF it leads to carries the provider's
   number (among them a shop passing its own numbers, whose number used twice is refused);
6. operations with the invoice-export CLI (local/run_operations.py): a bulk-mode account, its dry
   run, the bulk export with progress, and a reconciliation against the provider.

Exits 1 if any document did not end as expected, or a link check failed. `--verbose` shows the
handlers' JSON logs as CloudWatch would get them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from local.fakes.fakturownia import FakturowniaFake
from local.fakes.firmao import FirmaoFake
from local.fakes.ifirma import IfirmaFake
from local.fakes.infakt import InfaktFake
from local.fakes.oblio import OblioFake
from local.fakes.smartbill import SmartBillFake
from local.fakes.wfirma import WfirmaFake
from local.run_operations import demo_operations
from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]

DOCUMENTS = ROOT / "examples" / "documents"
DEMO_SHOP_SETTINGS = ROOT / "examples" / "account-demo-shop.json"
EXPORTED = ("exported", None)


@dataclass
class DemoShop:
    """One sample shop connected to one accounting system (its fake), and what should happen."""

    settings: dict[str, Any]
    credentials: dict[str, str]
    documents: list[str]  # example files this accounting system can take
    expected: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # document id -> outcome, code
    # What to check at the provider once everything settled: (our document id -> its record) -> problems.
    check: Callable[[Callable[[str], Any]], list[str]] | None = None
    # Another document carrying an example's number: its document id -> the example file it copies.
    same_number: dict[str, str] = field(default_factory=dict)
    # document id -> the code a warning of its outcome event must start with (e.g. vat_split_differs)
    expected_warnings: dict[str, str] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.settings["account_id"]


def fakturownia_shop(fake: FakturowniaFake) -> DemoShop:
    token = secrets.token_hex(20)  # generated per run: no credential is ever committed
    fake.add_account(token, prefix="demo-shop")
    fake.add_department(token, "Sklep internetowy", "5252445767")
    fake.add_product(token, "Kubek ceramiczny 300 ml", "MUG-300", "29.99", 23, stock_level=100)
    settings = json.loads(DEMO_SHOP_SETTINGS.read_text(encoding="utf-8"))
    settings["api_url"] = fake.base_url
    return DemoShop(settings, {"api_token": token}, documents=sorted(p.name for p in DOCUMENTS.glob("*.json")),
                    # The unlinked series is there to show a clear, fixable failure.
                    expected={"INV-2026-11-0004": ("failed", "series_not_linked")})


def own_numbers_shop(fake: FakturowniaFake) -> DemoShop:
    """A Fakturownia shop passing its own numbers: a second document with a number already used is
    refused before it is sent (Fakturownia itself would create it)."""
    token = secrets.token_hex(20)
    fake.add_account(token, prefix="demo-own-numbers")
    fake.add_department(token, "Sklep internetowy", "5252445767")
    settings = {**json.loads(DEMO_SHOP_SETTINGS.read_text(encoding="utf-8")), "account_id": "demo-own-numbers",
                "api_url": fake.base_url, "numbering": "ours"}
    return DemoShop(settings, {"api_token": token}, documents=["01-invoice-company.json"],
                    same_number={"INV-2026-11-0101": "01-invoice-company.json"},
                    expected={"INV-2026-11-0101": ("failed", "duplicate_number")})


def infakt_shop(fake: InfaktFake) -> DemoShop:
    key = secrets.token_hex(20)
    fake.add_account(key)
    fake.add_vat_exemption(key, "Art. 113 ust. 1 ustawy o VAT (zwolnienie podmiotowe)")
    exemption = fake.add_vat_exemption(key, "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT")
    settings = {
        "account_id": "demo-infakt", "provider": "infakt", "api_url": f"{fake.base_url}/api/v3",
        # inFakt has no series for sales documents: every series goes to its default numbering.
        "series_links": {"FV": None, "FV-EXPORT": None, "KOR": None},
        "payment_links": {"Przelew": "transfer", "Karta": "card"},
        # No vat_exemption_reason_id set by hand: the zw line's legal basis is found in inFakt's own list.
    }

    def exemption_resolved(record: Callable[[str], Any]) -> list[str]:
        stored = fake.account(key).invoices[record("INV-2026-11-0002").provider_document_id]
        print(f"  inFakt zw invoice INV-2026-11-0002: exemption basis = inFakt's list entry "
              f"{stored['vat_exemption_reason']} (no id set by hand)")
        return [] if stored["vat_exemption_reason"] == exemption else [
            f"demo-infakt INV-2026-11-0002: exemption {stored['vat_exemption_reason']}, expected entry {exemption}"]

    # No receipts in inFakt's API.
    return DemoShop(settings, {"api_key": key}, documents=[
        "01-invoice-company.json", "03-invoice-exempt-person.json", "04-invoice-eur.json", "05-correction.json"],
        check=exemption_resolved)


# wFirma issues one appKey per integration: it belongs to the deployment (a template parameter kept in
# Secrets Manager), not to a merchant. Generated per run, like every credential here.
WFIRMA_APP_KEY = secrets.token_hex(16)


def wfirma_shop(fake: WfirmaFake) -> DemoShop:
    access_key, secret_key = secrets.token_hex(16), secrets.token_hex(16)
    company_id = fake.add_company(access_key, secret_key, name="Herbaciarnia Sp. z o.o.", nip="5252445767")
    fake.add_series(company_id, "Sklep internetowy", "SKL [numer]/[rok]")
    settings = {
        "account_id": "demo-wfirma", "provider": "wfirma", "api_url": fake.base_url,
        "series_links": {"FV": "series:Sklep internetowy", "FV-EXPORT": None, "PAR": None, "KOR": None},
        "payment_links": {"Przelew": "transfer", "Karta": "payment_card"},
    }
    # The merchant gives its key pair and company; the runtime adds the deployment's appKey.
    credentials = {"access_key": access_key, "secret_key": secret_key, "company_id": str(company_id)}
    our_rate = json.loads((DOCUMENTS / "04-invoice-eur.json").read_text())["document"]["exchange_rate"]

    def our_rate_arrived(record: Callable[[str], Any]) -> list[str]:
        stored = fake.company(company_id).invoices[int(record("INV-2026-11-0003").provider_document_id)]
        print(f"  wFirma EUR invoice INV-2026-11-0003: rate {stored['currency_exchange']} of "
              f"{stored['currency_date']} (ours: {our_rate['rate']} of {our_rate['date']})")
        held = stored["currency_exchange"]
        return [] if Decimal(held) == Decimal(our_rate["rate"]) else [
            f"demo-wfirma INV-2026-11-0003: wFirma holds rate {held}, ours is {our_rate['rate']}"]

    # 07: priced gross with VAT per line; wFirma computes VAT per rate, so it is exported with both splits.
    return DemoShop(settings, credentials, documents=[
        "01-invoice-company.json", "02-receipt-person.json", "03-invoice-exempt-person.json",
        "04-invoice-eur.json", "05-correction.json", "07-invoice-gross-vat-per-line.json"],
        check=our_rate_arrived, expected_warnings={"INV-2026-11-0005": "vat_split_differs"})


def ifirma_shop(fake: IfirmaFake) -> DemoShop:
    login, invoice_key = "sklep.herbaciany@example.com", secrets.token_hex(16)
    fake.add_account(login, invoice_key=invoice_key, accounting_month=(2026, 11), series=("SKLEP",))
    settings = {
        "account_id": "demo-ifirma", "provider": "ifirma", "api_url": f"{fake.base_url}/iapi",
        # iFirma chooses a series by its name; it has no list to pick from.
        "series_links": {"FV": "SKLEP", "FV-EXPORT": None, "KOR": None},
        "payment_links": {"Przelew": "PRZ", "Karta": "KAR"},
    }
    # No receipts in iFirma's API.
    return DemoShop(settings, {"login": login, "invoice_key": invoice_key}, documents=[
        "01-invoice-company.json", "03-invoice-exempt-person.json", "04-invoice-eur.json", "05-correction.json"])


def firmao_shop(fake: FirmaoFake) -> DemoShop:
    organisation, login, password = "herbaciarnia", "api@herbaciarnia.example", secrets.token_hex(16)
    fake.add_account(organisation, login, password)
    fake.add_series(organisation, "Sklep", {"invoice": "FV/{n}/{mm}/{yyyy}", "receipt": "PAR/{n}/{mm}/{yyyy}",
                                            "correction": "KOR/{n}/{mm}/{yyyy}"})
    fake.add_product(organisation, "MUG-300", "Kubek ceramiczny 300 ml", net_price="24.38", vat=23, stock=100)
    settings = {
        "account_id": "demo-firmao", "provider": "firmao", "api_url": fake.base_url,
        "series_links": dict.fromkeys(("FV", "FV-EXPORT", "PAR", "KOR"), "series:Sklep"),
        # Firmao documents the payment types CASH and TRANSFER only.
        "payment_links": {"Przelew": "TRANSFER", "Karta": "CASH"},
        # Lines linked to products by SKU take them off stock; our id kept in an additional field.
        "send_skus": True, "missing_sku": "warn", "provider_options": {"reference_field": "custom1"},
    }
    return DemoShop(settings, {"organisation": organisation, "login": login, "password": password},
                    documents=["01-invoice-company.json", "02-receipt-person.json", "03-invoice-exempt-person.json",
                               "04-invoice-eur.json", "05-correction.json"],
                    # Firmao's API has no form for a VAT exemption (zw): a clear refusal, not a 0 % line.
                    expected={"INV-2026-11-0002": ("failed", "unsupported_vat_code")})


ROMANIAN_DOCUMENTS = sorted(f"ro/{p.name}" for p in (DOCUMENTS / "ro").glob("*.json"))  # RON, Romanian buyers


def oblio_shop(fake: OblioFake) -> DemoShop:
    email, secret, cif = "magazin.ceai@example.ro", secrets.token_hex(16), "RO37311090"
    fake.add_account(email, secret)
    fake.add_company(email, cif, "Magazin de Ceai SRL")
    settings = {
        "account_id": "demo-oblio", "provider": "oblio", "home_currency": "RON", "api_url": fake.base_url,
        "series_links": {"FV": "series:FCT", "ST": "series:FCT"},
        "payment_links": {"Transfer bancar": "Ordin de plata", "Card": "Card"},
        "ksef": "send_on_export",  # Oblio's e-Factura: sent by the poller, ANAF's index read back
    }
    return DemoShop(settings, {"client_id": email, "client_secret": secret, "cif": cif}, documents=ROMANIAN_DOCUMENTS)


def smartbill_shop(fake: SmartBillFake) -> DemoShop:
    email, token, cif = "magazin.ceai@example.ro", secrets.token_hex(16), "RO14399840"
    fake.add_account(email, token, cif, name="Magazin de Ceai SRL")
    settings = {
        "account_id": "demo-smartbill", "provider": "smartbill", "home_currency": "RON", "api_url": fake.api_url,
        "series_links": {"FV": "series:FCT", "ST": "series:FCT"},
        "payment_links": {"Transfer bancar": "Ordin plata", "Card": "Card"},
    }
    return DemoShop(settings, {"username": email, "token": token, "cif": cif}, documents=ROMANIAN_DOCUMENTS)


# Each accounting system: its strict fake and the sample shop connected to it.
PROVIDERS: list[tuple[Callable[[], Any], Callable[[Any], DemoShop]]] = [
    (FakturowniaFake, fakturownia_shop),
    (InfaktFake, infakt_shop),
    (lambda: WfirmaFake(app_key=WFIRMA_APP_KEY), wfirma_shop),
    (IfirmaFake, ifirma_shop),
    (FirmaoFake, firmao_shop),
    (lambda: OblioFake(spv_processing="immediate"), oblio_shop),  # ANAF answers at once
    (SmartBillFake, smartbill_shop),
]
PICK_BY_NAME = ("department:", "series:")  # a link to pick from the provider's own list by name
CLEARANCE_EVENTS = ("ksef_", "efactura_")  # KSeF's and e-Factura's answers, after the export's own event


def connect(shop: DemoShop) -> None:
    """Store credentials and settings; series linked to provider departments are picked by name."""
    from invoice_export.domain.account_settings import AccountSettings
    from invoice_export.platform.runtime import get_runtime

    runtime = get_runtime()
    draft = AccountSettings.model_validate({**shop.settings, "series_links": {}})
    adapter = runtime.build_adapter(draft, shop.credentials)
    adapter.check_credentials()
    links = shop.settings["series_links"]
    if any(isinstance(link, str) and link.startswith(PICK_BY_NAME) for link in links.values()):
        # Some providers describe a series as "name (template, type)": the name part identifies it.
        by_name = {option.name.split(" (")[0]: option.id for option in adapter.list_series()}
        shop.settings["series_links"] = {
            series: by_name[link.split(":", 1)[1]] if link and link.startswith(PICK_BY_NAME) else link
            for series, link in links.items()}
    runtime.accounts.save_credentials(shop.account_id, shop.credentials)
    runtime.accounts.put(AccountSettings.model_validate(shop.settings))


def send_documents(stack: LocalStack, shop: DemoShop) -> list[dict[str, Any]]:
    messages = []
    copies = [(name, document_id) for document_id, name in shop.same_number.items()]
    for name, copy_id in [(name, None) for name in shop.documents] + copies:
        message = json.loads((DOCUMENTS / name).read_text(encoding="utf-8"))
        message["account_id"] = shop.account_id
        document = message["document"]
        if copy_id:
            document.update(document_id=copy_id, order_id=f"ORD-{copy_id}")
        stack.send("ExportQueue", message, group_id=shop.account_id,
                   dedup_id=f"{shop.account_id}-{document['document_id']}-v{document['version']}")
        messages.append(message)
    return messages


def report(shop: DemoShop, messages: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[str]:
    """Print one line per document; return what did not go as expected."""
    mine = [e["detail"] for e in events if e["detail"]["account_id"] == shop.account_id]
    outcomes = {e["document_id"]: e for e in mine if not e["outcome"].startswith(CLEARANCE_EVENTS)}
    ksef = {e["document_id"]: e.get("ksef_number") or e.get("efactura_index") or e["outcome"] for e in mine
            if e["outcome"].startswith(CLEARANCE_EVENTS)}
    print(f"\n{shop.account_id} ({shop.settings['provider']})")
    print(f"  {'document':<20} {'kind':<11} {'outcome':<10} {'provider number':<24} {'KSeF no. / e-Factura':<36} "
          "link / error")
    problems = []
    for message in messages:
        document_id = message["document"]["document_id"]
        outcome = outcomes.get(document_id, {})
        status = outcome.get("outcome", "NO EVENT")
        detail = outcome.get("customer_link") or ""
        if outcome.get("error"):
            detail = f"{outcome['error']['code']}: {outcome['error']['message']} -> fix: {outcome['error']['fix']}"
        print(f"  {document_id:<20} {message['document']['kind']:<11} {status:<10} "
              f"{outcome.get('provider_number') or '-':<24} {ksef.get(document_id) or '-':<36} {detail}")
        for warning in outcome.get("warnings", []):  # e.g. a long product name cut to the provider's limit
            print(f"  {'':<20} warning: {warning}")
        expected_status, expected_code = shop.expected.get(document_id, EXPORTED)
        code = (outcome.get("error") or {}).get("code")
        if status != expected_status or code != expected_code:
            problems.append(f"{shop.account_id} {document_id}: expected {expected_status} {expected_code or ''}, "
                            f"got {status} {code or ''}")
        warned = shop.expected_warnings.get(document_id)
        if warned and not any(w.startswith(warned) for w in outcome.get("warnings", [])):
            problems.append(f"{shop.account_id} {document_id}: expected a {warned} warning in its event")
    if shop.check is not None:
        from invoice_export.platform.runtime import get_runtime

        problems += shop.check(lambda document_id: get_runtime().documents.get(shop.account_id, document_id))
    return problems + check_link(shop, mine)


def check_link(shop: DemoShop, events: list[dict[str, Any]]) -> list[str]:
    """Open one customer link like a mail client would and check the PDF behind it."""
    exported = [e for e in events if e["outcome"] == "exported" and e.get("customer_link")]
    if not exported:
        return [f"{shop.account_id}: no exported document carried a customer link"]
    detail = exported[0]
    answer = requests.get(detail["customer_link"], allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        return [f"{shop.account_id}: the link answered {answer.status_code} instead of a redirect"]
    pdf = requests.get(answer.headers["Location"], timeout=10)
    number = detail["provider_number"]
    ok = pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and number.encode() in pdf.content
    print(f"  opened the link of {detail['document_id']}: HTTP 302 -> PDF of {len(pdf.content)} bytes, "
          f"{'carries' if ok else 'does NOT carry'} number {number}")
    return [] if ok else [f"{shop.account_id}: the PDF behind {detail['document_id']}'s link does not show {number}"]


def quiet_handlers(verbose: bool) -> None:
    # The stack applies the template's POWERTOOLS_LOG_LEVEL (INFO); the demo prints a table (outcomes and
    # errors are in it) instead.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if verbose else "ERROR"
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(os.environ.get("POWERTOOLS_SERVICE_NAME", "invoice-export")):
            logging.getLogger(name).setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false" if verbose else "true"


def main() -> int:
    verbose = "--verbose" in sys.argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with ExitStack() as running:
        fakes = [running.enter_context(make_fake()) for make_fake, _ in PROVIDERS]
        stack = running.enter_context(LocalStack(parameter_overrides={"WfirmaAppKey": WFIRMA_APP_KEY}))
        from invoice_export.platform.runtime import reset_runtime

        quiet_handlers(verbose)
        os.environ["KSEF_POLL_BASE_DELAY_SECONDS"] = "1"  # the fakes' KSeF answers at once: no need to wait 20 s
        reset_runtime()
        print(f"moto at {stack.endpoint_url}, customer links at {stack.gateway_url}")
        shops = [make_shop(fake) for fake, (_, make_shop) in zip(fakes, PROVIDERS, strict=True)]
        shops.append(own_numbers_shop(fakes[0]))
        sent = {}
        for shop in shops:
            connect(shop)
            sent[shop.account_id] = send_documents(stack, shop)
            print(f"connected {shop.account_id} to fake {shop.settings['provider']} at {shop.settings['api_url']}; "
                  f"sent {len(sent[shop.account_id])} documents")
        print("running the handlers...")
        stack.run_until_idle(timeout=180)
        events = stack.outcome_events()
        problems = [problem for shop in shops for problem in report(shop, sent[shop.account_id], events)]
        dead_letters = stack.dlq_messages("ExportQueue")
        if dead_letters:
            problems.append(f"{len(dead_letters)} message(s) in the export DLQ")
        # The operator's side, with the CLI: a bulk-mode account, its dry run, the bulk export, and
        # the reconciliation against the provider (Fakturownia's fake, the first above).
        print("\noperations: a bulk-mode account driven with the invoice-export CLI")
        problems += demo_operations(stack, fakes[0])
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems))
        return 1
    print("\nOK: every document ended as expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
