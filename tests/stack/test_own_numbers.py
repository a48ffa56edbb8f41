"""Our number used twice is stopped before it reaches the provider (issue 13, point 4).

Through the whole stack, against the fake Fakturownia, which - like the real API - creates a second
invoice with a number already used (FakturowniaAccount.refuses_duplicate_numbers is off).
"""

from __future__ import annotations

import io
import json

from invoice_export.domain.own_numbers import NumberClaim
from invoice_export.domain.records import Status
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter
from invoice_export_cli.main import main

INVOICE = "01-invoice-company.json"  # INV-2026-11-0001, number "FV 1/11/2026", a line with SKU MUG-300
NUMBER = "FV 1/11/2026"


def _numbered(shop, number: str) -> list[dict]:
    return [invoice for invoice in shop.provider_documents() if invoice["number"] == number]


def _failed_event(shop, document_id: str) -> dict:
    [event] = [e for e in shop.events if e["document_id"] == document_id and e["outcome"] == "failed"]
    return event


def _holders(shop) -> dict[str, str]:
    """Number -> the document holding it, as the numbers table has it."""
    return {item["number"]: item["holder_document_id"]
            for item in shop.runtime.documents.numbers.account_numbers(shop.account_id)}


def test_a_second_document_with_a_number_already_exported_is_refused_naming_the_first(shop) -> None:
    shop.connect(numbering="ours")
    shop.send(shop.message(INVOICE))
    shop.run()
    assert shop.record("INV-2026-11-0001").status == Status.EXPORTED

    # Typed differently, the same number on paper: still the same number.
    shop.send(shop.message(INVOICE, document_id="INV-2026-11-0002", order_id="ORD-10002", number=" fv  1/11/2026"))
    shop.run()

    record = shop.record("INV-2026-11-0002")
    assert record.status == Status.FAILED
    assert record.last_error.code == "duplicate_number"
    assert "INV-2026-11-0001" in record.last_error.message and "fv  1/11/2026" in record.last_error.message
    assert "own number" in record.last_error.fix and "new version" in record.last_error.fix
    event = _failed_event(shop, "INV-2026-11-0002")
    assert event["error"]["code"] == "duplicate_number" and "INV-2026-11-0001" in event["error"]["message"]
    assert len(_numbered(shop, NUMBER)) == 1 and shop.provider_documents("INV-2026-11-0002") == []

    # The fix: the merchant gives it its own number and sends a new version.
    shop.send(shop.message(INVOICE, document_id="INV-2026-11-0002", order_id="ORD-10002", number="FV 2/11/2026",
                           version=2))
    shop.run()
    assert shop.record("INV-2026-11-0002").status == Status.EXPORTED
    assert [i["number"] for i in shop.provider_documents("INV-2026-11-0002")] == ["FV 2/11/2026"]
    assert _holders(shop) == {NUMBER: "INV-2026-11-0001", "FV 2/11/2026": "INV-2026-11-0002"}


def test_two_documents_with_one_number_in_one_batch_send_only_the_first(shop) -> None:
    shop.connect(numbering="ours")
    for document_id in ("INV-BATCH-1", "INV-BATCH-2", "INV-BATCH-3"):
        number = "FV 9/11/2026" if document_id == "INV-BATCH-3" else NUMBER
        shop.send(shop.message(INVOICE, document_id=document_id, number=number))
    shop.run()

    assert shop.record("INV-BATCH-1").status == Status.EXPORTED
    assert shop.record("INV-BATCH-3").status == Status.EXPORTED  # its neighbours' refusal holds nothing back
    second = shop.record("INV-BATCH-2")
    assert (second.status, second.last_error.code) == (Status.FAILED, "duplicate_number")
    assert "INV-BATCH-1" in second.last_error.message
    assert [i["oid"] for i in _numbered(shop, NUMBER)] == ["INV-BATCH-1"]


def test_a_new_version_of_the_same_document_keeps_its_number(shop) -> None:
    # Version 1 claims the number, then fails before anything is created (its SKUs are not in Fakturownia's
    # catalogue); version 2 of the same document, same number, goes out.
    shop.connect(numbering="ours", send_skus=True)
    shop.send(shop.message(INVOICE))
    shop.run()
    assert shop.record("INV-2026-11-0001").last_error.code == "sku_not_found"
    assert _holders(shop) == {NUMBER: "INV-2026-11-0001"}

    shop.connect(numbering="ours", send_skus=True, missing_sku="warn")  # the fix: lines go without stock links
    shop.send(shop.message(INVOICE, version=2))
    shop.run()
    assert shop.record("INV-2026-11-0001").status == Status.EXPORTED
    assert [i["oid"] for i in _numbered(shop, NUMBER)] == ["INV-2026-11-0001"]


