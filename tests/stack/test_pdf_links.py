"""PDFs and customer links end to end: stored after export, refreshed after an edit, served while the
provider is down, refused when tampered with; all through the HTTP gateway like API Gateway."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import pytest
import requests

from invoice_export.platform.runtime import reset_runtime

INVOICE = "01-invoice-company.json"


def export_invoice(shop) -> dict:
    shop.send(shop.message(INVOICE))
    shop.run()
    [event] = [e for e in shop.events if e["outcome"] == "exported"]
    return event


def open_link(link: str) -> requests.Response:
    return requests.get(link, allow_redirects=False, timeout=10)


def test_pdf_is_stored_after_export_and_the_link_redirects_to_it(shop) -> None:
    event = export_invoice(shop)
    record = shop.record("INV-2026-11-0001")
    assert record.pdf.key == f"pdf/{shop.account_id}/INV-2026-11-0001.pdf"  # ids only, no buyer data
    answer = open_link(event["customer_link"])
    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    location = answer.headers["Location"]
    assert "X-Amz-Expires=300" in location and "X-Amz-Signature=" in location
    pdf = requests.get(location, timeout=10)
    assert pdf.content.startswith(b"%PDF") and event["provider_number"].encode() in pdf.content
    assert urlsplit(event["customer_link"]).path.startswith("/d/")
    assert record.pdf.key not in event["customer_link"]  # the link reveals no bucket key


def test_an_edit_at_the_provider_shows_up_after_the_max_age(shop, monkeypatch) -> None:
    event = export_invoice(shop)
    before = shop.record("INV-2026-11-0001").pdf
    invoice_id = shop.record("INV-2026-11-0001").provider_document_id
    edited = requests.put(f"{shop.fake.base_url}/invoices/{invoice_id}.json", timeout=5,
                          json={"invoice": {"buyer_name": "Hurtownia Zielony Liść S.A."}},
                          headers={"Authorization": f"Bearer {shop.token}"})
    assert edited.status_code == 200
    # Within the max age the stored copy is served; past it the provider's current PDF is fetched.
    assert open_link(event["customer_link"]).status_code == 302
    assert shop.record("INV-2026-11-0001").pdf.sha256 == before.sha256
    monkeypatch.setenv("PDF_MAX_AGE_SECONDS", "0")
    reset_runtime()
    try:
        answer = open_link(event["customer_link"])
        after = shop.record("INV-2026-11-0001").pdf
        assert answer.status_code == 302
        assert after.sha256 != before.sha256 and after.previous_sha256 == before.sha256 and after.changed_at
        assert b"Lisc S.A." in requests.get(answer.headers["Location"], timeout=10).content
        audited = [(e.action, e.response["sha256"]) for e in shop.runtime.audit.entries(shop.account_id,
                                                                                      "INV-2026-11-0001")
                   if e.action.startswith("pdf_")]
        assert audited == [("pdf_stored", before.sha256), ("pdf_changed", after.sha256)]
    finally:
        monkeypatch.delenv("PDF_MAX_AGE_SECONDS")
        reset_runtime()


def test_the_stored_copy_is_served_while_the_provider_is_down(shop, monkeypatch) -> None:
    event = export_invoice(shop)
    stored = shop.record("INV-2026-11-0001").pdf
    monkeypatch.setenv("PDF_MAX_AGE_SECONDS", "0")
    reset_runtime()
    shop.fake.faults.status(503, method="GET", path=r"/invoices/\d+\.pdf", times=10)
    try:
        answer = open_link(event["customer_link"])
        assert answer.status_code == 302
        assert event["provider_number"].encode() in requests.get(answer.headers["Location"], timeout=10).content
        assert shop.record("INV-2026-11-0001").pdf.sha256 == stored.sha256
    finally:
        shop.fake.faults.clear()
        monkeypatch.delenv("PDF_MAX_AGE_SECONDS")
        reset_runtime()


@pytest.mark.parametrize("tamper, status", [
    (lambda link: link[:-3] + ("abc" if not link.endswith("abc") else "xyz"), 403),
    (lambda link: link.rsplit("/", 1)[0] + "/not-a-token", 403),
])
def test_tampered_links_are_refused(shop, tamper, status) -> None:
    event = export_invoice(shop)
    answer = open_link(tamper(event["customer_link"]))
    assert answer.status_code == status and "Location" not in answer.headers


def test_a_link_to_another_accounts_document_cannot_be_made(shop) -> None:
    event = export_invoice(shop)
    signer = shop.runtime.link_signer()
    base, token = event["customer_link"].rsplit("/", 1)
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["a"] = "other-shop"  # point the link at another account's document, keep the signature
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert open_link(f"{base}/{forged}.{signature}").status_code == 403
    valid_for_unknown = signer.sign("other-shop", "INV-2026-11-0001", ttl_seconds=60)
    assert open_link(f"{shop.stack.gateway_url}/d/{valid_for_unknown}").status_code == 404


def test_an_expired_link_is_gone(shop) -> None:
    export_invoice(shop)
    token = shop.runtime.link_signer().sign(shop.account_id, "INV-2026-11-0001", ttl_seconds=-1)
    answer = open_link(f"{shop.stack.gateway_url}/d/{token}")
    assert answer.status_code == 410 and "expired" in answer.text
