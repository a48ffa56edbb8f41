"""Buyers' tax identifiers and their check digits."""

from __future__ import annotations

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def nip_problem(tax_id: str) -> str | None:
    """What is wrong with a Polish NIP (with or without the PL prefix, dashes or spaces); None when valid."""
    digits = tax_id.upper().removeprefix("PL").replace("-", "").replace(" ", "")
    if not digits.isdigit() or len(digits) != 10:
        return "does not have 10 digits"
    if sum(int(d) * w for d, w in zip(digits, NIP_WEIGHTS, strict=False)) % 11 != int(digits[9]):
        return "has a wrong check digit"
    return None
