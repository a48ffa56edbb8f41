"""A seeded sample of the money corpus (the full 10,000 documents: `make money`).

Every accounting system's fake computes the totals on its own; each document must come back exact
to the grosz in its own currency, or be refused before sending with a declared reason.
"""

from __future__ import annotations

from corpus.money import render, run_corpus

ALLOWED_REFUSALS = {"provider_totals_would_differ", "unsupported_correction"}
# Limits a provider declares beyond those (each checked to hold in tests/property/test_mapper_properties.py);
# documents refused for them prove nothing about money, so they do not count against the exported share.
# Firmao: no documented form for zw/np, quantities to 3 decimals, unit prices to the grosz.
PROVIDER_LIMITS = {"firmao": {"unsupported_vat_code", "unsupported_quantity", "unit_price_not_exact",
                              "discount_not_exact"}}


def test_sampled_documents_show_exactly_our_totals_at_every_provider() -> None:
    results = run_corpus(count=40, seed_value=11)
    table = render(results, 0)
    assert set(results) == {"fakturownia", "infakt", "wfirma", "ifirma", "firmao"}, table
    for name, figures in results.items():
        limits = PROVIDER_LIMITS.get(name, set())
        assert figures.documents > 0, table
        assert figures.drift_after_sending == 0 and figures.currency_lost == 0, table
        assert not figures.rejected_by_provider, table  # the corpus' documents are all valid
        assert set(figures.refused_before_sending) <= ALLOWED_REFUSALS | limits, table
        assert figures.exact + sum(figures.refused_before_sending.values()) == figures.documents, table
        limited = sum(n for code, n in figures.refused_before_sending.items() if code in limits)
        assert figures.exact >= (figures.documents - limited) // 2, (
            f"{name}: too few documents exported to prove much\n{table}")
