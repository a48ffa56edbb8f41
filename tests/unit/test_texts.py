"""The one helper that fits texts to a provider's limits (providers/texts.py)."""

from __future__ import annotations

import copy

import pytest

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
