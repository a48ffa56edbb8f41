"""SmartBill's interrupted creates, against its strict fake: SmartBill has no list, no search and no field
for our id, so the adapter reads where each invoice series' numbering stood before the create (kept with
the claim), the gross of every number given out since, and our reference from the PDFs of those with
our gross. Only our reference read back decides (domain.settlement.settle_by_reference)."""

from __future__ import annotations

import io
import secrets
from datetime import date

import pytest
import requests
from pypdf import PdfReader, PdfWriter

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.errors import RequestMayHaveSucceeded
from invoice_export.domain.settlement import InterruptedAttempt, SettlementOutcome, references_in
from invoice_export.providers import build_adapter
from invoice_export.providers.pdf_text import pdf_text
from invoice_export.providers.smartbill.adapter import MAX_NUMBERS_READ, SmartBillAdapter, numbers_given_since
from local.fakes.common import render_pdf
from local.fakes.smartbill import SmartBillFake
from testsupport import plan_for, valid_cui

TODAY = date(2026, 11, 20)
INVOICE, STORNO = "ro/01-invoice-company.json", "ro/05-storno.json"
CREATE = r"/SBORO/api/invoice(/reverse)?"
READ_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def fake():
    with SmartBillFake(rate_limit=None, today=TODAY) as server:
        yield server


@pytest.fixture
def login(fake) -> dict[str, str]:
    email, token, cif = f"shop-{secrets.token_hex(4)}@example.ro", secrets.token_hex(16), f"RO{valid_cui()}"
    fake.add_account(email, token, cif)
    return {"username": email, "token": token, "cif": cif}


def make_adapter(fake: SmartBillFake, login: dict[str, str]) -> SmartBillAdapter:
    settings = AccountSettings.model_validate({
        "account_id": "shop-ro", "provider": "smartbill", "home_currency": "RON", "api_url": fake.api_url,
        "series_links": {"FV": None, "ST": None}, "payment_links": {"Transfer bancar": "Ordin plata"}})
    built = build_adapter(settings, login, read_timeout=READ_TIMEOUT)
    assert isinstance(built, SmartBillAdapter)
    return built


@pytest.fixture
def adapter(fake, login) -> SmartBillAdapter:
    return make_adapter(fake, login)


def interrupted(fake, adapter: SmartBillAdapter, plan, *, stored: bool = True) -> InterruptedAttempt:
    """Create `plan` with its answer lost (stored at SmartBill or not), as the export service would: the
    numbering read first and kept, the attempt begun long enough ago for the numbers to be trusted."""
    numbering = adapter.numbering_before_create(plan)
    if stored:
        fake.faults.stall_after_commit(READ_TIMEOUT + 0.5, method="POST", path=CREATE)
    else:
        fake.faults.status(502, method="POST", path=CREATE)
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    return InterruptedAttempt(numbering_before=numbering)


def settle(fake, adapter: SmartBillAdapter, plan, attempt: InterruptedAttempt):
    """The settlement, which only reads."""
    before = fake.requests.count()
    settlement = adapter.settle_interrupted(plan, attempt)
    assert {entry.method for entry in fake.requests.entries()[before:]} <= {"GET"}
    return settlement


def test_found_among_other_invoices_given_out_meanwhile_and_a_repeat_order_is_not_taken_for_it(
        fake, login, adapter) -> None:
    plan = plan_for(adapter, INVOICE, document_id="RO-A")
    attempt = interrupted(fake, adapter, plan)
    # Meanwhile: the same order again (same buyer, day and gross: another document of ours), and another.
    repeat = adapter.create_document(plan_for(adapter, INVOICE, document_id="RO-A-REPEAT"))
    adapter.create_document(plan_for(adapter, "ro/03-invoice-eur.json", document_id="RO-B"))
    settlement = settle(fake, adapter, plan, attempt)
    assert settlement.outcome == SettlementOutcome.FOUND, settlement
    assert settlement.found is not None and settlement.found.provider_document_id == "FCT:0001"
    assert settlement.found.provider_document_id != repeat.reference.provider_document_id
    # Three numbers given out: each asked its gross; the two with our gross read for our reference.
    pdfs = [entry for entry in fake.requests.entries() if entry.path.endswith("/invoice/pdf")]
    assert len(pdfs) == 2


