"""What follows from a change of a document record (domain.record_changes): every kind of change."""

from __future__ import annotations

import json

import pytest

from invoice_export.domain.record_changes import Consequences, consequences, reported_document_id, still_waiting_for
from invoice_export.domain.records import DocumentRecord, PdfCopy, RecordedError, Status
from testsupport import load_example

AT = "2026-11-24T10:00:00.000+00:00"


def record(status: Status, **fields) -> DocumentRecord:
    return DocumentRecord(**{"account_id": "shop-1", "document_id": "INV-1", "status": status, "kind": "invoice",
                             "received_at": AT, "updated_at": AT, **fields})


def error(code: str, at: str = AT) -> RecordedError:
    return RecordedError(code=code, message=f"{code} happened", at=at)


PDF = PdfCopy(key="pdf/shop-1/INV-1.pdf", size=10, sha256="ab", fetched_at=AT)
EXPORTED = record(Status.EXPORTED, provider_document_id="P-1")


@pytest.mark.parametrize("old, new, expected", [
    # received, claimed, released after a 503, a newer pending version: nothing to say yet
    (None, record(Status.PENDING), Consequences()),
    (record(Status.PENDING), record(Status.SENDING), Consequences()),
    (record(Status.SENDING), record(Status.PENDING, last_error=error("provider_unavailable")), Consequences()),
    (record(Status.PENDING, document_version=1), record(Status.PENDING, document_version=2), Consequences()),
    # exported: its event, its PDF, its first KSeF poll (an invoice)
    (record(Status.SENDING), EXPORTED, Consequences("exported", request_pdf=True, start_ksef_poll=True)),
    (record(Status.SENDING, kind="receipt"), EXPORTED.model_copy(update={"kind": "receipt"}),
     Consequences("exported", request_pdf=True)),
    # created without its number (read after the create): the event waits for it, the PDF and poll do not
    (record(Status.SENDING), EXPORTED.model_copy(update={"number_unread": True}),
     Consequences(request_pdf=True, start_ksef_poll=True)),
    (EXPORTED.model_copy(update={"number_unread": True}), EXPORTED.model_copy(update={"provider_number": "1/2026"}),
     Consequences("exported")),
    (EXPORTED, EXPORTED.model_copy(update={"provider_number": "1/2026"}), Consequences()),
    # settled by an operator, its PDF already there (a PDF fetched for a record exported before)
    (record(Status.IN_DOUBT), EXPORTED.model_copy(update={"pdf": PDF}), Consequences("exported", start_ksef_poll=True)),
    # after the export: its PDF stored, a KSeF poll pending, then final
    (EXPORTED, EXPORTED.model_copy(update={"pdf": PDF}), Consequences()),
    (EXPORTED, EXPORTED.model_copy(update={"ksef_status": "pending"}), Consequences()),
    (EXPORTED.model_copy(update={"ksef_status": "pending"}),
     EXPORTED.model_copy(update={"ksef_status": "accepted", "ksef_number": "X"}),
     Consequences(clearance_state="accepted")),
    (EXPORTED.model_copy(update={"ksef_status": "accepted"}),
     EXPORTED.model_copy(update={"ksef_status": "accepted", "pdf": PDF}), Consequences()),
    (EXPORTED, EXPORTED.model_copy(update={"ksef_status": "not_applicable"}), Consequences()),
    # failed, and failed again with another error; the same error again is no news
    (record(Status.SENDING), record(Status.FAILED, last_error=error("provider_rejected")), Consequences("failed")),
    (None, record(Status.FAILED, last_error=error("invalid_message")), Consequences("failed")),
    (record(Status.FAILED, last_error=error("provider_rejected")),
     record(Status.FAILED, last_error=error("provider_rejected", at="2026-11-24T11:00:00.000+00:00")),
     Consequences("failed")),
    (record(Status.FAILED, last_error=error("x")), record(Status.FAILED, last_error=error("x")), Consequences()),
    # in doubt; held for a paused account
    (record(Status.SENDING), record(Status.IN_DOUBT, last_error=error("in_doubt")), Consequences("in_doubt")),
    (record(Status.PENDING), record(Status.PENDING, last_error=error("account_paused")), Consequences("pending")),
    (record(Status.PENDING, last_error=error("account_paused")),
     record(Status.PENDING, last_error=error("account_paused")), Consequences()),
    # a correction held for its original (on its way), and held again by a later delivery
    (None, record(Status.PENDING, last_error=error("waiting_for_original")), Consequences("pending")),
    (record(Status.PENDING, last_error=error("waiting_for_original")),
     record(Status.PENDING, last_error=error("waiting_for_original", at="2026-11-24T11:00:00.000+00:00")),
     Consequences("pending")),
    # an original with corrections held for it: listing one changes nothing; exported (by any step), each
    # is to be queued - told again as it is (the replay's sweep) too; not by a later write of it exported
    (record(Status.IN_DOUBT), record(Status.IN_DOUBT, waiting_corrections=["KOR-1"]), Consequences()),
    (record(Status.SENDING, waiting_corrections=["KOR-2", "KOR-1"]),
     EXPORTED.model_copy(update={"waiting_corrections": ["KOR-2", "KOR-1"], "kind": "receipt"}),
     Consequences("exported", request_pdf=True, send_waiting_corrections=("KOR-1", "KOR-2"))),
    (record(Status.IN_DOUBT, waiting_corrections=["KOR-1"]),
     EXPORTED.model_copy(update={"waiting_corrections": ["KOR-1"], "pdf": PDF}),
     Consequences("exported", start_ksef_poll=True, send_waiting_corrections=("KOR-1",))),
    (None, EXPORTED.model_copy(update={"waiting_corrections": ["KOR-1"], "pdf": PDF}),
     Consequences("exported", start_ksef_poll=True, send_waiting_corrections=("KOR-1",))),
    (EXPORTED.model_copy(update={"waiting_corrections": ["KOR-1"]}),
     EXPORTED.model_copy(update={"waiting_corrections": ["KOR-1"], "pdf": PDF}), Consequences()),
    (record(Status.IN_DOUBT, waiting_corrections=["KOR-1"]),
     record(Status.FAILED, waiting_corrections=["KOR-1"], last_error=error("released_by_operator")),
     Consequences("failed")),
    # released by the settlement (surely absent at the provider): its export message again, from the stream;
    # told again as it is (the replay's sweep: no record before) too; not a later write of it still pending
    (record(Status.IN_DOUBT, last_error=error("in_doubt")),
     record(Status.PENDING, last_error=error("requeued_after_settlement")), Consequences(send_again=True)),
    (None, record(Status.PENDING, last_error=error("requeued_after_settlement")), Consequences(send_again=True)),
    (record(Status.PENDING, last_error=error("requeued_after_settlement")),
     record(Status.PENDING, last_error=error("requeued_after_settlement"), document_version=2), Consequences()),
    # released by an operator (to failed: it waits for a retry), or after a 503 (its message is still queued)
    (record(Status.IN_DOUBT, last_error=error("in_doubt")),
     record(Status.FAILED, last_error=error("released_by_operator")), Consequences("failed")),
    (record(Status.SENDING, last_error=error("requeued_after_settlement")),
     record(Status.PENDING, last_error=error("provider_unavailable")), Consequences()),
    # deleted (tenant data deletion)
    (EXPORTED, None, Consequences()),
])
def test_what_each_change_calls_for(old, new, expected) -> None:
    assert consequences(old, new) == expected


