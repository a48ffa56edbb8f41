"""Long and unusual texts never kill a document (issue 13 §5), at every provider's strict fake.

A text longer than the provider takes is cut to its limit with a `text_truncated` warning; Polish
letters, typographic quotes and emoji are kept, or removed with a `text_replaced` warning where the
provider refuses them. The limits below are the providers' (documented, or the ASSUMPTIONs their
fakes and adapters label), stated here on their own so a wrong declaration in an adapter shows.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from corpus.money import UNLIMITED_FAKES, _adapter
from invoice_export.domain.provider_contract import CreatedDocument
from invoice_export.domain.settlement import our_reference, split_our_reference
from testsupport import load_example, plan_for


@dataclass(frozen=True)
class Limits:
    line_name: int
    buyer_name: int
    street: int
    city: int
    notes: int
    emoji_in_notes: bool  # False: the provider refuses emoji in the document's notes
    # The notes' field carries our reference as its last line too (domain.settlement): the notes get the rest.
    reference_in_notes: bool = False


LIMITS = {
    "fakturownia": Limits(line_name=256, buyer_name=255, street=255, city=255, notes=256, emoji_in_notes=False),
    "infakt": Limits(line_name=256, buyer_name=255, street=255, city=255, notes=3500, emoji_in_notes=True,
                     reference_in_notes=True),
    "wfirma": Limits(line_name=256, buyer_name=255, street=255, city=255, notes=3500, emoji_in_notes=True),
    "ifirma": Limits(line_name=300, buyer_name=150, street=65, city=65, notes=1000, emoji_in_notes=True,
                     reference_in_notes=True),
}


@dataclass(frozen=True)
class Stored:
    """The texts of a document as the provider's fake stored them."""

    line_names: list[str]
    buyer_name: str
    street: str
    city: str
    notes_field: str  # our notes, and our reference where the provider keeps it there

    @property
    def notes(self) -> str:
        return split_our_reference(self.notes_field)[0]

    @property
    def reference(self) -> str:
        return split_our_reference(self.notes_field)[1]


@dataclass
class Connected:
    name: str
    adapter: Any
    fake: Any
    last_document_id: str = ""  # of the last document `create` made

    @property
    def limits(self) -> Limits:
        return LIMITS[self.name]

    def stored(self, created: CreatedDocument) -> Stored:
        credentials, document_id = self.adapter.credentials, created.reference.provider_document_id
        if self.name == "fakturownia":
            doc = self.fake.account(credentials.api_token.get_secret_value()).invoice(int(document_id))
            return Stored([p["name"] for p in doc["positions"]], doc["buyer_name"], doc["buyer_street"],
                          doc["buyer_city"], doc.get("description") or "")
        if self.name == "infakt":
            doc = self.fake.account(credentials.api_key.get_secret_value()).invoices[document_id]
            return Stored([s["name"] for s in doc["services"]], doc["client_company_name"], doc["client_street"],
                          doc["client_city"], doc.get("notes") or "")
        if self.name == "wfirma":
            doc = self.fake.company(int(credentials.company_id)).invoices[int(document_id)]
            buyer = doc["contractor_detail"]
            return Stored([c["invoicecontent"]["name"] for c in doc["invoicecontents"].values()], buyer["name"],
                          buyer["street"], buyer["city"], doc.get("description") or "")
        doc = self.fake.account(credentials.login).invoices[int(document_id.split(":")[1])]
        buyer = doc["Kontrahent"]
        return Stored([p["NazwaPelna"] for p in doc["Pozycje"]], buyer["Nazwa"], buyer["Ulica"], buyer["Miejscowosc"],
                      doc.get("Uwagi") or "")


@pytest.fixture(scope="module", params=sorted(LIMITS))
def connected(request):
    with ExitStack() as running:
        adapter, fake = _adapter(*UNLIMITED_FAKES[request.param], running)
        yield Connected(request.param, adapter, fake)


_serial = itertools.count(1)


def create(connected: Connected, example: str, **changes: Any) -> CreatedDocument:
    """Example `example` with `changes` created at the provider; a new document id each time (the
    fixture's account lives for the module, and Fakturownia keeps our ids unique)."""
    document_id = connected.last_document_id = f"LONG-{next(_serial)}"
    return connected.adapter.create_document(plan_for(connected.adapter, example, document_id=document_id, **changes))


def text_warnings(created: CreatedDocument) -> list[str]:
    return [warning for warning in created.warnings if warning.startswith("text_")]


def long_text(length: int, start: str = "Zestaw prezentowy „Herbaciany Ogród” – ") -> str:
    return (start + "ż" * length)[:length]


def invoice_lines(**first_line: str) -> list[dict[str, Any]]:
    lines = load_example("01-invoice-company.json")["document"]["lines"]
    lines[0] |= first_line
    return lines


@pytest.mark.parametrize("length", [300, 2000])
def test_a_long_product_name_is_cut_to_the_providers_limit_with_a_warning(connected, length) -> None:
    name = long_text(length)
    created = create(connected, "01-invoice-company.json", lines=invoice_lines(name=name))
    stored = connected.stored(created).line_names[0]
    limit = connected.limits.line_name
    if length <= limit:  # iFirma takes 300
        assert stored == name and text_warnings(created) == []
        return
    assert stored == name[:limit]
    [warning] = text_warnings(created)
    assert warning.startswith(f"text_truncated: document.lines[].name has {length} characters; "
                              f"{connected.adapter.display_name} takes at most {limit} in ")
    assert warning.endswith(f": cut to {limit}")