def test_absent_when_no_number_was_given_out_and_not_yet_while_the_create_may_still_be_numbered(
        fake, login, adapter) -> None:
    plan = plan_for(adapter, INVOICE, document_id="RO-LOST")
    attempt = interrupted(fake, adapter, plan, stored=False)
    early = settle(fake, adapter, plan, InterruptedAttempt(numbering_before=attempt.numbering_before,
                                                           listing_complete_in=120.0))
    assert early.outcome == SettlementOutcome.NOT_YET and early.retry_after == 120.0
    assert settle(fake, adapter, plan, attempt).outcome == SettlementOutcome.ABSENT
    adapter.create_document(plan)  # sent again: once
    assert [invoice["mentions"] for invoice in fake.company(login["cif"]).invoices.values()] == ["ref: RO-LOST"]


def test_another_invoice_of_our_gross_given_out_meanwhile_is_not_ours_so_the_create_is_absent(
        fake, login, adapter) -> None:
    plan = plan_for(adapter, INVOICE, document_id="RO-C")
    attempt = interrupted(fake, adapter, plan, stored=False)
    adapter.create_document(plan_for(adapter, INVOICE, document_id="RO-C-REPEAT"))  # same gross, its own reference
    settlement = settle(fake, adapter, plan, attempt)
    assert settlement.outcome == SettlementOutcome.ABSENT, settlement


def test_an_interrupted_storno_is_known_by_its_invoices_reference(fake, login, adapter) -> None:
    invoice = plan_for(adapter, INVOICE)
    original = adapter.create_document(invoice)
    plan = plan_for(adapter, STORNO, corrected=original.reference)
    assert plan.document.correction is not None
    assert plan.document.correction.corrected_document_id == invoice.document.document_id
    attempt = interrupted(fake, adapter, plan)
    settlement = settle(fake, adapter, plan, attempt)
    assert settlement.outcome == SettlementOutcome.FOUND, settlement
    assert settlement.found is not None and settlement.found.provider_document_id == "FCT:0002"


def test_a_pdf_without_the_mentions_leaves_it_in_doubt_with_the_candidate_as_evidence(login) -> None:
    with SmartBillFake(rate_limit=None, today=TODAY, pdf_mentions=False) as bare:
        bare.add_account(login["username"], login["token"], login["cif"])
        adapter = make_adapter(bare, login)
        plan = plan_for(adapter, INVOICE, document_id="RO-D")
        settlement = settle(bare, adapter, plan, interrupted(bare, adapter, plan))
    assert settlement.outcome == SettlementOutcome.UNDECIDED, settlement
    assert settlement.candidates == ({"provider_document_id": "FCT:0001", "number": "FCT 0001",
                                      "reference": "no reference of ours"},)


def test_without_the_numbering_kept_or_with_the_series_reset_a_person_decides(fake, login, adapter) -> None:
    plan = plan_for(adapter, INVOICE, document_id="RO-E")
    attempt = interrupted(fake, adapter, plan)
    unknown = settle(fake, adapter, plan, InterruptedAttempt())  # an attempt from before it was kept
    assert unknown.outcome == SettlementOutcome.UNDECIDED and "was not kept" in unknown.reason
    fake.company(login["cif"]).series["FCT"].next_number = 1  # reset in SmartBill below where it stood
    reset = settle(fake, adapter, plan, InterruptedAttempt(numbering_before={"FCT": "0009"}))
    assert reset.outcome == SettlementOutcome.UNDECIDED and "reset" in reset.reason
    assert attempt.numbering_before == {"FCT": "0001"}


def test_numbers_given_since_keep_the_series_padding_and_a_busy_series_is_left_to_a_person() -> None:
    # The one before the reading too (a deleted last invoice gives its number out again); none before 1.
    assert numbers_given_since({"FCT": "0098", "WEB": "7"}, {"FCT": "0101", "WEB": "7", "NEW": "0001"}) == [
        ("FCT", "0097"), ("FCT", "0098"), ("FCT", "0099"), ("FCT", "0100"), ("WEB", "6")]
    assert numbers_given_since({"FCT": "0001"}, {"FCT": "0001"}) == []
    assert len(numbers_given_since({"FCT": "1"}, {"FCT": str(MAX_NUMBERS_READ + 2)})) == MAX_NUMBERS_READ + 1