def test_a_number_let_go_by_a_document_that_failed_before_any_create_goes_to_the_next(shop) -> None:
    shop.connect(numbering="ours", send_skus=True)
    shop.send(shop.message(INVOICE))  # claims the number, fails before its create: sku_not_found
    shop.run()
    assert shop.record("INV-2026-11-0001").status == Status.FAILED
    assert shop.provider_documents() == []

    shop.connect(numbering="ours", send_skus=True, missing_sku="warn")  # the fix: lines go without stock links
    shop.send(shop.message(INVOICE, document_id="INV-2026-11-0009", order_id="ORD-10009"))
    shop.run()
    assert shop.record("INV-2026-11-0009").status == Status.EXPORTED
    assert _holders(shop) == {NUMBER: "INV-2026-11-0009"}

    # The first document, sent again unchanged, now finds its number taken.
    shop.send(shop.message(INVOICE))
    shop.run()
    record = shop.record("INV-2026-11-0001")
    assert (record.status, record.last_error.code) == (Status.FAILED, "duplicate_number")
    assert "INV-2026-11-0009" in record.last_error.message
    assert [i["oid"] for i in _numbered(shop, NUMBER)] == ["INV-2026-11-0009"]


def _backfill(*args: str) -> dict:
    out, err = io.StringIO(), io.StringIO()
    assert main(["--json", "numbers", "backfill", *args], out=out, err=err) == 0, err.getvalue()
    return json.loads(out.getvalue())


def _forget_numbers(shop) -> None:
    """As before this change: documents exported without their numbers recorded."""
    numbers = shop.runtime.documents.numbers
    for item in numbers.account_numbers(shop.account_id):
        numbers.table.delete_item(Key={"account_id": shop.account_id, "number_key": item["number_key"]})


def test_numbers_exported_before_the_guard_are_registered_once_by_the_backfill(shop) -> None:
    shop.send(shop.message("03-invoice-exempt-person.json"))  # numbered by Fakturownia
    shop.run()
    provider_number = shop.record("INV-2026-11-0002").provider_number
    shop.connect(numbering="ours")
    shop.send(shop.message(INVOICE))
    shop.run()
    _forget_numbers(shop)
    # Meanwhile a second document went out with the same number, unguarded: the backfill reports it.
    shop.send(shop.message(INVOICE, document_id="INV-OLD-DUP", order_id="ORD-OLD"))
    shop.run()
    _forget_numbers(shop)
    assert len(_numbered(shop, NUMBER)) == 2

    dry_run = _backfill("--account", shop.account_id, "--dry-run")
    assert (dry_run["accounts"], dry_run["registered"], len(dry_run["held_twice"])) == ([shop.account_id], 2, 1)
    assert _holders(shop) == {}  # a dry run registers nothing

    first = _backfill("--account", shop.account_id)
    assert (first["registered"], first["already_registered"]) == (2, 0)
    [twice] = first["held_twice"]
    assert twice["number"] == NUMBER
    assert {twice["document_id"], twice["holder_document_id"]} == {"INV-2026-11-0001", "INV-OLD-DUP"}
    assert _holders(shop)[provider_number] == "INV-2026-11-0002"
    again = _backfill("--account", shop.account_id)  # idempotent
    assert (again["registered"], again["already_registered"], len(again["held_twice"])) == (0, 2, 1)

    # Now a new document with an old number is refused, and one with the provider's own number too.
    shop.send(shop.message(INVOICE, document_id="INV-NEW-1", order_id="ORD-NEW-1"))
    shop.send(shop.message(INVOICE, document_id="INV-NEW-2", order_id="ORD-NEW-2", number=provider_number))
    shop.run()
    for document_id, holder in (("INV-NEW-1", twice["holder_document_id"]), ("INV-NEW-2", "INV-2026-11-0002")):
        record = shop.record(document_id)
        assert (record.status, record.last_error.code) == (Status.FAILED, "duplicate_number")
        assert holder in record.last_error.message
    assert shop.provider_documents("INV-NEW-1") == shop.provider_documents("INV-NEW-2") == []


def test_the_number_key_is_the_providers_bucket_and_the_normalised_number(shop) -> None:
    # A receipt may repeat an invoice's number at Fakturownia (each kind is numbered apart).
    shop.connect(numbering="ours")
    shop.send(shop.message(INVOICE))
    shop.send(shop.message("02-receipt-person.json", number=NUMBER))
    shop.run()
    assert [i["kind"] for i in _numbered(shop, NUMBER)] == ["vat", "receipt"]
    keys = {item["number_key"] for item in shop.runtime.documents.numbers.account_numbers(shop.account_id)}
    assert keys == {NumberClaim.of(FakturowniaAdapter.own_number_scope, NUMBER, kind, None).key
                    for kind in ("invoice", "receipt")}
