"""Issuing an iFirma invoice: the positions, the documented date and numbering rules, the contractor,
the monthly quota, the fake's own totals, and the PDF."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from local.fakes.common import quantize_money, render_pdf
from local.fakes.ifirma.vocabulary import (
    ACCOUNT_SETTINGS,
    BAD_STRUCTURE,
    CONTRACTOR_FIELDS,
    EU_SERVICES,
    FOREIGN,
    FOREIGN_POSITION_FIELDS,
    POSITION_FIELDS,
    VALIDATION,
    VAT_FRACTIONS,
    IfirmaAccount,
    _check_fields,
    _Invalid,
)


def _positions(raw: list[Any], kind: str) -> list[dict[str, Any]]:
    spec = FOREIGN_POSITION_FIELDS if kind in (FOREIGN, EU_SERVICES) else POSITION_FIELDS
    positions = []
    for index, position in enumerate(raw):
        path = f"Pozycje[{index}]."
        if not isinstance(position, dict):
            raise _Invalid(BAD_STRUCTURE, f"Niepoprawna struktura obiektu domenowego: Pozycje[{index}]")
        _check_fields(position, spec, path)
        problems = []
        if position["Ilosc"] <= 0 and kind != "korekta":
            problems.append(f"{path}Ilosc: wartość musi być > 0")
        rate_type, rate = position["TypStawkiVat"], position.get("StawkaVat")
        if rate_type == "PRC" and (rate is None or Decimal(rate) not in VAT_FRACTIONS):
            # Documented as a fraction (0.23), not a percentage (23).
            problems.append(f"{path}StawkaVat: niedozwolona stawka (podaj ułamek: 0.23, 0.08, 0.05, 0.00)")
        if rate_type != "PRC" and rate is not None:
            problems.append(f"{path}StawkaVat: dla {rate_type} stawki nie podaje się")
        if rate_type == "ZW" and not position.get("PodstawaPrawna"):
            problems.append(f"{path}PodstawaPrawna: pole wymagane dla stawki ZW")
        if kind == EU_SERVICES:
            # ASSUMPTION: art. 28b services are outside Polish VAT; printed in two languages.
            if rate_type != "NP":
                problems.append(f"{path}TypStawkiVat: usługi art. 28b tylko NP")
            for name in ("NazwaPelnaObca", "JednostkaObca"):
                if not position.get(name):
                    problems.append(f"{path}{name}: pole wymagane")
        if problems:
            raise _Invalid(VALIDATION, "Błędy walidacji: " + "; ".join(problems))
        rate_value = Decimal(rate) if rate_type == "PRC" else Decimal(0)
        # ASSUMPTION (docs silent on the rounding): a discounted line is quantity x unit price x
        # (1 - Rabat/100), rounded half-up to the grosz once.
        discount = Decimal(position.get("Rabat") or 0)
        value = quantize_money(Decimal(position["Ilosc"]) * Decimal(position["CenaJednostkowa"])
                               * (100 - discount) / 100)
        positions.append({**position, "_rate": rate_value, "_value": value})
    return positions

def _check_rules(account: IfirmaAccount, body: dict[str, Any], kind: str) -> None:
    issue = date.fromisoformat(body["DataWystawienia"])
    problems = []
    if (issue.year, issue.month) != account.accounting_month:
        # ASSUMPTION on the wording: the message seen in the wild ("Data sprzedaży musi być zgodna z
        # miesiącem i rokiem księgowym") names the sale date; the plugins align the issue month.
        year, month = account.accounting_month
        problems.append(f"Data wystawienia musi być zgodna z miesiącem i rokiem księgowym ({month:02d}/{year})")
    if "DataSprzedazy" in body:
        sale = date.fromisoformat(body["DataSprzedazy"])
        if issue < sale:
            problems.append("DataWystawienia: musi być >= data sprzedaży")
        limit = date(sale.year + (sale.month == 12), sale.month % 12 + 1, 15)
        if issue > limit:
            problems.append("DataWystawienia: najpóźniej 15 dnia miesiąca następującego po miesiącu sprzedaży")
        if body.get("TerminPlatnosci") and date.fromisoformat(body["TerminPlatnosci"]) < sale:
            problems.append("TerminPlatnosci: musi być >= data sprzedaży")
    series = body.get("NazwaSeriiNumeracji")
    if series is not None and series not in account.series:
        problems.append(f"NazwaSeriiNumeracji: nie istnieje seria numeracji o nazwie '{series}'")
    series_key = f"{kind}:{series or ''}"
    previous = account.last_issue.get(series_key)
    if previous is not None and issue < previous:
        problems.append(f"DataWystawienia: musi być >= data wystawienia faktury wcześniejszej ({previous})")
    number = body.get("Numer")
    if number is not None and any(
            inv["_series"] == series_key and inv["Numer"] == number and inv["_year"] == issue.year
            for inv in account.invoices.values()):
        problems.append(f"Numer: faktura o numerze {number} istnieje już w tej serii")
    if problems:
        raise _Invalid(VALIDATION, "Błędy walidacji: " + "; ".join(problems))

def _contractor(account: IfirmaAccount, body: dict[str, Any]) -> dict[str, Any]:
    contractor = body.get("Kontrahent")
    if contractor is None:
        known = account.contractors.get(body.get("NIPKontrahenta") or body.get("IdentyfikatorKontrahenta") or "")
        if known is None:
            raise _Invalid(VALIDATION, "Kontrahent: podaj dane kontrahenta albo identyfikator istniejącego")
        return dict(known)
    _check_fields(contractor, CONTRACTOR_FIELDS, "Kontrahent.")
    nip = contractor.get("NIP")
    polish = contractor.get("KodKraju", "PL") == "PL" and not contractor.get("PrefiksUE")
    if nip and polish and not _valid_nip(nip):
        raise _Invalid(VALIDATION, "Błędy walidacji: Kontrahent.NIP: niepoprawny numer NIP")
    # Documented pitfall: saving a contractor replaces the whole record (fields not sent are lost).
    account.contractors[nip or contractor["Nazwa"]] = dict(contractor)
    return dict(contractor)

def _check_quota(account: IfirmaAccount) -> None:
    if account.issued_this_month >= account.quota:
        # ASSUMPTION: the documented monthly document limit answers Kod 202 (account settings).
        raise _Invalid(ACCOUNT_SETTINGS, f"Przekroczono miesięczny limit dokumentów API ({account.quota})")


# --------------------------------------------------------------------------- module helpers


def _valid_nip(nip: str) -> bool:
    """Polish NIP: 10 digits with the mod-11 check digit."""
    if not re.fullmatch(r"\d{10}", nip):
        return False
    check = sum(int(digit) * weight for digit, weight in zip(nip[:9], (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=True)) % 11
    return check == int(nip[9])


def _totals(positions: list[dict[str, Any]], basis: str) -> dict[str, Decimal]:
    """ASSUMPTION (the VAT summary of the printout): VAT per rate from the summed line values, gross
    values for LiczOd BRT, net for NET; each line value is quantity x unit price rounded half-up."""
    by_rate: dict[Decimal, Decimal] = {}
    for position in positions:
        by_rate[position["_rate"]] = by_rate.get(position["_rate"], Decimal(0)) + position["_value"]
    net = vat = Decimal("0.00")
    for rate, value in by_rate.items():
        if basis == "BRT":
            tax = (value * rate / (1 + rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            net, vat = net + value - tax, vat + tax
        else:
            tax = (value * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            net, vat = net + value, vat + tax
    return {"Netto": net, "Vat": vat, "Brutto": net + vat}


def _pdf(invoice: dict[str, Any], duplicate: bool) -> bytes:
    currency = invoice["Waluta"]
    buyer = invoice["Kontrahent"]
    lines = [
        "DUPLIKAT" if duplicate else "ORYGINAL",
        f"Numer: {invoice['PelnyNumer']}",
        f"Data wystawienia: {invoice['DataWystawienia']}   Data sprzedazy: {invoice.get('DataSprzedazy', '-')}",
        f"Nabywca: {buyer.get('Nazwa')} NIP {buyer.get('PrefiksUE', '')}{buyer.get('NIP', '-')}",
        f"Sposob zaplaty: {invoice.get('SposobZaplaty')}   Termin: {invoice.get('TerminPlatnosci') or '-'}",
        "",
    ]
    for index, position in enumerate(invoice["Pozycje"], start=1):
        rate = f"{position['StawkaVat']}" if position["TypStawkiVat"] == "PRC" else position["TypStawkiVat"]
        lines.append(f"{index}. {position['NazwaPelna']} | {position['Ilosc']} {position['Jednostka']} x "
                     f"{position['CenaJednostkowa']} | VAT {rate}")
    lines += ["", f"Razem netto: {invoice['Netto']} {currency}", f"VAT: {invoice['Vat']} {currency}",
              f"Razem brutto: {invoice['Brutto']} {currency}"]
    if invoice.get("Uwagi"):
        lines.append(f"Uwagi: {invoice['Uwagi']}")
    return render_pdf(f"Faktura {invoice['PelnyNumer']}", lines)
