"""Buyers' tax identifiers and their check digits."""

from __future__ import annotations

from collections.abc import Callable

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
# Romanian CUI/CIF: the key 753217532 weighs the digits before the check digit, right-aligned.
CUI_KEY = (7, 5, 3, 2, 1, 7, 5, 3, 2)


def nip_problem(tax_id: str) -> str | None:
    """What is wrong with a Polish NIP (with or without the PL prefix, dashes or spaces); None when valid."""
    digits = tax_id.upper().removeprefix("PL").replace("-", "").replace(" ", "")
    if not digits.isdigit() or len(digits) != 10:
        return "does not have 10 digits"
    if sum(int(d) * w for d, w in zip(digits, NIP_WEIGHTS, strict=False)) % 11 != int(digits[9]):
        return "has a wrong check digit"
    return None


def cui_problem(tax_id: str) -> str | None:
    """What is wrong with a Romanian CUI/CIF (with or without the RO prefix, spaces); None when valid.

    2 to 10 digits, the last a check digit: the others, right-aligned under the key 753217532, weighted
    and summed; times 10, modulo 11 (10 counts as 0)."""
    digits = tax_id.upper().replace(" ", "").removeprefix("RO")
    if not digits.isdigit() or not 2 <= len(digits) <= 10:
        return "does not have 2 to 10 digits"
    body = digits[:-1].rjust(len(CUI_KEY), "0")
    if sum(int(d) * w for d, w in zip(body, CUI_KEY, strict=True)) * 10 % 11 % 10 != int(digits[-1]):
        return "has a wrong check digit"
    return None


# A company buyer's tax id, by the country of its address: (its name there, its check).
COMPANY_TAX_ID_CHECKS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "PL": ("NIP", nip_problem),
    "RO": ("CUI", cui_problem),
}
