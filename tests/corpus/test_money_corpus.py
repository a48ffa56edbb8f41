"""A seeded sample of the money corpus (the full 10,000 documents: `make money`).

Every accounting system's fake computes the totals on its own; each document must come back exact
to the grosz in its own currency, or with the same gross split otherwise into net and VAT (recorded
as a vat_split_differs warning), or be refused before sending with a declared reason - never for a
split-only difference.
"""

from __future__ import annotations

from corpus.money import render, run_corpus

# provider_gross_differs: the provider's VAT arithmetic would change the amount due (e.g. net prices with
# VAT per rate at inFakt, which adds each line's VAT). A split-only difference is never refused.
ALLOWED_REFUSALS = {"provider_gross_differs", "unsupported_correction", "discount_not_exact"}


def test_sampled_documents_show_exactly_our_totals_at_every_provider() -> None:
    # A seed whose sample holds documents computed the other way than wFirma and inFakt (checked below).
    results = run_corpus(count=40, seed_value=25)
    table = render(results, 0)
    assert set(results) == {"fakturownia", "infakt", "wfirma", "ifirma"}, table
    for name, figures in results.items():
        assert figures.documents > 0, table
        assert figures.drift_after_sending == 0 and figures.currency_lost == 0, table
        assert not figures.rejected_by_provider, table  # the corpus' documents are all valid
        assert set(figures.refused_before_sending) <= ALLOWED_REFUSALS, table
        assert figures.exact + figures.split_warning + sum(figures.refused_before_sending.values()) \
            == figures.documents, table
        assert figures.exact >= figures.documents // 2, f"{name}: too few documents exported to prove much\n{table}"
    # The sample holds multi-line documents computed the other way than wFirma (per rate) and inFakt
    # (per line): exported with the provider's split recorded (refused before as provider_totals_would_differ).
    assert results["wfirma"].split_warning > 0 and results["infakt"].split_warning > 0, table
