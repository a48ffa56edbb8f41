"""A document's claim with our number: one transaction over its record and the number's item (moto in-process).

Who holds a number after each state of its earlier holder: only a holder that cannot have a document
with the number at the provider lets it go.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import boto3
import pytest

from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.own_numbers import DuplicateNumber, NumberClaim, OwnNumberScope
from invoice_export.domain.records import RecordedError, Status
from invoice_export.storage.documents import DocumentStore
from invoice_export.storage.own_numbers import OwnNumberStore
from local import moto_fixes
from testsupport import load_example, with_changes

ACCOUNT = "shop-1"
SCOPE = OwnNumberScope(per_kind=True, per_series=False, source="test")
FV1 = NumberClaim.of(SCOPE, "FV 1/11/2026", "invoice", None)
FV2 = NumberClaim.of(SCOPE, "FV 2/11/2026", "invoice", None)
ERROR = RecordedError(code="test", message="set by the test", at="2026-11-20T10:00:00Z")


@pytest.fixture
def documents(aws_in_process) -> DocumentStore:
    # DynamoDB applies a transaction atomically; moto does only with the local stack's fixes (it
    # handles its requests one at a time then), which the concurrent claims below rely on.
    moto_fixes.apply()
    dynamodb = boto3.resource("dynamodb")

    def table(name: str, sort_key: str):
        return dynamodb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "account_id", "AttributeType": "S"},
                                  {"AttributeName": sort_key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "account_id", "KeyType": "HASH"},
                       {"AttributeName": sort_key, "KeyType": "RANGE"}])

    return DocumentStore(table("Documents", "document_id"), OwnNumberStore(table("OwnNumbers", "number_key")))


def _register(documents: DocumentStore, document_id: str, version: int = 1) -> None:
    message = with_changes(load_example("01-invoice-company.json"), document_id=document_id, version=version)
    message["account_id"] = ACCOUNT
    documents.register(ExportMessage.model_validate(message))


def _claim(documents: DocumentStore, document_id: str, number: NumberClaim | None = FV1) -> bool:
    return documents.claim(ACCOUNT, document_id, f"attempt-{document_id}", number)[0]


def _holder(documents: DocumentStore, number: NumberClaim = FV1) -> str | None:
    assert documents.numbers is not None
    return documents.numbers.holder(ACCOUNT, number.key)


def _exported(documents: DocumentStore, document_id: str) -> None:
    assert documents.mark_exported(ACCOUNT, document_id, provider="fakturownia", provider_document_id="1",
                                   provider_number="FV 1/11/2026", provider_series=None, warnings=[], drift=[])


# What happened to the first holder after it claimed FV1, and whether a second document may then take it.
HOLDER_STATES: dict[str, tuple[Callable[[DocumentStore], None], bool]] = {
    # May be at the provider: the number stays with it.
    "sending": (lambda d: None, False),
    "exported": (lambda d: _exported(d, "INV-A"), False),
    "in doubt": (lambda d: d.mark_in_doubt(ACCOUNT, "INV-A", ERROR), False),
    # Released (the provider surely created nothing) but retried with it: first in line.
    "released": (lambda d: d.release_claim(ACCOUNT, "INV-A", "attempt-INV-A", ERROR), False),
    # The account switched to the provider's numbering in between: the safe side (the provider's number
    # may be this very one), a rare false refusal rather than a duplicate let through.
    "released, then sent with the provider's numbering": (
        lambda d: (d.release_claim(ACCOUNT, "INV-A", "attempt-INV-A", ERROR), d.claim(ACCOUNT, "INV-A", "attempt-2"),
                   _exported(d, "INV-A")), False),
    # Created nothing and will not go out with it.
    "failed": (lambda d: d.mark_failed(ACCOUNT, "INV-A", ERROR), True),
    "released, then a new version with another number": (
        lambda d: (d.release_claim(ACCOUNT, "INV-A", "attempt-INV-A", ERROR), _register(d, "INV-A", 2),
                   d.claim(ACCOUNT, "INV-A", "attempt-2", FV2)), True),
    "record deleted (its tenant's data)": (lambda d: d.table.delete_item(Key={"account_id": ACCOUNT,
                                                                             "document_id": "INV-A"}), True),
}


@pytest.mark.parametrize("state", HOLDER_STATES)
def test_a_number_goes_to_a_second_document_only_once_its_holder_let_it_go(documents, state) -> None:
    set_state, let_go = HOLDER_STATES[state]
    _register(documents, "INV-A")
    _register(documents, "INV-B")
    assert _claim(documents, "INV-A") and _holder(documents) == "INV-A"
    set_state(documents)

    if let_go:
        assert _claim(documents, "INV-B")
        assert _holder(documents) == "INV-B"
        assert documents.get(ACCOUNT, "INV-B").status == Status.SENDING
    else:
        with pytest.raises(DuplicateNumber) as refused:
            _claim(documents, "INV-B")
        assert refused.value.holder_document_id == "INV-A" and "INV-A" in refused.value.message
        assert _holder(documents) == "INV-A"
        record = documents.get(ACCOUNT, "INV-B")
        assert (record.status, record.attempts) == (Status.PENDING, 0)  # nothing of the claim was written


def test_the_same_document_keeps_its_number_in_a_new_version_and_a_retry(documents) -> None:
    _register(documents, "INV-A")
    assert _claim(documents, "INV-A")
    documents.release_claim(ACCOUNT, "INV-A", "attempt-INV-A", ERROR)
    _register(documents, "INV-A", version=2)
    assert _claim(documents, "INV-A")
    assert _holder(documents) == "INV-A" and documents.get(ACCOUNT, "INV-A").attempts == 2


def test_a_record_that_cannot_be_claimed_takes_no_number(documents) -> None:
    _register(documents, "INV-A")
    assert _claim(documents, "INV-A", FV2)
    _exported(documents, "INV-A")
    claimed, record = documents.claim(ACCOUNT, "INV-A", "again", FV1)
    assert not claimed and record.status == Status.EXPORTED
    assert _holder(documents) is None


def test_an_interrupted_attempt_continued_claims_the_number_too(documents) -> None:
    _register(documents, "INV-A")
    _register(documents, "INV-B")
    assert _claim(documents, "INV-A", None)  # claimed while the account used the provider's numbering
    assert _claim(documents, "INV-B")
    with pytest.raises(DuplicateNumber):
        documents.continue_interrupted(ACCOUNT, "INV-A", "attempt-2", FV1)
    assert documents.continue_interrupted(ACCOUNT, "INV-A", "attempt-3", FV2) is not None
    assert _holder(documents, FV2) == "INV-A"


def test_of_many_workers_claiming_one_number_at_once_exactly_one_gets_it(documents) -> None:
    ids = [f"INV-{i}" for i in range(8)]
    for document_id in ids:
        _register(documents, document_id)
    start, outcomes = threading.Barrier(len(ids)), {}

    def worker(document_id: str) -> None:
        start.wait()
        try:
            outcomes[document_id] = _claim(documents, document_id)
        except DuplicateNumber as refused:
            outcomes[document_id] = refused

    threads = [threading.Thread(target=worker, args=(document_id,)) for document_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [document_id for document_id, outcome in outcomes.items() if outcome is True]
    assert len(winners) == 1 and _holder(documents) == winners[0]
    assert all(isinstance(outcomes[d], DuplicateNumber) and outcomes[d].holder_document_id == winners[0]
               for d in ids if d != winners[0])
    assert [documents.get(ACCOUNT, d).status for d in ids].count(Status.SENDING) == 1


def test_without_a_numbers_table_our_number_is_never_sent_unchecked(aws_in_process) -> None:
    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.create_table(
        TableName="Documents", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "account_id", "AttributeType": "S"},
                              {"AttributeName": "document_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "account_id", "KeyType": "HASH"},
                   {"AttributeName": "document_id", "KeyType": "RANGE"}])
    documents = DocumentStore(table)
    _register(documents, "INV-A")
    with pytest.raises(RuntimeError, match="NUMBERS_TABLE"):
        _claim(documents, "INV-A")
    assert documents.get(ACCOUNT, "INV-A").status == Status.PENDING
