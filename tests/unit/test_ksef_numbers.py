"""One definition of a KSeF number for every adapter (issue 14): KSeF's 35-character form, or the
32-character form without the check characters that Fakturownia's KSeF guide shows; either is recorded
as the provider gave it, and a doubtful form is a warning on the document's record and its event."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.ksef_numbers import KSEF_NUMBER, ksef_number_warnings
from invoice_export.domain.provider_contract import ClearanceSystem, KsefState, KsefStatus
from invoice_export.domain.records import DocumentRecord, Status
from invoice_export.services.events import Outcome
from invoice_export.services.ksef import KsefPollRequest, KsefService
from invoice_export.services.record_changes import RecordChangeService

FULL = "5252445767-20261124-ABCDEF012345-01"
WITHOUT_CHECK = "5252445767-20261124-ABCDEF012345"  # fakturownia/API KSeF.md "Numer KSeF (gov_id)"


@pytest.mark.parametrize("number, is_ksef_number, warned", [
    (FULL, True, False),
    (WITHOUT_CHECK, True, True),
    ("5252445767-20261124-abcdef012345-0f", True, False),
    ("5252445767-20261124-ABCDEF01234", False, True),  # 11 hex digits
    ("20261124-SE-ABCDEF0123-45", False, True),  # a submission's reference, not a KSeF number
])
def test_one_definition_of_a_ksef_number(number, is_ksef_number, warned) -> None:
    assert bool(KSEF_NUMBER.fullmatch(number)) is is_ksef_number
    assert bool(ksef_number_warnings(number)) is warned
    assert KsefStatus(KsefState.ACCEPTED, ksef_number=number).warnings == ksef_number_warnings(number)


class Documents:
    def __init__(self, record: DocumentRecord) -> None:
        self.record, self.recorded = record, []

    def get(self, account_id: str, document_id: str) -> DocumentRecord:
        return self.record

    def record_ksef(self, account_id, document_id, status, *, ksef_number=None, message=None, also_final=(),
                    audit=None):
        self.recorded.append({"status": status, "ksef_number": ksef_number, "message": message})
        return self.record


@pytest.mark.parametrize("number, warned", [(FULL, False), (WITHOUT_CHECK, True)])
def test_the_poller_records_the_number_as_given_with_its_warning_on_the_record_and_the_event(number, warned):
    record = DocumentRecord(account_id="shop-1", document_id="INV-1", status=Status.EXPORTED, kind="invoice",
                            provider="fakturownia", provider_document_id="100001", ksef_status="pending",
                            received_at="2026-11-24T10:00:00Z", updated_at="2026-11-24T10:00:00Z")
    settings = AccountSettings.model_validate({"account_id": "shop-1", "provider": "fakturownia",
                                               "ksef": "provider_sends", "provider_subdomain": "shop"})
    adapter = SimpleNamespace(clearance_system=ClearanceSystem.KSEF, clearance=lambda: ("KSeF", True, True),
                              ksef_status=lambda reference: KsefStatus(KsefState.ACCEPTED, ksef_number=number))
    documents, events = Documents(record), []
    accounts = SimpleNamespace(get=lambda account_id: settings, credentials=lambda account_id: {})
    service = KsefService(settings=SimpleNamespace(ksef_poll_base_delay_seconds=20.0), documents=documents,
                          accounts=accounts, adapter_factory=lambda settings, credentials: adapter,
                          schedule=lambda request, delay: None)
    service.poll(KsefPollRequest(account_id="shop-1", document_id="INV-1"))
    [recorded] = documents.recorded
    # The event follows from the record's change (the stream function).
    changes = RecordChangeService(accounts=accounts, documents=None, publisher=SimpleNamespace(publish=events.append),
                                  make_link=None, request_pdf=None, start_ksef_poll=None, queue_export=None,
                                  audit=None)
    changes.handle(record, record.model_copy(update={"ksef_status": "accepted", "ksef_number": number,
                                                     "ksef_message": recorded["message"]}))
    [event] = events
    assert (recorded["status"], recorded["ksef_number"]) == ("accepted", number)
    assert (event.outcome, event.ksef_number, event.error) == (Outcome.KSEF_ACCEPTED, number, None)
    if warned:
        assert event.warnings == [recorded["message"]] and "without its 2 check characters" in recorded["message"]
    else:
        assert event.warnings == [] and recorded["message"] is None
