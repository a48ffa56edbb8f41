"""Every step of the lifecycle table, from every state, against both document stores: the DynamoDB one
(through moto, its table as infra/template.yaml declares it) and the in-memory one the core's unit
tests use. An allowed step moves the record to its target; any other is refused and changes nothing."""

from __future__ import annotations

import itertools

import boto3
import pytest
from moto import mock_aws

from invoice_export.domain.clock import now_iso
from invoice_export.domain.documents import ExportMessage
from invoice_export.domain.records import STEPS, TRANSITIONS, RecordedError, Registration, Status, Step, allowed
from invoice_export.storage.documents import DocumentStore
from local.template import Template
from memory_stores import MemoryDocumentStore
from testsupport import ROOT, load_example

ACCOUNT = "shop-1"
ATTEMPT = "attempt-1"
BROKEN_BODY = '{"account_id": "shop-1", "document": {"document_id": "'
ERROR = RecordedError(code="test", message="a reason", at="2026-01-01T00:00:00.000+00:00")


@pytest.fixture(scope="module")
def new_dynamodb_table():
    """Moto's DynamoDB in this process, for the module; each call makes a fresh documents table."""
    properties = Template(ROOT / "infra" / "template.yaml").properties("DocumentsTable")
    tables = itertools.count()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_DEFAULT_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield lambda: boto3.resource("dynamodb").create_table(
                TableName=f"documents-{next(tables)}", BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=properties["AttributeDefinitions"], KeySchema=properties["KeySchema"],
                GlobalSecondaryIndexes=[{key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                                        for index in properties["GlobalSecondaryIndexes"]])


@pytest.fixture(params=["dynamodb", "memory"])
def store(request) -> DocumentStore:
    if request.param == "memory":
        return MemoryDocumentStore()
    return DocumentStore(request.getfixturevalue("new_dynamodb_table")())


def message(document_id: str, version: int = 2) -> ExportMessage:
    body = load_example("01-invoice-company.json")
    body["account_id"] = ACCOUNT
    body["document"].update(document_id=document_id, version=version)
    return ExportMessage.model_validate(body)


def arrive(store: DocumentStore, document_id: str, status: Status | None, *, rejected: bool = False) -> None:
    """Bring a record to `status` through the store's own steps (`rejected`: a failed unreadable message)."""
    if status is None:
        return
    if rejected:
        store.record_rejected_message(ACCOUNT, document_id, BROKEN_BODY, ERROR, message_id="message-1")
        return
    store.register(message(document_id))
    if status == Status.FAILED:
        store.mark_failed(ACCOUNT, document_id, ERROR)
    elif status != Status.PENDING:
        store.claim(ACCOUNT, document_id, ATTEMPT)
    if status == Status.EXPORTED:
        store.mark_exported(ACCOUNT, document_id, provider="fakturownia", provider_document_id="P-1",
                            provider_number="FV 1/2026", provider_series=None, warnings=[], drift=[])
    elif status == Status.IN_DOUBT:
        store.mark_in_doubt(ACCOUNT, document_id, ERROR)
    assert store.get(ACCOUNT, document_id).status == status


def values_for(step: Step) -> dict:
    now = now_iso()
    if step == Step.RECEIVE:
        return {"document_version": 1, "attempts": 0, "received_at": now, "updated_at": now}
    if step == Step.REJECT:  # another message with the same broken body
        return {"raw_message": BROKEN_BODY, "rejected_message_id": "message-2", "last_error": ERROR.model_dump(),
                "attempts": 0, "received_at": now, "updated_at": now}
    return {"updated_at": now}


SOURCES = (None, *Status)


@pytest.mark.parametrize("step", list(Step), ids=str)
def test_each_step_from_each_state_is_taken_exactly_when_the_table_allows_it(store, step) -> None:
    transition = STEPS[step]
    for source in SOURCES:
        document_id = f"{step.value}-from-{source.value if source else 'nothing'}"
        arrive(store, document_id, source, rejected=step == Step.REJECT and source == Status.FAILED)
        before = store.get(ACCOUNT, document_id)
        taken = store.transition(ACCOUNT, document_id, step, values=values_for(step), attempt_id=ATTEMPT)
        after = store.get(ACCOUNT, document_id)
        if source in transition.sources:
            assert taken is not None and taken.status == after.status == transition.target, source
            assert allowed(source, transition.target)
        else:
            assert taken is None, f"{step} was taken from {source}"
            assert after == before, f"a refused {step} from {source} changed the record"


def test_the_walk_reaches_every_allowed_pair_and_no_other() -> None:
    walked = {(source, t.target) for t in TRANSITIONS for source in SOURCES if source in t.sources}
    assert walked == {(source, target) for source in SOURCES for target in Status if allowed(source, target)}


def test_only_the_attempt_holding_the_claim_releases_it(store) -> None:
    arrive(store, "INV-1", Status.SENDING)
    assert store.release_claim(ACCOUNT, "INV-1", "another-attempt", ERROR) is None
    assert store.get(ACCOUNT, "INV-1").status == Status.SENDING
    assert store.release_claim(ACCOUNT, "INV-1", ATTEMPT, ERROR).status == Status.PENDING


def test_a_record_that_maps_a_provider_document_is_never_mapped_again(store) -> None:
    arrive(store, "INV-1", Status.SENDING)
    # A record that (somehow) names a provider document already: neither the create's answer nor an
    # operator can map it to another one.
    store.transition(ACCOUNT, "INV-1", Step.TAKE_OVER, values={"provider_document_id": "P-1"}, add={"attempts": 1})
    assert store.mark_exported(ACCOUNT, "INV-1", provider="fakturownia", provider_document_id="P-2",
                               provider_number="2", provider_series=None, warnings=[], drift=[]) is None
    store.mark_in_doubt(ACCOUNT, "INV-1", ERROR)
    assert store.settle_in_doubt(ACCOUNT, "INV-1", provider=None, provider_document_id="P-2",
                                 provider_number="2") is None
    assert (store.get(ACCOUNT, "INV-1").status, store.get(ACCOUNT, "INV-1").provider_document_id) == (
        Status.IN_DOUBT, "P-1")


def test_an_unreadable_message_never_takes_over_a_valid_documents_record(store) -> None:
    arrive(store, "INV-1", Status.FAILED)
    rejected = store.record_rejected_message(ACCOUNT, "INV-1", BROKEN_BODY, ERROR, message_id="message-9")
    assert rejected.document_key == "INV-1#rejected:message-9"
    assert store.get(ACCOUNT, "INV-1").document is not None
    again = store.record_rejected_message(ACCOUNT, "INV-1", BROKEN_BODY, ERROR, message_id="message-9")
    assert (rejected.new, again) == (True, rejected._replace(new=False))  # once per message


def test_a_broken_body_seen_before_never_takes_over_the_document_that_replaced_it(store) -> None:
    store.record_rejected_message(ACCOUNT, "INV-1", BROKEN_BODY, ERROR, message_id="message-1")
    assert store.register(message("INV-1"))[0] == Registration.REPLACED  # the valid version arrives
    store.claim(ACCOUNT, "INV-1", ATTEMPT)
    store.mark_exported(ACCOUNT, "INV-1", provider="fakturownia", provider_document_id="P-1",
                        provider_number="FV 1/2026", provider_series=None, warnings=[], drift=[])
    # The same broken body again, from another message: kept beside, the exported record untouched.
    rejected = store.record_rejected_message(ACCOUNT, "INV-1", BROKEN_BODY, ERROR, message_id="message-2")
    assert rejected.document_key == "INV-1#rejected:message-2"
    assert (store.get(ACCOUNT, "INV-1").status, store.get(ACCOUNT, "INV-1").provider_document_id) == (
        Status.EXPORTED, "P-1")


def test_the_status_is_never_a_plain_value(store) -> None:
    arrive(store, "INV-1", Status.PENDING)
    with pytest.raises(ValueError, match="target"):
        store.transition(ACCOUNT, "INV-1", Step.HOLD_PAUSED, values={"status": "exported"})
    with pytest.raises(ValueError, match="attempt_id"):
        store.transition(ACCOUNT, "INV-1", Step.RELEASE)


@pytest.mark.parametrize(("status", "version", "expected"), [
    (Status.PENDING, 3, Registration.REPLACED), (Status.FAILED, 3, Registration.REPLACED),
    (Status.PENDING, 2, Registration.SAME), (Status.PENDING, 1, Registration.STALE),
    (Status.SENDING, 3, Registration.LOCKED), (Status.EXPORTED, 3, Registration.LOCKED),
    (Status.IN_DOUBT, 3, Registration.LOCKED)])
def test_a_received_version_replaces_only_an_older_sendable_one(store, status, version, expected) -> None:
    arrive(store, "INV-1", status)
    registration, record = store.register(message("INV-1", version))
    assert registration == expected
    assert record.status == status
    assert store.get(ACCOUNT, "INV-1").document_version == (version if expected == Registration.REPLACED else 2)


def test_a_new_document_is_registered_pending(store) -> None:
    registration, record = store.register(message("INV-1"))
    assert (registration, record.status, record.attempts) == (Registration.NEW, Status.PENDING, 0)
    assert store.get(ACCOUNT, "INV-1") == record



def test_an_interrupted_attempts_task_is_kept_only_while_that_attempt_holds_the_claim(store) -> None:
    arrive(store, "INV-T", Status.SENDING)
    store.record_provider_task(ACCOUNT, "INV-T", "another-attempt", "T-0")  # not the claim's: nothing
    assert store.get(ACCOUNT, "INV-T").provider_task is None
    store.record_provider_task(ACCOUNT, "INV-T", ATTEMPT, "T-1")
    record = store.get(ACCOUNT, "INV-T")
    assert (record.task_of_attempt, record.status, record.attempt_started_at is not None) == (
        "T-1", Status.SENDING, True)
    store.continue_interrupted(ACCOUNT, "INV-T", "attempt-2")  # a new attempt: the old task is not its own
    assert store.get(ACCOUNT, "INV-T").task_of_attempt is None


def test_the_providers_numbering_goes_with_the_claim_and_counts_only_for_the_attempt_that_read_it(store) -> None:
    store.register(message("INV-N"))
    claimed, record = store.claim(ACCOUNT, "INV-N", ATTEMPT, numbering={"FCT": "0042", "WEB": "0007"})
    assert claimed and record.numbering_before_attempt == {"FCT": "0042", "WEB": "0007"}
    assert store.get(ACCOUNT, "INV-N").numbering_before_attempt == {"FCT": "0042", "WEB": "0007"}
    store.continue_interrupted(ACCOUNT, "INV-N", "attempt-2", numbering={"FCT": "0043"})
    assert store.get(ACCOUNT, "INV-N").numbering_before_attempt == {"FCT": "0043"}
    store.continue_interrupted(ACCOUNT, "INV-N", "attempt-3")  # read nothing (another provider): not the old one
    assert store.get(ACCOUNT, "INV-N").numbering_before_attempt is None


def test_a_settlement_left_in_doubt_keeps_its_evidence_and_counts_its_try_only_in_doubt(store) -> None:
    evidence = {"outcome": "undecided", "by": "listing", "where": "settlement", "at": now_iso(), "reason": "r",
                "candidates": [{"provider_document_id": "P-1", "number": "FV 1", "reference": "no reference of ours"}]}
    arrive(store, "INV-S", Status.SENDING)
    assert store.record_settlement(ACCOUNT, "INV-S", evidence) is None  # sending: not a settlement's
    store.mark_in_doubt(ACCOUNT, "INV-S", ERROR)
    store.record_settlement(ACCOUNT, "INV-S", evidence)
    record = store.record_settlement(ACCOUNT, "INV-S", evidence)
    assert (record.status, record.settlement_tries, record.settlement) == (Status.IN_DOUBT, 2, evidence)
    requeued = store.requeue_in_doubt(ACCOUNT, "INV-S", ERROR, {**evidence, "outcome": "absent"})
    assert (requeued.status, requeued.settlement["outcome"]) == (Status.PENDING, "absent")


def test_exported_records_are_read_back_by_when_they_last_changed(store) -> None:
    arrive(store, "INV-E1", Status.EXPORTED)
    arrive(store, "INV-E2", Status.IN_DOUBT)
    assert [r.document_id for r in store.exported_since(ACCOUNT, "2000-01-01")] == ["INV-E1"]
    assert store.exported_since(ACCOUNT, "2999-01-01") == []
    assert store.exported_since("another-account", "2000-01-01") == []


@pytest.mark.parametrize("status", [Status.PENDING, Status.SENDING, Status.IN_DOUBT], ids=str)
def test_a_held_correction_is_listed_on_its_original_while_that_is_on_its_way(store, status) -> None:
    arrive(store, "INV-1", status)
    before = store.get(ACCOUNT, "INV-1")
    assert store.add_waiting_correction(ACCOUNT, "INV-1", "KOR-1")
    assert store.add_waiting_correction(ACCOUNT, "INV-1", "KOR-2")
    assert store.add_waiting_correction(ACCOUNT, "INV-1", "KOR-1")  # a second delivery of the same correction
    after = store.get(ACCOUNT, "INV-1")
    assert after.waiting_corrections == ["KOR-1", "KOR-2"]
    # Nothing else changes: neither the status nor the time (a sending original's claim keeps its time).
    assert after.model_copy(update={"waiting_corrections": []}) == before
    if status == Status.SENDING:  # exported later: the list stays on the record the stream reads
        store.mark_exported(ACCOUNT, "INV-1", provider="fakturownia", provider_document_id="P-1",
                            provider_number="FV 1/2026", provider_series=None, warnings=[], drift=[])
        assert store.get(ACCOUNT, "INV-1").waiting_corrections == ["KOR-1", "KOR-2"]


@pytest.mark.parametrize("status", [None, Status.EXPORTED, Status.FAILED], ids=str)
def test_no_correction_is_listed_on_an_original_gone_exported_or_failed(store, status) -> None:
    arrive(store, "INV-1", status)
    before = store.get(ACCOUNT, "INV-1")
    assert not store.add_waiting_correction(ACCOUNT, "INV-1", "KOR-1")
    assert store.get(ACCOUNT, "INV-1") == before  # no record made for an original never received


def test_a_correction_is_held_for_its_original_from_pending_or_failed_with_the_reason(store) -> None:
    for source in (Status.PENDING, Status.FAILED):
        arrive(store, f"KOR-{source.value}", source)
        held = store.hold_for_original(ACCOUNT, f"KOR-{source.value}", ERROR.model_copy(
            update={"code": "waiting_for_original"}), audit='{"action": "held"}')
        assert (held.status, held.last_error.code, held.audit_note) == (
            Status.PENDING, "waiting_for_original", '{"action": "held"}')
