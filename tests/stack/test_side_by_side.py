"""Documents of one account sent side by side where their order cannot matter, in turn elsewhere.

Through the whole stack: the FIFO queue hands the export function one account's documents in one
batch; the fake provider answers each create after 0.3 s and counts how many it handles at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from invoice_export.domain.records import Status

INVOICE = "01-invoice-company.json"
CREATE = {"method": "POST", "path": "/invoices.json"}


@pytest.fixture(autouse=True)
def slow_provider(fake) -> Iterator[None]:
    """Creates take long enough that side-by-side sends overlap at the fake, whatever the machine's load."""
    fake.latency_seconds = 0.3
    fake.reset_in_flight_peaks()
    fake.requests.clear()
    yield
    fake.latency_seconds = 0.0


def _send_invoices(shop, count: int, issue_date: str = "2026-11-20", first: int = 1) -> list[str]:
    ids = []
    for index in range(first, first + count):
        document_id = f"INV-SBS-{index:04d}"
        shop.send(shop.message(INVOICE, document_id=document_id, number=f"FV {index}/11/2026",
                               issue_date=issue_date, sale_date=issue_date))
        ids.append(document_id)
    return ids


def _created_order(shop) -> list[str]:
    return [invoice["oid"] for invoice in shop.provider_documents()]


def test_same_day_documents_with_our_numbers_are_sent_side_by_side_once_each(shop) -> None:
    shop.connect(numbering="ours")
    ids = _send_invoices(shop, 6)
    shop.run()
    assert 2 <= shop.fake.peak_in_flight(**CREATE) <= 4  # side by side, EXPORT_DOCUMENTS_IN_FLIGHT at most
    assert sorted(_created_order(shop)) == ids  # each exactly once
    for document_id in ids:
        assert shop.record(document_id).status == Status.EXPORTED
        assert shop.outcomes_once(document_id) == ["exported"]


def test_documents_numbered_by_the_provider_go_one_at_a_time_in_issue_order(shop) -> None:
    ids = _send_invoices(shop, 4)
    shop.run()
    assert shop.fake.peak_in_flight(**CREATE) == 1
    assert _created_order(shop) == ids
    numbers = [shop.record(document_id).provider_number for document_id in ids]
    assert numbers == sorted(numbers, key=lambda number: int(number.split()[-1].split("/")[0]))


def test_a_failure_holds_back_the_later_days_until_the_earlier_day_is_exported(shop) -> None:
    shop.connect(numbering="ours")
    first_day = _send_invoices(shop, 3, issue_date="2026-11-20")
    second_day = _send_invoices(shop, 3, issue_date="2026-11-21", first=4)
    shop.fake.faults.status(503, **CREATE)  # one of the first day's creates fails, transiently
    shop.run()
    order = _created_order(shop)
    assert sorted(order) == first_day + second_day
    assert set(order[:3]) == set(first_day)  # no second-day document before every first-day one
    assert shop.fake.requests.count(**CREATE) == 7  # the refused create, then one each
    for document_id in first_day + second_day:
        assert shop.outcomes_once(document_id) == ["exported"]


def test_with_provider_numbering_a_failure_holds_back_the_later_documents(shop) -> None:
    ids = _send_invoices(shop, 5)
    shop.fake.faults.status(503, **CREATE)  # the first create fails, transiently
    shop.run()
    assert shop.fake.peak_in_flight(**CREATE) == 1
    assert _created_order(shop) == ids  # the retried first one still comes first
    numbers = [int(shop.record(document_id).provider_number.split()[-1].split("/")[0]) for document_id in ids]
    assert numbers == sorted(numbers)
    for document_id in ids:
        assert shop.outcomes_once(document_id) == ["exported"]
