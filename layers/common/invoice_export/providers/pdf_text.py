"""The text of a provider's PDF, for a provider whose only read of a document's texts is its PDF
(SmartBill prints our reference in the mentions and returns it nowhere else).

pypdf (pure Python, no native code) reads it; it is imported only here, when a settlement reads a PDF,
so the export path never loads it.
"""

from __future__ import annotations

import io
import re

_BLANKS = re.compile(r"[^\S\n]+")  # runs of spaces, tabs, no-break spaces: PDF text is laid out, not typed


def pdf_text(pdf: bytes) -> str:
    """Every page's text, blanks collapsed to one space; "" when the PDF cannot be read (nothing read from
    it then counts as a reference of ours)."""
    from pypdf import PdfReader  # imported here: see the module docstring
    from pypdf.errors import PyPdfError

    try:
        pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]
    except (PyPdfError, ValueError, KeyError, TypeError):  # a damaged or unexpected PDF
        return ""
    return _BLANKS.sub(" ", "\n".join(pages))
