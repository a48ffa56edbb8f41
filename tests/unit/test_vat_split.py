"""A provider that splits our gross into net and VAT another way (issue 13 §1): the document is sent
with both splits recorded; only a different gross (amount due) is refused before sending; the
read-back check reports a split-only difference as that warning, not as drift."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from invoice_export.domain.account_settings import AccountSettings
from invoice_export.domain.documents import (
    Document,
    ExportMessage,
    PriceBasis,
    VatCalculation,
    compute_totals,
)
from invoice_export.domain.errors import ConfigurationError
from invoice_export.domain.money import round_money
from invoice_export.domain.planning import plan_export
from invoice_export.domain.provider_contract import ProviderReference
from invoice_export.domain.readback import ProviderTotals, compare, settle_vat_split
from invoice_export.providers.fakturownia.adapter import FakturowniaAdapter
from invoice_export.providers.ifirma.adapter import IfirmaAdapter
from invoice_export.providers.infakt.adapter import InfaktAdapter
from invoice_export.providers.wfirma.adapter import WfirmaAdapter
from testsupport import GROSS_PER_LINE_EXAMPLE as GROSS_PER_LINE
from testsupport import NET_LINES_VAT_BY_METHOD as NET_LINES
from testsupport import computed_totals, load_example


def settings(**changes: Any) -> AccountSettings:
    return AccountSettings.model_validate({
        "account_id": "shop-1", "provider": "wfirma", "series_links": {"FV": None, "FV-EXPORT": None, "KOR": None},
        "payment_links": {"Przelew": "transfer"}, **changes})


def invoice(lines: list[dict[str, Any]] | None = None, *, basis: str = "gross", method: str = "per_line",
            example: str = GROSS_PER_LINE) -> Document:
    """The example with these lines and the totals our own model gives them."""
    message = load_example(example)
    document = message["document"]
    lines = lines if lines is not None else document["lines"]
    document.update(lines=lines, price_basis=basis, vat_calculation=method,
                    totals=computed_totals(lines, basis, method))
    return ExportMessage.model_validate(message).document


def correction(lines_before: list[dict[str, Any]], lines_after: list[dict[str, Any]], *, basis: str,
               method: str) -> Document:
    message = load_example("05-correction.json")
    document = message["document"]
    after, before = computed_totals(lines_after, basis, method), computed_totals(lines_before, basis, method)
    document.update(lines=lines_after, price_basis=basis, vat_calculation=method, totals={
        name: str(Decimal(after[name]) - Decimal(before[name])) for name in ("net", "vat", "gross")})
    document["correction"]["lines_before"] = lines_before
    return ExportMessage.model_validate(message).document


# ---------------------------------------------------------------- sent with both splits


@pytest.mark.parametrize("adapter", [WfirmaAdapter, IfirmaAdapter], ids=lambda a: a.display_name)
def test_a_gross_priced_per_line_invoice_goes_to_a_per_rate_provider_with_both_splits(adapter) -> None:
    document = invoice()
    plan = plan_export(document, settings(), adapter)  # refused before (provider_totals_would_differ)
    split = plan.vat_split
    assert split is not None and not plan.send_gross_prices  # gross prices go as they are
    # 23 %: gross 24.99 + 79.80 + 14.99 = 119.78; per rate VAT 22.40; per line 4.67 + 14.92 + 2.80 = 22.39.
    assert (split.ours.net, split.ours.vat, split.theirs.net, split.theirs.vat) == (
        Decimal("150.25"), Decimal("25.03"), Decimal("150.24"), Decimal("25.04"))
    assert split.ours.gross == split.theirs.gross == document.totals.gross
    record = split.as_record(document)
    assert record["code"] == "vat_split_differs" and record["gross"] == "175.28" and record["read_back"] is False
    assert record["ours"]["by_rate"] == {"23": {"net": "97.39", "vat": "22.39"}, "5": {"net": "52.86", "vat": "2.64"}}
    assert record["theirs"]["by_rate"] == {"23": {"net": "97.38", "vat": "22.40"}, "5": {"net": "52.86", "vat": "2.64"}}
    warning = split.warning(adapter.display_name)
    assert warning.startswith("vat_split_differs: ")
    assert all(figure in warning for figure in ("175.28", "150.24", "25.04", "150.25", "25.03", "22.40", "22.39"))


def test_a_gross_priced_per_rate_invoice_goes_to_a_per_line_provider_with_both_splits() -> None:
    document = invoice(method="per_rate")
    plan = plan_export(document, settings(provider="infakt"), InfaktAdapter)
    assert plan.vat_split is not None
    assert (plan.vat_split.theirs.net, plan.vat_split.theirs.vat) == (Decimal("150.25"), Decimal("25.03"))
    assert plan.vat_split.theirs.gross == document.totals.gross


def test_fakturownia_deriving_net_from_gross_its_own_way_is_a_split_not_a_refusal() -> None:
    # At 20 % a gross of 0.03 holds VAT 0.005: 0.01 taken from the gross (ours), 0.00 left once Fakturownia
    # rounds the net 0.025 up to 0.03.
    document = invoice([{"line_id": "l1", "name": "Próbka", "quantity": "1", "unit_price": "0.03", "vat": "20"}])
    plan = plan_export(document, settings(provider="fakturownia"), FakturowniaAdapter)
    assert plan.vat_split is not None
    assert (plan.vat_split.theirs.net, plan.vat_split.theirs.vat, plan.vat_split.theirs.gross) == (
        Decimal("0.03"), Decimal("0.00"), Decimal("0.03"))


def test_net_lines_go_to_a_per_rate_provider_as_gross_unit_prices_keeping_our_gross() -> None:
    document = invoice(NET_LINES, basis="net")
    as_net_there = compute_totals(document.lines, PriceBasis.NET, VatCalculation.PER_RATE)
    assert as_net_there.gross != document.totals.gross  # as net prices wFirma's amount due would be 41.06
    plan = plan_export(document, settings(), WfirmaAdapter)
    assert plan.send_gross_prices and plan.vat_split is not None
    assert plan.vat_split.theirs.gross == document.totals.gross == Decimal("41.07")
    # The request: price_type brutto, each count x price (wFirma's line value) our line's net + its VAT.
    body = WfirmaAdapter.__new__(WfirmaAdapter).build_request(plan)
    [entry] = body["invoices"].values()
    assert entry["invoice"]["price_type"] == "brutto"
    sent = [content["invoicecontent"] for content in entry["invoice"]["invoicecontents"].values()]
    values = [round_money(Decimal(c["count"]) * Decimal(c["price"])) for c in sent]
    assert values == [Decimal("27.04"), Decimal("5.01"), Decimal("9.02")]  # 21.98 + 5.06, 4.07 + 0.94, 7.33 + 1.69
    assert all(len(c["price"].partition(".")[2]) <= 4 for c in sent)


def test_net_lines_that_give_the_same_gross_either_way_go_as_they_are() -> None:
    plan = plan_export(invoice(NET_LINES[:1], basis="net"), settings(), WfirmaAdapter)
    assert not plan.send_gross_prices and plan.vat_split is None


def test_a_correction_goes_in_the_price_basis_its_original_went_in() -> None:
    # The original (NET_LINES) needed gross unit prices; the lines after alone would not.
    document = correction(NET_LINES, NET_LINES[:1], basis="net", method="per_line")
    plan = plan_export(document, settings(), WfirmaAdapter,
                       corrected=ProviderReference("9001", "FV 1/11/2026"))
    assert plan.send_gross_prices
    assert plan.vat_split is None or plan.vat_split.theirs.gross == document.totals.gross


# ---------------------------------------------------------------- refused: another gross


def test_another_amount_due_at_the_provider_is_refused_with_both_amounts_and_the_fix() -> None:
    # Per rate on net prices the VAT is 7.68; inFakt adds each line's VAT: 7.69.
    document = invoice(NET_LINES, basis="net", method="per_rate")
    with pytest.raises(ConfigurationError) as refused:
        plan_export(document, settings(provider="infakt"), InfaktAdapter)
    assert refused.value.code == "provider_gross_differs"
    assert "amount due (gross) of 41.07 instead of our 41.06" in refused.value.message
    assert "vat_calculation 'per_line'" in refused.value.fix and "price_basis 'gross'" in refused.value.fix


def test_net_lines_without_an_exact_gross_unit_price_are_refused_naming_the_line() -> None:
    # 987.6543 x a 4-decimal price moves by 0.10 a step: no price gives this line its gross 2587.55 exactly.
    big = {"line_id": "bulk", "name": "Herbata luzem (g)", "quantity": "987.6543", "unit_price": "2.13", "vat": "23"}
    document = invoice([*NET_LINES, big], basis="net")
    with pytest.raises(ConfigurationError) as refused:
        plan_export(document, settings(), WfirmaAdapter)
    assert refused.value.code == "provider_gross_differs"
    assert "line bulk" in refused.value.message and "2587.55" in refused.value.message
    assert "quantity up to 100" in refused.value.fix and "vat_calculation 'per_rate'" in refused.value.fix


def test_strict_refuses_any_difference_and_points_at_adapt_only_where_the_gross_is_the_same() -> None:
    with pytest.raises(ConfigurationError) as split_only:
        plan_export(invoice(), settings(totals_policy="strict"), WfirmaAdapter)
    assert split_only.value.code == "provider_totals_would_differ" and "'adapt'" in split_only.value.fix
    with pytest.raises(ConfigurationError) as other_gross:
        plan_export(invoice(NET_LINES, basis="net", method="per_rate"),
                    settings(provider="infakt", totals_policy="strict"), InfaktAdapter)
    assert other_gross.value.code == "provider_totals_would_differ" and "'adapt'" not in other_gross.value.fix


# ---------------------------------------------------------------- the read-back check says the same


def read_back(document: Document, net: str, vat: str, gross: str | None = None, **extra: Any) -> ProviderTotals:
    return ProviderTotals(net=Decimal(net), vat=Decimal(vat), gross=Decimal(gross or document.totals.gross),
                          currency=document.currency, is_correction=False, **extra)


def test_a_split_read_back_as_predicted_is_that_warning_not_drift() -> None:
    document = invoice()
    predicted = plan_export(document, settings(), WfirmaAdapter).vat_split
    stored = read_back(document, "150.24", "25.04")
    assert compare(document, stored, None) == []  # before: net and VAT reported as drift
    settled = settle_vat_split(document, predicted, stored)
    assert settled is not None and settled.read_back
    assert settled.as_record(document)["theirs"]["by_rate"]["23"] == {"net": "97.38", "vat": "22.40"}


def test_a_provider_showing_exactly_ours_leaves_no_split_and_another_gross_is_drift() -> None:
    document = invoice()
    predicted = plan_export(document, settings(), WfirmaAdapter).vat_split
    assert settle_vat_split(document, predicted, read_back(document, "150.25", "25.03")) is None
    other_gross = read_back(document, "150.24", "25.05", "175.29")
    assert settle_vat_split(document, predicted, other_gross) is None
    assert [d.field for d in compare(document, other_gross, None)] == ["net", "VAT", "gross"]


def test_an_unpredicted_split_read_back_is_recorded_with_the_providers_totals() -> None:
    document = invoice(method="per_rate")  # wFirma computes it the same way: nothing predicted
    assert plan_export(document, settings(), WfirmaAdapter).vat_split is None
    settled = settle_vat_split(document, None, read_back(document, "150.25", "25.03"))
    assert settled is not None and settled.read_back
    record = settled.as_record(document)
    assert record["theirs"] == {"net": "150.25", "vat": "25.03"}  # no per-rate figures read back
    assert record["ours"]["net"] == "150.24"


def test_vat_in_pln_read_back_is_checked_against_the_providers_split() -> None:
    # The gross-priced per-line example's lines on the EUR invoice, VAT per rate: inFakt adds each line's VAT.
    document = invoice(load_example(GROSS_PER_LINE)["document"]["lines"], example="04-invoice-eur.json",
                       method="per_rate")
    assert document.exchange_rate is not None
    rate = document.exchange_rate.rate
    plan = plan_export(document, settings(provider="infakt"), InfaktAdapter)
    assert plan.vat_split is not None, "the example's lines must split otherwise per line"
    theirs_in_pln = sum((round_money(vat * rate) for rate_, (_, vat) in plan.vat_split.theirs.by_rate.items()
                         if rate_), Decimal("0.00"))
    ours_in_pln = document.vat_in_pln().total
    assert theirs_in_pln != ours_in_pln
    stored = read_back(document, str(plan.vat_split.theirs.net), str(plan.vat_split.theirs.vat),
                       vat_in_pln=theirs_in_pln)
    settled = settle_vat_split(document, plan.vat_split, stored)
    assert compare(document, stored, None, settled) == []
    assert [d.field for d in compare(document, stored, None)] == ["VAT in PLN"]
    assert settled.as_record(document)["theirs"]["vat_in_pln"] == f"{theirs_in_pln:f}"
