"""Drives many documents through the local stack under seeded random faults, then counts the outcome.

Everything runs as in production: producer messages on the FIFO export queue (one group per
account), the real handlers run by the SQS event-source emulator with 2+ concurrent workers and
short visibility timeouts, what follows from each record's change (outcome events, PDF and KSeF
requests, audit entries) by the DynamoDB Streams emulator reading the documents table's stream, AWS
in moto, each provider a strict fake on 127.0.0.1 whose requests fail at random
(`reliability.faults`). Nothing calls a handler or an adapter directly. The stream path meets the
same AWS outages, and its function is killed mid-batch like the export function.

The plan (which documents, duplicates and bad inputs) is fixed by the seed. Afterwards every
document is classified from what the system and the provider hold:

- exported: one provider document with our id, and our record maps exactly that one;
- failed: our record says so, with a reason; in doubt: held, with the evidence;
- waiting for its original: a correction held pending (`waiting_for_original`) whose original is not
  exported (failed or in doubt at the end) - it is sent once that one is; one held for an exported
  original is lost (the original's stream should have queued it). A held correction sent later counts
  exported like any other;
- lost: anything else (no record, stuck mid-way, or a record that disagrees with the provider).

Before counting, the export DLQ check runs, as its schedule would after the run: a document whose
message reached the DLQ unrecorded (its worker killed during the last delivery) is lost only if the
check could not record it either. The stream then carries out what the check recorded. Then the
settlement of documents in doubt runs, as its schedule would (services.settlement): each provider is
asked again, with reads only, about every document still in doubt - found ones are exported (their
event, PDF and audit entry from the stream), surely absent ones sent once more, the rest stay in doubt
with the evidence. Per provider, the figures say how many were in doubt before it and what became of
them. Last, the replay of stream batches given up after their retries runs, as its schedule would.

Providers are pluggable (`PROVIDERS`): each entry knows its fake, how to connect an account to it,
which endpoints may fail and how to count the provider's documents per our id.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from invoice_export.domain.account_settings import AccountSettings, Numbering, ProviderName
from invoice_export.domain.documents import DocumentKind
from invoice_export.domain.export_decision import WAITING_CODE
from invoice_export.domain.rate_limits import LimitScope
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.entrypoints.sqs import UnreadableMessage, read_export_message
from invoice_export.platform.runtime import Runtime, get_runtime, reset_runtime
from invoice_export.providers import adapter_class
from invoice_export.providers.infakt.adapter import CORRECTION_PREFIX
from invoice_export.services.events import DETAIL_TYPE as OUTCOME_DETAIL_TYPE
from local.fakes.common import FakeServer
from local.fakes.fakturownia import FakturowniaFake
from local.fakes.firmao import FirmaoFake
from local.fakes.ifirma import IfirmaFake
from local.fakes.infakt import InfaktFake
from local.fakes.oblio import OblioFake
from local.fakes.smartbill import SmartBillFake
from local.fakes.wfirma import WfirmaFake
from local.stack import LocalStack
from reliability.faults import (
    CREATE_FAULTS,
    RATE_LIMITED,
    READ_FAULTS,
    AwsOutages,
    FaultTarget,
    RandomProviderFaults,
    WorkerCrashes,
    sqs_like_aws,
)
from tests.testsupport import load_example

READ_TIMEOUT_SECONDS = 1.0
# The template's timings scaled down so that a run takes minutes, keeping what they guarantee:
# provider read timeout 1 s (10 s); a provider call starts only with read timeout + 1 s left (3 s
# margin); the shared rate limiter waits in place at most 0.5 s (5 s); back-off from 0.5 s (15 s).
# See Scenario for the rest.
# A provider's list is trusted to show an interrupted create 10 s after it began (the adapters' 5 and 15
# minutes, scaled down): the fakes finish a stalled request within 1.5 s (read timeout + 0.5 s) and
# process an accepted inFakt task within 0.5 s.
FAST_ENVIRONMENT = {"PROVIDER_READ_TIMEOUT": str(READ_TIMEOUT_SECONDS), "RETRY_BASE_DELAY_SECONDS": "0.5",
                    "LAMBDA_TIME_MARGIN_SECONDS": "1", "RATE_LIMIT_MAX_WAIT_SECONDS": "0.5",
                    "SETTLE_LISTING_AFTER_SECONDS": "10"}
INVOICE, RECEIPT, EXEMPT, FOREIGN, CORRECTION = (
    "01-invoice-company.json", "02-receipt-person.json", "03-invoice-exempt-person.json",
    "04-invoice-eur.json", "05-correction.json")
# Each example's kind (a provider gets only the kinds its adapter takes) and how often it is drawn.
TEMPLATES = {INVOICE: (DocumentKind.INVOICE, 4), RECEIPT: (DocumentKind.RECEIPT, 3),
             EXEMPT: (DocumentKind.INVOICE, 2), FOREIGN: (DocumentKind.INVOICE, 1),
             CORRECTION: (DocumentKind.CORRECTION, 2)}
# Bad inputs mixed into the stream, and the error code each must be recorded with.
BAD_INPUTS = {"not_json": "invalid_message", "totals_mismatch": "invalid_message",
              "missing_field": "invalid_message", "unknown_account": "unknown_account",
              "correction_of_unknown": "original_not_exported"}


@dataclass(frozen=True)
class Scenario:
    documents: int = 1000
    seed: int = 20261124
    accounts: int = 10  # two per provider, sharing its API key
    workers: int = 2
    fault_rate: float = 0.08  # per provider request on the targeted endpoints
    aws_outage_rate: float = 0.002  # per AWS call of the functions: starts an outage of that service
    crash_rate: float = 0.01  # per create call and per record: the export function dies there
    # Scaled down like the template's 30 s within 180 s: an invocation ends before its messages'
    # visibility does (else they are handed out again while it runs), and a killed invocation's claim
    # (a `sending` record, left alone for the function's Timeout) lapses within a few back-offs.
    function_timeout_seconds: float = 5.0
    duplicate_rate: float = 0.05  # documents sent a second time, half at once in another group, half later
    bad_input_rate: float = 0.03
    visibility_timeout: int = 6
    max_receive_count: int = 8  # the template's default
    # The provider limit the fakes enforce and the service is told (shared by every worker through
    # RateLimitsTable); two accounts share each API key, so the key's limit is contended.
    rate_limit: int = 30
    rate_window_seconds: float = 2.0
    # Accounts spread over them; infakt-numbered: inFakt numbering the documents (settled by listing).
    providers: tuple[str, ...] = ("fakturownia", "infakt", "wfirma", "ifirma", "firmao", "oblio", "smartbill",
                                  "infakt-numbered")
    timeout_seconds: float = 1800


# ---------------------------------------------------------------------------------------- providers


class ProviderUnderTest(Protocol):
    key: str  # as the scenario names it (PROVIDERS)
    name: str  # the accounting system (ProviderName)
    fake: FakeServer
    limit_scope: LimitScope  # how the service is told to share the provider's limit
    examples: dict[str, str]  # template -> the example the provider's accounts take instead
    corrections: dict[str, str]  # our corrected document id -> our correction's id (filled from the plan)
    parameter_overrides: dict[str, Any]  # template parameters the stack needs for this provider

    def supports(self, kind: DocumentKind) -> bool:
        """Whether the provider's adapter takes documents of this kind."""

    def connect(self, runtime: Runtime, account_id: str, key_index: int) -> None:
        """Connect our account to a provider account; accounts with the same key_index share an API key."""

    def documents_by_our_id(self) -> dict[str, list[str]]:
        """Provider document ids per our document id, over every provider account."""

    def peak_requests_per_key(self) -> int:
        """Most requests the provider saw for one key within one of its windows."""

    @property
    def injected(self) -> Counter[str]:
        """Provider faults injected, by kind."""


