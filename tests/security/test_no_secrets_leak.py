"""Nothing the service writes outside a document's own record may carry a secret or buyer data.

A representative flow runs through the local stack (every example exported, a provider rejection,
an unreadable message, credentials the provider refuses, a customer link opened) while everything
it leaves behind is collected: each log line (the powertools logger's JSON on stdout included),
each outcome event, each S3 key and object metadata, each item of every DynamoDB table of the
template. None may contain the API tokens, the link-signing keys, or a buyer's name, e-mail,
phone, street or tax id - except the `document` and `raw_message` attributes of the document
records, which keep the document as received on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from logcapture import captured_log_lines

from invoice_export.domain.records import Status
from invoice_export.platform.runtime import reset_runtime
from testsupport import example_names, load_example

# Attributes of a document record that hold the document itself (kept on purpose, never logged).
DOCUMENT_ATTRIBUTES = ("document", "raw_message")
BUYER_FIELDS = ("name", "first_name", "last_name", "email", "phone", "tax_id")
# Not a NIP (7 digits): Fakturownia refuses it under KSeF. (A too-long phone was the rejection once; it
# is left out with a warning now, issue 13 §5.)
REJECTED_TAX_ID = "987-65-43"


def buyer_data() -> set[str]:
    values = {REJECTED_TAX_ID}
    for name in example_names():
        buyer = load_example(name)["document"]["buyer"]
        values |= {buyer[f] for f in BUYER_FIELDS if buyer.get(f)}
        if buyer["address"].get("street"):
            values.add(buyer["address"]["street"])
    return values


def spellings(value: str) -> set[str]:
    """The value as it may appear in text: as is, and JSON-escaped (how JSON logs write non-ASCII)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def leaks(texts: dict[str, str], sensitive: dict[str, str]) -> list[str]:
    """`where: what` for every sensitive value found in a text."""
    return [f"{where}: {label}" for where, text in texts.items() for value, label in sensitive.items()
            if any(spelling in text for spelling in spellings(value))]


def dynamodb_texts(stack) -> Iterator[tuple[str, str]]:
    client = stack.client("dynamodb")
    for logical_id in stack.template.resources_of_type("AWS::DynamoDB::Table"):
        paginator = client.get_paginator("scan")
        for page in paginator.paginate(TableName=stack.ref(logical_id), ConsistentRead=True):
            for index, item in enumerate(page["Items"]):
                if logical_id == "DocumentsTable":
                    item = {k: v for k, v in item.items() if k not in DOCUMENT_ATTRIBUTES}
                yield f"{logical_id} item {index}", json.dumps(item, ensure_ascii=False, default=str)


def s3_texts(stack) -> Iterator[tuple[str, str]]:
    s3 = stack.client("s3")
    for logical_id in stack.template.resources_of_type("AWS::S3::Bucket"):
        bucket = stack.ref(logical_id)
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                head = s3.head_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
                yield f"{logical_id} key", version["Key"]
                yield f"{logical_id} metadata of {version['Key']}", json.dumps(head.get("Metadata", {}))


@pytest.fixture
def secrets_and_buyer_data(shop) -> dict[str, str]:
    link_keys = json.loads(shop.stack.client("secretsmanager").get_secret_value(
        SecretId=shop.stack.ref("LinkSigningKeySecret"))["SecretString"])
    sensitive = {shop.token: "the API token", WRONG_TOKEN: "the refused API token"}
    sensitive |= {key: f"link-signing key {kid}" for kid, key in link_keys.items() if kid != "active_kid"}
    sensitive |= {value: f"buyer data {value!r}" for value in buyer_data()}
    return sensitive


WRONG_TOKEN = "wrong-token-7f3a9c1e5b2d4f60"


