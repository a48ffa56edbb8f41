"""Lambda SnapStart (infra/template.yaml, parameter SnapStart): what a function does before Lambda
snapshots it, and after an execution environment is restored from the snapshot.

With SnapStart, Lambda runs a function's init (the handler module's import) once, when a version is
published, snapshots the environment, and starts each new environment from that snapshot instead
of importing again. Lambda's Python runtime includes the `snapshot_restore_py` library: hooks
registered while the handler module is imported run before the snapshot (in reverse order of
registration) and after each restore (in order); docs.aws.amazon.com/lambda/latest/dg/
snapstart-runtime-hooks-python.html. Elsewhere (local runs, tests) the library is absent and
`prepare` registers nothing.

Before the snapshot, the function's `warm_up` imports what its first record needs and parses the
AWS service models its clients are built from into the runtime's boto3 session (Runtime.warm_up):
the restored environment starts with them, which is most of a first record's own work. Nothing is
read from AWS and no client of the runtime's is created, so no credentials, connection or secret
is in the snapshot (one snapshot starts many environments, and credentials expire): every client
is created after the restore, on first use, with the credentials Lambda gives the environment then.

After a restore, `random` is seeded again: each environment restored from one snapshot would
otherwise draw the same back-off jitter (entrypoints.sqs.backoff_seconds). uuid4 and `secrets`
read the operating system's entropy at each call and need nothing (docs: snapstart-uniqueness).
"""

from __future__ import annotations

import random
from collections.abc import Callable

_warm_ups: list[Callable[[], None]] = []


def prepare(warm_up: Callable[[], None]) -> None:
    """Called by a handler module at import: `warm_up` before the snapshot, `reseed` after each restore."""
    _warm_ups.append(warm_up)
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not Lambda's Python runtime: no snapshot is ever taken here
        return
    register_before_snapshot(warm_up)
    register_after_restore(reseed)


def reseed() -> None:
    random.seed()  # from the operating system's entropy


def before_snapshot() -> None:
    """What Lambda runs before the snapshot, run here (benchmarks.coldstart emulates a restored start)."""
    for warm_up in reversed(_warm_ups):
        warm_up()