# Our document ids (see plan_messages); the providers without a field for our id keep it in another
# stored text (our reference in iFirma's Uwagi and inFakt's notes; our number at inFakt and Firmao),
# where it is found by this pattern.
OUR_DOCUMENT_ID = re.compile(r"R\d{3}-\d{5}")


def our_id_in(text: object) -> str:
    found = OUR_DOCUMENT_ID.search(str(text or ""))
    return found.group() if found else str(text)


class FakeProviderUnderTest:
    """What every provider under test shares: its strict fake with seeded random faults on the targeted
    endpoints and the scenario's rate limit, one provider account (`Key`) per key index shared by the
    accounts connected with it, and the look-ups over every such account. A provider says how to make
    its fake, a provider account, the account settings and credentials, and where our id is stored."""

    name: ClassVar[ProviderName]
    key: ClassVar[str] = ""  # the scenario's name for it; "" = name
    numbering: ClassVar[Numbering] = Numbering.PROVIDER
    fault_targets: ClassVar[tuple[FaultTarget, ...]]
    limit_scope: ClassVar[LimitScope] = LimitScope.CREDENTIAL
    payment_links: ClassVar[dict[str, str]] = {"Przelew": "transfer", "Karta": "card"}
    # The example each template is drawn from, where the provider's accounts need others (Romanian ones).
    examples: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.key = cls.__dict__.get("key") or cls.name.value

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.parameter_overrides: dict[str, Any] = {}  # make_fake may set some
        self.corrections: dict[str, str] = {}  # our corrected document id -> our correction's (from the plan)
        self.fake = self.make_fake((scenario.rate_limit, scenario.rate_window_seconds))
        self.fake.faults = RandomProviderFaults(seed=seed, rate=scenario.fault_rate, targets=self.fault_targets,
                                                read_timeout=READ_TIMEOUT_SECONDS)
        self._keys: dict[int, Any] = {}  # key index -> the provider account (what `new_key` returned)

    # -- what each provider says

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        raise NotImplementedError

    def new_key(self, key_index: int) -> Any:
        """Create a provider account in the fake (started already); returns what the others need of it."""
        raise NotImplementedError

    def connection(self, key: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """(account settings beyond id, provider, numbering and payment links; credentials) for a key."""
        raise NotImplementedError

    def stored(self, key: Any) -> Iterator[tuple[str, str]]:
        """(our document id, provider document id) of every document the provider account holds."""
        raise NotImplementedError

    def limiter_keys(self, key: Any) -> Iterator[Any]:
        """The fake limiter's keys the account's requests count under."""
        raise NotImplementedError

    # -- shared

    def supports(self, kind: DocumentKind) -> bool:
        return adapter_class(self.name).capabilities.supports_kind(kind)

    def connect(self, runtime: Runtime, account_id: str, key_index: int) -> None:
        if key_index not in self._keys:
            self._keys[key_index] = self.new_key(key_index)
        settings, credentials = self.connection(self._keys[key_index])
        runtime.accounts.put(AccountSettings.model_validate({
            "account_id": account_id, "provider": self.name, "numbering": self.numbering,
            "payment_links": self.payment_links, **settings}))
        runtime.accounts.save_credentials(account_id, credentials)

    def documents_by_our_id(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key in self._keys.values():
            for our_id, provider_id in self.stored(key):
                found.setdefault(our_id, []).append(provider_id)
        return found

    def peak_requests_per_key(self) -> int:
        return max((self.fake.limiter.peak(limiter_key) for key in self._keys.values()
                    for limiter_key in self.limiter_keys(key)), default=0)

    @property
    def injected(self) -> Counter[str]:
        return self.fake.faults.injected


class FakturowniaUnderTest(FakeProviderUnderTest):
    name = ProviderName.FAKTUROWNIA
    fault_targets = (
        FaultTarget("POST", r"/invoices\.json", CREATE_FAULTS),
        FaultTarget("GET", r"/invoices\.json", READ_FAULTS),  # the look-up by our id
        FaultTarget("GET", r"/invoices/\d+\.pdf", READ_FAULTS),
    )

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        return FakturowniaFake(rate_limit=rate_limit)

    def new_key(self, key_index: int) -> tuple[str, int]:  # (API token, department id)
        token = secrets.token_hex(16)
        self.fake.add_account(token, prefix=f"rel-{key_index}")
        return token, self.fake.add_department(token, "Sklep", "5252445767")

    def connection(self, key: tuple[str, int]) -> tuple[dict[str, Any], dict[str, str]]:
        token, department = key
        return ({"api_url": self.fake.base_url,
                 "series_links": {"FV": str(department), "FV-EXPORT": str(department), "PAR": None, "KOR": None}},
                {"api_token": token})

    def stored(self, key: tuple[str, int]) -> Iterator[tuple[str, str]]:
        for invoice in self.fake.account(key[0]).invoices:
            yield str(invoice.get("oid")), str(invoice["id"])

    def limiter_keys(self, key: tuple[str, int]) -> Iterator[Any]:
        yield key[0]


class InfaktUnderTest(FakeProviderUnderTest):
    """inFakt has no field for our id: the accounts use our numbering, so the look-up finds an interrupted
    create by our number (passed with check_duplicate_number) and this count maps the number back."""

    name = ProviderName.INFAKT
    numbering = Numbering.OURS
    fault_targets = (
        FaultTarget("POST", r"/api/v3/async/(invoices|corrective_invoices)\.json", CREATE_FAULTS),
        FaultTarget("GET", r"/api/v3/(invoices|corrective_invoices)\.json", READ_FAULTS),  # the look-up by number
        FaultTarget("GET", r"/api/v3/(invoices|corrective_invoices)/[0-9a-f-]+/pdf\.json", READ_FAULTS),
    )
    limit_scope = LimitScope.DEPLOYMENT  # inFakt limits per calling IP: one key for the whole deployment

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        # Its documented pair of per-IP windows (GET apart from the rest), both at the scenario's limit.
        return InfaktFake(read_limit=rate_limit, write_limit=rate_limit)

    def new_key(self, key_index: int) -> tuple[str, int]:  # (API key, VAT exemption reason id)
        api_key = secrets.token_hex(20)
        self.fake.add_account(api_key)
        return api_key, self.fake.add_vat_exemption(api_key, "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT")

    def connection(self, key: tuple[str, int]) -> tuple[dict[str, Any], dict[str, str]]:
        api_key, exemption = key
        return ({"api_url": f"{self.fake.base_url}/api/v3",
                 "series_links": {"FV": None, "FV-EXPORT": None, "KOR": None},  # no series in inFakt
                 "provider_options": {"vat_exemption_reason_id": exemption}},
                {"api_key": api_key})

    def stored(self, key: tuple[str, int]) -> Iterator[tuple[str, str]]:
        account = self.fake.account(key[0])
        for prefix, documents in (("", account.invoices), (CORRECTION_PREFIX, account.corrections)):
            for document_uuid, document in documents.items():  # ids as the adapter records them
                yield our_id_in(document.get("number")), f"{prefix}{document_uuid}"

    def limiter_keys(self, key: tuple[str, int]) -> Iterator[Any]:
        yield from (("read", "127.0.0.1"), ("write", "127.0.0.1"))


class InfaktNumberedUnderTest(InfaktUnderTest):
    """inFakt numbering the documents: no number of ours to find an interrupted create by. Its creation
    task settles it where the POST answered (its status polls fail too), else the day's invoices and our
    reference in their notes; the count reads our id from the notes."""

    key = "infakt-numbered"
    numbering = Numbering.PROVIDER
    fault_targets = (*InfaktUnderTest.fault_targets,
                     FaultTarget("GET", r"/api/v3/async/(invoices|corrective_invoices)/status/[0-9a-f-]+\.json",
                                 READ_FAULTS))

    def stored(self, key: tuple[str, int]) -> Iterator[tuple[str, str]]:
        account = self.fake.account(key[0])
        for prefix, documents in (("", account.invoices), (CORRECTION_PREFIX, account.corrections)):
            for document_uuid, document in documents.items():
                yield our_id_in(document.get("notes")), f"{prefix}{document_uuid}"


class WfirmaUnderTest(FakeProviderUnderTest):
    """wFirma keeps our id in id_external (not unique there: a second create is a second document)."""

    name = ProviderName.WFIRMA
    fault_targets = (
        FaultTarget("POST", r"/invoices/add", CREATE_FAULTS),
        FaultTarget("POST", r"/invoices/find", READ_FAULTS),  # the look-up by id_external
        FaultTarget("POST", r"/invoices/download/\d+", READ_FAULTS),
    )
    payment_links = {"Przelew": "transfer", "Karta": "payment_card"}

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        # One appKey per integration: the deployment's (template parameter WfirmaAppKey), not a merchant's.
        app_key = secrets.token_hex(16)
        self.parameter_overrides = {"WfirmaAppKey": app_key}
        return WfirmaFake(app_key=app_key, rate_limit=rate_limit)

    def new_key(self, key_index: int) -> tuple[str, str, int, int]:  # (access, secret, company, series)
        access_key, secret_key = secrets.token_hex(16), secrets.token_hex(16)
        company_id = self.fake.add_company(access_key, secret_key, name=f"Sklep {key_index} Sp. z o.o.",
                                           nip="5252445767")
        return access_key, secret_key, company_id, self.fake.add_series(company_id, "Sklep", "SKL [numer]/[rok]")

    def connection(self, key: tuple[str, str, int, int]) -> tuple[dict[str, Any], dict[str, str]]:
        access_key, secret_key, company_id, series = key
        return ({"api_url": self.fake.base_url,
                 "series_links": {"FV": str(series), "FV-EXPORT": None, "PAR": None, "KOR": None}},
                # The runtime adds the deployment's appKey.
                {"access_key": access_key, "secret_key": secret_key, "company_id": str(company_id)})

    def stored(self, key: tuple[str, str, int, int]) -> Iterator[tuple[str, str]]:
        for invoice_id, invoice in self.fake.company(key[2]).invoices.items():
            yield str(invoice.get("id_external")), str(invoice_id)

    def limiter_keys(self, key: tuple[str, str, int, int]) -> Iterator[Any]:
        yield key[0]  # per accessKey


class IfirmaUnderTest(FakeProviderUnderTest):
    """iFirma has no field for our id: every create carries our reference in Uwagi, and an interrupted
    create is settled by listing faktury.json of its day and reading the reference back (its list is a
    fault target too). The count reads our id from Uwagi."""

    name = ProviderName.IFIRMA
    fault_targets = (
        FaultTarget("POST", r"/iapi/(fakturakraj|fakturawaluta|fakturaeksportuslugue)(/korekta/[^/]+)?\.json",
                    CREATE_FAULTS),
        # The read of the number right after a create, and of a listed candidate when settling.
        FaultTarget("GET", r"/iapi/(fakturakraj|fakturawaluta|fakturaeksportuslugue)/\d+\.json", READ_FAULTS),
        FaultTarget("GET", r"/iapi/(fakturakraj|fakturawaluta|fakturaeksportuslugue)/\d+\.pdf", READ_FAULTS),
        FaultTarget("GET", r"/iapi/faktury\.json", READ_FAULTS),  # the listing that settles an interrupted create
    )
    payment_links = {"Przelew": "PRZ", "Karta": "KAR"}

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        return IfirmaFake(rate_limit=rate_limit)  # and its documented 15,000 requests per day per user

    def new_key(self, key_index: int) -> tuple[str, str]:  # (login, invoice key)
        login, invoice_key = f"sklep-{key_index}@example.com", secrets.token_hex(16)
        # The example documents are issued in 11/2026: the accounting month iFirma books in. The monthly
        # API quota (1000 documents by default) is raised so that it is never what stops a long run.
        self.fake.add_account(login, invoice_key=invoice_key, accounting_month=(2026, 11), series=("SKLEP",),
                              quota=1_000_000)
        return login, invoice_key

    def connection(self, key: tuple[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        login, invoice_key = key
        return ({"api_url": f"{self.fake.base_url}/iapi",
                 "series_links": {"FV": "SKLEP", "FV-EXPORT": None, "KOR": None}},  # a series by its name
                {"login": login, "invoice_key": invoice_key})

    def stored(self, key: tuple[str, str]) -> Iterator[tuple[str, str]]:
        for invoice_id, invoice in self.fake.account(key[0]).invoices.items():
            kind = invoice["_type"]
            yield our_id_in(invoice.get("Uwagi")), f"{kind}:{invoice_id}"

    def limiter_keys(self, key: tuple[str, str]) -> Iterator[Any]:
        yield key[0]  # per user (login)


class FirmaoUnderTest(FakeProviderUnderTest):
    """Firmao with our numbering: it refuses a second sale with our number, and the look-up lists by the
    number (as the adapter settles a create whose answer was lost); our id is in the number."""

    name = ProviderName.FIRMAO
    numbering = Numbering.OURS
    fault_targets = (
        FaultTarget("POST", r"/[^/]+/svc/v1/transactions", CREATE_FAULTS),
        FaultTarget("GET", r"/[^/]+/svc/v1/transactions", READ_FAULTS),  # the read-back and the look-up
        FaultTarget("GET", r"/[^/]+/svc/v1/reports/invoices/transaction/.+", READ_FAULTS),
    )
    payment_links = {"Przelew": "TRANSFER", "Karta": "CASH"}

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        return FirmaoFake(rate_limit=rate_limit)

    def new_key(self, key_index: int) -> tuple[str, str]:  # (organisation, password)
        organisation, password = f"rel-{key_index}", secrets.token_hex(16)
        self.fake.add_account(organisation, f"api@{organisation}.example", password)
        return organisation, password

    def connection(self, key: tuple[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        organisation, password = key
        return ({"api_url": self.fake.base_url, "series_links": dict.fromkeys(("FV", "FV-EXPORT", "PAR", "KOR"))},
                {"organisation": organisation, "login": f"api@{organisation}.example", "password": password})

    def stored(self, key: tuple[str, str]) -> Iterator[tuple[str, str]]:
        for transaction in self.fake.transactions(key[0]):
            yield our_id_in(transaction["transactionNumber"]), str(transaction["id"])

    def limiter_keys(self, key: tuple[str, str]) -> Iterator[Any]:
        yield key[0]  # per organisation


# The Romanian providers' rate-limit answer is a 10-minute block, which their limits keep from ever
# happening (tests/providers prove it); injected, it would only stall the run, so it is left out.
UNBLOCKED_CREATE_FAULTS = tuple(kind for kind in CREATE_FAULTS if kind != RATE_LIMITED)
UNBLOCKED_READ_FAULTS = tuple(kind for kind in READ_FAULTS if kind != RATE_LIMITED)
ROMANIAN_EXAMPLES = {INVOICE: "ro/01-invoice-company.json", EXEMPT: "ro/04-invoice-exempt-and-zero.json",
                     FOREIGN: "ro/03-invoice-eur.json", CORRECTION: "ro/05-storno.json"}  # RON, Romanian buyers
ROMANIAN_SERIES = {"FV": "FCT", "ST": "FCT"}


class OblioUnderTest(FakeProviderUnderTest):
    """Oblio keeps our id and version in the idempotencyKey, which settles an interrupted create.

    Its published limits (creates 30 per 100 s, so 3.4 s apart) cannot be scaled down like the run's
    timings: the service is told the scenario's limit, as for every provider, and the fake measures what
    it gets per second (its rules and 10-minute block are the contract tests' business)."""

    name = ProviderName.OBLIO
    fault_targets = (
        FaultTarget("POST", r"/api/docs/invoice", UNBLOCKED_CREATE_FAULTS),  # also the look-up: the same create
        FaultTarget("GET", r"/api/docs/invoice/list", UNBLOCKED_READ_FAULTS),  # the read-back
        FaultTarget("GET", r"/utils/show_file/?", UNBLOCKED_READ_FAULTS),  # the PDF
    )
    payment_links = {"Transfer bancar": "Ordin de plata", "Card": "Card"}
    examples = ROMANIAN_EXAMPLES

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        return OblioFake(burst_block=False, windowed_limits=False)

    def new_key(self, key_index: int) -> tuple[str, str, str]:  # (login e-mail, API secret, company CIF)
        email, secret, cif = f"magazin-{key_index}@example.ro", secrets.token_hex(16), f"RO{90000000 + key_index}"
        self.fake.add_account(email, secret)
        self.fake.add_company(email, cif, f"Magazin {key_index} SRL")
        return email, secret, cif

    def connection(self, key: tuple[str, str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        email, secret, cif = key
        return ({"api_url": self.fake.base_url, "home_currency": "RON", "series_links": ROMANIAN_SERIES},
                {"client_id": email, "client_secret": secret, "cif": cif})

    def stored(self, key: tuple[str, str, str]) -> Iterator[tuple[str, str]]:
        for document in self.fake.documents(key[2]):
            yield our_id_in(document.idempotency_key), str(document.id)

    def limiter_keys(self, key: tuple[str, str, str]) -> Iterator[Any]:
        yield key[0]  # per login: its most requests in one second


class SmartBillUnderTest(FakeProviderUnderTest):
    """SmartBill has no look-up and no list: an interrupted create is settled by the numbers its series gave
    out since the attempt began (read before each create, kept with the claim) and our reference read from
    their PDFs. Our id travels in the mentions; a storno keeps its invoice's, and is counted for the
    correction the plan made of that invoice."""

    name = ProviderName.SMARTBILL
    fault_targets = (
        FaultTarget("POST", r"/SBORO/api/invoice(/reverse)?", UNBLOCKED_CREATE_FAULTS),
        FaultTarget("GET", r"/SBORO/api/invoice/paymentstatus", UNBLOCKED_READ_FAULTS),  # the read-back
        FaultTarget("GET", r"/SBORO/api/invoice/pdf", UNBLOCKED_READ_FAULTS),  # also the settlement's reads
        FaultTarget("GET", r"/SBORO/api/series", UNBLOCKED_READ_FAULTS),  # the numbering before each create
    )
    payment_links = {"Transfer bancar": "Ordin plata", "Card": "Card"}
    examples = ROMANIAN_EXAMPLES

    def make_fake(self, rate_limit: tuple[int, float]) -> FakeServer:
        return SmartBillFake(rate_limit=(*rate_limit, 600.0))  # over the limit: the 10-minute block

    def new_key(self, key_index: int) -> tuple[str, str, str]:  # (login e-mail, API token, firm CIF)
        email, token, cif = f"magazin-{key_index}@example.ro", secrets.token_hex(16), f"RO{90000000 + key_index}"
        self.fake.add_account(email, token, cif)
        return email, token, cif

    def connection(self, key: tuple[str, str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        email, token, cif = key
        return ({"api_url": self.fake.api_url, "home_currency": "RON", "series_links": ROMANIAN_SERIES},
                {"username": email, "token": token, "cif": cif})

    def stored(self, key: tuple[str, str, str]) -> Iterator[tuple[str, str]]:
        for (series, number), invoice in self.fake.company(key[2]).invoices.items():
            our_id = our_id_in(invoice.get("mentions"))
            yield (self.corrections.get(our_id, our_id) if invoice["storno"] else our_id), f"{series}:{number}"

    def limiter_keys(self, key: tuple[str, str, str]) -> Iterator[Any]:
        yield key[0]  # per user (login e-mail)


PROVIDERS: dict[str, Callable[[Scenario, int], ProviderUnderTest]] = {
    provider.key: provider
    for provider in (FakturowniaUnderTest, InfaktUnderTest, WfirmaUnderTest, IfirmaUnderTest, FirmaoUnderTest,
                     OblioUnderTest, SmartBillUnderTest, InfaktNumberedUnderTest)}


# ---------------------------------------------------------------------------------------- the plan


@dataclass
class Sent:
    """One planned message: a document (or a bad input) for an account."""

    account_id: str
    document_id: str
    body: str
    provider: str
    bad_input: str | None = None  # key of BAD_INPUTS
    message_id: str | None = None  # set when sent (a not_json input is recorded under it)


def plan_messages(scenario: Scenario, accounts: dict[str, str],
                  supports: Callable[[str, DocumentKind], bool] = lambda provider, kind: True,
                  example_for: Callable[[str, str], str] = lambda provider, template: template,
                  ) -> tuple[list[Sent], list[Sent], list[Sent]]:
    """(first deliveries in queue order, duplicates sent at once in another group, duplicates sent later).

    `accounts`: account id -> provider name; each account gets only the kinds its provider `supports`, each
    drawn template from the example its provider takes (`example_for`). A full reversal (a storno) takes its
    invoice out of those the account's later corrections may correct: a document is reversed once."""
    rng = random.Random(scenario.seed)
    templates = {provider: [t for t, (kind, _) in TEMPLATES.items() if supports(provider, kind)]
                 for provider in set(accounts.values())}
    account_ids = list(accounts)
    exported_invoices: dict[str, list[str]] = {a: [] for a in account_ids}
    first: list[Sent] = []
    for n in range(scenario.documents):
        account = account_ids[n % len(account_ids)]
        provider = accounts[account]
        choices = templates[provider]
        template = rng.choices(choices, weights=[TEMPLATES[t][1] for t in choices])[0]
        document_id = f"R{scenario.seed % 1000:03d}-{n:05d}"  # matches OUR_DOCUMENT_ID
        if template == CORRECTION and not exported_invoices[account]:
            template = INVOICE
        message = load_example(example_for(provider, template))
        message["account_id"] = account
        # Our number carries our id (inFakt's look-up finds it by the number); so do the notes, which
        # iFirma, without a field for our id, keeps.
        message["document"].update(document_id=document_id, number=f"{document_id}/2026",
                                   notes=f"Zamówienie {document_id}")
        if template == CORRECTION:
            # corrects an invoice of its account sent earlier (01's lines are its "before")
            corrected = rng.choice(exported_invoices[account])
            message["document"]["correction"]["corrected_document_id"] = corrected
            if not message["document"]["lines"]:
                exported_invoices[account].remove(corrected)
        if template == INVOICE:
            exported_invoices[account].append(document_id)
        first.append(Sent(account, document_id, json.dumps(message), provider))
        if rng.random() < scenario.bad_input_rate:
            first.append(bad_input(rng, account, provider, n))
    valid = [s for s in first if s.bad_input is None]
    duplicates = rng.sample(valid, k=int(len(valid) * scenario.duplicate_rate))
    half = len(duplicates) // 2
    return first, duplicates[:half], duplicates[half:]


def bad_input(rng: random.Random, account: str, provider: str, n: int) -> Sent:
    kind = rng.choice(sorted(BAD_INPUTS))
    document_id = f"BAD-{n:05d}"
    message = load_example(INVOICE)
    message["account_id"] = account
    message["document"]["document_id"] = document_id
    if kind == "not_json":
        return Sent(account, document_id, json.dumps(message)[: rng.randint(10, 200)], provider, kind)
    if kind == "totals_mismatch":
        message["document"]["totals"]["gross"] = "1.00"
    elif kind == "missing_field":
        del message["document"]["buyer"]["address"]
    elif kind == "unknown_account":
        message["account_id"] = account = f"{account}-not-connected"
    else:
        message = load_example(CORRECTION)
        message["account_id"] = account
        message["document"].update(document_id=document_id)
        message["document"]["correction"]["corrected_document_id"] = f"NEVER-{n:05d}"
    return Sent(account, document_id, json.dumps(message), provider, kind)


# ---------------------------------------------------------------------------------------- figures


@dataclass
class Figures:
    scenario: Scenario
    seconds: float = 0.0
    documents_sent: int = 0
    messages_sent: int = 0
    duplicate_deliveries: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    aws_outages: Counter[str] = field(default_factory=Counter)  # by service
    aws_failed_calls: Counter[str] = field(default_factory=Counter)
    worker_deaths: Counter[str] = field(default_factory=Counter)  # by where the worker died
    exported: int = 0
    duplicates_at_provider: int = 0
    lost: list[str] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)  # by error code
    not_exported: list[str] = field(default_factory=list)  # "document (status): code: message", for the report
    failed_without_reason: int = 0
    in_doubt: int = 0
    in_doubt_without_evidence: int = 0
    # Corrections held pending for an original that is not exported at the end (failed or in doubt).
    waiting_for_original: int = 0
    bad_inputs_tried: int = 0
    bad_inputs_rejected: int = 0  # each with the error its kind must get
    dlq: Counter[str] = field(default_factory=Counter)  # by the state of the message's document
    dlq_unexplained: list[str] = field(default_factory=list)
    dlq_checked: int = 0  # messages the export DLQ check looked at, as its schedule would run it after the run
    recorded_by_dlq_check: int = 0  # documents it recorded: their message reached the DLQ unrecorded
    without_outcome_event: list[str] = field(default_factory=list)
    outcome_events: int = 0  # of documents (not accounts)
    repeated_outcome_events: int = 0  # published again under the same event_id (consumers de-duplicate)
    stream_batches_given_up: int = 0  # by the stream mapping after its retries (to RecordChangeFailures)
    stream_changes_read: int = 0  # handed to the stream function, retries included
    # Exported, but the record or its `exported` event without the provider's number (issue 20: the number
    # is what the customer sees and the link carries).
    exported_without_number: list[str] = field(default_factory=list)
    pdfs_stored: int = 0
    rate_limit: str = ""
    peak_requests_per_key: int = 0
    peaks: dict[str, int] = field(default_factory=dict)  # by provider
    settlements: dict[str, SettlementFigures] = field(default_factory=dict)  # by provider (as the scenario names it)
    settlement_runs: int = 0  # runs of the settlement schedule after the traffic

    def settlement_of(self, provider: str) -> SettlementFigures:
        return self.settlements.setdefault(provider, SettlementFigures())

    @property
    def ok(self) -> bool:
        return not (self.duplicates_at_provider or self.lost or self.failed_without_reason
                    or self.in_doubt_without_evidence or self.dlq_unexplained or self.without_outcome_event
                    or self.exported_without_number
                    or self.bad_inputs_rejected != self.bad_inputs_tried
                    or self.peak_requests_per_key > self.scenario.rate_limit)

    def rows(self) -> list[tuple[str, str]]:
        s = self.scenario
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults_injected.items()))
        outages = ", ".join(f"{service} {count} ({self.aws_failed_calls[service]} calls failed)"
                            for service, count in sorted(self.aws_outages.items())) or "none"
        dlq = ", ".join(f"{state} {count}" for state, count in sorted(self.dlq.items())) or "none"
        deaths = ", ".join(f"{where} {count}" for where, count in sorted(self.worker_deaths.items())) or "none"
        failed = ", ".join(f"{code} {count}" for code, count in sorted(self.failed.items())) or "none"
        return [
            ("providers", ", ".join(s.providers)),
            ("documents sent", f"{self.documents_sent} ({s.accounts} accounts, {s.workers} workers, seed {s.seed})"),
            ("messages sent", f"{self.messages_sent} (incl. {self.duplicate_deliveries} duplicate deliveries "
                              f"and {self.bad_inputs_tried} bad inputs)"),
            ("provider faults injected", f"{sum(self.faults_injected.values())} ({faults})"),
            ("AWS outages injected", f"{sum(self.aws_outages.values())} ({outages})"),
            ("export workers killed", f"{sum(self.worker_deaths.values())} ({deaths})"),
            ("exported exactly once", str(self.exported)),
            ("duplicates at the provider", str(self.duplicates_at_provider)),
            ("lost", str(len(self.lost))),
            ("failed with a reason", f"{sum(self.failed.values())} ({failed})"),
            ("in doubt, with evidence", f"{self.in_doubt} (after the settlement: "
                                        f"{sum(f.in_doubt_before for f in self.settlements.values())} before it)"),
            ("corrections held for an original not exported", str(self.waiting_for_original)),
            ("bad inputs tried / rejected with their error", f"{self.bad_inputs_tried} / {self.bad_inputs_rejected}"),
            ("DLQ messages, by their document's state", f"{sum(self.dlq.values())} ({dlq}); "
                                                          f"unexplained {len(self.dlq_unexplained)}"),
            ("recorded by the DLQ check", f"{self.recorded_by_dlq_check} (of {self.dlq_checked} DLQ messages "
                                          "checked; the rest said why already)"),
            ("documents without an outcome event", str(len(self.without_outcome_event))),
            ("outcome events, from the records' stream and answers",
             f"{self.outcome_events} (of which {self.repeated_outcome_events} again under the same event_id, "
             "which consumers de-duplicate)"),
            ("record changes handed to the stream function", f"{self.stream_changes_read}, retries included "
             f"(batches given up after their retries, then replayed on schedule: {self.stream_batches_given_up})"),
            ("exported without the provider's number (record or event)", str(len(self.exported_without_number))),
            ("PDFs stored for exported documents", f"{self.pdfs_stored} / {self.exported}"),
            ("provider rate limit / peak seen per key", f"{self.rate_limit} / {self.peak_requests_per_key} ("
                                                        + ", ".join(f"{k} {v}" for k, v in self.peaks.items()) + ")"),
            ("wall time", f"{self.seconds:.0f} s"),
        ]

    def table(self) -> str:
        lines = ["| figure | value |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in self.rows()]
        return "\n".join(lines)

    def settlement_table(self) -> str:
        """Per provider: interrupted creates asked about again, on a later delivery and by the settlement."""
        lines = ["| provider | settled on a later delivery: found / sent again | in doubt before settlement | "
                 "settled automatically: found / released and re-sent | left in doubt, with evidence |",
                 "|---|---|---|---|---|"]
        for provider in self.scenario.providers:
            f = self.settlement_of(provider)
            refused = f" ({f.resent_failed} refused on the new send)" if f.resent_failed else ""
            lines.append(f"| {provider} | {f.delivery_found} / {f.delivery_sent_again} | {f.in_doubt_before} | "
                         f"{f.settled_found} / {f.settled_resent}{refused} | {f.left_in_doubt} |")
        return "\n".join(lines)


@dataclass
class SettlementFigures:
    """What became of one provider's interrupted creates (each record's `settlement`, domain.settlement)."""

    delivery_found: int = 0  # a later delivery asked the provider and found it there (exported, once)
    delivery_sent_again: int = 0  # ... found it surely absent, and sent it (once more)
    in_doubt_before: int = 0  # in doubt when the traffic ended (before the settlement's schedule ran)
    settled_found: int = 0  # the settlement found it at the provider: exported
    settled_resent: int = 0  # the settlement found it surely absent: released, sent again and exported
    resent_failed: int = 0  # ... sent again, and refused by the provider this time (failed with the reason)
    left_in_doubt: int = 0  # still in doubt (with the settlement's evidence, or the reason it was held)

    def count(self, record: DocumentRecord) -> None:
        settlement = record.settlement or {}
        where, outcome = settlement.get("where"), settlement.get("outcome")
        if record.status == Status.IN_DOUBT:
            self.left_in_doubt += 1
        elif record.status == Status.EXPORTED and where == "export":
            self.delivery_found += outcome == "found"
            self.delivery_sent_again += outcome == "absent"
        elif record.status == Status.EXPORTED and where == "settlement":
            self.settled_found += outcome == "found"
            self.settled_resent += outcome == "absent"
        elif record.status == Status.FAILED and where == "settlement":
            self.resent_failed += 1


# ---------------------------------------------------------------------------------------- the run


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    reset_runtime()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_runtime()


def run(scenario: Scenario, *, on_progress: Callable[[str], None] = lambda _: None) -> Figures:
    providers = {name: PROVIDERS[name](scenario, scenario.seed + index + 1)
                 for index, name in enumerate(scenario.providers)}
    for provider in providers.values():
        provider.fake.start()
    # Per accounting system (both inFakt setups share inFakt's one limit per calling IP).
    limits = {provider.name.value: {"limit": scenario.rate_limit, "window_seconds": scenario.rate_window_seconds,
                                    "scope": provider.limit_scope.value, "source": "reliability scenario"}
              for provider in providers.values()}
    parameters: dict[str, Any] = {"ExportMaxReceiveCount": scenario.max_receive_count}
    for provider in providers.values():
        parameters.update(provider.parameter_overrides)
    try:
        with sqs_like_aws(), LocalStack(visibility_timeout_override=scenario.visibility_timeout,
                        parameter_overrides=parameters, workers_per_mapping=scenario.workers) as stack, \
                environment({**FAST_ENVIRONMENT, "PROVIDER_RATE_LIMITS": json.dumps(limits),
                             "EXPORT_TIMEOUT_SECONDS": str(scenario.function_timeout_seconds)}):
            return _run(scenario, stack, providers, on_progress)
    finally:
        for provider in providers.values():
            provider.fake.stop()


def _run(scenario: Scenario, stack: LocalStack, providers: dict[str, ProviderUnderTest],
         on_progress: Callable[[str], None]) -> Figures:
    runtime = get_runtime()
    names = list(providers)
    # Accounts take the providers in turn; within a provider, two accounts share each API key.
    accounts = {f"rel-{index:02d}-{uuid.uuid4().hex[:6]}": names[index % len(names)]
                for index in range(scenario.accounts)}
    for index, (account_id, provider) in enumerate(accounts.items()):
        providers[provider].connect(runtime, account_id, key_index=index // len(names) // 2)
    outages = AwsOutages(seed=scenario.seed, rate=scenario.aws_outage_rate)
    # The functions' own clients (the stores - documents, accounts, audit trail - share one DynamoDB client).
    outages.install([runtime.documents.table.meta.client, runtime.client("dynamodb"), runtime.client("s3"),
                     runtime.client("secretsmanager")])
    stack.function("ExportFunction").timeout_s = scenario.function_timeout_seconds
    # The template's 120 s, scaled like the export function's 30 s.
    stack.function("SettleInDoubtFunction").timeout_s = scenario.function_timeout_seconds * 4
    crashes = WorkerCrashes(seed=scenario.seed, rate=scenario.crash_rate)
    first, at_once, later = plan_messages(scenario, accounts, lambda name, kind: providers[name].supports(kind),
                                          lambda name, template: providers[name].examples.get(template, template))
    for sent in first:  # which correction reverses which invoice, for providers that keep no id of a storno
        document = json.loads(sent.body).get("document", {}) if sent.bad_input is None else {}
        if corrected := (document.get("correction") or {}).get("corrected_document_id"):
            providers[sent.provider].corrections[corrected] = sent.document_id
    figures = Figures(scenario, rate_limit=f"{scenario.rate_limit} per {scenario.rate_window_seconds:g} s")
    started = time.monotonic()

    def send(message: Sent, group: str | None = None) -> None:
        message.message_id = stack.send("ExportQueue", message.body, group_id=group or message.account_id,
                                        dedup_id=uuid.uuid4().hex)
        figures.messages_sent += 1

    on_progress(f"sending {len(first)} messages and {len(at_once)} concurrent duplicates")
    with crashes.installed(stack, runtime):
        stack.start_pollers()  # workers take messages while the rest are still being sent
        try:
            duplicates_at = {id(d) for d in at_once}
            for message in first:
                send(message)
                if id(message) in duplicates_at:  # the same document in another group: a concurrent delivery
                    send(Sent(**{**message.__dict__, "message_id": None}), group=f"{message.account_id}-dup")
            stack.run_until_idle(timeout=scenario.timeout_seconds)
            on_progress(f"first pass done after {time.monotonic() - started:.0f} s; "
                        f"sending {len(later)} late duplicates")
            for message in later:
                send(Sent(**{**message.__dict__, "message_id": None}))
            stack.run_until_idle(timeout=scenario.timeout_seconds)
        finally:
            stack.stop_pollers()
    outages.rate = 0  # counting reads through the same clients
    on_progress("checking the export DLQ, as its schedule would")
    _check_dlq(figures, stack, scenario)
    stack.run_until_idle(timeout=scenario.timeout_seconds)  # what the check recorded, from the stream
    on_progress("settling the documents in doubt, as the settlement's schedule would")
    _settle_in_doubt(figures, stack, runtime, accounts, first)
    _replay_given_up(stack, scenario)
    figures.seconds = time.monotonic() - started
    figures.duplicate_deliveries = len(at_once) + len(later)
    figures.aws_outages, figures.aws_failed_calls = outages.outages, outages.failed_calls
    figures.worker_deaths = crashes.crashes
    stream = stack.stream_source("DocumentsTable").stats
    figures.stream_batches_given_up, figures.stream_changes_read = stream.skipped_batches, stream.records
    on_progress("counting")
    _count(figures, stack, runtime, providers, first)
    return figures


def _check_dlq(figures: Figures, stack: LocalStack, scenario: Scenario) -> None:
    """Run the DLQ check function until it has nothing left (an outage may still be ending, or a document
    may have been claimed too recently), as its schedule would every few minutes."""
    for _ in range(3):
        invocation = stack.function("DeadLetterCheckFunction").invoke({"trigger": "dead_letter_check"})
        if invocation.error is not None:
            raise invocation.error
        report = invocation.response
        figures.dlq_checked = max(figures.dlq_checked, report["messages"])
        figures.recorded_by_dlq_check += report["recorded"]
        if not (report["left_for_next_check"] or report["stopped_for_time"]):
            return
        time.sleep(scenario.function_timeout_seconds)


def _replay_given_up(stack: LocalStack, scenario: Scenario) -> None:
    """Replay the stream batches given up after their retries (RecordChangeFailures), as the stream
    function's schedule would, until none is left."""
    for _ in range(3):
        if not stack.stream_source("DocumentsTable").stats.skipped_batches:
            return
        invocation = stack.function("RecordChangesFunction").invoke({"trigger": "replay_record_changes"})
        if invocation.error is not None:
            raise invocation.error
        stack.run_until_idle(timeout=scenario.timeout_seconds)  # the PDF and KSeF requests it sent
        if not (invocation.response["left_for_next_run"] or invocation.response["stopped_for_time"]):
            return
        time.sleep(scenario.function_timeout_seconds)


def _settle_in_doubt(figures: Figures, stack: LocalStack, runtime: Runtime, accounts: dict[str, str],
                     first: list[Sent]) -> None:
    """Count each provider's documents in doubt, then run the settlement as its schedule would (its
    function queues them, the queue's function asks the providers, a document found absent is sent
    again through the export queue) until a run queues nothing it can still decide: a document asked
    about too early (its provider's list not yet trusted) is asked again by the next run."""
    documents = [s for s in first if s.bad_input is None]
    for sent in documents:
        record = runtime.documents.get(sent.account_id, sent.document_id)
        if record is not None and record.status == Status.IN_DOUBT:
            figures.settlement_of(accounts[sent.account_id]).in_doubt_before += 1
    for _ in range(4):
        in_doubt = [s for s in documents
                    if (r := runtime.documents.get(s.account_id, s.document_id)) and r.status == Status.IN_DOUBT
                    and r.settlement_tries == 0]
        if not in_doubt:
            return
        invocation = stack.function("SettleInDoubtFunction").invoke({"trigger": "settle_in_doubt"})
        if invocation.error is not None:
            raise invocation.error
        figures.settlement_runs += 1
        stack.run_until_idle(timeout=figures.scenario.timeout_seconds)
        time.sleep(float(FAST_ENVIRONMENT["SETTLE_LISTING_AFTER_SECONDS"]))  # the lists' trust of the rest


def _outcome_events(stack: LocalStack, figures: Figures) -> tuple[dict[tuple[str, str], list[str]],
                                                                  dict[tuple[str, str], list[str | None]]]:
    """Per (account, document): the outcomes its events named, and the provider numbers its `exported`
    events carried; the events counted, and those published again under the same event_id."""
    events: dict[tuple[str, str], list[str]] = {}
    exported_numbers: dict[tuple[str, str], list[str | None]] = {}
    seen: set[str] = set()
    for event in stack.outcome_events():
        if event["detail-type"] != OUTCOME_DETAIL_TYPE:  # e.g. an account paused: not a document's outcome
            continue
        detail = event["detail"]
        figures.outcome_events += 1
        figures.repeated_outcome_events += detail["event_id"] in seen
        seen.add(detail["event_id"])
        key = (detail["account_id"], detail["document_id"])
        events.setdefault(key, []).append(detail["outcome"])
        if detail["outcome"] == "exported":
            exported_numbers.setdefault(key, []).append(detail.get("provider_number"))
    return events, exported_numbers


def _count(figures: Figures, stack: LocalStack, runtime: Runtime, providers: dict[str, ProviderUnderTest],
           first: list[Sent]) -> None:
    events, exported_numbers = _outcome_events(stack, figures)
    at_provider: dict[str, list[str]] = {}
    for provider in providers.values():
        for our_id, ids in provider.documents_by_our_id().items():
            at_provider.setdefault(our_id, []).extend(ids)
        figures.faults_injected.update(provider.injected)
        figures.peaks[provider.key] = provider.peak_requests_per_key()
        figures.peak_requests_per_key = max(figures.peak_requests_per_key, figures.peaks[provider.key])
    figures.duplicates_at_provider = sum(len(ids) - 1 for ids in at_provider.values() if len(ids) > 1)

    documents = [s for s in first if s.bad_input is None]
    figures.documents_sent = len(documents)
    for sent in documents:
        record = runtime.documents.get(sent.account_id, sent.document_id)
        provider_ids = at_provider.get(sent.document_id, [])
        if record is not None:
            figures.settlement_of(sent.provider).count(record)
        state = _classify(figures, record, provider_ids, runtime.documents.get)
        if state is None:
            figures.lost.append(sent.document_id)
        elif state not in events.get((sent.account_id, sent.document_id), []):
            figures.without_outcome_event.append(sent.document_id)
        if state == "exported" and (not record.provider_number or not all(
                exported_numbers.get((sent.account_id, sent.document_id), [None]))):
            figures.exported_without_number.append(sent.document_id)
    for sent in first:
        if sent.bad_input is not None:
            figures.bad_inputs_tried += 1
            record = (runtime.documents.get("unidentified", f"message-{sent.message_id}")
                      if sent.bad_input == "not_json" else runtime.documents.get(sent.account_id, sent.document_id))
            if record and record.status == Status.FAILED and record.last_error.code == BAD_INPUTS[sent.bad_input]:
                figures.bad_inputs_rejected += 1
    _count_dlq(figures, stack, runtime)


def _classify(figures: Figures, record: DocumentRecord | None, provider_ids: list[str],
              read: Callable[[str, str], DocumentRecord | None]) -> str | None:
    """The document's outcome (as its event names it), counted; None when it is lost. `read`: another
    record of the account (a held correction's original)."""
    if record is None:
        return None
    if record.status == Status.EXPORTED:
        if record.provider_document_id not in provider_ids:
            return None  # we claim a document the provider does not have
        figures.exported += 1
        figures.pdfs_stored += record.pdf is not None
        return "exported"
    if provider_ids and record.status != Status.IN_DOUBT:
        return None  # the provider has it, but we would send it again
    if record.last_error is not None:
        error = record.last_error
        figures.not_exported.append(f"{record.document_id} ({record.status.value}): {error.code}: {error.message}")
    if record.status == Status.FAILED:
        if record.last_error is None or not record.last_error.message:
            figures.failed_without_reason += 1
        figures.failed[record.last_error.code if record.last_error else "no reason"] += 1
        return "failed"
    if record.status == Status.IN_DOUBT:
        figures.in_doubt += 1
        if record.last_error is None or not record.last_error.message:
            figures.in_doubt_without_evidence += 1
        return "in_doubt"
    if _held_for_an_original_not_exported(record, read):
        figures.waiting_for_original += 1
        return "pending"
    return None  # pending or sending with nothing left to move it on


def _held_for_an_original_not_exported(record: DocumentRecord,
                                       read: Callable[[str, str], DocumentRecord | None]) -> bool:
    """A correction still held for its original, which is not exported (it is sent once it is)."""
    document = record.parsed_document() if record.status == Status.PENDING and record.last_error else None
    if document is None or document.correction is None or record.last_error.code != WAITING_CODE:
        return False
    original = read(record.account_id, document.correction.corrected_document_id)
    return original is not None and original.status != Status.EXPORTED


def _count_dlq(figures: Figures, stack: LocalStack, runtime: Runtime) -> None:
    """Drain the export DLQ: each message must belong to a document recorded as failed or in doubt (or
    exported already: a redelivery that kept failing after the export, e.g. while AWS was down)."""
    sqs = stack.client("sqs")
    url = stack.queue_url("ExportDLQ")
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                          WaitTimeSeconds=0).get("Messages", []):
        for message in messages:
            account_id, document_id = _dlq_message_ids(message)
            record = (runtime.documents.get(account_id, document_id)
                      or runtime.documents.get(account_id, f"{document_id}#rejected:{message['MessageId']}"))
            state = record.status.value if record else "not recorded"
            figures.dlq[state] += 1
            explained = record is not None and (record.status == Status.EXPORTED or (
                record.status in (Status.FAILED, Status.IN_DOUBT) and record.last_error is not None))
            if not explained:
                figures.dlq_unexplained.append(document_id)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


def _dlq_message_ids(message: dict[str, Any]) -> tuple[str, str]:
    """The record a DLQ message's document is kept under: an unreadable one (a bad input whose every
    delivery failed, e.g. in an AWS outage) as the DLQ check rejects it (ExportService.reject_unreadable)."""
    parsed = read_export_message(message["Body"])
    if isinstance(parsed, UnreadableMessage):
        return parsed.account_id or "unidentified", parsed.document_id or f"message-{message['MessageId']}"
    return parsed.account_id, parsed.document.document_id