def run_representative_flow(shop) -> tuple[list[dict[str, Any]], list[str]]:
    """Returns (outcome events, the links and redirects customers were given)."""
    for name in example_names():
        shop.send(shop.message(name))
    rejected = shop.message("01-invoice-company.json", document_id="INV-REJECTED")
    rejected["document"]["buyer"]["tax_id"] = REJECTED_TAX_ID  # the provider refuses it
    shop.send(rejected)
    unreadable = shop.message("01-invoice-company.json", document_id="INV-UNREADABLE")
    unreadable["document"]["totals"]["gross"] = "1.00"
    shop.send(unreadable)
    shop.run()
    assert shop.record("INV-REJECTED").last_error.code == "provider_rejected"
    assert shop.record("INV-UNREADABLE").last_error.code == "invalid_message"

    shop.runtime.accounts.save_credentials(shop.account_id, {"api_token": WRONG_TOKEN})
    reset_runtime()  # the credentials cache would hide the change for 5 minutes
    try:
        shop.send(shop.message("03-invoice-exempt-person.json", document_id="INV-WRONG-TOKEN"))
        shop.run()
        # Refused credentials pause the account (its documents wait for the reconnect).
        assert shop.record("INV-WRONG-TOKEN").last_error.code in ("provider_auth_failed", "account_paused")
    finally:
        shop.runtime.accounts.save_credentials(shop.account_id, {"api_token": shop.token})
        reset_runtime()

    [exported] = [e for e in shop.events if e["document_id"] == "INV-2026-11-0001" and e["outcome"] == "exported"]
    answer = requests.get(exported["customer_link"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert requests.get(answer.headers["Location"], timeout=10).content.startswith(b"%PDF")
    return shop.events, [exported["customer_link"], answer.headers["Location"]]


def test_no_secret_or_buyer_data_outside_the_document_record(shop, secrets_and_buyer_data, capfd, caplog) -> None:
    with captured_log_lines() as log:
        events, links = run_representative_flow(shop)
    assert shop.record("INV-2026-11-0001").status == Status.EXPORTED
    assert any(line["message"] == "provider call" for line in log.parsed())
    out, err = capfd.readouterr()
    texts = {"service log lines": log.text, "stdout (metrics)": out, "stderr": err, "log records": caplog.text,
             **{f"event {i} ({e['outcome']} {e['document_id']})": json.dumps(e, ensure_ascii=False)
                for i, e in enumerate(events)},
             **dict(dynamodb_texts(shop.stack)), **dict(s3_texts(shop.stack))}
    assert any(key.startswith("PdfBucket key") for key in texts)
    assert leaks(texts, secrets_and_buyer_data) == []
    # The customer link reveals neither the bucket nor a key; the short-lived redirect only our ids.
    pdf_key = shop.record("INV-2026-11-0001").pdf.key
    assert pdf_key not in links[0] and shop.stack.ref("PdfBucket") not in links[0]
    assert leaks({"customer link": links[0], "redirect": links[1]}, secrets_and_buyer_data) == []


def test_the_scan_finds_a_planted_leak(secrets_and_buyer_data) -> None:
    # The scan itself must be able to fail: a JSON log line with an escaped buyer name and a token.
    name = load_example("01-invoice-company.json")["document"]["buyer"]["name"]
    planted = json.dumps({"message": "oops", "buyer": name, "auth": f"Bearer {WRONG_TOKEN}"})
    assert sorted(leaks({"log": planted}, secrets_and_buyer_data)) == [
        f"log: buyer data {name!r}", "log: the refused API token"]


def test_a_link_signed_with_a_revoked_key_is_refused_and_a_new_one_works(shop) -> None:
    shop.send(shop.message("01-invoice-company.json"))
    shop.run()
    [event] = [e for e in shop.events if e["outcome"] == "exported"]
    secrets_manager, secret_id = shop.stack.client("secretsmanager"), shop.stack.ref("LinkSigningKeySecret")
    keys = secrets_manager.get_secret_value(SecretId=secret_id)["SecretString"]
    # Rotation that revokes: a new active key, the old one removed.
    secrets_manager.put_secret_value(SecretId=secret_id, SecretString=json.dumps(
        {"active_kid": "k2", "k2": "a-new-link-signing-key-of-sufficient-length-0123456789"}))
    reset_runtime()  # the functions cache the keys for 5 minutes
    try:
        revoked = requests.get(event["customer_link"], allow_redirects=False, timeout=10)
        assert revoked.status_code == 403 and "Location" not in revoked.headers
        fresh = shop.runtime.make_link(shop.account_id, "INV-2026-11-0001")
        assert requests.get(fresh, allow_redirects=False, timeout=10).status_code == 302
    finally:
        secrets_manager.put_secret_value(SecretId=secret_id, SecretString=keys)
        reset_runtime()
