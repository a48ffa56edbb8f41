"""Every provider, against its strict fake: a create stored at the provider and then interrupted (its
answer lost) is found when the provider is asked (never sent twice), and one never stored is found
absent and sent once. Each adapter asks its own way (ProviderAdapter.settle_interrupted): by our id
(Fakturownia oid, wFirma id_external), by our number (inFakt and Firmao, our numbering; Firmao's own
numbering by our id in its additional field), by the create repeated with its idempotency key (Oblio:
answered with the first document, or made now - once either way), or by the day's list and
our reference read back (iFirma, inFakt numbering by inFakt), or by the numbers given out since the
attempt began and our reference read from their PDFs (SmartBill) - and only ever reads while asking."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest

from corpus.money import UNLIMITED_FAKES
from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.errors import RequestMayHaveSucceeded
from invoice_export.domain.settlement import InterruptedAttempt, SettlementOutcome, our_reference
from invoice_export.providers import build_adapter
from local import run as demo
from testsupport import plan_for

READ_TIMEOUT = 0.5


@dataclass(frozen=True)
class Setup:
    """How a provider is set up here, where its create goes and how its fake holds our documents."""

    fake: str  # the key of corpus.money.UNLIMITED_FAKES
    settings: dict[str, Any]
    create_path: str
    ours: Callable[[Any, dict[str, str], str], int]  # (fake, credentials, our id) -> documents of ours held
    example: str = "01-invoice-company.json"
    # The one write asking may make: wFirma reads with POSTs (invoices/find); Oblio repeats the create.
    asks_with_post: str = r"/invoices/find$"
    # Where asking repeats the create (Oblio), a create never stored is made by the question: found.
    never_stored_is: SettlementOutcome = SettlementOutcome.ABSENT
    # Our series -> the provider's; None each: not passed (Oblio needs a series named for every document).
    series_links: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(("FV", "PAR", "KOR")))


def _carrying_our_reference(documents: Any, field: str, document_id: str) -> int:
    return sum(1 for stored in documents if str(stored.get(field) or "").endswith(our_reference(document_id)))


def _infakt(fake: Any, credentials: dict[str, str], document_id: str) -> int:
    return _carrying_our_reference(fake.account(credentials["api_key"]).invoices.values(), "notes", document_id)


def _firmao(fake: Any, credentials: dict[str, str], document_id: str) -> int:
    return sum(1 for transaction in fake.transactions(credentials["organisation"])
               if document_id in (transaction.get("customFields") or {}).values()
               or transaction.get("transactionNumber") == f"FV {document_id}")


def _oblio(fake: Any, credentials: dict[str, str], document_id: str) -> int:
    return sum(1 for document in fake.documents(credentials["cif"])
               if document.idempotency_key and document_id in document.idempotency_key)


SETUPS = {
    "fakturownia": Setup("fakturownia", {}, r"/invoices\.json", lambda fake, c, doc: sum(
        1 for invoice in fake.account(c["api_token"]).invoices if invoice.get("oid") == doc)),
    "wfirma": Setup("wfirma", {}, r"/invoices/add", lambda fake, c, doc: sum(
        1 for invoice in fake.company(int(c["company_id"])).invoices.values() if invoice.get("id_external") == doc)),
    "ifirma": Setup("ifirma", {}, r"/iapi/fakturakraj\.json", lambda fake, c, doc: _carrying_our_reference(
        fake.account(c["login"]).invoices.values(), "Uwagi", doc)),
    "infakt, our numbering": Setup("infakt", {"numbering": "ours"}, r"/api/v3/async/invoices\.json", _infakt),
    "infakt, numbered by inFakt": Setup("infakt", {}, r"/api/v3/async/invoices\.json", _infakt),
    "smartbill": Setup("smartbill", {}, r"/SBORO/api/invoice", lambda fake, c, doc: _carrying_our_reference(
        fake.company(c["cif"]).invoices.values(), "mentions", doc), example="ro/01-invoice-company.json"),
    "firmao, our numbering": Setup("firmao", {"numbering": "ours"}, r"/[^/]+/svc/v1/transactions", _firmao),
    "firmao, numbered by Firmao": Setup("firmao", {}, r"/[^/]+/svc/v1/transactions", _firmao),
    "oblio": Setup("oblio", {}, r"/api/docs/invoice", _oblio, example="ro/01-invoice-company.json",
                   asks_with_post=r"/api/docs/invoice$", never_stored_is=SettlementOutcome.FOUND,
                   series_links={"FV": "FCT"}),
}


@dataclass
class Provider:
    adapter: Any
    fake: Any
    credentials: dict[str, str]
    setup: Setup

    def ours(self, document_id: str) -> int:
        return self.setup.ours(self.fake, self.credentials, document_id)


@pytest.fixture(scope="module", params=sorted(SETUPS))
def provider(request):
    setup = SETUPS[request.param]
    make_fake, make_shop = UNLIMITED_FAKES[setup.fake]
    with ExitStack() as running:
        fake = running.enter_context(make_fake())
        shop = make_shop(fake)
        credentials = {**shop.credentials}
        if setup.fake == "wfirma":
            credentials["app_key"] = demo.WFIRMA_APP_KEY  # the deployment's, merged by the runtime in AWS
        settings = AccountSettings.model_validate({**shop.settings, **setup.settings,
                                                   "series_links": setup.series_links})
        # A short read timeout: a stall just past it loses the answer of a create the provider stored.
        adapter = build_adapter(settings, credentials, read_timeout=READ_TIMEOUT)
        if hasattr(adapter, "poll_delays"):
            adapter.poll_delays = (0.01, 0.02)
        yield Provider(adapter, fake, {k: str(v) for k, v in credentials.items()}, setup)


_serial = itertools.count(1)


def ask(provider: Provider, plan, numbering: dict[str, str] | None) -> Any:
    """The provider asked about the interrupted create (begun long ago: its list is trusted), reads only.
    `numbering`: what the adapter read before the create (kept with the claim; SmartBill's only)."""
    before = provider.fake.requests.count()
    settlement = provider.adapter.settle_interrupted(plan, InterruptedAttempt(numbering_before=numbering))
    writes = [entry for entry in provider.fake.requests.entries()[before:] if entry.method != "GET"]
    assert all(re.search(provider.setup.asks_with_post, entry.path) for entry in writes), writes
    return settlement


def test_a_create_stored_then_interrupted_is_found_never_sent_twice(provider) -> None:
    document_id = f"STORED-{next(_serial)}"
    plan = plan_for(provider.adapter, provider.setup.example, document_id=document_id, number=f"FV {document_id}")
    numbering = provider.adapter.numbering_before_create(plan)
    provider.fake.faults.stall_after_commit(READ_TIMEOUT + 0.5, method="POST", path=provider.setup.create_path)
    with pytest.raises(RequestMayHaveSucceeded):
        provider.adapter.create_document(plan)
    settlement = ask(provider, plan, numbering)
    assert settlement.outcome == SettlementOutcome.FOUND, settlement
    assert provider.ours(document_id) == 1


def test_a_create_never_stored_is_found_absent_and_sent_once(provider) -> None:
    document_id = f"LOST-{next(_serial)}"
    plan = plan_for(provider.adapter, provider.setup.example, document_id=document_id, number=f"FV {document_id}")
    numbering = provider.adapter.numbering_before_create(plan)
    provider.fake.faults.status(502, method="POST", path=provider.setup.create_path)  # may have been stored
    with pytest.raises(RequestMayHaveSucceeded):
        provider.adapter.create_document(plan)
    assert provider.ours(document_id) == 0
    settlement = ask(provider, plan, numbering)
    assert settlement.outcome == provider.setup.never_stored_is, settlement
    provider.adapter.create_document(plan)
    assert provider.ours(document_id) == 1
