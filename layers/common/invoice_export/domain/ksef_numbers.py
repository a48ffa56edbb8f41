"""What a KSeF number looks like, for every provider.

The seller's NIP, the date, 12 hex digits and 2 check characters (35 characters). Fakturownia's KSeF
guide (fakturownia/API KSeF.md, "Numer KSeF (gov_id)": `{NIP}-{DATA}-{ID}`, e.g.
5252445767-20260201-ABC123DEF456) shows it without the check characters (32), so that form counts
too: stored as given, with a warning (issue 14).
"""

from __future__ import annotations

import re

KSEF_NUMBER = re.compile(r"\d{10}-\d{8}-[0-9A-F]{12}(?:-[0-9A-F]{2})?", re.IGNORECASE)
KSEF_NUMBER_WITHOUT_CHECK_LENGTH = 32


def ksef_number_warnings(number: str | None) -> tuple[str, ...]:
    """Warnings on a KSeF number a provider reported, for the document's record and its event."""
    if not number:
        return ()
    if not KSEF_NUMBER.fullmatch(number):
        return (f"the KSeF number '{number}' is not in KSeF's form (NIP-date-12 hex digits-2 check characters); "
                "it is recorded as the accounting system gave it: check it there",)
    if len(number) == KSEF_NUMBER_WITHOUT_CHECK_LENGTH:
        return (f"the KSeF number {number} came without its 2 check characters (a full KSeF number has 35); it is "
                "recorded as the accounting system gave it: the full number is in the accounting system and in KSeF",)
    return ()
