"""A FIFO batch whose neighbouring records may be handled side by side where their order does not matter.

One account is one FIFO message group, and its documents are exported in the order they were
issued. That order is what keeps a provider's numbering in issue order, but it also means one
provider call at a time per account: a bulk run then takes (provider latency + our AWS calls) per
document, however much more the provider's rate limit allows. Where the caller says the order of
some neighbouring records does not matter (`run_of` gives them the same run), they are handled up
to `in_flight` at a time; everything else keeps the FIFO behaviour of Powertools' batch utility
(platform.partial_batch).

A run can also keep its order where it matters - at the provider - and overlap everything else:
in a run marked `in_turn`, each record's provider call (`provider_call_in_turn`) waits until the
records before it made theirs, and never starts after one of them failed. The provider then sees
the documents strictly in order (its numbering follows issue order), while one document's AWS
writes run during the next one's provider call.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from invoice_export.platform.partial_batch import FifoPartialBatchProcessor, Outcome


@dataclass(frozen=True)
class RunMember:
    """Where a record may join its neighbours: records with equal `run` keys, next to each other, form a
    run; `item` names what the record changes (a run never holds the same item twice)."""

    run: Hashable
    item: str
    in_turn: bool = False  # the run's provider calls keep the records' order (provider_call_in_turn)
    also_changes: tuple[str, ...] = ()  # further items the record changes (e.g. the number it claims)


RunOf = Callable[[dict[str, Any]], RunMember | None]  # None: the record is handled alone, in order


@dataclass
class Run:
    records: list[dict[str, Any]]
    in_turn: bool = False


def consecutive_runs(records: Sequence[dict[str, Any]], run_of: RunOf) -> list[Run]:
    """The records in order, cut into runs of neighbours that may be handled side by side."""
    runs: list[Run] = []
    current: Hashable | None = None
    items: set[str] = set()
    for record in records:
        member = run_of(record)
        changes = set() if member is None else {member.item, *member.also_changes}
        if member is None or (member.run, member.in_turn) != current or changes & items:
            runs.append(Run([record], in_turn=member is not None and member.in_turn))
            current, items = (None, set()) if member is None else ((member.run, member.in_turn), changes)
        else:
            runs[-1].records.append(record)
            items |= changes
    return runs


class SideBySideFifoProcessor(FifoPartialBatchProcessor):
    """The FIFO processor (a failure skips the rest of its message group), except that each run
    of records (`consecutive_runs`) is handled up to `in_flight` records at a time.

    A run's records share their message group, so a failure in a run still stops the group: records of
    the run that start after the failure is recorded, and all later records of the group, are reported
    failed untried. Records of the run already under way finish; their order relative to the failed
    one is what the run key said does not matter. Each record runs in a copy of the caller's context
    (context variables, such as Powertools' thread-safe log keys and a batch's settings cache, carry
    over; changes stay in the copy).
    """

    def __init__(self, run_of: RunOf, in_flight: int) -> None:
        super().__init__()
        self.run_of = run_of
        self.in_flight = in_flight

    def process(self) -> list[Outcome]:
        results: list[Outcome] = []
        for run in consecutive_runs(self.records, self.run_of):
            records = run.records
            if len(records) == 1 or self.in_flight < 2:
                results.extend(self._process_record(record) for record in records)
                continue
            turns = _Turns(len(records)) if run.in_turn else None
            # Copied here, in the caller's thread: a pool thread starts with an empty context of its own.
            # One copy per record, because a context runs in one thread at a time.
            contexts = [contextvars.copy_context() for _ in records]
            with ThreadPoolExecutor(max_workers=min(self.in_flight, len(records)),
                                    thread_name_prefix="side-by-side") as pool:
                # Submitted in order, so a record never waits for one that has no thread yet.
                results.extend(pool.map(self._process_in_run, records, contexts, [turns] * len(records),
                                        range(len(records))))
        return results

    def _process_in_run(self, record: dict[str, Any], context: contextvars.Context, turns: _Turns | None,
                        position: int) -> Outcome:
        if turns is None:
            return context.run(self._process_record, record)
        context.run(_turn.set, _Turn(turns, position))
        result: Outcome = ("fail", None, None)
        try:
            result = context.run(self._process_record, record)
        finally:
            turns.finish(position, failed=result[0] == "fail")
        return result


class _Turns:
    """Whose provider call it is in an in-turn run: each position passes once - when its call returned,
    or when its record is done - and a record's call waits for every position before it."""

    def __init__(self, count: int) -> None:
        self._passed = [False] * count
        self._first_failure: int | None = None  # the earliest record that failed before its turn passed
        self._changed = threading.Condition()

    def wait_for(self, position: int) -> bool:
        """Wait until every record before `position` passed; False if one of them failed instead."""
        with self._changed:
            self._changed.wait_for(lambda: all(self._passed[:position]))
            return self._first_failure is None or self._first_failure > position

    def pass_on(self, position: int) -> None:
        with self._changed:
            self._passed[position] = True
            self._changed.notify_all()

    def finish(self, position: int, *, failed: bool) -> None:
        """The record is done; if it failed before its turn passed, no later provider call happens."""
        with self._changed:
            if not self._passed[position]:
                self._passed[position] = True
                if failed and (self._first_failure is None or position < self._first_failure):
                    self._first_failure = position
            self._changed.notify_all()


@dataclass(frozen=True)
class _Turn:
    turns: _Turns
    position: int


_turn: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar("provider-call-turn", default=None)


@contextmanager
def provider_call_in_turn(earlier_failed: Callable[[], Exception]) -> Iterator[None]:
    """Around a record's provider call: in an in-turn run it waits for the records before it (raising
    `earlier_failed()` if one of them failed first), and lets the next one go once the call returned. A
    call that raises passes the turn when its record is done, as a success or a failure. Elsewhere
    (not in an in-turn run): nothing."""
    turn = _turn.get()
    if turn is None:
        yield
        return
    if not turn.turns.wait_for(turn.position):
        raise earlier_failed()
    yield
    turn.turns.pass_on(turn.position)