def test_a_create_given_the_number_of_an_invoice_deleted_just_after_the_reading_is_found(
        fake, login, adapter) -> None:
    adapter.create_document(plan_for(adapter, "ro/03-invoice-eur.json", document_id="RO-LAST"))  # FCT 0001
    plan = plan_for(adapter, INVOICE, document_id="RO-F")
    numbering = adapter.numbering_before_create(plan)
    assert numbering == {"FCT": "0002"}
    # The merchant deletes the series' last invoice in SmartBill between our reading and our create.
    deleted = requests.delete(f"{fake.api_url}/invoice", params={"cif": login["cif"], "seriesName": "FCT",
                              "number": "0001"}, auth=(login["username"], login["token"]), timeout=5)
    assert deleted.status_code == 200, deleted.text
    fake.faults.stall_after_commit(READ_TIMEOUT + 0.5, method="POST", path=CREATE)
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)
    settlement = settle(fake, adapter, plan, InterruptedAttempt(numbering_before=numbering))
    assert settlement.outcome == SettlementOutcome.FOUND and settlement.found is not None
    assert settlement.found.provider_document_id == "FCT:0001"  # the deleted one's number, given out again


def test_our_reference_is_read_from_a_compressed_pdf_and_a_damaged_one_shows_none() -> None:
    # Real PDFs compress their content streams (FlateDecode); the fake's are plain: both are read.
    plain = render_pdf("Factura FCT 0001", ["Mentiuni:", "Livrare\u00a0 rapida", "ref: RO-A"])
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(plain)))
    for page in writer.pages:
        page.compress_content_streams()
    compressed = io.BytesIO()
    writer.write(compressed)
    assert b"ref: RO-A" in plain and b"ref: RO-A" not in compressed.getvalue()
    for pdf in (plain, compressed.getvalue()):
        text = pdf_text(pdf)
        assert references_in(text) == ["RO-A"] and "Livrare rapida" in text  # blanks collapsed
    assert pdf_text(plain[:200]) == "" and pdf_text(b"<html>busy</html>") == ""


def test_numbers_our_records_map_elsewhere_are_not_read_and_too_many_others_are_left_to_a_person(
        fake, login, adapter) -> None:
    plan = plan_for(adapter, INVOICE, document_id="RO-G")
    numbering = adapter.numbering_before_create(plan)  # FCT 0001 next
    others = [adapter.create_document(plan_for(adapter, INVOICE, document_id=f"RO-G-{n}")).reference
              for n in range(5)]  # ours, exported: FCT 0001..0005
    fake.faults.stall_after_commit(READ_TIMEOUT + 0.5, method="POST", path=CREATE)
    with pytest.raises(RequestMayHaveSucceeded):
        adapter.create_document(plan)  # FCT 0006
    mapped = frozenset(reference.provider_document_id for reference in others)
    before = fake.requests.count()
    settlement = settle(fake, adapter, plan, InterruptedAttempt(numbering_before=numbering,
                                                                mapped_elsewhere=lambda: mapped))
    assert settlement.outcome == SettlementOutcome.FOUND and settlement.found is not None
    assert settlement.found.provider_document_id == "FCT:0006"
    read = [entry.query.get("number") for entry in fake.requests.entries()[before:]
            if entry.path.endswith("/invoice/paymentstatus")]
    assert read == ["0006"]  # 0001-0005 are ours elsewhere: not read
    fake.company(login["cif"]).series["FCT"].next_number = 7 + MAX_NUMBERS_READ + 1  # a busy hand-made day
    busy = settle(fake, adapter, plan, InterruptedAttempt(numbering_before=numbering, mapped_elsewhere=lambda: mapped))
    assert busy.outcome == SettlementOutcome.UNDECIDED and "left to a person" in busy.reason
