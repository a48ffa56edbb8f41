"""The one helper that fits texts to a provider's limits (providers/texts.py)."""

from __future__ import annotations

import copy

import pytest

from invoice_export.domain.settlement import with_our_reference
from invoice_export.providers import adapter_class, supported_providers
from invoice_export.providers.texts import TextLimit, cut_text, fit_texts, without_emoji

NAME = TextLimit(10, "document.lines[].name", "test")
NOTES = TextLimit(None, "document.notes", "test", emoji=False)
PHONE = TextLimit(16, "document.buyer.phone", "test", whole_or_nothing=True)


@pytest.mark.parametrize("text, limit, expected", [
    ("Zażółć gęślą", 10, "Zażółć gęś"),  # precomposed Polish letters are one character each
    ("Kawa e\u0301", 6, "Kawa"),  # never between a letter and its combining accent
    ("ab 👍🏽", 4, "ab"),  # an emoji keeps its skin tone
    ("ab 👨\u200d👩\u200d👧 x", 6, "ab"),  # a zero-width-joined family stays whole
    ("ab 🇵🇱🇩🇪", 6, "ab 🇵🇱"),  # flags are pairs of regional indicators
    ("ab 1\ufe0f\u20e3", 4, "ab"),  # a keycap: digit, presentation selector, enclosing mark
    ("ab\ud83d\ude00", 3, "ab"),  # a surrogate pair kept as two code points is not split
    ("a\r\nb", 2, "a"),  # CR LF stays together
    ("short", 10, "short"),
])
def test_a_cut_never_splits_what_a_reader_sees_as_one_character(text: str, limit: int, expected: str) -> None:
    assert cut_text(text, limit) == expected


def test_a_cut_drops_the_blanks_it_leaves_at_the_end() -> None:
    assert cut_text("Kubek duży   ceramiczny", 12) == "Kubek duży"


def test_emoji_are_removed_whole_and_the_text_around_them_kept() -> None:
    assert without_emoji("Dziękujemy za zakupy 🌷") == "Dziękujemy za zakupy"
    assert without_emoji("Super 🎉 prezent 👨\u200d👩\u200d👧 dla „Mamy” ©") == "Super prezent dla „Mamy” ©"
    assert without_emoji("Polska 🇵🇱, ⌀ 30 cm, 5 ℃, – …") == "Polska, ⌀ 30 cm, 5 ℃, – …"
    assert without_emoji("🎉 Nowość 🎉🎉 w sklepie") == "Nowość w sklepie"


def test_fitting_cuts_replaces_and_leaves_out_with_one_warning_each_naming_field_and_length() -> None:
    body = {"invoice": {"positions": [{"name": "Herbata zielona"}, {"name": "Kubek"}],
                        "description": "Dziękujemy 🌷", "phone": "+48 600 100 200 300 400"}}
    original = copy.deepcopy(body)
    fitted = fit_texts(body, {"invoice.positions.*.name": NAME, "invoice.description": NOTES,
                              "invoice.phone": PHONE}, "Fakturownia")
    assert body == original  # the adapter's body is left as it was built
    assert fitted.body == {"invoice": {"positions": [{"name": "Herbata zi"}, {"name": "Kubek"}],
                                       "description": "Dziękujemy"}}
    assert fitted.warnings == (
        "text_truncated: document.lines[].name has 15 characters; Fakturownia takes at most 10 in "
        "invoice.positions[0].name: cut to 10",
        "text_replaced: document.notes carries 1 emoji, which Fakturownia refuses in invoice.description: removed",
        "text_omitted: document.buyer.phone has 23 characters; Fakturownia takes at most 16 in invoice.phone: "
        "left out (cut, it would be wrong)")


def test_patterns_reach_numbered_dicts_and_skip_absent_or_non_text_values() -> None:
    body = {"invoices": {"0": {"invoice": {"invoicecontents": {
        "0": {"invoicecontent": {"name": "x" * 11}}, "1": {"invoicecontent": {"name": "ok", "count": 2}}}}}}}
    limits = {"invoices.*.invoice.invoicecontents.*.invoicecontent.name": NAME,
              "invoices.*.invoice.invoicecontents.*.invoicecontent.count": NAME,
              "invoices.*.invoice.description": NOTES}
    fitted = fit_texts(body, limits, "wFirma")
    contents = fitted.body["invoices"]["0"]["invoice"]["invoicecontents"]
    assert contents["0"]["invoicecontent"]["name"] == "x" * 10
    assert contents["1"]["invoicecontent"] == {"name": "ok", "count": 2}
    [warning] = fitted.warnings
    assert "invoices.0.invoice.invoicecontents.0.invoicecontent.name: cut to 10" in warning


def test_diacritics_quotes_and_emoji_that_fit_are_sent_untouched_without_a_warning() -> None:
    text = "„Zażółć” 🌷"
    fitted = fit_texts({"name": text}, {"name": TextLimit(256, "document.lines[].name", "test")}, "iFirma")
    assert fitted.body == {"name": text} and fitted.warnings == ()


@pytest.mark.parametrize("provider", supported_providers(), ids=lambda provider: provider.value)
def test_every_adapter_declares_its_limits_for_names_and_notes_with_their_source(provider) -> None:
    """A new provider cannot forget the texts that kill documents most: product and buyer names, notes."""
    limits = adapter_class(provider).text_limits.values()
    covered = {limit.ours.split(" ")[0] for limit in limits}
    assert {"document.lines[].name", "document.buyer.name", "document.notes"} <= covered
    assert all(limit.source.strip() and (limit.max_length or not limit.emoji) for limit in limits)


def test_long_notes_are_cut_before_our_reference_never_the_reference() -> None:
    limits = {"Uwagi": TextLimit(40, "document.notes", "test", keeps_our_reference=True)}
    notes = "Zamówienie 123, dostawa kurierem do paczkomatu"  # 46 characters
    fitted = fit_texts({"Uwagi": with_our_reference(notes, "INV-2026-7")}, limits, "iFirma")
    # 40 - 15 (the reference) - 1 (the line break before it) = 24 for the notes, cut at a word's end.
    assert fitted.body["Uwagi"] == "Zamówienie 123, dostawa\nref: INV-2026-7"
    assert fitted.warnings == ("text_truncated: document.notes has 46 characters; iFirma takes at most 24 in Uwagi "
                               "beside our reference (15): cut to 23",)


def test_our_reference_alone_or_with_notes_that_fit_is_sent_untouched() -> None:
    limits = {"notes": TextLimit(40, "document.notes", "test", keeps_our_reference=True)}
    for text in ("ref: INV-1", "Dziękujemy 🎉\nref: INV-1"):
        fitted = fit_texts({"notes": text}, limits, "inFakt")
        assert fitted.body == {"notes": text} and fitted.warnings == ()
    # Notes that leave no room at all are dropped, the reference kept.
    tight = {"notes": TextLimit(10, "document.notes", "test", keeps_our_reference=True)}
    assert fit_texts({"notes": "Uwagi\nref: INV-1"}, tight, "inFakt").body == {"notes": "ref: INV-1"}


@pytest.mark.parametrize("provider", [p for p in supported_providers()
                                      if adapter_class(p).capabilities.settle_by_listing],
                         ids=lambda provider: provider.value)
def test_a_provider_found_by_listing_keeps_our_reference_in_a_field_whose_cut_spares_it(provider) -> None:
    assert any(limit.keeps_our_reference for limit in adapter_class(provider).text_limits.values())