def test_a_long_buyer_name_and_address_are_cut_each_with_a_warning(connected) -> None:
    buyer = load_example("01-invoice-company.json")["document"]["buyer"]
    buyer["name"] = long_text(2000, "Przedsiębiorstwo Handlowo-Usługowe „Zielony Liść” ")
    buyer["address"] |= {"street": long_text(2000, "ul. Marszałka "), "city": long_text(2000, "Żółkiewka-")}
    created = create(connected, "01-invoice-company.json", buyer=buyer)
    stored, limits = connected.stored(created), connected.limits
    assert stored.buyer_name == buyer["name"][:limits.buyer_name]
    assert stored.street == buyer["address"]["street"][:limits.street]
    assert stored.city == buyer["address"]["city"][:limits.city]
    assert sorted(warning.split(" has ")[0] for warning in text_warnings(created)) == [
        "text_truncated: document.buyer.address.city", "text_truncated: document.buyer.address.street",
        "text_truncated: document.buyer.name"]
    assert all(" has 2000 characters; " in warning for warning in text_warnings(created))


def test_long_notes_are_cut_only_where_the_provider_takes_fewer_and_never_our_reference(connected) -> None:
    notes = long_text(3500, "Zamówienie z Allegro nr 998877, „prezent” – ")
    created = create(connected, "01-invoice-company.json", notes=notes)
    stored = connected.stored(created)
    room = connected.limits.notes
    if connected.limits.reference_in_notes:  # the reference whole, on its own line after the notes
        assert stored.reference == our_reference(connected.last_document_id)
        room -= len(stored.reference) + 1
    assert stored.notes == notes[:room]
    warnings = text_warnings(created)
    if room >= len(notes):
        assert warnings == []
        return
    [warning] = warnings  # iFirma's field carries a correction's reason too, and says so
    assert warning.startswith("text_truncated: document.notes")
    assert f" has 3500 characters; {connected.adapter.display_name} takes at most {room} in " in warning


def test_diacritics_quotes_and_emoji_are_kept_or_replaced_with_a_warning_never_refused(connected) -> None:
    name = "Herbata „Zażółć gęślą jaźń” 🍵 – 100 g"
    buyer = load_example("01-invoice-company.json")["document"]["buyer"] | {"name": "Gżegżółka & Syn „Łąka” Sp. z o.o."}
    notes = "Dziękujemy za zakupy 🌷 „Do zobaczenia”"
    created = create(connected, "01-invoice-company.json", lines=invoice_lines(name=name), buyer=buyer, notes=notes)
    stored = connected.stored(created)
    assert stored.line_names[0] == name and stored.buyer_name == buyer["name"]
    if connected.limits.emoji_in_notes:
        assert stored.notes == notes and text_warnings(created) == []
    else:
        assert stored.notes == "Dziękujemy za zakupy „Do zobaczenia”"
        [warning] = text_warnings(created)
        assert warning.startswith(f"text_replaced: document.notes carries 1 emoji, which "
                                  f"{connected.adapter.display_name} refuses in ")


def test_a_correction_cuts_a_long_name_as_its_original_did_and_its_long_reason(connected) -> None:
    name = long_text(2000)
    original = create(connected, "01-invoice-company.json", lines=invoice_lines(name=name))
    example = load_example("05-correction.json")["document"]
    lines = [line | {"name": name} if line["line_id"] == "l1" else line for line in example["lines"]]
    correction = example["correction"]
    correction["lines_before"][0]["name"] = name
    correction["reason"] = long_text(2000, "Zwrot 1 szt. – klient napisał: „")
    # Accepted everywhere: inFakt compares each line before with the original's, name included, and
    # the cut is the same both times.
    created = create(connected, "05-correction.json", corrected=original.reference, lines=lines,
                     correction=correction)
    assert created.reference.provider_document_id
    assert "text_truncated: document.lines[].name" in [w.split(" has ")[0] for w in text_warnings(created)]


@pytest.mark.parametrize("connected", ["fakturownia"], indirect=True)
def test_a_phone_number_too_long_for_fakturownia_is_left_out_not_cut(connected) -> None:
    buyer = load_example("01-invoice-company.json")["document"]["buyer"] | {"phone": "+48 600 100 200 wew. 345"}
    created = create(connected, "01-invoice-company.json", buyer=buyer)
    invoice = connected.fake.account(connected.adapter.credentials.api_token.get_secret_value()).invoice(
        int(created.reference.provider_document_id))
    assert not invoice.get("buyer_phone")
    assert text_warnings(created) == ["text_omitted: document.buyer.phone has 24 characters; Fakturownia takes at "
                                      "most 16 in invoice.buyer_phone: left out (cut, it would be wrong)"]


@pytest.mark.parametrize("connected", ["fakturownia"], indirect=True)
def test_fakturownia_correction_reason_is_cut_to_256(connected) -> None:
    original = create(connected, "01-invoice-company.json")
    correction = load_example("05-correction.json")["document"]["correction"]
    correction["reason"] = long_text(2000, "Zwrot: ")
    created = create(connected, "05-correction.json", corrected=original.reference, correction=correction)
    invoice = connected.fake.account(connected.adapter.credentials.api_token.get_secret_value()).invoice(
        int(created.reference.provider_document_id))
    assert invoice["correction_reason"] == correction["reason"][:256]
    assert text_warnings(created) == ["text_truncated: document.correction.reason has 2000 characters; Fakturownia "
                                      "takes at most 256 in invoice.correction_reason: cut to 256"]
