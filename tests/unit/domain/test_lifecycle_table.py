"""The lifecycle table itself (domain.records.TRANSITIONS): the promises the rest of the service relies on.

The stores' behaviour for each step is walked in tests/unit/storage/test_document_store_steps.py."""

from __future__ import annotations

from pathlib import Path

from invoice_export.domain.records import STEPS, TRANSITIONS, Guard, Status, Step, allowed

ROOT = Path(__file__).resolve().parents[3]


def steps_into(target: Status) -> set[Step]:
    return {t.step for t in TRANSITIONS if t.target == target}


def steps_from(source: Status | None) -> set[Step]:
    return {t.step for t in TRANSITIONS if source in t.sources}


def test_every_step_has_one_row_and_every_state_is_reachable() -> None:
    assert [t.step for t in TRANSITIONS] == list(dict.fromkeys(t.step for t in TRANSITIONS))
    assert set(STEPS) == set(Step)
    assert {t.target for t in TRANSITIONS} == set(Status)
    assert all(t.trigger for t in TRANSITIONS)


def test_an_exported_record_is_final() -> None:
    assert steps_from(Status.EXPORTED) == set()
    assert not any(allowed(Status.EXPORTED, target) for target in Status)


def test_exported_only_by_the_provider_answer_or_an_operator_and_never_over_a_recorded_provider_document() -> None:
    assert steps_into(Status.EXPORTED) == {Step.EXPORT, Step.SETTLE_IN_DOUBT}
    assert all(STEPS[step].guard == Guard.NOT_MAPPED for step in steps_into(Status.EXPORTED))
    assert not allowed(Status.PENDING, Status.EXPORTED) and not allowed(Status.FAILED, Status.EXPORTED)


def test_in_doubt_is_left_only_by_a_settlement_or_an_operator() -> None:
    # Found at the provider (exported, never over a recorded provider document), surely absent there
    # (pending: sent again), or released by an operator (failed: retried by a person).
    assert steps_from(Status.IN_DOUBT) == {Step.SETTLE_IN_DOUBT, Step.REQUEUE_IN_DOUBT, Step.RELEASE_IN_DOUBT}
    assert {STEPS[step].target for step in steps_from(Status.IN_DOUBT)} == {
        Status.EXPORTED, Status.PENDING, Status.FAILED}
    assert STEPS[Step.SETTLE_IN_DOUBT].guard == Guard.NOT_MAPPED
    assert steps_into(Status.IN_DOUBT) == {Step.HOLD_IN_DOUBT}
    assert STEPS[Step.HOLD_IN_DOUBT].sources == (Status.SENDING,)  # only what may have reached the provider


def test_a_document_is_sent_only_through_a_claim_and_a_sending_one_is_never_failed_by_giving_up() -> None:
    assert steps_into(Status.SENDING) == {Step.CLAIM, Step.TAKE_OVER}
    assert STEPS[Step.CLAIM].sources == (Status.PENDING, Status.FAILED)
    assert STEPS[Step.TAKE_OVER].sources == (Status.SENDING,)
    assert Status.SENDING not in STEPS[Step.GIVE_UP].sources
    assert STEPS[Step.RELEASE].guard == Guard.SAME_ATTEMPT


def test_only_receiving_and_rejecting_a_message_create_a_record() -> None:
    assert steps_from(None) == {Step.RECEIVE, Step.REJECT}
    assert {t.step for t in TRANSITIONS if t.creates} == {Step.RECEIVE, Step.REJECT}


def test_allowed_is_exactly_the_pairs_of_the_table() -> None:
    pairs = {(source, t.target) for t in TRANSITIONS for source in t.sources}
    for source in (None, *Status):
        for target in Status:
            assert allowed(source, target) == ((source, target) in pairs), (source, target)


def test_the_readme_and_architecture_state_tables_are_generated_from_the_table() -> None:
    from tools.state_table import render, rewrite, rewrite_architecture

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert rewrite(readme) == readme, "README.md state table is stale: run `make docs` and commit it"
    architecture = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert rewrite_architecture(architecture) == architecture, "ARCHITECTURE.md state table is stale: `make docs`"
    assert all(f"| `{t.step.value}` |" in render() and t.trigger in render() for t in TRANSITIONS)
