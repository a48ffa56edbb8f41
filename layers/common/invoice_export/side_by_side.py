"""A FIFO batch whose neighbouring records may be handled side by side where their order does not matter.

One account is one FIFO message group, and its documents are exported in the order they were
issued. That order is what keeps a provider's numbering in issue order, but it also means one
provider call at a time per account: a bulk run then takes (provider latency + our AWS calls) per
document, however much more the provider's rate limit allows. Where the caller says the order of
some neighbouring records does not matter (`run_of` gives them the same run), they are handled up
to `in_flight` at a time; everything else keeps Powertools' FIFO behaviour.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor


@dataclass(frozen=True)
class RunMember:
    """Where a record may join its neighbours: records with equal `run` keys, next to each other, form a
    run; `item` names what the record changes (a run never holds the same item twice)."""

    run: Hashable
    item: str


RunOf = Callable[[dict[str, Any]], RunMember | None]  # None: the record is handled alone, in order


def consecutive_runs(records: Sequence[dict[str, Any]], run_of: RunOf) -> list[list[dict[str, Any]]]:
    """The records in order, cut into runs of neighbours that may be handled side by side."""
    runs: list[list[dict[str, Any]]] = []
    current: Hashable | None = None
    items: set[str] = set()
    for record in records:
        member = run_of(record)
        if member is None or member.run != current or member.item in items:
            runs.append([record])
            current, items = (None, set()) if member is None else (member.run, {member.item})
        else:
            runs[-1].append(record)
            items.add(member.item)
    return runs


class SideBySideFifoProcessor(SqsFifoPartialProcessor):
    """Powertools' FIFO processor (a failure skips the rest of its message group), except that each run
    of records (`consecutive_runs`) is handled up to `in_flight` records at a time.

    A run's records share their message group, so a failure in a run still stops the group: records of
    the run that start after the failure is recorded, and all later records of the group, are reported
    failed untried. Records of the run already under way finish; their order relative to the failed
    one is what the run key said does not matter. Each record runs in a copy of the caller's context
    (context variables, such as Powertools' thread-safe log keys and a batch's settings cache, carry
    over; changes stay in the copy).
    """

    def __init__(self, run_of: RunOf, in_flight: int) -> None:
        super().__init__(skip_group_on_error=True)
        self.run_of = run_of
        self.in_flight = in_flight

    def process(self) -> list[tuple]:
        results: list[tuple] = []
        for run in consecutive_runs(self.records, self.run_of):
            if len(run) == 1 or self.in_flight < 2:
                results.extend(self._process_record(record) for record in run)
                continue
            with ThreadPoolExecutor(max_workers=min(self.in_flight, len(run)),
                                    thread_name_prefix="side-by-side") as pool:
                contexts = [contextvars.copy_context() for _ in run]  # a context runs in one thread at a time
                results.extend(pool.map(lambda context, record: context.run(self._process_record, record),
                                        contexts, run))
        return results
