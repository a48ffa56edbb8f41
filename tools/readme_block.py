"""A generated block of a document (README.md, ARCHITECTURE.md): the text between its two markers,
rewritten by `make docs`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def replace_block(text: str, begin: str, end: str, block: str) -> str:
    """`text` with the part from `begin` to `end` (markers included) replaced by `block`."""
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[:start] + block + text[stop:]


def update_readme(rewrite: Callable[[str], str], what: str, path: Path = README) -> None:
    path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{path.name} {what} updated")
