"""A bounded reliability run (the figures script's driver, 48 documents, 2 workers): under seeded
random provider faults, AWS outages, killed workers, duplicate deliveries and bad inputs, every
document is exported exactly once, or failed with its reason, or in doubt with the evidence; none
is lost, and the dead-letter queue holds only documents recorded as such."""

from __future__ import annotations

import pytest

from reliability.driver import Scenario, run


@pytest.fixture(scope="module")
def figures():
    # Rates above the figures script's defaults, so that each kind of fault shows up in a short run.
    # wFirma runs in the figures script only: its limit answer carries no Retry-After, so its adapter
    # waits the 60 s wFirma counts over - one injected limit answer alone would double this run's time.
    return run(Scenario(documents=48, accounts=12, fault_rate=0.12, aws_outage_rate=0.004, crash_rate=0.03,
                        providers=("fakturownia", "infakt", "ifirma", "infakt-numbered"), timeout_seconds=240))


def test_every_kind_of_fault_was_injected(figures) -> None:
    assert len(figures.faults_injected) >= 4 and sum(figures.faults_injected.values()) >= 10, figures.table()
    assert sum(figures.aws_outages.values()) > 0 and sum(figures.worker_deaths.values()) > 0, figures.table()


def test_no_document_is_duplicated_or_lost(figures) -> None:
    assert figures.duplicates_at_provider == 0, figures.table()
    assert figures.lost == [], figures.table()
    assert figures.exported + sum(figures.failed.values()) + figures.in_doubt == figures.documents_sent
    assert figures.failed_without_reason == 0 and figures.in_doubt_without_evidence == 0


def test_every_document_has_its_outcome_event_and_the_dlq_holds_only_recorded_ones(figures) -> None:
    assert figures.without_outcome_event == [], figures.table()
    assert figures.exported_without_number == [], figures.table()
    assert figures.dlq_unexplained == [], figures.table()


def test_every_bad_input_is_rejected_with_its_error(figures) -> None:
    assert figures.bad_inputs_tried > 0 and figures.bad_inputs_rejected == figures.bad_inputs_tried


def test_the_provider_never_sees_more_than_its_limit_from_concurrent_workers(figures) -> None:
    assert 0 < figures.peak_requests_per_key <= figures.scenario.rate_limit
    assert figures.scenario.workers >= 2


def test_every_document_in_doubt_after_the_traffic_is_settled_or_kept_in_doubt_with_its_evidence(figures) -> None:
    for provider, settled in figures.settlements.items():
        assert settled.in_doubt_before == (settled.settled_found + settled.settled_resent + settled.resent_failed
                                           + settled.left_in_doubt), (provider, figures.settlement_table())
    # The providers without a look-up by our id had interrupted creates, each settled by their lists.
    asked = [figures.settlement_of(provider) for provider in ("ifirma", "infakt-numbered")]
    assert sum(f.delivery_found + f.delivery_sent_again + f.settled_found + f.settled_resent for f in asked) > 0, (
        figures.settlement_table())
