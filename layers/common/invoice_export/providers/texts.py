"""Texts fitted to what a provider takes: its field lengths and the characters it refuses.

Our contract takes long texts (names and addresses up to 2,000 characters, notes up to 3,500; see
`domain.documents`); accounting systems take less, and some refuse emoji in some fields. A text that
does not fit is never a reason to refuse the whole document: it is cut (or a refused character
removed) and the document goes through with a warning on its record and in its `exported` event.

How an adapter uses it (one helper for every provider):

1. declare `text_limits` on the adapter class: a path pattern in *its request body* -> `TextLimit`,
   each with the source of the limit or an `ASSUMPTION:` label. The path is dotted; `*` stands for
   every item of a list or every value of a dict, e.g. `invoice.positions.*.name` or wFirma's
   numbered `invoices.*.invoice.invoicecontents.*.invoicecontent.name`; a key holding a dot itself
   (Firmao's flat "customerAddress.city") is named by a tuple of keys instead, ("customerAddress.city",);
2. in `create_document`, send `self.fit_texts(self.build_request(plan)).body` and add its
   `.warnings` to the `CreatedDocument`'s warnings.

Limits are on the request, not on our fields, because one provider field often carries several of
ours (a correction's reason and the notes in one description).

A field that carries our reference (domain.settlement: `ref: <our id>` as its last line, how an
interrupted create is recognised at a provider without a field for our id) is declared with
`keeps_our_reference=True`: the text before the reference is cut to leave it room, never the
reference itself (iFirma's `Uwagi` shares its 1,000 characters between the notes and it).

Lengths are counted in characters (code points), as Python, Ruby and PHP's mb_ functions count. A
cut never splits what a reader sees as one character: a letter and its combining accents, an emoji
with its skin tone, variation selector or zero-width-joined parts, a flag's pair of regional
indicators, a surrogate pair, CR LF.

Warnings start with a stable code, then say which of our fields, its original length and what was
done, never the text itself (events carry no buyer data):

    text_truncated: document.lines[].name has 300 characters; Fakturownia takes at most 256 in
        invoice.positions[1].name: cut to 256
    text_replaced: document.notes carries 1 emoji, which Fakturownia refuses in invoice.description:
        removed
    text_omitted: document.buyer.phone has 21 characters; Fakturownia takes at most 16 in
        invoice.buyer_phone: left out (cut, it would be wrong)
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from invoice_export.domain.settlement import split_our_reference

TEXT_TRUNCATED = "text_truncated"
TEXT_REPLACED = "text_replaced"
TEXT_OMITTED = "text_omitted"

_ZERO_WIDTH_JOINER = "\u200d"
_EMOJI_PRESENTATION = "\ufe0f"
# Blocks of pictographs that render as emoji: emoticons, transport, flags and supplemental symbols;
# miscellaneous symbols and dingbats; arrows and stars. Letters, digits, punctuation, typographic
# quotes („”), dashes and signs such as © ™ ℃ ⌀ stay outside (an emoji form of them carries U+FE0F).
_PICTOGRAPH_BLOCKS = (range(0x1F000, 0x1FB00), range(0x2600, 0x27C0), range(0x2B00, 0x2C00))
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
_CLOSING_PUNCTUATION = frozenset(",.;:!?)]}”»…")


@dataclass(frozen=True)
class TextLimit:
    """What a provider takes in one text field of its request."""

    max_length: int | None  # in characters; None: any length (only `emoji` applies)
    ours: str  # the field of our message the text comes from, named in the warning
    source: str  # where the provider documents it, or "ASSUMPTION: ..." with why
    emoji: bool = True  # False: the provider refuses emoji here; they are removed, with a warning
    # A value that is wrong when cut (a phone number): left out instead, with a warning.
    whole_or_nothing: bool = False
    # The text ends with our reference (domain.settlement.with_our_reference): only what precedes it is cut.
    keeps_our_reference: bool = False


@dataclass(frozen=True)
class FittedRequest:
    body: dict[str, Any]
    warnings: tuple[str, ...]


def fit_texts(body: dict[str, Any], limits: Mapping[str | tuple[str, ...], TextLimit],
              provider: str) -> FittedRequest:
    """A copy of `body` with every text under `limits` fitted, and one warning per changed text."""
    fitted = copy.deepcopy(body)
    warnings: list[str] = []
    for pattern, limit in limits.items():
        for container, key, path in _matches(fitted, _parts(pattern), ()):
            if isinstance(container[key], str):
                warnings += _fit_text(container, key, limit, provider, where=_render(path))
    return FittedRequest(fitted, tuple(warnings))


def _fit_text(container: dict[str, Any], key: str, limit: TextLimit, provider: str, where: str) -> list[str]:
    """Fits the text `container[key]` to `limit` in place (removed where it is whole_or_nothing and too
    long); the warnings that say what changed. Our reference, where the text ends with it, stays whole."""
    original = container[key]
    text, reference = split_our_reference(original) if limit.keeps_our_reference else (original, "")
    max_length = _room_beside_reference(limit.max_length, text, reference)
    warnings: list[str] = []
    if not limit.emoji and (emoji := _emoji_count(text)):
        text = without_emoji(text)
        warnings.append(f"{TEXT_REPLACED}: {limit.ours} carries {emoji} emoji, which {provider} refuses "
                        f"in {where}: removed")
    if max_length is not None and len(text) > max_length:
        length = len(split_our_reference(original)[0] if reference else original)
        if limit.whole_or_nothing:
            del container[key]
            return [*warnings, f"{TEXT_OMITTED}: {limit.ours} has {length} characters; {provider} takes at "
                               f"most {max_length} in {where}: left out (cut, it would be wrong)"]
        text = cut_text(text, max_length) if max_length else ""
        beside = f" beside our reference ({len(reference)})" if reference else ""
        warnings.append(f"{TEXT_TRUNCATED}: {limit.ours} has {length} characters; {provider} takes at "
                        f"most {max_length} in {where}{beside}: cut to {len(text)}")
    container[key] = _with_reference(text, reference)
    return warnings


def _room_beside_reference(max_length: int | None, text: str, reference: str) -> int | None:
    """The characters left for the text when our reference follows it (after a line break, when there is
    a text before it); None: any length."""
    if max_length is None or not reference:
        return max_length
    return max(max_length - len(reference) - (1 if text else 0), 0)


def _with_reference(text: str, reference: str) -> str:
    """The fitted text with our reference back on its own line (either alone when the other is empty)."""
    return f"{text}\n{reference}" if text and reference else text or reference


def cut_text(text: str, max_length: int) -> str:
    """`text` cut to at most `max_length` characters at the end of a whole visible character, with
    trailing blanks dropped."""
    if len(text) <= max_length:
        return text
    end = max_length
    while end > 0 and not _is_boundary(text, end):
        end -= 1
    if end == 0:  # one "character" longer than the limit (hundreds of accents): a cut beats nothing
        end = max_length
    return text[:end].rstrip() or text[:end]


def without_emoji(text: str) -> str:
    """`text` without its emoji (each with all its parts), and without the space each leaves behind."""
    clusters = list(_clusters(text))
    kept: list[str] = []
    just_removed = False
    for index, cluster in enumerate(clusters):
        if _is_emoji(cluster):
            following = clusters[index + 1] if index + 1 < len(clusters) else ""
            if kept and kept[-1] == " " and (following in ("", " ") or following in _CLOSING_PUNCTUATION):
                kept.pop()  # "zakupy 🌷" -> "zakupy", "Super 🎉 prezent" -> "Super prezent"
            just_removed = True
            continue
        if cluster == " " and just_removed and not kept:
            continue  # "🎉 Super" -> "Super"
        just_removed = False
        kept.append(cluster)
    return "".join(kept)


def _emoji_count(text: str) -> int:
    return sum(1 for cluster in _clusters(text) if _is_emoji(cluster))


def _is_emoji(cluster: str) -> bool:
    return _EMOJI_PRESENTATION in cluster or any(
        ord(char) in block for char in cluster for block in _PICTOGRAPH_BLOCKS)


def _clusters(text: str) -> Iterator[str]:
    """What a reader sees as one character each (a practical subset of Unicode's grapheme clusters)."""
    start = 0
    for end in range(1, len(text) + 1):
        if _is_boundary(text, end):
            yield text[start:end]
            start = end


def _is_boundary(text: str, index: int) -> bool:
    """Whether `text` may be cut between index-1 and index."""
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if before == "\r" and after == "\n":
        return False
    if _joins_previous(after) or before == _ZERO_WIDTH_JOINER:
        return False
    if ord(before) in _REGIONAL_INDICATORS and ord(after) in _REGIONAL_INDICATORS:
        # Flags are pairs: cut only after an even run of regional indicators.
        run = 0
        while index - run - 1 >= 0 and ord(text[index - run - 1]) in _REGIONAL_INDICATORS:
            run += 1
        return run % 2 == 0
    return True


def _joins_previous(char: str) -> bool:
    """A code point that belongs to the character before it."""
    code = ord(char)
    return (unicodedata.category(char) in ("Mn", "Mc", "Me")  # accents, variation selectors, keycap
            or char == _ZERO_WIDTH_JOINER
            or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
            or 0xE0020 <= code <= 0xE007F  # tags of subdivision flags
            or 0xDC00 <= code <= 0xDFFF)  # the second half of a surrogate pair kept as two code points


def _parts(pattern: str | tuple[str, ...]) -> list[str]:
    """A pattern's keys: dotted, or a tuple where a key itself holds a dot (Firmao's "customerAddress.city")."""
    return list(pattern) if isinstance(pattern, tuple) else pattern.split(".")


def _matches(node: Any, parts: list[str], path: tuple[str | int, ...]) -> Iterator[tuple[Any, Any, tuple]]:
    """(container, key, path) of every value the pattern `parts` names under `node`."""
    head, rest = parts[0], parts[1:]
    if head == "*":
        children = list(enumerate(node)) if isinstance(node, list) else \
            list(node.items()) if isinstance(node, dict) else []
    else:
        children = [(head, node[head])] if isinstance(node, dict) and head in node else []
    for key, child in children:
        if rest:
            yield from _matches(child, rest, (*path, key))
        else:
            yield node, key, (*path, key)


def _render(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
