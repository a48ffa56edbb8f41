"""An export batch reads each account's settings once (AccountStore.read_once), and sees a pause at once."""

from __future__ import annotations

import threading

import boto3
import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.storage.accounts import AccountStore


@pytest.fixture
def store(aws_in_process):
    table = boto3.resource("dynamodb").create_table(
        TableName="Accounts", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "account_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "account_id", "KeyType": "HASH"}])
    store = AccountStore(table, boto3.client("secretsmanager"), "invoice-export/")
    for account_id in ("shop-a", "shop-b"):
        store.put(AccountSettings.model_validate({"account_id": account_id, "provider": "fakturownia",
                                                  "api_url": "https://shop.fakturownia.pl"}))
    return store


def count_reads(store: AccountStore) -> list[str]:
    """The account ids the store reads from its table, in order."""
    reads: list[str] = []
    get_item = store.table.get_item

    def counted(**kwargs):
        reads.append(kwargs["Key"]["account_id"])
        return get_item(**kwargs)

    store.table.get_item = counted
    return reads


def test_within_a_batch_each_account_is_read_once(store) -> None:
    reads = count_reads(store)
    with store.read_once():
        for _ in range(3):
            assert store.get("shop-a").account_id == "shop-a"
            assert store.get("shop-b").account_id == "shop-b"
        assert store.get("not-connected") is None
        assert store.get("not-connected") is None
    assert sorted(reads) == ["not-connected", "shop-a", "shop-b"]


def test_outside_a_batch_every_get_reads_the_table(store) -> None:
    reads = count_reads(store)
    store.get("shop-a")
    store.get("shop-a")
    assert reads == ["shop-a", "shop-a"]


def test_a_change_saved_during_a_batch_applies_from_the_next_batch(store) -> None:
    with store.read_once():
        assert store.get("shop-a").show_provider_document is True
        store.put(store.get("shop-a").model_copy(update={"show_provider_document": False}))
        assert store.get("shop-a").show_provider_document is True
    with store.read_once():
        assert store.get("shop-a").show_provider_document is False


def test_pausing_an_account_mid_batch_is_seen_by_the_rest_of_the_batch(store) -> None:
    with store.read_once():
        assert store.get("shop-a").status != "needs_reconnect"
        assert store.pause("shop-a") is True
        assert store.get("shop-a").status == "needs_reconnect"
        assert store.get("shop-b").status != "needs_reconnect"


def test_each_thread_has_its_own_batch(store) -> None:
    """Locally several batches run in one process (Lambda runs one per instance): one batch's
    reads must neither serve nor end another's."""
    reads = count_reads(store)
    inside = threading.Event()
    leave = threading.Event()

    def other_batch() -> None:
        with store.read_once():
            store.get("shop-a")
            inside.set()
            leave.wait(5)

    worker = threading.Thread(target=other_batch)
    worker.start()
    assert inside.wait(5)
    store.get("shop-a")  # this thread is in no batch: reads again
    leave.set()
    worker.join()
    assert reads == ["shop-a", "shop-a"]
