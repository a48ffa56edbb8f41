"""Properties of the message schema as the export handler reads it (`read_export_message`).

Every valid message is read with its exact amounts; every broken one is refused with an error that
names the field (or says what is wrong), and nothing a producer can put in a body makes the reader
raise: an exception there would fail the whole batch and send the message to the DLQ unrecorded.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property.strategies import MISTAKES, PROPERTY_SETTINGS, bad_messages, export_messages, to_body

from invoice_export.domain.documents import ExportMessage
from invoice_export.entrypoints.sqs import UnreadableMessage, read_export_message

FEWER = settings(PROPERTY_SETTINGS, max_examples=30)  # per kind of mistake


@PROPERTY_SETTINGS
@given(message=export_messages(), numbers=st.booleans())
def test_every_valid_message_is_read_with_exact_amounts(message, numbers) -> None:
    read = read_export_message(to_body(message, numbers=numbers))
    assert isinstance(read, ExportMessage), read
    document = read.document
    assert document.totals.model_dump() == message["document"]["totals"]
    assert document.computed_totals() == document.totals
    assert [line.unit_price for line in document.lines] == [
        Decimal(line["unit_price"]) for line in message["document"]["lines"]]


@pytest.mark.parametrize("mistake", MISTAKES)
@given(data=st.data())
@FEWER
def test_every_broken_message_is_refused_naming_what_is_wrong(mistake, data) -> None:
    bad = data.draw(bad_messages(mistake))
    read = read_export_message(bad.body)
    assert isinstance(read, UnreadableMessage), f"{bad.what} was accepted"
    assert bad.must_mention in read.problem, f"{bad.what}: {read.problem!r} does not say {bad.must_mention!r}"


@PROPERTY_SETTINGS
@given(body=st.one_of(
    st.text(max_size=200),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                 max_leaves=20).map(json.dumps)))
def test_no_body_makes_the_reader_raise(body) -> None:
    read = read_export_message(body)
    assert isinstance(read, UnreadableMessage) and read.problem


def test_a_deeply_nested_body_is_refused_not_raised() -> None:
    # Regression: json.loads raises RecursionError (not ValueError) on deep nesting, which escaped the
    # reader, failed the batch on every delivery and dead-lettered the message without a record.
    read = read_export_message("[" * 100_000)
    assert isinstance(read, UnreadableMessage) and "the body is not JSON" in read.problem


@PROPERTY_SETTINGS
@given(message=export_messages())
def test_ids_of_a_broken_message_are_kept_when_they_are_valid(message) -> None:
    message["document"]["totals"]["gross"] += 1
    read = read_export_message(to_body(message))
    assert isinstance(read, UnreadableMessage)
    assert (read.account_id, read.document_id) == (message["account_id"], message["document"]["document_id"])
