"""Romanian shops end to end: Oblio and SmartBill accounts connected through the configuration API, RON
documents through the export queue, e-Factura read back by the poller with its own events, a timed-out
create held in doubt and settled, a paused account, a dry run that checks the CUI, a reconciliation.

The fakes keep their documented rate limits (Oblio's per-second block included): the shared limiter
of the stack must keep every call under them.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import date
from typing import Any

import pytest
import requests

from invoice_export.domain.records import Status
from invoice_export.platform.runtime import get_runtime, reset_runtime
from invoice_export.services.events import DETAIL_TYPE
from invoice_export.services.pausing import ACCOUNT_DETAIL_TYPE
from local.fakes.oblio import OblioFake
from local.fakes.smartbill import SmartBillFake
from local.rest_api import CALLER_HEADER
from testsupport import load_example, valid_cui

pytestmark = pytest.mark.usefixtures("custom_provider_urls")
# Oblio's creates are spaced 3.4 s apart (its 30 per 100 s): an export may wait that long in place, so its
# message stays invisible longer than that, as the template's 180 s do in AWS.
VISIBILITY_TIMEOUT = 20

INVOICE, PAID, STORNO = "ro/01-invoice-company.json", "ro/02-invoice-person-paid.json", "ro/05-storno.json"
INVOICE_ID, PAID_ID, STORNO_ID = "RO-FV-2026-11-0001", "RO-FV-2026-11-0002", "RO-ST-2026-11-0001"
EUR, EUR_ID = "ro/03-invoice-eur.json", "RO-FV-2026-11-0003"


@pytest.fixture(scope="module")
def oblio():
    with OblioFake(spv_processing="immediate") as server:  # ANAF answers at once; both rate-limit rules on
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)
    assert server.limiter.blocks_started == 0, "the service made Oblio block its token"


@pytest.fixture(scope="module")
def smartbill():
    with SmartBillFake(today=date(2026, 11, 20)) as server:  # 30 calls per 10 s, then a 10-minute block
        yield server
    assert server.server_errors == [], "the fake itself crashed:\n" + "\n".join(server.server_errors)


class Merchant:
    """A tenant's caller of the configuration API with one Romanian account, driven through the stack."""

    def __init__(self, stack) -> None:
        self.stack = stack
        tenant = f"tenant-ro-{uuid.uuid4().hex[:6]}"
        self.principal = f"arn:aws:iam::123456789012:user/{tenant}"
        get_runtime().tenants.map(self.principal, tenant)
        self.account_id = f"ro-{uuid.uuid4().hex[:10]}"
        self.events: list[dict[str, Any]] = []
        self.other_events: list[dict[str, Any]] = []

    def api(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return requests.request(method, f"{self.stack.gateway_url}/v1/accounts/{self.account_id}{path}", json=body,
                                params=params or None, headers={CALLER_HEADER: self.principal}, timeout=60)

    def connect(self, provider: str, credentials: dict[str, str], api_url: str, **settings: Any) -> dict[str, Any]:
        answer = self.api("PUT", "/connection", {"provider": provider, "credentials": credentials, "api_url": api_url})
        assert answer.status_code == 200, answer.text
        if settings:
            changed = self.api("PATCH", "/settings", settings)
            assert changed.status_code == 200, changed.text
        return answer.json()

    def export(self, *examples: str, **document_changes: Any) -> None:
        for example in examples:
            message = load_example(example)
            message["account_id"] = self.account_id
            message["document"].update(document_changes)
            self.stack.send("ExportQueue", json.dumps(message), group_id=self.account_id, dedup_id=uuid.uuid4().hex)
        self.stack.run_until_idle(timeout=120)
        self.collect_events()

    def collect_events(self) -> None:
        for event in self.stack.outcome_events():
            if event["detail"].get("account_id") == self.account_id:
                (self.events if event["detail-type"] == DETAIL_TYPE else self.other_events).append(event)

    def outcomes(self, document_id: str) -> list[str]:
        return [e["detail"]["outcome"] for e in self.events if e["detail"]["document_id"] == document_id]

    def event(self, document_id: str, outcome: str) -> dict[str, Any]:
        [event] = [e["detail"] for e in self.events
                   if e["detail"]["document_id"] == document_id and e["detail"]["outcome"] == outcome]
        return event

    def record(self, document_id: str):
        record = get_runtime().documents.get(self.account_id, document_id)
        assert record is not None, f"no record of {document_id}"
        return record


def fresh_cif() -> str:
    """A valid CUI of its own per account (a fake holds each company once)."""
    return f"RO{valid_cui()}"


def connect_oblio(stack, fake: OblioFake, **settings: Any) -> tuple[Merchant, dict[str, str]]:
    merchant = Merchant(stack)
    email, secret, cif = f"magazin-{uuid.uuid4().hex[:6]}@example.ro", secrets.token_hex(16), fresh_cif()
    fake.add_account(email, secret)
    fake.add_company(email, cif, "Magazin Demo SRL")
    login = {"client_id": email, "client_secret": secret, "cif": cif}
    body = merchant.connect("oblio", login, fake.base_url, series_links={"FV": "FCT", "ST": "FCT"},
                            payment_links={"Transfer bancar": "Ordin de plata", "Card": "Card"}, **settings)
    assert body["settings"]["home_currency"] == "RON" and login["client_secret"] not in json.dumps(body)
    return merchant, login


# ---------------------------------------------------------------- Oblio


def test_oblio_exports_an_invoice_and_its_storno_and_reads_e_factura_back_with_its_own_events(stack, oblio) -> None:
    merchant, login = connect_oblio(stack, oblio, ksef="send_on_export")
    series = merchant.api("GET", "/provider/series").json()
    assert {"id": "FCT", "name": "FCT (next 0001)", "kinds": ["invoice", "receipt", "correction"]} in series
    every_kind = ["invoice", "receipt", "correction"]
    assert {"id": "Ordin de plata", "name": "Ordin de plata", "kinds": every_kind} in merchant.api(
        "GET", "/provider/payment-types").json()

    merchant.export(INVOICE, STORNO)
    documents = {doc.idempotency_key: doc for doc in oblio.documents(login["cif"])}
    assert sorted(documents) == [f"{INVOICE_ID}:v1", f"{STORNO_ID}:v1"]  # once each
    for document_id in (INVOICE_ID, STORNO_ID):
        record = merchant.record(document_id)
        stored = documents[f"{document_id}:v1"]
        assert record.status == Status.EXPORTED and record.provider_document_id == str(stored.id)
        assert record.readback_drift == [] and record.vat_in_pln is None
        exported = merchant.event(document_id, "exported")
        assert exported["provider_number"] == f"FCT {stored.number_text}" and exported.get("customer_link")
        # e-Factura: sent once by the poller, validated, announced with efactura_* events only.
        assert stored.spv_submissions == 1
        accepted = merchant.event(document_id, "efactura_accepted")
        assert accepted["efactura_index"] == stored.index_upload == record.ksef_number
        assert "ksef_number" not in accepted and not [o for o in merchant.outcomes(document_id) if "ksef" in o]
        assert record.ksef_status == "accepted" and record.pdf is not None
        audited = [e.action for e in get_runtime().audit.entries(merchant.account_id, document_id)]
        assert "efactura_accepted" in audited
    assert documents[f"{STORNO_ID}:v1"].reference == ("Factura", "FCT", documents[f"{INVOICE_ID}:v1"].number)
    assert oblio.peak_rate(login["client_id"]) <= 3

    report = merchant.api("GET", "/reconciliation", date_from="2026-11-01", date_to="2026-11-30").json()
    assert (report["ours_exported"], report["provider_listed"], report["matching"]) == (2, 2, 2), report
    assert report["missing"] == report["extra"] == report["different"] == []


def test_oblio_takes_sku_stock_from_the_accounts_gestiune_and_states_a_eur_invoices_vat_in_ron(stack, oblio) -> None:
    merchant, login = connect_oblio(stack, oblio)
    refused = merchant.api("PATCH", "/settings", {"send_skus": True})  # no gestiune to take the goods from
    assert refused.status_code != 200 and "provider_options.management" in refused.json()["fix"]
    changed = merchant.api("PATCH", "/settings", {"send_skus": True, "provider_options": {"management": "Magazin"}})
    assert changed.status_code == 200, changed.text
    oblio.company(login["cif"]).use_stock = True
    oblio.add_management(login["cif"], "Magazin")
    oblio.add_product(login["cif"], "Set ceainic", code="SET-4", price="200", stock={"Magazin": 12})

    merchant.export(EUR)  # 5 sets at 42.00 EUR net, 21 %: VAT 44.10 EUR at 5.0900 RON per euro
    record = merchant.record(EUR_ID)
    assert record.status == Status.EXPORTED and record.warnings == []
    assert oblio.stock_of_code(login["cif"], "Magazin", "SET-4") == 7
    # Codul fiscal art. 319 alin. (23): the VAT in lei; Oblio reads back no VAT, so it is not compared.
    in_ron = {"21": "224.47", "total": "224.47", "exchange_rate": "5.0900", "table_id": "BNR 19.11.2026",
              "currency": "RON", "checked": "no"}
    assert record.vat_in_home_currency == in_ron and record.vat_in_pln is None
    exported = merchant.event(EUR_ID, "exported")
    assert exported["vat_in_home_currency"] == in_ron and "vat_in_pln" not in exported
    view = merchant.api("GET", f"/documents/{EUR_ID}").json()
    assert view["vat_in_home_currency"] == in_ron and view.get("vat_in_pln") is None


def test_oblio_an_e_factura_anaf_refuses_is_announced_as_efactura_rejected(stack, oblio) -> None:
    merchant, login = connect_oblio(stack, oblio, ksef="send_on_export")
    buyer = load_example(PAID)["document"]["buyer"]
    bucharest_without_sector = {**buyer, "address": {**buyer["address"], "city": "Bucuresti"}}
    merchant.export(PAID, buyer=bucharest_without_sector)
    record = merchant.record(PAID_ID)
    assert record.status == Status.EXPORTED and record.ksef_status == "rejected"
    rejected = merchant.event(PAID_ID, "efactura_rejected")
    assert rejected["error"]["code"] == "efactura_rejected" and "SECTOR" in rejected["error"]["message"]
    assert "e-Factura" in rejected["error"]["fix"]


def test_oblio_sending_by_itself_is_only_read_back_never_sent_by_us(stack, oblio) -> None:
    merchant, login = connect_oblio(stack, oblio, ksef="provider_sends")
    merchant.export(INVOICE)
    assert merchant.record(INVOICE_ID).status == Status.EXPORTED
    assert not [entry for entry in oblio.requests.entries(method="POST", path="/api/docs/einvoice")
                if entry.key == login["cif"].removeprefix("RO")]
    [document] = oblio.documents(login["cif"])
    assert document.spv_submissions == 0
    # Oblio never sent it (its auto-send is off): after hours of polling, unconfirmed, with an event.
    assert merchant.event(INVOICE_ID, "efactura_unconfirmed")["error"]["code"] == "efactura_unconfirmed"


def test_a_dry_run_names_a_romanian_buyers_wrong_cui_and_shows_the_exact_oblio_request(stack, oblio) -> None:
    merchant, login = connect_oblio(stack, oblio, export_mode="bulk")
    buyer = load_example(INVOICE)["document"]["buyer"]
    merchant.export(INVOICE, PAID, buyer={**buyer, "tax_id": "RO18547291"})
    merchant.export(INVOICE, document_id="RO-FV-OK")
    dry = merchant.api("POST", "/bulk-exports", {"dry_run": True}).json()["dry_run"]
    checks = {d["document_id"]: d for d in dry["documents"]}
    [problem] = [p for p in checks[INVOICE_ID]["problems"] if p["code"] == "bad_tax_id"]
    assert problem["message"] == "the buyer's CUI RO18547291 has a wrong check digit"
    assert checks["RO-FV-OK"]["problems"] == []
    assert checks["RO-FV-OK"]["request"]["idempotencyKey"] == "RO-FV-OK:v1"
    assert checks["RO-FV-OK"]["request"]["client"]["state"] == "Cluj"
    assert oblio.documents(login["cif"]) == []  # a dry run sends nothing


# ---------------------------------------------------------------- SmartBill


def connect_smartbill(stack, fake: SmartBillFake) -> tuple[Merchant, dict[str, str]]:
    merchant = Merchant(stack)
    email, token, cif = f"magazin-{uuid.uuid4().hex[:6]}@example.ro", secrets.token_hex(16), fresh_cif()
    fake.add_account(email, token, cif)
    login = {"username": email, "token": token, "cif": cif}
    body = merchant.connect("smartbill", login, fake.api_url, series_links={"FV": "FCT", "ST": "FCT"},
                            payment_links={"Transfer bancar": "Ordin plata", "Card": "Card"})
    assert body["settings"]["home_currency"] == "RON" and login["token"] not in json.dumps(body)
    return merchant, login


def test_smartbill_exports_and_reverses_and_settles_a_lost_create_by_its_numbers_and_pdf(stack, smartbill) -> None:
    merchant, login = connect_smartbill(stack, smartbill)
    refused = merchant.api("PATCH", "/settings", {"ksef": "provider_sends"})
    assert refused.status_code == 400 and "reports no e-Factura state" in refused.json()["message"]

    merchant.export(INVOICE, STORNO)
    invoices = smartbill.company(login["cif"]).invoices
    assert list(invoices) == [("FCT", "0001"), ("FCT", "0002")]  # once each
    assert [str(invoices[key]["total"]) for key in invoices] == ["193.47", "-193.47"]
    assert invoices[("FCT", "0002")]["reverses"] == ("FCT", "0001")
    for document_id, number in ((INVOICE_ID, "FCT 0001"), (STORNO_ID, "FCT 0002")):
        assert merchant.event(document_id, "exported")["provider_number"] == number
        assert merchant.record(document_id).readback_drift == []
    assert not [o for o in merchant.outcomes(INVOICE_ID) if o.startswith(("ksef", "efactura"))]

    # The create of the next document reaches SmartBill but its answer is lost: the later delivery does
    # not read SmartBill's numbers (the settlement's work): in doubt, with the numbering kept at the claim.
    smartbill.faults.reset(after_commit=True, method="POST", path=r"/SBORO/api/invoice")
    merchant.export(PAID)
    record = merchant.record(PAID_ID)
    assert (record.status, record.settlement["outcome"]) == (Status.IN_DOUBT, "not_yet")
    assert record.numbering_before_attempt == {"FCT": "0003"}
    assert merchant.event(PAID_ID, "in_doubt")["error"]["code"] == "in_doubt"
    # The settlement finds it among the numbers given out since, by our reference on its PDF.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SETTLE_LISTING_AFTER_SECONDS", "0")  # the numbers trusted at once (the adapter waits 5 min)
        reset_runtime()
        invocation = stack.function("SettleInDoubtFunction").invoke({"trigger": "settle_in_doubt"})
        assert invocation.error is None, invocation.error
        stack.run_until_idle(timeout=60)
    reset_runtime()
    merchant.collect_events()
    record = merchant.record(PAID_ID)
    assert (record.status, record.provider_number, record.settlement["outcome"]) == (
        Status.EXPORTED, "FCT 0003", "found")
    assert merchant.event(PAID_ID, "exported")["provider_number"] == "FCT 0003"
    assert len(invoices) == 3  # made once, never sent again
    report = merchant.api("GET", "/reconciliation", date_from="2026-11-01", date_to="2026-11-30")
    assert report.status_code == 400 and "cannot list its documents" in report.json()["message"]


def test_smartbill_refused_credentials_pause_the_account(stack, smartbill) -> None:
    merchant, login = connect_smartbill(stack, smartbill)
    # The merchant regenerates the token in SmartBill: the one we hold is refused from now on.
    smartbill.regenerate_token(login["username"], secrets.token_hex(16))
    merchant.export(INVOICE)
    assert get_runtime().accounts.get(merchant.account_id).status == "needs_reconnect"
    assert [e["detail-type"] for e in merchant.other_events] == [ACCOUNT_DETAIL_TYPE]
    assert merchant.record(INVOICE_ID).status == Status.PENDING
    assert login["token"] not in json.dumps(merchant.other_events + merchant.events)
    assert smartbill.company(login["cif"]).invoices == {}
