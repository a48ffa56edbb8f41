"""A generated block of README.md: the text between its two markers, rewritten by `make docs`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def replace_block(readme: str, begin: str, end: str, block: str) -> str:
    """`readme` with the text from `begin` to `end` (markers included) replaced by `block`."""
    start, stop = readme.index(begin), readme.index(end) + len(end)
    return readme[:start] + block + readme[stop:]


def update_readme(rewrite: Callable[[str], str], what: str) -> None:
    README.write_text(rewrite(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"README.md {what} updated")
