"""A marketplace's long product name through the local stack (issue 13 §5): the invoice is exported
with the name cut to the provider's limit, and the cut is reported on the record and in the event."""

from __future__ import annotations

from stack_guards import sqs_as_in_aws  # noqa: F401  (autouse)

from invoice_export.domain.records import Status

INVOICE = "01-invoice-company.json"
# 300 characters, as marketplaces name products (the length that failed whole invoices before).
PRODUCT_NAME = ("Zestaw prezentowy „Herbaciany Ogród” – 12 herbat liściastych (czarna, zielona, biała, oolong, "
                "rooibos, owocowa) w drewnianej skrzynce z grawerem, z zaparzaczem ze stali nierdzewnej, miarką "
                "bambusową i kartką z życzeniami; idealny na święta, urodziny i Dzień Matki – edycja limitowana "
                "2026, wysyłka w 24 h, PL")[:300]


def test_a_long_product_name_is_cut_with_a_warning_on_the_record_and_in_the_exported_event(shop) -> None:
    assert len(PRODUCT_NAME) == 300
    message = shop.message(INVOICE, document_id="INV-LONG-PRODUCT")
    message["document"]["lines"][0]["name"] = PRODUCT_NAME
    shop.send(message)
    [event] = [e for e in shop.run() if e["document_id"] == "INV-LONG-PRODUCT"]

    warning = ("text_truncated: document.lines[].name has 300 characters; Fakturownia takes at most 256 in "
               "invoice.positions[0].name: cut to 256")
    assert event["outcome"] == "exported" and warning in event["warnings"]
    record = shop.record("INV-LONG-PRODUCT")
    assert record.status == Status.EXPORTED and warning in record.warnings
    [invoice] = shop.provider_documents("INV-LONG-PRODUCT")
    assert invoice["positions"][0]["name"] == PRODUCT_NAME[:256]
    # Our copy of the document keeps the whole name; only what went to Fakturownia was cut.
    assert record.parsed_document().lines[0].name == PRODUCT_NAME
