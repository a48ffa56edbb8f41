"""A seeded sample of the money corpus (the full 10,000 documents: `make money`).

Every accounting system's fake computes the totals on its own; each document must come back exact
to the grosz in its own currency, or be refused before sending with a declared reason.
"""

from __future__ import annotations

from corpus.money import render, run_corpus

ALLOWED_REFUSALS = {"provider_totals_would_differ", "unsupported_correction"}


def test_sampled_documents_show_exactly_our_totals_at_every_provider() -> None:
    results = run_corpus(count=40, seed_value=11)
    table = render(results, 0)
    assert set(results) == {"fakturownia", "infakt", "wfirma", "ifirma", "oblio", "smartbill"}, table
    for name, figures in results.items():
        assert figures.documents > 0, table
        assert figures.drift_after_sending == 0 and figures.currency_lost == 0, table
        assert not figures.rejected_by_provider, table  # the corpus' documents are all valid
        assert set(figures.refused_before_sending) <= ALLOWED_REFUSALS, table
        assert figures.exact + sum(figures.refused_before_sending.values()) == figures.documents, table
        assert figures.exact >= figures.documents // 2, f"{name}: too few documents exported to prove much\n{table}"