def test_the_audit_note_a_write_carries_is_written_once() -> None:
    noted = record(Status.FAILED, last_error=error("x"), audit_note='{"action": "failed"}')
    assert consequences(record(Status.PENDING), noted).audit_note == '{"action": "failed"}'
    # A later write without a note of its own (its PDF, a field) keeps the old note: nothing to write.
    assert consequences(noted, noted.model_copy(update={"updated_at": "later"})).audit_note is None


def test_a_rejected_message_kept_beside_its_documents_record_is_reported_as_that_document() -> None:
    beside = record(Status.FAILED).model_copy(update={"document_id": "INV-1#rejected:message-7"})
    assert reported_document_id(beside) == "INV-1"
    assert reported_document_id(record(Status.FAILED)) == "INV-1"


def correction(status: Status, code: str | None = "waiting_for_original", corrects: str = "INV-1") -> DocumentRecord:
    document = load_example("05-correction.json")["document"]
    document["correction"]["corrected_document_id"] = corrects
    return record(status, document_id=document["document_id"], kind="correction", document=json.dumps(document),
                  last_error=error(code) if code else None)


def test_a_listed_correction_is_queued_only_while_it_still_waits_for_that_original() -> None:
    assert still_waiting_for(correction(Status.PENDING), "INV-1")
    assert not still_waiting_for(correction(Status.PENDING), "INV-2")  # a newer version corrects another
    assert not still_waiting_for(correction(Status.PENDING, code="account_paused"), "INV-1")  # held otherwise
    assert not still_waiting_for(correction(Status.PENDING, code=None), "INV-1")  # a newer version, not held yet
    for status in (Status.SENDING, Status.EXPORTED, Status.FAILED, Status.IN_DOUBT):  # sent, or failed, meanwhile
        assert not still_waiting_for(correction(status), "INV-1"), status
    assert not still_waiting_for(None, "INV-1")  # deleted
